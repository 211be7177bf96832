//! Who may do what: the one table from (method, route) to the permission a request needs, and what
//! each kind of caller holds. Nothing else in the API decides access.
//!
//! A route is axum's matched route pattern (`/api/v1/namespaces/{namespace}/deployments`), so a
//! request is judged by the handler it will reach, never by string tests on its path. What is not in
//! the table needs admin: a route or method added later without a row here is closed, not open.

use axum::http::Method;
use stateplane_model::Role;

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

/// Every route the API serves, with what each method needs. `GET` covers `HEAD`.
pub const TABLE: &[(&str, &[(&str, Need)])] = {
    use Need::*;
    &[
        ("/healthz", &[("GET", Open)]),
        ("/metrics", &[("GET", Open)]),
        ("/api/v1/openapi.json", &[("GET", Open)]),
        (
            "/api/v1/namespaces",
            &[("GET", Authenticated), ("POST", Admin)],
        ),
        (
            "/api/v1/namespaces/{namespace}",
            &[("GET", Read), ("DELETE", Admin)],
        ),
        (
            "/api/v1/namespaces/{namespace}/deployment-defaults",
            &[("GET", Read), ("PATCH", Write)],
        ),
        (
            "/api/v1/namespaces/{namespace}/deployments",
            &[("GET", Read), ("POST", Write)],
        ),
        (
            "/api/v1/namespaces/{namespace}/deployments/{deploymentId}",
            &[("GET", Read), ("PATCH", Write), ("DELETE", Write)],
        ),
        (
            "/api/v1/namespaces/{namespace}/deployments/{deploymentId}/restore-preview",
            &[("GET", Read)],
        ),
        (
            "/api/v1/namespaces/{namespace}/deployment-targets",
            &[("GET", Read), ("POST", Manage)],
        ),
        (
            "/api/v1/namespaces/{namespace}/deployment-targets/{name}",
            &[("GET", Read), ("DELETE", Manage)],
        ),
        (
            "/api/v1/namespaces/{namespace}/savepoints",
            &[("GET", Read), ("POST", Write)],
        ),
        (
            "/api/v1/namespaces/{namespace}/savepoints/{savepointId}",
            &[("GET", Read), ("DELETE", Write)],
        ),
        (
            "/api/v1/namespaces/{namespace}/savepoints/{savepointId}/copy",
            &[("POST", Write)],
        ),
        ("/api/v1/namespaces/{namespace}/jobs", &[("GET", Read)]),
        (
            "/api/v1/namespaces/{namespace}/jobs/{jobId}",
            &[("GET", Read)],
        ),
        ("/api/v1/namespaces/{namespace}/events", &[("GET", Read)]),
        (
            "/apitokens/v1/namespaces/{namespace}/apitokens",
            &[("GET", Manage), ("POST", Manage)],
        ),
        (
            "/apitokens/v1/namespaces/{namespace}/apitokens/{apiTokenName}",
            &[("GET", Manage), ("DELETE", Manage)],
        ),
    ]
};

/// What a request needs: its row of [`TABLE`]; [`Need::Authenticated`] when no route matched (the
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
    TABLE
        .iter()
        .find(|(r, _)| *r == route)
        .and_then(|(_, methods)| methods.iter().find(|(m, _)| *m == method))
        .map_or(Need::Admin, |(_, need)| *need)
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
        for (route, methods) in TABLE {
            let scoped = methods
                .iter()
                .any(|(_, n)| matches!(n, Need::Read | Need::Write | Need::Manage));
            assert_eq!(
                scoped,
                route.contains(&format!("{{{NAMESPACE_PARAM}}}")),
                "{route}: namespace-scoped permissions need the {{{NAMESPACE_PARAM}}} parameter and vice versa"
            );
        }
    }

    #[test]
    fn the_table_covers_every_documented_operation() {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let m: Method = method.to_uppercase().parse().unwrap();
                let listed = TABLE
                    .iter()
                    .find(|(r, _)| r == path)
                    .is_some_and(|(_, ms)| ms.iter().any(|(x, _)| *x == m.as_str()));
                assert!(
                    listed,
                    "{method} {path} is documented but not in the access table"
                );
            }
        }
    }
}
