//! Cursors between calls: an adapter keeps whatever it needs to find the next page (a
//! marketplace's token, an offset, which listing it is on) as JSON in `next-cursor`, and reads it
//! back from `page.cursor`.
//!
//! ```ignore
//! #[derive(Serialize, Deserialize, Default)]
//! struct Cursor { last_id: String }
//! let cursor: Cursor = paging::cursor(&page)?.unwrap_or_default();
//! …
//! Ok(ProductPage { items, next_cursor: paging::next(more.then_some(&Cursor { last_id })) })
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{AdapterError, PageRequest};

/// The page's cursor decoded, `None` on the first page; a cursor this adapter did not write is
/// an `internal` error (the host hands back only what the adapter gave it).
pub fn cursor<T: DeserializeOwned>(page: &PageRequest) -> Result<Option<T>, AdapterError> {
    page.cursor
        .as_deref()
        .map(|c| serde_json::from_str(c).map_err(|e| AdapterError::Internal(format!("bad cursor `{c}`: {e}"))))
        .transpose()
}

/// The next cursor, or `None` when this was the last page.
pub fn next<T: Serialize>(cursor: Option<&T>) -> Option<String> {
    cursor.map(|c| serde_json::to_string(c).expect("cursors serialize"))
}

/// The host's page size, within what the marketplace accepts (1..=`max`).
pub fn page_size(page: &PageRequest, max: u32) -> u32 {
    page.page_size.clamp(1, max.max(1))
}

/// `key=value&…`, values percent-encoded (RFC 3986 unreserved characters kept).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        for b in v.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(cursor: Option<&str>, page_size: u32) -> PageRequest {
        PageRequest { cursor: cursor.map(Into::into), page_size, resume: None }
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let next = next(Some(&("x".to_owned(), 3u32))).unwrap();
        assert_eq!(cursor::<(String, u32)>(&page(Some(&next), 10)).unwrap(), Some(("x".into(), 3)));
        assert_eq!(cursor::<(String, u32)>(&page(None, 10)).unwrap(), None);
        assert!(matches!(cursor::<(String, u32)>(&page(Some("nope"), 10)), Err(AdapterError::Internal(_))));
        assert_eq!(super::next::<u32>(None), None);
    }

    #[test]
    fn sizes_and_queries() {
        assert_eq!(page_size(&page(None, 0), 100), 1);
        assert_eq!(page_size(&page(None, 5000), 100), 100);
        assert_eq!(query(&[("page_token", "a b/c"), ("limit", "100")]), "page_token=a%20b%2Fc&limit=100");
    }
}
