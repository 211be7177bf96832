//! Pieces shared by every resource: the spec-version annotation, failures, lists, names and time.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::ValidationError;

/// `apiVersion` of every resource.
pub const API_VERSION: &str = "v1";

/// The deployment's spec version. The server increments it on every change of `spec.template`; every
/// savepoint stateplane takes carries the version of the spec that ran, and a savepoint without it is
/// never used for a restore.
pub const SPEC_VERSION_ANNOTATION: &str =
    "com.dataartisans.appmanager.controller.deployment.spec.version";

/// Set on a registered snapshot whose storage stateplane could not read, so it was accepted unchecked.
pub const UNVERIFIED_LOCATION_ANNOTATION: &str = "stateplane.io/location-unverified";

/// The current time, truncated to microseconds so that it survives every store unchanged.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Key/value annotations or labels. Input accepts any scalar value (YAML writes `spec.version: 3`
/// unquoted) and keeps it as a string.
pub type StringMap = BTreeMap<String, String>;

/// Deserialises a map whose values may be strings, numbers or booleans, keeping them as strings.
pub fn lenient_string_map<'de, D: Deserializer<'de>>(d: D) -> Result<StringMap, D::Error> {
    use serde::de::Error;
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    let mut out = StringMap::new();
    for (k, v) in raw.unwrap_or_default() {
        let s = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => continue,
            _ => return Err(D::Error::custom(format!("value of '{k}' must be a string"))),
        };
        out.insert(k, s);
    }
    Ok(out)
}

/// Like [`lenient_string_map`], for a map that may be absent: `null` and a missing member are `None`.
pub fn lenient_optional_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<StringMap>, D::Error> {
    let raw: Option<serde_json::Value> = Option::deserialize(d)?;
    match raw {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => lenient_string_map(v)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(e.to_string())),
    }
}

/// Why something failed, as shown in a resource's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// A short machine-readable reason, e.g. `SAVEPOINT_FAILED`.
    pub reason: String,
    /// One line for a person: what happened, including Flink's root cause where there is one.
    pub message: String,
    pub failed_at: DateTime<Utc>,
}

impl Failure {
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            message: message.into(),
            failed_at: now(),
        }
    }
}

/// `ResourceListOf<Kind>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceList<T> {
    pub api_version: String,
    pub kind: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub items: Vec<T>,
}

impl<T> ResourceList<T> {
    pub fn new(kind: &str, items: Vec<T>) -> Self {
        Self {
            api_version: API_VERSION.into(),
            kind: format!("ResourceListOf{kind}"),
            metadata: Default::default(),
            items,
        }
    }
}

/// Checks that `name` is a DNS label: lower-case letters, digits and `-`, starting and ending with a
/// letter or digit, at most 63 characters. Namespace, deployment and target names follow this rule.
pub fn validate_dns_label(field: &str, name: &str) -> Result<(), ValidationError> {
    let err = |m: &str| Err(ValidationError::invalid(field, m));
    if name.is_empty() {
        return err("must not be empty");
    }
    if name.len() > 63 {
        return err("must be at most 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return err("may contain only lower-case letters, digits and '-'");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return err("must start and end with a letter or digit");
    }
    Ok(())
}

/// Parses the spec-version annotation of a resource's annotations, if present and a positive integer.
pub fn spec_version_of(annotations: &StringMap) -> Option<u64> {
    annotations
        .get(SPEC_VERSION_ANNOTATION)
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["default", "a", "team-1", "0abc", &"a".repeat(63)] {
            assert!(validate_dns_label("n", ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "a_b", "-a", "a-", "a.b", "ü", &"a".repeat(64)] {
            assert!(validate_dns_label("n", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lenient_maps_keep_scalars_as_strings() {
        #[derive(Deserialize)]
        struct W {
            #[serde(deserialize_with = "lenient_string_map")]
            m: StringMap,
        }
        let w: W = serde_json::from_value(serde_json::json!({"m": {"a": 3, "b": "x", "c": true}}))
            .unwrap();
        assert_eq!(w.m["a"], "3");
        assert_eq!(w.m["b"], "x");
        assert_eq!(w.m["c"], "true");
        assert!(serde_json::from_value::<W>(serde_json::json!({"m": {"a": [1]}})).is_err());
    }

    #[test]
    fn spec_version_parses_only_integers() {
        let mut m = StringMap::new();
        assert_eq!(spec_version_of(&m), None);
        m.insert(SPEC_VERSION_ANNOTATION.into(), "3".into());
        assert_eq!(spec_version_of(&m), Some(3));
        m.insert(SPEC_VERSION_ANNOTATION.into(), "x".into());
        assert_eq!(spec_version_of(&m), None);
    }
}
