//! Typed ids of things that live inside Flink: jobs, uploaded jars, async operation triggers.
//!
//! Why: a job id, a trigger id and a jar id are all strings on the wire; mixing them up is an easy
//! and silent bug. Job and trigger ids are Flink `AbstractID`s (32 lower-case hex digits); choosing
//! them on the client side (from a UUID the caller stored first) is what makes submission and
//! savepoint triggering idempotent. Values are validated on construction and on deserialisation, so
//! a stored id is always safe to put into a URL path.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that is not a valid id of the named kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} '{value}': {reason}")]
pub struct InvalidId {
    /// Which id kind was being parsed ("Flink job id", "trigger id", "jar id").
    pub kind: &'static str,
    /// The rejected input (truncated to 100 characters).
    pub value: String,
    /// Why it was rejected.
    pub reason: &'static str,
}

impl InvalidId {
    fn new(kind: &'static str, value: &str, reason: &'static str) -> Self {
        InvalidId {
            kind,
            value: value.chars().take(100).collect(),
            reason,
        }
    }
}

fn parse_hex32(kind: &'static str, s: &str) -> Result<String, InvalidId> {
    if s.len() != 32 {
        return Err(InvalidId::new(kind, s, "expected 32 hexadecimal digits"));
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(InvalidId::new(kind, s, "expected only hexadecimal digits"));
    }
    Ok(s.to_ascii_lowercase())
}

macro_rules! hex32_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id Flink uses for this UUID: its 32-digit simple (no dashes) lower-case form.
            pub fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid.simple().to_string())
            }

            /// A fresh random id.
            pub fn random() -> Self {
                Self::from_uuid(Uuid::new_v4())
            }

            /// Parses 32 hexadecimal digits (upper case is accepted and normalised to lower case).
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                parse_hex32($kind, s).map($name)
            }

            /// The 32 lower-case hex digits.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

hex32_id!(
    /// A Flink job id. Submitting with a client-chosen id makes `run` at-most-once: Flink refuses a
    /// second job with the same id while the first is known to it.
    FlinkJobId,
    "Flink job id"
);

hex32_id!(
    /// Id of an async operation (savepoint, stop-with-savepoint, disposal). A client-chosen trigger id
    /// sent twice for the same job maps to one operation.
    TriggerId,
    "trigger id"
);

/// Id of a jar uploaded to Flink's `/jars`: `<uuid>_<file name>` as Flink assigns it.
///
/// Validated to be a single safe path segment (no `/`, `\`, control characters, `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JarId(String);

impl JarId {
    /// Parses a jar id as returned by Flink.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        const KIND: &str = "jar id";
        if s.is_empty() || s.len() > 512 {
            return Err(InvalidId::new(KIND, s, "expected 1 to 512 characters"));
        }
        if s == "." || s == ".." {
            return Err(InvalidId::new(KIND, s, "not a file name"));
        }
        if s.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
            return Err(InvalidId::new(
                KIND,
                s,
                "must not contain '/', '\\' or control characters",
            ));
        }
        Ok(JarId(s.to_owned()))
    }

    /// The id as Flink spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JarId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for JarId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for JarId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<JarId> for String {
    fn from(id: JarId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_id_from_uuid_is_simple_lower_hex() {
        let uuid = Uuid::parse_str("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0").unwrap();
        let id = FlinkJobId::from_uuid(uuid);
        assert_eq!(id.as_str(), "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
        assert_eq!(id.to_string(), id.as_str());
        assert_eq!(FlinkJobId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn hex_ids_normalise_case_and_reject_garbage() {
        let upper = "3E6CBA7F53181A6E67C0A911A542C471";
        assert_eq!(
            TriggerId::parse(upper).unwrap().as_str(),
            upper.to_lowercase()
        );
        for bad in [
            "",
            "abc",
            "3e6cba7f53181a6e67c0a911a542c47",
            "3e6cba7f53181a6e67c0a911a542c4712",
            "3e6cba7f-5318-1a6e-67c0-a911a542",
            "zz6cba7f53181a6e67c0a911a542c471",
            "../../../../../../etc/passwd/x",
        ] {
            let err = FlinkJobId::parse(bad).unwrap_err();
            assert_eq!(err.kind, "Flink job id", "{bad}");
        }
    }

    #[test]
    fn ids_round_trip_through_serde_as_strings() {
        let id = FlinkJobId::random();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<FlinkJobId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<TriggerId>("\"nope\"").is_err());
    }

    #[test]
    fn jar_ids_are_single_path_segments() {
        let id = JarId::parse("2ae6b675-1b3e-4483-8d2b-89cb7c4d7d20_stateful-counter.jar").unwrap();
        assert_eq!(
            id.as_str(),
            "2ae6b675-1b3e-4483-8d2b-89cb7c4d7d20_stateful-counter.jar"
        );
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb"] {
            assert!(JarId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
