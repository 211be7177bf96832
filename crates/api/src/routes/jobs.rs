//! `/api/v1/namespaces/{namespace}/jobs[/{jobId}]` (read-only)

use axum::extract::State;
use stateplane_model::{Job, JobId, ResourceList};

use crate::app::jobs as app;
use crate::error::ApiResult;
use crate::format::Reply;
use crate::openapi::JobList;
use crate::params::{parse_id, ApiPath, Params};
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/jobs", tag = "jobs", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = Option<String>, Query, description = "Only jobs of this deployment (UUID)", format = Uuid)),
    responses((status = 200, description = "Jobs, newest first", body = JobList)))]
pub async fn job_list(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    q: Params,
) -> ApiResult<Reply> {
    let items = app::list(s.store.as_ref(), &ns, q.id("deploymentId")?).await?;
    Reply::ok(&ResourceList::new("Job", items))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/jobs/{jobId}", tag = "jobs", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("jobId" = String, Path, description = "Job id (UUID)", format = Uuid)),
    responses((status = 200, description = "The job", body = Job)))]
pub async fn job_get(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
) -> ApiResult<Reply> {
    let id: JobId = parse_id("jobId", &id)?;
    Reply::ok(&app::get(s.store.as_ref(), &ns, id).await?)
}
