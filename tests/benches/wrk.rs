//! Benchmark: wrk against the full middleware stack and a bare route, in one run, as a ratio
//! (issue #4, issue 16; goal: full ÷ bare throughput ≥ 0.75, with a token and without). The
//! routers are those of `benches/stack.rs` (`stock_tracker_tests::stack`), served over real HTTP
//! on loopback ports by one server runtime with one worker thread, so that wrk (one thread) has
//! the other core. Targets alternate round by round; the table gives each round, the median, and
//! the server's CPU time per request (this process's, wrk being a child). The ratio is given both
//! from the medians and round by round (each full run against the bare run just before it), whose
//! median is the headline: it does not depend on how the machine's speed drifts between rounds.
//!
//! Then where the stack's time goes: the stack without each of its pieces in turn
//! (`stack::full_without`: the front, the route guard, the rate limiter the guard runs),
//! anonymous, alternating; a piece's cost is the CPU per request it takes away.
//!
//! The process uses the product's allocator (`stock_tracker::ALLOCATOR`).
//!
//! ```sh
//! apt-get install -y wrk      # if missing; the benchmark says so and stops otherwise
//! cargo bench -p stock-tracker-tests --bench wrk
//! ```
//! `WRK_SECONDS` (default 5) and `WRK_ROUNDS` (default 5) change the length; `WRK_ONLY=<text>`
//! runs only the targets whose label contains it (for profiling one of them, layered ones
//! included: `benches/instructions.sh` counts a target's instructions per request that way).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;

use stock_tracker_tests::stack::{self, LAYERS, PATH};

stock_tracker::product_allocator!();

const CONNECTIONS: &str = "16";

/// One target: label, address, token.
type Target<'a> = (String, SocketAddr, Option<&'a str>);

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("wrk is not installed (apt-get install -y wrk); nothing measured");
        return;
    }
    let seconds: u32 = std::env::var("WRK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let rounds: usize = std::env::var("WRK_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let only = std::env::var("WRK_ONLY").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (bare, full, layered, token, _app) = rt.block_on(async {
        let (app, tenant) = stack::app().await;
        let (bare, full) = stack::routers(&app);
        let mut layered = vec![("whole".to_owned(), serve(stack::full_without(&app, &[])).await)];
        for layer in LAYERS {
            layered.push((format!("without {layer}"), serve(stack::full_without(&app, &[layer])).await));
        }
        (serve(bare).await, serve(full).await, layered, tenant.access_token, app)
    });
    println!("machine: {}", stock_tracker_tests::bench::machine());

    let targets: Vec<Target<'_>> = vec![
        ("bare, anonymous".into(), bare, None),
        ("full stack, anonymous".into(), full, None),
        ("bare, with a token".into(), bare, Some(token.as_str())),
        ("full stack, with a token".into(), full, Some(token.as_str())),
    ];
    let chosen = |label: &str| label.contains(only.as_str());
    let targets: Vec<Target<'_>> = targets.into_iter().filter(|(label, ..)| chosen(label)).collect();
    if !targets.is_empty() {
        let results = run(&targets, rounds, seconds);
        println!(
            "\n## wrk: full stack vs bare route ({rounds} alternating rounds of {seconds} s, 1 thread, {CONNECTIONS} connections)\n"
        );
        let medians = table(&targets, &results);
        if medians.len() == 4 {
            println!();
            println!("full/bare throughput, anonymous: {:.2} (medians)", medians[1].0 / medians[0].0);
            println!("full/bare throughput, with a token: {:.2} (medians)", medians[3].0 / medians[2].0);
            // Each round's full run against the bare run just before it: the machine's speed
            // drifts between rounds (up to 25 % here), much less within one.
            for (label, bare, full) in [("anonymous", 0, 1), ("with a token", 2, 3)] {
                let mut ratios: Vec<f64> = results[full].iter().zip(&results[bare]).map(|(f, b)| f.0 / b.0).collect();
                let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
                ratios.sort_by(f64::total_cmp);
                println!(
                    "full/bare throughput, {label}, round by round: {} (median {:.2})",
                    each.join(", "),
                    ratios[ratios.len() / 2]
                );
            }
        }
    }

    let targets: Vec<Target<'_>> = layered
        .iter()
        .map(|(label, addr)| (format!("layered stack, {label}"), *addr, None))
        .filter(|(label, ..)| chosen(label))
        .collect();
    if targets.len() != layered.len() {
        // Only some layered targets (profiling one): no attribution to print.
        if !targets.is_empty() {
            table(&targets, &run(&targets, rounds, seconds));
        }
        return;
    }
    let rounds = rounds.min(3);
    let results = run(&targets, rounds, seconds);
    println!(
        "\n## Where the stack's time goes: rebuilt layer by layer, anonymous ({rounds} alternating rounds of {seconds} s)\n"
    );
    let medians = table(&targets, &results);
    println!("\n| layer | server CPU µs/request it costs |\n|---|---|");
    for (layer, (_, cpu)) in LAYERS.iter().zip(&medians[1..]) {
        println!("| {layer} | {:.1} |", medians[0].1 - cpu);
    }
}

/// `rounds` alternating rounds of every target.
fn run(targets: &[Target<'_>], rounds: usize, seconds: u32) -> Vec<Vec<(f64, String, f64)>> {
    let mut results: Vec<Vec<(f64, String, f64)>> = vec![Vec::new(); targets.len()];
    for _ in 0..rounds {
        for (i, (_, addr, token)) in targets.iter().enumerate() {
            results[i].push(wrk(*addr, *token, seconds));
        }
    }
    results
}

/// Prints the table; returns each target's median round as (req/s, server CPU µs per request).
fn table(targets: &[Target<'_>], results: &[Vec<(f64, String, f64)>]) -> Vec<(f64, f64)> {
    println!("| target | req/s per round | median req/s | p50 latency (median round) | server CPU µs/request |");
    println!("|---|---|---|---|---|");
    let mut medians = Vec::new();
    for ((label, ..), rows) in targets.iter().zip(results) {
        let mut sorted = rows.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (median, latency, cpu) = sorted[sorted.len() / 2].clone();
        medians.push((median, cpu));
        let each: Vec<String> = rows.iter().map(|r| format!("{:.0}", r.0)).collect();
        println!("| {label} | {} | {median:.0} | {latency} | {cpu:.1} |", each.join(", "));
    }
    medians
}

async fn serve<S>(service: S) -> SocketAddr
where
    S: tower::Service<axum::extract::Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service =
        axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(service);
    tokio::spawn(async move {
        axum::serve(listener, service).await.unwrap();
    });
    addr
}

/// CPU time this process (the server; wrk is a child) has used so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

/// One wrk run: requests per second, the median latency as wrk prints it, and the server's CPU
/// time per request in µs.
fn wrk(addr: SocketAddr, token: Option<&str>, seconds: u32) -> (f64, String, f64) {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", "-c", CONNECTIONS, "-d", &format!("{seconds}s"), "--latency"]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let cpu = cpu_seconds();
    let out = cmd.arg(format!("http://{addr}{PATH}")).output().expect("wrk runs");
    let cpu = cpu_seconds() - cpu;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let p50 = text.lines().find_map(|l| l.trim().strip_prefix("50%")).map(|v| v.trim().to_owned()).unwrap_or_default();
    (rps, p50, cpu * 1e6 / (rps * f64::from(seconds)))
}
