//! Listing every file below a location, bounded, and finding the snapshot directories among them (for
//! the orphan report).
//!
//! A snapshot directory is a directory holding `_metadata` (Flink's `savepoint-…` and `chk-N`
//! directories, or one a user left by hand). Each file below a location belongs to the nearest
//! snapshot directory above it, which gives each snapshot's size and file count; files in no snapshot
//! directory (a job's `shared/` state, a stray file) are counted apart. A listing stops after
//! `max_files` files and says so, so a huge bucket cannot hold a request for ever. Local directories
//! are walked without following symbolic links (a link is neither a snapshot's file nor a way out of
//! the prefix); object stores are listed through `object_store`, the same client disposal uses.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use futures::StreamExt;

use super::{Backend, BlobLocation, METADATA_FILE};
use crate::BlobError;

/// One file below the listed location.
#[derive(Debug, Clone)]
struct File {
    /// Path below the listed location, `/`-separated.
    rel: String,
    size: u64,
    modified: Option<SystemTime>,
}

/// A snapshot directory found below the listed location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSnapshot {
    /// Its URI (the listed location's URI joined with the path below it).
    pub location: String,
    /// Bytes of every file below it.
    pub size: u64,
    /// How many files are below it.
    pub files: u64,
    /// When its `_metadata` was written, when the storage says.
    pub written_at: Option<SystemTime>,
}

/// What [`BlobLocation::find_snapshots`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshots {
    /// Snapshot directories, by location.
    pub snapshots: Vec<FoundSnapshot>,
    /// Files listed (at most the limit).
    pub files_listed: u64,
    /// Files that lie in no snapshot directory, and their bytes.
    pub other_files: u64,
    pub other_bytes: u64,
    /// The listing stopped at the limit: more files (and maybe snapshots) lie below.
    pub truncated: bool,
}

impl BlobLocation {
    /// Every snapshot directory below this location (this one included), from a listing of at most
    /// `max_files` files. Nothing there is an empty answer, not an error.
    pub async fn find_snapshots(&self, max_files: usize) -> Result<Snapshots, BlobError> {
        let (files, truncated) = match &self.backend {
            Backend::Local(p) => {
                let (root, uri) = (p.clone(), self.uri.clone());
                tokio::task::spawn_blocking(move || walk_local(&root, max_files))
                    .await
                    .map_err(|e| BlobError::unreachable(&uri, format!("listing failed: {e}")))?
                    .map_err(|e| BlobError::from_io(&uri, &e))?
            }
            Backend::Store { store, prefix } => {
                let mut list = store.list(Some(prefix));
                let mut files = Vec::new();
                let mut truncated = false;
                while let Some(item) = list.next().await {
                    let meta = match item {
                        Ok(m) => m,
                        Err(object_store::Error::NotFound { .. }) => break,
                        Err(e) => return Err(BlobError::from_store(&self.uri, e)),
                    };
                    if files.len() >= max_files {
                        truncated = true;
                        break;
                    }
                    let rel = match meta.location.prefix_match(prefix) {
                        Some(parts) => parts
                            .map(|p| p.as_ref().to_string())
                            .collect::<Vec<_>>()
                            .join("/"),
                        None => continue,
                    };
                    files.push(File {
                        rel,
                        size: meta.size,
                        modified: Some(meta.last_modified.into()),
                    });
                }
                (files, truncated)
            }
        };
        Ok(group(&self.uri, files, truncated))
    }
}

/// Files below `root` (not following links), at most `max`; whether more were left out.
fn walk_local(root: &std::path::Path, max: usize) -> std::io::Result<(Vec<File>, bool)> {
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            // The root not existing is an empty listing; a directory removed while walking too.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in rd {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = match std::fs::symlink_metadata(entry.path()) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                stack.push((entry.path(), child_rel));
            } else if meta.is_file() {
                if out.len() >= max {
                    return Ok((out, true));
                }
                out.push(File {
                    rel: child_rel,
                    size: meta.len(),
                    modified: meta.modified().ok(),
                });
            }
        }
    }
    Ok((out, false))
}

/// Groups files into the snapshot directories (those holding `_metadata`) they lie in.
fn group(base_uri: &str, files: Vec<File>, truncated: bool) -> Snapshots {
    let dir_of = |rel: &str| rel.rsplit_once('/').map_or("", |(d, _)| d).to_string();
    let mut dirs: BTreeMap<String, FoundSnapshot> = BTreeMap::new();
    for f in &files {
        let name = f.rel.rsplit('/').next().unwrap_or_default();
        if name == METADATA_FILE {
            let dir = dir_of(&f.rel);
            let location = if dir.is_empty() {
                base_uri.trim_end_matches('/').to_string()
            } else {
                format!("{}/{dir}", base_uri.trim_end_matches('/'))
            };
            dirs.insert(
                dir,
                FoundSnapshot {
                    location,
                    size: 0,
                    files: 0,
                    written_at: f.modified,
                },
            );
        }
    }
    let mut out = Snapshots {
        files_listed: files.len() as u64,
        truncated,
        ..Default::default()
    };
    for f in &files {
        // The nearest enclosing snapshot directory.
        let mut dir = dir_of(&f.rel);
        let owner = loop {
            if let Some(s) = dirs.get_mut(&dir) {
                break Some(s);
            }
            if dir.is_empty() {
                break None;
            }
            dir = dir_of(&dir);
        };
        match owner {
            Some(s) => {
                s.size += f.size;
                s.files += 1;
            }
            None => {
                out.other_files += 1;
                out.other_bytes += f.size;
            }
        }
    }
    out.snapshots = dirs.into_values().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &std::path::Path, rel: &str, len: usize) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, vec![0u8; len]).unwrap();
    }

    #[tokio::test]
    async fn finds_snapshot_directories_with_their_sizes() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "d/s/savepoint-1/_metadata", 10);
        write(t.path(), "d/s/savepoint-1/op-state", 5);
        write(t.path(), "d/j/chk-3/_metadata", 7);
        write(t.path(), "d/j/shared/x", 100);
        write(t.path(), "d/partial/data", 3);
        std::os::unix::fs::symlink("/etc", t.path().join("d/link")).unwrap();
        let loc = BlobLocation::parse(&format!("file://{}", t.path().display())).unwrap();
        let got = loc.find_snapshots(100).await.unwrap();
        let base = loc.uri().to_string();
        let found: Vec<_> = got
            .snapshots
            .iter()
            .map(|s| (s.location.clone(), s.size, s.files))
            .collect();
        assert_eq!(
            found,
            [
                (format!("{base}/d/j/chk-3"), 7, 1),
                (format!("{base}/d/s/savepoint-1"), 15, 2),
            ]
        );
        assert!(got.snapshots.iter().all(|s| s.written_at.is_some()));
        assert_eq!((got.other_files, got.other_bytes), (2, 103));
        assert!(!got.truncated);
        let few = loc.find_snapshots(2).await.unwrap();
        assert!(few.truncated && few.files_listed == 2, "{few:?}");
        let none = loc.child("nothing-here").find_snapshots(10).await.unwrap();
        assert_eq!(none, Snapshots::default());
    }
}
