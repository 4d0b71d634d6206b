//! The sync job: one attempt of a run, and its outcome recorded twice: on the run (what the
//! seller sees: `succeeded`, `failed`, or `queued` again with `next_attempt_at` and the reason)
//! and as the job's [`Outcome`] (what the queue does next).
//!
//! | Attempt ended | Run | Job |
//! |---|---|---|
//! | complete | `succeeded` | done |
//! | marketplace asked to wait beyond the budget | `queued` until the wait is over | deferred (no attempt spent) |
//! | passing failure (marketplace 5xx, timeout, database), attempts left | `queued` until the backoff | retried |
//! | anything else, or the last attempt | `failed` with the error | failed |
//! | connection deleted | gone with the connection | done |
//!
//! Refused credentials also count towards pausing the schedule
//! (`SYNC_PAUSE_AFTER_REFUSALS` runs in a row); an accepted run resets the count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::{Progress, SyncError};
use crate::App;
use crate::jobs::{Handler, Outcome, backoff};
use crate::store::StoreError;
use crate::store::jobs::ClaimedJob;
use crate::store::sync_runs::{SyncJob, SyncStatus};

/// The handler of [`crate::store::sync_runs::SYNC_JOB`] jobs.
pub fn handler(app: Arc<App>) -> impl Handler {
    move |job: ClaimedJob| {
        let app = app.clone();
        async move { run(&app, job).await }
    }
}

/// Runs one attempt of the run `job` carries and records how it ended.
pub async fn run(app: &App, job: ClaimedJob) -> Outcome {
    let Ok(payload) = serde_json::from_value::<SyncJob>(job.payload.0.clone()) else {
        return Outcome::Fail("not a sync job payload".into());
    };
    let SyncJob { tenant_id, connection_id, sync_run_id } = payload;
    let started = Instant::now();
    // Read once per attempt; everything below works from this row.
    let connection = match app.store.connection(tenant_id, connection_id).await {
        Ok(connection) => connection,
        // Deleted before the attempt began; its runs went with it.
        Err(StoreError::NotFound) => return Outcome::Done,
        Err(err) => return Outcome::retry(job.attempt, format!("database: {err}")),
    };
    match app.store.sync_run_attempt(tenant_id, sync_run_id, job.attempt).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Outcome::Done,
        Err(err) => return Outcome::retry(job.attempt, format!("database: {err}")),
    }
    let mut progress = Progress::default();
    let mut result = super::attempt(app, &connection, sync_run_id, &mut progress).await;
    // Pages written before a failure are visible too.
    crate::cache::invalidation::invalidate(app, tenant_id).await;
    if result.is_err() && matches!(app.store.connection(tenant_id, connection_id).await, Err(StoreError::NotFound)) {
        result = Err(SyncError::ConnectionDeleted);
    }
    let recorded = record(app, &job, &connection, sync_run_id, &progress, result, started.elapsed()).await;
    recorded.unwrap_or_else(|err| {
        tracing::error!(sync_run.id = %sync_run_id, error = %err, "cannot record the outcome of sync {sync_run_id}");
        Outcome::retry(job.attempt, format!("database: {err}"))
    })
}

async fn record(
    app: &App,
    job: &ClaimedJob,
    connection: &crate::store::connections::ConnectionRecord,
    run_id: uuid::Uuid,
    progress: &Progress,
    result: Result<(), SyncError>,
    took: Duration,
) -> Result<Outcome, StoreError> {
    let (tenant_id, connection_id) = (connection.tenant_id, connection.connection_id);
    let marketplace = connection.marketplace.as_str();
    let counts = progress.counts();
    let finished = |succeeded: bool| {
        app.metrics.sync_finished(marketplace, succeeded, counts.0.max(0) as u64, took);
        app.metrics.tenant_active(tenant_id);
    };
    // The series move before the run shows its end, so whoever sees the run finished sees it
    // counted (a run whose outcome then cannot be recorded is retried, and counted again).
    let err = match result {
        Ok(()) => {
            finished(true);
            announce(app, connection, run_id, SyncStatus::Succeeded, counts, None, job.attempt).await;
            app.store.update_sync_run(tenant_id, run_id, SyncStatus::Succeeded, counts, None).await?;
            app.store.record_credential_check(tenant_id, connection_id, false, 0, "").await?;
            return Ok(Outcome::Done);
        }
        Err(err) => err,
    };
    if let SyncError::ConnectionDeleted = err {
        finished(false);
        return Ok(Outcome::Done);
    }
    let message = err.to_string();
    if let SyncError::RateLimited(wait) = err {
        let after = Duration::from_secs(wait);
        app.store.sync_run_waits(tenant_id, run_id, counts, &message, at(after)).await?;
        return Ok(Outcome::Defer { after, reason: message });
    }
    if err.is_transient() && job.attempt < job.max_attempts {
        let after = backoff(job.attempt);
        let reason = format!("attempt {} of {} failed: {message}", job.attempt, job.max_attempts);
        app.store.sync_run_waits(tenant_id, run_id, counts, &reason, at(after)).await?;
        return Ok(Outcome::Retry { error: message, after });
    }
    let error = if job.attempt > 1 { format!("{message} (after {} attempts)", job.attempt) } else { message };
    finished(false);
    announce(app, connection, run_id, SyncStatus::Failed, counts, Some(&error), job.attempt).await;
    app.store.update_sync_run(tenant_id, run_id, SyncStatus::Failed, counts, Some(&error)).await?;
    // What it wrote before failing is history of an incomplete observation.
    app.store.record_observation(tenant_id, connection_id, run_id, app.clock.now(), false).await?;
    if err.is_refused_credentials() {
        let pause_after = app.config.sync.sync_pause_after_refusals;
        let reason = format!(
            "the marketplace refused the credentials in {pause_after} run(s) in a row (last: {error}); \
             new credentials (PATCH the connection) resume it"
        );
        if app.store.record_credential_check(tenant_id, connection_id, true, pause_after, &reason).await? {
            tracing::warn!(tenant.id = %tenant_id, connection.id = %connection_id, "schedule paused: {reason}");
        }
    }
    Ok(Outcome::Fail(error))
}

/// The run's `sync.completed` / `sync.failed` event, recorded just before the run shows its end
/// (whoever sees the run finished finds its event). An event that cannot be written is logged
/// rather than repeating the sync.
async fn announce(
    app: &App,
    connection: &crate::store::connections::ConnectionRecord,
    run_id: uuid::Uuid,
    status: SyncStatus,
    counts: (i64, i64, i64),
    error: Option<&str>,
    attempts: i32,
) {
    let announced = match app.store.sync_run(connection.tenant_id, run_id).await {
        Ok(mut run) => {
            run.status = status;
            (run.products_seen, run.stocks_seen, run.stock_changes) = counts;
            run.error = error.map(str::to_owned);
            run.attempts = attempts;
            run.finished_at = Some(crate::store::now());
            crate::events::sync_finished(app, connection, &run).await
        }
        Err(err) => Err(err),
    };
    if let Err(err) = announced {
        tracing::error!(sync_run.id = %run_id, error = %err, "cannot record the event of sync {run_id}");
    }
}

fn at(after: Duration) -> chrono::DateTime<Utc> {
    crate::store::now() + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::hours(1))
}
