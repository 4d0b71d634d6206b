//! Opaque tokens that name their tenant: `<prefix><tenant id, 32 hex>_<32 random bytes,
//! base64url>`. The tenant id lets the lookup key lead with `tenant_id`; the random part is what
//! makes the token secret, and only its SHA-256 is stored. Two kinds: refresh tokens (`st_rt_`)
//! and invitations (`st_inv_`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Lifetime of a refresh token family member, in days.
pub const REFRESH_TOKEN_TTL_DAYS: i64 = 30;

/// One kind of tenant-tagged token, told apart by its prefix.
#[derive(Debug, Clone, Copy)]
pub struct TokenKind(&'static str);

/// Refresh tokens.
pub const REFRESH: TokenKind = TokenKind("st_rt_");
/// Invitation tokens.
pub const INVITATION: TokenKind = TokenKind("st_inv_");

impl TokenKind {
    /// A new token for `tenant_id` and the digest to store.
    pub fn generate(self, tenant_id: Uuid) -> (String, Vec<u8>) {
        let mut random = [0u8; 32];
        rand::fill(&mut random);
        let token = format!("{}{}_{}", self.0, tenant_id.simple(), URL_SAFE_NO_PAD.encode(random));
        let digest = digest(&token);
        (token, digest)
    }

    /// The tenant and stored digest of a presented token, if it is well-formed.
    pub fn parse(self, token: &str) -> Option<(Uuid, Vec<u8>)> {
        let rest = token.strip_prefix(self.0)?;
        let (tenant, random) = rest.split_once('_')?;
        if tenant.len() != 32 || URL_SAFE_NO_PAD.decode(random).ok()?.len() != 32 {
            return None;
        }
        Some((Uuid::try_parse(tenant).ok()?, digest(token)))
    }
}

/// A new refresh token for `tenant_id` and the digest to store.
pub fn generate(tenant_id: Uuid) -> (String, Vec<u8>) {
    REFRESH.generate(tenant_id)
}

/// The tenant and stored digest of a presented refresh token, if it is well-formed.
pub fn parse(token: &str) -> Option<(Uuid, Vec<u8>)> {
    REFRESH.parse(token)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back() {
        let tenant = Uuid::now_v7();
        let (token, hash) = generate(tenant);
        assert_eq!(parse(&token), Some((tenant, hash)));
        assert_ne!(generate(tenant).0, token);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in ["", "st_rt_", "st_rt_abc_def", "Bearer x", "st_rt_00000000000000000000000000000000_short"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn kinds_do_not_mix() {
        let (invitation, _) = INVITATION.generate(Uuid::now_v7());
        assert!(parse(&invitation).is_none(), "an invitation is no refresh token");
        assert!(INVITATION.parse(&generate(Uuid::now_v7()).0).is_none());
    }
}
