//! Admin-set allowed snapshot prefixes of a namespace: stored normalised, checked per prefix, and
//! every registration outside them (and outside the namespace's own blob-storage directories) refused
//! with 422 on `spec.savepointLocation`; savepoints already registered stay. Who may set them is in
//! the access-control matrix (`tests/auth.rs`).

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};
use stateplane_api::ApiConfig;
use stateplane_blob::header::encode_header;
use stateplane_model::SPEC_VERSION_ANNOTATION;

const PREFIXES: &str = "/api/v1/namespaces/default/storage/allowed-prefixes";
const SAVEPOINTS: &str = "/api/v1/namespaces/default/savepoints";

fn snapshot(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("_metadata"), encode_header(6, 3)).unwrap();
    format!("file://{}", dir.display())
}

fn register(dep: &str, location: &str) -> Value {
    json!({
        "metadata": {"deploymentId": dep, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
        "spec": {"savepointLocation": location},
        "status": {"state": "COMPLETED"}
    })
}

#[tokio::test]
async fn registrations_outside_the_allowed_prefixes_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let blob = format!("file://{}/blob", t.path().display());
    let s = start_with(ApiConfig {
        blob_storage_uri: Some(blob.clone()),
    })
    .await;
    let d = s.create_deployment("default", "reg", json!({})).await;
    let dep = id_of(&d);
    let allowed = snapshot(&t.path().join("team-a/savepoint-1"));
    let sibling = snapshot(&t.path().join("team-ab/savepoint-1"));
    let elsewhere = snapshot(&t.path().join("elsewhere/savepoint-1"));
    let own = snapshot(&t.path().join(format!(
        "blob/flink-savepoints/namespaces/default/deployments/{dep}/x/savepoint-1"
    )));

    // None set: nothing restricted.
    let r = s.get(PREFIXES).await;
    assert_eq!(r.ok(200)["prefixes"], json!([]));
    s.post(SAVEPOINTS, &register(&dep, &elsewhere))
        .await
        .ok(201);

    // Checked per prefix, stored normalised.
    let r = s
        .send_json(
            reqwest::Method::PUT,
            PREFIXES,
            &json!({"prefixes": [format!("file://{}/team-a/", t.path().display()), "http://x/y"]}),
        )
        .await;
    r.error(422, "INVALID_FIELD");
    assert_eq!(r.field(), "prefixes[1]");
    let r = s
        .send_json(
            reqwest::Method::PUT,
            PREFIXES,
            &json!({"prefixes": [format!("file:{}/team-a/", t.path().display())]}),
        )
        .await;
    let team_a = format!("file://{}/team-a", t.path().display());
    assert_eq!(r.ok(200)["prefixes"], json!([team_a]), "{}", r.text);
    assert!(s.get(PREFIXES).await.ok(200)["modifiedAt"].is_string());

    // Inside: accepted; outside (a sibling that starts alike, too): refused, naming the field.
    s.post(SAVEPOINTS, &register(&dep, &allowed)).await.ok(201);
    for refused in [&sibling, &elsewhere] {
        let r = s.post(SAVEPOINTS, &register(&dep, refused)).await;
        r.error(422, "INVALID_FIELD");
        assert_eq!(r.field(), "spec.savepointLocation");
        assert!(
            r.json["message"].as_str().unwrap().contains(&team_a),
            "{}",
            r.text
        );
    }
    // The namespace's own blob-storage directories stay allowed.
    s.post(SAVEPOINTS, &register(&dep, &own)).await.ok(201);
    // What was registered before stays.
    let list = s.get(&format!("{SAVEPOINTS}?deploymentId={dep}")).await;
    assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 3);

    // Cleared: no restriction again.
    s.send_json(reqwest::Method::PUT, PREFIXES, &json!({"prefixes": []}))
        .await
        .ok(200);
    s.post(SAVEPOINTS, &register(&dep, &sibling)).await.ok(201);
    s.get("/api/v1/namespaces/nope/storage/allowed-prefixes")
        .await
        .error(404, "NOT_FOUND");
}
