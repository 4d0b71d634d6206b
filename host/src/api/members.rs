//! `/api/v1/members`: who belongs to the tenant. People join through invitations
//! ([`super::invitations`]); here owners and admins list members, change roles and remove them.
//!
//! Owners grant `admin` or `member`, admins only `member`; nobody makes or unmakes an owner here,
//! and nobody changes their own role. Anyone but an owner may remove themselves (leave).

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::may_grant;
use super::pagination::Page;
use super::{Json, PathId};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::store::tenants::{Membership, Role};

/// `PATCH /members/{user_id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    pub role: Role,
}

/// A member as served.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    /// When they joined.
    pub created_at: DateTime<Utc>,
}

impl From<&Membership> for MemberView {
    fn from(m: &Membership) -> Self {
        MemberView { user_id: m.user_id, email: m.email.clone(), role: m.role, created_at: m.created_at }
    }
}

/// `GET /api/v1/members`
#[utoipa::path(get, path = "/members", tag = "members", security(("bearer" = [])),
    responses((status = 200, description = "Every member, oldest first (never paged)", body = Page<MemberView>)))]
pub async fn list_members(
    axum::extract::State(app): AppState,
    user: AuthUser,
) -> Result<Json<Page<MemberView>>, ApiError> {
    let members = app.store.list_members(user.tenant_id).await?;
    Ok(Json(Page::all(members.iter().map(Into::into).collect())))
}

/// `PATCH /api/v1/members/{user_id}`: changes a member's role.
#[utoipa::path(patch, path = "/members/{id}", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The member's user id")), request_body = UpdateMemberRequest,
    responses((status = 200, description = "The member with the new role", body = MemberView),
              (status = 403, description = "Your role cannot grant that role, or it is your own", body = ErrorBody)))]
pub async fn update_member(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(member_id): PathId,
    Json(body): Json<UpdateMemberRequest>,
) -> Result<Json<MemberView>, ApiError> {
    user.require_manager()?;
    let target = app.store.membership(user.tenant_id, member_id).await?;
    if member_id == user.user_id {
        return Err(ApiError::Forbidden("you cannot change your own role"));
    }
    if !may_grant(user.role, target.role) || !may_grant(user.role, body.role) {
        return Err(ApiError::Forbidden("your role cannot grant that role"));
    }
    let member = app.store.set_member_role(user.tenant_id, member_id, body.role).await?;
    tracing::info!(tenant.id = %user.tenant_id, member.id = %member_id, role = body.role.as_str(), "member {member_id} now {}", body.role.as_str());
    Ok(Json((&member).into()))
}

/// `DELETE /api/v1/members/{user_id}`: removes a member (their sessions in this tenant end; the
/// account stays). Access tokens already issued keep working until they expire (15 minutes).
#[utoipa::path(delete, path = "/members/{id}", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The member's user id")),
    responses((status = 204, description = "Removed"),
              (status = 403, description = "The owner, or a member your role cannot remove", body = ErrorBody)))]
pub async fn remove_member(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(member_id): PathId,
) -> Result<StatusCode, ApiError> {
    let leaving = member_id == user.user_id;
    if !leaving {
        user.require_manager()?;
    }
    let target = app.store.membership(user.tenant_id, member_id).await?;
    if target.role == Role::Owner {
        return Err(ApiError::Forbidden("the owner cannot be removed"));
    }
    if !leaving && !may_grant(user.role, target.role) {
        return Err(ApiError::Forbidden("your role cannot remove that member"));
    }
    app.store.remove_member(user.tenant_id, member_id).await?;
    tracing::info!(tenant.id = %user.tenant_id, member.id = %member_id, "member {member_id} removed");
    Ok(StatusCode::NO_CONTENT)
}
