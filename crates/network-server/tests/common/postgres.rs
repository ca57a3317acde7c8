//! The PostgreSQL of the integration tests (`tests/it` and
//! `tests/store_suite.rs`, which include this file with `#[path]`): the URL,
//! the probe that skips a test (or fails it under `NETWORK_REQUIRE_POSTGRES=1`)
//! when the database is not reachable, and the schema drop after a test.

#![allow(dead_code)] // each includer uses its own part

use std::time::Duration;

use network_server::error::with_causes;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `NETWORK_TEST_DATABASE_URL`, or the local default.
pub fn database_url() -> String {
    std::env::var("NETWORK_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_string())
}

/// Connects and runs `SELECT 1`.
async fn probe(url: &str) -> Result<(), String> {
    let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
    let (client, connection) = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| "timed out after 5 s".to_string())?
        .map_err(|e| with_causes(&e))?;
    let driver = tokio::spawn(connection);
    client.simple_query("SELECT 1").await.map_err(|e| with_causes(&e))?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// The database URL and a fresh schema name starting with `prefix`, or
/// `None` (with a SKIPPED line naming `test`) when PostgreSQL is not
/// reachable; panics instead when `NETWORK_REQUIRE_POSTGRES=1` (CI).
pub async fn database_for(test: &str, prefix: &str) -> Option<(String, String)> {
    let url = database_url();
    if let Err(error) = probe(&url).await {
        let message = format!(
            "SKIPPED {test}: PostgreSQL not reachable at {url} ({error}); \
             set NETWORK_TEST_DATABASE_URL or start PostgreSQL"
        );
        if std::env::var("NETWORK_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("NETWORK_REQUIRE_POSTGRES=1 but {message}");
        }
        eprintln!("{message}");
        return None;
    }
    Some((url, format!("{prefix}_{}", uuid::Uuid::new_v4().simple())))
}

/// Drops a test's schema (and everything in it).
pub async fn drop_schema(url: &str, schema: &str) -> Result<(), String> {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|e| with_causes(&e))?;
    let driver = tokio::spawn(connection);
    let dropped = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
    drop(client);
    let _ = driver.await;
    dropped.map_err(|e| with_causes(&e))
}
