//! `/api/v1/sync-runs`: the record of every sync, newest first.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::pagination::{Page, decode_cursor, limit};
use super::{Json, PathId, Query};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::store::sync_runs::{SyncRun, SyncStatus, SyncTrigger};

/// `GET /sync-runs` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListSyncRunsQuery {
    /// Only this connection's runs.
    pub connection_id: Option<Uuid>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A sync run as served.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncRunView {
    pub sync_run_id: Uuid,
    pub connection_id: Uuid,
    pub status: SyncStatus,
    /// What started it: `manual` (the API) or `schedule`.
    pub trigger: SyncTrigger,
    /// Attempts begun so far: a passing failure (the marketplace failing, a timeout) is tried
    /// again; a deferral (the marketplace asking to wait) does not count.
    pub attempts: i32,
    /// While `queued` after a failed or deferred attempt: when the next attempt is due
    /// (`error` says why it waits).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub products_seen: i64,
    pub stocks_seen: i64,
    /// Stock levels whose available quantity changed (history rows written).
    pub stock_changes: i64,
    /// Why a failed run failed, or why a queued run waits for another attempt.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall time from start to finish, once finished.
    pub duration_ms: Option<i64>,
}

impl From<SyncRun> for SyncRunView {
    fn from(r: SyncRun) -> Self {
        SyncRunView {
            sync_run_id: r.sync_run_id,
            connection_id: r.connection_id,
            status: r.status,
            trigger: r.trigger,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            products_seen: r.products_seen,
            stocks_seen: r.stocks_seen,
            stock_changes: r.stock_changes,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r.duration_ms,
        }
    }
}

/// `GET /api/v1/sync-runs`
#[utoipa::path(get, path = "/sync-runs", tag = "sync", security(("bearer" = [])), params(ListSyncRunsQuery),
    responses((status = 200, description = "Runs, newest first", body = Page<SyncRunView>)))]
pub async fn list_sync_runs(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<ListSyncRunsQuery>,
) -> Result<Json<Page<SyncRunView>>, ApiError> {
    let limit = limit(q.limit)?;
    let before = decode_cursor::<Uuid>(q.cursor.as_deref())?;
    let rows = app.store.list_sync_runs(user.tenant_id, q.connection_id, before, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.sync_run_id).map(SyncRunView::from)))
}

/// `GET /api/v1/sync-runs/{id}`
#[utoipa::path(get, path = "/sync-runs/{id}", tag = "sync", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The run id")),
    responses((status = 200, description = "The run", body = SyncRunView)))]
pub async fn get_sync_run(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<Json<SyncRunView>, ApiError> {
    Ok(Json(app.store.sync_run(user.tenant_id, id).await?.into()))
}
