//! The one JSON error envelope, used for every 4xx and 5xx answer.
//!
//! ```json
//! {"error": {"code": "invalid_field", "message": "email: must be an email address",
//!            "field": "email", "request_id": "0193…"}}
//! ```
//!
//! Handlers return [`ApiError`]. Responses that are produced elsewhere (an unknown route, a wrong
//! method, a caught panic) are rewritten into the same envelope ([`enveloped`]) by the outermost
//! service, [`crate::router::Front`], which also assigns every request an id (`X-Request-Id`,
//! echoed back and logged).
//! Internal errors are logged once with that id and answered with the id and nothing else; every
//! 5xx is also reported to Sentry when it is on ([`crate::telemetry::reporting`]).

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

mod envelope;
pub use envelope::{enveloped, request_id};

/// Header carrying the request id in both directions. (A `HeaderName`, not a `&str`: a map
/// lookup or insert by `&str` parses and validates the name first, ~300–600 instructions.)
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request being served on this task, as the front ([`crate::router`]'s `Front`) saw it
/// arrive: its id, for error bodies and logs, and when it came (epoch milliseconds), which the
/// rate limiter counts it at, so that a request reads the wall clock once, not once for its id
/// and again for its limits (a clock reading is ~23 ns here, more than most of a layer).
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    pub(crate) id: HeaderValue,
    pub(crate) at_ms: u64,
}

tokio::task_local! {
    pub(crate) static REQUEST: Arrival;
}

/// When the request served on this task arrived (epoch milliseconds), if the front saw it.
pub(crate) fn arrived_ms() -> Option<u64> {
    REQUEST.try_with(|r| r.at_ms).ok()
}

/// An error answered to the client. The message is safe to show; internals are not in it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or not well-formed.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// A field (body or query) is missing, of the wrong type, or out of range.
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    /// The request had a body without `Content-Type: application/json`.
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body is over the limit.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Missing or bad credentials; the message never says which part was wrong when that would
    /// reveal whether an account exists.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated, but the role does not allow it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such resource in this tenant (also for other tenants' resources: never a 403).
    #[error("not found")]
    NotFound,
    /// The request conflicts with existing data.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A marketplace or its adapter failed (502).
    #[error("{message}")]
    BadGateway { code: &'static str, message: String },
    /// Temporarily unavailable, e.g. the marketplace rate-limits us (503, `Retry-After`).
    #[error("{message}")]
    Unavailable { code: &'static str, message: String, retry_after: Option<u64> },
    /// Over a rate limit or a failure throttle (429, `Retry-After`). Answered with the seed's
    /// body, `{"error": "<Scope> rate limit exceeded", "reset_at", "scope"}`, not the envelope:
    /// clients of the seed parse it.
    #[error("{} rate limit exceeded", capitalise(scope))]
    RateLimited { scope: &'static str, retry_after_secs: u64, reset_at: u64 },
    /// Anything else: logged with the request id, answered without detail.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A field-level validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField { field: field.into(), message: message.into() }
    }

    /// The HTTP status for this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidField { .. } => "invalid_field",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::RateLimited { .. } => "rate_limited",
            Self::Conflict { code, .. } | Self::BadGateway { code, .. } | Self::Unavailable { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict { code, message } => Self::Conflict { code, message },
            other => Self::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::RateLimited { scope, retry_after_secs, reset_at } = &self {
            let body = RateLimitedBody { error: self.to_string(), reset_at: *reset_at, scope: (*scope).to_owned() };
            let mut res = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            res.extensions_mut().insert(ErrorCode(self.code()));
            return res;
        }
        let request_id = REQUEST.try_with(|r| r.id.to_str().map(str::to_owned)).ok().and_then(Result::ok);
        if let Self::Internal(err) = &self {
            tracing::error!(request_id = request_id.as_deref().unwrap_or("-"), error = ?err, "internal error");
        }
        crate::telemetry::reporting::capture_api_error(self.status_code(), &self, request_id.as_deref());
        let field = match &self {
            Self::InvalidField { field, .. } => Some(field.as_str()),
            _ => None,
        };
        let message = match &self {
            Self::InvalidField { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let mut res = envelope_response(self.status_code(), self.code(), &message, field, request_id.as_deref());
        if let Self::Unavailable { retry_after: Some(secs), .. } = &self {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*secs));
        }
        res.extensions_mut().insert(ErrorCode(self.code()));
        res
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The envelope code of an error answer, kept on the response for the metrics layer
/// (`stock_tracker_errors_total{error_type}`).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// The code and message an error answer gets from its status alone (an unknown route, a wrong
/// method, a timeout, a caught panic): what [`enveloped`] writes, and what the metrics count.
pub fn bare_error(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => ("not_found", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed on this route"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests"),
        s if s.is_server_error() => ("internal", "internal error"),
        _ => ("bad_request", "bad request"),
    }
}

/// The panic catcher's answer: a bare 500 (the envelope fills it in) marked as a panic.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let mut res = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    res.extensions_mut().insert(ErrorCode("panic"));
    res
}

/// The error envelope: every 4xx and 5xx answer but 429.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_field`, `not_found`.
    pub code: String,
    /// Safe to show; never holds internals.
    pub message: String,
    /// The field at fault, dotted for nested fields (`credentials.token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Matches the `X-Request-Id` header and the server's log line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The seed's 429 body (kept for its clients; the one answer outside the envelope).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RateLimitedBody {
    /// `<Scope> rate limit exceeded`.
    pub error: String,
    /// When the refusing window ends, epoch seconds.
    pub reset_at: u64,
    /// Which limit refused: `anonymous`, `global`, `tenant`, a route's own, or a failure budget.
    pub scope: String,
}

fn envelope_response(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
    request_id: Option<&str>,
) -> Response {
    let error = ErrorDetail {
        code: code.to_owned(),
        message: message.to_owned(),
        field: field.map(str::to_owned),
        request_id: request_id.map(str::to_owned),
    };
    (status, axum::Json(ErrorBody { error })).into_response()
}
