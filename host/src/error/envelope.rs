//! The outermost middleware ([`EnvelopeLayer`]): gives every request an id (`X-Request-Id`: the
//! client's when it is a plausible one, else a new UUIDv7), sets it on the request, the answer and
//! the task (for error bodies and logs), and turns any 4xx/5xx that is not already a JSON
//! envelope (unknown route, wrong method, timeout, caught panic) into one.
//!
//! A hand-written `tower` service rather than an `axum::middleware::from_fn` function, so that a
//! request does not box a future and a copy of the stack below it (docs/BENCHMARKS.md).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::{REQUEST_ID, REQUEST_ID_HEADER, bare_error, envelope_response};

/// See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvelopeLayer;

impl<S> Layer<S> for EnvelopeLayer {
    type Service = Envelope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Envelope { inner }
    }
}

/// The service of [`EnvelopeLayer`].
#[derive(Debug, Clone)]
pub struct Envelope<S> {
    inner: S,
}

impl<S, B> Service<Request> for Envelope<S>
where
    S: Service<Request, Response = Response<B>, Error = Infallible>,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EnvelopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .filter(|v| {
                let v = v.as_bytes();
                !v.is_empty() && v.len() <= 64 && v.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            })
            .cloned()
            .unwrap_or_else(new_request_id);
        req.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
        // The layers below may answer in `call` already (the rate limiter does): the id is on
        // the task then too, not only while the answer is polled.
        let inner = REQUEST_ID.sync_scope(id.clone(), || self.inner.call(req));
        EnvelopeFuture { inner: REQUEST_ID.scope(id.clone(), inner), id: Some(id) }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Envelope`].
    pub struct EnvelopeFuture<F> {
        #[pin]
        inner: TaskLocalFuture<HeaderValue, F>,
        id: Option<HeaderValue>,
    }
}

impl<F, B> Future for EnvelopeFuture<F>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx))?;
        let id = this.id.take().expect("EnvelopeFuture polled after completion");
        Poll::Ready(Ok(finish(res.map(Body::new), id)))
    }
}

/// The answer with its id, and in the envelope if it is an error without one.
fn finish(mut res: Response, id: HeaderValue) -> Response {
    let status = res.status();
    let is_json =
        res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let (code, message) = bare_error(status);
        let text = id.to_str().unwrap_or_default();
        if status.is_server_error() {
            tracing::error!(request_id = %text, status = status.as_u16(), "request failed without an error body");
        }
        let headers = std::mem::take(res.headers_mut());
        res = envelope_response(status, code, message, None, Some(text));
        for (name, value) in headers.iter().filter(|(n, _)| *n != header::CONTENT_TYPE && *n != header::CONTENT_LENGTH)
        {
            res.headers_mut().append(name, value.clone());
        }
    }
    res.headers_mut().insert(REQUEST_ID_HEADER, id);
    res
}

/// A UUIDv7 from the thread's RNG: `Uuid::now_v7` would ask the kernel for random bytes (a
/// system call) on every request.
fn new_request_id() -> HeaderValue {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut random = [0u8; 10];
    rand::fill(&mut random);
    let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
    HeaderValue::from_str(uuid.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer())).expect("a UUID is ASCII")
}
