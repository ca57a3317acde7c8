//! Crash durability harness (`cargo xtask crash-test [--rounds N]`).
//!
//! Each round: start the release `network-server` on SQLite in one data
//! directory (kept across rounds), time its start until `/readyz` answers 200
//! (after a crash that is the restart time: it must stay under one second),
//! check that every acknowledged update survived and that
//! `PRAGMA integrity_check` says `ok`, then drive concurrent PUTs (each with a
//! unique `seq`) and `kill -9` the server at a random moment 50–500 ms into
//! the load. After the last round the server is restarted and checked once more.
//!
//! The check, per customer: the stored version (its ETag) is at least the
//! highest version a 200 acknowledged, and when it is equal the stored name
//! and properties are exactly that write's; a higher version must hold a
//! write that was actually sent (one in flight at the kill). Anything else
//! counts as a lost write, and the harness exits non-zero.
//!
//! Usage: `crash_test [--rounds N] [--customers N] [--writers N] [--seed S]
//! [--server PATH] [--keep] [--sabotage]`; `--server` defaults to the
//! `network-server` binary next to this example's directory (`target/release/`).
//! `--sabotage` checks the harness itself: it deletes the SQLite WAL after
//! each kill, so acknowledged writes are lost and the harness must fail.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TENANT: &str = "acme";
const MAX_RESTART: Duration = Duration::from_secs(1);

struct Options {
    rounds: u32,
    customers: usize,
    writers: usize,
    seed: u64,
    server: PathBuf,
    keep: bool,
    sabotage: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        rounds: 20,
        customers: 20,
        writers: 16,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        server: default_server()?,
        keep: false,
        sabotage: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--rounds" => options.rounds = number(&value("--rounds")?)?,
            "--customers" => options.customers = number(&value("--customers")?)?,
            "--writers" => options.writers = number(&value("--writers")?)?,
            "--seed" => options.seed = number(&value("--seed")?)?,
            "--server" => options.server = PathBuf::from(value("--server")?),
            "--keep" => options.keep = true,
            "--sabotage" => options.sabotage = true,
            "-h" | "--help" => {
                return Err("usage: crash_test [--rounds N] [--customers N] [--writers N] \
                            [--seed S] [--server PATH] [--keep] [--sabotage]"
                    .into())
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if options.rounds == 0 || options.customers == 0 || options.writers == 0 {
        return Err("--rounds, --customers and --writers must be at least 1".into());
    }
    Ok(options)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("`{text}` is not a valid number"))
}

/// `target/release/network-server`, next to `target/release/examples/crash_test`.
fn default_server() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe.parent().and_then(Path::parent).ok_or("no parent directory")?;
    Ok(dir.join(format!("network-server{}", std::env::consts::EXE_SUFFIX)))
}

/// xorshift64*: enough randomness for picking customers and kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A running server and its address.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the server on a free port and returns once it accepts
    /// requests: its `--ready-file` (beside the data directory, removed
    /// first: a killed server leaves its file behind) holds the address.
    fn spawn(options: &Options, data_dir: &Path) -> Result<Server, String> {
        let mut ready = data_dir.as_os_str().to_owned();
        ready.push(".ready");
        let ready = PathBuf::from(ready);
        let _ = std::fs::remove_file(&ready);
        let mut child = Command::new(&options.server)
            .args(["--dev", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--ready-file")
            .arg(&ready)
            .args(["--rate-limit-tenant-per-minute", "100000000"])
            .args(["--rate-limit-subject-per-minute", "100000000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", options.server.display()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                if let Some(address) = text.lines().next().filter(|line| !line.is_empty()) {
                    return Ok(Server { child, base: format!("http://{address}") });
                }
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                return Err(format!("the server did not become ready ({status})"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, then reap.
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The most recent acknowledged (or, after a verified restart, observed) state of a customer.
#[derive(Debug, Clone, PartialEq)]
struct Known {
    version: u64,
    name: String,
    properties: Value,
}

/// Everything the writers sent and were acknowledged, by customer index.
#[derive(Default)]
struct Ledger {
    /// Highest acknowledged write per customer.
    acked: HashMap<usize, Known>,
    /// Every write sent (acknowledged or not), by its `seq`.
    sent: HashMap<u64, (usize, String, Value)>,
    acknowledged: u64,
}

/// Every PUT sent in a round: its `seq`, the customer index, the name and the properties.
type SentLog = Arc<Mutex<Vec<(u64, usize, String, Value)>>>;

fn body_for(index: usize, seq: u64, writer: usize) -> (String, Value) {
    let name = format!("customer {index} seq {seq}");
    let properties = json!({ "seq": seq.to_string(), "writer": writer.to_string() });
    (name, properties)
}

fn etag_version(response: &reqwest::Response) -> Result<u64, String> {
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .ok_or("response without ETag")?;
    etag.trim_matches('"').parse().map_err(|_| format!("unexpected ETag {etag}"))
}

async fn wait_ready(client: &reqwest::Client, base: &str, started: Instant) -> Result<(), String> {
    let deadline = started + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await {
            if response.status() == 200 {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err("the server did not become ready within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn mint_token(options: &Options, data_dir: &Path) -> Result<String, String> {
    let output = Command::new(&options.server)
        .args(["--dev", "--data-dir"])
        .arg(data_dir)
        .args(["token", "--tenant", TENANT, "--subject", "crash-test", "--ttl", "24h"])
        .args(["--permission", "READ_CUSTOMER", "--permission", "WRITE_CUSTOMER"])
        .output()
        .map_err(|e| format!("cannot run the token command: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "token command failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

async fn create_customers(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    count: usize,
    ledger: &mut Ledger,
) -> Result<Vec<String>, String> {
    let mut ids = Vec::with_capacity(count);
    for index in 0..count {
        let (name, properties) = body_for(index, 0, 0);
        let response = client
            .post(format!("{base}/network/customers"))
            .bearer_auth(token)
            .header("X-Servitly-Tenant", TENANT)
            .json(&json!({ "name": name, "properties": properties }))
            .send()
            .await
            .map_err(|e| format!("create: {e}"))?;
        if response.status() != 201 {
            return Err(format!("create answered {}", response.status()));
        }
        let version = etag_version(&response)?;
        let created: Value = response.json().await.map_err(|e| format!("create body: {e}"))?;
        let id = created["id"].as_str().ok_or("created customer without id")?.to_string();
        ledger.acked.insert(index, Known { version, name, properties });
        ids.push(id);
    }
    Ok(ids)
}

#[derive(Default)]
struct RoundCheck {
    lost: u64,
    superseded: u64,
    problems: Vec<String>,
}

/// Reads every customer back and compares it with the ledger; the observed
/// state becomes the baseline for later rounds.
async fn verify(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    ids: &[String],
    ledger: &mut Ledger,
    acked_versions: &HashMap<usize, Vec<u64>>,
) -> Result<RoundCheck, String> {
    let mut check = RoundCheck::default();
    for (index, id) in ids.iter().enumerate() {
        let response = client
            .get(format!("{base}/network/customers/{id}"))
            .bearer_auth(token)
            .header("X-Servitly-Tenant", TENANT)
            .send()
            .await
            .map_err(|e| format!("get {id}: {e}"))?;
        if response.status() != 200 {
            check
                .problems
                .push(format!("customer {index} ({id}): GET answered {}", response.status()));
            check.lost += acked_versions.get(&index).map_or(1, |v| v.len() as u64);
            continue;
        }
        let version = etag_version(&response)?;
        let body: Value = response.json().await.map_err(|e| format!("get body: {e}"))?;
        let stored = Known {
            version,
            name: body["name"].as_str().unwrap_or_default().to_string(),
            properties: body["properties"].clone(),
        };
        let expected = ledger.acked.get(&index).cloned().ok_or("customer without baseline")?;
        if stored.version < expected.version {
            let lost = acked_versions
                .get(&index)
                .map_or(1, |v| v.iter().filter(|&&acked| acked > stored.version).count() as u64)
                .max(1);
            check.lost += lost;
            check.problems.push(format!(
                "customer {index} ({id}): stored version {} < acknowledged {} ({lost} acknowledged write(s) lost)",
                stored.version, expected.version
            ));
        } else if stored.version == expected.version {
            if stored != expected {
                check.lost += 1;
                check.problems.push(format!(
                    "customer {index} ({id}): version {} holds {stored:?}, acknowledged {expected:?}",
                    stored.version
                ));
            }
        } else {
            // A write in flight at the kill landed: it must be one that was sent for this customer.
            let seq: Option<u64> = stored.properties["seq"].as_str().and_then(|s| s.parse().ok());
            let sent = seq.and_then(|seq| ledger.sent.get(&seq));
            match sent {
                Some((sent_index, name, properties))
                    if *sent_index == index
                        && *name == stored.name
                        && *properties == stored.properties =>
                {
                    check.superseded += 1
                }
                _ => {
                    check.lost += 1;
                    check.problems.push(format!(
                        "customer {index} ({id}): version {} holds a write that was never sent: {stored:?}",
                        stored.version
                    ));
                }
            }
        }
        ledger.acked.insert(index, stored);
    }
    Ok(check)
}

fn integrity_check(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join(network_server::server::SQLITE_FILE);
    let connection =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let rows: Vec<String> = connection
        .prepare("PRAGMA integrity_check")
        .and_then(|mut statement| {
            statement.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<_, _>>()
        })
        .map_err(|e| format!("integrity_check: {e}"))?;
    Ok(rows.join("; "))
}

/// Concurrent PUTs until `stop`; returns the acknowledged `(index, version, seq)`.
async fn drive_load(
    client: reqwest::Client,
    base: String,
    token: String,
    ids: Arc<Vec<String>>,
    writers: usize,
    seed: u64,
    seq: Arc<AtomicU64>,
    sent: SentLog,
    stop: Arc<AtomicBool>,
) -> Vec<(usize, u64, u64)> {
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let (client, base, token, ids, seq, sent, stop) = (
            client.clone(),
            base.clone(),
            token.clone(),
            ids.clone(),
            seq.clone(),
            sent.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(seed ^ ((writer as u64 + 1) * 0x9E37_79B9_7F4A_7C15) | 1);
            let mut acked = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let index = rng.below(ids.len() as u64) as usize;
                let n = seq.fetch_add(1, Ordering::SeqCst);
                let (name, properties) = body_for(index, n, writer);
                sent.lock().unwrap().push((n, index, name.clone(), properties.clone()));
                let result = client
                    .put(format!("{base}/network/customers/{}", ids[index]))
                    .bearer_auth(&token)
                    .header("X-Servitly-Tenant", TENANT)
                    .json(&json!({ "name": name, "properties": properties }))
                    .send()
                    .await;
                match result {
                    Ok(response) if response.status() == 200 => {
                        if let Ok(version) = etag_version(&response) {
                            // Acknowledged only once the whole response is in.
                            if let Ok(body) = response.json::<Value>().await {
                                if body["properties"]["seq"] == properties["seq"] {
                                    acked.push((index, version, n));
                                }
                            }
                        }
                    }
                    Ok(response) => {
                        eprintln!("  unexpected PUT status {}", response.status());
                    }
                    // The server is gone (killed): stop this writer.
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        if let Ok(acked) = task.await {
            all.extend(acked);
        }
    }
    all
}

async fn run(options: Options) -> Result<(), String> {
    let temp = tempfile::Builder::new()
        .prefix("network-crash-test-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let data_dir = temp.path().to_path_buf();
    println!(
        "crash test: {} rounds, {} customers, {} writers, seed {}, server {}, data in {}",
        options.rounds,
        options.customers,
        options.writers,
        options.seed,
        options.server.display(),
        data_dir.display()
    );
    let mut rng = Rng(options.seed | 1);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(options.writers * 2)
        .build()
        .map_err(|e| e.to_string())?;
    let token = mint_token(&options, &data_dir)?;
    let mut ledger = Ledger::default();
    let mut ids: Vec<String> = Vec::new();
    let seq = Arc::new(AtomicU64::new(1));
    let mut acked_versions: HashMap<usize, Vec<u64>> = HashMap::new();
    let (mut checked, mut lost, mut superseded) = (0u64, 0u64, 0u64);
    let mut restart_times: Vec<Duration> = Vec::new();
    let mut failures: Vec<String> = Vec::new();

    for round in 0..=options.rounds {
        let started = Instant::now();
        let server = Server::spawn(&options, &data_dir)?;
        wait_ready(&client, &server.base, started).await?;
        let ready_in = started.elapsed();
        if round == 0 {
            ids = create_customers(&client, &server.base, &token, options.customers, &mut ledger)
                .await?;
            println!(
                "start: ready in {} ms, {} customers created",
                ready_in.as_millis(),
                ids.len()
            );
        } else {
            restart_times.push(ready_in);
            let check =
                verify(&client, &server.base, &token, &ids, &mut ledger, &acked_versions).await?;
            let integrity = integrity_check(&data_dir)?;
            let round_checked: u64 = acked_versions.values().map(|v| v.len() as u64).sum();
            checked += round_checked;
            lost += check.lost;
            superseded += check.superseded;
            println!(
                "round {round:>3}: restart ready in {:>4} ms, {round_checked:>5} acknowledged writes checked, \
                 {} lost, {} customers with an in-flight write that landed, integrity_check {integrity}",
                ready_in.as_millis(),
                check.lost,
                check.superseded,
            );
            failures.extend(check.problems.iter().map(|p| format!("round {round}: {p}")));
            if integrity != "ok" {
                failures.push(format!("round {round}: integrity_check: {integrity}"));
            }
            if ready_in >= MAX_RESTART {
                failures.push(format!(
                    "round {round}: restart took {} ms (limit {} ms)",
                    ready_in.as_millis(),
                    MAX_RESTART.as_millis()
                ));
            }
        }
        if round == options.rounds {
            server.kill9();
            break;
        }

        // Load, then kill -9 at a random moment 50–500 ms in.
        acked_versions.clear();
        let sent: SentLog = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(drive_load(
            client.clone(),
            server.base.clone(),
            token.clone(),
            Arc::new(ids.clone()),
            options.writers,
            rng.next(),
            seq.clone(),
            sent.clone(),
            stop.clone(),
        ));
        let kill_after = Duration::from_millis(50 + rng.below(451));
        tokio::time::sleep(kill_after).await;
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        let acked = load.await.map_err(|e| format!("load task: {e}"))?;
        if options.sabotage {
            let _ = std::fs::remove_file(
                data_dir.join(format!("{}-wal", network_server::server::SQLITE_FILE)),
            );
        }
        for (n, index, name, properties) in sent.lock().unwrap().drain(..) {
            ledger.sent.insert(n, (index, name, properties));
        }
        let mut highest: BTreeMap<usize, (u64, u64)> = BTreeMap::new();
        for &(index, version, n) in &acked {
            acked_versions.entry(index).or_default().push(version);
            let entry = highest.entry(index).or_insert((version, n));
            if version > entry.0 {
                *entry = (version, n);
            }
        }
        for (index, (version, n)) in highest {
            let (_, name, properties) = ledger.sent[&n].clone();
            let known = ledger.acked.get(&index).map_or(0, |k| k.version);
            if version >= known {
                ledger.acked.insert(index, Known { version, name, properties });
            }
        }
        ledger.acknowledged += acked.len() as u64;
        println!(
            "round {:>3}: killed after {:>3} ms of load, {} PUTs acknowledged",
            round + 1,
            kill_after.as_millis(),
            acked.len()
        );
    }

    let max_restart = restart_times.iter().max().copied().unwrap_or_default();
    println!(
        "\ncrash test: {} rounds, {checked} acknowledged writes checked, {lost} writes lost, \
         {superseded} in-flight writes landed, max restart {} ms",
        options.rounds,
        max_restart.as_millis()
    );
    if options.keep {
        let kept = temp.keep();
        println!("data kept in {}", kept.display());
    }
    if checked == 0 {
        failures.push("no write was acknowledged: the load never ran".into());
    }
    if failures.is_empty() {
        println!("{} passed, 0 failed", options.rounds);
        Ok(())
    } else {
        for failure in &failures {
            eprintln!("FAIL {failure}");
        }
        Err(format!("{} problem(s)", failures.len()))
    }
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crash test failed: {message}");
            ExitCode::FAILURE
        }
    }
}
