//! Wildberries API shapes, with field names exactly as in WB's OpenAPI specs
//! (`02-items.yaml` for content, prices and seller warehouses, `12-reports` for statistics,
//! orders, sales and the warehouse-remains report).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Production hosts; a connection's `base_url` setting replaces all of them.
pub const CONTENT_HOST: &str = "https://content-api.wildberries.ru";
pub const STATISTICS_HOST: &str = "https://statistics-api.wildberries.ru";
pub const ANALYTICS_HOST: &str = "https://seller-analytics-api.wildberries.ru";
pub const PRICES_HOST: &str = "https://discounts-prices-api.wildberries.ru";
pub const MARKETPLACE_HOST: &str = "https://marketplace-api.wildberries.ru";
/// Largest `limit` of the prices list.
pub const MAX_PRICES_PER_PAGE: u32 = 1000;
/// Largest `cursor.limit` the card list accepts.
pub const MAX_CARDS_PER_PAGE: u32 = 100;

/// `POST /content/v2/get/cards/list` body.
#[derive(Debug, Serialize)]
pub struct CardsListRequest {
    pub settings: CardsListSettings,
}

#[derive(Debug, Serialize)]
pub struct CardsListSettings {
    pub sort: Sort,
    pub filter: Filter,
    pub cursor: RequestCursor,
}

#[derive(Debug, Serialize)]
pub struct Sort {
    pub ascending: bool,
}

#[derive(Debug, Serialize)]
pub struct Filter {
    #[serde(rename = "withPhoto")]
    pub with_photo: i32,
}

/// The card-list cursor: only `limit` on the first page, then `updatedAt` and `nmID` of the
/// previous answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCursor {
    pub limit: u32,
    #[serde(rename = "updatedAt", skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(rename = "nmID", skip_serializing_if = "Option::is_none")]
    pub nm_id: Option<i64>,
}

/// `POST /content/v2/get/cards/list` answer, borrowing its strings from the body.
#[derive(Debug, Deserialize)]
pub struct CardsListResponse<'a> {
    #[serde(default, borrow)]
    pub cards: Vec<Card<'a>>,
    pub cursor: ResponseCursor,
}

#[derive(Debug, Deserialize)]
pub struct ResponseCursor {
    #[serde(rename = "updatedAt", default)]
    pub updated_at: Option<String>,
    #[serde(rename = "nmID", default)]
    pub nm_id: Option<i64>,
    pub total: u32,
}

#[derive(Debug, Deserialize)]
pub struct Card<'a> {
    #[serde(rename = "nmID")]
    pub nm_id: i64,
    #[serde(rename = "vendorCode", borrow)]
    pub vendor_code: Cow<'a, str>,
    #[serde(default, borrow)]
    pub brand: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub title: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub sizes: Vec<Size<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct Size<'a> {
    #[serde(rename = "chrtID")]
    pub chrt_id: i64,
    #[serde(rename = "techSize", default, borrow)]
    pub tech_size: Cow<'a, str>,
    /// Barcodes of this size.
    #[serde(default, borrow)]
    pub skus: Vec<Text<'a>>,
}

/// A string borrowed from the body unless it has escapes. (serde borrows a `Cow<str>` field only
/// when the `Cow` is the field's own type: inside `Option` or `Vec` it would copy every string.)
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

/// One row of `GET /api/v1/supplier/stocks`, borrowing its strings from the response body.
#[derive(Debug, Deserialize)]
pub struct StocksItem<'a> {
    #[serde(rename = "lastChangeDate", borrow)]
    pub last_change_date: Cow<'a, str>,
    #[serde(rename = "warehouseName", borrow)]
    pub warehouse_name: Cow<'a, str>,
    #[serde(rename = "supplierArticle", borrow)]
    pub supplier_article: Cow<'a, str>,
    #[serde(rename = "techSize", default, borrow)]
    pub tech_size: Cow<'a, str>,
    pub quantity: i64,
    #[serde(rename = "inWayToClient", default)]
    pub in_way_to_client: i64,
    #[serde(rename = "inWayFromClient", default)]
    pub in_way_from_client: i64,
}

/// `GET /api/v1/warehouse_remains` answer: the id of the report task it created.
#[derive(Debug, Deserialize)]
pub struct CreateTaskResponse {
    pub data: CreateTaskData,
}

#[derive(Debug, Deserialize)]
pub struct CreateTaskData {
    #[serde(rename = "taskId")]
    pub task_id: String,
}

/// `GET /api/v1/warehouse_remains/tasks/{task_id}/status` answer.
#[derive(Debug, Deserialize)]
pub struct TaskStatusResponse {
    pub data: TaskStatus,
}

#[derive(Debug, Deserialize)]
pub struct TaskStatus {
    /// `new`, `processing`, `done`, `purged` or `canceled`.
    pub status: String,
}

/// One row of `GET /api/v1/warehouse_remains/tasks/{task_id}/download` (grouped by article and
/// size), borrowing its strings from the body.
#[derive(Debug, Deserialize)]
pub struct RemainsRow<'a> {
    #[serde(rename = "vendorCode", borrow)]
    pub vendor_code: Cow<'a, str>,
    #[serde(rename = "techSize", default, borrow)]
    pub tech_size: Cow<'a, str>,
    /// Only places with a non-zero quantity, pseudo-rows for goods in transit included.
    #[serde(default, borrow)]
    pub warehouses: Vec<RemainsWarehouse<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct RemainsWarehouse<'a> {
    #[serde(rename = "warehouseName", borrow)]
    pub warehouse_name: Cow<'a, str>,
    pub quantity: i64,
}

/// Any of WB's error bodies: the gateway's (`title`, `detail`), content's (`errorText`), the
/// statistics and prices APIs' (`errors`: a string or a list), the marketplace API's
/// (`code`, `message`).
#[derive(Debug, Deserialize, Default)]
pub struct ErrorBody {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(rename = "errorText", default)]
    pub error_text: Option<String>,
    #[serde(default)]
    pub errors: Option<serde_json::Value>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<serde_json::Value>,
}

/// One seller warehouse of `GET marketplace-api /api/v3/warehouses`.
#[derive(Debug, Deserialize)]
pub struct Warehouse {
    pub id: i64,
    pub name: String,
}

/// `POST /api/v3/stocks/{warehouseId}` body.
#[derive(Debug, Serialize)]
pub struct SellerStocksRequest {
    #[serde(rename = "chrtIds")]
    pub chrt_ids: Vec<i64>,
}

/// Its answer.
#[derive(Debug, Deserialize)]
pub struct SellerStocksResponse {
    #[serde(default)]
    pub stocks: Vec<SellerStock>,
}

#[derive(Debug, Deserialize)]
pub struct SellerStock {
    #[serde(rename = "chrtId")]
    pub chrt_id: i64,
    pub amount: i64,
}

/// `GET discounts-prices-api /api/v2/list/goods/filter` answer.
#[derive(Debug, Deserialize)]
pub struct GoodsResponse {
    pub data: Option<GoodsData>,
}

#[derive(Debug, Deserialize)]
pub struct GoodsData {
    #[serde(rename = "listGoods", default)]
    pub list_goods: Vec<Goods>,
}

#[derive(Debug, Deserialize)]
pub struct Goods {
    #[serde(rename = "vendorCode")]
    pub vendor_code: String,
    #[serde(default)]
    pub sizes: Vec<GoodsSize>,
    #[serde(rename = "currencyIsoCode4217", default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub discount: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct GoodsSize {
    /// Roubles (WB sends numbers, sometimes with kopecks).
    pub price: f64,
    #[serde(rename = "discountedPrice", default)]
    pub discounted_price: Option<f64>,
    #[serde(rename = "techSizeName", default)]
    pub tech_size_name: String,
}

/// What a row of the orders and of the sales listing both have (one unit each).
#[derive(Debug, Deserialize)]
pub struct UnitRow {
    /// When it happened (Moscow time).
    pub date: String,
    #[serde(rename = "lastChangeDate")]
    pub last_change_date: String,
    #[serde(rename = "warehouseName", default)]
    pub warehouse_name: String,
    #[serde(rename = "supplierArticle")]
    pub supplier_article: String,
    #[serde(rename = "techSize", default)]
    pub tech_size: String,
    #[serde(rename = "priceWithDisc", default)]
    pub price_with_disc: Option<f64>,
    pub srid: String,
}

/// One row of `GET statistics-api /api/v1/supplier/orders` (one unit ordered).
#[derive(Debug, Deserialize)]
pub struct OrderRow {
    #[serde(flatten)]
    pub unit: UnitRow,
    #[serde(rename = "isCancel", default)]
    pub is_cancel: bool,
    #[serde(rename = "cancelDate", default)]
    pub cancel_date: Option<String>,
}

/// One row of `GET statistics-api /api/v1/supplier/sales` (one unit sold or returned).
#[derive(Debug, Deserialize)]
pub struct SaleRow {
    #[serde(flatten)]
    pub unit: UnitRow,
    /// `S…` a sale, `R…` a return.
    #[serde(rename = "saleID")]
    pub sale_id: String,
}
