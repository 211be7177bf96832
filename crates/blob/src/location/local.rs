//! Disposal of a snapshot directory on the local file system: every file, `_metadata` last, then the
//! directory itself, never following a symbolic link out of the snapshot (`remove_dir_all` does not).

use std::path::Path as FsPath;

use super::{Disposal, METADATA_FILE};
use crate::BlobError;

pub(super) async fn delete_local_snapshot(uri: &str, dir: &FsPath) -> Result<Disposal, BlobError> {
    let io = |e: std::io::Error| BlobError::from_io(uri, &e);
    let meta = match tokio::fs::symlink_metadata(dir).await {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Disposal::AlreadyGone),
        Err(e) => return Err(io(e)),
    };
    if !meta.is_dir() {
        return Err(BlobError::NotASnapshot {
            location: uri.to_string(),
            reason: "is not a directory; refusing to delete it".into(),
        });
    }
    let metadata = dir.join(METADATA_FILE);
    let mut files = 0u64;
    let mut entries = Vec::new();
    let mut rd = tokio::fs::read_dir(dir).await.map_err(io)?;
    while let Some(e) = rd.next_entry().await.map_err(io)? {
        entries.push(e);
    }
    if entries.is_empty() {
        tokio::fs::remove_dir(dir)
            .await
            .or_else(ignore_missing)
            .map_err(io)?;
        return Ok(Disposal::AlreadyGone);
    }
    if !tokio::fs::symlink_metadata(&metadata)
        .await
        .map(|m| m.is_file())
        .unwrap_or(false)
    {
        return Err(BlobError::NoMetadata {
            location: uri.to_string(),
        });
    }
    for e in entries {
        let path = e.path();
        if path == metadata {
            continue;
        }
        let ty = e.file_type().await.map_err(io)?;
        // remove_dir_all does not follow symbolic links; a link itself is removed as a file.
        if ty.is_dir() {
            files += count_files(&path);
            tokio::fs::remove_dir_all(&path)
                .await
                .or_else(ignore_missing)
                .map_err(io)?;
        } else {
            files += 1;
            tokio::fs::remove_file(&path)
                .await
                .or_else(ignore_missing)
                .map_err(io)?;
        }
    }
    tokio::fs::remove_file(&metadata)
        .await
        .or_else(ignore_missing)
        .map_err(io)?;
    tokio::fs::remove_dir(dir)
        .await
        .or_else(ignore_missing)
        .map_err(io)?;
    Ok(Disposal::Removed { files: files + 1 })
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// Files below a directory, not following links (for the count in events only).
fn count_files(dir: &FsPath) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            _ => 1,
        })
        .sum()
}
