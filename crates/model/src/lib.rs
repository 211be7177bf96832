//! The stateplane resource model.
//!
//! Everything here is pure: resource shapes (compatible with Ververica Platform's Application Manager
//! API v1), typed ids, the state enums of deployments, jobs and savepoints, input validation, restore
//! selection and reconcile planning. No crate of ours is a dependency and nothing here does I/O, so every
//! rule can be covered by fast table tests.

#[macro_use]
mod macros;

pub mod api_token;
pub mod artifact;
pub mod condition;
pub mod deployment;
pub mod duration;
pub mod error;
pub mod event;
pub mod ids;
pub mod job;
pub mod label_selector;
pub mod merge;
pub mod meta;
pub mod namespace;
pub mod paths;
pub mod plan;
pub mod restore;
pub mod retention;
pub mod savepoint;
pub mod secret_value;
pub mod sensitive;
pub mod snapshot;
pub mod storage;
pub mod target;
pub mod upgrade;

pub use api_token::{ApiToken, Role};
pub use deployment::*;
pub use error::{FieldError, ValidationError};
pub use event::*;
pub use ids::*;
pub use job::*;
pub use meta::*;
pub use namespace::*;
pub use savepoint::*;
pub use secret_value::{SecretValue, SecretValueKind, SecretValueMetadata, SecretValueSpec};
pub use target::*;
