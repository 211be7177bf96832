//! `GET /metrics`: Prometheus text format. The recorded metrics (controller: savepoint durations by
//! origin and outcome, reconcile pass durations, Flink request errors) come from the recorder the server
//! binary installed; the number of deployments by state is counted by the store at scrape time (one
//! query over an index, no deployment read), so it is true whichever replica answers.

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
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
