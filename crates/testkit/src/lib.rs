//! Helpers for stateplane's integration tests, which cross real boundaries (a real Flink cluster,
//! real ports, real directories) instead of mocking them.
//!
//! The cluster, server and process helpers are blocking, so they can be called from plain `#[test]`s
//! and from inside `#[tokio::test]` alike without needing or nesting a runtime; the async waits
//! (`wait::until_async`, [`logs`], [`api`]) run on the test's tokio runtime.
//!
//! Tests synchronise on positive signals, never on fixed sleeps:
//! - [`wait::until`] / [`wait::until_async`]: poll a probe with a deadline and a description; a
//!   timeout says what was awaited and what was seen instead. [`wait::process_gone`]: a killed
//!   process has ended.
//! - [`logs`]: the in-process code's own tracing events, e.g. every reconcile pass the controller
//!   makes for a deployment and the action it planned ("the controller looked and did nothing").
//! - [`api`]: a deployment's events by code, and counters on `/metrics` growing.
//!
//! - [`flink::shared_cluster`]: one Flink session cluster per test binary, killed when the test
//!   process exits, however it exits.
//! - [`postgres::shared_server`]: one PostgreSQL server per test binary (started from Debian's
//!   package, or the one `STATEPLANE_TEST_DATABASE_URL` names), a fresh database per test.
//! - [`free_port`]: a loopback port nobody listens on right now.
//! - [`temp_dir`]: a directory deleted when the returned guard drops.
//! - [`process::spawn_server`]: the server binary as a child process, with the address it logs.
//! - [`s3::start_moto`]: an S3-compatible server on loopback.

pub mod api;
pub mod flink;
pub mod logs;
pub mod postgres;
pub mod process;
pub mod s3;
pub mod wait;

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

/// A loopback TCP port that was free a moment ago. Never hands out the same port twice within one
/// process, so parallel tests asking for ports do not collide with each other (another process may
/// still take it; callers that bind should cope).
///
/// # Panics
/// When the OS cannot bind an ephemeral port on 127.0.0.1 at all.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    for _ in 0..100 {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("cannot bind an ephemeral port on 127.0.0.1: {e}"))
            .port();
        let mut guard = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no fresh free port after 100 attempts")
}

/// A fresh directory under the system temp dir, removed (with its contents) when the guard drops.
/// Use `temp_dir().path()` for the path; keep the guard alive as long as the files are needed.
///
/// # Panics
/// When the directory cannot be created.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("stateplane-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports: HashSet<u16> = (0..20).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 20);
        let port = free_port();
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
    }

    #[test]
    fn temp_dirs_vanish_on_drop() {
        let dir = temp_dir();
        let path = dir.path().to_owned();
        std::fs::write(path.join("f"), b"x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}
