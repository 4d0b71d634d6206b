//! The warehouse-remains report (`12-reports.yaml`, host `seller-analytics-api`): create a task,
//! check its status, download the rows.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Endpoint;
use crate::handlers::{Shared, admit_limited, with_remaining};

/// WB's pseudo-rows (`locale=ru`).
const TO_CLIENT: &str = "В пути до получателей";
const FROM_CLIENT: &str = "В пути возвраты на склад WB";
const TOTAL: &str = "Всего находится на складах";

/// The `4xxResponse` body of the statistics origin.
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({
        "detail": detail,
        "origin": "api-statistics",
        "requestId": uuid::Uuid::now_v7().simple().to_string(),
        "title": title,
    });
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut().insert("content-type", "application/problem+json".parse().expect("static"));
    res
}

/// `GET /api/v1/warehouse_remains`
pub(crate) async fn create(axum::extract::State(state): Shared, headers: HeaderMap) -> Response {
    if let Err(res) = admit_limited(&state, &headers, Endpoint::Report, "report.create") {
        return res;
    }
    let id = uuid::Uuid::now_v7().to_string();
    state.tasks.lock().unwrap().insert(id.clone(), state.config.report_polls_before_done);
    with_remaining(axum::Json(json!({ "data": { "taskId": id } })).into_response())
}

/// Admission, then the status checks the task has left before `done` (an unknown task: 404).
#[allow(clippy::result_large_err)] // handled at once by the caller, like `admit`
fn task(state: &crate::State, headers: &HeaderMap, task_id: &str, limit: &'static str) -> Result<u32, Response> {
    admit_limited(state, headers, Endpoint::Report, limit)?;
    state
        .tasks
        .lock()
        .unwrap()
        .get(task_id)
        .copied()
        .ok_or_else(|| problem(StatusCode::NOT_FOUND, "Not Found", "not found"))
}

/// `GET /api/v1/warehouse_remains/tasks/{task_id}/status`
pub(crate) async fn status(
    axum::extract::State(state): Shared,
    headers: HeaderMap,
    Path(task_id): Path<String>,
) -> Response {
    let left = match task(&state, &headers, &task_id, "report.status") {
        Ok(left) => left,
        Err(res) => return res,
    };
    let status = if left > 0 {
        state.tasks.lock().unwrap().insert(task_id.clone(), left - 1);
        "processing"
    } else {
        "done"
    };
    with_remaining(axum::Json(json!({ "data": { "id": task_id, "status": status } })).into_response())
}

/// What the report says of one article and size.
#[derive(Default)]
struct Row {
    barcode: String,
    places: Vec<(String, i64)>,
    to_client: i64,
    from_client: i64,
}

/// `GET /api/v1/warehouse_remains/tasks/{task_id}/download`: one row per article and size.
pub(crate) async fn download(
    axum::extract::State(state): Shared,
    headers: HeaderMap,
    Path(task_id): Path<String>,
) -> Response {
    match task(&state, &headers, &task_id, "report.download") {
        Err(res) => return res,
        Ok(left) if left > 0 => return problem(StatusCode::BAD_REQUEST, "Bad Request", "report is not ready"),
        Ok(_) => {}
    }
    let catalogue = state.catalogue.lock().unwrap();
    let mut rows: BTreeMap<(i64, String, String), Row> = BTreeMap::new();
    for r in &catalogue.stocks {
        let row = rows.entry((r.nm_id, r.vendor_code.clone(), r.tech_size.clone())).or_default();
        row.barcode.clone_from(&r.barcode);
        row.places.push((r.warehouse.clone(), r.quantity));
        row.to_client += r.in_way_to_client;
        row.from_client += r.in_way_from_client;
    }
    if rows.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    // Written straight into the body (a 500,000-size report is hundreds of MiB of JSON).
    let mut body = Vec::with_capacity(rows.len() * 400);
    body.push(b'[');
    for (n, ((nm_id, vendor_code, tech_size), Row { barcode, places, to_client, from_client })) in
        rows.into_iter().enumerate()
    {
        let total: i64 = places.iter().map(|(_, q)| q).sum();
        let mut warehouses = Vec::new();
        for (name, quantity) in [(TO_CLIENT, to_client), (FROM_CLIENT, from_client), (TOTAL, total)] {
            if quantity != 0 {
                warehouses.push(json!({ "warehouseName": name, "quantity": quantity }));
            }
        }
        for (name, quantity) in places.into_iter().filter(|(_, q)| *q != 0) {
            warehouses.push(json!({ "warehouseName": name, "quantity": quantity }));
        }
        let row = json!({
            "brand": "Тест", "subjectName": "Товары для дома", "vendorCode": vendor_code, "nmId": nm_id,
            "barcode": barcode, "techSize": tech_size, "volume": 1.5, "warehouses": warehouses,
        });
        if n > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &row).expect("JSON to memory");
    }
    body.push(b']');
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert("content-type", "application/json".parse().expect("static"));
    with_remaining(res)
}
