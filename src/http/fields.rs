//! Reading a request's fields from its body, JSON or form alike.
//!
//! The four endpoints take flat objects of scalar fields. This module turns a
//! body into [`Fields`] — names in byte order, each with a scalar value — or
//! into a 10001 that says what is wrong. [`Fields`] is an extractor that also
//! runs the Sign check, so that the check and the handler see the same parsed
//! fields, and the body is read exactly once.
//!
//! The rules, chosen so that what is signed is never ambiguous:
//!
//! - `application/json` bodies must be one JSON object; `…/x-www-form-urlencoded`
//!   bodies a form. Any other or no content type is read as JSON if it parses
//!   as JSON, else as a form (pages that post `text/plain` to avoid a CORS
//!   preflight keep working).
//! - Values are strings, numbers written in plain decimal (no exponent), or
//!   `true`/`false`. Objects, arrays and `null` are refused.
//! - A name given twice is refused, in JSON as in forms: the signature would
//!   otherwise depend on which copy a parser keeps.
//! - At most [`MAX_FIELDS`] fields, names of at most [`MAX_NAME_LEN`] bytes,
//!   valid UTF-8 throughout.

use super::reply::{ApiError, Reply};
use super::sign;
use crate::domain::check_text;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::ApiContext;

/// Requests name a handful of fields; thousands are an attack, not a request.
pub const MAX_FIELDS: usize = 64;

/// Longest field name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Longest number literal accepted (a unix timestamp has 10 digits).
const MAX_NUMBER_LEN: usize = 32;

/// A scalar field value, kept in the form the signature hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    /// The literal as sent, checked to be plain decimal.
    Number(String),
    Bool(bool),
}

impl Value {
    /// The value's text: strings as they are, numbers as written, `true`/`false`.
    pub fn as_text(&self) -> &str {
        match self {
            Value::Text(text) | Value::Number(text) => text,
            Value::Bool(true) => "true",
            Value::Bool(false) => "false",
        }
    }
}

/// A request's fields, ordered by name in byte order (the Sign's order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(BTreeMap<String, Value>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// A required field: present, a non-empty string, within its limits.
    pub fn required(&self, name: &str) -> Result<String, ApiError> {
        match self.get(name) {
            Some(Value::Text(text)) if !text.is_empty() => {
                check_text(name, text)?;
                Ok(text.clone())
            }
            Some(Value::Text(_)) | None => {
                Err(ApiError::BadParameter(format!("{name} is required")))
            }
            Some(_) => Err(ApiError::BadParameter(format!("{name} must be a string"))),
        }
    }

    /// An optional field: absent or empty is `None`; a number or boolean is
    /// taken as its text.
    pub fn optional(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name).map(Value::as_text) {
            None | Some("") => Ok(None),
            Some(text) => {
                check_text(name, text)?;
                Ok(Some(text.to_owned()))
            }
        }
    }

    /// The caller's `RequestId`, echoed in every reply; one that breaks the
    /// field's rules (too long, control characters) is not echoed.
    pub fn request_id(&self) -> Option<String> {
        self.get("RequestId")
            .map(Value::as_text)
            .filter(|id| !id.is_empty() && check_text("RequestId", id).is_ok())
            .map(str::to_owned)
    }

    fn insert(&mut self, name: String, value: Value) -> Result<(), String> {
        if self.0.len() >= MAX_FIELDS {
            return Err(format!("too many fields (at most {MAX_FIELDS})"));
        }
        if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
            return Err(format!(
                "field names must be 1 to {MAX_NAME_LEN} bytes without control characters"
            ));
        }
        if self.0.contains_key(&name) {
            return Err(format!("field {name} is given twice"));
        }
        self.0.insert(name, value);
        Ok(())
    }

    /// Parses a body given its `Content-Type` header, if any.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, String> {
        let essence = content_type.map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        match essence.as_deref() {
            Some("application/json") => Self::from_json(body),
            Some(json) if json.ends_with("+json") => Self::from_json(body),
            Some("application/x-www-form-urlencoded") => Self::from_form(body),
            Some(multipart) if multipart.starts_with("multipart/") => {
                Err("multipart bodies are not accepted: send JSON or a form".into())
            }
            _ => {
                if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
                    Self::from_json(body)
                } else {
                    Self::from_form(body)
                }
            }
        }
    }

    /// A JSON object of scalars.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let fields = deserializer
            .deserialize_map(FieldsVisitor)
            .map_err(|error| match error.classify() {
                serde_json::error::Category::Data => error.to_string(),
                _ => format!("the body is not valid JSON: {error}"),
            })?;
        deserializer
            .end()
            .map_err(|_| "the body has trailing data after the JSON object".to_owned())?;
        Ok(fields)
    }

    /// `application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte, and
    /// the decoded bytes must be UTF-8.
    pub fn from_form(body: &[u8]) -> Result<Self, String> {
        let mut fields = Fields::default();
        for pair in body
            .split(|byte| *byte == b'&')
            .filter(|pair| !pair.is_empty())
        {
            let (name, value) = match pair.iter().position(|byte| *byte == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            fields.insert(
                decode_form_part(name)?,
                Value::Text(decode_form_part(value)?),
            )?;
        }
        Ok(fields)
    }
}

fn decode_form_part(part: &[u8]) -> Result<String, String> {
    let spaced: Vec<u8> = part
        .iter()
        .map(|byte| if *byte == b'+' { b' ' } else { *byte })
        .collect();
    let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
    String::from_utf8(decoded).map_err(|_| "the form is not valid UTF-8".to_owned())
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        use serde::de::Error;
        let mut fields = Fields::default();
        while let Some(name) = map.next_key::<String>()? {
            let raw: &RawValue = map.next_value()?;
            let value = scalar(&name, raw).map_err(A::Error::custom)?;
            fields.insert(name, value).map_err(A::Error::custom)?;
        }
        Ok(fields)
    }
}

/// Sorts one raw JSON value into a [`Value`], refusing anything not scalar.
fn scalar(name: &str, raw: &RawValue) -> Result<Value, String> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str(text)
            .map(Value::Text)
            .map_err(|_| format!("field {name} is not a valid string")),
        Some(b't') => Ok(Value::Bool(true)),
        Some(b'f') => Ok(Value::Bool(false)),
        Some(b'n') => Err(format!("field {name} is null: leave it out instead")),
        Some(b'{' | b'[') => Err(format!(
            "field {name} must be a string, not an object or array"
        )),
        _ if is_plain_decimal(text) => Ok(Value::Number(text.to_owned())),
        _ => Err(format!(
            "field {name} must be a number in plain decimal form (at most {MAX_NUMBER_LEN} characters, no exponent)"
        )),
    }
}

fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    text.len() <= MAX_NUMBER_LEN
        && !whole.is_empty()
        && whole.bytes().all(|byte| byte.is_ascii_digit())
        && fraction.is_none_or(|fraction| {
            !fraction.is_empty() && fraction.bytes().all(|byte| byte.is_ascii_digit())
        })
}

/// The fields of a request to one of the endpoints: its body, read and
/// parsed, with its `Sign` checked when signing is on. It is each handler's
/// last extractor, so that the body is read exactly once and the handler sees
/// exactly the fields that were signed. A body that cannot be read or parsed
/// answers 10001; a bad `Sign`, 10000 or 10001.
///
/// An extractor rather than two `from_fn` middlewares: each such layer costs
/// every request boxed futures and clones of the context and of the inner
/// route, which made up a quarter of the instructions of an Enqueue poll.
impl FromRequest<ApiContext> for Fields {
    type Rejection = Response;

    async fn from_request(request: Request, context: &ApiContext) -> Result<Self, Response> {
        let http = &context.settings.http;
        let fields = read(request, http.body_limit, http.header_timeout)
            .await
            .map_err(IntoResponse::into_response)?;
        super::observe::record_ids(
            fields.get("RequestId").map(Value::as_text),
            fields.get("UserId").map(Value::as_text),
        );
        // A signature refusal echoes the RequestId, as does (where it can be
        // found) a refusal of a body that could not be parsed.
        sign::check(context, &fields)
            .map_err(|error| error.reply(fields.request_id()).into_response())?;
        Ok(fields)
    }
}

async fn read(request: Request, limit: usize, within: Duration) -> Result<Fields, Reply> {
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let too_large = || {
        ApiError::BadParameter(format!(
            "the body is unreadable or larger than {limit} bytes"
        ))
        .reply(None)
    };
    // A declared length over the limit is refused before waiting for a body
    // that would be refused anyway.
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    // The body gets the same time as the headers did: a client dribbling
    // its body would otherwise hold a connection slot until the request
    // timeout, a far longer time.
    let bytes = match tokio::time::timeout(within, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Err(too_large()),
        Err(_) => {
            return Err(ApiError::BadParameter(format!(
                "the body did not arrive within {within:?}"
            ))
            .reply(None));
        }
    };
    Fields::parse(content_type, &bytes)
        .map_err(|reason| ApiError::BadParameter(reason).reply(request_id_of_unparsed(&bytes)))
}

/// The `RequestId` of a body that [`Fields::parse`] refused, so that the
/// refusal can still be matched to its request: taken when the body is a JSON
/// object or a form naming it exactly once, and only within the field's rules.
fn request_id_of_unparsed(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct OnlyRequestId {
        #[serde(rename = "RequestId")]
        request_id: Option<String>,
    }
    let from_json = || {
        serde_json::from_slice::<OnlyRequestId>(body)
            .ok()?
            .request_id
    };
    let from_form = || {
        let mut named = body.split(|byte| *byte == b'&').filter_map(|pair| {
            let at = pair.iter().position(|byte| *byte == b'=')?;
            let name = decode_form_part(&pair[..at]).ok()?;
            (name == "RequestId").then(|| decode_form_part(&pair[at + 1..]).ok())
        });
        match (named.next(), named.next()) {
            (Some(value), None) => value,
            _ => None,
        }
    };
    from_json()
        .or_else(from_form)
        .filter(|id| !id.is_empty() && check_text("RequestId", id).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(fields: &Fields, name: &str) -> Option<String> {
        fields.get(name).map(|value| value.as_text().to_owned())
    }

    #[test]
    fn a_json_object_gives_its_scalars_as_text() {
        let fields = Fields::from_json(
            br#"{"UserId":"u-1","Timestamp":1796313600,"Flag":true,"Ratio":-0.5}"#,
        )
        .unwrap();
        assert_eq!(text(&fields, "UserId").as_deref(), Some("u-1"));
        assert_eq!(text(&fields, "Timestamp").as_deref(), Some("1796313600"));
        assert_eq!(text(&fields, "Flag").as_deref(), Some("true"));
        assert_eq!(text(&fields, "Ratio").as_deref(), Some("-0.5"));
    }

    #[test]
    fn a_form_decodes_plus_and_percent_escapes() {
        let fields = Fields::from_form(b"UserId=a+b%2Bc&RequestId=%E7%94%A8&Empty=").unwrap();
        assert_eq!(text(&fields, "UserId").as_deref(), Some("a b+c"));
        assert_eq!(text(&fields, "RequestId").as_deref(), Some("用"));
        assert_eq!(text(&fields, "Empty").as_deref(), Some(""));
    }

    #[test]
    fn fields_iterate_in_byte_order_of_their_names() {
        let fields = Fields::from_json(br#"{"b":"2","B":"1","a":"3","_":"4"}"#).unwrap();
        let names: Vec<&str> = fields.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["B", "_", "a", "b"]);
    }

    #[test]
    fn unsignable_or_ambiguous_bodies_are_refused() {
        for body in [
            &br#"{"UserId":{"a":1}}"#[..],
            br#"{"UserId":["a"]}"#,
            br#"{"UserId":null}"#,
            br#"{"UserId":"a","UserId":"b"}"#,
            br#"{"Timestamp":1e9}"#,
            br#"{"Timestamp":123456789012345678901234567890123}"#,
            br#"["UserId"]"#,
            br#""text""#,
            br#"{"UserId":"a"} trailing"#,
            br#"{"UserId":"a""#,
            b"{\"UserId\":\"\xff\"}",
        ] {
            assert!(
                Fields::from_json(body).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        for body in [&b"UserId=a&UserId=b"[..], b"UserId=%FF", b"=value"] {
            assert!(
                Fields::from_form(body).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_request_id_breaking_its_rules_is_not_echoed() {
        // Found by the fuzz target: `9"RequestId=":H\0`, read as a form.
        let fields = Fields::parse(None, b"9\"RequestId=\":H\0").unwrap();
        assert_eq!(text(&fields, "9\"RequestId").as_deref(), Some("\":H\0"));
        let fields = Fields::from_form(b"RequestId=%22%3AH%00").unwrap();
        assert_eq!(fields.request_id(), None);
        let fields = Fields::from_form(b"RequestId=req-1").unwrap();
        assert_eq!(fields.request_id().as_deref(), Some("req-1"));
    }

    #[test]
    fn a_thousand_fields_are_refused() {
        let body: Vec<String> = (0..1000).map(|index| format!("f{index}=x")).collect();
        let error = Fields::from_form(body.join("&").as_bytes()).unwrap_err();
        assert!(error.contains("too many fields"), "{error}");
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let body = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Fields::from_json(body.as_bytes()).is_err());
    }

    #[test]
    fn the_content_type_picks_the_parser_and_its_absence_sniffs() {
        let json = br#"{"UserId":"u"}"#;
        let form = b"UserId=u";
        let expected = Fields::from_form(form).unwrap();
        assert_eq!(
            Fields::parse(Some("application/json; charset=utf-8"), json).unwrap(),
            expected
        );
        assert_eq!(
            Fields::parse(Some("application/x-www-form-urlencoded"), form).unwrap(),
            expected
        );
        assert_eq!(Fields::parse(None, json).unwrap(), expected);
        assert_eq!(Fields::parse(None, form).unwrap(), expected);
        assert_eq!(Fields::parse(Some("text/plain"), json).unwrap(), expected);
        assert!(Fields::parse(Some("application/json"), form).is_err());
        assert!(Fields::parse(Some("multipart/form-data; boundary=x"), form).is_err());
        assert_eq!(Fields::parse(None, b"").unwrap(), Fields::default());
        // Not JSON after all, so read as a form: no UserId comes out of it.
        let truncated = Fields::parse(None, br#" {"UserId":"u""#).unwrap();
        assert_eq!(truncated.get("UserId"), None);
        let form_with_a_brace = Fields::parse(None, b"{x=1&UserId=u").unwrap();
        assert_eq!(text(&form_with_a_brace, "UserId").as_deref(), Some("u"));
    }
}
