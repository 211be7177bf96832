//! API tokens: plain columns (no JSON body: a token is not a resource with a version), the secret only
//! as a salted hash. Tokens go with their namespace through the schema's `ON DELETE CASCADE`.
//!
//! The statements are the same in both dialects; [`api_token_store!`] implements
//! [`crate::ApiTokenStore`] with them for a store type, given its read and write pools.

use stateplane_model::ApiToken;

use super::backend;
use crate::Result;

pub(crate) const KIND: &str = "API token";

pub(crate) const INSERT: &str = "INSERT INTO api_tokens \
    (namespace, name, role, token_id, salt, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const GET: &str =
    "SELECT namespace, name, role, token_id, salt, secret_hash, created_at \
    FROM api_tokens WHERE namespace = $1 AND name = $2";
pub(crate) const LIST: &str =
    "SELECT namespace, name, role, token_id, salt, secret_hash, created_at \
    FROM api_tokens WHERE namespace = $1 ORDER BY name";
pub(crate) const DELETE: &str = "DELETE FROM api_tokens WHERE namespace = $1 AND name = $2";
pub(crate) const FIND: &str =
    "SELECT namespace, name, role, token_id, salt, secret_hash, created_at \
    FROM api_tokens WHERE token_id = $1";

/// The columns of a token row, in [`GET`]'s order.
pub(crate) type Row = (String, String, String, String, String, String, String);

/// Implements [`crate::ApiTokenStore`] for `$store`, reading through the pool in field `$reader` and
/// writing through the one in `$writer`.
macro_rules! api_token_store {
    ($store:ty, reader: $reader:ident, writer: $writer:ident) => {
        #[async_trait::async_trait]
        impl $crate::ApiTokenStore for $store {
            async fn api_token_create(&self, t: &stateplane_model::ApiToken) -> $crate::Result<()> {
                use $crate::sql::{api_token::*, backend, not_found, ts, violation};
                sqlx::query(INSERT)
                    .bind(&t.namespace)
                    .bind(&t.name)
                    .bind(t.role.as_str())
                    .bind(&t.token_id)
                    .bind(&t.salt)
                    .bind(&t.secret_hash)
                    .bind(ts(&t.created_at))
                    .execute(&self.$writer)
                    .await
                    .map_err(|e| match violation(&e) {
                        Some(sqlx::error::ErrorKind::UniqueViolation) => {
                            $crate::StoreError::AlreadyExists {
                                kind: KIND,
                                name: t.name.clone(),
                            }
                        }
                        Some(_) => not_found("namespace", &t.namespace),
                        None => backend("api_token_create", e),
                    })?;
                Ok(())
            }

            async fn api_token_get(
                &self,
                namespace: &str,
                name: &str,
            ) -> $crate::Result<stateplane_model::ApiToken> {
                use $crate::sql::{api_token::*, backend, not_found};
                let row = sqlx::query_as::<_, Row>(GET)
                    .bind(namespace)
                    .bind(name)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err(|e| backend("api_token_get", e))?
                    .ok_or_else(|| not_found(KIND, name))?;
                from_row(row)
            }

            async fn api_token_list(
                &self,
                namespace: &str,
            ) -> $crate::Result<Vec<stateplane_model::ApiToken>> {
                use $crate::sql::{api_token::*, backend};
                sqlx::query_as::<_, Row>(LIST)
                    .bind(namespace)
                    .fetch_all(&self.$reader)
                    .await
                    .map_err(|e| backend("api_token_list", e))?
                    .into_iter()
                    .map(from_row)
                    .collect()
            }

            async fn api_token_delete(&self, namespace: &str, name: &str) -> $crate::Result<()> {
                use $crate::sql::{api_token::*, backend, not_found};
                let done = sqlx::query(DELETE)
                    .bind(namespace)
                    .bind(name)
                    .execute(&self.$writer)
                    .await
                    .map_err(|e| backend("api_token_delete", e))?;
                if done.rows_affected() == 0 {
                    return Err(not_found(KIND, name));
                }
                Ok(())
            }

            async fn api_token_find(
                &self,
                token_id: &str,
            ) -> $crate::Result<Option<stateplane_model::ApiToken>> {
                use $crate::sql::{api_token::*, backend};
                sqlx::query_as::<_, Row>(FIND)
                    .bind(token_id)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err(|e| backend("api_token_find", e))?
                    .map(from_row)
                    .transpose()
            }
        }
    };
}
pub(crate) use api_token_store;

/// A row as a token; a row that does not parse is corruption, reported, never a panic.
pub(crate) fn from_row(
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
