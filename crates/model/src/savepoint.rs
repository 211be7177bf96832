//! The Savepoint resource: one pointer to one physical Flink savepoint or retained checkpoint.
//!
//! Several resources may point to the same snapshot (a COPIED one shares its location). The origin is
//! set by the server and is always true; a client's `origin` is ignored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::meta::{lenient_string_map, StringMap};
use crate::{DeploymentId, Failure, JobId, SavepointId, ValidationError, API_VERSION};

string_enum! {
    /// Why the savepoint exists.
    pub enum SavepointOrigin {
        /// Requested by a user through the API.
        UserRequest => "USER_REQUEST",
        /// Taken when the deployment was suspended.
        Suspend => "SUSPEND",
        /// Taken to carry state into a new template (stateful upgrade).
        SuspendAndUpgrade => "SUSPEND_AND_UPGRADE",
        /// Registered by a user, or copied from another savepoint resource.
        Copied => "COPIED",
        /// A Flink checkpoint that outlived its job.
        RetainedCheckpoint => "RETAINED_CHECKPOINT",
    }
}

string_enum! {
    /// Lifecycle of a savepoint resource.
    pub enum SavepointState {
        Started => "STARTED",
        Completed => "COMPLETED",
        Failed => "FAILED",
        PendingDeletion => "PENDING_DELETION",
        Deleting => "DELETING",
        FailedDeletion => "FAILED_DELETION",
    }
}

string_enum! {
    /// Flink's savepoint format.
    pub enum SavepointFormat { Canonical => "CANONICAL", Native => "NATIVE" }
}

impl SavepointOrigin {
    /// Origins of snapshots that stateplane itself asked Flink to write.
    pub fn is_triggered_by_us(&self) -> bool {
        matches!(
            self,
            Self::UserRequest | Self::Suspend | Self::SuspendAndUpgrade
        )
    }
}

impl SavepointState {
    /// Work on this savepoint is still under way (taking it or deleting it).
    pub fn is_in_flight(&self) -> bool {
        matches!(self, Self::Started | Self::PendingDeletion | Self::Deleting)
    }
}

/// A Savepoint resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Savepoint {
    pub api_version: String,
    pub kind: String,
    pub metadata: SavepointMetadata,
    pub spec: SavepointSpec,
    pub status: SavepointStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointMetadata {
    pub id: SavepointId,
    pub namespace: String,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub deployment_id: DeploymentId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    pub origin: SavepointOrigin,
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub annotations: StringMap,
    pub resource_version: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointSpec {
    /// URI of the snapshot directory (the one holding `_metadata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_savepoint_id: Option<Uuid>,
    /// CANONICAL (default) or NATIVE, for savepoints stateplane takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormat>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointStatus {
    pub state: SavepointState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

impl Savepoint {
    /// A new savepoint resource (resource version 1, created now).
    pub fn new(
        namespace: &str,
        deployment_id: DeploymentId,
        origin: SavepointOrigin,
        state: SavepointState,
        location: Option<String>,
    ) -> Self {
        let now = crate::now();
        Self {
            api_version: API_VERSION.into(),
            kind: "Savepoint".into(),
            metadata: SavepointMetadata {
                id: SavepointId::new(),
                namespace: namespace.into(),
                created_at: now,
                modified_at: now,
                deployment_id,
                job_id: None,
                origin,
                annotations: StringMap::new(),
                resource_version: 1,
            },
            spec: SavepointSpec {
                savepoint_location: location,
                flink_savepoint_id: None,
                format_type: None,
            },
            status: SavepointStatus {
                state,
                failure: None,
            },
        }
    }

    /// The spec version this savepoint was taken with, if annotated.
    pub fn spec_version(&self) -> Option<u64> {
        crate::meta::spec_version_of(&self.metadata.annotations)
    }

    /// The normalised location, for comparing two resources that may point to the same snapshot.
    pub fn location_key(&self) -> Option<String> {
        self.spec
            .savepoint_location
            .as_deref()
            .map(normalize_location)
    }
}

/// One form for a snapshot location, so that `file:/x`, `file:///x`, `file://localhost/x`, `/x` and
/// `file:///x/` compare equal. Flink writes `file:/x`; users write `file:///x`.
pub fn normalize_location(loc: &str) -> String {
    let loc = loc.trim();
    let (scheme, rest) = match loc.split_once(':') {
        Some((s, r))
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (s.to_ascii_lowercase(), r)
        }
        _ => ("file".to_string(), loc),
    };
    let mut out = if scheme == "file" {
        let path = rest.strip_prefix("//localhost").unwrap_or(rest);
        let path = path.trim_start_matches('/');
        let mut p = String::from("file:///");
        // collapse duplicate slashes inside local paths
        let mut last_slash = false;
        for c in path.chars() {
            if c == '/' && last_slash {
                continue;
            }
            last_slash = c == '/';
            p.push(c);
        }
        p
    } else {
        format!("{scheme}:{rest}")
    };
    while out.ends_with('/') && !out.ends_with(":///") && !out.ends_with("://") {
        out.pop();
    }
    out
}

/// The local path of a `file:` location, if it is one.
pub fn local_path(loc: &str) -> Option<std::path::PathBuf> {
    let n = normalize_location(loc);
    n.strip_prefix("file://").map(std::path::PathBuf::from)
}

/// What a POST to the savepoints collection asks for, decided from the body's shape.
#[derive(Debug, Clone, PartialEq)]
pub enum SavepointCreate {
    /// `{metadata: {deploymentId}}`: take a savepoint of the deployment's running job now.
    Request {
        deployment_id: DeploymentId,
        annotations: StringMap,
        format: Option<SavepointFormat>,
    },
    /// `spec.savepointLocation` + `status.state: COMPLETED`: register an existing snapshot (COPIED).
    Register {
        deployment_id: DeploymentId,
        location: String,
        annotations: StringMap,
        flink_savepoint_id: Option<Uuid>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    #[serde(default)]
    metadata: CreateMetadata,
    #[serde(default)]
    spec: SavepointSpec,
    #[serde(default)]
    status: Option<CreateStatus>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateMetadata {
    #[serde(default)]
    deployment_id: Option<DeploymentId>,
    #[serde(default, deserialize_with = "lenient_string_map")]
    annotations: StringMap,
}

#[derive(Deserialize)]
struct CreateStatus {
    #[serde(default)]
    state: Option<SavepointState>,
}

impl SavepointCreate {
    /// Classifies a POST body. Any combination other than the two documented ones is refused with the
    /// field at fault: a client cannot assert STARTED or FAILED, nor a location without COMPLETED.
    pub fn from_body(body: serde_json::Value) -> Result<Self, ValidationError> {
        let b: CreateBody = crate::error::from_value(body, "")?;
        let deployment_id = b
            .metadata
            .deployment_id
            .ok_or_else(|| ValidationError::invalid("metadata.deploymentId", "is required"))?;
        let state = b.status.and_then(|s| s.state);
        let location = b.spec.savepoint_location.map(|l| l.trim().to_string());
        match (location, state) {
            (Some(loc), Some(SavepointState::Completed)) => {
                if loc.is_empty() {
                    return Err(ValidationError::invalid("spec.savepointLocation", "must not be empty"));
                }
                if !loc.contains("://") && !loc.starts_with("file:/") && !loc.starts_with('/') {
                    return Err(ValidationError::invalid(
                        "spec.savepointLocation",
                        "must be an absolute path or a URI such as file:///data/savepoints/savepoint-1a2b3c-0123456789ab",
                    ));
                }
                if b.spec.format_type.is_some() {
                    return Err(ValidationError::invalid(
                        "spec.formatType",
                        "applies only to savepoints that stateplane takes, not to registered ones",
                    ));
                }
                Ok(Self::Register {
                    deployment_id,
                    location: loc,
                    annotations: b.metadata.annotations,
                    flink_savepoint_id: b.spec.flink_savepoint_id,
                })
            }
            (None, None) => Ok(Self::Request {
                deployment_id,
                annotations: b.metadata.annotations,
                format: b.spec.format_type,
            }),
            (Some(_), None) => Err(ValidationError::invalid(
                "status.state",
                "registering an existing snapshot needs status.state: COMPLETED next to spec.savepointLocation",
            )),
            (None, Some(SavepointState::Completed)) => Err(ValidationError::invalid(
                "spec.savepointLocation",
                "a COMPLETED savepoint needs spec.savepointLocation, the directory of the snapshot",
            )),
            (_, Some(s)) => Err(ValidationError::invalid(
                "status.state",
                format!(
                    "{s} is set by the server; send only metadata.deploymentId to take a savepoint, or \
                     spec.savepointLocation with status.state: COMPLETED to register one"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn locations_normalise_to_one_form() {
        for l in [
            "file:/tmp/sp/x",
            "file:///tmp/sp/x",
            "file://localhost/tmp/sp/x",
            "/tmp/sp/x",
            "file:///tmp//sp/x/",
        ] {
            assert_eq!(normalize_location(l), "file:///tmp/sp/x", "{l}");
        }
        assert_eq!(normalize_location("S3://bucket/a/"), "s3://bucket/a");
        assert_eq!(normalize_location("s3://bucket/a"), "s3://bucket/a");
        assert_eq!(
            local_path("file:/a/b").unwrap(),
            std::path::PathBuf::from("/a/b")
        );
        assert!(local_path("s3://b/a").is_none());
    }

    const DEP: &str = "19570815-2528-4bda-a6ba-733cc29282c4";

    #[test]
    fn the_seed_body_registers_a_snapshot() {
        let body = json!({
            "metadata": {"deploymentId": DEP, "annotations": {crate::SPEC_VERSION_ANNOTATION: 3}},
            "spec": {"savepointLocation": "file:///sp/1", "flinkSavepointId": "00000000-0000-0000-0000-000000000000"},
            "status": {"state": "COMPLETED"}
        });
        match SavepointCreate::from_body(body).unwrap() {
            SavepointCreate::Register {
                location,
                annotations,
                flink_savepoint_id,
                ..
            } => {
                assert_eq!(location, "file:///sp/1");
                assert_eq!(annotations[crate::SPEC_VERSION_ANNOTATION], "3");
                assert_eq!(flink_savepoint_id, Some(Uuid::nil()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deployment_id_alone_requests_a_savepoint() {
        let r = SavepointCreate::from_body(json!({"metadata": {"deploymentId": DEP}})).unwrap();
        assert!(matches!(r, SavepointCreate::Request { format: None, .. }));
        let r = SavepointCreate::from_body(
            json!({"metadata": {"deploymentId": DEP}, "spec": {"formatType": "native"}}),
        )
        .unwrap();
        assert!(matches!(
            r,
            SavepointCreate::Request {
                format: Some(SavepointFormat::Native),
                ..
            }
        ));
    }

    #[test]
    fn other_combinations_are_refused_with_the_field() {
        let f = |v: serde_json::Value| {
            SavepointCreate::from_body(v)
                .unwrap_err()
                .field()
                .to_string()
        };
        assert_eq!(f(json!({})), "metadata.deploymentId");
        assert_eq!(
            f(json!({"metadata": {"deploymentId": "not-a-uuid"}})),
            "metadata.deploymentId"
        );
        assert_eq!(
            f(json!({"metadata": {"deploymentId": DEP}, "status": {"state": "STARTED"}})),
            "status.state"
        );
        assert_eq!(
            f(json!({"metadata": {"deploymentId": DEP}, "status": {"state": "FAILED"}})),
            "status.state"
        );
        assert_eq!(
            f(
                json!({"metadata": {"deploymentId": DEP}, "spec": {"savepointLocation": "file:///x"}})
            ),
            "status.state"
        );
        assert_eq!(
            f(json!({"metadata": {"deploymentId": DEP}, "status": {"state": "COMPLETED"}})),
            "spec.savepointLocation"
        );
        assert_eq!(
            f(
                json!({"metadata": {"deploymentId": DEP}, "spec": {"savepointLocation": "file:///x"}, "status": {"state": "FAILED"}})
            ),
            "status.state"
        );
        assert_eq!(
            f(
                json!({"metadata": {"deploymentId": DEP}, "spec": {"savepointLocation": "relative"}, "status": {"state": "COMPLETED"}})
            ),
            "spec.savepointLocation"
        );
        assert_eq!(
            f(json!({"metadata": {"deploymentId": DEP}, "status": {"state": "BOGUS"}})),
            "status.state"
        );
    }
}
