//! The OpenAPI 3 document of the API, served at `GET /openapi.json`.
//!
//! Paths come from the `#[utoipa::path]` attributes on the handlers, replies
//! from the reply types themselves. The handlers read their fields from
//! [`Fields`](super::fields::Fields) rather than from typed bodies (the Sign
//! must see every field as sent), so the request bodies are described by the
//! types below. `tests/api/openapi.rs` keeps the two in step: it builds
//! requests from this document and checks that the service requires exactly
//! the fields the document calls required, within the documented lengths.

use super::reply::{CloudErrorReply, QueueData, Reply, SessionDescribe};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "car_server",
        description = "The business backend for Tencent Cloud Application Cloud Rendering (CAR). \
Every reply is HTTP 200 with a JSON object whose `Code` says the outcome:\n\n\
| Code | meaning |\n| --- | --- |\n\
| 0 | success |\n\
| 10000 | Sign does not match |\n\
| 10001 | a required parameter is missing or invalid (also an unparseable or oversized body) |\n\
| 10002 | internal error (e.g. the queue store is unreachable) |\n\
| 10100 | still queued; poll again |\n\
| 10101 | queue done: call StartProject now |\n\
| 10200 | CreateSession failed |\n\
| 10201 | DestroySession failed |\n\
| 10202 | ApplyConcurrent failed |\n\n\
Bodies may be JSON or forms. With API_SIGN=Y every request carries `Sign`: the lowercase hex \
SHA-256 of every other field's value, concatenated in byte order of the field names, followed \
by the salt. With SIGN_MAX_AGE set, a signed `Timestamp` (unix seconds) is required too."
    ),
    paths(
        super::project::start_project,
        super::project::stop_project,
        super::queue::enqueue,
        super::queue::dequeue,
    ),
    components(schemas(
        StartProjectBody,
        StopProjectBody,
        EnqueueBody,
        DequeueBody,
        Reply,
        SessionDescribe,
        QueueData,
        CloudErrorReply
    ))
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serialises")
}

// The request body types only describe the API; nothing reads their fields.
#[allow(dead_code)]
mod bodies {
    use super::*;

    /// Fields of `POST /StartProject`.
    #[derive(Deserialize, ToSchema)]
    #[serde(rename_all = "PascalCase")]
    pub struct StartProjectBody {
        /// The business's id for the user; different users need different ids.
        #[schema(max_length = 128, example = "user-1")]
        pub user_id: String,
        /// The CAR project (`cap-…`).
        #[schema(max_length = 128, example = "cap-demo")]
        pub project_id: String,
        /// The application (`app-…`), for projects shared by several applications.
        #[schema(max_length = 128, example = "app-1")]
        pub application_id: Option<String>,
        /// The application version (`ver-…`).
        #[schema(max_length = 128, example = "ver-1")]
        pub application_version_id: Option<String>,
        /// From `TCGSDK.getClientSession()`. Not required with `RunMode=RunWithoutClient`.
        #[schema(example = "eyJjbGllbnQiOiJkZW1vIn0=")]
        pub client_session: String,
        /// `RunWithoutClient` keeps the application running without a client.
        #[schema(max_length = 64, example = "RunWithoutClient")]
        pub run_mode: Option<String>,
        /// Start-up parameters for the application.
        #[schema(max_length = 4096, example = "-fullscreen")]
        pub application_parameters: Option<String>,
        /// Multiplayer: the host's UserId.
        #[schema(max_length = 128, example = "user-0")]
        pub host_user_id: Option<String>,
        /// Multiplayer: `Player` or `Viewer`.
        #[schema(max_length = 64, example = "Player")]
        pub role: Option<String>,
        /// The caller's id for the request, echoed in the reply.
        #[schema(max_length = 128, example = "req-1")]
        pub request_id: Option<String>,
        /// The request signature; required with API_SIGN=Y.
        pub sign: Option<String>,
    }

    /// Fields of `POST /StopProject`.
    #[derive(Deserialize, ToSchema)]
    #[serde(rename_all = "PascalCase")]
    pub struct StopProjectBody {
        /// The user whose session ends.
        #[schema(max_length = 128, example = "user-1")]
        pub user_id: String,
        /// The caller's id for the request, echoed in the reply.
        #[schema(max_length = 128, example = "req-1")]
        pub request_id: Option<String>,
        /// The request signature; required with API_SIGN=Y.
        pub sign: Option<String>,
    }

    /// Fields of `POST /Enqueue`.
    #[derive(Deserialize, ToSchema)]
    #[serde(rename_all = "PascalCase")]
    pub struct EnqueueBody {
        /// The waiting user.
        #[schema(max_length = 128, example = "user-1")]
        pub user_id: String,
        /// The project whose line to wait in.
        #[schema(max_length = 128, example = "cap-demo")]
        pub project_id: String,
        /// Passed to ApplyConcurrent on the user's turn.
        #[schema(max_length = 128, example = "app-1")]
        pub application_id: Option<String>,
        /// Passed to ApplyConcurrent on the user's turn.
        #[schema(max_length = 128, example = "ver-1")]
        pub application_version_id: Option<String>,
        /// The caller's id for the request, echoed in the reply.
        #[schema(max_length = 128, example = "req-1")]
        pub request_id: Option<String>,
        /// The request signature; required with API_SIGN=Y.
        pub sign: Option<String>,
    }

    /// Fields of `POST /Dequeue`.
    #[derive(Deserialize, ToSchema)]
    #[serde(rename_all = "PascalCase")]
    pub struct DequeueBody {
        /// The user leaving the line.
        #[schema(max_length = 128, example = "user-1")]
        pub user_id: String,
        /// The caller's id for the request, echoed in the reply.
        #[schema(max_length = 128, example = "req-1")]
        pub request_id: Option<String>,
        /// The request signature; required with API_SIGN=Y.
        pub sign: Option<String>,
    }
}

pub use bodies::{DequeueBody, EnqueueBody, StartProjectBody, StopProjectBody};
