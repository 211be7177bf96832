//! Planning the savepoint in flight (the oldest STARTED one of the current job): trigger it, wait for
//! it, collect it, or fail it — from what Flink says about its trigger id.
//!
//! A savepoint's id is its Flink trigger id, so "trigger" is safe to repeat: Flink treats a repeated
//! trigger id as the same operation. A savepoint this process has not triggered yet, of a job Flink
//! runs, is triggered without asking Flink about it first; one it has triggered is asked about.

use super::{
    Action, Ask, FlinkJobState, Observed, Operation, Poll, PollAsk, SavepointView, StopFailed,
};
use crate::{Job, JobState, Savepoint, SavepointOrigin};

fn operation(sp: &Savepoint) -> Operation {
    match sp.metadata.origin {
        SavepointOrigin::UserRequest => Operation::Savepoint,
        _ => Operation::Stop,
    }
}

fn wait(sp: &Savepoint, operation: Operation, since: chrono::DateTime<chrono::Utc>) -> Action {
    Action::Wait {
        reason: format!("Flink is taking savepoint {}", sp.metadata.id),
        poll: Some(Poll {
            ask: PollAsk::Savepoint(sp.metadata.id),
            operation,
            since,
        }),
    }
}

/// How a failed savepoint affects its job and deployment: a stop's savepoint failing fails the suspend
/// or upgrade (the job keeps running, the attempt counts); a user request's failure is its own.
pub(super) fn stop_failed(
    o: &Observed<'_>,
    sp: &Savepoint,
    job: Option<&Job>,
) -> Option<StopFailed> {
    if sp.metadata.origin == SavepointOrigin::UserRequest {
        return None;
    }
    let d = o.deployment;
    let t = d.transition();
    Some(StopFailed {
        operation: if sp.metadata.origin == SavepointOrigin::Suspend {
            "suspend"
        } else {
            "stateful upgrade"
        },
        take_back: job
            .filter(|j| j.status.state == JobState::Terminating)
            .map(|j| j.metadata.id),
        gives_up: t.savepoint_attempts + 1 >= d.spec.max_savepoint_creation_attempts,
    })
}

pub(super) fn fail(o: &Observed<'_>, sp: &Savepoint, job: Option<&Job>, reason: String) -> Action {
    Action::FailSavepoint {
        savepoint: sp.metadata.id,
        reason,
        stop: stop_failed(o, sp, job),
    }
}

/// What can be decided before Flink was asked about the job: an answer about the savepoint that
/// settles it, or the early trigger of a requested savepoint.
pub(super) fn without_job_view(o: &Observed<'_>, job: &Job, sp: &Savepoint) -> Option<Action> {
    match o.answers.savepoint(sp.metadata.id) {
        Some(SavepointView::Completed { location }) => Some(Action::CompleteSavepoint {
            savepoint: sp.metadata.id,
            location: location.clone(),
        }),
        Some(SavepointView::Failed { cause }) => Some(fail(o, sp, Some(job), cause.clone())),
        Some(SavepointView::InProgress) => Some(wait(sp, operation(sp), sp.metadata.created_at)),
        Some(SavepointView::Unreachable { error }) => Some(Action::Wait {
            reason: format!(
                "Flink did not answer about savepoint {}: {error}",
                sp.metadata.id
            ),
            poll: Some(Poll {
                ask: PollAsk::Savepoint(sp.metadata.id),
                operation: Operation::Flink,
                since: o.now,
            }),
        }),
        // A refusal or an unknown trigger id means something only with Flink's view of the job.
        Some(SavepointView::Refused { .. } | SavepointView::Unknown) => None,
        None => {
            let early = matches!(o.answers.job, super::FlinkView::NotAsked)
                && sp.metadata.origin == SavepointOrigin::UserRequest
                && job.status.state == JobState::Started
                && !o.triggered.contains(&sp.metadata.id);
            early.then_some(Action::TriggerSavepoint {
                savepoint: sp.metadata.id,
            })
        }
    }
}

/// The savepoint in flight, knowing Flink's view of its job (`state`).
pub(super) fn in_flight(
    o: &Observed<'_>,
    job: &Job,
    sp: &Savepoint,
    state: FlinkJobState,
) -> Action {
    if let Some(a) = without_job_view(o, job, sp) {
        return a;
    }
    let id = sp.metadata.id;
    match o.answers.savepoint(id) {
        Some(SavepointView::Refused { cause }) => fail(o, sp, Some(job), cause.clone()),
        Some(SavepointView::Unknown) if state.is_globally_terminal() => {
            if sp.metadata.origin == SavepointOrigin::UserRequest {
                return fail(
                    o,
                    sp,
                    Some(job),
                    format!(
                        "job {} ended ({state}) before the savepoint was taken",
                        job.metadata.id
                    ),
                );
            }
            // A stop-with-savepoint whose result Flink forgot (restart, expiry) may have finished the
            // job: Flink's checkpoint statistics then name the savepoint it wrote into our target.
            match o
                .answers
                .stop_savepoint_written
                .as_ref()
                .filter(|(s, _)| *s == id)
            {
                None => Action::Observe {
                    ask: Ask {
                        stop_savepoint_written: Some(id),
                        ..Ask::default()
                    },
                },
                Some((_, Some(location))) => Action::CompleteSavepoint {
                    savepoint: id,
                    location: location.clone(),
                },
                Some((_, None)) => fail(
                    o,
                    sp,
                    Some(job),
                    format!(
                        "job {} ended ({state}) before the savepoint was taken",
                        job.metadata.id
                    ),
                ),
            }
        }
        // Flink does not know the trigger: send it (a job that does not run refuses it).
        Some(SavepointView::Unknown) => Action::TriggerSavepoint { savepoint: id },
        Some(_) => unreachable_by_construction(sp),
        // Never asked: a savepoint this process triggered is asked about; one it did not, of a job
        // Flink runs, is triggered at once (the same operation if it was triggered before a restart).
        None if !o.triggered.contains(&id) && state == FlinkJobState::Running => {
            Action::TriggerSavepoint { savepoint: id }
        }
        None => Action::Observe {
            ask: Ask {
                savepoint: Some(id),
                ..Ask::default()
            },
        },
    }
}

/// Answers that [`without_job_view`] settles never reach the second match; asking again is the safe
/// answer should that ever change.
fn unreachable_by_construction(sp: &Savepoint) -> Action {
    Action::Observe {
        ask: Ask {
            savepoint: Some(sp.metadata.id),
            ..Ask::default()
        },
    }
}
