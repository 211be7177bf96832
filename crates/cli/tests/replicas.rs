//! Two real `stateplane server` processes on one real PostgreSQL (and the shared real Flink cluster):
//! exactly one runs the controller; when it is killed with SIGKILL in the middle of a suspend the other
//! takes over and finishes it, with the SUSPEND savepoint recorded once; and concurrent PATCHes through
//! both replicas are compare-and-swap: per resourceVersion exactly one wins, the others get 409.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stateplane_testkit::api::{metric, wait_metric_above, CONTROLLER_ACTIONS};
use stateplane_testkit::wait::until_async;

const LEADS: &str = "this replica runs the controller";
const WAITS: &str = "another replica holds the leader lease";

/// A `stateplane server --database-url …` process, killed on drop.
struct Replica {
    child: Child,
    name: &'static str,
    /// `http://127.0.0.1:<port>/api/v1/namespaces/default`
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// The binary under test, copied once: other builds sharing the target directory may replace
/// `target/debug/stateplane` while this test runs.
fn binary() -> &'static PathBuf {
    static COPY: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &COPY
        .get_or_init(|| {
            let dir = stateplane_testkit::temp_dir();
            let path = dir.path().join("stateplane");
            std::fs::copy(env!("CARGO_BIN_EXE_stateplane"), &path).expect("copy the binary");
            let help = Command::new(&path)
                .args(["server", "--help"])
                .output()
                .expect("run the binary");
            assert!(
                String::from_utf8_lossy(&help.stdout).contains("--database-url"),
                "{} was replaced by a build without --database-url; build again",
                env!("CARGO_BIN_EXE_stateplane")
            );
            (dir, path)
        })
        .1
}

impl Replica {
    fn start(name: &'static str, database_url: &str, flink: Option<&str>) -> Replica {
        let data = stateplane_testkit::temp_dir();
        let mut cmd = Command::new(binary());
        cmd.args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args(["--database-url", database_url]);
        if let Some(url) = flink {
            cmd.args(["--flink-rest-url", url]);
        }
        cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
        let stateplane_testkit::process::Spawned {
            child, addr, log, ..
        } = stateplane_testkit::process::spawn_server(&mut cmd, Duration::from_secs(60));
        let mut r = Replica {
            child,
            name,
            base: String::new(),
            log,
        };
        r.base = format!("http://{addr}/api/v1/namespaces/default");
        r
    }

    fn logged(&self, what: &str) -> Option<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(what))
            .cloned()
    }

    fn wait_for_log(&self, what: &str, within: Duration) -> String {
        stateplane_testkit::wait::until(
            &format!("replica {} to log '{what}'", self.name),
            within,
            || {
                self.logged(what)
                    .ok_or_else(|| format!("its log:\n{}", self.log.lock().unwrap().join("\n")))
            },
        )
    }

    /// SIGKILL: no destructor, no graceful shutdown, no lease released politely.
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(http: &reqwest::Client, m: Method, url: String, body: Option<Value>) -> Value {
    let mut r = http.request(m, &url);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

async fn wait_until(
    http: &reqwest::Client,
    url: String,
    what: &str,
    within: Duration,
    f: impl Fn(&Value) -> bool,
) -> Value {
    until_async(what, within, || async {
        let r = http.get(&url).send().await.map_err(|e| e.to_string())?;
        let v = r.json::<Value>().await.map_err(|e| e.to_string())?;
        if f(&v) {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    })
    .await
}

fn of_origin<'a>(sps: &'a Value, origin: &str) -> Vec<&'a Value> {
    sps["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["metadata"]["origin"] == origin)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_replica_finishes_a_suspend_when_the_leader_is_killed() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let db = stateplane_testkit::postgres::shared_server().create_database();
    let dir = stateplane_testkit::temp_dir();
    let sp_dir = dir.path().join("savepoints");
    let http = reqwest::Client::new();

    let a = Replica::start("a", db.url(), Some(cluster.rest_url()));
    a.wait_for_log(LEADS, Duration::from_secs(30));
    let b = Replica::start("b", db.url(), Some(cluster.rest_url()));
    b.wait_for_log(WAITS, Duration::from_secs(30));
    assert!(b.logged(LEADS).is_none(), "one controller at a time");

    // Everything goes through the replica that does not run the controller: its writes reach the
    // leader's controller, the leader's writes reach its reads.
    let body = json!({"metadata": {"name": "ha"}, "spec": {
        "state": "RUNNING",
        "deploymentTargetName": "default",
        "template": {"spec": {
            "artifact": {"kind": "JAR", "jarUri": format!("file://{}", cluster.example_jar().display()),
                         "entryClass": "io.stateplane.examples.StatefulCounter", "mainArgs": "20 --tag ha"},
            "parallelism": 1,
            "flinkConfiguration": {"execution.checkpointing.savepoint-dir": format!("file://{}", sp_dir.display())}
        }}
    }});
    let d = call(
        &http,
        Method::POST,
        format!("{}/deployments", b.base),
        Some(body),
    )
    .await;
    let dep = d["metadata"]["id"].as_str().unwrap().to_string();
    wait_until(
        &http,
        format!("{}/deployments/ha", b.base),
        "RUNNING",
        Duration::from_secs(90),
        |d| d["status"]["state"] == "RUNNING",
    )
    .await;
    // The leader's controller did that; the other replica's has not run a single pass.
    let server = |r: &Replica| r.base.replace("/api/v1/namespaces/default", "");
    wait_metric_above(
        &http,
        &server(&a),
        CONTROLLER_ACTIONS,
        0.0,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        metric(&http, &server(&b), CONTROLLER_ACTIONS).await,
        0.0,
        "the waiting replica runs no controller"
    );

    call(
        &http,
        Method::PATCH,
        format!("{}/deployments/ha", b.base),
        Some(json!({"spec": {"state": "SUSPENDED"}})),
    )
    .await;
    // The leader has recorded the SUSPEND savepoint it is taking: kill it now.
    let seen = wait_until(
        &http,
        format!("{}/savepoints?deploymentId={dep}", b.base),
        "a SUSPEND savepoint",
        Duration::from_secs(30),
        |v| !of_origin(v, "SUSPEND").is_empty(),
    )
    .await;
    a.kill9();
    let killed = Instant::now();
    let state_at_kill = of_origin(&seen, "SUSPEND")[0]["status"]["state"].clone();
    eprintln!("SUSPEND savepoint was {state_at_kill} when the leader was killed");

    b.wait_for_log(LEADS, Duration::from_secs(15));
    let takeover = killed.elapsed();
    eprintln!("replica b took over {takeover:?} after the kill");
    assert!(takeover < Duration::from_secs(10), "{takeover:?}");

    let d = wait_until(
        &http,
        format!("{}/deployments/ha", b.base),
        "SUSPENDED",
        Duration::from_secs(90),
        |d| d["status"]["state"] == "SUSPENDED",
    )
    .await;
    let sps = call(
        &http,
        Method::GET,
        format!("{}/savepoints?deploymentId={dep}", b.base),
        None,
    )
    .await;
    let suspends = of_origin(&sps, "SUSPEND");
    assert_eq!(suspends.len(), 1, "recorded once: {sps}");
    assert_eq!(suspends[0]["status"]["state"], "COMPLETED", "{sps}");
    let loc =
        stateplane_model::local_path(suspends[0]["spec"]["savepointLocation"].as_str().unwrap())
            .unwrap();
    assert!(loc.join("_metadata").is_file(), "{}", loc.display());
    assert_eq!(
        std::fs::read_dir(loc.parent().unwrap()).unwrap().count(),
        1,
        "one snapshot taken"
    );

    // Flink runs nothing of this deployment any more.
    let jobs = call(
        &http,
        Method::GET,
        format!("{}/jobs?deploymentId={dep}", b.base),
        None,
    )
    .await;
    let ids: Vec<String> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["metadata"]["id"].as_str().unwrap().replace('-', ""))
        .collect();
    assert_eq!(ids.len(), 1, "{jobs}");
    let flink = stateplane_flink::FlinkClient::new(cluster.rest_url()).unwrap();
    let running: Vec<_> = flink
        .jobs_overview()
        .await
        .unwrap()
        .into_iter()
        .filter(|j| ids.contains(&j.id.as_str().to_string()) && !j.state.is_globally_terminal())
        .collect();
    assert!(running.is_empty(), "{running:?}");
    assert_eq!(d["status"]["state"], "SUSPENDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_through_both_replicas_one_wins_per_resource_version() {
    let db = stateplane_testkit::postgres::shared_server().create_database();
    let a = Replica::start("a", db.url(), None);
    let b = Replica::start("b", db.url(), None);
    let http = reqwest::Client::new();
    let d = call(
        &http,
        Method::POST,
        format!("{}/deployments", a.base),
        Some(json!({"metadata": {"name": "contended"}, "spec": {
            "state": "CANCELLED",
            "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///opt/jobs/job.jar"}}}
        }})),
    )
    .await;
    let first = d["metadata"]["resourceVersion"].as_i64().unwrap();

    for round in 0..5 {
        let version = first + round;
        let mut requests = tokio::task::JoinSet::new();
        for writer in 0..8 {
            let base = if writer % 2 == 0 { &a.base } else { &b.base };
            let req =
                http.patch(format!("{base}/deployments/contended"))
                    .json(&json!({"metadata": {
                        "resourceVersion": version,
                        // Unique per round: a PATCH that changes nothing is answered 200 without a write.
                    "labels": {"writer": format!("{round}-{writer}")}
                    }}));
            requests.spawn(async move {
                let resp = req.send().await.unwrap();
                let status = resp.status();
                (
                    writer,
                    status,
                    resp.json::<Value>().await.unwrap_or(Value::Null),
                )
            });
        }
        let mut winners = Vec::new();
        let mut conflicts = 0;
        while let Some(r) = requests.join_next().await {
            let (writer, status, body) = r.unwrap();
            match status {
                StatusCode::OK => winners.push((writer, body)),
                StatusCode::CONFLICT => conflicts += 1,
                other => panic!("round {round}, writer {writer}: {other} {body}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one wins");
        assert_eq!(conflicts, 7, "round {round}: the others get 409");
        let (writer, body) = &winners[0];
        assert_eq!(
            body["metadata"]["resourceVersion"].as_i64(),
            Some(version + 1)
        );
        // Both replicas read the winner's write.
        for base in [&a.base, &b.base] {
            let stored = call(
                &http,
                Method::GET,
                format!("{base}/deployments/contended"),
                None,
            )
            .await;
            assert_eq!(
                stored["metadata"]["labels"]["writer"],
                format!("{round}-{writer}")
            );
            assert_eq!(
                stored["metadata"]["resourceVersion"].as_i64(),
                Some(version + 1)
            );
        }
    }
}
