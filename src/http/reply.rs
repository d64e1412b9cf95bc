//! The reply every endpoint gives: `Code`, `Msg`, the echoed `RequestId`, and
//! the endpoint's own object; and the error type whose variants map to codes.
//!
//! Business outcomes, failures included, are HTTP 200: the web pages switch on
//! `Code`, not on the status line.

use crate::cloud::error::CloudError;
use crate::cloud::protocol::Action;
use crate::domain::InvalidField;
use crate::queue::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use utoipa::ToSchema;

/// The reply codes of the API (the seed's table, plus 10002).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    SignMismatch = 10000,
    BadParameter = 10001,
    Internal = 10002,
    Queued = 10100,
    QueueDone = 10101,
    CreateSessionFailed = 10200,
    DestroySessionFailed = 10201,
    ApplyConcurrentFailed = 10202,
}

impl Code {
    pub const ALL: [Code; 9] = [
        Code::Ok,
        Code::SignMismatch,
        Code::BadParameter,
        Code::Internal,
        Code::Queued,
        Code::QueueDone,
        Code::CreateSessionFailed,
        Code::DestroySessionFailed,
        Code::ApplyConcurrentFailed,
    ];

    pub fn number(self) -> u32 {
        self as u32
    }

    /// The number as text, for metric labels.
    pub fn label(self) -> &'static str {
        match self {
            Code::Ok => "0",
            Code::SignMismatch => "10000",
            Code::BadParameter => "10001",
            Code::Internal => "10002",
            Code::Queued => "10100",
            Code::QueueDone => "10101",
            Code::CreateSessionFailed => "10200",
            Code::DestroySessionFailed => "10201",
            Code::ApplyConcurrentFailed => "10202",
        }
    }

    /// The short English `Msg` that goes with the code.
    pub fn message(self) -> &'static str {
        match self {
            Code::Ok => "Ok",
            Code::SignMismatch => "Sign does not match",
            Code::BadParameter => "missing or invalid parameter",
            Code::Internal => "internal error",
            Code::Queued => "queued: poll again",
            Code::QueueDone => "queue done: call StartProject now",
            Code::CreateSessionFailed => "CreateSession failed",
            Code::DestroySessionFailed => "DestroySession failed",
            Code::ApplyConcurrentFailed => "ApplyConcurrent failed",
        }
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.number())
    }
}

/// `SessionDescribe` in a StartProject reply.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SessionDescribe {
    /// Handed to `TCGSDK.start()` in the page.
    pub server_session: String,
    /// The cloud's request id of the CreateSession call.
    pub request_id: String,
}

/// `Data` in an Enqueue reply.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct QueueData {
    /// The user's 0-based place in its project's line; 0 once admitted.
    pub index: u64,
    /// The user, as sent.
    pub user_id: String,
    /// The project whose line it is, as sent.
    pub project_id: String,
}

/// `Error` in a reply to a request the cloud refused.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CloudErrorReply {
    /// The cloud's error code, e.g. `ResourceNotFound.NoIdle`.
    pub code: String,
    /// The cloud's explanation.
    pub message: String,
    /// The cloud's request id, to look the failure up with Tencent Cloud.
    pub request_id: String,
}

/// Every endpoint's reply.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Reply {
    /// The outcome: 0, 10000–10002, 10100/10101, 10200–10202.
    #[schema(value_type = u32, example = 0)]
    pub code: Code,
    /// A short English description of the outcome. (Borrowed for the fixed
    /// messages, so that the common replies, a poll's 10100 above all,
    /// allocate nothing for it.)
    #[schema(value_type = String, example = "Ok")]
    pub msg: Cow<'static, str>,
    /// The request's `RequestId`, when it carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// StartProject's session, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_describe: Option<SessionDescribe>,
    /// Enqueue's place in line (and StartProject's with QUEUE_STRICT=Y).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<QueueData>,
    /// The cloud's error, when the cloud refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<CloudErrorReply>,
}

impl Reply {
    pub fn new(code: Code, request_id: Option<String>) -> Self {
        Self {
            code,
            msg: Cow::Borrowed(code.message()),
            request_id,
            session_describe: None,
            data: None,
            error: None,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        // Rather than axum's `Json`, whose 128-byte buffer is just short of a
        // poll's reply and so grows (a second allocation and a copy) on the
        // hottest path. 256 bytes hold a poll's reply with ids of the usual
        // length; a longer reply grows the buffer as before.
        let code = self.code;
        let mut body = Vec::with_capacity(256);
        let mut response = match serde_json::to_writer(&mut body, &self) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            // Strings and numbers only: serialising cannot fail, but if it
            // did, the page would still get JSON.
            Err(error) => {
                tracing::error!(%error, "a reply could not be serialised");
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    r#"{"Code":10002,"Msg":"internal error"}"#,
                )
                    .into_response()
            }
        };
        // For the metrics, which count replies by Code without reading the
        // body back.
        response.extensions_mut().insert(code);
        response
    }
}

/// Why a request did not succeed; each variant says what the client sees.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 10000: the `Sign` (or its `Timestamp`) does not verify.
    #[error("{0}")]
    SignMismatch(String),
    /// 10001: a required field is missing or a value is invalid; `Msg` names it.
    #[error("{0}")]
    BadParameter(String),
    /// 10002: the service could not do its part (the queue store is
    /// unreachable, say). The detail is logged, not sent.
    #[error("{0}")]
    Internal(String),
    /// 10200, 10201 or 10202: a cloud call failed; the reply carries the
    /// cloud's error when the cloud answered.
    #[error("{code:?}: {error}")]
    Cloud { code: Code, error: CloudError },
}

impl ApiError {
    pub fn code(&self) -> Code {
        match self {
            ApiError::SignMismatch(_) => Code::SignMismatch,
            ApiError::BadParameter(_) => Code::BadParameter,
            ApiError::Internal(_) => Code::Internal,
            ApiError::Cloud { code, .. } => *code,
        }
    }

    /// The reply for this error, echoing `request_id`.
    pub fn reply(self, request_id: Option<String>) -> Reply {
        let mut reply = Reply::new(self.code(), request_id);
        match self {
            ApiError::SignMismatch(reason) | ApiError::BadParameter(reason) => {
                reply.msg = format!("{}: {reason}", reply.msg).into();
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
            }
            ApiError::Cloud { error, .. } => match &error {
                CloudError::Refused {
                    code,
                    message,
                    request_id,
                    ..
                } => {
                    reply.error = Some(CloudErrorReply {
                        code: code.clone(),
                        message: message.clone(),
                        request_id: request_id.clone(),
                    });
                }
                CloudError::Timeout { .. } => {
                    reply.msg = format!("{}: the cloud did not answer in time", reply.msg).into();
                }
                CloudError::Unreachable { .. } | CloudError::Malformed { .. } => {
                    reply.msg = format!("{}: the cloud could not be reached", reply.msg).into();
                }
            },
        }
        reply
    }
}

impl From<InvalidField> for ApiError {
    fn from(invalid: InvalidField) -> Self {
        ApiError::BadParameter(invalid.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

/// A failed cloud call answers the code of its action.
impl From<CloudError> for ApiError {
    fn from(error: CloudError) -> Self {
        let code = match error.action() {
            Action::CreateSession => Code::CreateSessionFailed,
            Action::DestroySession => Code::DestroySessionFailed,
            Action::ApplyConcurrent | Action::DescribeConcurrentCount => {
                Code::ApplyConcurrentFailed
            }
        };
        ApiError::Cloud { code, error }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.reply(None).into_response()
    }
}

/// A JSON reply for requests outside the API: unknown paths, wrong methods,
/// timeouts. Never an HTML or plain-text page.
pub fn out_of_band(status: StatusCode, code: Code, msg: &str) -> Response {
    let mut reply = Reply::new(code, None);
    reply.msg = Cow::Owned(msg.to_owned());
    (status, reply).into_response()
}
