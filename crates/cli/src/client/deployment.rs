//! `stateplane deployment …`: apply, get, list, delete, suspend / resume / cancel (optionally waiting
//! for the state), and fork from a snapshot.
//!
//! Fork is a documented flow over the public API, not a server operation:
//! 1. read NAME and the savepoint (it must be NAME's, COMPLETED, with a location);
//! 2. create NEW with NAME's labels, annotations and spec, but `spec.state: CANCELLED` (nothing starts);
//! 3. give NEW a COPIED savepoint at the same location: `POST savepoints/{id}/copy` where the server
//!    has it, else the registration body of Ververica's "manually adding a savepoint", stamped with
//!    NEW's spec version so that the restore selection uses it;
//! 4. if step 3 fails, NEW is deleted again (it never ran), so a failed fork leaves nothing behind.
//!
//! `deployment resume NEW` then starts NEW from that snapshot.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use serde_json::{json, Map, Value};
use stateplane_model::storage::teardown;
use stateplane_model::{
    Deployment, DeploymentState, DesiredState, Job, Savepoint, SavepointState,
    SPEC_VERSION_ANNOTATION,
};

use super::output::{self, age, fields, or_dash, short, table_or, time, Col, Cut};
use super::savepoint::{copy_to, RestorePreview};
use super::wait::{self, parse_timeout};
use super::{items, typed, CliError, Client, Output, Result};

#[derive(Subcommand, Debug)]
pub enum DeploymentCmd {
    /// Create a deployment from a YAML or JSON file, or update the one of that name (a merge patch of
    /// metadata.labels, metadata.annotations and spec).
    Apply {
        /// The deployment as YAML or JSON (`-` reads standard input).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Show one deployment.
    Get { name: String },
    /// List the namespace's deployments.
    List,
    /// Delete a deployment (it must be CANCELLED and stopped). Data stateplane wrote for its
    /// snapshots goes with it unless --keep-snapshot-data.
    Delete {
        name: String,
        /// Keep every snapshot's data where it is (the deployment is deleted at once); it then shows
        /// in `stateplane storage orphans`.
        #[arg(long)]
        keep_snapshot_data: bool,
    },
    /// Stop the job with a savepoint (spec.state SUSPENDED).
    Suspend(StateArgs),
    /// Start the job again, restoring per the restore strategy (spec.state RUNNING).
    Resume(StateArgs),
    /// Stop the job without a savepoint (spec.state CANCELLED).
    Cancel(StateArgs),
    /// Change the parallelism: in place when the cluster runs the adaptive scheduler, else through
    /// the upgrade strategy.
    Scale(super::scale::ScaleArgs),
    /// What a change (a deployment patch, YAML or JSON) would do to the job's state, without making
    /// it: per operator restored, dropped, new or incompatible, and whether the upgrade would go ahead.
    UpgradePreview(super::upgrade_preview::UpgradePreviewArgs),
    /// Create NEW from NAME's spec (CANCELLED), with a COPIED savepoint of NAME to start from.
    Fork {
        /// The deployment to fork (name or id).
        name: String,
        /// The savepoint of NAME that NEW starts from (id or unique prefix).
        #[arg(long = "from-savepoint")]
        from_savepoint: String,
        /// Name of the new deployment.
        #[arg(long = "name")]
        new_name: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct StateArgs {
    /// Deployment name or id.
    pub name: String,
    /// Wait until the deployment reaches the state (fails if it goes FAILED).
    #[arg(long)]
    pub wait: bool,
    /// Longest wait with --wait, e.g. 90s, 10m.
    #[arg(long, default_value = "10m", value_parser = parse_timeout)]
    pub timeout: Duration,
}

pub async fn run(c: &Client, out: Output, cmd: DeploymentCmd) -> Result<()> {
    match cmd {
        DeploymentCmd::Apply { file } => apply(c, out, &file).await,
        DeploymentCmd::Get { name } => {
            let (raw, d) = c.deployment(&name).await?;
            if !out.print_raw(&raw)? {
                print!("{}", describe(c, &d).await?);
            }
            Ok(())
        }
        DeploymentCmd::List => {
            let raw = c.get(&["deployments"], &[]).await?;
            if !out.print_raw(&raw)? {
                let list: Vec<Deployment> = items(&raw, "deployment list")?;
                print!("{}", list_table(&list, &c.namespace));
            }
            Ok(())
        }
        DeploymentCmd::Delete {
            name,
            keep_snapshot_data,
        } => {
            let (_, d) = c.deployment(&name).await?;
            let mut url = c.url(&["deployments", &d.metadata.id.to_string()]);
            if keep_snapshot_data {
                url.query_pairs_mut()
                    .append_pair("keepSnapshotData", "true");
            }
            let (_, raw) = c.send(reqwest::Method::DELETE, url, None).await?;
            if !out.print_raw(&raw)? {
                // What happens to its snapshots' data, as the server said. The answer is 200 either
                // way (as Ververica's); the deletion annotation says whether it waits for disposals.
                let annotations = &raw["metadata"]["annotations"];
                let data = annotations[teardown::SNAPSHOT_DATA_ANNOTATION]
                    .as_str()
                    .unwrap_or_default();
                let what = if annotations[teardown::DELETION_ANNOTATION]
                    == teardown::DISPOSING_SNAPSHOT_DATA
                {
                    "being deleted"
                } else {
                    "deleted"
                };
                println!("deployment {} {what}: {data}", d.metadata.name);
            }
            Ok(())
        }
        DeploymentCmd::Suspend(a) => set_state(c, out, a, DesiredState::Suspended).await,
        DeploymentCmd::Resume(a) => set_state(c, out, a, DesiredState::Running).await,
        DeploymentCmd::Cancel(a) => set_state(c, out, a, DesiredState::Cancelled).await,
        DeploymentCmd::Scale(a) => super::scale::run(c, out, a).await,
        DeploymentCmd::UpgradePreview(a) => super::upgrade_preview::run(c, out, a).await,
        DeploymentCmd::Fork {
            name,
            from_savepoint,
            new_name,
        } => fork(c, out, &name, &from_savepoint, &new_name).await,
    }
}

/// Reads a YAML or JSON document (JSON is tried first, so its errors name JSON positions).
pub(super) fn read_document(file: &std::path::Path) -> Result<Value> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| CliError::Input(format!("cannot read {}: {e}", file.display())))?;
    let looks_json = text.trim_start().starts_with('{');
    let parsed = if looks_json {
        serde_json::from_str::<Value>(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", file.display()))
    } else {
        // the server's reader, with its limits, by the schema of a deployment (so that
        // `flinkVersion: 1.14` stays the text 1.14)
        let schema =
            stateplane_api::openapi::body_schema::<stateplane_api::bodies::DeploymentCreate>();
        stateplane_api::yaml::from_slice_as(text.as_bytes(), schema)
            .map_err(|e| format!("{} is not valid YAML: {e}", file.display()))
    };
    let doc = parsed.map_err(CliError::Input)?;
    if !doc.is_object() {
        return Err(CliError::Input(format!(
            "{} must hold one deployment (an object with metadata and spec)",
            file.display()
        )));
    }
    Ok(doc)
}

async fn apply(c: &Client, out: Output, file: &std::path::Path) -> Result<()> {
    let doc = read_document(file)?;
    if let Some(kind) = doc.get("kind").and_then(Value::as_str) {
        if !kind.eq_ignore_ascii_case("Deployment") {
            return Err(CliError::Input(format!(
                "{} is a {kind}; deployment apply takes a Deployment",
                file.display()
            )));
        }
    }
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::Input(format!("{} has no metadata.name", file.display())))?
        .to_string();
    if let Some(ns) = doc.pointer("/metadata/namespace").and_then(Value::as_str) {
        if ns != c.namespace {
            return Err(CliError::Input(format!(
                "{} is for namespace '{ns}' but the command works in '{}'; pass -n {ns}",
                file.display(),
                c.namespace
            )));
        }
    }
    let existing = match c.deployment(&name).await {
        Ok((_, d)) => Some(d),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    let (raw, verb) = match existing {
        None => (c.post(&["deployments"], &doc).await?, "created"),
        Some(current) => {
            let mut meta = Map::new();
            for key in ["labels", "annotations", "displayName"] {
                if let Some(v) = doc.pointer(&format!("/metadata/{key}")) {
                    meta.insert(key.into(), v.clone());
                }
            }
            let mut patch = Map::new();
            patch.insert("metadata".into(), Value::Object(meta));
            if let Some(spec) = doc.get("spec") {
                patch.insert("spec".into(), spec.clone());
            }
            let raw = c
                .patch(
                    &["deployments", &current.metadata.id.to_string()],
                    &Value::Object(patch),
                )
                .await?;
            let after: Deployment = typed(&raw, "deployment")?;
            let verb = if after.metadata.resource_version == current.metadata.resource_version {
                "unchanged"
            } else {
                "configured"
            };
            (raw, verb)
        }
    };
    if !out.print_raw(&raw)? {
        let d: Deployment = typed(&raw, "deployment")?;
        println!(
            "deployment {} {verb} (spec version {}, spec.state {})",
            d.metadata.name,
            d.spec_version(),
            d.spec.state
        );
    }
    Ok(())
}

pub fn list_table(list: &[Deployment], namespace: &str) -> String {
    let cols = [
        Col::flex("NAME", Cut::End),
        Col::new("ID", output::SHORT_ID),
        Col::new("DESIRED", 9),
        Col::new("STATE", 13),
        Col::new("JOB", output::SHORT_ID),
        Col::new("SPEC", 4),
        Col::new("AGE", 4),
    ];
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            vec![
                d.metadata.name.clone(),
                short(d.metadata.id),
                d.spec.state.to_string(),
                d.status.state.to_string(),
                or_dash(d.status.running.as_ref().map(|r| short(r.job_id))),
                d.spec_version().to_string(),
                age(d.metadata.created_at),
            ]
        })
        .collect();
    table_or(
        &cols,
        &rows,
        &format!("No deployments in namespace '{namespace}'."),
    )
}

/// The `get` view: the deployment, its running job and the snapshot the next start would use.
async fn describe(c: &Client, d: &Deployment) -> Result<String> {
    let id = d.metadata.id.to_string();
    let preview: RestorePreview = typed(
        &c.get(&["deployments", &id, "restore-preview"], &[]).await?,
        "restore preview",
    )?;
    let t = &d.spec.template.spec;
    let restore = match (&preview.savepoint_id, &preview.savepoint_location) {
        (Some(sp), Some(loc)) => format!("{} at {loc}", short(sp)),
        _ => "nothing (starts without state)".into(),
    };
    let failure = d
        .status
        .failure
        .as_ref()
        .map(|f| format!("{}: {}", f.reason, f.message))
        .unwrap_or_default();
    Ok(fields(&[
        ("Name", d.metadata.name.clone()),
        ("Id", id),
        ("Namespace", d.metadata.namespace.clone()),
        ("Desired state", d.spec.state.to_string()),
        ("State", d.status.state.to_string()),
        (
            "Running job",
            or_dash(d.status.running.as_ref().map(|r| r.job_id)),
        ),
        ("Spec version", d.spec_version().to_string()),
        ("Upgrade", d.spec.upgrade_strategy.kind.to_string()),
        ("Restore", d.spec.restore_strategy.kind.to_string()),
        ("Next restore", restore),
        ("Target", or_dash(d.spec.deployment_target_name.as_ref())),
        match t.artifact.kind {
            stateplane_model::ArtifactKind::SqlScript => (
                "Artifact",
                format!(
                    "SQL script ({} lines)",
                    t.artifact
                        .sql_script
                        .as_deref()
                        .unwrap_or("")
                        .lines()
                        .count()
                ),
            ),
            stateplane_model::ArtifactKind::Jar => ("Jar", t.artifact.jar_uri.clone()),
        },
        ("Savepoint dir", or_dash(d.configured_savepoint_dir())),
        ("Failure", failure),
        ("Conditions", conditions(d)),
        ("Created", time(d.metadata.created_at)),
        ("Modified", time(d.metadata.modified_at)),
    ]))
}

/// `status.running.conditions`: `JobFailing=True (JobRestarting, since …): message; …`.
fn conditions(d: &Deployment) -> String {
    let Some(r) = &d.status.running else {
        return "-".into();
    };
    if r.conditions.is_empty() {
        return "none".into();
    }
    r.conditions
        .iter()
        .map(|c| {
            let since = c
                .last_transition_time
                .map(|t| format!(", since {}", time(t)))
                .unwrap_or_default();
            format!(
                "{}={} ({}{since}): {}",
                c.kind,
                c.status,
                c.reason.as_deref().unwrap_or("-"),
                c.message.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn set_state(c: &Client, out: Output, a: StateArgs, desired: DesiredState) -> Result<()> {
    let (_, before) = c.deployment(&a.name).await?;
    let id = before.metadata.id.to_string();
    let raw = c
        .patch(&["deployments", &id], &json!({"spec": {"state": desired}}))
        .await?;
    let after: Deployment = typed(&raw, "deployment")?;
    let name = &after.metadata.name;
    if !a.wait {
        if !out.print_raw(&raw)? {
            println!(
                "deployment {name}: spec.state {desired} (status {}); add --wait to follow it",
                after.status.state
            );
        }
        return Ok(());
    }
    let target = match desired {
        DesiredState::Running => DeploymentState::Running,
        DesiredState::Suspended => DeploymentState::Suspended,
        DesiredState::Cancelled => DeploymentState::Cancelled,
    };
    let changed = after.metadata.resource_version != before.metadata.resource_version;
    let (raw, done) = wait::deployment(
        c,
        &after,
        target,
        after.metadata.modified_at,
        changed,
        a.timeout,
    )
    .await?;
    if out.print_raw(&raw)? {
        return Ok(());
    }
    match target {
        DeploymentState::Running => {
            let job = match &done.status.running {
                Some(r) => job_line(c, r.job_id).await?,
                None => String::new(),
            };
            println!("deployment {name} is RUNNING{job}");
        }
        DeploymentState::Suspended => {
            let preview: RestorePreview = typed(
                &c.get(&["deployments", &id, "restore-preview"], &[]).await?,
                "restore preview",
            )?;
            match preview.savepoint_location {
                Some(loc) => {
                    println!("deployment {name} is SUSPENDED; the next start restores from {loc}")
                }
                None => println!("deployment {name} is SUSPENDED"),
            }
        }
        _ => println!("deployment {name} is {}", done.status.state),
    }
    Ok(())
}

/// ", job <id> (restored from <location>)" for a job.
async fn job_line(c: &Client, job: stateplane_model::JobId) -> Result<String> {
    let j: Job = typed(&c.get(&["jobs", &job.to_string()], &[]).await?, "job")?;
    Ok(match &j.spec.savepoint_location {
        Some(loc) => format!(", job {} (restored from {loc})", short(j.metadata.id)),
        None => format!(", job {} (started without state)", short(j.metadata.id)),
    })
}

async fn fork(c: &Client, out: Output, name: &str, from: &str, new_name: &str) -> Result<()> {
    let (src_raw, src) = c.deployment(name).await?;
    let sp_id = c.savepoint_id(from).await?;
    let sp: Savepoint = typed(
        &c.get(&["savepoints", &sp_id.to_string()], &[]).await?,
        "savepoint",
    )?;
    if sp.metadata.deployment_id != src.metadata.id {
        return Err(CliError::Input(format!(
            "savepoint {sp_id} belongs to deployment {}, not to '{}'",
            sp.metadata.deployment_id, src.metadata.name
        )));
    }
    if sp.status.state != SavepointState::Completed || sp.spec.savepoint_location.is_none() {
        return Err(CliError::Input(format!(
            "savepoint {sp_id} is {}; a deployment can only be forked from a COMPLETED savepoint with a location",
            sp.status.state
        )));
    }

    let mut spec = src_raw.get("spec").cloned().unwrap_or_else(|| json!({}));
    spec["state"] = json!(DesiredState::Cancelled);
    let mut annotations = src.metadata.annotations.clone();
    annotations.remove(SPEC_VERSION_ANNOTATION);
    let body = json!({
        "metadata": {"name": new_name, "labels": src.metadata.labels, "annotations": annotations},
        "spec": spec,
    });
    let created: Deployment = typed(&c.post(&["deployments"], &body).await?, "deployment")?;
    let new_id = created.metadata.id.to_string();

    let copy = match copy_to(c, &sp, &created).await {
        Ok(copy) => copy,
        Err(e) => {
            // NEW never ran: remove it so that a failed fork leaves nothing behind.
            let _ = c.delete(&["deployments", &new_id]).await;
            return Err(e);
        }
    };
    let preview: RestorePreview = typed(
        &c.get(&["deployments", &new_id, "restore-preview"], &[])
            .await?,
        "restore preview",
    )?;
    if out
        .print_raw(&json!({"deployment": created, "savepoint": copy, "restorePreview": preview}))?
    {
        return Ok(());
    }
    println!(
        "deployment {new_name} created from {} (spec.state CANCELLED)",
        src.metadata.name
    );
    println!(
        "savepoint {} (COPIED) at {}",
        copy.metadata.id,
        copy.spec.savepoint_location.as_deref().unwrap_or("-")
    );
    if preview.savepoint_id == Some(copy.metadata.id) {
        println!("the next start restores from it: stateplane deployment resume {new_name}");
    } else {
        println!("note: the next start would not use it: {}", preview.reason);
    }
    Ok(())
}
