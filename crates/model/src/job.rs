//! The Job resource: one Flink job that stateplane started for a deployment (read-only in the API).
//!
//! Its id is chosen before submission and the Flink job id is that UUID without dashes, so after a
//! crash "did the submission happen?" is one look-up in Flink.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::{lenient_string_map, StringMap};
use crate::{Artifact, DeploymentId, Failure, JobId, API_VERSION};

string_enum! {
    /// Lifecycle of a job as stateplane sees it.
    pub enum JobState {
        /// Recorded; being (or about to be) submitted to Flink.
        Starting => "STARTING",
        /// Flink runs it.
        Started => "STARTED",
        /// Being stopped (stop-with-savepoint or cancel in progress).
        Terminating => "TERMINATING",
        /// Stopped by stateplane.
        Terminated => "TERMINATED",
        /// Failed in Flink, vanished from Flink, or could not be submitted.
        Failed => "FAILED",
        /// Finished by itself (bounded input).
        Finished => "FINISHED",
    }
}

impl JobState {
    /// The job will never run again.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Terminated | Self::Failed | Self::Finished)
    }
}

/// A Job resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub api_version: String,
    pub kind: String,
    pub metadata: JobMetadata,
    pub spec: JobSpec,
    pub status: JobStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobMetadata {
    pub id: JobId,
    pub namespace: String,
    pub deployment_id: DeploymentId,
    pub deployment_name: String,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<DateTime<Utc>>,
    /// Carries the deployment spec version the job runs.
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub annotations: StringMap,
    pub resource_version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    pub artifact: Artifact,
    #[serde(default)]
    pub flink_configuration: StringMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// The snapshot this job restored from; absent when it started without state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_location: Option<String>,
    /// The savepoint resource that snapshot belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_id: Option<crate::SavepointId>,
    #[serde(default)]
    pub allow_non_restored_state: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_target_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub state: JobState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<JobStatusStarted>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatusStarted {
    /// 32 hex digits: the job resource id without dashes.
    pub flink_job_id: String,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_flink_job_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<DateTime<Utc>>,
}

impl Job {
    /// A new job record in STARTING, before anything is sent to Flink.
    pub fn new(
        namespace: &str,
        deployment_id: DeploymentId,
        deployment_name: &str,
        spec: JobSpec,
    ) -> Self {
        let now = crate::now();
        Self {
            api_version: API_VERSION.into(),
            kind: "Job".into(),
            metadata: JobMetadata {
                id: JobId::new(),
                namespace: namespace.into(),
                deployment_id,
                deployment_name: deployment_name.into(),
                created_at: now,
                modified_at: now,
                terminated_at: None,
                annotations: StringMap::new(),
                resource_version: 1,
            },
            spec,
            status: JobStatus {
                state: JobState::Starting,
                started: None,
                failure: None,
            },
        }
    }

    /// The Flink job id this job has (or will have): its id without dashes.
    pub fn flink_job_id(&self) -> String {
        self.metadata.id.simple()
    }

    /// The deployment spec version this job runs.
    pub fn spec_version(&self) -> Option<u64> {
        crate::meta::spec_version_of(&self.metadata.annotations)
    }
}
