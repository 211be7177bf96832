//! Reconcile planning: given what a deployment wants and what is (our rows, Flink's answers, storage's
//! answers), the one next action. Pure; the controller's executor performs the action and plans again.
//!
//! Planning is level-triggered: it never asks "what just happened", only "what is", so a controller
//! killed at any line plans the same remaining steps after a restart. Every side effect the executor
//! performs is preceded by a committed row naming it (a STARTING job with its id, a STARTED savepoint
//! with its trigger id, a TERMINATING job with its stop reason), and each such row is matched here
//! against Flink's view to decide whether to repeat, collect or give up.
//!
//! Every decision is made here, including what to look at: a pass starts with the store's rows only
//! ([`Answers::default`]), and the planner answers [`Action::Observe`] with the questions it needs
//! answered (Flink's view of the job, of a savepoint's trigger id, a retained checkpoint on storage,
//! the deployment target and its Flink version) before it decides. So observing has no side effects,
//! and the decisions that look like the executor's — the Flink version gate, triggering a requested
//! savepoint before Flink was asked about the job, failing a savepoint Flink refused, failing a job
//! creation Flink refused — are table-tested rules here. Refusals come back as answers
//! ([`SavepointView::Refused`], [`Answers::submission_refused`]) and are planned like any other fact.
//!
//! Order of concerns in one pass:
//! 1. the current job (the one non-terminal Job row), against Flink: adopt, collect a savepoint,
//!    notice an end, stop or upgrade it, or take a periodic savepoint when one is due;
//! 2. without a current job: fail orphaned savepoint requests, check the deployment target and its
//!    Flink version, start a job (restore selection) or settle the status;
//! 3. the running deployment's conditions ([`conditions`]), then housekeeping, only when 1–2 have
//!    nothing urgent (steady, waiting for Flink, backing off):
//!    savepoints waiting for disposal, then deleting a deployment whose deletion waited for them
//!    ([`crate::storage::teardown`]), then retention. Disposal never needs Flink, so it proceeds while
//!    Flink is unreachable; and no deletion, however slow the storage, delays a suspend or a start.

use chrono::{DateTime, Duration, Utc};

use crate::restore::RestoreDecision;
use crate::retention::Expired;
use crate::{
    Deployment, DeploymentState, DeploymentTarget, Job, JobId, JobState, Savepoint, SavepointId,
    SavepointOrigin, SavepointState,
};

pub mod conditions;
pub mod failure;
mod housekeeping;
mod job;
pub mod preflight;
pub mod rescale;
pub mod rollback;
mod savepoint;
mod start;
pub mod upgrade_check;

pub use conditions::CheckpointsView;
pub use failure::FailureReason;
pub use preflight::{PlannedVertex, PreflightView};
pub use rescale::{RescaleView, VertexView};

/// Annotation on a Job saying why stateplane is stopping it (written before the stop is sent).
pub const STOP_REASON_ANNOTATION: &str = "stateplane.io/stop-reason";

string_enum! {
    /// Why stateplane stops a job without a savepoint.
    pub enum StopReason {
        /// The deployment's desired state is CANCELLED.
        Cancel => "CANCEL",
        /// The template changed and the upgrade strategy is STATELESS: the next job starts empty.
        StatelessUpgrade => "STATELESS_UPGRADE",
        /// The new job of a stateful upgrade keeps failing: the previous template runs again
        /// ([`rollback`]).
        UpgradeRollback => "UPGRADE_ROLLBACK",
    }
}

string_enum! {
    /// A Flink job's state as Flink reports it.
    pub enum FlinkJobState {
        Initializing => "INITIALIZING",
        Created => "CREATED",
        Running => "RUNNING",
        Failing => "FAILING",
        Failed => "FAILED",
        Cancelling => "CANCELLING",
        Canceled => "CANCELED",
        Finished => "FINISHED",
        Restarting => "RESTARTING",
        Suspended => "SUSPENDED",
        Reconciling => "RECONCILING",
        Unknown => "UNKNOWN",
    }
}

impl FlinkJobState {
    /// The job is over for good in this cluster.
    pub fn is_globally_terminal(&self) -> bool {
        matches!(self, Self::Failed | Self::Canceled | Self::Finished)
    }
}

/// What Flink says about the current job.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FlinkView {
    /// Flink was not asked (yet, in this pass).
    #[default]
    NotAsked,
    /// Flink did not answer (connection refused, timeout, 5xx), or its target cannot be used.
    Unreachable { error: String },
    /// Flink answered that it does not know the job.
    Missing,
    /// Flink knows the job.
    Job {
        state: FlinkJobState,
        all_tasks_running: bool,
    },
}

/// What Flink says about a savepoint's trigger id (or did when it was sent).
#[derive(Debug, Clone, PartialEq)]
pub enum SavepointView {
    /// Flink is taking it.
    InProgress,
    /// Flink wrote it here.
    Completed { location: String },
    /// Flink failed it; its reason.
    Failed { cause: String },
    /// Flink does not know the trigger id: never triggered, or forgotten (expiry, a restart).
    Unknown,
    /// Flink did not answer.
    Unreachable { error: String },
    /// This pass sent the trigger (or stop) and Flink refused it; its reason.
    Refused { cause: String },
}

/// A retained checkpoint of an ended job, as found in Flink's statistics and on storage.
#[derive(Debug, Clone, PartialEq)]
pub enum RetainedView {
    /// One was found. `note` says what could not be confirmed, if anything.
    Found {
        location: String,
        completed_at: DateTime<Utc>,
        note: Option<String>,
    },
    /// None was found; `unreadable` says why the storage could not be looked at, if it could not.
    NotFound { unreadable: Option<String> },
}

/// The deployment target a new job would start on.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetView {
    /// No target of this name exists in the namespace.
    Missing { name: String },
    /// The target's REST URL cannot be used.
    Unusable { name: String, error: String },
    /// The target, and its cluster's Flink version when known (asked, or from its status).
    Found {
        target: Box<DeploymentTarget>,
        cluster_version: Option<String>,
    },
}

/// Why a submission was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The reason, for a person.
    pub reason: String,
    /// Submitting the same job again cannot succeed before the deployment (or a secret value it
    /// refers to) changes: a SQL statement that does not parse or validate, a secret value reference
    /// that cannot be resolved.
    pub permanent: bool,
}

/// Answers from outside the store gathered in this pass, each about the thing it names. A fresh pass
/// starts with none; [`Action::Observe`] says which to gather.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answers {
    /// Flink's view of the current job.
    pub job: FlinkView,
    /// Flink's view of a savepoint's trigger id.
    pub savepoint: Option<(SavepointId, SavepointView)>,
    /// The retained checkpoint of an ended job.
    pub retained: Option<(JobId, RetainedView)>,
    /// The root cause Flink reports for a failed job (`None` inside: Flink has none).
    pub failure_cause: Option<(JobId, Option<String>)>,
    /// How many failures of the job Flink's exception history lists (asked with the root cause).
    pub failures: Option<(JobId, u32)>,
    /// For a stop-with-savepoint whose trigger Flink forgot: the savepoint Flink's statistics say the
    /// job wrote into the savepoint's target directory, if any.
    pub stop_savepoint_written: Option<(SavepointId, Option<String>)>,
    /// The deployment target a new job would start on.
    pub target: Option<TargetView>,
    /// This pass submitted the job and Flink (or reading its artifact) refused.
    pub submission_refused: Option<(JobId, Refusal)>,
    /// This pass sent Flink the cancel of this job.
    pub cancel_sent: Option<JobId>,
    /// Flink's vertices and requested resources of the current job (for an in-place rescale).
    pub rescale: Option<(JobId, RescaleView)>,
    /// This pass asked Flink to rescale the job in place and Flink refused; the reason.
    pub rescale_refused: Option<(JobId, String)>,
    /// Flink's answer to planning the template of this spec version (an upgrade's preflight).
    pub preflight: Option<(u64, PreflightView)>,
    /// Flink's checkpoint statistics of the current job.
    pub checkpoints: Option<(JobId, CheckpointsView)>,
}

impl Answers {
    fn savepoint(&self, id: SavepointId) -> Option<&SavepointView> {
        self.savepoint
            .as_ref()
            .filter(|(s, _)| *s == id)
            .map(|(_, v)| v)
    }
}

/// Everything planning looks at.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub deployment: &'a Deployment,
    /// The deployment's non-terminal job, if any (there is at most one).
    pub current_job: Option<&'a Job>,
    /// The deployment's newest job of any state.
    pub last_job: Option<&'a Job>,
    /// The deployment's savepoints.
    pub savepoints: &'a [Savepoint],
    /// A savepoint directory is known (deployment configuration or blob storage).
    pub savepoints_configured: bool,
    /// Savepoints whose trigger (or stop) this process has sent and Flink accepted.
    pub triggered: &'a [SavepointId],
    pub answers: &'a Answers,
    pub now: DateTime<Utc>,
}

/// The questions to answer before planning again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ask {
    /// Flink's view of the current job (its state; its tasks too while it starts).
    pub job: bool,
    /// Flink's view of this savepoint's trigger id.
    pub savepoint: Option<SavepointId>,
    /// The current job's retained checkpoint (Flink's statistics when it knows the job, storage).
    pub retained: bool,
    /// The root cause of the current job's failure.
    pub failure_cause: bool,
    /// The savepoint a stop wrote, from Flink's checkpoint statistics of the current job.
    pub stop_savepoint_written: Option<SavepointId>,
    /// This deployment target and its cluster's Flink version.
    pub target: Option<String>,
    /// The current job's vertices and requested resources (`/jobs/{jid}`, its resource requirements).
    pub rescale: bool,
    /// The current job's checkpoint statistics (at most [`conditions::CHECKPOINT_STATS_MAX_AGE`] old).
    pub checkpoints: bool,
}

string_enum! {
    /// What a wait is for. The polling schedule learns how long each takes for a deployment.
    pub enum Operation {
        /// A savepoint of a job that keeps running.
        Savepoint => "SAVEPOINT",
        /// The savepoint of a stop-with-savepoint.
        Stop => "STOP",
        /// A job finishing after its stop-with-savepoint completed.
        Finish => "FINISH",
        /// A job being started, until all of its tasks run.
        Start => "START",
        /// A job being cancelled.
        Cancel => "CANCEL",
        /// A job changing its parallelism in place, until every vertex runs at the new one.
        Rescale => "RESCALE",
        /// Flink at work on its own (a restart) or not answering: nothing of ours to time.
        Flink => "FLINK",
    }
}

/// The one question a wait is waiting to ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollAsk {
    /// The current job's state.
    Job,
    /// The current job's state and tasks (`/jobs/overview`).
    Tasks,
    /// A savepoint's trigger id.
    Savepoint(SavepointId),
    /// The current job's vertices and requested resources.
    Rescale,
}

/// A wait on something Flink does: what to ask, for which operation, and since when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    pub ask: PollAsk,
    pub operation: Operation,
    pub since: DateTime<Utc>,
}

/// What becomes of a retained checkpoint when a job ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Retained {
    /// Not looked for: the job finished, or was stopped with a savepoint (which discards checkpoints).
    NotApplicable,
    /// Record it as a RETAINED_CHECKPOINT savepoint (before the job row is marked terminal).
    Record {
        location: String,
        completed_at: DateTime<Utc>,
        note: Option<String>,
    },
    /// A savepoint row with this location exists already (a pass before a crash recorded it).
    AlreadyRecorded,
    /// None: say so in an event, with this explanation.
    NoneFound { why: String },
}

/// How a failed savepoint affects its job and deployment (a stop's failure is the suspend's or
/// upgrade's failure; a user request's is only its own).
#[derive(Debug, Clone, PartialEq)]
pub struct StopFailed {
    /// `suspend` or `stateful upgrade`.
    pub operation: &'static str,
    /// The job to mark STARTED again (it was TERMINATING: Flink keeps it running).
    pub take_back: Option<JobId>,
    /// This was the last attempt of `maxSavepointCreationAttempts`.
    pub gives_up: bool,
}

/// The one next step.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Nothing to do; look again at the next tick or when something changes.
    Steady,
    /// Answer these questions (reads only), then plan again.
    Observe { ask: Ask },
    /// Flink is busy with something; ask `poll` again when the schedule says so (or, without one,
    /// look again in a while).
    Wait { reason: String, poll: Option<Poll> },
    /// A previous attempt failed; do not try again before `until`.
    Backoff { until: DateTime<Utc> },
    /// Dispose of the data of a savepoint marked for deletion (or just forget it), then delete the row.
    DisposeSavepoint { savepoint: SavepointId },
    /// The deployment is being deleted and its snapshots' data is disposed of: delete it now (with
    /// what is left of its jobs, events and savepoint resources).
    DeleteDeployment,
    /// Read a COMPLETED savepoint's `_metadata` and store its summary (or why it cannot be read).
    SummarizeSavepoint { savepoint: SavepointId },
    /// Retention expires these COMPLETED savepoints: mark them PENDING_DELETION (then disposal as for a
    /// DELETE).
    ExpireSavepoints { expired: Vec<Expired> },
    /// The deployment's periodic savepoint is due: record a STARTED USER_REQUEST savepoint of the job
    /// (annotated as periodic); the next step triggers it.
    TriggerPeriodicSavepoint { job: JobId },
    /// Mark a STARTED savepoint FAILED with this reason; `stop` when it was a stop's savepoint.
    FailSavepoint {
        savepoint: SavepointId,
        reason: String,
        stop: Option<StopFailed>,
    },
    /// Mark a STARTED savepoint COMPLETED at the location Flink wrote it to.
    CompleteSavepoint {
        savepoint: SavepointId,
        location: String,
    },
    /// Send Flink the savepoint's trigger (its id is the trigger id; a stop's savepoint is sent as a
    /// stop-with-savepoint). Flink's refusal comes back as [`SavepointView::Refused`].
    TriggerSavepoint { savepoint: SavepointId },
    /// Record a new Job row (STARTING) and submit it to Flink.
    StartJob { restore: RestoreDecision },
    /// The deployment target to start on cannot be used: record why (not an attempt: creating or
    /// fixing the target wakes the deployment).
    TargetMissing { message: String },
    /// The Flink version gate refuses the start: the deployment becomes FAILED (it starts by itself
    /// once the versions agree).
    GateStart { message: String },
    /// The versions the gate refused agree now: clear the failure, so the job can start.
    LiftGate { message: String },
    /// `requireState` is set and nothing qualifies: refuse to start empty.
    RefuseStart { decision: RestoreDecision },
    /// A STARTING job that Flink does not know: the submission never happened; submit it (same id).
    /// Flink's refusal comes back as [`Answers::submission_refused`].
    SubmitJob { job: JobId },
    /// Flink (or reading the artifact) refused the job's submission: mark it FAILED and count the
    /// attempt; `gives_up` when it was the last attempt, or when the refusal is permanent (trying
    /// again cannot help).
    FailJobCreation {
        job: JobId,
        reason: String,
        gives_up: bool,
    },
    /// Flink runs every task of a STARTING job: mark it STARTED and the deployment RUNNING.
    MarkJobStarted { job: JobId },
    /// Record a STARTED savepoint of this origin, mark the job TERMINATING and stop it with the
    /// savepoint.
    StopWithSavepoint { job: JobId, origin: SavepointOrigin },
    /// A stop's savepoint row exists but its job was not marked TERMINATING (a crash between the two
    /// writes): mark it now, so the stop is sent with its intent complete.
    MarkJobTerminating { job: JobId },
    /// The template changed: ask Flink to plan it before the running job is stopped (the answer comes
    /// back as [`Answers::preflight`]; see [`preflight`]).
    PlanUpgrade { job: JobId },
    /// Flink cannot plan the new template, or its graph cannot take the running job's state
    /// ([`upgrade_check`]): keep the job, record the failure (this reason) and give this spec version
    /// up.
    UpgradeRefused {
        job: JobId,
        reason: FailureReason,
        message: String,
    },
    /// Stop the job without a savepoint (the reason is written first).
    Cancel { job: JobId, reason: StopReason },
    /// Flink reports the job over: record the retained checkpoint, then the job's end (the
    /// deployment's new state is the next step, [`Action::DeploymentEnded`]).
    JobEnded {
        job: JobId,
        flink_state: FlinkJobState,
        job_state: JobState,
        failure: Option<(FailureReason, String)>,
        retained: Retained,
    },
    /// Flink no longer knows a job that ran (e.g. the JobManager restarted without HA): record its
    /// retained checkpoint, then the job FAILED with this message.
    JobVanished {
        job: JobId,
        message: String,
        retained: Retained,
    },
    /// The deployment's last job ended, and the deployment's status does not say so yet: write its
    /// new state (and the job's failure, when the job failed), with the event.
    DeploymentEnded {
        job: JobId,
        deployment_state: DeploymentState,
        failure: Option<(FailureReason, String)>,
    },
    /// A savepoint is needed (suspend, stateful upgrade) but no savepoint directory is configured:
    /// record the failure and keep the job running.
    SavepointsNotConfigured { job: JobId, operation: String },
    /// Bring the deployment's status in line without touching Flink.
    SetStatus { state: DeploymentState },
    /// Change the running job's parallelism in place: record the intent on the job row (this spec
    /// version, these per-vertex parallelisms), then send Flink the resource requirements. Flink's
    /// refusal comes back as [`Answers::rescale_refused`].
    RescaleInPlace {
        job: JobId,
        parallelism: std::collections::BTreeMap<String, u32>,
    },
    /// Every vertex runs at the parallelism of the rescale intent: the job now runs the deployment's
    /// spec version; mark the deployment RUNNING.
    CompleteRescale { job: JobId },
    /// The change cannot (or could not) be made in place: record that for this spec version, say why
    /// in an event; the next step is the upgrade strategy.
    RescaleFallback { job: JobId, reason: String },
    /// A condition of the running deployment changed: write these (with an event per change).
    SetConditions {
        conditions: Vec<crate::conditions::DeploymentCondition>,
    },
    /// The new job of a stateful upgrade failed within the grace window ([`rollback`]): record the
    /// rollback on the deployment (the intent: this spec version failed, the previous job's
    /// template runs again), with an event carrying Flink's cause. The failed job (if Flink still
    /// runs it) is cancelled next, then [`Action::StartPrevious`].
    RollBack {
        job: JobId,
        previous: JobId,
        savepoint: SavepointId,
        cause: String,
    },
    /// A rollback holds and no job runs: record a new Job row (STARTING) with the template of the
    /// `previous` job and its spec version, and submit it restoring `restore`.
    StartPrevious {
        previous: JobId,
        restore: RestoreDecision,
    },
}

impl Action {
    /// The action's name, for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Steady => "steady",
            Action::Observe { .. } => "observe",
            Action::Wait { .. } => "wait",
            Action::Backoff { .. } => "backoff",
            Action::DisposeSavepoint { .. } => "dispose_savepoint",
            Action::DeleteDeployment => "delete_deployment",
            Action::SummarizeSavepoint { .. } => "summarize_savepoint",
            Action::ExpireSavepoints { .. } => "expire_savepoints",
            Action::TriggerPeriodicSavepoint { .. } => "trigger_periodic_savepoint",
            Action::FailSavepoint { .. } => "fail_savepoint",
            Action::CompleteSavepoint { .. } => "complete_savepoint",
            Action::TriggerSavepoint { .. } => "trigger_savepoint",
            Action::StartJob { .. } => "start_job",
            Action::TargetMissing { .. } => "target_missing",
            Action::GateStart { .. } => "gate_start",
            Action::LiftGate { .. } => "lift_gate",
            Action::RefuseStart { .. } => "refuse_start",
            Action::SubmitJob { .. } => "submit_job",
            Action::FailJobCreation { .. } => "fail_job_creation",
            Action::MarkJobStarted { .. } => "mark_job_started",
            Action::StopWithSavepoint { .. } => "stop_with_savepoint",
            Action::MarkJobTerminating { .. } => "mark_job_terminating",
            Action::PlanUpgrade { .. } => "plan_upgrade",
            Action::UpgradeRefused { .. } => "upgrade_refused",
            Action::Cancel { .. } => "cancel",
            Action::JobEnded { .. } => "job_ended",
            Action::JobVanished { .. } => "job_vanished",
            Action::DeploymentEnded { .. } => "deployment_ended",
            Action::SavepointsNotConfigured { .. } => "savepoints_not_configured",
            Action::SetStatus { .. } => "set_status",
            Action::RescaleInPlace { .. } => "rescale_in_place",
            Action::CompleteRescale { .. } => "complete_rescale",
            Action::RescaleFallback { .. } => "rescale_fallback",
            Action::SetConditions { .. } => "set_conditions",
            Action::RollBack { .. } => "roll_back",
            Action::StartPrevious { .. } => "start_previous",
        }
    }
}

/// How long to wait after `attempts` failed attempts: 500 ms doubling, at most 30 s.
pub fn backoff(attempts: u32) -> Duration {
    let ms = 500i64.saturating_mul(1i64 << attempts.saturating_sub(1).min(10));
    Duration::milliseconds(ms.min(30_000))
}

fn backoff_until(attempts: u32, last: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (attempts, last) {
        (0, _) | (_, None) => None,
        (n, Some(at)) => Some(at + backoff(n)),
    }
}

/// The savepoint the controller works on next: the oldest STARTED one (of `job`, when given). Savepoints
/// of a deployment are taken one at a time, in the order they were asked for.
pub fn oldest_started(sps: &[Savepoint], job: Option<JobId>) -> Option<&Savepoint> {
    sps.iter()
        .filter(|s| {
            s.status.state == SavepointState::Started && (job.is_none() || s.metadata.job_id == job)
        })
        .min_by_key(|s| (s.metadata.created_at, s.metadata.id))
}

fn status_is(d: &Deployment, state: DeploymentState, job: Option<JobId>) -> bool {
    d.status.state == state && d.status.running.as_ref().map(|r| r.job_id) == job
}

/// Decides the next action for one deployment.
pub fn plan(o: &Observed<'_>) -> Action {
    let action = match o.current_job {
        Some(job) => job::plan(o, job),
        None => start::plan(o),
    };
    match action {
        wait if housekeeping::waits_for_a_transition(&wait) => conditions::plan(o).unwrap_or(wait),
        Action::Steady | Action::Wait { .. } | Action::Backoff { .. } => conditions::plan(o)
            .or_else(|| housekeeping::next(o))
            .unwrap_or(action),
        urgent => urgent,
    }
}

#[cfg(test)]
mod tests;
