//! `stateplane job list` and `stateplane events` (read-only views of what the controller did).
//!
//! `events --follow` polls every 500 ms and prints each event once (by id), oldest first; it ends only
//! when interrupted, or with an error when the server goes away.

use std::collections::HashSet;
use std::time::Duration;

use clap::Subcommand;
use serde_json::Value;
use stateplane_model::{Event, EventId, Job};

use super::output::{age, or_dash, short, table, table_or, Col, Cut};
use super::{items, typed, Client, Output, Result};

#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// List a deployment's jobs, newest first.
    List {
        /// Deployment name or id.
        #[arg(long)]
        deployment: String,
    },
}

/// How often `events --follow` asks for new events.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

pub async fn run(c: &Client, out: Output, cmd: JobCmd) -> Result<()> {
    let JobCmd::List { deployment } = cmd;
    let (_, d) = c.deployment(&deployment).await?;
    let raw = c
        .get(&["jobs"], &[("deploymentId", &d.metadata.id.to_string())])
        .await?;
    if out.print_raw(&raw)? {
        return Ok(());
    }
    let jobs: Vec<Job> = items(&raw, "job list")?;
    let cols = [
        Col::new("ID", 8),
        Col::new("STATE", 11),
        Col::new("FLINK", 12),
        Col::new("SPEC", 4),
        Col::new("AGE", 4),
        Col::flex("RESTORED FROM", Cut::Middle),
    ];
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                short(j.metadata.id),
                j.status.state.to_string(),
                or_dash(
                    j.status
                        .started
                        .as_ref()
                        .and_then(|s| s.observed_flink_job_status.as_ref()),
                ),
                or_dash(j.spec_version()),
                age(j.metadata.created_at),
                j.spec
                    .savepoint_location
                    .clone()
                    .unwrap_or_else(|| "(no state)".into()),
            ]
        })
        .collect();
    print!(
        "{}",
        table_or(
            &cols,
            &rows,
            "No jobs yet: a job is created when the deployment starts."
        )
    );
    Ok(())
}

fn event_row(e: &Event) -> Vec<String> {
    vec![
        e.metadata.created_at.format("%H:%M:%S").to_string(),
        e.metadata.name.to_string(),
        e.spec.message.clone(),
    ]
}

const EVENT_COLS: [Col; 3] = [
    Col::new("TIME", 8),
    Col::new("EVENT", 28),
    Col::flex("MESSAGE", Cut::End),
];

/// `stateplane events --deployment NAME [--follow]`.
pub async fn events(c: &Client, out: Output, deployment: &str, follow: bool) -> Result<()> {
    let (_, d) = c.deployment(deployment).await?;
    let id = d.metadata.id.to_string();
    let raw = c.get(&["events"], &[("deploymentId", &id)]).await?;
    if !follow {
        if !out.print_raw(&raw)? {
            let evs: Vec<Event> = items(&raw, "event list")?;
            let rows: Vec<Vec<String>> = evs.iter().map(event_row).collect();
            print!("{}", table_or(&EVENT_COLS, &rows, "No events yet."));
        }
        return Ok(());
    }
    let mut seen: HashSet<EventId> = HashSet::new();
    let mut header = true;
    let mut raw = raw;
    loop {
        let list = raw
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut fresh = Vec::new();
        for v in list {
            let e: Event = typed(&v, "event")?;
            if seen.insert(e.metadata.id) {
                fresh.push((v, e));
            }
        }
        if out == Output::Table {
            let rows: Vec<Vec<String>> = fresh.iter().map(|(_, e)| event_row(e)).collect();
            // Columns are fixed-width here so that later batches line up with the first.
            if header || !rows.is_empty() {
                let t = fixed_table(&rows);
                let skip = usize::from(!header);
                for line in t.lines().skip(skip) {
                    println!("{line}");
                }
                header = false;
            }
        } else {
            for (v, _) in &fresh {
                out.print_stream_item(v)?;
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::time::sleep(FOLLOW_EVERY).await;
        raw = c.get(&["events"], &[("deploymentId", &id)]).await?;
    }
}

/// The events table with the EVENT column at its full width, whatever the rows.
fn fixed_table(rows: &[Vec<String>]) -> String {
    let mut padded: Vec<Vec<String>> = rows.to_vec();
    padded.push(vec![
        "--:--:--".into(),
        "-".repeat(EVENT_COLS[1].max),
        String::new(),
    ]);
    let t = table(&EVENT_COLS, &padded);
    // drop the padding row (the last line)
    let mut lines: Vec<&str> = t.lines().collect();
    lines.pop();
    lines.join("\n") + "\n"
}
