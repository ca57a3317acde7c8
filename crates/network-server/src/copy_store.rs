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

use crate::server::SQLITE_FILE;
use crate::store::postgres;
use crate::store::StoreError;

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

/// One customer row, as both stores keep it.
#[derive(Debug, Clone)]
struct Row {
    tenant: String,
    id: String,
    name: String,
    country: Option<String>,
    timezone: Option<String>,
    properties: String,
    creation: i64,
    first_access: Option<i64>,
    last_access: Option<i64>,
    version: i64,
}

impl Row {
    /// Feeds the row to a tenant's checksum; properties are re-serialised
    /// from a sorted map, since PostgreSQL's `jsonb` prints them its own way.
    fn digest_into(&self, hasher: &mut Sha256) -> Result<(), String> {
        let properties: BTreeMap<String, String> = serde_json::from_str(&self.properties)
            .map_err(|error| format!("customer {}: properties: {error}", self.id))?;
        let canonical = serde_json::json!([
            self.id,
            self.name,
            self.country,
            self.timezone,
            properties,
            self.creation,
            self.first_access,
            self.last_access,
            self.version
        ]);
        hasher.update(canonical.to_string().as_bytes());
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

const SELECT_ALL: &str = "SELECT tenant, id, name, country, timezone, properties, \
     creation_timestamp, first_access_timestamp, last_access_timestamp, version \
     FROM customers ORDER BY tenant, id";

const INSERT_BATCH: &str = "INSERT INTO customers (tenant, id, name, country, timezone, \
     properties, creation_timestamp, first_access_timestamp, last_access_timestamp, version) \
     SELECT u.tenant, u.id, u.name, u.country, u.timezone, u.properties::jsonb, u.creation, \
            u.first_access, u.last_access, u.version \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[]) \
          AS u(tenant, id, name, country, timezone, properties, creation, first_access, \
               last_access, version) \
     ON CONFLICT (tenant, id) DO NOTHING";

const SELECT_TENANT: &str = "SELECT tenant, id, name, country, timezone, properties::text, \
     creation_timestamp, first_access_timestamp, last_access_timestamp, version \
     FROM customers WHERE tenant = $1 ORDER BY id";

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
                let mut statement = transaction.prepare(SELECT_ALL).map_err(sqlite)?;
                let mut rows = statement.query([]).map_err(sqlite)?;
                let mut batch = Vec::with_capacity(BATCH);
                while let Some(row) = rows.next().map_err(sqlite)? {
                    let row = Row {
                        tenant: row.get(0).map_err(sqlite)?,
                        id: row.get(1).map_err(sqlite)?,
                        name: row.get(2).map_err(sqlite)?,
                        country: row.get(3).map_err(sqlite)?,
                        timezone: row.get(4).map_err(sqlite)?,
                        properties: row.get(5).map_err(sqlite)?,
                        creation: row.get(6).map_err(sqlite)?,
                        first_access: row.get(7).map_err(sqlite)?,
                        last_access: row.get(8).map_err(sqlite)?,
                        version: row.get(9).map_err(sqlite)?,
                    };
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
    let insert = client.prepare(INSERT_BATCH).await.map_err(pg)?;
    let (mut read, mut inserted) = (0u64, 0u64);
    while let Some(batch) = received.recv().await {
        let column = |f: fn(&Row) -> Option<&str>| batch.iter().map(f).collect::<Vec<_>>();
        let tenants = column(|r| Some(&r.tenant));
        let ids = column(|r| Some(&r.id));
        let names = column(|r| Some(&r.name));
        let countries = column(|r| r.country.as_deref());
        let timezones = column(|r| r.timezone.as_deref());
        let properties = column(|r| Some(&r.properties));
        let creation: Vec<i64> = batch.iter().map(|r| r.creation).collect();
        let first: Vec<Option<i64>> = batch.iter().map(|r| r.first_access).collect();
        let last: Vec<Option<i64>> = batch.iter().map(|r| r.last_access).collect();
        let versions: Vec<i64> = batch.iter().map(|r| r.version).collect();
        let written = client
            .execute(
                &insert,
                &[
                    &tenants,
                    &ids,
                    &names,
                    &countries,
                    &timezones,
                    &properties,
                    &creation,
                    &first,
                    &last,
                    &versions,
                ],
            )
            .await
            .map_err(pg)?;
        read += batch.len() as u64;
        inserted += written;
        progress(read, total);
    }
    let expected = reader.await.map_err(|error| CopyError::Postgres(error.to_string()))??;

    // Verification: every source tenant, counted and hashed again in the target.
    let select = client.prepare(SELECT_TENANT).await.map_err(pg)?;
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
            Row {
                tenant: row.get(0),
                id: row.get(1),
                name: row.get(2),
                country: row.get(3),
                timezone: row.get(4),
                properties: row.get(5),
                creation: row.get(6),
                first_access: row.get(7),
                last_access: row.get(8),
                version: row.get(9),
            }
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
