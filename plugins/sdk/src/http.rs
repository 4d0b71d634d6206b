//! Outbound HTTP through the host. The host decides whether the origin is allowed, follows
//! redirects (re-checking each), applies timeouts and a response size cap.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AdapterError;
pub use crate::bindings::stock_tracker::marketplace::http::{HttpError, Request, Response, SpooledResponse};

/// Sends a request; the whole body comes back in memory.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    crate::bindings::stock_tracker::marketplace::http::send(request)
}

/// Sends a request whose body the host keeps, to be read in pieces ([`crate::spool`]).
pub fn send_spooled(request: &Request) -> Result<SpooledResponse, HttpError> {
    crate::bindings::stock_tracker::marketplace::http::send_spooled(request)
}

/// Up to `max_bytes` of a spooled body from `offset` (empty at the end).
pub fn read_spooled(body_id: &str, offset: u64, max_bytes: u32) -> Result<Vec<u8>, HttpError> {
    crate::bindings::stock_tracker::marketplace::http::read_spooled(body_id, offset, max_bytes)
}

impl SpooledResponse {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A request with a JSON body (or none) and the given headers.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], json: Option<&impl Serialize>) -> Request {
    let mut all: Vec<(String, String)> = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let body = json.map(|b| {
        all.push(("content-type".into(), "application/json".into()));
        serde_json::to_vec(b).expect("request bodies serialize")
    });
    all.push(("accept".into(), "application/json".into()));
    Request { method: method.to_owned(), url: url.to_owned(), headers: all, body }
}

impl Response {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or `upstream` naming what failed to parse.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, AdapterError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| AdapterError::Upstream(format!("unexpected response body (status {}): {e}", self.status)))
    }
}

/// Timeouts and broken connections are `transient` (worth retrying); the rest are not.
impl From<HttpError> for AdapterError {
    fn from(err: HttpError) -> Self {
        match err {
            HttpError::Denied(origin) => AdapterError::Unsupported(format!("host denied the request: {origin}")),
            HttpError::Timeout => AdapterError::Transient("request timed out".into()),
            HttpError::Connection(e) => AdapterError::Transient(format!("connection failed: {e}")),
            HttpError::TooLarge => {
                AdapterError::Upstream("response larger than the host allows (PLUGIN_MAX_RESPONSE_MB)".into())
            }
            HttpError::InvalidRequest(e) => AdapterError::Internal(format!("invalid request: {e}")),
        }
    }
}
