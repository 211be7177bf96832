//! Artifacts: a deployment's jar, fetched from `file://`, `http(s)://` or blob storage (`s3://`,
//! `gs://`, `az://`, through `stateplane_blob` and its credentials), uploaded to a Flink cluster
//! once per content (sha256) and reused by its jar id afterwards (the store remembers the id per REST
//! URL; that memory is a cache, so failing to read or write it only costs an upload). A SQLSCRIPT
//! artifact is the embedded SQL runner's jar plus its dependencies, uploaded the same way (see
//! [`crate::sql`]).

use sha2::{Digest, Sha256};
use stateplane_flink::{FlinkClient, JarId};
use stateplane_model::{Artifact, ArtifactKind};
use stateplane_store::Store;

use crate::error::{ArtifactError, Error};
use crate::shared::Shared;
use crate::sql;

/// The largest jar read from blob storage (it is held in memory for the upload).
const MAX_JAR_BYTES: usize = 512 << 20;
/// Reading a jar from blob storage gives up after this long.
const BLOB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// What a job of an artifact runs: a jar on the cluster, its entry class and program arguments.
pub(crate) struct Program {
    pub jar_id: JarId,
    pub entry_class: Option<String>,
    pub args: Vec<String>,
}

/// Puts the artifact's program on the cluster (uploading what it does not have yet) and says how to
/// run it. `stale`: the cluster refused a jar id this returned before; upload again. A refusal (the
/// artifact cannot be had, Flink refuses an upload) is [`Error::Artifact`]; a Flink that does not
/// answer, [`Error::Flink`].
pub(crate) async fn program(
    shared: &Shared,
    client: &FlinkClient,
    artifact: &Artifact,
    stale: bool,
) -> Result<Program, Error> {
    let store = shared.store.as_ref();
    let script = match artifact.kind {
        ArtifactKind::Jar => {
            let jar = fetch(&shared.http, &artifact.jar_uri).await?;
            return Ok(Program {
                jar_id: ensure_uploaded(store, client, &jar, stale).await?,
                entry_class: artifact.entry_class.clone(),
                args: artifact.program_args(),
            });
        }
        ArtifactKind::SqlScript => artifact.sql_script.as_deref().unwrap_or_default(),
    };
    let jar_id = ensure_uploaded(store, client, &sql::runner_jar(), stale).await?;
    let mut paths = Vec::with_capacity(artifact.additional_dependencies.len());
    if !artifact.additional_dependencies.is_empty() {
        // Uploads vanish when the JobManager restarts: a remembered path counts only if Flink lists it.
        let listed: Vec<JarId> = match client.list_jars().await {
            Ok(jars) => jars.into_iter().map(|j| j.id).collect(),
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => return Err(ArtifactError::Upload(e).into()),
        };
        for uri in &artifact.additional_dependencies {
            let jar = fetch(&shared.http, uri).await?;
            paths.push(dependency_path(store, client, &jar, &listed).await?);
        }
    }
    Ok(Program {
        jar_id,
        entry_class: None,
        args: sql::runner_args(script, &paths),
    })
}

/// Where a dependency lies on the JobManager, uploading it unless the cluster has this content.
async fn dependency_path(
    store: &dyn Store,
    client: &FlinkClient,
    jar: &Jar,
    listed: &[JarId],
) -> Result<String, Error> {
    let url = client.rest_url().to_string();
    let key = format!("dependency:{}", jar.sha256);
    if let Ok(Some(path)) = store.jar_get(&url, &key).await {
        let id = path.rsplit('/').next().unwrap_or_default();
        if listed.iter().any(|j| j.as_str() == id) {
            return Ok(path);
        }
    }
    let (_, path) = match client
        .upload_jar_stored(&jar.file_name, jar.bytes.clone())
        .await
    {
        Ok(stored) => stored,
        Err(e) if e.is_retryable() => return Err(e.into()),
        Err(e) => return Err(ArtifactError::Upload(e).into()),
    };
    if let Err(e) = store.jar_put(&url, &key, &path).await {
        tracing::warn!(error = %e, "cannot remember the uploaded dependency; it will be uploaded again next time");
    }
    Ok(path)
}

/// A jar's bytes and content hash.
pub(crate) struct Jar {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// Reads a jar by its URI.
pub(crate) async fn fetch(http: &reqwest::Client, uri: &str) -> Result<Jar, ArtifactError> {
    let uri = uri.trim();
    let download = |reason: String| ArtifactError::Download {
        uri: uri.to_string(),
        reason,
    };
    let bytes = if let Some(path) =
        stateplane_model::local_path(uri).filter(|_| uri.starts_with("file:"))
    {
        tokio::fs::read(&path)
            .await
            .map_err(|e| ArtifactError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?
    } else if uri.starts_with("http://") || uri.starts_with("https://") {
        let resp = http
            .get(uri)
            .send()
            .await
            .map_err(|e| download(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(download(format!("HTTP {}", resp.status())));
        }
        resp.bytes()
            .await
            .map_err(|e| download(e.to_string()))?
            .to_vec()
    } else if ["s3://", "gs://", "az://"]
        .iter()
        .any(|p| uri.starts_with(p))
    {
        stateplane_blob::read_file(uri, MAX_JAR_BYTES, BLOB_TIMEOUT)
            .await
            .map_err(|e| download(e.to_string()))?
    } else {
        return Err(ArtifactError::Unsupported {
            uri: uri.to_string(),
        });
    };
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    let file_name = uri
        .rsplit('/')
        .next()
        .filter(|n| n.ends_with(".jar"))
        .unwrap_or("artifact.jar")
        .to_string();
    Ok(Jar {
        file_name,
        bytes,
        sha256,
    })
}

/// The jar id of this content on this cluster, uploading it if the cluster does not have it yet.
/// `stale` forces a new upload (the cached id was refused). A Flink that does not answer is
/// [`Error::Flink`] (try again later); one that refuses the jar, [`ArtifactError::Upload`].
pub(crate) async fn ensure_uploaded(
    store: &dyn Store,
    client: &FlinkClient,
    jar: &Jar,
    stale: bool,
) -> Result<JarId, Error> {
    let url = client.rest_url().to_string();
    if !stale {
        if let Ok(Some(id)) = store.jar_get(&url, &jar.sha256).await {
            if let Ok(id) = JarId::parse(&id) {
                return Ok(id);
            }
        }
    } else {
        let _ = store.jar_forget(&url, &jar.sha256).await;
    }
    let id = match client
        .upload_jar_bytes(&jar.file_name, jar.bytes.clone())
        .await
    {
        Ok(id) => id,
        Err(e) if e.is_retryable() => return Err(e.into()),
        Err(e) => return Err(ArtifactError::Upload(e).into()),
    };
    if let Err(e) = store.jar_put(&url, &jar.sha256, id.as_str()).await {
        tracing::warn!(error = %e, "cannot remember the uploaded jar id; it will be uploaded again next time");
    }
    Ok(id)
}
