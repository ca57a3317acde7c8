//! The load: `oha` (an established HTTP load generator), one or several
//! processes at once, closed loop (N connections, as fast as they go) or open
//! loop (a fixed request rate, latency measured from when each request was
//! due: corrected for coordinated omission). Percentiles are computed here
//! from every request oha recorded (its `--db-url` output), so the runs of
//! several processes merge exactly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;

/// What one load run sends.
#[derive(Debug, Clone)]
pub struct Load {
    /// One `(tenant, token)` per oha process; each process sends as that tenant.
    pub callers: Vec<(String, String)>,
    /// Connections per process.
    pub connections: usize,
    /// Total requests per second over all processes; `None` is closed loop.
    pub rate: Option<f64>,
    pub duration: Duration,
    /// How many customers exist (ids are drawn uniformly among them).
    pub customers: usize,
}

/// The outcome of one load run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Responses per second (all processes together).
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// Requests that completed (any status).
    pub requests: u64,
    /// Requests that failed or did not get a 200.
    pub errors: u64,
    /// What the errors were, when there were some.
    pub error_detail: Vec<String>,
}

/// Runs the load against `address` and measures it; `work` holds oha's outputs.
pub fn run(
    oha: &Path,
    address: SocketAddr,
    body: &str,
    load: &Load,
    work: &Path,
) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(work)?;
    let processes = load.callers.len();
    let url =
        format!("http://{address}/network/customers/{}", crate::seed::id_pattern(load.customers));
    let mut children = Vec::new();
    for (index, (tenant, token)) in load.callers.iter().enumerate() {
        let json = work.join(format!("oha-{index}.json"));
        let db = work.join(format!("oha-{index}.db"));
        let _ = std::fs::remove_file(&db);
        let mut command = Command::new(oha);
        command
            .args(["--no-tui", "--output-format", "json", "-o"])
            .arg(&json)
            .arg("--db-url")
            .arg(&db)
            .args(["-m", "PUT", "-T", "application/json", "-d", body])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["-H", &format!("X-Servitly-Tenant: {tenant}")])
            .args(["-c", &load.connections.to_string()])
            .args(["-z", &format!("{}ms", load.duration.as_millis())])
            // Let requests in flight at the deadline finish (not counted as errors).
            .arg("-w")
            .args(["--rand-regex-url", &url]);
        if processes > 1 {
            command.args(["--worker-threads", "1"]);
        }
        if let Some(rate) = load.rate {
            command
                .args(["-q", &format!("{:.3}", rate / processes as f64)])
                .arg("--latency-correction");
        }
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        children.push((
            command.spawn().with_context(|| format!("start {}", oha.display()))?,
            json,
            db,
        ));
    }
    let mut throughput = 0.0;
    let mut errors = 0;
    let mut error_detail = Vec::new();
    let mut latencies: Vec<f64> = Vec::new();
    let mut requests = 0;
    for (child, json, db) in children {
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!("oha failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json)?)
            .with_context(|| format!("parse {}", json.display()))?;
        throughput += report["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0);
        if let Some(statuses) = report["statusCodeDistribution"].as_object() {
            for (status, count) in statuses {
                let count = count.as_u64().unwrap_or(0);
                requests += count;
                if status != "200" {
                    errors += count;
                    error_detail.push(format!("{count}× HTTP {status}"));
                }
            }
        }
        if let Some(failures) = report["errorDistribution"].as_object() {
            for (error, count) in failures {
                let count = count.as_u64().unwrap_or(0);
                errors += count;
                error_detail.push(format!("{count}× {error}"));
            }
        }
        latencies.extend(read_latencies(&db)?);
    }
    if latencies.is_empty() {
        bail!("oha recorded no request");
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Outcome {
        throughput,
        p50_ms: percentile(&latencies, 50.0) * 1e3,
        p99_ms: percentile(&latencies, 99.0) * 1e3,
        p999_ms: percentile(&latencies, 99.9) * 1e3,
        requests,
        errors,
        error_detail,
    })
}

/// Every recorded request's latency in seconds (from when it was due, with
/// `--latency-correction`; from when it was sent, otherwise).
fn read_latencies(db: &PathBuf) -> anyhow::Result<Vec<f64>> {
    let connection =
        rusqlite::Connection::open(db).with_context(|| format!("open {}", db.display()))?;
    let mut statement = connection.prepare("SELECT duration FROM oha")?;
    let rows = statement.query_map([], |row| row.get::<_, f64>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    // The epsilon keeps float error (0.99 × 1000 = 990.000…1) from moving up a rank.
    let rank = ((p / 100.0) * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The version of oha the harness is written against.
pub const OHA_VERSION: &str = "1.16.0";

/// Checks that `oha` runs and is the expected version.
pub fn check_oha(oha: &Path) -> anyhow::Result<()> {
    let output = Command::new(oha).arg("--version").output().with_context(|| {
        format!("cannot run {} (cargo xtask bench installs oha {OHA_VERSION})", oha.display())
    })?;
    let version = String::from_utf8_lossy(&output.stdout);
    if !version.contains(OHA_VERSION) {
        bail!("{} is `{}`, not oha {OHA_VERSION}", oha.display(), version.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 500.0);
        assert_eq!(percentile(&values, 99.0), 990.0);
        assert_eq!(percentile(&values, 99.9), 999.0);
        assert_eq!(percentile(&[7.0], 99.9), 7.0);
    }
}
