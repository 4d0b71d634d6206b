//! The checker's proxy between the plugin and the marketplace (a fake): it forwards every
//! request, counts them, and answers the next one with a failure when told to, so the check can
//! see how the adapter maps the marketplace's rate-limit and outage answers.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// What to answer the next request with instead of forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inject {
    /// The marketplace's own rate-limit answer, saying to wait 1 s.
    RateLimit,
    /// 503 Service Unavailable.
    Outage,
}

struct State {
    /// The upstream base URL and the marketplace whose answers to imitate.
    target: Mutex<(String, String)>,
    client: reqwest::Client,
    inject: Mutex<Option<Inject>>,
    requests: AtomicU64,
}

/// A running proxy; stops when dropped.
pub(super) struct Proxy {
    running: fake_marketplaces::Running,
    state: Arc<State>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1; it forwards once [`Proxy::set_target`] says where.
    pub(super) async fn start() -> anyhow::Result<Self> {
        let state = Arc::new(State {
            target: Mutex::new((String::new(), String::new())),
            client: {
                crate::plugins::egress::ensure_tls_provider();
                reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?
            },
            inject: Mutex::new(None),
            requests: AtomicU64::new(0),
        });
        let shared = state.clone();
        let router = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move { forward(&state, method, uri, headers, body).await }
        });
        let running = fake_marketplaces::serve(0, router).await?;
        Ok(Self { running, state })
    }

    /// `http://127.0.0.1:<port>`: the base URL the plugin is given.
    pub(super) fn base_url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    /// Forwards to `upstream` (a base URL), imitating `marketplace`'s refusals.
    pub(super) fn set_target(&self, upstream: &str, marketplace: &str) {
        *self.state.target.lock().unwrap() = (upstream.trim_end_matches('/').to_owned(), marketplace.to_owned());
    }

    /// Answers the next request with `inject`.
    pub(super) fn inject_next(&self, inject: Inject) {
        *self.state.inject.lock().unwrap() = Some(inject);
    }

    /// Drops an injected answer no request took.
    pub(super) fn inject_next_cancel(&self) {
        self.state.inject.lock().unwrap().take();
    }

    /// Whether an injected answer is still waiting for a request.
    pub(super) fn pending(&self) -> bool {
        self.state.inject.lock().unwrap().is_some()
    }

    /// Requests that reached the proxy.
    pub(super) fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }
}

async fn forward(state: &State, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let (upstream, marketplace) = state.target.lock().unwrap().clone();
    if let Some(inject) = state.inject.lock().unwrap().take() {
        return injected(&marketplace, inject);
    }
    let url = format!("{upstream}{}", uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut request = state.client.request(method, url).body(body);
    for (name, value) in &headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(resp) => {
            let status = resp.status();
            let mut out = HeaderMap::new();
            for (name, value) in resp.headers() {
                if !matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
                    out.append(name, value.clone());
                }
            }
            let bytes = resp.bytes().await.unwrap_or_default();
            let mut answer = Response::new(Body::from(bytes));
            *answer.status_mut() = status;
            *answer.headers_mut() = out;
            answer
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("plugin check proxy: the upstream failed: {e}")).into_response(),
    }
}

/// The marketplace's rate-limit answer as its API sends it (WB: 429 `X-Ratelimit-Retry`; Ozon:
/// 429 code 8; Yandex Market: 420 `X-RateLimit-Resource-Until`; others: 429 `Retry-After`),
/// or an outage.
fn injected(marketplace: &str, inject: Inject) -> Response {
    let json = |status: StatusCode, body: serde_json::Value| (status, axum::Json(body)).into_response();
    if inject == Inject::Outage {
        return json(StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({ "message": "Service Unavailable" }));
    }
    let too_many = StatusCode::TOO_MANY_REQUESTS;
    let mut resp = match marketplace {
        "wildberries" => {
            let mut r = json(
                too_many,
                serde_json::json!({ "title": "too many requests", "detail": "Limited by global limiter", "status": 429 }),
            );
            r.headers_mut().insert("x-ratelimit-retry", HeaderValue::from_static("1"));
            r.headers_mut().insert("x-ratelimit-limit", HeaderValue::from_static("1"));
            r.headers_mut().insert("x-ratelimit-reset", HeaderValue::from_static("1"));
            r
        }
        "ozon" => json(
            too_many,
            serde_json::json!({ "code": 8, "message": "You have reached request rate limit per second", "details": [] }),
        ),
        "yandex_market" => {
            let mut r = json(
                StatusCode::from_u16(420).expect("420 is a status code"),
                serde_json::json!({ "status": "ERROR", "errors": [{ "code": "HIT_RATE_LIMIT", "message": "Hit rate limit of '1' requests per '1 second'" }] }),
            );
            let until = httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(1));
            if let Ok(v) = HeaderValue::from_str(&until) {
                r.headers_mut().insert("x-ratelimit-resource-until", v);
            }
            r
        }
        _ => {
            let mut r = json(
                too_many,
                serde_json::json!({ "error": { "code": "rate_limited", "message": "too many requests" } }),
            );
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            r
        }
    };
    resp.headers_mut().insert("x-stock-tracker-check", HeaderValue::from_static("injected"));
    resp
}
