//! stateplane's own layout on Universal Blob Storage, read back from a location: whether a location
//! lies under the directories stateplane derives (`<blob>/flink-savepoints/namespaces/<ns>/…`,
//! `<blob>/flink-checkpoints/namespaces/<ns>/…`), and whose they are.
//!
//! Three rules rest on this one reading, so they always agree: data under a derived prefix is
//! stateplane's to dispose of once nothing points to it ([`super::disposal`]), a namespace may not
//! register or copy a snapshot under another namespace's prefix (the fence), and the orphan report
//! lists what lies there unreferenced. Locations are compared in their normalised form
//! ([`crate::normalize_location`]), so `file:/x` and `file:///x/` are the same place.

use crate::normalize_location;

/// The two trees stateplane derives under blob storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// `<blob>/flink-savepoints/…`: one directory per savepoint stateplane took.
    Savepoints,
    /// `<blob>/flink-checkpoints/…`: Flink's checkpoint directory per deployment.
    Checkpoints,
}

impl Tree {
    pub const ALL: [Tree; 2] = [Tree::Savepoints, Tree::Checkpoints];

    /// The tree's directory name under the blob storage base.
    pub fn dir(self) -> &'static str {
        match self {
            Tree::Savepoints => "flink-savepoints",
            Tree::Checkpoints => "flink-checkpoints",
        }
    }
}

/// Where a location lies in the derived layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub tree: Tree,
    /// The namespace whose prefix holds it.
    pub namespace: String,
    /// The deployment directory's name (a deployment id), when the location is inside one.
    pub deployment: Option<String>,
    /// The path segments below the deployment directory.
    pub rest: Vec<String>,
}

fn base(blob_base: &str) -> String {
    normalize_location(blob_base)
        .trim_end_matches('/')
        .to_string()
}

/// A namespace's derived prefix in one tree: `<blob>/<tree>/namespaces/<ns>`.
pub fn namespace_prefix(blob_base: &str, tree: Tree, namespace: &str) -> String {
    format!("{}/{}/namespaces/{namespace}", base(blob_base), tree.dir())
}

/// Where `location` lies in stateplane's derived layout under `blob_base`; None when outside it.
pub fn derived(location: &str, blob_base: &str) -> Option<Derived> {
    let key = normalize_location(location);
    let root = base(blob_base);
    for tree in Tree::ALL {
        let prefix = format!("{root}/{}/namespaces/", tree.dir());
        let Some(rest) = key.strip_prefix(&prefix) else {
            continue;
        };
        let mut parts = rest.split('/').filter(|s| !s.is_empty());
        let namespace = parts.next()?.to_string();
        let (deployment, rest) = match parts.next() {
            Some("deployments") => (parts.next().map(str::to_string), parts),
            Some(other) => {
                let mut v = vec![other.to_string()];
                v.extend(parts.map(str::to_string));
                return Some(Derived {
                    tree,
                    namespace,
                    deployment: None,
                    rest: v,
                });
            }
            None => (None, parts),
        };
        return Some(Derived {
            tree,
            namespace,
            deployment,
            rest: rest.map(str::to_string).collect(),
        });
    }
    None
}

/// Whether `location` is `prefix` or lies below it (both normalised; a sibling sharing the first
/// characters, `…/team-b` for `…/team`, is not below).
pub fn is_under(location: &str, prefix: &str) -> bool {
    let key = normalize_location(location);
    let prefix = normalize_location(prefix);
    let prefix = prefix.trim_end_matches('/');
    key == prefix || key.starts_with(&format!("{prefix}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_layout_back() {
        let b = "s3://bucket/base/";
        let d = derived(
            "s3://bucket/base/flink-checkpoints/namespaces/team/deployments/D/J/chk-4/",
            b,
        )
        .unwrap();
        assert_eq!(d.tree, Tree::Checkpoints);
        assert_eq!(d.namespace, "team");
        assert_eq!(d.deployment.as_deref(), Some("D"));
        assert_eq!(d.rest, ["J", "chk-4"]);
        let d = derived(
            "file:/blob/flink-savepoints/namespaces/b/deployments/D/S/savepoint-1",
            "file:///blob",
        )
        .unwrap();
        assert_eq!((d.tree, d.namespace.as_str()), (Tree::Savepoints, "b"));
        assert_eq!(d.rest, ["S", "savepoint-1"]);
        for outside in [
            "s3://bucket/base/other/namespaces/team/x",
            "s3://bucket/basement/flink-savepoints/namespaces/team/x",
            "s3://other/base/flink-savepoints/namespaces/team/x",
            "file:///blob/flink-savepoints/namespaces/team",
        ] {
            let got = derived(outside, b);
            assert!(got.is_none(), "{outside}: {got:?}");
        }
        // the namespace directory itself, and a stray directory in it
        assert_eq!(
            derived("s3://bucket/base/flink-savepoints/namespaces/team", b)
                .unwrap()
                .deployment,
            None
        );
        assert_eq!(
            derived("s3://bucket/base/flink-savepoints/namespaces/team/x/y", b)
                .unwrap()
                .rest,
            ["x", "y"]
        );
    }

    #[test]
    fn under_means_below_a_whole_segment() {
        let p = namespace_prefix("file:///blob/", Tree::Savepoints, "team");
        assert_eq!(p, "file:///blob/flink-savepoints/namespaces/team");
        assert!(is_under(
            "file:/blob/flink-savepoints/namespaces/team/d/x",
            &p
        ));
        assert!(is_under(&p, &p));
        assert!(!is_under(
            "file:///blob/flink-savepoints/namespaces/team-b/x",
            &p
        ));
    }
}
