//! `stateplane-bench`: measures stateplane against baselines taken in the same run and prints one line
//! per measure (`<ID> <name> key=value ...`); `bench/run.sh` builds everything, starts a real Flink and
//! writes the results table. See `bench/run.sh --help`.

mod api;
mod common;
mod flink;
mod preview;
mod proxy;
mod reconcile;
mod rescale;
mod shared;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Fewer repetitions and 100 000 instead of 1 000 000 savepoints.
    #[arg(long)]
    quick: bool,
    /// REST URL of a real Flink session cluster with the default scheduler (P1, P2, P7, P9).
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    flink_url: String,
    /// The example job's jar (P1, P2, P7, P9).
    #[arg(long)]
    jar: Option<PathBuf>,
    /// The `stateplane` binary to measure (a release build).
    #[arg(long, default_value = "target/release/stateplane")]
    stateplane: PathBuf,
    /// REST URL of a real Flink session cluster running the adaptive scheduler (P8).
    #[arg(long)]
    adaptive_flink_url: Option<String>,
    /// That cluster's TaskManager stdout file, where the example job prints (P8).
    #[arg(long)]
    adaptive_flink_stdout: Option<PathBuf>,
    /// Only these measures, e.g. P1,P4.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where to write the results table (Markdown).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Internal: the baseline server of P3 and P6.
    #[command(hide = true)]
    BaselineServer {
        #[arg(long)]
        file: PathBuf,
    },
}

pub struct Ctx {
    pub quick: bool,
    pub flink_url: String,
    pub jar: PathBuf,
    pub stateplane: PathBuf,
    pub adaptive_flink_url: Option<String>,
    pub adaptive_flink_stdout: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(Cmd::BaselineServer { file }) = &args.command {
        return rt.block_on(api::baseline_server(file));
    }
    let ctx = Ctx {
        quick: args.quick,
        flink_url: args.flink_url.clone(),
        jar: args.jar.clone().unwrap_or_default(),
        stateplane: args.stateplane.clone(),
        adaptive_flink_url: args.adaptive_flink_url.clone(),
        adaptive_flink_stdout: args.adaptive_flink_stdout.clone(),
    };
    let wanted =
        |id: &str| args.only.is_empty() || args.only.iter().any(|o| o.eq_ignore_ascii_case(id));
    let load_at_start = load_average();
    let mut results = Vec::new();
    let mut failed = false;
    rt.block_on(async {
        type Bench = for<'a> fn(
            &'a Ctx,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = anyhow::Result<common::Measure>> + 'a>,
        >;
        let all: [(&str, Bench); 9] = [
            ("P1", |c| Box::pin(flink::savepoint_overhead(c))),
            ("P2", |c| Box::pin(flink::suspend_resume(c))),
            ("P3", |c| Box::pin(api::api_throughput(c))),
            ("P4", |c| Box::pin(api::scale(c))),
            ("P5", |c| Box::pin(reconcile::reconcile_pass(c))),
            ("P6", |c| Box::pin(api::footprint(c))),
            ("P7", |c| Box::pin(shared::shared_cluster(c))),
            ("P8", |c| Box::pin(rescale::rescale_gap(c))),
            ("P9", |c| Box::pin(preview::upgrade_preview(c))),
        ];
        if wanted("P1") || wanted("P2") {
            // A Flink cluster that has just started answers its REST API and takes snapshots
            // several times slower until its JVMs have compiled the code paths: warm it up first,
            // the same for both sides of P1 and P2.
            if let Err(e) = flink::warm_up(&ctx).await {
                eprintln!("warm-up failed: {e:#}");
            }
        }
        for (id, bench) in all {
            if !wanted(id) {
                continue;
            }
            match bench(&ctx).await {
                Ok(m) => {
                    println!("{}", m.line());
                    results.push(m);
                }
                Err(e) => {
                    println!("{id} error={:?}", format!("{e:#}"));
                    failed = true;
                }
            }
        }
    });
    if let Some(out) = &args.out {
        let load = format!(
            "{load_at_start} at the start, {} at the end",
            load_average()
        );
        std::fs::write(out, report(&results, args.quick, &load))?;
        eprintln!("wrote {}", out.display());
    }
    if failed {
        anyhow::bail!("some measures could not be taken");
    }
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {mem:.0} GiB memory")
}

/// The 1, 5 and 15 minute load averages: the machine is shared, and its load is part of the record.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn report(results: &[common::Measure], quick: bool, load: &str) -> String {
    let mut s = String::new();
    s.push_str("# stateplane benchmarks\n\n");
    s.push_str(&format!(
        "- date: {}\n- machine: {}\n- load average (1, 5, 15 min): {load}\n- mode: {}\n- every figure is measured against a baseline taken in the same run\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine(),
        if quick { "quick (`bench/run.sh --quick`)" } else { "full (`bench/run.sh`)" }
    ));
    s.push_str("| id | measure | figures | baseline | goal | met |\n|---|---|---|---|---|---|\n");
    for m in results {
        let kv: Vec<String> = m.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            m.id,
            m.name,
            kv.join(" "),
            m.baseline,
            m.goal,
            if m.met { "yes" } else { "**no**" }
        ));
    }
    if results.iter().any(|m| m.id == "P1" || m.id == "P2") {
        s.push_str(
            "\nP1 and P2: the example job keeps 24 MiB of keyed state, so a savepoint takes Flink ~100 ms; \
             the baseline polls Flink every 1 ms, the bench polls stateplane's API every 1 ms (stateplane \
             itself asks Flink on its schedule), and the two sides alternate; before measuring, the Flink cluster is warmed up \
             with unrecorded passes of both measurements (three in a full run, one in quick mode). \
             On a cluster that has just started the ratios are higher, because stateplane's path makes \
             a few more REST calls to Flink and each one is slow until Flink's JVMs have compiled them.\n",
        );
    }
    if results.iter().any(|m| m.id == "P8") {
        s.push_str(
            "\nP8: in place, Flink's adaptive scheduler restarts the job's tasks at the new parallelism \
             from its latest checkpoint (no savepoint, the same job id); it waits for the next \
             checkpoint (every second here) and for its resource-stabilization timeouts, set to 1 s by \
             `scripts/flink-local.sh start --adaptive`, so `done` is longer than the output gap. The \
             upgrade stops the job with a savepoint and submits it again.\n",
        );
    }
    if results.iter().any(|m| m.id == "P9") {
        s.push_str(
            "\nP9: both jobs keep their state in RocksDB (240 MiB does not fit the test cluster's \
             TaskManager heap with the copies Flink makes to serialise it); each preview plans the \
             new template twice (with and without chaining) and reads the savepoint's `_metadata`, \
             so its time is Flink's two plans plus a read that does not grow with the state.\n",
        );
    }
    s
}
