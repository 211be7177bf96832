//! The access route and the upgrade preview of a whole replacement, against the real binary (no Flink
//! reachable: the default target points at a closed port).
//!
//! - `GET …/namespaces/{ns}/access` names the admin token, an editor's and a viewer's token with their
//!   roles (`stateplane whoami` too); no token is 401, another namespace's path 403; a server without
//!   access control says so.
//! - `POST …/deployments/{id}/upgrade-preview/replace`: the deployment as read, sent back unchanged,
//!   is NO_UPGRADE, and a PUT of it changes nothing (no new resourceVersion, no spec-version bump);
//!   a deleted template key is a template change (the preview plans the new template: refused here,
//!   the jar does not exist), and the PUT of it removes the key and bumps the spec version; bad
//!   bodies are 4xx with `{code, message, field}` and change nothing.

mod common;

use common::{deployment_yaml, Server};
use reqwest::{Client, Method};
use serde_json::{json, Value};

const SPEC_VERSION: &str = "com.dataartisans.appmanager.controller.deployment.spec.version";
const ADMIN: &str = "admin-secret-of-the-access-test";

/// Status and JSON body (`null` when the body is not JSON) of a call with `token` and a YAML `body`.
async fn call(
    http: &Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/yaml")
            .body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The deployment as YAML, as the editor loads it (the server's own YAML, `status` left in: the
/// PUT and its preview ignore it).
async fn get_yaml(http: &Client, url: &str, token: &str) -> String {
    let r = http
        .get(url)
        .bearer_auth(token)
        .header("accept", "application/yaml")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_route_and_the_preview_of_a_replacement() {
    let s = Server::start_with_env(
        Some("http://127.0.0.1:9"),
        &[
            ("STATEPLANE_AUTH", "true"),
            ("STATEPLANE_ADMIN_TOKEN", ADMIN),
        ],
    );
    let dir = s.dir.path().to_path_buf();
    let token = |name: &str, role: &str| {
        s.ok(&["--token", ADMIN, "token", "create", name, "--role", role])
            .trim()
            .to_string()
    };
    let viewer = token("reader", "viewer");
    let editor = token("writer", "editor");
    let http = Client::new();
    let ns = format!("{}/api/v1/namespaces/default", s.url);

    // Who is asking, and with which role.
    let access = format!("{ns}/access");
    let (st, b) = call(&http, Method::GET, &access, Some(ADMIN), None).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        b,
        json!({"namespace": "default", "principal": "admin", "role": "admin", "accessControl": true})
    );
    for (secret, name, role) in [(&editor, "writer", "editor"), (&viewer, "reader", "viewer")] {
        let (st, b) = call(&http, Method::GET, &access, Some(secret), None).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(
            b,
            json!({"namespace": "default", "principal": "token", "tokenName": name, "role": role,
                "accessControl": true})
        );
    }
    let (st, b) = call(&http, Method::GET, &access, None, None).await;
    assert_eq!((st, &b["code"]), (401, &json!("UNAUTHENTICATED")), "{b}");
    // The CLI's verb says the same.
    let line = s.ok(&["--token", &editor, "whoami"]);
    assert_eq!(
        line.trim(),
        "API token 'writer' with role editor in namespace 'default'"
    );
    let line = s.ok(&["--token", ADMIN, "whoami"]);
    assert!(line.starts_with("the admin token"), "{line}");
    assert_eq!(s.json(&["--token", &viewer, "whoami"])["role"], "viewer");
    let (st, b) = call(&http, Method::GET, &access, Some("sp_not_a_token"), None).await;
    assert_eq!(st, 401, "{b}");
    let (st, b) = call(
        &http,
        Method::POST,
        &format!("{}/api/v1/namespaces", s.url),
        Some(ADMIN),
        Some("metadata:\n  name: other\n"),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let other = format!("{}/api/v1/namespaces/other/access", s.url);
    let (st, b) = call(&http, Method::GET, &other, Some(&editor), None).await;
    assert_eq!((st, &b["code"]), (403, &json!("FORBIDDEN")), "{b}");
    let (st, b) = call(&http, Method::GET, &other, Some(ADMIN), None).await;
    assert_eq!((st, &b["namespace"]), (200, &json!("other")), "{b}");
    let missing = format!("{}/api/v1/namespaces/missing/access", s.url);
    let (st, b) = call(&http, Method::GET, &missing, Some(ADMIN), None).await;
    assert_eq!((st, &b["code"]), (404, &json!("NOT_FOUND")), "{b}");

    // A deployment, with a Flink configuration key the namespace's defaults do not set.
    let manifest = deployment_yaml("kept", &dir, &dir.join("none.jar"), "CANCELLED").replace(
        "execution.checkpointing.interval: 1s\n",
        "execution.checkpointing.interval: 1s\n        pipeline.object-reuse: 'true'\n",
    );
    let f = s.write("d.yaml", &manifest);
    s.ok(&["--token", ADMIN, "deployment", "apply", "-f", &f]);
    let url = format!("{ns}/deployments/kept");
    let preview = format!("{url}/upgrade-preview/replace");
    let (_, before) = call(&http, Method::GET, &url, Some(&editor), None).await;
    assert_eq!(
        before["metadata"]["annotations"][SPEC_VERSION], "1",
        "{before}"
    );
    let loaded = get_yaml(&http, &url, &editor).await;
    assert!(
        loaded.contains("pipeline.object-reuse") && loaded.contains("resourceVersion:"),
        "{loaded}"
    );

    // Sent back as loaded (server-managed annotations, id, createdAt, status and all): no upgrade,
    // and the PUT writes nothing.
    let (st, b) = call(&http, Method::POST, &preview, Some(&editor), Some(&loaded)).await;
    assert_eq!((st, &b["decision"]), (200, &json!("NO_UPGRADE")), "{b}");
    let (st, b) = call(&http, Method::PUT, &url, Some(&editor), Some(&loaded)).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        b["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"],
        "nothing written: {b}"
    );
    assert_eq!(
        b["metadata"]["annotations"],
        before["metadata"]["annotations"]
    );
    assert_eq!(b["spec"], before["spec"]);

    // A viewer may not ask.
    let (st, b) = call(&http, Method::POST, &preview, Some(&viewer), Some(&loaded)).await;
    assert_eq!((st, &b["code"]), (403, &json!("FORBIDDEN")), "{b}");

    // A template key deleted: a template change, so the preview asks the previewer to plan the new
    // template (which refuses it here: the jar does not exist), where a NO_UPGRADE would not.
    let deleted = loaded.replace("        pipeline.object-reuse: \"true\"\n", "");
    assert_ne!(deleted, loaded, "{loaded}");
    let (st, b) = call(&http, Method::POST, &preview, Some(&editor), Some(&deleted)).await;
    assert_eq!((st, &b["decision"]), (200, &json!("REFUSED")), "{b}");
    assert!(
        b["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot plan the new template")),
        "{b}"
    );
    // The same key deleted from a merge patch would be kept: the PATCH preview says no upgrade.
    let patch_preview = format!("{url}/upgrade-preview");
    let patch = "spec:\n  template:\n    spec:\n      flinkConfiguration:\n        execution.checkpointing.interval: 1s\n";
    let (st, b) = call(
        &http,
        Method::POST,
        &patch_preview,
        Some(&editor),
        Some(patch),
    )
    .await;
    assert_eq!((st, &b["decision"]), (200, &json!("NO_UPGRADE")), "{b}");

    // Bad bodies: 4xx with code, message and field; nothing changes.
    let not_an_int = deleted.replace("parallelism: 1\n", "parallelism: many\n");
    assert_ne!(not_an_int, deleted);
    let renamed = deleted.replace("name: kept\n", "name: other-name\n");
    assert_ne!(renamed, deleted);
    let wrong_id = deleted.replace(
        &format!("id: {}", before["metadata"]["id"].as_str().unwrap()),
        "id: 00000000-0000-0000-0000-000000000001",
    );
    assert_ne!(wrong_id, deleted, "{deleted}");
    let masked_new_key = deleted.replace(
        "execution.checkpointing.interval: 1s\n",
        "execution.checkpointing.interval: 1s\n        s3.secret-key: '******'\n",
    );
    for (body, status, field) in [
        (not_an_int.as_str(), 422, "spec.template.spec.parallelism"),
        (renamed.as_str(), 422, "metadata.name"),
        (wrong_id.as_str(), 422, "metadata.id"),
        (
            masked_new_key.as_str(),
            422,
            "spec.template.spec.flinkConfiguration",
        ),
        ("spec: [1, 2]\n", 422, "spec"),
    ] {
        for (method, target) in [(Method::POST, &preview), (Method::PUT, &url)] {
            let (st, b) = call(&http, method.clone(), target, Some(&editor), Some(body)).await;
            assert!(
                (400..500).contains(&st) && b["message"].is_string() && b["code"].is_string(),
                "{method} {target}: {st} {b}\n{body}"
            );
            assert_eq!(st, status, "{method} {target}: {b}\n{body}");
            assert!(
                b["field"].as_str().is_some_and(|f| f.starts_with(field)),
                "{method} {target}: field {field}: {b}\n{body}"
            );
        }
    }
    // A resourceVersion that is not the stored one: the 409 of the PUT, from the preview too.
    let stale = deleted.replace(
        &format!("resourceVersion: {}", before["metadata"]["resourceVersion"]),
        "resourceVersion: 1000",
    );
    assert_ne!(stale, deleted, "{deleted}");
    for (method, target) in [(Method::POST, &preview), (Method::PUT, &url)] {
        let (st, b) = call(&http, method.clone(), target, Some(&editor), Some(&stale)).await;
        assert_eq!((st, &b["code"]), (409, &json!("CONFLICT")), "{method}: {b}");
        assert!(
            b["message"].as_str().unwrap().contains("based on 1000"),
            "{b}"
        );
    }
    let missing = format!("{ns}/deployments/nothing-here/upgrade-preview/replace");
    let (st, b) = call(&http, Method::POST, &missing, Some(&editor), Some(&loaded)).await;
    assert_eq!((st, &b["code"]), (404, &json!("NOT_FOUND")), "{b}");
    let (_, after) = call(&http, Method::GET, &url, Some(&editor), None).await;
    assert_eq!(after["metadata"], before["metadata"], "nothing changed");
    assert_eq!(after["spec"], before["spec"], "nothing changed");

    // The PUT of the text with the key deleted removes it, and the template change bumps the version.
    let (st, b) = call(&http, Method::PUT, &url, Some(&editor), Some(&deleted)).await;
    assert_eq!(st, 200, "{b}");
    let config = &b["spec"]["template"]["spec"]["flinkConfiguration"];
    assert!(
        config.get("pipeline.object-reuse").is_none(),
        "removed: {config}"
    );
    assert_eq!(config["execution.checkpointing.interval"], "1s", "{config}");
    assert_eq!(b["metadata"]["annotations"][SPEC_VERSION], "2", "{b}");

    // Without access control: anyone, as the server treats them.
    let open = Server::start(None);
    let (st, b) = call(
        &http,
        Method::GET,
        &format!("{}/api/v1/namespaces/default/access", open.url),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        b,
        json!({"namespace": "default", "principal": "anonymous", "role": "admin", "accessControl": false})
    );
}
