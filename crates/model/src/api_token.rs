//! API tokens: namespace-scoped credentials with one role each (Ververica Platform's platform API
//! shape: `{name: "namespaces/{ns}/apitokens/{token}", role, secret, createTime}`).
//!
//! What is stored is an [`ApiToken`]: the token's name, role and a *salted hash* of its secret, never
//! the secret itself. The secret is shown once, when the token is created; the API layer generates,
//! hashes and verifies it (see `stateplane_api::auth`). `token_id` is the public part of the secret
//! (`sp_<token_id>_<random>`) that finds the row without scanning.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::meta::validate_dns_label;
use crate::ValidationError;

/// What a token may do in its namespace. Ordered: each role includes everything of the ones before.
/// Admin is not a token role: it is the server's own token (see the README's access-control section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything of the namespace (except its tokens).
    Viewer,
    /// Viewer, plus writes deployments, deployment defaults and savepoints, and uses targets.
    Editor,
    /// Editor, plus deployment targets and API tokens of the namespace.
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Owner];

    /// The spelling on the wire and in the store (lower case, as the platform API writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    /// Any case: `viewer`, `EDITOR`, `Owner`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == lower)
            .ok_or_else(|| format!("unknown role '{s}', expected one of: viewer, editor, owner"))
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A stored API token: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub namespace: String,
    /// The token's own name (a DNS label), unique in the namespace.
    pub name: String,
    pub role: Role,
    /// The public lookup key embedded in the secret; unique across all namespaces.
    pub token_id: String,
    /// Per-token random salt, hex.
    pub salt: String,
    /// SHA-256 of salt and secret, hex.
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
}

impl ApiToken {
    /// The platform API's resource name: `namespaces/{ns}/apitokens/{name}`.
    pub fn resource_name(&self) -> String {
        resource_name(&self.namespace, &self.name)
    }
}

/// `namespaces/{ns}/apitokens/{name}`.
pub fn resource_name(namespace: &str, name: &str) -> String {
    format!("namespaces/{namespace}/apitokens/{name}")
}

/// The token's own name from what a client sent as `name`: either the full resource name
/// `namespaces/{ns}/apitokens/{token}` (whose namespace must be `namespace`) or just `{token}`. The
/// token name must be a DNS label.
pub fn parse_token_name(
    field: &str,
    namespace: &str,
    given: &str,
) -> Result<String, ValidationError> {
    let given = given.trim();
    let name = match given.strip_prefix("namespaces/") {
        Some(rest) => {
            let Some((ns, token)) = rest.split_once("/apitokens/") else {
                return Err(ValidationError::invalid(
                    field,
                    "must be 'namespaces/{namespace}/apitokens/{token}' or just the token's name",
                ));
            };
            if ns != namespace {
                return Err(ValidationError::invalid(
                    field,
                    format!(
                        "names namespace '{ns}' but the request is for namespace '{namespace}'"
                    ),
                ));
            }
            token
        }
        None => given,
    };
    validate_dns_label(field, name)?;
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_in_any_case_and_are_ordered() {
        assert_eq!("Viewer".parse::<Role>(), Ok(Role::Viewer));
        assert_eq!(" EDITOR ".parse::<Role>(), Ok(Role::Editor));
        assert_eq!("owner".parse::<Role>(), Ok(Role::Owner));
        assert!("admin".parse::<Role>().is_err());
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Owner);
        assert_eq!(serde_json::to_value(Role::Owner).unwrap(), "owner");
        assert_eq!(
            serde_json::from_value::<Role>("VIEWER".into()).unwrap(),
            Role::Viewer
        );
    }

    #[test]
    fn token_names_full_or_short() {
        assert_eq!(parse_token_name("name", "team-a", "ci").unwrap(), "ci");
        assert_eq!(
            parse_token_name("name", "team-a", "namespaces/team-a/apitokens/ci").unwrap(),
            "ci"
        );
        for bad in [
            "namespaces/team-b/apitokens/ci",
            "namespaces/team-a/ci",
            "namespaces/team-a/apitokens/",
            "namespaces/team-a/apitokens/a/b",
            "CI",
            "",
        ] {
            assert!(parse_token_name("name", "team-a", bad).is_err(), "{bad}");
        }
    }
}
