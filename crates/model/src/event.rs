//! Events: one per step the controller takes, with a machine code and a sentence for a person.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{DeploymentId, EventId, JobId, SavepointId, API_VERSION};

string_enum! {
    /// Machine codes. The first group is Ververica's `EventMetadata.name` enum, so clients generated
    /// from its swagger can read every event; the second group are stateplane's own, used only where
    /// none of those fits (listed in the README).
    pub enum EventName {
        StateTransitionIsNeeded => "STATE_TRANSITION_IS_NEEDED",
        FoundAJobToTerminate => "FOUND_A_JOB_TO_TERMINATE",
        FoundAJobToWaitForItsTermination => "FOUND_A_JOB_TO_WAIT_FOR_ITS_TERMINATION",
        AwaitingSavepointCompletionToTransitionToSuspended => "AWAITING_SAVEPOINT_COMPLETION_TO_TRANSITION_TO_SUSPENDED",
        CreatingASavepointBeforeSuspension => "CREATING_A_SAVEPOINT_BEFORE_SUSPENSION",
        FoundACompletedSavepointReadyForSuspension => "FOUND_A_COMPLETED_SAVEPOINT_READY_FOR_SUSPENSION",
        UsingAnUpgradeStrategy => "USING_AN_UPGRADE_STRATEGY",
        CreatingANewJob => "CREATING_A_NEW_JOB",
        FailedCreatingANewJob => "FAILED_CREATING_A_NEW_JOB",
        AwaitingAJobToStart => "AWAITING_A_JOB_TO_START",
        FoundAStoppedJobAndWillTerminateIt => "FOUND_A_STOPPED_JOB_AND_WILL_TERMINATE_IT",
        StateTransitionIsCompleted => "STATE_TRANSITION_IS_COMPLETED",
        TransitionedToFinishedState => "TRANSITIONED_TO_FINISHED_STATE",
        AwaitingAJobToTerminate => "AWAITING_A_JOB_TO_TERMINATE",
        TooManyFailedSuspensionAttempts => "TOO_MANY_FAILED_SUSPENSION_ATTEMPTS",
        TooManyFailedJobCreationAttempts => "TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS",
        SpinningUpAClusterForAJob => "SPINNING_UP_A_CLUSTER_FOR_A_JOB",
        JobSuccessfullyStarted => "JOB_SUCCESSFULLY_STARTED",
        JobSuccessfullyFinished => "JOB_SUCCESSFULLY_FINISHED",
        AwaitingForAClusterToSpinUp => "AWAITING_FOR_A_CLUSTER_TO_SPIN_UP",
        TerminatingAJobDueToAnUnrecoverableFailure => "TERMINATING_A_JOB_DUE_TO_AN_UNRECOVERABLE_FAILURE",
        AwaitForAClusterToTeardown => "AWAIT_FOR_A_CLUSTER_TO_TEARDOWN",
        ResourceQuotaExceeded => "RESOURCE_QUOTA_EXCEEDED",
        TransitioningToFailedStateBecauseOfAMissingJob => "TRANSITIONING_TO_FAILED_STATE_BECAUSE_OF_A_MISSING_JOB",
        TransitioningToFailedStateBecauseJobNotStarted => "TRANSITIONING_TO_FAILED_STATE_BECAUSE_JOB_NOT_STARTED",
        TransitioningToFailedStateBecauseSavepointFailedInFlink => "TRANSITIONING_TO_FAILED_STATE_BECAUSE_SAVEPOINT_FAILED_IN_FLINK",
        TransitionedToCompleted => "TRANSITIONED_TO_COMPLETED",
        AwaitingForASavepointToComplete => "AWAITING_FOR_A_SAVEPOINT_TO_COMPLETE",
        AnUnRecoverableFailureWhileTriggeringASavepoint => "AN_UN_RECOVERABLE_FAILURE_WHILE_TRIGGERING_A_SAVEPOINT",
        RecoverableFailureWhileTriggeringASavepoint => "RECOVERABLE_FAILURE_WHILE_TRIGGERING_A_SAVEPOINT",
        SuccessfullyTriggeredASavepoint => "SUCCESSFULLY_TRIGGERED_A_SAVEPOINT",
        NeedToTriggerASavepoint => "NEED_TO_TRIGGER_A_SAVEPOINT",
        AnUnrecoverableFailureWhileTakingASavepoint => "AN_UNRECOVERABLE_FAILURE_WHILE_TAKING_A_SAVEPOINT",
        RecoverableFailureWhileCheckingASavepointStatus => "RECOVERABLE_FAILURE_WHILE_CHECKING_A_SAVEPOINT_STATUS",
        FoundAnOldJobAndWillTerminateIt => "FOUND_AN_OLD_JOB_AND_WILL_TERMINATE_IT",
        CouldNotFindAJobToSuspend => "COULD_NOT_FIND_A_JOB_TO_SUSPEND",
        JobIsNotConfiguredWithSavepointSupport => "JOB_IS_NOT_CONFIGURED_WITH_SAVEPOINT_SUPPORT",
        ReferencedDeploymentTargetDoesNotExist => "REFERENCED_DEPLOYMENT_TARGET_DOES_NOT_EXIST",
        GeneralFailure => "GENERAL_FAILURE",
        FailedToCreateClusterForJob => "FAILED_TO_CREATE_CLUSTER_FOR_JOB",
        // stateplane's own codes
        /// A savepoint completed; the message names its location.
        SavepointCompleted => "SAVEPOINT_COMPLETED",
        /// A retained checkpoint was recorded as a RETAINED_CHECKPOINT savepoint.
        RecordedARetainedCheckpoint => "RECORDED_A_RETAINED_CHECKPOINT",
        /// A job stopped without leaving a retained checkpoint (none configured or none completed).
        NoRetainedCheckpoint => "NO_RETAINED_CHECKPOINT",
        /// `requireState` is set and no snapshot qualifies: the start is refused.
        NoSnapshotToRestoreFrom => "NO_SNAPSHOT_TO_RESTORE_FROM",
        /// Flink cannot plan a changed template: the running job is kept; the message has Flink's reason.
        UpgradePreflightFailed => "UPGRADE_PREFLIGHT_FAILED",
        /// The new template cannot take the running job's state (dropped or incompatible): the
        /// running job is kept; the message names the operators and reasons.
        UpgradeRefused => "UPGRADE_REFUSED",
        /// The new job of a stateful upgrade could not restore, failed or kept restarting within the
        /// grace window: the previous template is started again from the same savepoint. The message
        /// has Flink's root cause.
        UpgradeRolledBack => "UPGRADE_ROLLED_BACK",
        /// Flink reported the job FAILED.
        JobFailed => "JOB_FAILED",
        /// A deleted savepoint resource is gone; the message says whether its data was disposed of or
        /// kept, and why.
        SavepointDeleted => "SAVEPOINT_DELETED",
        /// Disposing of a deleted savepoint's data failed; the savepoint is FAILED_DELETION.
        SavepointDeletionFailed => "SAVEPOINT_DELETION_FAILED",
        /// Retention (`spec.savepointRetention`) marked a savepoint for deletion.
        SavepointExpired => "SAVEPOINT_EXPIRED",
        /// The job's parallelism is being changed in place (no savepoint, same Flink job).
        RescalingInPlace => "RESCALING_IN_PLACE",
        /// Every vertex of the job runs at the new parallelism; the job runs the new spec version.
        RescaledInPlace => "RESCALED_IN_PLACE",
        /// The change cannot be made in place (the message says why); the upgrade strategy applies.
        RescaleInPlaceNotPossible => "RESCALE_IN_PLACE_NOT_POSSIBLE",
        /// A condition of the running deployment changed (`status.running.conditions`); the message
        /// names it, its new status and why.
        DeploymentConditionChanged => "DEPLOYMENT_CONDITION_CHANGED",
        /// A namespace event: a deployment was deleted; the message says what happened to its
        /// snapshots' data (disposed of, kept, or being disposed of before it goes).
        DeploymentDeleted => "DEPLOYMENT_DELETED",
        /// A write through the API with access control on: the message says who (`admin` or the
        /// token's name and role), the method, the path and the answer's status.
        Audit => "AUDIT",
    }
}

/// An Event resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub api_version: String,
    pub kind: String,
    pub metadata: EventMetadata,
    pub spec: EventSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventMetadata {
    pub id: EventId,
    pub name: EventName,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<DeploymentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// stateplane extension: the savepoint the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_id: Option<SavepointId>,
    pub created_at: DateTime<Utc>,
    pub resource_version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSpec {
    pub message: String,
}

impl Event {
    /// A new event about a deployment.
    pub fn new(
        namespace: &str,
        deployment_id: DeploymentId,
        name: EventName,
        message: impl Into<String>,
    ) -> Self {
        Self {
            api_version: API_VERSION.into(),
            kind: "Event".into(),
            metadata: EventMetadata {
                id: EventId::new(),
                name,
                namespace: namespace.into(),
                deployment_id: Some(deployment_id),
                job_id: None,
                savepoint_id: None,
                created_at: crate::now(),
                resource_version: 1,
            },
            spec: EventSpec {
                message: message.into(),
            },
        }
    }

    pub fn with_job(mut self, job: JobId) -> Self {
        self.metadata.job_id = Some(job);
        self
    }

    pub fn with_savepoint(mut self, sp: SavepointId) -> Self {
        self.metadata.savepoint_id = Some(sp);
        self
    }
}
