//! What every API request leaves behind: a tracing span carrying its route,
//! `RequestId` and `UserId` (filled in once the body is read), and metrics of
//! requests by route and reply `Code`, with latency.

use super::reply::Code;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

/// Middleware around each API route.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(request.extensions().get::<MatchedPath>());
    let span = tracing::info_span!("request", route, request_id = Empty, user_id = Empty);

    let response = next.run(request).instrument(span).await;

    let code = response
        .extensions()
        .get::<Code>()
        .map_or("none", |code| code.label());
    metrics::counter!("car_http_requests_total", "route" => route, "code" => code).increment(1);
    metrics::histogram!("car_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The API's routes as static labels: a label is never built from the
/// request itself, which would let clients grow the metrics without bound.
fn route_label(path: Option<&MatchedPath>) -> &'static str {
    match path.map(MatchedPath::as_str) {
        Some("/StartProject") => "/StartProject",
        Some("/StopProject") => "/StopProject",
        Some("/Enqueue") => "/Enqueue",
        Some("/Dequeue") => "/Dequeue",
        _ => "other",
    }
}

/// Records the request's ids on its span, once the body has been read.
///
/// They are recorded as they came (not yet validated): the log formatters
/// write span fields as escaped, quoted values, so a newline in a `UserId`
/// cannot forge a log line.
pub fn record_ids(request_id: Option<&str>, user_id: Option<&str>) {
    let span = tracing::Span::current();
    if let Some(request_id) = request_id {
        span.record("request_id", request_id);
    }
    if let Some(user_id) = user_id {
        span.record("user_id", user_id);
    }
}
