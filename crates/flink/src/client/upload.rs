//! `POST /jars/upload` with the stored path: a jar a program in the JobManager reads by path (a SQL
//! script's dependency) needs where Flink put it, not only its id.

use super::{wire, FlinkClient, MIN_UPLOAD_TIMEOUT};
use crate::error::FlinkError;
use crate::ids::JarId;

impl FlinkClient {
    /// Uploads a jar from memory and answers its id and the path Flink stored it at on the
    /// JobManager (its `web.upload.dir`), which a program running there can read.
    pub async fn upload_jar_stored(
        &self,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<(JarId, String), FlinkError> {
        let op = "POST /jars/upload";
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str("application/x-java-archive")
            .map_err(|e| FlinkError::Decode {
                operation: op.into(),
                message: e.to_string(),
            })?;
        let form = reqwest::multipart::Form::new().part("jarfile", part);
        let request = self
            .http
            .post(self.url(&["jars", "upload"]))
            .multipart(form)
            .timeout(self.timeout.max(MIN_UPLOAD_TIMEOUT));
        let (status, body) = self.send(op, request, false).await?;
        let wire: wire::UploadWire =
            self.decode_success(op, status, &body, || format!("jar upload of {file_name}"))?;
        let id = wire.jar_id().map_err(|message| FlinkError::Decode {
            operation: op.into(),
            message,
        })?;
        Ok((id, wire.filename))
    }
}
