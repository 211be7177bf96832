//! Artifacts: a deployment's jar, fetched from `file://` or `http(s)://`, uploaded to a Flink cluster
//! once per content (sha256) and reused by its jar id afterwards (the store remembers the id per REST
//! URL; that memory is a cache, so failing to read or write it only costs an upload).

use sha2::{Digest, Sha256};
use stateplane_flink::{FlinkClient, JarId};
use stateplane_model::Artifact;
use stateplane_store::Store;

use crate::error::{ArtifactError, Error};

/// The jar's bytes and content hash.
pub(crate) struct Jar {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// Reads the artifact's jar.
pub(crate) async fn fetch(
    http: &reqwest::Client,
    artifact: &Artifact,
) -> Result<Jar, ArtifactError> {
    let uri = artifact.jar_uri.trim();
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
