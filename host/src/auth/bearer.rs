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
    Token(&'a str),
}

impl<'a> Bearer<'a> {
    /// Parses the request's `Authorization` header.
    pub fn from_headers(headers: &'a HeaderMap) -> Self {
        match headers.get(AUTHORIZATION) {
            None => Self::Absent,
            Some(value) => visible_ascii(value.as_bytes())
                .then(|| std::str::from_utf8(value.as_bytes()).ok())
                .flatten()
                .and_then(parse)
                .map_or(Self::Malformed, Self::Token),
        }
    }

    /// The token, if there is one.
    pub fn token(self) -> Option<&'a str> {
        match self {
            Self::Token(t) => Some(t),
            _ => None,
        }
    }
}

/// What `HeaderValue::to_str` accepts (visible ASCII, space and tab), checked without an early
/// exit so that the compiler checks many bytes at a time: a token is some 200 bytes, on every
/// request.
fn visible_ascii(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| ok & ((b.wrapping_sub(0x20) < 0x5f) | (b == b'\t')))
}

/// The token of a `Bearer <token>` header value.
pub fn parse(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' ')).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_is_case_insensitive() {
        for header in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr   abc  ", " Bearer abc"] {
            assert_eq!(parse(header), Some("abc"), "{header:?}");
        }
    }

    #[test]
    fn other_shapes_are_not_bearer_tokens() {
        for header in ["", "Bearer", "Bearer ", "Bearer    ", "Basic abc", "Bearerabc", "Token abc", "Bearer a b"] {
            assert_eq!(parse(header), None, "{header:?}");
        }
    }

    #[test]
    fn the_byte_check_agrees_with_to_str() {
        for b in 0..=255u8 {
            let bytes = [b'a', b, b'a'];
            if let Ok(value) = axum::http::HeaderValue::from_bytes(&bytes) {
                assert_eq!(visible_ascii(&bytes), value.to_str().is_ok(), "byte {b:#04x}");
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
        assert_eq!(Bearer::from_headers(&h).token(), Some("tok"));
    }
}
