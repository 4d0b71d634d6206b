//! What the benchmark programs share: the machine line every report starts with, and waiting
//! for a sync run to end.

use std::time::Duration;

use crate::TestApp;

/// `<CPU model>, <n> cores`, for the first line of a benchmark's output.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    format!("{model}, {} cores", std::thread::available_parallelism().map_or(0, |n| n.get()))
}

/// The run `run_id` once it has succeeded or failed, asked every `poll`.
pub async fn finished_run(app: &TestApp, token: &str, run_id: &str, poll: Duration) -> serde_json::Value {
    loop {
        let res = app.get(&format!("/api/v1/sync-runs/{run_id}"), token).await;
        if matches!(res.body["status"].as_str(), Some("succeeded" | "failed")) {
            return res.body;
        }
        tokio::time::sleep(poll).await;
    }
}

/// A benchmark's `main`: the machine line, then `run` on SQLite and on PostgreSQL, on a
/// two-worker runtime (the machines these figures come from have two cores).
pub fn on_both_backends<F, Fut>(run: F)
where
    F: Fn(crate::Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    println!("machine: {}", machine());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        run(crate::Backend::Sqlite).await;
        run(crate::Backend::Postgres).await;
    });
}

/// Keeps every core busy with the lowest-priority work there is (`nice -n 19` shell loops, one a
/// core) for as long as it lives: a host that is never idle. On a virtual machine a thread
/// woken on an idle core waits for that virtual CPU to come out of its halt, which costs tens of
/// microseconds; with the cores busy the same wake-up only preempts the loop. Figures dominated
/// by thread hand-offs (a statement at a time) move several-fold between the two states, so
/// benchmarks that compare against such a baseline report both.
pub struct BusyCores(Vec<std::process::Child>);

impl BusyCores {
    pub fn start() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let loops = (0..cores)
            .map(|_| {
                std::process::Command::new("nice")
                    .args(["-n", "19", "sh", "-c", "while :; do :; done"])
                    .spawn()
                    .expect("nice and sh are on every machine these benchmarks run on")
            })
            .collect();
        // Let the loops reach the CPUs before anything is measured.
        std::thread::sleep(Duration::from_millis(200));
        Self(loops)
    }
}

impl Drop for BusyCores {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
