//! The conformance suite of [`Store`]: every rule of the trait's documentation, checked against a real
//! backend. Each backend runs all of it with one line in its test file:
//!
//! ```ignore
//! async fn fresh() -> stateplane_store::conformance::Fixture { /* a new, empty store */ }
//! stateplane_store::store_conformance_tests!(fresh().await);
//! ```
//!
//! which generates one `#[tokio::test]` per case (the calling crate needs `tokio` with its test macro).
//! Every case gets a store of its own that holds nothing but the `default` namespace, and panics on the
//! first broken rule. The cases are plain `pub async fn`s, so a backend can also call single ones.
//!
//! Compiled always (not only under `cfg(test)`), so that a backend in another crate can use it.

mod api_token;
mod changes;
mod deployment;
mod event;
mod jar_cache;
mod job;
mod namespace;
mod savepoint;
mod secret_value;
mod snapshot;
mod snapshot_prefixes;
mod target;

use std::any::Any;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use stateplane_model::{
    Deployment, DeploymentSpec, Event, EventName, Job, JobSpec, Namespace, Savepoint,
    SavepointOrigin, SavepointState,
};

use crate::Store;

pub use api_token::*;
pub use changes::*;
pub use deployment::*;
pub use event::*;
pub use jar_cache::*;
pub use job::*;
pub use namespace::*;
pub use savepoint::*;
pub use secret_value::*;
pub use snapshot::*;
pub use snapshot_prefixes::*;
pub use target::*;

/// A store under test plus whatever must live as long as it (a temporary directory, a database that
/// is dropped afterwards).
pub struct Fixture {
    store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl Fixture {
    pub fn new(store: impl Store, guard: impl Any + Send + Sync) -> Self {
        Self {
            store: Arc::new(store),
            _guard: Box::new(guard),
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

/// Generates one `#[tokio::test]` per conformance case; `$fixture` is an expression (it may `.await`)
/// giving a fresh [`Fixture`] each time it is evaluated.
#[macro_export]
macro_rules! store_conformance_tests {
    ($fixture:expr) => {
        $crate::__store_conformance_cases!($fixture;
            default_namespace_exists,
            namespace_create_get_list_delete,
            namespace_delete_refused_while_deployments_run,
            namespace_delete_removes_everything_in_it,
            deployment_defaults_get_and_put,
            deployment_create_and_get,
            deployment_create_refusals,
            deployment_list_oldest_first,
            deployment_update_is_compare_and_swap,
            deployment_delete_cascades,
            deployment_concurrent_updates_one_wins,
            deployment_count_by_state_follows_every_write,
            deployment_count_with_condition_counts_running_ones_with_it_true,
            target_create_get_list_update_delete,
            target_delete_refused_while_referenced,
            savepoint_create_needs_deployment,
            savepoint_list_newest_first_with_filters,
            savepoint_count_by_location_normalises,
            savepoints_in_flight_across_namespaces,
            savepoint_update_and_delete,
            savepoint_create_ordered_comes_after_the_newest,
            snapshot_summaries_put_get_list_and_go_with_their_savepoint,
            snapshot_prefixes_get_put_and_go_with_their_namespace,
            job_create_get_list_update,
            jobs_active_across_namespaces,
            event_append_and_list_with_filters,
            jar_cache_get_put_forget,
            api_token_create_get_list_delete,
            api_token_refusals,
            api_token_find_by_token_id,
            api_tokens_go_with_their_namespace,
            secret_value_create_get_list_update_delete,
            secret_value_refusals,
            secret_values_go_with_their_namespace,
            secret_key_check_is_written_once,
            changes_announce_committed_writes,
            failed_writes_announce_nothing,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($fixture:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture: $crate::conformance::Fixture = $fixture;
                $crate::conformance::$case(fixture.store()).await;
            }
        )+
    };
}

/// Asserts that a result is an error matching a pattern.
macro_rules! assert_err {
    ($result:expr, $pattern:pat $(if $guard:expr)?) => {
        match $result {
            Err(e) => assert!(
                matches!(e, $pattern $(if $guard)?),
                "expected {}, got {e:?}",
                stringify!($pattern)
            ),
            Ok(v) => panic!("expected {}, got Ok({v:?})", stringify!($pattern)),
        }
    };
}
use assert_err;

/// A fixed point in time plus `secs` seconds: cases set creation times explicitly so that orders never
/// depend on the clock's resolution.
fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000 + secs, 0).unwrap_or_default()
}

fn spec() -> DeploymentSpec {
    serde_json::from_value(serde_json::json!({
        "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///opt/jobs/job.jar"}}}
    }))
    .expect("a valid minimal spec")
}

async fn namespace(store: &dyn Store, name: &str) {
    store.namespace_create(&Namespace::new(name)).await.unwrap();
}

/// Creates a deployment (desired and observed CANCELLED) created at `at(secs)`.
async fn deployment(store: &dyn Store, ns: &str, name: &str, secs: i64) -> Deployment {
    let mut d = Deployment::new(ns, name, spec());
    d.metadata.created_at = at(secs);
    d.metadata.modified_at = at(secs);
    store.deployment_create(&d).await.unwrap();
    d
}

/// A savepoint of `d` (not stored yet) created at `at(secs)`.
fn savepoint(
    d: &Deployment,
    secs: i64,
    state: SavepointState,
    location: Option<&str>,
) -> Savepoint {
    let mut s = Savepoint::new(
        &d.metadata.namespace,
        d.metadata.id,
        SavepointOrigin::UserRequest,
        state,
        location.map(str::to_string),
    );
    s.metadata.created_at = at(secs);
    s.metadata.modified_at = at(secs);
    s
}

/// A job of `d` (not stored yet) created at `at(secs)`.
fn job(d: &Deployment, secs: i64) -> Job {
    let spec = JobSpec {
        artifact: d.spec.template.spec.artifact.clone(),
        flink_configuration: Default::default(),
        parallelism: None,
        savepoint_location: None,
        savepoint_id: None,
        allow_non_restored_state: false,
        deployment_target_name: None,
    };
    let mut j = Job::new(&d.metadata.namespace, d.metadata.id, &d.metadata.name, spec);
    j.metadata.created_at = at(secs);
    j.metadata.modified_at = at(secs);
    j
}

/// An event about `d` (not stored yet) created at `at(secs)`.
fn event(d: &Deployment, secs: i64, message: &str) -> Event {
    let mut e = Event::new(
        &d.metadata.namespace,
        d.metadata.id,
        EventName::GeneralFailure,
        message,
    );
    e.metadata.created_at = at(secs);
    e
}
