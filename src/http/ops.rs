//! Endpoints for operators and tooling: health, readiness, metrics and the
//! OpenAPI document. They sit outside the API's layers (no body parsing, no
//! Sign) and answer GET.

use super::ApiContext;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: ready to serve requests, i.e. the queue store answers.
/// 503 while it does not (a load balancer then routes elsewhere).
pub async fn readyz(State(context): State<ApiContext>) -> Response {
    match context.queue.ping().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready: the queue store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": "the queue store does not answer"})),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics_handle().render(),
    )
        .into_response()
}

/// `GET /openapi.json`: the API described in OpenAPI 3.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
        .into_response()
}
