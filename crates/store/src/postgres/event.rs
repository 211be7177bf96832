//! Events, append-only. `seq` (assigned at insert) is the order they happened and the order they are
//! listed in; a client following a deployment's events asks for those `after` the last one it saw.
//! Events go with their deployment or namespace.
//!
//! The insert selects from its namespace row locked `FOR KEY SHARE` before the foreign keys lock the
//! deployment row, so locks are taken namespace first like everywhere else (a namespace delete holds
//! the namespace, then the deployments).

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::{Postgres, QueryBuilder};
use stateplane_model::Event;

use super::{
    announced, backend, fetch_list, list_query, not_found, to_body, ts, violation, PostgresStore,
};
use crate::{EventFilter, EventStore, ResourceKind, Result, StoreError};

const KIND: &str = "event";

/// The `WHERE … ORDER BY … LIMIT` of a list. The inner query runs *newest* first so that `LIMIT`
/// keeps the newest; the aggregate puts them back oldest first.
fn push_filter<'a>(q: &mut QueryBuilder<'a, Postgres>, namespace: &'a str, f: &'a EventFilter) {
    q.push(" WHERE namespace = ").push_bind(namespace);
    if let Some(d) = f.deployment_id {
        q.push(" AND deployment_id = ").push_bind(d.to_string());
    }
    if let Some(j) = f.job_id {
        q.push(" AND job_id = ").push_bind(j.to_string());
    }
    if let Some(after) = &f.after {
        q.push(" AND created_at > ").push_bind(ts(after));
    }
    q.push(" ORDER BY seq DESC");
    if let Some(l) = f.limit {
        q.push(" LIMIT ").push_bind(i64::from(l));
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn event_append(&self, e: &Event) -> Result<()> {
        let m = &e.metadata;
        let change = self.change(
            ResourceKind::Event,
            &m.namespace,
            m.id.to_string(),
            m.deployment_id,
        );
        let missing = || match m.deployment_id {
            // The deployment key includes the namespace, so a missing deployment explains either.
            Some(d) => not_found("deployment", d),
            None => not_found("namespace", &m.namespace),
        };
        let written = sqlx::query(&announced(
            "INSERT INTO events (id, namespace, deployment_id, job_id, created_at, body)
             SELECT $1, name, $3, $4, $5, $6 FROM namespaces WHERE name = $2 FOR KEY SHARE",
            6,
        ))
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(m.deployment_id.map(|d| d.to_string()))
        .bind(m.job_id.map(|j| j.to_string()))
        .bind(ts(&m.created_at))
        .bind(to_body(e)?)
        .bind(self.payload(&change))
        .fetch_all(&self.pool)
        .await
        .map_err(|err| match violation(&err) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                kind: KIND,
                name: m.id.to_string(),
            },
            Some(_) => missing(),
            None => backend("event_append", err),
        })?;
        if written.is_empty() {
            return Err(missing());
        }
        self.announce(change);
        Ok(())
    }

    async fn event_list(&self, namespace: &str, filter: &EventFilter) -> Result<Vec<Event>> {
        let mut q = list_query("events", "seq", "seq");
        push_filter(&mut q, namespace, filter);
        fetch_list(q, &self.pool, KIND, "event_list").await
    }
}
