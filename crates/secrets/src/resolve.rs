//! `${NAME}` resolved at job submission: the one place a secret value is decrypted.
//!
//! # For the controller: where to call it
//! The job resource keeps the configuration *as written* (`${NAME}` references, never values), and
//! so must the job row the controller writes before it submits. Right before the submission (where
//! the executor builds `RunJarRequest` from `job.spec` and fetches the artifact), call
//!
//! ```ignore
//! let resolved = stateplane_secrets::resolve_job(store, &cipher, &job.metadata.namespace, &job.spec).await?;
//! // fetch the jar from `resolved.jar_uri` instead of `job.spec.artifact.jar_uri`
//! // send `resolved.flink_configuration` instead of `job.spec.flink_configuration`
//! ```
//!
//! and use the result only for that request: never write it to a job, an event, a status message or
//! a log (its `Debug` shows keys, never values). A [`ResolveError`] is a failed job creation: its
//! message names the field and the secret (never a value), e.g. "spec.flinkConfiguration.s3.secret-key
//! refers to secret value 'S3_KEY', which does not exist in namespace 'team-a'", and fits
//! `status.failure` and the `FAILED_CREATING_A_NEW_JOB` event as it is. [`ResolveError::is_retryable`]
//! says whether retrying later can help (a store outage) or the user must act (a missing secret, a
//! wrong key). The cipher is built once at start from the server's key ([`crate::SecretKey`]), the same
//! way the API gets it.
//!
//! The API already refuses (422) a deployment that refers to a secret value that does not exist, so
//! a missing one here means it was deleted afterwards; the API refuses that too while a deployment
//! refers to it, so what remains is a race between the two writes.

use std::collections::BTreeMap;
use std::fmt;

use stateplane_model::secret_value::{parse_references, substitute, Piece, SubstituteError};
use stateplane_model::{JobSpec, StringMap};
use stateplane_store::{Store, StoreError};

use crate::{CipherError, SecretCipher};

/// A job's configuration and jar URI with every reference replaced by its value. For the submission
/// request only; `Debug` shows keys, never values.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedJob {
    pub flink_configuration: StringMap,
    pub jar_uri: String,
}

impl fmt::Debug for ResolvedJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedJob")
            .field(
                "flink_configuration",
                &self.flink_configuration.keys().collect::<Vec<_>>(),
            )
            .field("jar_uri", &"<resolved>")
            .finish()
    }
}

/// Why a job's references could not be resolved. Messages name fields and secrets, never values.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A reference to a secret value the namespace does not have.
    #[error("{field} refers to secret value '{name}', which does not exist in namespace '{namespace}'; create it or change the reference")]
    Missing {
        field: String,
        name: String,
        namespace: String,
    },
    /// A `${` that starts no reference (the API refuses these; a job written before it did).
    #[error("{field}: {message}")]
    Malformed { field: String, message: String },
    /// A secret value that does not decrypt (the server's key is not the one it was sealed with).
    #[error("{0}")]
    Cipher(#[from] CipherError),
    /// Reading a secret value failed.
    #[error("reading secret values: {0}")]
    Store(StoreError),
}

impl ResolveError {
    /// Whether trying again later may succeed without anyone changing anything (the store failed).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(StoreError::Backend(_)))
    }
}

/// Resolves `jar_uri` and the values of `flink_configuration` with `lookup` (a secret's name → its
/// value, `None` when there is none). Fields are named as in a job resource (`spec.artifact.jarUri`,
/// `spec.flinkConfiguration.<key>`). Pure: [`resolve_job`] is this with the store and the cipher.
pub fn resolve_with(
    namespace: &str,
    flink_configuration: &StringMap,
    jar_uri: &str,
    mut lookup: impl FnMut(&str) -> Result<Option<String>, ResolveError>,
) -> Result<ResolvedJob, ResolveError> {
    let mut one = |field: String, text: &str| -> Result<String, ResolveError> {
        let malformed = |message| ResolveError::Malformed {
            field: field.clone(),
            message,
        };
        let mut found = BTreeMap::new();
        for piece in parse_references(text).map_err(malformed)? {
            if let Piece::Reference(name) = piece {
                if let Some(v) = lookup(name)? {
                    found.insert(name.to_string(), v);
                }
            }
        }
        substitute(text, |name| found.get(name).cloned()).map_err(|e| match e {
            SubstituteError::Missing(name) => ResolveError::Missing {
                field: field.clone(),
                name,
                namespace: namespace.to_string(),
            },
            SubstituteError::Malformed(message) => malformed(message),
        })
    };
    let jar_uri = one("spec.artifact.jarUri".into(), jar_uri)?;
    let mut config = StringMap::new();
    for (k, v) in flink_configuration {
        config.insert(k.clone(), one(format!("spec.flinkConfiguration.{k}"), v)?);
    }
    Ok(ResolvedJob {
        flink_configuration: config,
        jar_uri,
    })
}

/// `spec`'s jar URI and Flink configuration with every `${NAME}` replaced by the value of the
/// namespace's secret value `NAME` (read from `store`, opened with `cipher`; each secret read once).
/// See the module docs for where the controller calls this and what it must not do with the result.
pub async fn resolve_job(
    store: &dyn Store,
    cipher: &SecretCipher,
    namespace: &str,
    spec: &JobSpec,
) -> Result<ResolvedJob, ResolveError> {
    // Read every secret the job names first (the lookup below is synchronous).
    let mut names = Vec::new();
    for text in std::iter::once(&spec.artifact.jar_uri).chain(spec.flink_configuration.values()) {
        // a malformed text is reported by `resolve_with` below, naming its field
        for piece in parse_references(text).unwrap_or_default() {
            if let Piece::Reference(n) = piece {
                names.push(n.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for name in names {
        match store.secret_value_get(namespace, &name).await {
            Ok(stored) => {
                let v = cipher.open(namespace, &name, &stored.sealed)?;
                values.insert(name, v);
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(ResolveError::Store(e)),
        }
    }
    resolve_with(
        namespace,
        &spec.flink_configuration,
        &spec.artifact.jar_uri,
        |name| Ok(values.get(name).cloned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateplane_model::SecretValue;
    use stateplane_store::{SecretValueStore, SqliteStore, StoredSecretValue};

    fn spec(jar: &str, conf: &[(&str, &str)]) -> JobSpec {
        let conf: serde_json::Map<String, serde_json::Value> = conf
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        serde_json_from(serde_json::json!({
            "artifact": {"kind": "JAR", "jarUri": jar},
            "flinkConfiguration": conf,
        }))
    }

    fn serde_json_from(v: serde_json::Value) -> JobSpec {
        stateplane_model::error::from_value(v, "spec").unwrap()
    }

    #[tokio::test]
    async fn references_resolve_from_the_namespaces_sealed_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let cipher = SecretCipher::new(&crate::SecretKey::generate().unwrap());
        for (name, value) in [("S3_KEY", "hunter2"), ("REPO_TOKEN", "t0k3n")] {
            store
                .secret_value_create(&StoredSecretValue {
                    resource: SecretValue::new("default", name),
                    sealed: cipher.seal("default", name, value).unwrap(),
                })
                .await
                .unwrap();
        }
        let job = spec(
            "https://ci:${REPO_TOKEN}@repo.example/job.jar",
            &[
                ("s3.secret-key", "${S3_KEY}"),
                ("both", "${S3_KEY}/${REPO_TOKEN}"),
                ("literal", "$${S3_KEY}"),
                ("plain", "x"),
            ],
        );
        let r = resolve_job(&store, &cipher, "default", &job).await.unwrap();
        assert_eq!(r.jar_uri, "https://ci:t0k3n@repo.example/job.jar");
        assert_eq!(r.flink_configuration["s3.secret-key"], "hunter2");
        assert_eq!(r.flink_configuration["both"], "hunter2/t0k3n");
        assert_eq!(r.flink_configuration["literal"], "${S3_KEY}");
        assert_eq!(r.flink_configuration["plain"], "x");
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("t0k3n"),
            "{shown}"
        );

        // another namespace has no such secrets
        let e = resolve_job(&store, &cipher, "other", &job)
            .await
            .unwrap_err();
        assert!(
            matches!(e, ResolveError::Missing { ref name, .. } if name == "REPO_TOKEN"),
            "{e}"
        );
        assert!(e.to_string().contains("spec.artifact.jarUri"), "{e}");
        assert!(!e.is_retryable());

        // a missing one names its field
        let e = resolve_job(
            &store,
            &cipher,
            "default",
            &spec("file:///a.jar", &[("x.password", "${NOPE}")]),
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string().contains("spec.flinkConfiguration.x.password")
                && e.to_string().contains("'NOPE'"),
            "{e}"
        );

        // another key: a clear error, never garbage
        let wrong = SecretCipher::new(&crate::SecretKey::generate().unwrap());
        let e = resolve_job(&store, &wrong, "default", &job)
            .await
            .unwrap_err();
        assert!(
            matches!(e, ResolveError::Cipher(CipherError::CannotOpen { .. })),
            "{e}"
        );
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn the_pure_resolution_reports_malformed_and_lookup_failures() {
        let conf: StringMap = [("a".to_string(), "${oops".to_string())].into();
        let e = resolve_with("ns", &conf, "file:///a.jar", |_| Ok(None)).unwrap_err();
        assert!(
            matches!(e, ResolveError::Malformed { ref field, .. } if field == "spec.flinkConfiguration.a")
        );
        let conf: StringMap = [("a".to_string(), "${X}".to_string())].into();
        let e = resolve_with("ns", &conf, "file:///a.jar", |_| {
            Err(ResolveError::Store(StoreError::Backend("down".into())))
        })
        .unwrap_err();
        assert!(e.is_retryable(), "{e}");
        let none = resolve_with("ns", &StringMap::new(), "file:///a.jar", |_| Ok(None)).unwrap();
        assert_eq!(none.jar_uri, "file:///a.jar");
    }
}
