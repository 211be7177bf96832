//! The running job's conditions: set from Flink's answers, written only on a change, never ahead of
//! urgent work.

use super::*;
use crate::condition::{ConditionStatus, CLUSTER_UNREACHABLE, JOB_FAILING};

fn conditions_of(a: &Action) -> Vec<(String, ConditionStatus, String)> {
    match a {
        Action::UpdateConditions { conditions, .. } => conditions
            .iter()
            .map(|c| {
                (
                    c.condition_type.clone(),
                    c.status,
                    c.reason.clone().unwrap_or_default(),
                )
            })
            .collect(),
        other => panic!("not a conditions update: {other:?}"),
    }
}

fn apply_update(d: &mut Deployment, a: &Action) {
    if let Action::UpdateConditions { conditions, .. } = a {
        d.status.running.as_mut().unwrap().conditions = conditions.clone();
    }
}

#[test]
fn an_unreachable_cluster_and_a_restarting_job_are_conditions_until_they_clear() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    let down = FlinkView::Unreachable {
        error: "connection refused".into(),
    };
    let a = run(&d, Some(&j), down.clone(), &[]);
    assert_eq!(
        conditions_of(&a),
        [
            (
                CLUSTER_UNREACHABLE.into(),
                ConditionStatus::True,
                "FlinkDoesNotAnswer".into()
            ),
            (
                JOB_FAILING.into(),
                ConditionStatus::Unknown,
                "ClusterUnreachable".into()
            ),
        ]
    );
    apply_update(&mut d, &a);
    // written once: the next pass waits for Flink as before
    assert!(matches!(run(&d, Some(&j), down, &[]), Action::Wait { .. }));

    let restarting = FlinkView::Job {
        state: FlinkJobState::Restarting,
        all_tasks_running: false,
    };
    let a = run(&d, Some(&j), restarting.clone(), &[]);
    assert_eq!(
        conditions_of(&a),
        [
            (
                CLUSTER_UNREACHABLE.into(),
                ConditionStatus::False,
                "FlinkAnswers".into()
            ),
            (
                JOB_FAILING.into(),
                ConditionStatus::True,
                "JobRestarting".into()
            ),
        ]
    );
    apply_update(&mut d, &a);
    assert!(matches!(
        run(&d, Some(&j), restarting, &[]),
        Action::Wait { .. }
    ));
    let a = run(&d, Some(&j), running(), &[]);
    assert_eq!(conditions_of(&a)[1].1, ConditionStatus::False);
    apply_update(&mut d, &a);
    assert_eq!(run(&d, Some(&j), running(), &[]), Action::Steady);
}

#[test]
fn a_healthy_job_has_no_conditions_and_urgent_work_comes_first() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    assert_eq!(run(&d, Some(&j), running(), &[]), Action::Steady);
    // a restarting job that is to be suspended: the stop is not delayed by a status write
    d.spec.state = D::Suspended;
    let a = run(&d, Some(&j), running(), &[]);
    assert!(matches!(a, Action::StopWithSavepoint { .. }), "{a:?}");
    // a job not yet recorded as the running one gets none
    d.spec.state = D::Running;
    d.status.running = None;
    let a = run(
        &d,
        Some(&j),
        FlinkView::Unreachable {
            error: "refused".into(),
        },
        &[],
    );
    assert!(matches!(a, Action::Wait { .. }), "{a:?}");
}
