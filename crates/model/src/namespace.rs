//! Namespaces group deployments, savepoints, targets and tokens. `default` exists from the start.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::validate_dns_label;
use crate::{ValidationError, API_VERSION};

/// The namespace that exists from the start.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A Namespace resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    pub api_version: String,
    pub kind: String,
    pub metadata: NamespaceMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceMetadata {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub resource_version: i64,
}

impl Namespace {
    pub fn new(name: &str) -> Self {
        Self {
            api_version: API_VERSION.into(),
            kind: "Namespace".into(),
            metadata: NamespaceMetadata {
                name: name.into(),
                created_at: crate::now(),
                resource_version: 1,
            },
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_dns_label("metadata.name", &self.metadata.name)
    }
}

/// The deployment defaults of a namespace: a partial Deployment spec merged under every new deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDefaults {
    pub api_version: String,
    pub kind: String,
    pub metadata: DeploymentDefaultsMetadata,
    /// A partial DeploymentSpec.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDefaultsMetadata {
    pub namespace: String,
    pub modified_at: DateTime<Utc>,
    pub resource_version: i64,
}

impl DeploymentDefaults {
    /// Empty defaults (version 0 = never written).
    pub fn empty(namespace: &str) -> Self {
        Self {
            api_version: API_VERSION.into(),
            kind: "DeploymentDefaults".into(),
            metadata: DeploymentDefaultsMetadata {
                namespace: namespace.into(),
                modified_at: crate::now(),
                resource_version: 0,
            },
            spec: serde_json::Value::Object(Default::default()),
        }
    }
}
