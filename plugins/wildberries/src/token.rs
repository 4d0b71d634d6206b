//! WB API tokens are JWTs: `exp` says when they stop working, the bit mask `s` which API
//! categories they open (bit 1 Content, 2 Analytics, 3 Prices, 4 Marketplace, 5 Statistics,
//! 30 read-only). A connection is refused up front when its token lacks a category its settings
//! will use, naming the category, rather than failing on the first sync. The signature is WB's
//! to check; this only reads the payload.

use base64::Engine as _;
use serde::Deserialize;

/// An API category and its bit in `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Content,
    Analytics,
    Prices,
    Marketplace,
    Statistics,
}

impl Category {
    fn bit(self) -> u32 {
        match self {
            Self::Content => 1,
            Self::Analytics => 2,
            Self::Prices => 3,
            Self::Marketplace => 4,
            Self::Statistics => 5,
        }
    }

    /// WB's name of the category, as its token form shows it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Content => "Content",
            Self::Analytics => "Analytics",
            Self::Prices => "Prices and discounts",
            Self::Marketplace => "Marketplace",
            Self::Statistics => "Statistics",
        }
    }
}

/// Bit 30: the token may only read.
pub const READ_ONLY_BIT: u32 = 30;

/// What the payload says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Unix seconds.
    pub expires_at: Option<u64>,
    pub categories: u64,
}

impl Claims {
    pub fn has(&self, category: Category) -> bool {
        self.categories & (1 << category.bit()) != 0
    }

    pub fn read_only(&self) -> bool {
        self.categories & (1 << READ_ONLY_BIT) != 0
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    s: Option<u64>,
}

/// The claims of a token, or `None` if it is not a JWT with a readable payload (WB itself then
/// refuses it, with its own words).
pub fn claims(token: &str) -> Option<Claims> {
    let token = token.trim().strip_prefix("Bearer ").unwrap_or(token.trim());
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let payload: Payload = serde_json::from_slice(&bytes).ok()?;
    Some(Claims { expires_at: payload.exp, categories: payload.s? })
}

/// The categories of `needed` (each with what needs it) that `claims` lacks, as one sentence, or
/// `None` when it has them all.
pub fn missing(claims: &Claims, needed: &[(Category, &str)]) -> Option<String> {
    let missing: Vec<String> = needed
        .iter()
        .filter(|(category, _)| !claims.has(*category))
        .map(|(category, why)| format!("{} (for {why})", category.name()))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the token lacks the API categor{} {}; create a token with {} in the seller's account, or turn off what needs {}",
            if missing.len() == 1 { "y" } else { "ies" },
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" },
            if missing.len() == 1 { "it" } else { "them" },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", enc(r#"{"alg":"ES256","kid":"x","typ":"JWT"}"#), enc(payload))
    }

    #[test]
    fn the_payload_gives_expiry_and_categories() {
        // Content + Analytics + Statistics, read-only.
        let s = (1u64 << 1) | (1 << 2) | (1 << 5) | (1 << 30);
        let token = jwt(&format!(
            r#"{{"acc":3,"ent":1,"exp":1798761600,"for":"self","id":"x","s":{s},"sid":"y","t":false,"uid":1}}"#
        ));
        let claims = claims(&token).unwrap();
        assert_eq!(claims.expires_at, Some(1_798_761_600));
        assert!(claims.has(Category::Content) && claims.has(Category::Analytics) && claims.has(Category::Statistics));
        assert!(!claims.has(Category::Prices) && !claims.has(Category::Marketplace));
        assert!(claims.read_only());
        assert_eq!(self::claims(&format!("Bearer {token}")), Some(claims), "a Bearer prefix is tolerated");
        assert_eq!(self::claims("not-a-jwt"), None);
        assert_eq!(self::claims(&jwt("[1]")), None);
    }

    #[test]
    fn missing_categories_are_named_with_their_use() {
        let claims = Claims { expires_at: None, categories: 1 << 1 };
        let needed = [(Category::Content, "products"), (Category::Analytics, "the stock report")];
        let text = missing(&claims, &needed).unwrap();
        assert!(text.contains("Analytics (for the stock report)"), "{text}");
        assert!(!text.contains("Content"), "{text}");
        assert_eq!(missing(&claims, &needed[..1]), None);
    }
}
