//! Liveness: 200 once the store answers.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::format::Reply;
use crate::AppState;

/// The body of `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` (a failing store answers 503 instead).
    pub status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "The server and its store answer", body = Health)))]
pub async fn healthz(State(s): State<AppState>) -> ApiResult<Reply> {
    s.store.namespace_list().await?;
    Reply::ok(&Health { status: "ok" })
}
