//! Typed async client of Apache Flink's REST API (Flink 1.18–1.20 and 2.x), and nothing else.
//!
//! Why a crate of its own: the controller must reason about Flink in terms of jobs, savepoints and
//! checkpoints, not HTTP. This crate owns every detail of the wire format (the kebab-case body of
//! `/savepoints` next to the camelCase body of `/stop`, `-1` meaning "no end time", a failed
//! savepoint reported as `COMPLETED` with a `failure-cause`, Java stack traces in error bodies) so
//! callers only see typed values and a [`FlinkError`] whose message is one readable line. It also
//! owns the differences between Flink releases: the client learns the cluster's version from
//! `GET /overview` and writes job submissions in that release's dialect ([`RestDialect`],
//! [`translate_configuration`]); every other call is the same on 1.18–1.20 and 2.x.
//!
//! Guarantees:
//! - every call is bounded by the client's timeout (default 10 s, see [`FlinkClient::with_timeout`]);
//! - every call counts against the cluster's [`Budget`] (questions in flight, polls per second), which
//!   the client's clones share;
//! - nothing here retries or sleeps: callers decide with [`FlinkError::is_retryable`];
//! - no call panics on anything Flink sends; unknown states map to [`JobState::Unknown`];
//! - client-chosen ids ([`FlinkJobId`] for submission, [`TriggerId`] for savepoints) are passed
//!   through, so a caller that crashed after a request can repeat it and get the same operation.
//!
//! Nothing here is durable. Note Flink's own caches: `/jobs/{id}` and `/jobs/{id}/checkpoints` may be
//! up to 3 s stale (`rest.cache.*`), and completed async operations (savepoint, disposal) are
//! forgotten after `rest.async.store-duration` (5 min) or a JobManager restart; a status request
//! then answers [`FlinkError::NotFound`].

pub mod budget;
mod client;
mod config_keys;
mod error;
mod ids;
mod types;
mod version;
mod wire;

pub use budget::{Budget, BudgetConfig};
pub use client::plan::{JobPlan, PlannedVertex};
pub use client::FlinkClient;
pub use config_keys::{translate_configuration, KeyRename, KEY_RENAMES};
pub use error::{root_cause, FlinkError};
pub use ids::{FlinkJobId, InvalidId, JarId, TriggerId};
pub use types::{
    CheckpointCounts, CheckpointStats, ClaimMode, ClusterOverview, CompletedCheckpoint,
    DisposalStatus, FailedCheckpoint, JarInfo, JobDetails, JobState, JobSummary,
    RestoredCheckpoint, RunJarRequest, SavepointFormat, SavepointStatus, SavepointTrigger,
    StopWithSavepoint, VertexInfo,
};
pub use version::{FlinkVersion, InvalidVersion, RestDialect};
