//! Artifacts: a deployment's jar, fetched from `file://` or `http(s)://`, uploaded to a Flink cluster
//! once per content (sha256) and reused by its jar id afterwards.

use sha2::{Digest, Sha256};
use stateplane_flink::{FlinkClient, JarId};
use stateplane_model::Artifact;

use crate::Shared;

/// The jar's bytes and content hash.
pub(crate) struct Jar {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// Reads the artifact's jar. The error is one sentence for an event.
pub(crate) async fn fetch(shared: &Shared, artifact: &Artifact) -> Result<Jar, String> {
    let uri = artifact.jar_uri.trim();
    let bytes = if let Some(path) =
        stateplane_model::local_path(uri).filter(|_| uri.starts_with("file:"))
    {
        tokio::fs::read(&path)
            .await
            .map_err(|e| format!("cannot read jar {}: {e}", path.display()))?
    } else if uri.starts_with("http://") || uri.starts_with("https://") {
        let resp = shared
            .http
            .get(uri)
            .send()
            .await
            .map_err(|e| format!("cannot download jar {uri}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("cannot download jar {uri}: HTTP {}", resp.status()));
        }
        resp.bytes()
            .await
            .map_err(|e| format!("cannot download jar {uri}: {e}"))?
            .to_vec()
    } else {
        return Err(format!(
            "unsupported jarUri '{uri}': use file:// or http(s)://"
        ));
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
/// `stale` forces a new upload (the cached id was refused).
pub(crate) async fn ensure_uploaded(
    shared: &Shared,
    client: &FlinkClient,
    jar: &Jar,
    stale: bool,
) -> Result<JarId, String> {
    let url = client.rest_url().to_string();
    if !stale {
        if let Ok(Some(id)) = shared.store.jar_get(&url, &jar.sha256).await {
            if let Ok(id) = JarId::parse(&id) {
                return Ok(id);
            }
        }
    } else {
        let _ = shared.store.jar_forget(&url, &jar.sha256).await;
    }
    let id = client
        .upload_jar_bytes(&jar.file_name, jar.bytes.clone())
        .await
        .map_err(|e| format!("cannot upload jar to Flink: {e}"))?;
    if let Err(e) = shared.store.jar_put(&url, &jar.sha256, id.as_str()).await {
        tracing::warn!(error = %e, "cannot remember the uploaded jar id; it will be uploaded again next time");
    }
    Ok(id)
}
