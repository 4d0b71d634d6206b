//! `/api/v1/sync-runs`: the record of every sync, newest first.

use serde::Deserialize;
use uuid::Uuid;

use super::pagination::{Page, decode_cursor, limit};
use super::{Json, PathId, Query};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::store::sync_runs::SyncRun;

/// `GET /sync-runs` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSyncRunsQuery {
    pub connection_id: Option<Uuid>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/sync-runs`
pub async fn list_sync_runs(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<ListSyncRunsQuery>,
) -> Result<Json<Page<SyncRun>>, ApiError> {
    let limit = limit(q.limit)?;
    let before = decode_cursor::<Uuid>(q.cursor.as_deref())?;
    let rows = app.store.list_sync_runs(user.tenant_id, q.connection_id, before, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.sync_run_id)))
}

/// `GET /api/v1/sync-runs/{id}`
pub async fn get_sync_run(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<Json<SyncRun>, ApiError> {
    Ok(Json(app.store.sync_run(user.tenant_id, id).await?))
}
