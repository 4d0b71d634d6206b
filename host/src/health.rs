//! Health probes under `/api/v1/health`.
//!
//! - `GET /` (basic): `{"status":"healthy","timestamp":…,"service":"stock-tracker"}`.
//! - `GET /live`: `{"status":"alive","timestamp":…}`, no I/O at all, so a slow database never
//!   gets a healthy process restarted.
//! - `GET /ready`: the database (and Redis, when configured) checked concurrently, each under its
//!   own [`CHECK_TIMEOUT`]. 503 when the database is not reachable. A Redis failure reports
//!   `"status":"degraded"` with 200: Redis only backs features that fail open, so taking the
//!   instance out of rotation for it would turn a Redis outage into a full outage.

use std::time::{Duration, Instant};

use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use fred::prelude::ClientLike;
use serde_json::{Value, json};

use crate::app::AppState;

/// Upper bound for one dependency check (well under a probe's default 1 s timeout).
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// `GET /api/v1/health/`
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "healthy", "timestamp": chrono::Utc::now(), "service": "stock-tracker" }))
}

/// `GET /api/v1/health/live`
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "alive", "timestamp": chrono::Utc::now() }))
}

/// `GET /api/v1/health/ready`
pub async fn ready(axum::extract::State(app): AppState) -> impl IntoResponse {
    let database = timed(async { app.store.ping().await.map_err(|e| e.to_string()) });
    let redis = async {
        match &app.redis {
            Some(client) => Some(
                timed(async { client.ping::<String>(None).await.map(drop).map_err(|e| e.details().to_owned()) }).await,
            ),
            None => None,
        }
    };
    let (database, redis) = tokio::join!(database, redis);

    let database_ok = database.0;
    let redis_ok = redis.as_ref().is_none_or(|r| r.0);
    let mut checks = json!({ "database": database.1 });
    if let Some((_, report)) = redis {
        checks["redis"] = report;
    }
    let (status, code) = match (database_ok, redis_ok) {
        (false, _) => ("not_ready", StatusCode::SERVICE_UNAVAILABLE),
        (true, false) => ("degraded", StatusCode::OK),
        (true, true) => ("ready", StatusCode::OK),
    };
    (code, Json(json!({ "status": status, "timestamp": chrono::Utc::now(), "checks": checks })))
}

/// Runs one check under [`CHECK_TIMEOUT`]; returns whether it passed and its report.
async fn timed(check: impl Future<Output = Result<(), String>>) -> (bool, Value) {
    let start = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check).await;
    let response_time_ms = (start.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    match outcome {
        Ok(Ok(())) => (true, json!({ "status": "healthy", "response_time_ms": response_time_ms })),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness check failed");
            (false, json!({ "status": "unhealthy", "response_time_ms": response_time_ms, "error": "check failed" }))
        }
        Err(_) => (false, json!({ "status": "unhealthy", "response_time_ms": response_time_ms, "error": "timed out" })),
    }
}
