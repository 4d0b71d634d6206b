//! Sales from order statistics: each shop's `POST /v2/campaigns/{campaignId}/stats/orders`,
//! orders whose status changed between two Moscow dates (`updateFrom`, `updateTo`), 200 a page.
//! The first sync reads [`FIRST_DAYS`] back; each later one from the day before the last one
//! ended (events are keyed by order, so reading a day twice doubles nothing).

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use stock_tracker_plugin_sdk::client::Client;
use stock_tracker_plugin_sdk::{AdapterError, PageRequest, SalePage, paging};

use crate::api::{self, Envelope, StatsOrdersRequest, StatsOrdersResult};
use crate::{campaigns, mapping, paged};

/// How far back the first sync reads.
pub const FIRST_DAYS: i64 = 30;

/// Kept between calls and between syncs.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// The first status-update date to read.
    from: NaiveDate,
    /// The listing under way; `None` between syncs.
    run: Option<Run>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Run {
    to: NaiveDate,
    campaigns: Vec<i64>,
    index: usize,
    token: Option<String>,
}

fn today_in_moscow() -> NaiveDate {
    (chrono::Utc::now() + Duration::hours(3)).date_naive()
}

pub fn fetch(client: &Client, page: PageRequest) -> Result<SalePage, AdapterError> {
    let today = today_in_moscow();
    let mut cursor =
        paging::cursor::<Cursor>(&page)?.unwrap_or(Cursor { from: today - Duration::days(FIRST_DAYS), run: None });
    let mut run = match cursor.run.take() {
        Some(run) => run,
        None => {
            let ids = campaigns(client)?.into_iter().map(|c| c.id).collect();
            Run { to: today, campaigns: ids, index: 0, token: None }
        }
    };
    let mut items = Vec::new();
    if let Some(campaign) = run.campaigns.get(run.index) {
        let path = paged(&format!("/v2/campaigns/{campaign}/stats/orders"), api::MAX_ORDERS, run.token.as_deref());
        let body = StatsOrdersRequest { update_from: cursor.from, update_to: run.to };
        let answer: Envelope<StatsOrdersResult> = client.send("POST", &path, Some(&body), None)?.json()?;
        items = answer.result.orders.iter().flat_map(mapping::order_events).collect();
        match answer.result.paging.next_page_token.filter(|t| !t.is_empty()) {
            Some(token) => run.token = Some(token),
            None => (run.index, run.token) = (run.index + 1, None),
        }
    }
    let more = run.index < run.campaigns.len();
    cursor = if more {
        Cursor { from: cursor.from, run: Some(run) }
    } else {
        Cursor { from: run.to - Duration::days(1), run: None }
    };
    Ok(SalePage { items, cursor: paging::next(Some(&cursor)).unwrap_or_default(), more })
}
