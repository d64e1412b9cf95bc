//! The HTTP API: the router, its shared state, and what every request passes
//! through.
//!
//! A request goes, outside in: CORS (which answers every `OPTIONS` itself) →
//! [`observe::Observed`] (the request timeout; for the API endpoints a span
//! and metrics) → the route. An API handler's last extractor,
//! [`fields::Fields`], reads the body (or answers 10001) and checks its
//! `Sign` (10000/10001 when `API_SIGN=Y`, see [`sign`]).
//!
//! Beside the API, [`ops`] serves `/healthz`, `/readyz`, `/metrics` and
//! `/openapi.json`.

pub mod client_ip;
pub mod fields;
mod observe;
pub mod openapi;
mod ops;
mod project;
mod queue;
pub mod reply;
pub mod sign;

use crate::cloud::CarClient;
use crate::config::{CorsOrigins, Settings};
use crate::domain::ProjectId;
use crate::queue::Queue;
use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use reply::{ApiError, Code, out_of_band};
use std::sync::Arc;
use tower::Layer;
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

// Each endpoint's field checks, pure functions of the parsed fields, are
// public so that the fuzz target (`fuzz/`) can drive them without a server.
pub use project::{StartProjectRequest, stop_request};
pub use queue::{dequeue_request, enqueue_request};

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiContext {
    pub settings: Arc<Settings>,
    pub cloud: CarClient,
    pub queue: Queue,
}

impl ApiContext {
    /// Refuses a project this service does not serve (`PROJECTS`), before
    /// anything reaches the queue or the cloud.
    fn check_project(&self, project_id: &ProjectId) -> Result<(), ApiError> {
        if self.settings.projects.allows(project_id.as_str()) {
            Ok(())
        } else {
            Err(ApiError::BadParameter(format!(
                "ProjectId {project_id} is not served here"
            )))
        }
    }
}

/// The whole service as one tower service: CORS, then [`observe::Observed`],
/// then the routes. Both wrap the router once, as plain services, rather
/// than through `Router::layer`, which wraps every route in a boxed,
/// per-request-cloned service of its own.
pub type Api = Cors<observe::Observed>;

/// The whole API, ready to serve.
pub fn router(context: ApiContext) -> Api {
    let routes = Router::new()
        .route("/StartProject", post(project::start_project))
        .route("/StopProject", post(project::stop_project))
        .route("/Enqueue", post(queue::enqueue))
        .route("/Dequeue", post(queue::dequeue))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .with_state(context.clone());

    let observed = observe::Observed::new(routes, context.settings.http.request_timeout);
    cors(&context.settings.http.cors_origins).layer(observed)
}

fn cors(origins: &CorsOrigins) -> CorsLayer {
    let allow_origin = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin.trim_end_matches('/')).ok()),
        ),
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600))
}

async fn unknown_path() -> Response {
    out_of_band(
        StatusCode::NOT_FOUND,
        Code::BadParameter,
        "unknown path: the API is POST /StartProject, /StopProject, /Enqueue, /Dequeue",
    )
}

async fn wrong_method() -> Response {
    out_of_band(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::BadParameter,
        "wrong method for this path: the API endpoints take POST, /healthz, /readyz, /metrics and /openapi.json take GET",
    )
}
