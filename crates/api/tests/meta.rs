//! `/healthz` and `/api/v1/openapi.json`.

mod common;

use common::*;

#[tokio::test]
async fn healthz_answers_once_the_store_is_open() {
    let s = start().await;
    let r = s.get("/healthz").await;
    assert_eq!(r.ok(200)["status"], "ok");
}

#[tokio::test]
async fn a_failing_store_is_a_generic_503() {
    let s = start().await;
    s.sqlite.close().await;
    for path in [
        "/healthz",
        "/api/v1/namespaces",
        "/api/v1/namespaces/default/deployments",
    ] {
        let r = s.get(path).await;
        let e = r.error(503, "STORE_UNAVAILABLE");
        let m = e["message"].as_str().unwrap().to_lowercase();
        assert!(
            !m.contains("sqlite") && !m.contains("pool") && !m.contains("database"),
            "no store details leak: {m}"
        );
    }
    let r = s
        .post(
            "/api/v1/namespaces",
            &serde_json::json!({"metadata": {"name": "x"}}),
        )
        .await;
    r.error(503, "STORE_UNAVAILABLE");
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let s = start().await;
    let r = s.get("/api/v1/openapi.json").await;
    let doc = r.ok(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let ns = "/api/v1/namespaces/{namespace}";
    let expected = [
        ("/healthz".to_string(), vec!["get"]),
        ("/api/v1/openapi.json".to_string(), vec!["get"]),
        ("/api/v1/namespaces".to_string(), vec!["get", "post"]),
        (ns.to_string(), vec!["get", "delete"]),
        (format!("{ns}/deployment-defaults"), vec!["get", "patch"]),
        (format!("{ns}/deployments"), vec!["get", "post"]),
        (
            format!("{ns}/deployments/{{deploymentId}}"),
            vec!["get", "put", "patch", "delete"],
        ),
        (
            format!("{ns}/deployments/{{deploymentId}}/snapshots"),
            vec!["get"],
        ),
        (
            format!("{ns}/savepoints/{{savepointId}}/snapshot"),
            vec!["get"],
        ),
        (format!("{ns}/secret-values"), vec!["get", "post"]),
        (
            format!("{ns}/secret-values/{{name}}"),
            vec!["get", "patch", "delete"],
        ),
        ("/api/v1/status".to_string(), vec!["get"]),
        ("/api/v1/status/system-info".to_string(), vec!["get"]),
        (
            format!("{ns}/deployments/{{deploymentId}}/restore-preview"),
            vec!["get"],
        ),
        (
            format!("{ns}/deployments/{{deploymentId}}/upgrade-preview"),
            vec!["post"],
        ),
        (
            format!("{ns}/deployments/{{deploymentId}}/upgrade-preview/replace"),
            vec!["post"],
        ),
        (format!("{ns}/access"), vec!["get"]),
        (format!("{ns}/deployment-targets"), vec!["get", "post"]),
        (
            format!("{ns}/deployment-targets/{{name}}"),
            vec!["get", "put", "delete"],
        ),
        (format!("{ns}/savepoints"), vec!["get", "post"]),
        (
            format!("{ns}/savepoints/{{savepointId}}"),
            vec!["get", "delete"],
        ),
        (
            format!("{ns}/savepoints/{{savepointId}}/copy"),
            vec!["post"],
        ),
        (format!("{ns}/jobs"), vec!["get"]),
        (format!("{ns}/jobs/{{jobId}}"), vec!["get"]),
        (format!("{ns}/events"), vec!["get"]),
        (format!("{ns}/storage/orphans"), vec!["get"]),
        (format!("{ns}/storage/orphans:dispose"), vec!["post"]),
        (format!("{ns}/storage/allowed-prefixes"), vec!["get", "put"]),
        (
            "/apitokens/v1/namespaces/{namespace}/apitokens".to_string(),
            vec!["get", "post"],
        ),
        (
            "/apitokens/v1/namespaces/{namespace}/apitokens/{apiTokenName}".to_string(),
            vec!["get", "delete"],
        ),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, methods) in expected {
        for m in methods {
            let op = &paths[&path][m];
            assert!(op.is_object(), "{m} {path} missing");
            assert!(
                op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .any(|k| k.starts_with('2')),
                "{m} {path}"
            );
        }
    }
    // every schema reference resolves
    let text = serde_json::to_string(doc).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
    for name in [
        "Deployment",
        "Savepoint",
        "Job",
        "Event",
        "Namespace",
        "DeploymentTarget",
        "RestoreDecision",
        "ErrorBody",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    // a failed upgrade's rollback is documented in the deployment's status
    let rollback = &schemas["UpgradeRollback"]["properties"];
    assert!(rollback["failedSpecVersion"].is_object(), "{rollback}");
    assert!(
        serde_json::to_string(&schemas["DeploymentStatus"]["properties"]["rollback"])
            .unwrap()
            .contains("UpgradeRollback"),
        "{}",
        schemas["DeploymentStatus"]
    );
    // the savepoint POST body is documented in JSON and YAML
    let body = &paths[&format!("{ns}/savepoints")]["post"]["requestBody"]["content"];
    assert!(
        body["application/json"].is_object() && body["application/yaml"].is_object(),
        "{body}"
    );
}
