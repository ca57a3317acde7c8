//! `network-bench`: the benchmark harness behind `cargo xtask bench`.
//!
//! `network-bench run` measures, in one run and with one load generator
//! (oha) and one request body, the ceiling (a minimal hyper server), bare
//! dropshot (the generated trait over a map), the real server on durable
//! SQLite with and without group commit and on PostgreSQL, then the same
//! durable update at 1,000 and 1,000,000 customers and at 1 and 100 tenants;
//! it prints and writes the results, the target ratios and a chart.
//! `serve-ceiling` and `serve-bare` are the two baselines' server processes.

mod bare;
mod ceiling;
mod chart;
mod compare;
mod cpu;
mod loadgen;
mod report;
mod seed;
mod target;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use crate::cpu::{CpuPerRequest, CpuSample};
use crate::loadgen::{Load, Outcome};
use crate::report::{ConfigResult, OpenPoint, Report};
use crate::target::{Launch, RawRequest, Target};

#[derive(Parser)]
#[command(
    name = "network-bench",
    about = "Benchmarks of updateCustomer (run it with `cargo xtask bench`)"
)]
struct Cli {
    #[command(subcommand)]
    command: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Run every configuration and report.
    Run(RunArgs),
    /// Serve the ceiling baseline (a minimal hyper server).
    ServeCeiling(ServeArgs),
    /// Serve the bare-dropshot baseline (the generated trait over a map).
    ServeBare(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long)]
    bind: SocketAddr,
    #[arg(long)]
    customers: usize,
    /// Where to write the bound address once serving (as `network-server --ready-file`).
    #[arg(long)]
    ready_file: PathBuf,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Short runs and small data (keeps the harness working; timings mean little).
    #[arg(long)]
    quick: bool,
    /// The release `network-server` binary.
    #[arg(long)]
    server: PathBuf,
    /// The `oha` binary.
    #[arg(long, default_value = "oha")]
    oha: PathBuf,
    /// Scratch directory (data, logs, oha outputs, results.json).
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Where to write the chart (PNG).
    #[arg(long, default_value = "target/bench/latency.png")]
    chart: PathBuf,
    /// A Markdown file whose results section (between the `bench:begin` and
    /// `bench:end` markers) is replaced with this run's results.
    #[arg(long)]
    benchmarks_md: Option<PathBuf>,
    /// PostgreSQL for the PostgreSQL configuration (skipped if unreachable,
    /// unless NETWORK_REQUIRE_POSTGRES=1).
    #[arg(
        long,
        env = "NETWORK_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
    /// Only these configurations (comma-separated names, e.g. sqlite,ceiling); default all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Instead of every configuration: durable SQLite with this older
    /// `network-server` and with `--server`, alternating (old, new, old,
    /// new, ...), each on freshly seeded data under the same closed-loop
    /// load; reports the CPU per request of each and new ÷ old.
    #[arg(long, value_name = "OLD_BIN")]
    compare_server: Option<PathBuf>,
    /// Rounds of `--compare-server` (each measures old, then new).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Durations and sizes of a run.
struct Plan {
    warmup: Duration,
    closed: Duration,
    open: Duration,
    /// Open-loop rates, as fractions of the configuration's closed-loop throughput.
    fractions: Vec<f64>,
    connections: usize,
    customers: usize,
    many_customers: usize,
    many_tenants: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                warmup: Duration::from_millis(500),
                closed: Duration::from_secs(2),
                open: Duration::from_secs(2),
                fractions: vec![0.5],
                connections: 64,
                customers: 1_000,
                many_customers: 10_000,
                many_tenants: 10,
            }
        } else {
            Plan {
                warmup: Duration::from_secs(2),
                closed: Duration::from_secs(10),
                open: Duration::from_secs(6),
                fractions: vec![0.25, 0.5, 0.75, 0.9],
                connections: 64,
                customers: 1_000,
                many_customers: 1_000_000,
                many_tenants: 100,
            }
        }
    }
}

/// The same allocator as `network-server`, so that the baselines are not
/// slower than the server for a reason that has nothing to do with them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let result = match cli.command {
        Verb::ServeCeiling(args) => {
            runtime.block_on(ceiling::serve(args.bind, args.customers, &args.ready_file))
        }
        Verb::ServeBare(args) => {
            runtime.block_on(bare::serve(args.bind, args.customers, &args.ready_file))
        }
        Verb::Run(args) => runtime.block_on(run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("network-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One configuration to measure.
struct Config {
    name: &'static str,
    label: String,
    launch: Launch,
    tenants: usize,
    customers: usize,
    /// oha processes (each sends as its own tenant, round robin) and connections each.
    processes: usize,
    connections: usize,
    fractions: Vec<f64>,
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let plan = Plan::new(args.quick);
    loadgen::check_oha(&args.oha)?;
    std::fs::create_dir_all(&args.out)?;
    let body = seed::update_body();
    if let Some(old) = &args.compare_server {
        return compare::run(&args, old, &plan, &body).await;
    }
    chart::load_font()?;
    let require_postgres = std::env::var("NETWORK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let postgres = match seed::postgres_reachable(&args.postgres_url).await {
        Ok(()) => true,
        Err(error) if require_postgres => {
            bail!("PostgreSQL at {} is required: {error}", args.postgres_url)
        }
        Err(error) => {
            println!(
                "SKIPPED the PostgreSQL configuration: {} is not reachable ({error})",
                args.postgres_url
            );
            false
        }
    };
    let schema = format!("bench_{}", std::process::id());

    let c = plan.connections;
    let main = |name, label: &str, launch| Config {
        name,
        label: label.to_string(),
        launch,
        tenants: 1,
        customers: plan.customers,
        processes: 1,
        connections: c,
        fractions: plan.fractions.clone(),
    };
    let mut configs = vec![
        main("ceiling", "ceiling (hyper + JSON + map)", Launch::Ceiling),
        main("bare", "bare dropshot (generated trait + map)", Launch::Bare),
        main(
            "sqlite",
            "server, durable SQLite, group commit",
            Launch::Sqlite { group_commit: true },
        ),
        main(
            "sqlite-fsync",
            "server, durable SQLite, fsync per request",
            Launch::Sqlite { group_commit: false },
        ),
    ];
    if postgres {
        configs.push(main(
            "postgres",
            "server, PostgreSQL",
            Launch::Postgres { url: args.postgres_url.clone(), schema: schema.clone() },
        ));
    }
    let sqlite = Launch::Sqlite { group_commit: true };
    configs.push(Config {
        customers: plan.many_customers,
        fractions: vec![0.5],
        ..main(
            "sqlite-many-customers",
            &format!("server, SQLite, {} customers", plan.many_customers),
            sqlite.clone(),
        )
    });
    // Tenant scaling: one oha process per tenant (a token names one tenant),
    // one connection each; the one-tenant run uses as many processes.
    for tenants in [1, plan.many_tenants] {
        configs.push(Config {
            name: if tenants == 1 { "sqlite-one-tenant" } else { "sqlite-many-tenants" },
            label: format!(
                "server, SQLite, {tenants} tenant(s), {} oha × 1 connection",
                plan.many_tenants
            ),
            launch: sqlite.clone(),
            tenants,
            customers: plan.customers,
            processes: plan.many_tenants,
            connections: 1,
            fractions: vec![0.5],
        });
    }
    if !args.only.is_empty() {
        configs.retain(|config| args.only.iter().any(|only| only == config.name));
    }

    let mut results = Vec::new();
    for config in &configs {
        println!("==> {}", config.label);
        let result = measure(&args, &args.server, &plan, config, &body).await;
        if let Launch::Postgres { url, schema } = &config.launch {
            let _ = seed::drop_schema(url, schema).await;
        }
        let result = result.with_context(|| format!("configuration `{}`", config.name))?;
        report::print_config(&result);
        results.push(result);
    }

    let report = Report::new(args.quick, results, started.elapsed());
    let chart_path = args.chart.clone();
    chart::draw(&report, &chart_path)?;
    println!("\nchart: {}", chart_path.display());
    std::fs::write(args.out.join("results.json"), serde_json::to_string_pretty(&report)?)?;
    let markdown = report.markdown(&chart_path, args.benchmarks_md.as_deref());
    std::fs::write(args.out.join("results.md"), &markdown)?;
    println!("\n{markdown}");
    if let Some(path) = &args.benchmarks_md {
        report::replace_section(path, &markdown)?;
        println!("updated {}", path.display());
    }
    let failures = report.errors();
    if !failures.is_empty() {
        bail!("requests failed:\n  {}", failures.join("\n  "));
    }
    println!("benchmark finished in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Seeds, starts the server (`server` for the server configurations), loads
/// it (warm-up, closed loop, open loop at each fraction of the closed-loop
/// throughput), reads its peak RSS, stops it.
async fn measure(
    args: &RunArgs,
    server: &Path,
    plan: &Plan,
    config: &Config,
    body: &str,
) -> anyhow::Result<ConfigResult> {
    let dir = target::scratch_dir(&args.out, config.name)?;
    let seeding = Instant::now();
    match &config.launch {
        Launch::Sqlite { .. } => seed::seed_sqlite(&dir, config.tenants, config.customers).await?,
        Launch::Postgres { url, schema } => {
            seed::seed_postgres(url, schema, config.tenants, config.customers).await?
        }
        Launch::Ceiling | Launch::Bare => {}
    }
    let seed_seconds = seeding.elapsed().as_secs_f64();
    let mut tokens = Vec::new();
    for tenant in 0..config.tenants {
        let name = seed::tenant_name(tenant);
        let token = seed::mint_token(server, &dir, &name)?;
        tokens.push((name, token));
    }
    let callers: Vec<(String, String)> =
        (0..config.processes).map(|index| tokens[index % tokens.len()].clone()).collect();
    let (tenant, token) = &callers[0];
    let check = RawRequest {
        method: "PUT",
        path: format!("/network/customers/{}", seed::customer_id(0, config.customers)),
        headers: vec![
            ("Authorization".into(), format!("Bearer {token}")),
            ("X-Servitly-Tenant".into(), tenant.clone()),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: body.to_string(),
    };
    let server = Target::start(&config.launch, server, &dir, config.customers, &check)?;
    let outcome = load_all(args, plan, config, body, &callers, &dir, &server);
    let rss = server.peak_rss();
    server.stop();
    let (closed, open, cpu) = outcome?;
    Ok(ConfigResult {
        name: config.name.to_string(),
        label: config.label.clone(),
        tenants: config.tenants,
        customers: config.customers,
        connections: config.processes * config.connections,
        seed_seconds,
        closed,
        open,
        peak_rss_bytes: rss,
        cpu,
    })
}

fn load_all(
    args: &RunArgs,
    plan: &Plan,
    config: &Config,
    body: &str,
    callers: &[(String, String)],
    dir: &Path,
    server: &Target,
) -> anyhow::Result<(Outcome, Vec<OpenPoint>, Option<CpuPerRequest>)> {
    let address = server.address;
    let load = |rate, duration| Load {
        callers: callers.to_vec(),
        connections: config.connections,
        rate,
        duration,
        customers: config.customers,
    };
    loadgen::run(&args.oha, address, body, &load(None, plan.warmup), &dir.join("warmup"))?;
    // The server's own CPU time over the closed loop, per completed request.
    let before = CpuSample::read(server.pid());
    let closed =
        loadgen::run(&args.oha, address, body, &load(None, plan.closed), &dir.join("closed"))?;
    let after = CpuSample::read(server.pid());
    let cpu = before
        .zip(after)
        .and_then(|(before, after)| CpuPerRequest::between(&before, &after, closed.requests));
    println!(
        "    closed loop: {:.0} req/s, server CPU {}",
        closed.throughput,
        cpu.as_ref().map(CpuPerRequest::summary).unwrap_or_else(|| "?".into())
    );
    let mut open = Vec::new();
    for fraction in &config.fractions {
        let offered = closed.throughput * fraction;
        let work = dir.join(format!("open-{:.0}", fraction * 100.0));
        let outcome =
            loadgen::run(&args.oha, address, body, &load(Some(offered), plan.open), &work)?;
        println!(
            "    open loop at {:.0}% ({offered:.0} req/s): p99 {:.2} ms",
            fraction * 100.0,
            outcome.p99_ms
        );
        open.push(OpenPoint { fraction: *fraction, offered, outcome });
    }
    Ok((closed, open, cpu))
}
