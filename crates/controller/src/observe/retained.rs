//! Finding the checkpoint Flink kept of a job that was cancelled or failed (reads only; the executor
//! records what is found).
//!
//! Flink's checkpoint statistics name the latest completed checkpoint, but they are cached for up to
//! 3 s and a newer checkpoint may have subsumed (deleted) the one they name. So the named directory is
//! confirmed on storage — it must hold `_metadata` — through `stateplane_blob`, on any storage it
//! reaches (`file://`, `s3://`, `gs://`, `az://`); a missing one is replaced by the newest complete
//! `chk-N` beside it. For a job Flink forgot (vanished), the job's checkpoint directory from its
//! configuration is looked at the same way. Storage that cannot be read is said so: a checkpoint
//! Flink names is then recorded unconfirmed (with a note), and "none found" carries the reason, so an
//! unreachable bucket is never reported as a job that kept no checkpoint.

use chrono::{DateTime, TimeZone, Utc};
use stateplane_blob::{newest_checkpoint, BlobError, BlobLocation, METADATA_FILE};
use stateplane_flink::{FlinkClient, FlinkJobId};
use stateplane_model::plan::RetainedView;
use stateplane_model::Job;

/// Keys naming the checkpoint directory (Flink 2.x name first).
const CHECKPOINT_DIR_KEYS: [&str; 2] = ["execution.checkpointing.dir", "state.checkpoints.dir"];

/// Looks for the job's retained checkpoint: Flink's statistics first (when `client` is given: Flink
/// still knows the job), then its checkpoint directory.
pub(super) async fn find(client: Option<&FlinkClient>, job: &Job) -> RetainedView {
    let flink_id = FlinkJobId::from_uuid(job.metadata.id.uuid());
    if let Some(client) = client {
        if let Ok(stats) = client.checkpoints(&flink_id).await {
            let named = stats
                .latest_completed
                .filter(|c| !c.is_savepoint)
                .and_then(|c| Some((c.external_path?, c.latest_ack_timestamp_ms)));
            if let Some((path, acked_ms)) = named {
                let acked = acked_ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single());
                if let Some(found) = confirm(&path, acked).await {
                    return found;
                }
            }
        }
    }
    let Some(dir) = CHECKPOINT_DIR_KEYS
        .iter()
        .find_map(|k| job.spec.flink_configuration.get(*k))
    else {
        return RetainedView::NotFound { unreadable: None };
    };
    match BlobLocation::parse(dir) {
        Ok(base) => newest(&base.child(flink_id.as_str())).await,
        Err(e) => RetainedView::NotFound {
            unreadable: Some(e.to_string()),
        },
    }
}

/// The checkpoint Flink names, confirmed on storage; None when it is gone and nothing replaces it.
async fn confirm(path: &str, acked: Option<DateTime<Utc>>) -> Option<RetainedView> {
    let found = |location: String, at: DateTime<Utc>, note: Option<String>| RetainedView::Found {
        location,
        completed_at: at,
        note,
    };
    let loc = match BlobLocation::parse(path) {
        Ok(l) => l,
        Err(e) => {
            return Some(found(
                path.to_string(),
                acked.unwrap_or_else(Utc::now),
                Some(format!("not confirmed on storage: {e}")),
            ))
        }
    };
    match loc.child(METADATA_FILE).modified().await {
        Ok(written) => Some(found(
            path.to_string(),
            acked.unwrap_or_else(|| written.into()),
            None,
        )),
        // Subsumed by a newer checkpoint since Flink's (cached) statistics were made.
        Err(BlobError::NotFound { .. }) => match loc.parent() {
            Some(dir) => match newest(&dir).await {
                f @ RetainedView::Found { .. } => Some(f),
                RetainedView::NotFound { .. } => None,
            },
            None => None,
        },
        Err(e) => Some(found(
            path.to_string(),
            acked.unwrap_or_else(Utc::now),
            Some(format!("not confirmed on storage: {e}")),
        )),
    }
}

/// The newest complete checkpoint in a job's checkpoint directory.
async fn newest(dir: &BlobLocation) -> RetainedView {
    match newest_checkpoint(dir).await {
        Ok(Some((chk, written))) => RetainedView::Found {
            location: chk.uri().to_string(),
            completed_at: written.into(),
            note: None,
        },
        Ok(None) => RetainedView::NotFound { unreadable: None },
        Err(e) => RetainedView::NotFound {
            unreadable: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn newest_chk_with_metadata_wins() {
        let dir = tempfile::tempdir().unwrap();
        for (n, meta) in [(3, true), (7, true), (9, false)] {
            let p = dir.path().join(format!("chk-{n}"));
            std::fs::create_dir_all(&p).unwrap();
            if meta {
                std::fs::write(p.join("_metadata"), b"x").unwrap();
            }
        }
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        let base = BlobLocation::parse(&format!("file://{}", dir.path().display())).unwrap();
        match newest(&base).await {
            RetainedView::Found { location, .. } => {
                assert!(location.ends_with("/chk-7"), "{location}");
                assert!(location.starts_with("file:///"), "{location}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            newest(&base.child("missing")).await,
            RetainedView::NotFound { unreadable: None }
        );
    }

    #[tokio::test]
    async fn a_subsumed_checkpoint_is_replaced_by_the_newest_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("chk-4")).unwrap();
        std::fs::write(dir.path().join("chk-4/_metadata"), b"x").unwrap();
        let named = format!("file://{}/chk-2", dir.path().display());
        match confirm(&named, None).await {
            Some(RetainedView::Found { location, .. }) => assert!(location.ends_with("/chk-4")),
            other => panic!("{other:?}"),
        }
        let kept = format!("file://{}/chk-4", dir.path().display());
        let at = Utc.timestamp_millis_opt(1_700_000_000_000).single();
        match confirm(&kept, at).await {
            Some(RetainedView::Found {
                location,
                completed_at,
                note,
            }) => {
                assert_eq!(location, kept);
                assert_eq!(
                    Some(completed_at),
                    at,
                    "Flink's acknowledgement time is kept"
                );
                assert_eq!(note, None);
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(dir.path().join("chk-4")).unwrap();
        assert_eq!(confirm(&named, None).await, None);
    }

    /// moto's S3 server on a free loopback port (skipped, saying so, where it is not installed).
    struct Moto(std::process::Child, u16);

    impl Drop for Moto {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn start_moto() -> Option<Moto> {
        let bin = std::env::var("STATEPLANE_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = free_port();
        let child = std::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let moto = match child {
            Ok(c) => Moto(c, port),
            Err(e) => {
                eprintln!(
                    "SKIPPED the S3 part: cannot run {bin} ({e}); pip install 'moto[server]'"
                );
                return None;
            }
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(std::time::Instant::now() < deadline, "moto did not listen");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Some(moto)
    }

    fn s3_env(endpoint: &str) {
        // Edition 2021: set_var is safe; no other test of this binary uses S3.
        for (k, v) in [
            ("AWS_ENDPOINT", endpoint),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ] {
            std::env::set_var(k, v);
        }
    }

    fn job_with_checkpoints_in(dir: &str) -> Job {
        let spec: stateplane_model::JobSpec = serde_json::from_value(serde_json::json!({
            "artifact": {"kind": "JAR", "jarUri": "file:///job.jar"},
            "flinkConfiguration": {"execution.checkpointing.dir": dir}
        }))
        .unwrap();
        Job::new("default", stateplane_model::DeploymentId::new(), "d", spec)
    }

    #[tokio::test]
    async fn retained_checkpoints_on_s3_are_confirmed_through_object_store() {
        let Some(moto) = start_moto().await else {
            return;
        };
        let endpoint = format!("http://127.0.0.1:{}", moto.1);
        let http = reqwest::Client::new();
        let put = |path: String, body: &'static [u8]| {
            let req = http.put(format!("{endpoint}/{path}")).body(body);
            async move { assert!(req.send().await.unwrap().status().is_success()) }
        };
        put("ckpts".into(), b"").await;
        let job = job_with_checkpoints_in("s3://ckpts/base");
        let jid = FlinkJobId::from_uuid(job.metadata.id.uuid());
        // chk-3 complete, chk-5 still being written (no _metadata yet), shared state beside them.
        put(format!("ckpts/base/{jid}/chk-3/_metadata"), b"meta").await;
        put(format!("ckpts/base/{jid}/chk-3/state"), b"x").await;
        put(format!("ckpts/base/{jid}/chk-5/state"), b"x").await;
        put(format!("ckpts/base/{jid}/shared/s"), b"x").await;
        s3_env(&endpoint);

        // A job Flink forgot: its checkpoint directory is scanned on S3.
        match find(None, &job).await {
            RetainedView::Found { location, note, .. } => {
                assert_eq!(location, format!("s3://ckpts/base/{jid}/chk-3"));
                assert_eq!(note, None);
            }
            other => panic!("{other:?}"),
        }
        // The checkpoint Flink names is confirmed; one subsumed since is replaced by the newest.
        let named = format!("s3://ckpts/base/{jid}/chk-3");
        assert!(matches!(
            confirm(&named, None).await,
            Some(RetainedView::Found { location, note: None, .. }) if location == named
        ));
        let subsumed = format!("s3://ckpts/base/{jid}/chk-2");
        assert!(matches!(
            confirm(&subsumed, None).await,
            Some(RetainedView::Found { location, .. }) if location == named
        ));

        // Storage that does not answer is said so, never taken for "no checkpoint".
        s3_env(&format!("http://127.0.0.1:{}", free_port()));
        match find(None, &job).await {
            RetainedView::NotFound {
                unreadable: Some(why),
            } => assert!(why.contains("cannot access"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            confirm(&named, None).await,
            Some(RetainedView::Found { note: Some(n), .. }) if n.contains("not confirmed")
        ));
    }
}
