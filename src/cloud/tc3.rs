//! TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0.
//!
//! Signing is a pure function of the request's signed parts, the credentials
//! and the time: nothing here reads a clock or performs I/O, so the same
//! inputs always give the same `Authorization` header. The cloud client uses
//! [`authorization`] to sign what it sends; the simulator uses [`Authorization::parse`]
//! and [`signature`] to check what it receives, exactly as the cloud does.
//!
//! The algorithm, in four steps:
//!
//! 1. the canonical request: method, path `/`, an empty query, the signed
//!    headers as `name:value\n` lines, their names joined by `;`, and the
//!    SHA-256 of the payload;
//! 2. the string to sign: algorithm, timestamp, credential scope
//!    (`date/service/tc3_request`) and the SHA-256 of the canonical request;
//! 3. the signing key, derived from the secret key by chaining HMACs over the
//!    UTC date, the service and `tc3_request`;
//! 4. the signature: the HMAC of the string to sign under that key, in hex.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

/// The only algorithm Tencent Cloud API 3.0 accepts with this scheme.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// The headers this service signs: the minimum the cloud accepts.
pub const SIGNED_HEADERS: &str = "content-type;host";

/// A Tencent Cloud API key. The secret half never appears in `Debug` output.
#[derive(Clone)]
pub struct Credentials {
    /// The public half, sent in every `Authorization` header.
    pub secret_id: String,
    /// The private half; it only ever feeds the HMAC chain.
    pub secret_key: SecretString,
}

impl Credentials {
    pub fn new(secret_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            secret_key: SecretString::from(secret_key.into()),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"[redacted]")
            .finish()
    }
}

/// What a signature covers besides the payload.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The product's service name, `car` for this project.
    pub service: &'a str,
    /// Unix seconds, also sent as `X-TC-Timestamp`.
    pub timestamp: i64,
}

/// Signs a request with `content-type` and `host` and returns the whole
/// `Authorization` header value.
///
/// `host` is the `Host` header exactly as sent, port included when the
/// endpoint names one.
pub fn authorization(
    credentials: &Credentials,
    scope: Scope<'_>,
    content_type: &str,
    host: &str,
    payload: &[u8],
) -> String {
    let headers = [("content-type", content_type), ("host", host)];
    let signature = signature(
        credentials.secret_key.expose_secret(),
        scope,
        &headers,
        payload,
    );
    format!(
        "{ALGORITHM} Credential={}/{}/{}/tc3_request, SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        credentials.secret_id,
        utc_date(scope.timestamp),
        scope.service,
    )
}

/// The hex signature over `headers` (lowercase names, in the order they are
/// listed in `SignedHeaders`) and `payload`.
///
/// Header values are trimmed and lowercased, as the cloud's canonical form
/// requires; this is what lets the simulator verify SDKs that also sign
/// `x-tc-action` with the action name in its original case.
pub fn signature(
    secret_key: &str,
    scope: Scope<'_>,
    headers: &[(&str, &str)],
    payload: &[u8],
) -> String {
    let date = utc_date(scope.timestamp);

    let mut canonical_headers = String::new();
    let mut signed_headers = String::new();
    for (name, value) in headers {
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&value.trim().to_ascii_lowercase());
        canonical_headers.push('\n');
        if !signed_headers.is_empty() {
            signed_headers.push(';');
        }
        signed_headers.push_str(name);
    }
    let canonical_request = format!(
        "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(payload))
    );

    let credential_scope = format!("{date}/{}/tc3_request", scope.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{credential_scope}\n{}",
        scope.timestamp,
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );

    let secret_date = hmac(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let secret_service = hmac(&secret_date, scope.service.as_bytes());
    let secret_signing = hmac(&secret_service, b"tc3_request");
    hex::encode(hmac(&secret_signing, string_to_sign.as_bytes()))
}

/// The UTC calendar date of a unix timestamp, as `YYYY-MM-DD`.
///
/// Timestamps outside the calendar's range (years before 1 or after 9999)
/// give a date no real request can carry, so a forged one simply fails to
/// verify.
pub fn utc_date(timestamp: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(timestamp) {
        Ok(moment) => {
            let date = moment.date();
            format!(
                "{:04}-{:02}-{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            )
        }
        Err(_) => "0000-00-00".to_owned(),
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The parts of a received `Authorization` header, as the verifier needs them.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub secret_id: &'a str,
    pub date: &'a str,
    pub service: &'a str,
    /// Lowercase header names, in signing order.
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

impl<'a> Authorization<'a> {
    /// Parses `TC3-HMAC-SHA256 Credential=id/date/service/tc3_request,
    /// SignedHeaders=a;b, Signature=hex`. `None` when any part is missing or
    /// malformed.
    pub fn parse(header: &'a str) -> Option<Self> {
        let rest = header.strip_prefix(ALGORITHM)?.strip_prefix(' ')?;

        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            let (key, value) = part.trim().split_once('=')?;
            match key {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed_headers = Some(value),
                "Signature" => signature = Some(value),
                _ => return None,
            }
        }

        let mut scope = credential?.split('/');
        let (secret_id, date, service, terminator) =
            (scope.next()?, scope.next()?, scope.next()?, scope.next()?);
        if terminator != "tc3_request" || scope.next().is_some() || secret_id.is_empty() {
            return None;
        }

        let signed_headers: Vec<&str> = signed_headers?.split(';').collect();
        if signed_headers.iter().any(|name| name.is_empty()) {
            return None;
        }

        Some(Self {
            secret_id,
            date,
            service,
            signed_headers,
            signature: signature?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// One request captured from the official Python SDK; see `tests/vectors/README.md`.
    #[derive(Deserialize)]
    struct Vector {
        secret_id: String,
        secret_key: String,
        service: String,
        host: String,
        action: String,
        timestamp: i64,
        content_type: String,
        body: String,
        authorization: String,
    }

    fn vectors() -> Vec<Vector> {
        serde_json::from_str(include_str!("../../tests/vectors/tc3.json")).unwrap()
    }

    #[test]
    fn every_captured_sdk_request_gets_the_same_authorization_byte_for_byte() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 6, "the vector file changed size");
        for vector in vectors {
            let credentials = Credentials::new(vector.secret_id, vector.secret_key);
            let scope = Scope {
                service: &vector.service,
                timestamp: vector.timestamp,
            };
            let header = authorization(
                &credentials,
                scope,
                &vector.content_type,
                &vector.host,
                vector.body.as_bytes(),
            );
            assert_eq!(
                header, vector.authorization,
                "{} to {}",
                vector.action, vector.host
            );
        }
    }

    #[test]
    fn the_credential_date_is_the_utc_day_of_the_timestamp() {
        assert_eq!(utc_date(1_764_806_399), "2025-12-03");
        assert_eq!(utc_date(1_764_806_400), "2025-12-04");
        assert_eq!(utc_date(0), "1970-01-01");
    }

    #[test]
    fn a_signed_header_parses_back_into_its_parts() {
        for vector in vectors() {
            let parsed = Authorization::parse(&vector.authorization).unwrap();
            assert_eq!(parsed.secret_id, vector.secret_id);
            assert_eq!(parsed.service, "car");
            assert_eq!(parsed.date, utc_date(vector.timestamp));
            assert_eq!(parsed.signed_headers, ["content-type", "host"]);
            assert_eq!(parsed.signature.len(), 64);
        }
    }

    #[test]
    fn malformed_authorization_headers_are_refused() {
        for header in [
            "",
            "TC3-HMAC-SHA256",
            "HMAC-SHA1 Credential=a/2020-01-01/car/tc3_request, SignedHeaders=host, Signature=x",
            "TC3-HMAC-SHA256 Credential=a/2020-01-01/car, SignedHeaders=host, Signature=x",
            "TC3-HMAC-SHA256 Credential=a/2020-01-01/car/tc3_request, Signature=x",
            "TC3-HMAC-SHA256 Credential=a/2020-01-01/car/tc3_request, SignedHeaders=;, Signature=x",
            "TC3-HMAC-SHA256 Credential=/2020-01-01/car/tc3_request, SignedHeaders=host, Signature=x",
        ] {
            assert_eq!(Authorization::parse(header), None, "{header:?}");
        }
    }

    #[test]
    fn the_secret_key_never_shows_in_debug_output() {
        let credentials = Credentials::new("AKIDpublic", "very-secret-key");
        let debug = format!("{credentials:?}");
        assert!(debug.contains("AKIDpublic"));
        assert!(!debug.contains("very-secret-key"));
    }
}
