//! The deployment's status, and the failures recorded without touching Flink: a target that cannot be
//! used, the Flink version gate, a refused stateless start, savepoints without a directory; the
//! running job's conditions.
//!
//! A failure's event is appended before the status that reports it, so whoever sees the status sees
//! its explanation too (a conflict on the status write repeats the event with the next attempt).

use stateplane_model::condition::DeploymentCondition;
use stateplane_model::plan::FailureReason;
use stateplane_model::restore::RestoreDecision;
use stateplane_model::{now, paths, DeploymentState, DeploymentStatusRunning, EventName, JobId};
use tracing::info;

use super::context::{give_up, Ctx, Effect};
use crate::error::Error;

pub(super) async fn set_status(x: &Ctx<'_>, state: DeploymentState) -> Result<Effect, Error> {
    let job = x.rows.current_job().map(|j| j.metadata.id);
    let from = x.d().status.state;
    x.write_deployment(|d| {
        d.status.state = state;
        d.status.running = match (state, job) {
            (DeploymentState::Running, Some(j)) => {
                let same = d.status.running.as_ref().filter(|r| r.job_id == j);
                Some(DeploymentStatusRunning {
                    job_id: j,
                    transition_time: same.map_or_else(now, |r| r.transition_time),
                    conditions: same.map(|r| r.conditions.clone()).unwrap_or_default(),
                })
            }
            _ => None,
        };
        if state != DeploymentState::Running {
            d.status.failure = None;
        }
    })
    .await?;
    if from != state {
        x.event(
            EventName::StateTransitionIsCompleted,
            format!("Deployment is {state} (was {from})"),
            job,
            None,
        )
        .await?;
    }
    Ok(Effect::wrote())
}

/// The target to start on does not exist or cannot be used. Not an attempt: creating or fixing the
/// target wakes the deployment.
pub(super) async fn target_missing(x: &Ctx<'_>, message: String) -> Result<Effect, Error> {
    x.event(
        EventName::ReferencedDeploymentTargetDoesNotExist,
        message.clone(),
        None,
        None,
    )
    .await?;
    x.write_deployment(|d| {
        d.status.failure = Some(FailureReason::DeploymentTargetMissing.failure(message))
    })
    .await?;
    Ok(Effect::wrote())
}

/// The Flink version gate refuses the start: FAILED, given up until the versions agree.
pub(super) async fn gate_start(x: &Ctx<'_>, message: String) -> Result<Effect, Error> {
    x.event(
        EventName::FailedCreatingANewJob,
        message.clone(),
        None,
        None,
    )
    .await?;
    x.write_deployment(|d| {
        give_up(d);
        d.status.state = DeploymentState::Failed;
        d.status.running = None;
        d.status.failure = Some(FailureReason::FlinkVersionMismatch.failure(message));
    })
    .await?;
    Ok(Effect::wrote())
}

/// The versions the gate refused agree now: the failure and the given-up transition go.
pub(super) async fn lift_gate(x: &Ctx<'_>, message: String) -> Result<Effect, Error> {
    x.write_deployment(|d| {
        d.status.transition = None;
        d.status.failure = None;
    })
    .await?;
    x.event(EventName::StateTransitionIsNeeded, message, None, None)
        .await?;
    Ok(Effect::wrote())
}

pub(super) async fn refuse_start(x: &Ctx<'_>, decision: RestoreDecision) -> Result<Effect, Error> {
    let msg = format!("Refusing to start without state: {}", decision.reason);
    let skipped: Vec<String> = decision
        .skipped
        .iter()
        .map(|s| format!("{} ({})", s.savepoint_id, s.reason))
        .collect();
    let detail = if skipped.is_empty() {
        String::new()
    } else {
        format!(" Skipped: {}.", skipped.join("; "))
    };
    x.event(
        EventName::NoSnapshotToRestoreFrom,
        format!("{msg}.{detail}"),
        None,
        None,
    )
    .await?;
    x.write_deployment(|d| {
        give_up(d);
        d.status.state = DeploymentState::Failed;
        d.status.running = None;
        d.status.failure = Some(FailureReason::NoSnapshotToRestoreFrom.failure(msg));
    })
    .await?;
    Ok(Effect::wrote())
}

pub(super) async fn savepoints_not_configured(
    x: &Ctx<'_>,
    job: JobId,
    operation: &str,
) -> Result<Effect, Error> {
    let msg = format!(
        "cannot {operation}: {}; the job keeps running",
        paths::NO_SAVEPOINT_DIR
    );
    x.event(
        EventName::JobIsNotConfiguredWithSavepointSupport,
        msg.clone(),
        Some(job),
        None,
    )
    .await?;
    x.write_deployment(|d| {
        give_up(d);
        d.status.failure = Some(FailureReason::SavepointsNotConfigured.failure(msg));
    })
    .await?;
    Ok(Effect::wrote())
}

/// Writes the running job's conditions (when it is still the running one); each condition that
/// changed is logged.
pub(super) async fn update_conditions(
    x: &Ctx<'_>,
    job: JobId,
    conditions: Vec<DeploymentCondition>,
) -> Result<Effect, Error> {
    let before = x
        .d()
        .status
        .running
        .as_ref()
        .filter(|r| r.job_id == job)
        .map(|r| r.conditions.clone());
    let Some(before) = before else {
        return Ok(Effect::default());
    };
    for c in conditions.iter().filter(|c| !before.contains(c)) {
        info!(
            job = %job,
            condition = %c.condition_type,
            status = c.status.as_str(),
            reason = c.reason.as_deref().unwrap_or(""),
            "{}",
            c.message.as_deref().unwrap_or("")
        );
    }
    x.write_deployment(|d| {
        if let Some(r) = d.status.running.as_mut().filter(|r| r.job_id == job) {
            r.conditions = conditions;
        }
    })
    .await?;
    Ok(Effect::wrote())
}
