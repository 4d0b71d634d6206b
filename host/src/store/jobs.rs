//! The job table (see [`crate::jobs`] for the worker side): enqueue with de-duplication by key,
//! claim under a lease, renew it, and finish, each finishing statement fenced by the claim (the
//! worker and the attempt it claimed), so a worker whose lease was taken over can no longer touch
//! the job. The SQL is the pattern verified on both backends in the reference notes: a partial
//! unique index for "one active job per key", `FOR UPDATE SKIP LOCKED` for claims on PostgreSQL
//! (SQLite has one writer, so its claim is one atomic `UPDATE … RETURNING`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{BeginWrite, Pool, Store, StoreError, now, on_pool};

/// A job to add.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Which handler runs it.
    pub kind: &'static str,
    pub tenant_id: Option<Uuid>,
    /// At most one queued-or-running job per key: a second enqueue with the same key is a no-op.
    pub unique_key: Option<String>,
    pub payload: Value,
    /// Attempts before the job is `failed` for good.
    pub max_attempts: i32,
    /// Not before.
    pub run_at: DateTime<Utc>,
}

/// A job a worker holds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub job_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub kind: String,
    pub unique_key: Option<String>,
    pub payload: Json<Value>,
    /// This attempt's number, from 1: with the worker id, the claim's fencing token.
    pub attempt: i32,
    pub max_attempts: i32,
    pub deferrals: i32,
    pub created_at: DateTime<Utc>,
}

/// A job's state as stored (for the API, metrics and tests).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRecord {
    pub job_id: Uuid,
    pub kind: String,
    pub state: String,
    pub attempt: i32,
    pub deferrals: i32,
    pub run_at: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
}

/// The head of a multi-row job insert; rows are pushed with [`push_job!`].
pub(crate) const JOB_INSERT: &str =
    "INSERT INTO job (job_id, tenant_id, kind, unique_key, payload, state, max_attempts, run_at, created_at) ";

/// Pushes the values of a [`NewJob`] as one row of a [`JOB_INSERT`] (a macro, so each backend's
/// arm of [`on_pool!`] binds with its own driver).
macro_rules! push_job {
    ($row:expr, $job:expr, $at:expr) => {
        $row.push_bind(uuid::Uuid::now_v7())
            .push_bind($job.tenant_id)
            .push_bind($job.kind)
            .push_bind($job.unique_key.clone())
            .push_bind(sqlx::types::Json($job.payload.clone()))
            .push_bind("available")
            .push_bind($job.max_attempts)
            .push_bind($job.run_at)
            .push_bind($at)
    };
}
pub(crate) use push_job;

const CLAIMED: &str = "job_id, tenant_id, kind, unique_key, payload, attempt, max_attempts, deferrals, created_at";
/// The fence of every finishing statement: still this worker's, still this attempt, still running.
const FENCE: &str = "job_id = $1 AND locked_by = $2 AND attempt = $3 AND state = 'running'";

impl Store {
    /// Adds a job; `None` when an active job with the same key exists (it is left as it is).
    pub async fn enqueue_job(&self, job: &NewJob) -> Result<Option<Uuid>, StoreError> {
        let job_id = Uuid::now_v7();
        let sql = "INSERT INTO job (job_id, tenant_id, kind, unique_key, payload, state, max_attempts, run_at, created_at) \
                   VALUES ($1, $2, $3, $4, $5, 'available', $6, $7, $8) ON CONFLICT DO NOTHING";
        let n = on_pool!(self.pool(), p => sqlx::query(sql)
            .bind(job_id).bind(job.tenant_id).bind(job.kind).bind(&job.unique_key).bind(Json(&job.payload))
            .bind(job.max_attempts).bind(job.run_at).bind(now())
            .execute(p).await?.rows_affected());
        Ok((n == 1).then_some(job_id))
    }

    /// Adds jobs in one transaction (the messages of an alert); a job whose key is active is
    /// left out.
    pub async fn enqueue_jobs(&self, jobs: &[NewJob]) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let at = now();
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            for chunk in jobs.chunks(1000) {
                let mut q = sqlx::QueryBuilder::new(JOB_INSERT);
                q.push_values(chunk, |mut row, job| { push_job!(row, job, at); });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Claims up to `limit` due jobs of `kinds` for `worker`, leased until `lease_until`.
    pub async fn claim_jobs(
        &self,
        worker: &str,
        kinds: &[&str],
        limit: u32,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
        let at = now();
        let rows = match self.pool() {
            Pool::Postgres(p) => {
                let sql = sqlx::AssertSqlSafe(format!(
                    "WITH next AS (SELECT job_id FROM job WHERE state IN ('available', 'retryable') AND run_at <= $1 \
                       AND kind = ANY($5) ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
                     UPDATE job j SET state = 'running', attempt = j.attempt + 1, locked_by = $3, lease_expires_at = $4 \
                     FROM next WHERE j.job_id = next.job_id RETURNING {}",
                    CLAIMED.split(", ").map(|c| format!("j.{c}")).collect::<Vec<_>>().join(", ")
                ));
                sqlx::query_as(sql)
                    .bind(at)
                    .bind(i64::from(limit))
                    .bind(worker)
                    .bind(lease_until)
                    .bind(&kinds)
                    .fetch_all(p)
                    .await?
            }
            Pool::Sqlite(p) => {
                // One writer at a time: the sub-select and the update are one atomic statement.
                let kinds = serde_json::to_string(&kinds).expect("strings serialize");
                let sql = sqlx::AssertSqlSafe(format!(
                    "UPDATE job SET state = 'running', attempt = attempt + 1, locked_by = $3, lease_expires_at = $4 \
                     WHERE job_id IN (SELECT job_id FROM job WHERE state IN ('available', 'retryable') AND run_at <= $1 \
                       AND kind IN (SELECT value FROM json_each($5)) ORDER BY run_at LIMIT $2) \
                     RETURNING {CLAIMED}"
                ));
                sqlx::query_as(sql)
                    .bind(at)
                    .bind(i64::from(limit))
                    .bind(worker)
                    .bind(lease_until)
                    .bind(kinds)
                    .fetch_all(p)
                    .await?
            }
        };
        Ok(rows)
    }

    /// Renews a claim's lease. `false`: the claim is lost (rescued and maybe re-claimed), and the
    /// worker must stop working on it.
    pub async fn heartbeat_job(
        &self,
        job_id: Uuid,
        worker: &str,
        attempt: i32,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("UPDATE job SET lease_expires_at = $4 WHERE {FENCE}"));
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(job_id).bind(worker).bind(attempt).bind(lease_until)
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// The claim succeeded. `false` when the claim was lost meanwhile.
    pub async fn complete_job(&self, job_id: Uuid, worker: &str, attempt: i32) -> Result<bool, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE job SET state = 'completed', finished_at = $4, locked_by = NULL, lease_expires_at = NULL WHERE {FENCE}"
        ));
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(job_id).bind(worker).bind(attempt).bind(now())
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// The claim failed: `retryable` again at `retry_at`, or `failed` for good when it was the
    /// last attempt (or `retry_at` is `None`). The error is kept either way.
    pub async fn fail_job(
        &self,
        job_id: Uuid,
        worker: &str,
        attempt: i32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE job SET \
               state = CASE WHEN $5 IS NULL OR attempt >= max_attempts THEN 'failed' ELSE 'retryable' END, \
               finished_at = CASE WHEN $5 IS NULL OR attempt >= max_attempts THEN $6 ELSE NULL END, \
               run_at = COALESCE($5, run_at), last_error = $4, locked_by = NULL, lease_expires_at = NULL \
             WHERE {FENCE}"
        ));
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(job_id).bind(worker).bind(attempt).bind(error)
            .bind(retry_at).bind(now())
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// The claim gave way to the outside (a marketplace asking to wait): back in the queue at
    /// `run_at` without spending an attempt; counted in `deferrals`.
    pub async fn defer_job(
        &self,
        job_id: Uuid,
        worker: &str,
        attempt: i32,
        reason: &str,
        run_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE job SET state = 'available', attempt = attempt - 1, deferrals = deferrals + 1, run_at = $5, \
             last_error = $4, locked_by = NULL, lease_expires_at = NULL WHERE {FENCE}"
        ));
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(job_id).bind(worker).bind(attempt).bind(reason).bind(run_at)
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Takes back jobs whose lease ran out (their worker died or hung): retryable at once, or
    /// failed when that was their last attempt. Returns how many. A job taken back keeps its
    /// `run_at`, so it goes first again, ahead of what became due while it ran: the queue is
    /// claimed oldest `run_at` first, and a busy survivor would otherwise finish its whole
    /// backlog before the work the dead instance had started.
    pub async fn rescue_expired_jobs(&self) -> Result<u64, StoreError> {
        let at = now();
        let sql = "UPDATE job SET \
                     state = CASE WHEN attempt >= max_attempts THEN 'failed' ELSE 'retryable' END, \
                     finished_at = CASE WHEN attempt >= max_attempts THEN $1 ELSE NULL END, \
                     last_error = 'lease expired (the worker stopped or hung)', \
                     locked_by = NULL, lease_expires_at = NULL \
                   WHERE state = 'running' AND lease_expires_at < $1";
        Ok(on_pool!(self.pool(), p => sqlx::query(sql).bind(at).execute(p).await?.rows_affected()))
    }

    /// Hands back this worker's claims without spending their attempts (a graceful shutdown).
    /// Like a job taken back, a job handed back keeps its place in the queue (its `run_at`).
    pub async fn release_jobs(&self, worker: &str) -> Result<u64, StoreError> {
        let sql = "UPDATE job SET state = 'available', attempt = attempt - 1, locked_by = NULL, \
                   lease_expires_at = NULL WHERE locked_by = $1 AND state = 'running'";
        Ok(on_pool!(self.pool(), p => sqlx::query(sql).bind(worker).execute(p).await?.rows_affected()))
    }

    /// Deletes finished jobs older than `before`. Returns how many.
    pub async fn prune_jobs(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "DELETE FROM job WHERE state IN ('completed', 'failed', 'cancelled') AND finished_at < $1";
        Ok(on_pool!(self.pool(), p => sqlx::query(sql).bind(before).execute(p).await?.rows_affected()))
    }

    /// One job's stored state.
    pub async fn job(&self, job_id: Uuid) -> Result<JobRecord, StoreError> {
        let sql =
            "SELECT job_id, kind, state, attempt, deferrals, run_at, locked_by, last_error FROM job WHERE job_id = $1";
        let row = on_pool!(self.pool(), p => sqlx::query_as(sql).bind(job_id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// The due part of the queue by kind: how many jobs wait for a worker, and how long the
    /// oldest has waited, seconds.
    pub async fn sample_job_queue(&self) -> Result<HashMap<String, (i64, f64)>, StoreError> {
        let at = now();
        let sql = "SELECT kind, COUNT(*), MIN(run_at) FROM job \
                   WHERE state IN ('available', 'retryable') AND run_at <= $1 GROUP BY kind";
        let rows: Vec<(String, i64, DateTime<Utc>)> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(at).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .map(|(kind, n, oldest)| (kind, (n, (at - oldest).num_milliseconds().max(0) as f64 / 1000.0)))
            .collect())
    }
}
