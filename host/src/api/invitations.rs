//! `/api/v1/invitations`: how people join a tenant. Accounts belong to people, not tenants: an
//! owner or admin invites an email with a role, and the person behind it accepts with the token,
//! either creating their own account (their own password) or, signed in, adding the membership
//! to the account they have. No tenant ever sets, learns or tests another account's password.
//!
//! The token is answered once, to the inviter, who delivers it (Stock Tracker sends no email).
//! It is stored hashed, works once, and expires after [`INVITATION_TTL_DAYS`] days. Nothing the
//! invitations and members routes answer depends on whether an email has an account anywhere;
//! only accepting (which needs the token) tells a new account from an existing one.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::{Session, check_password, may_grant, normalize_email, session_body, start_session};
use super::pagination::Page;
use super::{Json, PathId};
use crate::app::AppState;
use crate::auth::refresh::INVITATION;
use crate::auth::{AuthUser, password};
use crate::error::{ApiError, ErrorBody};
use crate::store::invitations::{Invitation, Invitee};
use crate::store::tenants::Role;

/// How long an invitation stays valid.
pub const INVITATION_TTL_DAYS: i64 = 7;

/// `POST /invitations` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    /// Who is invited (they accept with the token, as a new or an existing account).
    #[schema(
        pattern = r"^\s*[^\s@]+@[^\s@.][^\s@]*\.[^\s@]*[^\s@.]\s*$",
        max_length = 254,
        example = "ann@example.com"
    )]
    pub email: String,
    pub role: Role,
}

/// `POST /invitations/accept` body. `password` makes a new account; without it the request must
/// carry the bearer token of the invited account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The invitation token (`st_inv_…`).
    #[schema(pattern = r"^st_inv_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$")]
    pub token: String,
    /// For a new account: its password (8 characters to 1024 bytes). Omit when signed in.
    #[serde(default)]
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
}

impl std::fmt::Debug for AcceptInvitationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptInvitationRequest").finish_non_exhaustive()
    }
}

/// An invitation as listed (no token: it was shown once, at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub invitation_id: Uuid,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub expired: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Invitation> for InvitationView {
    fn from(i: &Invitation) -> Self {
        InvitationView {
            invitation_id: i.invitation_id,
            email: i.email.clone(),
            role: i.role,
            invited_by: i.invited_by,
            expires_at: i.expires_at,
            expired: i.expires_at <= Utc::now(),
            created_at: i.created_at,
        }
    }
}

/// A new invitation, with its token: the only time the token is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvitation {
    pub invitation_id: Uuid,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    /// Hand it to the invitee; it works once.
    pub token: String,
}

const INVALID_TOKEN: &str = "invalid, expired or already used invitation";

/// `POST /api/v1/invitations`: 201 with the token, shown this once.
#[utoipa::path(post, path = "/invitations", tag = "invitations", security(("bearer" = [])),
    request_body = CreateInvitationRequest,
    responses((status = 201, description = "The invitation and its token", body = CreatedInvitation),
              (status = 403, description = "Members cannot invite; admins cannot invite admins", body = ErrorBody),
              (status = 409, description = "`already_member` or `already_invited`", body = ErrorBody)))]
pub async fn create_invitation(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Json(body): Json<CreateInvitationRequest>,
) -> Result<(StatusCode, Json<CreatedInvitation>), ApiError> {
    user.require_manager()?;
    if !may_grant(user.role, body.role) {
        return Err(ApiError::Forbidden("your role cannot grant that role"));
    }
    let email = normalize_email(&body.email)?;
    let (token, hash) = INVITATION.generate(user.tenant_id);
    let expires_at = crate::store::now() + chrono::Duration::days(INVITATION_TTL_DAYS);
    let invitation =
        app.store.create_invitation(user.tenant_id, &email, body.role, &hash, user.user_id, expires_at).await?;
    tracing::info!(tenant.id = %user.tenant_id, invitation.id = %invitation.invitation_id, role = body.role.as_str(),
        "invitation {} created", invitation.invitation_id);
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvitation {
            invitation_id: invitation.invitation_id,
            email: invitation.email,
            role: invitation.role,
            expires_at: invitation.expires_at,
            token,
        }),
    ))
}

/// `GET /api/v1/invitations`: open invitations (owners and admins).
#[utoipa::path(get, path = "/invitations", tag = "invitations", security(("bearer" = [])),
    responses((status = 200, description = "Open invitations, oldest first (never paged)", body = Page<InvitationView>),
              (status = 403, description = "Members cannot see invitations", body = ErrorBody)))]
pub async fn list_invitations(
    axum::extract::State(app): AppState,
    user: AuthUser,
) -> Result<Json<Page<InvitationView>>, ApiError> {
    user.require_manager()?;
    Ok(Json(Page::all(app.store.list_invitations(user.tenant_id).await?.iter().map(Into::into).collect())))
}

/// `DELETE /api/v1/invitations/{id}`: withdraws an open invitation; its token stops working.
#[utoipa::path(delete, path = "/invitations/{id}", tag = "invitations", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The invitation id")),
    responses((status = 204, description = "Withdrawn"),
              (status = 403, description = "Members cannot withdraw invitations", body = ErrorBody)))]
pub async fn delete_invitation(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    user.require_manager()?;
    app.store.delete_invitation(user.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/invitations/accept`: joins the tenant; answers like login, in that tenant.
#[utoipa::path(post, path = "/invitations/accept", tag = "invitations", security((), ("bearer" = [])),
    request_body = AcceptInvitationRequest,
    responses((status = 200, description = "Joined: a session in the inviting tenant", body = Session),
              (status = 409, description = "`account_exists` (sign in and send its token), `wrong_account`, `already_member`", body = ErrorBody)))]
pub async fn accept_invitation(
    axum::extract::State(app): AppState,
    user: Option<AuthUser>,
    Json(body): Json<AcceptInvitationRequest>,
) -> Result<Json<Session>, ApiError> {
    let (tenant_id, hash) = INVITATION.parse(body.token.trim()).ok_or(ApiError::invalid("token", INVALID_TOKEN))?;
    let membership = match (user, body.password) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "password",
                "signed in, the invitation joins your account as it is: send no password",
            ));
        }
        (Some(user), None) => {
            app.store.accept_invitation(tenant_id, &hash, Invitee::Existing { user_id: user.user_id }).await
        }
        (None, Some(password)) => {
            check_password(&password)?;
            let password_hash = password::hash(password).await?;
            app.store.accept_invitation(tenant_id, &hash, Invitee::NewAccount { password_hash: &password_hash }).await
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "password",
                "required to create your account; to join with an existing account, send its bearer token instead",
            ));
        }
    }
    .map_err(|e| match e {
        crate::store::StoreError::NotFound => ApiError::invalid("token", INVALID_TOKEN),
        other => other.into(),
    })?;
    tracing::info!(tenant.id = %tenant_id, user.id = %membership.user_id, role = membership.role.as_str(), "invitation accepted");
    let tokens = start_session(&app, &membership).await?;
    Ok(Json(session_body(&membership, tokens)))
}
