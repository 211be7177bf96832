//! `--wait`: follow a deployment or a savepoint through the API's long-polls until it reaches the
//! awaited state, fails, or `--timeout` passes, with a spinner on stderr while a terminal watches.
//!
//! A deployment that is FAILED counts as a failure of *this* wait only when its failure is newer than
//! the change we made (or we changed nothing): a deployment failed yesterday and resumed now is not
//! reported as failing again before the controller has even looked at it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use stateplane_model::{
    Deployment, DeploymentState, DesiredState, Event, Savepoint, SavepointId, SavepointState,
};

use super::{items, typed, CliError, Client, Result};

/// The longest single long-poll when nobody watches (the API caps it too).
const POLL: Duration = Duration::from_secs(30);
/// The long-poll while a spinner shows the latest event (so that events appear promptly).
const POLL_WATCHED: Duration = Duration::from_secs(2);

/// A spinner on stderr, drawn only on a terminal.
pub struct Spinner(ProgressBar);

impl Spinner {
    pub fn new(msg: String) -> Self {
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(msg);
        pb.enable_steady_tick(Duration::from_millis(120));
        Self(pb)
    }
    pub fn watched(&self) -> bool {
        !self.0.is_hidden()
    }
    pub fn set(&self, msg: String) {
        self.0.set_message(msg);
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn poll_len(remaining: Duration, watched: bool) -> u64 {
    let step = if watched { POLL_WATCHED } else { POLL };
    remaining.min(step).as_secs().max(1)
}

/// Waits until the deployment's `status.state` is `target`.
///
/// `since` is when our change was stored and `changed` whether there was one; see the module docs.
pub async fn deployment(
    c: &Client,
    d: &Deployment,
    target: DeploymentState,
    since: DateTime<Utc>,
    changed: bool,
    timeout: Duration,
) -> Result<(Value, Deployment)> {
    let name = d.metadata.name.clone();
    let id = d.metadata.id.to_string();
    let desired: Option<DesiredState> = target.as_str().parse().ok();
    let spinner = Spinner::new(format!("{name}: {} → {target}", d.status.state));
    let deadline = deadline_after(timeout);
    let mut stale_failure = false;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let secs = poll_len(remaining, spinner.watched());
        let wait_for = if stale_failure {
            target.to_string()
        } else {
            format!("{target},FAILED")
        };
        let raw = c
            .get(
                &["deployments", &id],
                &[("waitFor", &wait_for), ("timeout", &format!("{secs}s"))],
            )
            .await?;
        let now: Deployment = typed(&raw, "deployment")?;
        let st = now.status.state;
        if st == target {
            return Ok((raw, now));
        }
        let fresh = now
            .status
            .failure
            .as_ref()
            .filter(|f| !changed || f.failed_at >= since);
        let gave_up = now
            .status
            .transition
            .as_ref()
            .is_some_and(|t| t.gave_up && Some(t.desired) == desired);
        if let Some(f) = fresh {
            if st == DeploymentState::Failed || gave_up {
                return Err(CliError::Failed(format!(
                    "deployment '{name}' is {st}: {}",
                    f.message
                )));
            }
        }
        stale_failure = st == DeploymentState::Failed;
        if Instant::now() >= deadline {
            return Err(CliError::Timeout(format!(
                "deployment '{name}' is still {st} after {}s (the change goes on; follow it with: stateplane events --deployment {name} --follow)",
                timeout.as_secs()
            )));
        }
        if spinner.watched() {
            let latest = latest_event(c, &id).await.unwrap_or_default();
            spinner.set(format!("{name}: {st} → {target}{latest}"));
        }
    }
}

/// " · <message of the newest event>", or nothing.
async fn latest_event(c: &Client, deployment_id: &str) -> Result<String> {
    let v = c
        .get(&["events"], &[("deploymentId", deployment_id)])
        .await?;
    let events: Vec<Event> = items(&v, "event list")?;
    Ok(events
        .last()
        .map(|e| {
            let m: String = e.spec.message.chars().take(60).collect();
            format!(" · {m}")
        })
        .unwrap_or_default())
}

/// Waits until the savepoint is COMPLETED; an error with Flink's reason if it FAILED.
pub async fn savepoint(
    c: &Client,
    id: SavepointId,
    timeout: Duration,
) -> Result<(Value, Savepoint)> {
    let id_s = id.to_string();
    let spinner = Spinner::new(format!("savepoint {}: STARTED", super::output::short(id)));
    let deadline = deadline_after(timeout);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let secs = poll_len(remaining, false);
        let raw = c
            .get(
                &["savepoints", &id_s],
                &[
                    ("waitFor", "COMPLETED,FAILED"),
                    ("timeout", &format!("{secs}s")),
                ],
            )
            .await?;
        let sp: Savepoint = typed(&raw, "savepoint")?;
        match sp.status.state {
            SavepointState::Completed => return Ok((raw, sp)),
            SavepointState::Started => {}
            SavepointState::Failed => {
                let why = sp
                    .status
                    .failure
                    .as_ref()
                    .map(|f| f.message.clone())
                    .unwrap_or_else(|| "no reason given".into());
                return Err(CliError::Failed(format!("savepoint {id} FAILED: {why}")));
            }
            other => {
                return Err(CliError::Failed(format!(
                    "savepoint {id} is {other} (it is being deleted)"
                )))
            }
        }
        if Instant::now() >= deadline {
            return Err(CliError::Timeout(format!(
                "savepoint {id} is still STARTED after {}s (it goes on; check it with: stateplane savepoint get {id})",
                timeout.as_secs()
            )));
        }
        spinner.set(format!(
            "savepoint {}: STARTED at {}",
            super::output::short(id),
            sp.spec.savepoint_location.as_deref().unwrap_or("-")
        ));
    }
}

/// `--timeout` values: `90s`, `10m`, `1h`, or seconds, within
/// [`stateplane_model::duration::WAIT_TIMEOUT`].
pub fn parse_timeout(s: &str) -> std::result::Result<Duration, String> {
    stateplane_model::duration::WAIT_TIMEOUT
        .parse(s)
        .map_err(|e| e.to_string())
}

/// When a wait of `timeout` that starts now ends: never later than the longest `--timeout` allows,
/// and checked, so no value can make the addition panic.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout.min(stateplane_model::duration::WAIT_TIMEOUT.max))
        .unwrap_or(now)
}
