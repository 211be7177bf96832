//! Deployment targets: where a deployment's jobs run. Here, an existing Flink session cluster.

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

impl DeploymentTarget {
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
