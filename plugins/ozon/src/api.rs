//! Ozon Seller API shapes, field names exactly as in `swagger.json` (v2.1). Numbers that the
//! spec types as int64 may arrive as strings in some answers: ids are read with [`Id`].

use serde::{Deserialize, Serialize};

/// The production host; a connection's `base_url` setting replaces it.
pub const HOST: &str = "https://api-seller.ozon.ru";
/// Most items a list method returns at once.
pub const MAX_LIMIT: u32 = 1000;
/// Most SKUs `/v1/analytics/stocks` takes.
pub const MAX_ANALYTICS_SKUS: u32 = 100;

/// An int64 that may come as a number or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub i64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(i64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Id(n)),
            Raw::S(s) => s.parse().map(Id).map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct VisibilityFilter {
    pub visibility: &'static str,
}

/// `/v3/product/list` body.
#[derive(Debug, Serialize)]
pub struct ProductListRequest {
    pub filter: VisibilityFilter,
    pub last_id: String,
    pub limit: u32,
}

#[derive(Debug, Deserialize)]
pub struct ProductListResponse {
    pub result: ProductListResult,
}

#[derive(Debug, Deserialize)]
pub struct ProductListResult {
    #[serde(default)]
    pub items: Vec<ProductListItem>,
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub last_id: String,
}

#[derive(Debug, Deserialize)]
pub struct ProductListItem {
    pub product_id: Id,
}

/// `/v3/product/info/list` body.
#[derive(Debug, Serialize)]
pub struct ProductInfoRequest {
    pub product_id: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct ProductInfoResponse {
    #[serde(default)]
    pub items: Vec<ProductInfo>,
}

#[derive(Debug, Deserialize)]
pub struct ProductInfo {
    pub id: Id,
    pub offer_id: String,
    #[serde(default)]
    pub sku: Option<Id>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub barcodes: Vec<String>,
    #[serde(default)]
    pub currency_code: String,
    /// Prices are strings here (`"1299.00"`); empty when not set.
    #[serde(default)]
    pub price: String,
    #[serde(default)]
    pub old_price: String,
}

/// `/v4/product/info/stocks` and `/v5/product/info/prices` body.
#[derive(Debug, Serialize)]
pub struct CursorRequest {
    pub cursor: String,
    pub filter: VisibilityFilter,
    pub limit: u32,
}

#[derive(Debug, Deserialize)]
pub struct StocksResponse {
    #[serde(default)]
    pub cursor: String,
    #[serde(default)]
    pub items: Vec<StocksItem>,
}

#[derive(Debug, Deserialize)]
pub struct StocksItem {
    pub offer_id: String,
    #[serde(default)]
    pub stocks: Vec<Stock>,
}

#[derive(Debug, Deserialize)]
pub struct Stock {
    pub sku: Id,
    /// `fbo` or `fbs` (and `crossborder`).
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub present: i64,
    #[serde(default)]
    pub reserved: i64,
}

/// `/v1/analytics/stocks` body.
#[derive(Debug, Serialize)]
pub struct AnalyticsStocksRequest {
    pub skus: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct AnalyticsStocksResponse {
    #[serde(default)]
    pub items: Vec<AnalyticsStock>,
}

#[derive(Debug, Deserialize)]
pub struct AnalyticsStock {
    pub sku: Id,
    #[serde(default)]
    pub offer_id: String,
    pub warehouse_id: Id,
    #[serde(default)]
    pub warehouse_name: String,
    #[serde(default)]
    pub available_stock_count: i64,
    #[serde(default)]
    pub return_from_customer_stock_count: i64,
}

/// `/v1/product/info/stocks-by-warehouse/fbs` body.
#[derive(Debug, Serialize)]
pub struct FbsStocksRequest {
    pub sku: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct FbsStocksResponse {
    #[serde(default)]
    pub result: Vec<FbsStock>,
}

#[derive(Debug, Deserialize)]
pub struct FbsStock {
    pub sku: Id,
    #[serde(default)]
    pub present: i64,
    #[serde(default)]
    pub reserved: i64,
    pub warehouse_id: Id,
    #[serde(default)]
    pub warehouse_name: String,
}

#[derive(Debug, Deserialize)]
pub struct PricesResponse {
    #[serde(default)]
    pub cursor: String,
    #[serde(default)]
    pub items: Vec<PriceItem>,
}

#[derive(Debug, Deserialize)]
pub struct PriceItem {
    pub offer_id: String,
    pub price: PriceV5,
}

/// Prices are numbers here.
#[derive(Debug, Deserialize)]
pub struct PriceV5 {
    #[serde(default)]
    pub price: f64,
    #[serde(default)]
    pub old_price: f64,
    #[serde(default)]
    pub currency_code: String,
}

/// `/v3/posting/fbs/list` and `/v2/posting/fbo/list` body.
#[derive(Debug, Serialize)]
pub struct PostingsRequest {
    pub dir: &'static str,
    pub filter: PostingsFilter,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, Serialize)]
pub struct PostingsFilter {
    pub since: String,
    pub to: String,
}

#[derive(Debug, Deserialize)]
pub struct FbsPostingsResponse {
    pub result: FbsPostingsResult,
}

#[derive(Debug, Deserialize)]
pub struct FbsPostingsResult {
    #[serde(default)]
    pub postings: Vec<Posting>,
    #[serde(default)]
    pub has_next: bool,
}

#[derive(Debug, Deserialize)]
pub struct FboPostingsResponse {
    #[serde(default)]
    pub result: Vec<Posting>,
}

/// What an FBS and an FBO posting both have.
#[derive(Debug, Deserialize)]
pub struct Posting {
    pub posting_number: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub in_process_at: Option<String>,
    #[serde(default)]
    pub products: Vec<PostingProduct>,
    /// FBS: where it ships from.
    #[serde(default)]
    pub delivery_method: Option<DeliveryMethod>,
    /// FBO: the Ozon warehouse.
    #[serde(default)]
    pub analytics_data: Option<AnalyticsData>,
}

#[derive(Debug, Deserialize)]
pub struct PostingProduct {
    pub sku: Id,
    pub offer_id: String,
    #[serde(default)]
    pub quantity: i64,
    #[serde(default)]
    pub price: String,
}

#[derive(Debug, Deserialize)]
pub struct DeliveryMethod {
    #[serde(default)]
    pub warehouse: String,
}

#[derive(Debug, Deserialize)]
pub struct AnalyticsData {
    #[serde(default, alias = "warehouse")]
    pub warehouse_name: String,
}
