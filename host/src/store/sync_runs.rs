//! Sync runs: one row per attempt to bring a connection's data in, with its outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{Store, StoreError, now, on_pool};

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

/// A sync run as served.
#[derive(Debug, Clone, Serialize)]
pub struct SyncRun {
    pub sync_run_id: Uuid,
    pub connection_id: Uuid,
    pub status: SyncStatus,
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
        let duration_ms = r.started_at.zip(r.finished_at).map(|(s, f)| (f - s).num_milliseconds());
        Ok(SyncRun {
            sync_run_id: r.sync_run_id,
            connection_id: r.connection_id,
            status,
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

const COLUMNS: &str = "sync_run_id, connection_id, status, products_seen, stocks_seen, stock_changes, error, \
                       created_at, started_at, finished_at";

impl Store {
    /// Starts a run of a connection (`queued`) unless one is already queued or running, in which
    /// case that one is returned. A run whose heartbeat is older than `stale_after` is taken for
    /// dead (its process stopped): it is marked failed and a new one starts. Returns the run and
    /// whether it is new.
    pub async fn start_sync_run(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        stale_after: chrono::Duration,
    ) -> Result<(SyncRun, bool), StoreError> {
        let stale_before = now() - stale_after;
        let sql = "UPDATE sync_run SET status = 'failed', error = 'abandoned: no progress for too long', finished_at = $3 \
                   WHERE tenant_id = $1 AND connection_id = $2 AND status IN ('queued', 'running') \
                   AND COALESCE(heartbeat_at, created_at) < $4";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(connection_id).bind(now()).bind(stale_before)
            .execute(p).await?.rows_affected());
        match self.insert_sync_run(tenant_id, connection_id).await {
            Ok(run) => Ok((run, true)),
            Err(StoreError::Database(e)) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                let active = self.active_sync_run(tenant_id, connection_id).await?.ok_or(StoreError::NotFound)?;
                Ok((active, false))
            }
            Err(e) => Err(e),
        }
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

    /// At start-up: runs left queued or running by a process that stopped are failed. With
    /// `all`, every such run (one process owns an embedded database); otherwise only runs whose
    /// heartbeat is older than `stale_after` (other instances may be running the rest).
    pub async fn fail_interrupted_sync_runs(
        &self,
        all: bool,
        stale_after: chrono::Duration,
    ) -> Result<u64, StoreError> {
        let cutoff = if all { now() + chrono::Duration::days(1) } else { now() - stale_after };
        let sql = "UPDATE sync_run SET status = 'failed', error = 'interrupted: the service stopped during the run', \
                   finished_at = $1 WHERE status IN ('queued', 'running') AND COALESCE(heartbeat_at, created_at) < $2";
        Ok(on_pool!(self.pool(), p => sqlx::query(sql).bind(now()).bind(cutoff).execute(p).await?.rows_affected()))
    }

    /// Records a new run of a connection in the `queued` state.
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
            q.build_query_as().fetch_all(p).await?
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
                   started_at = COALESCE($8, started_at), finished_at = COALESCE($9, finished_at), heartbeat_at = $10 \
                   WHERE tenant_id = $1 AND sync_run_id = $2";
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
