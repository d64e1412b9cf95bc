//! Checking a received request's TC3-HMAC-SHA256 signature, as the cloud does.
//!
//! The checks run in a fixed order and the first failure decides the error
//! code, so that a client sees the same code from the simulator as from the
//! cloud:
//!
//! 1. `Authorization` present and well formed, else
//!    `AuthFailure.InvalidAuthorization` (the simulator's choice for both a
//!    missing and an unparseable header);
//! 2. its SecretId is the configured one, else `AuthFailure.SecretIdNotFound`;
//! 3. `X-TC-Timestamp` present (`MissingParameter`), a number
//!    (`InvalidParameter`), and within the allowed clock skew
//!    (`AuthFailure.SignatureExpire`);
//! 4. the credential scope names the timestamp's UTC date and the `car`
//!    service, `SignedHeaders` includes `content-type` and `host` in lower
//!    case, every signed header was sent, and the signature matches — any of
//!    these wrong is `AuthFailure.SignatureFailure`.
//!
//! Any list of signed headers is verified, not only `content-type;host`:
//! official SDKs in some languages also sign `x-tc-action`.

use super::reply::Refusal;
use crate::cloud::protocol::{SERVICE, codes};
use crate::cloud::tc3::{self, Authorization, Credentials, Scope};
use axum::http::HeaderMap;
use secrecy::ExposeSecret;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The parts of a received request that its signature covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signed<'a> {
    /// All headers as received.
    pub(crate) headers: &'a HeaderMap,
    /// The request target's authority, standing in for `Host` where the
    /// protocol carries none (HTTP/2 puts it in `:authority`).
    pub(crate) authority: Option<&'a str>,
    /// The body bytes exactly as received.
    pub(crate) body: &'a [u8],
}

/// What a verifier needs to know besides the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Verifier<'a> {
    /// The one key the simulated account has.
    pub(crate) credentials: &'a Credentials,
    /// How far `X-TC-Timestamp` may be from `now`.
    pub(crate) max_clock_skew: Duration,
    /// The simulator's clock, in unix seconds.
    pub(crate) now: i64,
}

impl Verifier<'_> {
    /// Accepts the request or says, with the cloud's code, why not.
    pub(crate) fn verify(&self, request: Signed<'_>) -> Result<(), Refusal> {
        let authorization = header(request.headers, "authorization")
            .and_then(Authorization::parse)
            .ok_or_else(|| {
                Refusal::new(
                    codes::INVALID_AUTHORIZATION,
                    "The Authorization header is missing or is not a TC3-HMAC-SHA256 authorization.",
                )
            })?;

        if authorization.secret_id != self.credentials.secret_id {
            return Err(Refusal::new(
                codes::SECRET_ID_NOT_FOUND,
                "The SecretId is not found, please ensure that your SecretId is correct.",
            ));
        }

        let timestamp = self.timestamp(request.headers)?;
        let expected_scope =
            authorization.date == tc3::utc_date(timestamp) && authorization.service == SERVICE;
        if !expected_scope {
            return Err(signature_failure(
                "The credential scope must name the UTC date of X-TC-Timestamp and the service car.",
            ));
        }

        let names = &authorization.signed_headers;
        let required_present = ["content-type", "host"]
            .iter()
            .all(|required| names.contains(required));
        let lower_case = names
            .iter()
            .all(|name| !name.bytes().any(|b| b.is_ascii_uppercase()));
        if !required_present || !lower_case {
            return Err(signature_failure(
                "SignedHeaders must list content-type and host, in lower case.",
            ));
        }

        let mut signed = Vec::with_capacity(names.len());
        for name in names {
            let value = match *name {
                "host" => header(request.headers, "host").or(request.authority),
                other => header(request.headers, other),
            }
            .ok_or_else(|| {
                signature_failure(format!(
                    "The signed header {name} is missing from the request."
                ))
            })?;
            signed.push((*name, value));
        }

        let scope = Scope {
            service: SERVICE,
            timestamp,
        };
        let expected = tc3::signature(
            self.credentials.secret_key.expose_secret(),
            scope,
            &signed,
            request.body,
        );
        let matches: bool = expected
            .as_bytes()
            .ct_eq(authorization.signature.as_bytes())
            .into();
        if !matches {
            return Err(signature_failure(
                "The provided credentials could not be validated. Please check your signature is correct.",
            ));
        }
        Ok(())
    }

    /// `X-TC-Timestamp`, checked for presence, form and freshness.
    fn timestamp(&self, headers: &HeaderMap) -> Result<i64, Refusal> {
        let text = header(headers, "x-tc-timestamp").ok_or_else(|| {
            Refusal::new(
                codes::MISSING_PARAMETER,
                "The request is missing the X-TC-Timestamp header.",
            )
        })?;
        let timestamp: i64 = text.trim().parse().map_err(|_| {
            Refusal::new(
                codes::INVALID_PARAMETER,
                "X-TC-Timestamp must be a unix time in seconds.",
            )
        })?;

        let skew = timestamp.abs_diff(self.now);
        if skew > self.max_clock_skew.as_secs() {
            return Err(Refusal::new(
                codes::SIGNATURE_EXPIRE,
                format!(
                    "Signature expired: X-TC-Timestamp {timestamp} is {skew} s away from the \
                     server's time {}; the limit is {} s.",
                    self.now,
                    self.max_clock_skew.as_secs()
                ),
            ));
        }
        Ok(timestamp)
    }
}

/// A header's first value, if it is text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

fn signature_failure(message: impl Into<String>) -> Refusal {
    Refusal::new(codes::SIGNATURE_FAILURE, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const NOW: i64 = 1_764_806_400;
    const BODY: &[u8] = br#"{"UserId":"u1"}"#;

    fn credentials() -> Credentials {
        Credentials::new("AKIDsimulated", "simulated-secret")
    }

    fn verifier(credentials: &Credentials) -> Verifier<'_> {
        Verifier {
            credentials,
            max_clock_skew: Duration::from_secs(300),
            now: NOW,
        }
    }

    /// Headers of a request signed the way this service's client signs.
    fn signed_headers(credentials: &Credentials, timestamp: i64) -> HeaderMap {
        let scope = Scope {
            service: "car",
            timestamp,
        };
        let authorization = tc3::authorization(
            credentials,
            scope,
            "application/json",
            "127.0.0.1:4055",
            BODY,
        );
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("host", HeaderValue::from_static("127.0.0.1:4055"));
        headers.insert("x-tc-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("x-tc-action", HeaderValue::from_static("DestroySession"));
        headers.insert("authorization", authorization.parse().unwrap());
        headers
    }

    fn verify(headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
        let credentials = credentials();
        let request = Signed {
            headers,
            authority: None,
            body,
        };
        verifier(&credentials)
            .verify(request)
            .map_err(|refusal| refusal.code)
    }

    #[test]
    fn a_correctly_signed_request_is_accepted() {
        let headers = signed_headers(&credentials(), NOW);
        assert_eq!(verify(&headers, BODY), Ok(()));
    }

    #[test]
    fn a_changed_body_fails_the_signature() {
        let headers = signed_headers(&credentials(), NOW);
        assert_eq!(
            verify(&headers, br#"{"UserId":"u2"}"#),
            Err(codes::SIGNATURE_FAILURE.into())
        );
    }

    #[test]
    fn a_different_host_fails_the_signature() {
        let mut headers = signed_headers(&credentials(), NOW);
        headers.insert("host", HeaderValue::from_static("127.0.0.1"));
        assert_eq!(verify(&headers, BODY), Err(codes::SIGNATURE_FAILURE.into()));
    }

    #[test]
    fn a_missing_or_garbled_authorization_is_invalid() {
        let mut headers = signed_headers(&credentials(), NOW);
        headers.remove("authorization");
        assert_eq!(
            verify(&headers, BODY),
            Err(codes::INVALID_AUTHORIZATION.into())
        );

        headers.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(
            verify(&headers, BODY),
            Err(codes::INVALID_AUTHORIZATION.into())
        );
    }

    #[test]
    fn another_accounts_secret_id_is_not_found() {
        let headers = signed_headers(&Credentials::new("AKIDother", "simulated-secret"), NOW);
        assert_eq!(
            verify(&headers, BODY),
            Err(codes::SECRET_ID_NOT_FOUND.into())
        );
    }

    #[test]
    fn the_wrong_secret_key_fails_the_signature() {
        let headers = signed_headers(&Credentials::new("AKIDsimulated", "guessed"), NOW);
        assert_eq!(verify(&headers, BODY), Err(codes::SIGNATURE_FAILURE.into()));
    }

    #[test]
    fn a_timestamp_must_be_present_numeric_and_fresh() {
        let mut headers = signed_headers(&credentials(), NOW);
        headers.remove("x-tc-timestamp");
        assert_eq!(verify(&headers, BODY), Err(codes::MISSING_PARAMETER.into()));

        headers.insert("x-tc-timestamp", HeaderValue::from_static("yesterday"));
        assert_eq!(verify(&headers, BODY), Err(codes::INVALID_PARAMETER.into()));

        let at_the_limit = signed_headers(&credentials(), NOW - 300);
        assert_eq!(verify(&at_the_limit, BODY), Ok(()));
        let too_old = signed_headers(&credentials(), NOW - 301);
        assert_eq!(verify(&too_old, BODY), Err(codes::SIGNATURE_EXPIRE.into()));
        let from_the_future = signed_headers(&credentials(), NOW + 301);
        assert_eq!(
            verify(&from_the_future, BODY),
            Err(codes::SIGNATURE_EXPIRE.into())
        );
    }

    #[test]
    fn the_credential_date_must_match_the_timestamp() {
        let mut headers = signed_headers(&credentials(), NOW);
        let forged = headers["authorization"]
            .to_str()
            .unwrap()
            .replace("2025-12-04", "2025-12-03");
        headers.insert("authorization", forged.parse().unwrap());
        assert_eq!(verify(&headers, BODY), Err(codes::SIGNATURE_FAILURE.into()));
    }

    #[test]
    fn the_service_must_be_car() {
        let mut headers = signed_headers(&credentials(), NOW);
        let forged = headers["authorization"]
            .to_str()
            .unwrap()
            .replace("/car/", "/cvm/");
        headers.insert("authorization", forged.parse().unwrap());
        assert_eq!(verify(&headers, BODY), Err(codes::SIGNATURE_FAILURE.into()));
    }

    /// Signs `names` with their values from `headers`, as an SDK that chose
    /// that list would.
    fn sign_with(headers: &mut HeaderMap, names: &[&str]) {
        let credentials = credentials();
        let values: Vec<(&str, String)> = names
            .iter()
            .map(|name| {
                let value = headers
                    .get(*name)
                    .map_or("", |v| v.to_str().unwrap())
                    .to_owned();
                (*name, value)
            })
            .collect();
        let pairs: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let scope = Scope {
            service: "car",
            timestamp: NOW,
        };
        let signature = tc3::signature("simulated-secret", scope, &pairs, BODY);
        let header = format!(
            "TC3-HMAC-SHA256 Credential={}/2025-12-04/car/tc3_request, SignedHeaders={}, Signature={signature}",
            credentials.secret_id,
            names.join(";")
        );
        headers.insert("authorization", header.parse().unwrap());
    }

    #[test]
    fn any_list_of_signed_headers_that_includes_content_type_and_host_is_verified() {
        let mut headers = signed_headers(&credentials(), NOW);
        sign_with(&mut headers, &["content-type", "host", "x-tc-action"]);
        assert_eq!(verify(&headers, BODY), Ok(()));

        // The action is now covered by the signature.
        headers.insert("x-tc-action", HeaderValue::from_static("CreateSession"));
        assert_eq!(verify(&headers, BODY), Err(codes::SIGNATURE_FAILURE.into()));
    }

    #[test]
    fn signed_headers_without_host_or_content_type_are_refused() {
        for names in [&["content-type"][..], &["host"], &["content-type", "Host"]] {
            let mut headers = signed_headers(&credentials(), NOW);
            sign_with(&mut headers, names);
            assert_eq!(
                verify(&headers, BODY),
                Err(codes::SIGNATURE_FAILURE.into()),
                "{names:?}"
            );
        }
    }

    #[test]
    fn a_signed_header_that_was_not_sent_is_refused() {
        let mut headers = signed_headers(&credentials(), NOW);
        sign_with(&mut headers, &["content-type", "host", "x-tc-region"]);
        assert_eq!(verify(&headers, BODY), Err(codes::SIGNATURE_FAILURE.into()));
    }

    #[test]
    fn without_a_host_header_the_authority_is_what_was_signed() {
        let credentials = credentials();
        let mut headers = signed_headers(&credentials, NOW);
        headers.remove("host");
        let request = Signed {
            headers: &headers,
            authority: Some("127.0.0.1:4055"),
            body: BODY,
        };
        assert_eq!(verifier(&credentials).verify(request), Ok(()));
    }
}
