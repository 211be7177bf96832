//! Validation errors: which field is at fault and why, in words a person can act on.

use serde::Serialize;

/// One problem with one field of a request body or query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `spec.template.spec.parallelism`.
    pub field: String,
    /// What is wrong, e.g. `must be at least 1`.
    pub message: String,
}

/// A request that breaks a rule of the model. The API maps it to 400/422 with the field named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The body or a value has the wrong type or shape (e.g. a string where a number belongs).
    #[error("{field}: {message}")]
    Malformed { field: String, message: String },
    /// The value is well-formed but breaks a rule (e.g. a name that is not a DNS label).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl ValidationError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn malformed(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Malformed {
            field: field.into(),
            message: message.into(),
        }
    }
    /// The field at fault.
    pub fn field(&self) -> &str {
        match self {
            Self::Malformed { field, .. } | Self::Invalid { field, .. } => field,
        }
    }
    /// The reason, without the field.
    pub fn message(&self) -> &str {
        match self {
            Self::Malformed { message, .. } | Self::Invalid { message, .. } => message,
        }
    }
}

/// Deserialises `value` into `T`, naming the field at fault (prefixed by `prefix`) when it does not fit.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = match (prefix.is_empty(), path.as_str()) {
            (true, ".") => "body".to_string(),
            (true, p) => p.to_string(),
            (false, ".") => prefix.to_string(),
            (false, p) => format!("{prefix}.{p}"),
        };
        ValidationError::malformed(field, e.into_inner().to_string())
    })
}
