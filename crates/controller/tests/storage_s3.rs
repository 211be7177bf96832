//! Ownership by location on `s3://` (moto's S3-compatible server on loopback; skipped, saying so,
//! where `moto_server` is not installed): snapshots registered under a deployment's derived prefix
//! are stateplane's, so an original and its copy deleted in either order keep the data until the
//! last one goes, and the controller then disposes of it on S3; a deployment deleted with
//! `keepSnapshotData=true` leaves its data to the orphan report, and one deleted without it takes its
//! data along, as its answer says. (Flink here has no S3 file system, so the snapshots are written
//! by the test; everything stateplane does with them goes through its S3 client.) One test in this
//! binary: the environment is process-wide.

mod common;

use common::*;
use serde_json::{json, Value};
use stateplane_blob::header::encode_header;
use stateplane_blob::BlobLocation;
use stateplane_model::SPEC_VERSION_ANNOTATION;
use stateplane_testkit::s3::{put, start_moto, use_moto_env};
use stateplane_testkit::wait::until_async;

/// A snapshot at `uri` (`s3://bucket/key…`): Flink's header in `_metadata`, and a state file.
fn snapshot(port: u16, uri: &str) {
    let key = uri.strip_prefix("s3://").unwrap();
    put(port, &format!("{key}/_metadata"), &encode_header(6, 9));
    put(port, &format!("{key}/state-1"), &[7u8; 64]);
}

/// Whether anything is left at `uri` on S3.
async fn on_s3(uri: &str) -> bool {
    BlobLocation::parse(uri).unwrap().exists().await.unwrap()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

async fn register(h: &Harness, dep: &str, location: &str) -> String {
    let (st, sp) = h
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": dep, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
                   "spec": {"savepointLocation": location},
                   "status": {"state": "COMPLETED"}}),
        )
        .await;
    assert_eq!(st, 201, "{sp}");
    s(&sp["metadata"]["id"])
}

async fn copy(h: &Harness, id: &str, dep: &str) -> String {
    let (st, c) = h
        .post(
            &format!("savepoints/{id}/copy"),
            json!({"metadata": {"deploymentId": dep}}),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    s(&c["metadata"]["id"])
}

async fn delete(h: &Harness, path: &str) -> (u16, Value) {
    let r = h.http.delete(h.url(path)).send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn wait_gone(h: &Harness, path: &str) {
    until_async(&format!("{path} to be deleted"), T, || async {
        let (st, b) = h.get(path).await;
        if st.as_u16() == 404 {
            Ok(())
        } else {
            Err(b.to_string())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_by_location_and_orphans_on_s3() {
    let Some((_moto, port)) = start_moto() else {
        return;
    };
    use_moto_env(port);
    put(port, "blob", b"");
    let blob = "s3://blob/base";
    let h = Harness::start_with(Some(blob.to_string())).await;
    let d = h
        .create_deployment("ondisk", json!({"state": "CANCELLED"}))
        .await;
    let dep = s(&d["metadata"]["id"]);
    let prefix = format!("{blob}/flink-savepoints/namespaces/default/deployments/{dep}");

    // Original first, then the copy: the data stays until the copy, the last one, goes.
    let a = format!(
        "{prefix}/{}/savepoint-aaaa-000000000001",
        uuid::Uuid::new_v4()
    );
    snapshot(port, &a);
    let original = register(&h, &dep, &a).await;
    let copied = copy(&h, &original, &dep).await;
    let (st, b) = delete(&h, &format!("savepoints/{original}")).await;
    assert_eq!(st, 200, "the copy still points to it: {b}");
    assert!(on_s3(&a).await, "kept while the copy exists");
    let (st, b) = delete(&h, &format!("savepoints/{copied}")).await;
    assert_eq!(st, 202, "{b}");
    wait_gone(&h, &format!("savepoints/{copied}")).await;
    assert!(!on_s3(&a).await, "disposed of on S3 with the last resource");

    // The copy first, then the original.
    let c = format!(
        "{prefix}/{}/savepoint-cccc-000000000002",
        uuid::Uuid::new_v4()
    );
    snapshot(port, &c);
    let original = register(&h, &dep, &c).await;
    let copied = copy(&h, &original, &dep).await;
    assert_eq!(delete(&h, &format!("savepoints/{copied}")).await.0, 200);
    assert!(on_s3(&c).await, "kept while the original exists");
    assert_eq!(delete(&h, &format!("savepoints/{original}")).await.0, 202);
    wait_gone(&h, &format!("savepoints/{original}")).await;
    assert!(!on_s3(&c).await, "gone after the last");

    // Deleted with its data kept: the data stays, and the orphan report lists it.
    let k = format!(
        "{prefix}/{}/savepoint-kkkk-000000000003",
        uuid::Uuid::new_v4()
    );
    snapshot(port, &k);
    register(&h, &dep, &k).await;
    let (st, b) = delete(&h, &format!("deployments/{dep}?keepSnapshotData=true")).await;
    assert_eq!(st, 200, "{b}");
    assert!(on_s3(&k).await, "{b}");
    let (st, r) = h.get("storage/orphans").await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["orphans"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["orphans"][0]["location"], k.as_str(), "{r}");
    assert_eq!(r["orphans"][0]["deploymentExists"], false, "{r}");
    assert!(on_s3(&k).await, "listing deletes nothing");
    let (st, res) = h
        .post("storage/orphans:dispose", json!({"locations": [k]}))
        .await;
    assert_eq!(st, 200, "{res}");
    assert_eq!(res["results"][0]["outcome"], "DISPOSED", "{res}");
    assert!(!on_s3(&k).await, "disposed of when asked");

    // Deleted without keeping: its answer says its data goes, and it goes.
    let d = h
        .create_deployment("takesalong", json!({"state": "CANCELLED"}))
        .await;
    let dep = s(&d["metadata"]["id"]);
    let t = format!(
        "{blob}/flink-savepoints/namespaces/default/deployments/{dep}/{}/savepoint-tttt-000000000004",
        uuid::Uuid::new_v4()
    );
    snapshot(port, &t);
    register(&h, &dep, &t).await;
    let (st, b) = delete(&h, &format!("deployments/{dep}")).await;
    assert_eq!(
        st, 200,
        "the deletion waits for the disposal, as its annotations say: {b}"
    );
    let said = s(&b["metadata"]["annotations"]["stateplane.io/snapshot-data"]);
    assert!(said.contains(&t), "{said}");
    wait_gone(&h, &format!("deployments/{dep}")).await;
    assert!(!on_s3(&t).await, "as the answer said: {said}");
    let (_, r) = h.get("storage/orphans").await;
    assert_eq!(r["orphans"], json!([]), "{r}");
}
