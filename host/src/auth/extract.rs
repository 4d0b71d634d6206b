//! The [`AuthUser`] extractor: a valid bearer access token, or a 401 in the error envelope.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::App;
use crate::error::ApiError;
use crate::store::tenants::Role;

/// Claims an earlier layer (the rate limiter) already verified from this request's bearer token.
#[derive(Debug, Clone)]
pub struct VerifiedClaims(pub crate::auth::AccessClaims);

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
}

impl FromRequestParts<Arc<App>> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        if let Some(VerifiedClaims(claims)) = parts.extensions.get::<VerifiedClaims>() {
            app.metrics.tenant_active(claims.tid);
            crate::telemetry::reporting::set_caller(claims.sub, claims.tid);
            return Ok(AuthUser { user_id: claims.sub, tenant_id: claims.tid, role: claims.role });
        }
        let header = parts.headers.get(AUTHORIZATION).ok_or(ApiError::Unauthorized("missing bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized("expected `Authorization: Bearer <access token>`"))?;
        let claims = app.jwt.verify(token).ok_or(ApiError::Unauthorized("invalid or expired access token"))?;
        app.metrics.tenant_active(claims.tid);
        crate::telemetry::reporting::set_caller(claims.sub, claims.tid);
        Ok(AuthUser { user_id: claims.sub, tenant_id: claims.tid, role: claims.role })
    }
}
