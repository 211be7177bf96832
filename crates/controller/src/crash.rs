//! Crash points for the reliability suite: with `STATEPLANE_CRASH_AT=<name>` in its environment the
//! process aborts (like a `kill -9`: no destructors, nothing flushed) the first time it reaches the
//! point of that name. Tests run the real binary with each point, restart it without, and check that
//! nothing was lost or done twice.
//!
//! Compiled only with the `crash-points` feature, which `crates/cli` enables through a dev-dependency:
//! `cargo test` builds the server binary with the points, `cargo build --release` builds it without
//! them (a point is then an empty inline function, and the variable's name is not in the binary).
//!
//! Points: `start.after_job_row`, `start.after_submit`, `stop.after_savepoint_row`, `stop.after_intent`,
//! `savepoint.after_trigger`, `savepoint.after_completed`, `cancel.before_flink`,
//! `end.after_retained_recorded`, `end.after_job_terminal`, `rescale.after_intent`,
//! `rescale.after_requirements`, `rescale.after_job_spec`, `rollback.after_record`,
//! `rollback.after_job_row`.

#[cfg(feature = "crash-points")]
pub(crate) fn point(name: &'static str) {
    use std::sync::OnceLock;
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| {
        std::env::var("STATEPLANE_CRASH_AT")
            .ok()
            .filter(|s| !s.is_empty())
    });
    if at.as_deref() == Some(name) {
        eprintln!("STATEPLANE_CRASH_AT={name}: aborting here");
        std::process::abort();
    }
}

#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub(crate) fn point(_name: &'static str) {}
