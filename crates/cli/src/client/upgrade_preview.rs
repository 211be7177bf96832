//! `stateplane deployment upgrade-preview NAME -f change.yaml`: what the change (a deployment patch,
//! as `PATCH` takes it) would do to the deployment's state, without making it. Prints the decision,
//! the verdict, the snapshot compared and one line per operator (`-o json|yaml` prints the answer).

use std::path::PathBuf;

use stateplane_model::plan::upgrade_check::UpgradePreview;

use super::output::{fields, or_dash, table_or, Col, Cut};
use super::{typed, Client, Output, Result};

#[derive(clap::Args, Debug)]
pub struct UpgradePreviewArgs {
    /// Deployment name or id.
    pub name: String,
    /// The change as YAML or JSON: a merge patch of the deployment (`-` reads standard input).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
}

pub async fn run(c: &Client, out: Output, a: UpgradePreviewArgs) -> Result<()> {
    let change = super::deployment::read_document(&a.file)?;
    let (_, d) = c.deployment(&a.name).await?;
    let raw = c
        .post(
            &["deployments", &d.metadata.id.to_string(), "upgrade-preview"],
            &change,
        )
        .await?;
    if !out.print_raw(&raw)? {
        let p: UpgradePreview = typed(&raw, "upgrade preview")?;
        print!("{}", render(&d.metadata.name, &p));
    }
    Ok(())
}

/// The preview as a person reads it: a header, the operators' table, the reasons.
pub fn render(name: &str, p: &UpgradePreview) -> String {
    let mut s = fields(&[
        ("Deployment", name.to_string()),
        ("Decision", p.decision.to_string()),
        ("Verdict", or_dash(p.verdict)),
        ("Snapshot", or_dash(p.snapshot.as_ref())),
        ("Message", p.message.clone()),
    ]);
    if p.verdict.is_some() {
        // Full operator ids are in `-o json`; the table keeps their start.
        const COLS: [Col; 5] = [
            Col::new("UID/NAME", 20),
            Col::new("OPERATOR", 10),
            Col::new("FATE", 12),
            Col::new("BYTES", 10),
            Col::flex("REASON", Cut::End),
        ];
        let rows: Vec<Vec<String>> = p
            .operators
            .iter()
            .map(|o| {
                vec![
                    or_dash(o.uid.as_ref().or(o.name.as_ref())),
                    o.operator_id.chars().take(8).collect(),
                    o.fate.to_string(),
                    o.state_bytes.to_string(),
                    o.reason.clone(),
                ]
            })
            .collect();
        s.push('\n');
        s.push_str(&table_or(&COLS, &rows, "no operators"));
        s.push('\n');
        for r in &p.reasons {
            s.push_str(&format!("- {r}\n"));
        }
    }
    s
}
