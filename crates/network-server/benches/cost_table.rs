//! The cost table of issue 17: each stage of a durable `updateCustomer` on
//! the server's hot path, measured alone with the benchmark's own request
//! (`cargo bench -p network-server --bench cost_table`). BENCHMARKS.md adds
//! them up and compares the sum with the server's CPU per request measured
//! under load by `cargo xtask bench`.
//!
//! divan times each CPU-bound stage (wall time of a single thread, which is
//! its CPU time) and counts its allocations. The store's apply and commit is
//! measured apart, before divan runs: its wall time is mostly waiting for
//! fsync, so what counts is CPU time over many updates sent 64 at a time
//! (the benchmark's connections), as the group commit batches them: the
//! writer thread's (the store's own work) and the other threads' (tokio's
//! tasks waiting for the writer and this harness's copy of each draft).

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use network_api::types::CustomerDetails;
use network_server::auth::{
    AuthConfig, Authenticator, ClaimNames, KeySource, Permission, Signer, TokenClaims,
};
use network_server::domain::{Customer, CustomerId, Precondition, TenantName};
use network_server::metrics::Metrics;
use network_server::ratelimit::{RateLimitConfig, RateLimiter};
use network_server::store::sqlite::{SqliteOptions, SqliteStore};
use network_server::store::{CustomerStore, SeedCustomer};
use network_server::telemetry::RequestLine;
use network_server::wire::{draft_from, to_wire};

/// The server's allocator, counted.
#[global_allocator]
static ALLOCATOR: divan::AllocProfiler<mimalloc::MiMalloc> =
    divan::AllocProfiler::new(mimalloc::MiMalloc);

/// The body `cargo xtask bench` sends (`network-bench`'s `update_body`, as
/// serde_json writes it: keys sorted), 314 bytes.
const BODY: &str = concat!(
    r#"{"country":"IT","name":"Acme Industrial Srl","properties":{"accountManager":"Giulia Rossi","#,
    r#""billingCycle":"monthly","contractId":"C-2026-00421","erpCode":"ERP-889123","language":"it","#,
    r#""plan":"gold","region":"emea","segment":"manufacturing","supportTier":"24x7","#,
    r#""vatNumber":"IT01234567890"},"timezone":"Europe/Rome"}"#
);
const TENANT: &str = "tenant000";
const SUBJECT: &str = "bench";
const CUSTOMERS: usize = 1_000;
/// Requests in flight at once, as the benchmark's 64 connections.
const IN_FLIGHT: usize = 64;

fn main() {
    let customer = measure_store();
    LAST_CUSTOMER.set(customer).expect("set once");
    divan::main();
}

/// A customer as the store returns it after an update (for the response stages).
static LAST_CUSTOMER: std::sync::OnceLock<Customer> = std::sync::OnceLock::new();

fn details() -> CustomerDetails {
    dropshot_api_runtime::parse_json_body(BODY.as_bytes()).expect("the bench body parses")
}

/// User + system ticks of a `stat` line (`/proc/.../stat`), as time.
fn stat_cpu(stat: &str) -> Duration {
    let ticks: u64 = stat[stat.rfind(')').expect("a comm field") + 1..]
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|field| field.parse::<u64>().expect("a tick count"))
        .sum();
    // USER_HZ is 100 on every Linux architecture this runs on.
    Duration::from_millis(ticks * 10)
}

/// The process's CPU time so far, and the SQLite writer thread's share of it
/// (the thread named `sqlite-writer`, from `/proc/self/task/*/stat`).
fn process_cpu() -> (Duration, Duration) {
    let process = stat_cpu(&std::fs::read_to_string("/proc/self/stat").expect("Linux /proc"));
    let writer = std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
        .filter(|stat| stat.contains("(sqlite-writer)"))
        .map(|stat| stat_cpu(&stat))
        .sum();
    (process, writer)
}

/// The store stage: SQLite as the server opens it (WAL, `synchronous=FULL`,
/// group commit), 1,000 customers seeded, then updates of random customers,
/// 64 in flight, for a few seconds. Prints the CPU and wall time per update.
fn measure_store() -> Customer {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a scratch directory");
    let store = SqliteStore::open(&dir.path().join("bench.sqlite3"), SqliteOptions::default())
        .expect("open SQLite");
    let store: Arc<dyn CustomerStore> = Arc::new(store);
    let tenant = TenantName::parse(TENANT).expect("a tenant name");
    let draft = draft_from(details()).expect("a valid draft");
    let ids: Vec<CustomerId> = (0..CUSTOMERS)
        .map(|index| CustomerId::parse(&format!("c{index:03}")).expect("an id"))
        .collect();
    let seed = ids
        .iter()
        .map(|id| SeedCustomer {
            id: id.clone(),
            details: draft.clone(),
            creation_timestamp: 1_767_225_600_000,
        })
        .collect();
    runtime.block_on(store.bulk_insert(&tenant, seed)).expect("seed");
    let run = |seconds: u64| {
        let (store, tenant, ids, draft) =
            (store.clone(), tenant.clone(), ids.clone(), draft.clone());
        runtime.block_on(async move {
            let until = Instant::now() + Duration::from_secs(seconds);
            let tasks: Vec<_> = (0..IN_FLIGHT)
                .map(|task| {
                    let (store, tenant, ids, draft) =
                        (store.clone(), tenant.clone(), ids.clone(), draft.clone());
                    tokio::spawn(async move {
                        let (mut done, mut last) = (0u64, None);
                        let mut next = task * 7919;
                        while Instant::now() < until {
                            next = (next * 31 + 17) % ids.len();
                            let updated = store
                                .update(&tenant, &ids[next], &draft, &Precondition::None)
                                .await
                                .expect("an update");
                            last = Some(updated);
                            done += 1;
                        }
                        (done, last)
                    })
                })
                .collect();
            let mut total = 0;
            let mut last = None;
            for task in tasks {
                let (done, customer) = task.await.expect("a task");
                total += done;
                last = last.or(customer);
            }
            (total, last.expect("at least one update"))
        })
    };
    run(1); // warm-up: page cache, prepared statements
    let ((cpu_before, writer_before), started) = (process_cpu(), Instant::now());
    let (updates, customer) = run(5);
    let ((cpu_after, writer_after), wall) = (process_cpu(), started.elapsed());
    let per_update = |time: Duration| time.as_secs_f64() * 1e6 / updates as f64;
    let (cpu, writer) = (cpu_after - cpu_before, writer_after - writer_before);
    println!(
        "store apply + commit (SQLite, group commit, {IN_FLIGHT} in flight): {:.1} µs CPU per update \
         on the writer thread, {:.1} µs on the others (the tasks' hand-off and this harness's \
         copy of the draft) ({updates} updates in {:.1} s, {:.0} updates/s, {:.1} µs wall per update)",
        per_update(writer),
        per_update(cpu - writer),
        wall.as_secs_f64(),
        updates as f64 / wall.as_secs_f64(),
        per_update(wall),
    );
    customer
}

static AUTH: LazyLock<(Authenticator, String)> = LazyLock::new(|| {
    let secret = b"cost-table-secret-cost-table-secret-0123456789".to_vec();
    let signer = Signer::hs256(secret.clone(), None).expect("an HS256 signer");
    let now = network_server::auth::unix_now();
    let claims = TokenClaims {
        sub: SUBJECT.into(),
        tenant: TENANT.into(),
        permissions: [Permission::ReadCustomer, Permission::WriteCustomer]
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        customer_id: None,
        iss: "network-bench".into(),
        aud: "network-api".into(),
        iat: now,
        exp: now + 3600,
        nbf: None,
    };
    let header = format!("Bearer {}", signer.mint(&claims).expect("a token"));
    let auth = Authenticator::new(AuthConfig {
        issuer: "network-bench".into(),
        audience: "network-api".into(),
        keys: vec![KeySource::HmacSecret { secret, kid: None }],
        leeway_seconds: 30,
        claims: ClaimNames::default(),
    })
    .expect("an authenticator");
    // Verified once: every request after that is a cache hit.
    auth.authenticate(Some(&header)).expect("a valid token");
    (auth, header)
});

/// Token check through the cache (SHA-256 of the token, map lookup, expiry).
#[divan::bench]
fn token_cache(bencher: divan::Bencher<'_, '_>) {
    let (auth, header) = &*AUTH;
    bencher.bench(|| auth.authenticate_cached(Some(divan::black_box(header))).is_ok());
}

static LIMITER: LazyLock<RateLimiter> = LazyLock::new(|| {
    // As the benchmark runs the server: limits too high to refuse.
    RateLimiter::new(&RateLimitConfig {
        tenant_per_minute: 1_000_000_000,
        subject_per_minute: 1_000_000_000,
        ..RateLimitConfig::default()
    })
});

/// The two rate-limit buckets (subject, then tenant).
#[divan::bench]
fn rate_limiter() -> bool {
    LIMITER.check(divan::black_box(TENANT), divan::black_box(SUBJECT)).is_ok()
}

/// The rate-limit headers: the values for the typed headers struct, then the
/// pairs `record` inserts into the response's header map.
#[divan::bench]
fn rate_limit_headers(bencher: divan::Bencher<'_, '_>) {
    let status = LIMITER.check(TENANT, SUBJECT).expect("admitted");
    bencher.bench(|| {
        let typed = (status.rate_limit(), status.policy.clone());
        let mut headers = http::HeaderMap::new();
        for (name, value) in status.headers() {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                http::HeaderValue::from_str(&value).expect("a header value"),
            );
        }
        (typed, headers)
    });
}

/// The path id, the tenant header and `If-Match` (absent) as domain values.
#[divan::bench]
fn addressing() -> (TenantName, CustomerId, Precondition) {
    (
        TenantName::parse(divan::black_box(TENANT)).expect("a tenant"),
        CustomerId::parse(divan::black_box("c042")).expect("an id"),
        Precondition::from_if_match(std::iter::empty()),
    )
}

/// The strict JSON parse of the body into the generated type (which checks
/// the spec's lengths and patterns as it builds its newtypes).
#[divan::bench]
fn strict_json_parse() -> CustomerDetails {
    details()
}

/// Validation: the generated type into a `CustomerDraft` (`CustomerDraft::parse`).
#[divan::bench]
fn validation(bencher: divan::Bencher<'_, '_>) {
    bencher.with_inputs(details).bench_values(|details| draft_from(details).expect("valid"));
}

fn last_customer() -> Customer {
    LAST_CUSTOMER.get().expect("measured first").clone()
}

/// The stored customer into the generated response type.
#[divan::bench]
fn response_to_wire(bencher: divan::Bencher<'_, '_>) {
    bencher.with_inputs(last_customer).bench_values(to_wire);
}

/// The response body as JSON (dropshot's serialization; bare dropshot does it too).
#[divan::bench]
fn response_json(bencher: divan::Bencher<'_, '_>) {
    let wire = to_wire(last_customer());
    bencher.bench(|| serde_json::to_vec(&wire).expect("serializes"));
}

fn line() -> RequestLine<'static> {
    RequestLine {
        operation: "updateCustomer",
        api_version: "2.0.0",
        tenant: TENANT,
        subject: SUBJECT,
        status: 200,
        elapsed: Duration::from_micros(742),
        problem: None,
    }
}

/// The log record, formatted as bunyan JSON on the request's thread into
/// the server's shared buffer (written out by its flusher thread; a sink here).
#[divan::bench]
fn log_record(bencher: divan::Bencher<'_, '_>) {
    let log = network_server::telemetry::logger_to("info", std::io::sink());
    bencher.bench(|| line().log(&log));
}

/// The request counter and the latency histogram.
#[divan::bench]
fn metrics(bencher: divan::Bencher<'_, '_>) {
    let metrics = Metrics::default();
    bencher.bench(|| metrics.observe("updateCustomer", 200, Duration::from_micros(742)));
}
