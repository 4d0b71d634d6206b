//! Sync runs: one row per attempt to bring a connection's data in, with its outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;
use sqlx::types::Json;
use uuid::Uuid;

use super::{BeginWrite, Store, StoreError, now, on_pool};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl SyncStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed].into_iter().find(|v| v.as_str() == s)
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncTrigger {
    /// Someone asked through the API.
    Manual,
    /// The connection's schedule.
    Schedule,
}

impl SyncTrigger {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Schedule => "schedule",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Manual, Self::Schedule].into_iter().find(|v| v.as_str() == s)
    }
}

/// The job kind that carries sync runs.
pub const SYNC_JOB: &str = "sync";

/// A sync job's payload: which run of which connection it carries.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SyncJob {
    pub tenant_id: Uuid,
    pub connection_id: Uuid,
    pub sync_run_id: Uuid,
}

/// The key that keeps one sync job per connection.
pub fn sync_job_key(connection_id: Uuid) -> String {
    format!("sync:{connection_id}")
}

/// A sync run as served.
#[derive(Debug, Clone, Serialize)]
pub struct SyncRun {
    pub sync_run_id: Uuid,
    pub connection_id: Uuid,
    pub status: SyncStatus,
    pub trigger: SyncTrigger,
    /// Attempts begun so far (a transient failure is retried; a deferral does not count).
    pub attempts: i32,
    /// While `queued` after a failed or deferred attempt: when the next one is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub products_seen: i64,
    pub stocks_seen: i64,
    pub stock_changes: i64,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall time from start to finish, once finished.
    pub duration_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct SyncRunRow {
    sync_run_id: Uuid,
    connection_id: Uuid,
    status: String,
    triggered_by: String,
    attempts: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    products_seen: i64,
    stocks_seen: i64,
    stock_changes: i64,
    error: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<SyncRunRow> for SyncRun {
    type Error = StoreError;
    fn try_from(r: SyncRunRow) -> Result<Self, StoreError> {
        let status =
            SyncStatus::parse(&r.status).ok_or_else(|| StoreError::Corrupt(format!("sync status `{}`", r.status)))?;
        let trigger = SyncTrigger::parse(&r.triggered_by)
            .ok_or_else(|| StoreError::Corrupt(format!("sync trigger `{}`", r.triggered_by)))?;
        let duration_ms = r.started_at.zip(r.finished_at).map(|(s, f)| (f - s).num_milliseconds());
        Ok(SyncRun {
            sync_run_id: r.sync_run_id,
            connection_id: r.connection_id,
            status,
            trigger,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            products_seen: r.products_seen,
            stocks_seen: r.stocks_seen,
            stock_changes: r.stock_changes,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms,
        })
    }
}

const COLUMNS: &str = "sync_run_id, connection_id, status, triggered_by, attempts, next_attempt_at, products_seen, stocks_seen, stock_changes, error, \
                       created_at, started_at, finished_at";

impl Store {
    /// Starts a run of a connection: a `queued` run and the job that carries it, in one
    /// transaction, unless a sync job of the connection is already queued or running, in which
    /// case its run is returned. Returns the run and whether it is new; [`StoreError::NotFound`]
    /// when the connection is not the tenant's.
    pub async fn enqueue_sync(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        trigger: SyncTrigger,
        max_attempts: i32,
    ) -> Result<(SyncRun, bool), StoreError> {
        let started = self.insert_sync(tenant_id, connection_id, trigger, max_attempts, None).await?;
        if let Some(run_id) = started {
            return Ok((self.sync_run(tenant_id, run_id).await?, true));
        }
        self.connection(tenant_id, connection_id).await?;
        match self.active_sync_run(tenant_id, connection_id).await? {
            Some(active) => Ok((active, false)),
            // Its job finished between the insert and this read: start another.
            None => Box::pin(self.enqueue_sync(tenant_id, connection_id, trigger, max_attempts)).await,
        }
    }

    /// The scheduler's start of a sync: moves the connection's `next_sync_at` from `expected` to
    /// `next` and, in the same transaction, starts a run unless one is active. Returns whether
    /// the schedule moved (`false`: another instance or an edit moved it first; nothing done)
    /// and the new run, if one was started.
    pub async fn enqueue_scheduled_sync(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        max_attempts: i32,
        expected: Option<DateTime<Utc>>,
        next: DateTime<Utc>,
    ) -> Result<(bool, Option<Uuid>), StoreError> {
        match self
            .insert_sync(tenant_id, connection_id, SyncTrigger::Schedule, max_attempts, Some((expected, next)))
            .await
        {
            Err(StoreError::Conflict { code: "moved", .. }) => Ok((false, None)),
            other => Ok((true, other?)),
        }
    }

    /// The job and the run, in one transaction; `None` when a sync job of the connection is
    /// active (or the connection does not exist). With `reschedule`, first moves the schedule
    /// (compare and set), failing with the conflict `moved` when it was moved by someone else.
    async fn insert_sync(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        trigger: SyncTrigger,
        max_attempts: i32,
        reschedule: Option<(Option<DateTime<Utc>>, DateTime<Utc>)>,
    ) -> Result<Option<Uuid>, StoreError> {
        let run_id = Uuid::now_v7();
        let job_id = Uuid::now_v7();
        let at = now();
        let payload = Json(SyncJob { tenant_id, connection_id, sync_run_id: run_id });
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            // A write comes first, so an SQLite transaction takes the write lock at once.
            if let Some((expected, next)) = reschedule {
                let moved = sqlx::query(super::connections::PLACE_NEXT_SYNC)
                    .bind(tenant_id).bind(connection_id).bind(expected).bind(next)
                    .execute(&mut *tx).await?.rows_affected();
                if moved == 0 {
                    return Err(StoreError::Conflict { code: "moved", message: "the schedule moved meanwhile".into() });
                }
            }
            let inserted = sqlx::query(
                "INSERT INTO job (job_id, tenant_id, kind, unique_key, payload, state, max_attempts, run_at, created_at) \
                 SELECT $1, $2, $3, $4, $5, 'available', $6, $7, $7 WHERE EXISTS \
                   (SELECT 1 FROM marketplace_connection WHERE tenant_id = $2 AND connection_id = $8) \
                 ON CONFLICT DO NOTHING")
                .bind(job_id).bind(tenant_id).bind(SYNC_JOB).bind(sync_job_key(connection_id)).bind(payload)
                .bind(max_attempts).bind(at).bind(connection_id)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if inserted {
                // A run still marked active has no job any more (its job ran out of attempts
                // while its worker was gone): it ended then.
                sqlx::query("UPDATE sync_run SET status = 'failed', finished_at = $3, next_attempt_at = NULL, \
                             error = COALESCE(error, 'interrupted: its worker stopped and it ran out of attempts') \
                             WHERE tenant_id = $1 AND connection_id = $2 AND status IN ('queued', 'running')")
                    .bind(tenant_id).bind(connection_id).bind(at).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO sync_run (tenant_id, sync_run_id, connection_id, status, triggered_by, created_at) \
                             VALUES ($1, $2, $3, 'queued', $4, $5)")
                    .bind(tenant_id).bind(run_id).bind(connection_id).bind(trigger.as_str()).bind(at)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(inserted.then_some(run_id))
        })
    }

    /// The queued or running run of a connection, if any.
    pub async fn active_sync_run(&self, tenant_id: Uuid, connection_id: Uuid) -> Result<Option<SyncRun>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sync_run WHERE tenant_id = $1 AND connection_id = $2 AND status IN ('queued', 'running')"
        ));
        let row: Option<SyncRunRow> = on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).fetch_optional(p).await?);
        row.map(SyncRun::try_from).transpose()
    }

    /// Records progress of a running run (counts so far) and moves its heartbeat.
    pub async fn sync_run_progress(
        &self,
        tenant_id: Uuid,
        sync_run_id: Uuid,
        counts: (i64, i64, i64),
    ) -> Result<(), StoreError> {
        let sql = "UPDATE sync_run SET products_seen = $3, stocks_seen = $4, stock_changes = $5, heartbeat_at = $6 \
                   WHERE tenant_id = $1 AND sync_run_id = $2";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(sync_run_id)
            .bind(counts.0).bind(counts.1).bind(counts.2).bind(now()).execute(p).await?.rows_affected());
        Ok(())
    }

    /// An attempt of a run begins: `running`, its attempt number, counts from zero.
    pub async fn sync_run_attempt(
        &self,
        tenant_id: Uuid,
        sync_run_id: Uuid,
        attempt: i32,
    ) -> Result<SyncRun, StoreError> {
        let at = now();
        let sql = "UPDATE sync_run SET status = 'running', attempts = $3, products_seen = 0, stocks_seen = 0, \
                   stock_changes = 0, started_at = $4, heartbeat_at = $4, next_attempt_at = NULL \
                   WHERE tenant_id = $1 AND sync_run_id = $2";
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(sync_run_id).bind(attempt).bind(at)
            .execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.sync_run(tenant_id, sync_run_id).await
    }

    /// An attempt ended without finishing the run: `queued` again until `next_attempt_at`, with
    /// the reason in `error`.
    pub async fn sync_run_waits(
        &self,
        tenant_id: Uuid,
        sync_run_id: Uuid,
        counts: (i64, i64, i64),
        reason: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<SyncRun, StoreError> {
        let sql = "UPDATE sync_run SET status = 'queued', products_seen = $3, stocks_seen = $4, stock_changes = $5, \
                   error = $6, next_attempt_at = $7, heartbeat_at = $8 WHERE tenant_id = $1 AND sync_run_id = $2";
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(sync_run_id)
            .bind(counts.0).bind(counts.1).bind(counts.2).bind(reason).bind(next_attempt_at).bind(now())
            .execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.sync_run(tenant_id, sync_run_id).await
    }

    /// Records a new run of a connection in the `queued` state, with no job to carry it (for
    /// tests and tools that drive a run themselves).
    pub async fn insert_sync_run(&self, tenant_id: Uuid, connection_id: Uuid) -> Result<SyncRun, StoreError> {
        let id = Uuid::now_v7();
        let sql = "INSERT INTO sync_run (tenant_id, sync_run_id, connection_id, status, created_at) VALUES ($1, $2, $3, 'queued', $4)";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(id).bind(connection_id).bind(now()).execute(p).await?.rows_affected());
        self.sync_run(tenant_id, id).await
    }

    /// One run of the tenant.
    pub async fn sync_run(&self, tenant_id: Uuid, sync_run_id: Uuid) -> Result<SyncRun, StoreError> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM sync_run WHERE tenant_id = $1 AND sync_run_id = $2"));
        let row: Option<SyncRunRow> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(sync_run_id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Runs of the tenant, newest first, before the keyset position `before` (a run id).
    pub async fn list_sync_runs(
        &self,
        tenant_id: Uuid,
        connection_id: Option<Uuid>,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<SyncRun>, StoreError> {
        let rows: Vec<SyncRunRow> = on_pool!(self.pool(), p => {
            let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM sync_run WHERE tenant_id = "));
            q.push_bind(tenant_id);
            if let Some(connection_id) = connection_id {
                q.push(" AND connection_id = ").push_bind(connection_id);
            }
            if let Some(before) = before {
                q.push(" AND sync_run_id < ").push_bind(before);
            }
            q.push(" ORDER BY sync_run_id DESC LIMIT ").push_bind(i64::from(limit));
            // A tenant-sized list: planned for its tenant on every run (store docs).
            q.build_query_as().persistent(false).fetch_all(p).await?
        });
        rows.into_iter().map(SyncRun::try_from).collect()
    }

    /// Moves a run to `status`, stamping start or finish and recording counts and error.
    pub async fn update_sync_run(
        &self,
        tenant_id: Uuid,
        sync_run_id: Uuid,
        status: SyncStatus,
        counts: (i64, i64, i64),
        error: Option<&str>,
    ) -> Result<SyncRun, StoreError> {
        let at = now();
        let (started, finished) = match status {
            SyncStatus::Queued => (None, None),
            SyncStatus::Running => (Some(at), None),
            SyncStatus::Succeeded | SyncStatus::Failed => (None, Some(at)),
        };
        let sql = "UPDATE sync_run SET status = $3, products_seen = $4, stocks_seen = $5, stock_changes = $6, error = $7, \
                   started_at = COALESCE($8, started_at), finished_at = COALESCE($9, finished_at), heartbeat_at = $10, \
                   next_attempt_at = NULL WHERE tenant_id = $1 AND sync_run_id = $2";
        let n = on_pool!(self.pool(), p => sqlx::query(sql)
            .bind(tenant_id).bind(sync_run_id).bind(status.as_str())
            .bind(counts.0).bind(counts.1).bind(counts.2).bind(error).bind(started).bind(finished).bind(at)
            .execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.sync_run(tenant_id, sync_run_id).await
    }
}
