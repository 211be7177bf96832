//! Rolling back a failed stateful upgrade: when the new job of a STATEFUL upgrade (started from the
//! SUSPEND_AND_UPGRADE savepoint of the previous job) cannot restore, fails, or keeps restarting
//! within a grace window after it started, the previous job's template runs again from the same
//! savepoint. Pure; on by default, per deployment off with [`ROLLBACK_ANNOTATION`]`: "off"`.
//!
//! What counts as failed (spec version N, the new job restored from savepoint S, which the previous
//! job of spec version M < N wrote when the upgrade stopped it), within [`grace`] of the new job's
//! start:
//! - Flink refused its submission (a restore Flink cannot map answers the run request with 400), or
//!   it ended FAILED in Flink (its restart strategy gave up);
//! - Flink reports it restarting or failing and its exception history lists at least
//!   [`FAILURES_BEFORE_ROLLBACK`] failures (one restart of a healthy job is not a failed upgrade).
//!
//! Steps, each planned from rows (so a crash at any line converges):
//! 1. [`Action::RollBack`] writes [`UpgradeRollback`] to `status.rollback` (the intent: N failed, the
//!    template of the previous job runs again) with an `UPGRADE_ROLLED_BACK` event carrying Flink's
//!    cause;
//! 2. a job of spec version N that Flink still runs is cancelled ([`StopReason::UpgradeRollback`]);
//! 3. with no job left, [`Action::StartPrevious`] records a new Job row of the previous job's
//!    template and spec version M (annotated [`ROLLBACK_OF_ANNOTATION`]) and submits it, restoring
//!    what restore selection picks: S, since while the rollback holds snapshots of spec version N
//!    do not qualify (`crate::restore`). Its savepoints carry spec version M, the template they
//!    really ran.
//!
//! No flapping: while the deployment's spec version is N the rollback holds ([`holds`]): the job of
//! spec version M is not upgraded again, and a rollback job that fails is a failure like any other
//! (never a second rollback). Changing the spec (version N + 1) upgrades from the running job as
//! usual; its success clears `status.rollback`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Action, Ask, FlinkJobState, Observed, Retained, StopReason};
use crate::conditions::{ConditionStatus, Observation, UPGRADE_ROLLED_BACK};
use crate::duration::{self, UPGRADE_ROLLBACK_GRACE};
use crate::error::ValidationError;
use crate::{
    restore, Deployment, DesiredState, Job, JobId, JobState, Savepoint, SavepointId,
    SavepointOrigin, SavepointState, StringMap, UpgradeStrategyKind,
};

/// Deployment annotation: `"off"` turns rollback off for the deployment (`"on"`, the default,
/// leaves it on).
pub const ROLLBACK_ANNOTATION: &str = "stateplane.io/upgrade-rollback";
/// Deployment annotation: the grace window, a duration such as `90s` or `10m`
/// ([`UPGRADE_ROLLBACK_GRACE`] bounds it).
pub const GRACE_ANNOTATION: &str = "stateplane.io/upgrade-rollback-grace";
/// Job annotation: on a job that runs the previous template again, the spec version whose upgrade
/// it rolls back.
pub const ROLLBACK_OF_ANNOTATION: &str = "stateplane.io/rollback-of";
/// The grace window without [`GRACE_ANNOTATION`]: long enough for a job to restore large state and
/// process its first records, short enough that a job which fails later is a failing job, not a
/// failed upgrade.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(300);
/// Failures in Flink's exception history that make a restarting new job a failed upgrade.
pub const FAILURES_BEFORE_ROLLBACK: u32 = 3;

/// `status.rollback`: the upgrade to `failedSpecVersion` was rolled back (stateplane extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeRollback {
    /// The spec version whose upgrade failed: no job of it is started while the deployment has it.
    pub failed_spec_version: u64,
    /// The job of that spec version that failed.
    pub failed_job_id: JobId,
    /// The job whose template runs again.
    pub previous_job_id: JobId,
    /// The spec version of that template (the rollback's jobs and their savepoints carry it).
    pub previous_spec_version: u64,
    /// The SUSPEND_AND_UPGRADE savepoint the failed job restored, and the rollback restores.
    pub savepoint_id: SavepointId,
    /// Why the upgrade failed: Flink's root cause (or its refusal), one line.
    pub cause: String,
    pub rolled_back_at: DateTime<Utc>,
}

fn field(annotation: &str) -> String {
    format!("metadata.annotations.{annotation}")
}

/// Checks the rollback annotations of a deployment (the API refuses bad values with a 422).
pub fn validate(annotations: &StringMap) -> Result<(), ValidationError> {
    if let Some(v) = annotations.get(ROLLBACK_ANNOTATION) {
        if !matches!(v.trim(), "on" | "off") {
            return Err(ValidationError::invalid(
                field(ROLLBACK_ANNOTATION),
                format!("must be \"on\" or \"off\", not '{v}'"),
            ));
        }
    }
    if let Some(v) = annotations.get(GRACE_ANNOTATION) {
        UPGRADE_ROLLBACK_GRACE
            .parse(v)
            .map_err(|e| ValidationError::invalid(field(GRACE_ANNOTATION), e.to_string()))?;
    }
    Ok(())
}

/// Whether rollback is on for `d`.
pub fn enabled(d: &Deployment) -> bool {
    d.metadata
        .annotations
        .get(ROLLBACK_ANNOTATION)
        .is_none_or(|v| v.trim() != "off")
}

/// The grace window of `d` (a value the API would refuse, stored before the check existed, counts
/// as the default).
pub fn grace(d: &Deployment) -> Duration {
    d.metadata
        .annotations
        .get(GRACE_ANNOTATION)
        .and_then(|v| UPGRADE_ROLLBACK_GRACE.parse(v).ok())
        .unwrap_or(DEFAULT_GRACE)
}

/// The rollback of the deployment's current spec version, if it was rolled back.
pub fn holds(d: &Deployment) -> Option<&UpgradeRollback> {
    (d.status.rollback.as_ref()).filter(|r| r.failed_spec_version == d.spec_version())
}

/// Whether `job` runs a previous template again.
pub fn is_rollback_job(job: &Job) -> bool {
    job.metadata
        .annotations
        .contains_key(ROLLBACK_OF_ANNOTATION)
}

/// The SUSPEND_AND_UPGRADE savepoint `job` restored, when `job` is the new job of a stateful upgrade
/// to the deployment's spec version that may be rolled back.
fn upgraded_from<'a>(o: &Observed<'a>, job: &Job) -> Option<&'a Savepoint> {
    let d = o.deployment;
    if !enabled(d)
        || d.spec.state != DesiredState::Running
        || d.spec.upgrade_strategy.kind != UpgradeStrategyKind::Stateful
        || is_rollback_job(job)
        || holds(d).is_some()
    {
        return None;
    }
    let version = job.spec_version().filter(|v| *v == d.spec_version())?;
    let id = job.spec.savepoint_id?;
    o.savepoints.iter().find(|s| {
        s.metadata.id == id
            && s.metadata.origin == SavepointOrigin::SuspendAndUpgrade
            && s.status.state == SavepointState::Completed
            && s.metadata.job_id.is_some()
            && s.spec_version().is_some_and(|v| v < version)
    })
}

/// Whether `at` lies within the grace window after `job` started.
fn within_grace(d: &Deployment, job: &Job, at: DateTime<Utc>) -> bool {
    let started = (job.status.started.as_ref()).map_or(job.metadata.created_at, |s| s.started_at);
    (at - started).to_std().unwrap_or(Duration::ZERO) <= grace(d)
}

fn roll_back(d: &Deployment, job: &Job, sp: &Savepoint, why: String) -> Option<Action> {
    Some(Action::RollBack {
        job: job.metadata.id,
        previous: sp.metadata.job_id?,
        savepoint: sp.metadata.id,
        cause: format!(
            "the new job of spec version {} {why} within {} of its start",
            d.spec_version(),
            duration::show(grace(d))
        ),
    })
}

/// For the current job Flink reports in `state` (not over): cancel it when the rollback of its spec
/// version is recorded, or roll back when it keeps restarting within the grace window.
pub(super) fn current(o: &Observed<'_>, job: &Job, state: FlinkJobState) -> Option<Action> {
    let d = o.deployment;
    if let Some(r) = holds(d) {
        let failed = job.spec_version() == Some(r.failed_spec_version) && !is_rollback_job(job);
        return (failed && job.status.state != JobState::Terminating).then_some(Action::Cancel {
            job: job.metadata.id,
            reason: StopReason::UpgradeRollback,
        });
    }
    if !matches!(state, FlinkJobState::Restarting | FlinkJobState::Failing)
        || job.status.state == JobState::Terminating
    {
        return None;
    }
    let sp = upgraded_from(o, job)?;
    if !within_grace(d, job, o.now) {
        return None;
    }
    let id = job.metadata.id;
    let failures = o.answers.failures.filter(|(j, _)| *j == id).map(|(_, n)| n);
    let cause = (o.answers.failure_cause.as_ref()).filter(|(j, _)| *j == id);
    let (Some(failures), Some((_, cause))) = (failures, cause) else {
        return Some(Action::Observe {
            ask: Ask {
                failure_cause: true,
                ..Ask::default()
            },
        });
    };
    if failures < FAILURES_BEFORE_ROLLBACK {
        return None;
    }
    let cause = cause.as_deref().unwrap_or("Flink gives no root cause");
    roll_back(d, job, sp, format!("failed {failures} times ({cause})"))
}

/// A STARTING job of the rolled-back spec version that Flink does not know (it forgot it, e.g. a
/// JobManager restart): it is never submitted again, only recorded as gone (no attempt is counted),
/// after which the previous template starts.
pub(super) fn unsubmitted(o: &Observed<'_>, job: &Job) -> Option<Action> {
    let r = holds(o.deployment)?;
    let failed = job.spec_version() == Some(r.failed_spec_version) && !is_rollback_job(job);
    (failed && job.status.state == JobState::Starting).then(|| Action::JobVanished {
        job: job.metadata.id,
        message: format!(
            "job {} is not known to Flink and is not submitted: the upgrade to spec version {} \
             is rolled back",
            job.metadata.id, r.failed_spec_version
        ),
        retained: Retained::NotApplicable,
    })
}

/// A refused submission of `job` is rolled back (not retried, not given up on).
pub(super) fn takes_refusal(o: &Observed<'_>, job: &Job) -> bool {
    upgraded_from(o, job).is_some()
}

/// Without a current job: the deployment's last job is the new job of a stateful upgrade that
/// failed (or was refused) within the grace window, and no rollback is recorded yet.
pub(super) fn ended(o: &Observed<'_>) -> Option<Action> {
    let d = o.deployment;
    let job = o.last_job.filter(|j| j.status.state == JobState::Failed)?;
    let sp = upgraded_from(o, job)?;
    if !within_grace(d, job, job.metadata.terminated_at.unwrap_or(o.now)) {
        return None;
    }
    let cause = (job.status.failure.as_ref()).map_or("no reason recorded", |f| f.message.as_str());
    let how = match job.status.started {
        Some(_) => "failed",
        None => "could not be submitted",
    };
    roll_back(d, job, sp, format!("{how} ({cause})"))
}

/// The last job is the failed job of a recorded rollback: its end is the rollback's, not the
/// deployment's.
pub(super) fn ended_recorded(o: &Observed<'_>) -> bool {
    let failed = holds(o.deployment).map(|r| r.failed_job_id);
    failed.is_some() && o.last_job.map(|j| j.metadata.id) == failed
}

/// Without a current job, while a rollback holds: start the previous template again.
pub(super) fn start(o: &Observed<'_>) -> Option<Action> {
    let r = holds(o.deployment)?;
    let restore = restore::select(o.deployment, o.savepoints);
    Some(if restore.start_refused {
        Action::RefuseStart { decision: restore }
    } else {
        Action::StartPrevious {
            previous: r.previous_job_id,
            restore,
        }
    })
}

/// Why a snapshot does not qualify for a start of `d`: taken by a job of the rolled-back spec
/// version (it holds the failed template's state).
pub(crate) fn disqualifies(d: &Deployment, sp: &Savepoint) -> Option<String> {
    let r = holds(d)?;
    (sp.spec_version() == Some(r.failed_spec_version)).then(|| {
        format!(
            "taken by a job of spec version {}, whose upgrade was rolled back",
            r.failed_spec_version
        )
    })
}

/// The [`UPGRADE_ROLLED_BACK`] condition of the running deployment.
pub(super) fn condition(d: &Deployment) -> Observation {
    match holds(d) {
        Some(r) => Observation {
            kind: UPGRADE_ROLLED_BACK,
            status: ConditionStatus::True,
            reason: "UpgradeFailed",
            message: format!(
                "the upgrade to spec version {} was rolled back: {}; running spec version {} \
                 restored from savepoint {}. Change the deployment to upgrade again",
                r.failed_spec_version, r.cause, r.previous_spec_version, r.savepoint_id
            ),
        },
        None => Observation {
            kind: UPGRADE_ROLLED_BACK,
            status: ConditionStatus::False,
            reason: "SpecVersionRuns",
            message: "the job runs the deployment's spec version, or is being upgraded to it"
                .into(),
        },
    }
}
