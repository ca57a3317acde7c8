//! `network-bench run --compare-server OLD_BIN`: one build of the server
//! against another in the same session. Durable SQLite (group commit), the
//! same seed data and the same closed-loop load for both, alternated (old,
//! new, old, new, ...) so that a machine whose speed drifts over the run
//! drifts for both alike; the figure compared is the server process's CPU
//! time per request, which the load generator sharing the machine does not
//! change the way it changes throughput.

use std::path::Path;

use serde::Serialize;

use crate::cpu::CpuPerRequest;
use crate::report::ConfigResult;
use crate::target::Launch;
use crate::{measure, Config, Plan, RunArgs};

/// One measured run of one build.
#[derive(Debug, Clone, Serialize)]
struct Run {
    round: usize,
    build: &'static str,
    throughput: f64,
    cpu: Option<CpuPerRequest>,
}

/// What `compare.json` holds.
#[derive(Debug, Serialize)]
struct Comparison {
    old_server: String,
    new_server: String,
    runs: Vec<Run>,
    /// Medians over the rounds.
    old_cpu_us: Option<f64>,
    new_cpu_us: Option<f64>,
    old_throughput: f64,
    new_throughput: f64,
    /// new ÷ old of the median CPU per request (below 1: the new build is cheaper).
    cpu_ratio: Option<f64>,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    })
}

/// The median CPU per request and throughput of one build's runs.
fn medians(runs: &[Run], build: &str) -> (Option<f64>, f64) {
    let of_build = || runs.iter().filter(move |run| run.build == build);
    let cpu = median(of_build().filter_map(|run| run.cpu.as_ref().map(|c| c.total_us)).collect());
    let throughput = median(of_build().map(|run| run.throughput).collect()).unwrap_or(0.0);
    (cpu, throughput)
}

pub async fn run(args: &RunArgs, old: &Path, plan: &Plan, body: &str) -> anyhow::Result<()> {
    let config = Config {
        name: "compare",
        label: "server, durable SQLite, group commit".into(),
        launch: Launch::Sqlite { group_commit: true },
        tenants: 1,
        customers: plan.customers,
        processes: 1,
        connections: plan.connections,
        // The closed loop only: its CPU per request is the figure compared.
        fractions: Vec::new(),
    };
    let mut runs = Vec::new();
    for round in 1..=args.rounds.max(1) {
        for (build, server) in [("old", old), ("new", args.server.as_path())] {
            println!("==> round {round}, {build} ({})", server.display());
            let result: ConfigResult = measure(args, server, plan, &config, body).await?;
            if result.closed.errors > 0 {
                anyhow::bail!(
                    "{build} build: {} requests failed: {:?}",
                    result.closed.errors,
                    result.closed.error_detail
                );
            }
            runs.push(Run { round, build, throughput: result.closed.throughput, cpu: result.cpu });
        }
    }
    let (old_cpu_us, old_throughput) = medians(&runs, "old");
    let (new_cpu_us, new_throughput) = medians(&runs, "new");
    let comparison = Comparison {
        old_server: old.display().to_string(),
        new_server: args.server.display().to_string(),
        cpu_ratio: old_cpu_us.zip(new_cpu_us).map(|(old, new)| new / old),
        runs,
        old_cpu_us,
        new_cpu_us,
        old_throughput,
        new_throughput,
    };
    println!("\n{}", markdown(&comparison));
    let path = args.out.join("compare.json");
    std::fs::write(&path, serde_json::to_string_pretty(&comparison)?)?;
    println!("written: {}", path.display());
    Ok(())
}

/// The runs in order, then the medians and the ratio.
fn markdown(comparison: &Comparison) -> String {
    let mut out = String::from(
        "| Round | Build | Closed loop req/s | Server CPU per request |\n|---|---|---|---|\n",
    );
    for run in &comparison.runs {
        let cpu = run.cpu.as_ref().map(CpuPerRequest::summary).unwrap_or_else(|| "?".into());
        out.push_str(&format!(
            "| {} | {} | {:.0} | {cpu} |\n",
            run.round, run.build, run.throughput
        ));
    }
    let us = |value: Option<f64>| value.map(|v| format!("{v:.1} µs")).unwrap_or_else(|| "?".into());
    out.push_str(&format!(
        "\nMedians: old {} at {:.0} req/s, new {} at {:.0} req/s; new ÷ old CPU per request: {}\n",
        us(comparison.old_cpu_us),
        comparison.old_throughput,
        us(comparison.new_cpu_us),
        comparison.new_throughput,
        comparison.cpu_ratio.map(|r| format!("{r:.3}")).unwrap_or_else(|| "?".into()),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(build: &'static str, throughput: f64, cpu_us: f64) -> Run {
        let cpu = CpuPerRequest {
            total_us: cpu_us,
            by_group_us: Default::default(),
            requests: 1,
            cpu_seconds: 0.0,
        };
        Run { round: 1, build, throughput, cpu: Some(cpu) }
    }

    #[test]
    fn medians_are_taken_per_build() {
        let runs = [run("old", 100.0, 80.0), run("new", 200.0, 40.0), run("old", 300.0, 60.0)];
        assert_eq!(medians(&runs, "old"), (Some(70.0), 200.0));
        assert_eq!(medians(&runs, "new"), (Some(40.0), 200.0));
        assert_eq!(medians(&runs, "none"), (None, 0.0));
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
    }
}
