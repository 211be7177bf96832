//! Secret values: credentials a deployment refers to by name (`${NAME}`) instead of writing them into
//! its Flink configuration or jar URI, in Ververica Platform's shape (`kind: SecretValue`, spec
//! `{kind: PLAIN, value}`).
//!
//! The resource here never holds the value: what the API returns and what is stored in clear is
//! [`SecretValue`], whose spec has only `kind`. The value exists in a request body (written once, sealed
//! by the server's key before it is stored, see the `stateplane-secrets` crate) and, resolved, in the
//! request that submits a job to Flink; nowhere else.
//!
//! References ([`parse_references`], [`substitute`]) are `${NAME}` with the braces mandatory, as in
//! Ververica Platform, in `spec.template.spec.flinkConfiguration` values and in
//! `spec.template.spec.artifact.jarUri` ([`deployment_references`]). `$NAME` without braces is plain
//! text. Ververica documents no escape; stateplane reads `$${` as a literal `${` so that a value can
//! contain one. Anything else starting with `${` that is not a well-formed reference (no closing
//! brace, a name with other characters) is refused rather than passed to Flink as it is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::{lenient_string_map, StringMap};
use crate::{DeploymentSpec, SecretValueId, ValidationError, API_VERSION};

string_enum! {
    /// How a secret value is kept. Only PLAIN exists (Ververica's one kind): the value as given, sealed
    /// at rest by stateplane.
    pub enum SecretValueKind { Plain => "PLAIN" }
}

/// A SecretValue resource, as the API shows it: never the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretValue {
    pub api_version: String,
    pub kind: String,
    pub metadata: SecretValueMetadata,
    pub spec: SecretValueSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretValueMetadata {
    pub id: SecretValueId,
    /// Letters, digits, `-` and `_`, at most 250 characters (Ververica's rule); referenced as `${name}`.
    pub name: String,
    pub namespace: String,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub labels: StringMap,
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub annotations: StringMap,
    /// Grows by one with every change, the value's included.
    pub resource_version: i64,
}

/// What the API shows of a secret value's spec: its kind. The value is write-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretValueSpec {
    pub kind: SecretValueKind,
}

/// The longest secret value name (Ververica's limit).
pub const MAX_SECRET_NAME: usize = 250;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Checks a secret value name: 1 to 250 letters, digits, `-` and `_`.
pub fn validate_secret_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::invalid(field, "must not be empty"));
    }
    if name.len() > MAX_SECRET_NAME {
        return Err(ValidationError::invalid(
            field,
            format!("must be at most {MAX_SECRET_NAME} characters"),
        ));
    }
    if !name.chars().all(is_name_char) {
        return Err(ValidationError::invalid(
            field,
            "may contain only letters, digits, '-' and '_' (it is referenced as ${NAME})",
        ));
    }
    Ok(())
}

impl SecretValue {
    /// A new secret value resource (version 1) named `name` in `namespace`.
    pub fn new(namespace: &str, name: &str) -> Self {
        let now = crate::now();
        Self {
            api_version: API_VERSION.into(),
            kind: "SecretValue".into(),
            metadata: SecretValueMetadata {
                id: SecretValueId::new(),
                name: name.into(),
                namespace: namespace.into(),
                created_at: now,
                modified_at: now,
                labels: StringMap::new(),
                annotations: StringMap::new(),
                resource_version: 1,
            },
            spec: SecretValueSpec {
                kind: SecretValueKind::Plain,
            },
        }
    }
}

/// A piece of a text that may refer to secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text (an escaped `$${` already turned into `${`).
    Text(String),
    /// `${NAME}`: the name.
    Reference(&'a str),
}

/// Splits `text` into literal text and `${NAME}` references. `Err` (for a person) when a `${` starts
/// something that is not a reference.
pub fn parse_references(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        literal.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            literal.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or_else(|| {
                "'${' starts a secret reference that has no closing '}'; write ${NAME}, or $${ for a \
                 literal '${'"
                    .to_string()
            })?;
            let name = &after[..end];
            if name.is_empty() || name.len() > MAX_SECRET_NAME || !name.chars().all(is_name_char) {
                return Err(format!(
                    "'${{{name}}}' is not a secret reference: a secret value's name has only letters, \
                     digits, '-' and '_'; write $${{ for a literal '${{'"
                ));
            }
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Reference(name));
            rest = &after[end + 1..];
        } else {
            literal.push('$');
            rest = &tail[1..];
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

/// Whether `text` is exactly one reference and nothing else (`${NAME}`): it shows a secret's name,
/// never its value, so the API does not mask it.
pub fn is_only_reference(text: &str) -> bool {
    matches!(parse_references(text).as_deref(), Ok([Piece::Reference(_)]))
}

/// `text` with every reference replaced by `lookup(name)`. Inserted values are not read for
/// references again. [`SubstituteError::Missing`] names the first secret `lookup` does not know;
/// [`SubstituteError::Malformed`] is a `${` that starts no reference (see [`parse_references`]).
pub fn substitute(
    text: &str,
    mut lookup: impl FnMut(&str) -> Option<String>,
) -> Result<String, SubstituteError> {
    let mut out = String::with_capacity(text.len());
    for piece in parse_references(text).map_err(SubstituteError::Malformed)? {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Reference(name) => match lookup(name) {
                Some(v) => out.push_str(&v),
                None => return Err(SubstituteError::Missing(name.to_string())),
            },
        }
    }
    Ok(out)
}

/// Why [`substitute`] could not resolve a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    /// A `${` that does not start a reference (the message says why).
    #[error("{0}")]
    Malformed(String),
    /// A reference to a secret value `lookup` does not have.
    #[error("refers to secret value '{0}', which does not exist")]
    Missing(String),
}

/// One place a deployment refers to a secret value: the field (dotted path) and the secret's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub field: String,
    pub name: String,
}

/// Every `${NAME}` in the fields of a deployment spec where Ververica allows references:
/// `spec.template.spec.artifact.jarUri` and the values of `spec.template.spec.flinkConfiguration`.
/// A malformed `${` is a validation error naming the field.
pub fn deployment_references(spec: &DeploymentSpec) -> Result<Vec<Reference>, ValidationError> {
    let t = &spec.template.spec;
    let fields = std::iter::once((
        "spec.template.spec.artifact.jarUri".to_string(),
        t.artifact.jar_uri.as_str(),
    ))
    .chain(t.flink_configuration.iter().map(|(k, v)| {
        (
            format!("spec.template.spec.flinkConfiguration.{k}"),
            v.as_str(),
        )
    }));
    let mut out = Vec::new();
    for (field, text) in fields {
        for piece in parse_references(text).map_err(|m| ValidationError::invalid(&field, m))? {
            if let Piece::Reference(name) = piece {
                out.push(Reference {
                    field: field.clone(),
                    name: name.to_string(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str) -> Vec<Piece<'_>> {
        parse_references(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn references_need_braces_and_a_name() {
        use Piece::*;
        assert_eq!(refs(""), vec![]);
        assert_eq!(refs("plain"), vec![Text("plain".into())]);
        assert_eq!(refs("${PW}"), vec![Reference("PW")]);
        assert_eq!(
            refs("user:${PW}@host/${db-name_2}"),
            vec![
                Text("user:".into()),
                Reference("PW"),
                Text("@host/".into()),
                Reference("db-name_2")
            ]
        );
        assert_eq!(
            refs("$PW and $ alone"),
            vec![Text("$PW and $ alone".into())]
        );
        assert_eq!(refs("$${PW}"), vec![Text("${PW}".into())]);
        assert_eq!(refs("a$$b"), vec![Text("a$$b".into())]);
        // left to right: a lone `$`, then the escape
        assert_eq!(refs("$$${PW}"), vec![Text("$${PW}".into())]);
        assert_eq!(refs("${A}${B}"), vec![Reference("A"), Reference("B")]);
        for bad in ["${", "${PW", "${}", "${env.HOME}", "${a b}", "x ${ PW }"] {
            let e = parse_references(bad).unwrap_err();
            assert!(e.contains("$${"), "{bad}: {e}");
        }
        let long = format!("${{{}}}", "a".repeat(MAX_SECRET_NAME + 1));
        assert!(parse_references(&long).is_err());
    }

    #[test]
    fn substitution_replaces_every_reference() {
        let lookup = |n: &str| (n == "PW").then(|| "s3cr3t$".to_string());
        assert_eq!(
            substitute("a:${PW}:${PW}", lookup).unwrap(),
            "a:s3cr3t$:s3cr3t$"
        );
        assert_eq!(substitute("$${PW}", lookup).unwrap(), "${PW}");
        assert_eq!(
            substitute("${OTHER}", lookup),
            Err(SubstituteError::Missing("OTHER".into()))
        );
        assert!(matches!(
            substitute("${", lookup),
            Err(SubstituteError::Malformed(_))
        ));
        // a value is inserted as it is, never read for references again
        let tricky = |_: &str| Some("${PW}".to_string());
        assert_eq!(substitute("${X}", tricky).unwrap(), "${PW}");
    }

    #[test]
    fn only_a_lone_reference_is_only_a_reference() {
        assert!(is_only_reference("${PW}"));
        assert!(!is_only_reference("x${PW}"));
        assert!(!is_only_reference("${A}${B}"));
        assert!(!is_only_reference("$${PW}"));
        assert!(!is_only_reference("hunter2"));
        assert!(!is_only_reference("${"));
    }

    #[test]
    fn names() {
        for ok in ["PW", "my-secret_1", "SECRET_VALUE_NAME", &"a".repeat(250)] {
            assert!(validate_secret_name("n", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a.b", "a b", "a/b", "ü", "${x}", &"a".repeat(251)] {
            assert!(validate_secret_name("n", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_deployment_refers_in_its_jar_uri_and_flink_configuration() {
        let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "template": {"spec": {
                "artifact": {"kind": "JAR", "jarUri": "https://ci:${REPO_TOKEN}@repo/job.jar"},
                "flinkConfiguration": {"a.password": "${PW}", "plain": "x", "b": "$${literal}"}
            }}
        }))
        .unwrap();
        let r = deployment_references(&spec).unwrap();
        assert_eq!(
            r,
            vec![
                Reference {
                    field: "spec.template.spec.artifact.jarUri".into(),
                    name: "REPO_TOKEN".into()
                },
                Reference {
                    field: "spec.template.spec.flinkConfiguration.a.password".into(),
                    name: "PW".into()
                },
            ]
        );
        let mut bad = spec.clone();
        bad.template
            .spec
            .flink_configuration
            .insert("c".into(), "${oops".into());
        let e = deployment_references(&bad).unwrap_err();
        assert_eq!(e.field(), "spec.template.spec.flinkConfiguration.c");
    }

    #[test]
    fn the_resource_has_no_value() {
        let s = SecretValue::new("default", "PW");
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["kind"], "SecretValue");
        assert_eq!(v["spec"], serde_json::json!({"kind": "PLAIN"}));
        let back: SecretValue = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
