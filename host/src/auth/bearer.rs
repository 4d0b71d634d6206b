//! The one parser of `Authorization: Bearer <token>`, used by the tenant extractor, the rate
//! limiter and the operator check alike, so all three always agree on who is calling.
//!
//! The scheme name is case-insensitive (RFC 9110 §11.1: `bearer`, `BEARER` and `Bearer` are one
//! scheme) and is followed by one or more spaces; the token is what follows, trimmed. Anything
//! else (another scheme, no token, a header that is not visible ASCII) is no bearer token.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// What the `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// No `Authorization` header at all.
    Absent,
    /// A header that is not a bearer token (another scheme, empty, not ASCII).
    Malformed,
    /// The token.
    Token(&'a [u8]),
}

impl<'a> Bearer<'a> {
    /// Parses the request's `Authorization` header.
    pub fn from_headers(headers: &'a HeaderMap) -> Self {
        match headers.get(AUTHORIZATION) {
            None => Self::Absent,
            Some(value) => parse(value.as_bytes()).map_or(Self::Malformed, Self::Token),
        }
    }

    /// The request's bearer token for a caller that verifies it at once (the rate limiter, on
    /// every request): [`unchecked_token`], so the token's own bytes are left to verification.
    pub fn to_verify(headers: &'a HeaderMap) -> Option<&'a [u8]> {
        headers.get(AUTHORIZATION).and_then(|value| unchecked_token(value.as_bytes()))
    }

    /// The token, if there is one.
    pub fn token(self) -> Option<&'a [u8]> {
        match self {
            Self::Token(t) => Some(t),
            _ => None,
        }
    }
}

/// The token of a `Bearer <token>` header value: [`unchecked_token`], and then the checks of the
/// bytes: one pass over the whole value for what `HeaderValue::to_str` accepts (visible ASCII,
/// space and tab) and one for spaces in the token, both without an early exit so that the
/// compiler checks many bytes at a time (a token is some 200 bytes). The token stays bytes
/// (ASCII, checked): whoever needs text converts it.
pub fn parse(value: &[u8]) -> Option<&[u8]> {
    let visible = value.iter().fold(true, |ok, &b| ok & ((b.wrapping_sub(0x20) < 0x5f) | (b == b'\t')));
    let token = unchecked_token(value)?;
    let spaceless = token.iter().fold(true, |ok, &b| ok & (b != b' '));
    (visible && spaceless).then_some(token)
}

/// The token after `Bearer ` (the scheme in any case, one space, then blanks trimmed), with the
/// scheme and the blanks around the token checked but not the token's own bytes. [`parse`] adds
/// those checks; a caller that verifies the token next may skip them: a token that verifies is a
/// JWT, base64url and dots, visible ASCII without spaces, so [`parse`] gives that same token for
/// that `value`, and one that does not verify is no caller to either.
pub fn unchecked_token(value: &[u8]) -> Option<&[u8]> {
    let blank = |b: &u8| matches!(b, b' ' | b'\t');
    let value = &value[value.iter().position(|b| !blank(b))?..];
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    let start = rest.iter().position(|b| !blank(b))?;
    let end = rest.iter().rposition(|b| !blank(b))? + 1;
    Some(&rest[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever header the unchecked token verifies from, the full parse takes the same token
    /// from it; and every header the full parse takes a valid token from gives it unchecked too.
    #[test]
    fn an_unchecked_token_that_verifies_is_the_parsed_one() {
        let keys = crate::auth::JwtKeys::new(&secrecy::SecretBox::new(Box::new(vec![7; 32])));
        let (token, _) = keys.issue(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), crate::store::tenants::Role::Member);
        let shapes = ["Bearer ", "bearer ", " BEARER  ", "\tBearer \t", "Bearer", "Bearer\t", "Basic ", "Bearerx ", ""];
        let mut checked = 0;
        for shape in shapes {
            for suffix in ["", " ", "\t", "  \t"] {
                let header = format!("{shape}{token}{suffix}").into_bytes();
                let mut variants = vec![header.clone()];
                // Every byte value at the start, inside the scheme, inside the token and at the end.
                for at in [0, 3, shape.len(), shape.len() + 10, header.len() - 1] {
                    for b in 0..=255u8 {
                        let mut v = header.clone();
                        v[at] = b;
                        variants.push(v);
                    }
                }
                for v in variants {
                    let unchecked = unchecked_token(&v);
                    if unchecked.is_some_and(|t| keys.verify(t).is_some()) {
                        assert_eq!(parse(&v), unchecked, "{:?}", String::from_utf8_lossy(&v));
                        checked += 1;
                    }
                    if parse(&v).is_some_and(|t| keys.verify(t).is_some()) {
                        assert_eq!(unchecked, parse(&v), "{:?}", String::from_utf8_lossy(&v));
                    }
                }
            }
        }
        assert!(checked > 100, "only {checked} headers verified");
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for header in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr   abc  ", " Bearer abc"] {
            assert_eq!(parse(header.as_bytes()), Some(b"abc".as_slice()), "{header:?}");
        }
    }

    #[test]
    fn other_shapes_are_not_bearer_tokens() {
        for header in ["", "Bearer", "Bearer ", "Bearer    ", "Basic abc", "Bearerabc", "Token abc", "Bearer a b"] {
            assert_eq!(parse(header.as_bytes()), None, "{header:?}");
        }
    }

    #[test]
    fn a_header_is_read_as_to_str_would_read_it() {
        for b in 0..=255u8 {
            let bytes = [b'B', b'e', b'a', b'r', b'e', b'r', b' ', b'a', b, b'a'];
            if let Ok(value) = axum::http::HeaderValue::from_bytes(&bytes) {
                let expected = value.to_str().ok().filter(|_| b != b' ').map(|_| &bytes[7..]);
                assert_eq!(parse(&bytes), expected, "byte {b:#04x}");
            }
        }
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, axum::http::HeaderValue::from_bytes(b"Bearer ab\xffcd").unwrap());
        assert_eq!(Bearer::from_headers(&h), Bearer::Malformed, "obs-text is no token");
    }

    #[test]
    fn headers() {
        let mut h = HeaderMap::new();
        assert_eq!(Bearer::from_headers(&h), Bearer::Absent);
        h.insert(AUTHORIZATION, "Basic x".parse().unwrap());
        assert_eq!(Bearer::from_headers(&h), Bearer::Malformed);
        h.insert(AUTHORIZATION, "bearer tok".parse().unwrap());
        assert_eq!(Bearer::from_headers(&h).token(), Some(b"tok".as_slice()));
    }
}
