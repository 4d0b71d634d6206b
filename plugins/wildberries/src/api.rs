//! Wildberries API shapes, with field names exactly as in WB's OpenAPI specs
//! (`02-items.yaml` for content, `12-reports` for statistics and the warehouse-remains report).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Production hosts; a connection's `base_url` setting replaces all of them.
pub const CONTENT_HOST: &str = "https://content-api.wildberries.ru";
pub const STATISTICS_HOST: &str = "https://statistics-api.wildberries.ru";
pub const ANALYTICS_HOST: &str = "https://seller-analytics-api.wildberries.ru";
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

/// The gateway's error body (401, 429, …).
#[derive(Debug, Deserialize, Default)]
pub struct GatewayError {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}
