//! Flink's view of a job for an in-place rescale (reads only): its vertices with their parallelism and
//! max parallelism (`GET /jobs/{jid}`, up to 3 s stale, which is why the planner also requires every
//! vertex RUNNING before it believes a parallelism) and the requirements Flink was last asked for
//! (`GET /jobs/{jid}/resource-requirements`; none when Flink cannot say, e.g. the default scheduler).

use stateplane_flink::{FlinkClient, FlinkJobId};
use stateplane_model::plan::{RescaleView, VertexView};

pub(super) async fn view(client: &FlinkClient, id: &FlinkJobId) -> RescaleView {
    let (details, requested) = tokio::join!(client.job(id), client.resource_requirements(id));
    match details {
        Ok(Some(d)) => RescaleView::Found {
            vertices: d
                .vertices
                .into_iter()
                .map(|v| VertexView {
                    id: v.id.to_ascii_lowercase(),
                    parallelism: v.parallelism,
                    max_parallelism: v.max_parallelism,
                    running: v.status == "RUNNING",
                })
                .collect(),
            requested: requested.ok().map(|r| {
                r.into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect()
            }),
        },
        Ok(None) => RescaleView::Unreachable {
            error: format!("Flink does not know job {id}"),
        },
        Err(e) => RescaleView::Unreachable {
            error: e.to_string(),
        },
    }
}
