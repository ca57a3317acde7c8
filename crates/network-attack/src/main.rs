//! The hostile-load harness behind `cargo xtask attack` (issue 10).
//!
//! It seeds a fresh SQLite data directory through the server's own store,
//! starts the release `network-server` on 127.0.0.1 (an HS256 secret, the
//! default limits, any `--server-arg`s), and then, bounded in count and time:
//!
//! 1. **baseline**: the victim tenant alone does GETs and PUTs of its own
//!    customers at a steady rate (`victim.rs`);
//! 2. **attack**: the victim goes on while, at once and each from its own
//!    loopback address (`attacks.rs`): idle sockets that send nothing;
//!    anonymous `POST`s declaring 262,144 bytes that send 262,000 and stall;
//!    one h2c (prior knowledge) connection with stalled streams;
//!    `Content-Length: 1000000000` trickling; heavy list queries from another
//!    tenant (page 90 × 1,000, 1,999 sort terms, the client hanging up after
//!    0.3 s; one patient client that waits; one 2,000-term probe); a flood of
//!    wrongly signed tokens (every fourth with a 242 KB body); concurrent
//!    pages of 1,000 maximum-size customers. The server's RSS, high-water
//!    mark, descriptors and threads are sampled from `/proc` every 100 ms;
//! 3. **after**: with the held connections still open, every acknowledged
//!    write is read back from the live server; then SIGTERM (timed, the held
//!    connections still open), and a restart on the same data that checks
//!    every acknowledged write once more.
//!
//! Every 5xx any client saw is kept with its body, and every 5xx the
//! server logged (also those whose client had hung up). The report is a table
//! on stdout and `results.json` in `--out`; the exit status is non-zero when
//! a target is missed (victim p99 ≤ 250 ms and no victim error during the
//! attack, RSS growth ≤ 256 MiB, no 5xx but a 503 to a list query, no lost
//! acknowledged write, the server alive), unless `--report-only`.
//!
//! Loopback only: the server address must be a loopback one and every client
//! socket is bound to a 127.0.0.0/8 source address.

mod attacks;
mod report;
mod seed;
mod server;
mod stats;
mod victim;
mod wire;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use tokio::time::Instant;

use crate::report::{Phases, Report, ShutdownReport};
use crate::seed::{SeedPlan, Tokens};
use crate::server::{Launch, Samples, Server};

/// Bounded hostile load against a release network-server on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "network-attack")]
struct Args {
    /// The short mode (CI): smaller data, a 20 s attack, under a minute in all.
    #[arg(long)]
    quick: bool,
    /// Exit 0 whatever the results (to record figures of a server known to miss targets).
    #[arg(long)]
    report_only: bool,
    /// The server binary; default: `network-server` next to this binary.
    #[arg(long)]
    server: Option<PathBuf>,
    /// Scratch and results directory (data, server logs, results.json).
    #[arg(long, default_value = "target/attack")]
    out: PathBuf,
    /// Keep the data directory afterwards.
    #[arg(long)]
    keep: bool,
    /// Run the server with this RLIMIT_NOFILE (through `prlimit`); default: inherit ours.
    #[arg(long)]
    server_nofile: Option<u64>,
    /// An extra argument for the server (repeatable), e.g. a limit flag of a newer server.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Run only these attacks (comma-separated: idle, stalled, h2c, trickle, lists, flood, pages).
    #[arg(long, value_delimiter = ',', value_parser = ["idle", "stalled", "h2c", "trickle", "lists", "flood", "pages"])]
    only: Vec<String>,
    /// Override the attack's length, in seconds.
    #[arg(long)]
    attack_seconds: Option<u64>,
    /// Override how many customers the listing tenant has.
    #[arg(long)]
    list_customers: Option<usize>,
    /// Override how many maximum-size customers the oversized pages come from.
    #[arg(long)]
    bulky_customers: Option<usize>,
}

/// Every count and duration of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub mode: &'static str,
    pub seed: SeedPlanReport,
    pub victim_workers: usize,
    pub victim_rate_per_worker: f64,
    pub victim_timeout_s: u64,
    pub baseline_s: u64,
    pub attack_s: u64,
    pub idle_sockets: usize,
    pub stalled_bodies: usize,
    pub stalled_declared_bytes: u64,
    pub stalled_sent_bytes: u64,
    pub h2c_streams: usize,
    pub trickle_connections: usize,
    pub trickle_bytes_per_50ms: usize,
    pub list_workers: usize,
    /// The deep page: 90% into the listed customers (page 90 of 100,000).
    pub list_page: usize,
    pub list_sort_terms: usize,
    pub list_hangup_ms: u64,
    pub list_patient_timeout_s: u64,
    pub bad_tokens: u64,
    pub bad_token_concurrency: usize,
    pub bad_token_large_body_bytes: usize,
    pub page_clients: usize,
    pub live_check_s: u64,
    pub shutdown_grace_s: u64,
    pub server_nofile: Option<u64>,
    pub server_args: Vec<String>,
    /// The attacks run (`--only`; empty: all).
    pub only: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedPlanReport {
    pub list_customers: usize,
    pub bulky_customers: usize,
    pub bulky_properties: usize,
    pub bulky_value_chars: usize,
    pub victim_customers: usize,
}

fn plan(args: &Args) -> (Plan, SeedPlan) {
    let quick = args.quick;
    let seed = SeedPlan {
        lister_customers: args.list_customers.unwrap_or(if quick { 10_000 } else { 100_000 }),
        bulky_customers: args.bulky_customers.unwrap_or(if quick { 300 } else { 1_000 }),
        bulky_properties: 60,
        bulky_value_chars: 4_000,
        victim_workers: 4,
        victim_customers_per_worker: 25,
    };
    let plan = Plan {
        mode: if quick { "quick" } else { "full" },
        seed: SeedPlanReport {
            list_customers: seed.lister_customers,
            bulky_customers: seed.bulky_customers,
            bulky_properties: seed.bulky_properties,
            bulky_value_chars: seed.bulky_value_chars,
            victim_customers: seed.victim_workers * seed.victim_customers_per_worker,
        },
        victim_workers: seed.victim_workers,
        // 5 requests per second per subject: 300/min per subject, 1,200/min for
        // the tenant, within the default limits (600 and 2,000).
        victim_rate_per_worker: 5.0,
        victim_timeout_s: 5,
        baseline_s: if quick { 5 } else { 10 },
        attack_s: args.attack_seconds.unwrap_or(if quick { 20 } else { 60 }),
        idle_sockets: if quick { 300 } else { 500 },
        stalled_bodies: if quick { 500 } else { 1_000 },
        stalled_declared_bytes: 262_144,
        stalled_sent_bytes: 262_000,
        h2c_streams: 200,
        trickle_connections: if quick { 1 } else { 2 },
        trickle_bytes_per_50ms: 64 * 1024,
        list_workers: if quick { 6 } else { 8 },
        list_page: seed.lister_customers * 9 / 10 / 1_000,
        list_sort_terms: 1_999,
        list_hangup_ms: 300,
        list_patient_timeout_s: if quick { 15 } else { 30 },
        bad_tokens: if quick { 1_000 } else { 2_000 },
        bad_token_concurrency: 8,
        bad_token_large_body_bytes: 242 * 1024,
        page_clients: if quick { 4 } else { 8 },
        live_check_s: if quick { 10 } else { 30 },
        shutdown_grace_s: if quick { 10 } else { 15 },
        server_nofile: args.server_nofile,
        server_args: args.server_args.clone(),
        only: args.only.clone(),
    };
    (plan, seed)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(report) => {
            let missed = report.targets.iter().filter(|target| !target.met).count();
            if missed == 0 {
                println!("\nevery target met");
                ExitCode::SUCCESS
            } else if args.report_only {
                println!("\n{missed} target(s) missed (--report-only: exit status 0)");
                ExitCode::SUCCESS
            } else {
                println!("\n{missed} target(s) missed");
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `network-server` next to this binary (`target/release/`).
fn default_server() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("no parent directory")?;
    Ok(dir.join(format!("network-server{}", std::env::consts::EXE_SUFFIX)))
}

/// Our own `RLIMIT_NOFILE` soft and hard limits.
fn own_nofile() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    let mut numbers = line.split_whitespace().skip(3);
    let soft = numbers.next()?.parse().ok()?;
    let hard = numbers.next()?.parse().ok()?;
    Some((soft, hard))
}

/// Makes sure this process may hold `needed` descriptors (raising the soft
/// limit with `prlimit` if it is lower).
fn ensure_descriptors(needed: u64) -> anyhow::Result<()> {
    let Some((soft, hard)) = own_nofile() else { return Ok(()) };
    if soft >= needed {
        return Ok(());
    }
    let raised = needed.max(soft);
    let _ = std::process::Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string()])
        .arg(format!("--nofile={raised}:{}", hard.max(raised)))
        .status();
    match own_nofile() {
        Some((soft, _)) if soft >= needed => Ok(()),
        _ => anyhow::bail!(
            "the harness needs {needed} file descriptors and its limit is {soft} (hard {hard}); \
             raise it (ulimit -n {needed})"
        ),
    }
}

fn random_secret() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn snapshot(samples: &Arc<Mutex<Samples>>) -> Samples {
    samples.lock().map(|s| s.clone()).unwrap_or_default()
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    let run_started = Instant::now();
    let (plan, seed_plan) = plan(args);
    let needed = (plan.idle_sockets + plan.stalled_bodies + plan.list_workers * 2) as u64 + 512;
    ensure_descriptors(needed)?;
    let binary = match &args.server {
        Some(path) => path.clone(),
        None => default_server()?,
    };
    anyhow::ensure!(binary.exists(), "no server binary at {}", binary.display());

    std::fs::create_dir_all(&args.out)?;
    let data_dir = args.out.join("data");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }
    std::fs::create_dir_all(&data_dir)?;
    let secret = random_secret()?;
    let secret_file = args.out.join("hs256.secret");
    std::fs::write(&secret_file, &secret)?;

    println!(
        "network-attack ({} mode): seeding {} listed, {} maximum-size and {} victim customers",
        plan.mode, plan.seed.list_customers, plan.seed.bulky_customers, plan.seed.victim_customers
    );
    let seeding = Instant::now();
    seed::seed(&data_dir, &seed_plan).await?;
    let seed_s = seeding.elapsed().as_secs_f64();

    let launch = Launch {
        binary,
        data_dir: data_dir.clone(),
        secret_file,
        nofile: args.server_nofile,
        extra_args: args.server_args.clone(),
    };
    let starting = Instant::now();
    let server = Arc::new(Server::start(&launch, "server.log")?);
    let start_s = starting.elapsed().as_secs_f64();
    let address = server.address;
    let nofile = server.nofile_limit();
    println!(
        "server pid {} on {address} (started in {start_s:.1} s, RLIMIT_NOFILE {}); seeding took {seed_s:.1} s",
        server.pid,
        nofile.map_or("?".into(), |n| n.to_string())
    );
    println!("server log: {}", server.log_path.display());

    let tokens = Tokens::new(secret.as_bytes())?;
    let victim_tokens: HashMap<usize, String> = (0..plan.victim_workers)
        .map(|w| {
            let token = tokens.mint(
                seed::VICTIM,
                &format!("victim-{w}"),
                &["READ_CUSTOMER", "WRITE_CUSTOMER"],
            )?;
            Ok((w, token))
        })
        .collect::<anyhow::Result<_>>()?;
    let list_token = tokens.mint(seed::LISTER, "lister", &["READ_ALL_CUSTOMERS"])?;
    let pages_token = tokens.mint(seed::BULKY, "pages", &["READ_ALL_CUSTOMERS"])?;
    let wrong = Tokens::new(random_secret()?.as_bytes())?;
    let bad_token = wrong.mint(
        seed::VICTIM,
        "intruder",
        &["READ_CUSTOMER", "WRITE_CUSTOMER", "READ_ALL_CUSTOMERS", "DELETE_CUSTOMER"],
    )?;

    let timeout = Duration::from_secs(plan.victim_timeout_s);
    let workers = (0..plan.victim_workers)
        .map(|w| {
            victim::Worker::new(
                w,
                address,
                victim_tokens[&w].clone(),
                seed_plan.victim_customers_per_worker,
                timeout,
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let victim = victim::Victim::new(workers);
    victim.warm_up().await.context("the victim's warm-up")?;

    let errors: wire::ErrorLog = Arc::default();
    let samples = Arc::new(Mutex::new(Samples::default()));
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = server::spawn_sampler(
        server.pid,
        Duration::from_millis(100),
        samples.clone(),
        stop_sampling.clone(),
    );

    // 1. Baseline.
    println!("baseline: the victim alone for {} s", plan.baseline_s);
    let baseline_end = Instant::now() + Duration::from_secs(plan.baseline_s);
    let baseline = victim
        .spawn_phase(baseline_end, plan.victim_rate_per_worker, errors.clone())
        .await
        .context("baseline phase")?;
    let before = server.sample().context("the server is gone after the baseline")?;
    let baseline_samples = snapshot(&samples);
    if let Ok(mut samples) = samples.lock() {
        *samples = Samples::default();
    }

    // 2. Attack.
    println!("attack: {} s, everything at once", plan.attack_s);
    let attack_start = Instant::now();
    let cpu_at_start = (server::cpu_seconds(&server.pid.to_string()), server::cpu_seconds("self"));
    let attack_end = attack_start + Duration::from_secs(plan.attack_s);
    let (release, release_rx) = tokio::sync::watch::channel(false);
    let hold_deadline =
        attack_end + Duration::from_secs(plan.live_check_s + plan.shutdown_grace_s + 30);
    let ctx = attacks::Ctx {
        server: address,
        errors: errors.clone(),
        attack_end,
        release: release_rx,
        hold_deadline,
        terminated: Arc::default(),
    };
    let on = |name: &str| args.only.is_empty() || args.only.iter().any(|only| only == name);
    let victim_phase = victim.spawn_phase(attack_end, plan.victim_rate_per_worker, errors.clone());
    let probe = tokio::spawn(victim::health_probe(
        address,
        attack_end,
        Duration::from_millis(500),
        Duration::from_secs(2),
    ));
    let idle =
        on("idle").then(|| tokio::spawn(attacks::idle_sockets(ctx.clone(), plan.idle_sockets)));
    let stalled = on("stalled").then(|| {
        tokio::spawn(attacks::stalled_bodies(
            ctx.clone(),
            plan.stalled_bodies,
            plan.stalled_declared_bytes,
            plan.stalled_sent_bytes,
        ))
    });
    let h2c = on("h2c").then(|| {
        tokio::spawn(attacks::h2c_streams(
            ctx.clone(),
            plan.h2c_streams,
            plan.stalled_declared_bytes,
            plan.stalled_sent_bytes,
        ))
    });
    let trickle = on("trickle").then(|| {
        tokio::spawn(attacks::huge_trickle(
            ctx.clone(),
            plan.trickle_connections,
            plan.trickle_bytes_per_50ms,
            Duration::from_millis(50),
        ))
    });
    let lists = on("lists").then(|| {
        tokio::spawn(attacks::heavy_lists(
            ctx.clone(),
            list_token,
            plan.list_workers,
            plan.list_page,
            plan.list_sort_terms,
            Duration::from_millis(plan.list_hangup_ms),
            Duration::from_secs(plan.list_patient_timeout_s),
        ))
    });
    let flood = on("flood").then(|| {
        tokio::spawn(attacks::bad_token_flood(
            ctx.clone(),
            bad_token,
            plan.bad_tokens,
            plan.bad_token_concurrency,
            Bytes::from(large_body(plan.bad_token_large_body_bytes)),
        ))
    });
    let pages = on("pages").then(|| {
        tokio::spawn(attacks::oversized_pages(ctx.clone(), pages_token, plan.page_clients))
    });

    let attack = victim_phase.await.context("attack phase")?;
    let probe = probe.await.context("health probe")?;
    let lists = finish(lists).await?;
    let flood = finish(flood).await?;
    let pages = finish(pages).await?;
    let attack_seconds = attack_start.elapsed().as_secs_f64();
    let cpu = |now: Option<f64>, then: Option<f64>| Some(now? - then?);
    let server_cpu_s = cpu(server::cpu_seconds(&server.pid.to_string()), cpu_at_start.0);
    let harness_cpu_s = cpu(server::cpu_seconds("self"), cpu_at_start.1);
    let died_during_attack = server.exited().map(|status| status.to_string());
    println!(
        "attack over after {attack_seconds:.1} s; checking acknowledged writes on the live server"
    );

    // 3. After: live check with the held connections still open, SIGTERM, restart, check.
    let expectations = victim.expectations().await;
    let live = if died_during_attack.is_none() {
        Some(
            victim::verify(
                address,
                &victim_tokens,
                expectations.clone(),
                Instant::now() + Duration::from_secs(plan.live_check_s),
            )
            .await,
        )
    } else {
        None
    };
    let attack_samples = snapshot(&samples);
    stop_sampling.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.join();

    println!("SIGTERM with the held connections still open");
    let shutdown = {
        let died = server.exited();
        let terminated = Instant::now();
        let _ = ctx.terminated.set(terminated);
        if died.is_none() {
            server.terminate();
        }
        let grace = Duration::from_secs(plan.shutdown_grace_s);
        let server_for_wait = server.clone();
        let exited = tokio::task::spawn_blocking(move || server_for_wait.wait_exit(grace))
            .await
            .ok()
            .flatten();
        let exit_seconds = exited.map(|_| terminated.elapsed().as_secs_f64());
        let _ = release.send(true);
        let mut after_release = None;
        if exited.is_none() {
            let server_for_wait = server.clone();
            let released = Instant::now();
            let later = tokio::task::spawn_blocking(move || {
                server_for_wait.wait_exit(Duration::from_secs(5))
            })
            .await
            .ok()
            .flatten();
            after_release = later.map(|status| (status, released.elapsed().as_secs_f64()));
            if later.is_none() {
                server.kill();
            }
        }
        ShutdownReport {
            already_exited: died.map(|status| status.to_string()),
            grace_s: plan.shutdown_grace_s,
            exited_within_grace: exited.is_some(),
            exit_seconds,
            exit_status: exited.map(|status| status.to_string()),
            exited_after_release: after_release
                .map(|(status, seconds)| format!("{status} after {seconds:.1} s")),
            killed: exited.is_none() && after_release.is_none(),
        }
    };
    let idle = finish(idle).await?;
    let stalled = finish(stalled).await?;
    let h2c = finish(h2c).await?;
    let trickle = finish(trickle).await?;
    let server_log = server.log.lock().map(|log| log.clone()).unwrap_or_default();

    println!("restarting the server on the same data and checking every acknowledged write");
    let restarted = Server::start(&launch, "server-restart.log")?;
    let canary = expectations.first().map(victim::Expectation::tampered);
    let after_restart = victim::verify(
        restarted.address,
        &victim_tokens,
        expectations,
        Instant::now() + Duration::from_secs(30),
    )
    .await;
    // The checker itself: a write that was never sent must be reported lost.
    let canary = match canary {
        Some(canary) => {
            let check = victim::verify(
                restarted.address,
                &victim_tokens,
                vec![canary],
                Instant::now() + Duration::from_secs(10),
            )
            .await;
            check.lost == 1
        }
        None => false,
    };
    restarted.terminate();
    if restarted.wait_exit(Duration::from_secs(10)).is_none() {
        restarted.kill();
    }
    anyhow::ensure!(
        canary,
        "the write check did not flag a write that was never sent: the harness is broken"
    );

    let report = Report::build(
        plan,
        Phases {
            seed_s,
            start_s,
            baseline,
            attack,
            attack_seconds,
            server_cpu_s,
            harness_cpu_s,
            baseline_samples,
            before,
            attack_samples,
            nofile,
        },
        report::Attacks { idle, stalled, h2c, trickle, lists, flood, pages, probe },
        errors.lock().map(|e| e.clone()).unwrap_or_default(),
        server_log,
        died_during_attack,
        live,
        after_restart,
        shutdown,
        victim.acknowledged_writes().await,
        run_started.elapsed().as_secs_f64(),
    );
    report.print();
    let path = args.out.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("\nresults: {}", path.display());
    if !args.keep {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    Ok(report)
}

/// Awaits an attack that was started (`None`: it was left out by `--only`).
async fn finish<T>(task: Option<tokio::task::JoinHandle<T>>) -> anyhow::Result<Option<T>> {
    match task {
        Some(task) => Ok(Some(task.await.context("an attack task failed")?)),
        None => Ok(None),
    }
}

/// A JSON customer body of about `bytes` bytes (properties of 4,000 characters).
fn large_body(bytes: usize) -> Vec<u8> {
    let value: String = "x".repeat(4_000);
    let mut properties = serde_json::Map::new();
    let mut index = 0;
    while properties.len() * 4_020 < bytes {
        properties.insert(format!("p{index:03}"), serde_json::Value::String(value.clone()));
        index += 1;
    }
    serde_json::to_vec(&serde_json::json!({"name": "Intruder", "properties": properties}))
        .unwrap_or_default()
}
