//! Table tests of a running deployment's conditions: what is asked, when a condition is written, and
//! that a condition never takes the place of the job's own work.

use super::*;
use crate::conditions::{
    ConditionStatus as S, CHECKPOINTS_FAILING, CLUSTER_UNREACHABLE, JOB_FAILING,
};
use crate::plan::CheckpointsView;

fn flink(state: FlinkJobState) -> FlinkView {
    FlinkView::Job {
        state,
        all_tasks_running: true,
    }
}

/// A RUNNING deployment and its STARTED job, checkpointing every `interval` when given.
fn running_deployment(interval: Option<&str>) -> (Deployment, Job) {
    let mut d = deployment(D::Running, U::Stateful, 1);
    let mut j = job(&d, JobState::Started, 1);
    if let Some(i) = interval {
        j.spec
            .flink_configuration
            .insert("execution.checkpointing.interval".into(), i.into());
    }
    j.status.started = Some(crate::JobStatusStarted {
        flink_job_id: "0".repeat(32),
        started_at: crate::now() - chrono::Duration::seconds(60),
        observed_flink_job_status: None,
        last_update_time: None,
    });
    mark_running(&mut d, &j);
    (d, j)
}

fn conditions_of(a: Action) -> Vec<crate::conditions::DeploymentCondition> {
    match a {
        Action::SetConditions { conditions } => conditions,
        a => panic!("{a:?}"),
    }
}

fn with_conditions(d: &mut Deployment, a: Action) {
    d.status.running.as_mut().unwrap().conditions = conditions_of(a);
}

#[test]
fn a_healthy_deployment_writes_no_conditions() {
    let (d, j) = running_deployment(None);
    assert_eq!(run(&d, Some(&j), running(), &[]), Action::Steady);
}

#[test]
fn an_unreachable_cluster_is_a_condition_until_it_answers_again() {
    let (mut d, j) = running_deployment(None);
    let down = FlinkView::Unreachable {
        error: "connection refused".into(),
    };
    let c = run(&d, Some(&j), down.clone(), &[]);
    with_conditions(&mut d, c);
    let cond = &d.status.running.as_ref().unwrap().conditions;
    assert_eq!(cond.len(), 1);
    assert_eq!(
        (cond[0].kind.as_str(), cond[0].status),
        (CLUSTER_UNREACHABLE, S::True)
    );
    assert!(cond[0]
        .message
        .as_deref()
        .unwrap()
        .contains("connection refused"));
    // Still down: the same condition, nothing to write; the job is waited for as before.
    assert!(matches!(run(&d, Some(&j), down, &[]), Action::Wait { .. }));
    // It answers: False again, kept in the list.
    let c = conditions_of(run(&d, Some(&j), running(), &[]));
    assert_eq!(
        (c[0].kind.as_str(), c[0].status),
        (CLUSTER_UNREACHABLE, S::False)
    );
}

#[test]
fn a_restarting_job_is_failing_with_flinks_root_cause_asked_once() {
    let (mut d, j) = running_deployment(None);
    let restarting = flink(FlinkJobState::Restarting);
    // First Flink's root cause is asked for.
    match run(&d, Some(&j), restarting.clone(), &[]) {
        Action::Observe { ask } => assert!(ask.failure_cause && !ask.job),
        a => panic!("{a:?}"),
    }
    let mut a = answers(restarting.clone());
    a.failure_cause = Some((j.metadata.id, Some("IllegalStateException: boom".into())));
    let c = run_with(&d, Some(&j), &a, &[]);
    with_conditions(&mut d, c);
    let cond = &d.status.running.as_ref().unwrap().conditions;
    assert_eq!(
        (cond[0].kind.as_str(), cond[0].status),
        (JOB_FAILING, S::True)
    );
    assert_eq!(cond[0].reason.as_deref(), Some("JobRestarting"));
    assert!(cond[0].message.as_deref().unwrap().contains("boom"));
    // Known: not asked again while it restarts; Flink's restart is waited for.
    assert!(matches!(
        run(&d, Some(&j), restarting, &[]),
        Action::Wait { .. }
    ));
    // Running again: False.
    let c = conditions_of(run(&d, Some(&j), running(), &[]));
    assert_eq!(
        (c[0].status, c[0].reason.as_deref()),
        (S::False, Some("JobRunning"))
    );
}

#[test]
fn checkpoints_that_stop_completing_are_a_condition() {
    let (mut d, j) = running_deployment(Some("1 s"));
    // A job that checkpoints: its statistics are asked for.
    match run(&d, Some(&j), running(), &[]) {
        Action::Observe { ask } => assert!(ask.checkpoints),
        a => panic!("{a:?}"),
    }
    let stats = |ago: Option<i64>| {
        let mut a = answers(running());
        a.checkpoints = Some((
            j.metadata.id,
            CheckpointsView::Stats {
                latest_completed_at: ago.map(|s| crate::now() - chrono::Duration::seconds(s)),
                failed: 7,
                latest_failure: Some("Checkpoint expired before completing.".into()),
            },
        ));
        a
    };
    // Completed a second ago: healthy, nothing written.
    assert_eq!(run_with(&d, Some(&j), &stats(Some(1)), &[]), Action::Steady);
    // Nothing completed for 30 s with a 1 s interval (deadline 10 s): true, with Flink's message.
    let c = run_with(&d, Some(&j), &stats(Some(30)), &[]);
    with_conditions(&mut d, c);
    let cond = &d.status.running.as_ref().unwrap().conditions;
    assert_eq!(
        (cond[0].kind.as_str(), cond[0].status),
        (CHECKPOINTS_FAILING, S::True)
    );
    let m = cond[0].message.as_deref().unwrap();
    assert!(m.contains("7 failed") && m.contains("expired"), "{m}");
    // Never completed since the job started a minute ago: true as well.
    let (d2, j2) = running_deployment(Some("1 s"));
    let mut a = stats(None);
    a.checkpoints.as_mut().unwrap().0 = j2.metadata.id;
    let c = conditions_of(run_with(&d2, Some(&j2), &a, &[]));
    assert!(c[0]
        .message
        .as_deref()
        .unwrap()
        .contains("no checkpoint has completed yet"));
    // Completing again: False.
    let c = conditions_of(run_with(&d, Some(&j), &stats(Some(1)), &[]));
    assert_eq!(c[0].status, S::False);
    // Flink did not answer the statistics: nothing is concluded about checkpoints.
    let mut a = answers(running());
    a.checkpoints = Some((j.metadata.id, CheckpointsView::Unreachable));
    assert_eq!(run_with(&d, Some(&j), &a, &[]), Action::Steady);
}

#[test]
fn conditions_never_come_before_the_jobs_own_work() {
    let (mut d, j) = running_deployment(None);
    d.spec.state = D::Suspended;
    let down = FlinkView::Unreachable {
        error: "timeout".into(),
    };
    // A suspend waits for Flink to answer; the cluster condition is recorded meanwhile.
    assert!(matches!(
        run(&d, Some(&j), down, &[]),
        Action::SetConditions { .. }
    ));
    // With Flink answering, the suspend goes first, whatever the conditions.
    assert!(matches!(
        run(&d, Some(&j), running(), &[]),
        Action::StopWithSavepoint { .. }
    ));
    // A job that is not the running one gets none.
    let (d, mut j) = running_deployment(None);
    j.status.state = JobState::Starting;
    let c = run(&d, Some(&j), flink(FlinkJobState::Restarting), &[]);
    assert!(
        !matches!(c, Action::SetConditions { .. } | Action::Observe { .. }),
        "{c:?}"
    );
}
