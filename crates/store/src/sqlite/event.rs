//! Events, append-only. `seq` (assigned at insert) is the order they happened and the order they are
//! listed in; a client following a deployment's events asks for those `after` the last one it saw.
//! Events go with their deployment or namespace.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::{QueryBuilder, Sqlite};
use stateplane_model::Event;

use super::{backend, from_bodies, not_found, to_body, ts, violation, SqliteStore};
use crate::{EventFilter, EventStore, ResourceKind, Result, StoreError};

const KIND: &str = "event";

/// The list query for a filter: *newest* first so that `LIMIT` keeps the newest; the caller reverses.
fn list_query<'a>(namespace: &'a str, f: &'a EventFilter) -> QueryBuilder<'a, Sqlite> {
    let mut q = QueryBuilder::new("SELECT body FROM events WHERE namespace = ");
    q.push_bind(namespace);
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
    q
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn event_append(&self, e: &Event) -> Result<()> {
        let m = &e.metadata;
        sqlx::query(
            "INSERT INTO events (id, namespace, deployment_id, job_id, created_at, body) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(m.deployment_id.map(|d| d.to_string()))
        .bind(m.job_id.map(|j| j.to_string()))
        .bind(ts(&m.created_at))
        .bind(to_body(e)?)
        .execute(&self.writer)
        .await
        .map_err(|err| match violation(&err) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists { kind: KIND, name: m.id.to_string() },
            // The deployment key includes the namespace, so a missing deployment explains either.
            Some(_) => match m.deployment_id {
                Some(d) => not_found("deployment", d),
                None => not_found("namespace", &m.namespace),
            },
            None => backend("event_append", err),
        })?;
        self.notify(ResourceKind::Event, &m.namespace, m.id.to_string(), m.deployment_id);
        Ok(())
    }

    async fn event_list(&self, namespace: &str, filter: &EventFilter) -> Result<Vec<Event>> {
        let bodies = list_query(namespace, filter)
            .build_query_scalar::<String>()
            .fetch_all(&self.reader)
            .await
            .map_err(|e| backend("event_list", e))?;
        let mut events: Vec<Event> = from_bodies(KIND, bodies)?;
        events.reverse();
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use stateplane_model::DeploymentId;

    use super::*;
    use crate::sqlite::tests::{plan, temp_store};

    #[tokio::test]
    async fn hot_reads_use_their_index() {
        let (store, _dir) = temp_store().await;
        let f = EventFilter { deployment_id: Some(DeploymentId::new()), limit: Some(50), ..Default::default() };
        let p = plan(&store, list_query("default", &f).sql()).await;
        assert!(p.contains("events_by_deployment") && !p.contains("TEMP B-TREE"), "{p}");
        let f = EventFilter { limit: Some(50), ..Default::default() };
        let p = plan(&store, list_query("default", &f).sql()).await;
        assert!(p.contains("events_by_namespace") && !p.contains("TEMP B-TREE"), "{p}");
    }
}
