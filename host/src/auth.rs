//! Authentication: argon2id passwords, short-lived HS256 access tokens, rotating refresh tokens,
//! and the [`AuthUser`] extractor that every tenant route takes.
//!
//! An access token (JWT, HS256 pinned, 15 minutes) carries the user, the tenant and the role, so a
//! request is authorised without a database round trip. A refresh token is an opaque random string
//! that names its tenant (`st_rt_<tenant>_<random>`); only its SHA-256 is stored (see
//! [`crate::store::tokens`] for rotation and reuse detection).

pub mod bearer;
mod extract;
pub mod jwt;
pub mod password;
pub mod refresh;

pub use bearer::Bearer;
pub use extract::{AuthUser, VerifiedClaims};
pub use jwt::{ACCESS_TOKEN_TTL_SECS, AccessClaims, JwtKeys};
