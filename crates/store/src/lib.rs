//! Persistence of stateplane's resources.
//!
//! One trait, [`Store`], composed of one small trait per resource, with two implementations: SQLite
//! ([`SqliteStore`], the embedded default: WAL, `synchronous=FULL`, migrations embedded and run at open)
//! and PostgreSQL ([`PostgresStore`], for several replicas on one database, with [`LeaderLease`]
//! choosing the one that runs the controller). Both keep the same schema: each resource is stored whole
//! as JSON next to the columns the API filters and sorts by. Their statements are written once, in a
//! query layer over both (`sql`), which each backend supplies with its pools, write transactions and
//! change announcements.
//!
//! Guarantees every implementation gives:
//! - Updates are compare-and-swap on `metadata.resourceVersion`: an update succeeds only when the stored
//!   version equals the one in the given resource, and stores it with version + 1 and `modifiedAt` now.
//!   A mismatch is [`StoreError::Conflict`], never a silent overwrite.
//! - A write that returns `Ok` is durable (committed, fsynced for SQLite).
//! - A write that returns `Err` changed nothing.
//! - Every successful write is announced on [`Store::changes`] after it committed, before the call
//!   returns; the controller and long-polls use it to react at once instead of at the next tick. With
//!   PostgreSQL, writes made by other replicas are announced too, moments after they commit. (API
//!   tokens and the jar cache are not resources and are not announced.)
//! - Lists of a namespace that does not exist are empty, not an error.
//!
//! [`conformance`] checks all of this against any implementation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stateplane_model::{
    ApiToken, Deployment, DeploymentDefaults, DeploymentId, DeploymentState, DeploymentTarget,
    Event, Job, JobId, Namespace, Savepoint, SavepointId, SavepointState, SecretValue,
};
use tokio::sync::broadcast;

pub mod conformance;
pub mod postgres;
mod sql;
pub mod sqlite;

pub use postgres::{LeaderLease, PostgresStore};
pub use sqlite::{SqliteSettings, SqliteStore};

/// Errors of the store. Backend details stay in [`StoreError::Backend`] and are logged, never shown to
/// API clients as text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The resource does not exist.
    #[error("{kind} '{id}' not found")]
    NotFound { kind: &'static str, id: String },
    /// A resource with this name already exists in the namespace.
    #[error("{kind} '{name}' already exists")]
    AlreadyExists { kind: &'static str, name: String },
    /// The stored resourceVersion differs from the one the caller read: someone else changed it.
    #[error("{kind} '{id}' was changed concurrently: expected resourceVersion {expected}, stored is {actual}")]
    Conflict {
        kind: &'static str,
        id: String,
        expected: i64,
        actual: i64,
    },
    /// A rule of the store refused the write (e.g. deleting a namespace whose deployments still run).
    #[error("{0}")]
    Refused(String),
    /// The database failed (I/O, corruption, connection). Logged; shown to clients as a generic 503.
    #[error("storage backend error: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The kinds of resources, for change notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Namespace,
    DeploymentDefaults,
    Deployment,
    DeploymentTarget,
    Savepoint,
    Job,
    Event,
    SecretValue,
}

/// Announces one committed write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ResourceKind,
    pub namespace: String,
    /// The resource's id (name for namespaces and targets).
    pub id: String,
    /// The deployment the resource belongs to (the deployment itself for deployments).
    pub deployment_id: Option<DeploymentId>,
}

/// Filters for listing savepoints. Results are newest first (`createdAt` descending, then id).
#[derive(Debug, Clone, Default)]
pub struct SavepointFilter {
    pub deployment_id: Option<DeploymentId>,
    pub job_id: Option<JobId>,
    /// Only savepoints in one of these states (all when empty).
    pub states: Vec<SavepointState>,
    pub limit: Option<u32>,
}

/// Filters for listing jobs. Results are newest first.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub deployment_id: Option<DeploymentId>,
    pub limit: Option<u32>,
}

/// Filters for listing events. Results are oldest first (the order they happened), so that a client
/// following events can ask for those `after` the last one it saw.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub deployment_id: Option<DeploymentId>,
    pub job_id: Option<JobId>,
    /// Only events created strictly after this time.
    pub after: Option<DateTime<Utc>>,
    /// At most this many, the newest ones (still returned oldest first).
    pub limit: Option<u32>,
}

#[async_trait]
pub trait NamespaceStore {
    /// Creates a namespace. [`StoreError::AlreadyExists`] if the name is taken.
    async fn namespace_create(&self, ns: &Namespace) -> Result<()>;
    /// [`StoreError::NotFound`] if it does not exist.
    async fn namespace_get(&self, name: &str) -> Result<Namespace>;
    /// All namespaces, by name.
    async fn namespace_list(&self) -> Result<Vec<Namespace>>;
    /// Deletes the namespace and every resource in it (deployments, defaults, targets, jobs, savepoint
    /// resources, events) in one transaction — never savepoint data on storage. Refused
    /// ([`StoreError::Refused`]) while any deployment in it has desired state other than CANCELLED or
    /// status state RUNNING or TRANSITIONING. Announces each deleted deployment, then the namespace.
    async fn namespace_delete(&self, name: &str) -> Result<()>;
    /// The namespace's deployment defaults ([`DeploymentDefaults::empty`] with version 0 if never set).
    async fn deployment_defaults_get(&self, namespace: &str) -> Result<DeploymentDefaults>;
    /// Replaces the defaults if the stored version equals `d.metadata.resource_version` (0 = never set);
    /// returns the stored document (version + 1).
    async fn deployment_defaults_put(&self, d: &DeploymentDefaults) -> Result<DeploymentDefaults>;
}

#[async_trait]
pub trait DeploymentStore {
    /// Stores a new deployment. [`StoreError::AlreadyExists`] when its name is taken in the namespace,
    /// [`StoreError::NotFound`] when the namespace does not exist.
    async fn deployment_create(&self, d: &Deployment) -> Result<()>;
    async fn deployment_get(&self, namespace: &str, id: DeploymentId) -> Result<Deployment>;
    async fn deployment_get_by_name(&self, namespace: &str, name: &str) -> Result<Deployment>;
    /// Deployments of one namespace (all namespaces when `None`), oldest first.
    async fn deployment_list(&self, namespace: Option<&str>) -> Result<Vec<Deployment>>;
    /// How many deployments (of every namespace) have each observed state (`status.state`), in
    /// [`DeploymentState`]'s order; states no deployment has are left out. Counted in the database, without reading a deployment.
    async fn deployment_count_by_state(&self) -> Result<Vec<(DeploymentState, u64)>>;
    /// How many RUNNING deployments (of every namespace) have the condition of this type (e.g.
    /// `JobFailing`) with status True. Counted in the database: the index on the observed state
    /// narrows the rows to RUNNING ones, whose bodies are matched as text, never parsed.
    async fn deployment_count_with_condition(&self, kind: &str) -> Result<u64>;
    /// Compare-and-swap update (see the crate docs); returns the stored resource.
    async fn deployment_update(&self, d: &Deployment) -> Result<Deployment>;
    /// Deletes the deployment with its jobs, events and savepoint resources (never savepoint data).
    async fn deployment_delete(&self, namespace: &str, id: DeploymentId) -> Result<()>;
}

#[async_trait]
pub trait DeploymentTargetStore {
    /// [`StoreError::AlreadyExists`] when the name is taken in the namespace.
    async fn target_create(&self, t: &DeploymentTarget) -> Result<()>;
    async fn target_get(&self, namespace: &str, name: &str) -> Result<DeploymentTarget>;
    async fn target_list(&self, namespace: &str) -> Result<Vec<DeploymentTarget>>;
    /// Compare-and-swap update. A rename is refused like a delete ([`StoreError::Refused`]) while a
    /// deployment names the target, and is [`StoreError::AlreadyExists`] when the new name is taken.
    async fn target_update(&self, t: &DeploymentTarget) -> Result<DeploymentTarget>;
    /// Refused ([`StoreError::Refused`], naming a deployment) while any deployment of the namespace names
    /// this target in `spec.deploymentTargetName`; checked in the same transaction as the delete.
    async fn target_delete(&self, namespace: &str, name: &str) -> Result<()>;
}

#[async_trait]
pub trait SavepointStore {
    /// Stores a new savepoint resource. [`StoreError::NotFound`] when its deployment does not exist.
    async fn savepoint_create(&self, s: &Savepoint) -> Result<()>;
    /// Stores a new savepoint resource created now, for the savepoints whose order matters (the
    /// controller takes requested ones oldest first): `createdAt` and `modifiedAt` are set inside the
    /// write to the current time, or to just after (1 µs) the newest stored savepoint of the
    /// deployment when that is later, and such creates of one deployment are serialised with each
    /// other, across replicas too. So the order in which a deployment's savepoints created this way
    /// commit is the order of their `createdAt`: a reader never sees one without every older one.
    /// Returns the stored resource; errors as [`SavepointStore::savepoint_create`].
    async fn savepoint_create_ordered(&self, s: &Savepoint) -> Result<Savepoint>;
    async fn savepoint_get(&self, namespace: &str, id: SavepointId) -> Result<Savepoint>;
    /// Savepoints of a namespace matching the filter, newest first.
    async fn savepoint_list(
        &self,
        namespace: &str,
        filter: &SavepointFilter,
    ) -> Result<Vec<Savepoint>>;
    /// Compare-and-swap update.
    async fn savepoint_update(&self, s: &Savepoint) -> Result<Savepoint>;
    async fn savepoint_delete(&self, namespace: &str, id: SavepointId) -> Result<()>;
    /// Savepoints of every namespace whose work is under way (STARTED, PENDING_DELETION, DELETING).
    async fn savepoints_in_flight(&self) -> Result<Vec<Savepoint>>;
    /// How many savepoint resources (any namespace) point to this normalised location
    /// ([`stateplane_model::normalize_location`]).
    async fn savepoint_count_by_location(&self, location_key: &str) -> Result<u64>;
}

/// Snapshot summaries of savepoints (see `migrations/*/0006_snapshot_summaries.sql`).
#[async_trait]
pub trait SnapshotStore {
    /// Stores (or replaces) a savepoint's summary; `NotFound` when the savepoint does not exist.
    async fn snapshot_put(
        &self,
        namespace: &str,
        s: &stateplane_model::snapshot::SavepointSnapshot,
    ) -> Result<()>;
    /// A savepoint's summary; `NotFound` when none is stored.
    async fn snapshot_get(
        &self,
        namespace: &str,
        savepoint: SavepointId,
    ) -> Result<stateplane_model::snapshot::SavepointSnapshot>;
    /// A deployment's summaries, newest savepoint first, at most `limit`.
    async fn snapshot_list(
        &self,
        namespace: &str,
        deployment: DeploymentId,
        limit: u32,
    ) -> Result<Vec<stateplane_model::snapshot::SavepointSnapshot>>;
}

/// The prefixes a namespace's registered snapshots may come from (admin-set; see
/// `migrations/*/0005_namespace_snapshot_prefixes.sql`). Not a versioned resource: set whole, last
/// writer wins; a write is announced as a change of the namespace. They go with their namespace.
#[async_trait]
pub trait SnapshotPrefixStore {
    /// The namespace's prefixes ([`SnapshotPrefixes::none`] when never set); `NotFound` when the
    /// namespace does not exist.
    ///
    /// [`SnapshotPrefixes::none`]: stateplane_model::storage::prefixes::SnapshotPrefixes::none
    async fn snapshot_prefixes_get(
        &self,
        namespace: &str,
    ) -> Result<stateplane_model::storage::prefixes::SnapshotPrefixes>;
    /// Replaces them (with `modifiedAt` now) and returns what was stored; `NotFound` when the
    /// namespace does not exist.
    async fn snapshot_prefixes_put(
        &self,
        p: &stateplane_model::storage::prefixes::SnapshotPrefixes,
    ) -> Result<stateplane_model::storage::prefixes::SnapshotPrefixes>;
}

#[async_trait]
pub trait JobStore {
    /// Stores a new job resource. [`StoreError::NotFound`] when its deployment does not exist.
    async fn job_create(&self, j: &Job) -> Result<()>;
    async fn job_get(&self, namespace: &str, id: JobId) -> Result<Job>;
    /// Jobs of a namespace matching the filter, newest first.
    async fn job_list(&self, namespace: &str, filter: &JobFilter) -> Result<Vec<Job>>;
    /// Compare-and-swap update.
    async fn job_update(&self, j: &Job) -> Result<Job>;
    /// Jobs of every namespace that are not terminal (STARTING, STARTED, TERMINATING).
    async fn jobs_active(&self) -> Result<Vec<Job>>;
}

#[async_trait]
pub trait EventStore {
    /// Appends an event. [`StoreError::NotFound`] when its deployment (or, for an event about no
    /// deployment, its namespace) does not exist.
    async fn event_append(&self, e: &Event) -> Result<()>;
    /// Events of a namespace matching the filter, oldest first.
    async fn event_list(&self, namespace: &str, filter: &EventFilter) -> Result<Vec<Event>>;
}

/// Which Flink jar id a given jar content has on a given cluster, so a jar is uploaded once.
#[async_trait]
pub trait JarCacheStore {
    async fn jar_get(&self, rest_url: &str, sha256: &str) -> Result<Option<String>>;
    async fn jar_put(&self, rest_url: &str, sha256: &str, jar_id: &str) -> Result<()>;
    async fn jar_forget(&self, rest_url: &str, sha256: &str) -> Result<()>;
}

/// API tokens (access control). Only hashes are stored (see [`ApiToken`]). Not a versioned resource:
/// no `resourceVersion`, no change notifications (nothing watches tokens; every request reads the
/// store, so a token created or deleted through one replica counts on every replica at once). A
/// namespace's tokens are deleted with it.
#[async_trait]
pub trait ApiTokenStore {
    /// [`StoreError::AlreadyExists`] when the name is taken in the namespace (or, never in practice,
    /// the random `token_id` anywhere); [`StoreError::NotFound`] when the namespace does not exist.
    async fn api_token_create(&self, t: &ApiToken) -> Result<()>;
    async fn api_token_get(&self, namespace: &str, name: &str) -> Result<ApiToken>;
    /// Tokens of a namespace, by name (empty for a namespace that does not exist).
    async fn api_token_list(&self, namespace: &str) -> Result<Vec<ApiToken>>;
    async fn api_token_delete(&self, namespace: &str, name: &str) -> Result<()>;
    /// The token whose secret carries this `token_id`, of any namespace; `None` when there is none.
    async fn api_token_find(&self, token_id: &str) -> Result<Option<ApiToken>>;
}

/// A secret value as stored: the resource (which never holds the value) and the value sealed by the
/// server's key (opaque text made and read by the `stateplane-secrets` crate; the store never sees
/// the value in clear).
#[derive(Clone, PartialEq)]
pub struct StoredSecretValue {
    pub resource: SecretValue,
    pub sealed: String,
}

impl std::fmt::Debug for StoredSecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSecretValue")
            .field("resource", &self.resource)
            .field("sealed", &format_args!("<{} bytes>", self.sealed.len()))
            .finish()
    }
}

/// Secret values (`${NAME}` in a deployment's Flink configuration and jar URI). Versioned resources
/// like the others (compare-and-swap updates, change notifications), addressed by name; a
/// namespace's secret values are deleted with it.
#[async_trait]
pub trait SecretValueStore {
    /// [`StoreError::AlreadyExists`] when the name is taken in the namespace;
    /// [`StoreError::NotFound`] when the namespace does not exist.
    async fn secret_value_create(&self, s: &StoredSecretValue) -> Result<()>;
    async fn secret_value_get(&self, namespace: &str, name: &str) -> Result<StoredSecretValue>;
    /// The resources of a namespace, by name (never the sealed values; empty for a namespace that
    /// does not exist).
    async fn secret_value_list(&self, namespace: &str) -> Result<Vec<SecretValue>>;
    /// Compare-and-swap update of the resource and its sealed value; returns the stored resource.
    async fn secret_value_update(&self, s: &StoredSecretValue) -> Result<SecretValue>;
    async fn secret_value_delete(&self, namespace: &str, name: &str) -> Result<()>;
    /// The key check: stores `candidate` (a known text sealed by the caller's key) when the store has
    /// none yet, and returns the stored one, so that every server on this store can tell whether its
    /// key is the one the secret values were sealed with. Written once, never replaced.
    async fn secret_key_check(&self, candidate: &str) -> Result<String>;
}

/// The whole store.
pub trait Store:
    NamespaceStore
    + DeploymentStore
    + DeploymentTargetStore
    + SavepointStore
    + SnapshotStore
    + SnapshotPrefixStore
    + JobStore
    + EventStore
    + JarCacheStore
    + ApiTokenStore
    + SecretValueStore
    + Send
    + Sync
    + 'static
{
    /// Subscribes to committed writes. A lagging receiver misses changes (`RecvError::Lagged`) and
    /// should then re-read everything it watches. A store that may itself have missed changes (the
    /// PostgreSQL store, while its listening connection was being replaced) announces again, as
    /// ordinary changes, the resources subscribers watch (see [`postgres::notify`]); a change may
    /// therefore arrive more than once, or for a resource that did not change.
    fn changes(&self) -> broadcast::Receiver<Change>;
}
