//! What a `searchText` costs at scale (issue 13): seeds `--customers`
//! customers (default 1,000,000) of one tenant in a fresh SQLite file and,
//! when `--postgres URL` is given, in a fresh PostgreSQL schema (dropped at
//! the end), then times a list page (`list_ids`, then `get_many` of the
//! page's customers: what the server does for `getCustomers` minus HTTP) for
//! a few prefix and infix searches, `--runs` times each (default 21), and
//! prints the p50 and the slowest. Names mix cases and scripts (`Acme`,
//! `École`, `STRASSE`, `Straße`, ...) followed by a number, so every search
//! goes through the folded name.
//!
//! Usage: `search_depth [--customers N] [--runs N] [--postgres URL]`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use network_server::domain::{
    CustomerDraft, CustomerId, DraftFields, ListParams, ListQuery, TenantName,
};
use network_server::store::postgres::{PostgresOptions, PostgresStore};
use network_server::store::sqlite::{SqliteOptions, SqliteStore};
use network_server::store::{CustomerStore, SeedCustomer, LIST_BATCH};

const WORDS: [&str; 8] =
    ["Acme", "École", "STRASSE", "Straße", "globex", "ÜBER", "Initech", "Σίσυφος"];

const SEARCHES: [(&str, &str); 5] = [
    ("prefix, 13 matches", "acme 00012*"),
    ("prefix, 125 matches", "ÉCOLE 0001*"),
    ("prefix, 250,000 matches", "strasse*"),
    ("infix, 20 matches", "*12345*"),
    ("infix, 250 matches", "*ße 0099*"),
];

fn seed(customers: usize) -> Vec<SeedCustomer> {
    (0..customers)
        .map(|i| SeedCustomer {
            id: CustomerId::parse(&format!(
                "{:032x}",
                (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
            ))
            .expect("valid"),
            details: CustomerDraft::parse(DraftFields {
                name: format!("{} {:07}", WORDS[i % WORDS.len()], (i * 7919) % customers),
                country: Some("IT".into()),
                ..DraftFields::default()
            })
            .expect("valid"),
            creation_timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

/// One page as the server reads it: the ids and the total, then the customers.
async fn page(store: &dyn CustomerStore, tenant: &TenantName, query: &ListQuery) -> (u64, usize) {
    let ids = store.list_ids(tenant, query).await.expect("list_ids");
    let mut read = 0;
    for batch in ids.ids.chunks(LIST_BATCH) {
        read += store.get_many(tenant, batch).await.expect("get_many").len();
    }
    (ids.total_elements, read)
}

async fn measure(label: &str, store: &dyn CustomerStore, runs: usize) -> Result<(), String> {
    let tenant = TenantName::parse("acme").map_err(|e| e.to_string())?;
    println!("\n{label}: | search | `searchText` | matches | p50 | slowest |");
    for (what, text) in SEARCHES {
        let query =
            ListQuery::parse(ListParams { search_text: Some(text), ..ListParams::default() })
                .map_err(|e| e.to_string())?;
        let mut times: Vec<Duration> = Vec::new();
        let mut total = 0;
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            total = page(store, &tenant, &query).await.0;
            times.push(started.elapsed());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {what} | `{text}` | {total} | {:.2} ms | {:.2} ms |",
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
    Ok(())
}

async fn run() -> Result<(), String> {
    let mut customers = 1_000_000usize;
    let mut runs = 21usize;
    let mut postgres: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--customers" => customers = value.parse().map_err(|_| "bad --customers")?,
            "--runs" => runs = value.parse().map_err(|_| "bad --runs")?,
            "--postgres" => postgres = Some(value),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let tenant = TenantName::parse("acme").map_err(|e| e.to_string())?;

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join(network_server::server::SQLITE_FILE);
    let sqlite = SqliteStore::open(&path, SqliteOptions::default()).map_err(|e| e.to_string())?;
    let started = Instant::now();
    sqlite.bulk_insert(&tenant, seed(customers)).await.map_err(|e| e.to_string())?;
    println!("SQLite: seeded {customers} customers in {:.1?}", started.elapsed());
    measure("SQLite", &sqlite, runs).await?;
    sqlite.close().await;

    if let Some(url) = postgres {
        let schema = format!("search_depth_{}", std::process::id());
        let options =
            PostgresOptions { schema: Some(schema.clone()), pool_size: 4, statement_timeout: None };
        let store = PostgresStore::connect(&url, options).await.map_err(|e| e.to_string())?;
        let started = Instant::now();
        store.bulk_insert(&tenant, seed(customers)).await.map_err(|e| e.to_string())?;
        println!("PostgreSQL: seeded {customers} customers in {:.1?}", started.elapsed());
        let (client, driver) = network_server::store::postgres::connect_one(&url, Some(&schema))
            .await
            .map_err(|e| e.to_string())?;
        client.batch_execute("ANALYZE customers").await.map_err(|e| e.to_string())?;
        let result = measure("PostgreSQL", &store, runs).await;
        store.close().await;
        let _ = client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await;
        drop(client);
        let _ = driver.await;
        result?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("search_depth: {error}");
            ExitCode::FAILURE
        }
    }
}
