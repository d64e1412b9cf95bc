//! Reading an action's JSON body as strictly as the cloud does.
//!
//! The checks go field by field, so that each mistake gets the cloud's code:
//! a required field absent (or `null`) is `MissingParameter`, a field of the
//! wrong type or a body that is not a JSON object is `InvalidParameter`, and
//! an unusable value — an empty required string, a `UserIp` that is not an IP
//! address, an unknown `RunMode` — is `InvalidParameterValue`. Fields the
//! action does not know are ignored, as the cloud ignores them. An optional
//! field sent as an empty string counts as absent.

use super::reply::Refusal;
use crate::cloud::protocol::{
    Action, ApplyConcurrent, CreateSession, DescribeConcurrentCount, DestroySession, codes,
};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// The `RunMode` that lets the cloud application run with no page attached.
pub(crate) const RUN_WITHOUT_CLIENT: &str = "RunWithoutClient";

/// The multiplayer roles `CreateSession` knows.
const ROLES: [&str; 2] = ["Player", "Viewer"];

/// A validated request of one of the four actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloudRequest {
    ApplyConcurrent(ApplyConcurrent),
    CreateSession(CreateSession),
    DestroySession(DestroySession),
    DescribeConcurrentCount(DescribeConcurrentCount),
}

impl CloudRequest {
    /// Validates `body` as the parameters of `action`.
    pub(crate) fn parse(action: Action, body: &[u8]) -> Result<Self, Refusal> {
        let fields = Fields::parse(body)?;
        Ok(match action {
            Action::ApplyConcurrent => CloudRequest::ApplyConcurrent(ApplyConcurrent {
                user_id: fields.required("UserId")?,
                user_ip: fields.ip("UserIp")?,
                project_id: fields.required("ProjectId")?,
                application_id: fields.optional("ApplicationId")?,
                application_version_id: fields.optional("ApplicationVersionId")?,
            }),
            Action::CreateSession => CloudRequest::CreateSession(create_session(&fields)?),
            Action::DestroySession => CloudRequest::DestroySession(DestroySession {
                user_id: fields.required("UserId")?,
            }),
            Action::DescribeConcurrentCount => {
                CloudRequest::DescribeConcurrentCount(DescribeConcurrentCount {
                    project_id: fields.required("ProjectId")?,
                })
            }
        })
    }
}

fn create_session(fields: &Fields) -> Result<CreateSession, Refusal> {
    let user_id = fields.required("UserId")?;
    let user_ip = fields.ip("UserIp")?;
    let client_session = fields
        .string("ClientSession")?
        .ok_or_else(|| missing("ClientSession"))?;

    let run_mode = fields.optional("RunMode")?;
    if let Some(mode) = &run_mode
        && mode != RUN_WITHOUT_CLIENT
    {
        return Err(invalid_value(format!(
            "RunMode must be {RUN_WITHOUT_CLIENT} or left out, not {mode:?}."
        )));
    }
    // Only an application that runs without a page may start without one.
    if client_session.is_empty() && run_mode.is_none() {
        return Err(invalid_value(
            "ClientSession must not be empty unless RunMode is RunWithoutClient.",
        ));
    }

    let role = fields.optional("Role")?;
    if let Some(role) = &role
        && !ROLES.contains(&role.as_str())
    {
        return Err(invalid_value(format!(
            "Role must be Player or Viewer, not {role:?}."
        )));
    }

    Ok(CreateSession {
        user_id,
        user_ip,
        client_session,
        run_mode,
        application_parameters: fields.optional("ApplicationParameters")?,
        host_user_id: fields.optional("HostUserId")?,
        role,
    })
}

/// The `UserId` of a body, if it has a string one; used to count calls per
/// user even for calls that go on to fail validation.
pub(crate) fn user_id_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    Some(value.get("UserId")?.as_str()?.to_owned())
}

/// The top-level fields of a JSON object body.
struct Fields(Map<String, Value>);

impl Fields {
    fn parse(body: &[u8]) -> Result<Self, Refusal> {
        match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => Ok(Fields(map)),
            Ok(_) => Err(Refusal::new(
                codes::INVALID_PARAMETER,
                "The request body must be a JSON object.",
            )),
            Err(error) => Err(Refusal::new(
                codes::INVALID_PARAMETER,
                format!("The request body is not valid JSON: {error}."),
            )),
        }
    }

    /// A string field as sent, empty or not; `None` when absent or `null`.
    fn string(&self, name: &str) -> Result<Option<String>, Refusal> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(Refusal::new(
                codes::INVALID_PARAMETER,
                format!("The parameter {name} must be a String."),
            )),
        }
    }

    /// A required, non-empty string field.
    fn required(&self, name: &str) -> Result<String, Refusal> {
        let text = self.string(name)?.ok_or_else(|| missing(name))?;
        if text.is_empty() {
            return Err(invalid_value(format!(
                "The parameter {name} must not be empty."
            )));
        }
        Ok(text)
    }

    /// An optional string field; an empty string counts as absent.
    fn optional(&self, name: &str) -> Result<Option<String>, Refusal> {
        Ok(self.string(name)?.filter(|text| !text.is_empty()))
    }

    /// A required field holding an IPv4 or IPv6 address.
    fn ip(&self, name: &str) -> Result<String, Refusal> {
        let text = self.required(name)?;
        if text.parse::<IpAddr>().is_err() {
            return Err(invalid_value(format!(
                "The parameter {name} must be an IP address, not {text:?}."
            )));
        }
        Ok(text)
    }
}

fn missing(name: &str) -> Refusal {
    Refusal::new(
        codes::MISSING_PARAMETER,
        format!("The request is missing the required parameter {name}."),
    )
}

fn invalid_value(message: impl Into<String>) -> Refusal {
    Refusal::new(codes::INVALID_PARAMETER_VALUE, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(action: Action, body: &str) -> Result<CloudRequest, String> {
        CloudRequest::parse(action, body.as_bytes()).map_err(|refusal| refusal.code)
    }

    #[test]
    fn a_complete_apply_concurrent_body_is_read_with_its_optional_fields() {
        let body = r#"{"UserId":"u1","UserIp":"203.0.113.7","ProjectId":"cap-1",
                      "ApplicationId":"","ApplicationVersionId":"ver-1","Extra":[1]}"#;
        assert_eq!(
            code(Action::ApplyConcurrent, body),
            Ok(CloudRequest::ApplyConcurrent(ApplyConcurrent {
                user_id: "u1".into(),
                user_ip: "203.0.113.7".into(),
                project_id: "cap-1".into(),
                application_id: None,
                application_version_id: Some("ver-1".into()),
            }))
        );
    }

    #[test]
    fn each_kind_of_mistake_gets_its_own_code() {
        let cases = [
            ("not json", codes::INVALID_PARAMETER),
            (r#"["UserId"]"#, codes::INVALID_PARAMETER),
            (
                r#"{"UserIp":"::1","ProjectId":"p"}"#,
                codes::MISSING_PARAMETER,
            ),
            (
                r#"{"UserId":null,"UserIp":"::1","ProjectId":"p"}"#,
                codes::MISSING_PARAMETER,
            ),
            (
                r#"{"UserId":7,"UserIp":"::1","ProjectId":"p"}"#,
                codes::INVALID_PARAMETER,
            ),
            (
                r#"{"UserId":"","UserIp":"::1","ProjectId":"p"}"#,
                codes::INVALID_PARAMETER_VALUE,
            ),
            (
                r#"{"UserId":"u","UserIp":"home","ProjectId":"p"}"#,
                codes::INVALID_PARAMETER_VALUE,
            ),
            (
                r#"{"UserId":"u","UserIp":"::1","ProjectId":{}}"#,
                codes::INVALID_PARAMETER,
            ),
            (
                r#"{"UserId":"u","UserIp":"::1","ProjectId":"p","ApplicationId":1}"#,
                codes::INVALID_PARAMETER,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                code(Action::ApplyConcurrent, body),
                Err(expected.into()),
                "{body}"
            );
        }
    }

    #[test]
    fn an_empty_client_session_is_allowed_only_when_running_without_client() {
        let without_page =
            r#"{"UserId":"u","UserIp":"1.2.3.4","ClientSession":"","RunMode":"RunWithoutClient"}"#;
        assert!(code(Action::CreateSession, without_page).is_ok());

        let with_page = r#"{"UserId":"u","UserIp":"1.2.3.4","ClientSession":""}"#;
        assert_eq!(
            code(Action::CreateSession, with_page),
            Err(codes::INVALID_PARAMETER_VALUE.into())
        );
        let absent = r#"{"UserId":"u","UserIp":"1.2.3.4","RunMode":"RunWithoutClient"}"#;
        assert_eq!(
            code(Action::CreateSession, absent),
            Err(codes::MISSING_PARAMETER.into())
        );
    }

    #[test]
    fn create_session_knows_its_run_modes_and_roles() {
        let ok = r#"{"UserId":"u","UserIp":"1.2.3.4","ClientSession":"c","Role":"Viewer","HostUserId":"h"}"#;
        let CloudRequest::CreateSession(request) = code(Action::CreateSession, ok).unwrap() else {
            panic!("not a CreateSession");
        };
        assert_eq!(request.role.as_deref(), Some("Viewer"));
        assert_eq!(request.host_user_id.as_deref(), Some("h"));

        for body in [
            r#"{"UserId":"u","UserIp":"1.2.3.4","ClientSession":"c","RunMode":"Forever"}"#,
            r#"{"UserId":"u","UserIp":"1.2.3.4","ClientSession":"c","Role":"Admin"}"#,
        ] {
            assert_eq!(
                code(Action::CreateSession, body),
                Err(codes::INVALID_PARAMETER_VALUE.into()),
                "{body}"
            );
        }
    }

    #[test]
    fn the_user_id_is_found_for_counting_even_in_an_invalid_body() {
        assert_eq!(
            user_id_of(br#"{"UserId":"u1","UserIp":"x"}"#),
            Some("u1".into())
        );
        assert_eq!(user_id_of(br#"{"UserId":1}"#), None);
        assert_eq!(user_id_of(b"nonsense"), None);
    }
}
