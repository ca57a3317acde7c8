//! What a deep list page costs (issue 10): seeds `--customers` customers
//! (default 1,000,000) of one tenant in a fresh SQLite file, then times the
//! first step of a list (`list_ids`: the page's ids and the total, the part
//! that sorts and skips) for a few sorts at page 0, 90 and the last page of
//! 1,000, each run three times (the median is printed). No HTTP, no time
//! limit: the store's own cost. Bounded: a minute or two in release mode.
//!
//! Usage: `list_depth [--customers N] [--data-dir DIR]` (with `--data-dir`,
//! an existing database there is reused instead of seeded).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use network_server::domain::{
    CustomerDraft, CustomerId, DraftFields, ListParams, ListQuery, TenantName,
};
use network_server::store::sqlite::{SqliteOptions, SqliteStore};
use network_server::store::{CustomerStore, SeedCustomer};

async fn run() -> Result<(), String> {
    let mut customers = 1_000_000usize;
    let mut data_dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--customers" => customers = value.parse().map_err(|_| "bad --customers")?,
            "--data-dir" => data_dir = Some(PathBuf::from(value)),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let temporary = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = data_dir.unwrap_or_else(|| temporary.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join(network_server::server::SQLITE_FILE);
    let fresh = !path.exists();
    let store = SqliteStore::open(&path, SqliteOptions::default()).map_err(|e| e.to_string())?;
    let tenant = TenantName::parse("acme").map_err(|e| e.to_string())?;
    if fresh {
        let started = Instant::now();
        let countries = ["IT", "FR", "DE", "ES", "US", "GB", "NL", "BE", "AT", "CH"];
        let seed = (0..customers)
            .map(|i| SeedCustomer {
                id: CustomerId::parse(&format!(
                    "{:032x}",
                    (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
                ))
                .expect("valid"),
                details: CustomerDraft::parse(DraftFields {
                    country: (i % 17 != 0)
                        .then_some(countries[i % countries.len()])
                        .map(str::to_string),
                    ..DraftFields::new(format!("Customer {:08}", (i * 7919) % customers))
                })
                .expect("valid"),
                creation_timestamp: 1_700_000_000_000 + (i as i64 * 37) % 1_000_000_000,
            })
            .collect();
        store.bulk_insert(&tenant, seed).await.map_err(|e| e.to_string())?;
        println!("seeded {customers} customers in {:.1?}", started.elapsed());
    }
    let last = (customers.div_ceil(1000).max(1) - 1) as i32;
    let sorts: [&[&str]; 8] = [
        &[],
        &["name,ASC"],
        &["name,DESC"],
        &["country,ASC"],
        &["creationTimestamp,DESC"],
        &["name,DESC", "country,ASC"],
        &["country,ASC", "name,DESC"],
        &["country,DESC", "creationTimestamp,ASC", "name,ASC"],
    ];
    println!("| sort | page 0 | page 90 | page {last} |");
    println!("|---|---:|---:|---:|");
    for sort in sorts {
        let sort: Vec<String> = sort.iter().map(|s| s.to_string()).collect();
        let mut cells = Vec::new();
        for page in [0, 90, last] {
            let query = ListQuery::parse(ListParams {
                page: Some(page),
                size: Some(1000),
                sort: &sort,
                ..ListParams::default()
            })
            .map_err(|e| e.to_string())?;
            let mut times: Vec<Duration> = Vec::new();
            for _ in 0..3 {
                let started = Instant::now();
                store.list_ids(&tenant, &query).await.map_err(|e| e.to_string())?;
                times.push(started.elapsed());
            }
            times.sort();
            cells.push(format!("{:.0} ms", times[1].as_secs_f64() * 1000.0));
        }
        let name = if sort.is_empty() { "(none: id)".to_string() } else { sort.join(" & ") };
        println!("| `{name}` | {} |", cells.join(" | "));
    }
    store.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("list_depth: {error}");
            ExitCode::FAILURE
        }
    }
}
