//! Events, append-only. `seq` (assigned at insert) is the order they happened and the order they are
//! listed in; a client following a deployment's events asks for those `after` the last one it saw.
//! Events go with their deployment or namespace.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::{QueryBuilder, Sqlite};
use stateplane_model::Event;

use super::{backend, fetch_list, list_query, not_found, to_body, ts, violation, SqliteStore};
use crate::{EventFilter, EventStore, ResourceKind, Result, StoreError};

const KIND: &str = "event";

/// The `WHERE … ORDER BY … LIMIT` of a list. The inner query runs *newest* first so that `LIMIT`
/// keeps the newest; the aggregate puts them back oldest first.
fn push_filter<'a>(q: &mut QueryBuilder<'a, Sqlite>, namespace: &'a str, f: &'a EventFilter) {
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
        self.notify(
            ResourceKind::Event,
            &m.namespace,
            m.id.to_string(),
            m.deployment_id,
        );
        Ok(())
    }

    async fn event_list(&self, namespace: &str, filter: &EventFilter) -> Result<Vec<Event>> {
        let mut q = list_query("events", "seq", "seq");
        push_filter(&mut q, namespace, filter);
        fetch_list(q, &self.reader, KIND, "event_list").await
    }
}

#[cfg(test)]
mod tests {
    use stateplane_model::DeploymentId;

    use super::*;
    use crate::sqlite::tests::{plan, temp_store};

    fn list_sql(f: &EventFilter) -> String {
        let mut q = list_query("events", "seq", "seq");
        push_filter(&mut q, "default", f);
        q.push(") AS page");
        q.into_sql()
    }

    #[tokio::test]
    async fn hot_reads_use_their_index() {
        let (store, _dir) = temp_store().await;
        let f = EventFilter {
            deployment_id: Some(DeploymentId::new()),
            limit: Some(50),
            ..Default::default()
        };
        let p = plan(&store, &list_sql(&f)).await;
        assert!(
            p.contains("events_by_deployment") && !p.contains("TEMP B-TREE FOR ORDER BY"),
            "{p}"
        );
        let f = EventFilter {
            limit: Some(50),
            ..Default::default()
        };
        let p = plan(&store, &list_sql(&f)).await;
        assert!(
            p.contains("events_by_namespace") && !p.contains("TEMP B-TREE FOR ORDER BY"),
            "{p}"
        );
    }
}
