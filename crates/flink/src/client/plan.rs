//! `POST /jars/{jar}/plan`: the job graph Flink would run for a jar and its arguments, without running
//! anything.
//!
//! Why: a running job must not be stopped for a new program Flink cannot even build (a SQL script
//! that does not parse, a main that throws). Flink runs the program's `main` in the JobManager up to
//! the point where it would submit, and answers the plan (or the exception). The body is the run
//! request's without the restore fields, so the plan is of exactly what `run_jar` would submit
//! (vertex ids equal those of the job a run creates). Flink answers HTTP 500 for any exception
//! thrown by the program; that is still a [`FlinkError::Api`] with the program's message (see
//! [`crate::root_cause`]), not a retryable failure.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;

use super::{Body, FlinkClient};
use crate::error::FlinkError;
use crate::ids::JarId;
use crate::types::RunJarRequest;
use crate::wire::RunJarBody;

/// Plans and runs get at least this long (see [`FlinkClient::plan_jar`]).
pub(super) const MIN_PLAN_TIMEOUT: Duration = Duration::from_secs(60);

/// The job graph Flink planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPlan {
    /// The job's name (`pipeline.name`, or the program's default).
    pub name: String,
    /// The job's vertices (operator chains), in Flink's order.
    pub vertices: Vec<PlannedVertex>,
}

/// One vertex of a planned job graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedVertex {
    /// The vertex id (32 hex digits), the id state is restored to.
    pub id: String,
    pub parallelism: u32,
}

#[derive(Debug, Deserialize)]
struct PlanWire {
    plan: PlanBodyWire,
}

#[derive(Debug, Deserialize)]
struct PlanBodyWire {
    #[serde(default)]
    name: String,
    #[serde(default)]
    nodes: Vec<NodeWire>,
}

#[derive(Debug, Deserialize)]
struct NodeWire {
    id: String,
    #[serde(default)]
    parallelism: u32,
}

impl FlinkClient {
    /// `POST /jars/{jar}/plan` with the program of `request` (its entry class, arguments, parallelism,
    /// job id and configuration; the restore fields are not sent). An unknown jar is
    /// [`FlinkError::NotFound`]; a program Flink cannot plan, [`FlinkError::Api`] with its message.
    pub async fn plan_jar(
        &self,
        jar: &JarId,
        request: &RunJarRequest,
    ) -> Result<JobPlan, FlinkError> {
        let version = self.flink_version().await?;
        let program = RunJarRequest {
            savepoint_path: None,
            allow_non_restored_state: None,
            claim_mode: None,
            ..request.clone()
        };
        let body = RunJarBody::new(&program, &version);
        // Planning runs the program's main in the JobManager: the first SQL program on a fresh
        // JobManager loads the planner and takes ~15 s on a small machine.
        let client = self
            .clone()
            .with_timeout(self.timeout().max(MIN_PLAN_TIMEOUT));
        let wire: PlanWire = client
            .call(
                Method::POST,
                &["jars", jar.as_str(), "plan"],
                Body::Json(&body),
                || format!("jar {jar}"),
            )
            .await?;
        Ok(JobPlan {
            name: wire.plan.name,
            vertices: wire
                .plan
                .nodes
                .into_iter()
                .map(|n| PlannedVertex {
                    id: n.id,
                    parallelism: n.parallelism,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_answer_is_read_into_vertices() {
        let wire: PlanWire = serde_json::from_str(
            r#"{"plan":{"jid":"08eb86a1d11024b51b25aaf68f62806b","name":"sql-counter","type":"STREAMING",
                "nodes":[{"id":"90bea66de1c231edf33913ecd54406c1","operator":"","parallelism":2,
                          "description":"GroupAggregate","inputs":[{"id":"cbc357ccb763df2852fee8c4fc7d55f2"}]},
                         {"id":"cbc357ccb763df2852fee8c4fc7d55f2","parallelism":2}]}}"#,
        )
        .unwrap();
        assert_eq!(wire.plan.name, "sql-counter");
        let ids: Vec<_> = wire
            .plan
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.parallelism))
            .collect();
        assert_eq!(
            ids,
            [
                ("90bea66de1c231edf33913ecd54406c1", 2),
                ("cbc357ccb763df2852fee8c4fc7d55f2", 2)
            ]
        );
    }
}
