//! The values the client hands out and takes in, in Rust terms rather than Flink's JSON.
//!
//! Why separate from the wire structs: Flink's JSON has quirks (kebab-case here, camelCase there,
//! `-1` for "not yet", sentinel strings for missing paths). Callers see `Option`s and enums; the
//! conversions live in `wire.rs`. Output types derive serde so a caller can store an observation.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{FlinkJobId, JarId, TriggerId};

/// Cluster-wide numbers from `GET /overview`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterOverview {
    /// Flink's version string, e.g. `2.3.0`.
    pub flink_version: String,
    /// Registered TaskManagers.
    pub taskmanagers: u32,
    /// Task slots over all TaskManagers.
    pub slots_total: u32,
    /// Free task slots.
    pub slots_available: u32,
    /// Jobs in state RUNNING.
    pub jobs_running: u32,
}

/// A jar uploaded to the cluster (`GET /jars`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JarInfo {
    /// The id to run or delete it by.
    pub id: JarId,
    /// The file name it was uploaded with.
    pub name: String,
}

/// How a job restored from a snapshot treats the snapshot's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClaimMode {
    /// The new job owns the snapshot and may delete it once subsumed.
    Claim,
    /// The snapshot stays untouched; the new job's first checkpoint is a full one. Flink's default
    /// and the safe choice for snapshots the control plane still lists.
    NoClaim,
}

/// What to run with `POST /jars/{jar}/run`. The client writes it in the target cluster's dialect
/// (`claimMode` for Flink 2.x, `restoreMode` for 1.x, configuration keys in the target's spelling;
/// see [`crate::translate_configuration`]). Unset fields are left out so Flink's defaults apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunJarRequest {
    /// Main class; `None` uses the jar manifest's.
    pub entry_class: Option<String>,
    /// Program arguments, one element per argument (no shell splitting); sent as `programArgsList`.
    pub program_args: Vec<String>,
    /// Job parallelism; `None` uses `parallelism.default`.
    pub parallelism: Option<u32>,
    /// Savepoint or retained checkpoint to restore from.
    pub savepoint_path: Option<String>,
    /// Skip snapshot state that maps to no operator instead of failing.
    pub allow_non_restored_state: Option<bool>,
    /// Ownership of the restored snapshot's files.
    pub claim_mode: Option<ClaimMode>,
    /// Client-chosen job id: Flink refuses a second submission with the same id while it knows the
    /// first, which makes submission at-most-once.
    pub job_id: Option<FlinkJobId>,
    /// Per-job configuration (checkpoint interval and dir, restart strategy, ...), honoured in
    /// session mode. Renamed options may be written in Flink 1.x or 2.x spelling.
    pub flink_configuration: BTreeMap<String, String>,
}

/// A Flink job's state, as `GET /jobs/{id}` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum JobState {
    /// Submitted, the JobMaster is being set up.
    Initializing,
    /// Created, waiting for resources.
    Created,
    /// Running (not necessarily every task yet: see [`JobDetails::all_vertices_running`]).
    Running,
    /// Failing; will become FAILED or RESTARTING.
    Failing,
    /// Failed for good (no restarts left). Terminal.
    Failed,
    /// Being cancelled.
    Cancelling,
    /// Cancelled. Terminal.
    Canceled,
    /// Finished (bounded input, or stop-with-savepoint). Terminal.
    Finished,
    /// Restarting after a failure.
    Restarting,
    /// Suspended because this JobManager lost leadership; only locally terminal.
    Suspended,
    /// Reconciling with TaskManagers after a JobManager failover.
    Reconciling,
    /// A state this client does not know (a newer Flink).
    Unknown(String),
}

impl JobState {
    /// Parses Flink's name for the state; unknown names become [`JobState::Unknown`].
    pub fn parse(s: &str) -> JobState {
        match s {
            "INITIALIZING" => JobState::Initializing,
            "CREATED" => JobState::Created,
            "RUNNING" => JobState::Running,
            "FAILING" => JobState::Failing,
            "FAILED" => JobState::Failed,
            "CANCELLING" => JobState::Cancelling,
            "CANCELED" => JobState::Canceled,
            "FINISHED" => JobState::Finished,
            "RESTARTING" => JobState::Restarting,
            "SUSPENDED" => JobState::Suspended,
            "RECONCILING" => JobState::Reconciling,
            other => JobState::Unknown(other.to_owned()),
        }
    }

    /// Flink's name for the state.
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Initializing => "INITIALIZING",
            JobState::Created => "CREATED",
            JobState::Running => "RUNNING",
            JobState::Failing => "FAILING",
            JobState::Failed => "FAILED",
            JobState::Cancelling => "CANCELLING",
            JobState::Canceled => "CANCELED",
            JobState::Finished => "FINISHED",
            JobState::Restarting => "RESTARTING",
            JobState::Suspended => "SUSPENDED",
            JobState::Reconciling => "RECONCILING",
            JobState::Unknown(s) => s,
        }
    }

    /// FINISHED, CANCELED or FAILED: the job will never run again in this cluster.
    pub fn is_globally_terminal(&self) -> bool {
        matches!(
            self,
            JobState::Finished | JobState::Canceled | JobState::Failed
        )
    }
}

impl From<String> for JobState {
    fn from(s: String) -> Self {
        JobState::parse(&s)
    }
}

impl From<JobState> for String {
    fn from(s: JobState) -> String {
        s.as_str().to_owned()
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One job vertex (a chain of operators) of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VertexInfo {
    /// The JobVertexID (32 hex digits): the chain head's operator id.
    #[serde(default)]
    pub id: String,
    /// Vertex name, e.g. `Source: sequence`.
    pub name: String,
    /// Flink's execution state of the vertex (`RUNNING`, `CREATED`, `DEPLOYING`, ...).
    pub status: String,
    /// Parallelism of the vertex.
    pub parallelism: u32,
    /// Max parallelism of the vertex (its number of key groups).
    #[serde(default)]
    pub max_parallelism: u32,
}

/// `GET /jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDetails {
    /// The job's id.
    pub id: FlinkJobId,
    /// The job's name.
    pub name: String,
    /// The job's state (possibly up to 3 s stale: Flink's REST cache).
    pub state: JobState,
    /// Start, milliseconds since the epoch; `None` when not started.
    pub start_time_ms: Option<i64>,
    /// End, milliseconds since the epoch; `None` while not terminal.
    pub end_time_ms: Option<i64>,
    /// The job graph's vertices.
    pub vertices: Vec<VertexInfo>,
}

impl JobSummary {
    /// Every task of the job runs or has finished, and at least one runs. Fresh, unlike
    /// [`JobDetails::all_vertices_running`], because `/jobs/overview` is not cached.
    ///
    /// A finished task is done, not still deploying: a source subtask that gets no split finishes at
    /// once (e.g. a job restored at a higher parallelism than its source's split count), and the job
    /// runs on without it.
    pub fn all_tasks_running(&self) -> bool {
        self.tasks_running > 0 && self.tasks_running + self.tasks_finished == self.tasks_total
    }
}

impl JobDetails {
    /// True when the job has vertices and every one of them is RUNNING: the job is really processing
    /// (state RUNNING alone can mean tasks are still deploying).
    pub fn all_vertices_running(&self) -> bool {
        !self.vertices.is_empty() && self.vertices.iter().all(|v| v.status == "RUNNING")
    }
}

/// One entry of `GET /jobs/overview`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    /// The job's id.
    pub id: FlinkJobId,
    /// The job's name.
    pub name: String,
    /// The job's state.
    pub state: JobState,
    /// Start, milliseconds since the epoch.
    pub start_time_ms: Option<i64>,
    /// End, milliseconds since the epoch; `None` while not terminal.
    pub end_time_ms: Option<i64>,
    /// Tasks of the job in all (0 when Flink did not say).
    pub tasks_total: u32,
    /// Tasks in state RUNNING.
    pub tasks_running: u32,
    /// Tasks in state FINISHED.
    pub tasks_finished: u32,
}

/// Savepoint file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SavepointFormat {
    /// State-backend independent; portable, slower for big state.
    #[default]
    Canonical,
    /// The state backend's own format; fast, tied to the backend.
    Native,
}

/// Trigger a savepoint of a running job (`POST /jobs/{id}/savepoints`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavepointTrigger {
    /// Where the savepoint directory is created, e.g. `file:///data/savepoints`. Always required:
    /// a session cluster's REST handler ignores the job's own savepoint-dir setting.
    pub target_directory: String,
    /// File format.
    pub format: SavepointFormat,
    /// Client-chosen id: triggering twice with the same id yields one savepoint.
    pub trigger_id: TriggerId,
    /// Cancel the job after the savepoint (prefer [`StopWithSavepoint`]).
    pub cancel_job: bool,
}

/// Stop a job with a final savepoint (`POST /jobs/{id}/stop`); the job ends FINISHED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopWithSavepoint {
    /// Where the savepoint directory is created.
    pub target_directory: String,
    /// File format.
    pub format: SavepointFormat,
    /// Client-chosen id: stopping twice with the same id is one operation.
    pub trigger_id: TriggerId,
    /// Emit MAX_WATERMARK and flush event-time timers before stopping (for a job that will not be
    /// resumed).
    pub drain: bool,
}

/// Result of polling a savepoint or stop-with-savepoint trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SavepointStatus {
    /// Still being written.
    InProgress,
    /// Written; `location` as Flink reports it (`file:/x/savepoint-abcdef-0123456789ab`).
    Completed {
        /// The savepoint directory.
        location: String,
    },
    /// Flink gave up; `root_cause` is the one-line reason.
    Failed {
        /// Why, one line.
        root_cause: String,
    },
}

/// Result of polling a savepoint disposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisposalStatus {
    /// Still deleting.
    InProgress,
    /// The savepoint's files are gone.
    Completed,
    /// Flink could not dispose it; `root_cause` is the one-line reason.
    Failed {
        /// Why, one line.
        root_cause: String,
    },
}

/// A completed checkpoint or savepoint as `GET /jobs/{id}/checkpoints` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedCheckpoint {
    /// Checkpoint id (monotonic per job lineage).
    pub id: u64,
    /// Where it lives (`file:/x/<job>/chk-7`); `None` when not externally addressable.
    pub external_path: Option<String>,
    /// Whether this was a savepoint.
    pub is_savepoint: bool,
    /// When it was triggered, ms since the epoch.
    pub trigger_timestamp_ms: Option<i64>,
    /// When the last task acknowledged it, ms since the epoch.
    pub latest_ack_timestamp_ms: Option<i64>,
}

/// A failed checkpoint as `GET /jobs/{id}/checkpoints` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCheckpoint {
    /// Checkpoint id.
    pub id: u64,
    /// When it failed, ms since the epoch.
    pub failure_timestamp_ms: Option<i64>,
    /// Flink's reason (e.g. `Checkpoint expired before completing.`).
    pub failure_message: Option<String>,
}

/// The snapshot a job started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredCheckpoint {
    /// Checkpoint id of the snapshot.
    pub id: u64,
    /// Where it was read from, as Flink normalised it (`file:/x`).
    pub external_path: Option<String>,
    /// Flink says true for savepoints, but also for retained checkpoints: compare paths instead.
    pub is_savepoint: bool,
    /// When the restore happened, ms since the epoch.
    pub restore_timestamp_ms: Option<i64>,
}

/// Checkpoint counters of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointCounts {
    /// Number of restores.
    pub restored: u64,
    /// Checkpoints triggered.
    pub total: u64,
    /// Checkpoints in progress.
    pub in_progress: u64,
    /// Checkpoints completed.
    pub completed: u64,
    /// Checkpoints failed.
    pub failed: u64,
}

/// `GET /jobs/{id}/checkpoints`, reduced to what a control plane needs. Missing or null parts are
/// `None` (a job without checkpointing reports all of them empty). Up to 3 s stale (REST cache).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointStats {
    /// The latest completed checkpoint (not savepoint).
    pub latest_completed: Option<CompletedCheckpoint>,
    /// What this job restored from, if anything.
    pub latest_restored: Option<RestoredCheckpoint>,
    /// The latest completed savepoint of this job.
    pub latest_savepoint: Option<CompletedCheckpoint>,
    /// The latest failed checkpoint or savepoint of this job.
    pub latest_failed: Option<FailedCheckpoint>,
    /// Counters.
    pub counts: CheckpointCounts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_states_parse_and_classify() {
        for name in [
            "INITIALIZING",
            "CREATED",
            "RUNNING",
            "FAILING",
            "FAILED",
            "CANCELLING",
            "CANCELED",
            "FINISHED",
            "RESTARTING",
            "SUSPENDED",
            "RECONCILING",
        ] {
            let state = JobState::parse(name);
            assert!(!matches!(state, JobState::Unknown(_)), "{name}");
            assert_eq!(state.as_str(), name);
        }
        let terminal: Vec<_> = ["FAILED", "CANCELED", "FINISHED"]
            .map(JobState::parse)
            .into();
        assert!(terminal.iter().all(JobState::is_globally_terminal));
        for name in [
            "RUNNING",
            "SUSPENDED",
            "CANCELLING",
            "RESTARTING",
            "FAILING",
            "WHATEVER",
        ] {
            assert!(!JobState::parse(name).is_globally_terminal(), "{name}");
        }
        assert_eq!(
            JobState::parse("WHATEVER"),
            JobState::Unknown("WHATEVER".into())
        );
        assert_eq!(
            serde_json::from_str::<JobState>("\"RUNNING\"").unwrap(),
            JobState::Running
        );
    }

    #[test]
    fn all_tasks_running_counts_finished_tasks_as_done() {
        let summary = |total, running, finished| JobSummary {
            id: FlinkJobId::random(),
            name: "j".into(),
            state: JobState::Running,
            start_time_ms: Some(1),
            end_time_ms: None,
            tasks_total: total,
            tasks_running: running,
            tasks_finished: finished,
        };
        assert!(summary(4, 4, 0).all_tasks_running());
        // a source subtask without a split finished; the others run
        assert!(summary(4, 3, 1).all_tasks_running());
        // one task still deploying
        assert!(!summary(4, 2, 1).all_tasks_running());
        // nothing runs (all finished, or Flink gave no counts)
        assert!(!summary(4, 0, 4).all_tasks_running());
        assert!(!summary(0, 0, 0).all_tasks_running());
    }

    #[test]
    fn all_vertices_running_needs_vertices() {
        let mut job = JobDetails {
            id: FlinkJobId::random(),
            name: "j".into(),
            state: JobState::Running,
            start_time_ms: Some(1),
            end_time_ms: None,
            vertices: vec![],
        };
        assert!(!job.all_vertices_running());
        job.vertices = vec![
            VertexInfo {
                id: "a".into(),
                name: "a".into(),
                status: "RUNNING".into(),
                parallelism: 1,
                max_parallelism: 128,
            },
            VertexInfo {
                id: "b".into(),
                name: "b".into(),
                status: "DEPLOYING".into(),
                parallelism: 1,
                max_parallelism: 128,
            },
        ];
        assert!(!job.all_vertices_running());
        job.vertices[1].status = "RUNNING".into();
        assert!(job.all_vertices_running());
    }
}
