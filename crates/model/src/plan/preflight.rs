//! The preflight of an upgrade: before a running job is stopped (or cancelled) for a template change,
//! Flink is asked to plan the new template — the program the next job would be submitted with — and
//! the job is stopped only when Flink can build it.
//!
//! Why: stopping a job for a program that cannot run (a SQL script that does not parse, a main that
//! throws, a missing class) turns a bad change into an outage. Flink's `POST /jars/{jar}/plan` runs
//! the program's main up to the submission and answers the job graph or the program's exception, so
//! the bad change is found while the old job still runs. A refusal leaves the job alone, reports
//! Flink's message (status failure and an event) and gives the transition up: the same failure is
//! not tried again until the spec changes (a new spec version is a new transition).
//!
//! [`check`] is the one place that decides whether an upgrade may go ahead; its `Planned` arm also
//! asks whether the running job's state maps onto the planned graph ([`super::upgrade_check`]).

use super::upgrade_check::{self, StateCheckView};
use super::{Action, FailureReason, Observed};
use crate::Job;

/// What Flink answered when asked to plan the deployment's template (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum PreflightView {
    /// Flink planned it: the job graph's vertices, and what the state check needs.
    Planned {
        vertices: Vec<PlannedVertex>,
        state: StateCheckView,
    },
    /// Flink cannot plan it (or its artifact cannot be had); the reason, Flink's root message.
    Refused { message: String },
    /// Flink did not answer; asked again in a while.
    Unreachable { error: String },
}

/// One vertex of the planned job graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedVertex {
    /// The vertex id (32 hex digits), to which a restore maps state.
    pub id: String,
    pub parallelism: u32,
}

/// Whether the template change of `job`'s deployment may stop `job` now: `None` when Flink planned
/// the new template; otherwise the action to take instead (plan it, report the refusal, wait, or
/// nothing more after a refusal of this spec version).
pub(super) fn check(o: &Observed<'_>, job: &Job) -> Option<Action> {
    let d = o.deployment;
    if d.transition().gave_up {
        // Refused for this spec version already (or the upgrade gave up otherwise): keep the job.
        return Some(Action::Steady);
    }
    let spec_version = d.spec_version();
    let answer = o
        .answers
        .preflight
        .as_ref()
        .filter(|(v, _)| *v == spec_version)
        .map(|(_, view)| view);
    match answer {
        None => Some(Action::PlanUpgrade {
            job: job.metadata.id,
        }),
        Some(PreflightView::Planned { vertices, state }) => {
            upgrade_check::check(o, job, vertices, state)
        }
        Some(PreflightView::Refused { message }) => Some(Action::UpgradeRefused {
            job: job.metadata.id,
            reason: FailureReason::UpgradePreflightFailed,
            message: format!(
                "the job keeps running: Flink cannot plan spec version {spec_version}: {message}"
            ),
        }),
        Some(PreflightView::Unreachable { error }) => Some(Action::Wait {
            reason: format!("cannot plan the upgrade, Flink did not answer: {error}"),
            poll: None,
        }),
    }
}
