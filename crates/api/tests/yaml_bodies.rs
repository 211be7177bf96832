//! YAML request bodies on a real server: hostile ones (a "billion laughs", deep nesting) are refused
//! with a 400 quickly and with bounded memory, and plain scalars that YAML reads as numbers keep their
//! text wherever the body's schema says string, as clients written for Ververica's API expect.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;

const DEPLOYMENTS: &str = "/api/v1/namespaces/default/deployments";

async fn post_yaml(s: &Server, path: &str, yaml: String) -> Resp {
    s.raw(
        Method::POST,
        path,
        &[("content-type", "application/yaml")],
        Some(yaml.into_bytes()),
    )
    .await
}

/// Ten levels of ten aliases each: 10^10 `lol`s if expanded, 1 KiB on the wire.
fn billion_laughs() -> String {
    let mut y = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        let refs = vec![format!("*a{p}"); 10].join(", ");
        y.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    y.push_str("metadata:\n  name: laughs\nspec: *a9\n");
    y
}

#[tokio::test]
async fn a_billion_laughs_is_refused_quickly() {
    let s = start().await;
    let started = Instant::now();
    let r = post_yaml(&s, DEPLOYMENTS, billion_laughs()).await;
    let e = r.error(400, "MALFORMED_BODY");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        e["message"].as_str().unwrap().contains("YAML"),
        "{}",
        r.text
    );
    assert_eq!(e["field"], "body");
    // the server is fine and wrote nothing
    assert_eq!(
        s.get(DEPLOYMENTS).await.ok(200)["items"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn deep_nesting_is_refused_quickly() {
    let s = start().await;
    for body in [
        // flow style, 100k deep (200 KiB)
        format!(
            "metadata: {{name: deep}}\nspec: {}1{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        // block style, 500 deep
        (0..500).fold(
            "metadata:\n  name: deep\nspec:\n".to_string(),
            |mut y, i| {
                y.push_str(&" ".repeat(2 * i + 2));
                y.push_str("k:\n");
                y
            },
        ),
    ] {
        let started = Instant::now();
        let r = post_yaml(&s, DEPLOYMENTS, body).await;
        r.error(400, "MALFORMED_BODY");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    // JSON has its own limit
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = s
        .raw(
            Method::POST,
            DEPLOYMENTS,
            &[("content-type", "application/json")],
            Some(
                format!("{{\"metadata\": {{\"name\": \"deep\"}}, \"spec\": {deep}}}").into_bytes(),
            ),
        )
        .await;
    r.error(400, "MALFORMED_BODY");
}

#[tokio::test]
async fn numbers_keep_their_text_where_the_schema_says_string() {
    let s = start().await;
    let yaml = "metadata:
  name: versions
  labels:
    release: 1.10
    build: 0x1F
spec:
  template:
    spec:
      parallelism: 2
      artifact:
        kind: JAR
        jarUri: file:///a.jar
        flinkVersion: 1.20
        mainArgs: 1.0
      flinkConfiguration:
        image.tag: 1.0
        taskmanager.numberOfTaskSlots: 4
        pipeline.object-reuse: true
";
    let r = post_yaml(&s, DEPLOYMENTS, yaml.to_string()).await;
    let d = r.ok(201);
    let t = &d["spec"]["template"]["spec"];
    assert_eq!(t["artifact"]["flinkVersion"], "1.20", "{}", r.text);
    assert_eq!(t["artifact"]["mainArgs"], "1.0");
    assert_eq!(
        t["parallelism"], 2,
        "a number where the schema says integer"
    );
    assert_eq!(t["flinkConfiguration"]["image.tag"], "1.0");
    assert_eq!(
        t["flinkConfiguration"]["taskmanager.numberOfTaskSlots"],
        "4"
    );
    assert_eq!(t["flinkConfiguration"]["pipeline.object-reuse"], "true");
    assert_eq!(d["metadata"]["labels"]["release"], "1.10");
    assert_eq!(d["metadata"]["labels"]["build"], "0x1F");

    // a merge patch reads its partial spec by the deployment spec's schema too
    let path = format!("{DEPLOYMENTS}/versions");
    let r = s
        .raw(
            Method::PATCH,
            &path,
            &[("content-type", "application/yaml")],
            Some(
                b"spec:\n  template:\n    spec:\n      parallelism: 3\n      artifact:\n        flinkVersion: 1.10\n"
                    .to_vec(),
            ),
        )
        .await;
    let t = &r.ok(200)["spec"]["template"]["spec"];
    assert_eq!(t["artifact"]["flinkVersion"], "1.10", "{}", r.text);
    assert_eq!(t["parallelism"], 3);

    // quoted text, and numbers where no string is wanted, are as before
    let r = post_yaml(
        &s,
        "/api/v1/namespaces",
        "metadata:\n  name: 7\n".to_string(),
    )
    .await;
    assert_eq!(r.ok(201)["metadata"]["name"], "7", "{}", r.text);
    let r = post_yaml(
        &s,
        DEPLOYMENTS,
        "metadata: {name: typed}\nspec: {template: {spec: {parallelism: \"2\", artifact: {kind: JAR, jarUri: file:///a.jar}}}}\n"
            .to_string(),
    )
    .await;
    assert_eq!(
        r.error(422, "MALFORMED_FIELD")["field"],
        "spec.template.spec.parallelism"
    );
}
