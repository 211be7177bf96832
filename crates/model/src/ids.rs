//! Typed ids: a savepoint id can never be passed where a deployment id is expected.
//!
//! Ids are chosen by stateplane *before* any side effect (see `DESIGN.md`): a job's Flink job id is its
//! resource id without dashes, a savepoint's Flink trigger id likewise, so every row can be matched
//! against Flink after a crash.

use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
            /// The id as a UUID.
            pub fn uuid(&self) -> Uuid {
                self.0
            }
            /// The id as 32 lower-case hex digits (Flink's job id / trigger id form).
            pub fn simple(&self) -> String {
                self.0.simple().to_string()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

typed_id!(
    /// Identifies a Deployment.
    DeploymentId
);
typed_id!(
    /// Identifies a Savepoint resource (several may point to one physical snapshot).
    SavepointId
);
typed_id!(
    /// Identifies a Job resource: one Flink job that stateplane started.
    JobId
);
typed_id!(
    /// Identifies an Event.
    EventId
);
typed_id!(
    /// Identifies a DeploymentTarget.
    DeploymentTargetId
);
typed_id!(
    /// Identifies the defaults document of a namespace.
    DeploymentDefaultsId
);
typed_id!(
    /// Identifies a SecretValue.
    SecretValueId
);
