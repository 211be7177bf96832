//! `stateplane storage orphans [--dispose LOCATION…]`: the orphan report of the namespace (snapshot
//! directories under stateplane's prefixes that nothing references) as a table, and their disposal
//! only when named. Needs an owner token of the namespace or the admin token.

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::{json, Value};

use super::output::{age, short, table_or, Col, Output};
use super::{Client, Result};

#[derive(Subcommand, Debug)]
pub enum StorageCmd {
    /// List snapshot directories under the namespace's blob-storage prefixes that no resource
    /// references (location, size, age, deployment); with --dispose, delete the named ones.
    Orphans {
        /// Delete these orphan locations (as the report prints them); each is checked again first,
        /// and anything else is refused.
        #[arg(long, num_args = 1..)]
        dispose: Vec<String>,
        /// List at most this many.
        #[arg(long)]
        limit: Option<u32>,
    },
}

pub async fn run(c: &Client, out: Output, cmd: StorageCmd) -> Result<()> {
    let StorageCmd::Orphans { dispose, limit } = cmd;
    if !dispose.is_empty() {
        let raw = c
            .post(
                &["storage", "orphans:dispose"],
                &json!({"locations": dispose}),
            )
            .await?;
        if !out.print_raw(&raw)? {
            print!("{}", disposal_table(&raw));
        }
        return Ok(());
    }
    let limit = limit.map(|l| l.to_string());
    let query: Vec<(&str, &str)> = limit.iter().map(|l| ("limit", l.as_str())).collect();
    let raw = c.get(&["storage", "orphans"], &query).await?;
    if !out.print_raw(&raw)? {
        print!("{}", report_table(&raw, &c.namespace));
    }
    Ok(())
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Bytes in the largest unit that keeps them above 1 (1024-based).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut n = bytes as f64;
    let mut unit = 0;
    while n >= 1024.0 && unit + 1 < UNITS.len() {
        n /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{n:.1} {}", UNITS[unit])
    }
}

fn report_table(raw: &Value, ns: &str) -> String {
    let orphans = raw["orphans"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = orphans
        .iter()
        .map(|o| {
            let written = o["writtenAt"]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok());
            let id = str_of(&o["deploymentId"]);
            let deployment = match (
                o["deploymentName"].as_str(),
                o["deploymentExists"].as_bool(),
            ) {
                (Some(name), _) => name.to_string(),
                (None, Some(false)) => format!("{} (deleted)", short(&id)),
                _ => short(&id),
            };
            vec![
                str_of(&o["kind"]),
                size(o["sizeBytes"].as_u64().unwrap_or(0)),
                written.map(age).unwrap_or_else(|| "-".into()),
                deployment,
                str_of(&o["location"]),
            ]
        })
        .collect();
    // The location last and whole: it is what `--dispose` takes.
    let cols = [
        Col::new("KIND", 10),
        Col::new("SIZE", 10),
        Col::new("AGE", 5),
        Col::new("DEPLOYMENT", 40),
        Col::new("LOCATION", usize::MAX),
    ];
    let empty = match raw["note"].as_str() {
        Some(note) => format!("No orphans in namespace '{ns}': {note}."),
        None => format!("No orphans in namespace '{ns}'."),
    };
    let mut text = table_or(&cols, &rows, &empty);
    if !rows.is_empty() {
        text.push_str(&format!(
            "{} orphans, {} in all. Delete with: stateplane storage orphans -n {ns} --dispose LOCATION…\n",
            rows.len(),
            size(raw["totalBytes"].as_u64().unwrap_or(0))
        ));
    }
    if raw["truncated"].as_bool() == Some(true) {
        text.push_str(&format!(
            "Truncated: {}\n",
            raw["truncatedReason"].as_str().unwrap_or("more may exist")
        ));
    }
    text
}

fn disposal_table(raw: &Value) -> String {
    let rows: Vec<Vec<String>> = raw["results"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            vec![
                str_of(&r["outcome"]),
                str_of(&r["message"]),
                str_of(&r["location"]),
            ]
        })
        .collect();
    let cols = [
        Col::new("OUTCOME", 12),
        Col::new("MESSAGE", 60),
        Col::new("LOCATION", usize::MAX),
    ];
    table_or(&cols, &rows, "Nothing was asked.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
