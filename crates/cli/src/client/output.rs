//! Output of the client verbs: `table` for people (fits an 80-column terminal: ids shortened to 8
//! characters, long locations cut in the middle), `json` and `yaml` for programs (the server's answer
//! exactly, nothing dropped).

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use serde_json::Value;

use super::{CliError, Result};

/// The width tables must fit.
pub const WIDTH: usize = 80;
/// Characters of an id shown in tables (any unique prefix is accepted back).
pub const SHORT_ID: usize = 8;
/// Space between columns.
const GAP: &str = "  ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

impl Output {
    /// Prints `v` as JSON or YAML; `false` for `table` (the caller renders it).
    pub fn print_raw(self, v: &Value) -> Result<bool> {
        match self {
            Output::Table => Ok(false),
            Output::Json => {
                println!("{}", to_json(v));
                Ok(true)
            }
            Output::Yaml => {
                print!("{}", to_yaml(v)?);
                Ok(true)
            }
        }
    }

    /// One item of a stream (`events --follow`): a JSON line, or a YAML document.
    pub fn print_stream_item(self, v: &Value) -> Result<()> {
        match self {
            Output::Json => println!("{}", serde_json::to_string(v).unwrap_or_default()),
            Output::Yaml => print!("---\n{}", to_yaml(v)?),
            Output::Table => {}
        }
        Ok(())
    }
}

fn to_json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn to_yaml(v: &Value) -> Result<String> {
    stateplane_api::yaml::to_string(v)
        .map_err(|e| CliError::Input(format!("cannot render YAML: {e}")))
}

/// How a column too wide for the terminal is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Keep the start: names, messages.
    End,
    /// Keep both ends: locations, whose last segment (the savepoint id) matters most.
    Middle,
}

/// A column: header, the widest it may be, how it is cut, and whether it takes what is left of the
/// line (one column per table at most).
#[derive(Debug, Clone, Copy)]
pub struct Col {
    pub header: &'static str,
    pub max: usize,
    pub cut: Cut,
    pub flex: bool,
}

impl Col {
    pub const fn new(header: &'static str, max: usize) -> Self {
        Self {
            header,
            max,
            cut: Cut::End,
            flex: false,
        }
    }
    /// Takes the width the other columns leave (cut as given).
    pub const fn flex(header: &'static str, cut: Cut) -> Self {
        Self {
            header,
            max: usize::MAX,
            cut,
            flex: true,
        }
    }
}

/// Renders rows under headers, within [`WIDTH`] columns.
pub fn table(cols: &[Col], rows: &[Vec<String>]) -> String {
    let len = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let content = rows
                .iter()
                .map(|r| r.get(i).map_or(0, |s| len(s)))
                .max()
                .unwrap_or(0);
            content.max(len(c.header)).min(c.max)
        })
        .collect();
    let gaps = GAP.len() * cols.len().saturating_sub(1);
    if let Some(flex) = cols.iter().position(|c| c.flex) {
        let others: usize = widths
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != flex)
            .map(|(_, w)| w)
            .sum();
        let room = WIDTH
            .saturating_sub(others + gaps)
            .max(len(cols[flex].header))
            .max(8);
        widths[flex] = widths[flex].min(room);
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str(GAP);
            }
            let cut = fit(cell, widths[i], cols[i].cut);
            if i + 1 == cells.len() {
                l.push_str(&cut);
            } else {
                l.push_str(&format!("{cut:<w$}", w = widths[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(cols.iter().map(|c| c.header.to_string()).collect());
    for r in rows {
        line(
            (0..cols.len())
                .map(|i| r.get(i).cloned().unwrap_or_default())
                .collect(),
        );
    }
    out
}

/// [`table`], or `empty` (one line) when there are no rows.
pub fn table_or(cols: &[Col], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        format!("{empty}\n")
    } else {
        table(cols, rows)
    }
}

/// `s` within `width` characters, cut with `…` as `cut` says.
pub fn fit(s: &str, width: usize, cut: Cut) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width <= 1 {
        return "…".into();
    }
    match cut {
        Cut::End => s.chars().take(width - 1).chain(['…']).collect(),
        Cut::Middle => {
            let tail = (width - 1) * 2 / 3;
            let head = width - 1 - tail;
            let start: String = s.chars().take(head).collect();
            let end: String = s.chars().skip(n - tail).collect();
            format!("{start}…{end}")
        }
    }
}

/// Key/value lines for one resource (`get`), keys aligned; values are never cut.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        if v.is_empty() {
            continue;
        }
        out.push_str(&format!("{:<w$}  {v}\n", format!("{k}:")));
    }
    out
}

/// The first [`SHORT_ID`] characters of an id.
pub fn short(id: impl ToString) -> String {
    id.to_string().chars().take(SHORT_ID).collect()
}

/// How long ago: `42s`, `5m`, `3h`, `2d`.
pub fn age(t: DateTime<Utc>) -> String {
    let s = (Utc::now() - t).num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// A time as `2026-05-01 12:03:04Z`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// `-` for an absent value.
pub fn or_dash(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_fit_80_columns() {
        let cols = [
            Col::new("ID", 8),
            Col::new("STATE", 16),
            Col::flex("LOCATION", Cut::Middle),
        ];
        let loc = format!(
            "file:///{}/{}",
            "x".repeat(120),
            "5b2e0c8a-6f0e-4d0b-9c57-1f2a3b4c5d6e"
        );
        let t = table(
            &cols,
            &[vec![short("5b2e0c8a-6f0e"), "COMPLETED".into(), loc]],
        );
        for l in t.lines() {
            assert!(l.chars().count() <= WIDTH, "{l}");
        }
        assert!(t.contains("5b2e0c8a "), "{t}");
        assert!(
            t.contains("1f2a3b4c5d6e"),
            "the end of a location is kept: {t}"
        );
    }

    #[test]
    fn cuts() {
        assert_eq!(fit("abcdef", 4, Cut::End), "abc…");
        assert_eq!(fit("abcdefghij", 7, Cut::Middle), "ab…ghij");
        assert_eq!(fit("abc", 3, Cut::Middle), "abc");
    }
}
