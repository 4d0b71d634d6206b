//! The [`AuthUser`] extractor: a valid bearer access token, or a 401 in the error envelope.
//! `Option<AuthUser>` is the same for routes that also serve anonymous callers: no
//! `Authorization` header is `None`, a bad one is still a 401.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use uuid::Uuid;

use super::bearer::Bearer;
use crate::App;
use crate::error::ApiError;
use crate::store::tenants::Role;

/// Claims an earlier layer (the rate limiter) already verified from this request's bearer token.
#[derive(Debug, Clone)]
pub struct VerifiedClaims(pub Arc<crate::auth::AccessClaims>);

/// The authenticated caller: who, in which tenant, with which role.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub role: Role,
}

impl AuthUser {
    /// Refuses with 403 unless the caller is an owner or admin.
    pub fn require_manager(&self) -> Result<(), ApiError> {
        if self.role.can_manage() { Ok(()) } else { Err(ApiError::Forbidden("this needs the owner or admin role")) }
    }

    fn from_claims(app: &App, claims: &crate::auth::AccessClaims) -> Self {
        app.metrics.tenant_active(claims.tid);
        crate::telemetry::reporting::set_caller(claims.sub, claims.tid);
        AuthUser { user_id: claims.sub, tenant_id: claims.tid, role: claims.role }
    }

    /// `None` without an `Authorization` header; the caller, or a 401, with one.
    fn from_parts(parts: &Parts, app: &App) -> Result<Option<Self>, ApiError> {
        if let Some(VerifiedClaims(claims)) = parts.extensions.get::<VerifiedClaims>() {
            return Ok(Some(Self::from_claims(app, claims)));
        }
        let token = match Bearer::from_headers(&parts.headers) {
            Bearer::Absent => return Ok(None),
            Bearer::Malformed => return Err(ApiError::Unauthorized("expected `Authorization: Bearer <access token>`")),
            Bearer::Token(token) => token,
        };
        let claims = app.jwt.verify(token).ok_or(ApiError::Unauthorized("invalid or expired access token"))?;
        Ok(Some(Self::from_claims(app, &claims)))
    }
}

impl FromRequestParts<Arc<App>> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        Self::from_parts(parts, app)?.ok_or(ApiError::Unauthorized("missing bearer token"))
    }
}

impl OptionalFromRequestParts<Arc<App>> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Option<Self>, ApiError> {
        Self::from_parts(parts, app)
    }
}
