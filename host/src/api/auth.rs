//! `/api/v1/auth`: register, login, refresh, logout, me.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Json;
use crate::app::AppState;
use crate::auth::{AuthUser, password, refresh};
use crate::error::{ApiError, ErrorBody};
use crate::ratelimit::throttle::LOGIN_PER_ACCOUNT;
use crate::store::StoreError;
use crate::store::tenants::{Membership, Role};
use crate::store::tokens::Rotation;

/// `POST /auth/register` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The owner's email (the login).
    #[schema(
        pattern = r"^\s*[^\s@]+@[^\s@.][^\s@]*\.[^\s@]*[^\s@.]\s*$",
        max_length = 254,
        example = "ann@example.com"
    )]
    pub email: String,
    /// 8 characters to 1024 bytes.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub company_name: String,
}

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Which tenant to act in, for users in several; default: the oldest membership.
    #[serde(default)]
    pub tenant_id: Option<Uuid>,
}

/// `POST /auth/refresh` and `POST /auth/logout` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Tokens handed out by register, login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// A JWT for `Authorization: Bearer …`, valid `expires_in` seconds.
    pub access_token: String,
    /// Opaque (`st_rt_…`); works once, for 30 days.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
}

/// A session: the tokens, who, in which tenant, with which role.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    #[serde(flatten)]
    pub tokens: TokenPair,
    pub user: UserRef,
    pub tenant: TenantRef,
    pub role: Role,
}

/// A user, as sessions name it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserRef {
    pub user_id: Uuid,
    pub email: String,
}

/// A tenant, as sessions name it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantRef {
    pub tenant_id: Uuid,
    pub name: String,
}

/// One of the caller's memberships.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipRef {
    pub tenant_id: Uuid,
    pub name: String,
    pub role: Role,
}

/// `GET /auth/me`: the caller and every tenant they belong to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user_id: Uuid,
    pub email: String,
    /// The tenant this token acts in.
    pub tenant: TenantRef,
    pub role: Role,
    pub memberships: Vec<MembershipRef>,
}

const BAD_LOGIN: &str = "invalid email or password";

/// `POST /api/v1/auth/register`: a new tenant with its owner, logged in.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, description = "The tenant and its owner, logged in", body = Session),
              (status = 409, description = "`email_taken`", body = ErrorBody)))]
pub async fn register(
    axum::extract::State(app): AppState,
    Json(body): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let email = normalize_email(&body.email)?;
    check_password(&body.password)?;
    let company_name = body.company_name.trim();
    if company_name.is_empty() || company_name.chars().count() > 200 {
        return Err(ApiError::invalid("company_name", "must be 1 to 200 characters"));
    }
    let hash = password::hash(body.password).await?;
    let membership = app.store.create_tenant_with_owner(company_name, &email, &hash).await?;
    tracing::info!(tenant.id = %membership.tenant_id, user.id = %membership.user_id, "tenant {} registered", membership.tenant_id);
    let tokens = start_session(&app, &membership).await?;
    Ok((StatusCode::CREATED, Json(session_body(&membership, tokens))))
}

/// `POST /api/v1/auth/login`
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "Logged in", body = Session),
              (status = 401, description = "Wrong email or password (the same answer for both)", body = ErrorBody),
              (status = 403, description = "Not a member of that tenant, or of none", body = ErrorBody),
              (status = 503, description = "The rate limiter cannot decide (login fails closed)", body = ErrorBody)))]
pub async fn login(
    axum::extract::State(app): AppState,
    Json(body): Json<LoginRequest>,
) -> Result<Json<Session>, ApiError> {
    // Shape errors are fine to report; whether the account exists is not. Failures are budgeted
    // per email as well as per IP (the route's limit), known or not, so a guesser spread over
    // many addresses still gets LOGIN_PER_ACCOUNT tries per window and learns nothing from it.
    let email = body.email.trim().to_lowercase();
    let account = account_key(&email);
    LOGIN_PER_ACCOUNT.admit(&app, &account).await?;
    let user = app.store.find_user_by_email(&email).await?;
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    if !password::verify(body.password, stored_hash).await {
        LOGIN_PER_ACCOUNT.failed(&app, &account).await?;
        return Err(ApiError::Unauthorized(BAD_LOGIN));
    }
    let user = user.ok_or(ApiError::Unauthorized(BAD_LOGIN))?;
    let memberships = app.store.memberships_of_user(user.user_id).await?;
    let membership = match body.tenant_id {
        Some(tenant_id) => memberships
            .into_iter()
            .find(|m| m.tenant_id == tenant_id)
            .ok_or(ApiError::Forbidden("this account is not a member of that tenant"))?,
        None => memberships.into_iter().next().ok_or(ApiError::Forbidden("this account belongs to no tenant"))?,
    };
    let tokens = start_session(&app, &membership).await?;
    Ok(Json(session_body(&membership, tokens)))
}

/// `POST /api/v1/auth/refresh`: spends the refresh token and returns a new pair.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "A new pair; the presented token is spent", body = TokenPair),
              (status = 401, description = "Unknown, expired, revoked or reused token", body = ErrorBody)))]
pub async fn refresh(
    axum::extract::State(app): AppState,
    Json(body): Json<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("invalid or expired refresh token");
    let (tenant_id, old_hash) = refresh::parse(&body.refresh_token).ok_or(INVALID)?;
    let (new_token, new_hash) = refresh::generate(tenant_id);
    let expires = Utc::now() + Duration::days(refresh::REFRESH_TOKEN_TTL_DAYS);
    match app.store.rotate_refresh_token(tenant_id, &old_hash, &new_hash, expires).await? {
        Rotation::Rotated { user_id } => {
            let membership = match app.store.membership(tenant_id, user_id).await {
                Err(StoreError::NotFound) => return Err(INVALID),
                other => other?,
            };
            let (access_token, expires_in) = app.jwt.issue(user_id, tenant_id, membership.role);
            Ok(Json(TokenPair { access_token, refresh_token: new_token, token_type: "bearer", expires_in }))
        }
        Rotation::Reused => {
            tracing::warn!(tenant.id = %tenant_id, "spent refresh token presented again: revoked its family");
            Err(ApiError::Unauthorized("refresh token already used; all sessions from that login are revoked"))
        }
        Rotation::Dead | Rotation::Unknown => Err(INVALID),
    }
}

/// `POST /api/v1/auth/logout`: revokes the refresh token's whole family. Always 204.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "Revoked (or nothing to revoke)")))]
pub async fn logout(
    axum::extract::State(app): AppState,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    if let Some((tenant_id, hash)) = refresh::parse(&body.refresh_token) {
        app.store.revoke_refresh_family(tenant_id, &hash).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/auth/me`
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = Me)))]
pub async fn get_me(axum::extract::State(app): AppState, user: AuthUser) -> Result<Json<Me>, ApiError> {
    let memberships = app.store.memberships_of_user(user.user_id).await?;
    let current = memberships
        .iter()
        .find(|m| m.tenant_id == user.tenant_id)
        .ok_or(ApiError::Unauthorized("this membership no longer exists"))?;
    Ok(Json(Me {
        user_id: user.user_id,
        email: current.email.clone(),
        tenant: TenantRef { tenant_id: current.tenant_id, name: current.tenant_name.clone() },
        role: current.role,
        memberships: memberships
            .iter()
            .map(|m| MembershipRef { tenant_id: m.tenant_id, name: m.tenant_name.clone(), role: m.role })
            .collect(),
    }))
}

/// The throttle key of an email: a digest, so no address is kept in the limiter's store.
fn account_key(email: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(email.as_bytes())[..16])
}

/// Starts a session (a new refresh-token family) for a membership.
pub(crate) async fn start_session(app: &crate::App, m: &Membership) -> Result<TokenPair, ApiError> {
    let (refresh_token, hash) = refresh::generate(m.tenant_id);
    let expires = Utc::now() + Duration::days(refresh::REFRESH_TOKEN_TTL_DAYS);
    app.store.insert_refresh_token(m.tenant_id, m.user_id, &hash, expires).await?;
    let (access_token, expires_in) = app.jwt.issue(m.user_id, m.tenant_id, m.role);
    Ok(TokenPair { access_token, refresh_token, token_type: "bearer", expires_in })
}

/// What register, login and accepting an invitation answer.
pub(crate) fn session_body(m: &Membership, tokens: TokenPair) -> Session {
    Session {
        tokens,
        user: UserRef { user_id: m.user_id, email: m.email.clone() },
        tenant: TenantRef { tenant_id: m.tenant_id, name: m.tenant_name.clone() },
        role: m.role,
    }
}

/// Trims and lower-cases an email, checking its shape (not deliverability).
pub(crate) fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid { Ok(email) } else { Err(ApiError::invalid("email", "must be an email address")) }
}

/// Length rules for a new password.
pub(crate) fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < password::MIN_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            "password",
            format!("must be at least {} characters", password::MIN_PASSWORD_CHARS),
        ));
    }
    if password.len() > password::MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid("password", format!("must be at most {} bytes", password::MAX_PASSWORD_BYTES)));
    }
    Ok(())
}

/// Roles a caller may grant: owners grant admin or member, admins grant member.
pub(crate) fn may_grant(granter: Role, role: Role) -> bool {
    match role {
        Role::Owner => false,
        Role::Admin => granter == Role::Owner,
        Role::Member => granter.can_manage(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(normalize_email("  Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in ["", "ann", "ann@", "@example.com", "ann@example", "a nn@example.com", "a@b@c.com", "ann@.com"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grants() {
        assert!(may_grant(Role::Owner, Role::Admin));
        assert!(!may_grant(Role::Admin, Role::Admin));
        assert!(may_grant(Role::Admin, Role::Member));
        assert!(!may_grant(Role::Member, Role::Member));
        assert!(!may_grant(Role::Owner, Role::Owner));
    }
}
