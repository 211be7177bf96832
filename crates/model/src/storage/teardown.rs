//! What deleting a deployment does to its snapshots' data, decided before anything is deleted.
//!
//! The rule is the one for a single savepoint ([`super::disposal`]): data stateplane wrote goes with the
//! last resource pointing to it. A deployment's savepoints are that last resource when nothing outside
//! the deployment points to their location; then (unless the caller asks to keep the data) the
//! deployment is not deleted at once: its savepoints are marked PENDING_DELETION and the deployment
//! [`DELETION_ANNOTATION`], the controller disposes of them one by one (events, FAILED_DELETION on
//! failure, as for any DELETE) and deletes the deployment once none is left. When nothing of theirs
//! is to be disposed of, or the caller keeps the data, the deployment goes at once and the data stays
//! (the orphan report lists what is left under stateplane's directories).

use std::collections::HashMap;

use super::{disposal, Disposal};
use crate::{Deployment, Savepoint, SavepointId, SavepointState};

/// On a deployment being deleted: the controller disposes of its snapshots' data, then deletes it.
pub const DELETION_ANNOTATION: &str = "stateplane.io/deletion";
/// The value of [`DELETION_ANNOTATION`].
pub const DISPOSING_SNAPSHOT_DATA: &str = "disposing-snapshot-data";
/// On a deleted (or being deleted) deployment as answered: what happens to its snapshots' data.
pub const SNAPSHOT_DATA_ANNOTATION: &str = "stateplane.io/snapshot-data";

/// What a deployment DELETE does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teardown {
    /// Savepoints to mark PENDING_DELETION before the deployment goes; empty: delete it now.
    pub dispose: Vec<SavepointId>,
    /// In words, for the answer and the event.
    pub summary: String,
}

/// Whether the deployment is being deleted (its snapshots' data first).
pub fn is_being_deleted(d: &Deployment) -> bool {
    d.metadata
        .annotations
        .get(DELETION_ANNOTATION)
        .map(String::as_str)
        == Some(DISPOSING_SNAPSHOT_DATA)
}

/// Decides a deployment DELETE. `savepoints`: the deployment's; `references`: for each of their
/// normalised locations, how many savepoint resources point there in all (theirs included);
/// `keep`: the caller's explicit choice to keep every snapshot's data.
pub fn teardown(
    savepoints: &[Savepoint],
    references: &HashMap<String, u64>,
    blob_base: Option<&str>,
    keep: bool,
) -> Teardown {
    let mut ours: HashMap<String, u64> = HashMap::new();
    for sp in savepoints {
        if let Some(k) = sp.location_key() {
            *ours.entry(k).or_default() += 1;
        }
    }
    let mut dispose = Vec::new();
    let mut disposed = Vec::new();
    let mut kept = 0usize;
    for sp in savepoints {
        // Deleting the deployment removes every one of its resources: only references from outside
        // it protect the data, so this savepoint counts as the last of its own.
        let outside = sp.location_key().map_or(0, |k| {
            references
                .get(&k)
                .copied()
                .unwrap_or(0)
                .saturating_sub(ours.get(&k).copied().unwrap_or(0))
        });
        let decision = disposal(sp, blob_base, outside + 1);
        let retry = sp.status.state == SavepointState::FailedDeletion;
        if decision.touches_data() || retry {
            if let Disposal::DeleteSnapshot { location, .. } = &decision {
                disposed.push(location.clone());
            }
            dispose.push(sp.metadata.id);
        } else {
            kept += 1;
        }
    }
    disposed.sort();
    disposed.dedup();
    if keep {
        return Teardown {
            dispose: Vec::new(),
            summary: format!(
                "deleted at once; the data of all its {} savepoint resources is kept, as asked \
                 (keepSnapshotData=true){}",
                savepoints.len(),
                if disposed.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {} snapshot directories stateplane wrote stay on storage (GET /api/v1/storage/orphans lists them)",
                        disposed.len()
                    )
                }
            ),
        };
    }
    if dispose.is_empty() {
        return Teardown {
            dispose,
            summary: format!(
                "deleted at once; none of its {kept} savepoint resources points to data stateplane wrote \
                 that nothing else points to, so all their data is kept"
            ),
        };
    }
    Teardown {
        summary: format!(
            "being deleted: the controller disposes of the data of {} savepoint resources ({}) and \
             then deletes the deployment; the data of {kept} others is kept (registered elsewhere, or \
             still pointed to by other resources). DELETE with keepSnapshotData=true to keep everything",
            dispose.len(),
            if disposed.is_empty() {
                "empty target directories only".to_string()
            } else {
                disposed.join(", ")
            }
        ),
        dispose,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeploymentId, SavepointOrigin};

    fn sp(d: DeploymentId, origin: SavepointOrigin, loc: &str) -> Savepoint {
        Savepoint::new(
            "team",
            d,
            origin,
            SavepointState::Completed,
            Some(loc.into()),
        )
    }

    #[test]
    fn table() {
        use SavepointOrigin::*;
        let d = DeploymentId::new();
        let blob = Some("file:///blob");
        let mine = sp(d, UserRequest, "file:///sp/a/savepoint-1");
        let shared_outside = sp(d, Suspend, "file:///sp/b/savepoint-2");
        let external = sp(d, Copied, "file:///elsewhere/savepoint-3");
        // a savepoint and its copy to the same deployment: both go, so the data goes
        let copy_here = {
            let mut c = sp(d, Copied, "file:///sp/a/savepoint-1");
            c.metadata.annotations.insert(
                crate::storage::DATA_WRITTEN_BY_ANNOTATION.into(),
                "stateplane".into(),
            );
            c
        };
        let all = vec![
            mine.clone(),
            shared_outside.clone(),
            external.clone(),
            copy_here.clone(),
        ];
        let refs: HashMap<String, u64> = [
            ("file:///sp/a/savepoint-1".to_string(), 2),
            ("file:///sp/b/savepoint-2".to_string(), 2),
            ("file:///elsewhere/savepoint-3".to_string(), 1),
        ]
        .into();
        // (name, savepoints, keep, disposed ids, summary words)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Vec<Savepoint>, bool, Vec<SavepointId>, &str)> = vec![
            (
                "ours and its copy go, shared and external stay",
                all.clone(),
                false,
                vec![mine.metadata.id, copy_here.metadata.id],
                "file:///sp/a/savepoint-1",
            ),
            (
                "keep means keep",
                all.clone(),
                true,
                vec![],
                "keepSnapshotData=true",
            ),
            (
                "nothing of ours",
                vec![external.clone(), shared_outside.clone()],
                false,
                vec![],
                "deleted at once",
            ),
            ("no savepoints", vec![], false, vec![], "deleted at once"),
        ];
        for (name, sps, keep, want, words) in cases {
            let t = teardown(&sps, &refs, blob, keep);
            assert_eq!(t.dispose, want, "{name}");
            assert!(t.summary.contains(words), "{name}: {}", t.summary);
        }
        // a FAILED_DELETION one is retried by a second DELETE
        let mut failed = mine.clone();
        failed.status.state = SavepointState::FailedDeletion;
        let t = teardown(&[failed.clone()], &refs, blob, false);
        assert_eq!(t.dispose, vec![failed.metadata.id]);
    }
}
