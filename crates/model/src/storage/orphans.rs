//! Orphans: snapshot directories under stateplane's own prefixes that no resource references.
//!
//! Data lands there and stays unreferenced when a deployment is deleted with `keepSnapshotData=true`,
//! when someone copies a snapshot there by hand, or after a crash between Flink writing and stateplane
//! recording. The report lists such directories; disposal deletes one only on request. Both decide
//! with [`place`] (is the location one stateplane laid out, and which of its directories go with it)
//! and [`References::protects`] (does anything still use it), so what is listed is exactly what may be
//! disposed of, and disposal decides again with fresh references right before deleting.
//!
//! Where stateplane looks:
//! - the namespace's derived prefixes (`<blob>/flink-savepoints/namespaces/<ns>/…`,
//!   `<blob>/flink-checkpoints/namespaces/<ns>/…`): everything there is stateplane's ([`super::layout`]);
//! - the savepoint directory an existing deployment of the namespace configures, but there only the
//!   layout stateplane derives inside it: `<dir>/<savepoint id>/<savepoint-…>`, a target directory
//!   named after a savepoint resource. Anything else in a configured directory is the user's.
//!
//! Something is in use (never an orphan) when a savepoint resource of any namespace points to it, into
//! it or to a directory above it; when it lies in the target directory of an existing savepoint
//! resource (a savepoint being taken has its target directory as location until Flink answers); or when
//! it lies in the checkpoint directory of a job that has not ended (Flink writes there; the retained
//! checkpoint is recorded before the job's end is).

use std::collections::HashSet;

use super::layout::{self, Tree};
use crate::{normalize_location, SavepointId};

string_enum! {
    /// Which kind of directory an orphan lies in.
    pub enum OrphanKind {
        /// Under a savepoint prefix (derived, or a configured directory's target directories).
        Savepoint => "SAVEPOINT",
        /// Under a derived checkpoint prefix.
        Checkpoint => "CHECKPOINT",
    }
}

/// Where a candidate lies in stateplane's layout, and what goes with it when it is disposed of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub kind: OrphanKind,
    /// The deployment whose directory holds it (a deployment id; it may no longer exist).
    pub deployment: String,
    /// The per-savepoint target directory it lies in, removed with it when left empty.
    pub target_dir: Option<String>,
    /// The job checkpoint directory it lies in (`<deployment>/<flink job id>`), removed with it when
    /// no other `chk-*` directory is left there (its `shared/` state is only theirs).
    pub job_dir: Option<String>,
}

fn is_flink_job_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A savepoint directory one existing deployment of the namespace configures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredDir {
    pub dir: String,
    pub deployment: String,
}

/// Where `location` lies among the directories stateplane laid out for namespace `ns`; `None` when it
/// is outside them (another namespace's prefix, the user's own data, the namespace or deployment
/// directory itself): such a location is never listed nor disposed of.
pub fn place(
    location: &str,
    ns: &str,
    blob_base: Option<&str>,
    configured: &[ConfiguredDir],
) -> Option<Place> {
    let key = normalize_location(location);
    if let Some(d) = blob_base.and_then(|b| layout::derived(&key, b)) {
        if d.namespace != ns {
            return None;
        }
        // Only inside a deployment's directory: the namespace and deployment directories themselves
        // hold other snapshots.
        let deployment = d.deployment.clone()?;
        if d.rest.is_empty() {
            return None;
        }
        let parent = key.rsplit_once('/').map(|(p, _)| p.to_string());
        return Some(match (d.tree, d.rest.as_slice()) {
            (Tree::Savepoints, [target, _]) if target.parse::<SavepointId>().is_ok() => Place {
                kind: OrphanKind::Savepoint,
                deployment,
                target_dir: parent,
                job_dir: None,
            },
            (Tree::Checkpoints, [job, chk]) if is_flink_job_id(job) && chk.starts_with("chk-") => {
                Place {
                    kind: OrphanKind::Checkpoint,
                    deployment,
                    target_dir: None,
                    job_dir: parent,
                }
            }
            (tree, _) => Place {
                kind: match tree {
                    Tree::Savepoints => OrphanKind::Savepoint,
                    Tree::Checkpoints => OrphanKind::Checkpoint,
                },
                deployment,
                target_dir: None,
                job_dir: None,
            },
        });
    }
    configured.iter().find_map(|c| {
        let base = normalize_location(&c.dir);
        let rest = key.strip_prefix(&format!("{}/", base.trim_end_matches('/')))?;
        let [target, snapshot] = rest.split('/').collect::<Vec<_>>()[..] else {
            return None;
        };
        (target.parse::<SavepointId>().is_ok() && !snapshot.is_empty()).then(|| Place {
            kind: OrphanKind::Savepoint,
            deployment: c.deployment.clone(),
            target_dir: key.rsplit_once('/').map(|(p, _)| p.to_string()),
            job_dir: None,
        })
    })
}

/// Everything that keeps data in use, read from the store after storage was listed (so whatever was
/// recorded while listing counts).
#[derive(Debug, Clone, Default)]
pub struct References {
    /// Normalised locations of every savepoint resource (any namespace, any state) and of the snapshot
    /// each job that has not ended restored from.
    pub locations: Vec<String>,
    /// Ids of every savepoint resource (target directories are named after them).
    pub savepoint_ids: HashSet<String>,
    /// Flink job ids (32 hex digits) of jobs that have not ended.
    pub active_flink_jobs: HashSet<String>,
}

impl References {
    /// Why the data at `location` is in use; `None` when nothing uses it.
    pub fn protects(&self, location: &str) -> Option<String> {
        let key = normalize_location(location);
        if let Some(r) = self
            .locations
            .iter()
            .find(|r| layout::is_under(r, &key) || layout::is_under(&key, r))
        {
            return Some(format!(
                "a savepoint resource or a running job points to {r}"
            ));
        }
        for segment in key.split('/') {
            if self.savepoint_ids.contains(segment) {
                return Some(format!(
                    "it lies in the target directory of savepoint {segment}"
                ));
            }
            if self.active_flink_jobs.contains(segment) {
                return Some(format!(
                    "it lies in the checkpoint directory of Flink job {segment}, which has not ended"
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "s3://bucket/base";
    const JOB: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn places() {
        let sp = SavepointId::new();
        let sp_dir = "s3://bucket/base/flink-savepoints/namespaces/team/deployments/D";
        let ck_dir = "s3://bucket/base/flink-checkpoints/namespaces/team/deployments/D";
        let conf = [ConfiguredDir {
            dir: "file:///mine/sp/".into(),
            deployment: "E".into(),
        }];
        let p = |l: &str| place(l, "team", Some(B), &conf);
        let got = p(&format!("{sp_dir}/{sp}/savepoint-1-2")).unwrap();
        assert_eq!(got.kind, OrphanKind::Savepoint);
        assert_eq!(got.deployment, "D");
        assert_eq!(got.target_dir, Some(format!("{sp_dir}/{sp}")));
        let got = p(&format!("{ck_dir}/{JOB}/chk-7/")).unwrap();
        assert_eq!(
            (got.kind, got.job_dir),
            (OrphanKind::Checkpoint, Some(format!("{ck_dir}/{JOB}")))
        );
        let odd = p(&format!("{sp_dir}/by-hand")).unwrap();
        assert_eq!((odd.target_dir, odd.job_dir), (None, None));
        let got = p(&format!("file:/mine/sp/{sp}/savepoint-1")).unwrap();
        assert_eq!(got.deployment, "E");
        assert_eq!(got.target_dir, Some(format!("file:///mine/sp/{sp}")));
        for outside in [
            // another namespace, the namespace and deployment directories, the user's data
            "s3://bucket/base/flink-savepoints/namespaces/other/deployments/D/x/y".to_string(),
            "s3://bucket/base/flink-savepoints/namespaces/team".to_string(),
            "s3://bucket/base/flink-savepoints/namespaces/team/deployments/D".to_string(),
            "s3://bucket/base/flink-savepoints/namespaces/team/stray".to_string(),
            "s3://bucket/elsewhere/savepoint-1".to_string(),
            "file:///mine/sp/savepoint-1".to_string(),
            "file:///mine/sp/not-an-id/savepoint-1".to_string(),
            format!("file:///mine/sp/{sp}/savepoint-1/deeper"),
        ] {
            assert_eq!(p(&outside), None, "{outside}");
        }
        assert_eq!(
            place(&format!("{sp_dir}/{sp}/savepoint-1"), "team", None, &[]),
            None,
            "without blob storage there is no derived prefix"
        );
    }

    #[test]
    fn what_protects_data() {
        let sp = SavepointId::new().to_string();
        let refs = References {
            locations: vec![normalize_location("file:/blob/d/a/savepoint-1")],
            savepoint_ids: [sp.clone()].into(),
            active_flink_jobs: [JOB.to_string()].into(),
        };
        for (location, why) in [
            ("file:///blob/d/a/savepoint-1/", Some("points to")),
            ("file:///blob/d/a", Some("points to")),
            ("file:///blob/d/a/savepoint-1/_metadata", Some("points to")),
            (
                &format!("file:///blob/d/{sp}/savepoint-2")[..],
                Some("target directory"),
            ),
            (
                &format!("file:///blob/c/{JOB}/chk-3")[..],
                Some("has not ended"),
            ),
            ("file:///blob/d/a/savepoint-10", None),
            ("file:///blob/d/b/savepoint-1", None),
        ] {
            let got = refs.protects(location);
            match why {
                Some(w) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(w)),
                    "{location}: {got:?}"
                ),
                None => assert_eq!(got, None, "{location}"),
            }
        }
    }
}
