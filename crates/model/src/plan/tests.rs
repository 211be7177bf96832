//! Table tests of reconcile planning: one row per situation of DESIGN.md's reconcile table.

use super::*;
use crate::{
    DeploymentSpec, DeploymentStatusRunning, DesiredState, JobSpec, Transition,
    UpgradeStrategyKind, SPEC_VERSION_ANNOTATION,
};

fn deployment(state: DesiredState, upgrade: UpgradeStrategyKind, spec_version: u64) -> Deployment {
    let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
        "state": state.as_str(),
        "upgradeStrategy": {"kind": upgrade.as_str()},
        "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}
    }))
    .unwrap();
    let mut d = Deployment::new("default", "d", spec);
    d.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), spec_version.to_string());
    d
}

fn job(d: &Deployment, state: JobState, spec_version: u64) -> Job {
    let spec = JobSpec {
        artifact: d.spec.template.spec.artifact.clone(),
        flink_configuration: Default::default(),
        parallelism: None,
        savepoint_location: None,
        savepoint_id: None,
        allow_non_restored_state: false,
        deployment_target_name: None,
    };
    let mut j = Job::new("default", d.metadata.id, "d", spec);
    j.status.state = state;
    j.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), spec_version.to_string());
    j
}

fn savepoint(
    d: &Deployment,
    job: Option<&Job>,
    origin: SavepointOrigin,
    state: SavepointState,
) -> Savepoint {
    let mut s = Savepoint::new(
        "default",
        d.metadata.id,
        origin,
        state,
        Some("file:///sp/x".into()),
    );
    s.metadata.job_id = job.map(|j| j.metadata.id);
    s.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), "1".into());
    // Already summarised: the housekeeping step that reads `_metadata` has its own test.
    s.metadata.annotations.insert(
        crate::snapshot::SUMMARY_ANNOTATION.into(),
        "2026-01-01T00:00:00Z".into(),
    );
    s
}

#[test]
fn a_completed_savepoint_without_a_summary_is_summarised_when_nothing_is_urgent() {
    let d = deployment(DesiredState::Running, UpgradeStrategyKind::Stateful, 1);
    let mut fresh = savepoint(&d, None, SavepointOrigin::Copied, SavepointState::Completed);
    fresh
        .metadata
        .annotations
        .remove(crate::snapshot::SUMMARY_ANNOTATION);
    let mut unreadable = fresh.clone();
    unreadable.metadata.id = crate::SavepointId::new();
    unreadable.metadata.annotations.insert(
        crate::snapshot::SUMMARY_ERROR_ANNOTATION.into(),
        "truncated".into(),
    );
    let sps = vec![unreadable, fresh.clone()];
    let answers = Answers::default();
    let o = Observed {
        deployment: &d,
        current_job: None,
        last_job: None,
        savepoints: &sps,
        savepoints_configured: true,
        triggered: &[],
        answers: &answers,
        now: crate::now(),
    };
    assert_eq!(
        super::housekeeping::next(&o),
        Some(Action::SummarizeSavepoint {
            savepoint: fresh.metadata.id
        })
    );
}

#[test]
fn housekeeping_waits_while_a_job_stops_finishes_or_starts() {
    let wait = |operation| Action::Wait {
        reason: String::new(),
        poll: Some(Poll {
            ask: PollAsk::Job,
            operation,
            since: crate::now(),
        }),
    };
    for (operation, defers) in [
        (Operation::Stop, true),
        (Operation::Finish, true),
        (Operation::Start, true),
        (Operation::Cancel, true),
        (Operation::Rescale, true),
        (Operation::Savepoint, false),
        (Operation::Flink, false),
    ] {
        assert_eq!(
            super::housekeeping::waits_for_a_transition(&wait(operation)),
            defers,
            "{operation:?}"
        );
    }
    let unpolled = Action::Wait {
        reason: String::new(),
        poll: None,
    };
    assert!(!super::housekeeping::waits_for_a_transition(&unpolled));
    assert!(!super::housekeeping::waits_for_a_transition(
        &Action::Steady
    ));
}

fn running() -> FlinkView {
    FlinkView::Job {
        state: FlinkJobState::Running,
        all_tasks_running: true,
    }
}

/// Answers with Flink's view of the job, and the `default` target (no version known) for a start.
fn answers(flink: FlinkView) -> Answers {
    Answers {
        job: flink,
        target: Some(TargetView::Found {
            target: Box::new(crate::DeploymentTarget::new(
                "default",
                "default",
                "http://localhost:8081",
            )),
            cluster_version: None,
        }),
        ..Answers::default()
    }
}

fn run(d: &Deployment, current: Option<&Job>, flink: FlinkView, sps: &[Savepoint]) -> Action {
    run_with(d, current, &answers(flink), sps)
}

fn run_with(d: &Deployment, current: Option<&Job>, answers: &Answers, sps: &[Savepoint]) -> Action {
    plan(&Observed {
        deployment: d,
        current_job: current,
        last_job: current,
        savepoints: sps,
        savepoints_configured: true,
        triggered: &[],
        answers,
        now: crate::now(),
    })
}

fn mark_running(d: &mut Deployment, j: &Job) {
    d.status.state = DeploymentState::Running;
    d.status.running = Some(DeploymentStatusRunning {
        job_id: j.metadata.id,
        transition_time: crate::now(),
        conditions: vec![],
    });
}

use DesiredState as D;
use UpgradeStrategyKind as U;

#[test]
fn desired_running_without_job_starts_one_restoring_the_latest_state() {
    let d = deployment(D::Running, U::Stateful, 1);
    let sp = savepoint(
        &d,
        None,
        SavepointOrigin::Suspend,
        SavepointState::Completed,
    );
    match run(&d, None, FlinkView::NotAsked, std::slice::from_ref(&sp)) {
        Action::StartJob { restore } => assert_eq!(restore.savepoint_id, Some(sp.metadata.id)),
        a => panic!("{a:?}"),
    }
}

#[test]
fn require_state_refuses_an_empty_start() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    d.spec.restore_strategy.require_state = true;
    assert!(matches!(
        run(&d, None, FlinkView::NotAsked, &[]),
        Action::RefuseStart { .. }
    ));
}

#[test]
fn starting_job_unknown_to_flink_is_submitted_and_known_one_adopted() {
    let d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Starting, 1);
    assert_eq!(
        run(&d, Some(&j), FlinkView::Missing, &[]),
        Action::SubmitJob { job: j.metadata.id }
    );
    assert_eq!(
        run(&d, Some(&j), running(), &[]),
        Action::MarkJobStarted { job: j.metadata.id }
    );
    let initializing = FlinkView::Job {
        state: FlinkJobState::Running,
        all_tasks_running: false,
    };
    assert!(matches!(
        run(&d, Some(&j), initializing, &[]),
        Action::Wait { .. }
    ));
}

#[test]
fn running_job_matching_the_spec_is_steady_once_status_says_so() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    assert_eq!(
        run(&d, Some(&j), running(), &[]),
        Action::SetStatus {
            state: DeploymentState::Running
        }
    );
    mark_running(&mut d, &j);
    assert_eq!(run(&d, Some(&j), running(), &[]), Action::Steady);
}

#[test]
fn pending_user_request_is_triggered_one_at_a_time_oldest_first() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    let a = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::UserRequest,
        SavepointState::Started,
    );
    let mut b = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::UserRequest,
        SavepointState::Started,
    );
    b.metadata.created_at = a.metadata.created_at + Duration::seconds(1);
    let both = [b, a.clone()];
    // Not triggered by this process yet: triggered before Flink is asked about the job, and also when
    // Flink runs the job.
    for flink in [FlinkView::NotAsked, running()] {
        assert_eq!(
            run(&d, Some(&j), flink, &both),
            Action::TriggerSavepoint {
                savepoint: a.metadata.id
            }
        );
    }
    // Triggered: asked about, together with the job.
    let o = Observed {
        deployment: &d,
        current_job: Some(&j),
        last_job: Some(&j),
        savepoints: &both,
        savepoints_configured: true,
        triggered: &[a.metadata.id],
        answers: &answers(FlinkView::NotAsked),
        now: crate::now(),
    };
    assert_eq!(
        plan(&o),
        Action::Observe {
            ask: Ask {
                job: true,
                savepoint: Some(a.metadata.id),
                ..Ask::default()
            }
        }
    );
}

#[test]
fn suspend_stops_with_savepoint_and_waits_for_a_running_one_first() {
    let mut d = deployment(D::Suspended, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    assert_eq!(
        run(&d, Some(&j), running(), &[]),
        Action::StopWithSavepoint {
            job: j.metadata.id,
            origin: SavepointOrigin::Suspend
        }
    );
    let user = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::UserRequest,
        SavepointState::Started,
    );
    assert_eq!(
        run(&d, Some(&j), running(), std::slice::from_ref(&user)),
        Action::TriggerSavepoint {
            savepoint: user.metadata.id
        }
    );
}

#[test]
fn suspend_without_savepoint_dir_is_refused_and_the_job_keeps_running() {
    let mut d = deployment(D::Suspended, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    let o = Observed {
        deployment: &d,
        current_job: Some(&j),
        last_job: Some(&j),
        triggered: &[],
        answers: &answers(running()),
        savepoints: &[],
        savepoints_configured: false,
        now: crate::now(),
    };
    assert!(matches!(plan(&o), Action::SavepointsNotConfigured { .. }));
}

#[test]
fn failed_suspend_savepoints_back_off_then_give_up() {
    let mut d = deployment(D::Suspended, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    let now = crate::now();
    d.status.transition = Some(Transition {
        savepoint_attempts: 2,
        last_attempt_at: Some(now),
        ..towards(D::Suspended)
    });
    assert!(matches!(
        run(&d, Some(&j), running(), &[]),
        Action::Backoff { .. }
    ));
    d.status.transition.as_mut().unwrap().last_attempt_at = Some(now - Duration::seconds(60));
    assert!(matches!(
        run(&d, Some(&j), running(), &[]),
        Action::StopWithSavepoint { .. }
    ));
    d.status.transition.as_mut().unwrap().gave_up = true;
    assert_eq!(run(&d, Some(&j), running(), &[]), Action::Steady);
    // A record about another desired state does not count.
    d.spec.state = D::Running;
    assert_eq!(d.transition().savepoint_attempts, 0);
}

#[test]
fn template_change_follows_the_upgrade_strategy() {
    for (upgrade, want) in [
        (U::Stateful, "stop"),
        (U::Stateless, "cancel"),
        (U::None, "steady"),
    ] {
        let mut d = deployment(D::Running, upgrade, 2);
        let j = job(&d, JobState::Started, 1);
        mark_running(&mut d, &j);
        let mut planned = answers(running());
        planned.preflight = Some((2, preflight::planned_unchecked(vec![])));
        let a = run_with(&d, Some(&j), &planned, &[]);
        let got = match a {
            Action::StopWithSavepoint {
                origin: SavepointOrigin::SuspendAndUpgrade,
                ..
            } => "stop",
            Action::Cancel {
                reason: StopReason::StatelessUpgrade,
                ..
            } => "cancel",
            Action::Steady => "steady",
            _ => "other",
        };
        assert_eq!(got, want, "{upgrade}: {a:?}");
    }
}

#[test]
fn after_a_stateless_upgrade_the_new_job_starts_empty() {
    let d = deployment(D::Running, U::Stateless, 2);
    let mut old = job(&d, JobState::Terminated, 1);
    old.metadata
        .annotations
        .insert(STOP_REASON_ANNOTATION.into(), "STATELESS_UPGRADE".into());
    let sp = savepoint(
        &d,
        Some(&old),
        SavepointOrigin::Suspend,
        SavepointState::Completed,
    );
    let o = Observed {
        deployment: &d,
        current_job: None,
        last_job: Some(&old),
        triggered: &[],
        answers: &answers(FlinkView::NotAsked),
        savepoints: std::slice::from_ref(&sp),
        savepoints_configured: true,
        now: crate::now(),
    };
    match plan(&o) {
        Action::StartJob { restore } => {
            assert_eq!(restore.savepoint_id, None);
            assert!(restore.reason.contains("STATELESS"));
        }
        a => panic!("{a:?}"),
    }
}

#[test]
fn cancel_and_terminating_jobs_are_cancelled_until_flink_says_so() {
    let mut d = deployment(D::Cancelled, U::Stateful, 1);
    let mut j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    assert_eq!(
        run(&d, Some(&j), running(), &[]),
        Action::Cancel {
            job: j.metadata.id,
            reason: StopReason::Cancel
        }
    );
    j.status.state = JobState::Terminating;
    j.metadata
        .annotations
        .insert(STOP_REASON_ANNOTATION.into(), "STATELESS_UPGRADE".into());
    assert_eq!(
        run(&d, Some(&j), running(), &[]),
        Action::Cancel {
            job: j.metadata.id,
            reason: StopReason::StatelessUpgrade
        }
    );
    // Sent in this pass: wait for Flink to report the end, asking about the job only.
    let mut sent = answers(running());
    sent.cancel_sent = Some(j.metadata.id);
    assert!(matches!(
        run_with(&d, Some(&j), &sent, &[]),
        Action::Wait {
            poll: Some(Poll {
                ask: PollAsk::Job,
                operation: Operation::Cancel,
                ..
            }),
            ..
        }
    ));
    let canceled = FlinkView::Job {
        state: FlinkJobState::Canceled,
        all_tasks_running: false,
    };
    // The retained checkpoint is looked for first, then recorded with the end.
    assert_eq!(
        run(&d, Some(&j), canceled.clone(), &[]),
        Action::Observe {
            ask: Ask {
                retained: true,
                ..Ask::default()
            }
        }
    );
    let mut a = answers(canceled);
    a.retained = Some((
        j.metadata.id,
        RetainedView::Found {
            location: "file:///ck/chk-3".into(),
            completed_at: crate::now(),
            note: None,
        },
    ));
    match run_with(&d, Some(&j), &a, &[]) {
        Action::JobEnded {
            job,
            flink_state: FlinkJobState::Canceled,
            job_state: JobState::Terminated,
            failure: None,
            retained: Retained::Record { location, .. },
        } => {
            assert_eq!(job, j.metadata.id);
            assert_eq!(location, "file:///ck/chk-3");
        }
        other => panic!("{other:?}"),
    }
    // Recorded before (a crash after the record): not again.
    let mut recorded = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::RetainedCheckpoint,
        SavepointState::Completed,
    );
    recorded.spec.savepoint_location = Some("file:/ck/chk-3".into());
    assert!(matches!(
        run_with(&d, Some(&j), &a, std::slice::from_ref(&recorded)),
        Action::JobEnded {
            retained: Retained::AlreadyRecorded,
            ..
        }
    ));
}

#[test]
fn finished_job_with_a_stop_savepoint_is_collected_before_the_end_is_recorded() {
    let d = deployment(D::Suspended, U::Stateful, 1);
    let j = job(&d, JobState::Terminating, 1);
    let sp = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::Suspend,
        SavepointState::Started,
    );
    let finished = FlinkView::Job {
        state: FlinkJobState::Finished,
        all_tasks_running: false,
    };
    // Flink is asked whether it knows the stop's trigger (a job that ended cannot be triggered).
    assert_eq!(
        run(&d, Some(&j), finished.clone(), std::slice::from_ref(&sp)),
        Action::Observe {
            ask: Ask {
                savepoint: Some(sp.metadata.id),
                ..Ask::default()
            }
        }
    );
    let mut a = answers(finished.clone());
    a.savepoint = Some((
        sp.metadata.id,
        SavepointView::Completed {
            location: "file:///sp/savepoint-1".into(),
        },
    ));
    assert_eq!(
        run_with(&d, Some(&j), &a, std::slice::from_ref(&sp)),
        Action::CompleteSavepoint {
            savepoint: sp.metadata.id,
            location: "file:///sp/savepoint-1".into()
        }
    );
    // Flink forgot the trigger: its checkpoint statistics say what the stop wrote.
    a.savepoint = Some((sp.metadata.id, SavepointView::Unknown));
    assert_eq!(
        run_with(&d, Some(&j), &a, std::slice::from_ref(&sp)),
        Action::Observe {
            ask: Ask {
                stop_savepoint_written: Some(sp.metadata.id),
                ..Ask::default()
            }
        }
    );
    a.stop_savepoint_written = Some((sp.metadata.id, Some("file:///sp/savepoint-2".into())));
    assert_eq!(
        run_with(&d, Some(&j), &a, std::slice::from_ref(&sp)),
        Action::CompleteSavepoint {
            savepoint: sp.metadata.id,
            location: "file:///sp/savepoint-2".into()
        }
    );
    a.stop_savepoint_written = Some((sp.metadata.id, None));
    assert!(matches!(
        run_with(&d, Some(&j), &a, std::slice::from_ref(&sp)),
        Action::FailSavepoint { stop: Some(_), .. }
    ));
    assert!(matches!(
        run(&d, Some(&j), finished, &[]),
        Action::JobEnded {
            flink_state: FlinkJobState::Finished,
            job_state: JobState::Terminated,
            retained: Retained::NotApplicable,
            ..
        }
    ));
}

#[test]
fn vanished_and_failed_jobs_are_noticed() {
    let d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    assert!(matches!(
        run(&d, Some(&j), FlinkView::Missing, &[]),
        Action::Observe {
            ask: Ask { retained: true, .. }
        }
    ));
    let mut a = answers(FlinkView::Missing);
    a.retained = Some((j.metadata.id, RetainedView::NotFound { unreadable: None }));
    assert!(matches!(
        run_with(&d, Some(&j), &a, &[]),
        Action::JobVanished {
            retained: Retained::NoneFound { .. },
            ..
        }
    ));
    let failed = FlinkView::Job {
        state: FlinkJobState::Failed,
        all_tasks_running: false,
    };
    assert_eq!(
        run(&d, Some(&j), failed.clone(), &[]),
        Action::Observe {
            ask: Ask {
                retained: true,
                failure_cause: true,
                ..Ask::default()
            }
        }
    );
    let mut a = answers(failed);
    a.retained = Some((
        j.metadata.id,
        RetainedView::NotFound {
            unreadable: Some("cannot access s3://b/ck: permission denied".into()),
        },
    ));
    a.failure_cause = Some((j.metadata.id, Some("division by zero".into())));
    match run_with(&d, Some(&j), &a, &[]) {
        Action::JobEnded {
            job_state: JobState::Failed,
            failure: Some((FailureReason::JobFailed, message)),
            retained: Retained::NoneFound { why },
            ..
        } => {
            assert!(message.contains("division by zero"), "{message}");
            assert!(
                why.contains("permission denied"),
                "an unreadable storage is said so: {why}"
            );
        }
        other => panic!("{other:?}"),
    }
    let restarting = FlinkView::Job {
        state: FlinkJobState::Restarting,
        all_tasks_running: false,
    };
    assert!(matches!(
        run(&d, Some(&j), restarting, &[]),
        Action::Wait { .. }
    ));
    let down = FlinkView::Unreachable {
        error: "connection refused".into(),
    };
    assert!(
        matches!(run(&d, Some(&j), down, &[]), Action::Wait { .. }),
        "an unreachable Flink changes nothing"
    );
}

#[test]
fn without_a_job_orphaned_requests_fail_and_status_settles() {
    let d = deployment(D::Suspended, U::Stateful, 1);
    let sp = savepoint(
        &d,
        None,
        SavepointOrigin::UserRequest,
        SavepointState::Started,
    );
    assert!(matches!(
        run(&d, None, FlinkView::NotAsked, std::slice::from_ref(&sp)),
        Action::FailSavepoint { .. }
    ));
    let mut d = deployment(D::Suspended, U::Stateful, 1);
    d.status.state = DeploymentState::Running;
    assert_eq!(
        run(&d, None, FlinkView::NotAsked, &[]),
        Action::SetStatus {
            state: DeploymentState::Suspended
        }
    );
    d.status.state = DeploymentState::Suspended;
    assert_eq!(run(&d, None, FlinkView::NotAsked, &[]), Action::Steady);
    let d = deployment(D::Cancelled, U::Stateful, 1);
    assert_eq!(
        run(&d, None, FlinkView::NotAsked, &[]),
        Action::Steady,
        "a new deployment is CANCELLED already"
    );
}

#[test]
fn gave_up_deployments_do_not_restart_by_themselves() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    d.status.state = DeploymentState::Failed;
    d.status.transition = Some(Transition {
        job_attempts: 4,
        gave_up: true,
        ..towards(D::Running)
    });
    assert_eq!(run(&d, None, FlinkView::NotAsked, &[]), Action::Steady);
    // A new spec version is a new attempt.
    d.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), "2".into());
    assert!(matches!(
        run(&d, None, FlinkView::NotAsked, &[]),
        Action::StartJob { .. }
    ));
}

#[test]
fn failed_job_creation_backs_off() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    d.status.transition = Some(Transition {
        job_attempts: 1,
        last_attempt_at: Some(crate::now()),
        ..towards(D::Running)
    });
    assert!(matches!(
        run(&d, None, FlinkView::NotAsked, &[]),
        Action::Backoff { .. }
    ));
}

#[test]
fn savepoints_being_deleted_come_first() {
    let d = deployment(D::Cancelled, U::Stateful, 1);
    let sp = savepoint(
        &d,
        None,
        SavepointOrigin::UserRequest,
        SavepointState::PendingDeletion,
    );
    assert_eq!(
        run(&d, None, FlinkView::NotAsked, std::slice::from_ref(&sp)),
        Action::DisposeSavepoint {
            savepoint: sp.metadata.id
        }
    );
}

#[test]
fn backoff_doubles_and_is_capped() {
    assert_eq!(backoff(1), Duration::milliseconds(500));
    assert_eq!(backoff(2), Duration::milliseconds(1000));
    assert_eq!(backoff(3), Duration::milliseconds(2000));
    assert_eq!(backoff(40), Duration::milliseconds(30_000));
}

#[test]
fn deletions_wait_for_urgent_job_work_but_not_for_flink() {
    let d = deployment(D::Running, U::Stateful, 1);
    let deleting = savepoint(
        &d,
        None,
        SavepointOrigin::UserRequest,
        SavepointState::Deleting,
    );
    // a start comes before a disposal
    assert!(matches!(
        run(
            &d,
            None,
            FlinkView::NotAsked,
            std::slice::from_ref(&deleting)
        ),
        Action::StartJob { .. }
    ));
    // Flink not answering does not hold disposal up
    let j = job(&d, JobState::Started, 1);
    assert_eq!(
        run(
            &d,
            Some(&j),
            FlinkView::Unreachable {
                error: "refused".into()
            },
            std::slice::from_ref(&deleting)
        ),
        Action::DisposeSavepoint {
            savepoint: deleting.metadata.id
        }
    );
}

#[test]
fn retention_expires_through_deletion_and_never_the_restore_candidate() {
    let mut d = deployment(D::Suspended, U::Stateful, 1);
    d.status.state = DeploymentState::Suspended;
    d.spec.savepoint_retention = Some(crate::SavepointRetention {
        max_count: Some(1),
        max_age: None,
    });
    let mut old = savepoint(
        &d,
        None,
        SavepointOrigin::UserRequest,
        SavepointState::Completed,
    );
    old.metadata.created_at = crate::now() - Duration::hours(2);
    let newest = savepoint(
        &d,
        None,
        SavepointOrigin::Suspend,
        SavepointState::Completed,
    );
    let sps = vec![newest.clone(), old.clone()];
    match run(&d, None, FlinkView::NotAsked, &sps) {
        Action::ExpireSavepoints { expired } => {
            assert_eq!(expired.len(), 1);
            assert_eq!(expired[0].savepoint_id, old.metadata.id);
        }
        a => panic!("{a:?}"),
    }
    // a deletion under way is finished first
    let mut pending = old.clone();
    pending.status.state = SavepointState::PendingDeletion;
    assert_eq!(
        run(&d, None, FlinkView::NotAsked, &[newest.clone(), pending]),
        Action::DisposeSavepoint {
            savepoint: old.metadata.id
        }
    );
    // the newest alone is the restore candidate: nothing to do
    assert_eq!(
        run(&d, None, FlinkView::NotAsked, std::slice::from_ref(&newest)),
        Action::Steady
    );
}

#[test]
fn periodic_savepoints_are_taken_while_running_and_one_at_a_time() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    d.spec.periodic_savepoint_interval = Some("30m".into());
    let mut j = job(&d, JobState::Started, 1);
    j.metadata.created_at = crate::now() - Duration::hours(1);
    mark_running(&mut d, &j);
    assert_eq!(
        run(&d, Some(&j), running(), &[]),
        Action::TriggerPeriodicSavepoint { job: j.metadata.id }
    );
    // a recent savepoint of the job postpones it
    let recent = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::UserRequest,
        SavepointState::Completed,
    );
    assert_eq!(
        run(&d, Some(&j), running(), std::slice::from_ref(&recent)),
        Action::Steady
    );
    // another savepoint of the job in flight: that one is triggered, no new one
    let mut in_flight = recent.clone();
    in_flight.status.state = SavepointState::Started;
    in_flight.metadata.created_at = crate::now() - Duration::hours(1);
    assert_eq!(
        run(&d, Some(&j), running(), std::slice::from_ref(&in_flight)),
        Action::TriggerSavepoint {
            savepoint: in_flight.metadata.id
        }
    );
    // not without a savepoint directory, not while the job is only starting, not while suspending
    assert_eq!(
        plan(&Observed {
            deployment: &d,
            current_job: Some(&j),
            last_job: Some(&j),
            triggered: &[],
            answers: &answers(running()),
            savepoints: &[],
            savepoints_configured: false,
            now: crate::now(),
        }),
        Action::Steady
    );
    let mut starting = j.clone();
    starting.status.state = JobState::Starting;
    assert_eq!(
        run(&d, Some(&starting), running(), &[]),
        Action::MarkJobStarted {
            job: starting.metadata.id
        }
    );
    d.spec.state = D::Suspended;
    assert!(matches!(
        run(&d, Some(&j), running(), &[]),
        Action::StopWithSavepoint {
            origin: SavepointOrigin::Suspend,
            ..
        }
    ));
}

#[test]
fn a_stale_attempts_record_is_forgotten_on_the_next_status_write() {
    let mut d = deployment(D::Cancelled, U::Stateful, 1);
    d.status.state = DeploymentState::Failed;
    d.status.transition = Some(Transition {
        gave_up: true,
        ..towards(D::Running)
    });
    // Cancelling a FAILED deployment writes its status, which drops the record about RUNNING ...
    assert_eq!(
        run(&d, None, FlinkView::NotAsked, &[]),
        Action::SetStatus {
            state: DeploymentState::Cancelled
        }
    );
    d.forget_stale_transition();
    d.status.state = DeploymentState::Cancelled;
    assert_eq!(d.status.transition, None);
    // ... so running it again is a fresh attempt.
    d.spec.state = D::Running;
    assert!(matches!(
        run(&d, None, FlinkView::NotAsked, &[]),
        Action::StartJob { .. }
    ));
}

#[test]
fn a_job_finishing_after_its_stop_savepoint_is_never_cancelled() {
    let d = deployment(D::Suspended, U::Stateful, 1);
    let j = job(&d, JobState::Terminating, 1);
    let done = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::Suspend,
        SavepointState::Completed,
    );
    // Flink still reports RUNNING for a moment after the stop-with-savepoint completed.
    assert!(matches!(
        run(&d, Some(&j), running(), std::slice::from_ref(&done)),
        Action::Wait { .. }
    ));
}

#[test]
fn a_job_left_terminating_by_a_failed_stop_is_taken_back() {
    let d = deployment(D::Suspended, U::Stateful, 1);
    let j = job(&d, JobState::Terminating, 1);
    let failed = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::Suspend,
        SavepointState::Failed,
    );
    assert_eq!(
        run(&d, Some(&j), running(), std::slice::from_ref(&failed)),
        Action::MarkJobStarted { job: j.metadata.id }
    );
}

/// A transition towards `desired` at spec version 1 with no attempts yet; tests set what they need.
fn towards(desired: D) -> Transition {
    Transition {
        desired,
        spec_version: 1,
        job_attempts: 0,
        savepoint_attempts: 0,
        last_attempt_at: None,
        gave_up: false,
    }
}

mod conditions;
mod decisions;
mod preflight;
mod rollback;
mod teardown;
mod upgrade_check;
