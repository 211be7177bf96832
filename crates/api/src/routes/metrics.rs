//! `GET /metrics`: Prometheus text format. The recorded metrics (controller: savepoint durations by
//! origin and outcome, reconcile pass durations, Flink request errors) come from the recorder the server
//! binary installed; the number of deployments by state is counted by the store at scrape time (one
//! query over an index, no deployment read), so it is true whichever replica answers; so are the
//! running jobs' conditions (`stateplane_deployment_condition`, read from the deployments' status).

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use stateplane_model::DeploymentState;

use crate::AppState;

pub async fn metrics(State(s): State<AppState>) -> Response {
    let mut text = s
        .metrics
        .as_ref()
        .map(|render| render())
        .unwrap_or_default();
    if let Ok(counts) = s.store.deployment_count_by_state().await {
        // Every state, zero included, so that a series never vanishes.
        let mut by_state: BTreeMap<&str, u64> = DeploymentState::ALL
            .iter()
            .map(|st| (st.as_str(), 0))
            .collect();
        for (state, n) in counts {
            by_state.insert(state.as_str(), n);
        }
        let _ = writeln!(
            text,
            "# HELP stateplane_deployments Deployments by observed state."
        );
        let _ = writeln!(text, "# TYPE stateplane_deployments gauge");
        for (state, n) in by_state {
            let _ = writeln!(text, "stateplane_deployments{{state=\"{state}\"}} {n}");
        }
    }
    if let Ok(deployments) = s.store.deployment_list(None).await {
        write_conditions(&mut text, &deployments);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// One series per condition of a running job and status (`True`, `False`, `Unknown`), 1 for the
/// status it has (as kube-state-metrics does for Kubernetes conditions), so that a flip changes
/// values, not series.
fn write_conditions(text: &mut String, deployments: &[stateplane_model::Deployment]) {
    use stateplane_model::condition::ConditionStatus;
    let _ = writeln!(
        text,
        "# HELP stateplane_deployment_condition Conditions of running jobs (status.running.conditions), 1 for the status each has."
    );
    let _ = writeln!(text, "# TYPE stateplane_deployment_condition gauge");
    for d in deployments {
        let Some(running) = &d.status.running else {
            continue;
        };
        for c in &running.conditions {
            for status in [
                ConditionStatus::True,
                ConditionStatus::False,
                ConditionStatus::Unknown,
            ] {
                // Names and namespaces are DNS labels; the type is one of ours: nothing to escape.
                let _ = writeln!(
                    text,
                    "stateplane_deployment_condition{{namespace=\"{}\",deployment=\"{}\",type=\"{}\",status=\"{}\"}} {}",
                    d.metadata.namespace,
                    d.metadata.name,
                    c.condition_type,
                    status.as_str(),
                    u8::from(c.status == status)
                );
            }
        }
    }
}
