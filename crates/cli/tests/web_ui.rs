//! The web UI in a real headless Chromium (Debian's `chromium` + `chromium-driver`, driven through
//! WebDriver with fantoccini), served by the real binary, on a deployment running on a real Flink:
//! the Snapshots tab marks the snapshot the next start restores from, says why the others are
//! skipped, shows the API's error message, and the "Take savepoint" button takes one end to end.
//! The run saves a screenshot of the deployment page to `docs/ui-deployment.png` (shown in the README).
//!
//! Without Chromium this test fails (it does not skip): `scripts/test.sh` installs it.

mod browser;
mod common;

use std::time::Duration;

use browser::{click, start_driver, type_into, wait_js};
use common::{deployment_yaml, field, Server};
use fantoccini::Locator;
use serde_json::{json, Value};

const SNAPSHOT_ROWS: &str = r#"
    return [...document.querySelectorAll('#tab-snapshots tbody tr')].map((r) => ({
        id: r.dataset.savepointId, state: r.dataset.state, origin: r.dataset.origin,
        next: r.getAttribute('data-next-restore') === 'true', text: r.innerText,
        visible: r.offsetParent !== null,
    }));
"#;

fn rows(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_page_marks_the_next_restore_and_takes_a_savepoint_in_chromium() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let s = Server::start(Some(cluster.rest_url()));
    let dir = s.dir.path().to_path_buf();

    // A running deployment with three snapshots: one taken, one registered with the spec version
    // (the next start restores from it), one registered without it (kept, never restored).
    let f = s.write(
        "orders.yaml",
        &deployment_yaml("orders", &dir, &cluster.example_jar(), "RUNNING"),
    );
    s.ok(&["deployment", "apply", "-f", &f]);
    s.ok(&[
        "deployment",
        "resume",
        "orders",
        "--wait",
        "--timeout",
        "3m",
    ]);
    let out = s.ok(&[
        "savepoint",
        "create",
        "--deployment",
        "orders",
        "--wait",
        "--timeout",
        "3m",
    ]);
    let taken = field(&out, "Id").unwrap();
    let location = field(&out, "Location").unwrap();
    let out = s.ok(&[
        "savepoint",
        "add",
        "--deployment",
        "orders",
        "--location",
        &location,
    ]);
    let added = field(&out, "Id").unwrap();
    let d = s.json(&["deployment", "get", "orders"]);
    let id = d["metadata"]["id"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/namespaces/default/savepoints", s.url))
        .json(&json!({"metadata": {"deploymentId": id},
            "spec": {"savepointLocation": location}, "status": {"state": "COMPLETED"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let unstamped: Value = r.json().await.unwrap();
    let unstamped = unstamped["metadata"]["id"].as_str().unwrap().to_string();

    let (_driver, c) = start_driver().await;

    // `/` leads to the namespace's deployments
    c.goto(&format!("{}/", s.url)).await.unwrap();
    let list = wait_js(
        &c,
        "the deployments list",
        "const r = document.querySelector('#deployments tr[data-deployment=\"orders\"]'); \
         return r ? {text: r.innerText, path: location.pathname} : null;",
        Duration::from_secs(20),
        |v| !v.is_null(),
    )
    .await;
    assert_eq!(list["path"], "/ui/namespaces/default/deployments");
    assert!(list["text"].as_str().unwrap().contains("RUNNING"), "{list}");

    // the deployment page: Snapshots tab, the right row marked, skipped ones say why
    c.goto(&format!("{}/ui/namespaces/default/deployments/{id}", s.url))
        .await
        .unwrap();
    let v = wait_js(
        &c,
        "three snapshot rows",
        SNAPSHOT_ROWS,
        Duration::from_secs(20),
        |v| rows(v).len() == 3,
    )
    .await;
    let all = rows(&v);
    let marked: Vec<&Value> = all.iter().filter(|r| r["next"] == true).collect();
    assert_eq!(marked.len(), 1, "{v}");
    assert_eq!(marked[0]["id"], added.as_str(), "{v}");
    assert_eq!(
        marked[0]["visible"], true,
        "the Snapshots tab is the one shown"
    );
    let text = |sp: &str| {
        all.iter()
            .find(|r| r["id"] == sp)
            .and_then(|r| r["text"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        text(&added).contains("next start restores from here"),
        "{v}"
    );
    assert!(
        text(&unstamped).contains(
            "skipped: no com.dataartisans.appmanager.controller.deployment.spec.version annotation"
        ),
        "{v}"
    );
    assert!(
        text(&taken).contains(&format!("skipped: older than {added}")),
        "{v}"
    );

    // an API error is shown with the server's message: fork into a name that is taken
    click(
        &c,
        Locator::Css(&format!(
            "tr[data-savepoint-id=\"{added}\"] button[data-action=\"fork\"]"
        )),
    )
    .await;
    type_into(&c, Locator::Id("fork-name"), "orders").await;
    click(&c, Locator::Id("fork-submit")).await;
    wait_js(
        &c,
        "the fork error",
        "const e = document.querySelector('#fork-form .form-error'); return e && !e.hidden ? e.textContent : null;",
        Duration::from_secs(10),
        |v| v.as_str().is_some_and(|t| t.contains("deployment 'orders' already exists")),
    )
    .await;
    click(&c, Locator::Css("#fork-dialog button[data-close]")).await;

    // take a savepoint with the button: a new row appears, COMPLETED, and becomes the next restore
    let before: Vec<String> = all
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    click(&c, Locator::Id("action-savepoint")).await;
    let v = wait_js(
        &c,
        "a new COMPLETED savepoint row",
        SNAPSHOT_ROWS,
        Duration::from_secs(90),
        |v| {
            rows(v).iter().any(|r| {
                r["state"] == "COMPLETED"
                    && r["id"]
                        .as_str()
                        .is_some_and(|id| !before.iter().any(|b| b == id))
            })
        },
    )
    .await;
    let fresh = rows(&v)
        .into_iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|id| !before.iter().any(|b| b == id))
        })
        .unwrap();
    assert_eq!(fresh["origin"], "USER_REQUEST", "{fresh}");
    let fresh_id = fresh["id"].as_str().unwrap().to_string();
    wait_js(
        &c,
        "the new savepoint marked as the next restore",
        SNAPSHOT_ROWS,
        Duration::from_secs(10),
        |v| {
            rows(v)
                .iter()
                .any(|r| r["next"] == true && r["id"] == fresh_id.as_str())
        },
    )
    .await;
    let sp = s.json(&["savepoint", "get", &fresh_id]);
    let loc = sp["spec"]["savepointLocation"].as_str().unwrap();
    let meta = stateplane_model::local_path(loc).unwrap().join("_metadata");
    assert!(meta.is_file(), "{loc}: Flink wrote the savepoint");

    // the other tabs render the deployment's jobs and events
    for (tab, table) in [("jobs", "#jobs tbody tr"), ("events", "#events tbody tr")] {
        click(&c, Locator::Id(&format!("tab-button-{tab}"))).await;
        wait_js(
            &c,
            tab,
            &format!("return [...document.querySelectorAll('{table}')].filter((r) => r.offsetParent !== null).length;"),
            Duration::from_secs(10),
            |v| v.as_u64().unwrap_or(0) >= 1,
        )
        .await;
    }
    click(&c, Locator::Id("tab-button-snapshots")).await;

    // the screenshot for the README, once the notice of the action has gone
    wait_js(
        &c,
        "the notice to fade",
        "return document.querySelector('#notice').hidden;",
        Duration::from_secs(15),
        |v| v == &Value::Bool(true),
    )
    .await;
    // the whole page in one picture: the window (started tall) fitted to the page's content
    let size = c
        .execute(
            "return {bottom: Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + window.scrollY), \
             chrome: window.outerHeight - window.innerHeight};",
            vec![],
        )
        .await
        .unwrap();
    let height =
        size["bottom"].as_u64().unwrap_or(1000) + 16 + size["chrome"].as_u64().unwrap_or(0);
    c.set_window_size(1440, height.clamp(800, 2400) as u32)
        .await
        .unwrap();
    c.execute(
        "window.scrollTo(0, 0); for (const w of document.querySelectorAll('.table-wrap')) w.scrollLeft = 0;",
        vec![],
    )
    .await
    .unwrap();
    // The scrolling has taken effect (WebDriver's resize returns once done), fonts are in, and a
    // frame was painted since.
    let settled = "return window.scrollY === 0 \
         && [...document.querySelectorAll('.table-wrap')].every((w) => w.scrollLeft === 0) \
         && document.fonts.status === 'loaded';";
    wait_js(
        &c,
        "the page to settle for the picture",
        settled,
        Duration::from_secs(10),
        |v| v == &Value::Bool(true),
    )
    .await;
    browser::save_screenshot(&c, "ui-deployment.png").await;
    c.close().await.unwrap();

    s.ok(&[
        "deployment",
        "cancel",
        "orders",
        "--wait",
        "--timeout",
        "2m",
    ]);
}

/// The deployments page's orphan panel: lists unreferenced snapshot data under the namespace's
/// derived prefixes when asked, and disposes of a row's data after the confirmation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orphan_panel_lists_and_disposes_of_orphaned_data_in_chromium() {
    let blob_dir = stateplane_testkit::temp_dir();
    let blob = format!("file://{}", blob_dir.path().display());
    let s = Server::start_with_env(
        Some("http://127.0.0.1:9"),
        &[("STATEPLANE_BLOB_STORAGE_URI", blob.as_str())],
    );
    // Left by hand under the prefix of a deployment that does not exist.
    let location = format!(
        "{blob}/flink-savepoints/namespaces/default/deployments/{}/by-hand/savepoint-0c0d-000000000001",
        uuid::Uuid::new_v4()
    );
    let path = stateplane_model::local_path(&location).unwrap();
    std::fs::create_dir_all(&path).unwrap();
    let mut header = 0x4960_672Du32.to_be_bytes().to_vec();
    header.extend(6i32.to_be_bytes());
    header.extend(1i64.to_be_bytes());
    std::fs::write(path.join("_metadata"), header).unwrap();

    let (_driver, c) = start_driver().await;
    c.goto(&format!("{}/ui/namespaces/default/deployments", s.url))
        .await
        .unwrap();
    wait_js(
        &c,
        "the orphan panel",
        "return !!document.querySelector('#orphans-load');",
        Duration::from_secs(20),
        |v| v == &json!(true),
    )
    .await;
    assert!(
        path.join("_metadata").is_file(),
        "nothing listed or deleted before asked"
    );
    click(&c, Locator::Id("orphans-load")).await;
    let row = wait_js(
        &c,
        "the orphan's row",
        "const r = document.querySelector('#orphans-table tbody tr'); \
         return r ? {location: r.dataset.location, text: r.innerText} : null;",
        Duration::from_secs(20),
        |v| !v.is_null(),
    )
    .await;
    assert_eq!(row["location"], location.as_str(), "{row}");
    assert!(row["text"].as_str().unwrap().contains("deleted"), "{row}");
    click(&c, Locator::Css("#orphans-table tbody tr button")).await;
    click(&c, Locator::Id("confirm-yes")).await;
    wait_js(
        &c,
        "the panel to show nothing left",
        "const e = document.querySelector('#orphans .empty'); return e ? e.innerText : null;",
        Duration::from_secs(20),
        |v| v.as_str().is_some_and(|t| t.contains("No orphaned")),
    )
    .await;
    assert!(!path.exists(), "disposed of after the confirmation");
}
