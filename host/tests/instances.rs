//! Several `stock-tracker` processes on one database, as operators run them: the schedule shared
//! by two instances (PostgreSQL and Redis), a SIGKILLed instance's jobs finished by the other
//! within a lease, a killed embedded instance's jobs finished after its restart, and SIGTERM
//! handing running jobs back, and `stock-tracker worker` running what a `serve` without workers
//! queues.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{Server, get, post, temp_dir};
use fake_wildberries::{FakeConfig, FakeWildberries};
use serde_json::{Value, json};

const LEASE_SECS: u64 = 3;

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")).parse().unwrap()
}

/// The environment of an instance syncing against `fake`, with short leases.
fn env(fake: &FakeWildberries, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PLUGIN_EXTRA_HOSTS", fake.origin()),
        ("PLUGIN_BASE_URL_TENANTS", "*".into()),
        ("RATE_LIMIT_ENABLED", "false".into()),
        ("JOBS_LEASE_SECS", LEASE_SECS.to_string()),
        ("SYNC_SCHEDULER", "false".into()),
    ];
    env.extend(extra.iter().cloned());
    env
}

fn postgres_env(url: String) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", url),
        ("JWT_SECRET", "instances-test-jwt-secret-0123456789abcdef".into()),
        ("CREDENTIALS_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        ("DATABASE_MAX_CONNECTIONS", "20".into()),
    ]
}

/// Registers a tenant; returns its access token.
async fn register(base: &str, email: &str) -> String {
    let body = json!({ "email": email, "password": "correct horse battery", "company_name": "Instances Ltd" });
    let (status, session) = post(base, "/auth/register", None, body).await;
    assert_eq!(status, 201, "{session}");
    session["access_token"].as_str().unwrap().to_owned()
}

async fn create_connection(base: &str, token: &str, fake: &FakeWildberries, name: &str) -> String {
    let body = json!({ "marketplace": "wildberries", "name": name, "credentials": { "token": fake.token() },
                       "settings": { "base_url": fake.base_url() } });
    let (status, created) = post(base, "/connections", Some(token), body).await;
    assert_eq!(status, 201, "{created}");
    created["connection_id"].as_str().unwrap().to_owned()
}

/// Every run of the tenant, by connection, oldest first.
async fn runs(base: &str, token: &str) -> BTreeMap<String, Vec<Value>> {
    let mut all = Vec::new();
    let mut path = "/sync-runs?limit=500".to_owned();
    loop {
        let (status, page) = get(base, &path, token).await;
        assert_eq!(status, 200, "{page}");
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/sync-runs?limit=500&cursor={cursor}"),
            None => break,
        }
    }
    let mut by: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for run in all.into_iter().rev() {
        by.entry(run["connection_id"].as_str().unwrap().to_owned()).or_default().push(run);
    }
    by
}

fn finished(run: &Value) -> bool {
    matches!(run["status"].as_str(), Some("succeeded" | "failed"))
}

/// Waits until every run of the tenant has finished; returns them.
async fn all_finished(base: &str, token: &str, within: Duration) -> BTreeMap<String, Vec<Value>> {
    let start = Instant::now();
    loop {
        let by = runs(base, token).await;
        if by.values().flatten().all(finished) {
            return by;
        }
        let open: Vec<&Value> = by.values().flatten().filter(|r| !finished(r)).collect();
        assert!(start.elapsed() < within, "{} run(s) never finished: {:?}", open.len(), open.first());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One connection's runs never overlap in time.
fn one_at_a_time(connection: &str, runs: &[Value]) {
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = runs
        .iter()
        .filter(|r| r["finished_at"].is_string())
        .map(|r| (at(&r["started_at"]), at(&r["finished_at"])))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "{connection}: two runs at once: {pair:?}");
    }
}

/// Waits until the instance at `base` itself runs at least `n` sync jobs
/// (`stock_tracker_jobs_running`).
async fn running_here(base: &str, n: i64) {
    let start = Instant::now();
    loop {
        let root = base.trim_end_matches("/api/v1");
        let text = reqwest::get(format!("{root}/metrics")).await.unwrap().text().await.unwrap();
        let now = text
            .lines()
            .find_map(|l| l.strip_prefix("stock_tracker_jobs_running{job=\"sync\"} "))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0);
        if now >= n {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{base} never ran {n} syncs at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until at least `n` runs of the tenant are running.
async fn running(base: &str, token: &str, n: usize) {
    let start = Instant::now();
    loop {
        let by = runs(base, token).await;
        if by.values().flatten().filter(|r| r["status"] == "running").count() >= n {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "fewer than {n} runs ever ran at once");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_schedule_and_finish_a_killed_ones_jobs() {
    let Some(database) = common::postgres_database() else { return };
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        assert!(std::env::var("STOCK_TRACKER_REQUIRE_ALL_BACKENDS").is_err(), "TEST_REDIS_URL is required");
        return;
    };
    // Ten products in two warehouses; once the connections exist, every marketplace answer
    // takes 100 ms.
    let fake =
        FakeWildberries::start(FakeConfig { products: 10, warehouses: 2, multi_size_every: 0, ..Default::default() })
            .await
            .unwrap();
    let interval: u32 = 20;
    let mut extra = postgres_env(database);
    extra.extend([
        ("REDIS_URL", redis),
        ("SYNC_SCHEDULER", "true".into()),
        ("SYNC_MIN_INTERVAL_SECS", "1".into()),
        ("SYNC_DEFAULT_INTERVAL_SECS", interval.to_string()),
        ("JOBS_WORKERS", "8".into()),
    ]);
    let env = env(&fake, &extra);
    let (dir_a, dir_b) = (temp_dir(), temp_dir());
    let a = Server::start(&dir_a, &env);
    let b = Server::start(&dir_b, &env);
    let token = register(&a.base, "two-instances@example.com").await;
    for i in 0..200 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        create_connection(base, &token, &fake, &format!("WB {i:03}")).await;
    }
    fake.set_latency(Duration::from_millis(100));

    // Run together for two intervals, then lose A with its running jobs.
    tokio::time::sleep(Duration::from_secs(2 * u64::from(interval))).await;
    // The kill must catch A itself running syncs (an instance's workers take most of what its
    // own scheduler tick starts, so "runs running" alone may all be B's).
    running(&b.base, &token, 4).await;
    running_here(&a.base, 2).await;
    let killed_at = Utc::now();
    a.kill();
    tokio::time::sleep(Duration::from_secs(u64::from(interval))).await;

    // Stop scheduling, then everything started ends (the killed instance's runs too).
    b.stop();
    let mut quiet = env.clone();
    quiet.push(("SYNC_SCHEDULER", "false".into()));
    let b = Server::start(&dir_b, &quiet);
    let by = all_finished(&b.base, &token, Duration::from_secs(60)).await;
    assert_eq!(by.len(), 200, "every connection synced");
    let mut taken_over = 0;
    for (connection, runs) in &by {
        one_at_a_time(connection, runs);
        assert!(
            runs.iter().all(|r| r["status"] == "succeeded" && r["trigger"] == "schedule"),
            "{connection}: {runs:?}"
        );
        for run in runs.iter().filter(|r| r["attempts"] == 2 && at(&r["created_at"]) < killed_at) {
            taken_over += 1;
            // Taken over once its lease ran out (the rescuer looks every third of a lease), then
            // synced behind what B was doing: within a lease and ten seconds of the kill.
            let after_kill = (at(&run["finished_at"]) - killed_at).num_milliseconds();
            assert!(
                after_kill < (LEASE_SECS as i64 + 10) * 1000,
                "{connection}: finished {after_kill} ms after the kill"
            );
        }
        // Once per interval: none missed and none doubled. A run is created by the first tick
        // after its slot (5 s ± 20 %, plus the tick's own work, seconds on a loaded machine), so
        // consecutive runs are an interval apart give or take that lateness; a doubled slot
        // would put two runs within a tick of each other, a missed one two intervals apart.
        let starts: Vec<DateTime<Utc>> = runs.iter().map(|r| at(&r["created_at"])).collect();
        assert!(starts.len() >= 3, "{connection}: {} runs in three intervals", starts.len());
        for pair in starts.windows(2) {
            let gap = (pair[1] - pair[0]).num_milliseconds() as f64 / 1000.0;
            assert!(gap > f64::from(interval) / 2.0, "{connection}: a slot run twice? runs {gap} s apart");
            assert!(gap < f64::from(interval) * 1.5, "{connection}: a slot missed? runs {gap} s apart");
        }
    }
    let attempts: std::collections::BTreeMap<String, usize> =
        by.values().flatten().fold(Default::default(), |mut m, r| {
            *m.entry(format!("{}/{}", r["attempts"], at(&r["created_at"]) < killed_at)).or_default() += 1;
            m
        });
    assert!(taken_over > 0, "no run of the killed instance was taken over: attempts/before-kill {attempts:?}");
    b.stop();
}

/// Starts a sync of every connection and waits until `n` run.
async fn start_all(base: &str, token: &str, n: usize) {
    let (status, started) = post(base, "/sync", Some(token), json!({})).await;
    assert_eq!(status, 202, "{started}");
    running(base, token, n).await;
}

async fn embedded_instance_with_slow_syncs(dir: &Path, fake: &FakeWildberries) -> (Server, String) {
    fake.set_latency(Duration::from_millis(700));
    let server = Server::start(dir, &env(fake, &[("SHUTDOWN_GRACE_SECS", "1".into())]));
    let token = register(&server.base, "restarted@example.com").await;
    fake.set_latency(Duration::ZERO);
    for i in 0..4 {
        create_connection(&server.base, &token, fake, &format!("WB {i}")).await;
    }
    fake.set_latency(Duration::from_millis(700));
    (server, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_embedded_instance_finishes_its_jobs_after_a_restart() {
    let fake = FakeWildberries::start(FakeConfig { products: 10, ..Default::default() }).await.unwrap();
    let dir = temp_dir();
    let (server, token) = embedded_instance_with_slow_syncs(&dir, &fake).await;
    start_all(&server.base, &token, 4).await;
    server.kill();

    fake.set_latency(Duration::ZERO);
    let restarted = Instant::now();
    let server = Server::start(&dir, &env(&fake, &[]));
    let by = all_finished(&server.base, &token, Duration::from_secs(30)).await;
    for (connection, runs) in &by {
        let [run] = runs.as_slice() else { panic!("{connection}: {runs:?}") };
        assert_eq!((run["status"].as_str(), run["attempts"].as_i64()), (Some("succeeded"), Some(2)), "{run}");
    }
    assert!(restarted.elapsed() < Duration::from_secs(LEASE_SECS + 15), "within a lease of the restart");
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_running_jobs_back_after_the_grace_period() {
    let fake = FakeWildberries::start(FakeConfig { products: 10, ..Default::default() }).await.unwrap();
    let dir = temp_dir();
    let (server, token) = embedded_instance_with_slow_syncs(&dir, &fake).await;
    fake.set_latency(Duration::from_secs(5));
    start_all(&server.base, &token, 4).await;
    let stopping = Instant::now();
    server.stop();
    assert!(stopping.elapsed() < Duration::from_secs(4), "stopped after the 1 s grace, took {:?}", stopping.elapsed());

    // Handed back without spending an attempt: the next instance takes them at once.
    fake.set_latency(Duration::ZERO);
    let server = Server::start(&dir, &env(&fake, &[]));
    let restarted = Instant::now();
    let by = all_finished(&server.base, &token, Duration::from_secs(30)).await;
    for (connection, runs) in &by {
        let [run] = runs.as_slice() else { panic!("{connection}: {runs:?}") };
        assert_eq!((run["status"].as_str(), run["attempts"].as_i64()), (Some("succeeded"), Some(1)), "{run}");
    }
    assert!(restarted.elapsed() < Duration::from_secs(LEASE_SECS), "no lease to wait out: {:?}", restarted.elapsed());
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_runs_what_serve_queues() {
    let fake = FakeWildberries::start(FakeConfig { products: 10, ..Default::default() }).await.unwrap();
    let dir = temp_dir();
    let api = Server::start(&dir, &env(&fake, &[("JOBS_WORKERS", "0".into())]));
    let token = register(&api.base, "worker@example.com").await;
    create_connection(&api.base, &token, &fake, "WB").await;
    let (status, _) = post(&api.base, "/sync", Some(&token), json!({})).await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(runs(&api.base, &token).await.values().flatten().all(|r| r["status"] == "queued"), "no worker in serve");

    let worker = Server::start_with(&dir, &env(&fake, &[]), &["worker"]);
    let by = all_finished(&api.base, &token, Duration::from_secs(30)).await;
    assert!(by.values().flatten().all(|r| r["status"] == "succeeded"), "{by:?}");
    // The worker serves health and metrics only.
    let client = reqwest::Client::new();
    let origin = worker.base.trim_end_matches("/api/v1");
    assert_eq!(client.get(format!("{}/health/live", worker.base)).send().await.unwrap().status(), 200);
    let counted = r#"stock_tracker_jobs_total{job="sync",status="success"} 1"#;
    let start = Instant::now();
    loop {
        let metrics = client.get(format!("{origin}/metrics")).send().await.unwrap().text().await.unwrap();
        if metrics.contains(counted) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(client.get(format!("{}/products", worker.base)).bearer_auth(&token).send().await.unwrap().status(), 404);
    worker.stop();
    api.stop();
    let _ = std::fs::remove_dir_all(dir);
}
