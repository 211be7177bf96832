//! The Flink client against a real Flink session cluster (one per test binary, from
//! `stateplane-testkit`: 2.3 by default, `STATEPLANE_TEST_FLINK_VERSION=1.20.5` runs the same tests
//! on 1.20). Each test runs its own jobs with its own ids and directories, so the tests
//! run in parallel. Flink's REST server caches job status and checkpoint statistics for up to 3 s:
//! every observation is polled with a deadline, never assumed.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stateplane_flink::{
    ClaimMode, DisposalStatus, FlinkClient, FlinkError, FlinkJobId, JarId, JobDetails, JobState,
    RunJarRequest, SavepointFormat, SavepointStatus, SavepointTrigger, StopWithSavepoint,
    TriggerId,
};
use stateplane_testkit::flink::shared_cluster;
use stateplane_testkit::temp_dir;

const DEADLINE: Duration = Duration::from_secs(60);

fn client() -> FlinkClient {
    FlinkClient::new(shared_cluster().rest_url()).expect("valid REST URL")
}

/// Polls `f` until it yields `Some`, or panics after `DEADLINE` naming `what`.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    stateplane_testkit::wait::until_async(what, DEADLINE, || {
        let probe = f();
        async move { probe.await.ok_or_else(|| "not yet".to_string()) }
    })
    .await
}

/// `file:/x`, `file:///x` and `/x` all become `/x`.
fn local_path(uri: &str) -> PathBuf {
    let p = uri.strip_prefix("file:").unwrap_or(uri);
    PathBuf::from(format!("/{}", p.trim_start_matches('/')))
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

async fn upload_example(c: &FlinkClient) -> JarId {
    c.upload_jar(&shared_cluster().example_jar())
        .await
        .expect("upload example jar")
}

fn example_args(tag: &str) -> Vec<String> {
    vec!["20".into(), "--tag".into(), tag.into()]
}

/// Uploads the example job and runs it with `tag` (not waiting for its tasks).
async fn run_example(c: &FlinkClient, tag: &str) -> FlinkJobId {
    let jar = upload_example(c).await;
    c.run_jar(
        &jar,
        &RunJarRequest {
            program_args: example_args(tag),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn wait_all_running(c: &FlinkClient, job: &FlinkJobId) -> JobDetails {
    eventually(&format!("all vertices of {job} RUNNING"), || async {
        c.job(job)
            .await
            .expect("job details")
            .filter(JobDetails::all_vertices_running)
    })
    .await
}

async fn wait_state(c: &FlinkClient, job: &FlinkJobId, state: JobState) -> JobDetails {
    eventually(&format!("job {job} in state {state}"), || async {
        c.job(job)
            .await
            .expect("job details")
            .filter(|j| j.state == state)
    })
    .await
}

async fn wait_savepoint(c: &FlinkClient, job: &FlinkJobId, trigger: &TriggerId) -> SavepointStatus {
    eventually(&format!("savepoint {trigger} of {job} to end"), || async {
        match c
            .savepoint_status(job, trigger)
            .await
            .expect("savepoint status")
        {
            SavepointStatus::InProgress => None,
            done => Some(done),
        }
    })
    .await
}

async fn completed_savepoint(c: &FlinkClient, job: &FlinkJobId, trigger: &TriggerId) -> String {
    match wait_savepoint(c, job, trigger).await {
        SavepointStatus::Completed { location } => location,
        other => panic!("savepoint {trigger} of {job} did not complete: {other:?}"),
    }
}

/// `(key, count, last)` of every line the example job printed with `tag`.
fn printed(tag: &str) -> Vec<(u64, u64, u64)> {
    stateplane_testkit::flink::example_job_lines(&shared_cluster().taskmanager_stdout(), tag)
}

fn unique_tag(name: &str) -> String {
    format!("{name}-{}", &TriggerId::random().as_str()[..8])
}

#[tokio::test]
async fn job_runs_until_all_vertices_run_and_cancels() {
    let c = client();
    let overview = c.overview().await.unwrap();
    assert_eq!(
        overview.flink_version,
        shared_cluster().flink_version(),
        "{overview:?}"
    );
    let version = c.flink_version().await.unwrap();
    assert_eq!(version.as_str(), shared_cluster().flink_version());
    assert_eq!(c.cached_version(), Some(version));
    assert_eq!(overview.taskmanagers, 1);
    assert!(overview.slots_total >= 4, "{overview:?}");

    let jar = upload_example(&c).await;
    assert!(c
        .list_jars()
        .await
        .unwrap()
        .iter()
        .any(|j| j.id == jar && j.name.ends_with(".jar")));

    let started = Instant::now();
    let job = c
        .run_jar(
            &jar,
            &RunJarRequest {
                program_args: example_args(&unique_tag("run")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let details = wait_all_running(&c, &job).await;
    eprintln!("submit -> all vertices RUNNING: {:?}", started.elapsed());
    assert_eq!(details.name, "stateful-counter");
    assert_eq!(details.vertices.len(), 2, "{details:?}");
    assert!(details.start_time_ms.is_some() && details.end_time_ms.is_none());

    let summaries = eventually("job in /jobs/overview", || async {
        let all = c.jobs_overview().await.unwrap();
        all.into_iter().find(|s| s.id == job)
    })
    .await;
    assert_eq!(summaries.name, "stateful-counter");

    let stats = c.checkpoints(&job).await.unwrap();
    assert!(
        stats.latest_completed.is_none() && stats.latest_restored.is_none(),
        "{stats:?}"
    );

    assert_eq!(c.job_status(&job).await.unwrap(), Some(JobState::Running));
    assert_eq!(c.job_status(&FlinkJobId::random()).await.unwrap(), None);

    let started = Instant::now();
    c.cancel(&job).await.unwrap();
    eventually("fresh status CANCELED", || async {
        (c.job_status(&job).await.unwrap() == Some(JobState::Canceled)).then_some(())
    })
    .await;
    eprintln!("cancel -> CANCELED via job_status: {:?}", started.elapsed());
    let canceled = wait_state(&c, &job, JobState::Canceled).await;
    eprintln!(
        "cancel -> CANCELED via job (cached): {:?}",
        started.elapsed()
    );
    assert!(canceled.state.is_globally_terminal() && canceled.end_time_ms.is_some());
    // Cancelling a cancelled job is not an error.
    c.cancel(&job).await.unwrap();

    c.delete_jar(&jar).await.unwrap();
    assert!(!c.list_jars().await.unwrap().iter().any(|j| j.id == jar));
}

#[tokio::test]
async fn savepoint_with_client_trigger_id_is_idempotent_and_writes_metadata() {
    let c = client();
    let job = run_example(&c, &unique_tag("sp")).await;
    wait_all_running(&c, &job).await;

    let dir = temp_dir();
    let trigger = SavepointTrigger {
        target_directory: file_uri(dir.path()),
        format: SavepointFormat::Canonical,
        trigger_id: TriggerId::random(),
        cancel_job: false,
    };
    let started = Instant::now();
    assert_eq!(
        c.trigger_savepoint(&job, &trigger).await.unwrap(),
        trigger.trigger_id
    );
    // The same trigger id again: the same operation, not a second savepoint.
    assert_eq!(
        c.trigger_savepoint(&job, &trigger).await.unwrap(),
        trigger.trigger_id
    );
    let location = completed_savepoint(&c, &job, &trigger.trigger_id).await;
    eprintln!(
        "savepoint trigger -> COMPLETED: {:?} ({location})",
        started.elapsed()
    );
    assert_eq!(
        c.trigger_savepoint(&job, &trigger).await.unwrap(),
        trigger.trigger_id
    );
    assert_eq!(
        completed_savepoint(&c, &job, &trigger.trigger_id).await,
        location
    );

    let sp_dir = local_path(&location);
    assert!(
        sp_dir.starts_with(dir.path()),
        "{location} not under {}",
        dir.path().display()
    );
    let metadata = std::fs::read(sp_dir.join("_metadata")).expect("_metadata written");
    assert_eq!(
        metadata.get(..4),
        Some(&[0x49, 0x60, 0x67, 0x2D][..]),
        "savepoint magic number"
    );
    let savepoints: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(
        savepoints.len(),
        1,
        "one trigger id, one savepoint: {savepoints:?}"
    );

    let latest = eventually("savepoint in checkpoint statistics", || async {
        c.checkpoints(&job).await.unwrap().latest_savepoint
    })
    .await;
    assert!(latest.is_savepoint);
    assert_eq!(
        latest.external_path.as_deref().map(local_path),
        Some(sp_dir)
    );

    c.cancel(&job).await.unwrap();
}

#[tokio::test]
async fn stop_with_savepoint_then_restore_continues_the_counts() {
    let c = client();
    let jar = upload_example(&c).await;
    let tag_before = unique_tag("stop");
    let job = c
        .run_jar(
            &jar,
            &RunJarRequest {
                program_args: example_args(&tag_before),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    wait_all_running(&c, &job).await;
    eventually("output for every key", || async {
        let keys: std::collections::BTreeSet<u64> =
            printed(&tag_before).iter().map(|l| l.0).collect();
        (keys.len() == 4).then_some(())
    })
    .await;

    let dir = temp_dir();
    let stop = StopWithSavepoint {
        target_directory: file_uri(dir.path()),
        format: SavepointFormat::Canonical,
        trigger_id: TriggerId::random(),
        drain: false,
    };
    let started = Instant::now();
    assert_eq!(
        c.stop_with_savepoint(&job, &stop).await.unwrap(),
        stop.trigger_id
    );
    let location = completed_savepoint(&c, &job, &stop.trigger_id).await;
    eprintln!("stop-with-savepoint -> COMPLETED: {:?}", started.elapsed());
    let finished = wait_state(&c, &job, JobState::Finished).await;
    eprintln!(
        "stop-with-savepoint -> FINISHED observed: {:?}",
        started.elapsed()
    );
    assert!(finished.end_time_ms.is_some());
    assert!(local_path(&location).join("_metadata").is_file());

    // A finished job can no longer be cancelled, nor savepointed.
    let err = c.cancel(&job).await.unwrap_err();
    assert!(matches!(err, FlinkError::AlreadyTerminal { .. }), "{err:?}");
    assert!(err.to_string().contains("FINISHED"), "{err}");
    let late = SavepointTrigger {
        target_directory: file_uri(dir.path()),
        format: SavepointFormat::Canonical,
        trigger_id: TriggerId::random(),
        cancel_job: false,
    };
    match c.trigger_savepoint(&job, &late).await {
        Ok(trigger) => match wait_savepoint(&c, &job, &trigger).await {
            SavepointStatus::Failed { root_cause } => {
                assert!(!root_cause.contains('\n'), "{root_cause}")
            }
            other => panic!("savepoint of a FINISHED job: {other:?}"),
        },
        Err(e) => assert!(!e.is_retryable(), "{e:?}"),
    }

    let mut last_count = BTreeMap::new();
    for (key, count, _) in printed(&tag_before) {
        last_count.insert(key, count);
    }

    let tag_after = unique_tag("restored");
    let started = Instant::now();
    let restored = c
        .run_jar(
            &jar,
            &RunJarRequest {
                program_args: example_args(&tag_after),
                savepoint_path: Some(location.clone()),
                claim_mode: Some(ClaimMode::NoClaim),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    wait_all_running(&c, &restored).await;
    eprintln!(
        "restore from savepoint -> all vertices RUNNING: {:?}",
        started.elapsed()
    );
    let from = eventually("restore in checkpoint statistics", || async {
        c.checkpoints(&restored).await.unwrap().latest_restored
    })
    .await;
    assert_eq!(
        from.external_path.as_deref().map(local_path),
        Some(local_path(&location))
    );

    // State carried over: each key's first count after the restore continues the saved count.
    let first_after = eventually("output for every key after restore", || async {
        let mut first = BTreeMap::new();
        for (key, count, _) in printed(&tag_after) {
            first.entry(key).or_insert(count);
        }
        (first.len() == 4).then_some(first)
    })
    .await;
    for (key, count) in &first_after {
        assert_eq!(
            Some(count - 1),
            last_count.get(key).copied(),
            "key {key}: before {last_count:?}, after {first_after:?}"
        );
    }
    c.cancel(&restored).await.unwrap();
}

#[tokio::test]
async fn retained_checkpoint_survives_cancel() {
    let c = client();
    let jar = upload_example(&c).await;
    let dir = temp_dir();
    let config = BTreeMap::from([
        (
            "execution.checkpointing.interval".to_owned(),
            "500 ms".to_owned(),
        ),
        (
            "execution.checkpointing.dir".to_owned(),
            file_uri(dir.path()),
        ),
        (
            "execution.checkpointing.externalized-checkpoint-retention".to_owned(),
            "RETAIN_ON_CANCELLATION".to_owned(),
        ),
    ]);
    let job = c
        .run_jar(
            &jar,
            &RunJarRequest {
                program_args: example_args(&unique_tag("ckpt")),
                flink_configuration: config,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    wait_all_running(&c, &job).await;
    let completed = eventually("a completed checkpoint", || async {
        c.checkpoints(&job).await.unwrap().latest_completed
    })
    .await;
    let path = local_path(
        completed
            .external_path
            .as_deref()
            .expect("checkpoint has a path"),
    );
    assert!(
        path.starts_with(dir.path().join(job.as_str())),
        "{}",
        path.display()
    );
    assert!(
        !completed.is_savepoint && completed.latest_ack_timestamp_ms.is_some(),
        "{completed:?}"
    );

    c.cancel(&job).await.unwrap();
    wait_state(&c, &job, JobState::Canceled).await;
    let retained: Vec<PathBuf> = std::fs::read_dir(dir.path().join(job.as_str()))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("chk-"))
        })
        .filter(|p| p.join("_metadata").is_file())
        .collect();
    assert!(
        !retained.is_empty(),
        "no chk-N/_metadata retained in {}",
        dir.path().display()
    );
}

#[tokio::test]
async fn restore_from_missing_snapshot_is_an_api_error_with_flinks_reason() {
    let c = client();
    let jar = upload_example(&c).await;
    let dir = temp_dir();
    let run = |path: String| RunJarRequest {
        savepoint_path: Some(path),
        ..Default::default()
    };

    let err = c
        .run_jar(&jar, &run(file_uri(&dir.path().join("nope"))))
        .await
        .unwrap_err();
    match &err {
        FlinkError::Api { status, root_cause } => {
            assert_eq!(*status, 400);
            assert!(
                root_cause.contains("Cannot find checkpoint or savepoint"),
                "{root_cause}"
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(!err.to_string().contains("\tat "), "{err}");
    assert!(!err.is_retryable());

    // An existing directory without _metadata is refused too.
    let err = c
        .run_jar(&jar, &run(file_uri(dir.path())))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FlinkError::Api { root_cause, .. } if root_cause.contains("_metadata")),
        "{err:?}"
    );
}

#[tokio::test]
async fn fixed_job_id_is_submitted_at_most_once() {
    let c = client();
    let jar = upload_example(&c).await;
    let id = FlinkJobId::random();
    let request = RunJarRequest {
        program_args: example_args(&unique_tag("once")),
        job_id: Some(id.clone()),
        ..Default::default()
    };
    assert_eq!(c.run_jar(&jar, &request).await.unwrap(), id);
    let err = c.run_jar(&jar, &request).await.unwrap_err();
    assert!(
        matches!(
            err,
            FlinkError::Api {
                status: 400..=499,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.is_duplicate_submission(),
        "the controller adopts on this: {err}"
    );
    eprintln!("duplicate submission refused: {err}");
    let running = wait_all_running(&c, &id).await;
    assert_eq!(running.state, JobState::Running);
    c.cancel(&id).await.unwrap();
}

#[tokio::test]
async fn disposal_deletes_the_savepoint_directory() {
    let c = client();
    let job = run_example(&c, &unique_tag("dispose")).await;
    wait_all_running(&c, &job).await;
    let dir = temp_dir();
    let trigger = SavepointTrigger {
        target_directory: file_uri(dir.path()),
        format: SavepointFormat::Native,
        trigger_id: TriggerId::random(),
        cancel_job: true,
    };
    c.trigger_savepoint(&job, &trigger).await.unwrap();
    let location = completed_savepoint(&c, &job, &trigger.trigger_id).await;
    wait_state(&c, &job, JobState::Canceled).await;
    assert!(local_path(&location).join("_metadata").is_file());

    let disposal = c.dispose_savepoint(&location).await.unwrap();
    let status = eventually("disposal to end", || async {
        match c.disposal_status(&disposal).await.unwrap() {
            DisposalStatus::InProgress => None,
            done => Some(done),
        }
    })
    .await;
    assert_eq!(status, DisposalStatus::Completed);
    assert!(!local_path(&location).exists(), "{location} still exists");

    let bogus = c
        .dispose_savepoint(&file_uri(&dir.path().join("never-written")))
        .await
        .unwrap();
    let status = eventually("bogus disposal to end", || async {
        match c.disposal_status(&bogus).await.unwrap() {
            DisposalStatus::InProgress => None,
            done => Some(done),
        }
    })
    .await;
    assert!(
        matches!(&status, DisposalStatus::Failed { root_cause } if !root_cause.contains('\n')),
        "{status:?}"
    );

    let err = c.disposal_status(&TriggerId::random()).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn unknown_jobs_and_triggers_are_recognisably_not_found() {
    let c = client();
    let nobody = FlinkJobId::random();
    assert_eq!(c.job(&nobody).await.unwrap(), None);
    for err in [
        c.cancel(&nobody).await.unwrap_err(),
        c.checkpoints(&nobody).await.unwrap_err(),
        c.savepoint_status(&nobody, &TriggerId::random())
            .await
            .unwrap_err(),
        c.job_exceptions(&nobody).await.unwrap_err(),
    ] {
        assert!(err.is_not_found(), "{err:?}");
        assert!(!err.is_retryable());
    }

    // A known job with an unknown trigger.
    let job = run_example(&c, &unique_tag("nf")).await;
    let err = c
        .savepoint_status(&job, &TriggerId::random())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    wait_all_running(&c, &job).await;
    c.cancel(&job).await.unwrap();

    let err = c
        .delete_jar(&JarId::parse("00000000-0000-0000-0000-000000000000_missing.jar").unwrap())
        .await;
    assert!(err.is_err(), "deleting a missing jar: {err:?}");
}

#[tokio::test]
async fn failing_job_ends_failed_with_its_root_cause() {
    let c = client();
    let jar = upload_example(&c).await;
    let mut args = example_args(&unique_tag("fail"));
    args.extend(["--fail-after".to_owned(), "5".to_owned()]);
    let job = c
        .run_jar(
            &jar,
            &RunJarRequest {
                program_args: args,
                flink_configuration: BTreeMap::from([(
                    "restart-strategy.type".to_owned(),
                    "none".to_owned(),
                )]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let failed = wait_state(&c, &job, JobState::Failed).await;
    assert!(failed.state.is_globally_terminal());
    let cause = c.job_exceptions(&job).await.unwrap();
    assert_eq!(
        cause.as_deref(),
        Some("deliberate failure after 5 records (--fail-after)")
    );
    let err = c.cancel(&job).await.unwrap_err();
    assert!(matches!(err, FlinkError::AlreadyTerminal { .. }), "{err:?}");
}

#[tokio::test]
async fn short_timeouts_are_reported_as_timeouts() {
    let c = client().with_timeout(Duration::from_nanos(1));
    let err = c.overview().await.unwrap_err();
    assert!(matches!(err, FlinkError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
}
