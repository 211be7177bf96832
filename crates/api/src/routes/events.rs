//! `/api/v1/namespaces/{namespace}/events` (read-only)

use axum::extract::State;
use stateplane_model::ResourceList;

use crate::app::events as app;
use crate::error::ApiResult;
use crate::format::Reply;
use crate::openapi::EventList;
use crate::params::{ApiPath, Params};
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/events", tag = "events", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = Option<String>, Query, description = "Only events of this deployment (UUID)", format = Uuid),
        ("jobId" = Option<String>, Query, description = "Only events of this job (UUID)", format = Uuid)),
    responses((status = 200, description = "Events, oldest first", body = EventList)))]
pub async fn event_list(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    q: Params,
) -> ApiResult<Reply> {
    let items = app::list(s.store.as_ref(), &ns, q.id("deploymentId")?, q.id("jobId")?).await?;
    Reply::ok(&ResourceList::new("Event", items))
}
