//! The shared test cluster really runs, and really dies with its test process — even on `kill -9`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use stateplane_testkit::flink::shared_cluster;

const CHILD_ENV: &str = "STATEPLANE_TESTKIT_WATCHDOG_CHILD";

fn http_get(rest_url: &str, path: &str) -> String {
    let addr = rest_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect to Flink REST");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn shared_cluster_answers_with_eight_slots_and_builds_the_example() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let cluster = shared_cluster();
    let overview = http_get(cluster.rest_url(), "/overview");
    assert!(overview.contains("\"taskmanagers\":1"), "{overview}");
    if std::env::var_os("STATEPLANE_TEST_FLINK_REST_URL").is_none() {
        assert!(overview.contains("\"slots-total\":8"), "{overview}");
        assert_eq!(cluster.jvm_pids().len(), 2);
        assert!(cluster.taskmanager_stdout().exists());
    }
    let jar = cluster.example_jar();
    assert!(jar.is_absolute() && jar.is_file(), "{}", jar.display());
    // Same instance for everyone in this binary.
    assert!(std::ptr::eq(cluster, shared_cluster()));
}

/// Helper run as a separate process by `cluster_dies_with_a_killed_test_process`.
#[test]
#[ignore = "helper process for the watchdog test; does nothing on its own"]
fn child_process_holding_a_cluster() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let cluster = shared_cluster();
    let pids: Vec<String> = cluster.jvm_pids().iter().map(u32::to_string).collect();
    println!(
        "CLUSTER {} {}",
        cluster.work_dir().display(),
        pids.join(" ")
    );
    std::io::stdout().flush().unwrap();
    // Wait to be killed (the point of this helper: it is SIGKILLed while it holds the cluster); bounded
    // so a broken parent never leaves this running for long.
    std::thread::sleep(Duration::from_secs(300));
}

#[test]
fn cluster_dies_with_a_killed_test_process() {
    if std::env::var_os(CHILD_ENV).is_some()
        || std::env::var_os("STATEPLANE_TEST_FLINK_REST_URL").is_some()
    {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_process_holding_a_cluster",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints "test <name> ... " on the same line before the test's own output.
            if let Some((_, rest)) = line.split_once("CLUSTER ") {
                let _ = tx.send(rest.to_owned());
            }
        }
    });
    let line = match rx.recv_timeout(Duration::from_secs(240)) {
        Ok(line) => line,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child never reported its cluster: {e}");
        }
    };
    let mut parts = line.split_whitespace();
    let work_dir = parts.next().unwrap().to_owned();
    let pids: Vec<u32> = parts.map(|p| p.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2, "{line}");
    assert!(
        pids.iter()
            .all(|&p| stateplane_testkit::wait::process_alive(p)),
        "JVMs not running: {line}"
    );

    // SIGKILL: no destructor, no atexit, no panic hook runs in the child.
    child.kill().unwrap();
    child.wait().unwrap();

    for pid in &pids {
        stateplane_testkit::wait::process_gone(*pid, Duration::from_secs(60));
    }
    stateplane_testkit::wait::until(
        &format!("work dir {work_dir} to be removed"),
        Duration::from_secs(10),
        || {
            if Path::new(&work_dir).exists() {
                Err("still there".into())
            } else {
                Ok(())
            }
        },
    );
}
