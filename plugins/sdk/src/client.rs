//! A JSON API client for adapters: a base URL, the headers every request carries, and one
//! mapping of refusals into adapter errors, so an adapter's calls read as
//! `client.post::<_, ListAnswer>("/v3/product/list", &body)?`.
//!
//! ```ignore
//! let client = Client::for_context(ctx, "https://api-seller.ozon.ru")
//!     .header("Client-Id", ctx.credential("client_id")?)
//!     .header("Api-Key", ctx.credential("api_key")?);
//! let answer: ListAnswer = client.post("/v3/product/list", &ListRequest { limit: 100, .. })?;
//! ```
//!
//! Refusals map as [`Failure::default_error`] says (401/403 `invalid-credentials`, 420/429
//! `rate-limited` with the wait the headers give, 408/5xx `transient`, the rest `upstream`),
//! with the marketplace's own message ([`message`]); [`Client::classify`] overrides it for a
//! marketplace's quirks (Ozon answers an unknown key with 404).

use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::{self, Response};
use crate::{AdapterError, Context, rate_limited};

/// Seconds to wait on a rate limit whose answer does not say.
pub const DEFAULT_RETRY_SECS: u64 = 5;
/// The longest marketplace message kept in an error.
const MAX_MESSAGE: usize = 300;

/// A refused call: status, the marketplace's message, and the wait its headers give.
#[derive(Debug)]
pub struct Failure<'a> {
    pub status: u16,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    pub response: &'a Response,
}

impl Failure<'_> {
    /// The usual meaning of a status; `resume` goes into `rate-limited`.
    pub fn default_error(&self, resume: Option<String>) -> AdapterError {
        let (status, message) = (self.status, &self.message);
        match status {
            401 | 403 => AdapterError::InvalidCredentials(message.clone()),
            420 | 429 => rate_limited(self.retry_after_secs.unwrap_or(DEFAULT_RETRY_SECS), resume),
            408 | 500..=599 => AdapterError::Transient(format!("HTTP {status}: {message}")),
            _ => AdapterError::Upstream(format!("HTTP {status}: {message}")),
        }
    }
}

/// A marketplace's quirk: `Some(error)` for a failure it reads differently, `None` for the usual.
pub type Classify = fn(&Failure<'_>) -> Option<AdapterError>;

/// A base URL, default headers and the error mapping.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    headers: Vec<(String, String)>,
    classify: Option<Classify>,
}

impl Client {
    /// A client of `base_url` (no trailing slash needed).
    pub fn new(base_url: &str) -> Self {
        Self { base: base_url.trim_end_matches('/').to_owned(), headers: Vec::new(), classify: None }
    }

    /// A client of the connection's `base_url` setting when set (the operator may let a tenant
    /// point it at a sandbox or a fake), else of `default_base`.
    pub fn for_context(ctx: &Context, default_base: &str) -> Self {
        Self::new(ctx.setting("base_url").filter(|b| !b.is_empty()).unwrap_or(default_base))
    }

    /// Adds a header every request carries.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Sets the marketplace's own reading of some failures.
    pub fn classify(mut self, classify: Classify) -> Self {
        self.classify = Some(classify);
        self
    }

    /// The URL of `path` (which starts with `/`, query included).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, the answer parsed as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AdapterError> {
        self.send("GET", path, None::<&()>, None)?.json()
    }

    /// `POST path` with a JSON body, the answer parsed as `T`.
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, AdapterError> {
        self.send("POST", path, Some(body), None)?.json()
    }

    /// One request; a 2xx answer comes back, anything else is the adapter error (`resume` goes
    /// into a `rate-limited` one).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        json: Option<&impl Serialize>,
        resume: Option<String>,
    ) -> Result<Response, AdapterError> {
        let headers: Vec<(&str, &str)> = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let resp = http::send(&http::request(method, &self.url(path), &headers, json))?;
        if (200..300).contains(&resp.status) { Ok(resp) } else { Err(self.error_for(&resp, resume)) }
    }

    /// The adapter error for a refused answer.
    pub fn error_for(&self, resp: &Response, resume: Option<String>) -> AdapterError {
        let failure = Failure {
            status: resp.status,
            message: message(&resp.body).unwrap_or_else(|| format!("status {}", resp.status)),
            retry_after_secs: crate::ratelimit::retry_after_secs(&resp.headers, SystemTime::now()),
            response: resp,
        };
        self.classify.and_then(|c| c(&failure)).unwrap_or_else(|| failure.default_error(resume))
    }
}

/// The message of a marketplace's error body: `message`, `detail`, `errorText`, `title`, or the
/// first of `errors` (a string, or an object with a `message`); else the body's text if short.
pub fn message(body: &[u8]) -> Option<String> {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => ["message", "detail", "errorText", "title"]
            .iter()
            .find_map(|k| v.get(k).and_then(|m| m.as_str()).filter(|m| !m.is_empty()).map(str::to_owned))
            .or_else(|| {
                let errors = v.get("errors")?;
                let first = errors.as_array().and_then(|a| a.first()).unwrap_or(errors);
                first.as_str().or_else(|| first.get("message")?.as_str()).map(str::to_owned)
            })?,
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let text: String = text.chars().filter(|c| !c.is_control()).take(MAX_MESSAGE).collect();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_each_marketplace() {
        assert_eq!(
            message(br#"{"code":8,"message":"You have reached request rate limit per second","details":[]}"#).unwrap(),
            "You have reached request rate limit per second"
        );
        assert_eq!(
            message(br#"{"status":"ERROR","errors":[{"code":"UNAUTHORIZED","message":"Api-Key token is invalid"}]}"#)
                .unwrap(),
            "Api-Key token is invalid"
        );
        assert_eq!(message(br#"{"title":"unauthorized","detail":"token expired"}"#).unwrap(), "token expired");
        assert_eq!(message(br#"{"errors":["bad dateFrom"]}"#).unwrap(), "bad dateFrom");
        assert_eq!(message(b"Bad Gateway").unwrap(), "Bad Gateway");
        assert_eq!(message(b"").as_deref(), None);
        assert_eq!(message(&vec![b'x'; 10_000]).unwrap().len(), MAX_MESSAGE);
    }

    fn failure(status: u16, response: &Response) -> Failure<'_> {
        Failure { status, message: "m".into(), retry_after_secs: None, response }
    }

    #[test]
    fn statuses_map_to_adapter_errors() {
        let resp = Response { status: 0, headers: Vec::new(), body: Vec::new() };
        assert!(matches!(failure(401, &resp).default_error(None), AdapterError::InvalidCredentials(_)));
        assert!(matches!(failure(403, &resp).default_error(None), AdapterError::InvalidCredentials(_)));
        assert_eq!(
            failure(420, &resp).default_error(Some("r".into())),
            rate_limited(DEFAULT_RETRY_SECS, Some("r".into()))
        );
        assert!(matches!(failure(429, &resp).default_error(None), AdapterError::RateLimited(_)));
        assert!(matches!(failure(503, &resp).default_error(None), AdapterError::Transient(_)));
        assert!(matches!(failure(400, &resp).default_error(None), AdapterError::Upstream(_)));
    }
}
