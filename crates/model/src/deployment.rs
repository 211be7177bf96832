//! The Deployment resource: desired state (spec) and observed state (status) of one Flink application.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::duration;
use crate::meta::{
    lenient_optional_string_map, lenient_string_map, spec_version_of, validate_dns_label, StringMap,
};
use crate::{DeploymentId, DeploymentTargetId, Failure, JobId, ValidationError, API_VERSION};

string_enum! {
    /// What the user wants the deployment to be.
    pub enum DesiredState { Running => "RUNNING", Suspended => "SUSPENDED", Cancelled => "CANCELLED" }
}

string_enum! {
    /// What the deployment is, as the controller last observed it.
    pub enum DeploymentState {
        Running => "RUNNING",
        Suspended => "SUSPENDED",
        Cancelled => "CANCELLED",
        Transitioning => "TRANSITIONING",
        Failed => "FAILED",
        Finished => "FINISHED",
    }
}

string_enum! {
    /// How a change of `spec.template` reaches a running job.
    pub enum UpgradeStrategyKind { Stateful => "STATEFUL", Stateless => "STATELESS", None => "NONE" }
}

string_enum! {
    /// Which snapshot a new job starts from.
    pub enum RestoreStrategyKind { LatestState => "LATEST_STATE", LatestSavepoint => "LATEST_SAVEPOINT", None => "NONE" }
}

string_enum! {
    /// The kind of a deployment's artifact: a jar, or a SQL script (run by stateplane's SQL runner).
    pub enum ArtifactKind { Jar => "JAR", SqlScript => "SQLSCRIPT" }
}

/// A Deployment resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub api_version: String,
    pub kind: String,
    pub metadata: DeploymentMetadata,
    pub spec: DeploymentSpec,
    pub status: DeploymentStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentMetadata {
    pub id: DeploymentId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub namespace: String,
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub labels: StringMap,
    /// Includes the spec-version annotation, maintained by the server.
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub annotations: StringMap,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    /// Grows by one with every change; send it back on PATCH to update only what you read.
    pub resource_version: i64,
}

/// The desired state of a deployment. Every field has a default, so a minimal spec names only the
/// artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Default CANCELLED: a deployment starts only when asked to.
    #[serde(default = "default_desired_state")]
    pub state: DesiredState,
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,
    #[serde(default)]
    pub restore_strategy: RestoreStrategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_target_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_target_id: Option<DeploymentTargetId>,
    #[serde(default = "default_attempts")]
    pub max_savepoint_creation_attempts: u32,
    #[serde(default = "default_attempts")]
    pub max_job_creation_attempts: u32,
    /// Keep at most this many / this old COMPLETED savepoints (never the restore candidate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_retention: Option<SavepointRetention>,
    /// Take a savepoint this often while RUNNING, e.g. `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periodic_savepoint_interval: Option<String>,
    /// Accepted and kept, not applied: Ververica runs the job on its session cluster of this name;
    /// here the deployment target (`deploymentTargetName`) is the session cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_cluster_name: Option<String>,
    pub template: DeploymentTemplate,
}

fn default_desired_state() -> DesiredState {
    DesiredState::Cancelled
}
fn default_attempts() -> u32 {
    4
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    pub kind: UpgradeStrategyKind,
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        Self {
            kind: UpgradeStrategyKind::Stateful,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStrategy {
    pub kind: RestoreStrategyKind,
    /// Passed to Flink for the start: state of operators that no longer exist is skipped.
    #[serde(default)]
    pub allow_non_restored_state: bool,
    /// stateplane extension: refuse to start empty when no snapshot qualifies (instead of starting
    /// without state). Default false, as in Ververica Platform.
    #[serde(default)]
    pub require_state: bool,
}

impl Default for RestoreStrategy {
    fn default() -> Self {
        Self {
            kind: RestoreStrategyKind::LatestState,
            allow_non_restored_state: false,
            require_state: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointRetention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    /// A duration such as `7d`, `12h`, `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTemplate {
    #[serde(default)]
    pub metadata: TemplateMetadata,
    pub spec: TemplateSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub annotations: StringMap,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    pub artifact: Artifact,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// Accepted and kept, not applied: the session cluster's TaskManagers are the ones it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_task_managers: Option<u32>,
    /// Accepted and kept, not applied: the session cluster's JobManager and TaskManagers have the
    /// resources they were started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub resources: Option<serde_json::Value>,
    /// Flink configuration of the job (values given as numbers or booleans are kept as strings).
    /// Values may refer to secret values as `${NAME}`; sensitive keys are shown as `******`.
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub flink_configuration: StringMap,
    /// Accepted and kept, not applied: the session cluster logs as it was configured to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub logging: Option<serde_json::Value>,
    /// Accepted and kept, not applied: Kubernetes pod options and pod templates (no pods are started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub kubernetes: Option<serde_json::Value>,
    /// Accepted and kept, not applied (Ververica's record of the configuration the user gave).
    #[serde(
        default,
        deserialize_with = "lenient_optional_string_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_flink_configuration: Option<StringMap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub kind: ArtifactKind,
    /// JAR: `file:///path/job.jar`, `http(s)://host/job.jar`, or on blob storage (`s3://`, `gs://`,
    /// `az://`). Not used by SQLSCRIPT artifacts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jar_uri: String,
    /// SQLSCRIPT: the script (DDL, SET, one or more INSERT INTO statements), run as one job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_script: Option<String>,
    /// SQLSCRIPT: jars (connectors, UDFs) put on the job's class path, by the same URIs as `jarUri`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_dependencies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    /// Program arguments as one string, split on white space (quotes group words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_version: Option<String>,
    /// Accepted and kept, not applied: no image is pulled; the session cluster runs its own Flink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_image_registry: Option<String>,
    /// Accepted and kept, not applied (see `flinkImageRegistry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_image_repository: Option<String>,
    /// Accepted and kept, not applied (see `flinkImageRegistry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_image_tag: Option<String>,
}

impl Artifact {
    /// `mainArgs` split into arguments: white space separates, single or double quotes group.
    pub fn program_args(&self) -> Vec<String> {
        let Some(s) = &self.main_args else {
            return Vec::new();
        };
        let mut args = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        let mut quote: Option<char> = None;
        for c in s.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => cur.push(c),
                (None, '"' | '\'') => {
                    quote = Some(c);
                    in_word = true;
                }
                (None, c) if c.is_whitespace() => {
                    if in_word {
                        args.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                (None, c) => {
                    cur.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            args.push(cur);
        }
        args
    }
}

/// The observed state of a deployment, written only by the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    pub state: DeploymentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<DeploymentStatusRunning>,
    /// Why the deployment is FAILED, or why the last transition could not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// stateplane extension: the controller's bookkeeping of attempts to reach the desired state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    /// stateplane extension: the upgrade to a spec version failed and the previous template runs
    /// again (see the README's "Rollback of a failed upgrade").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<crate::plan::rollback::UpgradeRollback>,
}

impl Default for DeploymentStatus {
    fn default() -> Self {
        Self {
            state: DeploymentState::Cancelled,
            running: None,
            failure: None,
            transition: None,
            rollback: None,
        }
    }
}

/// Attempts to reach one desired state of one spec version. Counters start again whenever the desired
/// state or the spec version changes, which is also how a user retries after the controller gave up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub desired: DesiredState,
    pub spec_version: u64,
    /// Failed job submissions so far.
    #[serde(default)]
    pub job_attempts: u32,
    /// Failed suspend / upgrade savepoints so far.
    #[serde(default)]
    pub savepoint_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The controller stopped trying; `status.failure` says why. Change the spec to try again.
    #[serde(default)]
    pub gave_up: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatusRunning {
    pub job_id: JobId,
    pub transition_time: DateTime<Utc>,
    /// What Flink is doing that the state alone does not say (see [`crate::conditions`]).
    #[serde(default)]
    pub conditions: Vec<crate::conditions::DeploymentCondition>,
}

impl DeploymentSpec {
    /// The fields of Ververica's deployment this spec sets that stateplane keeps but does not apply
    /// (it runs jobs on existing session clusters, not on Kubernetes), as dotted paths.
    pub fn not_applied_fields(&self) -> Vec<&'static str> {
        let t = &self.template.spec;
        let a = &t.artifact;
        [
            (
                "spec.sessionClusterName",
                self.session_cluster_name.is_some(),
            ),
            (
                "spec.template.spec.numberOfTaskManagers",
                t.number_of_task_managers.is_some(),
            ),
            ("spec.template.spec.resources", t.resources.is_some()),
            ("spec.template.spec.logging", t.logging.is_some()),
            ("spec.template.spec.kubernetes", t.kubernetes.is_some()),
            (
                "spec.template.spec.userFlinkConfiguration",
                t.user_flink_configuration.is_some(),
            ),
            (
                "spec.template.spec.artifact.flinkImageRegistry",
                a.flink_image_registry.is_some(),
            ),
            (
                "spec.template.spec.artifact.flinkImageRepository",
                a.flink_image_repository.is_some(),
            ),
            (
                "spec.template.spec.artifact.flinkImageTag",
                a.flink_image_tag.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
        .collect()
    }
}

/// Flink configuration keys that name the savepoint directory (Flink 2.x name first).
pub const SAVEPOINT_DIR_KEYS: [&str; 2] = [
    "execution.checkpointing.savepoint-dir",
    "state.savepoints.dir",
];

impl Deployment {
    /// A new deployment resource with id, times, version 1 and spec version 1.
    pub fn new(namespace: &str, name: &str, spec: DeploymentSpec) -> Self {
        let now = crate::now();
        let mut annotations = StringMap::new();
        annotations.insert(crate::SPEC_VERSION_ANNOTATION.into(), "1".into());
        Self {
            api_version: API_VERSION.into(),
            kind: "Deployment".into(),
            metadata: DeploymentMetadata {
                id: DeploymentId::new(),
                name: name.into(),
                display_name: None,
                namespace: namespace.into(),
                labels: StringMap::new(),
                annotations,
                created_at: now,
                modified_at: now,
                resource_version: 1,
            },
            spec,
            status: DeploymentStatus::default(),
        }
    }

    /// The attempts record for the current desired state and spec version (a fresh one when the
    /// stored record is about another state or version).
    pub fn transition(&self) -> Transition {
        let (desired, spec_version) = (self.spec.state, self.spec_version());
        match &self.status.transition {
            Some(t) if t.desired == desired && t.spec_version == spec_version => t.clone(),
            _ => Transition {
                desired,
                spec_version,
                job_attempts: 0,
                savepoint_attempts: 0,
                last_attempt_at: None,
                gave_up: false,
            },
        }
    }

    /// Drops an attempts record that is about another desired state or spec version, so that after the
    /// controller gave up (FAILED), changing the desired state and back starts afresh.
    pub fn forget_stale_transition(&mut self) {
        let current = (self.spec.state, self.spec_version());
        if self
            .status
            .transition
            .as_ref()
            .is_some_and(|t| (t.desired, t.spec_version) != current)
        {
            self.status.transition = None;
        }
    }

    /// The current spec version (1 when the annotation is somehow missing).
    pub fn spec_version(&self) -> u64 {
        spec_version_of(&self.metadata.annotations).unwrap_or(1)
    }

    /// The savepoint directory set in the template's Flink configuration, if any.
    pub fn configured_savepoint_dir(&self) -> Option<&str> {
        SAVEPOINT_DIR_KEYS
            .iter()
            .find_map(|k| self.spec.template.spec.flink_configuration.get(*k))
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    /// Checks the rules a deployment must satisfy before it is stored.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_dns_label("metadata.name", &self.metadata.name)?;
        crate::plan::rollback::validate(&self.metadata.annotations)?;
        let spec = &self.spec;
        if let Some(t) = &spec.deployment_target_name {
            validate_dns_label("spec.deploymentTargetName", t)?;
        }
        if spec.max_job_creation_attempts == 0 {
            return Err(ValidationError::invalid(
                "spec.maxJobCreationAttempts",
                "must be at least 1",
            ));
        }
        if spec.max_savepoint_creation_attempts == 0 {
            return Err(ValidationError::invalid(
                "spec.maxSavepointCreationAttempts",
                "must be at least 1",
            ));
        }
        let t = &spec.template.spec;
        if t.parallelism == Some(0) {
            return Err(ValidationError::invalid(
                "spec.template.spec.parallelism",
                "must be at least 1",
            ));
        }
        crate::artifact::validate(&t.artifact)?;
        if let Some(ec) = &t.artifact.entry_class {
            if ec.trim().is_empty() || ec.chars().any(char::is_whitespace) {
                return Err(ValidationError::invalid(
                    "spec.template.spec.artifact.entryClass",
                    "must be a fully qualified class name without spaces",
                ));
            }
        }
        if let Some(i) = &spec.periodic_savepoint_interval {
            duration::PERIODIC_SAVEPOINT_INTERVAL
                .parse(i)
                .map_err(|e| {
                    ValidationError::invalid("spec.periodicSavepointInterval", e.to_string())
                })?;
        }
        if let Some(SavepointRetention {
            max_age: Some(a), ..
        }) = &spec.savepoint_retention
        {
            duration::RETENTION_MAX_AGE.parse(a).map_err(|e| {
                ValidationError::invalid("spec.savepointRetention.maxAge", e.to_string())
            })?;
        }
        for key in SAVEPOINT_DIR_KEYS {
            if let Some(dir) = t.flink_configuration.get(key) {
                if !dir.trim().is_empty() && !dir.contains("://") && !dir.starts_with('/') {
                    return Err(ValidationError::invalid(
                        format!("spec.template.spec.flinkConfiguration.{key}"),
                        "must be an absolute path or a URI such as file:///data/savepoints or s3://bucket/savepoints",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
