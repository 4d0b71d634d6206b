//! The layer every API route gets ([`GuardLayer`], declared beside the route in the route
//! table with the route's own rate limit): one service that
//!
//! - counts and times the request by its route template (`stock_tracker_requests_total`,
//!   `stock_tracker_request_duration_seconds`, `stock_tracker_errors_total`; [`metrics`]),
//!   including what the two steps below answer;
//! - ends a request that runs past its deadline with a bare 408 (the front turns it into the
//!   `timeout` envelope); the timer is only set once the route has to wait, so an answer ready at
//!   once costs no timer;
//! - turns a panic in the route (handler, extractors, rate limiter) into a bare 500 marked
//!   `panic` ([`error::panic_response`]);
//! - rate-limits the request ([`RouteLimiter`]), unless the route is not limited (health, the
//!   OpenAPI document, Telegram's webhook), and puts the rate-limit fields on the answer.
//!
//! One hand-written service rather than four layers, so that a request is not moved through four
//! futures and its route not boxed four times; and it wraps the handler itself (the route table's
//! `guarded!`), inside the one route axum boxes, so [`GuardLayer::layer`] runs on every request
//! and only clones an `Arc` (docs/BENCHMARKS.md).
//!
//! [`metrics`]: crate::telemetry::metrics

use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::time::Sleep;
use tower::{Layer, Service};

use crate::App;
use crate::error::{self, ErrorCode};
use crate::ratelimit::{Admitted, RateHeaders, RouteLimit, RouteLimiter};
use crate::telemetry::metrics::RouteSeries;

/// See the module docs. Every guard it makes shares its route's state (limiter, metric series).
#[derive(Clone)]
pub struct GuardLayer {
    route: Arc<Route>,
}

impl GuardLayer {
    /// A route with rate limits: the global and tenant (or anonymous) ones, and `route`'s own.
    pub fn limited(app: Arc<App>, timeout: Duration, route: Option<RouteLimit>) -> Self {
        let limiter = Some(RouteLimiter::new(&app, route));
        Self::new(app, timeout, limiter)
    }

    /// A route that no rate limit applies to.
    pub fn unlimited(app: Arc<App>, timeout: Duration) -> Self {
        Self::new(app, timeout, None)
    }

    /// The guard of the 405 a route's path answers to a method it does not serve: the same
    /// metrics, timeout and global, tenant or anonymous limits, but not the route's own limit,
    /// which budgets the route's operation (a login attempt, an invitation), not a wrong method.
    pub fn for_other_methods(&self) -> Self {
        let Route { app, timeout, limiter, .. } = &*self.route;
        match limiter {
            Some(_) => Self::limited(app.clone(), *timeout, None),
            None => Self::unlimited(app.clone(), *timeout),
        }
    }

    fn new(app: Arc<App>, timeout: Duration, limiter: Option<RouteLimiter>) -> Self {
        Self { route: Arc::new(Route { app, timeout, limiter, series: RouteSeries::default() }) }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard { inner, route: self.route.clone() }
    }
}

/// The service of [`GuardLayer`].
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    /// Everything else in one `Arc`: the router clones the guard for every request, and the
    /// answer keeps it until it is counted (one reference count to move instead of three).
    route: Arc<Route>,
}

/// What a guard knows about its route.
struct Route {
    app: Arc<App>,
    timeout: Duration,
    limiter: Option<RouteLimiter>,
    /// This route's usual metric series.
    series: RouteSeries,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let seen = Seen {
            route: self.route.clone(),
            endpoint: req.extensions().get::<MatchedPath>().cloned(),
            method: req.method().clone(),
            started: Instant::now(),
        };
        let route = &*self.route;
        let called = catch_unwind(AssertUnwindSafe(|| match &route.limiter {
            Some(limiter) => limiter.admit(&route.app, &mut self.inner, req, seen.started),
            None => Admitted::Called { inner: self.inner.call(req), headers: None },
        }));
        let state = match called {
            Ok(Admitted::Called { inner, headers }) => State::Running { inner, headers },
            Ok(Admitted::Waiting(decided)) => State::Waiting { decided },
            Ok(Admitted::Refused(res)) => State::Done { res: Some(res) },
            Err(panic) => State::Done { res: Some(error::panic_response(panic)) },
        };
        GuardFuture { state, sleep: None, seen: Some(seen) }
    }
}

/// What the metrics need once the answer is there.
struct Seen {
    route: Arc<Route>,
    endpoint: Option<MatchedPath>,
    method: Method,
    started: Instant,
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] inner: F, headers: Option<RateHeaders> },
        Waiting { decided: Pin<Box<dyn Future<Output = Response> + Send>> },
        Done { res: Option<Response> },
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Guard`], counted when it is ready.
    pub struct GuardFuture<F> {
        #[pin]
        state: State<F>,
        #[pin]
        sleep: Option<Sleep>,
        seen: Option<Seen>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for GuardFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let polled = match this.state.project() {
            StateProj::Done { res } => Ok(Poll::Ready(res.take().expect("GuardFuture polled after completion"))),
            StateProj::Running { inner, headers } => catch_unwind(AssertUnwindSafe(|| {
                inner.poll(cx).map(|res| {
                    let Ok(mut res) = res;
                    if let Some(headers) = headers.take() {
                        headers.apply(res.headers_mut());
                    }
                    res
                })
            })),
            StateProj::Waiting { decided } => catch_unwind(AssertUnwindSafe(|| decided.as_mut().poll(cx))),
        };
        let res = match polled {
            Ok(Poll::Ready(res)) => res,
            Err(panic) => error::panic_response(panic),
            Ok(Poll::Pending) => {
                let seen = this.seen.as_ref().expect("GuardFuture polled after completion");
                if this.sleep.is_none() {
                    let deadline = seen.started + seen.route.timeout;
                    this.sleep.set(Some(tokio::time::sleep_until(deadline.into())));
                }
                let sleep = this.sleep.as_pin_mut().expect("set above");
                if sleep.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                StatusCode::REQUEST_TIMEOUT.into_response()
            }
        };
        let seen = this.seen.take().expect("GuardFuture polled after completion");
        let endpoint = seen.endpoint.as_ref().map_or("unmatched", MatchedPath::as_str);
        let code = res.extensions().get::<ErrorCode>().map(|c| c.0);
        let took = seen.started.elapsed();
        seen.route.app.metrics.observe_route(&seen.route.series, &seen.method, endpoint, res.status(), code, took);
        Poll::Ready(Ok(res))
    }
}
