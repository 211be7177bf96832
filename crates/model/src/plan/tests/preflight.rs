//! Table tests of an upgrade's preflight: a running job is stopped for a template change only after
//! Flink planned the new template, and a refusal keeps it running until the spec changes again.

use super::*;

fn view(spec_version: u64, v: Option<PreflightView>) -> Answers {
    let mut a = answers(running());
    a.preflight = v.map(|v| (spec_version, v));
    a
}

/// Flink planned these vertices; no snapshot of the running job to compare with.
pub(super) fn planned_unchecked(vertices: Vec<PlannedVertex>) -> PreflightView {
    PreflightView::Planned {
        vertices,
        state: crate::plan::upgrade_check::StateCheckView {
            unchained: None,
            snapshot: crate::plan::upgrade_check::RunningStateView::Unavailable {
                why: "no checkpoint".into(),
            },
        },
    }
}

fn planned() -> PreflightView {
    planned_unchecked(vec![PlannedVertex {
        id: "90bea66de1c231edf33913ecd54406c1".into(),
        parallelism: 1,
    }])
}

fn refused() -> PreflightView {
    PreflightView::Refused {
        message: "statement 3 (line 4, column 1: INSERT INTO snk …): SQL parse failed".into(),
    }
}

fn unreachable() -> PreflightView {
    PreflightView::Unreachable {
        error: "connection refused".into(),
    }
}

#[test]
fn an_upgrade_stops_the_job_only_after_flink_planned_the_new_template() {
    for upgrade in [U::Stateful, U::Stateless] {
        let mut d = deployment(D::Running, upgrade, 2);
        let j = job(&d, JobState::Started, 1);
        mark_running(&mut d, &j);
        let id = j.metadata.id;
        let stop = match upgrade {
            U::Stateful => Action::StopWithSavepoint {
                job: id,
                origin: SavepointOrigin::SuspendAndUpgrade,
            },
            _ => Action::Cancel {
                job: id,
                reason: StopReason::StatelessUpgrade,
            },
        };
        let rows: [(Option<PreflightView>, u64, &str); 5] = [
            (None, 2, "plan"),
            (Some(planned()), 2, "stop"),
            // An answer about another spec version says nothing about this one.
            (Some(planned()), 1, "plan"),
            (Some(refused()), 2, "refused"),
            (Some(unreachable()), 2, "wait"),
        ];
        for (answer, version, want) in rows {
            let a = run_with(&d, Some(&j), &view(version, answer.clone()), &[]);
            let got = match &a {
                Action::PlanUpgrade { job } if *job == id => "plan",
                a if *a == stop => "stop",
                Action::UpgradeRefused {
                    job,
                    reason: FailureReason::UpgradePreflightFailed,
                    message,
                } if *job == id => {
                    assert!(message.contains("spec version 2"), "{message}");
                    assert!(message.contains("line 4, column 1"), "{message}");
                    "refused"
                }
                Action::Wait { poll: None, .. } => "wait",
                _ => "other",
            };
            assert_eq!(got, want, "{upgrade} {answer:?} v{version}: {a:?}");
        }
    }
}

#[test]
fn a_refused_upgrade_keeps_the_job_until_the_spec_changes_again() {
    let mut d = deployment(D::Running, U::Stateful, 2);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    // What the executor writes for UpgradeRefused: the transition of spec version 2 given up.
    d.status.transition = Some(Transition {
        desired: D::Running,
        spec_version: 2,
        job_attempts: 0,
        savepoint_attempts: 0,
        last_attempt_at: Some(crate::now()),
        gave_up: true,
    });
    d.status.failure = Some(FailureReason::UpgradePreflightFailed.failure("x"));
    // Not planned again, not stopped, not even with a fresh pass's empty answers.
    for answer in [None, Some(refused()), Some(planned())] {
        assert_eq!(
            run_with(&d, Some(&j), &view(2, answer), &[]),
            Action::Steady
        );
    }
    // A new spec version is a new transition: planned again.
    d.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), "3".into());
    assert_eq!(
        run_with(&d, Some(&j), &view(2, Some(refused())), &[]),
        Action::PlanUpgrade { job: j.metadata.id }
    );
}

#[test]
fn no_preflight_without_a_template_change_or_for_a_suspend() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    assert_eq!(run(&d, Some(&j), running(), &[]), Action::Steady);
    d.spec.state = D::Suspended;
    assert!(matches!(
        run(&d, Some(&j), running(), &[]),
        Action::StopWithSavepoint {
            origin: SavepointOrigin::Suspend,
            ..
        }
    ));
}
