//! A webhook receiver on loopback for the tests, with its own implementation of the Standard
//! Webhooks verification (not the host's): it records every request and can be told to answer
//! with failures, `410 Gone` or a redirect.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200.
    Up,
    /// This status, e.g. 503 (down) or 410 (gone).
    Status(u16),
    /// 302 to another path of the receiver.
    Redirect,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: String,
    /// The status the receiver answered.
    pub answered: u16,
    /// When it arrived.
    pub at: std::time::Instant,
}

#[derive(Default)]
struct State {
    mode: Option<Mode>,
    received: Vec<Received>,
}

/// The running receiver.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State { mode: Some(Mode::Up), received: Vec::new() }));
        let shared = state.clone();
        let router = Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move { receive(&state, uri.path(), &headers, &body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, state, task }
    }

    /// The URL of `path` on the receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

fn receive(state: &Mutex<State>, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut state = state.lock().unwrap();
    let mode = state.mode.unwrap_or(Mode::Up);
    let answered = match mode {
        Mode::Up => 200,
        Mode::Status(code) => code,
        Mode::Redirect => 302,
    };
    state.received.push(Received {
        path: path.to_owned(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(body).into_owned(),
        answered,
        at: std::time::Instant::now(),
    });
    let status = StatusCode::from_u16(answered).unwrap();
    match mode {
        Mode::Redirect => (status, [("location", "/elsewhere")], "moved").into_response(),
        _ => (status, "x".repeat(2000)).into_response(),
    }
}

/// The spec's `v1` signature: base64 of HMAC-SHA256 keyed with the base64-decoded part of
/// `whsec_…`, over `{id}.{timestamp}.{body}`.
pub fn sign_v1(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").expect("a whsec_ secret")).expect("base64 secret");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Verifies a received request with `secret` the way a receiver must: the timestamp within five
/// minutes, and one of the space-separated signatures equal (in constant time) to the expected.
pub fn verify(secret: &str, r: &Received) -> Result<(), String> {
    let ts: i64 = r.timestamp.parse().map_err(|_| format!("bad timestamp `{}`", r.timestamp))?;
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return Err("timestamp outside the tolerance".into());
    }
    if r.id.is_empty() || r.id.contains('.') {
        return Err(format!("bad webhook-id `{}`", r.id));
    }
    let expected = sign_v1(secret, &r.id, &r.timestamp, r.body.as_bytes());
    let matches = r.signature.split(' ').any(|candidate| {
        candidate.len() == expected.len()
            && candidate.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if matches { Ok(()) } else { Err(format!("no signature of `{}` matches", r.signature)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_test_vector() {
        assert_eq!(
            sign_v1(
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                "1649367553",
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }
}
