//! An S3-compatible server on loopback for tests of `s3://` locations: moto's
//! (`pip install 'moto[server]'`, found as `moto_server` on PATH or at `$STATEPLANE_MOTO_SERVER`;
//! `scripts/test.sh` installs it). Where it is not installed, [`start_moto`] says so and the caller
//! skips the part that needs it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running server, killed when dropped.
pub struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server on a free port and waits until it listens; `None` (said on stderr) when it
/// cannot be run.
///
/// # Panics
/// When it runs but does not listen within 30 s.
pub fn start_moto() -> Option<(Moto, u16)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port");
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

/// Points the process's S3 clients at the server, with the standard `AWS_*` variables a user sets.
/// The environment is process-wide: call it from the one test of a binary that uses S3.
pub fn use_moto_env(port: u16) {
    for (k, v) in [
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ] {
        std::env::set_var(k, v);
    }
}

/// One plain HTTP PUT (a bucket, or an object: moto does not check signatures).
///
/// # Panics
/// When the server does not answer 200.
pub fn put(port: u16, path: &str, body: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    write!(
        s,
        "PUT /{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("write to moto");
    s.write_all(body).expect("write to moto");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read from moto");
    assert!(answer.starts_with("HTTP/1.1 200"), "PUT /{path}: {answer}");
}
