//! API tokens: plain columns (no JSON body: a token is not a resource with a version), the secret only
//! as a salted hash. Tokens go with their namespace through the schema's `ON DELETE CASCADE`.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use stateplane_model::ApiToken;

use super::{backend, not_found, ts, violation, SqliteStore};
use crate::{ApiTokenStore, Result, StoreError};

const KIND: &str = "API token";
const COLUMNS: &str = "namespace, name, role, token_id, salt, secret_hash, created_at";

type Row = (String, String, String, String, String, String, String);

#[async_trait]
impl ApiTokenStore for SqliteStore {
    async fn api_token_create(&self, t: &ApiToken) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO api_tokens ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&t.namespace)
        .bind(&t.name)
        .bind(t.role.as_str())
        .bind(&t.token_id)
        .bind(&t.salt)
        .bind(&t.secret_hash)
        .bind(ts(&t.created_at))
        .execute(&self.writer)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                kind: KIND,
                name: t.name.clone(),
            },
            Some(_) => not_found("namespace", &t.namespace),
            None => backend("api_token_create", e),
        })?;
        Ok(())
    }

    async fn api_token_get(&self, namespace: &str, name: &str) -> Result<ApiToken> {
        let row = sqlx::query_as::<_, Row>(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE namespace = ? AND name = ?"
        ))
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| backend("api_token_get", e))?
        .ok_or_else(|| not_found(KIND, name))?;
        from_row(row)
    }

    async fn api_token_list(&self, namespace: &str) -> Result<Vec<ApiToken>> {
        sqlx::query_as::<_, Row>(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE namespace = ? ORDER BY name"
        ))
        .bind(namespace)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| backend("api_token_list", e))?
        .into_iter()
        .map(from_row)
        .collect()
    }

    async fn api_token_delete(&self, namespace: &str, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE namespace = ? AND name = ?")
            .bind(namespace)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(|e| backend("api_token_delete", e))?;
        if done.rows_affected() == 0 {
            return Err(not_found(KIND, name));
        }
        Ok(())
    }

    async fn api_token_find(&self, token_id: &str) -> Result<Option<ApiToken>> {
        sqlx::query_as::<_, Row>(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE token_id = ?"
        ))
        .bind(token_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| backend("api_token_find", e))?
        .map(from_row)
        .transpose()
    }
}

/// A row as a token; a row that does not parse is corruption, reported, never a panic.
fn from_row(
    (namespace, name, role, token_id, salt, secret_hash, created_at): Row,
) -> Result<ApiToken> {
    let corrupt = |what: String| {
        backend(
            "parse stored API token",
            format!("corrupt {KIND} row: {what}"),
        )
    };
    Ok(ApiToken {
        role: role.parse().map_err(corrupt)?,
        created_at: chrono::DateTime::parse_from_rfc3339(&created_at)
            .map_err(|e| corrupt(format!("created_at '{created_at}': {e}")))?
            .to_utc(),
        namespace,
        name,
        token_id,
        salt,
        secret_hash,
    })
}
