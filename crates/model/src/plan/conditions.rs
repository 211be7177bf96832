//! Planning the conditions of a running deployment ([`crate::conditions`]): which facts to ask for,
//! and when the conditions change, the one write that records them.
//!
//! Runs only where the rest of planning has nothing urgent to do (steady, waiting, backing off), and
//! only for a deployment RUNNING its current, STARTED job: a condition explains the job being run, it
//! never stops a suspend, an upgrade or a savepoint. Facts are asked for at most once per pass, and
//! only when a condition could change with them: Flink's root cause only when the job starts failing
//! (one request per failure, not per pass), the checkpoint statistics only for a job that checkpoints
//! (the observer serves them from a short cache, so a steady job costs Flink one request per
//! [`CHECKPOINT_STATS_MAX_AGE`] for them, whatever the pass rate).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Action, Ask, FlinkJobState, FlinkView, Observed};
use crate::conditions::{
    checkpoint_deadline, checkpoint_interval, merge, ConditionStatus, Observation,
    CHECKPOINTS_FAILING, CLUSTER_UNREACHABLE, JOB_FAILING,
};
use crate::{Job, JobState};

/// How old the checkpoint statistics an observer answers with may be.
pub const CHECKPOINT_STATS_MAX_AGE: Duration = Duration::from_secs(10);

/// Flink's checkpoint statistics of the current job, reduced to what the conditions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointsView {
    Stats {
        /// When the latest completed checkpoint was acknowledged by every task.
        latest_completed_at: Option<DateTime<Utc>>,
        /// Checkpoints failed so far.
        failed: u64,
        /// Flink's message for the latest failed checkpoint.
        latest_failure: Option<String>,
    },
    /// Flink did not answer (the cluster condition says so already).
    Unreachable,
}

/// The conditions' write, or a question to answer first; `None` when nothing changes.
pub(super) fn plan(o: &Observed<'_>) -> Option<Action> {
    let job = o
        .current_job
        .filter(|j| j.status.state == JobState::Started)?;
    let running = (o.deployment.status.running.as_ref()).filter(|r| r.job_id == job.metadata.id)?;
    let current = &running.conditions;
    let mut observed = vec![super::rollback::condition(o.deployment)];
    let state = match &o.answers.job {
        FlinkView::NotAsked | FlinkView::Missing => return None,
        FlinkView::Unreachable { error } => {
            observed.push(Observation {
                kind: CLUSTER_UNREACHABLE,
                status: ConditionStatus::True,
                reason: "FlinkNotAnswering",
                message: format!("the job's Flink cluster does not answer: {error}"),
            });
            None
        }
        FlinkView::Job { state, .. } => {
            observed.push(Observation {
                kind: CLUSTER_UNREACHABLE,
                status: ConditionStatus::False,
                reason: "FlinkAnswers",
                message: "the job's Flink cluster answers".into(),
            });
            Some(*state)
        }
    };
    match state {
        Some(FlinkJobState::Running) => {
            observed.push(Observation {
                kind: JOB_FAILING,
                status: ConditionStatus::False,
                reason: "JobRunning",
                message: "Flink runs the job".into(),
            });
            match checkpoints(o, job) {
                Ok(Some(c)) => observed.push(c),
                Ok(None) => {}
                Err(ask) => return Some(Action::Observe { ask }),
            }
        }
        Some(s @ (FlinkJobState::Restarting | FlinkJobState::Failing)) => {
            let reason = match s {
                FlinkJobState::Restarting => "JobRestarting",
                _ => "JobFailing",
            };
            let known = current.iter().any(|c| {
                c.kind == JOB_FAILING
                    && c.status == ConditionStatus::True
                    && c.reason.as_deref() == Some(reason)
            });
            if !known {
                let cause = match &o.answers.failure_cause {
                    Some((j, cause)) if *j == job.metadata.id => cause.clone(),
                    _ => {
                        return Some(Action::Observe {
                            ask: Ask {
                                failure_cause: true,
                                ..Ask::default()
                            },
                        })
                    }
                };
                let verb = if s == FlinkJobState::Restarting {
                    "restarting"
                } else {
                    "failing"
                };
                observed.push(Observation {
                    kind: JOB_FAILING,
                    status: ConditionStatus::True,
                    reason,
                    message: match cause {
                        Some(c) => format!("Flink reports the job {verb}: {c}"),
                        None => format!("Flink reports the job {verb} (no root cause given)"),
                    },
                });
            }
        }
        _ => {}
    }
    merge(current, &observed, o.now).map(|conditions| Action::SetConditions { conditions })
}

/// The checkpoint condition of a running job that checkpoints (`Ok(None)`: it does not, or Flink did
/// not answer), or the question to ask first.
fn checkpoints(o: &Observed<'_>, job: &Job) -> Result<Option<Observation>, Ask> {
    let Some(interval) = checkpoint_interval(&job.spec.flink_configuration) else {
        return Ok(None);
    };
    let view = match &o.answers.checkpoints {
        Some((j, view)) if *j == job.metadata.id => view,
        _ => {
            return Err(Ask {
                checkpoints: true,
                ..Ask::default()
            })
        }
    };
    let CheckpointsView::Stats {
        latest_completed_at,
        failed,
        latest_failure,
    } = view
    else {
        return Ok(None);
    };
    let deadline = checkpoint_deadline(interval);
    let since = latest_completed_at
        .or(job.status.started.as_ref().map(|s| s.started_at))
        .unwrap_or(job.metadata.created_at);
    let quiet = (o.now - since).to_std().unwrap_or(Duration::ZERO);
    let every = crate::duration::show(interval);
    Ok(Some(if quiet > deadline {
        let what = match latest_completed_at {
            Some(_) => "no checkpoint completed",
            None => "no checkpoint has completed yet",
        };
        Observation {
            kind: CHECKPOINTS_FAILING,
            status: ConditionStatus::True,
            reason: "CheckpointsNotCompleting",
            message: format!(
                "{what} in {} (checkpoint interval {every}); {failed} failed so far{}",
                crate::duration::show(deadline),
                latest_failure
                    .as_ref()
                    .map(|m| format!(", the latest: {m}"))
                    .unwrap_or_default()
            ),
        }
    } else {
        Observation {
            kind: CHECKPOINTS_FAILING,
            status: ConditionStatus::False,
            reason: "CheckpointsComplete",
            message: format!(
                "a checkpoint completed within {} (checkpoint interval {every})",
                crate::duration::show(deadline)
            ),
        }
    }))
}
