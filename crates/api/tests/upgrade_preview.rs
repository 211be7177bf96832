//! `POST …/deployments/{id}/upgrade-preview` without Flink: the change is checked as a PATCH is
//! (same 4xx answers), nothing is written, a change outside the template needs no Flink, and a
//! template change on a server without a previewer is a 503 saying so.

mod common;

use common::*;
use serde_json::json;

const PREVIEW: &str = "/api/v1/namespaces/default/deployments/d/upgrade-preview";

#[tokio::test]
async fn previews_are_checked_like_a_patch_and_change_nothing() {
    let s = start().await;
    s.create_deployment("default", "d", json!({"state": "CANCELLED"}))
        .await;
    let before = s.get("/api/v1/namespaces/default/deployments/d").await;
    let before = before.ok(200).clone();

    // Bad input: the PATCH's answers, naming the field.
    let r = s
        .post(
            PREVIEW,
            &json!({"spec": {"template": {"spec": {"parallelism": "two"}}}}),
        )
        .await;
    r.error(422, "MALFORMED_FIELD");
    assert!(r.field().starts_with("spec"), "{}", r.field());
    let r = s
        .post(PREVIEW, &json!({"status": {"state": "RUNNING"}}))
        .await;
    r.error(422, "INVALID_FIELD");
    assert_eq!(r.field(), "status");
    let r = s.post_yaml(PREVIEW, "spec: [unclosed").await;
    r.error(400, "MALFORMED_BODY");
    let r = s
        .post(
            "/api/v1/namespaces/default/deployments/nope/upgrade-preview",
            &json!({}),
        )
        .await;
    r.error(404, "NOT_FOUND");

    // No template change: no restart, answered without Flink.
    let r = s
        .post(PREVIEW, &json!({"metadata": {"labels": {"a": "b"}}}))
        .await;
    assert_eq!(r.ok(200)["decision"], "NO_UPGRADE");

    // A template change needs the controller's previewer, which this server has not.
    let r = s
        .post_yaml(
            PREVIEW,
            "spec:\n  template:\n    spec:\n      parallelism: 2\n",
        )
        .await;
    let e = r.error(503, "PREVIEW_UNAVAILABLE");
    assert!(
        e["message"].as_str().unwrap().contains("no previewer"),
        "{e}"
    );

    let after = s.get("/api/v1/namespaces/default/deployments/d").await;
    assert_eq!(after.ok(200), &before, "nothing was written");
}
