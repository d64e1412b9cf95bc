//! Fuzz target: a request body as the internet may send it, through all that
//! happens to it before a handler acts — body to fields ([`Fields::parse`]),
//! each endpoint's field checks, the echoed `RequestId`, and the Sign check.
//!
//! The input is two header bytes, then the body:
//!
//! - byte 0 (mod 6) picks the `Content-Type`: none, JSON, form, `text/plain`,
//!   the input's own text up to its first newline (which is then not part of
//!   the body), or multipart;
//! - byte 1 picks the Sign settings: bit 0 sets a maximum age, bit 1 writes
//!   the re-computed Sign in upper case, bits 2 and 3 pick the salt.
//!
//! The seed corpus uses ASCII digits for both bytes, so its files stay
//! readable. Besides "does not panic", the target asserts what the rest of
//! the service relies on; each check below says which promise it holds to.

#![no_main]

use car_server::domain::{ProjectId, UserId, check_text, field_limit};
use car_server::http::fields::{Fields, MAX_FIELDS, MAX_NAME_LEN, Value};
use car_server::http::reply::{ApiError, Code};
use car_server::http::sign::{expected_sign, verify};
use car_server::http::{StartProjectRequest, dequeue_request, enqueue_request, stop_request};
use libfuzzer_sys::fuzz_target;
use serde::Deserializer as _;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// Salts of different lengths, one of them not ASCII.
const SALTS: [&str; 4] = [
    "",
    "salt",
    "盐-0x5f",
    "a-salt-longer-than-one-sha256-block-of-sixty-four-bytes-0123456789",
];

/// The server's clock for the Sign check, in unix seconds.
const NOW: u64 = 1_796_313_600;

/// `SIGN_MAX_AGE` when the input turns it on.
const MAX_AGE: Duration = Duration::from_secs(300);

/// The client address handed to the Enqueue checks, which only carry it.
const USER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

/// One fuzz input, read.
struct Case<'a> {
    content_type: Option<Cow<'a, str>>,
    body: &'a [u8],
    max_age: Option<Duration>,
    upper_case_sign: bool,
    salt: &'static str,
}

impl<'a> Case<'a> {
    fn read(data: &'a [u8]) -> Option<Self> {
        let (&kind, rest) = data.split_first()?;
        let (&options, rest) = rest.split_first()?;
        let (content_type, body) = match kind % 6 {
            0 => (None, rest),
            1 => (Some(Cow::Borrowed(JSON)), rest),
            2 => (Some(Cow::Borrowed(FORM)), rest),
            3 => (Some(Cow::Borrowed("text/plain;charset=UTF-8")), rest),
            4 => {
                let end = rest.iter().position(|byte| *byte == b'\n');
                let end = end.unwrap_or(rest.len());
                let body = rest.get(end + 1..).unwrap_or_default();
                (Some(String::from_utf8_lossy(&rest[..end])), body)
            }
            _ => (Some(Cow::Borrowed("multipart/form-data; boundary=x")), rest),
        };
        Some(Self {
            content_type,
            body,
            max_age: (options & 1 == 1).then_some(MAX_AGE),
            upper_case_sign: options & 2 == 2,
            salt: SALTS[usize::from(options >> 2) % SALTS.len()],
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(case) = Case::read(data) else {
        return;
    };

    let parsed = Fields::parse(case.content_type.as_deref(), case.body);
    assert_eq!(
        parsed,
        Fields::parse(case.content_type.as_deref(), case.body),
        "parsing the same body twice gave two answers"
    );
    check_content_type_choice(&case, &parsed);

    let Ok(fields) = parsed else {
        return;
    };
    check_shape(&fields);
    check_round_trips(&fields);
    check_endpoints(&fields);
    check_sign(&fields, &case);
});

/// The two body syntaxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Json,
    Form,
}

/// The syntax the documented rules read `case`'s body in, written out again
/// here as the model the parser is held to; `None` for multipart.
fn syntax(case: &Case) -> Option<Syntax> {
    let essence = case.content_type.as_deref().map(|value| {
        let essence = value.split(';').next().unwrap_or("");
        essence.trim().to_ascii_lowercase()
    });
    match essence.as_deref() {
        Some(JSON) => Some(Syntax::Json),
        Some(json) if json.ends_with("+json") => Some(Syntax::Json),
        Some(FORM) => Some(Syntax::Form),
        Some(multipart) if multipart.starts_with("multipart/") => None,
        // Anything else is sniffed: JSON if it parses as JSON, else a form.
        _ if serde_json::from_slice::<serde::de::IgnoredAny>(&case.body).is_ok() => {
            Some(Syntax::Json)
        }
        _ => Some(Syntax::Form),
    }
}

/// The content type (or the body's first byte) picks the parser, and an
/// accepted body has exactly one field per JSON member or form pair: none is
/// dropped, and no name given twice is merged into one.
fn check_content_type_choice(case: &Case, parsed: &Result<Fields, String>) {
    let (expected, members) = match syntax(case) {
        None => {
            assert!(parsed.is_err(), "a multipart body was accepted");
            return;
        }
        Some(Syntax::Json) => (Fields::from_json(case.body), json_members(case.body)),
        Some(Syntax::Form) => (Fields::from_form(case.body), Some(form_pairs(case.body))),
    };
    assert_eq!(parsed, &expected, "not parsed as the content type says");
    if let Ok(fields) = parsed {
        assert_eq!(
            Some(fields.iter().count()),
            members,
            "fields merged or dropped"
        );
    }
}

fn form_pairs(body: &[u8]) -> usize {
    let pairs = body.split(|byte| *byte == b'&');
    pairs.filter(|pair| !pair.is_empty()).count()
}

/// How many members the body's JSON object has, counted by serde_json itself.
fn json_members(body: &[u8]) -> Option<usize> {
    struct Count;

    impl<'de> Visitor<'de> for Count {
        type Value = usize;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
            let mut members = 0;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                members += 1;
            }
            Ok(members)
        }
    }

    let mut deserializer = serde_json::Deserializer::from_slice(body);
    deserializer.deserialize_map(Count).ok()
}

/// The limits every accepted body keeps, whatever its content type.
fn check_shape(fields: &Fields) {
    let names: Vec<&str> = fields.iter().map(|(name, _)| name).collect();
    assert!(names.len() <= MAX_FIELDS, "{} fields accepted", names.len());
    for name in &names {
        assert!(
            !name.is_empty() && name.len() <= MAX_NAME_LEN,
            "field name {name:?}"
        );
        assert!(!name.chars().any(char::is_control), "field name {name:?}");
    }
    // The Sign hashes values in this order; a repeated name would be ambiguous.
    assert!(
        names
            .windows(2)
            .all(|pair| pair[0].as_bytes() < pair[1].as_bytes())
    );
    for (name, value) in fields.iter() {
        if let Value::Number(literal) = value {
            assert!(
                literal.parse::<f64>().is_ok(),
                "{name} = {literal:?} is no number"
            );
            assert!(
                !literal.contains(['e', 'E', '+']),
                "{name} = {literal:?} has an exponent"
            );
        }
    }
}

/// Accepted fields, written out again as a page would send them, parse back
/// to the same fields: as a form (where every value becomes text) and as JSON.
fn check_round_trips(fields: &Fields) {
    let form = as_form(fields);
    for content_type in [Some(FORM), None] {
        let again = Fields::parse(content_type, form.as_bytes())
            .unwrap_or_else(|error| panic!("re-encoded form {form:?} refused: {error}"));
        assert_eq!(texts(&again), texts(fields), "form round trip of {form:?}");
    }

    let json = as_json(fields.iter());
    for content_type in [Some(JSON), None] {
        let again = Fields::parse(content_type, json.as_bytes())
            .unwrap_or_else(|error| panic!("re-encoded JSON {json:?} refused: {error}"));
        assert_eq!(&again, fields, "JSON round trip of {json:?}");
    }
}

/// Every endpoint's checks: refusals are 10001, and what is accepted is
/// within the field limits that the queue, the cloud and the logs rely on.
fn check_endpoints(fields: &Fields) {
    let start = StartProjectRequest::from_fields(fields);
    let enqueue = enqueue_request(fields, USER_IP);
    let dequeue = dequeue_request(fields);
    let stop = stop_request(fields);

    for error in [
        start.as_ref().err(),
        enqueue.as_ref().err(),
        dequeue.as_ref().err(),
        stop.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(error.code(), Code::BadParameter, "{error}");
        check_error_reply(error, fields);
    }

    // Dequeue and StopProject take the same fields.
    assert_eq!(
        dequeue.as_ref().map_err(ToString::to_string),
        stop.as_ref().map_err(ToString::to_string)
    );

    if let Ok(request) = &start {
        check_identifier(fields, UserId::FIELD, request.user_id.as_str());
        check_identifier(fields, ProjectId::FIELD, request.project_id.as_str());
        check_optional(fields, "ApplicationId", request.application_id.as_deref());
        check_optional(
            fields,
            "ApplicationVersionId",
            request.application_version_id.as_deref(),
        );
        check_optional(fields, "RunMode", request.run_mode.as_deref());
        check_optional(
            fields,
            "ApplicationParameters",
            request.application_parameters.as_deref(),
        );
        check_optional(fields, "HostUserId", request.host_user_id.as_deref());
        check_optional(fields, "Role", request.role.as_deref());
        if request.run_mode.as_deref() == Some("RunWithoutClient") {
            check_optional(
                fields,
                "ClientSession",
                Some(request.client_session.as_str()).filter(|session| !session.is_empty()),
            );
        } else {
            check_identifier(fields, "ClientSession", &request.client_session);
        }

        // StartProject checks a superset of Enqueue's fields.
        let waiting = enqueue
            .as_ref()
            .expect("StartProject accepted what Enqueue refused");
        assert_eq!(waiting.user_id, request.user_id);
        assert_eq!(waiting.project_id, request.project_id);
        assert_eq!(waiting.application_id, request.application_id);
        assert_eq!(
            waiting.application_version_id,
            request.application_version_id
        );
    }

    if let Ok(waiting) = &enqueue {
        check_identifier(fields, UserId::FIELD, waiting.user_id.as_str());
        check_identifier(fields, ProjectId::FIELD, waiting.project_id.as_str());
        check_optional(fields, "ApplicationId", waiting.application_id.as_deref());
        check_optional(
            fields,
            "ApplicationVersionId",
            waiting.application_version_id.as_deref(),
        );
        assert_eq!(waiting.user_ip, USER_IP);
        let user_id = dequeue
            .as_ref()
            .expect("Enqueue accepted what Dequeue refused");
        assert_eq!(user_id, &waiting.user_id);
    }

    if let Ok(user_id) = &dequeue {
        check_identifier(fields, UserId::FIELD, user_id.as_str());
    }

    // Every endpoint checks RequestId, and the echo is exactly what was
    // sent when it keeps the field's rules, else nothing. Any endpoint
    // accepts a request only with an echoable (or no) RequestId.
    let request_id = fields.request_id();
    let sent = fields
        .get("RequestId")
        .map(Value::as_text)
        .filter(|id| !id.is_empty());
    let echoable = sent.filter(|id| check_text("RequestId", id).is_ok());
    assert_eq!(request_id.as_deref(), echoable);
    if dequeue.is_ok() {
        assert_eq!(sent, echoable, "an unechoable RequestId was accepted");
    }
}

/// A required text field as an endpoint accepted it: sent as text, exactly
/// this value, non-empty, printable and within the field's limit.
fn check_identifier(fields: &Fields, name: &str, accepted: &str) {
    assert_eq!(
        fields.get(name),
        Some(&Value::Text(accepted.to_owned())),
        "{name}"
    );
    assert!(!accepted.is_empty(), "{name} accepted empty");
    check_printable(name, accepted);
}

/// An optional field as an endpoint accepted it: absent or empty is `None`,
/// anything else its text, printable and within the field's limit.
fn check_optional(fields: &Fields, name: &str, accepted: Option<&str>) {
    let sent = fields
        .get(name)
        .map(Value::as_text)
        .filter(|text| !text.is_empty());
    assert_eq!(accepted, sent, "{name}");
    if let Some(text) = accepted {
        check_printable(name, text);
    }
}

fn check_printable(name: &str, text: &str) {
    if let Some(limit) = field_limit(name) {
        assert!(
            text.len() <= limit,
            "{name} of {} bytes accepted",
            text.len()
        );
    }
    assert!(
        !text.chars().any(char::is_control),
        "{name} {text:?} accepted"
    );
}

/// A refusal's reply is the JSON object the pages switch on.
fn check_error_reply(error: &ApiError, fields: &Fields) {
    let code = error.code();
    let message = error.to_string();
    let reply = match code {
        Code::BadParameter => ApiError::BadParameter(message),
        _ => ApiError::SignMismatch(message),
    }
    .reply(fields.request_id());
    let json: serde_json::Value = serde_json::to_value(&reply).expect("a reply serialises");
    assert_eq!(json["Code"], u64::from(code.number()));
    assert!(json["Msg"].is_string());
    assert_eq!(
        json.get("RequestId").and_then(|id| id.as_str()),
        fields.request_id().as_deref()
    );
}

/// The Sign check: it passes only for the right Sign, the Sign is never part
/// of what it hashes, and a request re-signed as a page would sign it passes.
fn check_sign(fields: &Fields, case: &Case) {
    let salt = case.salt;
    let expected = expected_sign(fields, salt);
    assert_eq!(expected.len(), 64);
    assert!(
        expected
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    );

    let sent = match fields.get("Sign") {
        Some(Value::Text(sign)) if !sign.is_empty() => Some(sign),
        _ => None,
    };
    let outcome = verify(fields, salt, case.max_age, NOW);
    match (&outcome, sent) {
        (Err(error), None) => assert_eq!(error.code(), Code::BadParameter, "{error}"),
        (Err(error), Some(_)) => assert_eq!(error.code(), Code::SignMismatch, "{error}"),
        (Ok(()), None) => panic!("a request without a Sign verified"),
        (Ok(()), Some(sign)) => {
            assert_eq!(expected, sign.to_ascii_lowercase(), "a wrong Sign verified");
            if case.max_age.is_some() {
                let timestamp = timestamp(fields).expect("verified without a Timestamp");
                assert!(NOW.abs_diff(timestamp) <= MAX_AGE.as_secs());
            }
        }
    }
    if let Err(error) = &outcome {
        check_error_reply(error, fields);
    }

    // Re-signed: every field but Sign, then the Sign computed over them.
    let unsigned: Vec<(&str, &Value)> = fields.iter().filter(|(name, _)| *name != "Sign").collect();
    if unsigned.len() >= MAX_FIELDS {
        return;
    }
    let sign = if case.upper_case_sign {
        expected.to_ascii_uppercase()
    } else {
        expected.clone()
    };
    let sign = Value::Text(sign);
    let body = as_json(unsigned.into_iter().chain([("Sign", &sign)]));
    let signed = Fields::from_json(body.as_bytes())
        .unwrap_or_else(|error| panic!("re-signed body {body:?} refused: {error}"));
    assert_eq!(
        expected_sign(&signed, salt),
        expected,
        "the Sign hashed itself"
    );
    assert!(
        verify(&signed, salt, None, NOW).is_ok(),
        "re-signed {body:?} refused"
    );

    match timestamp(&signed) {
        Some(at) => {
            assert!(verify(&signed, salt, Some(MAX_AGE), at).is_ok());
            if let Some(late) = at.checked_add(MAX_AGE.as_secs() + 1) {
                let error = verify(&signed, salt, Some(MAX_AGE), late).unwrap_err();
                assert_eq!(error.code(), Code::SignMismatch);
            }
        }
        None => {
            let error = verify(&signed, salt, Some(MAX_AGE), NOW).unwrap_err();
            assert_eq!(error.code(), Code::SignMismatch);
        }
    }
}

fn timestamp(fields: &Fields) -> Option<u64> {
    fields.get("Timestamp")?.as_text().parse().ok()
}

fn texts(fields: &Fields) -> Vec<(String, String)> {
    let pairs = fields.iter();
    pairs
        .map(|(name, value)| (name.to_owned(), value.as_text().to_owned()))
        .collect()
}

fn as_form(fields: &Fields) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields.iter() {
        form.append_pair(name, value.as_text());
    }
    form.finish()
}

/// JSON by hand, so that numbers keep the literal they were sent as.
fn as_json<'a>(fields: impl Iterator<Item = (&'a str, &'a Value)>) -> String {
    let members: Vec<String> = fields
        .map(|(name, value)| {
            let value = match value {
                Value::Text(text) => serde_json::to_string(text).expect("a string serialises"),
                Value::Number(literal) => literal.clone(),
                Value::Bool(flag) => flag.to_string(),
            };
            format!(
                "{}:{value}",
                serde_json::to_string(name).expect("a string serialises")
            )
        })
        .collect();
    format!("{{{}}}", members.join(","))
}
