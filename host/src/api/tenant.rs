//! `/api/v1/tenant`: the caller's tenant and its settings (the default low-stock threshold, the
//! time zone messages use).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Json;
use super::products::check_threshold;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::store::tenants::{TenantChanges, TenantSettings};

/// A tenant as served.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub tenant_id: Uuid,
    pub name: String,
    /// At or below this a level is low, unless the product has its own threshold.
    pub low_stock_threshold: i64,
    /// IANA time zone name, e.g. `Europe/Moscow`.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TenantSettings> for TenantView {
    fn from(t: TenantSettings) -> Self {
        TenantView {
            tenant_id: t.tenant_id,
            name: t.name,
            low_stock_threshold: t.low_stock_threshold,
            timezone: t.timezone,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// `PATCH /tenant` body: any subset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// 0 to 1,000,000. Takes effect for stock events at each connection's next sync.
    #[schema(minimum = 0, maximum = 1000000)]
    pub low_stock_threshold: Option<i64>,
    /// An IANA time zone name, e.g. `Europe/Moscow` or `Asia/Yekaterinburg`.
    #[schema(example = "Europe/Moscow")]
    pub timezone: Option<String>,
}

/// `GET /api/v1/tenant`: the caller's tenant.
#[utoipa::path(get, path = "/tenant", tag = "tenant", security(("bearer" = [])),
    responses((status = 200, description = "The caller's tenant", body = TenantView)))]
pub async fn get_tenant(axum::extract::State(app): AppState, user: AuthUser) -> Result<Json<TenantView>, ApiError> {
    Ok(Json(app.store.tenant(user.tenant_id).await?.into()))
}

/// `PATCH /api/v1/tenant`: changes its settings (owner or admin).
#[utoipa::path(patch, path = "/tenant", tag = "tenant", security(("bearer" = [])), request_body = UpdateTenantRequest,
    responses((status = 200, description = "The tenant as changed", body = TenantView),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody)))]
pub async fn update_tenant(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Json(body): Json<UpdateTenantRequest>,
) -> Result<Json<TenantView>, ApiError> {
    user.require_manager()?;
    let name = body.name.map(|n| n.trim().to_owned());
    if name.as_ref().is_some_and(|n| n.is_empty() || n.chars().count() > 200) {
        return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
    }
    let low_stock_threshold =
        body.low_stock_threshold.map(|t| check_threshold("low_stock_threshold", t)).transpose()?;
    if let Some(tz) = &body.timezone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        return Err(ApiError::invalid("timezone", "not an IANA time zone name (e.g. Europe/Moscow)"));
    }
    let changes = TenantChanges { name, low_stock_threshold, timezone: body.timezone };
    let tenant = app.store.update_tenant(user.tenant_id, &changes).await?;
    if changes.low_stock_threshold.is_some() {
        crate::cache::invalidation::invalidate(&app, user.tenant_id).await;
    }
    Ok(Json(tenant.into()))
}
