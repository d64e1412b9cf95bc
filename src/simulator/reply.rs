//! How the simulated cloud answers: always HTTP 200 with a JSON envelope,
//! `{"Response":{…,"RequestId":…}}`, errors included.
//!
//! The content type is exactly `application/json`, with no charset
//! parameter: the official Python SDK only looks for an error in replies
//! whose `Content-Type` is literally that, so any other spelling would make it
//! mistake every failure for a success.

use crate::cloud::protocol::{Envelope, ErrorBody, FailureReply};
use axum::Json;
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use serde::Serialize;

/// A refusal in the cloud's terms: an error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The cloud error code, e.g. `AuthFailure.SignatureFailure`.
    pub(crate) code: String,
    /// A human-readable reason.
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The reply carrying this refusal.
    pub(crate) fn into_reply(self, request_id: String) -> Response {
        Json(Envelope {
            response: FailureReply {
                error: ErrorBody {
                    code: self.code,
                    message: self.message,
                },
                request_id,
            },
        })
        .into_response()
    }
}

/// The reply carrying a successful result; `body` already holds its
/// `RequestId`.
pub(crate) fn success<T: Serialize>(body: T) -> Response {
    Json(Envelope { response: body }).into_response()
}

/// A fresh request id shaped like the cloud's (a version-4 UUID), so that
/// clients which store or parse it see what they would see in production.
pub(crate) fn new_request_id() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A fresh `ServerSession`. The cloud's is an opaque base64 blob that the
/// page hands to `TCGSDK.start()`; this one has the same look and carries
/// nothing but randomness, so no client can come to depend on its content.
pub(crate) fn new_server_session() -> String {
    let bytes: [u8; 48] = rand::rng().random();
    base64(&bytes)
}

/// Standard base64 with padding; the simulator's only use of it does not
/// justify another dependency.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |acc, (i, byte)| {
            acc | u32::from(*byte) << (16 - 8 * i)
        });
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (group >> (18 - 6 * i)) & 0x3f;
                text.push(char::from(ALPHABET[index as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_and_fresh() {
        let first = new_request_id();
        assert_eq!(first.len(), 36);
        let groups: Vec<usize> = first.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(first.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_ne!(first, new_request_id());
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn server_sessions_are_fresh() {
        assert_eq!(new_server_session().len(), 64);
        assert_ne!(new_server_session(), new_server_session());
    }
}
