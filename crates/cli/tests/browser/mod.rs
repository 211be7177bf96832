//! A real headless Chromium for the UI tests (Debian's `chromium` + `chromium-driver`, driven through
//! WebDriver with fantoccini): a chromedriver on a free port with its own profile, and a wait on a
//! script's answer. Without Chromium the tests fail (they do not skip): `scripts/test.sh` installs it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use stateplane_testkit::wait::until_async;

/// A chromedriver process on a free port, killed on drop.
pub struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

pub async fn start_driver() -> (Driver, Client) {
    let chromium = which("chromium");
    let chromedriver = which("chromedriver");
    let (Some(_), Some(chromedriver)) = (chromium, chromedriver) else {
        panic!(
            "the UI test needs Debian's chromium and chromedriver on PATH; install them with \
             `apt-get install -y chromium chromium-driver` (scripts/test.sh does this)"
        );
    };
    let port = stateplane_testkit::free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = stateplane_testkit::temp_dir();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };
    let http = reqwest::Client::new();
    until_async("chromedriver to start", Duration::from_secs(20), || async {
        match http.get(format!("{}/status", driver.url)).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(r.status().to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1440,2400", "--hide-scrollbars",
            format!("--user-data-dir={}", driver._profile.path().display()),
        ]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session through chromedriver");
    (driver, client)
}

/// Clicks the element `at` (which must be there).
pub async fn click(c: &Client, at: Locator<'_>) {
    c.find(at).await.unwrap().click().await.unwrap();
}

/// Types `text` into the element `at` (which must be there).
pub async fn type_into(c: &Client, at: Locator<'_>, text: &str) {
    c.find(at).await.unwrap().send_keys(text).await.unwrap();
}

/// Evaluates `script` (a function body returning JSON) until `done` holds for its result.
pub async fn wait_js(
    c: &Client,
    what: &str,
    script: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    until_async(what, timeout, || async {
        let v = c.execute(script, vec![]).await.unwrap_or(Value::Null);
        if done(&v) {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    })
    .await
}

/// Saves a picture of the window to `docs/<name>` (shown in the README), once a frame was painted
/// since the last change.
pub async fn save_screenshot(c: &Client, name: &str) {
    c.execute_async(
        "const done = arguments[arguments.length - 1]; \
         requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
        vec![],
    )
    .await
    .unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join(name), &png).unwrap();
}
