//! `/api/v1/connections/{id}/sync` and `/api/v1/sync`: start syncs now, besides their schedule
//! (a run is a durable job: any instance's workers run it, see [`crate::sync`]).
//! Owners and admins only: a sync spends the seller's marketplace API quota, and members read.

use axum::http::StatusCode;

use super::pagination::Page;
use super::sync_runs::SyncRunView;
use super::{Json, PathId};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::store::sync_runs::SyncTrigger;

/// `POST /api/v1/connections/{id}/sync`: 202 with the run; while one is queued or running for
/// this connection, that one (no second run starts).
#[utoipa::path(post, path = "/connections/{id}/sync", tag = "sync", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The connection id")),
    responses((status = 202, description = "The run, queued (or the one already queued or running)", body = SyncRunView),
              (status = 403, description = "Owners and admins only", body = ErrorBody)))]
pub async fn start_sync(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<(StatusCode, Json<SyncRunView>), ApiError> {
    user.require_manager()?;
    let (run, _) = crate::sync::start(&app, user.tenant_id, id, SyncTrigger::Manual).await?;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

/// `POST /api/v1/sync`: starts (or finds running) a sync of every connection of the tenant.
#[utoipa::path(post, path = "/sync", tag = "sync", security(("bearer" = [])),
    responses((status = 202, description = "A run per connection (never paged)", body = Page<SyncRunView>),
              (status = 403, description = "Owners and admins only", body = ErrorBody)))]
pub async fn start_all_syncs(
    axum::extract::State(app): AppState,
    user: AuthUser,
) -> Result<(StatusCode, Json<Page<SyncRunView>>), ApiError> {
    user.require_manager()?;
    let mut runs = Vec::new();
    for connection in app.store.list_connections(user.tenant_id).await? {
        runs.push(
            crate::sync::start(&app, user.tenant_id, connection.connection_id, SyncTrigger::Manual).await?.0.into(),
        );
    }
    Ok((StatusCode::ACCEPTED, Json(Page::all(runs))))
}
