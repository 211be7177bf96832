//! The controller's metrics, recorded through the `metrics` facade. The server binary installs a
//! Prometheus recorder and serves `/metrics`; without one, recording costs nothing.

/// Seconds from a savepoint request to its outcome, by origin and outcome (`completed`, `failed`).
pub const SAVEPOINT_DURATION: &str = "stateplane_savepoint_duration_seconds";
/// Seconds one reconcile pass of one deployment took (observe + plan + execute).
pub const RECONCILE_PASS_DURATION: &str = "stateplane_reconcile_pass_duration_seconds";
/// Flink REST requests that failed, by kind (`unreachable`, `refused`).
pub const FLINK_REQUEST_ERRORS: &str = "stateplane_flink_request_errors_total";
/// Actions performed, by action.
pub const ACTIONS: &str = "stateplane_controller_actions_total";

pub(crate) fn savepoint_finished(origin: &str, outcome: &'static str, seconds: f64) {
    metrics::histogram!(SAVEPOINT_DURATION, "origin" => origin.to_string(), "outcome" => outcome)
        .record(seconds);
}

pub(crate) fn pass(seconds: f64) {
    metrics::histogram!(RECONCILE_PASS_DURATION).record(seconds);
}

pub(crate) fn flink_error(kind: &'static str) {
    metrics::counter!(FLINK_REQUEST_ERRORS, "kind" => kind).increment(1);
}

pub(crate) fn action(name: &'static str) {
    metrics::counter!(ACTIONS, "action" => name).increment(1);
}
