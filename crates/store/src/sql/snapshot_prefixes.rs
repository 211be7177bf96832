//! A namespace's allowed snapshot prefixes (see `migrations/*/0005_namespace_snapshot_prefixes.sql`).
//! Set whole by the admin (last writer wins: a small setting, not a resource with a version); a write
//! is announced as a change of the namespace, so cached answers about it are dropped.

use async_trait::async_trait;
use stateplane_model::storage::prefixes::SnapshotPrefixes;

use super::{
    backend, change, from_body, not_found, to_body, ts, violation, write_one, Backend, Stmt,
};
use crate::{ResourceKind, Result, SnapshotPrefixStore};

const KIND: &str = "namespace";

#[async_trait]
impl<B: Backend> SnapshotPrefixStore for B {
    async fn snapshot_prefixes_get(&self, namespace: &str) -> Result<SnapshotPrefixes> {
        const OP: &str = "snapshot_prefixes_get";
        let body: Option<String> = Stmt::new(
            "SELECT p.body FROM namespaces n LEFT JOIN namespace_snapshot_prefixes p
               ON p.namespace = n.name
             WHERE n.name = $1",
        )
        .bind(namespace)
        .fetch_optional(self.reader())
        .await
        .map_err(|e| backend(OP, e))?
        .ok_or_else(|| not_found(KIND, namespace))?;
        match body {
            Some(b) => from_body(KIND, &b),
            None => Ok(SnapshotPrefixes::none(namespace)),
        }
    }

    async fn snapshot_prefixes_put(&self, p: &SnapshotPrefixes) -> Result<SnapshotPrefixes> {
        const OP: &str = "snapshot_prefixes_put";
        let ns = p.namespace.as_str();
        let mut stored = p.clone();
        let at = stateplane_model::now();
        stored.modified_at = Some(at);
        let write = Stmt::new(
            "INSERT INTO namespace_snapshot_prefixes (namespace, modified_at, body) VALUES ($1, $2, $3)
             ON CONFLICT (namespace) DO UPDATE SET modified_at = excluded.modified_at,
               body = excluded.body",
        )
        .bind(ns)
        .bind(ts(&at))
        .bind(to_body(&stored)?);
        let change = change(ResourceKind::Namespace, ns, ns.to_string(), None);
        write_one(self, write, change)
            .await
            .map_err(|e| match violation(&e) {
                Some(_) => not_found(KIND, ns),
                None => backend(OP, e),
            })?;
        Ok(stored)
    }
}
