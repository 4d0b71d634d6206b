//! Orders and sales from the statistics API, as sale events. One cursor holds where each listing
//! stands (its last `lastChangeDate`), which one the next call reads, and the answer being read:
//! an answer holds up to 80,000 rows (tens of MiB), so it is spooled by the host and read
//! [`PAGE_ROWS`] rows a call. A listing's date moves on only once its answer is read to the end;
//! the host keeps the cursor between syncs, so each sync reads only what changed, and an answer
//! the host no longer has (the attempt ended) is asked for again from the same date (its events
//! are stored idempotently).

use serde::{Deserialize, Serialize};
use stock_tracker_plugin_sdk::http;
use stock_tracker_plugin_sdk::spool::{SpoolError, SpooledArray};
use stock_tracker_plugin_sdk::{AdapterError, Context, PageRequest, SaleEvent, SalePage};

use crate::api::{OrderRow, STATISTICS_HOST, SaleRow};
use crate::{enabled, encode_query, mapping, url};

/// WB answers at most about this many rows; fewer means the listing is done.
pub(crate) const ROWS_CAP: usize = 80_000;
/// Rows read per call.
pub(crate) const PAGE_ROWS: usize = 10_000;
/// Days of history WB keeps (and the first sync reads).
const HISTORY_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// `dateFrom` of the next orders request.
    orders: String,
    /// `dateFrom` of the next sales request.
    sales: String,
    /// Whether the next call reads sales (else orders).
    #[serde(default)]
    on_sales: bool,
    /// The answer being read, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reading: Option<Reading>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Reading {
    body_id: String,
    offset: u64,
    rows: usize,
    /// `lastChangeDate` of the last row read.
    last_change: Option<String>,
}

impl Cursor {
    fn first() -> Self {
        let moscow = chrono::FixedOffset::east_opt(3 * 3600).expect("a valid offset");
        let from = (chrono::Utc::now().with_timezone(&moscow) - chrono::Duration::days(HISTORY_DAYS)).date_naive();
        let from = from.format("%Y-%m-%d").to_string();
        Self { orders: from.clone(), sales: from, on_sales: false, reading: None }
    }
}

pub(crate) fn fetch(ctx: &Context, page: PageRequest) -> Result<SalePage, AdapterError> {
    if !enabled(ctx, "sales") {
        return Ok(SalePage { items: Vec::new(), cursor: page.cursor.unwrap_or_default(), more: false });
    }
    let mut cursor = match page.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => {
            serde_json::from_str(text).map_err(|e| AdapterError::Internal(format!("bad sales cursor: {e}")))?
        }
        None => Cursor::first(),
    };
    let reading = match cursor.reading.take() {
        Some(reading) => reading,
        None => request(ctx, &cursor)?,
    };
    let mut items = Vec::new();
    let (reading, done) = match read(&reading, cursor.on_sales, &mut items) {
        Ok(read) => read,
        // The host no longer has the answer: ask again from the same date next call.
        Err(SpoolError::Gone(_)) => {
            return Ok(SalePage { items, cursor: serde_json::to_string(&cursor).expect("serializes"), more: true });
        }
        Err(SpoolError::Adapter(e)) => return Err(e),
    };
    let more = if !done {
        cursor.reading = Some(reading);
        true
    } else {
        let date = if cursor.on_sales { &mut cursor.sales } else { &mut cursor.orders };
        if let Some(last) = reading.last_change {
            *date = last;
        }
        let full = reading.rows >= ROWS_CAP;
        match (cursor.on_sales, full) {
            // A full answer: the same listing goes on from its last row.
            (_, true) => true,
            (false, false) => {
                cursor.on_sales = true;
                true
            }
            // Sales, the second listing, are done: so is this sync's part.
            (true, false) => {
                cursor.on_sales = false;
                false
            }
        }
    };
    Ok(SalePage { items, cursor: serde_json::to_string(&cursor).expect("a cursor serializes"), more })
}

/// Asks for the listing the cursor is on, spooled.
fn request(ctx: &Context, cursor: &Cursor) -> Result<Reading, AdapterError> {
    let (path, from) = if cursor.on_sales { ("sales", &cursor.sales) } else { ("orders", &cursor.orders) };
    let url = url(ctx, STATISTICS_HOST, &format!("/api/v1/supplier/{path}?dateFrom={}&flag=0", encode_query(from)));
    let request = http::request("GET", &url, &[("authorization", ctx.credential("token")?)], None::<&()>);
    let resp = http::send_spooled(&request)?;
    if !(200..300).contains(&resp.status) {
        let body = http::read_spooled(&resp.body_id, 0, 64 * 1024).unwrap_or_default();
        return Err(mapping::error_for(resp.status, resp.header("x-ratelimit-retry"), &body, None));
    }
    Ok(Reading { body_id: resp.body_id, offset: 0, rows: 0, last_change: None })
}

/// Up to [`PAGE_ROWS`] rows of the answer; whether it was read to the end.
fn read(reading: &Reading, sales: bool, items: &mut Vec<SaleEvent>) -> Result<(Reading, bool), SpoolError> {
    let mut rows = SpooledArray::open(&reading.body_id, reading.offset);
    let mut next = reading.clone();
    let unexpected = |e: serde_json::Error| {
        SpoolError::Adapter(AdapterError::Upstream(format!(
            "unexpected {} row: {e}",
            if sales { "sales" } else { "orders" }
        )))
    };
    for _ in 0..PAGE_ROWS {
        let Some(element) = rows.next_element()? else {
            next.offset = rows.offset();
            return Ok((next, true));
        };
        let last_change = if sales {
            let row: SaleRow = serde_json::from_slice(element).map_err(unexpected)?;
            items.extend(mapping::sale_event(&row));
            row.unit.last_change_date
        } else {
            let row: OrderRow = serde_json::from_slice(element).map_err(unexpected)?;
            mapping::order_events(&row, items);
            row.unit.last_change_date
        };
        next.rows += 1;
        next.last_change = Some(last_change);
    }
    next.offset = rows.offset();
    Ok((next, false))
}
