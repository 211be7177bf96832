//! `stateplane savepoint …` and `stateplane restore-preview`.
//!
//! `savepoint add` is Ververica's "manually adding a savepoint resource" without the manual part: it
//! reads the deployment's current spec-version annotation and stamps it on the registered savepoint,
//! so that the restore selection uses it (a savepoint without it is never restored).

use std::collections::HashMap;
use std::time::Duration;

use clap::Subcommand;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stateplane_model::{
    Deployment, DeploymentId, RestoreStrategyKind, Savepoint, SavepointId, SavepointState,
    SPEC_VERSION_ANNOTATION,
};

use super::output::{age, fields, or_dash, short, table, table_or, time, Col, Cut};
use super::wait::{self, parse_timeout};
use super::{items, typed, CliError, Client, Output, Result};

#[derive(Subcommand, Debug)]
pub enum SavepointCmd {
    /// Take a savepoint of the deployment's running job now (origin USER_REQUEST).
    Create {
        /// Deployment name or id.
        #[arg(long)]
        deployment: String,
        /// Wait until it is COMPLETED (fails with Flink's reason if it FAILED).
        #[arg(long)]
        wait: bool,
        /// Longest wait with --wait, e.g. 90s, 10m.
        #[arg(long, default_value = "10m", value_parser = parse_timeout)]
        timeout: Duration,
    },
    /// Register an existing snapshot for a deployment (origin COPIED), stamped with the deployment's
    /// current spec version so that the next start can restore from it.
    Add {
        /// Deployment name or id.
        #[arg(long)]
        deployment: String,
        /// URI of the snapshot directory (the one holding `_metadata`).
        #[arg(long)]
        location: String,
    },
    /// List savepoints, newest first.
    List {
        /// Only this deployment's (name or id); marks the one the next start restores from.
        #[arg(long)]
        deployment: Option<String>,
    },
    /// Show one savepoint.
    Get {
        /// Savepoint id (or a unique prefix).
        id: String,
    },
    /// Delete a savepoint resource (its data is disposed only if stateplane wrote it and nothing
    /// else points to it).
    Delete {
        /// Savepoint id (or a unique prefix).
        id: String,
    },
    /// Give another deployment a COPIED savepoint at the same location.
    Copy {
        /// Savepoint id (or a unique prefix).
        id: String,
        /// The deployment that gets the copy (name or id).
        #[arg(long)]
        deployment: String,
    },
}

/// The restore-preview answer (`stateplane_model::restore::RestoreDecision`, read back).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePreview {
    pub strategy: RestoreStrategyKind,
    #[serde(default)]
    pub savepoint_id: Option<SavepointId>,
    #[serde(default)]
    pub savepoint_location: Option<String>,
    pub reason: String,
    #[serde(default)]
    pub skipped: Vec<SkippedSavepoint>,
    #[serde(default)]
    pub start_refused: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedSavepoint {
    pub savepoint_id: SavepointId,
    pub reason: String,
}

pub async fn run(c: &Client, out: Output, cmd: SavepointCmd) -> Result<()> {
    match cmd {
        SavepointCmd::Create {
            deployment,
            wait,
            timeout,
        } => create(c, out, &deployment, wait, timeout).await,
        SavepointCmd::Add {
            deployment,
            location,
        } => add(c, out, &deployment, &location).await,
        SavepointCmd::List { deployment } => list(c, out, deployment.as_deref()).await,
        SavepointCmd::Get { id } => {
            let id = c.savepoint_id(&id).await?;
            let raw = c.get(&["savepoints", &id.to_string()], &[]).await?;
            if !out.print_raw(&raw)? {
                let sp: Savepoint = typed(&raw, "savepoint")?;
                print!("{}", describe(c, &sp).await?);
                print!("{}", super::snapshot::section(c, &sp).await?);
            }
            Ok(())
        }
        SavepointCmd::Delete { id } => {
            let id = c.savepoint_id(&id).await?;
            let (status, raw) = c.delete(&["savepoints", &id.to_string()]).await?;
            if !out.print_raw(&raw)? {
                if status == reqwest::StatusCode::ACCEPTED {
                    let sp: Savepoint = typed(&raw, "savepoint")?;
                    println!(
                        "savepoint {id} is {}: its data is being disposed, then it is gone",
                        sp.status.state
                    );
                } else {
                    println!("savepoint {id} deleted (its data left in place)");
                }
            }
            Ok(())
        }
        SavepointCmd::Copy { id, deployment } => {
            let id = c.savepoint_id(&id).await?;
            let sp: Savepoint = typed(
                &c.get(&["savepoints", &id.to_string()], &[]).await?,
                "savepoint",
            )?;
            let (_, target) = c.deployment(&deployment).await?;
            let copy = copy_to(c, &sp, &target).await?;
            if !out.print_raw(&serde_json::to_value(&copy).unwrap_or_default())? {
                println!(
                    "savepoint {} (COPIED) for deployment {} at {}",
                    copy.metadata.id,
                    target.metadata.name,
                    copy.spec.savepoint_location.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
    }
}

async fn create(
    c: &Client,
    out: Output,
    deployment: &str,
    wait: bool,
    timeout: Duration,
) -> Result<()> {
    let (_, d) = c.deployment(deployment).await?;
    let raw = c
        .post(
            &["savepoints"],
            &json!({"metadata": {"deploymentId": d.metadata.id}}),
        )
        .await?;
    let sp: Savepoint = typed(&raw, "savepoint")?;
    let (raw, sp) = if wait {
        wait::savepoint(c, sp.metadata.id, timeout).await?
    } else {
        (raw, sp)
    };
    if !out.print_raw(&raw)? {
        print!("{}", describe(c, &sp).await?);
    }
    Ok(())
}

async fn add(c: &Client, out: Output, deployment: &str, location: &str) -> Result<()> {
    let (_, d) = c.deployment(deployment).await?;
    let version = d
        .metadata
        .annotations
        .get(SPEC_VERSION_ANNOTATION)
        .cloned()
        .unwrap_or_else(|| d.spec_version().to_string());
    let raw = c
        .post(
            &["savepoints"],
            &register_body(d.metadata.id, location, &version, None),
        )
        .await?;
    let sp: Savepoint = typed(&raw, "savepoint")?;
    if out.print_raw(&raw)? {
        return Ok(());
    }
    print!("{}", describe(c, &sp).await?);
    let preview = preview(c, &d.metadata.id.to_string()).await?;
    if preview.savepoint_id == Some(sp.metadata.id) {
        println!(
            "The next start of {} restores from this savepoint.",
            d.metadata.name
        );
    } else {
        println!(
            "The next start of {} does not use it: {}",
            d.metadata.name, preview.reason
        );
    }
    Ok(())
}

/// The body of Ververica's "manually adding a savepoint resource".
fn register_body(
    deployment: DeploymentId,
    location: &str,
    spec_version: &str,
    flink_savepoint_id: Option<uuid::Uuid>,
) -> Value {
    json!({
        "metadata": {
            "deploymentId": deployment,
            "annotations": {SPEC_VERSION_ANNOTATION: spec_version},
        },
        "spec": {
            "savepointLocation": location,
            "flinkSavepointId": flink_savepoint_id.unwrap_or_default(),
        },
        "status": {"state": "COMPLETED"},
    })
}

/// A COPIED savepoint of `target` at `sp`'s location: the server's copy endpoint where it exists,
/// else a registration stamped with `target`'s spec version.
pub async fn copy_to(c: &Client, sp: &Savepoint, target: &Deployment) -> Result<Savepoint> {
    let id = sp.metadata.id.to_string();
    match c
        .post(
            &["savepoints", &id, "copy"],
            &json!({"metadata": {"deploymentId": target.metadata.id}}),
        )
        .await
    {
        Ok(raw) => return typed(&raw, "savepoint"),
        Err(e) if e.is_missing_route() => {}
        Err(e) => return Err(e),
    }
    let Some(location) = sp
        .spec
        .savepoint_location
        .as_deref()
        .filter(|_| sp.status.state == SavepointState::Completed)
    else {
        return Err(CliError::Input(format!(
            "savepoint {id} is {}; only a COMPLETED savepoint with a location can be copied",
            sp.status.state
        )));
    };
    let raw = c
        .post(
            &["savepoints"],
            &register_body(
                target.metadata.id,
                location,
                &target.spec_version().to_string(),
                sp.spec.flink_savepoint_id,
            ),
        )
        .await?;
    typed(&raw, "savepoint")
}

pub async fn preview(c: &Client, deployment_id: &str) -> Result<RestorePreview> {
    typed(
        &c.get(&["deployments", deployment_id, "restore-preview"], &[])
            .await?,
        "restore preview",
    )
}

async fn list(c: &Client, out: Output, deployment: Option<&str>) -> Result<()> {
    let (raw, next) = match deployment {
        Some(name) => {
            let (_, d) = c.deployment(name).await?;
            let id = d.metadata.id.to_string();
            let raw = c.get(&["savepoints"], &[("deploymentId", &id)]).await?;
            (raw, Some((d, preview(c, &id).await?)))
        }
        None => (c.get(&["savepoints"], &[]).await?, None),
    };
    if out.print_raw(&raw)? {
        return Ok(());
    }
    let sps: Vec<Savepoint> = items(&raw, "savepoint list")?;
    match next {
        Some((_, preview)) => {
            let cols = [
                Col::new(" ", 1),
                Col::new("ID", 8),
                Col::new("ORIGIN", 19),
                Col::new("STATE", 16),
                Col::new("SPEC", 4),
                Col::new("AGE", 4),
                Col::flex("LOCATION", Cut::Middle),
            ];
            let rows: Vec<Vec<String>> = sps
                .iter()
                .map(|s| {
                    let mark = if preview.savepoint_id == Some(s.metadata.id) {
                        "*"
                    } else {
                        ""
                    };
                    let mut r = vec![mark.to_string()];
                    r.extend(row(s));
                    r
                })
                .collect();
            print!(
                "{}",
                table_or(&cols, &rows, "No savepoints for this deployment.")
            );
            if preview.savepoint_id.is_some() {
                println!("* the next start restores from this savepoint");
            }
        }
        None => {
            let names = deployment_names(c).await?;
            let cols = [
                Col::new("ID", 8),
                Col::new("DEPLOYMENT", 16),
                Col::new("ORIGIN", 19),
                Col::new("STATE", 16),
                Col::new("SPEC", 4),
                Col::new("AGE", 4),
                Col::flex("LOCATION", Cut::Middle),
            ];
            let rows: Vec<Vec<String>> = sps
                .iter()
                .map(|s| {
                    let mut r = row(s);
                    let dep = names
                        .get(&s.metadata.deployment_id)
                        .cloned()
                        .unwrap_or_else(|| short(s.metadata.deployment_id));
                    r.insert(1, dep);
                    r
                })
                .collect();
            let empty = format!("No savepoints in namespace '{}'.", c.namespace);
            print!("{}", table_or(&cols, &rows, &empty));
        }
    }
    Ok(())
}

/// ID, ORIGIN, STATE, SPEC, AGE, LOCATION.
fn row(s: &Savepoint) -> Vec<String> {
    vec![
        short(s.metadata.id),
        s.metadata.origin.to_string(),
        s.status.state.to_string(),
        or_dash(s.spec_version()),
        age(s.metadata.created_at),
        or_dash(s.spec.savepoint_location.as_ref()),
    ]
}

async fn deployment_names(c: &Client) -> Result<HashMap<DeploymentId, String>> {
    let list: Vec<Deployment> = items(&c.get(&["deployments"], &[]).await?, "deployment list")?;
    Ok(list
        .into_iter()
        .map(|d| (d.metadata.id, d.metadata.name))
        .collect())
}

async fn describe(c: &Client, s: &Savepoint) -> Result<String> {
    let dep = match c
        .get(&["deployments", &s.metadata.deployment_id.to_string()], &[])
        .await
    {
        Ok(v) => v
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(|n| format!("{n} ({})", s.metadata.deployment_id))
            .unwrap_or_else(|| s.metadata.deployment_id.to_string()),
        Err(_) => s.metadata.deployment_id.to_string(),
    };
    let failure = s
        .status
        .failure
        .as_ref()
        .map(|f| format!("{}: {}", f.reason, f.message))
        .unwrap_or_default();
    Ok(fields(&[
        ("Id", s.metadata.id.to_string()),
        ("Deployment", dep),
        ("Origin", s.metadata.origin.to_string()),
        ("State", s.status.state.to_string()),
        ("Location", or_dash(s.spec.savepoint_location.as_ref())),
        ("Spec version", or_dash(s.spec_version())),
        ("Job", or_dash(s.metadata.job_id)),
        ("Created", time(s.metadata.created_at)),
        ("Failure", failure),
    ]))
}

/// `stateplane restore-preview NAME`.
pub async fn restore_preview(c: &Client, out: Output, name: &str) -> Result<()> {
    let (_, d) = c.deployment(name).await?;
    let id = d.metadata.id.to_string();
    let raw = c.get(&["deployments", &id, "restore-preview"], &[]).await?;
    if out.print_raw(&raw)? {
        return Ok(());
    }
    let p: RestorePreview = typed(&raw, "restore preview")?;
    let restores = match &p.savepoint_id {
        Some(sp) => sp.to_string(),
        None if p.start_refused => "nothing: the start is refused (requireState)".into(),
        None => "nothing: the job starts without state".into(),
    };
    print!(
        "{}",
        fields(&[
            ("Deployment", d.metadata.name.clone()),
            ("Strategy", p.strategy.to_string()),
            ("Restores from", restores),
            ("Location", p.savepoint_location.clone().unwrap_or_default()),
            ("Reason", p.reason.clone()),
        ])
    );
    if !p.skipped.is_empty() {
        println!();
        let cols = [Col::new("SKIPPED", 8), Col::flex("WHY", Cut::End)];
        let rows: Vec<Vec<String>> = p
            .skipped
            .iter()
            .map(|s| vec![short(s.savepoint_id), s.reason.clone()])
            .collect();
        print!("{}", table(&cols, &rows));
    }
    Ok(())
}
