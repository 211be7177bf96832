//! Flink's state handles as `MetadataV2V3SerializerBase` writes them, read only for their size and
//! for where their bytes live (inside `_metadata`, or in a file the handle names).
//!
//! The layouts are Flink's (1.20.5 and 2.3.0 write the same handle encodings; checked against both
//! releases' classes): a type byte, then fields in a fixed order. A handle may contain handles (a
//! key-group handle wraps a stream handle, a changelog handle wraps keyed handles), so every reader
//! takes the nesting depth and refuses to go deeper than [`MAX_DEPTH`].
//!
//! Sizes follow Flink's `getStateSize()`, the figure Flink's REST API reports per checkpoint: a
//! wrapper counts what it wraps, an incremental RocksDB/ForSt handle the sum of its files (shared
//! ones too), and handles that record their own size (channel state, changelog, file-merging
//! segments) that size. Nothing here opens a file.

use super::reader::Reader;
use super::MetadataError;

/// Deepest nesting of handles accepted. Flink writes at most four levels (a changelog handle around a
/// key-group handle around a stream handle); the limit only stops a hostile file from recursing.
pub(super) const MAX_DEPTH: u32 = 8;

/// Most key groups a handle can cover: Flink's upper bound for max parallelism (2^15).
pub(super) const MAX_KEY_GROUPS: i32 = 1 << 15;

/// Where the bytes of some state live and how many there are.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Footprint {
    /// Flink's `getStateSize()` of the handle.
    pub size: u64,
    /// The part of `size` inlined in `_metadata` (byte-stream handles, in-memory changelog).
    pub inline: u64,
    /// The part of `size` in files the handles name, as recorded in the handles.
    pub in_files: u64,
    /// File references by a path relative to the snapshot directory (savepoints).
    pub relative_files: u64,
    /// File references by an absolute path (checkpoints, native savepoints' shared files).
    pub absolute_files: u64,
}

impl Footprint {
    fn inline(size: u64) -> Self {
        Self {
            size,
            inline: size,
            ..Self::default()
        }
    }

    fn file(size: u64, relative: bool) -> Self {
        Self {
            size,
            in_files: size,
            relative_files: u64::from(relative),
            absolute_files: u64::from(!relative),
            ..Self::default()
        }
    }

    /// A handle that records its own size over a delegate whose bytes it shares with others (a
    /// channel-state handle is one slice of a file many channels write to): the recorded size
    /// counts, attributed to files when the delegate is a file, and the delegate's references stay.
    fn recorded(size: u64, delegate: Footprint) -> Self {
        let in_file = delegate.relative_files + delegate.absolute_files > 0;
        Self {
            size,
            inline: if in_file { 0 } else { size },
            in_files: if in_file { size } else { 0 },
            relative_files: delegate.relative_files,
            absolute_files: delegate.absolute_files,
        }
    }

    /// The sum, refused when sizes add up past what any file system holds (only a forged file can).
    pub(super) fn plus(self, other: Footprint, r: &Reader) -> Result<Footprint, MetadataError> {
        Ok(Footprint {
            size: r.add(self.size, other.size)?,
            inline: r.add(self.inline, other.inline)?,
            in_files: r.add(self.in_files, other.in_files)?,
            relative_files: r.add(self.relative_files, other.relative_files)?,
            absolute_files: r.add(self.absolute_files, other.absolute_files)?,
        })
    }
}

fn deeper(r: &Reader, depth: u32) -> Result<u32, MetadataError> {
    if depth >= MAX_DEPTH {
        return Err(r.over_limit(format!(
            "state handles are nested more than {MAX_DEPTH} levels deep"
        )));
    }
    Ok(depth + 1)
}

/// A key-group range (start, count); with `offsets`, the count's int64 offsets follow and are skipped.
fn key_groups(r: &mut Reader, offsets: bool) -> Result<(), MetadataError> {
    let start = r.i32("the first key group")?;
    let count = r.i32("the number of key groups")?;
    if start < 0 || !(0..=MAX_KEY_GROUPS).contains(&count) {
        return Err(r.corrupt(format!(
            "key-group range starting at {start} with {count} groups is outside 0..{MAX_KEY_GROUPS}"
        )));
    }
    if offsets {
        r.skip(count as u64 * 8, "key-group offsets")?;
    }
    Ok(())
}

/// `deserializeStreamStateHandle`: null, inline bytes, a file (absolute or relative), a key-group
/// handle, a file-merging segment.
pub(super) fn stream(r: &mut Reader, depth: u32) -> Result<Footprint, MetadataError> {
    let depth = deeper(r, depth)?;
    match r.u8("a stream state handle's type")? {
        0 => Ok(Footprint::default()),
        1 => {
            r.skip_utf("an inline handle's name")?;
            Ok(Footprint::inline(r.skip_byte_array("inline state bytes")?))
        }
        2 => {
            let size = r.size("a file handle's size")?;
            r.skip_utf("a file handle's path")?;
            Ok(Footprint::file(size, false))
        }
        3 => {
            key_groups(r, true)?;
            stream(r, depth)
        }
        6 => {
            r.skip_utf("a relative file handle's path")?;
            Ok(Footprint::file(
                r.size("a relative file handle's size")?,
                true,
            ))
        }
        15 => {
            r.size("a file segment's start")?;
            let size = r.size("a file segment's size")?;
            r.i32("a file segment's scope")?;
            r.skip_utf("a file segment's path")?;
            r.skip_utf("a file segment's logical file id")?;
            Ok(Footprint::file(size, false))
        }
        16 => Ok(Footprint::default()),
        t => Err(r.corrupt(format!("unknown stream state handle type {t}"))),
    }
}

/// A list of (local path, stream handle) pairs: the files of an incremental keyed handle.
fn handle_and_local_paths(r: &mut Reader, depth: u32) -> Result<Footprint, MetadataError> {
    let n = r.count("the number of files of an incremental handle", 3)?;
    let mut total = Footprint::default();
    for _ in 0..n {
        r.skip_utf("a local file name")?;
        let f = stream(r, depth)?;
        total = total.plus(f, r)?;
    }
    Ok(total)
}

/// `deserializeKeyedStateHandle`: key-group handles (hashmap and canonical savepoints), incremental
/// handles (RocksDB/ForSt checkpoints and native savepoints), changelog handles.
pub(super) fn keyed(r: &mut Reader, depth: u32) -> Result<Footprint, MetadataError> {
    let depth = deeper(r, depth)?;
    let ty = r.u8("a keyed state handle's type")?;
    match ty {
        0 => Ok(Footprint::default()),
        // KEY_GROUPS_HANDLE, SAVEPOINT_KEY_GROUPS_HANDLE, KEY_GROUPS_HANDLE_V2 (with a handle id).
        3 | 7 | 12 => {
            key_groups(r, true)?;
            let f = stream(r, depth)?;
            if ty == 12 {
                r.skip_utf("a state handle id")?;
            }
            Ok(f)
        }
        // INCREMENTAL_KEY_GROUPS_HANDLE and its V2 (checkpointed size and handle id).
        5 | 11 => {
            r.i64("an incremental handle's checkpoint id")?;
            r.skip_utf("an incremental handle's backend id")?;
            key_groups(r, false)?;
            if ty == 11 {
                r.i64("an incremental handle's checkpointed size")?;
            }
            let meta = stream(r, depth)?;
            let shared = handle_and_local_paths(r, depth)?;
            let private = handle_and_local_paths(r, depth)?;
            if ty == 11 {
                r.skip_utf("a state handle id")?;
            }
            meta.plus(shared, r)?.plus(private, r)
        }
        // CHANGELOG_HANDLE and its V2 (checkpoint id): materialized and changelog parts.
        8 | 14 => {
            key_groups(r, false)?;
            r.i64("a changelog handle's checkpointed size")?;
            let mut total = Footprint::default();
            for what in [
                "the number of materialized handles",
                "the number of changelog handles",
            ] {
                let n = r.count(what, 1)?;
                for _ in 0..n {
                    let f = keyed(r, depth)?;
                    total = total.plus(f, r)?;
                }
            }
            r.i64("a changelog handle's materialization id")?;
            if ty == 14 {
                r.i64("a changelog handle's checkpoint id")?;
            }
            r.skip_utf("a state handle id")?;
            Ok(total)
        }
        // CHANGELOG_BYTE_INCREMENT_HANDLE: changes inlined in _metadata.
        9 => {
            key_groups(r, false)?;
            r.i64("a changelog sequence number")?;
            r.i64("a changelog sequence number")?;
            let n = r.count("the number of changelog changes", 8)?;
            let mut bytes = Footprint::default();
            for _ in 0..n {
                r.i32("a change's key group")?;
                let len = r.skip_byte_array("a change's bytes")?;
                bytes = bytes.plus(Footprint::inline(len), r)?;
            }
            r.skip_utf("a state handle id")?;
            Ok(bytes)
        }
        // CHANGELOG_FILE_INCREMENT_HANDLE and its V2 (storage id): slices of changelog files.
        10 | 13 => {
            key_groups(r, false)?;
            let n = r.count("the number of changelog file slices", 9)?;
            let mut delegates = Footprint::default();
            for _ in 0..n {
                r.i64("a changelog file offset")?;
                let f = stream(r, depth)?;
                delegates = delegates.plus(f, r)?;
            }
            let size = r.size("a changelog handle's size")?;
            r.i64("a changelog handle's checkpointed size")?;
            r.skip_utf("a state handle id")?;
            if ty == 13 {
                r.skip_utf("a changelog storage id")?;
            }
            Ok(Footprint::recorded(size, delegates))
        }
        t => Err(r.corrupt(format!("unknown keyed state handle type {t}"))),
    }
}

/// `deserializeOperatorStateHandle`: named partitions (state name, distribution mode, offsets) over
/// one stream handle; type 17 is the file-merging variant with two directories.
pub(super) fn operator(r: &mut Reader, depth: u32) -> Result<Footprint, MetadataError> {
    let depth = deeper(r, depth)?;
    let ty = r.u8("an operator state handle's type")?;
    if ty == 0 {
        return Ok(Footprint::default());
    }
    if ty != 4 && ty != 17 {
        return Err(r.corrupt(format!("unknown operator state handle type {ty}")));
    }
    let states = r.count("the number of operator states in a handle", 7)?;
    for _ in 0..states {
        r.skip_utf("an operator state's name")?;
        let mode = r.u8("an operator state's distribution mode")?;
        if mode > 2 {
            return Err(r.corrupt(format!(
                "operator state distribution mode {mode} is none of Flink's three"
            )));
        }
        let offsets = r.count("the number of partition offsets", 8)?;
        r.skip(u64::from(offsets) * 8, "partition offsets")?;
    }
    if ty == 17 {
        r.skip_utf("a task-owned directory")?;
        r.skip_utf("a shared directory")?;
        r.u8("whether a file-merging handle is empty")?;
    }
    stream(r, depth)
}

/// One collection of channel-state handles (in-flight data of unaligned checkpoints): input
/// channels when `input`, result subpartitions otherwise. `typed` is format version 6's encoding
/// (`ChannelStateHandleSerializerV2`: a type byte per handle, merged handles); before it, every
/// handle is a plain one.
pub(super) fn channel_collection(
    r: &mut Reader,
    typed: bool,
    input: bool,
) -> Result<Footprint, MetadataError> {
    let n = r.count("the number of channel state handles", 1)?;
    let mut total = Footprint::default();
    for _ in 0..n {
        let merged = if typed {
            match (r.u8("a channel state handle's type")?, input) {
                (1, true) | (2, false) => false,
                (3, true) | (4, false) => true,
                (t, _) => {
                    return Err(r.corrupt(format!(
                        "unknown {} channel state handle type {t}",
                        if input { "input" } else { "output" }
                    )))
                }
            }
        } else {
            false
        };
        let f = if merged {
            r.i32("a channel state handle's subtask")?;
            let size = r.size("a channel state handle's size")?;
            let delegate = stream(r, 0)?;
            r.skip_byte_array("a merged channel state handle's channel list")?;
            Footprint::recorded(size, delegate)
        } else {
            r.i32("a channel state handle's subtask")?;
            r.i32("a channel's gate or partition")?;
            r.i32("a channel's index")?;
            let offsets = r.count("the number of channel state offsets", 8)?;
            r.skip(u64::from(offsets) * 8, "channel state offsets")?;
            let size = r.size("a channel state handle's size")?;
            let delegate = stream(r, 0)?;
            Footprint::recorded(size, delegate)
        };
        total = total.plus(f, r)?;
    }
    Ok(total)
}
