//! The results: printed as they come, then one Markdown section (tables,
//! targets as ratios measured in this run) and `results.json`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;

use crate::cpu::CpuPerRequest;
use crate::loadgen::Outcome;

/// One open-loop run: its offered rate, as a fraction of the closed-loop throughput.
#[derive(Debug, Clone, Serialize)]
pub struct OpenPoint {
    pub fraction: f64,
    pub offered: f64,
    pub outcome: Outcome,
}

/// Everything measured for one configuration.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigResult {
    pub name: String,
    pub label: String,
    pub tenants: usize,
    pub customers: usize,
    pub connections: usize,
    pub seed_seconds: f64,
    pub closed: Outcome,
    pub open: Vec<OpenPoint>,
    pub peak_rss_bytes: Option<u64>,
    /// The server process's CPU time per request over the closed loop.
    pub cpu: Option<CpuPerRequest>,
}

impl ConfigResult {
    /// Every measured run: the closed loop, then each open-loop rate.
    fn runs(&self) -> impl Iterator<Item = (String, &Outcome)> {
        std::iter::once(("closed loop".to_string(), &self.closed)).chain(
            self.open
                .iter()
                .map(|p| (format!("open loop at {:.0}%", p.fraction * 100.0), &p.outcome)),
        )
    }

    fn requests(&self) -> u64 {
        self.runs().map(|(_, outcome)| outcome.requests).sum()
    }

    fn errors(&self) -> u64 {
        self.runs().map(|(_, outcome)| outcome.errors).sum()
    }

    fn open_point_at(&self, fraction: f64) -> Option<&OpenPoint> {
        self.open.iter().find(|p| (p.fraction - fraction).abs() < 1e-9)
    }

    fn open_at(&self, fraction: f64) -> Option<&Outcome> {
        self.open_point_at(fraction).map(|p| &p.outcome)
    }

    /// The open-loop p50 at `rate` req/s offered: linear between the two
    /// measured rates around it, the nearest measured one outside them.
    fn p50_at_rate(&self, rate: f64) -> Option<f64> {
        let mut points: Vec<(f64, f64)> =
            self.open.iter().map(|p| (p.offered, p.outcome.p50_ms)).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (first, last) = (*points.first()?, *points.last()?);
        if rate <= first.0 {
            return Some(first.1);
        }
        if rate >= last.0 {
            return Some(last.1);
        }
        points.windows(2).find(|w| w[0].0 <= rate && rate <= w[1].0).map(|w| {
            let (a, b) = (w[0], w[1]);
            a.1 + (b.1 - a.1) * (rate - a.0) / (b.0 - a.0)
        })
    }

    fn rss_mib(&self) -> Option<f64> {
        self.peak_rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0))
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub date: String,
    pub machine: String,
    pub quick: bool,
    pub elapsed_seconds: f64,
    pub configs: Vec<ConfigResult>,
}

/// One target of the issue, as measured.
struct Target {
    what: &'static str,
    measured: Option<String>,
    met: Option<bool>,
}

pub fn print_config(result: &ConfigResult) {
    let rss = result.rss_mib().map(|m| format!("{m:.1} MiB")).unwrap_or_else(|| "?".into());
    println!(
        "    {} requests, {} errors, peak RSS {rss}{}",
        result.requests(),
        result.errors(),
        if result.seed_seconds > 0.5 {
            format!(", seeded in {:.1} s", result.seed_seconds)
        } else {
            String::new()
        },
    );
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:").map(|rest| rest.trim().to_string()))
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), {memory} memory, Linux {}", kernel.trim())
}

fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

impl Report {
    pub fn new(quick: bool, configs: Vec<ConfigResult>, elapsed: Duration) -> Report {
        Report {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            machine: machine(),
            quick,
            elapsed_seconds: elapsed.as_secs_f64(),
            configs,
        }
    }

    pub fn config(&self, name: &str) -> Option<&ConfigResult> {
        self.configs.iter().find(|c| c.name == name)
    }

    /// Every run that had failed or non-200 requests.
    pub fn errors(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for config in &self.configs {
            for (run, outcome) in config.runs() {
                if outcome.errors > 0 {
                    failures.push(format!(
                        "{} {run}: {}",
                        config.name,
                        outcome.error_detail.join(", ")
                    ));
                }
            }
        }
        failures
    }

    fn targets(&self) -> Vec<Target> {
        let throughput = |name| self.config(name).map(|c| c.closed.throughput);
        let ratio = |what, a: Option<f64>, b: Option<f64>, goal: f64, at_least: bool| {
            let value = a.zip(b).map(|(a, b)| a / b);
            Target {
                what,
                measured: value.map(|v| format!("{v:.2}×")),
                met: value.map(|v| if at_least { v >= goal } else { v <= goal }),
            }
        };
        let sqlite = throughput("sqlite");
        let p99 = self.config("sqlite").and_then(|c| c.open_at(0.5)).map(|o| o.p99_ms);
        let p50_small = self.config("sqlite").and_then(|c| c.open_at(0.5)).map(|o| o.p50_ms);
        let many = self.config("sqlite-many-customers");
        let many_half = many.and_then(|c| c.open_point_at(0.5));
        let p50_large = many_half.map(|p| p.outcome.p50_ms);
        // The same comparison at the same offered rate: at 50% of its own
        // saturation the 1,000-customer run gets more load than the larger one.
        let p50_small_same_rate = many_half
            .zip(self.config("sqlite"))
            .and_then(|(point, small)| small.p50_at_rate(point.offered));
        let rss = self.config("sqlite-many-customers").and_then(ConfigResult::rss_mib);
        let errors: u64 = self.configs.iter().map(ConfigResult::errors).sum();
        let cpu = |name| self.config(name).and_then(|c| c.cpu.as_ref()).map(|cpu| cpu.total_us);
        let durable_cpu = cpu("sqlite");
        vec![
            Target {
                what: "server CPU per durable PUT ≤ 30 µs (closed loop, durable SQLite, all threads)",
                measured: durable_cpu.map(|v| format!("{v:.1} µs")),
                met: durable_cpu.map(|v| v <= 30.0),
            },
            ratio(
                "server CPU per durable PUT ≤ 2.5 × the ceiling's",
                durable_cpu,
                cpu("ceiling"),
                2.5,
                false,
            ),
            ratio(
                "durable SQLite throughput ≥ 0.75 × bare dropshot",
                sqlite,
                throughput("bare"),
                0.75,
                true,
            ),
            ratio(
                "durable SQLite throughput ≥ 0.40 × ceiling",
                sqlite,
                throughput("ceiling"),
                0.40,
                true,
            ),
            ratio(
                "group commit ≥ 5 × fsync per request (64 connections)",
                sqlite,
                throughput("sqlite-fsync"),
                5.0,
                true,
            ),
            Target {
                what: "p99 ≤ 10 ms at 50% of saturation (open loop, durable SQLite)",
                measured: p99.map(|v| format!("{} ms", ms(v))),
                met: p99.map(|v| v <= 10.0),
            },
            ratio(
                "p50 at many customers ≤ 1.3 × p50 at 1,000 (open loop, each at 50% of its own saturation)",
                p50_large,
                p50_small,
                1.3,
                false,
            ),
            ratio(
                "p50 at many customers ≤ 1.3 × p50 at 1,000 (open loop, same offered rate; 1,000: interpolated between its measured rates)",
                p50_large,
                p50_small_same_rate,
                1.3,
                false,
            ),
            Target {
                what: "server peak RSS ≤ 100 MiB at many customers under load",
                measured: rss.map(|v| format!("{v:.1} MiB")),
                met: rss.map(|v| v <= 100.0),
            },
            Target {
                what: "no error and no failed request",
                measured: Some(format!("{errors} errors")),
                met: Some(errors == 0),
            },
        ]
    }

    /// The results section for BENCHMARKS.md.
    pub fn markdown(&self, chart: &Path, benchmarks_md: Option<&Path>) -> String {
        let mut out = String::new();
        let command = if self.quick { "cargo xtask bench --quick" } else { "cargo xtask bench" };
        let _ = writeln!(out, "### Latest results ({})\n", self.date);
        let _ = writeln!(
            out,
            "`{command}` on {}; load generator oha {} on the same machine; {:.0} s in all.\n",
            self.machine,
            crate::loadgen::OHA_VERSION,
            self.elapsed_seconds
        );
        let _ = writeln!(out, "| Configuration | Tenants × customers | Conns | Closed loop req/s | p50 ms | p99 ms | p99.9 ms | Open loop at 50%: req/s | p50 ms | p99 ms | p99.9 ms | Errors | Peak RSS |");
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for c in &self.configs {
            let half = c.open_at(0.5);
            let errors = c.errors();
            let _ = writeln!(
                out,
                "| {} | {} × {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.label,
                c.tenants,
                c.customers,
                c.connections,
                c.closed.throughput,
                ms(c.closed.p50_ms),
                ms(c.closed.p99_ms),
                ms(c.closed.p999_ms),
                half.map(|o| format!("{:.0}", o.throughput)).unwrap_or_default(),
                half.map(|o| ms(o.p50_ms)).unwrap_or_default(),
                half.map(|o| ms(o.p99_ms)).unwrap_or_default(),
                half.map(|o| ms(o.p999_ms)).unwrap_or_default(),
                errors,
                c.rss_mib().map(|m| format!("{m:.1} MiB")).unwrap_or_else(|| "?".into()),
            );
        }
        let _ = writeln!(
            out,
            "\nServer CPU time (user + system, from `/proc/<pid>/task/*/stat`) per request \
             over the closed loop, in µs, by thread group (`workers`: tokio's workers and \
             blocking pool; `writer`: the SQLite writer; `log`: the log flusher; `other`: \
             the rest, exited threads included). PostgreSQL's own processes are not counted.\n"
        );
        let _ = writeln!(
            out,
            "| Configuration | CPU µs/request | × ceiling | workers | writer | log | other |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        let ceiling_cpu = self.config("ceiling").and_then(|c| c.cpu.as_ref()).map(|c| c.total_us);
        for c in &self.configs {
            let Some(cpu) = &c.cpu else { continue };
            let group = |name: &str| {
                cpu.by_group_us.get(name).map(|us| format!("{us:.1}")).unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "| {} | {:.1} | {} | {} | {} | {} | {} |",
                c.label,
                cpu.total_us,
                ceiling_cpu
                    .filter(|base| *base > 0.0)
                    .map(|base| format!("{:.2}×", cpu.total_us / base))
                    .unwrap_or_default(),
                group("workers"),
                group("writer"),
                group("log"),
                group("other"),
            );
        }
        let _ = writeln!(
            out,
            "\nOpen loop (fixed rate, latency from when each request was due), by offered rate:\n"
        );
        let _ = writeln!(out, "| Configuration | Offered | req/s | p50 ms | p99 ms | p99.9 ms |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for c in &self.configs {
            for p in &c.open {
                let _ = writeln!(
                    out,
                    "| {} | {:.0}% = {:.0} req/s | {:.0} | {} | {} | {} |",
                    c.label,
                    p.fraction * 100.0,
                    p.offered,
                    p.outcome.throughput,
                    ms(p.outcome.p50_ms),
                    ms(p.outcome.p99_ms),
                    ms(p.outcome.p999_ms)
                );
            }
        }
        if let Some(c) = self.config("sqlite-many-customers") {
            let _ = writeln!(
                out,
                "\nSeeding {} customers (bulk path, not HTTP): {:.1} s.",
                c.customers, c.seed_seconds
            );
        }
        let _ = writeln!(out, "\n#### Targets (ratios within this run)\n");
        let _ = writeln!(out, "| Target | Measured | Met |");
        let _ = writeln!(out, "|---|---|---|");
        for t in self.targets() {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {met} |",
                t.what,
                t.measured.unwrap_or_else(|| "—".into())
            );
        }
        let chart_link = match benchmarks_md.and_then(Path::parent) {
            Some(dir) if !dir.as_os_str().is_empty() => chart.strip_prefix(dir).unwrap_or(chart),
            _ => chart,
        };
        let _ = writeln!(
            out,
            "\n![p50 and p99 latency against offered rate]({})",
            chart_link.display()
        );
        out
    }
}

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// Replaces the text between the markers of `path` with `section`.
pub fn replace_section(path: &Path, section: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        bail!("{} has no `{BEGIN}` … `{END}` section", path.display());
    };
    if end < begin {
        bail!("{}: `{END}` comes before `{BEGIN}`", path.display());
    }
    let updated = format!("{}{BEGIN}\n{section}{}", &text[..begin], &text[end..]);
    std::fs::write(path, updated).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::{ConfigResult, OpenPoint};
    use crate::loadgen::Outcome;

    fn config(points: &[(f64, f64)]) -> ConfigResult {
        let outcome = |p50_ms| Outcome { p50_ms, ..Outcome::default() };
        ConfigResult {
            name: "sqlite".into(),
            label: "sqlite".into(),
            tenants: 1,
            customers: 1000,
            connections: 64,
            seed_seconds: 0.0,
            closed: outcome(0.0),
            open: points
                .iter()
                .map(|&(offered, p50)| OpenPoint { fraction: 0.0, offered, outcome: outcome(p50) })
                .collect(),
            peak_rss_bytes: None,
            cpu: None,
        }
    }

    #[test]
    fn p50_at_a_rate_is_interpolated_between_measured_rates() {
        // Measured out of order: 50% before 25%.
        let c = config(&[(6000.0, 1.5), (3000.0, 1.0), (9000.0, 3.0)]);
        assert_eq!(c.p50_at_rate(4500.0), Some(1.25));
        assert_eq!(c.p50_at_rate(7500.0), Some(2.25));
        assert_eq!(c.p50_at_rate(6000.0), Some(1.5));
        // Outside the measured rates: the nearest one.
        assert_eq!(c.p50_at_rate(1000.0), Some(1.0));
        assert_eq!(c.p50_at_rate(20000.0), Some(3.0));
        assert_eq!(config(&[]).p50_at_rate(1000.0), None);
    }
}
