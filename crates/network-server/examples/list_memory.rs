//! Memory of big list pages (issue 10, defect 4): a bounded measurement.
//!
//! Seeds a fresh SQLite data directory with `--customers` customers (default
//! 1,000) of 60 properties of 4,000 characters each (about 240 KB of JSON per
//! customer, near the contract's largest), starts the release
//! `network-server` on it, then asks for `GET /v2/network/customers?size=1000`
//! once and then `--concurrent` times at once (default 8), reading every
//! response whole. Before each step the server's peak RSS is reset
//! (`/proc/<pid>/clear_refs`), after it the peak (`VmHWM`) is read, and the
//! growth over the RSS before the step is reported with the bytes received.
//! The concurrent requests go to `ceil(concurrent / 2)` tenants, each seeded
//! alike, so that the default per-tenant limit (2 in flight) lets them all in
//! at once.
//! Linux only; it stops by itself (a few seconds plus the seeding).
//!
//! Usage: `list_memory [--customers N] [--concurrent N] [--server PATH]`;
//! `--server` defaults to `network-server` next to this example's directory
//! (`target/release/`): build both with
//! `cargo build --release -p network-server --bin network-server --example list_memory`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use network_server::domain::{CustomerDraft, CustomerId, DraftFields, TenantName};
use network_server::store::sqlite::{SqliteOptions, SqliteStore};
use network_server::store::{CustomerStore, SeedCustomer};

struct Options {
    customers: usize,
    concurrent: usize,
    server: PathBuf,
}

fn parse_options() -> Result<Options, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe.parent().and_then(Path::parent).ok_or("no parent directory")?;
    let mut options = Options {
        customers: 1000,
        concurrent: 8,
        server: dir.join(format!("network-server{}", std::env::consts::EXE_SUFFIX)),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--customers" => options.customers = value()?.parse().map_err(|_| "bad --customers")?,
            "--concurrent" => {
                options.concurrent = value()?.parse().map_err(|_| "bad --concurrent")?
            }
            "--server" => options.server = PathBuf::from(value()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(options)
}

fn tenant_name(index: usize) -> String {
    format!("tenant{index}")
}

async fn seed(data_dir: &Path, count: usize, tenants: usize) -> Result<(), String> {
    let path = data_dir.join(network_server::server::SQLITE_FILE);
    let store = SqliteStore::open(&path, SqliteOptions::default()).map_err(|e| e.to_string())?;
    for index in 0..tenants {
        let tenant = TenantName::parse(&tenant_name(index)).map_err(|e| e.to_string())?;
        store.bulk_insert(&tenant, customers(count)).await.map_err(|e| e.to_string())?;
    }
    store.close().await;
    Ok(())
}

fn customers(count: usize) -> Vec<SeedCustomer> {
    (0..count)
        .map(|i| {
            let properties: BTreeMap<String, String> = (0..60)
                .map(|k| (format!("property{k:02}"), format!("{i:08}").repeat(500)))
                .collect();
            SeedCustomer {
                id: CustomerId::parse(&format!("{i:032x}")).expect("valid"),
                details: CustomerDraft::parse(DraftFields {
                    country: Some("IT".into()),
                    properties: Some(properties),
                    ..DraftFields::new(format!("Customer {i}"))
                })
                .expect("valid"),
                creation_timestamp: 1_700_000_000_000 + i as i64,
            }
        })
        .collect()
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(options: &Options, data_dir: &Path) -> Result<Server, String> {
    let mut child = Command::new(&options.server)
        .args(["--dev", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(["--rate-limit-tenant-per-minute", "100000000"])
        .args(["--rate-limit-subject-per-minute", "100000000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", options.server.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sender = Some(sender);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &sender {
                if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) {
                    if let (Some("listening"), Some(address)) =
                        (entry["msg"].as_str(), entry["address"].as_str())
                    {
                        let _ = tx.send(address.to_string());
                        sender = None;
                    }
                }
            }
        }
    });
    let address = receiver
        .recv_timeout(Duration::from_secs(20))
        .map_err(|_| "the server did not report its address".to_string())?;
    Ok(Server { child, base: format!("http://{address}") })
}

fn mint_token(options: &Options, data_dir: &Path, tenant: &str) -> Result<String, String> {
    let output = Command::new(&options.server)
        .args(["--dev", "--data-dir"])
        .arg(data_dir)
        .args(["token", "--tenant", tenant, "--subject", "list-memory", "--ttl", "1h"])
        .args(["--permission", "READ_ALL_CUSTOMERS"])
        .output()
        .map_err(|e| format!("cannot run the token command: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// A field of `/proc/<pid>/status` in KiB.
fn status_kib(pid: u32, field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .ok_or(format!("no {field} in /proc/{pid}/status"))
}

/// Resets the peak RSS (`VmHWM`) to the current RSS.
fn reset_peak(pid: u32) -> Result<(), String> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .map_err(|e| format!("cannot reset the peak RSS: {e}"))
}

async fn step(
    server: &Server,
    tokens: &[String],
    concurrent: usize,
) -> Result<(u64, u64, usize, Duration), String> {
    let pid = server.child.id();
    reset_peak(pid)?;
    let before = status_kib(pid, "VmRSS:")?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let requests = (0..concurrent).map(|i| {
        let tenant = i % tokens.len();
        let request = client
            .get(format!("{}/v2/network/customers?size=1000", server.base))
            .header("Authorization", format!("Bearer {}", tokens[tenant]))
            .header("X-Servitly-Tenant", tenant_name(tenant));
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| e.to_string())?;
            if status != 200 {
                return Err(format!("status {status}: {}", String::from_utf8_lossy(&body)));
            }
            Ok::<usize, String>(body.len())
        }
    });
    let sizes = futures::future::join_all(requests).await;
    let elapsed = started.elapsed();
    let mut total = 0;
    for size in sizes {
        total += size?;
    }
    let peak = status_kib(pid, "VmHWM:")?;
    Ok((before, peak, total, elapsed))
}

async fn run(options: Options) -> Result<(), String> {
    let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let seeding = Instant::now();
    let tenants = options.concurrent.div_ceil(2).max(1);
    seed(data_dir.path(), options.customers, tenants).await?;
    println!(
        "seeded {} customers in each of {tenants} tenants in {:?}",
        options.customers,
        seeding.elapsed()
    );
    let tokens = (0..tenants)
        .map(|index| mint_token(&options, data_dir.path(), &tenant_name(index)))
        .collect::<Result<Vec<_>, _>>()?;
    let server = spawn(&options, data_dir.path())?;
    // Warm up (the first request opens the file's pages).
    let client = reqwest::Client::new();
    client
        .get(format!("{}/v2/network/customers?size=1", server.base))
        .header("Authorization", format!("Bearer {}", tokens[0]))
        .header("X-Servitly-Tenant", tenant_name(0))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    for concurrent in [1, options.concurrent] {
        let (before, peak, bytes, elapsed) = step(&server, &tokens, concurrent).await?;
        println!(
            "{concurrent} x GET size=1000: {:.1} MB received in {elapsed:.2?}; server RSS {:.1} MiB before, peak {:.1} MiB (+{:.1} MiB)",
            bytes as f64 / 1e6,
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(before) as f64 / 1024.0,
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("list_memory: {error}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("list_memory: {error}");
            ExitCode::FAILURE
        }
    }
}
