//! `network-server copy-store`: copies every customer of a SQLite data
//! directory into PostgreSQL, with its id, version (ETag) and timestamps, so
//! an operator can move from one machine to several replicas.
//!
//! The source is read in one read transaction (a consistent snapshot, even if
//! a server still writes to it), in `(tenant, id)` order, in batches sent
//! through a bounded channel to the writer, which inserts each batch in one
//! statement (`unnest`) and commits it: an interrupted copy keeps what it
//! committed, and `resume` skips customers already there (`ON CONFLICT DO
//! NOTHING`). Without `resume` a target holding any customer is refused.
//! Afterwards each tenant's count and a SHA-256 over its customers (in id
//! order, properties canonicalised) are compared between source and target.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};

use tokio_postgres::types::ToSql;

use crate::server::SQLITE_FILE;
use crate::store::schema::{Kind, RowSource, DETAILS, MANAGED};
use crate::store::sql::{self, POSTGRES, SQLITE};
use crate::store::{postgres, StoreError};

/// Customers read and written per batch.
pub const BATCH: usize = 5_000;

/// Why the copy failed or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("no SQLite database at {}", .0.display())]
    NoSource(PathBuf),
    #[error("reading {}: {source}", .path.display())]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("{0}")]
    Target(#[from] StoreError),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error(
        "the target already holds {0} customers: pass --resume to continue an interrupted copy \
         (customers already there are kept as they are)"
    )]
    TargetNotEmpty(i64),
    #[error("verification failed for tenant `{tenant}`: {problem}")]
    Mismatch { tenant: String, problem: String },
}

/// One customer row, as both stores keep it (the columns of `store::schema`).
#[derive(Debug, Clone)]
struct Row {
    tenant: String,
    id: String,
    /// One value per [`DETAILS`] column, JSON as text.
    details: Vec<Option<String>>,
    /// The [`MANAGED`] columns.
    managed: Vec<Option<i64>>,
}

impl Row {
    /// Reads `tenant` then the columns of `Dialect::select_columns`.
    fn read(row: &impl RowSource) -> Result<Row, StoreError> {
        let text = |index| row.text(index).map(Option::unwrap_or_default);
        Ok(Row {
            tenant: text(0)?,
            id: text(1)?,
            details: (0..DETAILS.len()).map(|i| row.text(2 + i)).collect::<Result<_, _>>()?,
            managed: (0..MANAGED.len())
                .map(|i| row.int(2 + DETAILS.len() + i))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Feeds the row to a tenant's checksum; JSON columns are re-serialised
    /// from a sorted map, since PostgreSQL's `jsonb` (before migration V5) printed them its own way.
    /// Derived columns are left out: the source's are not read (see
    /// [`select_all`]), and they follow from the others.
    fn digest_into(&self, hasher: &mut Sha256) -> Result<(), String> {
        let mut canonical = vec![serde_json::json!(self.id)];
        for (column, value) in DETAILS.iter().zip(&self.details) {
            if column.derived() {
                continue;
            }
            canonical.push(match (column.kind, value) {
                (Kind::Json, Some(text)) => {
                    let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(text)
                        .map_err(|error| {
                            format!("customer {}: {}: {error}", self.id, column.name)
                        })?;
                    serde_json::json!(map)
                }
                (_, value) => serde_json::json!(value),
            });
        }
        canonical.extend(self.managed.iter().map(|value| serde_json::json!(value)));
        hasher.update(serde_json::Value::Array(canonical).to_string().as_bytes());
        hasher.update(b"\n");
        Ok(())
    }
}

/// What was copied and verified.
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// Per tenant: customers and the checksum both sides agree on.
    pub tenants: Vec<(String, u64, String)>,
    pub read: u64,
    pub inserted: u64,
    pub elapsed: Duration,
}

impl std::fmt::Display for CopyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "copied {} customers of {} tenants ({} inserted, {} already there) in {:.1?}; \
             counts and checksums verified:",
            self.read,
            self.tenants.len(),
            self.inserted,
            self.read - self.inserted,
            self.elapsed
        )?;
        for (tenant, customers, checksum) in &self.tenants {
            writeln!(f, "  {tenant}: {customers} customers, sha256 {checksum}")?;
        }
        Ok(())
    }
}

/// Every customer of the source, in `(tenant, id)` order. Derived columns
/// (the folded name) are not read: a file the server has not opened since
/// they were added lacks them, and `postgres::fold_names` computes them in
/// the target after the copy.
fn select_all() -> String {
    format!(
        "SELECT tenant, {} FROM customers ORDER BY tenant, id",
        SQLITE.select_columns_underived()
    )
}

/// One tenant's customers in the target, in id order.
fn select_tenant() -> String {
    format!(
        "SELECT tenant, {} FROM customers WHERE tenant = $1 ORDER BY id",
        POSTGRES.select_columns()
    )
}

/// Copies the SQLite store of `data_dir` into the PostgreSQL database at
/// `url` (in `schema`, created and migrated if needed). `progress` is told
/// how many customers were copied of how many, after every batch.
pub async fn copy_store(
    data_dir: &Path,
    url: &str,
    schema: Option<&str>,
    resume: bool,
    mut progress: impl FnMut(u64, u64),
) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    let source = data_dir.join(SQLITE_FILE);
    if !source.exists() {
        return Err(CopyError::NoSource(source));
    }
    let (client, driver) = postgres::connect_one(url, schema).await?;
    let pg = |error: tokio_postgres::Error| CopyError::Postgres(error.to_string());
    let existing: i64 =
        client.query_one("SELECT count(*) FROM customers", &[]).await.map_err(pg)?.get(0);
    if existing > 0 && !resume {
        return Err(CopyError::TargetNotEmpty(existing));
    }

    // The reader: one snapshot, batches through a bounded channel.
    let (batches, mut received) = tokio::sync::mpsc::channel::<Vec<Row>>(2);
    let (total_tx, total_rx) = tokio::sync::oneshot::channel::<u64>();
    let reader_path = source.clone();
    let reader = tokio::task::spawn_blocking(
        move || -> Result<HashMap<String, (u64, String)>, CopyError> {
            let sqlite = |source| CopyError::Sqlite { path: reader_path.clone(), source };
            let mut connection =
                Connection::open_with_flags(&reader_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .map_err(sqlite)?;
            connection.busy_timeout(Duration::from_secs(30)).map_err(sqlite)?;
            let transaction = connection.transaction().map_err(sqlite)?;
            let total: i64 = transaction
                .query_row("SELECT count(*) FROM customers", [], |row| row.get(0))
                .map_err(sqlite)?;
            let _ = total_tx.send(total as u64);
            let mut digests: HashMap<String, (u64, Sha256)> = HashMap::new();
            {
                let mut statement = transaction.prepare(&select_all()).map_err(sqlite)?;
                let mut rows = statement.query([]).map_err(sqlite)?;
                let mut batch = Vec::with_capacity(BATCH);
                while let Some(row) = rows.next().map_err(sqlite)? {
                    let row = Row::read(row)?;
                    let entry =
                        digests.entry(row.tenant.clone()).or_insert_with(|| (0, Sha256::new()));
                    entry.0 += 1;
                    row.digest_into(&mut entry.1).map_err(|problem| CopyError::Mismatch {
                        tenant: row.tenant.clone(),
                        problem,
                    })?;
                    batch.push(row);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if batches.blocking_send(full).is_err() {
                            break; // The writer failed; its error is reported.
                        }
                    }
                }
                if !batch.is_empty() {
                    let _ = batches.blocking_send(batch);
                }
            }
            Ok(digests
                .into_iter()
                .map(|(tenant, (count, hasher))| (tenant, (count, hex(hasher))))
                .collect())
        },
    );

    // The writer: one statement (and commit) per batch.
    let total = total_rx.await.unwrap_or(0);
    let insert = client.prepare(&sql::postgres_copy_insert()).await.map_err(pg)?;
    let (mut read, mut inserted) = (0u64, 0u64);
    while let Some(batch) = received.recv().await {
        // Column by column, in the statement's order.
        let tenants: Vec<&str> = batch.iter().map(|r| r.tenant.as_str()).collect();
        let ids: Vec<&str> = batch.iter().map(|r| r.id.as_str()).collect();
        let details: Vec<Vec<Option<&str>>> = (0..DETAILS.len())
            .map(|i| batch.iter().map(|r| r.details[i].as_deref()).collect())
            .collect();
        let managed: Vec<Vec<Option<i64>>> =
            (0..MANAGED.len()).map(|i| batch.iter().map(|r| r.managed[i]).collect()).collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenants, &ids];
        params.extend(details.iter().map(|column| column as &(dyn ToSql + Sync)));
        params.extend(managed.iter().map(|column| column as &(dyn ToSql + Sync)));
        let written = client.execute(&insert, &params).await.map_err(pg)?;
        read += batch.len() as u64;
        inserted += written;
        progress(read, total);
    }
    let expected = reader.await.map_err(|error| CopyError::Postgres(error.to_string()))??;
    // The copied rows have no folded name yet (what `searchText` compares).
    postgres::fold_names(&client).await?;

    // Verification: every source tenant, counted and hashed again in the target.
    let select = client.prepare(&select_tenant()).await.map_err(pg)?;
    let mut tenants: Vec<(String, u64, String)> = Vec::new();
    let mut names: Vec<&String> = expected.keys().collect();
    names.sort();
    for tenant in names {
        let (count, checksum) = &expected[tenant];
        // Streamed: a tenant may hold millions of customers.
        let rows = client.query_raw(&select, [tenant]).await.map_err(pg)?;
        let mut rows = std::pin::pin!(rows);
        let mut hasher = Sha256::new();
        let mut found = 0u64;
        while let Some(row) = rows.next().await {
            let row = row.map_err(pg)?;
            found += 1;
            Row::read(&row)?
                .digest_into(&mut hasher)
                .map_err(|problem| CopyError::Mismatch { tenant: tenant.clone(), problem })?;
        }
        if found != *count {
            return Err(CopyError::Mismatch {
                tenant: tenant.clone(),
                problem: format!("{count} customers in SQLite, {found} in PostgreSQL"),
            });
        }
        let target = hex(hasher);
        if &target != checksum {
            return Err(CopyError::Mismatch {
                tenant: tenant.clone(),
                problem: format!("checksum {checksum} in SQLite, {target} in PostgreSQL (a customer differs: was the target changed since?)"),
            });
        }
        tenants.push((tenant.clone(), *count, target));
    }
    drop(client);
    let _ = driver.await;
    Ok(CopyReport { tenants, read, inserted, elapsed: started.elapsed() })
}

fn hex(hasher: Sha256) -> String {
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}
