//! The query plans of the hot reads: each must use its index and never sort a whole deployment's (or
//! namespace's) rows in a temporary B-tree, or the latency of a list grows with their number. (The
//! aggregate sorts the page it is given again; that is bounded by the `LIMIT`.)

use stateplane_model::{DeploymentId, JobId, SavepointState};

use super::tests::{plan, temp_store};
use crate::sql::{deployment, event, finish_list, job, savepoint, Stmt};
use crate::{EventFilter, JobFilter, SavepointFilter};

fn sql(q: Stmt) -> String {
    finish_list(q).sql().to_string()
}

/// Uses `index` and sorts nothing of its own.
#[track_caller]
fn ordered_by(p: &str, index: &str) {
    assert!(
        p.contains(index) && !p.contains("TEMP B-TREE FOR ORDER BY"),
        "{p}"
    );
}

#[tokio::test]
async fn savepoint_reads_use_their_index() {
    let (store, _dir) = temp_store().await;
    let by_deployment = SavepointFilter {
        deployment_id: Some(DeploymentId::new()),
        states: vec![SavepointState::Completed],
        limit: Some(10),
        ..Default::default()
    };
    let p = plan(&store, &sql(savepoint::list("default", &by_deployment))).await;
    ordered_by(&p, "savepoints_by_deployment");

    let by_namespace = SavepointFilter {
        limit: Some(10),
        ..Default::default()
    };
    let p = plan(&store, &sql(savepoint::list("default", &by_namespace))).await;
    ordered_by(&p, "savepoints_by_namespace");

    let by_job = SavepointFilter {
        job_id: Some(JobId::new()),
        ..Default::default()
    };
    let p = plan(&store, &sql(savepoint::list("default", &by_job))).await;
    assert!(p.contains("INDEX"), "{p}");

    let p = plan(&store, &sql(savepoint::in_flight())).await;
    assert!(p.contains("savepoints_in_flight"), "{p}");

    let p = plan(&store, savepoint::COUNT_BY_LOCATION).await;
    assert!(p.contains("savepoints_by_location"), "{p}");

    let p = plan(&store, savepoint::NEWEST_OF_DEPLOYMENT).await;
    ordered_by(&p, "savepoints_by_deployment");
}

#[tokio::test]
async fn job_reads_use_their_index() {
    let (store, _dir) = temp_store().await;
    let f = JobFilter {
        deployment_id: Some(DeploymentId::new()),
        limit: Some(5),
    };
    let p = plan(&store, &sql(job::list("default", &f))).await;
    ordered_by(&p, "jobs_by_deployment");
    let f = JobFilter {
        deployment_id: None,
        limit: Some(5),
    };
    let p = plan(&store, &sql(job::list("default", &f))).await;
    ordered_by(&p, "jobs_by_namespace");
    let p = plan(&store, &sql(job::active())).await;
    assert!(p.contains("jobs_active"), "{p}");
}

#[tokio::test]
async fn event_reads_use_their_index() {
    let (store, _dir) = temp_store().await;
    let f = EventFilter {
        deployment_id: Some(DeploymentId::new()),
        limit: Some(50),
        ..Default::default()
    };
    let p = plan(&store, &sql(event::list("default", &f))).await;
    ordered_by(&p, "events_by_deployment");
    let f = EventFilter {
        limit: Some(50),
        ..Default::default()
    };
    let p = plan(&store, &sql(event::list("default", &f))).await;
    ordered_by(&p, "events_by_namespace");
}

#[tokio::test]
async fn deployments_are_counted_from_an_index() {
    let (store, _dir) = temp_store().await;
    let p = plan(&store, deployment::COUNT_BY_STATE).await;
    assert!(
        p.contains("COVERING INDEX deployments_by_status_state")
            && !p.contains("TEMP B-TREE FOR GROUP BY"),
        "{p}"
    );
}
