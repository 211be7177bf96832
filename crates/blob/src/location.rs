//! One snapshot location (a "directory" on some storage), parsed from one URI, and what can be done
//! with it: check it exists, read its `_metadata` header, dispose of it.
//!
//! Object stores (s3, gs, az) go through `object_store`, configured from the standard environment
//! variables of each cloud (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, …; `GOOGLE_SERVICE_ACCOUNT`, …; `AZURE_STORAGE_ACCOUNT_NAME`,
//! `AZURE_STORAGE_ACCOUNT_KEY`, …). Local paths (`file:`) use the file system directly: deleting a
//! local directory must also remove the directories themselves (object stores have none), and must
//! never follow a symbolic link out of the snapshot, which `remove_dir_all` guarantees and a walk
//! through `object_store`'s local store (it follows links) would not.
//!
//! Disposal is careful in one way that matters after a crash: it refuses to delete a directory that
//! does not hold `_metadata`, and deletes `_metadata` last. A disposal interrupted half-way therefore
//! still finds `_metadata` when it is retried, while a wrong location (a parent directory, someone
//! else's data) is never deleted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};

mod local;
mod walk;

pub use walk::{FoundSnapshot, Snapshots};

use local::delete_local_snapshot;

use crate::header::{parse_header, SnapshotHeader, HEADER_LEN};
use crate::BlobError;

/// The file every Flink snapshot directory holds.
pub const METADATA_FILE: &str = "_metadata";

/// Per-request limits for object stores: a control plane must answer, not wait minutes for a storage
/// that is down.
const CONNECT_TIMEOUT: &str = "5s";
const REQUEST_TIMEOUT: &str = "30s";
const MAX_RETRIES: usize = 2;
const RETRY_TIMEOUT: Duration = Duration::from_secs(15);

/// A location on blob storage: the URI as given, and how to reach it.
#[derive(Clone)]
pub struct BlobLocation {
    uri: String,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Local(PathBuf),
    Store {
        store: Arc<dyn ObjectStore>,
        prefix: ObjPath,
    },
}

impl std::fmt::Debug for BlobLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BlobLocation").field(&self.uri).finish()
    }
}

impl std::fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uri)
    }
}

/// What a disposal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposal {
    /// The snapshot's files (this many) were deleted.
    Removed { files: u64 },
    /// Nothing was there any more (a previous attempt finished, or someone removed it).
    AlreadyGone,
}

fn scheme_of(uri: &str) -> Option<&str> {
    let (s, _) = uri.split_once(':')?;
    let ok = !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    ok.then_some(s)
}

impl BlobLocation {
    /// Parses a location URI: `file:///dir` (or `/dir`), `s3://bucket/dir` (also `s3a://`, `s3p://`,
    /// as Flink's S3 file systems spell it), `gs://bucket/dir`, `az://container/dir` (also
    /// `abfs[s]://container@account.dfs.core.windows.net/dir`). Credentials come from the environment;
    /// nothing is contacted here.
    pub fn parse(uri: &str) -> Result<Self, BlobError> {
        let uri = uri.trim();
        let invalid = |reason: &str| BlobError::InvalidUri {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        let scheme = match scheme_of(uri) {
            Some(s) => s.to_ascii_lowercase(),
            None if uri.starts_with('/') => "file".into(),
            None => return Err(invalid("it is neither an absolute path nor a URI")),
        };
        if scheme == "file" {
            let path =
                stateplane_model::local_path(uri).ok_or_else(|| invalid("not a local path"))?;
            if path
                .components()
                .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(invalid("'..' is not allowed in a snapshot location"));
            }
            return Ok(Self {
                uri: stateplane_model::normalize_location(uri),
                backend: Backend::Local(path),
            });
        }
        let url = url::Url::parse(uri).map_err(|e| invalid(&e.to_string()))?;
        let bucket = url.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(invalid("the bucket (or container) is missing"));
        }
        let prefix = ObjPath::from_url_path(url.path()).map_err(|e| invalid(&e.to_string()))?;
        let store: Arc<dyn ObjectStore> = match scheme.as_str() {
            "s3" | "s3a" | "s3p" => Arc::new(s3(&bucket).map_err(|e| configure_error(uri, e))?),
            "gs" => Arc::new(gcs(&bucket).map_err(|e| configure_error(uri, e))?),
            "az" | "azure" | "abfs" | "abfss" => {
                Arc::new(azure(uri).map_err(|e| configure_error(uri, e))?)
            }
            _ => return Err(BlobError::UnsupportedScheme { scheme }),
        };
        Ok(Self {
            uri: uri.trim_end_matches('/').to_string(),
            backend: Backend::Store { store, prefix },
        })
    }

    /// A location on a store built elsewhere (tests use `object_store::memory::InMemory`).
    pub fn on_store(uri: &str, store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            uri: uri.trim_end_matches('/').to_string(),
            backend: Backend::Store {
                store,
                prefix: ObjPath::from(prefix),
            },
        }
    }

    /// The URI (local ones normalised to `file:///…`).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The last path segment (a savepoint id, `savepoint-…`, `chk-N`).
    pub fn name(&self) -> Option<String> {
        match &self.backend {
            Backend::Local(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
            Backend::Store { prefix, .. } => prefix.filename().map(str::to_string),
        }
    }

    /// A location inside this one.
    pub fn child(&self, name: &str) -> Self {
        let backend = match &self.backend {
            Backend::Local(p) => Backend::Local(p.join(name)),
            Backend::Store { store, prefix } => Backend::Store {
                store: store.clone(),
                prefix: prefix.clone().join(name),
            },
        };
        Self {
            uri: format!("{}/{name}", self.uri.trim_end_matches('/')),
            backend,
        }
    }

    /// The enclosing location; None at the root of a file system or bucket.
    pub fn parent(&self) -> Option<Self> {
        let (uri, _) = self.uri.trim_end_matches('/').rsplit_once('/')?;
        let backend = match &self.backend {
            Backend::Local(p) => Backend::Local(p.parent()?.to_path_buf()),
            Backend::Store { store, prefix } => {
                let parts: Vec<_> = prefix.parts().collect();
                if parts.is_empty() {
                    return None;
                }
                Backend::Store {
                    store: store.clone(),
                    prefix: ObjPath::from_iter(parts[..parts.len() - 1].iter().cloned()),
                }
            }
        };
        Some(Self {
            uri: uri.to_string(),
            backend,
        })
    }

    fn is_root(&self) -> bool {
        match &self.backend {
            Backend::Local(p) => p.parent().is_none(),
            Backend::Store { prefix, .. } => prefix.parts().next().is_none(),
        }
    }

    /// Whether anything (a file, a directory, an object under it) exists at the location.
    pub async fn exists(&self) -> Result<bool, BlobError> {
        match &self.backend {
            Backend::Local(p) => match tokio::fs::symlink_metadata(p).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(BlobError::from_io(&self.uri, &e)),
            },
            Backend::Store { store, prefix } => {
                let mut list = store.list(Some(prefix));
                match list.next().await {
                    Some(Ok(_)) => Ok(true),
                    None => Ok(false),
                    Some(Err(object_store::Error::NotFound { .. })) => Ok(false),
                    Some(Err(e)) => Err(BlobError::from_store(&self.uri, e)),
                }
            }
        }
    }

    /// Whether an object store holds an object at exactly this location (a "file", where a snapshot
    /// directory was expected). Always false on a file system, which says "not a directory" itself.
    async fn is_object(&self) -> Result<bool, BlobError> {
        match &self.backend {
            Backend::Local(_) => Ok(false),
            Backend::Store { store, prefix } => match store.head(prefix).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(BlobError::from_store(&self.uri, e)),
            },
        }
    }

    /// When the file at this location was last written (an object's last-modified time).
    /// [`BlobError::NotFound`] when there is none.
    pub async fn modified(&self) -> Result<std::time::SystemTime, BlobError> {
        match &self.backend {
            Backend::Local(p) => (tokio::fs::metadata(p).await)
                .and_then(|m| m.modified())
                .map_err(|e| BlobError::from_io(&self.uri, &e)),
            Backend::Store { store, prefix } => (store.head(prefix).await)
                .map(|m| m.last_modified.into())
                .map_err(|e| BlobError::from_store(&self.uri, e)),
        }
    }

    /// Reads and checks the header of the location's `_metadata`. Flink also accepts the path of the
    /// `_metadata` file itself as a snapshot location, and so does this.
    ///
    /// Errors: [`BlobError::NotFound`] when nothing is there, [`BlobError::NoMetadata`] for a
    /// directory without `_metadata`, [`BlobError::NotASnapshot`] when `_metadata` is not Flink's,
    /// [`BlobError::Unreachable`] when the storage cannot be read.
    pub async fn read_header(&self) -> Result<SnapshotHeader, BlobError> {
        let file = if self.name().as_deref() == Some(METADATA_FILE) {
            self.clone()
        } else {
            self.child(METADATA_FILE)
        };
        let bytes = match file.read_prefix(HEADER_LEN).await {
            Ok(b) => b,
            // `<file>/_metadata`: the location is a file (local file systems say so; object stores
            // have no files "above" objects, so this only comes from `file:`).
            Err(BlobError::NotADirectory { .. }) => {
                return Err(BlobError::NotADirectory {
                    location: self.uri.clone(),
                })
            }
            Err(BlobError::NotFound { .. }) => {
                return Err(if self.exists().await? {
                    BlobError::NoMetadata {
                        location: self.uri.clone(),
                    }
                } else if self.is_object().await? {
                    BlobError::NotADirectory {
                        location: self.uri.clone(),
                    }
                } else {
                    BlobError::NotFound {
                        location: self.uri.clone(),
                    }
                });
            }
            Err(e) => return Err(e),
        };
        parse_header(&bytes).map_err(|reason| BlobError::NotASnapshot {
            location: self.uri.clone(),
            reason: reason.to_string(),
        })
    }

    /// Up to `n` first bytes of the file at this location.
    pub(crate) async fn read_prefix(&self, n: usize) -> Result<Vec<u8>, BlobError> {
        match &self.backend {
            Backend::Local(p) => {
                use tokio::io::AsyncReadExt;
                let meta = tokio::fs::metadata(p)
                    .await
                    .map_err(|e| BlobError::from_io(&self.uri, &e))?;
                if meta.is_dir() {
                    // `…/_metadata/` as a directory: not a snapshot, but not "nothing" either.
                    return Ok(Vec::new());
                }
                let f = tokio::fs::File::open(p)
                    .await
                    .map_err(|e| BlobError::from_io(&self.uri, &e))?;
                let mut buf = Vec::with_capacity(n.min(meta.len().try_into().unwrap_or(n)));
                f.take(n as u64)
                    .read_to_end(&mut buf)
                    .await
                    .map_err(|e| BlobError::from_io(&self.uri, &e))?;
                Ok(buf)
            }
            Backend::Store { store, prefix } => {
                let meta = store
                    .head(prefix)
                    .await
                    .map_err(|e| BlobError::from_store(&self.uri, e))?;
                let len = meta.size.min(n as u64);
                if len == 0 {
                    return Ok(Vec::new());
                }
                let bytes = store
                    .get_range(prefix, 0..len)
                    .await
                    .map_err(|e| BlobError::from_store(&self.uri, e))?;
                Ok(bytes.to_vec())
            }
        }
    }

    /// Deletes the snapshot directory at this location: every file in it, `_metadata` last, and (on a
    /// file system) the directory itself. Refuses a location that holds files but no `_metadata`, or
    /// that is the root of a file system or bucket: whatever that is, it is not a snapshot of ours.
    pub async fn delete_snapshot(&self) -> Result<Disposal, BlobError> {
        if self.is_root() {
            return Err(BlobError::NotASnapshot {
                location: self.uri.clone(),
                reason: "refusing to delete the root of a storage".into(),
            });
        }
        match &self.backend {
            Backend::Local(p) => delete_local_snapshot(&self.uri, p).await,
            Backend::Store { store, prefix } => {
                let objects: Vec<ObjPath> = match store
                    .list(Some(prefix))
                    .map_ok(|m| m.location)
                    .try_collect()
                    .await
                {
                    Ok(o) => o,
                    Err(object_store::Error::NotFound { .. }) => return Ok(Disposal::AlreadyGone),
                    Err(e) => return Err(BlobError::from_store(&self.uri, e)),
                };
                if objects.is_empty() {
                    return Ok(Disposal::AlreadyGone);
                }
                let metadata = prefix.clone().join(METADATA_FILE);
                if !objects.contains(&metadata) {
                    return Err(BlobError::NoMetadata {
                        location: self.uri.clone(),
                    });
                }
                let others: Vec<ObjPath> = objects
                    .iter()
                    .filter(|o| **o != metadata)
                    .cloned()
                    .collect();
                delete_objects(&self.uri, store, others).await?;
                delete_objects(&self.uri, store, vec![metadata]).await?;
                Ok(Disposal::Removed {
                    files: objects.len() as u64,
                })
            }
        }
    }

    /// Deletes everything at this location, without looking at what it is. For directories stateplane
    /// itself laid out (a job's checkpoint directory once its last retained checkpoint is disposed).
    pub async fn delete_tree(&self) -> Result<(), BlobError> {
        if self.is_root() {
            return Err(BlobError::NotASnapshot {
                location: self.uri.clone(),
                reason: "refusing to delete the root of a storage".into(),
            });
        }
        match &self.backend {
            Backend::Local(p) => match tokio::fs::remove_dir_all(p).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(BlobError::from_io(&self.uri, &e)),
            },
            Backend::Store { store, prefix } => {
                let objects: Vec<ObjPath> = match store
                    .list(Some(prefix))
                    .map_ok(|m| m.location)
                    .try_collect()
                    .await
                {
                    Ok(o) => o,
                    Err(object_store::Error::NotFound { .. }) => return Ok(()),
                    Err(e) => return Err(BlobError::from_store(&self.uri, e)),
                };
                delete_objects(&self.uri, store, objects).await
            }
        }
    }

    /// Removes the directory at this location if it is empty; whether nothing is left there. Object
    /// stores have no directories: there it only says whether nothing is left.
    pub async fn remove_if_empty(&self) -> Result<bool, BlobError> {
        match &self.backend {
            Backend::Local(p) => match tokio::fs::remove_dir(p).await {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(false),
                Err(e) => Err(BlobError::from_io(&self.uri, &e)),
            },
            Backend::Store { .. } => Ok(!self.exists().await?),
        }
    }

    /// Names of the directories directly inside this location (empty when there is none).
    pub async fn subdirectories(&self) -> Result<Vec<String>, BlobError> {
        match &self.backend {
            Backend::Local(p) => {
                let mut rd = match tokio::fs::read_dir(p).await {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(BlobError::from_io(&self.uri, &e)),
                };
                let mut out = Vec::new();
                while let Some(entry) = rd
                    .next_entry()
                    .await
                    .map_err(|e| BlobError::from_io(&self.uri, &e))?
                {
                    let is_dir = entry.file_type().await.map(|t| t.is_dir()).unwrap_or(false);
                    if is_dir {
                        out.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                out.sort();
                Ok(out)
            }
            Backend::Store { store, prefix } => {
                let list = match store.list_with_delimiter(Some(prefix)).await {
                    Ok(l) => l,
                    Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
                    Err(e) => return Err(BlobError::from_store(&self.uri, e)),
                };
                let mut out: Vec<String> = list
                    .common_prefixes
                    .iter()
                    .filter_map(|p| p.filename().map(str::to_string))
                    .collect();
                out.sort();
                Ok(out)
            }
        }
    }
}

async fn delete_objects(
    uri: &str,
    store: &Arc<dyn ObjectStore>,
    objects: Vec<ObjPath>,
) -> Result<(), BlobError> {
    if objects.is_empty() {
        return Ok(());
    }
    let input = futures::stream::iter(objects.into_iter().map(Ok)).boxed();
    let mut results = store.delete_stream(input);
    while let Some(r) = results.next().await {
        match r {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(BlobError::from_store(uri, e)),
        }
    }
    Ok(())
}

/// Describes a failure to build a store client: missing account, bad region. Treated as "cannot
/// reach": the location may be fine, stateplane is just not set up to read it.
fn configure_error(uri: &str, e: object_store::Error) -> BlobError {
    BlobError::unreachable(
        uri,
        format!("storage access is not configured on this server ({e})"),
    )
}

fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: Default::default(),
        max_retries: MAX_RETRIES,
        retry_timeout: RETRY_TIMEOUT,
    }
}

fn s3(bucket: &str) -> object_store::Result<object_store::aws::AmazonS3> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as K};
    use object_store::ClientConfigKey as C;
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry());
    for (key, value) in [
        (C::ConnectTimeout, CONNECT_TIMEOUT),
        (C::Timeout, REQUEST_TIMEOUT),
    ] {
        if b.get_config_value(&K::Client(key)).is_none() {
            b = b.with_config(K::Client(key), value);
        }
    }
    // An S3-compatible server on plain HTTP (MinIO, a test server) is named by its endpoint alone.
    let http_endpoint = b
        .get_config_value(&K::Endpoint)
        .is_some_and(|e| e.starts_with("http://"));
    if http_endpoint && std::env::var_os("AWS_ALLOW_HTTP").is_none() {
        b = b.with_allow_http(true);
    }
    b.build()
}

fn gcs(bucket: &str) -> object_store::Result<object_store::gcp::GoogleCloudStorage> {
    object_store::gcp::GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry())
        .build()
}

fn azure(uri: &str) -> object_store::Result<object_store::azure::MicrosoftAzure> {
    object_store::azure::MicrosoftAzureBuilder::from_env()
        .with_url(uri)
        .with_retry(retry())
        .build()
}
