//! The request signature `Sign`, checked in front of every endpoint when
//! `API_SIGN=Y`.
//!
//! The page computes `Sign` as the lowercase hex SHA-256 of every other field's
//! value, concatenated in byte order of the field names, followed by the salt
//! (`SALT`). The salt is shared with the page's build, not with the browser
//! user, so `Sign` only proves that a request was made by a page that knows
//! it; with `SIGN_MAX_AGE` set, a signed `Timestamp` also limits replays.

use super::ApiContext;
use super::fields::{Fields, Value};
use super::reply::ApiError;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

/// The expected `Sign` of `fields` under `salt`.
pub fn expected_sign(fields: &Fields, salt: &str) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in fields.iter() {
        if name != "Sign" {
            hasher.update(value.as_text().as_bytes());
        }
    }
    hasher.update(salt.as_bytes());
    hex::encode(hasher.finalize())
}

/// Checks `Sign` (and, with `max_age`, `Timestamp`) against `now` in unix
/// seconds. A missing `Sign` is a missing parameter (10001); a wrong one, or
/// a stale or missing `Timestamp`, is a mismatch (10000).
pub fn verify(
    fields: &Fields,
    salt: &str,
    max_age: Option<Duration>,
    now: u64,
) -> Result<(), ApiError> {
    let sign = match fields.get("Sign") {
        Some(Value::Text(sign)) if !sign.is_empty() => sign,
        _ => return Err(ApiError::BadParameter("Sign is required".into())),
    };

    let expected = expected_sign(fields, salt);
    // Constant time, so that the comparison does not tell an attacker how
    // many leading characters were right. Case-insensitive hex is accepted.
    let matches: bool = expected
        .as_bytes()
        .ct_eq(sign.to_ascii_lowercase().as_bytes())
        .into();
    if !matches {
        // The reply's Msg already begins "Sign does not match".
        return Err(ApiError::SignMismatch(
            "it is not the value computed from the other fields and the salt".into(),
        ));
    }

    if let Some(max_age) = max_age {
        let timestamp = fields
            .get("Timestamp")
            .ok_or_else(|| ApiError::SignMismatch("Timestamp (unix seconds) is required".into()))?
            .as_text()
            .parse::<u64>()
            .map_err(|_| {
                ApiError::SignMismatch(
                    "Timestamp must be whole unix seconds, e.g. 1796313600".into(),
                )
            })?;
        if now.abs_diff(timestamp) > max_age.as_secs() {
            return Err(ApiError::SignMismatch(format!(
                "Timestamp is more than {}s away from the server's clock",
                max_age.as_secs()
            )));
        }
    }
    Ok(())
}

/// With signing on, refuses fields whose `Sign` does not verify (logged,
/// since a run of refusals is worth an operator's look). Called by the
/// [`Fields`] extractor, so that every endpoint checks exactly the fields its
/// handler then reads.
pub fn check(context: &ApiContext, fields: &Fields) -> Result<(), ApiError> {
    let Some(sign) = &context.settings.sign else {
        return Ok(());
    };

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    verify(fields, sign.salt.expose_secret(), sign.max_age, now).inspect_err(|error| {
        tracing::info!(code = error.code().number(), reason = %error, "request signature refused");
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::reply::Code;
    use serde::Deserialize;

    /// One worked case from the original Node service; see `tests/vectors/README.md`.
    #[derive(Deserialize)]
    struct Vector {
        path: String,
        salt: String,
        params: serde_json::Value,
        sign: String,
    }

    fn vectors() -> Vec<Vector> {
        serde_json::from_str(include_str!("../../tests/vectors/request-sign.json")).unwrap()
    }

    fn fields_of(params: &serde_json::Value) -> Fields {
        Fields::from_json(params.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn every_worked_case_of_the_node_service_gives_its_sign() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 5, "the vector file changed size");
        for vector in vectors {
            let fields = fields_of(&vector.params);
            assert_eq!(
                expected_sign(&fields, &vector.salt),
                vector.sign,
                "{}",
                vector.path
            );
        }
    }

    #[test]
    fn a_signed_request_verifies_and_a_tampered_one_does_not() {
        for vector in vectors() {
            let mut params = vector.params.clone();
            params["Sign"] = vector.sign.clone().into();
            assert!(verify(&fields_of(&params), &vector.salt, None, 0).is_ok());

            params["UserId"] = "someone-else".into();
            let error = verify(&fields_of(&params), &vector.salt, None, 0).unwrap_err();
            assert_eq!(error.code(), Code::SignMismatch, "{}", vector.path);
        }
    }

    #[test]
    fn a_missing_sign_is_a_missing_parameter() {
        let fields = fields_of(&serde_json::json!({"UserId": "u"}));
        let error = verify(&fields, "salt", None, 0).unwrap_err();
        assert_eq!(error.code(), Code::BadParameter);
    }

    #[test]
    fn with_a_max_age_the_timestamp_must_be_fresh() {
        let vector = vectors()
            .into_iter()
            .find(|v| v.params.get("Timestamp").is_some())
            .unwrap();
        let mut params = vector.params.clone();
        params["Sign"] = vector.sign.clone().into();
        let fields = fields_of(&params);
        let max_age = Some(Duration::from_secs(300));
        let signed_at = 1_796_313_600;

        assert!(verify(&fields, &vector.salt, max_age, signed_at + 299).is_ok());
        let stale = verify(&fields, &vector.salt, max_age, signed_at + 301).unwrap_err();
        assert_eq!(stale.code(), Code::SignMismatch);

        let unstamped = vectors().remove(0);
        let mut params = unstamped.params.clone();
        params["Sign"] = unstamped.sign.clone().into();
        let error = verify(&fields_of(&params), &unstamped.salt, max_age, signed_at).unwrap_err();
        assert_eq!(error.code(), Code::SignMismatch);
        assert!(error.to_string().contains("is required"), "{error}");
    }

    #[test]
    fn a_timestamp_that_is_not_whole_seconds_is_named_as_such() {
        let max_age = Some(Duration::from_secs(300));
        for timestamp in ["1.5", "-5", "99999999999999999999", "soon"] {
            let mut fields = fields_of(&serde_json::json!({"UserId": "u", "Timestamp": timestamp}));
            let sign = expected_sign(&fields, "salt");
            fields = fields_of(
                &serde_json::json!({"UserId": "u", "Timestamp": timestamp, "Sign": sign}),
            );
            let error = verify(&fields, "salt", max_age, 1_796_313_600).unwrap_err();
            assert_eq!(error.code(), Code::SignMismatch);
            assert!(
                error.to_string().contains("whole unix seconds"),
                "{timestamp}: {error}"
            );
        }
    }
}
