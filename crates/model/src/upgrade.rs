//! Upgrade preview: will a snapshot's state restore into a new job graph? Pure: it compares the
//! operator states a snapshot holds ([`OperatorState`], from `_metadata`) with the graph Flink itself
//! plans for the new template ([`NewGraph`]), by the rules Flink applies when it restores
//! (`Checkpoints.loadAndValidateCheckpoint`, then `StateAssignmentOperation`):
//!
//! 1. an entry whose operator id is in the new graph restores, unless the max parallelism differs and
//!    the new job set its max parallelism explicitly ("Max parallelism mismatch"), or the new
//!    parallelism is above the max parallelism the state is split into;
//! 2. an entry whose id is not in the new graph is dropped: Flink refuses it without
//!    `allowNonRestoredState` when it holds state (a coordinator's state counts: a source always
//!    does), and skips it silently when it holds none.
//!
//! What the plan shows: Flink's plan lists one node per vertex (operator chain), named by the chain
//! head's id; chained operators' ids are not shown. So the graph is asked a second time with chaining
//! off ([`NewGraph::unchained_ids`]), where every operator is a node. Operator ids derived from a uid do
//! not depend on chaining; generated ones (operators without a uid) may, which shows as a chained
//! vertex id missing from the unchained plan: then the unchained ids are not trusted and an entry not
//! found among the vertices is [`Fate::Unknown`]. Nothing is reported as restored that was not found.
//! A max parallelism set in the program's code is not visible to the plan either; only the one in
//! the template's configuration (`pipeline.max-parallelism`) is, which the reasons say.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::snapshot::OperatorState;

/// The new job graph, as Flink planned it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewGraph {
    /// The vertices of the plan as the job would run (chained): (id, parallelism).
    pub vertices: Vec<(String, u32)>,
    /// Every operator's id, from the plan with chaining off; `None` when it could not be asked.
    pub unchained_ids: Option<Vec<(String, u32)>>,
    /// The max parallelism the new template sets explicitly (`pipeline.max-parallelism`), if any.
    pub max_parallelism: Option<u32>,
}

string_enum! {
    /// What becomes of one operator's state.
    pub enum Fate {
        /// An operator with this id is in the new graph and can take the state.
        Restored => "RESTORED",
        /// No operator with this id in the new graph, and it holds state: lost (Flink refuses the
        /// restore without `allowNonRestoredState`).
        Dropped => "DROPPED",
        /// No operator with this id in the new graph, but it holds no state: Flink skips it.
        Skipped => "SKIPPED",
        /// An operator of the new graph with no state in the snapshot: starts empty.
        New => "NEW",
        /// The operator is there but cannot take the state (max parallelism).
        Incompatible => "INCOMPATIBLE",
        /// The plan does not show enough to tell.
        Unknown => "UNKNOWN",
    }
}

string_enum! {
    /// The preview's overall answer.
    pub enum Verdict {
        /// Every operator's state restores.
        Compatible => "COMPATIBLE",
        /// Some state would be dropped (restores only with `allowNonRestoredState`, losing it).
        DropsState => "DROPS_STATE",
        /// Flink would refuse the restore whatever the options.
        Incompatible => "INCOMPATIBLE",
        /// Some operator's fate cannot be told from the plan.
        Unknown => "UNKNOWN",
    }
}

/// One operator's line in the preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorFate {
    pub operator_id: String,
    /// Uid or name, where the snapshot records them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[schema(value_type = String)]
    pub fate: Fate,
    /// Bytes of state in the snapshot (0 for a new operator).
    pub state_bytes: u64,
    /// Why, in words.
    pub reason: String,
}

/// The comparison's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Compatibility {
    #[schema(value_type = String)]
    pub verdict: Verdict,
    pub operators: Vec<OperatorFate>,
    /// The verdict's reasons, in words.
    pub reasons: Vec<String>,
}

impl Compatibility {
    /// Operators whose state would be dropped.
    pub fn dropped(&self) -> Vec<&OperatorFate> {
        self.with_fate(Fate::Dropped)
    }

    /// Operators that cannot take their state.
    pub fn incompatible(&self) -> Vec<&OperatorFate> {
        self.with_fate(Fate::Incompatible)
    }

    fn with_fate(&self, fate: Fate) -> Vec<&OperatorFate> {
        self.operators.iter().filter(|o| o.fate == fate).collect()
    }

    /// A change Flink would refuse or that would lose state that `allow_non_restored_state` does not
    /// allow to lose: the words why, naming the operators.
    pub fn refusal(&self, allow_non_restored_state: bool) -> Option<String> {
        let names =
            |ops: Vec<&OperatorFate>| ops.iter().map(|o| o.label()).collect::<Vec<_>>().join(", ");
        let incompatible = self.incompatible();
        if !incompatible.is_empty() {
            return Some(format!(
                "the new template cannot restore the state of {}: {}",
                names(incompatible.clone()),
                incompatible
                    .iter()
                    .map(|o| o.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        let dropped = self.dropped();
        if !dropped.is_empty() && !allow_non_restored_state {
            return Some(format!(
                "the new template would drop the state of {} (no operator with that id in the new job graph); \
                 set restoreStrategy.allowNonRestoredState to drop it",
                names(dropped)
            ));
        }
        None
    }
}

impl OperatorFate {
    /// `uid (id)` or the id alone.
    pub fn label(&self) -> String {
        match self.uid.as_deref().or(self.name.as_deref()) {
            Some(n) => format!("{n} ({})", self.operator_id),
            None => format!("operator {}", self.operator_id),
        }
    }
}

/// Compares the snapshot's operators with the new graph (see the module docs).
pub fn compare(snapshot: &[OperatorState], graph: &NewGraph) -> Compatibility {
    let vertex = |id: &str| {
        graph
            .vertices
            .iter()
            .find(|(v, _)| v == id)
            .map(|(_, p)| *p)
    };
    // The unchained view is trusted only when it contains every vertex head (ids do not depend on
    // chaining for this job).
    let unchained = graph.unchained_ids.as_ref().filter(|u| {
        graph
            .vertices
            .iter()
            .all(|(v, _)| u.iter().any(|(id, _)| id == v))
    });
    let mut reasons = Vec::new();
    if graph.unchained_ids.is_some() && unchained.is_none() {
        reasons.push(
            "operators without a uid get ids that depend on chaining in this job: operators chained \
             into a vertex cannot be matched"
                .to_string(),
        );
    }
    let chained =
        |id: &str| unchained.and_then(|u| u.iter().find(|(v, _)| v == id).map(|(_, p)| *p));
    let mut operators = Vec::new();
    for op in snapshot {
        let found = vertex(&op.operator_id).or_else(|| chained(&op.operator_id));
        let (fate, reason) = match found {
            Some(p) => fate_of_present(op, p, graph.max_parallelism),
            None if unchained.is_some() => absent(op),
            None if !op.holds_state() => (
                Fate::Skipped,
                "holds no state; not a vertex of the new plan (chained or gone, Flink skips it either way)"
                    .to_string(),
            ),
            None => (
                Fate::Unknown,
                "not a vertex of the new plan; it may be chained inside one, whose operator ids the plan does not show"
                    .to_string(),
            ),
        };
        operators.push(OperatorFate {
            operator_id: op.operator_id.clone(),
            uid: op.uid.clone(),
            name: op.name.clone(),
            fate,
            state_bytes: op.state.total + op.state.coordinator,
            reason,
        });
    }
    let known: Vec<&(String, u32)> = match unchained {
        Some(u) => u.iter().collect(),
        None => graph.vertices.iter().collect(),
    };
    for (id, _) in known {
        if !snapshot.iter().any(|o| &o.operator_id == id) {
            operators.push(OperatorFate {
                operator_id: id.clone(),
                uid: None,
                name: None,
                fate: Fate::New,
                state_bytes: 0,
                reason: "in the new job graph, no state in the snapshot: starts empty".into(),
            });
        }
    }
    let count = |f: Fate| operators.iter().filter(|o| o.fate == f).count();
    let verdict = if count(Fate::Incompatible) > 0 {
        Verdict::Incompatible
    } else if count(Fate::Dropped) > 0 {
        Verdict::DropsState
    } else if count(Fate::Unknown) > 0 {
        Verdict::Unknown
    } else {
        Verdict::Compatible
    };
    for (fate, words) in [
        (Fate::Incompatible, "cannot take their state"),
        (Fate::Dropped, "would lose their state"),
        (Fate::Unknown, "cannot be matched from the plan"),
        (Fate::Restored, "restore their state"),
        (Fate::New, "are new and start empty"),
    ] {
        let ops: Vec<String> = operators
            .iter()
            .filter(|o| o.fate == fate)
            .map(OperatorFate::label)
            .collect();
        if !ops.is_empty() {
            reasons.push(format!(
                "{} operator(s) {words}: {}",
                ops.len(),
                ops.join(", ")
            ));
        }
    }
    if graph.max_parallelism.is_none() {
        reasons.push(
            "a max parallelism set in the program's code is not visible to the plan; only pipeline.max-parallelism in the template is checked"
                .to_string(),
        );
    }
    Compatibility {
        verdict,
        operators,
        reasons,
    }
}

fn fate_of_present(op: &OperatorState, parallelism: u32, max: Option<u32>) -> (Fate, String) {
    let snap_max = op.max_parallelism;
    if let Some(m) = max.filter(|m| *m != snap_max) {
        return (
            Fate::Incompatible,
            format!("max parallelism changes from {snap_max} (in the snapshot) to {m}"),
        );
    }
    // An unset max parallelism takes the snapshot's; either way the state has `snap_max` key groups.
    if parallelism > snap_max {
        return (
            Fate::Incompatible,
            format!("parallelism {parallelism} is above the snapshot's max parallelism {snap_max}"),
        );
    }
    (
        Fate::Restored,
        format!("same operator id in the new job graph (parallelism {parallelism})"),
    )
}

fn absent(op: &OperatorState) -> (Fate, String) {
    if op.holds_state() {
        (
            Fate::Dropped,
            "no operator with this id in the new job graph; its state would be dropped".into(),
        )
    } else {
        (
            Fate::Skipped,
            "no operator with this id in the new job graph; it holds no state, Flink skips it"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests;
