//! Restore selection: which snapshot the next start of a deployment restores from, and why.
//!
//! The rules (Ververica Platform's, made explicit):
//! - LATEST_STATE: the newest qualifying snapshot of any origin, RETAINED_CHECKPOINT included.
//! - LATEST_SAVEPOINT: the same, but never a RETAINED_CHECKPOINT.
//! - NONE: start without state.
//! - Only this deployment's savepoints, in state COMPLETED, with a location, carrying the spec-version
//!   annotation qualify; while an upgrade's rollback holds, not those of the rolled-back spec version
//!   (`crate::plan::rollback`).
//! - "Newest" is `metadata.createdAt`. On equal times a savepoint beats a retained checkpoint
//!   (savepoints are self-contained), then the larger id wins so the answer never depends on order.
//!
//! The decision carries the reason for the choice and for every skipped savepoint; the restore-preview
//! endpoint, the CLI and the UI show exactly this.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    Deployment, RestoreStrategyKind, Savepoint, SavepointId, SavepointOrigin, SavepointState,
};

/// Why a savepoint was not chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub savepoint_id: SavepointId,
    pub reason: String,
}

/// The outcome of restore selection.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreDecision {
    pub strategy: RestoreStrategyKind,
    /// The savepoint the next start restores from; none means it starts without state.
    pub savepoint_id: Option<SavepointId>,
    pub savepoint_location: Option<String>,
    /// Why this one (or why none).
    pub reason: String,
    /// The savepoints that did not qualify or lost to a newer one, each with the reason.
    pub skipped: Vec<Skipped>,
    /// `requireState` is set and nothing qualifies: the start must be refused rather than run empty.
    pub start_refused: bool,
}

/// Why a savepoint cannot be used at all (independent of the others), if it cannot.
fn disqualification(
    strategy: RestoreStrategyKind,
    d: &Deployment,
    sp: &Savepoint,
) -> Option<String> {
    if sp.metadata.deployment_id != d.metadata.id {
        return Some("belongs to another deployment".into());
    }
    if sp.status.state != SavepointState::Completed {
        return Some(format!(
            "state is {}, only COMPLETED savepoints are restored",
            sp.status.state
        ));
    }
    if sp
        .spec
        .savepoint_location
        .as_deref()
        .is_none_or(|l| l.trim().is_empty())
    {
        return Some("has no location".into());
    }
    if sp.spec_version().is_none() {
        return Some(format!("no {} annotation", crate::SPEC_VERSION_ANNOTATION));
    }
    if let Some(why) = crate::plan::rollback::disqualifies(d, sp) {
        return Some(why);
    }
    if strategy == RestoreStrategyKind::LatestSavepoint
        && sp.metadata.origin == SavepointOrigin::RetainedCheckpoint
    {
        return Some("a retained checkpoint; LATEST_SAVEPOINT restores only savepoints".into());
    }
    None
}

/// Orders candidates: newer first; on equal time a savepoint before a retained checkpoint; then id.
fn newer_first(a: &Savepoint, b: &Savepoint) -> std::cmp::Ordering {
    let rank = |s: &Savepoint| u8::from(s.metadata.origin != SavepointOrigin::RetainedCheckpoint);
    b.metadata
        .created_at
        .cmp(&a.metadata.created_at)
        .then_with(|| rank(b).cmp(&rank(a)))
        .then_with(|| b.metadata.id.cmp(&a.metadata.id))
}

/// Picks the snapshot the next start of `deployment` restores from.
pub fn select(deployment: &Deployment, savepoints: &[Savepoint]) -> RestoreDecision {
    let rs = &deployment.spec.restore_strategy;
    let strategy = rs.kind;
    if strategy == RestoreStrategyKind::None {
        return RestoreDecision {
            strategy,
            savepoint_id: None,
            savepoint_location: None,
            reason: "restore strategy NONE: the job starts without state".into(),
            skipped: savepoints
                .iter()
                .map(|s| Skipped {
                    savepoint_id: s.metadata.id,
                    reason: "restore strategy is NONE".into(),
                })
                .collect(),
            start_refused: false,
        };
    }
    let mut skipped = Vec::new();
    let mut candidates: Vec<&Savepoint> = Vec::new();
    for sp in savepoints {
        match disqualification(strategy, deployment, sp) {
            Some(reason) => skipped.push(Skipped {
                savepoint_id: sp.metadata.id,
                reason,
            }),
            None => candidates.push(sp),
        }
    }
    candidates.sort_by(|a, b| newer_first(a, b));
    let chosen = candidates.first().copied();
    if let Some(c) = chosen {
        for other in &candidates[1..] {
            skipped.push(Skipped {
                savepoint_id: other.metadata.id,
                reason: format!("older than {}", c.metadata.id),
            });
        }
    }
    let kind_word = if strategy == RestoreStrategyKind::LatestState {
        "snapshot"
    } else {
        "savepoint"
    };
    match chosen {
        Some(c) => RestoreDecision {
            strategy,
            savepoint_id: Some(c.metadata.id),
            savepoint_location: c.spec.savepoint_location.clone(),
            reason: format!(
                "{strategy}: newest COMPLETED {kind_word} of this deployment with a spec-version annotation \
                 (origin {}, created {})",
                c.metadata.origin,
                c.metadata.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            skipped,
            start_refused: false,
        },
        None if rs.require_state => RestoreDecision {
            strategy,
            savepoint_id: None,
            savepoint_location: None,
            reason: format!(
                "{strategy}: no COMPLETED {kind_word} with a spec-version annotation, and requireState is set: \
                 the start is refused instead of running without state"
            ),
            skipped,
            start_refused: true,
        },
        None => RestoreDecision {
            strategy,
            savepoint_id: None,
            savepoint_location: None,
            reason: format!(
                "{strategy}: no COMPLETED {kind_word} with a spec-version annotation; the job starts without state"
            ),
            skipped,
            start_refused: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeploymentId, DeploymentSpec, SPEC_VERSION_ANNOTATION};
    use chrono::{Duration, TimeZone, Utc};
    use uuid::Uuid;

    fn deployment(kind: RestoreStrategyKind, require: bool) -> Deployment {
        let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "restoreStrategy": {"kind": kind.as_str(), "requireState": require},
            "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}
        }))
        .unwrap();
        Deployment::new("default", "d", spec)
    }

    struct Sp {
        secs: i64,
        origin: SavepointOrigin,
        state: SavepointState,
        annotated: bool,
        other_deployment: bool,
        id: u128,
    }

    fn sp(secs: i64, origin: SavepointOrigin) -> Sp {
        Sp {
            secs,
            origin,
            state: SavepointState::Completed,
            annotated: true,
            other_deployment: false,
            id: secs as u128 + 1000,
        }
    }

    fn build(d: &Deployment, s: &Sp) -> Savepoint {
        let dep = if s.other_deployment {
            DeploymentId::new()
        } else {
            d.metadata.id
        };
        let mut x = Savepoint::new(
            "default",
            dep,
            s.origin,
            s.state,
            Some(format!("file:///sp/{}", s.id)),
        );
        x.metadata.id = SavepointId(Uuid::from_u128(s.id));
        x.metadata.created_at =
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(s.secs);
        if s.annotated {
            x.metadata
                .annotations
                .insert(SPEC_VERSION_ANNOTATION.into(), "1".into());
        }
        x
    }

    fn pick(
        kind: RestoreStrategyKind,
        require: bool,
        sps: &[Sp],
    ) -> (Option<u128>, RestoreDecision) {
        let d = deployment(kind, require);
        let all: Vec<Savepoint> = sps.iter().map(|s| build(&d, s)).collect();
        let r = select(&d, &all);
        (r.savepoint_id.map(|i| i.0.as_u128()), r)
    }

    use RestoreStrategyKind::*;
    use SavepointOrigin::*;

    #[test]
    fn table() {
        let cases: Vec<(&str, RestoreStrategyKind, Vec<Sp>, Option<u128>)> = vec![
            ("nothing to restore", LatestState, vec![], Option::None),
            (
                "newest savepoint wins",
                LatestSavepoint,
                vec![sp(1, UserRequest), sp(2, Suspend)],
                Some(1002),
            ),
            (
                "latest state takes a newer retained checkpoint",
                LatestState,
                vec![sp(1, Copied), sp(2, RetainedCheckpoint)],
                Some(1002),
            ),
            (
                "latest savepoint never takes a retained checkpoint",
                LatestSavepoint,
                vec![sp(1, Copied), sp(2, RetainedCheckpoint)],
                Some(1001),
            ),
            (
                "copied counts like any savepoint",
                LatestSavepoint,
                vec![sp(1, UserRequest), sp(3, Copied)],
                Some(1003),
            ),
            (
                "upgrade savepoints count",
                LatestSavepoint,
                vec![sp(5, SuspendAndUpgrade), sp(3, Copied)],
                Some(1005),
            ),
            (
                "unannotated newest is skipped",
                LatestSavepoint,
                vec![
                    sp(1, Copied),
                    Sp {
                        annotated: false,
                        ..sp(9, UserRequest)
                    },
                ],
                Some(1001),
            ),
            (
                "in-flight and failed are skipped",
                LatestState,
                vec![
                    sp(1, Suspend),
                    Sp {
                        state: SavepointState::Started,
                        ..sp(7, UserRequest)
                    },
                    Sp {
                        state: SavepointState::Failed,
                        ..sp(8, UserRequest)
                    },
                    Sp {
                        state: SavepointState::PendingDeletion,
                        ..sp(9, UserRequest)
                    },
                ],
                Some(1001),
            ),
            (
                "other deployments' savepoints are skipped",
                LatestState,
                vec![
                    sp(1, Suspend),
                    Sp {
                        other_deployment: true,
                        ..sp(9, Suspend)
                    },
                ],
                Some(1001),
            ),
            (
                "strategy NONE starts empty",
                None,
                vec![sp(1, Suspend)],
                Option::None,
            ),
            (
                "only a retained checkpoint under LATEST_SAVEPOINT starts empty",
                LatestSavepoint,
                vec![sp(1, RetainedCheckpoint)],
                Option::None,
            ),
        ];
        for (name, kind, sps, want) in cases {
            let (got, r) = pick(kind, false, &sps);
            assert_eq!(got, want, "{name}: {r:?}");
            assert_eq!(
                r.skipped.len() + usize::from(got.is_some()),
                sps.len(),
                "{name}: every savepoint is accounted for"
            );
            assert!(!r.start_refused, "{name}");
        }
    }

    #[test]
    fn ties_on_time_prefer_savepoints_then_larger_id() {
        let a = Sp {
            id: 1,
            ..sp(5, RetainedCheckpoint)
        };
        let b = Sp {
            id: 2,
            ..sp(5, UserRequest)
        };
        let c = Sp {
            id: 3,
            ..sp(5, Copied)
        };
        assert_eq!(pick(LatestState, false, &[a, b, c]).0, Some(3));
        let a = Sp {
            id: 9,
            ..sp(5, RetainedCheckpoint)
        };
        let b = Sp {
            id: 2,
            ..sp(5, UserRequest)
        };
        assert_eq!(
            pick(LatestState, false, &[a, b]).0,
            Some(2),
            "a savepoint beats a retained checkpoint of the same time"
        );
        // order of input does not matter
        let x = [
            Sp {
                id: 4,
                ..sp(5, Suspend)
            },
            Sp {
                id: 7,
                ..sp(5, Suspend)
            },
        ];
        let y = [
            Sp {
                id: 7,
                ..sp(5, Suspend)
            },
            Sp {
                id: 4,
                ..sp(5, Suspend)
            },
        ];
        assert_eq!(
            pick(LatestState, false, &x).0,
            pick(LatestState, false, &y).0
        );
    }

    #[test]
    fn skipped_reasons_explain() {
        let (_, r) = pick(
            LatestSavepoint,
            false,
            &[
                sp(1, Copied),
                Sp {
                    annotated: false,
                    ..sp(9, UserRequest)
                },
                sp(0, RetainedCheckpoint),
            ],
        );
        let reasons: Vec<&str> = r.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(
            reasons.iter().any(|r| r.contains(
                "no com.dataartisans.appmanager.controller.deployment.spec.version annotation"
            )),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("retained checkpoint")),
            "{reasons:?}"
        );
        assert!(r.reason.contains("LATEST_SAVEPOINT"), "{}", r.reason);
        assert_eq!(r.savepoint_location.as_deref(), Some("file:///sp/1001"));
    }

    #[test]
    fn require_state_refuses_an_empty_start() {
        let (got, r) = pick(
            LatestState,
            true,
            &[Sp {
                annotated: false,
                ..sp(1, Suspend)
            }],
        );
        assert_eq!(got, Option::None);
        assert!(r.start_refused);
        let (got, r) = pick(LatestState, true, &[sp(1, Suspend)]);
        assert_eq!(got, Some(1001));
        assert!(!r.start_refused);
        // NONE never refuses: starting empty is what was asked for.
        assert!(!pick(None, true, &[]).1.start_refused);
    }
}
