//! Keyset pagination: `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and an opaque
//! `cursor` that the previous page returned as `next_cursor` (null on the last page).
//!
//! A cursor is the base64url JSON of the last row's sort key. Clients must treat it as opaque.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest accepted `limit`.
pub const MAX_LIMIT: u32 = 500;

/// One page of a list: every list answers this shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The same page with every item mapped (store rows to served views).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }

    /// A list that is never paged (a tenant has a handful): every item, no cursor.
    pub fn all(items: Vec<T>) -> Self {
        Page { items, next_cursor: None }
    }

    /// Builds a page from up to `limit + 1` fetched rows: the extra row only says there is more.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> K) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(|last| encode_cursor(&key(last))) } else { None };
        Page { items: rows, next_cursor }
    }
}

/// Checks `limit`, applying the default.
pub fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}"))),
    }
}

/// The opaque form of a sort key.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).expect("sort keys serialize"))
}

/// Decodes a cursor this API issued.
pub fn decode_cursor<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .map(Some)
        .ok_or_else(|| ApiError::invalid("cursor", "not a cursor returned by this list"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let key = ("SKU-1".to_owned(), uuid::Uuid::nil());
        let c = encode_cursor(&key);
        assert_eq!(decode_cursor::<(String, uuid::Uuid)>(Some(&c)).unwrap(), Some(key));
        assert!(decode_cursor::<(String, uuid::Uuid)>(Some("!!")).is_err());
        assert!(decode_cursor::<(String, uuid::Uuid)>(Some(&encode_cursor(&42))).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None).unwrap(), 50);
        assert_eq!(limit(Some(500)).unwrap(), 500);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(501)).is_err());
    }

    #[test]
    fn page_knows_when_there_is_more() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page.items, [1, 2]);
        assert_eq!(page.next_cursor, Some(encode_cursor(&2)));
        assert!(Page::from_rows(vec![1, 2], 2, |n| *n).next_cursor.is_none());
    }
}
