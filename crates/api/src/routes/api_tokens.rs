//! `/apitokens/v1/namespaces/{namespace}/apitokens[/{apiTokenName}]` (the platform API's token routes)

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::api_tokens::{self as app, ApiTokenView};
use crate::bodies::ApiTokenCreate;
use crate::error::{ApiResult, ErrorBody};
use crate::format::{Input, Reply};
use crate::params::ApiPath;
use crate::AppState;

/// `{apiToken}`: the answer to create (with the secret) and get (without).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenResponse {
    pub api_token: ApiTokenView,
}

/// `{apiTokens}`: a namespace's tokens, by name, without secrets.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenListResponse {
    pub api_tokens: Vec<ApiTokenView>,
}

/// `{}`: the answer to a delete.
#[derive(Serialize, ToSchema)]
pub struct ApiTokenDeleteResponse {}

#[utoipa::path(get, path = "/apitokens/v1/namespaces/{namespace}/apitokens", tag = "api-tokens", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    responses((status = 200, description = "The namespace's tokens, by name; never their secrets", body = ApiTokenListResponse)))]
pub async fn api_token_list(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
) -> ApiResult<Reply> {
    Reply::ok(&ApiTokenListResponse {
        api_tokens: app::list(s.store.as_ref(), &ns).await?,
    })
}

/// Creates a token; the answer holds its secret, shown this once only.
#[utoipa::path(post, path = "/apitokens/v1/namespaces/{namespace}/apitokens", tag = "api-tokens", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    request_body = ApiTokenCreate,
    responses((status = 201, description = "Created; `apiToken.secret` is shown only here", body = ApiTokenResponse),
        (status = 409, description = "ALREADY_EXISTS", body = ErrorBody)))]
pub async fn api_token_create(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    Input(body): Input<ApiTokenCreate>,
) -> ApiResult<Reply> {
    Reply::created(&ApiTokenResponse {
        api_token: app::create(s.store.as_ref(), &ns, body).await?,
    })
}

#[utoipa::path(get, path = "/apitokens/v1/namespaces/{namespace}/apitokens/{apiTokenName}", tag = "api-tokens", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("apiTokenName" = String, Path, description = "The token's name (a DNS label)", pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")),
    responses((status = 200, description = "The token, without its secret", body = ApiTokenResponse)))]
pub async fn api_token_get(
    State(s): State<AppState>,
    ApiPath((ns, name)): ApiPath<(String, String)>,
) -> ApiResult<Reply> {
    Reply::ok(&ApiTokenResponse {
        api_token: app::get(s.store.as_ref(), &ns, &name).await?,
    })
}

/// Deletes a token: requests with its secret are refused from now on.
#[utoipa::path(delete, path = "/apitokens/v1/namespaces/{namespace}/apitokens/{apiTokenName}", tag = "api-tokens", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("apiTokenName" = String, Path, description = "The token's name (a DNS label)", pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")),
    responses((status = 200, description = "Deleted", body = ApiTokenDeleteResponse)))]
pub async fn api_token_delete(
    State(s): State<AppState>,
    ApiPath((ns, name)): ApiPath<(String, String)>,
) -> ApiResult<Reply> {
    app::delete(s.store.as_ref(), &ns, &name).await?;
    Reply::ok(&ApiTokenDeleteResponse {})
}
