//! Benchmark: wrk against the full middleware stack and a bare route, in one run, as a ratio
//! (issue #4). The routers are those of `benches/stack.rs` (`stock_tracker_tests::stack`), served
//! over real HTTP on two loopback ports by one server runtime with one worker thread, so that wrk
//! (one thread) has the other core. Targets alternate round by round; the table gives each
//! round and the median.
//!
//! ```sh
//! apt-get install -y wrk      # if missing; the benchmark says so and stops otherwise
//! cargo bench -p stock-tracker-tests --bench wrk
//! ```
//! `WRK_SECONDS` (default 5) and `WRK_ROUNDS` (default 5) change the length.

use std::net::SocketAddr;
use std::process::Command;

use axum::Router;
use stock_tracker_tests::stack::{self, PATH};

const CONNECTIONS: &str = "16";

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("wrk is not installed (apt-get install -y wrk); nothing measured");
        return;
    }
    let seconds: u32 = std::env::var("WRK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let rounds: usize = std::env::var("WRK_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (bare, full, token, _app) = rt.block_on(async {
        let (app, token) = stack::app().await;
        let (bare, full) = stack::routers(&app);
        (serve(bare).await, serve(full).await, token, app)
    });

    let targets = [
        ("bare, anonymous", bare, None),
        ("full stack, anonymous", full, None),
        ("bare, with a token", bare, Some(token.as_str())),
        ("full stack, with a token", full, Some(token.as_str())),
    ];
    let mut results: Vec<Vec<(f64, String)>> = vec![Vec::new(); targets.len()];
    for _ in 0..rounds {
        for (i, (_, addr, token)) in targets.iter().enumerate() {
            results[i].push(wrk(*addr, *token, seconds));
        }
    }

    println!(
        "\n## wrk: full stack vs bare route ({rounds} alternating rounds of {seconds} s, 1 thread, {CONNECTIONS} connections)\n"
    );
    println!("| target | req/s per round | median req/s | p50 latency (median round) |");
    println!("|---|---|---|---|");
    let mut medians = Vec::new();
    for ((label, _, _), rows) in targets.iter().zip(&results) {
        let mut sorted = rows.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (median, latency) = sorted[sorted.len() / 2].clone();
        medians.push(median);
        let each: Vec<String> = rows.iter().map(|r| format!("{:.0}", r.0)).collect();
        println!("| {label} | {} | {median:.0} | {latency} |", each.join(", "));
    }
    println!();
    println!("full/bare throughput, anonymous: {:.2}", medians[1] / medians[0]);
    println!("full/bare throughput, with a token: {:.2}", medians[3] / medians[2]);
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    addr
}

/// One wrk run: requests per second and the median latency as wrk prints it.
fn wrk(addr: SocketAddr, token: Option<&str>, seconds: u32) -> (f64, String) {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", "-c", CONNECTIONS, "-d", &format!("{seconds}s"), "--latency"]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.arg(format!("http://{addr}{PATH}")).output().expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let p50 = text.lines().find_map(|l| l.trim().strip_prefix("50%")).map(|v| v.trim().to_owned()).unwrap_or_default();
    (rps, p50)
}
