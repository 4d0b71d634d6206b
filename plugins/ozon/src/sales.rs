//! Sales from postings: FBS (`/v3/posting/fbs/list`) then FBO (`/v2/posting/fbo/list`), each
//! paged by offset over a window of processing times. Ozon filters postings by when they were
//! created, and a posting's status changes for weeks after (delivered, cancelled), so every sync
//! reads again the last [`REREAD_DAYS`] days; events are keyed by posting, so nothing doubles.

use serde::{Deserialize, Serialize};
use stock_tracker_plugin_sdk::client::Client;
use stock_tracker_plugin_sdk::{AdapterError, PageRequest, SalePage, paging};

use crate::api::{self, FboPostingsResponse, FbsPostingsResponse, PostingsFilter, PostingsRequest};
use crate::mapping;

/// How far back the first sync reads.
pub const FIRST_DAYS: i64 = 90;
/// How far back every later sync reads again, for status changes.
pub const REREAD_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Scheme {
    Fbs,
    Fbo,
}

/// Kept between calls and between syncs.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// Start of the window (RFC 3339, UTC).
    since: String,
    /// Its end, fixed when the window was opened; `None` between syncs.
    to: Option<String>,
    scheme: Scheme,
    offset: u64,
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn fetch(client: &Client, page: PageRequest) -> Result<SalePage, AdapterError> {
    let now = chrono::Utc::now();
    let mut cursor = paging::cursor::<Cursor>(&page)?.unwrap_or_else(|| Cursor {
        since: rfc3339(now - chrono::Duration::days(FIRST_DAYS)),
        to: None,
        scheme: Scheme::Fbs,
        offset: 0,
    });
    let to = cursor.to.clone().unwrap_or_else(|| rfc3339(now));
    let request = PostingsRequest {
        dir: "ASC",
        filter: PostingsFilter { since: cursor.since.clone(), to: to.clone() },
        limit: api::MAX_LIMIT,
        offset: cursor.offset,
    };
    let (postings, more_here) = match cursor.scheme {
        Scheme::Fbs => {
            let answer: FbsPostingsResponse = client.post("/v3/posting/fbs/list", &request)?;
            (answer.result.postings, answer.result.has_next)
        }
        Scheme::Fbo => {
            let answer: FboPostingsResponse = client.post("/v2/posting/fbo/list", &request)?;
            let full = answer.result.len() as u32 >= api::MAX_LIMIT;
            (answer.result, full)
        }
    };
    let items = postings.iter().flat_map(mapping::posting_events).collect();
    let read = postings.len() as u64;
    let more = if more_here && read > 0 {
        cursor.offset += read;
        true
    } else if cursor.scheme == Scheme::Fbs {
        (cursor.scheme, cursor.offset) = (Scheme::Fbo, 0);
        true
    } else {
        // The window is read: the next sync reads again from REREAD_DAYS before its end.
        let end = chrono::DateTime::parse_from_rfc3339(&to)
            .map_err(|e| AdapterError::Internal(format!("bad sales cursor time `{to}`: {e}")))?;
        let since = (end.with_timezone(&chrono::Utc) - chrono::Duration::days(REREAD_DAYS)).max(
            chrono::DateTime::parse_from_rfc3339(&cursor.since)
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or(now - chrono::Duration::days(FIRST_DAYS)),
        );
        cursor = Cursor { since: rfc3339(since), to: None, scheme: Scheme::Fbs, offset: 0 };
        return Ok(SalePage { items, cursor: paging::next(Some(&cursor)).unwrap_or_default(), more: false });
    };
    cursor.to = Some(to);
    Ok(SalePage { items, cursor: paging::next(Some(&cursor)).unwrap_or_default(), more })
}
