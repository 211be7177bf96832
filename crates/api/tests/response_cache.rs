//! The response cache never serves an answer older than a write that came before the request: writes
//! through the API, writes straight to the store (as the controller makes them), and formats and
//! credentials kept apart.

mod common;

use serde_json::json;
use stateplane_model::DeploymentState;

#[tokio::test]
async fn reads_see_every_write_before_them() {
    let s = common::start().await;
    let list = "/api/v1/namespaces/default/deployments";
    for i in 0..30 {
        let before = s.get(list).await.ok(200)["items"].as_array().unwrap().len();
        assert_eq!(before, i);
        s.create_deployment("default", &format!("d{i}"), json!({}))
            .await;
        let after = s.get(list).await.ok(200)["items"].as_array().unwrap().len();
        assert_eq!(after, i + 1, "the list after creating d{i} must show it");
    }
}

#[tokio::test]
async fn writes_made_outside_the_api_are_seen_at_once() {
    let s = common::start().await;
    let d = s.create_deployment("default", "watched", json!({})).await;
    let path = format!(
        "/api/v1/namespaces/default/deployments/{}",
        common::id_of(&d)
    );
    assert_eq!(s.get(&path).await.ok(200)["status"]["state"], "CANCELLED");
    assert_eq!(
        s.get(&path).await.ok(200)["status"]["state"],
        "CANCELLED",
        "served again"
    );
    // The controller writes status straight to the store.
    let id = common::id_of(&d).parse().unwrap();
    let mut stored = s.store.deployment_get("default", id).await.unwrap();
    stored.status.state = DeploymentState::Failed;
    s.store.deployment_update(&stored).await.unwrap();
    assert_eq!(s.get(&path).await.ok(200)["status"]["state"], "FAILED");
}

#[tokio::test]
async fn formats_and_credentials_do_not_share_entries() {
    let s = common::start().await;
    s.create_deployment("default", "fmt", json!({})).await;
    let url = s.url("/api/v1/namespaces/default/deployments/fmt");
    let json_body = s
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let yaml = s
        .client
        .get(&url)
        .header("Accept", "application/yaml")
        .send()
        .await
        .unwrap();
    assert!(yaml.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("yaml"));
    let yaml_body = yaml.text().await.unwrap();
    assert_ne!(json_body, yaml_body);
    assert!(yaml_body.contains("name: fmt"), "{yaml_body}");
    let again = s.client.get(&url).send().await.unwrap();
    assert!(again.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("json"));
    assert_eq!(again.text().await.unwrap(), json_body);
}
