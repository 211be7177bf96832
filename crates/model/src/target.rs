//! Deployment targets: where a deployment's jobs run. Here, an existing Flink session cluster.
//!
//! The spec is the user's (the cluster's REST URL); the status is the controller's (the Flink version
//! the cluster reports, and whether it answered). A deployment declares the Flink version its job was
//! built for (`spec.template.spec.artifact.flinkVersion`); [`DeploymentTarget::check_artifact_flink_version`]
//! is the one rule, used by the API at create/PATCH and by the controller before a start, that the
//! two belong to the same release line (major.minor).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::{lenient_string_map, validate_dns_label, StringMap};
use crate::{DeploymentTargetId, ValidationError, API_VERSION};

/// A DeploymentTarget resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTarget {
    pub api_version: String,
    pub kind: String,
    pub metadata: DeploymentTargetMetadata,
    pub spec: DeploymentTargetSpec,
    /// What the controller last observed of the cluster; absent until it first looked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeploymentTargetStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTargetMetadata {
    pub id: DeploymentTargetId,
    pub name: String,
    pub namespace: String,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub annotations: StringMap,
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub labels: StringMap,
    pub resource_version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTargetSpec {
    pub flink_session_cluster: FlinkSessionCluster,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlinkSessionCluster {
    /// Base URL of the cluster's REST API, e.g. `http://127.0.0.1:8081`.
    pub rest_url: String,
}

/// The cluster as the controller last saw it (`GET /overview`), written only by the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTargetStatus {
    /// The Flink version the cluster reported, e.g. `1.20.5`; kept from the last answer while the
    /// cluster does not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_version: Option<String>,
    /// When the controller last confirmed this status (refreshed at least every minute while the
    /// controller runs, at once when something changes).
    pub observed_at: DateTime<Utc>,
    /// Whether the cluster answered then.
    pub reachable: bool,
    /// Why the cluster could not be asked, when it did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The cluster's scheduler (`jobmanager.scheduler` of `GET /jobmanager/config`: `adaptive`, or
    /// `default` when the key is not set); absent until asked. Decides whether a job's parallelism
    /// can change in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
}

/// The release line (major, minor) of a Flink version such as `1.20`, `1.20.5` or `2.1-SNAPSHOT`.
pub fn flink_release_line(version: &str) -> Option<(u32, u32)> {
    let core = version.trim().split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let mut number = || -> Option<u32> {
        parts
            .next()
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?
            .parse()
            .ok()
    };
    let line = (number()?, number()?);
    (line.0 > 0).then_some(line)
}

impl DeploymentTarget {
    /// The Flink version the cluster reports, while it is reachable.
    pub fn reported_flink_version(&self) -> Option<&str> {
        self.status
            .as_ref()
            .filter(|s| s.reachable)
            .and_then(|s| s.flink_version.as_deref())
    }

    /// The cluster runs Flink's adaptive scheduler, as last observed (None: not known).
    pub fn adaptive_scheduler(&self) -> Option<bool> {
        self.status
            .as_ref()
            .and_then(|s| s.scheduler.as_deref())
            .map(|s| s.trim().eq_ignore_ascii_case("adaptive"))
    }

    /// Refuses a job built for Flink `artifact_version` (a deployment's
    /// `spec.template.spec.artifact.flinkVersion`) on a cluster reporting `cluster_version`, unless
    /// both are of the same release line (major.minor). Nothing to check when either is unknown.
    pub fn check_artifact_flink_version(
        &self,
        artifact_version: Option<&str>,
        cluster_version: Option<&str>,
    ) -> Result<(), ValidationError> {
        let (Some(wanted), Some(runs)) = (artifact_version, cluster_version) else {
            return Ok(());
        };
        let field = "spec.template.spec.artifact.flinkVersion";
        let name = &self.metadata.name;
        let Some(wanted_line) = flink_release_line(wanted) else {
            return Err(ValidationError::invalid(
                field,
                format!("'{wanted}' is not a Flink version such as 1.20 or 2.3"),
            ));
        };
        match flink_release_line(runs) {
            Some(line) if line == wanted_line => Ok(()),
            Some(_) => Err(ValidationError::invalid(
                field,
                format!(
                    "is {wanted} but deployment target '{name}' runs Flink {runs}; build the job for \
                     Flink {runs} and set flinkVersion to match, or point spec.deploymentTargetName at \
                     a Flink {}.{} cluster (a savepoint taken on one release line restores on the other \
                     as a COPIED savepoint of a deployment on the new target)",
                    wanted_line.0, wanted_line.1
                ),
            )),
            // A cluster reporting something unreadable: nothing sure to refuse on.
            None => Ok(()),
        }
    }

    pub fn new(namespace: &str, name: &str, rest_url: &str) -> Self {
        let now = crate::now();
        Self {
            api_version: API_VERSION.into(),
            kind: "DeploymentTarget".into(),
            metadata: DeploymentTargetMetadata {
                id: DeploymentTargetId::new(),
                name: name.into(),
                namespace: namespace.into(),
                created_at: now,
                modified_at: now,
                annotations: StringMap::new(),
                labels: StringMap::new(),
                resource_version: 1,
            },
            spec: DeploymentTargetSpec {
                flink_session_cluster: FlinkSessionCluster {
                    rest_url: rest_url.into(),
                },
            },
            status: None,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_dns_label("metadata.name", &self.metadata.name)?;
        let url = self.spec.flink_session_cluster.rest_url.trim();
        let field = "spec.flinkSessionCluster.restUrl";
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| {
                ValidationError::invalid(
                    field,
                    "must be an http:// or https:// URL, e.g. http://127.0.0.1:8081",
                )
            })?;
        if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
            return Err(ValidationError::invalid(
                field,
                "must name a host, e.g. http://127.0.0.1:8081",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_lines() {
        assert_eq!(flink_release_line("1.20"), Some((1, 20)));
        assert_eq!(flink_release_line("1.20.5"), Some((1, 20)));
        assert_eq!(flink_release_line(" 2.3.0 "), Some((2, 3)));
        assert_eq!(flink_release_line("2.1-SNAPSHOT"), Some((2, 1)));
        for bad in ["", "2", "latest", "v2.3", "0.9", "1.x"] {
            assert_eq!(flink_release_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn artifact_version_must_match_the_clusters_release_line() {
        let t = DeploymentTarget::new("d", "flink120", "http://127.0.0.1:8081");
        let check = |a: Option<&str>, c: Option<&str>| t.check_artifact_flink_version(a, c);
        assert!(check(Some("1.20"), Some("1.20.5")).is_ok());
        assert!(check(Some("1.20.1"), Some("1.20.5")).is_ok(), "patches mix");
        assert!(check(None, Some("1.20.5")).is_ok(), "nothing declared");
        assert!(check(Some("2.3"), None).is_ok(), "cluster not known yet");
        assert!(check(Some("2.3"), Some("<unknown>")).is_ok());
        let e = check(Some("2.3"), Some("1.20.5")).unwrap_err();
        assert_eq!(e.field(), "spec.template.spec.artifact.flinkVersion");
        assert!(
            e.message().contains("2.3") && e.message().contains("1.20.5"),
            "{e}"
        );
        assert!(e.message().contains("'flink120'"), "{e}");
        let e = check(Some("latest"), Some("2.3.0")).unwrap_err();
        assert!(e.message().contains("'latest'"), "{e}");
    }

    #[test]
    fn reported_version_needs_a_reachable_cluster() {
        let mut t = DeploymentTarget::new("d", "t", "http://x");
        assert_eq!(t.reported_flink_version(), None);
        t.status = Some(DeploymentTargetStatus {
            flink_version: Some("1.20.5".into()),
            observed_at: crate::now(),
            reachable: true,
            message: None,
            scheduler: Some("adaptive".into()),
        });
        assert_eq!(t.reported_flink_version(), Some("1.20.5"));
        assert_eq!(t.adaptive_scheduler(), Some(true));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["status"]["flinkVersion"], "1.20.5");
        assert_eq!(json["status"]["reachable"], true);
        assert!(json["status"]["observedAt"].is_string());
        let back: DeploymentTarget = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
        if let Some(s) = t.status.as_mut() {
            s.reachable = false;
        }
        assert_eq!(t.reported_flink_version(), None);
        let without = serde_json::to_value(DeploymentTarget::new("d", "t", "http://x")).unwrap();
        assert!(without.get("status").is_none(), "{without}");
    }

    #[test]
    fn rest_url_must_be_http() {
        assert!(DeploymentTarget::new("d", "t", "http://127.0.0.1:8081")
            .validate()
            .is_ok());
        assert!(
            DeploymentTarget::new("d", "t", "https://flink.example:443/")
                .validate()
                .is_ok()
        );
        for bad in [
            "127.0.0.1:8081",
            "ftp://x",
            "http://",
            "http:///x",
            "http://a b",
        ] {
            assert_eq!(
                DeploymentTarget::new("d", "t", bad)
                    .validate()
                    .unwrap_err()
                    .field(),
                "spec.flinkSessionCluster.restUrl",
                "{bad}"
            );
        }
        assert_eq!(
            DeploymentTarget::new("d", "T", "http://x")
                .validate()
                .unwrap_err()
                .field(),
            "metadata.name"
        );
    }
}
