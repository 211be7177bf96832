//! Snapshot locations on the local file system (real files in temp dirs) and on an in-memory object
//! store (the object_store code path every cloud shares).

use std::path::Path;
use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::path::Path as ObjPath;
use object_store::ObjectStoreExt;
use stateplane_blob::header::encode_header;
use stateplane_blob::{inspect, BlobError, BlobLocation, Disposal, SnapshotHeader};

fn uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn write(p: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A savepoint directory as Flink writes it: `_metadata` plus state files.
fn savepoint(dir: &Path, checkpoint_id: i64) {
    let mut meta = encode_header(6, checkpoint_id);
    meta.extend_from_slice(b"operator state follows");
    write(&dir.join("_metadata"), &meta);
    write(&dir.join("0a1b2c3d-state"), b"state");
    write(&dir.join("sub/more-state"), b"state");
}

#[tokio::test]
async fn headers_of_local_snapshots() {
    let t = tempfile::tempdir().unwrap();
    let sp = t.path().join("savepoint-abcdef-0123456789ab");
    savepoint(&sp, 17);
    let want = SnapshotHeader {
        version: 6,
        checkpoint_id: 17,
    };
    let loc = BlobLocation::parse(&uri(&sp)).unwrap();
    assert_eq!(loc.read_header().await, Ok(want));
    // every spelling Flink and users write, and the `_metadata` file itself
    for spelling in [
        format!("file:{}", sp.display()),
        format!("file://localhost{}/", sp.display()),
        sp.display().to_string(),
        format!("file://{}/_metadata", sp.display()),
    ] {
        let got = inspect(&spelling, std::time::Duration::from_secs(5)).await;
        assert_eq!(got, Ok(want), "{spelling}");
    }

    // a file that is not Flink's: named, never echoed
    let bad = t.path().join("not-flink");
    write(
        &bad.join("_metadata"),
        b"password=hunter2, definitely not flink",
    );
    let e = BlobLocation::parse(&uri(&bad))
        .unwrap()
        .read_header()
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::NotASnapshot { .. }), "{e:?}");
    assert!(e.to_string().contains("magic number"), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");

    // truncated after the magic number, and empty
    let short = t.path().join("short");
    write(&short.join("_metadata"), &encode_header(6, 1)[..10]);
    let e = BlobLocation::parse(&uri(&short))
        .unwrap()
        .read_header()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    let empty_file = t.path().join("empty-file");
    write(&empty_file.join("_metadata"), b"");
    let e = BlobLocation::parse(&uri(&empty_file))
        .unwrap()
        .read_header()
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::NotASnapshot { .. }), "{e:?}");

    // an empty directory and one with other files: no _metadata
    let empty = t.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let other = t.path().join("other");
    write(&other.join("README"), b"x");
    for dir in [&empty, &other] {
        let e = BlobLocation::parse(&uri(dir))
            .unwrap()
            .read_header()
            .await
            .unwrap_err();
        assert!(matches!(e, BlobError::NoMetadata { .. }), "{e:?}");
        assert!(e.to_string().contains("_metadata"), "{e}");
    }

    // nothing there at all
    let missing = t.path().join("missing");
    let loc = BlobLocation::parse(&uri(&missing)).unwrap();
    assert!(!loc.exists().await.unwrap());
    let e = loc.read_header().await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert!(e.to_string().contains("nothing exists at file:///"), "{e}");
}

#[tokio::test]
async fn uris() {
    for (uri, ok) in [
        ("file:///a/b", true),
        ("/a/b", true),
        ("relative/b", false),
        ("hdfs://nn/a", false),
        ("s3://", false),
        ("file:///a/../b", false),
    ] {
        assert_eq!(BlobLocation::parse(uri).is_ok(), ok, "{uri}");
    }
    match BlobLocation::parse("hdfs://nn/a").unwrap_err() {
        BlobError::UnsupportedScheme { scheme } => assert_eq!(scheme, "hdfs"),
        e => panic!("{e:?}"),
    }
    let l = BlobLocation::parse("file:/a/b/savepoint-1/").unwrap();
    assert_eq!(l.uri(), "file:///a/b/savepoint-1");
    assert_eq!(l.name().as_deref(), Some("savepoint-1"));
    assert_eq!(l.parent().unwrap().uri(), "file:///a/b");
    assert_eq!(
        l.child("_metadata").uri(),
        "file:///a/b/savepoint-1/_metadata"
    );
}

#[tokio::test]
async fn disposal_of_local_snapshots() {
    let t = tempfile::tempdir().unwrap();
    let target = t.path().join("1d6e3b1c-0000-4000-8000-000000000000");
    let sp = target.join("savepoint-abcdef-0123456789ab");
    savepoint(&sp, 3);
    // a link out of the snapshot must not be followed
    let outside = t.path().join("outside");
    write(&outside.join("precious"), b"keep me");
    std::os::unix::fs::symlink(&outside, sp.join("link")).unwrap();

    let loc = BlobLocation::parse(&uri(&sp)).unwrap();
    assert_eq!(
        loc.delete_snapshot().await,
        Ok(Disposal::Removed { files: 4 })
    );
    assert!(!sp.exists());
    assert!(outside.join("precious").is_file(), "links are not followed");
    // the per-savepoint target directory is now empty and can go; a retry finds nothing
    let parent = loc.parent().unwrap();
    assert!(parent.remove_if_empty().await.unwrap());
    assert!(!target.exists());
    assert_eq!(loc.delete_snapshot().await, Ok(Disposal::AlreadyGone));

    // not a snapshot: refused, nothing deleted
    let data = t.path().join("data");
    write(&data.join("important"), b"x");
    let e = BlobLocation::parse(&uri(&data))
        .unwrap()
        .delete_snapshot()
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::NoMetadata { .. }), "{e:?}");
    assert!(data.join("important").is_file());
    assert!(!BlobLocation::parse(&uri(&data))
        .unwrap()
        .remove_if_empty()
        .await
        .unwrap());
    assert!(BlobLocation::parse("file:///")
        .unwrap()
        .delete_snapshot()
        .await
        .is_err());

    // a half-deleted snapshot (only _metadata left, as an interrupted disposal leaves it) is finished
    let half = t.path().join("half");
    write(&half.join("_metadata"), &encode_header(6, 1));
    assert_eq!(
        BlobLocation::parse(&uri(&half))
            .unwrap()
            .delete_snapshot()
            .await,
        Ok(Disposal::Removed { files: 1 })
    );

    // a job's checkpoint directory: its chk-N directories, and removal of the whole tree
    let job = t.path().join("ck/0123456789abcdef0123456789abcdef");
    savepoint(&job.join("chk-3"), 3);
    savepoint(&job.join("chk-4"), 4);
    write(&job.join("shared/s1"), b"x");
    let jl = BlobLocation::parse(&uri(&job)).unwrap();
    assert_eq!(
        jl.subdirectories().await.unwrap(),
        vec!["chk-3", "chk-4", "shared"]
    );
    jl.child("chk-3").delete_snapshot().await.unwrap();
    assert_eq!(jl.subdirectories().await.unwrap(), vec!["chk-4", "shared"]);
    jl.delete_tree().await.unwrap();
    assert!(!job.exists());
    assert!(jl.subdirectories().await.unwrap().is_empty());
    jl.delete_tree().await.unwrap();
}

#[tokio::test]
async fn the_object_store_path_on_an_in_memory_store() {
    let store = Arc::new(InMemory::new());
    let put = |p: &'static str, b: Vec<u8>| {
        let store = store.clone();
        async move { store.put(&ObjPath::from(p), b.into()).await.unwrap() }
    };
    put("sp/savepoint-1/_metadata", encode_header(5, 99)).await;
    put("sp/savepoint-1/state", b"x".to_vec()).await;
    put("sp/savepoint-1/nested/state", b"x".to_vec()).await;
    put("sp/savepoint-10/_metadata", encode_header(6, 1)).await;
    put("sp/bad/_metadata", b"nope".to_vec()).await;
    put("sp/nometa/state", b"x".to_vec()).await;
    let at = |p: &str| BlobLocation::on_store(&format!("mem://b/{p}"), store.clone(), p);

    assert_eq!(
        at("sp/savepoint-1").read_header().await,
        Ok(SnapshotHeader {
            version: 5,
            checkpoint_id: 99
        })
    );
    assert!(matches!(
        at("sp/bad").read_header().await,
        Err(BlobError::NotASnapshot { .. })
    ));
    assert!(matches!(
        at("sp/nometa").read_header().await,
        Err(BlobError::NoMetadata { .. })
    ));
    assert!(at("sp/missing")
        .read_header()
        .await
        .unwrap_err()
        .is_not_found());
    assert_eq!(
        at("sp").subdirectories().await.unwrap(),
        vec!["bad", "nometa", "savepoint-1", "savepoint-10"]
    );

    // disposal: only that snapshot (not its prefix sibling savepoint-10), _metadata last
    assert_eq!(
        at("sp/savepoint-1").delete_snapshot().await,
        Ok(Disposal::Removed { files: 3 })
    );
    assert!(!at("sp/savepoint-1").exists().await.unwrap());
    assert!(at("sp/savepoint-10").exists().await.unwrap());
    assert_eq!(
        at("sp/savepoint-1").delete_snapshot().await,
        Ok(Disposal::AlreadyGone)
    );
    assert!(matches!(
        at("sp/nometa").delete_snapshot().await,
        Err(BlobError::NoMetadata { .. })
    ));
    assert!(
        at("sp/nometa").exists().await.unwrap(),
        "refused: untouched"
    );
    assert!(at("").delete_snapshot().await.is_err(), "never a root");
    at("sp/nometa").delete_tree().await.unwrap();
    assert!(at("sp/nometa").remove_if_empty().await.unwrap());
}
