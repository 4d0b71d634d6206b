//! A fake Sentry ingest on loopback, speaking the real protocol: `POST /api/{project}/envelope/`
//! with an `X-Sentry-Auth: Sentry sentry_key=…, sentry_version=7, …` header and an envelope body
//! (a JSON header line, then per item a JSON item header and its payload; see
//! <https://develop.sentry.dev/sdk/data-model/envelopes/>). It answers `200 {"id": …}` like
//! Sentry, `401` for a wrong key, and keeps every envelope for the test to inspect.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

/// The public key the fake accepts.
pub const KEY: &str = "testpublickey";
/// The project id in the DSN.
pub const PROJECT: &str = "42";

/// One received envelope.
#[derive(Debug, Clone)]
pub struct Received {
    /// The body exactly as sent (to search for secrets).
    pub raw: Vec<u8>,
    /// The envelope header.
    pub header: Value,
    /// `(item header, payload)`; JSON payloads parsed, others as a string.
    pub items: Vec<(Value, Value)>,
}

/// The running fake.
pub struct FakeSentry {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeSentry {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().route("/api/{project}/envelope/", post(ingest)).with_state(received.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, received, _server: server })
    }

    /// The DSN pointing at this fake.
    pub fn dsn(&self) -> String {
        format!("http://{KEY}@{}/{PROJECT}", self.addr)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("not poisoned").clone()
    }

    /// Every item of type `ty` (`event`, `transaction`, …), payload only.
    pub fn items(&self, ty: &str) -> Vec<Value> {
        self.received()
            .into_iter()
            .flat_map(|r| r.items)
            .filter(|(header, _)| header["type"] == ty)
            .map(|(_, payload)| payload)
            .collect()
    }
}

async fn ingest(
    State(received): State<Arc<Mutex<Vec<Received>>>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let auth = headers.get("x-sentry-auth").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if project != PROJECT || !auth.starts_with("Sentry ") || !auth.contains(&format!("sentry_key={KEY}")) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "detail": "invalid api key" })));
    }
    match parse(&body) {
        Ok(envelope) => {
            let id = envelope.header["event_id"].clone();
            received.lock().expect("not poisoned").push(envelope);
            (StatusCode::OK, axum::Json(json!({ "id": id })))
        }
        Err(problem) => (StatusCode::BAD_REQUEST, axum::Json(json!({ "detail": problem }))),
    }
}

/// Parses an envelope: header line, then items, each a header line and a payload of `length`
/// bytes (or up to the next newline when the header has no length).
pub fn parse(body: &[u8]) -> Result<Received, String> {
    let mut rest = body;
    let header = json_line(&mut rest)?;
    let mut items = Vec::new();
    while !rest.iter().all(u8::is_ascii_whitespace) {
        let item_header = json_line(&mut rest)?;
        let payload = match item_header["length"].as_u64() {
            Some(len) => {
                let len = len as usize;
                if rest.len() < len {
                    return Err(format!("item says {len} bytes, {} left", rest.len()));
                }
                let (payload, tail) = rest.split_at(len);
                rest = tail.strip_prefix(b"\n").unwrap_or(tail);
                payload
            }
            None => take_line(&mut rest),
        };
        let payload = serde_json::from_slice(payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
        items.push((item_header, payload));
    }
    Ok(Received { raw: body.to_vec(), header, items })
}

fn take_line<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = &rest[..end];
    *rest = rest.get(end + 1..).unwrap_or_default();
    line
}

fn json_line(rest: &mut &[u8]) -> Result<Value, String> {
    let line = take_line(rest);
    serde_json::from_slice(line).map_err(|e| format!("bad JSON line: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_items_with_and_without_length() {
        let body = b"{\"event_id\":\"e1\"}\n{\"type\":\"event\",\"length\":10}\n{\"a\":\n\"b\"}\n{\"type\":\"transaction\"}\n{\"name\":\"x\"}\n";
        let env = parse(body).unwrap();
        assert_eq!(env.header["event_id"], "e1");
        assert_eq!(env.items.len(), 2);
        assert_eq!(env.items[0].1["a"], "b", "a payload with a newline inside, read by its length");
        assert_eq!(env.items[1].1["name"], "x");
        assert!(parse(b"{\"event_id\":1}\n{\"type\":\"event\",\"length\":99}\n{}").is_err());
    }
}
