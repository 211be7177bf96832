//! Rescaling in place: when a RUNNING deployment's template change is only its parallelism (the
//! `parallelism` field, or per-vertex overrides in `pipeline.jobvertex-parallelism-overrides`), its
//! job runs on a cluster with Flink's adaptive scheduler and no vertex would exceed its max
//! parallelism, the job's resource requirements are changed in place (`PUT
//! /jobs/{jid}/resource-requirements`): no savepoint, no new Job, the same Flink job id. Otherwise the
//! deployment's upgrade strategy applies, and an event says why.
//!
//! Crash safety (DESIGN.md): the intent is written on the job row before Flink is asked
//! ([`RESCALE_ANNOTATION`]: the spec version and the per-vertex parallelisms), and everything after is
//! matched against Flink: requirements that differ from the intent are sent again (a PUT of the same
//! requirements is the same request), vertices that all run at the intended parallelism complete it,
//! and a rescale that does not complete within [`TIME_LIMIT`] falls back to the upgrade strategy. The
//! fallback is recorded too ([`RESCALE_REFUSED_ANNOTATION`]: the spec version it is about), so a
//! later pass never tries in place again for that version, and a newer template is judged afresh.
//! The job row takes the new spec version only once Flink runs it, so a savepoint taken afterwards
//! carries the spec version the job runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Action, Ask, Observed, Operation, Poll, PollAsk, TargetView};
use crate::{Deployment, Job};

/// Job annotation: the in-place rescale under way ([`Intent`] as JSON).
pub const RESCALE_ANNOTATION: &str = "stateplane.io/rescale";
/// Job annotation: the spec version for which rescaling in place was refused or failed.
pub const RESCALE_REFUSED_ANNOTATION: &str = "stateplane.io/rescale-refused";
/// Job annotation: the parallelism of each vertex (JSON, vertex id → parallelism) as Flink confirmed it
/// at the end of the last in-place rescale; shown by the UI.
pub const VERTEX_PARALLELISM_ANNOTATION: &str = "stateplane.io/vertex-parallelism";
/// Flink's per-vertex parallelism overrides (`<vertex id>:<parallelism>,…`).
pub const VERTEX_OVERRIDES_KEY: &str = "pipeline.jobvertex-parallelism-overrides";
/// How long an in-place rescale may take before the upgrade strategy takes over. Flink 2.3 waits for
/// the next checkpoint and, by default, 30 s after the previous rescale; 1.20 for its scaling interval.
pub const TIME_LIMIT: Duration = Duration::seconds(120);
/// Keys a started job's configuration has that the template need not: the directories the controller
/// derives from blob storage.
const DERIVED_KEYS: [&str; 3] = [
    "execution.checkpointing.dir",
    "execution.checkpointing.externalized-checkpoint-retention",
    "execution.checkpointing.savepoint-dir",
];

/// The in-place rescale recorded on a job row before Flink is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    /// The deployment spec version the job runs once rescaled.
    pub spec_version: u64,
    /// Vertex id → parallelism.
    pub parallelism: BTreeMap<String, u32>,
    pub since: DateTime<Utc>,
}

impl Intent {
    /// The intent recorded on `job`, if any (an unreadable annotation counts as none).
    pub fn of(job: &Job) -> Option<Intent> {
        serde_json::from_str(job.metadata.annotations.get(RESCALE_ANNOTATION)?).ok()
    }
}

/// One vertex of the running job, as Flink reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VertexView {
    pub id: String,
    pub parallelism: u32,
    /// 0 when Flink did not say.
    pub max_parallelism: u32,
    /// Flink reports the vertex RUNNING.
    pub running: bool,
}

/// Flink's view of the running job for a rescale.
#[derive(Debug, Clone, PartialEq)]
pub enum RescaleView {
    /// The job's vertices (`/jobs/{jid}`, up to 3 s stale) and the upper bounds Flink was last asked
    /// for (`/jobs/{jid}/resource-requirements`; None when Flink cannot say: default scheduler).
    Found {
        vertices: Vec<VertexView>,
        requested: Option<BTreeMap<String, u32>>,
    },
    /// Flink did not answer, or does not know the job.
    Unreachable { error: String },
}

/// The per-vertex parallelisms an in-place rescale of `job` to `d`'s template sets, or why the change
/// is not one for in place (the rule in the module docs). `adaptive`: the job's cluster runs the
/// adaptive scheduler (None: not known).
pub fn decide(
    job: &Job,
    d: &Deployment,
    adaptive: Option<bool>,
    vertices: &[VertexView],
) -> Result<BTreeMap<String, u32>, String> {
    let t = &d.spec.template.spec;
    if t.artifact != job.spec.artifact {
        return Err("the artifact changed too".into());
    }
    let target = d
        .spec
        .deployment_target_name
        .as_deref()
        .unwrap_or("default");
    if job
        .spec
        .deployment_target_name
        .as_deref()
        .unwrap_or("default")
        != target
    {
        return Err("the deployment target changed too".into());
    }
    let mut other: Vec<&str> = t
        .flink_configuration
        .iter()
        .filter(|(k, v)| {
            *k != VERTEX_OVERRIDES_KEY && job.spec.flink_configuration.get(*k) != Some(v)
        })
        .map(|(k, _)| k.as_str())
        .collect();
    other.extend(
        job.spec
            .flink_configuration
            .keys()
            .filter(|k| *k != VERTEX_OVERRIDES_KEY && !DERIVED_KEYS.contains(&k.as_str()))
            .filter(|k| !t.flink_configuration.contains_key(*k))
            .map(String::as_str),
    );
    if !other.is_empty() {
        other.sort_unstable();
        other.dedup();
        return Err(format!(
            "the Flink configuration changed too ({})",
            other.join(", ")
        ));
    }
    match adaptive {
        Some(true) => {}
        Some(false) => {
            return Err(
                "the deployment target's cluster runs Flink's default scheduler (set jobmanager.scheduler: adaptive to rescale in place)"
                    .into(),
            )
        }
        None => return Err("the deployment target's scheduler is not known yet".into()),
    }
    let old_overrides = overrides(job.spec.flink_configuration.get(VERTEX_OVERRIDES_KEY))?;
    let new_overrides = overrides(t.flink_configuration.get(VERTEX_OVERRIDES_KEY))?;
    if t.parallelism.is_none() && job.spec.parallelism.is_some() {
        return Err("the new template sets no parallelism (the cluster's default applies)".into());
    }
    if vertices.is_empty() {
        return Err("Flink reports no vertices of the job".into());
    }
    let mut out = BTreeMap::new();
    let mut too_big = Vec::new();
    for v in vertices {
        let from_template = old_overrides.get(&v.id).copied().or(job.spec.parallelism);
        let wanted = match new_overrides.get(&v.id) {
            Some(p) => *p,
            // A vertex whose parallelism the template did not give is set in the job's code: an
            // upgrade would keep it, so in place keeps it too.
            None if from_template.is_some_and(|p| p != v.parallelism) => v.parallelism,
            None => t.parallelism.unwrap_or(v.parallelism),
        };
        // 0: Flink did not say (Flink's own check refuses the PUT then).
        if v.max_parallelism > 0 && wanted > v.max_parallelism {
            too_big.push(format!(
                "vertex {} would run at {wanted}, above its max parallelism {}",
                v.id, v.max_parallelism
            ));
        }
        out.insert(v.id.clone(), wanted);
    }
    if let Some(unknown) = new_overrides.keys().find(|k| !out.contains_key(*k)) {
        return Err(format!(
            "{VERTEX_OVERRIDES_KEY} names vertex {unknown}, which the job does not have"
        ));
    }
    if !too_big.is_empty() {
        return Err(too_big.join("; "));
    }
    Ok(out)
}

/// Parses `<vertex id>:<parallelism>,…` (absent: none).
fn overrides(value: Option<&String>) -> Result<BTreeMap<String, u32>, String> {
    let mut out = BTreeMap::new();
    for part in value.map(String::as_str).unwrap_or("").split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let parsed = part
            .split_once(':')
            .and_then(|(id, p)| {
                Some((
                    id.trim().to_ascii_lowercase(),
                    p.trim().parse::<u32>().ok()?,
                ))
            })
            .filter(|(id, p)| {
                *p > 0 && id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
            });
        match parsed {
            Some((id, p)) => out.insert(id, p),
            None => {
                return Err(format!(
                    "{VERTEX_OVERRIDES_KEY} has an entry that is not <vertex id>:<parallelism>: '{part}'"
                ))
            }
        };
    }
    Ok(out)
}

/// Whether the template change is about parallelism at all (else the upgrade strategy applies
/// without a word about rescaling).
fn parallelism_changed(job: &Job, d: &Deployment) -> bool {
    let t = &d.spec.template.spec;
    t.parallelism != job.spec.parallelism
        || t.flink_configuration.get(VERTEX_OVERRIDES_KEY)
            != job.spec.flink_configuration.get(VERTEX_OVERRIDES_KEY)
}

/// The rescale step for a running job whose template changed, or None: the upgrade strategy applies.
pub(super) fn plan(o: &Observed<'_>, job: &Job) -> Option<Action> {
    let d = o.deployment;
    let id = job.metadata.id;
    let version = d.spec_version();
    let refused_for = job
        .metadata
        .annotations
        .get(RESCALE_REFUSED_ANNOTATION)
        .and_then(|v| v.parse::<u64>().ok());
    if refused_for == Some(version) {
        return None;
    }
    if let Some((j, reason)) = &o.answers.rescale_refused {
        if *j == id {
            return Some(Action::RescaleFallback {
                job: id,
                reason: format!("Flink refused the new resource requirements: {reason}"),
            });
        }
    }
    let intent = Intent::of(job).filter(|i| i.spec_version == version);
    if intent.is_none() && !parallelism_changed(job, d) {
        return None;
    }
    let view = o
        .answers
        .rescale
        .as_ref()
        .filter(|(j, _)| *j == id)
        .map(|(_, v)| v);
    let target_name = job
        .spec
        .deployment_target_name
        .clone()
        .unwrap_or_else(|| "default".into());
    let need_target = intent.is_none() && o.answers.target.is_none();
    if view.is_none() || need_target {
        return Some(Action::Observe {
            ask: Ask {
                rescale: view.is_none(),
                target: need_target.then_some(target_name),
                ..Ask::default()
            },
        });
    }
    let (vertices, requested) = match view? {
        RescaleView::Found {
            vertices,
            requested,
        } => (vertices, requested),
        RescaleView::Unreachable { error } => {
            return Some(Action::Wait {
                reason: format!("Flink did not answer about the job's vertices: {error}"),
                poll: Some(Poll {
                    ask: PollAsk::Rescale,
                    operation: Operation::Flink,
                    since: o.now,
                }),
            })
        }
    };
    let Some(intent) = intent else {
        let adaptive = match &o.answers.target {
            Some(TargetView::Found { target, .. }) => target.adaptive_scheduler(),
            _ => None,
        };
        return Some(match decide(job, d, adaptive, vertices) {
            Ok(parallelism) => Action::RescaleInPlace {
                job: id,
                parallelism,
            },
            Err(reason) => Action::RescaleFallback { job: id, reason },
        });
    };
    if requested.as_ref() != Some(&intent.parallelism) {
        // The intent was written but its requirements never reached Flink (a crash between the two).
        return Some(if o.now - intent.since > TIME_LIMIT {
            Action::RescaleFallback {
                job: id,
                reason: "Flink does not hold the requested resource requirements".into(),
            }
        } else {
            Action::RescaleInPlace {
                job: id,
                parallelism: intent.parallelism,
            }
        });
    }
    let done = vertices.len() == intent.parallelism.len()
        && vertices
            .iter()
            .all(|v| v.running && intent.parallelism.get(&v.id) == Some(&v.parallelism));
    if done {
        return Some(Action::CompleteRescale { job: id });
    }
    if o.now - intent.since > TIME_LIMIT {
        return Some(Action::RescaleFallback {
            job: id,
            reason: format!(
                "Flink did not run every vertex at the new parallelism within {} s (not enough slots?)",
                TIME_LIMIT.num_seconds()
            ),
        });
    }
    Some(Action::Wait {
        reason: "rescaling in place: waiting for every vertex to run at the new parallelism".into(),
        poll: Some(Poll {
            ask: PollAsk::Rescale,
            operation: Operation::Rescale,
            since: intent.since,
        }),
    })
}

#[cfg(test)]
mod tests;
