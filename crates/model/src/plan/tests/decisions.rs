//! Table tests of the decisions that used to be the executor's or the observer's: the Flink version
//! gate, a target that cannot be used, what to ask Flink, refusals, and what a wait polls.

use super::*;

fn with_target(flink: FlinkView, cluster_version: Option<&str>) -> Answers {
    let mut a = answers(flink);
    if let Some(TargetView::Found {
        cluster_version: v, ..
    }) = a.target.as_mut()
    {
        *v = cluster_version.map(str::to_string);
    }
    a
}

#[test]
fn a_start_asks_for_its_target_first_and_a_missing_one_is_said_once() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    let mut none = answers(FlinkView::NotAsked);
    none.target = None;
    assert_eq!(
        run_with(&d, None, &none, &[]),
        Action::Observe {
            ask: Ask {
                target: Some("default".into()),
                ..Ask::default()
            }
        }
    );
    let mut missing = answers(FlinkView::NotAsked);
    missing.target = Some(TargetView::Missing {
        name: "default".into(),
    });
    let message = match run_with(&d, None, &missing, &[]) {
        Action::TargetMissing { message } => message,
        other => panic!("{other:?}"),
    };
    assert!(message.contains("'default' does not exist"), "{message}");
    // Said already: nothing to do until the target is created (which wakes the deployment).
    d.status.failure = Some(FailureReason::DeploymentTargetMissing.failure(message));
    assert_eq!(run_with(&d, None, &missing, &[]), Action::Steady);
}

#[test]
fn the_flink_version_gate_fails_a_mismatch_and_lifts_itself_when_versions_agree() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    d.spec.template.spec.artifact.flink_version = Some("1.20".into());
    let on_2 = with_target(FlinkView::NotAsked, Some("2.3.0"));
    let message = match run_with(&d, None, &on_2, &[]) {
        Action::GateStart { message } => message,
        other => panic!("{other:?}"),
    };
    // As the executor writes it: FAILED, given up, the gate's reason.
    d.status.state = DeploymentState::Failed;
    d.status.failure = Some(FailureReason::FlinkVersionMismatch.failure(message));
    d.status.transition = Some(Transition {
        gave_up: true,
        ..towards(D::Running)
    });
    assert_eq!(run_with(&d, None, &on_2, &[]), Action::Steady);
    // The version is unknown (cluster unreachable, no status): no evidence, nothing changes.
    assert_eq!(
        run_with(&d, None, &with_target(FlinkView::NotAsked, None), &[]),
        Action::Steady
    );
    // The cluster runs the declared release now.
    assert!(matches!(
        run_with(
            &d,
            None,
            &with_target(FlinkView::NotAsked, Some("1.20.5")),
            &[]
        ),
        Action::LiftGate { .. }
    ));
    // Without a declared version a deployment is never gated.
    let plain = deployment(D::Running, U::Stateful, 1);
    assert!(matches!(
        run_with(&plain, None, &on_2, &[]),
        Action::StartJob { .. }
    ));
}

#[test]
fn a_refused_submission_fails_the_job_creation_and_counts_towards_giving_up() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Starting, 1);
    let mut a = answers(FlinkView::NotAsked);
    a.submission_refused = Some((j.metadata.id, refusal("ClassNotFoundException", false)));
    assert_eq!(
        run_with(&d, Some(&j), &a, &[]),
        Action::FailJobCreation {
            job: j.metadata.id,
            reason: "ClassNotFoundException".into(),
            gives_up: false
        }
    );
    d.status.transition = Some(Transition {
        job_attempts: d.spec.max_job_creation_attempts - 1,
        ..towards(D::Running)
    });
    assert!(matches!(
        run_with(&d, Some(&j), &a, &[]),
        Action::FailJobCreation { gives_up: true, .. }
    ));
}

fn refusal(reason: &str, permanent: bool) -> crate::plan::Refusal {
    crate::plan::Refusal {
        reason: reason.into(),
        permanent,
    }
}

#[test]
fn a_permanent_refusal_gives_up_at_the_first_attempt() {
    let d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Starting, 1);
    let mut a = answers(FlinkView::NotAsked);
    let reason = "statement 4 (line 5, column 1: INSERT …): SQL parse failed";
    a.submission_refused = Some((j.metadata.id, refusal(reason, true)));
    assert_eq!(
        run_with(&d, Some(&j), &a, &[]),
        Action::FailJobCreation {
            job: j.metadata.id,
            reason: reason.into(),
            gives_up: true
        }
    );
}

#[test]
fn an_early_trigger_refused_before_flink_was_asked_is_judged_with_flinks_view() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    let sp = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::UserRequest,
        SavepointState::Started,
    );
    let mut a = answers(FlinkView::NotAsked);
    a.savepoint = Some((
        sp.metadata.id,
        SavepointView::Refused {
            cause: "job is not running".into(),
        },
    ));
    assert!(matches!(
        run_with(&d, Some(&j), &a, std::slice::from_ref(&sp)),
        Action::Observe {
            ask: Ask { job: true, .. }
        }
    ));
    a.job = running();
    assert_eq!(
        run_with(&d, Some(&j), &a, std::slice::from_ref(&sp)),
        Action::FailSavepoint {
            savepoint: sp.metadata.id,
            reason: "job is not running".into(),
            stop: None
        }
    );
}

#[test]
fn a_refused_stop_fails_the_suspend_takes_the_job_back_and_counts_the_attempt() {
    let mut d = deployment(D::Suspended, U::Stateful, 1);
    let j = job(&d, JobState::Terminating, 1);
    let sp = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::Suspend,
        SavepointState::Started,
    );
    let mut a = answers(running());
    a.savepoint = Some((
        sp.metadata.id,
        SavepointView::Refused {
            cause: "disk full".into(),
        },
    ));
    assert_eq!(
        run_with(&d, Some(&j), &a, std::slice::from_ref(&sp)),
        Action::FailSavepoint {
            savepoint: sp.metadata.id,
            reason: "disk full".into(),
            stop: Some(StopFailed {
                operation: "suspend",
                take_back: Some(j.metadata.id),
                gives_up: false
            })
        }
    );
    d.status.transition = Some(Transition {
        savepoint_attempts: d.spec.max_savepoint_creation_attempts - 1,
        ..towards(D::Suspended)
    });
    assert!(matches!(
        run_with(&d, Some(&j), &a, std::slice::from_ref(&sp)),
        Action::FailSavepoint {
            stop: Some(StopFailed { gives_up: true, .. }),
            ..
        }
    ));
}

#[test]
fn waits_poll_the_one_question_of_the_operation_since_its_row_began() {
    let mut d = deployment(D::Running, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    let sp = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::UserRequest,
        SavepointState::Started,
    );
    let mut a = answers(FlinkView::NotAsked);
    a.savepoint = Some((sp.metadata.id, SavepointView::InProgress));
    // In progress: no need to ask about the job first.
    assert_eq!(
        run_with(&d, Some(&j), &a, std::slice::from_ref(&sp)),
        Action::Wait {
            reason: format!("Flink is taking savepoint {}", sp.metadata.id),
            poll: Some(Poll {
                ask: PollAsk::Savepoint(sp.metadata.id),
                operation: Operation::Savepoint,
                since: sp.metadata.created_at,
            })
        }
    );
    let mut stopping = j.clone();
    stopping.status.state = JobState::Terminating;
    let mut stop = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::Suspend,
        SavepointState::Started,
    );
    stop.metadata.id = sp.metadata.id;
    assert!(matches!(
        run_with(&d, Some(&stopping), &a, std::slice::from_ref(&stop)),
        Action::Wait {
            poll: Some(Poll {
                operation: Operation::Stop,
                ..
            }),
            ..
        }
    ));
    // A starting job whose tasks are being deployed: its tasks are polled.
    let starting = job(&d, JobState::Starting, 1);
    let deploying = FlinkView::Job {
        state: FlinkJobState::Running,
        all_tasks_running: false,
    };
    assert_eq!(
        run(&d, Some(&starting), deploying, &[]),
        Action::Wait {
            reason: "job is RUNNING in Flink, waiting for all tasks to run".into(),
            poll: Some(Poll {
                ask: PollAsk::Tasks,
                operation: Operation::Start,
                since: starting.metadata.created_at,
            })
        }
    );
    // Flink not answering is Flink's business: no operation of ours to time.
    let down = FlinkView::Unreachable {
        error: "connection refused".into(),
    };
    // (Once the deployment's condition says so.)
    let mut d = d.clone();
    match run(&d, Some(&j), down.clone(), &[]) {
        Action::SetConditions { conditions } => {
            d.status.running.as_mut().unwrap().conditions = conditions
        }
        a => panic!("{a:?}"),
    }
    assert!(matches!(
        run(&d, Some(&j), down, &[]),
        Action::Wait {
            poll: Some(Poll {
                operation: Operation::Flink,
                ..
            }),
            ..
        }
    ));
}

#[test]
fn failure_reasons_are_the_documented_codes() {
    assert_eq!(
        FailureReason::FlinkVersionMismatch.as_str(),
        "FLINK_VERSION_MISMATCH"
    );
    let f = FailureReason::JobVanished.failure("gone");
    assert_eq!(f.reason, "JOB_VANISHED");
    assert!(FailureReason::JobVanished.is(Some(&f)));
    assert!(!FailureReason::JobFailed.is(Some(&f)));
    assert!(!FailureReason::JobFailed.is(None));
}

#[test]
fn a_stop_whose_intent_a_crash_interrupted_is_completed_before_the_stop_is_sent() {
    let mut d = deployment(D::Suspended, U::Stateful, 1);
    let j = job(&d, JobState::Started, 1);
    mark_running(&mut d, &j);
    // The stop's savepoint row was written, the job's TERMINATING was not.
    let sp = savepoint(
        &d,
        Some(&j),
        SavepointOrigin::Suspend,
        SavepointState::Started,
    );
    assert_eq!(
        run(&d, Some(&j), running(), std::slice::from_ref(&sp)),
        Action::MarkJobTerminating { job: j.metadata.id }
    );
    let mut stopping = j.clone();
    stopping.status.state = JobState::Terminating;
    assert_eq!(
        run(&d, Some(&stopping), running(), std::slice::from_ref(&sp)),
        Action::TriggerSavepoint {
            savepoint: sp.metadata.id
        }
    );
}

#[test]
fn a_jobs_end_is_written_on_the_deployment_after_the_job_row_and_before_any_start() {
    // (how the job ended, desired, the deployment becomes, keeps the failure)
    let rows = [
        (JobState::Failed, D::Running, DeploymentState::Failed, true),
        (
            JobState::Finished,
            D::Running,
            DeploymentState::Finished,
            false,
        ),
        (
            JobState::Terminated,
            D::Suspended,
            DeploymentState::Suspended,
            false,
        ),
        (
            JobState::Terminated,
            D::Cancelled,
            DeploymentState::Cancelled,
            false,
        ),
        (
            JobState::Failed,
            D::Cancelled,
            DeploymentState::Cancelled,
            false,
        ),
        (
            JobState::Terminated,
            D::Running,
            DeploymentState::Transitioning,
            false,
        ),
    ];
    for (job_state, desired, becomes, keeps_failure) in rows {
        let mut d = deployment(desired, U::Stateful, 1);
        let mut j = job(&d, JobState::Started, 1);
        mark_running(&mut d, &j);
        j.status.state = job_state;
        if job_state == JobState::Failed {
            j.status.failure = Some(FailureReason::JobFailed.failure("the job failed in Flink"));
        }
        let want = Action::DeploymentEnded {
            job: j.metadata.id,
            deployment_state: becomes,
            failure: keeps_failure.then(|| {
                (
                    FailureReason::JobFailed,
                    "the job failed in Flink".to_string(),
                )
            }),
        };
        assert_eq!(
            plan(&Observed {
                last_job: Some(&j),
                ..observed(&d, &answers(FlinkView::NotAsked))
            }),
            want,
            "{job_state} / {desired}"
        );
    }
}

#[test]
fn a_recorded_end_or_a_refused_submission_is_not_recorded_again() {
    // An upgrade's job ended and the deployment says TRANSITIONING without a job: the next job starts.
    let mut d = deployment(D::Running, U::Stateful, 2);
    d.status.state = DeploymentState::Transitioning;
    let mut old = job(&d, JobState::Terminated, 1);
    old.metadata.created_at = crate::now() - Duration::minutes(1);
    let a = answers(FlinkView::NotAsked);
    assert!(matches!(
        plan(&Observed {
            last_job: Some(&old),
            ..observed(&d, &a)
        }),
        Action::StartJob { .. }
    ));
    // A refused submission was counted on the deployment first: it backs off and retries instead.
    let mut refused = job(&d, JobState::Failed, 2);
    refused.status.failure = Some(FailureReason::JobSubmissionFailed.failure("refused"));
    d.status.transition = Some(Transition {
        job_attempts: 1,
        last_attempt_at: Some(crate::now()),
        ..towards(D::Running)
    });
    d.status.transition.as_mut().unwrap().spec_version = 2;
    assert!(matches!(
        plan(&Observed {
            last_job: Some(&refused),
            ..observed(&d, &a)
        }),
        Action::Backoff { .. }
    ));
}

/// Everything planning looks at, without a current or last job.
fn observed<'a>(d: &'a Deployment, answers: &'a Answers) -> Observed<'a> {
    Observed {
        deployment: d,
        current_job: None,
        last_job: None,
        savepoints: &[],
        savepoints_configured: true,
        triggered: &[],
        answers,
        now: crate::now(),
    }
}
