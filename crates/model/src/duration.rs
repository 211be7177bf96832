//! Durations people write (`500ms`, `30s`, `30m`, `12h`, `7d`), parsed in one place for every setting
//! that takes one: spec fields, the API's query parameters and the CLI's flags.
//!
//! Guarantees:
//! - Parsing cannot overflow: the number is read and scaled with checked arithmetic, and a value too
//!   large for any clock is out of range, never wrapped or saturated into something else.
//! - Every use has its own [`Bounds`], and a value outside them is refused with a message that names
//!   the allowed range. A periodic savepoint interval of `0ms` (back-to-back savepoints forever) or a
//!   maximum age of ten thousand years never reaches the controller.
//! - [`after`] is the one way to add such a duration to a timestamp: checked, `None` past the end of
//!   time, so a schedule far in the future is "never", not a panic on every reconcile pass.
//!
//! The grammar is deliberately small (one whole number, one unit), as in Ververica Platform's
//! examples; where a plain number means seconds (`timeout=30`, `--timeout 90`) [`Bounds::bare_seconds`]
//! says so.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

const SECOND: u64 = 1000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// The units, in milliseconds, largest first (the order [`show`] tries them in).
const UNITS: [(&str, u64); 5] = [
    ("d", DAY),
    ("h", HOUR),
    ("m", MINUTE),
    ("s", SECOND),
    ("ms", 1),
];

/// `spec.periodicSavepointInterval`: at least 10 s, at most a year.
///
/// Savepoints are full, self-contained snapshots written by every task; production deployments take
/// them every few minutes to hours (Flink's own periodic checkpoints, which are incremental and
/// cheaper, default to minutes too). Below 10 s a savepoint of a job with real state is usually still
/// being written when the next one is due, so the job would do little but snapshot; 10 s still lets a
/// test or a demo see several periodic savepoints within a minute.
pub const PERIODIC_SAVEPOINT_INTERVAL: Bounds = Bounds {
    min: Duration::from_secs(10),
    max: Duration::from_millis(365 * DAY),
    bare_seconds: false,
};

/// `spec.savepointRetention.maxAge`: at least a minute (a younger limit would expire savepoints about
/// as fast as they complete), at most ten years.
pub const RETENTION_MAX_AGE: Bounds = Bounds {
    min: Duration::from_secs(60),
    max: Duration::from_millis(3650 * DAY),
    bare_seconds: false,
};

/// The `stateplane.io/upgrade-rollback-grace` annotation: how long after its start a failing new job
/// of a stateful upgrade is rolled back. At least 10 s (a job needs that long to start and fail
/// visibly), at most an hour (a job that ran an hour is not a failed upgrade but a failing job, and
/// rolling back then would discard an hour of the new template's work).
pub const UPGRADE_ROLLBACK_GRACE: Bounds = Bounds {
    min: Duration::from_secs(10),
    max: Duration::from_millis(HOUR),
    bare_seconds: false,
};

/// The `timeout` of an API long-poll (`?waitFor=...&timeout=30s`): 0 (answer at once) to an hour. The
/// API waits at most its own cap (120 s) and then answers with the resource as it is; more than an
/// hour is a mistake worth saying so.
pub const LONG_POLL_TIMEOUT: Bounds = Bounds {
    min: Duration::ZERO,
    max: Duration::from_millis(HOUR),
    bare_seconds: true,
};

/// The CLI's `--timeout` of `--wait`: 0 (look once) to a week.
pub const WAIT_TIMEOUT: Bounds = Bounds {
    min: Duration::ZERO,
    max: Duration::from_millis(7 * DAY),
    bare_seconds: true,
};

/// The range one setting accepts, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: Duration,
    pub max: Duration,
    /// Whether a plain number (`90`) is accepted and means seconds.
    pub bare_seconds: bool,
}

/// Why a duration was refused. Its message is written for the person who typed the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not one whole number followed by one unit (`ms`, `s`, `m`, `h`, `d`).
    #[error("'{value}' is not a duration such as 30s, 30m, 12h or 7d ({bounds})")]
    Malformed { value: String, bounds: Bounds },
    /// Well-formed, but outside what this setting allows (or too large for any clock).
    #[error("'{value}' is out of range: {bounds}")]
    OutOfRange { value: String, bounds: Bounds },
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "allowed are {} to {}", show(self.min), show(self.max))?;
        if self.bare_seconds {
            write!(f, "; a plain number means seconds")?;
        }
        Ok(())
    }
}

impl Bounds {
    /// Parses `s` and checks it against these bounds.
    pub fn parse(&self, s: &str) -> Result<Duration, DurationError> {
        let value = s.trim();
        let malformed = || DurationError::Malformed {
            value: value.to_string(),
            bounds: *self,
        };
        let out_of_range = || DurationError::OutOfRange {
            value: value.to_string(),
            bounds: *self,
        };
        let split = value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len());
        let (digits, unit) = value.split_at(split);
        if digits.is_empty() {
            return Err(malformed());
        }
        let unit_ms = match unit.trim() {
            "" if self.bare_seconds => SECOND,
            "ms" => 1,
            "s" | "sec" => SECOND,
            "m" | "min" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            _ => return Err(malformed()),
        };
        // Only digits are left, so the one way to fail is a number too large for a u64.
        let n: u64 = digits.parse().map_err(|_| out_of_range())?;
        let ms = n.checked_mul(unit_ms).ok_or_else(out_of_range)?;
        let d = Duration::from_millis(ms);
        if d < self.min || d > self.max {
            return Err(out_of_range());
        }
        Ok(d)
    }
}

/// `t + d`, or `None` when that is past what a timestamp can hold.
pub fn after(t: DateTime<Utc>, d: Duration) -> Option<DateTime<Utc>> {
    t.checked_add_signed(TimeDelta::from_std(d).ok()?)
}

/// `d` in the largest unit that divides it exactly (`10s`, `365d`, `1500ms`).
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    UNITS
        .iter()
        .map(|(name, unit)| (name, ms / u128::from(*unit), u128::from(*unit)))
        .find(|(_, n, unit)| n * unit == ms)
        .map(|(name, n, _)| format!("{n}{name}"))
        .unwrap_or_else(|| format!("{ms}ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn parses_within_bounds_and_refuses_the_rest() {
        let p = PERIODIC_SAVEPOINT_INTERVAL;
        let age = RETENTION_MAX_AGE;
        let poll = LONG_POLL_TIMEOUT;
        // (bounds, input, Ok(value) | Err(is out of range))
        let cases: &[(Bounds, &str, Result<Duration, bool>)] = &[
            (p, "30m", Ok(S(1800))),
            (p, " 10s ", Ok(S(10))),
            (p, "10sec", Ok(S(10))),
            (p, "2min", Ok(S(120))),
            (p, "12h", Ok(S(12 * 3600))),
            (p, "365d", Ok(S(365 * 86400))),
            (p, "10000ms", Ok(S(10))),
            (p, "9999ms", Err(true)),
            (p, "0ms", Err(true)),
            (p, "0s", Err(true)),
            (p, "2s", Err(true)),
            (p, "366d", Err(true)),
            (p, "9999999999d", Err(true)),
            (p, "99999999999999999999999s", Err(true)),
            (p, "18446744073709551615ms", Err(true)),
            (p, "30", Err(false)),
            (p, "m", Err(false)),
            (p, "", Err(false)),
            (p, "-5m", Err(false)),
            (p, "1.5h", Err(false)),
            (p, "5 weeks", Err(false)),
            (p, "1h30m", Err(false)),
            (p, "10S", Err(false)),
            (age, "7d", Ok(S(7 * 86400))),
            (age, "1m", Ok(S(60))),
            (age, "59s", Err(true)),
            (age, "3650d", Ok(S(3650 * 86400))),
            (age, "3651d", Err(true)),
            (poll, "0", Ok(S(0))),
            (poll, "0ms", Ok(S(0))),
            (poll, "250ms", Ok(Duration::from_millis(250))),
            (poll, "90", Ok(S(90))),
            (poll, "1h", Ok(S(3600))),
            (poll, "3601", Err(true)),
            (poll, "9999999999d", Err(true)),
            (poll, "soon", Err(false)),
            (WAIT_TIMEOUT, "7d", Ok(S(7 * 86400))),
            (WAIT_TIMEOUT, "8d", Err(true)),
        ];
        for (bounds, input, want) in cases {
            let got = bounds.parse(input);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(w, g, "{input:?}"),
                (Err(true), Err(DurationError::OutOfRange { .. }))
                | (Err(false), Err(DurationError::Malformed { .. })) => {}
                _ => panic!("{input:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn messages_name_the_allowed_range() {
        let e = PERIODIC_SAVEPOINT_INTERVAL.parse("0ms").unwrap_err();
        assert_eq!(
            e.to_string(),
            "'0ms' is out of range: allowed are 10s to 365d"
        );
        let e = RETENTION_MAX_AGE.parse("soon").unwrap_err().to_string();
        assert!(
            e.contains("30s, 30m, 12h or 7d") && e.contains("1m to 3650d"),
            "{e}"
        );
        let e = LONG_POLL_TIMEOUT.parse("2h").unwrap_err().to_string();
        assert!(e.contains("0s to 1h; a plain number means seconds"), "{e}");
    }

    #[test]
    fn shows_durations_in_their_largest_exact_unit() {
        assert_eq!(show(S(0)), "0s");
        assert_eq!(show(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show(S(90)), "90s");
        assert_eq!(show(S(120)), "2m");
        assert_eq!(show(S(7 * 86400)), "7d");
    }

    #[test]
    fn adding_to_a_timestamp_is_checked() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            after(t, S(3600)),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap())
        );
        assert_eq!(after(t, Duration::from_millis(9_999_999_999 * DAY)), None);
        assert_eq!(after(t, Duration::MAX), None);
        assert_eq!(after(DateTime::<Utc>::MAX_UTC, S(1)), None);
        // every duration the bounds let through fits
        for b in [
            PERIODIC_SAVEPOINT_INTERVAL,
            RETENTION_MAX_AGE,
            LONG_POLL_TIMEOUT,
            WAIT_TIMEOUT,
        ] {
            assert!(after(t, b.max).is_some());
        }
    }

    #[test]
    fn durations_are_bounded_per_field() {
        let base: crate::DeploymentSpec = serde_json::from_value(
            serde_json::json!({"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}}),
        )
        .unwrap();
        let ok = crate::Deployment::new("default", "ok", base);
        // (interval, maxAge, the field at fault)
        let cases = [
            (Some("30m"), Some("7d"), None),
            (Some("10s"), Some("1m"), None),
            (Some("0ms"), None, Some("spec.periodicSavepointInterval")),
            (
                Some("9999999999d"),
                None,
                Some("spec.periodicSavepointInterval"),
            ),
            (Some("5s"), None, Some("spec.periodicSavepointInterval")),
            (None, Some("0s"), Some("spec.savepointRetention.maxAge")),
            (
                None,
                Some("99999999999999d"),
                Some("spec.savepointRetention.maxAge"),
            ),
            (None, Some("a week"), Some("spec.savepointRetention.maxAge")),
        ];
        for (interval, age, field) in cases {
            let mut d = ok.clone();
            d.spec.periodic_savepoint_interval = interval.map(str::to_string);
            d.spec.savepoint_retention = Some(crate::SavepointRetention {
                max_count: None,
                max_age: age.map(str::to_string),
            });
            match (d.validate(), field) {
                (Ok(()), None) => {}
                (Err(e), Some(f)) => {
                    assert_eq!(e.field(), f, "{interval:?} {age:?}");
                    assert!(e.message().contains("allowed are"), "{e}");
                }
                (got, want) => panic!("{interval:?} {age:?}: {got:?}, want an error on {want:?}"),
            }
        }
    }
}
