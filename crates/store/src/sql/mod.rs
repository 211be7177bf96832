//! What the SQLite and PostgreSQL stores share: value encodings, error mapping, and the queries whose
//! text is the same in both dialects (written with `$n` parameters, which SQLite accepts as well).
//!
//! The stores differ in their pools (SQLite: one writer and a read pool; PostgreSQL: one pool) and in
//! the few statements where the dialects differ; everything else belongs here, once.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::error::ErrorKind;

use crate::{Result, StoreError};

pub(crate) mod api_token;

/// Timestamps are stored as RFC 3339 text with microseconds, which sorts like the time.
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn to_body<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| backend("serialise resource", e))
}

/// Parses a stored body; a row that does not parse is corruption, reported, never a panic.
pub(crate) fn from_body<T: DeserializeOwned>(kind: &'static str, body: &str) -> Result<T> {
    serde_json::from_str(body)
        .map_err(|e| backend("parse stored resource", format!("corrupt {kind} row: {e}")))
}

/// Parses an id column.
pub(crate) fn parse_id<T: FromStr>(kind: &'static str, s: &str) -> Result<T>
where
    T::Err: Display,
{
    s.parse()
        .map_err(|e| backend("parse stored id", format!("corrupt {kind} id '{s}': {e}")))
}

/// An unexpected database failure: logged here with what was being done, returned as
/// [`StoreError::Backend`].
pub(crate) fn backend(op: &str, e: impl Display) -> StoreError {
    tracing::error!(op, error = %e, "store failed");
    StoreError::Backend(format!("{op}: {e}"))
}

/// Which constraint a failed statement violated, if that is why it failed.
pub(crate) fn violation(e: &sqlx::Error) -> Option<ErrorKind> {
    match e {
        sqlx::Error::Database(db) => match db.kind() {
            k @ (ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation) => Some(k),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn not_found(kind: &'static str, id: impl Display) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_string(),
    }
}
