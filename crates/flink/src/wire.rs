//! Flink's JSON, field by field, and its conversion into the public types.
//!
//! Why: this is the only place that knows Flink's spelling. Deserialisation is tolerant (every field
//! defaults) because Flink adds, renames and nulls fields between versions; what is truly required
//! (a job id, a trigger's status) is checked during conversion and reported as a decode error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config_keys::translate_configuration;
use crate::error::root_cause;
use crate::ids::{FlinkJobId, JarId};
use crate::types::{
    CheckpointCounts, CheckpointStats, ClaimMode, ClusterOverview, CompletedCheckpoint,
    DisposalStatus, FailedCheckpoint, JarInfo, JobDetails, JobState, JobSummary,
    RestoredCheckpoint, RunJarRequest, SavepointFormat, SavepointStatus, SavepointTrigger,
    StopWithSavepoint, VertexInfo,
};
use crate::version::{FlinkVersion, RestDialect};

/// Flink's placeholder `external_path` for a checkpoint that has no directory.
const NOT_EXTERNALLY_ADDRESSABLE: &str = "<checkpoint-not-externally-addressable>";

/// Flink writes `-1` (sometimes `0`) for a time that has not happened.
fn time(ms: Option<i64>) -> Option<i64> {
    ms.filter(|&t| t > 0)
}

fn path(p: Option<String>) -> Option<String> {
    p.filter(|p| !p.is_empty() && p != NOT_EXTERNALLY_ADDRESSABLE)
}

// ----- requests ---------------------------------------------------------------------------------

/// `POST /jars/{jar}/run` in the target's dialect: `claimMode` (2.x) or `restoreMode` (1.x; 1.18
/// and 1.19 know no `claimMode`), `programArgsList` (the only form 2.x reads), configuration keys in
/// the target's spelling.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunJarBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    entry_class: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    program_args_list: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    parallelism: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    savepoint_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_non_restored_state: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_mode: Option<ClaimMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restore_mode: Option<ClaimMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<&'a FlinkJobId>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    flink_configuration: BTreeMap<String, String>,
}

impl<'a> RunJarBody<'a> {
    pub fn new(r: &'a RunJarRequest, target: &FlinkVersion) -> Self {
        let (claim_mode, restore_mode) = match target.dialect() {
            RestDialect::V2 => (r.claim_mode, None),
            RestDialect::V1 => (None, r.claim_mode),
        };
        RunJarBody {
            entry_class: r.entry_class.as_deref(),
            program_args_list: &r.program_args,
            parallelism: r.parallelism,
            savepoint_path: r.savepoint_path.as_deref(),
            allow_non_restored_state: r.allow_non_restored_state,
            claim_mode,
            restore_mode,
            job_id: r.job_id.as_ref(),
            flink_configuration: translate_configuration(&r.flink_configuration, target),
        }
    }
}

/// `POST /jobs/{id}/savepoints`: kebab-case keys (but `formatType`, `triggerId`).
#[derive(Debug, Serialize)]
pub(crate) struct SavepointTriggerBody<'a> {
    #[serde(rename = "target-directory")]
    target_directory: &'a str,
    #[serde(rename = "cancel-job")]
    cancel_job: bool,
    #[serde(rename = "formatType")]
    format_type: SavepointFormat,
    #[serde(rename = "triggerId")]
    trigger_id: &'a str,
}

impl<'a> From<&'a SavepointTrigger> for SavepointTriggerBody<'a> {
    fn from(t: &'a SavepointTrigger) -> Self {
        SavepointTriggerBody {
            target_directory: &t.target_directory,
            cancel_job: t.cancel_job,
            format_type: t.format,
            trigger_id: t.trigger_id.as_str(),
        }
    }
}

/// `POST /jobs/{id}/stop`: camelCase keys.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StopBody<'a> {
    target_directory: &'a str,
    drain: bool,
    format_type: SavepointFormat,
    trigger_id: &'a str,
}

impl<'a> From<&'a StopWithSavepoint> for StopBody<'a> {
    fn from(s: &'a StopWithSavepoint) -> Self {
        StopBody {
            target_directory: &s.target_directory,
            drain: s.drain,
            format_type: s.format,
            trigger_id: s.trigger_id.as_str(),
        }
    }
}

/// `POST /savepoint-disposal`.
#[derive(Debug, Serialize)]
pub(crate) struct DisposalBody<'a> {
    #[serde(rename = "savepoint-path")]
    pub savepoint_path: &'a str,
}

// ----- responses --------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct OverviewWire {
    #[serde(default)]
    flink_version: String,
    #[serde(default)]
    taskmanagers: u32,
    #[serde(default)]
    slots_total: u32,
    #[serde(default)]
    slots_available: u32,
    #[serde(default)]
    jobs_running: u32,
}

impl From<OverviewWire> for ClusterOverview {
    fn from(o: OverviewWire) -> Self {
        ClusterOverview {
            flink_version: o.flink_version,
            taskmanagers: o.taskmanagers,
            slots_total: o.slots_total,
            slots_available: o.slots_available,
            jobs_running: o.jobs_running,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct UploadWire {
    #[serde(default)]
    pub filename: String,
    #[serde(default)]
    pub status: String,
}

impl UploadWire {
    /// The jar id is the last path element of the stored file name.
    pub fn jar_id(&self) -> Result<JarId, String> {
        if self.status != "success" {
            return Err(format!("upload status is '{}', not 'success'", self.status));
        }
        let name = self.filename.rsplit('/').next().unwrap_or_default();
        JarId::parse(name).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct JarsWire {
    #[serde(default)]
    files: Vec<JarFileWire>,
}

#[derive(Debug, Deserialize)]
struct JarFileWire {
    id: String,
    #[serde(default)]
    name: String,
}

impl JarsWire {
    pub fn into_jars(self) -> Result<Vec<JarInfo>, String> {
        self.files
            .into_iter()
            .map(|f| {
                Ok(JarInfo {
                    id: JarId::parse(&f.id).map_err(|e| e.to_string())?,
                    name: f.name,
                })
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunWire {
    pub jobid: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RequestIdWire {
    #[serde(rename = "request-id")]
    pub request_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct JobWire {
    jid: String,
    #[serde(default)]
    name: String,
    state: String,
    #[serde(default)]
    start_time: Option<i64>,
    #[serde(default)]
    end_time: Option<i64>,
    #[serde(default)]
    vertices: Vec<VertexWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VertexWire {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    parallelism: u32,
    #[serde(default)]
    max_parallelism: u32,
}

impl JobWire {
    pub fn into_details(self) -> Result<JobDetails, String> {
        Ok(JobDetails {
            id: FlinkJobId::parse(&self.jid).map_err(|e| e.to_string())?,
            name: self.name,
            state: JobState::parse(&self.state),
            start_time_ms: time(self.start_time),
            end_time_ms: time(self.end_time),
            vertices: self
                .vertices
                .into_iter()
                .map(|v| VertexInfo {
                    id: v.id,
                    name: v.name,
                    status: v.status,
                    parallelism: v.parallelism,
                    max_parallelism: v.max_parallelism,
                })
                .collect(),
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct JobStatusWire {
    pub status: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct JobsOverviewWire {
    #[serde(default)]
    jobs: Vec<JobSummaryWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct JobSummaryWire {
    jid: String,
    #[serde(default)]
    name: String,
    state: String,
    #[serde(default)]
    start_time: Option<i64>,
    #[serde(default)]
    end_time: Option<i64>,
    #[serde(default)]
    tasks: Option<TaskCountsWire>,
}

#[derive(Debug, Default, Deserialize)]
struct TaskCountsWire {
    #[serde(default)]
    total: u32,
    #[serde(default)]
    running: u32,
    #[serde(default)]
    finished: u32,
}

impl JobsOverviewWire {
    pub fn into_summaries(self) -> Result<Vec<JobSummary>, String> {
        self.jobs
            .into_iter()
            .map(|j| {
                Ok(JobSummary {
                    id: FlinkJobId::parse(&j.jid).map_err(|e| e.to_string())?,
                    name: j.name,
                    state: JobState::parse(&j.state),
                    start_time_ms: time(j.start_time),
                    end_time_ms: time(j.end_time),
                    tasks_total: j.tasks.as_ref().map_or(0, |t| t.total),
                    tasks_running: j.tasks.as_ref().map_or(0, |t| t.running),
                    tasks_finished: j.tasks.as_ref().map_or(0, |t| t.finished),
                })
            })
            .collect()
    }
}

/// Answer of every async-operation status call (savepoint, stop, disposal).
#[derive(Debug, Deserialize)]
pub(crate) struct AsyncOperationWire {
    status: AsyncStatusWire,
    #[serde(default)]
    operation: Option<OperationWire>,
}

#[derive(Debug, Deserialize)]
struct AsyncStatusWire {
    id: String,
}

#[derive(Debug, Default, Deserialize)]
struct OperationWire {
    #[serde(default)]
    location: Option<String>,
    #[serde(rename = "failure-cause", default)]
    failure_cause: Option<FailureCauseWire>,
}

#[derive(Debug, Default, Deserialize)]
struct FailureCauseWire {
    #[serde(default)]
    class: Option<String>,
    #[serde(rename = "stack-trace", default)]
    stack_trace: Option<String>,
}

impl FailureCauseWire {
    fn root_cause(&self) -> String {
        match (&self.stack_trace, &self.class) {
            (Some(trace), _) if !trace.trim().is_empty() => root_cause(trace),
            (_, Some(class)) => root_cause(class),
            _ => "Flink reported a failure without a cause".to_owned(),
        }
    }
}

enum Outcome {
    InProgress,
    Completed(OperationWire),
    Failed(String),
}

impl AsyncOperationWire {
    /// A failed operation is reported as `COMPLETED` with a `failure-cause`: check that first.
    fn outcome(self) -> Result<Outcome, String> {
        match self.status.id.as_str() {
            "IN_PROGRESS" => Ok(Outcome::InProgress),
            "COMPLETED" => {
                let op = self.operation.unwrap_or_default();
                match &op.failure_cause {
                    Some(cause) => Ok(Outcome::Failed(cause.root_cause())),
                    None => Ok(Outcome::Completed(op)),
                }
            }
            other => Err(format!("unknown operation status '{other}'")),
        }
    }

    pub fn into_savepoint_status(self) -> Result<SavepointStatus, String> {
        match self.outcome()? {
            Outcome::InProgress => Ok(SavepointStatus::InProgress),
            Outcome::Failed(root_cause) => Ok(SavepointStatus::Failed { root_cause }),
            Outcome::Completed(op) => match path(op.location) {
                Some(location) => Ok(SavepointStatus::Completed { location }),
                None => Err(
                    "savepoint reported COMPLETED without a location or failure cause".to_owned(),
                ),
            },
        }
    }

    pub fn into_disposal_status(self) -> Result<DisposalStatus, String> {
        Ok(match self.outcome()? {
            Outcome::InProgress => DisposalStatus::InProgress,
            Outcome::Failed(root_cause) => DisposalStatus::Failed { root_cause },
            Outcome::Completed(_) => DisposalStatus::Completed,
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckpointingWire {
    #[serde(default)]
    counts: Option<CountsWire>,
    #[serde(default)]
    latest: Option<LatestWire>,
}

#[derive(Debug, Default, Deserialize)]
struct CountsWire {
    #[serde(default)]
    restored: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    in_progress: Option<u64>,
    #[serde(default)]
    completed: Option<u64>,
    #[serde(default)]
    failed: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct LatestWire {
    #[serde(default)]
    completed: Option<CompletedWire>,
    #[serde(default)]
    savepoint: Option<CompletedWire>,
    #[serde(default)]
    restored: Option<RestoredWire>,
    #[serde(default)]
    failed: Option<FailedWire>,
}

#[derive(Debug, Deserialize)]
struct FailedWire {
    id: u64,
    #[serde(default)]
    failure_timestamp: Option<i64>,
    #[serde(default)]
    failure_message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CompletedWire {
    id: u64,
    #[serde(default)]
    external_path: Option<String>,
    #[serde(default)]
    is_savepoint: Option<bool>,
    #[serde(default)]
    trigger_timestamp: Option<i64>,
    #[serde(default)]
    latest_ack_timestamp: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct RestoredWire {
    id: u64,
    #[serde(default)]
    external_path: Option<String>,
    #[serde(default)]
    is_savepoint: Option<bool>,
    #[serde(default)]
    restore_timestamp: Option<i64>,
}

impl From<CompletedWire> for CompletedCheckpoint {
    fn from(c: CompletedWire) -> Self {
        CompletedCheckpoint {
            id: c.id,
            external_path: path(c.external_path),
            is_savepoint: c.is_savepoint.unwrap_or(false),
            trigger_timestamp_ms: time(c.trigger_timestamp),
            latest_ack_timestamp_ms: time(c.latest_ack_timestamp),
        }
    }
}

impl From<CheckpointingWire> for CheckpointStats {
    fn from(c: CheckpointingWire) -> Self {
        let counts = c.counts.unwrap_or_default();
        let latest = c.latest.unwrap_or_default();
        CheckpointStats {
            latest_completed: latest.completed.map(Into::into),
            latest_savepoint: latest.savepoint.map(Into::into),
            latest_failed: latest.failed.map(|f| FailedCheckpoint {
                id: f.id,
                failure_timestamp_ms: time(f.failure_timestamp),
                failure_message: f.failure_message.filter(|m| !m.is_empty()),
            }),
            latest_restored: latest.restored.map(|r| RestoredCheckpoint {
                id: r.id,
                external_path: path(r.external_path),
                is_savepoint: r.is_savepoint.unwrap_or(false),
                restore_timestamp_ms: time(r.restore_timestamp),
            }),
            counts: CheckpointCounts {
                restored: counts.restored.unwrap_or(0),
                total: counts.total.unwrap_or(0),
                in_progress: counts.in_progress.unwrap_or(0),
                completed: counts.completed.unwrap_or(0),
                failed: counts.failed.unwrap_or(0),
            },
        }
    }
}

/// `GET /jobs/{id}/exceptions` (Flink 2.x: only `exceptionHistory`; 1.x also had `root-exception`).
#[derive(Debug, Deserialize)]
pub(crate) struct ExceptionsWire {
    #[serde(rename = "exceptionHistory", default)]
    history: Option<ExceptionHistoryWire>,
    #[serde(rename = "root-exception", default)]
    root_exception: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ExceptionHistoryWire {
    #[serde(default)]
    entries: Vec<ExceptionEntryWire>,
}

#[derive(Debug, Deserialize)]
struct ExceptionEntryWire {
    #[serde(rename = "exceptionName", default)]
    exception_name: Option<String>,
    #[serde(default)]
    stacktrace: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
}

impl ExceptionsWire {
    /// How many failures the history lists (Flink 1.x without a history: one when it has a root
    /// exception).
    pub fn failures(&self) -> u32 {
        match &self.history {
            Some(h) => u32::try_from(h.entries.len()).unwrap_or(u32::MAX),
            None => u32::from(self.root_exception.is_some()),
        }
    }

    /// The root cause of the most recent failure, one line.
    pub fn latest_root_cause(self) -> Option<String> {
        let latest = self
            .history
            .unwrap_or_default()
            .entries
            .into_iter()
            .max_by_key(|e| e.timestamp.unwrap_or(i64::MIN));
        if let Some(entry) = latest {
            if let Some(trace) = entry.stacktrace.filter(|t| !t.trim().is_empty()) {
                return Some(root_cause(&trace));
            }
            if let Some(name) = entry.exception_name.filter(|n| !n.trim().is_empty()) {
                return Some(root_cause(&name));
            }
        }
        self.root_exception
            .filter(|t| !t.trim().is_empty())
            .map(|t| root_cause(&t))
    }
}

#[cfg(test)]
mod tests;
