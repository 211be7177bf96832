//! Flink versions and the two REST dialects the client speaks.
//!
//! Why: stateplane runs jobs on Flink 1.18–1.20 (1.20 being the 1.x long-term-support release) and on
//! Flink 2.x, often side by side while operators migrate. The REST API is the same in most places; the
//! differences (checked against the 1.19.3, 1.20.5 and 2.3.0 jars) are in `POST /jars/{jar}/run`:
//!
//! | what | 1.18–1.19 | 1.20 | 2.x |
//! |---|---|---|---|
//! | restore mode field | `restoreMode` | `restoreMode` or `claimMode` | `claimMode` (`restoreMode` deprecated) |
//! | program arguments | `programArgs`, `programArgsList` | both | `programArgsList` only |
//! | checkpoint/savepoint/recovery keys | 1.x names only | both, 2.x names win | both, 2.x names win |
//!
//! So the client sends `restoreMode` to every 1.x cluster and `claimMode` to 2.x, always
//! `programArgsList`, and configuration keys in the spelling of the target (see
//! [`crate::translate_configuration`]). The version comes from `GET /overview` (`flink-version`).

use std::fmt;

/// The REST dialect of a cluster, decided by its major version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestDialect {
    /// Flink 1.x: `restoreMode` in run requests.
    V1,
    /// Flink 2.x and later: `claimMode` in run requests.
    V2,
}

/// A Flink version as `GET /overview` reports it (`1.20.5`, `2.3.0`, `2.1-SNAPSHOT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlinkVersion {
    major: u32,
    minor: u32,
    text: String,
}

/// A version string that does not start with `MAJOR.MINOR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a Flink version such as 1.20.5 or 2.3.0")]
pub struct InvalidVersion(pub String);

impl FlinkVersion {
    /// Parses `MAJOR.MINOR[.PATCH][-SUFFIX]`; only major and minor matter for compatibility.
    pub fn parse(s: &str) -> Result<FlinkVersion, InvalidVersion> {
        let text = s.trim();
        let invalid = || InvalidVersion(s.to_owned());
        let core = text.split(['-', '+']).next().unwrap_or_default();
        let mut parts = core.split('.');
        let number = |p: Option<&str>| -> Result<u32, InvalidVersion> {
            p.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse().ok())
                .ok_or_else(invalid)
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        if let Some(patch) = parts.next() {
            number(Some(patch))?;
        }
        if parts.next().is_some() || major == 0 {
            return Err(invalid());
        }
        Ok(FlinkVersion {
            major,
            minor,
            text: text.to_owned(),
        })
    }

    /// The major version (1 or 2).
    pub fn major(&self) -> u32 {
        self.major
    }

    /// The minor version (20 in 1.20.5).
    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// The version as Flink wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The REST dialect of this version.
    pub fn dialect(&self) -> RestDialect {
        if self.major >= 2 {
            RestDialect::V2
        } else {
            RestDialect::V1
        }
    }

    /// Same release line (major.minor): the unit of compatibility between a job's artifact and a
    /// cluster. Patch releases of one line are interchangeable.
    pub fn same_line(&self, other: &FlinkVersion) -> bool {
        (self.major, self.minor) == (other.major, other.minor)
    }

    /// Whether this version is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for FlinkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare_by_release_line() {
        let v = FlinkVersion::parse("1.20.5").unwrap();
        assert_eq!((v.major(), v.minor(), v.as_str()), (1, 20, "1.20.5"));
        assert_eq!(v.dialect(), RestDialect::V1);
        assert!(v.at_least(1, 20) && !v.at_least(2, 0));
        let two = FlinkVersion::parse(" 2.3.0 ").unwrap();
        assert_eq!(two.to_string(), "2.3.0");
        assert_eq!(two.dialect(), RestDialect::V2);
        assert!(two.same_line(&FlinkVersion::parse("2.3").unwrap()));
        assert!(!two.same_line(&FlinkVersion::parse("2.2.1").unwrap()));
        assert!(!v.same_line(&two));
        assert_eq!(FlinkVersion::parse("2.1-SNAPSHOT").unwrap().minor(), 1);
        assert!(FlinkVersion::parse("1.19.3").unwrap().at_least(1, 18));
        for bad in ["", "2", "x.y", "1.", "1.20.5.1", "0.9", "<unknown>", "1.2a"] {
            assert!(FlinkVersion::parse(bad).is_err(), "{bad}");
        }
    }
}
