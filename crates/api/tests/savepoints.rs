//! `/api/v1/namespaces/{ns}/savepoints`: the seed's registration body, requests, deletion, long-poll.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use stateplane_api::ApiConfig;
use stateplane_model::paths::NO_SAVEPOINT_DIR;
use stateplane_model::{
    DeploymentId, Savepoint, SavepointId, SavepointOrigin, SavepointState, SPEC_VERSION_ANNOTATION,
};

const SAVEPOINTS: &str = "/api/v1/namespaces/default/savepoints";

/// A directory holding a `_metadata` with Flink's header, as a `file://` URI: registration checks it.
fn snapshot(base: &std::path::Path, name: &str) -> String {
    let dir = base.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("_metadata"),
        stateplane_blob::header::encode_header(6, 1),
    )
    .unwrap();
    format!("file://{}", dir.display())
}

/// The body of Ververica's "Manually Adding a Savepoint Resource", verbatim (placeholders filled in).
fn seed_yaml(deployment_id: &str, spec_version: &str, location: &str) -> String {
    format!(
        "metadata:\n  deploymentId: {deployment_id}\n  annotations:\n    \
         com.dataartisans.appmanager.controller.deployment.spec.version: {spec_version}\n\
         spec:\n  savepointLocation:  {location}\n  flinkSavepointId: 00000000-0000-0000-0000-000000000000\n\
         status:\n  state: COMPLETED\n"
    )
}

#[tokio::test]
async fn the_seed_body_registers_a_snapshot_in_yaml_and_json() {
    let s = start().await;
    let snapshots = tempfile::tempdir().unwrap();
    let seed_location = snapshot(snapshots.path(), "savepoint-1a2b3c-0123456789ab");
    let d = s
        .create_deployment(
            "default",
            "seeded",
            json!({"restoreStrategy": {"kind": "LATEST_SAVEPOINT"}}),
        )
        .await;
    let dep_id = id_of(&d);
    let spec_version = d["metadata"]["annotations"][SPEC_VERSION_ANNOTATION]
        .as_str()
        .unwrap()
        .to_string();

    // YAML, exactly as documented (the spec version unquoted, so a YAML integer)
    let r = s
        .post_yaml(
            SAVEPOINTS,
            &seed_yaml(&dep_id, &spec_version, &seed_location),
        )
        .await;
    let sp = r.ok(201).clone();
    let yaml_id = id_of(&sp);
    let got = s.get(&format!("{SAVEPOINTS}/{yaml_id}")).await;
    let got = got.ok(200);
    assert_eq!(got["metadata"]["origin"], "COPIED");
    assert_eq!(got["status"]["state"], "COMPLETED");
    assert_eq!(got["metadata"]["deploymentId"], dep_id.as_str());
    assert_eq!(
        got["metadata"]["annotations"][SPEC_VERSION_ANNOTATION],
        spec_version.as_str()
    );
    assert_eq!(got["spec"]["savepointLocation"], seed_location.as_str());
    assert_eq!(
        got["spec"]["flinkSavepointId"],
        "00000000-0000-0000-0000-000000000000"
    );

    // JSON, with an `origin` the server ignores
    let r = s
        .post(SAVEPOINTS, &json!({
            "metadata": {"deploymentId": dep_id, "origin": "USER_REQUEST",
                         "annotations": {SPEC_VERSION_ANNOTATION: spec_version}},
            "spec": {"savepointLocation": snapshot(snapshots.path(), "savepoint-2"), "flinkSavepointId": "00000000-0000-0000-0000-000000000000"},
            "status": {"state": "COMPLETED"}
        }))
        .await;
    let json_id = id_of(r.ok(201));
    let got = s.get(&format!("{SAVEPOINTS}/{json_id}")).await;
    assert_eq!(got.ok(200)["metadata"]["origin"], "COPIED");
    assert_eq!(got.json["status"]["state"], "COMPLETED");

    // a newer registration without the annotation: kept and listed, but never chosen
    let r = s
        .post(
            SAVEPOINTS,
            &json!({
                "metadata": {"deploymentId": dep_id},
                "spec": {"savepointLocation": snapshot(snapshots.path(), "unannotated")},
                "status": {"state": "completed"}
            }),
        )
        .await;
    let bare_id = id_of(r.ok(201));
    let list = s.get(&format!("{SAVEPOINTS}?deploymentId={dep_id}")).await;
    let ids: Vec<&str> = list.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![bare_id.as_str(), json_id.as_str(), yaml_id.as_str()],
        "newest first"
    );

    let preview = s
        .get(&format!(
            "/api/v1/namespaces/default/deployments/{dep_id}/restore-preview"
        ))
        .await;
    let p = preview.ok(200);
    assert_eq!(p["strategy"], "LATEST_SAVEPOINT");
    assert_eq!(p["savepointId"], json_id.as_str(), "{p}");
    let skipped = p["skipped"].as_array().unwrap();
    let bare = skipped
        .iter()
        .find(|s| s["savepointId"] == bare_id.as_str())
        .expect("the unannotated one is listed");
    assert!(
        bare["reason"]
            .as_str()
            .unwrap()
            .contains(SPEC_VERSION_ANNOTATION),
        "{bare}"
    );
    // also by name, and in YAML
    let r = s
        .raw(
            reqwest::Method::GET,
            "/api/v1/namespaces/default/deployments/seeded/restore-preview",
            &[("accept", "text/yaml")],
            None,
        )
        .await;
    assert!(r.text.contains("strategy: LATEST_SAVEPOINT"), "{}", r.text);
}

#[tokio::test]
async fn registering_needs_a_deployment_of_this_namespace() {
    let s = start().await;
    s.post(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "other"}}),
    )
    .await
    .ok(201);
    let foreign = s.create_deployment("other", "foreign", json!({})).await;
    let r = s
        .post_yaml(
            SAVEPOINTS,
            &seed_yaml(&id_of(&foreign), "1", "file:///tmp/x"),
        )
        .await;
    r.error(404, "NOT_FOUND");
    let r = s
        .post_yaml(
            SAVEPOINTS,
            &seed_yaml("5b2e0c8a-6f0e-4d0b-9c57-1f2a3b4c5d6e", "1", "file:///tmp/x"),
        )
        .await;
    r.error(404, "NOT_FOUND");
    let r = s
        .post_yaml(
            SAVEPOINTS,
            &seed_yaml("${deploymentId}", "1", "file:///tmp/x"),
        )
        .await;
    assert_eq!(
        r.error(422, "MALFORMED_FIELD")["field"],
        "metadata.deploymentId"
    );
    let d = s.create_deployment("default", "home", json!({})).await;
    let cases = [
        (
            json!({"metadata": {"deploymentId": id_of(&d)}, "status": {"state": "STARTED"}}),
            "status.state",
        ),
        (
            json!({"metadata": {"deploymentId": id_of(&d)}, "spec": {"savepointLocation": "file:///x"}}),
            "status.state",
        ),
        (
            json!({"metadata": {"deploymentId": id_of(&d)}, "status": {"state": "COMPLETED"}}),
            "spec.savepointLocation",
        ),
        (
            json!({"metadata": {"deploymentId": id_of(&d)}, "spec": {"savepointLocation": "relative/dir"}, "status": {"state": "COMPLETED"}}),
            "spec.savepointLocation",
        ),
        (json!({"metadata": {}}), "metadata.deploymentId"),
    ];
    for (body, field) in cases {
        let r = s.post(SAVEPOINTS, &body).await;
        assert_eq!(r.error(422, "INVALID_FIELD")["field"], field, "{body}");
    }
    assert_eq!(
        s.get(SAVEPOINTS).await.json["items"],
        json!([]),
        "nothing was written"
    );
    assert_eq!(
        s.get("/api/v1/namespaces/other/savepoints").await.json["items"],
        json!([])
    );
}

#[tokio::test]
async fn requests_need_a_savepoint_dir_and_a_running_job() {
    let s = start().await;
    let d = s
        .create_deployment("default", "no-dir", json!({"state": "RUNNING"}))
        .await;
    let id: DeploymentId = id_of(&d).parse().unwrap();
    s.make_running("default", id, Some("1")).await;
    let r = s
        .post(SAVEPOINTS, &json!({"metadata": {"deploymentId": id}}))
        .await;
    let m = r.error(409, "SAVEPOINTS_NOT_CONFIGURED")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(m, NO_SAVEPOINT_DIR);
    assert!(
        m.contains("state.savepoints.dir") && m.contains("--blob-storage-uri"),
        "names both remedies: {m}"
    );

    let d = s
        .create_deployment("default", "not-running", json!({"template": {"spec": {"flinkConfiguration": {"state.savepoints.dir": "file:///tmp/sp"}}}}))
        .await;
    let r = s
        .post(
            SAVEPOINTS,
            &json!({"metadata": {"deploymentId": id_of(&d)}}),
        )
        .await;
    r.error(409, "DEPLOYMENT_NOT_RUNNING");
    let r = s
        .post(
            SAVEPOINTS,
            &json!({"metadata": {"deploymentId": "5b2e0c8a-6f0e-4d0b-9c57-1f2a3b4c5d6e"}}),
        )
        .await;
    r.error(404, "NOT_FOUND");
    assert_eq!(
        s.get(SAVEPOINTS).await.json["items"],
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn a_request_records_the_intent_with_its_location() {
    let s = start_with(ApiConfig {
        blob_storage_uri: Some("s3://bucket/base/".into()),
    })
    .await;
    let d = s
        .create_deployment("default", "req", json!({"state": "RUNNING"}))
        .await;
    let id: DeploymentId = id_of(&d).parse().unwrap();
    // the job runs spec version 1; the deployment has moved on to 2
    s.patch(
        "/api/v1/namespaces/default/deployments/req",
        &json!({"spec": {"template": {"spec": {"parallelism": 2}}}}),
    )
    .await
    .ok(200);
    let job = s.make_running("default", id, Some("1")).await;
    let mut changes = s.store.changes();
    let r = s
        .post(
            SAVEPOINTS,
            &json!({"metadata": {"deploymentId": id, "annotations": {"why": "backup"}}}),
        )
        .await;
    let sp = r.ok(201);
    let sp_id = id_of(sp);
    assert_eq!(sp["metadata"]["origin"], "USER_REQUEST");
    assert_eq!(sp["status"]["state"], "STARTED");
    assert_eq!(sp["metadata"]["jobId"], job.metadata.id.to_string());
    assert_eq!(sp["spec"]["formatType"], "CANONICAL");
    assert_eq!(
        sp["metadata"]["annotations"][SPEC_VERSION_ANNOTATION], "1",
        "the version the job runs"
    );
    assert_eq!(sp["metadata"]["annotations"]["why"], "backup");
    assert_eq!(
        sp["spec"]["savepointLocation"],
        format!("s3://bucket/base/flink-savepoints/namespaces/default/deployments/{id}/{sp_id}")
    );
    // the controller hears of it
    let mut heard = false;
    while let Ok(c) = changes.try_recv() {
        heard |= c.id == sp_id;
    }
    assert!(heard, "the write is announced on the change feed");

    // NATIVE on request; the deployment's spec version when the job has none
    let mut dep = s.store.deployment_get("default", id).await.unwrap();
    let job2 = s.make_running("default", id, None).await;
    dep = s
        .store
        .deployment_get("default", dep.metadata.id)
        .await
        .unwrap();
    assert_eq!(
        dep.status.running.as_ref().unwrap().job_id,
        job2.metadata.id
    );
    let r = s
        .post(
            SAVEPOINTS,
            &json!({"metadata": {"deploymentId": id}, "spec": {"formatType": "native"}}),
        )
        .await;
    assert_eq!(r.ok(201)["spec"]["formatType"], "NATIVE");
    assert_eq!(
        r.json["metadata"]["annotations"][SPEC_VERSION_ANNOTATION],
        "2"
    );

    // filters: by job
    let r = s
        .get(&format!("{SAVEPOINTS}?jobId={}", job.metadata.id))
        .await;
    assert_eq!(r.ok(200)["items"].as_array().unwrap().len(), 1);
    // a STARTED savepoint cannot be deleted
    s.delete(&format!("{SAVEPOINTS}/{sp_id}"))
        .await
        .error(409, "SAVEPOINT_IN_PROGRESS");
}

#[tokio::test]
async fn long_poll_returns_when_the_savepoint_completes() {
    let s = start_with(ApiConfig {
        blob_storage_uri: Some("file:///tmp/blob".into()),
    })
    .await;
    let d = s
        .create_deployment("default", "lp", json!({"state": "RUNNING"}))
        .await;
    let id: DeploymentId = id_of(&d).parse().unwrap();
    s.make_running("default", id, Some("1")).await;
    let r = s
        .post(SAVEPOINTS, &json!({"metadata": {"deploymentId": id}}))
        .await;
    let sp_id: SavepointId = id_of(r.ok(201)).parse().unwrap();

    // The long-poll is in flight before the change it waits for is written.
    let poll = get_in_flight(
        &s,
        &format!("{SAVEPOINTS}/{sp_id}?waitFor=COMPLETED,FAILED&timeout=30s"),
    )
    .await;
    let t = Instant::now();
    let mut sp = s.store.savepoint_get("default", sp_id).await.unwrap();
    sp.status.state = SavepointState::Completed;
    s.store.savepoint_update(&sp).await.unwrap();
    let (status, body) = poll.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"]["state"], "COMPLETED");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    let t = Instant::now();
    let r = s
        .get(&format!(
            "{SAVEPOINTS}/{sp_id}?waitFor=FAILED&timeout=600ms"
        ))
        .await;
    assert_eq!(
        r.ok(200)["status"]["state"],
        "COMPLETED",
        "the current state at the timeout"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(550),
        "{:?}",
        t.elapsed()
    );
    let r = s.get(&format!("{SAVEPOINTS}/{sp_id}?waitFor=DONE")).await;
    assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], "waitFor");
}

async fn stored(
    s: &Server,
    dep: DeploymentId,
    origin: SavepointOrigin,
    state: SavepointState,
    loc: &str,
) -> SavepointId {
    let sp = Savepoint::new("default", dep, origin, state, Some(loc.into()));
    s.store.savepoint_create(&sp).await.unwrap();
    sp.metadata.id
}

#[tokio::test]
async fn delete_disposes_only_unshared_data_stateplane_wrote() {
    let s = start_with(ApiConfig {
        blob_storage_uri: Some("file:///blob".into()),
    })
    .await;
    let d = s.create_deployment("default", "del", json!({})).await;
    let id: DeploymentId = id_of(&d).parse().unwrap();
    let path = |sp: SavepointId| format!("{SAVEPOINTS}/{sp}");

    // ours and unshared: disposal by the controller (202, PENDING_DELETION), idempotent
    let ours = stored(
        &s,
        id,
        SavepointOrigin::UserRequest,
        SavepointState::Completed,
        "file:///blob/sp/1",
    )
    .await;
    let r = s.delete(&path(ours)).await;
    assert_eq!(r.ok(202)["status"]["state"], "PENDING_DELETION");
    assert_eq!(
        s.delete(&path(ours)).await.ok(202)["status"]["state"],
        "PENDING_DELETION"
    );
    assert_eq!(
        s.get(&path(ours)).await.json["status"]["state"],
        "PENDING_DELETION"
    );

    // ours but shared with a COPIED one (same location in another spelling): row only, data kept
    let shared = stored(
        &s,
        id,
        SavepointOrigin::Suspend,
        SavepointState::Completed,
        "file:///blob/sp/2",
    )
    .await;
    let copy = stored(
        &s,
        id,
        SavepointOrigin::Copied,
        SavepointState::Completed,
        "file:/blob/sp/2/",
    )
    .await;
    let r = s.delete(&path(shared)).await;
    assert_eq!(r.ok(200)["status"]["state"], "COMPLETED", "the last state");
    s.get(&path(shared)).await.error(404, "NOT_FOUND");
    // a registered (COPIED) one is never disposed
    s.delete(&path(copy)).await.ok(200);
    s.get(&path(copy)).await.error(404, "NOT_FOUND");

    // a retained checkpoint under the derived checkpoint dir is ours; elsewhere it is not
    let rc_ours = stored(
        &s,
        id,
        SavepointOrigin::RetainedCheckpoint,
        SavepointState::Completed,
        &format!("file:///blob/flink-checkpoints/namespaces/default/deployments/{id}/chk-5"),
    )
    .await;
    assert_eq!(s.delete(&path(rc_ours)).await.status, 202);
    let rc_ext = stored(
        &s,
        id,
        SavepointOrigin::RetainedCheckpoint,
        SavepointState::Completed,
        "file:///elsewhere/chk-7",
    )
    .await;
    assert_eq!(s.delete(&path(rc_ext)).await.status, 200);

    // FAILED_DELETION is retried; STARTED is refused
    let failed = stored(
        &s,
        id,
        SavepointOrigin::UserRequest,
        SavepointState::FailedDeletion,
        "file:///blob/sp/3",
    )
    .await;
    assert_eq!(
        s.delete(&path(failed)).await.ok(202)["status"]["state"],
        "PENDING_DELETION"
    );
    let started = stored(
        &s,
        id,
        SavepointOrigin::UserRequest,
        SavepointState::Started,
        "file:///blob/sp/4",
    )
    .await;
    s.delete(&path(started))
        .await
        .error(409, "SAVEPOINT_IN_PROGRESS");
    let deleting = stored(
        &s,
        id,
        SavepointOrigin::UserRequest,
        SavepointState::Deleting,
        "file:///blob/sp/5",
    )
    .await;
    assert_eq!(
        s.delete(&path(deleting)).await.ok(202)["status"]["state"],
        "DELETING"
    );

    s.delete(&path(SavepointId::new()))
        .await
        .error(404, "NOT_FOUND");
    // another namespace cannot see or delete them
    s.post(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "other"}}),
    )
    .await
    .ok(201);
    s.delete(&format!("/api/v1/namespaces/other/savepoints/{ours}"))
        .await
        .error(404, "NOT_FOUND");
    s.get(&format!("/api/v1/namespaces/other/savepoints/{ours}"))
        .await
        .error(404, "NOT_FOUND");
}
