//! Bad input in general: every 4xx answers `{code, message, field}` in JSON, never axum's plain text,
//! and a failed request writes nothing.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

const DEPLOYMENTS: &str = "/api/v1/namespaces/default/deployments";

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let s = start().await;
    let r = s.get("/api/v1/nothing-here").await;
    r.error(404, "ROUTE_NOT_FOUND");
    assert!(r.content_type.starts_with("application/json"));
    let r = s.get("/").await;
    r.error(404, "ROUTE_NOT_FOUND");
    let r = s.raw(Method::PUT, DEPLOYMENTS, &[], None).await;
    r.error(405, "METHOD_NOT_ALLOWED");
    let r = s.raw(Method::DELETE, "/api/v1/namespaces", &[], None).await;
    r.error(405, "METHOD_NOT_ALLOWED");
    let r = s
        .raw(
            Method::POST,
            "/api/v1/namespaces/default/jobs",
            &[],
            Some(b"{}".to_vec()),
        )
        .await;
    r.error(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn malformed_json_says_where() {
    let s = start().await;
    let body = b"{\"metadata\": {\"name\": \"x\"},\n \"spec\": {\"template\": }}".to_vec();
    let r = s
        .raw(
            Method::POST,
            DEPLOYMENTS,
            &[("content-type", "application/json")],
            Some(body),
        )
        .await;
    let e = r.error(400, "MALFORMED_BODY");
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("JSON") && m.contains("line 2") && m.contains("column"),
        "{m}"
    );
    assert_eq!(e["field"], "body");
}

#[tokio::test]
async fn malformed_yaml_says_where() {
    let s = start().await;
    let body = b"metadata:\n  name: x\n spec: [\n".to_vec();
    let r = s
        .raw(
            Method::POST,
            DEPLOYMENTS,
            &[("content-type", "application/yaml")],
            Some(body),
        )
        .await;
    let m = r.error(400, "MALFORMED_BODY")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(m.contains("YAML") && m.contains("line"), "{m}");
}

#[tokio::test]
async fn bodies_without_content_type_are_json_then_yaml() {
    let s = start().await;
    let spec = minimal_spec();
    let body =
        serde_json::to_vec(&json!({"metadata": {"name": "plain-json"}, "spec": spec})).unwrap();
    s.raw(Method::POST, DEPLOYMENTS, &[], Some(body))
        .await
        .ok(201);
    let yaml = "metadata:\n  name: plain-yaml\nspec:\n  template:\n    spec:\n      artifact:\n        kind: jar\n        jarUri: file:///a.jar\n";
    let r = s
        .raw(Method::POST, DEPLOYMENTS, &[], Some(yaml.into()))
        .await;
    assert_eq!(
        r.ok(201)["spec"]["template"]["spec"]["artifact"]["kind"],
        "JAR",
        "enums are upper case in output"
    );
    // neither JSON nor a YAML mapping: the JSON error, with its position
    let r = s
        .raw(
            Method::POST,
            DEPLOYMENTS,
            &[],
            Some(b"{\"metadata\": ".to_vec()),
        )
        .await;
    r.error(400, "MALFORMED_BODY");
    let r = s
        .raw(
            Method::POST,
            DEPLOYMENTS,
            &[],
            Some(b"just some words".to_vec()),
        )
        .await;
    r.error(400, "MALFORMED_BODY");
}

#[tokio::test]
async fn other_content_types_are_415() {
    let s = start().await;
    for ct in ["text/plain", "application/xml", "multipart/form-data"] {
        let r = s
            .raw(
                Method::POST,
                DEPLOYMENTS,
                &[("content-type", ct)],
                Some(b"{}".to_vec()),
            )
            .await;
        let m = r.error(415, "UNSUPPORTED_MEDIA_TYPE")["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            m.contains("application/json") && m.contains("application/yaml"),
            "{m}"
        );
    }
    for ct in [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
        "text/yaml",
        "application/x-yaml",
    ] {
        let r = s
            .raw(
                Method::POST,
                "/api/v1/namespaces",
                &[("content-type", ct)],
                Some(b"{\"metadata\": {\"name\": \"n\"}}".to_vec()),
            )
            .await;
        assert!(r.status == 201 || r.status == 409, "{ct}: {}", r.text);
    }
}

#[tokio::test]
async fn bodies_over_one_mib_are_413_in_json() {
    let s = start().await;
    let big = format!(
        "{{\"metadata\": {{\"name\": \"big\"}}, \"pad\": \"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let r = s
        .raw(
            Method::POST,
            DEPLOYMENTS,
            &[("content-type", "application/json")],
            Some(big.into_bytes()),
        )
        .await;
    r.error(413, "PAYLOAD_TOO_LARGE");
    assert!(
        s.get(&format!("{DEPLOYMENTS}/big")).await.status == 404,
        "nothing was written"
    );
    // just under the limit is read (and refused for its content, not its size)
    let ok = format!(
        "{{\"metadata\": {{\"name\": \"Big\"}}, \"pad\": \"{}\"}}",
        "x".repeat(1024 * 1024 - 100)
    );
    let r = s
        .raw(
            Method::POST,
            DEPLOYMENTS,
            &[("content-type", "application/json")],
            Some(ok.into_bytes()),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
}

#[tokio::test]
async fn bodies_must_be_objects() {
    let s = start().await;
    for (body, what) in [
        ("[1, 2]", "list"),
        ("\"text\"", "string"),
        ("42", "number"),
        ("null", "null"),
    ] {
        let r = s
            .raw(
                Method::POST,
                DEPLOYMENTS,
                &[("content-type", "application/json")],
                Some(body.into()),
            )
            .await;
        let e = r.error(422, "MALFORMED_FIELD");
        assert_eq!(e["field"], "body");
        assert!(e["message"].as_str().unwrap().contains(what), "{}", r.text);
    }
    let r = s
        .raw(
            Method::POST,
            DEPLOYMENTS,
            &[("content-type", "application/json")],
            Some(Vec::new()),
        )
        .await;
    r.error(400, "MALFORMED_BODY");
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let s = start().await;
    let r = s
        .post(DEPLOYMENTS, &json!({"metadata": {"name": "typed"}, "spec": {"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}, "parallelism": "four"}}}}))
        .await;
    assert_eq!(
        r.error(422, "MALFORMED_FIELD")["field"],
        "spec.template.spec.parallelism"
    );
    let r = s
        .post(
            DEPLOYMENTS,
            &json!({"metadata": {"name": 5}, "spec": minimal_spec()}),
        )
        .await;
    assert_eq!(r.error(422, "MALFORMED_FIELD")["field"], "metadata.name");
    let r = s
        .post(DEPLOYMENTS, &json!({"metadata": {"name": "x"}, "spec": {"state": "FLYING", "template": minimal_spec()["template"]}}))
        .await;
    let e = r.error(422, "MALFORMED_FIELD");
    assert_eq!(e["field"], "spec.state");
    assert!(
        e["message"].as_str().unwrap().contains("RUNNING"),
        "lists the allowed values: {}",
        r.text
    );
    assert_eq!(
        s.get(DEPLOYMENTS).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn malformed_uuids_in_paths_and_filters_name_the_parameter() {
    let s = start().await;
    let r = s
        .get("/api/v1/namespaces/default/savepoints/not-a-uuid")
        .await;
    assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], "savepointId");
    let r = s.delete("/api/v1/namespaces/default/savepoints/1234").await;
    assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], "savepointId");
    let r = s.get("/api/v1/namespaces/default/jobs/xyz").await;
    assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], "jobId");
    let r = s
        .get("/api/v1/namespaces/default/savepoints?deploymentId=nope")
        .await;
    assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], "deploymentId");
    let r = s
        .get("/api/v1/namespaces/default/savepoints?jobId=nope")
        .await;
    assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], "jobId");
    let r = s
        .get("/api/v1/namespaces/default/jobs?deploymentId=nope")
        .await;
    assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], "deploymentId");
    let r = s.get("/api/v1/namespaces/default/events?jobId=%20x").await;
    assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], "jobId");
    let r = s
        .get("/api/v1/namespaces/default/events?deploymentId=")
        .await;
    assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], "deploymentId");
    // a deployment path takes an id or a name; anything else is malformed
    let r = s
        .get("/api/v1/namespaces/default/deployments/Not_A_Name")
        .await;
    assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], "deploymentId");
    let r = s.get("/api/v1/namespaces/default/deployments/%FF%FE").await;
    r.error(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn unknown_resources_are_404() {
    let s = start().await;
    let uuid = "5b2e0c8a-6f0e-4d0b-9c57-1f2a3b4c5d6e";
    for path in [
        "/api/v1/namespaces/nope".to_string(),
        "/api/v1/namespaces/nope/deployments".to_string(),
        "/api/v1/namespaces/nope/savepoints".to_string(),
        "/api/v1/namespaces/nope/deployment-defaults".to_string(),
        "/api/v1/namespaces/nope/jobs".to_string(),
        "/api/v1/namespaces/nope/events".to_string(),
        "/api/v1/namespaces/nope/deployment-targets".to_string(),
        format!("/api/v1/namespaces/default/deployments/{uuid}"),
        "/api/v1/namespaces/default/deployments/no-such-name".to_string(),
        format!("/api/v1/namespaces/default/deployments/{uuid}/restore-preview"),
        format!("/api/v1/namespaces/default/savepoints/{uuid}"),
        format!("/api/v1/namespaces/default/jobs/{uuid}"),
        "/api/v1/namespaces/default/deployment-targets/none".to_string(),
    ] {
        let r = s.get(&path).await;
        r.error(404, "NOT_FOUND");
    }
    let r = s
        .post(
            "/api/v1/namespaces/nope/deployments",
            &json!({"metadata": {"name": "x"}, "spec": minimal_spec()}),
        )
        .await;
    r.error(404, "NOT_FOUND");
}

#[tokio::test]
async fn errors_render_as_yaml_when_asked() {
    let s = start().await;
    let r = s
        .raw(
            Method::GET,
            "/api/v1/namespaces/nope",
            &[("accept", "application/yaml")],
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(
        r.content_type.starts_with("application/yaml"),
        "{}",
        r.content_type
    );
    let v: serde_json::Value = serde_saphyr::from_str(&r.text).unwrap();
    assert_eq!(v["code"], "NOT_FOUND");
    let r = s
        .raw(
            Method::PUT,
            "/api/v1/namespaces",
            &[("accept", "application/yaml")],
            None,
        )
        .await;
    assert_eq!(r.status, 405);
    assert!(r.text.contains("code: METHOD_NOT_ALLOWED"), "{}", r.text);
}
