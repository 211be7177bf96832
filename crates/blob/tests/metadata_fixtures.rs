//! The `_metadata` reader on real files Flink 2.3.0 and 1.20.5 wrote (the fuzz target's seeds in
//! `fuzz/seeds/`, produced by `metadata_flink.rs`), read as they are and damaged in many ways: every
//! prefix, random byte changes, deletions and insertions, all from a fixed seed. Each damaged copy
//! must be answered (Ok or Err) without a panic, and the lot within a time bound. No Flink needed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use stateplane_blob::metadata::{operator_id_for_uid, parse, MetadataError, SnapshotSummary};

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("read seed"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 8, "seeds of both releases: {files:?}");
    files
}

/// Parses `bytes`, turning a panic into a test failure that names the input.
fn answered(what: &str, bytes: &[u8]) -> Result<SnapshotSummary, MetadataError> {
    match std::panic::catch_unwind(|| parse(bytes)) {
        Ok(r) => r,
        Err(_) => {
            let keep = std::env::temp_dir().join("stateplane-metadata-panic.bin");
            let _ = std::fs::write(&keep, bytes);
            panic!(
                "{what}: the reader panicked (input kept in {})",
                keep.display()
            );
        }
    }
}

#[test]
fn real_files_read_as_flink_wrote_them() {
    for (name, bytes) in seeds() {
        let s = answered(&name, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let version = if name.starts_with("flink-1.20") { 4 } else { 6 };
        assert_eq!(s.format_version, version, "{name}");
        for uid in ["sequence-source", "count-per-key", "print-sink"] {
            let id = operator_id_for_uid(uid);
            let op = s
                .operators
                .iter()
                .find(|o| o.operator_id == id)
                .unwrap_or_else(|| panic!("{name}: no operator for uid {uid}"));
            assert_eq!((op.parallelism, op.max_parallelism), (2, 128), "{name}");
            if version >= 5 {
                assert_eq!(op.uid.as_deref(), Some(uid), "{name}");
            }
            if uid == "count-per-key" {
                assert!(op.state.keyed > 0, "{name}");
            }
        }
    }
}

/// xorshift64: the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
    let mut f = good.to_vec();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(f.len());
        match rng.below(6) {
            0 => f[i] = rng.next() as u8,
            1 => f[i] ^= 1 << rng.below(8),
            // Values that make lengths and counts absurd.
            2 => f[i] = [0x00, 0x7F, 0x80, 0xFF][rng.below(4)],
            3 => {
                let end = (i + 4).min(f.len());
                f[i..end].fill(0xFF);
            }
            4 => {
                f.remove(i);
            }
            _ => f.insert(i, rng.next() as u8),
        }
        if f.is_empty() {
            break;
        }
    }
    f
}

#[test]
fn damaged_real_files_are_answered_without_panic() {
    let started = Instant::now();
    let mut rng = Rng(0x0BAD_5EED_D00D_F00D);
    let mut errors = 0u64;
    let mut total = 0u64;
    for (name, good) in seeds() {
        for n in 0..good.len() {
            total += 1;
            errors += u64::from(answered(&format!("{name}[..{n}]"), &good[..n]).is_err());
        }
        for i in 0..10_000 {
            let f = mutate(&mut rng, &good);
            total += 1;
            errors += u64::from(answered(&format!("{name} mutant {i}"), &f).is_err());
        }
    }
    let took = started.elapsed();
    eprintln!("{total} damaged files, {errors} refused, in {took:?}");
    // Most damage is noticed (a flip inside an inline byte array or a name is not).
    assert!(errors * 2 > total, "{errors} of {total}");
    assert!(took < Duration::from_secs(120), "{took:?}");
}

#[tokio::test]
async fn summaries_are_read_from_locations_with_a_size_bound() {
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use object_store::path::Path as ObjPath;
    use object_store::ObjectStoreExt;
    use stateplane_blob::metadata::{summarize, MAX_METADATA_BYTES};
    use stateplane_blob::{BlobError, BlobLocation};

    let (name, real) = seeds().remove(0);
    let want = parse(&real).expect("a real file");
    let t = tempfile::tempdir().expect("temp dir");
    let uri = |p: &std::path::Path| format!("file://{}", p.display());

    let sp = t.path().join("savepoint-1");
    std::fs::create_dir_all(&sp).unwrap();
    std::fs::write(sp.join("_metadata"), &real).unwrap();
    let timeout = Duration::from_secs(10);
    assert_eq!(
        summarize(&uri(&sp), timeout).await.as_ref(),
        Ok(&want),
        "{name}"
    );
    let file = uri(&sp.join("_metadata"));
    assert_eq!(
        summarize(&file, timeout).await.as_ref(),
        Ok(&want),
        "the file itself"
    );

    let empty = t.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = summarize(&uri(&empty), timeout).await.unwrap_err();
    assert!(matches!(e, BlobError::NoMetadata { .. }), "{e}");
    let e = summarize(&uri(&t.path().join("missing")), timeout)
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");

    // A damaged file: the reason and where, never its bytes.
    let bad = t.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("_metadata"), &real[..real.len() / 2]).unwrap();
    let e = summarize(&uri(&bad), timeout).await.unwrap_err();
    assert!(
        matches!(&e, BlobError::NotASnapshot { reason, .. } if reason.contains("truncated")),
        "{e}"
    );

    // Over the limit: refused after reading one byte more than the limit (a sparse file: no disk).
    let big = t.path().join("big");
    std::fs::create_dir_all(&big).unwrap();
    let f = std::fs::File::create(big.join("_metadata")).unwrap();
    f.set_len(MAX_METADATA_BYTES + 4096).unwrap();
    let e = summarize(&uri(&big), timeout).await.unwrap_err();
    assert!(
        matches!(&e, BlobError::NotASnapshot { reason, .. } if reason.contains("larger than 64 MiB")),
        "{e}"
    );
    // Exactly at the limit is read (and then is no snapshot: all zeros).
    f.set_len(MAX_METADATA_BYTES).unwrap();
    let e = summarize(&uri(&big), timeout).await.unwrap_err();
    assert!(
        matches!(&e, BlobError::NotASnapshot { reason, .. } if reason.contains("magic")),
        "{e}"
    );

    // The object-store path every cloud shares.
    let store = Arc::new(InMemory::new());
    store
        .put(
            &ObjPath::from("sp/savepoint-2/_metadata"),
            real.clone().into(),
        )
        .await
        .unwrap();
    let at = |p: &str| BlobLocation::on_store(&format!("mem://b/{p}"), store.clone(), p);
    assert_eq!(at("sp/savepoint-2").read_summary().await, Ok(want));
    let e = at("sp/none").read_summary().await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
}
