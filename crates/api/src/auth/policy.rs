//! Who may do what: what each operation needs, and what each kind of caller holds. Nothing else in the
//! API decides access.
//!
//! What an operation needs is declared with the operation itself, in its `#[utoipa::path]`:
//! `security(())` for an open one, `security(("bearer" = []))` for any valid credentials,
//! `security(("bearer" = ["viewer"]))` (or `editor`, `owner`: of the path's namespace; `admin`) for a
//! role. [`table`] reads those declarations from the OpenAPI document, which is generated from the
//! same declarations as the router, so a route cannot be served without its rule, and the published
//! document says what each operation needs.
//!
//! A request is looked up by axum's matched route pattern (`/api/v1/namespaces/{namespace}/deployments`),
//! so it is judged by the handler it will reach, never by string tests on its path. Fail closed: an
//! operation without a readable declaration, or a route or method missing from the table, needs admin.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::Method;
use stateplane_model::Role;
use utoipa::openapi::security::SecurityRequirement;

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: answered without credentials (health, metrics, the API description).
    Open,
    /// Any valid credentials (the namespace list, which shows a token only its own namespace; unknown
    /// routes, which answer 404 only to callers who may see the API at all).
    Authenticated,
    /// Viewer or more in the path's namespace.
    Read,
    /// Editor or more in the path's namespace.
    Write,
    /// Owner of the path's namespace.
    Manage,
    /// The admin token.
    Admin,
}

/// The namespace path parameter of every namespaced route.
pub const NAMESPACE_PARAM: &str = "namespace";

/// How the operations' `security` declarations name the roles.
const ROLES: [(&str, Need); 4] = [
    ("viewer", Need::Read),
    ("editor", Need::Write),
    ("owner", Need::Manage),
    ("admin", Need::Admin),
];

/// What an operation's `security` declaration says it needs; `None` when it has none, or one of
/// another form (more than one requirement, another scheme, several or unknown roles).
pub fn declared_need(security: Option<&[SecurityRequirement]>) -> Option<Need> {
    let [requirement] = security? else {
        return None;
    };
    let value = serde_json::to_value(requirement).ok()?;
    let schemes = value.as_object()?;
    if schemes.is_empty() {
        return Some(Need::Open);
    }
    let roles = match schemes.get(crate::openapi::SCHEME)?.as_array()?.as_slice() {
        [] => return (schemes.len() == 1).then_some(Need::Authenticated),
        [role] => role.as_str()?,
        _ => return None,
    };
    let need = ROLES.iter().find(|(name, _)| *name == roles)?.1;
    (schemes.len() == 1).then_some(need)
}

/// Every route the API serves: (route, method) → what it needs. `GET` covers `HEAD`.
pub fn table() -> &'static BTreeMap<(String, String), Need> {
    static TABLE: OnceLock<BTreeMap<(String, String), Need>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = BTreeMap::new();
        for (path, item) in &crate::openapi::document().paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                if let Some(op) = op {
                    let need = declared_need(op.security.as_deref()).unwrap_or(Need::Admin);
                    table.insert((path.clone(), method.to_string()), need);
                }
            }
        }
        table.insert(
            (crate::METRICS_PATH.to_string(), "GET".to_string()),
            Need::Open,
        );
        table
    })
}

/// What a request needs: its entry of [`table`]; [`Need::Authenticated`] when no route matched (the
/// answer is a 404); [`Need::Admin`] for a route or method the table does not list.
pub fn need(method: &Method, route: Option<&str>) -> Need {
    let Some(route) = route else {
        return Need::Authenticated;
    };
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    table()
        .get(&(route.to_string(), method.to_string()))
        .copied()
        .unwrap_or(Need::Admin)
}

/// Whether a token of `role` in the path's namespace may do what `need` asks.
pub fn role_allows(role: Role, need: Need) -> bool {
    match need {
        Need::Open | Need::Authenticated | Need::Read => true,
        Need::Write => role >= Role::Editor,
        Need::Manage => role >= Role::Owner,
        Need::Admin => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_cumulative() {
        use Need::*;
        let allowed = |role| {
            [Read, Write, Manage, Admin]
                .into_iter()
                .filter(|n| role_allows(role, *n))
                .collect::<Vec<_>>()
        };
        assert_eq!(allowed(Role::Viewer), [Read]);
        assert_eq!(allowed(Role::Editor), [Read, Write]);
        assert_eq!(allowed(Role::Owner), [Read, Write, Manage]);
    }

    #[test]
    fn lookups_fail_closed() {
        let deployments = "/api/v1/namespaces/{namespace}/deployments";
        assert_eq!(need(&Method::GET, Some(deployments)), Need::Read);
        assert_eq!(need(&Method::HEAD, Some(deployments)), Need::Read);
        assert_eq!(need(&Method::POST, Some(deployments)), Need::Write);
        assert_eq!(
            need(&Method::PUT, Some(deployments)),
            Need::Admin,
            "unlisted method"
        );
        assert_eq!(
            need(&Method::GET, Some("/api/v1/new-thing")),
            Need::Admin,
            "unlisted route"
        );
        assert_eq!(
            need(&Method::GET, None),
            Need::Authenticated,
            "no route: a 404"
        );
        assert_eq!(need(&Method::POST, Some("/healthz")), Need::Admin);
    }

    #[test]
    fn every_namespaced_route_names_its_namespace_the_same_way() {
        for ((route, method), need) in table() {
            let scoped = matches!(need, Need::Read | Need::Write | Need::Manage);
            if scoped {
                assert!(
                    route.contains(&format!("{{{NAMESPACE_PARAM}}}")),
                    "{method} {route}: namespace-scoped permissions need the {{{NAMESPACE_PARAM}}} parameter"
                );
            }
        }
        for (route, _) in table().keys() {
            let scoped = table().iter().any(|((r, _), n)| {
                r == route && matches!(n, Need::Read | Need::Write | Need::Manage)
            });
            assert_eq!(
                scoped,
                route.contains(&format!("{{{NAMESPACE_PARAM}}}")),
                "{route}: namespace-scoped permissions need the {{{NAMESPACE_PARAM}}} parameter and vice versa"
            );
        }
    }

    #[test]
    fn every_documented_operation_declares_what_it_needs() {
        let doc = crate::openapi::document();
        let mut operations = 0;
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
                ("HEAD", &item.head),
                ("OPTIONS", &item.options),
                ("TRACE", &item.trace),
            ] {
                let Some(op) = op else { continue };
                operations += 1;
                let declared = declared_need(op.security.as_deref());
                assert!(
                    declared.is_some(),
                    "{method} {path} declares no permission (security(...) in its #[utoipa::path]): {}",
                    serde_json::to_string(&op.security).unwrap_or_default()
                );
                assert_eq!(
                    declared,
                    table().get(&(path.clone(), method.to_string())).copied(),
                    "{method} {path}: the table must say what the declaration says"
                );
            }
        }
        assert_eq!(
            operations + 1,
            table().len(),
            "the table holds the documented operations and /metrics, nothing else"
        );
    }

    #[test]
    fn declarations_are_read_strictly() {
        let req =
            |v: serde_json::Value| -> SecurityRequirement { serde_json::from_value(v).unwrap() };
        let d = |reqs: Vec<SecurityRequirement>| declared_need(Some(&reqs));
        assert_eq!(d(vec![req(serde_json::json!({}))]), Some(Need::Open));
        assert_eq!(
            d(vec![req(serde_json::json!({"bearer": []}))]),
            Some(Need::Authenticated)
        );
        assert_eq!(
            d(vec![req(serde_json::json!({"bearer": ["owner"]}))]),
            Some(Need::Manage)
        );
        assert_eq!(d(vec![req(serde_json::json!({"bearer": ["root"]}))]), None);
        assert_eq!(
            d(vec![req(
                serde_json::json!({"bearer": ["viewer", "owner"]})
            )]),
            None
        );
        assert_eq!(d(vec![req(serde_json::json!({"basic": []}))]), None);
        assert_eq!(d(vec![]), None);
        assert_eq!(declared_need(None), None);
    }
}
