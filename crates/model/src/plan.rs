//! Reconcile planning: given what a deployment wants and what is (our rows + Flink's view), the one
//! next action. Pure; the controller's executor performs the action and the next pass plans again.
//!
//! Planning is level-triggered: it never asks "what just happened", only "what is", so a controller
//! killed at any line plans the same remaining steps after a restart. Every side effect the executor
//! performs is preceded by a committed row naming it (a STARTING job with its id, a STARTED savepoint
//! with its trigger id, a TERMINATING job with its stop reason), and each such row is matched here
//! against Flink's view to decide whether to repeat, collect or give up.
//!
//! Order of concerns in one pass:
//! 1. the current job (the one non-terminal Job row), against Flink: adopt, collect a savepoint,
//!    notice an end, stop or upgrade it, or take a periodic savepoint when one is due;
//! 2. without a current job: fail orphaned savepoint requests, start a job (restore selection) or
//!    settle the status;
//! 3. housekeeping, only when 1–2 have nothing urgent (steady, waiting for Flink, backing off):
//!    savepoints waiting for disposal, then retention. Disposal never needs Flink, so it proceeds while
//!    Flink is unreachable; and no deletion, however slow the storage, delays a suspend or a start.

use chrono::{DateTime, Duration, Utc};

use crate::restore::{self, RestoreDecision};
use crate::retention::{self, Expired};
use crate::{
    Deployment, DeploymentState, DesiredState, Job, JobId, JobState, RestoreStrategyKind,
    Savepoint, SavepointId, SavepointOrigin, SavepointState, UpgradeStrategyKind,
};

/// Annotation on a Job saying why stateplane is stopping it (written before the stop is sent).
pub const STOP_REASON_ANNOTATION: &str = "stateplane.io/stop-reason";

string_enum! {
    /// Why stateplane stops a job without a savepoint.
    pub enum StopReason {
        /// The deployment's desired state is CANCELLED.
        Cancel => "CANCEL",
        /// The template changed and the upgrade strategy is STATELESS: the next job starts empty.
        StatelessUpgrade => "STATELESS_UPGRADE",
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
#[derive(Debug, Clone, PartialEq)]
pub enum FlinkView {
    /// There is no current job, so Flink was not asked.
    NotAsked,
    /// Flink did not answer (connection refused, timeout, 5xx).
    Unreachable { error: String },
    /// Flink answered that it does not know the job.
    Missing,
    /// Flink knows the job.
    Job {
        state: FlinkJobState,
        all_tasks_running: bool,
    },
}

/// Everything planning looks at.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub deployment: &'a Deployment,
    /// The deployment's non-terminal job, if any (there is at most one).
    pub current_job: Option<&'a Job>,
    /// The deployment's newest job of any state.
    pub last_job: Option<&'a Job>,
    pub flink: FlinkView,
    /// The deployment's savepoints.
    pub savepoints: &'a [Savepoint],
    /// A savepoint directory is known (deployment configuration or blob storage).
    pub savepoints_configured: bool,
    pub now: DateTime<Utc>,
}

/// The one next step.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Nothing to do; look again at the next tick or when something changes.
    Steady,
    /// Flink is busy with something of ours (a start, a stop); look again soon.
    Wait { reason: String },
    /// A previous attempt failed; do not try again before `until`.
    Backoff { until: DateTime<Utc> },
    /// Dispose of the data of a savepoint marked for deletion (or just forget it), then delete the row.
    DisposeSavepoint { savepoint: SavepointId },
    /// Retention expires these COMPLETED savepoints: mark them PENDING_DELETION (then disposal as for a
    /// DELETE).
    ExpireSavepoints { expired: Vec<Expired> },
    /// The deployment's periodic savepoint is due: record a STARTED USER_REQUEST savepoint of the job
    /// (annotated as periodic); the next pass triggers it.
    TriggerPeriodicSavepoint { job: JobId },
    /// A savepoint request that can no longer be served (its job is gone).
    FailSavepoint {
        savepoint: SavepointId,
        reason: String,
    },
    /// Record a new Job row (STARTING) and submit it to Flink.
    StartJob { restore: RestoreDecision },
    /// `requireState` is set and nothing qualifies: refuse to start empty.
    RefuseStart { decision: RestoreDecision },
    /// A STARTING job that Flink does not know: the submission never happened; submit it (same id).
    SubmitJob { job: JobId },
    /// Flink runs every task of a STARTING job: mark it STARTED and the deployment RUNNING.
    MarkJobStarted { job: JobId },
    /// A STARTED savepoint: ask Flink about it, triggering it first if Flink does not know it.
    AdvanceSavepoint { savepoint: SavepointId },
    /// Record a STARTED savepoint of this origin and stop the job with it.
    StopWithSavepoint { job: JobId, origin: SavepointOrigin },
    /// Stop the job without a savepoint.
    Cancel { job: JobId, reason: StopReason },
    /// Flink reports the job over: record how, any retained checkpoint, and the deployment's state.
    JobEnded {
        job: JobId,
        flink_state: FlinkJobState,
    },
    /// Flink no longer knows a job that ran (e.g. the JobManager restarted without HA).
    JobVanished { job: JobId },
    /// A savepoint is needed (suspend, stateful upgrade) but no savepoint directory is configured:
    /// record the failure and keep the job running.
    SavepointsNotConfigured { job: JobId, operation: String },
    /// Bring the deployment's status in line without touching Flink.
    SetStatus { state: DeploymentState },
}

/// How long to wait after `attempts` failed attempts: 500 ms doubling, at most 30 s.
pub fn backoff(attempts: u32) -> Duration {
    let ms = 500i64.saturating_mul(1i64 << attempts.saturating_sub(1).min(10));
    Duration::milliseconds(ms.min(30_000))
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
        Some(job) => plan_with_job(o, job),
        None => plan_without_job(o),
    };
    match action {
        Action::Steady | Action::Wait { .. } | Action::Backoff { .. } => {
            housekeeping(o).unwrap_or(action)
        }
        urgent => urgent,
    }
}

/// Deletions under way first (oldest first), then what retention expires.
fn housekeeping(o: &Observed<'_>) -> Option<Action> {
    if let Some(s) = o
        .savepoints
        .iter()
        .filter(|s| {
            matches!(
                s.status.state,
                SavepointState::PendingDeletion | SavepointState::Deleting
            )
        })
        .min_by_key(|s| (s.metadata.modified_at, s.metadata.id))
    {
        return Some(Action::DisposeSavepoint {
            savepoint: s.metadata.id,
        });
    }
    let expired = retention::expired(o.deployment, o.savepoints, o.current_job, o.now);
    (!expired.is_empty()).then_some(Action::ExpireSavepoints { expired })
}

fn plan_with_job(o: &Observed<'_>, job: &Job) -> Action {
    let d = o.deployment;
    let id = job.metadata.id;
    let (state, all_running) = match &o.flink {
        FlinkView::Unreachable { error } => {
            return Action::Wait {
                reason: format!("Flink did not answer: {error}"),
            };
        }
        FlinkView::NotAsked => {
            return Action::Wait {
                reason: "Flink was not asked about the job".into(),
            }
        }
        FlinkView::Missing => {
            return match job.status.state {
                JobState::Starting => Action::SubmitJob { job: id },
                _ => Action::JobVanished { job: id },
            };
        }
        FlinkView::Job {
            state,
            all_tasks_running,
        } => (*state, *all_tasks_running),
    };
    let in_flight = oldest_started(o.savepoints, Some(id));

    if state.is_globally_terminal() {
        // Collect the outcome of a stop-with-savepoint before noticing that the job ended.
        if let Some(sp) = in_flight {
            return Action::AdvanceSavepoint {
                savepoint: sp.metadata.id,
            };
        }
        return Action::JobEnded {
            job: id,
            flink_state: state,
        };
    }

    match job.status.state {
        JobState::Starting => {
            if state == FlinkJobState::Running && all_running {
                Action::MarkJobStarted { job: id }
            } else {
                Action::Wait {
                    reason: format!("job is {state} in Flink, waiting for all tasks to run"),
                }
            }
        }
        JobState::Terminating => match in_flight {
            Some(sp) => Action::AdvanceSavepoint {
                savepoint: sp.metadata.id,
            },
            // A cancel under way carries its reason: send it again until Flink reports the end.
            None => match job
                .metadata
                .annotations
                .get(STOP_REASON_ANNOTATION)
                .and_then(|r| r.parse().ok())
            {
                Some(reason) => Action::Cancel { job: id, reason },
                None => {
                    let last_stop = o
                        .savepoints
                        .iter()
                        .filter(|s| {
                            s.metadata.job_id == Some(id)
                                && s.metadata.origin != SavepointOrigin::UserRequest
                        })
                        .max_by_key(|s| (s.metadata.created_at, s.metadata.id));
                    match last_stop.map(|s| s.status.state) {
                        // The stop's savepoint failed (and a crash kept the job from being marked
                        // STARTED again): Flink keeps such a job running; take it back.
                        Some(SavepointState::Failed) => Action::MarkJobStarted { job: id },
                        // The stop's savepoint completed: Flink is finishing the job. Never cancel it
                        // (that would race the savepoint it just wrote).
                        _ => Action::Wait {
                            reason: format!("the stop-with-savepoint completed; job is {state} in Flink, finishing"),
                        },
                    }
                }
            },
        },
        _ => {
            if let Some(sp) = in_flight {
                return Action::AdvanceSavepoint {
                    savepoint: sp.metadata.id,
                };
            }
            if state != FlinkJobState::Running {
                // Restarting, failing, reconciling: Flink's own restart strategy is at work.
                return Action::Wait {
                    reason: format!("job is {state} in Flink"),
                };
            }
            match d.spec.state {
                DesiredState::Cancelled => Action::Cancel {
                    job: id,
                    reason: StopReason::Cancel,
                },
                DesiredState::Suspended => stop_with_savepoint(o, job, SavepointOrigin::Suspend),
                DesiredState::Running => {
                    let template_changed = job.spec_version().unwrap_or(0) < d.spec_version();
                    match (template_changed, d.spec.upgrade_strategy.kind) {
                        (true, UpgradeStrategyKind::Stateful) => {
                            stop_with_savepoint(o, job, SavepointOrigin::SuspendAndUpgrade)
                        }
                        (true, UpgradeStrategyKind::Stateless) => Action::Cancel {
                            job: id,
                            reason: StopReason::StatelessUpgrade,
                        },
                        _ if !status_is(d, DeploymentState::Running, Some(id))
                            && !d.transition().gave_up =>
                        {
                            Action::SetStatus {
                                state: DeploymentState::Running,
                            }
                        }
                        _ if o.savepoints_configured
                            && job.status.state == JobState::Started
                            && retention::periodic_due(d, job, o.savepoints, o.now) =>
                        {
                            Action::TriggerPeriodicSavepoint { job: id }
                        }
                        _ => Action::Steady,
                    }
                }
            }
        }
    }
}

fn stop_with_savepoint(o: &Observed<'_>, job: &Job, origin: SavepointOrigin) -> Action {
    let t = o.deployment.transition();
    if t.gave_up {
        return Action::Steady;
    }
    if !o.savepoints_configured {
        let operation = match origin {
            SavepointOrigin::Suspend => "suspend",
            _ => "stateful upgrade",
        };
        return Action::SavepointsNotConfigured {
            job: job.metadata.id,
            operation: operation.into(),
        };
    }
    if let Some(until) = backoff_until(t.savepoint_attempts, t.last_attempt_at) {
        if until > o.now {
            return Action::Backoff { until };
        }
    }
    Action::StopWithSavepoint {
        job: job.metadata.id,
        origin,
    }
}

fn backoff_until(attempts: u32, last: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (attempts, last) {
        (0, _) | (_, None) => None,
        (n, Some(at)) => Some(at + backoff(n)),
    }
}

fn plan_without_job(o: &Observed<'_>) -> Action {
    let d = o.deployment;
    if let Some(sp) = oldest_started(o.savepoints, None) {
        return Action::FailSavepoint {
            savepoint: sp.metadata.id,
            reason: "the deployment has no running job to take the savepoint of".into(),
        };
    }
    match d.spec.state {
        DesiredState::Running => {
            let t = d.transition();
            if t.gave_up {
                return Action::Steady;
            }
            if let Some(until) = backoff_until(t.job_attempts, t.last_attempt_at) {
                if until > o.now {
                    return Action::Backoff { until };
                }
            }
            let stateless_upgrade = o.last_job.is_some_and(|j| {
                j.metadata
                    .annotations
                    .get(STOP_REASON_ANNOTATION)
                    .map(String::as_str)
                    == Some(StopReason::StatelessUpgrade.as_str())
                    && j.spec_version().unwrap_or(0) < d.spec_version()
            });
            let restore = if stateless_upgrade {
                RestoreDecision {
                    strategy: RestoreStrategyKind::None,
                    savepoint_id: None,
                    savepoint_location: None,
                    reason: "STATELESS upgrade: the new template starts without state".into(),
                    skipped: Vec::new(),
                    start_refused: false,
                }
            } else {
                restore::select(d, o.savepoints)
            };
            if restore.start_refused {
                Action::RefuseStart { decision: restore }
            } else {
                Action::StartJob { restore }
            }
        }
        DesiredState::Suspended if !status_is(d, DeploymentState::Suspended, None) => {
            Action::SetStatus {
                state: DeploymentState::Suspended,
            }
        }
        DesiredState::Cancelled if !status_is(d, DeploymentState::Cancelled, None) => {
            Action::SetStatus {
                state: DeploymentState::Cancelled,
            }
        }
        _ => Action::Steady,
    }
}

#[cfg(test)]
mod tests;
