//! The controller's one error type: why a reconcile pass ended before its work was done.
//!
//! None of these is a fact about the deployment: a pass that ends with one is simply run again (at
//! once after a [`Error::Conflict`], after a back-off otherwise), so a store that hiccups or a Flink
//! that does not answer is never reported to the user as "the target does not exist" or "the job
//! failed". What *is* a fact (Flink refused a submission, failed a savepoint, a jar cannot be read) is
//! an answer the planner decides on, and it reaches the user as a failure with a
//! [`stateplane_model::plan::FailureReason`].

use stateplane_blob::BlobError;
use stateplane_flink::FlinkError;
use stateplane_store::StoreError;

/// Why a pass ended early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// A row changed (or went away) since this pass read it: the API wrote the deployment, or a
    /// savepoint was deleted. The pass ends; the next one plans again from fresh rows.
    #[error("{0}")]
    Conflict(String),
    /// The store failed (I/O, connection, pool). Transient: the pass is retried with a back-off.
    #[error(transparent)]
    Store(StoreError),
    /// Flink did not answer a request that changes something (a timeout, a refused connection, a
    /// 503). Transient: the pass is retried with a back-off; the request carries a client-chosen id,
    /// so repeating it is the same operation.
    #[error(transparent)]
    Flink(#[from] FlinkError),
    /// Blob storage could not be reached while changing it (disposal reports its own failures).
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// An action that talks to Flink has no client: the job's deployment target went away while the
    /// pass ran. The next pass sees that as Flink not answering, and waits.
    #[error("no Flink client for this action: its deployment target cannot be used")]
    NoClient,
    /// The job's artifact could not be read or uploaded (see [`ArtifactError`]).
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } | StoreError::NotFound { .. } => {
                Error::Conflict(e.to_string())
            }
            other => Error::Store(other),
        }
    }
}

impl Error {
    /// Whether the pass should be planned again at once (no back-off, no warning).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict(_))
    }
}

/// Why a job's jar could not be had. Each message is one sentence for an event.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ArtifactError {
    /// A `file://` jar could not be read.
    #[error("cannot read jar {path}: {reason}")]
    Read { path: String, reason: String },
    /// An `http(s)://` jar could not be downloaded (a transport error or a non-2xx status).
    #[error("cannot download jar {uri}: {reason}")]
    Download { uri: String, reason: String },
    /// The jar URI has a scheme stateplane cannot fetch.
    #[error("unsupported jarUri '{uri}': use file:// or http(s)://")]
    Unsupported { uri: String },
    /// Flink refused the upload.
    #[error("cannot upload jar to Flink: {0}")]
    Upload(FlinkError),
}
