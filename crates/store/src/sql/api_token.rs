//! API tokens: plain columns (no JSON body: a token is not a resource with a version), the secret only
//! as a salted hash. Tokens go with their namespace through the schema's `ON DELETE CASCADE`.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use stateplane_model::ApiToken;

use super::{backend, not_found, parse_ts, ts, violation, Backend, Stmt};
use crate::{ApiTokenStore, Result, StoreError};

const KIND: &str = "API token";

const COLUMNS: &str = "namespace, name, role, token_id, salt, secret_hash, created_at";

/// The columns of a token row, in [`COLUMNS`]' order.
type Row = (String, String, String, String, String, String, String);

fn select(condition: &str) -> Stmt {
    Stmt::new(format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE {condition}"
    ))
}

#[async_trait]
impl<B: Backend> ApiTokenStore for B {
    async fn api_token_create(&self, t: &ApiToken) -> Result<()> {
        Stmt::new(format!(
            "INSERT INTO api_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&t.namespace)
        .bind(&t.name)
        .bind(t.role.as_str())
        .bind(&t.token_id)
        .bind(&t.salt)
        .bind(&t.secret_hash)
        .bind(ts(&t.created_at))
        .run(self.writer())
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
        let row: Row = select("namespace = $1 AND name = $2")
            .bind(namespace)
            .bind(name)
            .fetch_optional(self.reader())
            .await
            .map_err(|e| backend("api_token_get", e))?
            .ok_or_else(|| not_found(KIND, name))?;
        from_row(row)
    }

    async fn api_token_list(&self, namespace: &str) -> Result<Vec<ApiToken>> {
        let mut q = select("namespace = $1");
        q.push(" ORDER BY name");
        let rows: Vec<Row> = q
            .bind(namespace)
            .fetch_all(self.reader())
            .await
            .map_err(|e| backend("api_token_list", e))?;
        rows.into_iter().map(from_row).collect()
    }

    async fn api_token_delete(&self, namespace: &str, name: &str) -> Result<()> {
        let deleted =
            Stmt::new("DELETE FROM api_tokens WHERE namespace = $1 AND name = $2 RETURNING name")
                .bind(namespace)
                .bind(name)
                .run(self.writer())
                .await
                .map_err(|e| backend("api_token_delete", e))?;
        if deleted == 0 {
            return Err(not_found(KIND, name));
        }
        Ok(())
    }

    async fn api_token_find(&self, token_id: &str) -> Result<Option<ApiToken>> {
        let row: Option<Row> = select("token_id = $1")
            .bind(token_id)
            .fetch_optional(self.reader())
            .await
            .map_err(|e| backend("api_token_find", e))?;
        row.map(from_row).transpose()
    }
}

/// A row as a token; a row that does not parse is corruption, reported, never a panic.
fn from_row(
    (namespace, name, role, token_id, salt, secret_hash, created_at): Row,
) -> Result<ApiToken> {
    Ok(ApiToken {
        role: role.parse().map_err(|e: String| {
            backend("parse stored API token", format!("corrupt {KIND} row: {e}"))
        })?,
        created_at: parse_ts(&created_at)?,
        namespace,
        name,
        token_id,
        salt,
        secret_hash,
    })
}
