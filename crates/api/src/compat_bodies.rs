//! Request bodies of the parts of Ververica Platform's 2.4+ API that 2.1 does not have: the PUT
//! (upsert) of a deployment and of a deployment target, and secret values. Like [`crate::bodies`],
//! one type is both what is parsed and what the OpenAPI document describes.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use stateplane_model::{lenient_string_map, DeploymentSpec, FlinkSessionCluster, StringMap};
use utoipa::ToSchema;

/// `metadata.resourceVersion`: an integer or one written as a string; `null` is absent.
fn resource_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let parsed = match Value::deserialize(d)? {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        serde::de::Error::custom("must be an integer (the resourceVersion you read)")
    })
}

/// Metadata of a PUT: what a create takes, and the version a replace is based on. Server-owned members
/// (`id`, `createdAt`, `modifiedAt`, …) may be sent back as read; `id`, `namespace` and `createdAt`
/// must then be the stored ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PutMetadata {
    /// When given, the name in the path.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "lenient_string_map")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub labels: StringMap,
    #[serde(default, deserialize_with = "lenient_string_map")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub annotations: StringMap,
    /// The version a replace is based on: refused (409) if the resource changed since. Ignored by a create.
    #[serde(default, deserialize_with = "resource_version")]
    pub resource_version: Option<i64>,
    /// Every other member, by name.
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: Map<String, Value>,
}

/// Body of `PUT …/deployments/{deploymentId}`: the whole deployment. `status` (a resource read and
/// sent back) is ignored; the namespace's deployment defaults are merged under `spec`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeploymentPut {
    #[serde(default)]
    pub metadata: PutMetadata,
    #[serde(default)]
    #[schema(value_type = DeploymentSpec, required = true)]
    pub spec: Map<String, Value>,
    /// `apiVersion`, `kind`, `status`: ignored.
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: Map<String, Value>,
}

/// The spec of a deployment target as a client may send it: a Flink session cluster by REST URL.
/// Ververica's Kubernetes targets (`kubernetes.namespace`) are read only to be refused with an answer
/// that says what to give instead.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTargetSpecBody {
    #[serde(default)]
    #[schema(required = true)]
    pub flink_session_cluster: Option<FlinkSessionCluster>,
    /// Ververica's Kubernetes target: refused (stateplane starts no pods).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub kubernetes: Option<Value>,
}

/// Body of `PUT …/deployment-targets/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeploymentTargetPut {
    #[serde(default)]
    pub metadata: PutMetadata,
    pub spec: DeploymentTargetSpecBody,
    /// `apiVersion`, `kind`, `status`: ignored.
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: Map<String, Value>,
}

/// A secret value's spec as a client sends it: `{kind: PLAIN, value}`. The value is write-only.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretValueSpecBody {
    /// `PLAIN` (any case), the only kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// The secret itself; never returned.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub value: Option<String>,
}

/// Body of `POST …/secret-values` and `PATCH …/secret-values/{name}` (`value` optional in a PATCH).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SecretValueBody {
    #[serde(default)]
    pub metadata: PutMetadata,
    #[serde(default)]
    pub spec: SecretValueSpecBody,
}
