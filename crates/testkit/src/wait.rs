//! Waiting for a positive signal, never for a fixed time.
//!
//! A test that sleeps and then looks either wastes the time or, on a slow machine, looks too early;
//! a test that sleeps and then checks that *nothing* happened can pass without the code under test
//! having run at all. These helpers poll a probe until it reports the awaited state, with a deadline
//! and a description, and fail with what the probe saw last, so a timeout says what was awaited and
//! what was there instead.
//!
//! A probe returns [`Probe`]: `Ok(value)` ends the wait with `value`; `Err(seen)` means "not yet" and
//! describes the state it found (kept for the failure message).

use std::future::Future;
use std::time::{Duration, Instant};

/// What a probe found: `Ok` ends the wait, `Err` says what it saw instead.
pub type Probe<T> = Result<T, String>;

/// The first pause between two probes; it doubles up to [`POLL_MAX`], so a fast signal is seen within
/// milliseconds and a slow one does not keep the machine busy.
pub const POLL_MIN: Duration = Duration::from_millis(5);
/// The longest pause between two probes.
pub const POLL_MAX: Duration = Duration::from_millis(200);

fn next_pause(p: Duration) -> Duration {
    (p * 2).min(POLL_MAX)
}

fn timed_out(what: &str, timeout: Duration, seen: &str) -> ! {
    panic!("timed out after {timeout:?} waiting for {what}; last seen: {seen}")
}

/// Polls `probe` (blocking the thread between tries) until it returns `Ok`, for at most `timeout`.
///
/// # Panics
/// At the deadline, naming `what` and the last thing the probe saw.
#[track_caller]
pub fn until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Probe<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = POLL_MIN;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(seen) if Instant::now() >= deadline => timed_out(what, timeout, &seen),
            Err(_) => std::thread::sleep(pause),
        }
        pause = next_pause(pause);
    }
}

/// [`until`] for async probes: polls `probe` on the current tokio runtime until it returns `Ok`, for
/// at most `timeout`.
///
/// # Panics
/// At the deadline, naming `what` and the last thing the probe saw.
pub async fn until_async<T, Fut>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Probe<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = POLL_MIN;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(seen) if Instant::now() >= deadline => timed_out(what, timeout, &seen),
            Err(_) => tokio::time::sleep(pause).await,
        }
        pause = next_pause(pause);
    }
}

/// Whether process `pid` still exists (a zombie counts as gone: it runs nothing any more).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits until process `pid` is gone (after a kill, which is delivered asynchronously).
///
/// # Panics
/// When it still runs after `timeout`.
#[track_caller]
pub fn process_gone(pid: u32, timeout: Duration) {
    until(&format!("process {pid} to end"), timeout, || {
        if process_alive(pid) {
            Err("still running".into())
        } else {
            Ok(())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn until_returns_the_value_once_the_probe_sees_it() {
        let mut n = 0;
        let got = until("the third try", Duration::from_secs(5), || {
            n += 1;
            if n >= 3 {
                Ok(n)
            } else {
                Err(format!("try {n}"))
            }
        });
        assert_eq!(got, 3);
    }

    #[test]
    fn until_fails_with_what_it_awaited_and_what_it_saw() {
        let e = std::panic::catch_unwind(|| {
            until::<()>("a miracle", Duration::from_millis(30), || {
                Err("nothing yet".into())
            })
        })
        .unwrap_err();
        let msg = e.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("a miracle") && msg.contains("nothing yet"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn until_async_polls_on_the_runtime() {
        let start = Instant::now();
        let got = until_async("a later instant", Duration::from_secs(5), || async {
            if start.elapsed() > Duration::from_millis(20) {
                Ok("done")
            } else {
                Err("too early".into())
            }
        })
        .await;
        assert_eq!(got, "done");
    }

    #[test]
    fn processes_are_seen_to_end() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        assert!(process_alive(pid));
        child.kill().unwrap();
        // not reaped yet: a zombie already counts as gone
        process_gone(pid, Duration::from_secs(5));
        child.wait().unwrap();
        assert!(!process_alive(pid));
    }
}
