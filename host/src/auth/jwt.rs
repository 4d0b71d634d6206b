//! HS256 access tokens. The algorithm is pinned on both sides: a token whose header says
//! anything else (`none`, `RS256`, …) is rejected before its signature is looked at.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::tenants::Role;

/// Lifetime of an access token, in seconds (15 minutes).
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;
const ISSUER: &str = "stock-tracker";

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user.
    pub sub: Uuid,
    /// The tenant the token acts in.
    pub tid: Uuid,
    /// The user's role in that tenant.
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signing and verifying keys with the pinned validation rules.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    /// Keys from the `JWT_SECRET` bytes.
    pub fn new(secret: &secrecy::SecretBox<Vec<u8>>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret.expose_secret()),
            decoding: DecodingKey::from_secret(secret.expose_secret()),
            validation,
        }
    }

    /// Issues an access token; returns it with its lifetime in seconds.
    pub fn issue(&self, user_id: Uuid, tenant_id: Uuid, role: Role) -> (String, i64) {
        let iat = chrono::Utc::now().timestamp();
        self.issue_at(user_id, tenant_id, role, iat)
    }

    /// Issues a token as if at `iat` (tests use this to make expired tokens).
    pub fn issue_at(&self, user_id: Uuid, tenant_id: Uuid, role: Role, iat: i64) -> (String, i64) {
        let claims = AccessClaims {
            sub: user_id,
            tid: tenant_id,
            role,
            iss: ISSUER.to_owned(),
            iat,
            exp: iat + ACCESS_TOKEN_TTL_SECS,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims does not fail");
        (token, ACCESS_TOKEN_TTL_SECS)
    }

    /// Verifies signature, algorithm, issuer and expiry.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).ok().map(|t| t.claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use secrecy::SecretBox;

    use super::*;

    fn keys(byte: u8) -> JwtKeys {
        JwtKeys::new(&SecretBox::new(Box::new(vec![byte; 32])))
    }

    #[test]
    fn issued_tokens_verify_and_carry_claims() {
        let (user, tenant) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, ttl) = keys(1).issue(user, tenant, Role::Admin);
        assert_eq!(ttl, 900);
        let claims = keys(1).verify(&token).unwrap();
        assert_eq!((claims.sub, claims.tid, claims.role), (user, tenant, Role::Admin));
    }

    #[test]
    fn rejects_other_key_expired_tampered_and_alg_none() {
        let (user, tenant) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, _) = keys(1).issue(user, tenant, Role::Member);
        assert!(keys(2).verify(&token).is_none(), "other key");
        let (old, _) = keys(1).issue_at(user, tenant, Role::Member, chrono::Utc::now().timestamp() - 3600);
        assert!(keys(1).verify(&old).is_none(), "expired");

        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = "owner".into();
        let forged = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert!(keys(1).verify(&format!("{}.{forged}.{}", parts[0], parts[2])).is_none(), "tampered");

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys(1).verify(&format!("{none_header}.{}.", parts[1])).is_none(), "alg none");
    }
}
