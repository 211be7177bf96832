//! Stopping and ending jobs: a cancel (its reason written first), and recording how a job ended or
//! that Flink forgot it.
//!
//! When a job ends, the retained checkpoint is recorded first, then the deployment's new state, then
//! the job row's terminal state: a pass stopped in between (a conflict on the deployment, a crash)
//! still finds the job current and records its end again, and never mistakes a failed job for one to
//! start again.

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

/// How a job ended, as planned.
pub(super) struct End {
    pub job_state: JobState,
    pub failure: Option<(FailureReason, String)>,
    pub deployment_state: DeploymentState,
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
    let new_state = end.deployment_state;
    let from = x.d().status.state;
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
    x.write_job(job, |j| {
        j.status.state = end.job_state;
        j.status.failure = failure.clone();
        j.metadata.terminated_at = Some(now());
        if let Some(s) = j.status.started.as_mut() {
            s.observed_flink_job_status = Some(flink_state.as_str().into());
            s.last_update_time = Some(now());
        }
    })
    .await?;
    crash::point("end.after_job_terminal");
    let id = job.metadata.id;
    let (name, message) = match (end.job_state, new_state) {
        (JobState::Failed, _) => (
            EventName::JobFailed,
            format!(
                "Job {id} failed: {}; the deployment is {new_state}",
                failure
                    .as_ref()
                    .map(|f| f.message.as_str())
                    .unwrap_or_default()
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
    x.event(name, message, Some(id), None).await?;
    Ok(Effect::wrote())
}

pub(super) async fn job_vanished(
    x: &Ctx<'_>,
    job: JobId,
    message: String,
    new_state: DeploymentState,
    found: Retained,
) -> Result<Effect, Error> {
    let job = x.job(job)?;
    retained::record(x, job, &found).await?;
    x.write_deployment(|d| {
        d.status.state = new_state;
        d.status.running = None;
        if new_state == DeploymentState::Failed {
            give_up(d);
            d.status.failure = Some(FailureReason::JobVanished.failure(message.clone()));
        }
    })
    .await?;
    x.write_job(job, |j| {
        j.status.state = JobState::Failed;
        j.status.failure = Some(FailureReason::JobVanished.failure(message.clone()));
        j.metadata.terminated_at = Some(now());
    })
    .await?;
    x.event(
        EventName::TransitioningToFailedStateBecauseOfAMissingJob,
        format!("{message}; the deployment is {new_state}"),
        Some(job.metadata.id),
        None,
    )
    .await?;
    Ok(Effect::wrote())
}
