//! What every configuration starts from: customer ids, the request body, the
//! seeded rows (written in bulk through the server's own store, not through
//! HTTP) and the tokens.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};
use network_server::domain::{CustomerId, TenantName};
use network_server::store::postgres::{PostgresOptions, PostgresStore};
use network_server::store::sqlite::{SqliteOptions, SqliteStore};
use network_server::store::{CustomerStore, SeedCustomer};
use network_server::wire::draft_from;

/// The id of customer `index` of `count`: `c` and the index zero-padded to
/// the width of `count - 1`, so that the load generator can pick ids with
/// the regular expression [`id_pattern`].
pub fn customer_id(index: usize, count: usize) -> String {
    format!("c{index:0width$}", width = id_width(count))
}

fn id_width(count: usize) -> usize {
    (count.max(2) - 1).to_string().len()
}

/// A regular expression matching exactly the ids of `count` customers
/// (`count` must be a power of ten, checked by the caller).
pub fn id_pattern(count: usize) -> String {
    format!("c[0-9]{{{}}}", id_width(count))
}

/// Tenant `index` of a run.
pub fn tenant_name(index: usize) -> String {
    format!("tenant{index:03}")
}

/// The body every `updateCustomer` request sends: a name, a country, a time
/// zone and 10 properties, as a real client would.
pub fn update_body() -> String {
    serde_json::json!({
        "name": "Acme Industrial Srl",
        "country": "IT",
        "timezone": "Europe/Rome",
        "properties": {
            "plan": "gold",
            "segment": "manufacturing",
            "region": "emea",
            "accountManager": "Giulia Rossi",
            "contractId": "C-2026-00421",
            "billingCycle": "monthly",
            "supportTier": "24x7",
            "erpCode": "ERP-889123",
            "vatNumber": "IT01234567890",
            "language": "it"
        }
    })
    .to_string()
}

/// The seeded rows hold exactly what the body writes (its name, country,
/// time zone and properties): every measured update then rewrites a row of
/// the same size with the same indexed values, in every configuration,
/// whether it is a customer's first update or not. Were the seeded values
/// different, a run over 1,000 customers would pay the difference on its
/// first 1,000 updates (all in the warm-up) and a run over 1,000,000 on
/// nearly every one: a changed `name` or `country` rewrites index entries,
/// and a row that grows may split its page (issue 17: with 3 seeded
/// properties against the body's 10, nearly every update at 1,000,000
/// customers grew its row, and the page splits made SQLite's writer scan its
/// whole page cache at commit about 30 times a second; see BENCHMARKS.md).
fn seed_rows(count: usize) -> anyhow::Result<Vec<SeedCustomer>> {
    // The body as the server reads it: the contract's type, then the draft.
    let body: network_api::types::CustomerDetails = serde_json::from_str(&update_body())?;
    let draft = draft_from(body).map_err(|error| anyhow::anyhow!("seed draft: {error}"))?;
    (0..count)
        .map(|index| {
            Ok(SeedCustomer {
                id: CustomerId::parse(&customer_id(index, count))
                    .map_err(|error| anyhow::anyhow!("seed id: {error}"))?,
                details: draft.clone(),
                creation_timestamp: 1_767_225_600_000 + index as i64,
            })
        })
        .collect()
}

async fn seed_store(
    store: &dyn CustomerStore,
    tenants: usize,
    customers: usize,
) -> anyhow::Result<()> {
    let rows = seed_rows(customers)?;
    for tenant in 0..tenants {
        let tenant = TenantName::parse(&tenant_name(tenant))
            .map_err(|error| anyhow::anyhow!("tenant: {error}"))?;
        store.bulk_insert(&tenant, rows.clone()).await.context("bulk insert")?;
    }
    store.close().await;
    Ok(())
}

/// Seeds `tenants` × `customers` rows into the SQLite file the server will open.
pub async fn seed_sqlite(data_dir: &Path, tenants: usize, customers: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(network_server::server::SQLITE_FILE);
    let store = SqliteStore::open(&path, SqliteOptions::default()).context("open SQLite")?;
    seed_store(&store, tenants, customers).await
}

/// Creates `schema` (dropping an old one) and seeds it.
pub async fn seed_postgres(
    url: &str,
    schema: &str,
    tenants: usize,
    customers: usize,
) -> anyhow::Result<()> {
    drop_schema(url, schema).await?;
    let options = PostgresOptions {
        schema: Some(schema.to_string()),
        pool_size: 4,
        ..PostgresOptions::default()
    };
    let store = PostgresStore::connect(url, options).await.context("connect to PostgreSQL")?;
    seed_store(&store, tenants, customers).await
}

/// Drops a benchmark schema.
pub async fn drop_schema(url: &str, schema: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let task = tokio::spawn(connection);
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await?;
    drop(client);
    let _ = task.await;
    Ok(())
}

/// Whether PostgreSQL answers at `url`.
pub async fn postgres_reachable(url: &str) -> Result<(), String> {
    let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
    match tokio::time::timeout(std::time::Duration::from_secs(3), connect).await {
        Ok(Ok((client, connection))) => {
            let task = tokio::spawn(connection);
            let result =
                client.simple_query("SELECT 1").await.map(|_| ()).map_err(|e| e.to_string());
            drop(client);
            let _ = task.await;
            result
        }
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("no answer within 3 s".into()),
    }
}

/// A token for `tenant` with the permissions `updateCustomer` needs, minted
/// by `network-server token` with the dev key of `data_dir`.
pub fn mint_token(server: &Path, data_dir: &Path, tenant: &str) -> anyhow::Result<String> {
    let output = Command::new(server)
        .args(["token", "--dev", "--data-dir"])
        .arg(data_dir)
        .args(["--tenant", tenant, "--subject", "bench"])
        .args(["--permission", "READ_CUSTOMER", "--permission", "WRITE_CUSTOMER", "--ttl", "6h"])
        .output()
        .with_context(|| format!("run {}", server.display()))?;
    if !output.status.success() {
        bail!("network-server token failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_their_pattern_cover_exactly_the_seeded_customers() {
        assert_eq!(customer_id(0, 1_000), "c000");
        assert_eq!(customer_id(999, 1_000), "c999");
        assert_eq!(id_pattern(1_000), "c[0-9]{3}");
        assert_eq!(customer_id(999_999, 1_000_000), "c999999");
        assert_eq!(id_pattern(1_000_000), "c[0-9]{6}");
    }

    #[test]
    fn the_seeded_rows_hold_what_the_body_writes() {
        let body: serde_json::Value = serde_json::from_str(&update_body()).unwrap();
        let rows = seed_rows(2).unwrap();
        assert_eq!(rows[1].id.as_str(), "c1");
        for row in &rows {
            let draft = &row.details;
            assert_eq!(draft.name.as_str(), body["name"]);
            assert_eq!(draft.country.as_ref().unwrap().as_str(), body["country"]);
            assert_eq!(draft.timezone.as_ref().unwrap().as_str(), body["timezone"]);
            let properties = serde_json::to_value(draft.properties.as_map()).unwrap();
            assert_eq!(properties, body["properties"]);
        }
    }

    #[test]
    fn the_body_is_a_valid_update_with_ten_properties() {
        let body: serde_json::Value = serde_json::from_str(&update_body()).unwrap();
        assert_eq!(body["properties"].as_object().unwrap().len(), 10);
        let details: network_api::types::CustomerDetails = serde_json::from_value(body).unwrap();
        assert_eq!(details.country.map(|c| c.to_string()).as_deref(), Some("IT"));
    }
}
