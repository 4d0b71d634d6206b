//! Benchmark: our multi-scope rate-limit decision in Redis against the seed's algorithm, side by
//! side on the same Redis (issue #4).
//!
//! - Ours: one `EVALSHA` per request over three scopes (global, tenant, user).
//! - The seed's: per scope, `ZREMRANGEBYSCORE` + `ZCARD` to check, then `ZADD` + `EXPIRE` when
//!   allowed, each a separate round trip (so it over-admits under concurrency).
//!
//! Reports Redis commands per decision (from `INFO commandstats`), decisions per second with 64
//! concurrent clients, and how many of 200 concurrent requests against a limit of 50 each admits.
//!
//! ```sh
//! TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench -p stock-tracker-tests --bench ratelimit
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fred::cmd;
use fred::prelude::{Client, ClientLike, Config};
use stock_tracker::ratelimit::Scope;
use stock_tracker::ratelimit::redis::RedisLimiter;
use uuid::Uuid;

stock_tracker::product_allocator!();

const CLIENTS: usize = 64;
const DECISIONS: usize = 30_000;

/// The seed's sliding-window log: check, then add, in separate round trips, per scope.
async fn seed_check(client: &Client, scopes: &[Scope]) -> bool {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for s in scopes {
        let key = format!("seed:{}:{}", s.name, s.key);
        let window = s.window.as_millis() as i64;
        let _: i64 = client
            .custom(cmd!("ZREMRANGEBYSCORE"), vec![key.clone(), "-inf".into(), (now - window).to_string()])
            .await
            .unwrap();
        let count: i64 = client.custom(cmd!("ZCARD"), vec![key.clone()]).await.unwrap();
        if count as u64 >= s.limit {
            return false;
        }
    }
    for s in scopes {
        let key = format!("seed:{}:{}", s.name, s.key);
        let member = format!("{now}:{}", Uuid::now_v7().simple());
        let _: i64 = client.custom(cmd!("ZADD"), vec![key.clone(), now.to_string(), member]).await.unwrap();
        let _: i64 = client.custom(cmd!("EXPIRE"), vec![key, s.window.as_secs().to_string()]).await.unwrap();
    }
    true
}

/// Calls per command since the last `CONFIG RESETSTAT` (`INFO commandstats`), without the
/// benchmark's own INFO/CONFIG. Commands run inside a script are listed too.
async fn command_calls(client: &Client) -> Vec<(String, u64)> {
    let info: String = client.custom(cmd!("INFO"), vec!["commandstats".to_owned()]).await.unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok()?;
            (!matches!(name, "info" | "config")).then(|| (name.to_owned(), calls))
        })
        .collect()
}

/// Commands a client sent (script-internal commands excluded) and all commands, per decision.
fn per_decision(calls: &[(String, u64)], client_sent: &[&str], decisions: f64) -> (f64, f64) {
    let sent: u64 = calls.iter().filter(|(n, _)| client_sent.contains(&n.as_str())).map(|(_, c)| c).sum();
    let all: u64 = calls.iter().map(|(_, c)| c).sum();
    (sent as f64 / decisions, all as f64 / decisions)
}

fn scopes(limit: u64) -> Vec<Scope> {
    let id = Uuid::now_v7().to_string();
    ["global", "tenant", "user"]
        .iter()
        .map(|name| Scope { name, key: id.clone().into(), limit, window: Duration::from_secs(60) })
        .collect()
}

async fn throughput<F, Fut>(label: &str, check: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = bool> + Send,
{
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (check, done) = (check.clone(), done.clone());
            tokio::spawn(async move {
                while done.fetch_add(1, Ordering::Relaxed) < DECISIONS {
                    check().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rate = DECISIONS as f64 / start.elapsed().as_secs_f64();
    println!("| {label} | {rate:.0} |");
    rate
}

fn main() {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("TEST_REDIS_URL is not set; nothing to measure");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let client = fred::types::Builder::from_config(Config::from_url(&url).unwrap()).build().unwrap();
        client.init().await.unwrap();
        let limiter = Arc::new(RedisLimiter::new(client.clone()));

        // Commands per decision.
        let s = scopes(1_000_000);
        limiter.check(&s).await.unwrap(); // loads the script
        let _: String = client.custom(cmd!("CONFIG"), vec!["RESETSTAT".to_owned()]).await.unwrap();
        for _ in 0..1000 {
            limiter.check(&s).await.unwrap();
        }
        let ours = per_decision(&command_calls(&client).await, &["evalsha", "eval", "script"], 1000.0);
        let _: String = client.custom(cmd!("CONFIG"), vec!["RESETSTAT".to_owned()]).await.unwrap();
        let s = scopes(1_000_000);
        for _ in 0..1000 {
            seed_check(&client, &s).await;
        }
        let seed = per_decision(&command_calls(&client).await, &["zremrangebyscore", "zcard", "zadd", "expire"], 1000.0);
        println!("\n## Redis commands per decision (three scopes, allowed requests; INFO commandstats)\n");
        println!("| algorithm | commands the client sends | all commands Redis runs (incl. inside the script) |\n|---|---|---|");
        println!("| ours (one EVALSHA) | {:.2} | {:.2} |", ours.0, ours.1);
        println!("| seed (check, then add, per scope) | {:.2} | {:.2} |", seed.0, seed.1);

        println!("\n## Decisions per second, {CLIENTS} concurrent clients, three scopes, {DECISIONS} decisions\n");
        println!("| algorithm | decisions/s |\n|---|---|");
        let (l, s1) = (limiter.clone(), scopes(u64::MAX / 2));
        let ours = throughput("ours", move || {
            let (l, s) = (l.clone(), s1.clone());
            async move { l.check(&s).await.unwrap().allowed }
        })
        .await;
        let (c, s2) = (client.clone(), scopes(u64::MAX / 2));
        let seed = throughput("seed", move || {
            let (c, s) = (c.clone(), s2.clone());
            async move { seed_check(&c, &s).await }
        })
        .await;
        println!("\nours / seed: {:.2}x", ours / seed);

        println!("\n## 200 requests at once against a limit of 50 (three scopes)\n");
        println!("| algorithm | admitted |\n|---|---|");
        for label in ["ours", "seed"] {
            let s = scopes(50);
            let admitted = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..200)
                .map(|_| {
                    let (s, admitted, limiter, client) = (s.clone(), admitted.clone(), limiter.clone(), client.clone());
                    tokio::spawn(async move {
                        let ok = if label == "ours" { limiter.check(&s).await.unwrap().allowed } else { seed_check(&client, &s).await };
                        if ok {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            println!("| {label} | {} |", admitted.load(Ordering::Relaxed));
        }
    });
}
