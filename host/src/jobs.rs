//! Durable jobs: the one way work runs outside a request. A job is a row ([`crate::store::jobs`]);
//! workers in every process claim due jobs under a lease, renew it while they work, and record
//! the outcome. Nothing waits in memory: a retry is the row again with `run_at` in the future
//! (durable backoff, [`backoff`]), a deferral likewise without spending an attempt, and a job
//! whose worker died is taken back when its lease runs out ([`crate::store::Store::rescue_expired_jobs`]),
//! by whichever process looks first. Why our own module rather than a crate: the reference notes
//! (apalis has no durable backoff and duplicates cron ticks; the others are PostgreSQL-only or pin
//! sqlx 0.8).
//!
//! Configuration ([`JobsConfig`]): `JOBS_WORKERS` (default 4), `JOBS_LEASE_SECS` (default 60)
//! and `SHUTDOWN_GRACE_SECS` (default 30).
//!
//! Handlers are registered by kind ([`Handlers`]) and answer an [`Outcome`]. A handler must be
//! idempotent: a job can run twice (its worker lost the lease while still working; the fencing in
//! the store keeps the stale worker from recording anything, not from having done the work).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use uuid::Uuid;

use crate::store::Store;
use crate::store::jobs::ClaimedJob;
use crate::telemetry::Metrics;

/// Job worker settings.
#[derive(Debug, Clone, clap::Args)]
pub struct JobsConfig {
    /// Jobs one process runs at once.
    #[arg(long, env = "JOBS_WORKERS", value_name = "JOBS_WORKERS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub jobs_workers: u32,

    /// How long a claim lasts without a heartbeat, seconds; a dead worker's job is taken over
    /// after this.
    #[arg(long, env = "JOBS_LEASE_SECS", value_name = "JOBS_LEASE_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub jobs_lease_secs: u64,

    /// On SIGTERM or Ctrl-C: how long running jobs may take to finish before their claims are
    /// handed back to other instances, seconds.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", value_name = "SHUTDOWN_GRACE_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self { jobs_workers: 4, jobs_lease_secs: 60, shutdown_grace_secs: 30 }
    }
}

impl JobsConfig {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.jobs_lease_secs)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// What a handler made of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done,
    /// Failed in a way that may pass: again after `after` (see [`Outcome::retry`]), unless that
    /// was the last attempt.
    Retry { error: String, after: Duration },
    /// Not now: again after `after`, without spending an attempt (a marketplace asking to wait).
    Defer { after: Duration, reason: String },
    /// Failed for good.
    Fail(String),
}

impl Outcome {
    /// A retry of attempt `attempt` after the usual [`backoff`].
    pub fn retry(attempt: i32, error: impl Into<String>) -> Self {
        Self::Retry { error: error.into(), after: backoff(attempt) }
    }

    /// The `status` label of `stock_tracker_jobs_total`.
    fn status(&self) -> &'static str {
        match self {
            Self::Done => "success",
            Self::Retry { .. } => "retry",
            Self::Defer { .. } => "deferred",
            Self::Fail(_) => "failed",
        }
    }
}

/// A job handler's future.
pub type JobFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// Runs jobs of one kind.
pub trait Handler: Send + Sync + 'static {
    fn run(&self, job: ClaimedJob) -> JobFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(ClaimedJob) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    fn run(&self, job: ClaimedJob) -> JobFuture {
        Box::pin(self(job))
    }
}

/// Handlers by job kind.
#[derive(Clone, Default)]
pub struct Handlers(HashMap<&'static str, Arc<dyn Handler>>);

impl Handlers {
    /// Adds the handler of `kind`.
    pub fn with(mut self, kind: &'static str, handler: impl Handler) -> Self {
        self.0.insert(kind, Arc::new(handler));
        self
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.0.keys().copied().collect()
    }
}

/// When attempt `attempt` (from 1) failed, the next one waits `attempt⁴` seconds (1 s, 16 s,
/// 81 s, 4 min, 10 min, …, at most 6 hours), ±10 % so retries of many jobs spread out.
pub fn backoff(attempt: i32) -> Duration {
    let base = f64::from(attempt.clamp(1, 100)).powi(4).min(6.0 * 3600.0);
    let jitter = 0.9 + rand::random::<f64>() * 0.2;
    Duration::from_secs_f64((base * jitter).max(1.0))
}

/// How long an idle worker waits before looking for due jobs again (a job enqueued by this
/// process wakes one at once, see [`Workers::wakeup`]).
const POLL: Duration = Duration::from_millis(500);
/// Finished jobs are kept this long (for debugging), then pruned. A day: at 10,000 connections
/// synced every 30 minutes that is about 480,000 rows; what a seller sees is the sync run.
const RETENTION: chrono::Duration = chrono::Duration::days(1);

/// What every worker of a process shares.
struct Shared {
    store: Store,
    handlers: Handlers,
    lease: Duration,
    wakeup: Arc<Notify>,
    metrics: Arc<Metrics>,
}

/// The running workers of one process.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    ids: Vec<String>,
    store: Store,
}

impl Workers {
    /// Starts `config.jobs_workers` workers (and the lease rescuer, queue sampler and pruner)
    /// over `store`. Notifying `wakeup` makes an idle worker look for jobs at once.
    pub fn start(
        store: Store,
        handlers: Handlers,
        config: &JobsConfig,
        wakeup: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let instance = Uuid::now_v7().simple().to_string();
        let shared = Arc::new(Shared { store: store.clone(), handlers, lease: config.lease(), wakeup, metrics });
        let mut ids = Vec::new();
        for n in 0..config.jobs_workers {
            let id = format!("{}-{n}", &instance[20..]);
            ids.push(id.clone());
            tasks.spawn(work(shared.clone(), id, stopped.clone()));
        }
        tasks.spawn(maintain(shared, stopped));
        Self { stop, tasks, ids, store }
    }

    /// Stops claiming, lets running jobs finish for up to `grace`, then stops them and hands
    /// their claims back (without spending their attempts).
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            tracing::warn!(grace_secs = grace.as_secs(), "jobs still running after the grace period: stopping them");
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
        for id in &self.ids {
            match self.store.release_jobs(id).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(worker = %id, jobs = n, "handed back {n} unfinished job(s)"),
                Err(err) => {
                    tracing::error!(worker = %id, error = %err, "cannot hand back jobs; their leases will expire")
                }
            }
        }
    }
}

/// One worker: claim a due job, run it under a renewed lease, record the outcome; repeat.
async fn work(shared: Arc<Shared>, id: String, mut stopped: watch::Receiver<bool>) {
    let kinds = shared.handlers.kinds();
    while !crate::background::stop_requested(&stopped) {
        let lease_until = Utc::now() + shared.lease;
        let job = match shared.store.claim_jobs(&id, &kinds, 1, lease_until).await {
            Ok(mut jobs) => jobs.pop(),
            Err(err) => {
                tracing::warn!(worker = %id, error = %err, "cannot claim jobs");
                None
            }
        };
        let Some(job) = job else {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = shared.wakeup.notified() => {}
                _ = stopped.changed() => {}
            }
            continue;
        };
        let Some(handler) = shared.handlers.0.get(job.kind.as_str()).cloned() else { continue };
        run_one(&shared, &id, handler, job).await;
    }
}

async fn run_one(shared: &Shared, worker: &str, handler: Arc<dyn Handler>, job: ClaimedJob) {
    let (store, lease) = (&shared.store, shared.lease);
    let (job_id, attempt, kind) = (job.job_id, job.attempt, job.kind.clone());
    let started = std::time::Instant::now();
    let running = shared.metrics.jobs_running.with_label_values(&[kind.as_str()]);
    running.inc();
    // Down again however the attempt ends (also when the task is stopped at shutdown).
    let _running = scopeguard(move || running.dec());
    let renew = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            match store.heartbeat_job(job_id, worker, attempt, Utc::now() + lease).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => tracing::warn!(job.id = %job_id, error = %err, "heartbeat failed; retrying"),
            }
        }
    };
    let outcome = tokio::select! {
        outcome = handler.run(job) => outcome,
        () = renew => {
            tracing::warn!(job.id = %job_id, kind = %kind, "lease lost: another worker has the job; stopped");
            return;
        }
    };
    let recorded = match &outcome {
        Outcome::Done => store.complete_job(job_id, worker, attempt).await,
        Outcome::Retry { error, after } => store.fail_job(job_id, worker, attempt, error, Some(later(*after))).await,
        Outcome::Fail(error) => store.fail_job(job_id, worker, attempt, error, None).await,
        Outcome::Defer { after, reason } => store.defer_job(job_id, worker, attempt, reason, later(*after)).await,
    };
    let took = started.elapsed();
    match recorded {
        Ok(true) => {
            shared.metrics.job_finished(&kind, outcome.status(), took);
            tracing::debug!(job.id = %job_id, kind = %kind, attempt, duration_ms = took.as_millis() as u64, outcome = ?outcome, "job {job_id} ran")
        }
        Ok(false) => {
            tracing::warn!(job.id = %job_id, kind = %kind, "job {job_id} finished after its lease was taken over; outcome dropped")
        }
        Err(err) => {
            tracing::error!(job.id = %job_id, error = %err, "cannot record the outcome of job {job_id}; its lease will expire")
        }
    }
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

fn later(after: Duration) -> chrono::DateTime<Utc> {
    crate::store::now() + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::hours(1))
}

/// Every third of a lease: takes back expired leases and samples the queue for the metrics;
/// hourly: prunes old finished jobs, events, deliveries and Telegram updates.
async fn maintain(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let store = &shared.store;
    let kinds = shared.handlers.kinds();
    let mut last_prune = std::time::Instant::now() - Duration::from_secs(3600);
    while !crate::background::stop_requested(&stopped) {
        match store.rescue_expired_jobs().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(jobs = n, "took back {n} job(s) whose lease expired"),
            Err(err) => tracing::warn!(error = %err, "cannot rescue expired jobs"),
        }
        match store.sample_job_queue().await {
            Ok(sample) => shared.metrics.jobs_sampled(&kinds, &sample),
            Err(err) => tracing::warn!(error = %err, "cannot sample the job queue"),
        }
        if last_prune.elapsed() >= Duration::from_secs(3600) {
            last_prune = std::time::Instant::now();
            if let Err(err) = store.prune_jobs(crate::store::now() - RETENTION).await {
                tracing::warn!(error = %err, "cannot prune finished jobs");
            }
            if let Err(err) = store.prune_history(crate::store::now()).await {
                tracing::warn!(error = %err, "cannot prune old events, deliveries and Telegram updates");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(shared.lease / 3) => {}
            _ = stopped.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_the_fourth_power_with_jitter_and_a_cap() {
        for (attempt, base) in [(1, 1.0), (2, 16.0), (3, 81.0), (5, 625.0)] {
            let d = backoff(attempt).as_secs_f64();
            assert!(d >= (base * 0.9_f64).max(1.0) && d <= (base * 1.1_f64).max(1.0), "{attempt}: {d}");
        }
        assert!(backoff(1000).as_secs_f64() <= 6.0 * 3600.0 * 1.1);
        let spread: std::collections::BTreeSet<u64> = (0..20).map(|_| backoff(4).as_millis() as u64).collect();
        assert!(spread.len() > 10, "jittered");
    }
}
