//! Per-job configuration keys in the spelling the target cluster understands.
//!
//! Why: Flink 1.20 renamed the checkpoint, savepoint and recovery options ahead of 2.0
//! (`state.savepoints.dir` became `execution.checkpointing.savepoint-dir`, ...). 1.18 and 1.19 know
//! only the old names; 1.20 and 2.x know both, and when a key and its deprecated name are both set,
//! the new name wins. So a deployment written for one line silently loses its directories on the
//! other (1.19 ignores `execution.checkpointing.dir`), and on 1.20/2.x a cluster-wide new-style key
//! would shadow a job's old-style one. Users may write either spelling; [`translate_configuration`]
//! rewrites each key of [`KEY_RENAMES`] to the target's preferred name at submission time.
//!
//! Values are passed through unchanged: they mean the same on both lines (except the 1.x-only
//! restore mode `LEGACY`, which a 2.x cluster refuses with its own message).

use std::collections::BTreeMap;

use crate::version::FlinkVersion;

/// One renamed option: its Flink 2.x name, its Flink 1.x name, and the first release that reads the
/// 2.x name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRename {
    /// The name in Flink 2.x (and 1.20).
    pub v2: &'static str,
    /// The name in Flink 1.18–1.19 (deprecated since 1.20, still read by 2.x).
    pub v1: &'static str,
    /// The first (major, minor) release that reads `v2`.
    pub v2_since: (u32, u32),
}

/// Every renamed option the client translates, the one table of the README. Options not listed have
/// the same name on both lines (e.g. `execution.checkpointing.interval`,
/// `execution.checkpointing.externalized-checkpoint-retention`, `execution.checkpointing.mode`).
pub const KEY_RENAMES: &[KeyRename] = &[
    KeyRename {
        v2: "execution.checkpointing.savepoint-dir",
        v1: "state.savepoints.dir",
        v2_since: (1, 20),
    },
    KeyRename {
        v2: "execution.checkpointing.dir",
        v1: "state.checkpoints.dir",
        v2_since: (1, 20),
    },
    KeyRename {
        v2: "execution.checkpointing.num-retained",
        v1: "state.checkpoints.num-retained",
        v2_since: (1, 20),
    },
    KeyRename {
        v2: "execution.checkpointing.storage",
        v1: "state.checkpoint-storage",
        v2_since: (1, 20),
    },
    KeyRename {
        v2: "execution.checkpointing.create-subdir",
        v1: "state.checkpoints.create-subdir",
        v2_since: (1, 20),
    },
    KeyRename {
        v2: "execution.checkpointing.incremental",
        v1: "state.backend.incremental",
        v2_since: (1, 20),
    },
    KeyRename {
        v2: "execution.state-recovery.path",
        v1: "execution.savepoint.path",
        v2_since: (1, 20),
    },
    KeyRename {
        v2: "execution.state-recovery.claim-mode",
        v1: "execution.savepoint-restore-mode",
        v2_since: (1, 20),
    },
    KeyRename {
        v2: "execution.state-recovery.ignore-unclaimed-state",
        v1: "execution.savepoint.ignore-unclaimed-state",
        v2_since: (1, 20),
    },
];

/// The rename entry a key belongs to, under either name.
fn rename_of(key: &str) -> Option<&'static KeyRename> {
    KEY_RENAMES.iter().find(|r| r.v2 == key || r.v1 == key)
}

/// `conf` with every key of [`KEY_RENAMES`] in the spelling `target` prefers: the 2.x name where the
/// target reads it (1.20 and later), the 1.x name otherwise. When both spellings of one option are
/// given, the 2.x spelling's value is kept, as Flink 1.20+ itself would. Other keys are untouched.
pub fn translate_configuration(
    conf: &BTreeMap<String, String>,
    target: &FlinkVersion,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // First the keys not written in 2.x spelling, then those that are, so the 2.x value wins.
    let (v2_spelled, others): (Vec<_>, Vec<_>) = conf
        .iter()
        .partition(|(k, _)| rename_of(k).is_some_and(|r| r.v2 == k.as_str()));
    for (key, value) in others.into_iter().chain(v2_spelled) {
        let key = match rename_of(key) {
            Some(r) if target.at_least(r.v2_since.0, r.v2_since.1) => r.v2,
            Some(r) => r.v1,
            None => key.as_str(),
        };
        out.insert(key.to_owned(), value.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn v(s: &str) -> FlinkVersion {
        FlinkVersion::parse(s).unwrap()
    }

    #[test]
    fn table_is_consistent() {
        for (i, r) in KEY_RENAMES.iter().enumerate() {
            assert_ne!(r.v1, r.v2);
            for other in &KEY_RENAMES[i + 1..] {
                for name in [other.v1, other.v2] {
                    assert!(name != r.v1 && name != r.v2, "{name} appears twice");
                }
            }
        }
    }

    #[test]
    fn each_rename_goes_both_ways() {
        for r in KEY_RENAMES {
            for written in [r.v1, r.v2] {
                let c = conf(&[(written, "x"), ("execution.checkpointing.interval", "1s")]);
                assert_eq!(
                    translate_configuration(&c, &v("1.19.3")),
                    conf(&[(r.v1, "x"), ("execution.checkpointing.interval", "1s")]),
                    "{written} for 1.19"
                );
                for target in ["1.20.5", "2.3.0"] {
                    assert_eq!(
                        translate_configuration(&c, &v(target)),
                        conf(&[(r.v2, "x"), ("execution.checkpointing.interval", "1s")]),
                        "{written} for {target}"
                    );
                }
            }
        }
    }

    #[test]
    fn what_the_controller_writes_reaches_a_1_18_cluster_in_1_x_spelling() {
        let written = conf(&[
            ("execution.checkpointing.dir", "file:///ck"),
            ("execution.checkpointing.savepoint-dir", "file:///sp"),
            (
                "execution.checkpointing.externalized-checkpoint-retention",
                "RETAIN_ON_CANCELLATION",
            ),
            ("execution.checkpointing.interval", "1s"),
            ("restart-strategy.type", "none"),
        ]);
        assert_eq!(
            translate_configuration(&written, &v("1.18.1")),
            conf(&[
                ("state.checkpoints.dir", "file:///ck"),
                ("state.savepoints.dir", "file:///sp"),
                (
                    "execution.checkpointing.externalized-checkpoint-retention",
                    "RETAIN_ON_CANCELLATION"
                ),
                ("execution.checkpointing.interval", "1s"),
                ("restart-strategy.type", "none"),
            ])
        );
        assert_eq!(translate_configuration(&written, &v("2.3.0")), written);
        assert_eq!(translate_configuration(&written, &v("1.20.5")), written);
    }

    #[test]
    fn the_2_x_spelling_wins_when_both_are_given() {
        let both = conf(&[
            ("state.savepoints.dir", "file:///old"),
            ("execution.checkpointing.savepoint-dir", "file:///new"),
        ]);
        for target in ["1.19.3", "1.20.5", "2.3.0"] {
            let out = translate_configuration(&both, &v(target));
            assert_eq!(out.len(), 1, "{target}: {out:?}");
            assert_eq!(out.values().next().unwrap(), "file:///new", "{target}");
        }
        assert!(translate_configuration(&BTreeMap::new(), &v("2.3.0")).is_empty());
    }
}
