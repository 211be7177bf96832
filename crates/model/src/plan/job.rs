//! Planning with a current job: adopt it, collect its savepoint, notice its end, stop or upgrade it.

use super::{
    oldest_started, status_is, Action, Ask, FailureReason, FlinkJobState, FlinkView, Observed,
    Operation, Poll, PollAsk, Retained, RetainedView, StopReason, STOP_REASON_ANNOTATION,
};
use super::{preflight, savepoint};
use crate::{
    normalize_location, retention, DeploymentState, DesiredState, Job, JobState, SavepointOrigin,
    SavepointState, UpgradeStrategyKind,
};

pub(super) fn plan(o: &Observed<'_>, job: &Job) -> Action {
    let d = o.deployment;
    let id = job.metadata.id;
    let in_flight = oldest_started(o.savepoints, Some(id));

    if let Some((j, refusal)) = &o.answers.submission_refused {
        if *j == id && job.status.state == JobState::Starting {
            let t = d.transition();
            return Action::FailJobCreation {
                job: id,
                reason: refusal.reason.clone(),
                gives_up: !super::rollback::takes_refusal(o, job)
                    && (refusal.permanent
                        || t.job_attempts + 1 >= d.spec.max_job_creation_attempts),
            };
        }
    }
    // What Flink said about the savepoint in flight may settle it without asking about the job, and
    // a requested savepoint is triggered before Flink was asked about the job (it takes Flink ~100 ms,
    // the question a few): a trigger id repeated is the same operation, and if the job does not run,
    // Flink's refusal is planned with Flink's view of the job, as always.
    if let Some(sp) = in_flight {
        if let Some(a) = savepoint::without_job_view(o, job, sp) {
            return a;
        }
    }

    let (state, all_running) = match &o.answers.job {
        FlinkView::NotAsked => {
            let ask_savepoint = in_flight
                .filter(|s| o.triggered.contains(&s.metadata.id))
                .filter(|s| o.answers.savepoint(s.metadata.id).is_none())
                .map(|s| s.metadata.id);
            return Action::Observe {
                ask: Ask {
                    job: true,
                    savepoint: ask_savepoint,
                    ..Ask::default()
                },
            };
        }
        FlinkView::Unreachable { error } => {
            return Action::Wait {
                reason: format!("Flink did not answer: {error}"),
                poll: Some(Poll {
                    ask: PollAsk::Job,
                    operation: Operation::Flink,
                    since: o.now,
                }),
            };
        }
        FlinkView::Missing => {
            if let Some(a) = super::rollback::unsubmitted(o, job) {
                return a;
            }
            return match job.status.state {
                JobState::Starting => Action::SubmitJob { job: id },
                _ => vanished(o, job),
            };
        }
        FlinkView::Job {
            state,
            all_tasks_running,
        } => (*state, *all_tasks_running),
    };

    if state.is_globally_terminal() {
        // Collect the outcome of a stop-with-savepoint before noticing that the job ended.
        if let Some(sp) = in_flight {
            return savepoint::in_flight(o, job, sp, state);
        }
        return ended(o, job, state);
    }
    if let Some(a) = super::rollback::current(o, job, state) {
        return a;
    }

    match job.status.state {
        JobState::Starting => {
            if state == FlinkJobState::Running && all_running {
                Action::MarkJobStarted { job: id }
            } else {
                Action::Wait {
                    reason: format!("job is {state} in Flink, waiting for all tasks to run"),
                    poll: Some(Poll {
                        ask: PollAsk::Tasks,
                        operation: Operation::Start,
                        since: job.metadata.created_at,
                    }),
                }
            }
        }
        JobState::Terminating => terminating(o, job, state),
        _ => {
            if let Some(sp) = in_flight {
                if sp.metadata.origin != SavepointOrigin::UserRequest {
                    return Action::MarkJobTerminating { job: id };
                }
                return savepoint::in_flight(o, job, sp, state);
            }
            if state != FlinkJobState::Running {
                // Restarting, failing, reconciling: Flink's own restart strategy is at work.
                return Action::Wait {
                    reason: format!("job is {state} in Flink"),
                    poll: Some(Poll {
                        ask: PollAsk::Job,
                        operation: Operation::Flink,
                        since: o.now,
                    }),
                };
            }
            match d.spec.state {
                DesiredState::Cancelled => Action::Cancel {
                    job: id,
                    reason: StopReason::Cancel,
                },
                DesiredState::Suspended => stop_with_savepoint(o, job, SavepointOrigin::Suspend),
                DesiredState::Running => {
                    // A rolled-back spec version is not tried again before the spec changes.
                    let template_changed = job.spec_version().unwrap_or(0) < d.spec_version()
                        && super::rollback::holds(d).is_none();
                    if template_changed && d.spec.upgrade_strategy.kind != UpgradeStrategyKind::None
                    {
                        if let Some(a) = super::rescale::plan(o, job) {
                            return a;
                        }
                    }
                    match (template_changed, d.spec.upgrade_strategy.kind) {
                        (true, UpgradeStrategyKind::Stateful) => {
                            stop_with_savepoint(o, job, SavepointOrigin::SuspendAndUpgrade)
                        }
                        (true, UpgradeStrategyKind::Stateless) => preflight::check(o, job)
                            .unwrap_or(Action::Cancel {
                                job: id,
                                reason: StopReason::StatelessUpgrade,
                            }),
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

/// A TERMINATING job Flink still runs: a cancel under way is sent again until Flink reports the end;
/// a stop-with-savepoint's job is finishing, or (its savepoint failed) is Flink's again.
fn terminating(o: &Observed<'_>, job: &Job, state: FlinkJobState) -> Action {
    let id = job.metadata.id;
    if let Some(sp) = oldest_started(o.savepoints, Some(id)) {
        return savepoint::in_flight(o, job, sp, state);
    }
    let reason = job
        .metadata
        .annotations
        .get(STOP_REASON_ANNOTATION)
        .and_then(|r| r.parse::<StopReason>().ok());
    if let Some(reason) = reason {
        if state == FlinkJobState::Cancelling || o.answers.cancel_sent == Some(id) {
            return Action::Wait {
                reason: format!("job is {state} in Flink, cancelling"),
                poll: Some(Poll {
                    ask: PollAsk::Job,
                    operation: Operation::Cancel,
                    since: job.metadata.modified_at,
                }),
            };
        }
        return Action::Cancel { job: id, reason };
    }
    let last_stop = o
        .savepoints
        .iter()
        .filter(|s| {
            s.metadata.job_id == Some(id) && s.metadata.origin != SavepointOrigin::UserRequest
        })
        .max_by_key(|s| (s.metadata.created_at, s.metadata.id));
    match last_stop.map(|s| (s.status.state, s.metadata.modified_at)) {
        // The stop's savepoint failed (and a crash kept the job from being marked STARTED again):
        // Flink keeps such a job running; take it back.
        Some((SavepointState::Failed, _)) => Action::MarkJobStarted { job: id },
        // The stop's savepoint completed: Flink is finishing the job. Never cancel it (that would
        // race the savepoint it just wrote).
        other => Action::Wait {
            reason: format!(
                "the stop-with-savepoint completed; job is {state} in Flink, finishing"
            ),
            poll: Some(Poll {
                ask: PollAsk::Job,
                operation: Operation::Finish,
                since: other.map_or(o.now, |(_, at)| at),
            }),
        },
    }
}

fn stop_with_savepoint(o: &Observed<'_>, job: &Job, origin: SavepointOrigin) -> Action {
    if origin == SavepointOrigin::SuspendAndUpgrade {
        if let Some(a) = super::upgrade_check::lift(o) {
            return a;
        }
    }
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
    if let Some(until) = super::backoff_until(t.savepoint_attempts, t.last_attempt_at) {
        if until > o.now {
            return Action::Backoff { until };
        }
    }
    if origin == SavepointOrigin::SuspendAndUpgrade {
        if let Some(a) = preflight::check(o, job) {
            return a;
        }
    }
    Action::StopWithSavepoint {
        job: job.metadata.id,
        origin,
    }
}

/// What becomes of a found (or not found) retained checkpoint: recorded once per location.
fn retained(o: &Observed<'_>, job: &Job, view: &RetainedView) -> Retained {
    match view {
        RetainedView::Found {
            location,
            completed_at,
            note,
        } => {
            let key = normalize_location(location);
            if o.savepoints
                .iter()
                .any(|s| s.location_key().as_deref() == Some(key.as_str()))
            {
                Retained::AlreadyRecorded
            } else {
                Retained::Record {
                    location: location.clone(),
                    completed_at: *completed_at,
                    note: note.clone(),
                }
            }
        }
        RetainedView::NotFound { unreadable } => Retained::NoneFound {
            why: match unreadable {
                Some(e) => format!("its checkpoint storage could not be read: {e}"),
                None => format!(
                    "execution.checkpointing.externalized-checkpoint-retention: {}",
                    job.spec
                        .flink_configuration
                        .get("execution.checkpointing.externalized-checkpoint-retention")
                        .map(String::as_str)
                        .unwrap_or("not set (Flink's default keeps none)")
                ),
            },
        },
    }
}

/// The job is over in Flink: how it ended.
fn ended(o: &Observed<'_>, job: &Job, flink_state: FlinkJobState) -> Action {
    let id = job.metadata.id;
    let stopping = job.status.state == JobState::Terminating;
    let wants_retained = matches!(flink_state, FlinkJobState::Canceled | FlinkJobState::Failed);
    let retained_view = o
        .answers
        .retained
        .as_ref()
        .filter(|(j, _)| *j == id)
        .map(|(_, v)| v);
    let cause = o
        .answers
        .failure_cause
        .as_ref()
        .filter(|(j, _)| *j == id)
        .map(|(_, c)| c);
    let needs_cause = !matches!(
        flink_state,
        FlinkJobState::Finished | FlinkJobState::Canceled
    );
    if (wants_retained && retained_view.is_none()) || (needs_cause && cause.is_none()) {
        return Action::Observe {
            ask: Ask {
                retained: wants_retained && retained_view.is_none(),
                failure_cause: needs_cause && cause.is_none(),
                ..Ask::default()
            },
        };
    }
    let (job_state, failure) = match flink_state {
        FlinkJobState::Finished | FlinkJobState::Canceled if stopping => {
            (JobState::Terminated, None)
        }
        FlinkJobState::Finished => (JobState::Finished, None),
        FlinkJobState::Canceled => (
            JobState::Failed,
            Some((
                FailureReason::JobCancelledOutside,
                "the job was cancelled outside stateplane".to_string(),
            )),
        ),
        _ => (
            JobState::Failed,
            Some((
                FailureReason::JobFailed,
                match cause.and_then(|c| c.as_deref()) {
                    Some(c) => format!("the job failed in Flink: {c}"),
                    None => "the job failed in Flink".to_string(),
                },
            )),
        ),
    };
    Action::JobEnded {
        job: id,
        flink_state,
        job_state,
        failure,
        retained: match retained_view {
            Some(v) if wants_retained => retained(o, job, v),
            _ => Retained::NotApplicable,
        },
    }
}

/// Flink no longer knows a job that ran: its checkpoint directory is looked at first.
fn vanished(o: &Observed<'_>, job: &Job) -> Action {
    let id = job.metadata.id;
    let Some((_, view)) = o.answers.retained.as_ref().filter(|(j, _)| *j == id) else {
        return Action::Observe {
            ask: Ask {
                retained: true,
                ..Ask::default()
            },
        };
    };
    Action::JobVanished {
        job: id,
        message: format!(
            "job {id} is no longer known to Flink (was the JobManager restarted without high availability?)"
        ),
        retained: retained(o, job, view),
    }
}
