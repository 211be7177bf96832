//! Snapshot summaries: what a COMPLETED savepoint's `_metadata` says about the state it holds (which
//! operators, at which parallelism and max parallelism, how much state), kept next to the savepoint so
//! that the API, the UI and the upgrade preview ([`crate::upgrade`]) can answer "what is in this
//! snapshot?" without reading storage again.
//!
//! The summary is read once per savepoint by the controller (a housekeeping step the planner decides,
//! [`needs_summary`]); the savepoint's annotations say how that went: [`SUMMARY_ANNOTATION`] once the
//! summary is stored, [`SUMMARY_ERROR_ANNOTATION`] with the reason when `_metadata` could not be read
//! (the savepoint stays registered and usable; it is just not summarised).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{DeploymentId, Savepoint, SavepointId, SavepointState};

/// Annotation on a savepoint whose summary is stored (value: the time it was read).
pub const SUMMARY_ANNOTATION: &str = "stateplane.io/snapshot-summary";
/// Annotation on a savepoint whose `_metadata` could not be read or parsed: the reason.
pub const SUMMARY_ERROR_ANNOTATION: &str = "stateplane.io/snapshot-summary-error";

/// What `_metadata` says about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSummary {
    /// The metadata format version (3 to 6; 4 is Flink 1.16–1.20's, 6 Flink 2.3's).
    pub format_version: i32,
    /// The checkpoint (or savepoint) id Flink gave it.
    pub checkpoint_id: i64,
    /// Every operator with an entry, in the file's order.
    pub operators: Vec<OperatorState>,
    /// Sums over all operators.
    pub total: StateSizes,
}

/// One operator's entry in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorState {
    /// The operator id as Flink prints it (32 lowercase hex characters).
    pub operator_id: String,
    /// The operator's uid, where the format records it (Flink 2.x) and the job set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The operator's name, where the format records it (Flink 2.x).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The parallelism it ran with.
    pub parallelism: u32,
    /// The max parallelism (number of key groups) its state is split into.
    pub max_parallelism: u32,
    /// Every subtask had finished: Flink keeps no state for it.
    #[serde(default)]
    pub fully_finished: bool,
    /// How much state, by kind.
    pub state: StateSizes,
}

impl OperatorState {
    /// Flink refuses to drop this operator's entry without `allowNonRestoredState`: it holds some
    /// state (a coordinator's state counts, so a source always does).
    pub fn holds_state(&self) -> bool {
        self.state.total > 0 || self.state.coordinator > 0
    }
}

/// State sizes in bytes, by kind, as Flink counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateSizes {
    /// Managed keyed state.
    pub keyed: u64,
    /// Managed operator state (list, union, broadcast; a source reader's splits).
    pub operator: u64,
    /// Raw keyed and raw operator state.
    pub raw: u64,
    /// In-flight records of an unaligned checkpoint.
    pub channel: u64,
    /// The operator coordinator's state (a source's split enumerator).
    pub coordinator: u64,
    /// All of the above.
    pub total: u64,
    /// The part of `total` inside `_metadata`.
    pub inline: u64,
    /// The part of `total` in files next to (or referenced from) `_metadata`.
    pub in_files: u64,
}

/// A stored summary: the savepoint it belongs to and when that savepoint was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointSnapshot {
    pub savepoint_id: SavepointId,
    pub deployment_id: DeploymentId,
    /// When the savepoint was asked for (or registered).
    pub savepoint_created_at: DateTime<Utc>,
    /// For savepoints stateplane took: milliseconds from the request to the completion being
    /// recorded (includes the controller's polling delay, at most a poll interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    pub summary: SnapshotSummary,
}

/// A COMPLETED savepoint with a location whose summary was neither stored nor found unreadable.
pub fn needs_summary(s: &Savepoint) -> bool {
    s.status.state == SavepointState::Completed
        && s.spec.savepoint_location.is_some()
        && !s.metadata.annotations.contains_key(SUMMARY_ANNOTATION)
        && !s
            .metadata
            .annotations
            .contains_key(SUMMARY_ERROR_ANNOTATION)
}

/// The duration recorded for a savepoint stateplane took: its last write (the completion, when the
/// summary is read right after it) minus its creation.
pub fn recorded_duration_ms(s: &Savepoint) -> Option<i64> {
    s.metadata
        .origin
        .is_triggered_by_us()
        .then(|| (s.metadata.modified_at - s.metadata.created_at).num_milliseconds())
        .filter(|ms| *ms >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SavepointOrigin;

    fn sp(state: SavepointState, loc: Option<&str>) -> Savepoint {
        Savepoint::new(
            "default",
            DeploymentId::new(),
            SavepointOrigin::Copied,
            state,
            loc.map(str::to_owned),
        )
    }

    #[test]
    fn which_savepoints_need_a_summary() {
        let cases: &[(SavepointState, Option<&str>, Option<&str>, bool)] = &[
            (SavepointState::Completed, Some("file:///sp"), None, true),
            (SavepointState::Started, Some("file:///sp"), None, false),
            (SavepointState::Failed, Some("file:///sp"), None, false),
            (
                SavepointState::PendingDeletion,
                Some("file:///sp"),
                None,
                false,
            ),
            (SavepointState::Completed, None, None, false),
            (
                SavepointState::Completed,
                Some("file:///sp"),
                Some(SUMMARY_ANNOTATION),
                false,
            ),
            (
                SavepointState::Completed,
                Some("file:///sp"),
                Some(SUMMARY_ERROR_ANNOTATION),
                false,
            ),
        ];
        for (state, loc, ann, want) in cases {
            let mut s = sp(*state, *loc);
            if let Some(a) = ann {
                s.metadata.annotations.insert((*a).into(), "x".into());
            }
            assert_eq!(needs_summary(&s), *want, "{state:?} {loc:?} {ann:?}");
        }
    }

    #[test]
    fn duration_only_for_savepoints_we_took() {
        let mut s = sp(SavepointState::Completed, Some("file:///sp"));
        s.metadata.modified_at = s.metadata.created_at + chrono::Duration::milliseconds(1500);
        assert_eq!(recorded_duration_ms(&s), None);
        s.metadata.origin = SavepointOrigin::UserRequest;
        assert_eq!(recorded_duration_ms(&s), Some(1500));
    }
}
