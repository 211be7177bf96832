//! Path and query parameters, with rejections in the API's error shape naming the parameter.
//!
//! axum's own `Path`/`Query` rejections are plain text; these wrappers turn them into
//! [`ApiError::InvalidParameter`]. Typed values (UUIDs, states, durations) are parsed here too, so a
//! malformed one is a 400 that names the parameter and shows an example of a good value.

use std::str::FromStr;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use stateplane_model::label_selector::LabelSelector;

use crate::error::{ApiError, ApiResult};

/// Path parameters; a rejection names the path.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(t)) => Ok(Self(t)),
            Err(e) => Err(ApiError::parameter("path", e.body_text())),
        }
    }
}

/// The query string as name/value pairs (later values of a repeated name win).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map(Params)
            .map_err(|e| {
                ApiError::parameter("query", format!("the query string is malformed: {e}"))
            })
    }
}

/// An example UUID for messages.
pub const UUID_EXAMPLE: &str = "5b2e0c8a-6f0e-4d0b-9c57-1f2a3b4c5d6e";

/// Parses a UUID-typed id, naming `name` when it is not one.
pub fn parse_id<T: FromStr>(name: &str, value: &str) -> ApiResult<T> {
    value.trim().parse().map_err(|_| {
        ApiError::parameter(
            name,
            format!("'{value}' is not a UUID (e.g. {UUID_EXAMPLE})"),
        )
    })
}

impl Params {
    /// `labelSelector`, parsed (Kubernetes' syntax, see [`LabelSelector`]); a malformed one is a 400
    /// naming the parameter and what is wrong.
    pub fn selector(&self) -> ApiResult<Option<LabelSelector>> {
        self.get("labelSelector")
            .map(|s| {
                LabelSelector::parse(s).map_err(|m| {
                    ApiError::parameter(
                        "labelSelector",
                        format!("{m} (e.g. labelSelector=team=a,env in (prod,staging),!legacy)"),
                    )
                })
            })
            .transpose()
    }

    /// The value of `name`, if given (and not empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A UUID-typed id, if given (an empty value is malformed, not absent).
    pub fn id<T: FromStr>(&self, name: &str) -> ApiResult<Option<T>> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| parse_id(name, v))
            .transpose()
    }

    /// `waitFor` (a comma-separated list of states) and `timeout` of a long-poll, if `waitFor` is given.
    pub fn wait<T: FromStr<Err = String>>(&self) -> ApiResult<Option<Wait<T>>> {
        let Some(states) = self.get("waitFor") else {
            // a timeout alone waits for nothing: say so rather than ignore it
            if self.get("timeout").is_some() {
                return Err(ApiError::parameter(
                    "timeout",
                    "applies only together with waitFor",
                ));
            }
            return Ok(None);
        };
        let states = states
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<T>()
                    .map_err(|e| ApiError::parameter("waitFor", e))
            })
            .collect::<ApiResult<Vec<T>>>()?;
        if states.is_empty() {
            return Err(ApiError::parameter(
                "waitFor",
                "name at least one state, e.g. waitFor=COMPLETED,FAILED",
            ));
        }
        let timeout = match self.get("timeout") {
            None => DEFAULT_WAIT,
            Some(t) => parse_timeout(t)?,
        };
        Ok(Some(Wait { states, timeout }))
    }
}

/// How long a long-poll waits without `timeout`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// The longest a long-poll waits.
pub const MAX_WAIT: Duration = Duration::from_secs(120);

/// `30s`, `500ms`, `2m` or a plain number of seconds, within
/// [`stateplane_model::duration::LONG_POLL_TIMEOUT`]; the wait itself is capped at [`MAX_WAIT`].
fn parse_timeout(t: &str) -> ApiResult<Duration> {
    let d = stateplane_model::duration::LONG_POLL_TIMEOUT
        .parse(t)
        .map_err(|e| {
            ApiError::parameter(
                "timeout",
                format!(
                    "{e}; use e.g. timeout=30s (the server waits at most {}s)",
                    MAX_WAIT.as_secs()
                ),
            )
        })?;
    Ok(d.min(MAX_WAIT))
}

/// A long-poll: wait until the resource is in one of `states`, at most `timeout`.
#[derive(Debug, Clone)]
pub struct Wait<T> {
    pub states: Vec<T>,
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateplane_model::SavepointState;

    fn params(q: &[(&str, &str)]) -> Params {
        Params(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn waits_parse_and_cap() {
        let w = params(&[("waitFor", "completed, FAILED"), ("timeout", "5s")])
            .wait::<SavepointState>()
            .unwrap()
            .unwrap();
        assert_eq!(
            w.states,
            vec![SavepointState::Completed, SavepointState::Failed]
        );
        assert_eq!(w.timeout, Duration::from_secs(5));
        let w = params(&[("waitFor", "COMPLETED"), ("timeout", "1h")])
            .wait::<SavepointState>()
            .unwrap()
            .unwrap();
        assert_eq!(w.timeout, MAX_WAIT);
        let w = params(&[("waitFor", "COMPLETED"), ("timeout", "250ms")])
            .wait::<SavepointState>()
            .unwrap()
            .unwrap();
        assert_eq!(w.timeout, Duration::from_millis(250));
        let e = params(&[("waitFor", "DONE")])
            .wait::<SavepointState>()
            .unwrap_err();
        assert!(matches!(e, ApiError::InvalidParameter { ref name, .. } if name == "waitFor"));
        for bad in ["soon", "9999999999d", "99999999999999999999", "2h", "-1"] {
            let e = params(&[("waitFor", "COMPLETED"), ("timeout", bad)])
                .wait::<SavepointState>()
                .unwrap_err();
            assert!(
                matches!(e, ApiError::InvalidParameter { ref name, ref message }
                    if name == "timeout" && message.contains("allowed are 0s to 1h")),
                "{bad}: {e:?}"
            );
        }
        assert!(params(&[]).wait::<SavepointState>().unwrap().is_none());
    }
}
