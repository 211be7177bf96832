//! [`FlinkClient`]: one method per Flink REST call the control plane needs.
//!
//! Why this shape: each method is a single HTTP request with a deadline and a typed answer, so the
//! controller can compose them into level-triggered reconcile steps and decide itself what to retry.
//! The client holds the URL, a connection pool and the cluster's Flink version (learned from
//! `GET /overview`, refreshed by every [`FlinkClient::overview`] call and forgotten when the cluster
//! cannot be reached, since it may come back as another release); cloning it is cheap and clones share
//! the version and the cluster's request [`Budget`].

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::budget::{Budget, BudgetConfig};
use crate::error::{root_cause_of_error_body, FlinkError};
use crate::ids::{FlinkJobId, JarId, TriggerId};
use crate::types::{
    CheckpointStats, ClusterOverview, DisposalStatus, JarInfo, JobDetails, JobState, JobSummary,
    RunJarRequest, SavepointStatus, SavepointTrigger, StopWithSavepoint,
};
use crate::version::FlinkVersion;
use crate::wire;

pub(crate) mod plan;
mod upload;

/// Default per-call timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Uploads get at least this long: a fat jar takes a while even on a fast network.
const MIN_UPLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// Async client of one Flink cluster's REST API. Cheap to clone (shares the connection pool).
#[derive(Debug, Clone)]
pub struct FlinkClient {
    http: reqwest::Client,
    base: Url,
    timeout: Duration,
    /// The cluster's version, once known; decides the REST dialect of `run_jar`.
    version: Arc<Mutex<Option<FlinkVersion>>>,
    /// The cluster's request budget, shared by every clone.
    budget: Arc<Budget>,
}

/// A request body.
enum Body<'a, B: Serialize> {
    None,
    Json(&'a B),
}

impl FlinkClient {
    /// A client for the cluster whose REST endpoint is `rest_url` (e.g. `http://127.0.0.1:8081`,
    /// optionally with a path prefix when behind a proxy). Checks the URL only; does not connect.
    pub fn new(rest_url: &str) -> Result<FlinkClient, FlinkError> {
        let invalid = |reason: &str| FlinkError::InvalidUrl {
            url: rest_url.to_owned(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(rest_url.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("scheme must be http or https"));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if base.cannot_be_a_base() {
            return Err(invalid("not a base URL"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("must not have a query or fragment"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid("credentials in the URL are not supported"));
        }
        // Normalise to a path without a trailing slash, so segments are appended uniformly.
        let trimmed = base.path().trim_end_matches('/').to_owned();
        base.set_path(&trimmed);
        let http = reqwest::Client::builder()
            .connect_timeout(DEFAULT_TIMEOUT)
            .user_agent(concat!("stateplane-flink/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(&format!("cannot build HTTP client: {e}")))?;
        Ok(FlinkClient {
            http,
            base,
            timeout: DEFAULT_TIMEOUT,
            version: Arc::new(Mutex::new(None)),
            budget: Arc::new(Budget::new(BudgetConfig::default())),
        })
    }

    /// The same client with its own request budget of these limits (see [`crate::budget`]); clones
    /// made afterwards share it.
    pub fn with_budget(mut self, config: BudgetConfig) -> FlinkClient {
        self.budget = Arc::new(Budget::new(config));
        self
    }

    /// The cluster's request budget.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Waits until the cluster's budget allows one more polling question (see [`crate::budget`]).
    /// Callers asking again about an operation they wait for take one before each question.
    pub async fn poll_permit(&self) {
        self.budget.poll().await;
    }

    /// Requests this client and its clones have sent.
    pub fn requests_sent(&self) -> u64 {
        self.budget.requests_sent()
    }

    /// The same client with another per-call timeout (default 10 s; jar uploads get at least 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> FlinkClient {
        self.timeout = timeout;
        self
    }

    /// The REST URL this client talks to, without a trailing slash.
    pub fn rest_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    // ----- cluster ------------------------------------------------------------------------------

    /// `GET /overview`: version, TaskManagers, slots, running jobs. Also refreshes the cached
    /// version (see [`Self::flink_version`]).
    pub async fn overview(&self) -> Result<ClusterOverview, FlinkError> {
        let wire: wire::OverviewWire = self
            .get(&["overview"], || "cluster overview".into())
            .await?;
        let overview: ClusterOverview = wire.into();
        self.set_version(FlinkVersion::parse(&overview.flink_version).ok());
        Ok(overview)
    }

    /// The cluster's Flink version: cached, or asked with `GET /overview` (one call per client until
    /// the cluster is unreachable). A version that is not `MAJOR.MINOR...` is a
    /// [`FlinkError::Decode`].
    pub async fn flink_version(&self) -> Result<FlinkVersion, FlinkError> {
        if let Some(v) = self.cached_version() {
            return Ok(v);
        }
        let overview = self.overview().await?;
        FlinkVersion::parse(&overview.flink_version).map_err(|e| FlinkError::Decode {
            operation: "GET /overview".into(),
            message: e.to_string(),
        })
    }

    /// The version learned by an earlier call, without asking Flink.
    pub fn cached_version(&self) -> Option<FlinkVersion> {
        self.version
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_version(&self, version: Option<FlinkVersion>) {
        *self.version.lock().unwrap_or_else(PoisonError::into_inner) = version;
    }

    // ----- jars ---------------------------------------------------------------------------------

    /// Uploads a jar file from the local disk (`POST /jars/upload`).
    pub async fn upload_jar(&self, path: &Path) -> Result<JarId, FlinkError> {
        let jar_file = |message: String| FlinkError::JarFile {
            path: path.to_owned(),
            message,
        };
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| jar_file("no UTF-8 file name".into()))?
            .to_owned();
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| jar_file(e.to_string()))?;
        self.upload_jar_bytes(&file_name, bytes).await
    }

    /// Uploads a jar from memory; `file_name` should end in `.jar` (Flink checks).
    pub async fn upload_jar_bytes(
        &self,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<JarId, FlinkError> {
        Ok(self.upload_jar_stored(file_name, bytes).await?.0)
    }

    /// `GET /jars`: the jars uploaded to this cluster.
    pub async fn list_jars(&self) -> Result<Vec<JarInfo>, FlinkError> {
        let wire: wire::JarsWire = self.get(&["jars"], || "jar list".into()).await?;
        wire.into_jars().map_err(|message| FlinkError::Decode {
            operation: "GET /jars".into(),
            message,
        })
    }

    /// `DELETE /jars/{jar}`. An unknown jar is [`FlinkError::NotFound`].
    pub async fn delete_jar(&self, jar: &JarId) -> Result<(), FlinkError> {
        let _: serde_json::Value = self
            .call(
                Method::DELETE,
                &["jars", jar.as_str()],
                Body::<()>::None,
                || format!("jar {jar}"),
            )
            .await?;
        Ok(())
    }

    /// `POST /jars/{jar}/run`: submits a job, in the dialect of the cluster's version (asked first
    /// when not known yet): `claimMode` or `restoreMode`, and configuration keys in the spelling the
    /// cluster reads (see [`crate::translate_configuration`]). With [`RunJarRequest::job_id`] set the
    /// submission is at-most-once (Flink refuses a duplicate id with [`FlinkError::Api`]).
    pub async fn run_jar(
        &self,
        jar: &JarId,
        request: &RunJarRequest,
    ) -> Result<FlinkJobId, FlinkError> {
        let op = format!("POST /jars/{jar}/run");
        let version = self.flink_version().await?;
        let body = wire::RunJarBody::new(request, &version);
        // The run executes the program's main in the JobManager, as a plan does.
        let client = self
            .clone()
            .with_timeout(self.timeout.max(plan::MIN_PLAN_TIMEOUT));
        let wire: wire::RunWire = client
            .call(
                Method::POST,
                &["jars", jar.as_str(), "run"],
                Body::Json(&body),
                || format!("jar {jar}"),
            )
            .await?;
        FlinkJobId::parse(&wire.jobid).map_err(|e| FlinkError::Decode {
            operation: op,
            message: e.to_string(),
        })
    }

    // ----- jobs ---------------------------------------------------------------------------------

    /// `GET /jobs/{job}`; `None` when Flink does not know the job (never submitted, or forgotten
    /// after a JobManager restart). Up to 3 s stale (REST cache).
    pub async fn job(&self, job: &FlinkJobId) -> Result<Option<JobDetails>, FlinkError> {
        let op = format!("GET /jobs/{job}");
        match self
            .get::<wire::JobWire>(&["jobs", job.as_str()], || format!("job {job}"))
            .await
        {
            Ok(wire) => wire
                .into_details()
                .map(Some)
                .map_err(|message| FlinkError::Decode {
                    operation: op,
                    message,
                }),
            Err(FlinkError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /jobs/{job}/status`: only the job's state, but fresh — unlike [`Self::job`] this is not
    /// served from the REST server's 3 s execution-graph cache, so a controller sees transitions
    /// (RUNNING, CANCELED, FINISHED) as they happen. `None` when Flink does not know the job (Flink
    /// answers that with a 500 here, not a 404).
    pub async fn job_status(&self, job: &FlinkJobId) -> Result<Option<JobState>, FlinkError> {
        let op = format!("GET /jobs/{job}/status");
        let request = self
            .http
            .get(self.url(&["jobs", job.as_str(), "status"]))
            .timeout(self.timeout);
        let (status, body) = self.send(&op, request, true).await?;
        if status == StatusCode::NOT_FOUND
            || (status == StatusCode::INTERNAL_SERVER_ERROR
                && String::from_utf8_lossy(&body).contains("FlinkJobNotFoundException"))
        {
            return Ok(None);
        }
        let wire: wire::JobStatusWire =
            self.decode_success(&op, status, &body, || format!("job {job}"))?;
        Ok(Some(JobState::parse(&wire.status)))
    }

    /// `GET /jobs/overview`: every job the cluster knows, terminal ones included. Not cached by the
    /// REST server, so states are fresh.
    pub async fn jobs_overview(&self) -> Result<Vec<JobSummary>, FlinkError> {
        let wire: wire::JobsOverviewWire = self
            .get(&["jobs", "overview"], || "job overview".into())
            .await?;
        wire.into_summaries().map_err(|message| FlinkError::Decode {
            operation: "GET /jobs/overview".into(),
            message,
        })
    }

    /// `PATCH /jobs/{job}?mode=cancel`. Unknown job: [`FlinkError::NotFound`]; a job that already
    /// FINISHED or FAILED: [`FlinkError::AlreadyTerminal`]. Cancelling a CANCELED job succeeds.
    pub async fn cancel(&self, job: &FlinkJobId) -> Result<(), FlinkError> {
        let op = format!("PATCH /jobs/{job}?mode=cancel");
        let mut url = self.url(&["jobs", job.as_str()]);
        url.query_pairs_mut().append_pair("mode", "cancel");
        let (status, body) = self
            .send(&op, self.http.patch(url).timeout(self.timeout), false)
            .await?;
        if status == StatusCode::CONFLICT {
            return Err(FlinkError::AlreadyTerminal {
                job: job.clone(),
                root_cause: root_cause_of_error_body(&body),
            });
        }
        let _: serde_json::Value =
            self.decode_success(&op, status, &body, || format!("job {job}"))?;
        Ok(())
    }

    /// `GET /jobs/{job}/exceptions`: the root cause of the job's most recent failure, one line, or
    /// `None` when it has not failed. Best effort: Flink keeps a bounded history.
    pub async fn job_exceptions(&self, job: &FlinkJobId) -> Result<Option<String>, FlinkError> {
        Ok(self.job_failures(job).await?.1)
    }

    /// `GET /jobs/{job}/exceptions`: how many failures Flink's exception history lists (bounded by
    /// `web.exception-history-size`, 16 by default) and the root cause of the latest, one line.
    pub async fn job_failures(
        &self,
        job: &FlinkJobId,
    ) -> Result<(u32, Option<String>), FlinkError> {
        let wire: wire::ExceptionsWire = self
            .get(&["jobs", job.as_str(), "exceptions"], || {
                format!("job {job}")
            })
            .await?;
        Ok((wire.failures(), wire.latest_root_cause()))
    }

    // ----- savepoints and checkpoints -----------------------------------------------------------

    /// `POST /jobs/{job}/savepoints`: starts a savepoint; poll it with [`Self::savepoint_status`].
    /// Repeating the call with the same trigger id returns the same operation.
    pub async fn trigger_savepoint(
        &self,
        job: &FlinkJobId,
        trigger: &SavepointTrigger,
    ) -> Result<TriggerId, FlinkError> {
        let body = wire::SavepointTriggerBody::from(trigger);
        let wire: wire::RequestIdWire = self
            .call(
                Method::POST,
                &["jobs", job.as_str(), "savepoints"],
                Body::Json(&body),
                || format!("job {job}"),
            )
            .await?;
        self.trigger_id(&format!("POST /jobs/{job}/savepoints"), &wire.request_id)
    }

    /// `POST /jobs/{job}/stop`: savepoint, then the job ends FINISHED. Poll it with
    /// [`Self::savepoint_status`]. Repeating the call with the same trigger id is one operation.
    pub async fn stop_with_savepoint(
        &self,
        job: &FlinkJobId,
        stop: &StopWithSavepoint,
    ) -> Result<TriggerId, FlinkError> {
        let body = wire::StopBody::from(stop);
        let wire: wire::RequestIdWire = self
            .call(
                Method::POST,
                &["jobs", job.as_str(), "stop"],
                Body::Json(&body),
                || format!("job {job}"),
            )
            .await?;
        self.trigger_id(&format!("POST /jobs/{job}/stop"), &wire.request_id)
    }

    /// `GET /jobs/{job}/savepoints/{trigger}`: state of a savepoint or stop-with-savepoint. An
    /// unknown job or trigger (also: expired after 5 min, or lost in a JobManager restart) is
    /// [`FlinkError::NotFound`].
    pub async fn savepoint_status(
        &self,
        job: &FlinkJobId,
        trigger: &TriggerId,
    ) -> Result<SavepointStatus, FlinkError> {
        let op = format!("GET /jobs/{job}/savepoints/{trigger}");
        let wire: wire::AsyncOperationWire = self
            .get(
                &["jobs", job.as_str(), "savepoints", trigger.as_str()],
                || format!("savepoint trigger {trigger} of job {job}"),
            )
            .await?;
        wire.into_savepoint_status()
            .map_err(|message| FlinkError::Decode {
                operation: op,
                message,
            })
    }

    /// `GET /jobs/{job}/checkpoints`: latest completed checkpoint and savepoint, and what the job
    /// restored from. Up to 3 s stale (REST cache).
    pub async fn checkpoints(&self, job: &FlinkJobId) -> Result<CheckpointStats, FlinkError> {
        let wire: wire::CheckpointingWire = self
            .get(&["jobs", job.as_str(), "checkpoints"], || {
                format!("job {job}")
            })
            .await?;
        Ok(wire.into())
    }

    /// `POST /savepoint-disposal`: deletes a savepoint's files (its `_metadata` is read to find
    /// them). Poll with [`Self::disposal_status`]. Flink chooses the trigger id here.
    pub async fn dispose_savepoint(&self, path: &str) -> Result<TriggerId, FlinkError> {
        let body = wire::DisposalBody {
            savepoint_path: path,
        };
        let wire: wire::RequestIdWire = self
            .call(
                Method::POST,
                &["savepoint-disposal"],
                Body::Json(&body),
                || "savepoint disposal".into(),
            )
            .await?;
        self.trigger_id("POST /savepoint-disposal", &wire.request_id)
    }

    /// `GET /savepoint-disposal/{trigger}`. An unknown or expired trigger is [`FlinkError::NotFound`].
    pub async fn disposal_status(&self, trigger: &TriggerId) -> Result<DisposalStatus, FlinkError> {
        let op = format!("GET /savepoint-disposal/{trigger}");
        let wire: wire::AsyncOperationWire = self
            .get(&["savepoint-disposal", trigger.as_str()], || {
                format!("savepoint disposal {trigger}")
            })
            .await?;
        wire.into_disposal_status()
            .map_err(|message| FlinkError::Decode {
                operation: op,
                message,
            })
    }

    // ----- plumbing -----------------------------------------------------------------------------

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `new` rejected URLs that cannot be a base, so this branch always runs.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn trigger_id(&self, op: &str, raw: &str) -> Result<TriggerId, FlinkError> {
        TriggerId::parse(raw).map_err(|e| FlinkError::Decode {
            operation: op.to_owned(),
            message: e.to_string(),
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        resource: impl FnOnce() -> String,
    ) -> Result<T, FlinkError> {
        self.call(Method::GET, segments, Body::<()>::None, resource)
            .await
    }

    /// One request with the client's timeout; 2xx bodies decode into `T`, 404 becomes
    /// [`FlinkError::NotFound`] naming `resource`, anything else [`FlinkError::Api`].
    async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        body: Body<'_, B>,
        resource: impl FnOnce() -> String,
    ) -> Result<T, FlinkError> {
        let op = format!("{method} /{}", segments.join("/"));
        let question = method == Method::GET;
        let mut request = self
            .http
            .request(method, self.url(segments))
            .timeout(self.timeout);
        if let Body::Json(b) = body {
            request = request.json(b);
        }
        let (status, bytes) = self.send(&op, request, question).await?;
        self.decode_success(&op, status, &bytes, resource)
    }

    /// Sends one request; a `question` (a GET) first takes one of the budget's in-flight slots.
    async fn send(
        &self,
        op: &str,
        request: reqwest::RequestBuilder,
        question: bool,
    ) -> Result<(StatusCode, bytes::Bytes), FlinkError> {
        let _slot = match question {
            true => self.budget.question().await,
            false => None,
        };
        self.budget.count();
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(op, e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(op, e))?;
        tracing::debug!(operation = op, status = status.as_u16(), "flink rest call");
        Ok((status, bytes))
    }

    fn decode_success<T: DeserializeOwned>(
        &self,
        op: &str,
        status: StatusCode,
        body: &[u8],
        resource: impl FnOnce() -> String,
    ) -> Result<T, FlinkError> {
        if status.is_success() {
            // Some answers (cancel, delete) have an empty body; let `Value` callers accept that.
            let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
                b"null"
            } else {
                body
            };
            return serde_json::from_slice(body).map_err(|e| FlinkError::Decode {
                operation: op.to_owned(),
                message: e.to_string(),
            });
        }
        if status == StatusCode::NOT_FOUND {
            return Err(FlinkError::NotFound {
                resource: resource(),
            });
        }
        Err(FlinkError::Api {
            status: status.as_u16(),
            root_cause: root_cause_of_error_body(body),
        })
    }

    fn transport_error(&self, op: &str, e: reqwest::Error) -> FlinkError {
        if e.is_timeout() {
            return FlinkError::Timeout {
                operation: op.to_owned(),
                after: self.timeout,
            };
        }
        if e.is_decode() {
            return FlinkError::Decode {
                operation: op.to_owned(),
                message: error_chain(&e),
            };
        }
        // The cluster is gone for now; it may come back as another release.
        self.set_version(None);
        FlinkError::Connect {
            operation: op.to_owned(),
            message: error_chain(&e),
        }
    }
}

/// `reqwest`'s own message is terse ("error sending request"); the sources say why. One line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message.replace('\n', " ")
}

mod rescale;
#[cfg(test)]
mod tests;
