//! Savepoint storage rules at the API: registrations are checked on storage (422 naming
//! `spec.savepointLocation`, the checkpoint id recorded, unverified where storage cannot be reached),
//! copies to deployments of the namespace, and which deletions dispose of data.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};
use stateplane_api::ApiConfig;
use stateplane_blob::header::encode_header;
use stateplane_model::storage::{CHECKPOINT_ID_ANNOTATION, COPIED_FROM_ANNOTATION};
use stateplane_model::{
    DeploymentId, Savepoint, SavepointOrigin, SavepointState, SPEC_VERSION_ANNOTATION,
    UNVERIFIED_LOCATION_ANNOTATION,
};

const SAVEPOINTS: &str = "/api/v1/namespaces/default/savepoints";

fn register(dep: &str, location: &str) -> Value {
    json!({
        "metadata": {"deploymentId": dep, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
        "spec": {"savepointLocation": location, "flinkSavepointId": "00000000-0000-0000-0000-000000000000"},
        "status": {"state": "COMPLETED"}
    })
}

fn uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn write(p: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

#[tokio::test]
async fn registration_checks_the_location_on_storage() {
    let s = start().await;
    let t = tempfile::tempdir().unwrap();
    let d = s.create_deployment("default", "reg", json!({})).await;
    let dep = id_of(&d);

    // a real snapshot: accepted, with the checkpoint id of its header
    let good = t.path().join("savepoint-abc123-0123456789ab");
    let mut meta = encode_header(6, 4711);
    meta.extend_from_slice(b"state");
    write(&good.join("_metadata"), &meta);
    let mut body = register(&dep, &uri(&good));
    // annotations only the server sets are not taken from clients
    body["metadata"]["annotations"][UNVERIFIED_LOCATION_ANNOTATION] = json!("trust me");
    body["metadata"]["annotations"][CHECKPOINT_ID_ANNOTATION] = json!("1");
    let r = s.post(SAVEPOINTS, &body).await;
    let sp = r.ok(201);
    assert_eq!(sp["metadata"]["origin"], "COPIED");
    assert_eq!(
        sp["metadata"]["annotations"][CHECKPOINT_ID_ANNOTATION],
        "4711"
    );
    assert!(sp["metadata"]["annotations"][UNVERIFIED_LOCATION_ANNOTATION].is_null());
    assert_eq!(sp["metadata"]["annotations"][SPEC_VERSION_ANNOTATION], "1");

    // Flink also takes the _metadata file itself
    let r = s
        .post(
            SAVEPOINTS,
            &register(&dep, &format!("{}/_metadata", uri(&good))),
        )
        .await;
    r.ok(201);

    // refused with the field and what is wrong
    let empty = t.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let not_flink = t.path().join("not-flink");
    write(&not_flink.join("_metadata"), b"user=admin password=hunter2");
    let truncated = t.path().join("truncated");
    write(&truncated.join("_metadata"), &encode_header(6, 1)[..9]);
    for (location, words) in [
        (uri(&t.path().join("missing")), "nothing exists at"),
        (uri(&empty), "holds no _metadata"),
        (uri(&not_flink), "magic number"),
        (uri(&truncated), "truncated"),
        ("hdfs://namenode/savepoints/x".to_string(), "not supported"),
    ] {
        let r = s.post(SAVEPOINTS, &register(&dep, &location)).await;
        let e = r.error(422, "INVALID_FIELD");
        assert_eq!(e["field"], "spec.savepointLocation", "{location}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains(words), "{location}: {m}");
        assert!(!m.contains("hunter2"), "never echoes a file: {m}");
    }
    // nothing was stored by the refusals
    let list = s.get(&format!("{SAVEPOINTS}?deploymentId={dep}")).await;
    assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 2);
}

/// Without blob storage configured, what the local file system answers is definite: a 422 naming the
/// field and the reason, never an "unverified" registration, and nothing more about the file system.
#[tokio::test]
async fn local_answers_are_definite_without_blob_storage() {
    let s = start().await;
    let t = tempfile::tempdir().unwrap();
    let d = s.create_deployment("default", "local", json!({})).await;
    let dep = id_of(&d);
    let file = t.path().join("a-file");
    write(&file, b"not a snapshot");
    let locked = t.path().join("locked");
    std::fs::create_dir_all(locked.join("savepoint-x")).unwrap();
    for (location, words) in [
        ("file:///etc/shadow".to_string(), "is not a directory"),
        (uri(&t.path().join("missing")), "nothing exists at"),
        (uri(&file), "is not a directory"),
        (format!("{}/_metadata", uri(&file)), "is not a directory"),
        (uri(&t.path().join("missing/deeper")), "nothing exists at"),
    ] {
        let r = s.post(SAVEPOINTS, &register(&dep, &location)).await;
        let e = r.error(422, "INVALID_FIELD");
        assert_eq!(e["field"], "spec.savepointLocation", "{location}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains(words), "{location}: {m}");
        // The operating system's own words ("os error 20") say more than the reason does.
        assert!(!m.contains("os error"), "{location}: {m}");
    }
    let list = s.get(&format!("{SAVEPOINTS}?deploymentId={dep}")).await;
    assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn storage_that_cannot_be_reached_is_accepted_unverified() {
    // An S3 endpoint on loopback where nobody listens, with credentials: "cannot reach", never "no".
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Edition 2021: set_var is safe; no other test of this binary reads AWS_* variables.
    for (k, v) in [
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{closed}")),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
    ] {
        std::env::set_var(k, v);
    }
    let s = start().await;
    let d = s.create_deployment("default", "unreach", json!({})).await;
    let r = s
        .post(
            SAVEPOINTS,
            &register(&id_of(&d), "s3://bucket/savepoints/savepoint-1"),
        )
        .await;
    let sp = r.ok(201);
    let why = sp["metadata"]["annotations"][UNVERIFIED_LOCATION_ANNOTATION]
        .as_str()
        .unwrap_or_else(|| panic!("{sp}"));
    assert!(
        why.contains("cannot access s3://bucket/savepoints/savepoint-1"),
        "{why}"
    );
    assert!(!why.contains("testing"), "no credentials: {why}");
    assert!(sp["metadata"]["annotations"][CHECKPOINT_ID_ANNOTATION].is_null());
}

async fn stored(
    s: &Server,
    dep: &str,
    origin: SavepointOrigin,
    state: SavepointState,
    loc: &str,
) -> Savepoint {
    let dep: DeploymentId = dep.parse().unwrap();
    let mut sp = Savepoint::new("default", dep, origin, state, Some(loc.into()));
    sp.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), "1".into());
    sp.metadata
        .annotations
        .insert(CHECKPOINT_ID_ANNOTATION.into(), "12".into());
    s.store.savepoint_create(&sp).await.unwrap();
    sp
}

#[tokio::test]
async fn copies_go_to_deployments_of_the_namespace() {
    let s = start_with(ApiConfig {
        blob_storage_uri: Some("file:///blob".into()),
    })
    .await;
    let a = s.create_deployment("default", "source", json!({})).await;
    let b = s.create_deployment("default", "fork", json!({})).await;
    // the fork's spec version is 2 (its template changed once)
    s.patch(
        "/api/v1/namespaces/default/deployments/fork",
        &json!({"spec": {"template": {"spec": {"parallelism": 3}}}}),
    )
    .await
    .ok(200);
    let (a_id, b_id) = (id_of(&a), id_of(&b));
    let src = stored(
        &s,
        &a_id,
        SavepointOrigin::UserRequest,
        SavepointState::Completed,
        "file:///blob/sp/savepoint-1",
    )
    .await;
    let copy_path = |id: &str| format!("{SAVEPOINTS}/{id}/copy");
    let src_id = src.metadata.id.to_string();

    let r = s
        .post(
            &copy_path(&src_id),
            &json!({"metadata": {"deploymentId": b_id}}),
        )
        .await;
    let c = r.ok(201).clone();
    assert_eq!(c["metadata"]["origin"], "COPIED");
    assert_eq!(c["metadata"]["deploymentId"], b_id.as_str());
    assert_eq!(c["status"]["state"], "COMPLETED");
    assert_eq!(
        c["spec"]["savepointLocation"],
        "file:///blob/sp/savepoint-1"
    );
    assert_eq!(
        c["metadata"]["annotations"][SPEC_VERSION_ANNOTATION], "2",
        "the target's current spec version"
    );
    assert_eq!(
        c["metadata"]["annotations"][COPIED_FROM_ANNOTATION],
        src_id.as_str()
    );
    assert_eq!(c["metadata"]["annotations"][CHECKPOINT_ID_ANNOTATION], "12");
    assert!(c["metadata"]["jobId"].is_null());
    // ... and the fork's next start restores it
    let p = s
        .get("/api/v1/namespaces/default/deployments/fork/restore-preview")
        .await;
    assert_eq!(p.ok(200)["savepointId"], c["metadata"]["id"]);

    // to the same deployment: the copy is the newest, so the next start goes back to that snapshot
    let newer = stored(
        &s,
        &a_id,
        SavepointOrigin::UserRequest,
        SavepointState::Completed,
        "file:///blob/sp/savepoint-2",
    )
    .await;
    let r = s
        .post(
            &copy_path(&src_id),
            &json!({"metadata": {"deploymentId": a_id}}),
        )
        .await;
    let back = r.ok(201).clone();
    let p = s
        .get("/api/v1/namespaces/default/deployments/source/restore-preview")
        .await;
    assert_eq!(p.ok(200)["savepointId"], back["metadata"]["id"]);
    assert_ne!(
        p.json["savepointId"],
        newer.metadata.id.to_string().as_str()
    );

    // 404s: no such savepoint, no such deployment, a deployment of another namespace
    s.post(
        &copy_path(&stateplane_model::SavepointId::new().to_string()),
        &json!({"metadata": {"deploymentId": b_id}}),
    )
    .await
    .error(404, "NOT_FOUND");
    s.post(
        &copy_path(&src_id),
        &json!({"metadata": {"deploymentId": DeploymentId::new().to_string()}}),
    )
    .await
    .error(404, "NOT_FOUND");
    s.post(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "other"}}),
    )
    .await
    .ok(201);
    let o = s.create_deployment("other", "elsewhere", json!({})).await;
    s.post(
        &copy_path(&src_id),
        &json!({"metadata": {"deploymentId": id_of(&o)}}),
    )
    .await
    .error(404, "NOT_FOUND");
    s.post(
        &format!("/api/v1/namespaces/other/savepoints/{src_id}/copy"),
        &json!({"metadata": {"deploymentId": id_of(&o)}}),
    )
    .await
    .error(404, "NOT_FOUND");
    // a malformed body names the field
    let r = s
        .post(
            &copy_path(&src_id),
            &json!({"metadata": {"deploymentId": "x"}}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    assert_eq!(r.field(), "metadata.deploymentId");
    assert_eq!(
        s.post(&copy_path(&src_id), &json!({}))
            .await
            .status
            .as_u16(),
        422
    );

    // only COMPLETED savepoints are copied
    let running = stored(
        &s,
        &a_id,
        SavepointOrigin::UserRequest,
        SavepointState::Started,
        "file:///blob/sp/x",
    )
    .await;
    s.post(
        &copy_path(&running.metadata.id.to_string()),
        &json!({"metadata": {"deploymentId": b_id}}),
    )
    .await
    .error(409, "SAVEPOINT_IN_PROGRESS");
    let failed = stored(
        &s,
        &a_id,
        SavepointOrigin::UserRequest,
        SavepointState::Failed,
        "file:///blob/sp/y",
    )
    .await;
    s.post(
        &copy_path(&failed.metadata.id.to_string()),
        &json!({"metadata": {"deploymentId": b_id}}),
    )
    .await
    .error(409, "REFUSED");

    // shared data: deleting the source keeps it (200, gone at once) while copies point to it; the
    // last copy to go disposes of it (the data is stateplane's, whichever resource points to it)
    assert_eq!(
        c["metadata"]["annotations"]["stateplane.io/data-written-by"],
        "stateplane"
    );
    s.delete(&format!("{SAVEPOINTS}/{src_id}")).await.ok(200);
    s.delete(&format!("{SAVEPOINTS}/{}", id_of(&back)))
        .await
        .ok(200);
    assert_eq!(
        s.delete(&format!("{SAVEPOINTS}/{}", id_of(&c)))
            .await
            .ok(202)["status"]["state"],
        "PENDING_DELETION"
    );
    // our own, unshared: disposal by the controller
    assert_eq!(
        s.delete(&format!("{SAVEPOINTS}/{}", newer.metadata.id))
            .await
            .ok(202)["status"]["state"],
        "PENDING_DELETION"
    );
}

/// A namespace cannot register, or copy, a snapshot under another namespace's derived blob-storage
/// directory; the refusal comes before storage is read, and names only the namespace.
#[tokio::test]
async fn namespaces_are_fenced_from_each_others_directories() {
    let t = tempfile::tempdir().unwrap();
    let blob = uri(t.path());
    let s = start_with(ApiConfig {
        blob_storage_uri: Some(blob.clone()),
    })
    .await;
    s.post("/api/v1/namespaces", &json!({"metadata": {"name": "b"}}))
        .await
        .ok(201);
    let d = s.create_deployment("default", "a", json!({})).await;
    let dep = id_of(&d);
    // a real snapshot in b's savepoint directory
    let theirs = t
        .path()
        .join("flink-savepoints/namespaces/b/deployments/x/y/savepoint-1");
    write(&theirs.join("_metadata"), &encode_header(6, 1));
    let e = s
        .post(SAVEPOINTS, &register(&dep, &uri(&theirs)))
        .await
        .error(422, "INVALID_FIELD")
        .clone();
    assert_eq!(e["field"], "spec.savepointLocation");
    assert!(
        e["message"].as_str().unwrap().contains("namespace 'b'"),
        "{e}"
    );
    // the same under our own directory is fine
    let ours = t
        .path()
        .join("flink-savepoints/namespaces/default/deployments/x/y/savepoint-1");
    write(&ours.join("_metadata"), &encode_header(6, 1));
    s.post(SAVEPOINTS, &register(&dep, &uri(&ours)))
        .await
        .ok(201);
    // a copy of one that predates the fence is refused too
    let old = stored(
        &s,
        &dep,
        SavepointOrigin::Copied,
        SavepointState::Completed,
        &format!("{blob}/flink-checkpoints/namespaces/b/deployments/x/j/chk-1"),
    )
    .await;
    s.post(
        &format!("{SAVEPOINTS}/{}/copy", old.metadata.id),
        &json!({"metadata": {"deploymentId": dep}}),
    )
    .await
    .error(422, "INVALID_FIELD");
}

/// Deleting a deployment says what happens to its snapshots' data: 200 (Ververica's code) either way,
/// annotated as being deleted while the controller disposes of what is stateplane's, deleted at once
/// when nothing is or `keepSnapshotData=true`.
#[tokio::test]
async fn deleting_a_deployment_says_what_happens_to_its_data() {
    let s = start_with(ApiConfig {
        blob_storage_uri: Some("file:///blob".into()),
    })
    .await;
    const DATA: &str = "stateplane.io/snapshot-data";
    let deployments = "/api/v1/namespaces/default/deployments";
    // only an external registration: deleted at once, its data kept
    let d = s.create_deployment("default", "ext", json!({})).await;
    stored(
        &s,
        &id_of(&d),
        SavepointOrigin::Copied,
        SavepointState::Completed,
        "file:///else/sp-1",
    )
    .await;
    let r = s.delete(&format!("{deployments}/ext")).await;
    let said = r.ok(200)["metadata"]["annotations"][DATA]
        .as_str()
        .unwrap()
        .to_string();
    assert!(said.contains("kept"), "{said}");
    s.get(&format!("{deployments}/ext"))
        .await
        .error(404, "NOT_FOUND");

    // a savepoint stateplane took: 200 annotated as being deleted, marked for the controller, and the
    // deployment frozen
    let d = s.create_deployment("default", "mine", json!({})).await;
    let ours = stored(
        &s,
        &id_of(&d),
        SavepointOrigin::UserRequest,
        SavepointState::Completed,
        "file:///sp/mine/savepoint-1",
    )
    .await;
    let ext = stored(
        &s,
        &id_of(&d),
        SavepointOrigin::Copied,
        SavepointState::Completed,
        "file:///else/sp-2",
    )
    .await;
    s.delete(&format!("{deployments}/mine?keepSnapshotData=maybe"))
        .await
        .error(400, "INVALID_PARAMETER");
    let r = s.delete(&format!("{deployments}/mine")).await;
    let answer = r.ok(200);
    assert_eq!(
        answer["metadata"]["annotations"]["stateplane.io/deletion"], "disposing-snapshot-data",
        "{answer}"
    );
    let said = answer["metadata"]["annotations"][DATA]
        .as_str()
        .unwrap()
        .to_string();
    assert!(said.contains("file:///sp/mine/savepoint-1"), "{said}");
    let state = |id: stateplane_model::SavepointId| {
        let s = &s;
        async move { s.get(&format!("{SAVEPOINTS}/{id}")).await.ok(200)["status"]["state"].clone() }
    };
    assert_eq!(state(ours.metadata.id).await, "PENDING_DELETION");
    assert_eq!(state(ext.metadata.id).await, "COMPLETED");
    s.patch(
        &format!("{deployments}/mine"),
        &json!({"metadata": {"labels": {"a": "b"}}}),
    )
    .await
    .error(409, "REFUSED");
    s.post(SAVEPOINTS, &register(&id_of(&d), "file:///else/sp-3"))
        .await
        .error(409, "REFUSED");
    let events = s.get("/api/v1/namespaces/default/events").await;
    assert!(
        events.text.contains("DEPLOYMENT_DELETED"),
        "{}",
        events.text
    );
    // ... and keepSnapshotData=true deletes it at once
    let r = s
        .delete(&format!("{deployments}/mine?keepSnapshotData=true"))
        .await;
    let said = r.ok(200)["metadata"]["annotations"][DATA]
        .as_str()
        .unwrap()
        .to_string();
    assert!(said.contains("keepSnapshotData=true"), "{said}");
    s.get(&format!("{deployments}/mine"))
        .await
        .error(404, "NOT_FOUND");
}
