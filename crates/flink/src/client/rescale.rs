//! The calls of in-place rescaling: which scheduler the cluster runs (`GET /jobmanager/config`) and a
//! job's resource requirements (`GET`/`PUT /jobs/{jid}/resource-requirements`, adaptive scheduler
//! only; Flink 1.18+). Kept apart from the client's other calls so each file stays small.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Body, FlinkClient};
use crate::error::FlinkError;
use crate::ids::FlinkJobId;

#[derive(Debug, Deserialize)]
struct ConfigEntry {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounds {
    lower_bound: u32,
    upper_bound: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct VertexRequirements {
    parallelism: Bounds,
}

impl FlinkClient {
    /// `GET /jobmanager/config`: the cluster's configuration as `key → value` (only keys that are
    /// set, sensitive values masked by Flink).
    pub async fn jobmanager_config(&self) -> Result<BTreeMap<String, String>, FlinkError> {
        let entries: Vec<ConfigEntry> = self
            .get(&["jobmanager", "config"], || {
                "jobmanager configuration".into()
            })
            .await?;
        Ok(entries.into_iter().map(|e| (e.key, e.value)).collect())
    }

    /// The cluster's scheduler: `jobmanager.scheduler` of [`Self::jobmanager_config`], lower case;
    /// `default` when the key is not set (Flink's default scheduler).
    pub async fn scheduler(&self) -> Result<String, FlinkError> {
        let config = self.jobmanager_config().await?;
        Ok(config
            .get("jobmanager.scheduler")
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into()))
    }

    /// `GET /jobs/{job}/resource-requirements`: the upper bound of each vertex's parallelism that
    /// Flink was last asked for (the requested value, not the running one). The default scheduler
    /// answers 500 ([`FlinkError::Api`]).
    pub async fn resource_requirements(
        &self,
        job: &FlinkJobId,
    ) -> Result<BTreeMap<String, u32>, FlinkError> {
        let wire: BTreeMap<String, VertexRequirements> = self
            .get(&["jobs", job.as_str(), "resource-requirements"], || {
                format!("job {job}")
            })
            .await?;
        Ok(wire
            .into_iter()
            .map(|(id, r)| (id, r.parallelism.upper_bound))
            .collect())
    }

    /// `PUT /jobs/{job}/resource-requirements`: every vertex of the job to run with up to the given
    /// parallelism (lower bound 1, so the job keeps running with fewer slots than asked for). Sending
    /// the same requirements again changes nothing. Flink refuses with 400 (above max parallelism, a
    /// vertex missing) or 500 (default scheduler), both [`FlinkError::Api`].
    pub async fn set_resource_requirements(
        &self,
        job: &FlinkJobId,
        parallelism: &BTreeMap<String, u32>,
    ) -> Result<(), FlinkError> {
        let body: BTreeMap<&str, VertexRequirements> = parallelism
            .iter()
            .map(|(id, p)| {
                (
                    id.as_str(),
                    VertexRequirements {
                        parallelism: Bounds {
                            lower_bound: 1,
                            upper_bound: *p,
                        },
                    },
                )
            })
            .collect();
        let _: serde_json::Value = self
            .call(
                Method::PUT,
                &["jobs", job.as_str(), "resource-requirements"],
                Body::Json(&body),
                || format!("job {job}"),
            )
            .await?;
        Ok(())
    }
}
