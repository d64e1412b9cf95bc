//! What every request goes through around the routes: its deadline
//! (`REQUEST_TIMEOUT`), and for the four API endpoints a tracing span
//! carrying the route, `RequestId` and `UserId` (filled in once the body is
//! read), and metrics of requests by route and reply `Code`, with latency.
//!
//! A plain tower service wrapping the router once, rather than middleware
//! layered route by route: each `from_fn` or `Router::layer` layer costs
//! every request boxed futures and clones of the inner route, which on the
//! Enqueue poll came to more instructions than the queue itself.

use super::reply::{Code, out_of_band};
use axum::Router;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use hyper::body::Incoming;
use metrics::{Counter, Histogram};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tower::Service;
use tracing::Span;
use tracing::field::Empty;

/// The routes, each request under its deadline and observed.
#[derive(Clone)]
pub struct Observed {
    routes: Router,
    /// `REQUEST_TIMEOUT`: past it the request answers 10002.
    limit: Duration,
}

impl Observed {
    pub fn new(routes: Router, limit: Duration) -> Self {
        Self { routes, limit }
    }
}

impl Service<Request<Incoming>> for Observed {
    type Response = Response;
    type Error = Infallible;
    type Future = Observing<<Router as Service<Request<Incoming>>>::Future>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let route = Route::of(request.uri().path());
        // Enqueue polls log nothing at info, so at info their span would
        // cost every poll (a fifth of its instructions: the log formatter
        // renders span fields when they are recorded) for nothing shown; it
        // exists at debug. A poll that does log at info (a user admitted)
        // names the user in the event itself.
        let span = match route {
            Some(Route::Enqueue) => tracing::debug_span!(
                "request",
                route = Route::Enqueue.path(),
                request_id = Empty,
                user_id = Empty
            ),
            Some(route) => tracing::info_span!(
                "request",
                route = route.path(),
                request_id = Empty,
                user_id = Empty
            ),
            None => Span::none(),
        };
        let routed = {
            let _entered = span.enter();
            self.routes.call(request)
        };
        Observing {
            request: tokio::time::timeout(self.limit, routed),
            limit: self.limit,
            span,
            route,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request racing its deadline, inside its span.
    pub struct Observing<F> {
        #[pin]
        request: tokio::time::Timeout<F>,
        limit: Duration,
        span: Span,
        route: Option<Route>,
        started: Instant,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Observing<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outcome = {
            let _entered = this.span.enter();
            ready!(this.request.poll(cx))
        };
        let response = match outcome {
            Ok(Ok(response)) => response,
            Err(_elapsed) => {
                // Whatever the request was waiting for (a cloud call, the
                // queue store) was abandoned and logs nothing of its own.
                let _entered = this.span.enter();
                tracing::warn!(limit = ?this.limit, "request cut off at REQUEST_TIMEOUT, answered 10002");
                out_of_band(
                    StatusCode::OK,
                    Code::Internal,
                    "internal error: the request took longer than the service allows",
                )
            }
        };
        if let Some(route) = this.route {
            let code = response.extensions().get::<Code>().copied();
            record(*route, code, this.started.elapsed());
        }
        Poll::Ready(Ok(response))
    }
}

/// The API's routes, as metric labels: a label is never built from the
/// request itself, which would let clients grow the metrics without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    StartProject,
    StopProject,
    Enqueue,
    Dequeue,
}

impl Route {
    const ALL: [Route; 4] = [
        Route::StartProject,
        Route::StopProject,
        Route::Enqueue,
        Route::Dequeue,
    ];

    fn of(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|route| route.path() == path)
    }

    fn path(self) -> &'static str {
        match self {
            Route::StartProject => "/StartProject",
            Route::StopProject => "/StopProject",
            Route::Enqueue => "/Enqueue",
            Route::Dequeue => "/Dequeue",
        }
    }
}

/// One route's metric handles, registered once: recording through a handle
/// is an atomic add, where the `counter!` macro would look the series up in
/// the registry on every request.
struct RouteMetrics {
    /// Per reply Code, in [`Code::ALL`] order, then replies without a Code.
    requests: Vec<Counter>,
    duration: Histogram,
}

fn record(route: Route, code: Option<Code>, elapsed: Duration) {
    static HANDLES: OnceLock<Vec<RouteMetrics>> = OnceLock::new();
    let handles = HANDLES.get_or_init(|| {
        Route::ALL
            .iter()
            .map(|route| RouteMetrics {
                requests: Code::ALL
                    .iter()
                    .map(|code| code.label())
                    .chain(["none"])
                    .map(|code| {
                        metrics::counter!("car_http_requests_total", "route" => route.path(), "code" => code)
                    })
                    .collect(),
                duration: metrics::histogram!("car_http_request_duration_seconds", "route" => route.path()),
            })
            .collect()
    });

    let metrics = &handles[route as usize];
    let slot = code.map_or(Code::ALL.len(), |code| {
        Code::ALL
            .iter()
            .position(|known| *known == code)
            .unwrap_or(Code::ALL.len())
    });
    metrics.requests[slot].increment(1);
    metrics.duration.record(elapsed.as_secs_f64());
}

/// Records the request's ids on its span, once the body has been read.
///
/// They are recorded as they came (not yet validated): the log formatters
/// write span fields as escaped, quoted values, so a newline in a `UserId`
/// cannot forge a log line.
pub fn record_ids(request_id: Option<&str>, user_id: Option<&str>) {
    let span = Span::current();
    if let Some(request_id) = request_id {
        span.record("request_id", request_id);
    }
    if let Some(user_id) = user_id {
        span.record("user_id", user_id);
    }
}
