//! The route layer that counts and times every routed request by its route template
//! (`stock_tracker_requests_total`, `stock_tracker_request_duration_seconds`,
//! `stock_tracker_errors_total`; [`super::metrics`]). It sits outside the per-route panic catcher
//! and timeout ([`crate::router`]), so their 500 and 408 are counted too.
//!
//! A hand-written `tower` service rather than an `axum::middleware::from_fn` function, so that a
//! request does not box a future and a copy of its route (docs/BENCHMARKS.md).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use tower::{Layer, Service};

use crate::App;
use crate::error::ErrorCode;

/// See the module docs.
#[derive(Clone)]
pub struct TrackLayer {
    app: Arc<App>,
}

impl TrackLayer {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Track { inner, app: self.app.clone() }
    }
}

/// The service of [`TrackLayer`].
#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    app: Arc<App>,
}

impl<S> Service<Request> for Track<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let endpoint = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        let started = Instant::now();
        TrackFuture { inner: self.inner.call(req), seen: Some((self.app.clone(), endpoint, method, started)) }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Track`], counted when it is ready.
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        seen: Option<(Arc<App>, Option<MatchedPath>, Method, Instant)>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for TrackFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx))?;
        let (app, endpoint, method, started) = this.seen.take().expect("TrackFuture polled after completion");
        let endpoint = endpoint.as_ref().map_or("unmatched", MatchedPath::as_str);
        let code = res.extensions().get::<ErrorCode>().map(|c| c.0);
        app.metrics.observe(method.as_str(), endpoint, res.status(), code, started.elapsed());
        Poll::Ready(Ok(res))
    }
}
