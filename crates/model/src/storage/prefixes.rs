//! The prefixes a namespace's registered snapshots may come from, set by the admin.
//!
//! A namespace with prefixes set accepts a registration (a COPIED savepoint at a location the user
//! names) only when the location lies at or below one of them, or under the namespace's own derived
//! blob-storage directories (its own data is always its own). No prefixes (the default) means no
//! restriction beyond the fence against other namespaces' directories. Savepoints stateplane takes,
//! retained checkpoints it records and copies of the namespace's own savepoints are not registrations
//! and are never refused by this. Prefixes are kept normalised ([`crate::normalize_location`]) and
//! compared by whole path segments ([`super::layout::is_under`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::layout;
use crate::{normalize_location, ValidationError};

/// Most prefixes one namespace may declare.
pub const MAX_PREFIXES: usize = 64;
/// Longest prefix accepted.
pub const MAX_PREFIX_LEN: usize = 1024;

/// The schemes stateplane reads snapshots from.
const SCHEMES: [&str; 9] = [
    "file", "s3", "s3a", "s3p", "gs", "az", "azure", "abfs", "abfss",
];

/// A namespace's allowed snapshot prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPrefixes {
    pub namespace: String,
    /// Normalised prefixes; empty: registrations are not restricted by prefix.
    pub prefixes: Vec<String>,
    /// When the admin last set them; absent when never set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<DateTime<Utc>>,
}

impl SnapshotPrefixes {
    /// No prefixes set.
    pub fn none(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            prefixes: Vec::new(),
            modified_at: None,
        }
    }

    /// Whether a registration at `location` is allowed (see the module docs); `blob_base` names the
    /// server's blob storage, whose derived directories of this namespace are always allowed.
    pub fn allows(&self, location: &str, blob_base: Option<&str>) -> bool {
        if self.prefixes.is_empty() {
            return true;
        }
        let own = blob_base
            .and_then(|b| layout::derived(location, b))
            .is_some_and(|d| d.namespace == self.namespace);
        own || self.prefixes.iter().any(|p| layout::is_under(location, p))
    }
}

/// Checks and normalises prefixes given by the admin (field `prefixes[i]`): a URI of a scheme
/// stateplane reads, with a path below the bucket or root (never a whole file system), at most
/// [`MAX_PREFIX_LEN`] characters, at most [`MAX_PREFIXES`] of them; duplicates are dropped.
pub fn validate(prefixes: &[String]) -> Result<Vec<String>, ValidationError> {
    if prefixes.len() > MAX_PREFIXES {
        return Err(ValidationError::invalid(
            "prefixes",
            format!("at most {MAX_PREFIXES} prefixes"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, p) in prefixes.iter().enumerate() {
        let field = format!("prefixes[{i}]");
        let p = p.trim();
        if p.is_empty() || p.chars().count() > MAX_PREFIX_LEN {
            return Err(ValidationError::invalid(
                &field,
                format!("must be a storage URI of 1 to {MAX_PREFIX_LEN} characters"),
            ));
        }
        // `file:/x` is Flink's spelling of `file:///x`; other schemes need their `//`.
        let scheme = p
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .filter(|s| s == "file" || p[s.len()..].starts_with("://"));
        if !scheme.as_deref().is_some_and(|s| SCHEMES.contains(&s)) {
            return Err(ValidationError::invalid(
                &field,
                "must be a file://, s3:// (s3a://, s3p://), gs:// or az:// (abfs[s]://) URI",
            ));
        }
        let n = normalize_location(p);
        let path = n.split_once("://").map_or("", |(_, r)| r);
        let below_root = match scheme.as_deref() {
            Some("file") => path.trim_matches('/').contains(|c| c != '/'),
            _ => path.trim_matches('/').contains('/'),
        };
        if !below_root || n.split('/').any(|s| s == "..") {
            return Err(ValidationError::invalid(
                &field,
                "must name a directory below the root of a file system or bucket (and no '..')",
            ));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_prefix() {
        let ok = validate(&[
            "s3://bucket/team-a/".into(),
            "file:/srv/snapshots".into(),
            "s3://bucket/team-a".into(),
        ])
        .unwrap();
        assert_eq!(ok, ["s3://bucket/team-a", "file:///srv/snapshots"]);
        for (bad, i) in [
            (vec!["s3://bucket/x".to_string(), "http://x/y".into()], 1),
            (vec!["".into()], 0),
            (vec!["file:///".into()], 0),
            (vec!["s3://bucket".into()], 0),
            (vec!["s3://bucket/".into()], 0),
            (vec!["/no/scheme".into()], 0),
            (vec!["file:///a/../b".into()], 0),
        ] {
            let e = validate(&bad).unwrap_err();
            assert_eq!(e.field(), format!("prefixes[{i}]"), "{bad:?}: {e:?}");
        }
        let many: Vec<String> = (0..=MAX_PREFIXES).map(|i| format!("s3://b/{i}")).collect();
        assert_eq!(validate(&many).unwrap_err().field(), "prefixes");
    }

    #[test]
    fn allows_below_a_prefix_and_the_namespaces_own_directories() {
        let p = SnapshotPrefixes {
            namespace: "a".into(),
            prefixes: vec!["s3://bucket/team-a".into()],
            modified_at: None,
        };
        let blob = Some("s3://blob/base");
        assert!(p.allows("s3://bucket/team-a/savepoint-1", blob));
        assert!(p.allows("s3://bucket/team-a", blob));
        assert!(!p.allows("s3://bucket/team-ab/savepoint-1", blob));
        assert!(!p.allows("s3://bucket/savepoint-1", blob));
        assert!(p.allows(
            "s3://blob/base/flink-savepoints/namespaces/a/deployments/D/S/savepoint-1",
            blob
        ));
        assert!(!p.allows(
            "s3://blob/base/flink-savepoints/namespaces/b/deployments/D/S/savepoint-1",
            blob
        ));
        assert!(SnapshotPrefixes::none("a").allows("file:///anything", None));
    }
}
