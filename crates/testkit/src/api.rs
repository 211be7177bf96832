//! Positive signals read over stateplane's HTTP API, for tests that run the server as a process (or
//! in process): a deployment's events, and the controller's counters on `/metrics`.
//!
//! - [`wait_events`]: a deployment has (at least n) events with a given code.
//! - [`metric`] / [`wait_metric_above`]: the sum of a Prometheus metric's samples, e.g.
//!   `stateplane_controller_actions_total` (one per reconcile pass, whatever it decided) or
//!   `stateplane_reconcile_pass_duration_seconds_count`. They count every deployment of the process,
//!   so they prove "the controller ran passes since" for a server with one deployment of interest.

use std::time::Duration;

use serde_json::Value;

use crate::wait::until_async;

/// The controller's actions counter: grows by one on every reconcile pass of any deployment.
pub const CONTROLLER_ACTIONS: &str = "stateplane_controller_actions_total";
/// The number of reconcile passes recorded by the pass-duration histogram.
pub const RECONCILE_PASSES: &str = "stateplane_reconcile_pass_duration_seconds_count";

/// The events of deployment `id`, as `GET {ns_url}/events?deploymentId=` lists them.
/// `ns_url` is `http://host:port/api/v1/namespaces/<ns>`.
///
/// # Panics
/// When the API does not answer with a list.
pub async fn events(http: &reqwest::Client, ns_url: &str, id: &str) -> Vec<Value> {
    let url = format!("{ns_url}/events?deploymentId={id}");
    let r = http
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let v: Value = r.json().await.unwrap_or(Value::Null);
    v["items"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("GET {url}: not a list: {v}"))
}

/// Waits until deployment `id` has at least `n` events named `name` (e.g. `SAVEPOINT_EXPIRED`);
/// returns them in the API's order.
///
/// # Panics
/// After `timeout`, with the events there were.
pub async fn wait_events(
    http: &reqwest::Client,
    ns_url: &str,
    id: &str,
    name: &str,
    n: usize,
    timeout: Duration,
) -> Vec<Value> {
    until_async(
        &format!("{n} {name} event(s) of deployment {id}"),
        timeout,
        || async {
            let all = events(http, ns_url, id).await;
            let named: Vec<Value> = all
                .iter()
                .filter(|e| e["metadata"]["name"] == name)
                .cloned()
                .collect();
            if named.len() >= n {
                Ok(named)
            } else {
                Err(format!("{} of them among {}", named.len(), codes(&all)))
            }
        },
    )
    .await
}

fn codes(events: &[Value]) -> String {
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap_or("?"))
        .collect();
    format!("[{}]", names.join(", "))
}

/// The sum of every sample of metric `name` (any labels) in Prometheus text `text`; 0 when absent.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// The current sum of metric `name` on the server at `base` (`http://host:port`).
///
/// # Panics
/// When `/metrics` does not answer.
pub async fn metric(http: &reqwest::Client, base: &str, name: &str) -> f64 {
    let url = format!("{base}/metrics");
    let text = http
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    metric_sum(&text, name)
}

/// Waits until metric `name` on the server at `base` exceeds `above`; returns its value.
///
/// # Panics
/// After `timeout`, with the last value.
pub async fn wait_metric_above(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    above: f64,
    timeout: Duration,
) -> f64 {
    until_async(
        &format!("{name} above {above} on {base}"),
        timeout,
        || async {
            let v = metric(http, base, name).await;
            if v > above {
                Ok(v)
            } else {
                Err(format!("{name} = {v}"))
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sums_add_up_every_labelled_sample() {
        let text = "# HELP stateplane_controller_actions_total Actions.\n\
                    # TYPE stateplane_controller_actions_total counter\n\
                    stateplane_controller_actions_total{action=\"steady\"} 7\n\
                    stateplane_controller_actions_total{action=\"wait\"} 3\n\
                    stateplane_controller_actions_totally_else 100\n\
                    stateplane_reconcile_pass_duration_seconds_count 10\n";
        assert_eq!(metric_sum(text, CONTROLLER_ACTIONS), 10.0);
        assert_eq!(metric_sum(text, RECONCILE_PASSES), 10.0);
        assert_eq!(metric_sum(text, "absent"), 0.0);
    }
}
