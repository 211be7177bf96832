//! Table tests on `_metadata` files written here in Flink's layout, one handle kind at a time, and on
//! damaged ones. Files real Flink wrote are tested in `tests/metadata_flink.rs`.

use super::*;
use crate::header::encode_header;

/// Writes Flink's encodings (`DataOutputStream`), for building test files.
#[derive(Default, Clone)]
struct W(Vec<u8>);

impl W {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn utf(mut self, s: &str) -> Self {
        self.0.extend_from_slice(&(s.len() as u16).to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    fn bytes(self, n: usize) -> Self {
        self.i32(n as i32).raw(&vec![0x5A; n])
    }
    fn w(self, other: W) -> Self {
        self.raw(&other.0)
    }
}

// Stream handles.
fn inline(n: usize) -> W {
    W::default().u8(1).utf("handle-name").bytes(n)
}
fn abs_file(size: i64) -> W {
    W::default()
        .u8(2)
        .i64(size)
        .utf("file:/ckpt/job/shared/abc")
}
fn rel_file(size: i64) -> W {
    W::default().u8(6).utf("0f1e2d").i64(size)
}
fn null() -> W {
    W::default().u8(0)
}

// Keyed handles.
fn key_groups_v2(start: i32, n: i32, delegate: W) -> W {
    let mut w = W::default().u8(12).i32(start).i32(n);
    for i in 0..n {
        w = w.i64(i64::from(i) * 10);
    }
    w.w(delegate).utf("handle-id")
}
fn savepoint_key_groups(delegate: W) -> W {
    W::default().u8(7).i32(0).i32(2).i64(0).i64(5).w(delegate)
}

// Operator handles.
fn op_handle(delegate: W) -> W {
    W::default()
        .u8(4)
        .i32(1)
        .utf("SourceReaderState")
        .u8(0)
        .i32(2)
        .i64(0)
        .i64(8)
        .w(delegate)
}

/// A subtask: managed operator, raw operator, managed keyed, raw keyed, no channel state.
fn subtask(managed_op: Option<W>, keyed: W) -> W {
    let w = W::default();
    let w = match managed_op {
        Some(h) => w.i32(1).w(h),
        None => w.i32(0),
    };
    w.i32(0).w(keyed).w(null()).i32(0).i32(0)
}

struct Op<'a> {
    name: &'a str,
    uid: &'a str,
    id: [u8; 16],
    parallelism: i32,
    max_parallelism: i32,
    coordinator: W,
    subtasks: Vec<(i32, Option<W>)>,
}

fn op(version: i32, o: Op) -> W {
    let mut w = W::default();
    if version >= 5 {
        w = w.utf(o.name).utf(o.uid);
    }
    w = w
        .raw(&o.id)
        .i32(o.parallelism)
        .i32(o.max_parallelism)
        .w(o.coordinator)
        .i32(o.subtasks.len() as i32);
    for (index, state) in o.subtasks {
        w = w.i32(index);
        if let Some(s) = state {
            w = w.w(s);
        }
    }
    w
}

/// A file: header, master states, the operators, and (version 4+) a properties stub.
fn file(version: i32, masters: usize, ops: Vec<W>) -> Vec<u8> {
    let mut w = W::default()
        .raw(&encode_header(version, 42))
        .i32(masters as i32);
    for _ in 0..masters {
        w = w
            .i32(MASTER_STATE_MAGIC)
            .i32(10)
            .raw(&[0, 0, 0, 1, 0, 2, b'h', b'k', 0, 0]);
    }
    w = w.i32(ops.len() as i32);
    for o in ops {
        w = w.w(o);
    }
    if version >= 4 {
        w = w.raw(&[0xAC, 0xED, 0x00, 0x05, 0x73, 0x72]);
    }
    w.0
}

const SOURCE_ID: [u8; 16] = [
    0x7a, 0x0e, 0x22, 0x45, 0x0c, 0x7f, 0xf0, 0x84, 0xb7, 0x45, 0x55, 0x6d, 0xd9, 0xe4, 0xa9, 0x28,
];

fn two_operators(version: i32) -> Vec<u8> {
    let source = op(
        version,
        Op {
            name: "Source: seq",
            uid: "seq-source",
            id: SOURCE_ID,
            parallelism: 2,
            max_parallelism: 128,
            coordinator: inline(30),
            subtasks: vec![
                (0, Some(subtask(Some(op_handle(inline(20))), null()))),
                (1, Some(subtask(Some(op_handle(inline(21))), null()))),
            ],
        },
    );
    let counter = op(
        version,
        Op {
            name: "count",
            uid: "",
            id: [0xAB; 16],
            parallelism: 2,
            max_parallelism: 128,
            coordinator: null(),
            subtasks: vec![
                (0, Some(subtask(None, key_groups_v2(0, 64, rel_file(1000))))),
                // Subtask 1 finished: index -(1) - 1.
                (-2, None),
            ],
        },
    );
    file(version, 1, vec![source, counter])
}

#[test]
fn operator_ids_of_uids_are_flinks() {
    // Verified against Flink 2.3's JobVertexIDs (see UPGRADES.md).
    assert_eq!(
        operator_id_for_uid("counter"),
        "0da08f51eaa85fc298e176a139b3649a"
    );
    assert_eq!(
        operator_id_for_uid("seq-source"),
        "7a0e22450c7ff084b745556dd9e4a928"
    );
    assert_eq!(operator_id_for_uid("").len(), 32);
    assert_ne!(operator_id_for_uid("a"), operator_id_for_uid("b"));
}

#[test]
fn versions_3_to_6_read_operators_and_sizes() {
    for version in 3..=6 {
        let s = parse(&two_operators(version)).unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(
            (s.format_version, s.checkpoint_id, s.master_states),
            (version, 42, 1)
        );
        assert_eq!(s.operators.len(), 2);
        let (src, cnt) = (&s.operators[0], &s.operators[1]);
        assert_eq!(src.operator_id, "7a0e22450c7ff084b745556dd9e4a928");
        assert_eq!(src.operator_id, operator_id_for_uid("seq-source"));
        assert_eq!(cnt.operator_id, "ab".repeat(16));
        if version >= 5 {
            assert_eq!(src.uid.as_deref(), Some("seq-source"));
            assert_eq!(src.name.as_deref(), Some("Source: seq"));
            assert_eq!(cnt.uid, None, "empty uid means none");
        } else {
            assert_eq!((src.uid.as_deref(), src.name.as_deref()), (None, None));
        }
        assert_eq!((src.parallelism, src.max_parallelism), (2, 128));
        assert_eq!((src.subtask_states, src.finished_subtasks), (2, 0));
        assert_eq!((cnt.subtask_states, cnt.finished_subtasks), (2, 1));
        assert!(!src.fully_finished);

        assert_eq!(
            src.state,
            StateSizes {
                operator: 41,
                coordinator: 30,
                total: 71,
                inline: 71,
                ..StateSizes::default()
            }
        );
        assert_eq!(
            cnt.state,
            StateSizes {
                keyed: 1000,
                total: 1000,
                in_files: 1000,
                relative_file_references: 1,
                ..StateSizes::default()
            }
        );
        assert_eq!(s.total.total, 1071);
        assert_eq!(s.total.inline + s.total.in_files, s.total.total);
    }
}

#[test]
fn every_handle_kind_counts_as_flink_counts_it() {
    // Incremental V2: meta inline 10, shared absolute 100 + segment 50, private empty segment.
    let incremental = W::default()
        .u8(11)
        .i64(7)
        .utf("5c0e6b6a-0000-4000-8000-000000000000")
        .i32(0)
        .i32(128)
        .i64(60)
        .w(inline(10))
        .i32(2)
        .utf("000001.sst")
        .w(abs_file(100))
        .utf("000002.sst")
        .w(W::default()
            .u8(15)
            .i64(4)
            .i64(50)
            .i32(0)
            .utf("file:/seg")
            .utf("lf-1"))
        .i32(1)
        .utf("MANIFEST")
        .w(W::default().u8(16))
        .utf("handle-id");
    // Changelog V2: materialized key groups (stream type 3 around 7 inline bytes), in-memory changes
    // (3 + 4 bytes), a file slice recording 33 bytes.
    let changelog = W::default()
        .u8(14)
        .i32(0)
        .i32(128)
        .i64(99)
        .i32(1)
        .w(savepoint_key_groups(
            W::default().u8(3).i32(0).i32(1).i64(0).w(inline(7)),
        ))
        .i32(2)
        .w(W::default()
            .u8(9)
            .i32(0)
            .i32(128)
            .i64(1)
            .i64(2)
            .i32(2)
            .i32(5)
            .bytes(3)
            .i32(-1)
            .bytes(4)
            .utf("id"))
        .w(W::default()
            .u8(13)
            .i32(0)
            .i32(128)
            .i32(1)
            .i64(0)
            .w(abs_file(4096))
            .i64(33)
            .i64(33)
            .utf("id")
            .utf("filesystem"))
        .i64(3)
        .i64(8)
        .utf("id");
    // File-merging operator state over a segment.
    let merged_op = W::default()
        .u8(17)
        .i32(0)
        .utf("file:/taskowned")
        .utf("file:/shared")
        .u8(0)
        .w(W::default()
            .u8(15)
            .i64(0)
            .i64(12)
            .i32(1)
            .utf("file:/m")
            .utf("lf-2"));
    let st = |managed_op: W, keyed: W, channels: W| {
        W::default()
            .i32(1)
            .w(managed_op)
            .i32(1)
            .w(op_handle(inline(2)))
            .w(keyed)
            .w(key_groups_v2(0, 1, inline(3)))
            .w(channels)
    };
    // Channel state, version 4 layout: one input handle (size 40 of a shared file), no output.
    let channels_v1 = W::default()
        .i32(1)
        .i32(0)
        .i32(0)
        .i32(1)
        .i32(2)
        .i64(0)
        .i64(16)
        .i64(40)
        .w(abs_file(4096))
        .i32(0);
    // Version 6: a merged input handle (25, inline) and a plain output handle (15).
    let channels_v2 = W::default()
        .i32(1)
        .u8(3)
        .i32(0)
        .i64(25)
        .w(inline(64))
        .bytes(9)
        .i32(1)
        .u8(2)
        .i32(0)
        .i32(0)
        .i32(0)
        .i32(0)
        .i64(15)
        .w(rel_file(4096));
    for (version, channels, channel_size, channel_files) in
        [(4, channels_v1, 40, 1), (6, channels_v2, 40, 1)]
    {
        let st1 = st(merged_op.clone(), incremental.clone(), channels);
        let st2 = st(
            op_handle(null()),
            changelog.clone(),
            W::default().i32(0).i32(0),
        );
        let o = op(
            version,
            Op {
                name: "n",
                uid: "u",
                id: [1; 16],
                parallelism: 2,
                max_parallelism: 128,
                coordinator: null(),
                subtasks: vec![(1, Some(st1)), (0, Some(st2))],
            },
        );
        let s = parse(&file(version, 0, vec![o])).unwrap_or_else(|e| panic!("v{version}: {e}"));
        let sizes = s.operators[0].state;
        assert_eq!(sizes.keyed, 10 + 100 + 50 + (7 + 7 + 33), "v{version}");
        assert_eq!(sizes.operator, 12, "v{version}");
        assert_eq!(sizes.raw, 2 * (2 + 3), "v{version}");
        assert_eq!(sizes.channel, channel_size, "v{version}");
        assert_eq!(sizes.coordinator, 0);
        assert_eq!(sizes.total, 207 + 12 + 10 + channel_size, "v{version}");
        assert_eq!(sizes.inline + sizes.in_files, sizes.total, "v{version}");
        // Files: abs 100, segment 50, empty segment (none), changelog file, merged-op segment,
        // and the channel delegate.
        assert_eq!(
            sizes.relative_file_references + sizes.absolute_file_references,
            4 + channel_files,
            "v{version}"
        );
    }
}

#[test]
fn fully_finished_operators_have_no_subtasks() {
    let o = W::default().raw(&[2; 16]).i32(1).i32(128).w(null()).i32(-1);
    let s = parse(&file(4, 0, vec![o])).unwrap();
    assert!(s.operators[0].fully_finished);
    assert_eq!(s.operators[0].subtask_states, 0);

    let o = W::default()
        .raw(&[2; 16])
        .i32(1)
        .i32(128)
        .w(inline(3))
        .i32(-1);
    let e = parse(&file(4, 0, vec![o])).unwrap_err();
    assert!(e.to_string().contains("fully finished"), "{e}");
}

/// `two_operators(6)` with bytes `at..at + with.len()` replaced.
fn patched(at: usize, with: &[u8]) -> Vec<u8> {
    let mut f = two_operators(6);
    f[at..at + with.len()].copy_from_slice(with);
    f
}

#[test]
fn damaged_files_are_errors_with_reasons() {
    let good = two_operators(6);
    // Offsets in the version 6 file: header 16, master count 16..20, master 20..38, operator count
    // 38..42, source name/uid 42..67, id 67..83, parallelism 83..87, max 87..91, coordinator 91...
    let ops_at = 38;
    let par_at = 83;
    let coord_at = 91;
    let huge = i32::MAX.to_be_bytes();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "too short"),
        ("version 2", encode_header(2, 1), "version 2"),
        ("header only", encode_header(6, 1), "truncated"),
        (
            "no properties",
            good[..good.len() - 6].to_vec(),
            "truncated",
        ),
        (
            "something else after the operators",
            [&good[..good.len() - 6], b"garbage".as_slice()].concat(),
            "not followed by the checkpoint properties",
        ),
        ("huge operator count", patched(ops_at, &huge), "truncated"),
        (
            "negative operator count",
            patched(ops_at, &(-1i32).to_be_bytes()),
            "negative",
        ),
        ("master magic", patched(20, &[0; 4]), "magic"),
        ("master length", patched(24, &[0; 4]), "length is 0"),
        ("negative master count", patched(16, &[0xFF; 4]), "negative"),
        (
            "parallelism above max",
            patched(par_at, &500i32.to_be_bytes()),
            "parallelism 500",
        ),
        (
            "negative max parallelism",
            patched(par_at + 4, &[0xFF; 4]),
            "max parallelism -1",
        ),
        (
            "coordinator in a file",
            patched(coord_at, &[2]),
            "not inline bytes",
        ),
        (
            "unknown handle type",
            patched(coord_at, &[99]),
            "not inline bytes",
        ),
        (
            "huge inline length",
            patched(coord_at + 14, &huge),
            "truncated",
        ),
        (
            "negative inline length",
            patched(coord_at + 14, &[0x80, 0, 0, 0]),
            "negative",
        ),
    ];
    for (name, bytes, want) in cases {
        let e = parse(&bytes).expect_err(name);
        let msg = e.to_string();
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(
            !msg.contains("handle-name"),
            "{name}: never repeats file contents: {msg}"
        );
    }
}

#[test]
fn subtask_indexes_must_be_below_the_parallelism() {
    let o = op(
        4,
        Op {
            name: "",
            uid: "",
            id: [3; 16],
            parallelism: 1,
            max_parallelism: 1,
            coordinator: null(),
            subtasks: vec![(1, Some(subtask(None, null())))],
        },
    );
    let e = parse(&file(4, 0, vec![o])).unwrap_err();
    assert!(e.to_string().contains("subtask index 1"), "{e}");
}

#[test]
fn nesting_and_counts_are_bounded() {
    // A key-group stream handle wrapping itself 1000 times.
    let mut nested = W::default();
    for _ in 0..1000 {
        nested = nested.u8(3).i32(0).i32(0);
    }
    let st = W::default()
        .i32(0)
        .i32(0)
        .u8(12)
        .i32(0)
        .i32(0)
        .w(nested.w(null()))
        .utf("id")
        .w(null())
        .i32(0)
        .i32(0);
    let o = op(
        4,
        Op {
            name: "",
            uid: "",
            id: [4; 16],
            parallelism: 1,
            max_parallelism: 1,
            coordinator: null(),
            subtasks: vec![(0, Some(st))],
        },
    );
    let e = parse(&file(4, 0, vec![o])).unwrap_err();
    assert!(matches!(e, MetadataError::OverLimit { .. }), "{e}");

    // More operators than accepted, each of them well-formed and minimal.
    let tiny = || W::default().raw(&[5; 16]).i32(1).i32(1).w(null()).i32(0);
    let many: Vec<W> = (0..=MAX_OPERATORS).map(|_| tiny()).collect();
    let e = parse(&file(4, 0, many)).unwrap_err();
    assert!(e.to_string().contains("operator states, more than"), "{e}");

    // Key-group counts beyond Flink's bound.
    let st = W::default().i32(0).i32(0).u8(3).i32(0).i32(1 << 16);
    let o = op(
        4,
        Op {
            name: "",
            uid: "",
            id: [6; 16],
            parallelism: 1,
            max_parallelism: 1,
            coordinator: null(),
            subtasks: vec![(0, Some(st))],
        },
    );
    let e = parse(&file(4, 0, vec![o])).unwrap_err();
    assert!(e.to_string().contains("key-group range"), "{e}");
}

#[test]
fn summaries_serialise_in_camel_case() {
    let s = parse(&two_operators(6)).unwrap();
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["formatVersion"], 6);
    assert_eq!(json["checkpointId"], 42);
    let op0 = &json["operators"][0];
    assert_eq!(op0["operatorId"], "7a0e22450c7ff084b745556dd9e4a928");
    assert_eq!(op0["maxParallelism"], 128);
    assert_eq!(op0["state"]["coordinator"], 30);
    assert_eq!(json["total"]["relativeFileReferences"], 1);
    let back: SnapshotSummary = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
}

/// A deterministic xorshift generator: the same mutations on every run.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn mutated_files_are_ok_or_err_never_a_panic() {
    let started = std::time::Instant::now();
    let mut rng = Rng(0x5EED_0FF1_C0DE);
    for version in 3..=6 {
        let good = two_operators(version);
        for n in 0..good.len() {
            let _ = parse(&good[..n]);
        }
        for _ in 0..20_000 {
            let mut f = good.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() % f.len() as u64) as usize;
                f[i] = match rng.next() % 3 {
                    0 => rng.next() as u8,
                    1 => f[i] ^ (1 << (rng.next() % 8)),
                    _ => [0x00, 0x7F, 0x80, 0xFF][(rng.next() % 4) as usize],
                };
            }
            let _ = parse(&f);
        }
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
