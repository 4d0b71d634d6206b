//! `/api/v1/members`: who belongs to the tenant.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Json;
use super::auth::{check_password, may_grant, normalize_email};
use crate::app::AppState;
use crate::auth::{AuthUser, password};
use crate::error::ApiError;
use crate::store::StoreError;
use crate::store::tenants::{Membership, Role};

/// `POST /members` body. `password` is needed only when no account has this email yet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub email: String,
    pub role: Role,
    #[serde(default)]
    pub password: Option<String>,
}

/// `GET /api/v1/members`
pub async fn list_members(axum::extract::State(app): AppState, user: AuthUser) -> Result<Json<Value>, ApiError> {
    let members = app.store.list_members(user.tenant_id).await?;
    Ok(Json(json!({ "items": members.iter().map(member_view).collect::<Vec<_>>() })))
}

/// `POST /api/v1/members`: owners and admins add a member (owners may also add admins).
pub async fn add_member(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Json(body): Json<AddMemberRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    user.require_manager()?;
    if !may_grant(user.role, body.role) {
        return Err(ApiError::Forbidden("your role cannot grant that role"));
    }
    let email = normalize_email(&body.email)?;
    let hash = match body.password {
        Some(p) => {
            check_password(&p)?;
            Some(password::hash(p).await?)
        }
        None => None,
    };
    let member =
        app.store.add_member(user.tenant_id, &email, hash.as_deref(), body.role).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::invalid("password", "required: no account has this email yet"),
            other => other.into(),
        })?;
    tracing::info!(tenant.id = %user.tenant_id, member.id = %member.user_id, role = member.role.as_str(), "member added");
    Ok((StatusCode::CREATED, Json(member_view(&member))))
}

fn member_view(m: &Membership) -> Value {
    json!({ "user_id": m.user_id, "email": m.email, "role": m.role, "created_at": m.created_at })
}
