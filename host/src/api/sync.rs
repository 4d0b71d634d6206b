//! `/api/v1/connections/{id}/sync` and `/api/v1/sync`: start syncs (they run in the background).
//! Owners and admins only: a sync spends the seller's marketplace API quota, and members read.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Json, PathId};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::store::sync_runs::SyncRun;

/// `POST /api/v1/connections/{id}/sync`: 202 with the run; while one is queued or running for
/// this connection, that one (no second run starts).
pub async fn start_sync(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<(StatusCode, Json<SyncRun>), ApiError> {
    user.require_manager()?;
    let (run, _) = crate::sync::start(&app, user.tenant_id, id).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// `POST /api/v1/sync`: starts (or finds running) a sync of every connection of the tenant.
pub async fn start_all_syncs(
    axum::extract::State(app): AppState,
    user: AuthUser,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    user.require_manager()?;
    let mut runs = Vec::new();
    for connection in app.store.list_connections(user.tenant_id).await? {
        runs.push(crate::sync::start(&app, user.tenant_id, connection.connection_id).await?.0);
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "items": runs }))))
}
