//! Secret values: the resource (name, labels, versions; never the value) as the JSON body, and the
//! value in `sealed`, encrypted by the server's key before it reaches the store (the store never sees
//! the value in clear, so neither does the database file, its WAL nor a backup). A namespace's secret
//! values go with it through the schema's `ON DELETE CASCADE`, like its API tokens.
//!
//! The key check (`secret_key_check`) is one row sealed by the key the first server started with, so
//! that a server started later with another key can tell at once, before it serves anything.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use stateplane_model::SecretValue;

use super::{
    backend, cas_failure, change, fetch_list, from_body, list_query, not_found, to_body, ts,
    violation, write_one, Backend, Stmt,
};
use crate::{ResourceKind, Result, SecretValueStore, StoreError, StoredSecretValue};

const KIND: &str = "secret value";

fn changed(s: &SecretValue) -> crate::Change {
    change(
        ResourceKind::SecretValue,
        &s.metadata.namespace,
        s.metadata.name.clone(),
        None,
    )
}

#[async_trait]
impl<B: Backend> SecretValueStore for B {
    async fn secret_value_create(&self, s: &StoredSecretValue) -> Result<()> {
        let m = &s.resource.metadata;
        let insert = Stmt::new(
            "INSERT INTO secret_values (id, namespace, name, created_at, resource_version, body, sealed)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(&m.name)
        .bind(ts(&m.created_at))
        .bind(m.resource_version)
        .bind(to_body(&s.resource)?)
        .bind(&s.sealed);
        write_one(self, insert, changed(&s.resource))
            .await
            .map_err(|e| match violation(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                    kind: KIND,
                    name: m.name.clone(),
                },
                Some(_) => not_found("namespace", &m.namespace),
                None => backend("secret_value_create", e),
            })?;
        Ok(())
    }

    async fn secret_value_get(&self, namespace: &str, name: &str) -> Result<StoredSecretValue> {
        let row: (String, String) =
            Stmt::new("SELECT body, sealed FROM secret_values WHERE namespace = $1 AND name = $2")
                .bind(namespace)
                .bind(name)
                .fetch_optional(self.reader())
                .await
                .map_err(|e| backend("secret_value_get", e))?
                .ok_or_else(|| not_found(KIND, name))?;
        Ok(StoredSecretValue {
            resource: from_body(KIND, &row.0)?,
            sealed: row.1,
        })
    }

    async fn secret_value_list(&self, namespace: &str) -> Result<Vec<SecretValue>> {
        let mut q = list_query("secret_values", "name", "name");
        q.push(" WHERE namespace = ").push_bind(namespace);
        fetch_list(self, q, KIND, "secret_value_list").await
    }

    async fn secret_value_update(&self, s: &StoredSecretValue) -> Result<SecretValue> {
        let expected = s.resource.metadata.resource_version;
        let mut stored = s.resource.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        let update = Stmt::new(
            "UPDATE secret_values SET resource_version = resource_version + 1, body = $1, sealed = $2
             WHERE namespace = $3 AND id = $4 AND name = $5 AND resource_version = $6",
        )
        .bind(to_body(&stored)?)
        .bind(&s.sealed)
        .bind(&m.namespace)
        .bind(m.id.to_string())
        .bind(&m.name)
        .bind(expected);
        let written = write_one(self, update, changed(&stored))
            .await
            .map_err(|e| backend("secret_value_update", e))?;
        if !written {
            let id = m.id.to_string();
            return Err(
                match cas_failure(self, "secret_values", KIND, &m.namespace, id, expected).await {
                    // the id is an internal detail: name the secret
                    StoreError::Conflict {
                        kind,
                        expected,
                        actual,
                        ..
                    } => StoreError::Conflict {
                        kind,
                        id: m.name.clone(),
                        expected,
                        actual,
                    },
                    StoreError::NotFound { kind, .. } => StoreError::NotFound {
                        kind,
                        id: m.name.clone(),
                    },
                    e => e,
                },
            );
        }
        Ok(stored)
    }

    async fn secret_value_delete(&self, namespace: &str, name: &str) -> Result<()> {
        let delete = Stmt::new("DELETE FROM secret_values WHERE namespace = $1 AND name = $2")
            .bind(namespace)
            .bind(name);
        let change = change(ResourceKind::SecretValue, namespace, name.to_string(), None);
        let written = write_one(self, delete, change)
            .await
            .map_err(|e| backend("secret_value_delete", e))?;
        if !written {
            return Err(not_found(KIND, name));
        }
        Ok(())
    }

    async fn secret_key_check(&self, candidate: &str) -> Result<String> {
        const OP: &str = "secret_key_check";
        Stmt::new(
            "INSERT INTO secret_key_check (id, sealed, created_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(candidate)
        .bind(ts(&stateplane_model::now()))
        .run(self.writer())
        .await
        .map_err(|e| backend(OP, e))?;
        Stmt::new("SELECT sealed FROM secret_key_check WHERE id = 1")
            .fetch_optional(self.writer())
            .await
            .map_err(|e| backend(OP, e))?
            .ok_or_else(|| backend(OP, "the key check row vanished after it was written"))
    }
}
