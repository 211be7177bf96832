//! A deployment whose jar lies on S3 (`jarUri: s3://…`) runs: stateplane reads it through the blob
//! crate (credentials and endpoint from the standard `AWS_*` variables) and uploads it to the cluster
//! like any jar. Against moto's S3-compatible server on loopback (`pip install 'moto[server]'`, as the
//! blob crate's tests); skipped, saying so, where it is not installed. One test in this binary: the
//! environment is process-wide.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Option<(Moto, u16)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = std::env::var("STATEPLANE_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => Moto(c),
        Err(e) => {
            eprintln!("SKIPPED: cannot run {bin} ({e}); pip install 'moto[server]'");
            return None;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((child, port));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{bin} did not listen on port {port} within 30 s");
}

/// One plain HTTP PUT (a bucket, or an object: moto does not check signatures).
fn put(port: u16, path: &str, body: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "PUT /{path}: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_whose_jar_lies_on_s3_runs() {
    let Some((_moto, port)) = start_moto() else {
        return;
    };
    // Edition 2021: set_var is safe; this test is the only one of its binary.
    for (k, v) in [
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ] {
        std::env::set_var(k, v);
    }
    let h = Harness::start().await;
    put(port, "jars", b"");
    put(
        port,
        "jars/jobs/stateful-counter.jar",
        &std::fs::read(&h.jar).unwrap(),
    );

    h.create_deployment(
        "s3jar",
        json!({"template": {"spec": {"artifact": {"jarUri": "s3://jars/jobs/stateful-counter.jar"}}}}),
    )
    .await;
    let d = h.wait_state("s3jar", "RUNNING", T).await;
    assert_eq!(
        d["spec"]["template"]["spec"]["artifact"]["jarUri"],
        "s3://jars/jobs/stateful-counter.jar"
    );

    // A jar that is not there is refused with the storage's answer, not retried as a Flink failure.
    let mut patch =
        json!({"template": {"spec": {"artifact": {"jarUri": "s3://jars/jobs/missing.jar"}}}});
    patch["maxJobCreationAttempts"] = json!(1);
    h.create_deployment("s3missing", patch).await;
    let d = h.wait_state("s3missing", "FAILED", T).await;
    let message = d["status"]["failure"]["message"].as_str().unwrap();
    assert!(message.contains("s3://jars/jobs/missing.jar"), "{message}");

    h.patch("deployments/s3jar", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("s3jar", "CANCELLED", T).await;
}
