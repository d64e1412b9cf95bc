//! The CAR API's wire format: actions, their request and response bodies,
//! and the error envelope.
//!
//! Both ends of the protocol use these types: the client serialises requests
//! and reads responses with them, the simulator does the opposite. Field names
//! are the cloud's own (PascalCase).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The API version every request names in `X-TC-Version`.
pub const VERSION: &str = "2022-01-10";

/// The service name in the TC3 credential scope.
pub const SERVICE: &str = "car";

/// The CAR actions this service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ApplyConcurrent,
    CreateSession,
    DestroySession,
    DescribeConcurrentCount,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::ApplyConcurrent,
        Action::CreateSession,
        Action::DestroySession,
        Action::DescribeConcurrentCount,
    ];

    /// The name sent in `X-TC-Action`.
    pub fn name(self) -> &'static str {
        match self {
            Action::ApplyConcurrent => "ApplyConcurrent",
            Action::CreateSession => "CreateSession",
            Action::DestroySession => "DestroySession",
            Action::DescribeConcurrentCount => "DescribeConcurrentCount",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.name() == name)
    }

    /// How long the cloud itself may take to answer. ApplyConcurrent and
    /// CreateSession carry the deadlines Tencent documents; the other two are
    /// plain reads and writes that answer in well under a second.
    pub fn deadline(self) -> Duration {
        match self {
            Action::ApplyConcurrent => Duration::from_secs(20),
            Action::CreateSession => Duration::from_secs(5),
            Action::DestroySession | Action::DescribeConcurrentCount => Duration::from_secs(5),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `ApplyConcurrent`: reserve a machine of the project for this user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ApplyConcurrent {
    pub user_id: String,
    pub user_ip: String,
    pub project_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_version_id: Option<String>,
}

/// `CreateSession`: turn the user's reservation into a streaming session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSession {
    pub user_id: String,
    pub user_ip: String,
    pub client_session: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_parameters: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// What `CreateSession` answers on success.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct SessionCreated {
    /// Handed to `TCGSDK.start()` in the page.
    pub server_session: String,
    #[serde(default)]
    pub request_id: String,
}

/// `DestroySession`: end the user's session and free its machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct DestroySession {
    pub user_id: String,
}

/// `DescribeConcurrentCount`: how many machines a project has and uses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeConcurrentCount {
    pub project_id: String,
}

/// What `DescribeConcurrentCount` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ConcurrentCount {
    pub total: u64,
    pub running: u64,
    #[serde(default)]
    pub request_id: String,
}

/// The part of a reply every action shares: its request id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Acknowledged {
    #[serde(default)]
    pub request_id: String,
}

/// The cloud's error object, `Response.Error`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// A failure reply: `{"Response":{"Error":{…},"RequestId":…}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailureReply {
    pub error: ErrorBody,
    pub request_id: String,
}

/// Every reply is wrapped as `{"Response": …}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    #[serde(rename = "Response")]
    pub response: T,
}

/// The cloud's error codes that this service tells apart.
pub mod codes {
    pub const NO_IDLE: &str = "ResourceNotFound.NoIdle";
    pub const SESSION_NOT_FOUND: &str = "ResourceNotFound.SessionNotFound";
    pub const LOCK_TIMEOUT: &str = "FailedOperation.LockTimeout";
    pub const SLOW_DOWN: &str = "FailedOperation.SlowDown";
    pub const INTERNAL_ERROR: &str = "InternalError";
    pub const REQUEST_LIMIT_EXCEEDED: &str = "RequestLimitExceeded";
    pub const SIGNATURE_FAILURE: &str = "AuthFailure.SignatureFailure";
    pub const SIGNATURE_EXPIRE: &str = "AuthFailure.SignatureExpire";
    pub const SECRET_ID_NOT_FOUND: &str = "AuthFailure.SecretIdNotFound";
    pub const INVALID_AUTHORIZATION: &str = "AuthFailure.InvalidAuthorization";
    pub const INVALID_ACTION: &str = "InvalidAction";
    pub const INVALID_PARAMETER: &str = "InvalidParameter";
    pub const INVALID_PARAMETER_VALUE: &str = "InvalidParameterValue";
    pub const MISSING_PARAMETER: &str = "MissingParameter";
    pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
    pub const NO_SUCH_VERSION: &str = "NoSuchVersion";
    pub const REQUEST_SIZE_LIMIT_EXCEEDED: &str = "RequestSizeLimitExceeded";
}
