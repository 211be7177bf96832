//! Planning without a current job: record the end of the last job on the deployment, fail orphaned
//! savepoint requests, check the deployment target and the Flink version gate, start a job (restore
//! selection), or settle the status.
//!
//! A job's end is written in two steps, the job row first: a deployment whose status says it is
//! RUNNING or TRANSITIONING while its last job has ended (its status write was cut short by a
//! conflict or a crash) gets that status written before anything else — never a new start of a job
//! that failed.
//!
//! The Flink version gate: when the deployment declares `spec.template.spec.artifact.flinkVersion`
//! and its target's cluster runs another release line (major.minor), the deployment becomes FAILED
//! with [`FailureReason::FlinkVersionMismatch`] before anything reaches Flink. The API refuses such a
//! deployment already when it knows the target's version; this covers the version learned later (a
//! target created, upgraded or reachable only after the deployment). The gate is level-triggered: a
//! deployment it failed starts by itself once the versions agree (the cluster now runs the declared
//! release, or the deployment names another target or version).

use super::{
    backoff_until, oldest_started, savepoint, status_is, Action, Ask, FailureReason, Observed,
    StopReason, TargetView, STOP_REASON_ANNOTATION,
};
use crate::restore::{self, RestoreDecision};
use crate::{DeploymentState, DeploymentTarget, DesiredState, JobState, RestoreStrategyKind};

pub(super) fn plan(o: &Observed<'_>) -> Action {
    let d = o.deployment;
    if let Some(a) = super::rollback::ended(o) {
        return a;
    }
    if !super::rollback::ended_recorded(o) {
        if let Some(a) = end_unrecorded(o) {
            return a;
        }
    }
    if let Some(sp) = oldest_started(o.savepoints, None) {
        let job = sp
            .metadata
            .job_id
            .and_then(|j| o.last_job.filter(|l| l.metadata.id == j));
        return savepoint::fail(
            o,
            sp,
            job,
            "the deployment has no running job to take the savepoint of".into(),
        );
    }
    match d.spec.state {
        DesiredState::Running => start(o),
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

/// What the deployment becomes when its job ended in `job_state`.
pub(super) fn after_job(job_state: JobState, desired: DesiredState) -> DeploymentState {
    match (job_state, desired) {
        (_, DesiredState::Cancelled) => DeploymentState::Cancelled,
        (JobState::Terminated, DesiredState::Suspended) => DeploymentState::Suspended,
        (JobState::Terminated, DesiredState::Running) => DeploymentState::Transitioning,
        (JobState::Finished, _) => DeploymentState::Finished,
        _ => DeploymentState::Failed,
    }
}

/// The last job ended (Flink said so, or forgot it) and the deployment's status does not say so yet.
fn end_unrecorded(o: &Observed<'_>) -> Option<Action> {
    let d = o.deployment;
    let job = o.last_job.filter(|j| j.status.state.is_terminal())?;
    // A refused submission is recorded on the deployment first (and retried from there).
    if FailureReason::JobSubmissionFailed.is(job.status.failure.as_ref()) {
        return None;
    }
    if !matches!(
        d.status.state,
        DeploymentState::Running | DeploymentState::Transitioning
    ) {
        return None;
    }
    let state = after_job(job.status.state, d.spec.state);
    if state == d.status.state && d.status.running.is_none() {
        return None;
    }
    let failure = job
        .status
        .failure
        .as_ref()
        .and_then(|f| Some((f.reason.parse::<FailureReason>().ok()?, f.message.clone())));
    Some(Action::DeploymentEnded {
        job: job.metadata.id,
        deployment_state: state,
        failure: failure
            .filter(|_| matches!(state, DeploymentState::Failed | DeploymentState::Finished)),
    })
}

fn start(o: &Observed<'_>) -> Action {
    let d = o.deployment;
    let t = d.transition();
    let gated = FailureReason::FlinkVersionMismatch.is(d.status.failure.as_ref());
    if t.gave_up && !gated {
        return Action::Steady;
    }
    let name = d
        .spec
        .deployment_target_name
        .clone()
        .unwrap_or_else(|| "default".into());
    let Some(target) = &o.answers.target else {
        return Action::Observe {
            ask: Ask {
                target: Some(name),
                ..Ask::default()
            },
        };
    };
    let unusable = match target {
        TargetView::Missing { name } => Some(format!(
            "cannot start a job: deployment target '{name}' does not exist in namespace '{}'",
            d.metadata.namespace
        )),
        TargetView::Unusable { name, error } => Some(format!(
            "cannot start a job: deployment target '{name}' cannot be used: {error}"
        )),
        TargetView::Found {
            target,
            cluster_version,
        } => {
            if let Some(a) = gate(o, target, cluster_version.as_deref()) {
                return a;
            }
            None
        }
    };
    if t.gave_up {
        return Action::Steady;
    }
    if let Some(message) = unusable {
        // Not an attempt: the target may be created any moment, and creating one wakes us.
        return if d.status.failure.as_ref().map(|f| f.message.as_str()) == Some(message.as_str()) {
            Action::Steady
        } else {
            Action::TargetMissing { message }
        };
    }
    if let Some(until) = backoff_until(t.job_attempts, t.last_attempt_at) {
        if until > o.now {
            return Action::Backoff { until };
        }
    }
    if let Some(a) = super::rollback::start(o) {
        return a;
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

/// The Flink version gate (module docs); None when it has nothing to say.
fn gate(o: &Observed<'_>, target: &DeploymentTarget, cluster: Option<&str>) -> Option<Action> {
    let d = o.deployment;
    let gated = FailureReason::FlinkVersionMismatch.is(d.status.failure.as_ref());
    let declared = d.spec.template.spec.artifact.flink_version.as_deref();
    if declared.is_none() && !gated {
        return None;
    }
    match target.check_artifact_flink_version(declared, cluster) {
        Err(e) => {
            let message = format!("not starting a job: {e}");
            let said_so = gated
                && d.status.state == DeploymentState::Failed
                && d.status.failure.as_ref().map(|f| &f.message) == Some(&message);
            (!said_so).then_some(Action::GateStart { message })
        }
        // Lifted only on evidence: a version that now agrees, or no version declared any more.
        Ok(()) if gated && (cluster.is_some() || declared.is_none()) => Some(Action::LiftGate {
            message: format!(
                "Flink versions agree now (artifact {}, deployment target '{}' runs {}): the job can start",
                declared.unwrap_or("not declared"),
                target.metadata.name,
                cluster.unwrap_or("an unknown version")
            ),
        }),
        Ok(()) => None,
    }
}
