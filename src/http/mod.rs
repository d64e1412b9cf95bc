//! The HTTP API: the router, its shared state, and the layers every request
//! passes through.
//!
//! A request to one of the four endpoints goes, outside in: CORS (which
//! answers every `OPTIONS` itself) → request timeout → the handler, whose
//! [`fields::Fields`] extractor reads the body (or answers 10001) and checks
//! its `Sign` (10000/10001 when `API_SIGN=Y`).

pub mod client_ip;
pub mod fields;
mod project;
mod queue;
pub mod reply;
pub mod sign;

use crate::cloud::CarClient;
use crate::config::{CorsOrigins, Settings};
use crate::queue::Queue;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use reply::{Code, out_of_band};
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use project::StartProjectRequest;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiContext {
    pub settings: Arc<Settings>,
    pub cloud: CarClient,
    pub queue: Queue,
}

/// The whole API, ready to serve.
pub fn router(context: ApiContext) -> Router {
    let api = Router::new()
        .route("/StartProject", post(project::start_project))
        .route("/StopProject", post(project::stop_project))
        .route("/Enqueue", post(queue::enqueue))
        .route("/Dequeue", post(queue::dequeue));

    Router::new()
        .merge(api)
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(
            context.clone(),
            request_timeout,
        ))
        .layer(cors(&context.settings.http.cors_origins))
        .with_state(context)
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

/// Answers 10002 when a request outlives `REQUEST_TIMEOUT`, whether it was
/// slow to send its body or waiting on the cloud.
async fn request_timeout(
    State(context): State<ApiContext>,
    request: Request,
    next: Next,
) -> Response {
    let limit = context.settings.http.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => out_of_band(
            StatusCode::OK,
            Code::Internal,
            "internal error: the request took longer than the service allows",
        ),
    }
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
        "wrong method: the API takes POST",
    )
}
