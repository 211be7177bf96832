//! Stopping and ending jobs: a cancel (its reason written first), and recording how a job ended or
//! that Flink forgot it.
//!
//! When a job ends, the retained checkpoint is recorded first, then the job row's terminal state, and
//! as the next step the deployment's new state with the event: a deployment that says SUSPENDED (or
//! FAILED) has a job row that says so too, and a pass stopped in between (a conflict on the
//! deployment, a crash) leaves a deployment whose status still names the ended job, which the planner
//! records first.

use stateplane_flink::FlinkError;
use stateplane_model::plan::{
    FailureReason, FlinkJobState, Retained, StopReason, STOP_REASON_ANNOTATION,
};
use stateplane_model::{now, DeploymentState, EventName, JobId, JobState};
use tracing::debug;

use super::context::{give_up, Ctx, Effect};
use super::retained;
use crate::crash;
use crate::error::Error;
use crate::observe::flink_job_id;

/// Marks the job TERMINATING with the reason (the write-ahead intent), sends the cancel, then the
/// deployment's status and the event follow.
pub(super) async fn cancel(x: &Ctx<'_>, job: JobId, reason: StopReason) -> Result<Effect, Error> {
    let job = x.job(job)?;
    let first = job.status.state != JobState::Terminating;
    if first {
        x.write_job(job, |j| {
            j.status.state = JobState::Terminating;
            j.metadata
                .annotations
                .insert(STOP_REASON_ANNOTATION.into(), reason.as_str().into());
        })
        .await?;
    }
    let client = x.client()?;
    crash::point("cancel.before_flink");
    match client.cancel(&flink_job_id(job)).await {
        Ok(()) | Err(FlinkError::AlreadyTerminal { .. }) | Err(FlinkError::NotFound { .. }) => {}
        Err(e) => debug!(error = %e, "cancel was not accepted yet"),
    }
    if x.d().status.state != DeploymentState::Transitioning {
        x.write_deployment(|d| d.status.state = DeploymentState::Transitioning)
            .await?;
    }
    if first {
        let why = match reason {
            StopReason::Cancel => "the deployment is to be CANCELLED".to_string(),
            StopReason::StatelessUpgrade => format!(
                "STATELESS upgrade to spec version {}: the new job starts without state",
                x.d().spec_version()
            ),
            StopReason::UpgradeRollback => format!(
                "the upgrade to spec version {} is rolled back",
                x.d().spec_version()
            ),
        };
        x.event(
            EventName::FoundAJobToTerminate,
            format!("Cancelling job {}: {why}", job.metadata.id),
            Some(job.metadata.id),
            None,
        )
        .await?;
    }
    Ok(Effect {
        wrote: true,
        job_changed: true,
        cancel_sent: Some(job.metadata.id),
        ..Effect::default()
    })
}

/// Completes a stop's intent that a crash interrupted: the job is TERMINATING (without a cancel
/// reason: it is stopped with its savepoint).
pub(super) async fn mark_terminating(x: &Ctx<'_>, job: JobId) -> Result<Effect, Error> {
    x.write_job(x.job(job)?, |j| {
        j.status.state = JobState::Terminating;
        j.metadata.annotations.remove(STOP_REASON_ANNOTATION);
    })
    .await?;
    Ok(Effect::wrote())
}

/// How a job ended, as planned.
pub(super) struct End {
    pub job_state: JobState,
    pub failure: Option<(FailureReason, String)>,
    pub retained: Retained,
}

pub(super) async fn job_ended(
    x: &Ctx<'_>,
    job: JobId,
    flink_state: FlinkJobState,
    end: End,
) -> Result<Effect, Error> {
    let job = x.job(job)?;
    retained::record(x, job, &end.retained).await?;
    let failure = end.failure.map(|(r, m)| r.failure(m));
    x.write_job(job, |j| {
        j.status.state = end.job_state;
        j.status.failure = failure;
        j.metadata.terminated_at = Some(now());
        if let Some(s) = j.status.started.as_mut() {
            s.observed_flink_job_status = Some(flink_state.as_str().into());
            s.last_update_time = Some(now());
        }
    })
    .await?;
    crash::point("end.after_job_terminal");
    Ok(Effect::wrote())
}

pub(super) async fn job_vanished(
    x: &Ctx<'_>,
    job: JobId,
    message: String,
    found: Retained,
) -> Result<Effect, Error> {
    let job = x.job(job)?;
    retained::record(x, job, &found).await?;
    x.write_job(job, |j| {
        j.status.state = JobState::Failed;
        j.status.failure = Some(FailureReason::JobVanished.failure(message));
        j.metadata.terminated_at = Some(now());
    })
    .await?;
    Ok(Effect::wrote())
}

/// Writes the deployment's state after its job ended, and says how it ended.
pub(super) async fn deployment_ended(
    x: &Ctx<'_>,
    job: JobId,
    new_state: DeploymentState,
    failure: Option<(FailureReason, String)>,
) -> Result<Effect, Error> {
    let job = x.job(job)?;
    let from = x.d().status.state;
    let failure = failure.map(|(r, m)| r.failure(m));
    let id = job.metadata.id;
    let job_failure = job.status.failure.as_ref();
    let flink_state = job
        .status
        .started
        .as_ref()
        .and_then(|s| s.observed_flink_job_status.clone())
        .unwrap_or_else(|| "gone".into());
    let (name, message) = match (job.status.state, new_state) {
        (JobState::Failed, _) if FailureReason::JobVanished.is(job_failure) => (
            EventName::TransitioningToFailedStateBecauseOfAMissingJob,
            format!(
                "{}; the deployment is {new_state}",
                job_failure.map(|f| f.message.as_str()).unwrap_or_default()
            ),
        ),
        (JobState::Failed, _) => (
            EventName::JobFailed,
            format!(
                "Job {id} failed: {}; the deployment is {new_state}",
                job_failure.map(|f| f.message.as_str()).unwrap_or_default()
            ),
        ),
        (JobState::Finished, _) => (
            EventName::TransitionedToFinishedState,
            format!("Job {id} finished; the deployment is FINISHED"),
        ),
        (_, DeploymentState::Transitioning) => (
            EventName::AwaitingAJobToTerminate,
            format!("Job {id} stopped; starting the new template"),
        ),
        _ => (
            EventName::StateTransitionIsCompleted,
            format!(
                "Job {id} stopped ({flink_state} in Flink); deployment is {new_state} (was {from})"
            ),
        ),
    };
    // The explanation first: whoever sees the new state sees why.
    x.event(name, message, Some(id), None).await?;
    x.write_deployment(|d| {
        d.status.state = new_state;
        d.status.running = None;
        match new_state {
            DeploymentState::Failed | DeploymentState::Finished => {
                give_up(d);
                d.status.failure = failure.clone();
            }
            _ => d.status.failure = None,
        }
    })
    .await?;
    Ok(Effect::wrote())
}
