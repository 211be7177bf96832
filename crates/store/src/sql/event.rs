//! Events, append-only. `seq` (assigned at insert) is the order they happened and the order they are
//! listed in; a client following a deployment's events asks for those `after` the last one it saw.
//! Events go with their deployment or namespace.
//!
//! The insert selects from its namespace row (locked `FOR KEY SHARE` on PostgreSQL) before the
//! foreign keys lock the deployment row, so locks are taken namespace first like everywhere else (a
//! namespace delete holds the namespace, then the deployments); a missing namespace inserts nothing.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use stateplane_model::Event;

use super::{
    backend, change, fetch_list, list_query, not_found, to_body, ts, violation, write_one, Backend,
    Stmt,
};
use crate::{EventFilter, EventStore, ResourceKind, Result, StoreError};

const KIND: &str = "event";

/// A list. The inner query runs *newest* first so that `LIMIT` keeps the newest; the aggregate puts
/// them back oldest first.
pub(crate) fn list(namespace: &str, f: &EventFilter) -> Stmt {
    let mut q = list_query("events", "seq", "seq");
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
    q
}

#[async_trait]
impl<B: Backend> EventStore for B {
    async fn event_append(&self, e: &Event) -> Result<()> {
        let m = &e.metadata;
        let missing = || match m.deployment_id {
            // The deployment key includes the namespace, so a missing deployment explains either.
            Some(d) => not_found("deployment", d),
            None => not_found("namespace", &m.namespace),
        };
        let insert = Stmt::new(format!(
            "INSERT INTO events (id, namespace, deployment_id, job_id, created_at, body)
             SELECT $1, name, $3, $4, $5, $6 FROM namespaces WHERE name = $2{}",
            B::FOR_KEY_SHARE
        ))
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(m.deployment_id.map(|d| d.to_string()))
        .bind(m.job_id.map(|j| j.to_string()))
        .bind(ts(&m.created_at))
        .bind(to_body(e)?);
        let change = change(
            ResourceKind::Event,
            &m.namespace,
            m.id.to_string(),
            m.deployment_id,
        );
        let written =
            write_one(self, insert, change)
                .await
                .map_err(|err| match violation(&err) {
                    Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                        kind: KIND,
                        name: m.id.to_string(),
                    },
                    Some(_) => missing(),
                    None => backend("event_append", err),
                })?;
        if !written {
            return Err(missing());
        }
        Ok(())
    }

    async fn event_list(&self, namespace: &str, filter: &EventFilter) -> Result<Vec<Event>> {
        fetch_list(self, list(namespace, filter), KIND, "event_list").await
    }
}
