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
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use hyper::body::Incoming;
use reply::{Code, out_of_band};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

pub use project::StartProjectRequest;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiContext {
    pub settings: Arc<Settings>,
    pub cloud: CarClient,
    pub queue: Queue,
}

/// The whole API as one service: CORS, then the request timeout, then the
/// routes.
///
/// The two outer layers wrap the router once, as plain tower services,
/// rather than through `Router::layer`, which wraps every route in a boxed,
/// per-request-cloned service of its own: on the Enqueue poll that cost more
/// instructions than the queue itself.
pub type Api = Cors<RequestTimeout>;

/// The whole API, ready to serve.
pub fn router(context: ApiContext) -> Api {
    let routes = Router::new()
        .route("/StartProject", post(project::start_project))
        .route("/StopProject", post(project::stop_project))
        .route("/Enqueue", post(queue::enqueue))
        .route("/Dequeue", post(queue::dequeue))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .with_state(context.clone());

    let timeout = RequestTimeout {
        routes,
        limit: context.settings.http.request_timeout,
    };
    cors(&context.settings.http.cors_origins).layer(timeout)
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
/// slow to send its body or waiting on the cloud. Inside the CORS layer, so
/// that a browser can read that answer too.
#[derive(Clone)]
pub struct RequestTimeout {
    routes: Router,
    limit: Duration,
}

impl Service<Request<Incoming>> for RequestTimeout {
    type Response = Response;
    type Error = Infallible;
    type Future = Timed<<Router as Service<Request<Incoming>>>::Future>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        Timed {
            request: tokio::time::timeout(self.limit, self.routes.call(request)),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request racing its deadline.
    pub struct Timed<F> {
        #[pin]
        request: tokio::time::Timeout<F>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Timed<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match ready!(self.project().request.poll(cx)) {
            Ok(answered) => Poll::Ready(answered),
            Err(_elapsed) => Poll::Ready(Ok(out_of_band(
                StatusCode::OK,
                Code::Internal,
                "internal error: the request took longer than the service allows",
            ))),
        }
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
