//! The `stateplane server` binary as a child process, found by the address it logs, with every line
//! of its log kept (complete once [`wait_log_closed`] returns).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

/// What the server logs once it accepts connections (`--listen 127.0.0.1:0` picks the port).
const LISTENING: &str = "listening on http://";

/// A started server: the child, the `host:port` it listens on, and every line of its stderr so far.
pub struct Spawned {
    pub child: Child,
    pub addr: String,
    pub log: Arc<Mutex<Vec<String>>>,
    /// The thread that reads stderr into `log`: finished once the process has closed its stderr (it
    /// exited), so every line it wrote is in `log`.
    pub reader: std::thread::JoinHandle<()>,
}

/// Spawns `cmd` (a `stateplane server` command; stdout is dropped, stderr read and kept) and waits up
/// to `timeout` for the address it logs.
///
/// # Panics
/// When the binary cannot be started or logs no address in time (with its log so far).
pub fn spawn_server(cmd: &mut Command, timeout: Duration) -> Spawned {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let stderr = child.stderr.take().expect("stderr is piped");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let keep = log.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split(LISTENING).nth(1) {
                let addr: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                let _ = tx.send(addr);
            }
            // Echoed into the test's captured output: shown only when the test fails.
            eprintln!("server| {line}");
            keep.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    });
    match rx.recv_timeout(timeout) {
        Ok(addr) => Spawned {
            child,
            addr,
            log,
            reader,
        },
        Err(_) => {
            let _ = child.kill();
            let lines = log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .join("\n");
            panic!("the server logged no address within {timeout:?}:\n{lines}")
        }
    }
}

/// Waits until `reader` (a [`Spawned::reader`]) has read the whole log, i.e. the process closed
/// its stderr.
///
/// # Panics
/// After `timeout`.
#[track_caller]
pub fn wait_log_closed(reader: &std::thread::JoinHandle<()>, timeout: Duration) {
    crate::wait::until("the server's log to close", timeout, || {
        if reader.is_finished() {
            Ok(())
        } else {
            Err("stderr still open".into())
        }
    })
}

/// A server started by [`start_server`]: its base URL and every line of its log so far; killed when
/// dropped.
pub struct ServerProcess {
    pub child: Child,
    /// `http://<addr>`.
    pub base: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// [`spawn_server`], kept as a [`ServerProcess`].
///
/// # Panics
/// As [`spawn_server`].
pub fn start_server(cmd: &mut Command, timeout: Duration) -> ServerProcess {
    let Spawned {
        child, addr, log, ..
    } = spawn_server(cmd, timeout);
    ServerProcess {
        child,
        base: format!("http://{addr}"),
        log,
    }
}
