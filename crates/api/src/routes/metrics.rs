//! `GET /metrics`: Prometheus text format. The recorded metrics (controller: savepoint durations by
//! origin and outcome, reconcile pass durations, Flink request errors) come from the recorder the server
//! binary installed; the number of deployments by state is read from the store at scrape time, so it
//! is true whichever replica answers.

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
    if let Ok(all) = s.store.deployment_list(None).await {
        let mut by_state: BTreeMap<&str, u64> = DeploymentState::ALL
            .iter()
            .map(|st| (st.as_str(), 0))
            .collect();
        for d in &all {
            *by_state.entry(d.status.state.as_str()).or_default() += 1;
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
