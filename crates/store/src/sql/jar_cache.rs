//! Which Flink jar id a jar's content has on a cluster, so each jar is uploaded to a cluster once. Not a
//! resource: no version, no change notifications; a stale entry is forgotten when Flink no longer knows
//! the jar id.

use async_trait::async_trait;

use super::{backend, Backend, Stmt};
use crate::{JarCacheStore, Result};

#[async_trait]
impl<B: Backend> JarCacheStore for B {
    async fn jar_get(&self, rest_url: &str, sha256: &str) -> Result<Option<String>> {
        Stmt::new("SELECT jar_id FROM jar_cache WHERE rest_url = $1 AND sha256 = $2")
            .bind(rest_url)
            .bind(sha256)
            .fetch_optional(self.reader())
            .await
            .map_err(|e| backend("jar_get", e))
    }

    async fn jar_put(&self, rest_url: &str, sha256: &str, jar_id: &str) -> Result<()> {
        Stmt::new(
            "INSERT INTO jar_cache (rest_url, sha256, jar_id) VALUES ($1, $2, $3)
             ON CONFLICT (rest_url, sha256) DO UPDATE SET jar_id = excluded.jar_id",
        )
        .bind(rest_url)
        .bind(sha256)
        .bind(jar_id)
        .run(self.writer())
        .await
        .map_err(|e| backend("jar_put", e))?;
        Ok(())
    }

    async fn jar_forget(&self, rest_url: &str, sha256: &str) -> Result<()> {
        Stmt::new("DELETE FROM jar_cache WHERE rest_url = $1 AND sha256 = $2")
            .bind(rest_url)
            .bind(sha256)
            .run(self.writer())
            .await
            .map_err(|e| backend("jar_forget", e))?;
        Ok(())
    }
}
