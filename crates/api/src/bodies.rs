//! Request bodies: the types handlers take (through [`crate::format::Input`]) and the OpenAPI document
//! describes. One type serves both, so what is documented is what is parsed.
//!
//! Parsing happens in two steps, which is what keeps the error answers precise: the body must first be
//! well-formed JSON or YAML (else 400 `MALFORMED_BODY` with line and column) and an object, then it is
//! deserialised into one of these types, and a member of the wrong type or shape is 422
//! `MALFORMED_FIELD` naming its dotted path. Rules beyond the shape (a name is a DNS label, a required
//! member is present) are checked by the application layer and answer 422 `INVALID_FIELD`, which is why
//! members the rules require are `Option` here but documented as required.
//!
//! The two PATCH bodies are JSON merge patches (RFC 7396): a member that is present, `null` included,
//! must stay distinguishable from one that is absent (`null` removes), so their patchable members keep
//! their JSON value ([`present`]), and members they do not know are collected (`other`) for the
//! application layer to accept, ignore or refuse by name. Their partial spec is documented as an
//! object with `x-partial-of: DeploymentSpec`, which tells readers (and this server's YAML reader)
//! what its members are.
//!
//! A body sent as YAML is read by its schema here: where it says string, a plain scalar keeps its text
//! (`flinkVersion: 1.14` is `"1.14"`, see [`crate::yaml`]).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use stateplane_model::{
    lenient_string_map, DeploymentId, DeploymentSpec, SavepointFormat, SavepointState, StringMap,
};
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

/// For `#[serde(default, deserialize_with = "present")]`: `Some` whenever the member is there, `null`
/// included (as `Some(Value::Null)`); `None` only when it is absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// For `#[serde(default, deserialize_with = "null_as_default")]`: `null` reads as the member left out.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// The schema of a merge patch of a deployment spec: an object (or `null`) whose members are those of
/// a DeploymentSpec, every one optional, `null` removing one.
fn partial_spec() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some("A partial DeploymentSpec; `null` removes a field."))
        .extensions(Some(
            ExtensionsBuilder::new()
                .add(crate::yaml::PARTIAL_OF, "DeploymentSpec")
                .build(),
        ))
        .build()
}

/// `metadata.resourceVersion`: an integer, or one written as a string (YAML clients quote it); `null`
/// is the same as leaving it out.
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

/// Body of `POST /api/v1/namespaces`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NamespaceCreate {
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(required = true)]
    pub metadata: NameOnly,
}

/// `{name}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NameOnly {
    /// A DNS label: lower-case letters, digits and `-`, at most 63 characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "team-a", pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    pub name: Option<String>,
}

/// Metadata a client sets when creating a resource. Server-owned members (`id`, `createdAt`,
/// `resourceVersion`, …) may be sent (a resource read back and posted again) and are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateMetadata {
    /// A DNS label, unique in the namespace.
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        example = "word-count",
        pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
    )]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// When given, the namespace of the path.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "lenient_string_map")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub labels: StringMap,
    #[serde(default, deserialize_with = "lenient_string_map")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub annotations: StringMap,
}

/// Body of `POST …/deployments`: `spec` is merged over the namespace's deployment defaults.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeploymentCreate {
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(required = true)]
    pub metadata: CreateMetadata,
    /// Kept as JSON until the defaults are merged under it; only the merged spec must be complete.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(value_type = DeploymentSpec, required = true)]
    pub spec: Map<String, Value>,
}

/// Metadata a PATCH may change. `id`, `namespace`, `name` and `createdAt` may be repeated unchanged
/// (a resource read back and sent again); `modifiedAt` is ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchMetadata {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Value>,
    /// Merged member by member; `null` removes a label.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub labels: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub annotations: Option<Value>,
    /// The version the change is based on: the PATCH is refused (409) if the resource changed since.
    #[serde(default, deserialize_with = "resource_version")]
    pub resource_version: Option<i64>,
    /// Every other member, by name.
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: Map<String, Value>,
}

/// Body of `PATCH …/deployments/{deploymentId}`: a JSON merge patch (RFC 7396).
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeploymentPatch {
    #[serde(default)]
    pub metadata: Option<PatchMetadata>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = partial_spec)]
    pub spec: Option<Value>,
    /// Every other member, by name (`apiVersion` and `kind` are ignored, `status` is refused).
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: Map<String, Value>,
}

/// `{resourceVersion}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionOnly {
    #[serde(default, deserialize_with = "resource_version")]
    pub resource_version: Option<i64>,
}

/// Body of `PATCH …/deployment-defaults`: a JSON merge patch of the partial spec.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeploymentDefaultsPatch {
    #[serde(default)]
    pub metadata: Option<VersionOnly>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = partial_spec)]
    pub spec: Option<Value>,
    /// Every other member, by name (`apiVersion` and `kind` are ignored).
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: Map<String, Value>,
}

/// Body of `POST …/deployment-targets`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeploymentTargetCreate {
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(required = true)]
    pub metadata: CreateMetadata,
    pub spec: crate::compat_bodies::DeploymentTargetSpecBody,
}

/// Metadata of a savepoint POST.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointCreateMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, format = Uuid, required = true)]
    pub deployment_id: Option<DeploymentId>,
    /// Carry `com.dataartisans.appmanager.controller.deployment.spec.version` when registering, or
    /// the savepoint is never used for a restore.
    #[serde(default, deserialize_with = "lenient_string_map")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub annotations: StringMap,
}

/// Spec of a savepoint POST.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointCreateSpec {
    /// Register only: the snapshot directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_location: Option<String>,
    /// Register only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub flink_savepoint_id: Option<uuid::Uuid>,
    /// Request only: CANONICAL (default) or NATIVE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormat>,
}

/// Status of a savepoint POST: `COMPLETED` to register.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavepointCreateStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SavepointState>,
}

/// Body of `POST …/savepoints`: `{metadata: {deploymentId}}` alone requests a savepoint;
/// with `spec.savepointLocation` and `status.state: COMPLETED` it registers an existing snapshot.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavepointCreateBody {
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(required = true)]
    pub metadata: SavepointCreateMetadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<SavepointCreateSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SavepointCreateStatus>,
}

/// Body of `POST …/savepoints/{savepointId}/copy`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SavepointCopyBody {
    pub metadata: SavepointCopyMetadata,
}

/// The deployment that gets the copy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointCopyMetadata {
    #[schema(value_type = String, format = Uuid)]
    pub deployment_id: DeploymentId,
}

/// Body of `POST …/apitokens`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ApiTokenCreate {
    /// `namespaces/{namespace}/apitokens/{token}`, or just `{token}` (a DNS label).
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "namespaces/default/apitokens/ci")]
    pub name: Option<String>,
    /// `viewer`, `editor` or `owner` (any case).
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "editor")]
    pub role: Option<String>,
    /// Generated by the server: a client that sends one is told to leave it out.
    #[serde(default)]
    #[schema(ignore)]
    pub secret: Option<Value>,
}
