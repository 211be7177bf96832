//! Table tests of rolling back a failed stateful upgrade: what counts as failed (refused, ended
//! FAILED, restarting), the grace window and the off switch, the steps after the record (cancel,
//! start of the previous template from the same savepoint), and that the failed spec version is not
//! tried again before the spec changes.

use super::*;
use crate::conditions::UPGRADE_ROLLED_BACK;
use crate::plan::rollback::{
    validate, UpgradeRollback, FAILURES_BEFORE_ROLLBACK, GRACE_ANNOTATION, ROLLBACK_ANNOTATION,
    ROLLBACK_OF_ANNOTATION,
};
use crate::{JobStatusStarted, StringMap};

/// A deployment at spec version 2 upgraded statefully from the job of spec version 1: the old job
/// (TERMINATED), its SUSPEND_AND_UPGRADE savepoint, and the new job restoring it (in `state`,
/// started `age_s` seconds ago).
struct Upgrade {
    d: Deployment,
    old: Job,
    sp: Savepoint,
    new: Job,
}

fn upgrade(state: JobState, age_s: i64) -> Upgrade {
    let d = deployment(D::Running, U::Stateful, 2);
    let old = job(&d, JobState::Terminated, 1);
    let sp = savepoint(
        &d,
        Some(&old),
        SavepointOrigin::SuspendAndUpgrade,
        SavepointState::Completed,
    );
    let mut new = job(&d, state, 2);
    new.spec.savepoint_id = Some(sp.metadata.id);
    new.spec.savepoint_location = sp.spec.savepoint_location.clone();
    let started = crate::now() - Duration::seconds(age_s);
    new.metadata.created_at = started;
    new.status.started = Some(JobStatusStarted {
        flink_job_id: new.flink_job_id(),
        started_at: started,
        observed_flink_job_status: None,
        last_update_time: None,
    });
    Upgrade { d, old, sp, new }
}

fn plan_of(
    d: &Deployment,
    current: Option<&Job>,
    last: Option<&Job>,
    a: &Answers,
    sps: &[Savepoint],
) -> Action {
    plan(&Observed {
        deployment: d,
        current_job: current,
        last_job: last,
        savepoints: sps,
        savepoints_configured: true,
        triggered: &[],
        answers: a,
        now: crate::now(),
    })
}

fn restarting(u: &Upgrade, failures: Option<u32>) -> Answers {
    let mut a = answers(FlinkView::Job {
        state: FlinkJobState::Restarting,
        all_tasks_running: false,
    });
    if let Some(n) = failures {
        a.failures = Some((u.new.metadata.id, n));
        a.failure_cause = Some((
            u.new.metadata.id,
            Some("IllegalStateException: deliberate failure".into()),
        ));
    }
    a
}

fn off(d: &mut Deployment) {
    d.metadata
        .annotations
        .insert(ROLLBACK_ANNOTATION.into(), "off".into());
}

fn record(u: &Upgrade) -> UpgradeRollback {
    UpgradeRollback {
        failed_spec_version: 2,
        failed_job_id: u.new.metadata.id,
        previous_job_id: u.old.metadata.id,
        previous_spec_version: 1,
        savepoint_id: u.sp.metadata.id,
        cause: "deliberate failure".into(),
        rolled_back_at: crate::now(),
    }
}

fn is_rollback_of(a: &Action, u: &Upgrade) -> bool {
    matches!(a, Action::RollBack { job, previous, savepoint, .. }
        if *job == u.new.metadata.id && *previous == u.old.metadata.id
            && *savepoint == u.sp.metadata.id)
}

#[test]
fn a_new_job_that_keeps_restarting_within_the_grace_window_is_rolled_back() {
    let u = upgrade(JobState::Started, 20);
    let sps = [u.sp.clone()];
    let cur = Some(&u.new);
    // First Flink's failure count and cause are asked for.
    match plan_of(&u.d, cur, cur, &restarting(&u, None), &sps) {
        Action::Observe { ask } => assert!(ask.failure_cause, "{ask:?}"),
        a => panic!("{a:?}"),
    }
    // One restart short of the threshold: Flink's restart strategy is left at work.
    let a = plan_of(
        &u.d,
        cur,
        cur,
        &restarting(&u, Some(FAILURES_BEFORE_ROLLBACK - 1)),
        &sps,
    );
    assert!(matches!(a, Action::Wait { .. }), "{a:?}");
    let a = plan_of(
        &u.d,
        cur,
        cur,
        &restarting(&u, Some(FAILURES_BEFORE_ROLLBACK)),
        &sps,
    );
    assert!(is_rollback_of(&a, &u), "{a:?}");
    let Action::RollBack { cause, .. } = a else {
        unreachable!()
    };
    assert!(cause.contains("deliberate failure"), "{cause}");
    assert!(cause.contains("spec version 2"), "{cause}");
}

#[test]
fn outside_the_grace_window_or_with_rollback_off_a_restarting_job_is_flinks() {
    let three = Some(FAILURES_BEFORE_ROLLBACK);
    // Default grace window: 5 minutes.
    let late = upgrade(JobState::Started, 301);
    let sps = [late.sp.clone()];
    let a = plan_of(
        &late.d,
        Some(&late.new),
        Some(&late.new),
        &restarting(&late, three),
        &sps,
    );
    assert!(matches!(a, Action::Wait { .. }), "{a:?}");
    // A longer window set per deployment covers it.
    let mut long = upgrade(JobState::Started, 301);
    long.d
        .metadata
        .annotations
        .insert(GRACE_ANNOTATION.into(), "10m".into());
    let sps = [long.sp.clone()];
    let cur = Some(&long.new);
    let a = plan_of(&long.d, cur, cur, &restarting(&long, three), &sps);
    assert!(is_rollback_of(&a, &long), "{a:?}");
    // Off.
    off(&mut long.d);
    let a = plan_of(&long.d, cur, cur, &restarting(&long, three), &sps);
    assert!(matches!(a, Action::Wait { .. }), "{a:?}");
}

#[test]
fn only_the_new_job_of_a_stateful_upgrade_is_rolled_back() {
    let three = Some(FAILURES_BEFORE_ROLLBACK);
    // Restored from a SUSPEND savepoint (a resume, not an upgrade).
    let mut u = upgrade(JobState::Started, 20);
    u.sp.metadata.origin = SavepointOrigin::Suspend;
    let sps = [u.sp.clone()];
    let a = plan_of(&u.d, Some(&u.new), None, &restarting(&u, three), &sps);
    assert!(matches!(a, Action::Wait { .. }), "{a:?}");
    // Started without state.
    let mut u = upgrade(JobState::Started, 20);
    u.new.spec.savepoint_id = None;
    let sps = [u.sp.clone()];
    let a = plan_of(&u.d, Some(&u.new), None, &restarting(&u, three), &sps);
    assert!(matches!(a, Action::Wait { .. }), "{a:?}");
    // The savepoint is of the same spec version (a restart of the same template).
    let mut u = upgrade(JobState::Started, 20);
    u.sp.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), "2".into());
    let sps = [u.sp.clone()];
    let a = plan_of(&u.d, Some(&u.new), None, &restarting(&u, three), &sps);
    assert!(matches!(a, Action::Wait { .. }), "{a:?}");
}

#[test]
fn a_refused_submission_of_the_new_job_is_not_given_up_on_but_rolled_back() {
    let mut u = upgrade(JobState::Starting, 1);
    u.new.status.started = None;
    u.d.spec.max_job_creation_attempts = 1;
    let sps = [u.sp.clone()];
    let mut a = answers(FlinkView::NotAsked);
    a.submission_refused = Some((
        u.new.metadata.id,
        Refusal {
            reason: "Cannot map checkpoint/savepoint state".into(),
            permanent: false,
        },
    ));
    let cur = Some(&u.new);
    match plan_of(&u.d, cur, cur, &a, &sps) {
        Action::FailJobCreation { gives_up, .. } => assert!(!gives_up),
        other => panic!("{other:?}"),
    }
    // The job row FAILED, the deployment given up by the attempt count: rolled back all the same.
    let mut failed = u.new.clone();
    failed.status.state = JobState::Failed;
    failed.status.failure = Some(FailureReason::JobSubmissionFailed.failure("Cannot map state"));
    failed.metadata.terminated_at = Some(crate::now());
    let mut d = u.d.clone();
    d.status.state = DeploymentState::Failed;
    d.status.transition = Some(Transition {
        desired: D::Running,
        spec_version: 2,
        job_attempts: 1,
        savepoint_attempts: 0,
        last_attempt_at: Some(crate::now()),
        gave_up: true,
    });
    let a = plan_of(&d, None, Some(&failed), &answers(FlinkView::NotAsked), &sps);
    assert!(is_rollback_of(&a, &u), "{a:?}");
    let Action::RollBack { cause, .. } = a else {
        unreachable!()
    };
    assert!(
        cause.contains("could not be submitted (Cannot map state)"),
        "{cause}"
    );
    // Off: the refusal is what it was before rollback existed.
    off(&mut u.d);
    let mut a = answers(FlinkView::NotAsked);
    a.submission_refused = Some((
        u.new.metadata.id,
        Refusal {
            reason: "refused".into(),
            permanent: false,
        },
    ));
    match plan_of(&u.d, cur, cur, &a, &sps) {
        Action::FailJobCreation { gives_up, .. } => assert!(gives_up),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_new_job_that_failed_in_flink_is_rolled_back_within_the_window_only() {
    let mut u = upgrade(JobState::Failed, 30);
    u.new.status.failure = Some(FailureReason::JobFailed.failure("the job failed in Flink: boom"));
    u.new.metadata.terminated_at = Some(crate::now());
    let mut d = u.d.clone();
    d.status.state = DeploymentState::Transitioning;
    let sps = [u.sp.clone()];
    let none = answers(FlinkView::NotAsked);
    let a = plan_of(&d, None, Some(&u.new), &none, &sps);
    assert!(is_rollback_of(&a, &u), "{a:?}");
    // Failed 6 minutes after its start: the deployment fails as before.
    let mut late = u.new.clone();
    late.metadata.terminated_at = Some(crate::now() + Duration::seconds(360));
    match plan_of(&d, None, Some(&late), &none, &sps) {
        Action::DeploymentEnded {
            deployment_state, ..
        } => assert_eq!(deployment_state, DeploymentState::Failed),
        a => panic!("{a:?}"),
    }
    off(&mut d);
    match plan_of(&d, None, Some(&u.new), &none, &sps) {
        Action::DeploymentEnded {
            deployment_state, ..
        } => assert_eq!(deployment_state, DeploymentState::Failed),
        a => panic!("{a:?}"),
    }
}

#[test]
fn after_the_record_the_failed_job_is_cancelled_then_the_previous_template_starts() {
    let u = upgrade(JobState::Started, 20);
    let mut d = u.d.clone();
    d.status.state = DeploymentState::Transitioning;
    d.status.rollback = Some(record(&u));
    let sps = [u.sp.clone()];
    let cur = Some(&u.new);
    for flink in [FlinkJobState::Restarting, FlinkJobState::Running] {
        let a = answers(FlinkView::Job {
            state: flink,
            all_tasks_running: false,
        });
        assert_eq!(
            plan_of(&d, cur, cur, &a, &sps),
            Action::Cancel {
                job: u.new.metadata.id,
                reason: StopReason::UpgradeRollback
            }
        );
    }
    // A STARTING failed job that Flink forgot is never submitted again.
    let mut starting = u.new.clone();
    starting.status.state = JobState::Starting;
    let cur_starting = Some(&starting);
    match plan_of(
        &d,
        cur_starting,
        cur_starting,
        &answers(FlinkView::Missing),
        &sps,
    ) {
        Action::JobVanished { job, retained, .. } => {
            assert_eq!(job, u.new.metadata.id);
            assert_eq!(retained, Retained::NotApplicable);
        }
        a => panic!("{a:?}"),
    }
    // Cancelled: the previous template starts from the same savepoint, even though the failed job
    // left a newer retained checkpoint (of spec version 2, the failed template's state).
    let mut ended = u.new.clone();
    ended.status.state = JobState::Terminated;
    let mut retained = savepoint(
        &d,
        Some(&u.new),
        SavepointOrigin::RetainedCheckpoint,
        SavepointState::Completed,
    );
    retained
        .metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), "2".into());
    retained.metadata.created_at = u.sp.metadata.created_at + Duration::seconds(5);
    let sps = [u.sp.clone(), retained.clone()];
    match plan_of(&d, None, Some(&ended), &answers(FlinkView::NotAsked), &sps) {
        Action::StartPrevious { previous, restore } => {
            assert_eq!(previous, u.old.metadata.id);
            assert_eq!(restore.savepoint_id, Some(u.sp.metadata.id));
            let skipped = restore
                .skipped
                .iter()
                .find(|s| s.savepoint_id == retained.metadata.id)
                .expect("the retained checkpoint is skipped");
            assert!(skipped.reason.contains("rolled back"), "{skipped:?}");
        }
        a => panic!("{a:?}"),
    }
    // A failed job (not cancelled) is not recorded as the deployment's failure either.
    ended.status.state = JobState::Failed;
    let a = plan_of(&d, None, Some(&ended), &answers(FlinkView::NotAsked), &sps);
    assert!(matches!(a, Action::StartPrevious { .. }), "{a:?}");
}

#[test]
fn the_rolled_back_spec_version_is_not_tried_again_until_the_spec_changes() {
    let u = upgrade(JobState::Terminated, 20);
    let mut d = u.d.clone();
    d.status.rollback = Some(record(&u));
    let mut back = job(&d, JobState::Started, 1);
    back.spec.savepoint_id = Some(u.sp.metadata.id);
    back.metadata
        .annotations
        .insert(ROLLBACK_OF_ANNOTATION.into(), "2".into());
    mark_running(&mut d, &back);
    let sps = [u.sp.clone()];
    let cur = Some(&back);
    let mut a = answers(running());
    a.checkpoints = Some((back.metadata.id, CheckpointsView::Unreachable));
    // The condition says so (once), then nothing more happens.
    match plan_of(&d, cur, cur, &a, &sps) {
        Action::SetConditions { conditions } => {
            let c = conditions
                .iter()
                .find(|c| c.kind == UPGRADE_ROLLED_BACK)
                .expect("the rollback condition");
            assert_eq!(c.status, crate::conditions::ConditionStatus::True);
            assert!(c
                .message
                .as_deref()
                .unwrap_or("")
                .contains("spec version 2"));
            if let Some(r) = d.status.running.as_mut() {
                r.conditions = conditions;
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(plan_of(&d, cur, cur, &a, &sps), Action::Steady);
    // A rollback job that keeps restarting is not rolled back again (it is Flink's, as any job).
    let r = answers(FlinkView::Job {
        state: FlinkJobState::Restarting,
        all_tasks_running: false,
    });
    assert!(matches!(
        plan_of(&d, cur, cur, &r, &sps),
        Action::Wait { .. } | Action::Observe { .. } | Action::SetConditions { .. }
    ));
    // One that fails makes the deployment FAILED.
    let mut failed = back.clone();
    failed.status.state = JobState::Failed;
    failed.status.failure = Some(FailureReason::JobFailed.failure("boom"));
    match plan_of(&d, None, Some(&failed), &answers(FlinkView::NotAsked), &sps) {
        Action::DeploymentEnded {
            deployment_state, ..
        } => assert_eq!(deployment_state, DeploymentState::Failed),
        other => panic!("{other:?}"),
    }
    // A new spec version upgrades from the rollback job as usual.
    d.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), "3".into());
    let a = plan_of(&d, cur, cur, &answers(running()), &sps);
    assert!(
        matches!(
            a,
            Action::PlanUpgrade { .. } | Action::StopWithSavepoint { .. }
        ),
        "{a:?}"
    );
}

#[test]
fn rollback_annotations_are_validated() {
    let with = |k: &str, v: &str| {
        let mut m = StringMap::new();
        m.insert(k.into(), v.into());
        validate(&m)
    };
    assert!(with(ROLLBACK_ANNOTATION, "off").is_ok());
    assert!(with(ROLLBACK_ANNOTATION, "on").is_ok());
    assert!(with(GRACE_ANNOTATION, "90s").is_ok());
    assert!(with(GRACE_ANNOTATION, "1h").is_ok());
    for (k, v) in [
        (ROLLBACK_ANNOTATION, "no"),
        (ROLLBACK_ANNOTATION, ""),
        (GRACE_ANNOTATION, "5s"),
        (GRACE_ANNOTATION, "2h"),
        (GRACE_ANNOTATION, "soon"),
        (GRACE_ANNOTATION, "99999999999999999999d"),
    ] {
        match with(k, v) {
            Err(crate::error::ValidationError::Invalid { field, .. }) => {
                assert_eq!(field, format!("metadata.annotations.{k}"))
            }
            other => panic!("{k}={v}: {other:?}"),
        }
    }
}
