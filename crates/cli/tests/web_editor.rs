//! The UI's YAML editor in a real headless Chromium, served by the real binary, on a real Flink 2.3:
//! a deployment is created through "New deployment", edited through "Edit" with the upgrade preview
//! the server really answers (a renamed stateful uid: state dropped; a stateless operator added and a
//! Flink configuration key deleted: every state restored) shown before the change is applied, and the
//! change lands in the API and in Flink (the edit is a whole replacement: the deleted key is gone
//! from the new job's configuration); a change made meanwhile is the server's 409 shown next to the
//! editor, with the text kept. A viewer token gets no editing controls, an editor token does (as the
//! access route says); a refused manifest shows the server's code, message and field, what it echoes
//! of the text as text. The run saves a picture of the editor with
//! the preview to `docs/ui-editor.png` (shown in the README).

mod browser;
mod common;

use std::time::Duration;

use browser::{click, start_driver, type_into, wait_js};
use common::{deployment_yaml, Server};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use stateplane_testkit::wait::until_async;

const SPEC_VERSION: &str = "com.dataartisans.appmanager.controller.deployment.spec.version";
/// A Flink configuration key the namespace's defaults do not set; Flink shows it in the job's
/// configuration (`execution-config.object-reuse-mode`).
const OBJECT_REUSE: &str = "        pipeline.object-reuse: \"true\"\n";

/// The editor's text.
async fn editor_text(c: &Client) -> String {
    let v = c
        .execute(
            "return document.querySelector('#editor-text').value;",
            vec![],
        )
        .await
        .unwrap();
    v.as_str().unwrap_or_default().to_string()
}

/// Replaces the editor's text as typing would (an `input` event follows).
async fn set_editor_text(c: &Client, text: &str) {
    c.execute(
        "const t = document.querySelector('#editor-text'); t.value = arguments[0]; \
         t.dispatchEvent(new Event('input')); return true;",
        vec![json!(text)],
    )
    .await
    .unwrap();
}

async fn click_id(c: &Client, id: &str) {
    click(c, Locator::Id(id)).await;
}

/// Waits until the element `id` is shown (rendered, not hidden, enabled) and clicks it in the same
/// script: the page re-renders its head when the deployment changes, so a found element may be gone
/// a moment later.
async fn click_when_shown(c: &Client, id: &str) {
    wait_js(
        c,
        &format!("#{id} to be shown"),
        &format!(
            "const e = document.getElementById('{id}'); \
             if (!e || e.disabled || e.offsetParent === null) return false; e.click(); return true;"
        ),
        Duration::from_secs(20),
        |v| v == &json!(true),
    )
    .await;
}

/// The rendered preview: decision, verdict, and each operator's uid (or id) and fate.
const PREVIEW: &str = r#"
    const box = document.querySelector('#editor-preview');
    if (!box || box.hidden) return null;
    const pills = [...box.querySelectorAll('.preview-verdict .pill')].map((p) => p.textContent);
    const rows = [...box.querySelectorAll('#editor-preview-operators tbody tr')].map((r) => ({
        who: r.cells[0].firstChild.textContent, id: r.dataset.operatorId, fate: r.dataset.fate,
        text: r.innerText}));
    return {decision: pills[0], verdict: pills[1] || null, rows,
        message: document.querySelector('#editor-preview-message').textContent,
        apply: document.querySelector('#editor-apply').textContent};
"#;

fn fate_of(preview: &Value, uid: &str) -> String {
    preview["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["who"] == uid))
        .and_then(|r| r["fate"].as_str())
        .unwrap_or_else(|| panic!("no row {uid}: {preview}"))
        .to_string()
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    let r = http.get(url).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap()
}

/// Puts `text` in the editor, clicks Apply and waits for the preview it shows.
async fn preview_in_editor(c: &Client, text: &str, what: &str) -> Value {
    set_editor_text(c, text).await;
    click_id(c, "editor-apply").await;
    wait_js(c, what, PREVIEW, Duration::from_secs(60), |v| !v.is_null()).await
}

/// The server's own preview of `change` (YAML), as the editor asked it.
async fn api_preview(http: &reqwest::Client, url: &str, change: &str) -> Value {
    let r = http
        .post(url)
        .header("content-type", "application/yaml")
        .body(change.to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_creates_previews_and_applies_a_change_in_chromium() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let s = Server::start(Some(cluster.rest_url()));
    let dir = s.dir.path().to_path_buf();
    let api = format!("{}/api/v1/namespaces/default", s.url);
    let http = reqwest::Client::new();
    let (_driver, c) = start_driver().await;

    // New deployment: the starter manifest, replaced by the example job, creates it.
    c.goto(&format!("{}/ui/namespaces/default/deployments", s.url))
        .await
        .unwrap();
    click_when_shown(&c, "editor-new").await;
    let starter = editor_text(&c).await;
    assert!(
        starter.contains("name: my-deployment") && starter.starts_with('#'),
        "{starter}"
    );
    let manifest = deployment_yaml("web", &dir, &cluster.example_jar(), "RUNNING").replace(
        "execution.checkpointing.interval: 1s\n",
        &format!("execution.checkpointing.interval: 1s\n{OBJECT_REUSE}"),
    );
    set_editor_text(&c, &manifest).await;
    click_id(&c, "editor-apply").await;
    let path = wait_js(
        &c,
        "the new deployment's page",
        "return location.pathname;",
        Duration::from_secs(20),
        |v| {
            v.as_str()
                .is_some_and(|p| p.starts_with("/ui/namespaces/default/deployments/"))
        },
    )
    .await;
    let d = get(&http, &format!("{api}/deployments/web")).await;
    let id = d["metadata"]["id"].as_str().unwrap().to_string();
    assert!(path.as_str().unwrap().ends_with(&id), "{path} {d}");
    assert_eq!(d["metadata"]["labels"]["team"], "payments", "{d}");
    s.ok(&["deployment", "resume", "web", "--wait", "--timeout", "3m"]);

    // The preview compares with the running job's newest snapshot: wait for its first checkpoint.
    let preview_url = format!("{api}/deployments/{id}/upgrade-preview");
    let rename = "spec:\n  template:\n    spec:\n      artifact:\n        mainArgs: 20 --tag web --counter-uid counter-renamed\n";
    until_async(
        "a preview that compares the running job's state",
        Duration::from_secs(60),
        || async {
            let p = api_preview(&http, &preview_url, rename).await;
            if p["decision"] == "NOT_CHECKED" {
                Err(p.to_string())
            } else {
                Ok(p)
            }
        },
    )
    .await;

    // Edit: the manifest without status; a renamed uid previews as dropped state, nothing applied.
    wait_js(
        &c,
        "the page to show the deployment RUNNING",
        "const p = document.querySelectorAll('.page-head .pill'); return p.length > 1 ? p[1].textContent : null;",
        Duration::from_secs(20),
        |v| v == "RUNNING",
    )
    .await;
    click_when_shown(&c, "editor-edit").await;
    let loaded = wait_js(
        &c,
        "the deployment's YAML in the editor",
        "return document.querySelector('#editor-text').value;",
        Duration::from_secs(20),
        |v| v.as_str().is_some_and(|t| t.contains("resourceVersion:")),
    )
    .await;
    let loaded = loaded.as_str().unwrap().to_string();
    assert!(
        !loaded.lines().any(|l| l.starts_with("status:")),
        "{loaded}"
    );
    assert!(
        loaded.contains("mainArgs: 20 --tag web\n"),
        "the YAML the server wrote: {loaded}"
    );
    let renamed = loaded.replace(
        "mainArgs: 20 --tag web\n",
        "mainArgs: 20 --tag web --counter-uid counter-renamed\n",
    );
    let shown = preview_in_editor(&c, &renamed, "the preview of the renamed uid").await;
    let server = api_preview(&http, &preview_url, &renamed).await;
    assert_eq!(shown["decision"], server["decision"], "{shown} {server}");
    assert_eq!(shown["decision"], "REFUSED", "{shown}");
    assert_eq!(shown["verdict"], "DROPS_STATE", "{shown}");
    assert_eq!(shown["message"], server["message"], "{shown}");
    assert_eq!(fate_of(&shown, "count-per-key"), "DROPPED", "{shown}");
    assert_eq!(fate_of(&shown, "sequence-source"), "RESTORED", "{shown}");
    assert!(
        shown["rows"].as_array().unwrap().iter().any(|r| r["text"]
            .as_str()
            .unwrap()
            .contains("no operator with this id")),
        "the reasons in words: {shown}"
    );
    // The picture for the README: the editor with the preview of the renamed uid.
    c.set_window_size(1440, 1300).await.unwrap();
    browser::save_screenshot(&c, "ui-editor.png").await;
    click_id(&c, "editor-back").await;
    assert_eq!(editor_text(&c).await, renamed, "the text is kept");
    let d = get(&http, &format!("{api}/deployments/{id}")).await;
    assert_eq!(
        d["spec"]["template"]["spec"]["artifact"]["mainArgs"], "20 --tag web",
        "a preview changes nothing: {d}"
    );

    // The running job has the key the edit below deletes.
    let job_config = |d: &Value| {
        let job = d["status"]["running"]["jobId"]
            .as_str()
            .unwrap_or_default()
            .replace('-', "");
        format!("{}/jobs/{job}/config", cluster.rest_url())
    };
    let d = get(&http, &format!("{api}/deployments/{id}")).await;
    let first_job = d["status"]["running"]["jobId"].clone();
    let config = get(&http, &job_config(&d)).await;
    assert_eq!(
        config["execution-config"]["object-reuse-mode"], true,
        "{config}"
    );

    // A stateless operator added and a Flink configuration key deleted: every state restores; the
    // second Apply sends the text as a whole, so the deleted key is removed.
    assert!(loaded.contains(OBJECT_REUSE), "{loaded}");
    let compatible = loaded
        .replace(
            "mainArgs: 20 --tag web\n",
            "mainArgs: 20 --tag web --stateless-map\n",
        )
        .replace(OBJECT_REUSE, "");
    let shown = preview_in_editor(&c, &compatible, "the preview of the added operator").await;
    assert_eq!(shown["decision"], "PROCEEDS", "{shown}");
    assert_eq!(shown["verdict"], "COMPATIBLE", "{shown}");
    assert_eq!(fate_of(&shown, "count-per-key"), "RESTORED", "{shown}");
    click_id(&c, "editor-apply").await;
    wait_js(
        &c,
        "the editor to close with a notice",
        "const n = document.querySelector('#notice'); \
         return !document.querySelector('#editor-dialog').open && !n.hidden ? n.textContent : null;",
        Duration::from_secs(20),
        |v| v.as_str().is_some_and(|t| t.contains("change applied")),
    )
    .await;
    let d = get(&http, &format!("{api}/deployments/{id}")).await;
    assert_eq!(
        d["spec"]["template"]["spec"]["artifact"]["mainArgs"], "20 --tag web --stateless-map",
        "{d}"
    );
    assert_eq!(d["metadata"]["annotations"][SPEC_VERSION], "2", "{d}");
    let config = &d["spec"]["template"]["spec"]["flinkConfiguration"];
    assert!(
        config.get("pipeline.object-reuse").is_none()
            && config.get("execution.checkpointing.interval").is_some(),
        "the deleted key is removed, the others kept: {config}"
    );
    // The upgrade's new job runs without it.
    let upgraded = until_async(
        "the upgraded job RUNNING",
        Duration::from_secs(120),
        || async {
            let d = get(&http, &format!("{api}/deployments/{id}")).await;
            let running = d["status"]["state"] == "RUNNING"
                && d["status"]["running"]["jobId"].is_string()
                && d["status"]["running"]["jobId"] != first_job;
            if running {
                Ok(d)
            } else {
                Err(d["status"].to_string())
            }
        },
    )
    .await;
    let config = get(&http, &job_config(&upgraded)).await;
    assert_eq!(
        config["execution-config"]["object-reuse-mode"], false,
        "Flink's job configuration no longer has pipeline.object-reuse: {config}"
    );

    // A change made after the editor loaded: the server's 409 next to the editor, the text kept.
    click_when_shown(&c, "editor-edit").await;
    wait_js(
        &c,
        "the YAML in the editor",
        "return document.querySelector('#editor-text').value;",
        Duration::from_secs(20),
        |v| v.as_str().is_some_and(|t| t.contains("--stateless-map")),
    )
    .await;
    // Tab indents with spaces
    let before = editor_text(&c).await;
    type_into(&c, Locator::Id("editor-text"), "\u{E004}").await;
    let text = editor_text(&c).await;
    assert!(
        text.len() == before.len() + 2 && !text.contains('\t'),
        "two spaces, no tab: {text}"
    );
    let r = http
        .patch(format!("{api}/deployments/{id}"))
        .json(&json!({"metadata": {"labels": {"team": "other"}}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let relabelled = text.replace("team: payments", "team: web");
    assert_ne!(relabelled, text);
    set_editor_text(&c, &relabelled).await;
    click_id(&c, "editor-apply").await;
    let message = wait_js(
        &c,
        "the 409 next to the editor",
        "const e = document.querySelector('#editor-error'); \
         return e && !e.hidden ? e.innerText : null;",
        Duration::from_secs(60),
        |v| !v.is_null(),
    )
    .await;
    let message = message.as_str().unwrap();
    assert!(
        message.contains("your change is based on") && message.contains("CONFLICT"),
        "{message}"
    );
    assert_eq!(editor_text(&c).await, relabelled, "nothing lost");
    let d = get(&http, &format!("{api}/deployments/{id}")).await;
    assert_eq!(d["metadata"]["labels"]["team"], "other", "{d}");
    c.close().await.unwrap();
    // The job stops before the test's directories go (the cluster outlives this test).
    s.ok(&["deployment", "cancel", "web", "--wait", "--timeout", "2m"]);
}

/// Logs the browser in with `token` through the login form and opens `path`.
async fn log_in(c: &Client, url: &str, token: &str, path: &str) {
    c.goto(&format!("{url}/ui/logout")).await.unwrap();
    c.goto(&format!("{url}{path}")).await.unwrap();
    type_into(c, Locator::Id("token"), token).await;
    click_id(c, "login-submit").await;
}

/// Whether the page offers editing, once the editor has asked the server.
async fn can_edit(c: &Client, what: &str) -> Value {
    wait_js(
        c,
        what,
        "const b = document.querySelector('#editor-new, #editor-edit'); \
         const asked = document.body.dataset.canEdit; \
         return b && asked ? {asked, role: document.body.dataset.role, shown: b.offsetParent !== null} : null;",
        Duration::from_secs(20),
        |v| !v.is_null(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_gets_no_editing_controls_in_chromium() {
    let admin = "admin-secret-of-the-editor-test";
    let s = Server::start_with_env(
        Some("http://127.0.0.1:9"),
        &[
            ("STATEPLANE_AUTH", "true"),
            ("STATEPLANE_ADMIN_TOKEN", admin),
        ],
    );
    let dir = s.dir.path().to_path_buf();
    let f = s.write(
        "d.yaml",
        &deployment_yaml("kept", &dir, &dir.join("none.jar"), "CANCELLED"),
    );
    s.ok(&["--token", admin, "deployment", "apply", "-f", &f]);
    let token = |name: &str, role: &str| {
        s.ok(&["--token", admin, "token", "create", name, "--role", role])
            .trim()
            .to_string()
    };
    let viewer = token("reader", "viewer");
    let editor = token("writer", "editor");
    let (_driver, c) = start_driver().await;

    for (who, secret, allowed) in [("viewer", &viewer, false), ("editor", &editor, true)] {
        // the access route decides: the role it answered is on the page
        for path in [
            "/ui/namespaces/default/deployments",
            "/ui/namespaces/default/deployments/kept",
        ] {
            log_in(&c, &s.url, secret, path).await;
            let v = can_edit(&c, &format!("{who} on {path}")).await;
            assert_eq!(
                v,
                json!({"asked": allowed.to_string(), "role": who, "shown": allowed}),
                "{who} on {path}"
            );
        }
    }

    // The server's refusal, with its code and field, next to the editor; what it echoes of the text
    // is shown as text, never as markup.
    c.goto(&format!("{}/ui/namespaces/default/deployments", s.url))
        .await
        .unwrap();
    click_when_shown(&c, "editor-new").await;
    let bad = deployment_yaml("fresh", &dir, &dir.join("none.jar"), "CANCELLED").replace(
        "name: fresh\n",
        "name: fresh\n  namespace: \"<img src=x onerror=\\\"document.title='markup'\\\">\"\n",
    );
    set_editor_text(&c, &bad).await;
    click_id(&c, "editor-apply").await;
    let shown = wait_js(
        &c,
        "the refusal next to the editor",
        "const e = document.querySelector('#editor-error'); \
         return e && !e.hidden ? {text: e.innerText, markup: e.querySelectorAll('img').length, \
         title: document.title} : null;",
        Duration::from_secs(20),
        |v| !v.is_null(),
    )
    .await;
    let text = shown["text"].as_str().unwrap();
    assert!(
        text.contains("metadata.namespace") && text.contains("<img src=x"),
        "{shown}"
    );
    assert_eq!(shown["markup"], 0, "{shown}");
    assert_ne!(shown["title"], "markup", "{shown}");
    assert_eq!(editor_text(&c).await, bad, "nothing lost");
    c.close().await.unwrap();
}
