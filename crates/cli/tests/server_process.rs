//! The real binary: serves, survives `kill -9` with every acknowledged write intact, and exits 0
//! promptly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stateplane_testkit::wait::until_async;

struct Proc {
    child: Child,
    base: String,
    /// Every line of its log so far (empty for a process not started by `spawn_with`).
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `stateplane server` on a free port and waits for its "listening on" log line.
fn spawn(data_dir: &Path) -> Proc {
    spawn_with(data_dir, &[])
}

fn spawn_with(data_dir: &Path, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stateplane"));
    cmd.args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        // tower_http at debug: every request the server starts serving is logged, the signal that a
        // request is in flight.
        .env("RUST_LOG", "info,tower_http=debug")
        .env("NO_COLOR", "1");
    let stateplane_testkit::process::Spawned {
        child, addr, log, ..
    } = stateplane_testkit::process::spawn_server(&mut cmd, Duration::from_secs(30));
    Proc {
        child,
        base: format!("http://{addr}"),
        log,
    }
}

async fn get(c: &reqwest::Client, url: String) -> (u16, Value) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn data_survives_kill_9_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let c = reqwest::Client::new();

    let mut p = spawn(dir.path());
    let (status, body) = get(&c, format!("{}/healthz", p.base)).await;
    assert_eq!(status, 200, "{body}");

    let r = c
        .post(format!("{}/api/v1/namespaces/default/deployments", p.base))
        .json(&json!({"metadata": {"name": "durable"}, "spec": {"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let deployment: Value = r.json().await.unwrap();
    let dep_id = deployment["metadata"]["id"].as_str().unwrap().to_string();
    // A snapshot directory whose `_metadata` starts with Flink's header (magic, version, checkpoint id):
    // registration checks the location.
    let snapshot = dir.path().join("sp").join("savepoint-1");
    std::fs::create_dir_all(&snapshot).unwrap();
    let mut header = Vec::new();
    header.extend_from_slice(&0x4960_672D_u32.to_be_bytes());
    header.extend_from_slice(&6_u32.to_be_bytes());
    header.extend_from_slice(&7_u64.to_be_bytes());
    std::fs::write(snapshot.join("_metadata"), header).unwrap();
    let seed = format!(
        "metadata:\n  deploymentId: {dep_id}\n  annotations:\n    com.dataartisans.appmanager.controller.deployment.spec.version: 1\n\
         spec:\n  savepointLocation:  file://{}\n  flinkSavepointId: 00000000-0000-0000-0000-000000000000\n\
         status:\n  state: COMPLETED\n",
        snapshot.display()
    );
    let r = c
        .post(format!("{}/api/v1/namespaces/default/savepoints", p.base))
        .header("content-type", "application/yaml")
        .body(seed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let registered: Value = r.json().await.unwrap();
    let sp_id = registered["metadata"]["id"].as_str().unwrap().to_string();
    // The controller then reads the `_metadata` (a header only, so it records why it has no summary);
    // what must survive the kill is the savepoint as it stands after that write.
    let savepoint = until_async(
        "the controller to record the snapshot summary's error",
        Duration::from_secs(20),
        || {
            let c = c.clone();
            let url = format!("{}/api/v1/namespaces/default/savepoints/{sp_id}", p.base);
            async move {
                let (_, s) = get(&c, url).await;
                match s["metadata"]["annotations"].get("stateplane.io/snapshot-summary-error") {
                    Some(_) => Ok(s),
                    None => Err(s.to_string()),
                }
            }
        },
    )
    .await;
    assert!(
        savepoint["metadata"]["annotations"]["stateplane.io/snapshot-summary-error"]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{savepoint}"
    );

    // SIGKILL: no chance to flush anything
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    drop(p);

    let p = spawn(dir.path());
    let (status, d) = get(
        &c,
        format!("{}/api/v1/namespaces/default/deployments/{dep_id}", p.base),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(d, deployment, "the deployment is unchanged");
    let (status, s) = get(
        &c,
        format!("{}/api/v1/namespaces/default/savepoints/{sp_id}", p.base),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(s, savepoint, "the savepoint is unchanged");

    // a long-poll in flight must not hold up the shutdown
    let poll = tokio::spawn({
        let c = c.clone();
        let url = format!(
            "{}/api/v1/namespaces/default/deployments/{dep_id}?waitFor=RUNNING&timeout=120s",
            p.base
        );
        async move { c.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    // the server has started serving the long-poll
    until_async(
        "the long-poll to reach the server",
        Duration::from_secs(10),
        || async {
            let lines = p.log.lock().unwrap();
            match lines.iter().find(|l| l.contains("timeout=120s")) {
                Some(l) => Ok(l.clone()),
                None => Err(lines.join("\n")),
            }
        },
    )
    .await;

    let pid = p.child.id().to_string();
    let t = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut p = p;
    let status = until_async("an exit after SIGTERM", Duration::from_secs(10), || {
        let exited = p.child.try_wait().unwrap();
        async move { exited.ok_or_else(|| "still running".to_string()) }
    })
    .await;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(
        poll.await.unwrap().ok(),
        Some(200),
        "the long-poll was answered"
    );
}

#[tokio::test]
async fn flink_rest_url_becomes_the_default_target() {
    let dir = tempfile::tempdir().unwrap();
    let c = reqwest::Client::new();
    let p = spawn_with(dir.path(), &["--flink-rest-url", "http://127.0.0.1:8081"]);
    let url = format!(
        "{}/api/v1/namespaces/default/deployment-targets/default",
        p.base
    );
    let (status, t) = get(&c, url).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        t["spec"]["flinkSessionCluster"]["restUrl"],
        "http://127.0.0.1:8081"
    );
    let first_id = t["metadata"]["id"].clone();
    drop(p);

    // the environment variable works too, and a new URL updates the target
    let mut child = Command::new(env!("CARGO_BIN_EXE_stateplane"))
        .args(["server", "--listen", "127.0.0.1:0"])
        .env("STATEPLANE_DATA_DIR", dir.path())
        .env("STATEPLANE_FLINK_REST_URL", "http://flink.internal:8081")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let addr = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("listening on http://").nth(1).map(|r| {
                r.chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect::<String>()
            })
        })
        .unwrap();
    let p = Proc {
        child,
        base: format!("http://{addr}"),
        log: Arc::default(),
    };
    let (status, t) = get(
        &c,
        format!(
            "{}/api/v1/namespaces/default/deployment-targets/default",
            p.base
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        t["spec"]["flinkSessionCluster"]["restUrl"],
        "http://flink.internal:8081"
    );
    // Updated in place (the controller also writes the target's observed status, so its version may
    // have grown further).
    assert_eq!(t["metadata"]["id"], first_id, "updated in place");
}

#[test]
fn a_bad_flink_url_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stateplane"))
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--flink-rest-url",
            "localhost:8081",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--flink-rest-url"), "{err}");
}
