//! API fuzzing: schemathesis (from PyPI, installed by scripts/test.sh) generates thousands of requests
//! from the server's own OpenAPI document against the real binary. No request may produce a 5xx or a
//! response that breaks the schema, and the server must still be healthy afterwards.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_healthy(base: &str) {
    stateplane_testkit::wait::until_async(
        "the server to become healthy",
        Duration::from_secs(30),
        || async {
            match reqwest::get(format!("{base}/healthz")).await {
                Ok(r) if r.status().as_u16() == 200 => Ok(()),
                Ok(r) => Err(r.status().to_string()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
}

fn schemathesis_available() -> bool {
    Command::new("schemathesis")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    assert!(
        schemathesis_available(),
        "schemathesis is not installed: scripts/test.sh installs it (pip install schemathesis)"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_stateplane"))
            .args([
                "server",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_healthy(&base).await;
    // Something to find: the fuzzer's requests reach an existing namespace and deployment.
    let http = reqwest::Client::new();
    let d: Value = http
        .post(format!("{base}/api/v1/namespaces/default/deployments"))
        .json(&json!({"metadata": {"name": "fuzz"}, "spec": {"template": {"spec": {
            "artifact": {"kind": "JAR", "jarUri": "file:///opt/jobs/job.jar"},
            "flinkConfiguration": {"execution.checkpointing.savepoint-dir": "file:///tmp/fuzz-savepoints"}
        }}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dep = d["metadata"]["id"].as_str().unwrap();
    std::fs::write(
        dir.path().join("schemathesis.toml"),
        format!("[parameters]\n\"namespace\" = \"default\"\n\"deploymentId\" = \"{dep}\"\n"),
    )
    .unwrap();
    let report = dir.path().join("report.json");
    let out = Command::new("schemathesis")
        .current_dir(dir.path())
        .args(["run", &format!("{base}/api/v1/openapi.json"), "--max-examples", "60", "--generation-deterministic"])
        .args(["--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"])
        .arg("--report-json-path")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: String = stdout
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    let r: Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or(Value::Null);
    let generated = r["test_cases"]["generated"].as_u64().unwrap_or(0);
    let failing = r["test_cases"]["with_failures"]
        .as_u64()
        .unwrap_or(u64::MAX);
    eprintln!("schemathesis: {generated} requests generated, {failing} with failures");
    assert!(
        out.status.success(),
        "schemathesis reported failures:\n{summary}"
    );
    assert_eq!(failing, 0, "{summary}");
    assert!(
        generated >= 1000,
        "only {generated} requests were generated:\n{summary}"
    );
    // Still healthy, and the store still reads.
    wait_healthy(&base).await;
    let list = http
        .get(format!("{base}/api/v1/namespaces"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status().as_u16(), 200);
}
