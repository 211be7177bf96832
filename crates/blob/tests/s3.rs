//! `s3://` locations through object_store's S3 client, configured the way a user configures it: the
//! standard `AWS_*` environment variables. Against an S3-compatible server on loopback: moto's
//! (`pip install 'moto[server]'`, found as `moto_server` on PATH or at `$STATEPLANE_MOTO_SERVER`). The
//! part that needs it is skipped, saying so, where it is not installed; the unreachable-endpoint part
//! always runs. Everything runs in one test: the environment is process-wide.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use object_store::path::Path as ObjPath;
use object_store::ObjectStoreExt;
use stateplane_blob::header::encode_header;
use stateplane_blob::{inspect, read_file, BlobError, BlobLocation, Disposal, SnapshotHeader};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto(port: u16) -> Option<Moto> {
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
            eprintln!(
                "SKIPPED the S3 server part: cannot run {bin} ({e}); pip install 'moto[server]'"
            );
            return None;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{bin} did not listen on port {port} within 30 s");
}

/// Creates a bucket with a plain HTTP request (object_store manages objects, not buckets).
fn create_bucket(port: u16, bucket: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

fn set_env(endpoint: &str) {
    // Edition 2021: set_var is safe; this test is the only one of its binary.
    for (k, v) in [
        ("AWS_ENDPOINT", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ] {
        std::env::set_var(k, v);
    }
}

#[tokio::test]
async fn s3_locations() {
    // Nobody listens: "cannot reach", quickly, never "not found".
    let closed = free_port();
    set_env(&format!("http://127.0.0.1:{closed}"));
    let started = Instant::now();
    let e = inspect("s3://bucket/sp/savepoint-1", Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !e.to_string().contains("testing"),
        "no credentials in errors: {e}"
    );

    let port = free_port();
    let Some(_moto) = start_moto(port) else {
        return;
    };
    create_bucket(port, "snapshots");
    set_env(&format!("http://127.0.0.1:{port}"));
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name("snapshots")
        .with_allow_http(true)
        .build()
        .unwrap();
    for (path, bytes) in [
        ("base/sp/savepoint-1/_metadata", encode_header(6, 1234)),
        ("base/sp/savepoint-1/state-a", b"x".to_vec()),
        ("base/sp/savepoint-1/deep/state-b", b"x".to_vec()),
        ("base/sp/savepoint-12/_metadata", encode_header(6, 7)),
        ("base/sp/not-flink/_metadata", b"secret-token=abc".to_vec()),
        ("base/sp/no-meta/state", b"x".to_vec()),
    ] {
        store.put(&ObjPath::from(path), bytes.into()).await.unwrap();
    }

    let loc = BlobLocation::parse("s3://snapshots/base/sp/savepoint-1").unwrap();
    assert_eq!(
        loc.read_header().await,
        Ok(SnapshotHeader {
            version: 6,
            checkpoint_id: 1234
        })
    );
    // Flink's S3 file systems spell it s3a:// or s3p://
    assert!(inspect(
        "s3a://snapshots/base/sp/savepoint-1/",
        Duration::from_secs(10)
    )
    .await
    .is_ok());
    let e = inspect("s3p://snapshots/base/sp/not-flink", Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(e, BlobError::NotASnapshot { .. }) && !e.to_string().contains("secret"),
        "{e:?}"
    );
    assert!(matches!(
        inspect("s3://snapshots/base/sp/no-meta", Duration::from_secs(10)).await,
        Err(BlobError::NoMetadata { .. })
    ));
    assert!(
        inspect("s3://snapshots/base/sp/missing", Duration::from_secs(10))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(inspect("s3://no-such-bucket/sp/x", Duration::from_secs(10))
        .await
        .is_err());

    let parent = loc.parent().unwrap();
    assert_eq!(
        parent.subdirectories().await.unwrap(),
        vec!["no-meta", "not-flink", "savepoint-1", "savepoint-12"]
    );
    assert_eq!(
        loc.delete_snapshot().await,
        Ok(Disposal::Removed { files: 3 })
    );
    assert!(!loc.exists().await.unwrap());
    assert!(
        parent.child("savepoint-12").exists().await.unwrap(),
        "a sibling with the same prefix stays"
    );
    assert_eq!(loc.delete_snapshot().await, Ok(Disposal::AlreadyGone));
    let no_meta = parent.child("no-meta");
    assert!(matches!(
        no_meta.delete_snapshot().await,
        Err(BlobError::NoMetadata { .. })
    ));
    assert!(no_meta.exists().await.unwrap());
    no_meta.delete_tree().await.unwrap();
    assert!(no_meta.remove_if_empty().await.unwrap());

    // A jar (a deployment's artifact) is read whole, and a file over the limit is refused, not cut.
    let jar: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    store
        .put(&ObjPath::from("jars/job.jar"), jar.clone().into())
        .await
        .unwrap();
    let t = Duration::from_secs(10);
    assert_eq!(
        read_file("s3://snapshots/jars/job.jar", 1 << 20, t).await,
        Ok(jar)
    );
    let e = read_file("s3://snapshots/jars/job.jar", 1000, t)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("larger than 1000 bytes"), "{e}");
    assert!(read_file("s3://snapshots/jars/none.jar", 1000, t)
        .await
        .unwrap_err()
        .is_not_found());
}
