//! The codes stateplane writes to `status.failure.reason` of deployments, jobs and savepoints.
//!
//! One enum, so that every code the controller can write is listed (and documented) in one place and a
//! typo cannot invent a new one. The wire format stays a plain string (`Failure::reason`), as in
//! Ververica Platform's API; [`FailureReason::failure`] builds one.

use crate::Failure;

string_enum! {
    /// Why something failed, as written to `status.failure.reason`.
    pub enum FailureReason {
        /// A savepoint failed in Flink, or could not be taken (its job is gone, it has no target).
        SavepointFailed => "SAVEPOINT_FAILED",
        /// A suspend or stateful upgrade needs a savepoint, but no savepoint directory is configured.
        SavepointsNotConfigured => "SAVEPOINTS_NOT_CONFIGURED",
        /// The deployment target a job is to start on does not exist (or its URL is unusable).
        DeploymentTargetMissing => "DEPLOYMENT_TARGET_MISSING",
        /// Flink (or reading the artifact) refused a job submission.
        JobSubmissionFailed => "JOB_SUBMISSION_FAILED",
        /// `restoreStrategy.requireState` is set and no snapshot qualifies.
        NoSnapshotToRestoreFrom => "NO_SNAPSHOT_TO_RESTORE_FROM",
        /// The job was cancelled in Flink by someone other than stateplane.
        JobCancelledOutside => "JOB_CANCELLED_OUTSIDE",
        /// The job failed in Flink (its restart strategy gave up).
        JobFailed => "JOB_FAILED",
        /// Flink no longer knows a job that ran (a JobManager restart without high availability).
        JobVanished => "JOB_VANISHED",
        /// The artifact's declared Flink version is of another release line than the cluster's.
        FlinkVersionMismatch => "FLINK_VERSION_MISMATCH",
        /// Flink cannot plan a changed template; the running job was left alone.
        UpgradePreflightFailed => "UPGRADE_PREFLIGHT_FAILED",
        /// The new template would drop state of the running job; the running job was left alone.
        UpgradeDropsState => "UPGRADE_DROPS_STATE",
        /// The new template cannot take the running job's state (max parallelism); the running job
        /// was left alone.
        UpgradeIncompatibleState => "UPGRADE_INCOMPATIBLE_STATE",
        /// Disposing of a deleted savepoint's data failed.
        DisposalFailed => "DISPOSAL_FAILED",
    }
}

impl FailureReason {
    /// A failure with this reason and a message for a person, failed now.
    pub fn failure(self, message: impl Into<String>) -> Failure {
        Failure::new(self.as_str(), message)
    }

    /// Whether `failure` carries this reason.
    pub fn is(self, failure: Option<&Failure>) -> bool {
        failure.is_some_and(|f| f.reason == self.as_str())
    }
}
