//! A cursor over the bytes of `_metadata` that reads Java's `DataOutputStream` encodings (big-endian
//! integers, `writeUTF` strings) and refuses, with the byte offset, anything that would read past the
//! end.
//!
//! Why it exists: every length and count in the file comes from whoever wrote it, and the file comes
//! from users. The cursor is the one place that checks a length or count against the bytes that are
//! really left *before* anything is skipped, looped over or allocated, so the parser above it cannot
//! be made to allocate or loop beyond the size of its input.

use super::MetadataError;

/// Reads `_metadata` front to back. Never panics: every read checks the remaining length first.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader starting at `pos` (the header before it was checked elsewhere).
    pub(super) fn at(bytes: &'a [u8], pos: usize) -> Self {
        Self {
            bytes,
            pos: pos.min(bytes.len()),
        }
    }

    /// Bytes not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The bytes not read yet, without consuming them.
    pub(super) fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    pub(super) fn truncated(&self, what: &'static str, needed: u64) -> MetadataError {
        MetadataError::Truncated {
            what,
            offset: self.pos,
            needed,
            available: self.remaining(),
        }
    }

    /// An error for a value Flink never writes, at the current offset.
    pub(super) fn corrupt(&self, reason: impl Into<String>) -> MetadataError {
        MetadataError::Corrupt {
            offset: self.pos,
            reason: reason.into(),
        }
    }

    /// An error for input over one of the parser's fixed limits.
    pub(super) fn over_limit(&self, reason: impl Into<String>) -> MetadataError {
        MetadataError::OverLimit {
            offset: self.pos,
            reason: reason.into(),
        }
    }

    /// `a + b` for sizes and counters: Flink's are Java longs, so a sum past 2^63 - 1 can only come
    /// from a forged file.
    pub(super) fn add(&self, a: u64, b: u64) -> Result<u64, MetadataError> {
        a.checked_add(b)
            .filter(|s| *s <= i64::MAX as u64)
            .ok_or_else(|| self.corrupt("state sizes add up to more than 2^63 - 1 bytes"))
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], MetadataError> {
        if n > self.remaining() {
            return Err(self.truncated(what, n as u64));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], MetadataError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8, MetadataError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(super) fn i32(&mut self, what: &'static str) -> Result<i32, MetadataError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub(super) fn i64(&mut self, what: &'static str) -> Result<i64, MetadataError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// 16 raw bytes (an operator id: two big-endian longs, lower part first).
    pub(super) fn bytes16(&mut self, what: &'static str) -> Result<[u8; 16], MetadataError> {
        self.array(what)
    }

    /// Skips `n` bytes; `n` may be anything the file claims, it is checked first.
    pub(super) fn skip(&mut self, n: u64, what: &'static str) -> Result<(), MetadataError> {
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => {
                self.pos += n;
                Ok(())
            }
            _ => Err(self.truncated(what, n)),
        }
    }

    /// A non-negative size Flink recorded for some state (an int64 in the file).
    pub(super) fn size(&mut self, what: &'static str) -> Result<u64, MetadataError> {
        let v = self.i64(what)?;
        u64::try_from(v).map_err(|_| self.corrupt(format!("{what} is negative ({v})")))
    }

    /// A count of following entries (an int32), each taking at least `min_each` bytes: refused when
    /// negative or when the entries could not fit in what is left, so a claimed count never drives a
    /// loop or an allocation further than the input itself.
    pub(super) fn count(
        &mut self,
        what: &'static str,
        min_each: usize,
    ) -> Result<u32, MetadataError> {
        let n = self.i32(what)?;
        let n = u32::try_from(n).map_err(|_| self.corrupt(format!("{what} is negative ({n})")))?;
        let needed = u64::from(n) * min_each as u64;
        if needed > self.remaining() as u64 {
            return Err(self.truncated(what, needed));
        }
        Ok(n)
    }

    /// Skips a byte array written as an int32 length and the bytes; returns the length.
    pub(super) fn skip_byte_array(&mut self, what: &'static str) -> Result<u64, MetadataError> {
        let n = self.i32(what)?;
        let n = u64::try_from(n)
            .map_err(|_| self.corrupt(format!("length of {what} is negative ({n})")))?;
        self.skip(n, what)?;
        Ok(n)
    }

    /// The bytes of a string written with Java's `writeUTF` (an unsigned 16-bit length, then
    /// modified UTF-8).
    pub(super) fn utf_bytes(&mut self, what: &'static str) -> Result<&'a [u8], MetadataError> {
        let n = u16::from_be_bytes(self.array(what)?);
        self.take(usize::from(n), what)
    }

    /// Skips a `writeUTF` string.
    pub(super) fn skip_utf(&mut self, what: &'static str) -> Result<(), MetadataError> {
        self.utf_bytes(what).map(|_| ())
    }

    /// Reads a `writeUTF` string and decodes it as Java does.
    pub(super) fn utf(&mut self, what: &'static str) -> Result<String, MetadataError> {
        let start = self.pos;
        let bytes = self.utf_bytes(what)?;
        decode_modified_utf8(bytes).ok_or_else(|| MetadataError::Corrupt {
            offset: start,
            reason: format!("{what} is not valid modified UTF-8"),
        })
    }
}

/// Decodes Java's "modified UTF-8" (`DataInput.readUTF`): one to three bytes per UTF-16 code unit,
/// NUL as `C0 80`, characters outside the BMP as two encoded surrogates. `None` where Java's reader
/// would throw `UTFDataFormatException`. Unpaired surrogates (legal in a Java string, not in Rust's)
/// become U+FFFD.
pub(super) fn decode_modified_utf8(bytes: &[u8]) -> Option<String> {
    // Plain ASCII without NUL bytes is the same in both encodings, and almost every real string is.
    if bytes.iter().all(|&b| (1..0x80).contains(&b)) {
        return std::str::from_utf8(bytes).ok().map(str::to_owned);
    }
    let mut units = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let cont = |j: usize| bytes.get(j).copied().filter(|c| c & 0xC0 == 0x80);
        let unit = match b >> 4 {
            0..=7 => {
                i += 1;
                u16::from(b)
            }
            12 | 13 => {
                let c = cont(i + 1)?;
                i += 2;
                (u16::from(b & 0x1F) << 6) | u16::from(c & 0x3F)
            }
            14 => {
                let (c1, c2) = (cont(i + 1)?, cont(i + 2)?);
                i += 3;
                (u16::from(b & 0x0F) << 12) | (u16::from(c1 & 0x3F) << 6) | u16::from(c2 & 0x3F)
            }
            _ => return None,
        };
        units.push(unit);
    }
    Some(String::from_utf16_lossy(&units))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_utf8_decodes_as_java_does() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"count-per-key", Some("count-per-key")),
            (b"", Some("")),
            // Java writes NUL as C0 80; a raw 00 byte is accepted by readUTF too.
            (&[0x61, 0xC0, 0x80, 0x62], Some("a\0b")),
            (&[0x00], Some("\0")),
            // U+00E9 and U+20AC, two and three bytes as in UTF-8.
            (&[0xC3, 0xA9, 0xE2, 0x82, 0xAC], Some("é€")),
            // U+1F600 as a surrogate pair, three bytes each (CESU-8).
            (&[0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80], Some("😀")),
            // A lone surrogate.
            (&[0xED, 0xA0, 0xBD], Some("\u{FFFD}")),
            // Four-byte UTF-8 is not modified UTF-8; continuation bytes must follow their lead.
            (&[0xF0, 0x9F, 0x98, 0x80], None),
            (&[0xC3], None),
            (&[0xE2, 0x82], None),
            (&[0xC3, 0x41], None),
            (&[0x80], None),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                decode_modified_utf8(bytes).as_deref(),
                *want,
                "{bytes:02x?}"
            );
        }
    }

    #[test]
    fn reads_refuse_to_go_past_the_end() {
        let mut r = Reader::at(&[0, 0, 0, 5, 1, 2], 0);
        assert_eq!(r.count("things", 1), Err(r_truncated(4, 5, 2)));
        let mut r = Reader::at(&[0x7F, 0xFF, 0xFF, 0xFF], 0);
        assert!(matches!(
            r.count("things", 8),
            Err(MetadataError::Truncated { .. })
        ));
        let mut r = Reader::at(&[0xFF, 0xFF, 0xFF, 0xFF], 0);
        assert!(matches!(
            r.count("things", 1),
            Err(MetadataError::Corrupt { .. })
        ));
        let mut r = Reader::at(&[0, 3, b'a'], 0);
        assert!(matches!(
            r.utf("a name"),
            Err(MetadataError::Truncated { .. })
        ));
        let mut r = Reader::at(&[1, 2, 3], 0);
        assert!(r.skip(u64::MAX, "bytes").is_err());
        assert!(r.i64("a long").is_err());
        assert_eq!(r.u8("a byte"), Ok(1));
        assert_eq!(r.remaining(), 2);
    }

    fn r_truncated(offset: usize, needed: u64, available: usize) -> MetadataError {
        MetadataError::Truncated {
            what: "things",
            offset,
            needed,
            available,
        }
    }
}
