//! Refresh token strings: `st_rt_<tenant id, 32 hex>_<32 random bytes, base64url>`. The tenant id
//! lets the lookup key lead with `tenant_id`; the random part is what makes the token secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Lifetime of a refresh token family member, in days.
pub const REFRESH_TOKEN_TTL_DAYS: i64 = 30;
const PREFIX: &str = "st_rt_";

/// A new token for `tenant_id` and the digest to store.
pub fn generate(tenant_id: Uuid) -> (String, Vec<u8>) {
    let mut random = [0u8; 32];
    rand::fill(&mut random);
    let token = format!("{PREFIX}{}_{}", tenant_id.simple(), URL_SAFE_NO_PAD.encode(random));
    let digest = digest(&token);
    (token, digest)
}

/// The tenant and stored digest of a presented token, if it is well-formed.
pub fn parse(token: &str) -> Option<(Uuid, Vec<u8>)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (tenant, random) = rest.split_once('_')?;
    if tenant.len() != 32 || URL_SAFE_NO_PAD.decode(random).ok()?.len() != 32 {
        return None;
    }
    Some((Uuid::try_parse(tenant).ok()?, digest(token)))
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
}
