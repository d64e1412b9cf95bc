//! The service's vocabulary: users, projects and the fields that name them,
//! checked once at the boundary so that nothing past it checks again.
//!
//! Limits keep what reaches the cloud, the logs and the queue small and
//! printable: no field may hold a control character (a newline in a `UserId`
//! must not be able to forge a log line), and each has a documented maximum
//! length in bytes, listed in [`FIELD_LIMITS`].

use std::fmt;

/// The longest value each field may have, in bytes. `ClientSession` is bounded
/// by the body limit alone: it carries the browser's WebRTC offer.
pub const FIELD_LIMITS: &[(&str, usize)] = &[
    ("UserId", 128),
    ("ProjectId", 128),
    ("ApplicationId", 128),
    ("ApplicationVersionId", 128),
    ("RequestId", 128),
    ("RunMode", 64),
    ("ApplicationParameters", 4096),
    ("HostUserId", 128),
    ("Role", 64),
];

/// A value a field cannot take; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidField(pub String);

/// The limit of `name`, if it has one.
pub fn field_limit(name: &str) -> Option<usize> {
    FIELD_LIMITS
        .iter()
        .find(|(field, _)| *field == name)
        .map(|(_, limit)| *limit)
}

/// Checks one value against its field's rules; the error names the field.
pub fn check_text(name: &str, value: &str) -> Result<(), InvalidField> {
    if let Some(limit) = field_limit(name)
        && value.len() > limit
    {
        return Err(InvalidField(format!("{name} is longer than {limit} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidField(format!("{name} contains a control character")));
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The field's name in requests.
            pub const FIELD: &'static str = $field;

            /// Accepts a non-empty value within the field's limits.
            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidField> {
                let value = value.into();
                if value.is_empty() {
                    return Err(InvalidField(format!("{} is required", $field)));
                }
                check_text($field, &value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

identifier!(
    /// The business's own id for an end user: it names the user's line
    /// position, reservation and session.
    UserId,
    "UserId"
);

identifier!(
    /// A CAR project (`cap-…`): its machines are the concurrency the users
    /// of one line compete for.
    ProjectId,
    "ProjectId"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_must_be_non_empty_printable_and_short() {
        assert!(UserId::parse("user-1").is_ok());
        assert!(UserId::parse("用户甲").is_ok());
        assert!(
            UserId::parse("")
                .unwrap_err()
                .0
                .contains("UserId is required")
        );
        assert!(
            UserId::parse("a\nb")
                .unwrap_err()
                .0
                .contains("control character")
        );
        assert!(
            UserId::parse("x".repeat(129))
                .unwrap_err()
                .0
                .contains("128 bytes")
        );
        assert!(UserId::parse("x".repeat(128)).is_ok());
        assert!(ProjectId::parse("cap-\u{7}").is_err());
    }
}
