//! Health probes under `/api/v1/health`.
//!
//! - `GET /` (basic): `{"status":"healthy","timestamp":…,"service":"stock-tracker"}`.
//! - `GET /live`: `{"status":"alive","timestamp":…}`, no I/O at all, so a slow database never
//!   gets a healthy process restarted.
//! - `GET /ready`: the database (and Redis, when configured) checked concurrently, each under its
//!   own [`CHECK_TIMEOUT`], each answered `healthy` / `unhealthy` with `response_time_ms`, as the
//!   seed documents. 503 with `"status":"unhealthy"` when the database fails. The one deviation
//!   from the seed: a failing Redis shows as `checks.redis.status: "unhealthy"` while the top
//!   level stays `healthy` with 200. Redis only backs features that fail open (the rate limiter),
//!   so taking every instance out of rotation on a Redis blip would turn a degradation into an
//!   outage.

use std::time::{Duration, Instant};

use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use fred::prelude::ClientLike;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;

/// Upper bound for one dependency check (well under a probe's default 1 s timeout).
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// `GET /health/`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `healthy`.
    pub status: &'static str,
    pub timestamp: DateTime<Utc>,
    /// Always `stock-tracker`.
    pub service: &'static str,
}

/// `GET /health/live`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    /// Always `alive`.
    pub status: &'static str,
    pub timestamp: DateTime<Utc>,
}

/// `GET /health/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `healthy`, or `unhealthy` (the database failing: 503). A failing Redis shows in
    /// `checks.redis` only.
    pub status: &'static str,
    pub timestamp: DateTime<Utc>,
    pub checks: Checks,
}

/// Each dependency's check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub database: Check,
    /// Present when `REDIS_URL` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<Check>,
}

/// One dependency's check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `healthy` or `unhealthy`.
    pub status: &'static str,
    pub response_time_ms: f64,
    /// Why it failed: `check failed` or `timed out` (details are in the log only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// `GET /api/v1/health/`
#[utoipa::path(get, path = "/health/", tag = "health", responses((status = 200, description = "The process answers", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "healthy", timestamp: Utc::now(), service: "stock-tracker" })
}

/// `GET /api/v1/health`: the same as `/health/`.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "The process answers", body = Health)))]
pub async fn health_alias() -> Json<Health> {
    health().await
}

/// `GET /api/v1/health/live`
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, description = "Alive (no I/O)", body = Live)))]
pub async fn live() -> Json<Live> {
    Json(Live { status: "alive", timestamp: Utc::now() })
}

/// `GET /api/v1/health/ready`
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "Ready (Redis may be failing: see checks.redis)", body = Ready),
              (status = 503, description = "Not ready: the database is failing", body = Ready)))]
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
    let (status, code) = if database.status == HEALTHY {
        (HEALTHY, StatusCode::OK)
    } else {
        (UNHEALTHY, StatusCode::SERVICE_UNAVAILABLE)
    };
    (code, Json(Ready { status, timestamp: Utc::now(), checks: Checks { database, redis } }))
}

const HEALTHY: &str = "healthy";
const UNHEALTHY: &str = "unhealthy";

/// Runs one check under [`CHECK_TIMEOUT`].
async fn timed(check: impl Future<Output = Result<(), String>>) -> Check {
    let start = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check).await;
    let response_time_ms = (start.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let (status, error) = match outcome {
        Ok(Ok(())) => (HEALTHY, None),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness check failed");
            (UNHEALTHY, Some("check failed"))
        }
        Err(_) => (UNHEALTHY, Some("timed out")),
    };
    Check { status, response_time_ms, error }
}
