//! What `stateplane savepoint get` shows of a savepoint's snapshot summary (the operators and state
//! sizes its `_metadata` records), below the savepoint's own fields.

use stateplane_model::snapshot::{SavepointSnapshot, SUMMARY_ERROR_ANNOTATION};
use stateplane_model::Savepoint;

use super::output::{table, Col, Cut};
use super::{typed, CliError, Client, Result};

/// The summary section for `s`: the stored summary, why there is none, or nothing (not read yet).
pub async fn section(c: &Client, s: &Savepoint) -> Result<String> {
    let id = s.metadata.id.to_string();
    match c.get(&["savepoints", &id, "snapshot"], &[]).await {
        Ok(raw) => {
            let snap: SavepointSnapshot = typed(&raw, "snapshot summary")?;
            Ok(render(&snap))
        }
        Err(e)
            if e.is_not_found()
                || matches!(&e, CliError::Api { code, .. } if code == "REFUSED") =>
        {
            Ok(match s.metadata.annotations.get(SUMMARY_ERROR_ANNOTATION) {
                Some(reason) => format!("Snapshot:      unreadable: {reason}\n"),
                None => "Snapshot:      not read yet\n".to_string(),
            })
        }
        Err(e) if e.is_missing_route() => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// `1.5 MiB`, `812 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    match u {
        0 => format!("{n} B"),
        _ => format!("{v:.1} {}", UNITS[u]),
    }
}

fn render(s: &SavepointSnapshot) -> String {
    let sum = &s.summary;
    let mut out = format!(
        "Snapshot:      checkpoint {}, format version {}, {} operator(s), {} of state ({} keyed, {} operator, {} coordinator; {} in files)\n",
        sum.checkpoint_id,
        sum.format_version,
        sum.operators.len(),
        bytes(sum.total.total),
        bytes(sum.total.keyed),
        bytes(sum.total.operator),
        bytes(sum.total.coordinator),
        bytes(sum.total.in_files),
    );
    if let Some(ms) = s.duration_ms {
        out.push_str(&format!("Took:          {ms} ms\n"));
    }
    let cols = [
        Col::new("OPERATOR ID", 32),
        Col::new("PAR", 4),
        Col::new("MAXPAR", 6),
        Col::new("STATE", 10),
        Col::flex("UID / NAME", Cut::End),
    ];
    let rows: Vec<Vec<String>> = sum
        .operators
        .iter()
        .map(|o| {
            vec![
                o.operator_id.clone(),
                o.parallelism.to_string(),
                o.max_parallelism.to_string(),
                bytes(o.state.total + o.state.coordinator),
                o.uid
                    .clone()
                    .or_else(|| o.name.clone())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    out.push_str(&table(&cols, &rows));
    out
}
