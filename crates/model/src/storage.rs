//! Whose data a savepoint resource points to, and what deleting the resource does to it.
//!
//! Ownership belongs to the physical location, not to the resource that points at it. stateplane
//! disposes of a snapshot's data only when (a) stateplane wrote it — a savepoint it triggered
//! (USER_REQUEST, SUSPEND, SUSPEND_AND_UPGRADE, and every copy of one, which carries
//! [`DATA_WRITTEN_BY_ANNOTATION`]), or anything under the directories it derives from blob storage
//! ([`layout`]: its savepoint target directories, the checkpoint directories it hands Flink) — and (b)
//! no other savepoint resource, of any origin and in any namespace, points to the same (normalised)
//! location. So an original and its copies are disposed of with the last of them, whichever order
//! they are deleted in, and a deleted deployment leaves nothing behind unless asked to. Everything
//! else — a registered snapshot stateplane did not write, a checkpoint in a directory the user
//! configured, a location still referenced — keeps its data; only the resource goes. The API (to
//! answer DELETE) and the controller (to dispose) decide with the same function, [`disposal`], and the
//! controller decides again right before deleting, so a reference added in between still protects the
//! data.

pub mod layout;
pub mod orphans;
pub mod prefixes;
pub mod teardown;

use crate::{normalize_location, Savepoint, SavepointId, SavepointOrigin};
use layout::Tree;

/// The checkpoint id read from a registered snapshot's `_metadata` header.
pub const CHECKPOINT_ID_ANNOTATION: &str = "stateplane.io/checkpoint-id";
/// `"true"` on USER_REQUEST savepoints stateplane took on the deployment's periodic schedule.
pub const PERIODIC_ANNOTATION: &str = "stateplane.io/periodic";
/// On a COPIED savepoint made by the copy endpoint: the savepoint it was copied from.
pub const COPIED_FROM_ANNOTATION: &str = "stateplane.io/copied-from";
/// `"stateplane"` on a copy of a snapshot stateplane wrote outside its derived directories (a
/// savepoint it triggered into a directory the deployment configured): the data is stateplane's to
/// dispose of with the last resource pointing to it, whichever resource that is. Only the server
/// sets it.
pub const DATA_WRITTEN_BY_ANNOTATION: &str = "stateplane.io/data-written-by";
/// The value of [`DATA_WRITTEN_BY_ANNOTATION`].
pub const WRITTEN_BY_STATEPLANE: &str = "stateplane";

/// What deleting a savepoint resource does to the data at its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposal {
    /// Forget the resource; the data stays where it is, for the reason given.
    KeepData { reason: String },
    /// Delete the snapshot directory at `location` (refused by the storage layer unless it holds
    /// `_metadata`), then remove `empty_parent` if nothing else is left in it (the per-savepoint target
    /// directory stateplane created), and `job_checkpoint_dir` if it holds no other `chk-*` directory
    /// (the shared and task-owned state of the job the retained checkpoint came from).
    DeleteSnapshot {
        location: String,
        empty_parent: Option<String>,
        job_checkpoint_dir: Option<String>,
    },
    /// A savepoint stateplane asked for that never completed: its location is still the target
    /// directory named after it. Remove that directory if it is empty; never anything in it.
    RemoveEmptyTarget { location: String },
}

impl Disposal {
    /// Whether deleting the resource touches storage at all.
    pub fn touches_data(&self) -> bool {
        !matches!(self, Self::KeepData { .. })
    }

    /// In words, for answers and events: what deleting the resource does to its data.
    pub fn describe(&self) -> String {
        match self {
            Self::KeepData { reason } => format!("its data is kept ({reason})"),
            Self::DeleteSnapshot { location, .. } => {
                format!("its data at {location} is disposed of")
            }
            Self::RemoveEmptyTarget { location } => {
                format!("it never completed; its target directory {location} is removed if empty")
            }
        }
    }
}

fn last_segment(loc: &str) -> &str {
    loc.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

fn parent_of(loc: &str) -> Option<&str> {
    loc.trim_end_matches('/').rsplit_once('/').map(|(p, _)| p)
}

fn is_flink_job_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `sp`'s data is something stateplane wrote by how it came about (its origin, or the mark a
/// copy of such data carries). Data under the derived directories is stateplane's by its location
/// alone ([`disposal`]); this is what a copy must carry to stay stateplane's elsewhere.
pub fn written_by_us(sp: &Savepoint) -> bool {
    sp.metadata.origin.is_triggered_by_us()
        || sp
            .metadata
            .annotations
            .get(DATA_WRITTEN_BY_ANNOTATION)
            .map(String::as_str)
            == Some(WRITTEN_BY_STATEPLANE)
}

/// Decides what deleting `sp` does to its data.
///
/// - `blob_base`: the server's Universal Blob Storage URI, if configured (its derived directories are
///   stateplane's).
/// - `references`: how many savepoint resources (this one included) point to the same normalised
///   location, in any namespace.
pub fn disposal(sp: &Savepoint, blob_base: Option<&str>, references: u64) -> Disposal {
    let keep = |reason: String| Disposal::KeepData { reason };
    let Some(location) = sp
        .spec
        .savepoint_location
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    else {
        return keep("the savepoint has no location".into());
    };
    if references > 1 {
        let others = references - 1;
        return keep(if others == 1 {
            "another savepoint resource points to the same location".into()
        } else {
            format!("{others} other savepoint resources point to the same location")
        });
    }
    let id = sp.metadata.id.to_string();
    let delete = |empty_parent: Option<String>, job_checkpoint_dir: Option<String>| {
        Disposal::DeleteSnapshot {
            location: location.to_string(),
            empty_parent,
            job_checkpoint_dir,
        }
    };
    if sp.metadata.origin.is_triggered_by_us() {
        if last_segment(location) == id {
            return Disposal::RemoveEmptyTarget {
                location: location.to_string(),
            };
        }
        let empty_parent = parent_of(location)
            .filter(|p| last_segment(p) == id)
            .map(str::to_string);
        return delete(empty_parent, None);
    }
    if let Some(derived) = blob_base.and_then(|b| layout::derived(location, b)) {
        return match (derived.tree, derived.rest.as_slice()) {
            // `<derived>/<deployment>/<savepoint id>/savepoint-…`: the target directory goes too.
            (Tree::Savepoints, [target, _]) if target.parse::<SavepointId>().is_ok() => {
                delete(parent_of(location).map(str::to_string), None)
            }
            // `<derived>/<deployment>/<flink job id>/chk-N`: the job's directory also holds
            // `shared/` and `taskowned/`, which only its checkpoints use.
            (Tree::Checkpoints, [job, chk]) if is_flink_job_id(job) && chk.starts_with("chk-") => {
                delete(None, parent_of(location).map(str::to_string))
            }
            _ => delete(None, None),
        };
    }
    if written_by_us(sp) {
        // A copy of a savepoint stateplane triggered: its target directory is named after the
        // original savepoint resource.
        let empty_parent = parent_of(location)
            .filter(|p| last_segment(p).parse::<SavepointId>().is_ok())
            .map(str::to_string);
        return delete(empty_parent, None);
    }
    match sp.metadata.origin {
        SavepointOrigin::RetainedCheckpoint => keep(match blob_base {
            Some(b) => format!(
                "a retained checkpoint outside the checkpoint directories stateplane derives ({}/…): \
                 it belongs to the job's own configuration",
                normalize_location(&layout::namespace_prefix(b, Tree::Checkpoints, &sp.metadata.namespace))
            ),
            None => "a retained checkpoint outside a checkpoint directory stateplane derived from blob \
                     storage: it belongs to the job's own configuration"
                .into(),
        }),
        SavepointOrigin::Copied => keep(
            "a registered (COPIED) snapshot stateplane did not write: it never deletes its data".into(),
        ),
        other => keep(format!("origin {other} is not stateplane's to delete")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Deployment, DeploymentSpec, SavepointState};

    fn deployment() -> Deployment {
        let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}
        }))
        .unwrap();
        Deployment::new("team", "d", spec)
    }

    fn sp(d: &Deployment, origin: SavepointOrigin, loc: Option<&str>) -> Savepoint {
        Savepoint::new(
            "team",
            d.metadata.id,
            origin,
            SavepointState::Completed,
            loc.map(str::to_string),
        )
    }

    #[test]
    fn table() {
        use SavepointOrigin::*;
        let d = deployment();
        let blob = Some("file:///blob");
        let ck = format!(
            "file:///blob/flink-checkpoints/namespaces/team/deployments/{}",
            d.metadata.id
        );
        let job = "0123456789abcdef0123456789abcdef";
        let sp_dir = format!(
            "file:///blob/flink-savepoints/namespaces/team/deployments/{}",
            d.metadata.id
        );
        let target = SavepointId::new();
        // (name, origin, location (SP = this savepoint's id), deployment known, blob, references, want)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            SavepointOrigin,
            Option<String>,
            bool,
            Option<&str>,
            u64,
            &str,
        )> = vec![
            (
                "triggered, unshared",
                UserRequest,
                Some("file:///sp/SP/savepoint-ab-cd".into()),
                true,
                None,
                1,
                "delete+parent",
            ),
            (
                "suspend in a configured dir",
                Suspend,
                Some("s3://b/sp/savepoint-ab-cd".into()),
                true,
                None,
                1,
                "delete",
            ),
            (
                "upgrade",
                SuspendAndUpgrade,
                Some("file:///sp/SP/savepoint-ab-cd".into()),
                true,
                None,
                1,
                "delete+parent",
            ),
            (
                "triggered, shared",
                UserRequest,
                Some("file:///sp/SP/savepoint-ab-cd".into()),
                true,
                None,
                2,
                "keep:another",
            ),
            (
                "shared thrice",
                Suspend,
                Some("file:///sp/x".into()),
                true,
                None,
                3,
                "keep:2 other",
            ),
            (
                "never completed",
                UserRequest,
                Some("file:///sp/SP".into()),
                true,
                None,
                1,
                "target",
            ),
            (
                "copied",
                Copied,
                Some("file:///sp/x".into()),
                true,
                blob,
                1,
                "keep:COPIED",
            ),
            (
                "no location",
                UserRequest,
                None,
                true,
                None,
                1,
                "keep:no location",
            ),
            (
                "retained, derived dir",
                RetainedCheckpoint,
                Some(format!("{ck}/{job}/chk-4")),
                true,
                blob,
                1,
                "delete+job",
            ),
            (
                "retained, derived dir, other spelling",
                RetainedCheckpoint,
                Some(format!("{}/{job}/chk-4/", ck.replace("file:///", "file:/"))),
                true,
                blob,
                1,
                "delete+job",
            ),
            (
                "retained, odd layout under derived dir",
                RetainedCheckpoint,
                Some(format!("{ck}/x/y/chk-4")),
                true,
                blob,
                1,
                "delete",
            ),
            (
                "retained, configured dir",
                RetainedCheckpoint,
                Some(format!("file:///mine/{job}/chk-4")),
                true,
                blob,
                1,
                "keep:outside",
            ),
            (
                "retained, no blob storage",
                RetainedCheckpoint,
                Some(format!("{ck}/{job}/chk-4")),
                true,
                None,
                1,
                "keep:outside",
            ),
            (
                "retained, deployment gone: the location decides",
                RetainedCheckpoint,
                Some(format!("{ck}/{job}/chk-4")),
                false,
                blob,
                1,
                "delete+job",
            ),
            (
                "a copy of a retained checkpoint in a derived dir",
                Copied,
                Some(format!("{ck}/{job}/chk-4")),
                true,
                blob,
                1,
                "delete+job",
            ),
            (
                "a copy of a retained checkpoint, still shared",
                Copied,
                Some(format!("{ck}/{job}/chk-4")),
                true,
                blob,
                2,
                "keep:another",
            ),
            (
                "a registration under a derived savepoint dir",
                Copied,
                Some(format!("{sp_dir}/{target}/savepoint-ab-cd")),
                true,
                blob,
                1,
                "delete+target",
            ),
            (
                "a copy of a triggered savepoint in a configured dir",
                Copied,
                Some(format!("file:///mine/{target}/savepoint-ab-cd")),
                true,
                None,
                1,
                "written:delete+target",
            ),
            (
                "a copy of a triggered savepoint, still shared",
                Copied,
                Some(format!("file:///mine/{target}/savepoint-ab-cd")),
                true,
                None,
                2,
                "written:keep:another",
            ),
            (
                "a registration in a configured dir, blob storage elsewhere",
                Copied,
                Some(format!("file:///mine/{target}/savepoint-ab-cd")),
                true,
                blob,
                1,
                "keep:COPIED",
            ),
            (
                "retained, another deployment's derived dir: still stateplane's",
                RetainedCheckpoint,
                Some(format!("{ck}x/{job}/chk-4")),
                true,
                blob,
                1,
                "delete+job",
            ),
        ];
        for (name, origin, loc, _known, blob, refs, want) in cases {
            let mut s = sp(&d, origin, None);
            s.spec.savepoint_location = loc.map(|l| l.replace("SP", &s.metadata.id.to_string()));
            let want = match want.strip_prefix("written:") {
                Some(w) => {
                    s.metadata.annotations.insert(
                        DATA_WRITTEN_BY_ANNOTATION.into(),
                        WRITTEN_BY_STATEPLANE.into(),
                    );
                    w
                }
                None => want,
            };
            let got = disposal(&s, blob, refs);
            let ok = match (&got, want) {
                (Disposal::KeepData { reason }, w) if w.starts_with("keep:") => {
                    reason.contains(&w["keep:".len()..])
                }
                (
                    Disposal::DeleteSnapshot {
                        location,
                        empty_parent,
                        job_checkpoint_dir,
                    },
                    w,
                ) => {
                    location == s.spec.savepoint_location.as_ref().unwrap()
                        && match w {
                            "delete" => empty_parent.is_none() && job_checkpoint_dir.is_none(),
                            "delete+parent" => {
                                empty_parent.as_deref()
                                    == Some(&*format!("file:///sp/{}", s.metadata.id))
                                    && job_checkpoint_dir.is_none()
                            }
                            "delete+target" => {
                                empty_parent
                                    .as_deref()
                                    .is_some_and(|p| p.ends_with(&target.to_string()))
                                    && job_checkpoint_dir.is_none()
                            }
                            "delete+job" => {
                                job_checkpoint_dir
                                    .as_deref()
                                    .is_some_and(|j| j.trim_end_matches('/').ends_with(job))
                                    && empty_parent.is_none()
                            }
                            _ => false,
                        }
                }
                (Disposal::RemoveEmptyTarget { location }, "target") => {
                    location.ends_with(&s.metadata.id.to_string())
                }
                _ => false,
            };
            assert!(ok, "{name}: {got:?}, wanted {want}");
            assert_eq!(got.touches_data(), !want.starts_with("keep:"), "{name}");
        }
    }
}
