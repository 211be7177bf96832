//! The header of Flink's `_metadata` file: enough to tell a snapshot from anything else, and which
//! checkpoint it is, without Flink.
//!
//! Layout (Flink's `Checkpoints.storeCheckpointMetadata`): a big-endian int32 magic number
//! `0x4960672D`, a big-endian int32 format version (1–6; Flink 2.3 writes 6), then the metadata
//! serializer's payload, which for every version starts with the big-endian int64 checkpoint id.

/// Flink's `_metadata` magic number.
pub const MAGIC: u32 = 0x4960_672D;

/// The format versions Flink has written so far.
pub const VERSIONS: std::ops::RangeInclusive<i32> = 1..=6;

/// Bytes needed to read the header: magic, version, checkpoint id.
pub const HEADER_LEN: usize = 16;

/// What the header of a valid `_metadata` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The metadata format version (1–6).
    pub version: i32,
    /// The id of the checkpoint (or savepoint) the snapshot is.
    pub checkpoint_id: i64,
}

/// Parses the first bytes of a `_metadata` file. The error says what is wrong in words and never
/// repeats the bytes: the file may be anything, including a secret.
pub fn parse_header(bytes: &[u8]) -> Result<SnapshotHeader, &'static str> {
    if bytes.len() < 4 {
        return Err("the _metadata file is too short to be Flink's (truncated or empty)");
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != MAGIC {
        return Err("the _metadata file does not start with Flink's magic number 0x4960672D: it is not a Flink savepoint or checkpoint");
    }
    if bytes.len() < HEADER_LEN {
        return Err("the _metadata file is truncated: it ends before the checkpoint id");
    }
    let version = i32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if !VERSIONS.contains(&version) {
        return Err("the _metadata file has Flink's magic number but a format version Flink never wrote (expected 1 to 6)");
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[8..16]);
    let checkpoint_id = i64::from_be_bytes(id);
    if checkpoint_id < 0 {
        return Err("the _metadata file has a negative checkpoint id: it is damaged");
    }
    Ok(SnapshotHeader {
        version,
        checkpoint_id,
    })
}

/// A header as Flink writes it, for tests of code that reads snapshots.
pub fn encode_header(version: i32, checkpoint_id: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN);
    v.extend_from_slice(&MAGIC.to_be_bytes());
    v.extend_from_slice(&version.to_be_bytes());
    v.extend_from_slice(&checkpoint_id.to_be_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let mut flink = encode_header(6, 42);
        flink.extend_from_slice(b"rest of the metadata");
        assert_eq!(
            parse_header(&flink),
            Ok(SnapshotHeader {
                version: 6,
                checkpoint_id: 42
            })
        );
        assert_eq!(parse_header(&encode_header(1, 0)).unwrap().version, 1);

        let cases: &[(&str, Vec<u8>, &str)] = &[
            ("empty", vec![], "too short"),
            ("three bytes", vec![0x49, 0x60, 0x67], "too short"),
            (
                "wrong magic",
                b"password=hunter2 and more".to_vec(),
                "magic",
            ),
            ("magic only", MAGIC.to_be_bytes().to_vec(), "truncated"),
            ("no id", encode_header(6, 1)[..12].to_vec(), "truncated"),
            ("version 0", encode_header(0, 1), "format version"),
            ("version 7", encode_header(7, 1), "format version"),
            ("negative id", encode_header(6, -1), "negative"),
        ];
        for (name, bytes, want) in cases {
            let e = parse_header(bytes).unwrap_err();
            assert!(e.contains(want), "{name}: {e}");
            assert!(!e.contains("hunter2"), "never echoes the file: {e}");
        }
    }
}
