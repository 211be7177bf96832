//! `GET /metrics`: Prometheus text format. The recorded metrics (controller: savepoint durations by
//! origin and outcome, reconcile pass durations, Flink request errors) come from the recorder the server
//! binary installed; the number of deployments by state, and of RUNNING deployments by condition that
//! is True, are counted by the store at scrape time (queries narrowed by an index, no deployment
//! parsed), so they are true whichever replica answers.

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
    // Conditions: how many RUNNING deployments have each condition True (0 included), for alerts
    // such as `stateplane_deployment_conditions{type="JobFailing"} > 0`; which ones, the API says.
    let mut conditions = Vec::new();
    for kind in stateplane_model::conditions::TYPES {
        match s.store.deployment_count_with_condition(kind).await {
            Ok(n) => conditions.push((kind, n)),
            Err(_) => break,
        }
    }
    if conditions.len() == stateplane_model::conditions::TYPES.len() {
        let _ = writeln!(
            text,
            "# HELP stateplane_deployment_conditions RUNNING deployments with this condition True."
        );
        let _ = writeln!(text, "# TYPE stateplane_deployment_conditions gauge");
        for (kind, n) in conditions {
            let _ = writeln!(
                text,
                "stateplane_deployment_conditions{{type=\"{kind}\",status=\"True\"}} {n}"
            );
        }
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
