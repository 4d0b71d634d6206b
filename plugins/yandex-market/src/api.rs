//! Yandex Market Partner API shapes, field names exactly as in its OpenAPI (`openapi.yaml`,
//! 2026-07).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The production host; a connection's `base_url` setting replaces it.
pub const HOST: &str = "https://api.partner.market.yandex.ru";
/// Most offers `offer-mappings` and `offers/stocks` return a page (larger limits are truncated).
pub const MAX_OFFERS: u32 = 100;
/// Most orders `stats/orders` returns a page.
pub const MAX_ORDERS: u32 = 200;

/// `{status, result}`: every answer but the campaign list.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub result: T,
}

/// `paging.nextPageToken`: absent on the last page.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `GET /v2/campaigns`.
#[derive(Debug, Deserialize)]
pub struct CampaignsResponse {
    #[serde(default)]
    pub campaigns: Vec<Campaign>,
    #[serde(default)]
    pub paging: Paging,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    pub id: i64,
    #[serde(default)]
    pub domain: String,
    pub business: Business,
    /// `FBS`, `FBY`, `DBS` or `LAAS`.
    #[serde(default)]
    pub placement_type: String,
    /// `AVAILABLE` or why not.
    #[serde(default)]
    pub api_availability: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Business {
    pub id: i64,
}

/// `POST /v2/businesses/{businessId}/offer-mappings` body (no filter: every offer).
#[derive(Debug, Default, Serialize)]
pub struct OfferMappingsRequest {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferMappingsResult {
    #[serde(default)]
    pub paging: Paging,
    #[serde(default)]
    pub offer_mappings: Vec<OfferMapping>,
}

#[derive(Debug, Deserialize)]
pub struct OfferMapping {
    pub offer: OfferInfo,
    #[serde(default)]
    pub mapping: Option<Mapping>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferInfo {
    pub offer_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub barcodes: Vec<String>,
    #[serde(default)]
    pub basic_price: Option<PriceWithDiscount>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceWithDiscount {
    pub value: f64,
    #[serde(default)]
    pub currency_id: String,
    #[serde(default)]
    pub discount_base: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mapping {
    #[serde(default)]
    pub market_sku: Option<i64>,
}

/// `POST /v2/campaigns/{campaignId}/offers/stocks` body (no filter: every offer).
#[derive(Debug, Default, Serialize)]
pub struct StocksRequest {}

#[derive(Debug, Deserialize)]
pub struct StocksResult {
    #[serde(default)]
    pub paging: Paging,
    #[serde(default)]
    pub warehouses: Vec<WarehouseOffers>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseOffers {
    pub warehouse_id: i64,
    #[serde(default)]
    pub offers: Vec<WarehouseOffer>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseOffer {
    pub offer_id: String,
    #[serde(default)]
    pub stocks: Vec<Stock>,
}

#[derive(Debug, Deserialize)]
pub struct Stock {
    /// `FIT`, `FREEZE`, `AVAILABLE`, `QUARANTINE`, `UTILIZATION`, `DEFECT`, `EXPIRED`.
    #[serde(rename = "type")]
    pub kind: String,
    pub count: i64,
}

/// `GET /v2/warehouses` (Market's) and `GET /v2/businesses/{businessId}/warehouses` (the seller's).
#[derive(Debug, Deserialize)]
pub struct WarehousesResult {
    #[serde(default)]
    pub warehouses: Vec<Warehouse>,
}

#[derive(Debug, Deserialize)]
pub struct Warehouse {
    pub id: i64,
    pub name: String,
}

/// Warehouse names by id.
pub type Names = BTreeMap<i64, String>;

/// `POST /v2/campaigns/{campaignId}/stats/orders` body: orders whose status changed in the days.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsOrdersRequest {
    pub update_from: chrono::NaiveDate,
    pub update_to: chrono::NaiveDate,
}

#[derive(Debug, Deserialize)]
pub struct StatsOrdersResult {
    #[serde(default)]
    pub paging: Paging,
    #[serde(default)]
    pub orders: Vec<StatsOrder>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsOrder {
    pub id: i64,
    /// A Moscow date.
    pub creation_date: chrono::NaiveDate,
    #[serde(default)]
    pub status_update_date: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub items: Vec<StatsItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsItem {
    pub shop_sku: String,
    #[serde(default)]
    pub count: i64,
    #[serde(default)]
    pub initial_count: Option<i64>,
    #[serde(default)]
    pub prices: Vec<StatsPrice>,
    #[serde(default)]
    pub warehouse: Option<Warehouse>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsPrice {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub cost_per_item: Option<f64>,
}
