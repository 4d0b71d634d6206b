//! Stock Tracker adapter for the Yandex Market Partner API (WIT `stock-tracker:marketplace@0.2.0`),
//! written with the guest SDK alone.
//!
//! - Credentials: `api_key`, sent as `Api-Key` (an OAuth token, `Bearer …`, is refused by
//!   Market: the key is what the cabinet issues).
//! - Shops: `GET /v2/campaigns` at the start of each listing (its 1,000-an-hour budget is spent
//!   once a phase, not a page); the list, and what a listing has read of it, travel in the
//!   cursor. Shops whose API is not `AVAILABLE` are skipped.
//! - Products: the catalogue of each cabinet (business),
//!   `POST /v2/businesses/{businessId}/offer-mappings` (`page_token`, 100 a page): `offerId` is
//!   the SKU, Market's SKU its id, `basicPrice` its price.
//! - Stocks: each shop's `POST /v2/campaigns/{campaignId}/offers/stocks` (`page_token`, 100 offers
//!   a page), its warehouses named from `GET /v2/warehouses` (FBY, LaaS: Market's) or
//!   `GET /v2/businesses/{businessId}/warehouses` (FBS, DBS: the seller's) once per shop.
//!   Stock types are mapped in [`mapping::levels`]: `AVAILABLE` is available, `FREEZE` in
//!   Market's warehouses is in transit to buyers.
//! - Sales: each shop's `POST /v2/campaigns/{campaignId}/stats/orders` by status-update date
//!   ([`sales`]).
//! - Errors: Market's `{status: "ERROR", errors: [{code, message}]}`; 401/403 →
//!   `invalid-credentials`; **420** (Market's rate-limit answer) → `rate-limited` for as long as
//!   `X-RateLimit-Resource-Until` says; 423 (business in migration) and 5xx → `transient`.
//! - Setting `base_url` replaces the host (a fake or a sandbox).

pub mod api;
pub mod mapping;
pub mod sales;

use serde::{Deserialize, Serialize};
use stock_tracker_plugin_sdk::client::{Client, Failure};
use stock_tracker_plugin_sdk::paging::{self, query};
use stock_tracker_plugin_sdk::{
    Account, Adapter, AdapterError, AdapterInfo, Capability, Context, CredentialField, PageRequest, ProductPage,
    SalePage, SettingField, StockPage,
};

use crate::api::{
    Campaign, CampaignsResponse, Envelope, Names, OfferMappingsRequest, OfferMappingsResult, StocksRequest,
    StocksResult, WarehousesResult,
};

pub struct YandexMarket;

/// Market's reading of a refusal: 423 (the business is being migrated) passes.
fn classify(failure: &Failure<'_>) -> Option<AdapterError> {
    (failure.status == 423).then(|| AdapterError::Transient(format!("HTTP 423: {}", failure.message)))
}

/// The API client with the connection's key.
fn client(ctx: &Context) -> Result<Client, AdapterError> {
    Ok(Client::for_context(ctx, api::HOST).header("Api-Key", ctx.credential("api_key")?).classify(classify))
}

/// The shops the key may use (every page of the list).
pub fn campaigns(client: &Client) -> Result<Vec<Campaign>, AdapterError> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let mut path = "/v2/campaigns?limit=100".to_owned();
        if let Some(t) = &token {
            path = format!("{path}&{}", query(&[("page_token", t)]));
        }
        let page: CampaignsResponse = client.get(&path)?;
        all.extend(
            page.campaigns.into_iter().filter(|c| c.api_availability.as_deref().is_none_or(|a| a == "AVAILABLE")),
        );
        token = page.paging.next_page_token.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok(all)
}

/// `path?limit=…[&page_token=…]`.
fn paged(path: &str, limit: u32, token: Option<&str>) -> String {
    let limit = limit.to_string();
    match token {
        Some(t) => format!("{path}?{}", query(&[("limit", &limit), ("page_token", t)])),
        None => format!("{path}?{}", query(&[("limit", &limit)])),
    }
}

/// A shop, as a listing keeps it in its cursor.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Shop {
    id: i64,
    business: i64,
    placement: String,
}

/// Where a listing over several shops (or cabinets) is.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor<T> {
    items: Vec<T>,
    index: usize,
    token: Option<String>,
    /// The current shop's warehouse names (stocks only).
    #[serde(default, skip_serializing_if = "Names::is_empty")]
    names: Names,
}

impl<T: Serialize> Cursor<T> {
    /// The cursor after a page whose `next` token is given: the same item's next page, the next
    /// item, or none at the end.
    fn after(mut self, next: Option<String>) -> Option<String> {
        match next.filter(|t| !t.is_empty()) {
            Some(token) => self.token = Some(token),
            None => {
                self.index += 1;
                self.token = None;
                self.names.clear();
                if self.index >= self.items.len() {
                    return None;
                }
            }
        }
        paging::next(Some(&self))
    }
}

impl Adapter for YandexMarket {
    fn info() -> AdapterInfo {
        AdapterInfo {
            id: "yandex-market".into(),
            name: "Yandex Market".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            marketplace: "yandex_market".into(),
            credential_fields: vec![CredentialField {
                name: "api_key".into(),
                label: "Api-Key token (scopes: offers-and-cards-management, inventory-and-order-processing, read-only will do)"
                    .into(),
                secret: true,
            }],
            capabilities: vec![Capability::Sales],
            settings: vec![SettingField {
                name: "sales".into(),
                label: "Orders and sales from order statistics".into(),
                allowed: vec!["on".into(), "off".into()],
            }],
        }
    }

    fn verify_credentials(ctx: &Context) -> Result<Account, AdapterError> {
        let shops = campaigns(&client(ctx)?)?;
        if shops.is_empty() {
            return Err(AdapterError::InvalidCredentials(
                "the key sees no shop whose API is available (GET /v2/campaigns is empty)".into(),
            ));
        }
        let names: Vec<String> = shops.iter().take(5).map(|c| format!("{} ({})", c.domain, c.placement_type)).collect();
        Ok(Account {
            description: format!("Yandex Market: {} shop(s): {}", shops.len(), names.join(", ")),
            expires_at: None,
        })
    }

    fn list_products(ctx: &Context, page: PageRequest) -> Result<ProductPage, AdapterError> {
        let client = client(ctx)?;
        let cursor = match paging::cursor::<Cursor<i64>>(&page)? {
            Some(c) => c,
            None => {
                let mut businesses: Vec<i64> = campaigns(&client)?.iter().map(|c| c.business.id).collect();
                businesses.sort_unstable();
                businesses.dedup();
                Cursor { items: businesses, index: 0, token: None, names: Names::new() }
            }
        };
        let Some(business) = cursor.items.get(cursor.index).copied() else {
            return Ok(ProductPage { items: Vec::new(), next_cursor: None });
        };
        let path = paged(
            &format!("/v2/businesses/{business}/offer-mappings"),
            paging::page_size(&page, api::MAX_OFFERS),
            cursor.token.as_deref(),
        );
        let answer: Envelope<OfferMappingsResult> =
            client.send("POST", &path, Some(&OfferMappingsRequest::default()), None)?.json()?;
        let items = answer.result.offer_mappings.into_iter().map(mapping::product).collect();
        Ok(ProductPage { items, next_cursor: cursor.after(answer.result.paging.next_page_token) })
    }

    fn fetch_stocks(ctx: &Context, page: PageRequest) -> Result<StockPage, AdapterError> {
        let client = client(ctx)?;
        let mut cursor = match paging::cursor::<Cursor<Shop>>(&page)? {
            Some(c) => c,
            None => {
                let shops = campaigns(&client)?
                    .into_iter()
                    .map(|c| Shop { id: c.id, business: c.business.id, placement: c.placement_type })
                    .collect();
                Cursor { items: shops, index: 0, token: None, names: Names::new() }
            }
        };
        let Some(shop) = cursor.items.get(cursor.index).cloned() else {
            return Ok(StockPage { items: Vec::new(), in_transit: Vec::new(), next_cursor: None });
        };
        let kind = mapping::kind_of(&shop.placement);
        if cursor.names.is_empty() {
            let path = match kind {
                stock_tracker_plugin_sdk::WarehouseKind::Marketplace => "/v2/warehouses".to_owned(),
                stock_tracker_plugin_sdk::WarehouseKind::Seller => {
                    format!("/v2/businesses/{}/warehouses", shop.business)
                }
            };
            let answer: Envelope<WarehousesResult> = client.get(&path)?;
            cursor.names = answer.result.warehouses.into_iter().map(|w| (w.id, w.name)).collect();
        }
        let path = paged(
            &format!("/v2/campaigns/{}/offers/stocks", shop.id),
            paging::page_size(&page, api::MAX_OFFERS),
            cursor.token.as_deref(),
        );
        let answer: Envelope<StocksResult> =
            client.send("POST", &path, Some(&StocksRequest::default()), None)?.json()?;
        let (items, in_transit) = mapping::levels(&answer.result.warehouses, kind, &cursor.names);
        Ok(StockPage { items, in_transit, next_cursor: cursor.after(answer.result.paging.next_page_token) })
    }

    fn fetch_sales(ctx: &Context, page: PageRequest) -> Result<SalePage, AdapterError> {
        if ctx.setting("sales") == Some("off") {
            return Ok(SalePage { items: Vec::new(), cursor: page.cursor.unwrap_or_default(), more: false });
        }
        sales::fetch(&client(ctx)?, page)
    }
}

stock_tracker_plugin_sdk::register_adapter!(YandexMarket);
