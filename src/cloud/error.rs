//! How a cloud call can fail, and which failures are worth trying again.

use super::protocol::{Action, codes};
use std::time::Duration;

/// A failed CAR call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CloudError {
    /// The cloud answered with `Response.Error`.
    #[error("{action} refused with {code}: {message} (cloud request id {request_id})")]
    Refused {
        action: Action,
        code: String,
        message: String,
        request_id: String,
    },
    /// No answer came within the action's deadline.
    #[error("{action} got no answer within {deadline:?}")]
    Timeout { action: Action, deadline: Duration },
    /// The request never reached the cloud, or the connection broke.
    #[error("{action} could not reach the cloud: {detail}")]
    Unreachable { action: Action, detail: String },
    /// Something answered, but not with a CAR reply (a proxy's error page, say).
    #[error("{action} got an answer that is not a CAR reply: {detail}")]
    Malformed { action: Action, detail: String },
}

/// What a failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `ResourceNotFound.NoIdle`: every machine of the project is taken. The
    /// queue's signal to keep the user waiting.
    NoIdle,
    /// Worth trying again later: the cloud was busy, slow or unreachable.
    Transient,
    /// Trying again gives the same answer: bad credentials, bad parameters,
    /// a denied operation. Never retried.
    Permanent,
}

impl CloudError {
    pub fn class(&self) -> Class {
        match self {
            CloudError::Refused { code, .. } => classify(code),
            CloudError::Timeout { .. }
            | CloudError::Unreachable { .. }
            | CloudError::Malformed { .. } => Class::Transient,
        }
    }

    pub fn action(&self) -> Action {
        match self {
            CloudError::Refused { action, .. }
            | CloudError::Timeout { action, .. }
            | CloudError::Unreachable { action, .. }
            | CloudError::Malformed { action, .. } => *action,
        }
    }

    /// The cloud's error code, or a short name for failures the cloud never
    /// saw. Used as a metrics label and a log field.
    pub fn code(&self) -> &str {
        match self {
            CloudError::Refused { code, .. } => code,
            CloudError::Timeout { .. } => "Timeout",
            CloudError::Unreachable { .. } => "Unreachable",
            CloudError::Malformed { .. } => "Malformed",
        }
    }

    /// The cloud's request id, when the cloud answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            CloudError::Refused { request_id, .. } => Some(request_id),
            _ => None,
        }
    }
}

/// Sorts a cloud error code into its class, per the CAR error code table.
pub fn classify(code: &str) -> Class {
    let family = code.split('.').next().unwrap_or(code);
    match code {
        codes::NO_IDLE => Class::NoIdle,
        codes::SLOW_DOWN => Class::Transient,
        _ if family == codes::INTERNAL_ERROR
            || family == codes::REQUEST_LIMIT_EXCEEDED
            || family == "ResourceUnavailable" =>
        {
            Class::Transient
        }
        _ => Class::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_codes_fall_into_the_documented_classes() {
        for (code, class) in [
            ("ResourceNotFound.NoIdle", Class::NoIdle),
            ("InternalError", Class::Transient),
            ("InternalError.DbError", Class::Transient),
            ("RequestLimitExceeded", Class::Transient),
            ("RequestLimitExceeded.UinLimitExceeded", Class::Transient),
            ("FailedOperation.SlowDown", Class::Transient),
            ("ResourceUnavailable.Initialization", Class::Transient),
            ("AuthFailure.SignatureFailure", Class::Permanent),
            ("InvalidParameterValue", Class::Permanent),
            ("InvalidParameter", Class::Permanent),
            ("OperationDenied", Class::Permanent),
            ("FailedOperation.LockTimeout", Class::Permanent),
            ("ResourceNotFound.SessionNotFound", Class::Permanent),
            ("InternalErrorish", Class::Permanent),
        ] {
            assert_eq!(classify(code), class, "{code}");
        }
    }

    #[test]
    fn failures_the_cloud_never_saw_are_transient() {
        let timeout = CloudError::Timeout {
            action: Action::ApplyConcurrent,
            deadline: Duration::from_secs(1),
        };
        assert_eq!(timeout.class(), Class::Transient);
        assert_eq!(timeout.request_id(), None);
    }
}
