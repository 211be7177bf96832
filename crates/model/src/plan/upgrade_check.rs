//! Refuse before stopping: a stateful upgrade whose new job graph cannot take the running job's
//! state is not carried out. Pure; the preflight's `Planned` arm ([`super::preflight`]) asks [`check`]
//! before the job is stopped, and the upgrade preview answers with [`preview`] from the same facts.
//!
//! Which state is compared: the upgrade restores the savepoint its stop-with-savepoint writes, which
//! holds the running job's operators (ids and max parallelism never change during a job's life). So
//! the comparison is made against the running job's own newest snapshot — its latest completed
//! checkpoint or savepoint as Flink reports it, else the newest summarised savepoint stateplane took
//! of it (the executor gathers it, [`RunningStateView`]). Not the savepoint the job was restored from
//! (that is of the previous template) and not the running job's vertices (they name chain heads only
//! and say nothing of which operators hold state, so they would both miss chained operators and
//! refuse removals Flink skips).
//!
//! What is refused (spec version N, upgrade strategy STATEFUL, restore strategy not NONE):
//! - state that would be dropped, unless `restoreStrategy.allowNonRestoredState` is true:
//!   [`FailureReason::UpgradeDropsState`];
//! - state the new graph cannot take (max parallelism changed, parallelism above the snapshot's max
//!   parallelism), which Flink refuses whatever the options: [`FailureReason::UpgradeIncompatibleState`].
//!
//! A refusal keeps the job, names the operators and reasons (status failure and one
//! `UPGRADE_REFUSED` event) and gives spec version N up. It is lifted without a new spec version
//! by what it asks for: `allowNonRestoredState: true` lifts a refusal for dropped state, and the
//! override annotation [`SKIP_CHECK_ANNOTATION`] set to `N` lifts either (and skips the check for
//! spec version N only, so it never silently applies to a later change). Nothing is compared when no
//! snapshot of the running job can be read: the upgrade goes ahead as before the check existed
//! (the preview says NOT_CHECKED), since refusing every upgrade of a job that never checkpointed
//! would be worse than Flink's own refusal after the stop.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Action, FailureReason, Observed, PlannedVertex};
use crate::snapshot::OperatorState;
use crate::upgrade::{compare, Compatibility, NewGraph, OperatorFate, Verdict};
use crate::{Deployment, Job, RestoreStrategyKind, UpgradeStrategyKind};

/// Deployment annotation: the spec version whose state check is skipped (the upgrade proceeds
/// whatever the comparison says).
pub const SKIP_CHECK_ANNOTATION: &str = "stateplane.io/skip-upgrade-check";

/// The operator states the upgrade would restore, as the executor found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunningStateView {
    /// Read from this snapshot (`source` says which, in words).
    Read {
        source: String,
        operators: Vec<OperatorState>,
    },
    /// No snapshot could be read; why.
    Unavailable { why: String },
}

/// What the preflight found for the state check, next to the plan of the new template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCheckView {
    /// The plan of the new template with chaining off (every operator a vertex); `None`: Flink could
    /// not plan it so (its ids are then unknown for chained operators).
    pub unchained: Option<Vec<PlannedVertex>>,
    pub snapshot: RunningStateView,
}

string_enum! {
    /// What stateplane would do with the change.
    pub enum PreviewDecision {
        /// The change restarts the job and stateplane carries it out.
        Proceeds => "PROCEEDS",
        /// stateplane refuses the upgrade and keeps the running job (see the message).
        Refused => "REFUSED",
        /// The change needs no restart (no change of `spec.template`).
        NoUpgrade => "NO_UPGRADE",
        /// The change restarts the job, but its state is not compared (see the message).
        NotChecked => "NOT_CHECKED",
        /// No job runs: the next start would restore the snapshot and Flink would refuse it.
        FailsAtStart => "FAILS_AT_START",
    }
}

/// The answer of an upgrade preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradePreview {
    #[schema(value_type = String)]
    pub decision: PreviewDecision,
    /// The decision in words (a refusal names the operators and how to override it).
    pub message: String,
    /// The comparison's verdict, when a comparison was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub verdict: Option<Verdict>,
    /// The snapshot whose operator states were compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Per operator: its fate, and why.
    pub operators: Vec<OperatorFate>,
    /// The verdict's reasons, in words.
    pub reasons: Vec<String>,
}

/// `pipeline.max-parallelism` of a template's configuration (the only max parallelism the plan
/// lets us see), when it is a number.
pub fn configured_max_parallelism(conf: &BTreeMap<String, String>) -> Option<u32> {
    conf.get("pipeline.max-parallelism")
        .and_then(|v| v.trim().parse().ok())
}

/// The new graph as the comparison takes it.
pub fn new_graph(d: &Deployment, vertices: &[PlannedVertex], state: &StateCheckView) -> NewGraph {
    let pairs = |vs: &[PlannedVertex]| vs.iter().map(|v| (v.id.clone(), v.parallelism)).collect();
    NewGraph {
        vertices: pairs(vertices),
        unchained_ids: state.unchained.as_deref().map(pairs),
        max_parallelism: configured_max_parallelism(&d.spec.template.spec.flink_configuration),
    }
}

/// The spec version whose check the override annotation skips, if it is set to a number.
fn skipped_for(d: &Deployment) -> Option<u64> {
    d.metadata
        .annotations
        .get(SKIP_CHECK_ANNOTATION)
        .and_then(|v| v.trim().parse().ok())
}

/// Why the state is not compared for this deployment's upgrade, if it is not.
fn not_checked(d: &Deployment) -> Option<String> {
    if d.spec.upgrade_strategy.kind != UpgradeStrategyKind::Stateful {
        return Some(format!(
            "upgrade strategy {}: the new job starts without state",
            d.spec.upgrade_strategy.kind
        ));
    }
    if d.spec.restore_strategy.kind == RestoreStrategyKind::None {
        return Some("restore strategy NONE: the new job starts without state".into());
    }
    let v = d.spec_version();
    if skipped_for(d) == Some(v) {
        return Some(format!(
            "the state check of spec version {v} is skipped ({SKIP_CHECK_ANNOTATION}: \"{v}\")"
        ));
    }
    None
}

/// The refusal of the comparison's outcome for `d`: its failure reason and words.
fn refusal(d: &Deployment, c: &Compatibility) -> Option<(FailureReason, String)> {
    let anrs = d.spec.restore_strategy.allow_non_restored_state;
    let words = c.refusal(anrs)?;
    let reason = if c.incompatible().is_empty() {
        FailureReason::UpgradeDropsState
    } else {
        FailureReason::UpgradeIncompatibleState
    };
    let v = d.spec_version();
    Some((
        reason,
        format!(
            "the job keeps running: spec version {v} is not carried out: {words}. To upgrade anyway, \
             set the annotation {SKIP_CHECK_ANNOTATION}: \"{v}\""
        ),
    ))
}

/// The preflight's state check (see the module docs): `None` lets the upgrade go ahead; otherwise
/// the refusal to record.
pub(super) fn check(
    o: &Observed<'_>,
    job: &Job,
    vertices: &[PlannedVertex],
    state: &StateCheckView,
) -> Option<Action> {
    let d = o.deployment;
    if not_checked(d).is_some() {
        return None;
    }
    let RunningStateView::Read { operators, .. } = &state.snapshot else {
        return None;
    };
    let c = compare(operators, &new_graph(d, vertices, state));
    refusal(d, &c).map(|(reason, message)| Action::UpgradeRefused {
        job: job.metadata.id,
        reason,
        message,
    })
}

/// A refusal of this spec version that what it asked for now lifts (see the module docs): the
/// action that clears it, so the upgrade is planned again.
pub(super) fn lift(o: &Observed<'_>) -> Option<Action> {
    let d = o.deployment;
    let t = d.transition();
    let failure = d.status.failure.as_ref();
    if !t.gave_up || t.spec_version != d.spec_version() {
        return None;
    }
    let skip = skipped_for(d) == Some(d.spec_version());
    let anrs = d.spec.restore_strategy.allow_non_restored_state;
    let lifted = (FailureReason::UpgradeDropsState.is(failure) && (anrs || skip))
        || (FailureReason::UpgradeIncompatibleState.is(failure) && skip);
    lifted.then(|| Action::LiftGate {
        message: format!(
            "the refused upgrade to spec version {} is allowed now ({}): planning it again",
            d.spec_version(),
            if skip {
                SKIP_CHECK_ANNOTATION
            } else {
                "restoreStrategy.allowNonRestoredState"
            }
        ),
    })
}

/// The preview of changing the deployment to `d` (the deployment with the change applied), from
/// the plan of its template and the state its upgrade (`running`: a job runs) or next start would
/// restore.
pub fn preview(
    d: &Deployment,
    vertices: &[PlannedVertex],
    state: &StateCheckView,
    running: bool,
) -> UpgradePreview {
    let (source, operators) = match &state.snapshot {
        RunningStateView::Read { source, operators } => (source, operators),
        RunningStateView::Unavailable { why } => {
            return UpgradePreview {
                decision: PreviewDecision::NotChecked,
                message: match not_checked(d) {
                    Some(skip) => format!("the upgrade would go ahead: {skip}"),
                    None => format!(
                        "no snapshot to compare with ({why}); the upgrade would go ahead unchecked"
                    ),
                },
                verdict: None,
                snapshot: None,
                operators: Vec::new(),
                reasons: Vec::new(),
            }
        }
    };
    let c = compare(operators, &new_graph(d, vertices, state));
    let (decision, message) = match (not_checked(d), refusal(d, &c)) {
        (Some(why), _) => (
            PreviewDecision::NotChecked,
            format!("the upgrade would go ahead: {why}"),
        ),
        (None, Some((_, words))) if running => (PreviewDecision::Refused, words),
        (None, Some(_)) => (
            PreviewDecision::FailsAtStart,
            format!(
                "no job runs; the next start restores this snapshot and Flink would refuse it: {}",
                c.refusal(d.spec.restore_strategy.allow_non_restored_state)
                    .unwrap_or_default()
            ),
        ),
        (None, None) => (
            PreviewDecision::Proceeds,
            match c.verdict {
                Verdict::DropsState => {
                    "the upgrade would go ahead and drop the state of the operators marked DROPPED \
                     (restoreStrategy.allowNonRestoredState is true)"
                        .to_string()
                }
                Verdict::Unknown => "the upgrade would go ahead; some operators cannot be matched \
                     from the plan (see their reasons), Flink decides at the restore"
                    .to_string(),
                _ => "the upgrade would go ahead and restore every operator's state".to_string(),
            },
        ),
    };
    UpgradePreview {
        decision,
        message,
        verdict: Some(c.verdict),
        snapshot: Some(source.clone()),
        operators: c.operators,
        reasons: c.reasons,
    }
}

/// The preview of a change that leaves the template alone.
pub fn no_upgrade() -> UpgradePreview {
    UpgradePreview {
        decision: PreviewDecision::NoUpgrade,
        message: "the change does not touch spec.template: no job is restarted".into(),
        verdict: None,
        snapshot: None,
        operators: Vec::new(),
        reasons: Vec::new(),
    }
}

/// The preview of a template Flink cannot plan: the upgrade would be refused with Flink's reason.
pub fn plan_refused(message: &str) -> UpgradePreview {
    UpgradePreview {
        decision: PreviewDecision::Refused,
        message: format!("Flink cannot plan the new template: {message}"),
        verdict: None,
        snapshot: None,
        operators: Vec::new(),
        reasons: Vec::new(),
    }
}

/// Why a preview could not be answered now (Flink, storage or the store did not answer); asking
/// again may work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewUnavailable(pub String);
