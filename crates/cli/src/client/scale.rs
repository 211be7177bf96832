//! `stateplane deployment scale NAME --parallelism N [--wait]`: sets the template's parallelism (a
//! merge patch of `spec.template.spec.parallelism`); the controller rescales the running job in place
//! when it can (adaptive scheduler, only the parallelism changed) and upgrades it otherwise. With
//! `--wait` the command returns once the deployment is RUNNING a job on the new spec version, and says
//! whether that was in place (the same job) or through an upgrade (a new job).

use std::time::{Duration, Instant};

use serde_json::json;
use stateplane_model::{Deployment, DeploymentState, Job};

use super::output::short;
use super::wait::parse_timeout;
use super::{typed, CliError, Client, Output, Result};

/// How often `--wait` looks again (each look is a long poll of the deployment first).
const LOOK_EVERY: Duration = Duration::from_millis(500);

#[derive(clap::Args, Debug)]
pub struct ScaleArgs {
    /// Deployment name or id.
    pub name: String,
    /// The new parallelism (1 or more).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32768))]
    pub parallelism: u32,
    /// Wait until the deployment runs the new parallelism (fails if it goes FAILED).
    #[arg(long)]
    pub wait: bool,
    /// Longest wait with --wait, e.g. 90s, 10m.
    #[arg(long, default_value = "10m", value_parser = parse_timeout)]
    pub timeout: Duration,
}

pub async fn run(c: &Client, out: Output, a: ScaleArgs) -> Result<()> {
    let (_, before) = c.deployment(&a.name).await?;
    let id = before.metadata.id.to_string();
    let raw = c
        .patch(
            &["deployments", &id],
            &json!({"spec": {"template": {"spec": {"parallelism": a.parallelism}}}}),
        )
        .await?;
    let after: Deployment = typed(&raw, "deployment")?;
    let name = after.metadata.name.clone();
    let version = after.spec_version();
    if !a.wait {
        if !out.print_raw(&raw)? {
            println!(
                "deployment {name}: parallelism {} (spec version {version}); add --wait to follow it",
                a.parallelism
            );
        }
        return Ok(());
    }
    let was = before.status.running.as_ref().map(|r| r.job_id);
    let deadline = Instant::now() + a.timeout;
    loop {
        let raw = c
            .get(
                &["deployments", &id],
                &[("waitFor", "RUNNING,FAILED"), ("timeout", "5s")],
            )
            .await?;
        let d: Deployment = typed(&raw, "deployment")?;
        if d.status.state == DeploymentState::Failed && d.spec_version() == version {
            let why = d.status.failure.map(|f| f.message).unwrap_or_default();
            return Err(CliError::Failed(format!(
                "deployment '{name}' is FAILED: {why}"
            )));
        }
        if let (DeploymentState::Running, Some(r)) = (d.status.state, &d.status.running) {
            let job: Job = typed(&c.get(&["jobs", &r.job_id.to_string()], &[]).await?, "job")?;
            if job.spec_version() >= Some(version) {
                if !out.print_raw(&raw)? {
                    let how = if Some(r.job_id) == was {
                        "rescaled in place"
                    } else {
                        "through an upgrade (a new job)"
                    };
                    println!(
                        "deployment {name} is RUNNING at parallelism {}, job {} ({how})",
                        a.parallelism,
                        short(r.job_id)
                    );
                }
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(CliError::Timeout(format!(
                "deployment '{name}' does not run spec version {version} after {}s (the change goes on; follow it with: stateplane events --deployment {name} --follow)",
                a.timeout.as_secs()
            )));
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}
