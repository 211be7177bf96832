//! Helpers of the client-verb and UI tests: a real `stateplane server` process (own data dir, free
//! port, optionally pointed at this test binary's shared real Flink cluster) and the real binary run
//! as a client against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `stateplane server`, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A server on a fresh data dir; with `flink`, its `default` deployment target points there.
    pub fn start(flink: Option<&str>) -> Server {
        Self::start_with_env(flink, &[])
    }

    /// [`Server::start`] with these environment variables (`STATEPLANE_BLOB_STORAGE_URI`, …).
    pub fn start_with_env(flink: Option<&str>, env: &[(&str, &str)]) -> Server {
        let dir = stateplane_testkit::temp_dir();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stateplane"));
        cmd.envs(env.iter().copied());
        cmd.args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"));
        if let Some(url) = flink {
            cmd.args(["--flink-rest-url", url]);
        }
        cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
        let stateplane_testkit::process::Spawned { child, addr, .. } =
            stateplane_testkit::process::spawn_server(&mut cmd, Duration::from_secs(30));
        Server {
            child,
            url: format!("http://{addr}"),
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `stateplane --server <url> <args>`.
    pub fn cli(&self, args: &[&str]) -> Out {
        cli_at(&self.url, args)
    }

    /// Runs the client and insists that it succeeded.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.code == 0,
            "stateplane {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.code,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// Runs the client with `-o json` and parses its output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Writes a file into the test's directory.
    pub fn write(&self, name: &str, content: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p.display().to_string()
    }
}

/// What a client run printed, and its exit code.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn cli_at(server: &str, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_stateplane"))
        .arg("--server")
        .arg(server)
        .args(args)
        .env_remove("STATEPLANE_SERVER")
        .env_remove("STATEPLANE_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run the binary");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A deployment of the example job as YAML, with its own savepoint and checkpoint directories under
/// `dir`.
pub fn deployment_yaml(name: &str, dir: &Path, jar: &Path, state: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Deployment
metadata:
  name: {name}
  labels:
    team: payments
spec:
  state: {state}
  deploymentTargetName: default
  upgradeStrategy:
    kind: STATEFUL
  restoreStrategy:
    kind: LATEST_STATE
  template:
    spec:
      artifact:
        kind: JAR
        jarUri: file://{jar}
        entryClass: io.stateplane.examples.StatefulCounter
        mainArgs: 20 --tag {name}
      parallelism: 1
      flinkConfiguration:
        execution.checkpointing.savepoint-dir: file://{sp}
        execution.checkpointing.dir: file://{ck}
        execution.checkpointing.interval: 1s
"#,
        jar = jar.display(),
        sp = dir.join(format!("{name}-savepoints")).display(),
        ck = dir.join(format!("{name}-checkpoints")).display(),
    )
}

/// The value of a `Key:  value` line of a `get` view.
pub fn field(out: &str, key: &str) -> Option<String> {
    out.lines().find_map(|l| {
        l.strip_prefix(&format!("{key}:"))
            .map(|v| v.trim().to_string())
    })
}

/// Every line of a table fits 80 columns.
pub fn assert_fits(out: &str) {
    for l in out.lines() {
        assert!(
            l.chars().count() <= 80,
            "wider than 80 columns: {l:?}\n{out}"
        );
    }
}
