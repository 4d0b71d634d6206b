//! HS256 access tokens. The algorithm is pinned on both sides: a token whose header says
//! anything else (`none`, `RS256`, …) is rejected before its signature is looked at.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hashbrown::HashTable;
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
    /// Tokens that passed full verification, by their exact text. A client sends the same token
    /// for up to 15 minutes; looking it up costs a hash instead of an HMAC, two base64 decodes
    /// and two JSON parses (about 4 µs). Only verified tokens get in, expiry is checked on every
    /// hit exactly as the full check does, and the key never changes while the process runs.
    /// Hashed with foldhash (seeded per process): SipHash of a 200-byte token cost more than the
    /// rest of a cached verification.
    verified: Mutex<Verified>,
}

/// Verified tokens and their claims. A token is hashed by its last [`HASHED_TAIL`] bytes only,
/// which lie in its signature (43 characters for HS256): no two verified tokens share them, and
/// hashing the whole token cost as much as the rest of the lookup. A lookup still compares the
/// whole token, so a forged token that copies a real one's signature is simply not found (and
/// then fails verification).
#[derive(Default)]
struct Verified {
    tokens: HashTable<(Box<[u8]>, Arc<AccessClaims>)>,
    hasher: foldhash::fast::RandomState,
}

/// Bytes of a token's end that [`Verified`] hashes.
const HASHED_TAIL: usize = 32;

impl Verified {
    fn hash(&self, token: &[u8]) -> u64 {
        self.hasher.hash_one(tail(token))
    }

    fn get(&self, token: &[u8]) -> Option<&Arc<AccessClaims>> {
        self.find(self.hash(token), token)
    }

    fn find(&self, hash: u64, token: &[u8]) -> Option<&Arc<AccessClaims>> {
        self.tokens.find(hash, |(t, _)| **t == *token).map(|(_, claims)| claims)
    }

    fn insert(&mut self, token: &[u8], claims: Arc<AccessClaims>) {
        let hash = self.hash(token);
        if self.find(hash, token).is_some() {
            return;
        }
        if self.tokens.len() >= VERIFIED_CACHE_CAPACITY {
            self.tokens.clear();
        }
        let Self { tokens, hasher } = self;
        tokens.insert_unique(hash, (token.into(), claims), |(t, _)| hasher.hash_one(tail(t)));
    }
}

/// What [`Verified`] hashes of `token`.
fn tail(token: &[u8]) -> &[u8] {
    &token[token.len().saturating_sub(HASHED_TAIL)..]
}

/// Most verified tokens remembered; the map is emptied when it is full (~2 MiB at most).
const VERIFIED_CACHE_CAPACITY: usize = 4096;

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
            verified: Mutex::new(Verified::default()),
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

    /// Verifies signature, algorithm, issuer and expiry. (Shared: a remembered token's claims are
    /// handed out without copying.)
    pub fn verify(&self, token: impl AsRef<[u8]>) -> Option<Arc<AccessClaims>> {
        self.verify_at(token.as_ref(), SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
    }

    /// [`Self::verify`], with `now` (epoch seconds) for remembered tokens (a first sight always
    /// uses the clock).
    pub fn verify_at(&self, token: &[u8], now: i64) -> Option<Arc<AccessClaims>> {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(claims) = verified.get(token) {
            // The same rule as the full check: expired once `exp` is more than `leeway` ago.
            return (claims.exp >= now - self.validation.leeway as i64).then(|| claims.clone());
        }
        drop(verified);
        let claims =
            Arc::new(jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?.claims);
        self.verified.lock().unwrap_or_else(|e| e.into_inner()).insert(token, claims.clone());
        Some(claims)
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
        assert!(keys(1).verify(format!("{}.{forged}.{}", parts[0], parts[2])).is_none(), "tampered");

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys(1).verify(format!("{none_header}.{}.", parts[1])).is_none(), "alg none");
    }

    #[test]
    fn remembered_tokens_expire_by_the_same_rule() {
        let keys = keys(1);
        let now = chrono::Utc::now().timestamp();
        let (token, _) = keys.issue_at(Uuid::now_v7(), Uuid::now_v7(), Role::Member, now - ACCESS_TOKEN_TTL_SECS + 10);
        assert!(keys.verify(&token).is_some(), "verified in full, then remembered");
        assert!(keys.verify_at(token.as_bytes(), now + 15).is_some(), "exp + leeway not passed yet");
        assert!(keys.verify_at(token.as_bytes(), now + 16).is_none(), "expired once exp + leeway has passed");
        assert!(keys.verify(&token).is_some(), "an expired lookup does not poison the entry");
    }

    #[test]
    fn a_remembered_signature_does_not_vouch_for_other_claims() {
        let keys = keys(1);
        let (user, victim) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, _) = keys.issue(user, victim, Role::Member);
        assert_eq!(keys.verify(&token).unwrap().tid, victim, "remembered");
        // Same signature (so the same hash in the cache), claims of the attacker's choosing.
        let (other, _) = keys.issue(user, Uuid::now_v7(), Role::Owner);
        let signature = token.rsplit('.').next().unwrap();
        let (head, _) = other.rsplit_once('.').unwrap();
        let forged = format!("{head}.{signature}");
        assert!(keys.verify(&forged).is_none(), "not taken from the cache, and fails verification");
        // Many remembered tokens, each found again with its own claims.
        let tenants: Vec<Uuid> = (0..200).map(|_| Uuid::now_v7()).collect();
        let tokens: Vec<String> = tenants.iter().map(|t| keys.issue(user, *t, Role::Member).0).collect();
        for (token, tenant) in tokens.iter().zip(&tenants) {
            assert_eq!(keys.verify(token).unwrap().tid, *tenant);
        }
        for (token, tenant) in tokens.iter().zip(&tenants) {
            assert_eq!(keys.verify(token).unwrap().tid, *tenant, "from the cache");
        }
    }
}
