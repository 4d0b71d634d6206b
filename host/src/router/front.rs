//! The service every request passes first ([`Front`]), around the whole router: one service
//! instead of a stack of layers, and wrapped around the router once instead of around each route
//! (`Router::layer` boxes its layer per route, and every request clones that box). In order:
//!
//! 1. the request id ([`error::request_id`]), set on the answer and the task (for error bodies and
//!    logs), and on the request when Sentry is on (its events keep the request's `X-Request-Id`);
//!    the task also gets the time the request arrived, the one reading of the wall clock that the
//!    id and the rate limiter share ([`error::arrived_ms`]);
//! 2. the body limit every route gets unless its own is larger ([`MAX_BODY_BYTES`]), on requests
//!    that have a body;
//! 3. a `request` span (debug level, as `tower-http`'s tracing layer made one: method, URI,
//!    version, and the request id), entered whenever the request is worked on;
//! 4. compression of the answer (gzip when the client accepts it): only a request that names
//!    encodings goes through `tower-http`'s compression; without `Accept-Encoding` the answer is
//!    the identity anyway and nothing wraps it;
//! 5. a panic anywhere below becomes a 500 (routes have their own catcher,
//!    [`super::guard`]: this one covers the router itself);
//! 6. any 4xx/5xx that is not already a JSON envelope (unknown route, wrong method, timeout,
//!    caught panic) becomes one ([`error::enveloped`]); a 5xx is logged at error level.
//!
//! There is no timeout here: every route has its own ([`super::guard`]), and what no route
//! matches is answered without waiting for anything.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header;
use axum::response::Response;
use tokio::task::futures::TaskLocalFuture;
use tower::Service;
use tower_http::compression::Compression;

use crate::api::MAX_BODY_BYTES;
use crate::error::{self, Arrival, REQUEST};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Front<S> {
    inner: S,
    /// Whether the id also goes onto the request's headers (for Sentry's record of the request;
    /// nothing else reads it there, and a header more costs a hash and an insert).
    id_on_request: bool,
}

impl<S> Front<S> {
    pub fn new(inner: S, id_on_request: bool) -> Self {
        Self { inner, id_on_request }
    }
}

impl<S> Service<Request> for Front<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = FrontFuture<S, S::Future, <Compression<S> as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let at_ms = crate::ratelimit::epoch_millis(std::time::SystemTime::now());
        let id = error::request_id(req.headers(), at_ms);
        if self.id_on_request {
            req.headers_mut().insert(error::REQUEST_ID_HEADER, id.clone());
        }
        if !axum::body::HttpBody::is_end_stream(req.body()) {
            // Only a body can be too large (and a request's extensions map is not cheap to grow).
            DefaultBodyLimit::max(MAX_BODY_BYTES).apply(&mut req);
        }
        // Checked first: with `tracing`'s `log` feature (which axum's defaults turn on) a disabled
        // span still formats its fields for the `log` crate.
        let span = if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug_span!(
                "request",
                method = %req.method(),
                uri = %req.uri(),
                version = ?req.version(),
                request_id = ?id,
            )
        } else {
            tracing::Span::none()
        };
        let compress = req.headers().contains_key(header::ACCEPT_ENCODING);
        // The router is called when the answer is first polled, inside the span and with the id
        // on the task (the layers below may answer at once: the rate limiter's 429 carries the
        // id). The router is always ready, so its clone may be called then.
        let inner = self.inner.clone();
        let answer = Answer::Waiting { call: Some((inner, req, compress)) };
        FrontFuture { inner: REQUEST.scope(Arrival { id, at_ms }, answer), span }
    }
}

pin_project_lite::pin_project! {
    /// The answer below [`Front`]: not asked for yet, plain, through compression, or a panic.
    #[project = AnswerProj]
    pub enum Answer<S, F, C> {
        Waiting { call: Option<(S, Request, bool)> },
        Plain { #[pin] inner: F },
        Compressed { #[pin] inner: C },
        Panicked { panic: Option<Box<dyn Any + Send>> },
    }
}

impl<S, F, C, B> Future for Answer<S, F, C>
where
    S: Service<Request, Response = Response, Error = Infallible, Future = F>,
    F: Future<Output = Result<Response, Infallible>>,
    Compression<S>: Service<Request, Response = Response<B>, Error = Infallible, Future = C>,
    C: Future<Output = Result<Response<B>, Infallible>>,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        if let AnswerProj::Waiting { call } = self.as_mut().project() {
            let (mut inner, req, compress) = call.take().expect("polled after completion");
            let called = catch_unwind(AssertUnwindSafe(|| {
                if compress {
                    Answer::Compressed { inner: Compression::new(inner).call(req) }
                } else {
                    Answer::Plain { inner: inner.call(req) }
                }
            }));
            self.set(called.unwrap_or_else(|panic| Answer::Panicked { panic: Some(panic) }));
        }
        let polled = match self.project() {
            AnswerProj::Plain { inner } => catch_unwind(AssertUnwindSafe(|| inner.poll(cx))),
            AnswerProj::Compressed { inner } => {
                catch_unwind(AssertUnwindSafe(|| inner.poll(cx).map(|r| r.map(|res| res.map(Body::new)))))
            }
            AnswerProj::Panicked { panic } => {
                return Poll::Ready(error::panic_response(panic.take().expect("polled after completion")));
            }
            AnswerProj::Waiting { .. } => unreachable!("called above"),
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(res))) => Poll::Ready(res),
            Err(panic) => Poll::Ready(error::panic_response(panic)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Front`].
    pub struct FrontFuture<S, F, C> {
        #[pin]
        inner: TaskLocalFuture<Arrival, Answer<S, F, C>>,
        span: tracing::Span,
    }
}

impl<S, F, C, B> Future for FrontFuture<S, F, C>
where
    S: Service<Request, Response = Response, Error = Infallible, Future = F>,
    F: Future<Output = Result<Response, Infallible>>,
    Compression<S>: Service<Request, Response = Response<B>, Error = Infallible, Future = C>,
    C: Future<Output = Result<Response<B>, Infallible>>,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        let Poll::Ready(res) = this.inner.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        // The id the answer ran with, back from the task-local slot.
        let id = this.inner.take_value().expect("FrontFuture polled after completion").id;
        let res = error::enveloped(res, id);
        if res.status().is_server_error() {
            let id = res.headers().get(&error::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::error!(request_id = id, status = res.status().as_u16(), "request failed");
        } else {
            tracing::debug!(status = res.status().as_u16(), "finished processing request");
        }
        Poll::Ready(Ok(res))
    }
}
