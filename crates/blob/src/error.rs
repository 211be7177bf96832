//! The one error type of blob storage access.

/// Why a location could not be read or disposed of. Messages name the location and what is wrong; they
/// never contain a file's contents, and never credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// The URI's scheme is not one stateplane can access.
    #[error("scheme '{scheme}' is not supported: use file://, s3:// (s3a://, s3p://), gs:// or az:// (abfs://, abfss://)")]
    UnsupportedScheme { scheme: String },
    /// The URI cannot be parsed (no bucket, bad characters).
    #[error("'{uri}' is not a valid storage URI: {reason}")]
    InvalidUri { uri: String, reason: String },
    /// Nothing exists at the location.
    #[error("nothing exists at {location}")]
    NotFound { location: String },
    /// Something exists at the location, but it is a file, not a snapshot directory.
    #[error("{location} is not a directory: a snapshot location is the directory holding Flink's _metadata file")]
    NotADirectory { location: String },
    /// The server's own file system refused to read the location (permissions, an unreadable
    /// entry). A definite answer of local storage: unlike [`Self::Unreachable`], nothing remote failed.
    /// The message says no more than that, so a caller learns nothing else about the file system.
    #[error("{location} cannot be read")]
    Unreadable { location: String },
    /// The location exists but holds no `_metadata` file, so it is no Flink snapshot directory.
    #[error("{location} holds no _metadata file: it is not a Flink savepoint or checkpoint directory (a savepoint is the savepoint-… directory Flink wrote, a retained checkpoint its chk-N directory)")]
    NoMetadata { location: String },
    /// The location holds a `_metadata` file that is not Flink's.
    #[error("{location}: {reason}")]
    NotASnapshot { location: String, reason: String },
    /// Remote storage could not be reached, refused the credentials, or no credentials are configured.
    /// Only object stores give this: the local file system always answers.
    #[error("cannot access {location}: {reason}")]
    Unreachable { location: String, reason: String },
}

impl BlobError {
    /// The storage was not reached: nothing is known about the location itself.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// Nothing is at the location (no object, no directory).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    pub(crate) fn unreachable(location: &str, reason: impl Into<String>) -> Self {
        Self::Unreachable {
            location: location.to_string(),
            reason: reason.into(),
        }
    }

    /// Maps an object_store error. Their messages name paths and HTTP statuses, never object contents.
    pub(crate) fn from_store(location: &str, e: object_store::Error) -> Self {
        use object_store::Error as E;
        match e {
            E::NotFound { .. } => Self::NotFound {
                location: location.to_string(),
            },
            E::PermissionDenied { .. } => Self::unreachable(location, "permission denied"),
            E::Unauthenticated { .. } => {
                Self::unreachable(location, "the storage refused the credentials")
            }
            other => Self::unreachable(location, one_line(&other.to_string())),
        }
    }

    /// Maps a local file system error. Each is a definite answer about the location (the file system
    /// was reached); none carries the operating system's own words, which could say more about the
    /// file system than "not there", "not a directory" or "cannot be read".
    pub(crate) fn from_io(location: &str, e: &std::io::Error) -> Self {
        let location = location.to_string();
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound { location },
            std::io::ErrorKind::NotADirectory => Self::NotADirectory { location },
            _ => Self::Unreadable { location },
        }
    }
}

/// First line of a message, at most 300 characters (some storage errors carry whole response bodies).
fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    match line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}
