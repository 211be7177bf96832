//! Tests of the wire types: request bodies as Flink expects them, and Flink's answers decoded.

use super::*;
use crate::ids::TriggerId;
use serde_json::json;

fn op(v: serde_json::Value) -> AsyncOperationWire {
    serde_json::from_value(v).unwrap()
}

#[test]
fn savepoint_body_is_kebab_case_and_stop_body_camel_case() {
    let trigger_id = TriggerId::parse("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap();
    let sp = SavepointTrigger {
        target_directory: "file:///sp".into(),
        format: SavepointFormat::Canonical,
        trigger_id: trigger_id.clone(),
        cancel_job: false,
    };
    assert_eq!(
        serde_json::to_value(SavepointTriggerBody::from(&sp)).unwrap(),
        json!({"target-directory": "file:///sp", "cancel-job": false, "formatType": "CANONICAL",
               "triggerId": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    );
    let stop = StopWithSavepoint {
        target_directory: "file:///sp".into(),
        format: SavepointFormat::Native,
        trigger_id,
        drain: true,
    };
    assert_eq!(
        serde_json::to_value(StopBody::from(&stop)).unwrap(),
        json!({"targetDirectory": "file:///sp", "drain": true, "formatType": "NATIVE",
               "triggerId": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    );
    assert_eq!(
        serde_json::to_value(DisposalBody {
            savepoint_path: "file:/sp/x"
        })
        .unwrap(),
        json!({"savepoint-path": "file:/sp/x"})
    );
}

#[test]
fn run_body_speaks_each_dialect_and_omits_unset_fields() {
    let job_id = FlinkJobId::parse("0123456789abcdef0123456789abcdef").unwrap();
    let req = RunJarRequest {
        entry_class: Some("io.stateplane.examples.StatefulCounter".into()),
        program_args: vec!["10".into(), "--tag".into(), "a b".into()],
        parallelism: Some(2),
        savepoint_path: Some("file:///sp/savepoint-1".into()),
        allow_non_restored_state: Some(false),
        claim_mode: Some(ClaimMode::NoClaim),
        job_id: Some(job_id),
        flink_configuration: BTreeMap::from([
            (
                "execution.checkpointing.interval".to_owned(),
                "1 s".to_owned(),
            ),
            ("state.savepoints.dir".to_owned(), "file:///sp".to_owned()),
            (
                "execution.checkpointing.dir".to_owned(),
                "file:///ck".to_owned(),
            ),
        ]),
    };
    let body = |v: &str| {
        serde_json::to_value(RunJarBody::new(&req, &FlinkVersion::parse(v).unwrap())).unwrap()
    };
    let common = json!({
        "entryClass": "io.stateplane.examples.StatefulCounter",
        "programArgsList": ["10", "--tag", "a b"],
        "parallelism": 2,
        "savepointPath": "file:///sp/savepoint-1",
        "allowNonRestoredState": false,
        "jobId": "0123456789abcdef0123456789abcdef",
    });
    let with = |extra: serde_json::Value| {
        let mut v = common.clone();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    assert_eq!(
        body("2.3.0"),
        with(json!({"claimMode": "NO_CLAIM", "flinkConfiguration": {
            "execution.checkpointing.interval": "1 s",
            "execution.checkpointing.savepoint-dir": "file:///sp",
            "execution.checkpointing.dir": "file:///ck"}}))
    );
    // 1.20 reads both spellings (2.x ones win); `restoreMode` is what every 1.x reads.
    assert_eq!(
        body("1.20.5"),
        with(json!({"restoreMode": "NO_CLAIM", "flinkConfiguration": {
            "execution.checkpointing.interval": "1 s",
            "execution.checkpointing.savepoint-dir": "file:///sp",
            "execution.checkpointing.dir": "file:///ck"}}))
    );
    assert_eq!(
        body("1.19.3"),
        with(json!({"restoreMode": "NO_CLAIM", "flinkConfiguration": {
            "execution.checkpointing.interval": "1 s",
            "state.savepoints.dir": "file:///sp",
            "state.checkpoints.dir": "file:///ck"}}))
    );
    let empty = RunJarRequest::default();
    for v in ["1.20.5", "2.3.0"] {
        assert_eq!(
            serde_json::to_value(RunJarBody::new(&empty, &FlinkVersion::parse(v).unwrap()))
                .unwrap(),
            json!({}),
            "{v}"
        );
    }
    assert_eq!(
        serde_json::to_value(ClaimMode::Claim).unwrap(),
        json!("CLAIM")
    );
}

#[test]
fn savepoint_status_mapping() {
    assert_eq!(
        op(json!({"status": {"id": "IN_PROGRESS"}}))
            .into_savepoint_status()
            .unwrap(),
        SavepointStatus::InProgress
    );
    assert_eq!(
        op(json!({"status": {"id": "COMPLETED"}, "operation": {"location": "file:/sp/savepoint-3e6cba-3a4ec6fd7c0d"}}))
            .into_savepoint_status()
            .unwrap(),
        SavepointStatus::Completed { location: "file:/sp/savepoint-3e6cba-3a4ec6fd7c0d".into() }
    );
    // Flink reports a failed savepoint as COMPLETED with a failure cause.
    let failed = op(
        json!({"status": {"id": "COMPLETED"}, "operation": {"failure-cause": {
        "class": "java.util.concurrent.CompletionException",
        "stack-trace": "java.util.concurrent.CompletionException: org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (3e6cba7f53181a6e67c0a911a542c471)\n\tat java.base/java.util.concurrent.CompletableFuture.encodeThrowable(CompletableFuture.java:332)\nCaused by: org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (3e6cba7f53181a6e67c0a911a542c471)\n\t... 36 more\n",
        "serialized-throwable": "rO0ABXNy"}}}),
    );
    assert_eq!(
        failed.into_savepoint_status().unwrap(),
        SavepointStatus::Failed {
            root_cause: "Could not find Flink job (3e6cba7f53181a6e67c0a911a542c471)".into()
        }
    );
    assert!(op(json!({"status": {"id": "COMPLETED"}, "operation": {}}))
        .into_savepoint_status()
        .is_err());
    assert!(op(json!({"status": {"id": "EXPLODED"}}))
        .into_savepoint_status()
        .is_err());
}

#[test]
fn disposal_status_mapping() {
    assert_eq!(
        op(json!({"status": {"id": "COMPLETED"}, "operation": {}}))
            .into_disposal_status()
            .unwrap(),
        DisposalStatus::Completed
    );
    assert_eq!(
        op(json!({"status": {"id": "COMPLETED"}}))
            .into_disposal_status()
            .unwrap(),
        DisposalStatus::Completed
    );
    let failed = op(
        json!({"status": {"id": "COMPLETED"}, "operation": {"failure-cause": {
        "class": "org.apache.flink.util.FlinkException",
        "stack-trace": "org.apache.flink.util.FlinkException: Could not dispose savepoint file:/tmp/sp-probe/nope.\n\tat org.apache.flink.runtime.dispatcher.Dispatcher.lambda$disposeSavepoint$29(Dispatcher.java:1)\nCaused by: java.io.FileNotFoundException: Cannot find checkpoint or savepoint file/directory 'file:/tmp/sp-probe/nope' on file system 'file'.\n\tat x.y(Z.java:1)\n"}}}),
    );
    assert_eq!(
        failed.into_disposal_status().unwrap(),
        DisposalStatus::Failed {
            root_cause: "Cannot find checkpoint or savepoint file/directory 'file:/tmp/sp-probe/nope' on file system 'file'.".into()
        }
    );
}

#[test]
fn job_details_map_minus_one_to_none() {
    let wire: JobWire = serde_json::from_value(json!({
        "jid": "3e6cba7f53181a6e67c0a911a542c471", "name": "stateful-counter", "isStoppable": false,
        "state": "RUNNING", "start-time": 1795606009356i64, "end-time": -1, "duration": 5,
        "vertices": [
            {"id": "x", "name": "Source: sequence", "status": "RUNNING", "parallelism": 1, "maxParallelism": 128},
            {"id": "y", "name": "count-per-key -> Sink: print-sink", "status": "DEPLOYING", "parallelism": 1}
        ]
    }))
    .unwrap();
    let job = wire.into_details().unwrap();
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.start_time_ms, Some(1795606009356));
    assert_eq!(job.end_time_ms, None);
    assert_eq!(job.vertices.len(), 2);
    assert!(!job.all_vertices_running());
}

#[test]
fn checkpoint_stats_are_tolerant() {
    let empty: CheckpointingWire = serde_json::from_value(json!({
        "counts": {"restored": 0, "total": 0, "in_progress": 0, "completed": 0, "failed": 0},
        "latest": {"completed": null, "savepoint": null, "failed": null, "restored": null},
        "history": []
    }))
    .unwrap();
    assert_eq!(CheckpointStats::from(empty), CheckpointStats::default());
    let bare: CheckpointingWire = serde_json::from_value(json!({})).unwrap();
    assert_eq!(CheckpointStats::from(bare), CheckpointStats::default());

    let full: CheckpointingWire = serde_json::from_value(json!({
        "counts": {"restored": 1, "total": 3, "in_progress": 0, "completed": 3, "failed": 0},
        "latest": {
            "completed": {"id": 7, "status": "COMPLETED", "is_savepoint": false, "trigger_timestamp": 10,
                          "latest_ack_timestamp": 12, "external_path": "file:/ck/j/chk-7", "discarded": false},
            "savepoint": {"id": 5, "is_savepoint": true, "external_path": "file:/sp/savepoint-1",
                          "trigger_timestamp": 5, "latest_ack_timestamp": null},
            "restored": {"id": 4, "restore_timestamp": 3, "is_savepoint": true, "external_path": "file:/sp/s0"},
            "failed": {"id": 8, "status": "FAILED", "failure_timestamp": 20,
                       "failure_message": "Checkpoint expired before completing."}
        }
    }))
    .unwrap();
    let stats = CheckpointStats::from(full);
    let completed = stats.latest_completed.unwrap();
    assert_eq!(
        (completed.id, completed.external_path.as_deref()),
        (7, Some("file:/ck/j/chk-7"))
    );
    assert_eq!(completed.latest_ack_timestamp_ms, Some(12));
    let savepoint = stats.latest_savepoint.unwrap();
    assert!(savepoint.is_savepoint);
    assert_eq!(savepoint.latest_ack_timestamp_ms, None);
    let restored = stats.latest_restored.unwrap();
    assert_eq!(
        (restored.id, restored.external_path.as_deref()),
        (4, Some("file:/sp/s0"))
    );
    assert_eq!(stats.counts.completed, 3);
    let failed = stats.latest_failed.unwrap();
    assert_eq!(
        (
            failed.id,
            failed.failure_timestamp_ms,
            failed.failure_message.as_deref()
        ),
        (8, Some(20), Some("Checkpoint expired before completing."))
    );

    let unaddressable: CheckpointingWire = serde_json::from_value(json!({"latest": {"completed":
        {"id": 1, "external_path": "<checkpoint-not-externally-addressable>"}}}))
    .unwrap();
    assert_eq!(
        CheckpointStats::from(unaddressable)
            .latest_completed
            .unwrap()
            .external_path,
        None
    );
}

#[test]
fn exceptions_reduce_to_the_latest_root_cause() {
    let wire: ExceptionsWire =
        serde_json::from_str(include_str!("../../testdata/job-exceptions-failed.json")).unwrap();
    let failures = wire.failures();
    assert_eq!(
        wire.latest_root_cause().as_deref(),
        Some("deliberate failure after 5 records (--fail-after)")
    );
    let none: ExceptionsWire =
        serde_json::from_value(json!({"exceptionHistory": {"entries": [], "truncated": false}}))
            .unwrap();
    assert_eq!((failures, none.failures()), (1, 0));
    assert_eq!(none.latest_root_cause(), None);
    let legacy: ExceptionsWire =
        serde_json::from_value(json!({"root-exception": "java.lang.Exception: x"})).unwrap();
    assert_eq!(legacy.failures(), 1);
}

#[test]
fn upload_answer_yields_the_jar_id() {
    let ok = UploadWire {
        filename: "/tmp/flink-web-upload/2ae6b675-1b3e-4483-8d2b-89cb7c4d7d20_job.jar".into(),
        status: "success".into(),
    };
    assert_eq!(
        ok.jar_id().unwrap().as_str(),
        "2ae6b675-1b3e-4483-8d2b-89cb7c4d7d20_job.jar"
    );
    let bad = UploadWire {
        filename: String::new(),
        status: "success".into(),
    };
    assert!(bad.jar_id().is_err());
}
