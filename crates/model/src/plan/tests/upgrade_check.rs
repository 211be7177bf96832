//! Table tests of refusing a stateful upgrade before the job is stopped: what the comparison of the
//! running job's snapshot with the new plan makes of the preflight, how a refusal is kept, and what
//! lifts it (allowNonRestoredState for dropped state, the override annotation for either).

use super::*;
use crate::plan::upgrade_check::{RunningStateView, StateCheckView, SKIP_CHECK_ANNOTATION};
use crate::snapshot::{OperatorState, StateSizes};

const SOURCE: &str = "f421c7059e6771b9a595acc02e87aaef";
const COUNTER: &str = "5b61d6019ab04da71a4e62533c1a8c40";
const SINK: &str = "89f21f775f44942d9cc73c012629f763";
const RENAMED: &str = "0123456789abcdef0123456789abcdef";

fn op(id: &str, uid: &str, bytes: u64, coordinator: u64) -> OperatorState {
    OperatorState {
        operator_id: id.into(),
        uid: Some(uid.into()),
        name: None,
        parallelism: 1,
        max_parallelism: 128,
        fully_finished: false,
        state: StateSizes {
            total: bytes,
            coordinator,
            ..StateSizes::default()
        },
    }
}

/// The example job's running state: source (coordinator state), counter (keyed), sink (empty).
fn running_state() -> RunningStateView {
    RunningStateView::Read {
        source: "checkpoint 7 of the running job".into(),
        operators: vec![
            op(SOURCE, "sequence-source", 265, 400),
            op(COUNTER, "count-per-key", 1346, 0),
            op(SINK, "print-sink", 0, 0),
        ],
    }
}

fn vx(id: &str, parallelism: u32) -> PlannedVertex {
    PlannedVertex {
        id: id.into(),
        parallelism,
    }
}

/// Flink's answers for a new graph of source → counter (chained with the sink), counter id `counter`.
fn planned(counter: &str, parallelism: u32, snapshot: RunningStateView) -> PreflightView {
    PreflightView::Planned {
        vertices: vec![vx(counter, parallelism), vx(SOURCE, parallelism)],
        state: StateCheckView {
            unchained: Some(vec![
                vx(SINK, parallelism),
                vx(counter, parallelism),
                vx(SOURCE, parallelism),
            ]),
            snapshot,
        },
    }
}

struct Case {
    name: &'static str,
    upgrade: U,
    restore: &'static str,
    anrs: bool,
    /// `pipeline.max-parallelism` of the new template.
    max: Option<&'static str>,
    /// The override annotation's value.
    skip: Option<&'static str>,
    counter: &'static str,
    parallelism: u32,
    snapshot: RunningStateView,
    /// `stop`, `cancel`, or the failure reason of the refusal.
    want: &'static str,
}

fn case(name: &'static str, want: &'static str) -> Case {
    Case {
        name,
        upgrade: U::Stateful,
        restore: "LATEST_STATE",
        anrs: false,
        max: None,
        skip: None,
        counter: COUNTER,
        parallelism: 1,
        snapshot: running_state(),
        want,
    }
}

fn setup(c: &Case) -> (Deployment, Job) {
    let mut d = deployment(D::Running, c.upgrade, 2);
    d.spec.restore_strategy.kind = c.restore.parse().unwrap();
    d.spec.restore_strategy.allow_non_restored_state = c.anrs;
    if let Some(m) = c.max {
        d.spec
            .template
            .spec
            .flink_configuration
            .insert("pipeline.max-parallelism".into(), m.into());
    }
    if let Some(s) = c.skip {
        d.metadata
            .annotations
            .insert(SKIP_CHECK_ANNOTATION.into(), s.into());
    }
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    (d, j)
}

#[test]
fn a_stateful_upgrade_that_would_lose_or_cannot_take_state_is_refused_before_the_stop() {
    let unavailable = || RunningStateView::Unavailable {
        why: "the job has no completed checkpoint".into(),
    };
    let cases = [
        case("same operator ids: the upgrade goes ahead", "stop"),
        Case {
            parallelism: 4,
            ..case("a higher parallelism within the max parallelism", "stop")
        },
        Case {
            counter: RENAMED,
            ..case(
                "a renamed stateful uid drops the counter's state",
                "UPGRADE_DROPS_STATE",
            )
        },
        Case {
            counter: RENAMED,
            anrs: true,
            ..case("allowNonRestoredState: dropping is allowed", "stop")
        },
        Case {
            max: Some("64"),
            ..case("max parallelism 128 → 64", "UPGRADE_INCOMPATIBLE_STATE")
        },
        Case {
            max: Some("64"),
            anrs: true,
            ..case(
                "allowNonRestoredState does not help a max parallelism change",
                "UPGRADE_INCOMPATIBLE_STATE",
            )
        },
        Case {
            max: Some("128"),
            ..case("the same max parallelism, set explicitly", "stop")
        },
        Case {
            parallelism: 200,
            ..case(
                "parallelism above the snapshot's max parallelism",
                "UPGRADE_INCOMPATIBLE_STATE",
            )
        },
        Case {
            counter: RENAMED,
            skip: Some("2"),
            ..case("the override for this spec version", "stop")
        },
        Case {
            counter: RENAMED,
            skip: Some("1"),
            ..case(
                "an override of an older spec version does not apply",
                "UPGRADE_DROPS_STATE",
            )
        },
        Case {
            counter: RENAMED,
            snapshot: unavailable(),
            ..case("no snapshot of the running job: not checked", "stop")
        },
        Case {
            counter: RENAMED,
            restore: "NONE",
            ..case("restore strategy NONE: no state to keep", "stop")
        },
        Case {
            counter: RENAMED,
            upgrade: U::Stateless,
            ..case("a stateless upgrade keeps no state", "cancel")
        },
    ];
    for c in cases {
        let (d, j) = setup(&c);
        let mut a = answers(running());
        a.preflight = Some((2, planned(c.counter, c.parallelism, c.snapshot.clone())));
        let got = match run_with(&d, Some(&j), &a, &[]) {
            Action::StopWithSavepoint {
                origin: SavepointOrigin::SuspendAndUpgrade,
                ..
            } => "stop".to_string(),
            Action::Cancel {
                reason: StopReason::StatelessUpgrade,
                ..
            } => "cancel".to_string(),
            Action::UpgradeRefused {
                job,
                reason,
                message,
            } => {
                assert_eq!(job, j.metadata.id, "{}", c.name);
                assert!(message.contains("spec version 2"), "{}: {message}", c.name);
                assert!(
                    message.contains(&format!("{SKIP_CHECK_ANNOTATION}: \"2\"")),
                    "the override is named: {message}"
                );
                if c.counter == RENAMED {
                    assert!(message.contains("count-per-key"), "{message}");
                }
                reason.as_str().to_string()
            }
            other => format!("{other:?}"),
        };
        assert_eq!(got, c.want, "{}", c.name);
    }
}

fn refused(d: &mut Deployment, reason: FailureReason) {
    d.status.transition = Some(Transition {
        spec_version: 2,
        gave_up: true,
        last_attempt_at: Some(crate::now()),
        ..towards(D::Running)
    });
    d.status.failure = Some(reason.failure("x"));
}

#[test]
fn a_refusal_is_kept_until_the_spec_changes_or_what_it_asks_for_is_set() {
    let lifts = |a: &Action| matches!(a, Action::LiftGate { .. });
    // (refusal, allowNonRestoredState, override, lifted)
    let rows = [
        (FailureReason::UpgradeDropsState, false, None, false),
        (FailureReason::UpgradeDropsState, true, None, true),
        (FailureReason::UpgradeDropsState, false, Some("2"), true),
        (FailureReason::UpgradeDropsState, false, Some("1"), false),
        (FailureReason::UpgradeIncompatibleState, true, None, false),
        (
            FailureReason::UpgradeIncompatibleState,
            false,
            Some("2"),
            true,
        ),
        (
            FailureReason::UpgradePreflightFailed,
            true,
            Some("2"),
            false,
        ),
    ];
    for (reason, anrs, skip, want) in rows {
        let c = Case {
            anrs,
            skip,
            counter: RENAMED,
            ..case("refused", "")
        };
        let (mut d, j) = setup(&c);
        refused(&mut d, reason);
        // Whatever this pass's answers: never planned again, never stopped, unless lifted.
        for preflight in [None, Some(planned(RENAMED, 1, running_state()))] {
            let mut a = answers(running());
            a.preflight = preflight.map(|p| (2, p));
            let got = run_with(&d, Some(&j), &a, &[]);
            assert_eq!(
                lifts(&got),
                want,
                "{reason} anrs={anrs} skip={skip:?}: {got:?}"
            );
            if !want {
                assert_eq!(got, Action::Steady, "{reason}");
            }
        }
    }
    // After the lift (transition and failure cleared): planned again, then the stop.
    let c = Case {
        anrs: true,
        counter: RENAMED,
        ..case("lifted", "")
    };
    let (d, j) = setup(&c);
    assert!(matches!(
        run_with(&d, Some(&j), &answers(running()), &[]),
        Action::PlanUpgrade { .. }
    ));
}

#[test]
fn the_preview_says_what_the_upgrade_would_do() {
    use crate::plan::upgrade_check::{preview, PreviewDecision as P};
    let rows = [
        (
            case("compatible", ""),
            COUNTER,
            P::Proceeds,
            Some("COMPATIBLE"),
        ),
        (
            case("renamed", ""),
            RENAMED,
            P::Refused,
            Some("DROPS_STATE"),
        ),
        (
            Case {
                anrs: true,
                ..case("renamed, allowed", "")
            },
            RENAMED,
            P::Proceeds,
            Some("DROPS_STATE"),
        ),
        (
            Case {
                max: Some("64"),
                ..case("max parallelism", "")
            },
            COUNTER,
            P::Refused,
            Some("INCOMPATIBLE"),
        ),
        (
            Case {
                snapshot: RunningStateView::Unavailable { why: "none".into() },
                ..case("no snapshot", "")
            },
            RENAMED,
            P::NotChecked,
            None,
        ),
        (
            Case {
                upgrade: U::Stateless,
                ..case("stateless", "")
            },
            RENAMED,
            P::NotChecked,
            Some("DROPS_STATE"),
        ),
    ];
    for (c, counter, decision, verdict) in rows {
        let (d, _) = setup(&c);
        let PreflightView::Planned { vertices, state } = planned(counter, 1, c.snapshot.clone())
        else {
            unreachable!()
        };
        let p = preview(&d, &vertices, &state, true);
        assert_eq!(p.decision, decision, "{}: {p:?}", c.name);
        assert_eq!(p.verdict.map(|v| v.as_str()), verdict, "{}: {p:?}", c.name);
        if decision == P::Refused {
            assert!(p.message.contains(SKIP_CHECK_ANNOTATION), "{}", p.message);
            // Without a running job the same change fails at the start instead.
            let q = preview(&d, &vertices, &state, false);
            assert_eq!(q.decision, P::FailsAtStart, "{}: {q:?}", c.name);
        }
        if verdict == Some("DROPS_STATE") {
            let dropped: Vec<_> = p
                .operators
                .iter()
                .filter(|o| o.fate == crate::upgrade::Fate::Dropped)
                .map(|o| o.uid.as_deref())
                .collect();
            assert_eq!(dropped, [Some("count-per-key")], "{}", c.name);
        }
    }
}
