//! `GET /api/v1/namespaces/{namespace}/access`: who the caller is and what role it has in a namespace,
//! so a client (the UI's editor) can offer only what the server would allow instead of probing a
//! write route. It only reports what access control ([`crate::auth`]) decided for this request: the
//! answer comes from the same [`Principal`] the middleware found, and the rules stay in
//! [`crate::auth::policy`].

use axum::extract::State;
use axum::Extension;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::format::Reply;
use crate::params::ApiPath;
use crate::AppState;

/// Who the caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// The server's admin token.
    Admin,
    /// An API token of the namespace.
    Token,
    /// Nobody in particular: the server runs without access control.
    Anonymous,
}

/// What the caller may do in the namespace, in the words of the operations' `security`
/// declarations: `viewer` reads, `editor` also writes deployments, savepoints and defaults, `owner`
/// also manages targets and tokens, `admin` may do everything (the admin token, and every caller of a
/// server without access control).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccessRole {
    Viewer,
    Editor,
    Owner,
    Admin,
}

/// The body of `GET …/access`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// The namespace asked about.
    pub namespace: String,
    pub principal: PrincipalKind,
    /// The API token's name (for a token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_name: Option<String>,
    pub role: AccessRole,
    /// Whether the server checks credentials (`stateplane server --auth`).
    pub access_control: bool,
}

/// Who the caller is and what role it has in the namespace. Any caller who may read the namespace
/// may ask (a token of another namespace gets the 403 of every route there).
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/access", tag = "namespaces", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    responses((status = 200, description = "The caller and its role in the namespace", body = Access)))]
pub async fn access_get(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    principal: Option<Extension<Principal>>,
) -> ApiResult<Reply> {
    crate::app::ensure_namespace(s.store.as_ref(), &ns).await?;
    let access_control = s.auth.is_some();
    let (principal, token_name, role) = match principal.map(|Extension(p)| p) {
        None if access_control => {
            // access control puts the principal in every request it lets through to this route
            return Err(ApiError::Unauthenticated(
                "no credentials were checked for this request".into(),
            ));
        }
        None => (PrincipalKind::Anonymous, None, AccessRole::Admin),
        Some(Principal::Admin) => (PrincipalKind::Admin, None, AccessRole::Admin),
        Some(Principal::Token { name, role, .. }) => {
            let role = match role {
                stateplane_model::Role::Viewer => AccessRole::Viewer,
                stateplane_model::Role::Editor => AccessRole::Editor,
                stateplane_model::Role::Owner => AccessRole::Owner,
            };
            (PrincipalKind::Token, Some(name), role)
        }
    };
    Reply::ok(&Access {
        namespace: ns,
        principal,
        token_name,
        role,
        access_control,
    })
}
