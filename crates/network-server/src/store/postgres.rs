//! The PostgreSQL store, for several stateless replicas sharing one database.
//!
//! A deadpool pool of tokio-postgres connections (no TLS). Every statement is
//! prepared once per connection (`prepare_cached`). Updates and deletes are a
//! single `UPDATE`/`DELETE ... WHERE tenant = $1 AND id = $2 AND <version
//! condition>`: the `If-Match` check happens in the database, atomically with
//! the write, so replicas cannot lose each other's updates. Only when no row
//! matched does a second query tell "not found" from "precondition failed".
//! Commits are durable with PostgreSQL's default `synchronous_commit = on`.
//!
//! With [`PostgresOptions::schema`], the store creates that schema if needed
//! and sets it as the `search_path` of every connection (tests use one fresh
//! schema each). Migrations (embedded, refinery) run at connect, under an
//! advisory lock so that replicas starting together do not race.
//!
//! List reads (`list_ids`, `get_many`) run in a read-only transaction with
//! `SET LOCAL statement_timeout` ([`PostgresOptions::statement_timeout`]; a
//! statement stopped by it is a [`StoreError::Timeout`]). Every read holds
//! its pooled connection in a [`Cancellable`]: if the read's future is
//! dropped (its client went away) while a statement runs, the statement is
//! cancelled on the server (`pg_cancel_backend` through the cancel token)
//! and the connection leaves the pool, so that the cancel cannot reach a
//! later statement of another request. Writes are single statements and are
//! not cancelled: a dropped write commits or not as a whole, as before.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls};

use super::schema::{
    created_customer, customer_from_row, detail_values, duplicate_id, in_order, parse_ids,
    total_from_page, written_managed, DETAILS,
};
use super::sql::{self, POSTGRES};
use super::{AccessUpdate, CustomerStore, IdPage, SeedCustomer, StoreError, Write};
use crate::domain::{
    fold, Customer, CustomerDraft, CustomerId, ListQuery, Precondition, TenantName,
};
use crate::error::with_causes;

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Rows per statement in [`CustomerStore::bulk_insert`] (all in one transaction).
pub const BULK_CHUNK: usize = 10_000;
/// Used when the URL sets no `connect_timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a free pooled connection.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `close` waits for the connections in use to come back.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to connect a [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A schema of our own (created if missing, set as every connection's
    /// `search_path`): lower-case ASCII letters, digits and `_`, not starting
    /// with a digit, at most 63 characters. `None` uses the server's default
    /// `search_path` (normally `public`).
    pub schema: Option<String>,
    /// At most this many connections (at least 1).
    pub pool_size: usize,
    /// The longest one statement of a list may run (`statement_timeout`);
    /// `None`: the server's setting.
    pub statement_timeout: Option<Duration>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self { schema: None, pool_size: 16, statement_timeout: None }
    }
}

/// The PostgreSQL implementation of [`CustomerStore`]. See the module documentation.
pub struct PostgresStore {
    pool: Pool,
    statement_timeout: Option<Duration>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("status", &self.pool.status()).finish()
    }
}

fn unavailable(context: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{context}: {error}"))
}

pub(super) fn db(error: tokio_postgres::Error) -> StoreError {
    unavailable("PostgreSQL", with_causes(&error))
}

fn pool_error(error: deadpool_postgres::PoolError) -> StoreError {
    match error {
        deadpool_postgres::PoolError::Closed => {
            StoreError::Unavailable("the PostgreSQL store is closed".into())
        }
        other => unavailable("PostgreSQL connection pool", with_causes(&other)),
    }
}

/// Whether `schema` is a plain lower-case identifier (no quoting needed anywhere).
fn valid_schema_name(schema: &str) -> bool {
    let mut bytes = schema.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && schema.len() <= 63
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

impl PostgresStore {
    /// Connects, creates the schema if asked to, runs the embedded migrations
    /// and builds the pool. `url` is a libpq-style URL or key/value string.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<PostgresStore, StoreError> {
        let config = connection_config(url, &options)?;
        migrate(&config, options.schema.as_deref()).await?;

        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .create_timeout(Some(DEFAULT_CONNECT_TIMEOUT))
            .build()
            .map_err(|e| unavailable("cannot build the PostgreSQL pool", e))?;
        let store = PostgresStore { pool, statement_timeout: options.statement_timeout };
        store.ping().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// A read-only transaction (repeatable read: one snapshot) with the
    /// store's statement timeout.
    async fn read_transaction<'c>(
        &self,
        client: &'c mut deadpool_postgres::Object,
    ) -> Result<deadpool_postgres::Transaction<'c>, StoreError> {
        let transaction = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)?;
        if let Some(limit) = self.statement_timeout {
            let millis = limit.as_millis().max(1);
            transaction
                .batch_execute(&format!("SET LOCAL statement_timeout = {millis}"))
                .await
                .map_err(db)?;
        }
        Ok(transaction)
    }

    /// A list read's error: a statement stopped by `statement_timeout` is a timeout.
    fn read_error(&self, error: tokio_postgres::Error) -> StoreError {
        match (error.code(), self.statement_timeout) {
            (Some(code), Some(limit)) if *code == SqlState::QUERY_CANCELED => {
                StoreError::Timeout { limit }
            }
            _ => db(error),
        }
    }
}

/// The writes, each one statement (see the module documentation).
impl PostgresStore {
    async fn create_one(
        &self,
        tenant: &TenantName,
        id: CustomerId,
        details: CustomerDraft,
        creation_timestamp: i64,
    ) -> Result<Customer, StoreError> {
        {
            let (tenant_name, id_text) = (tenant.as_str(), id.as_str());
            let values = detail_values(&details);
            let mut params = write_params(&tenant_name, &id_text, &values);
            params.push(&creation_timestamp);
            let client = self.client().await?;
            let insert = client.prepare_cached(&STATEMENTS.insert).await.map_err(db)?;
            client.execute(&insert, &params).await.map_err(|e| insert_error(e, &id))?;
        }
        Ok(created_customer(id, details, creation_timestamp))
    }

    async fn update_one(
        &self,
        tenant: &TenantName,
        id: CustomerId,
        details: CustomerDraft,
        precondition: &Precondition,
    ) -> Result<Customer, StoreError> {
        let managed = {
            let values = detail_values(&details);
            let versions = precondition.acceptable_versions();
            let (tenant_name, id_text) = (tenant.as_str(), id.as_str());
            let mut params = write_params(&tenant_name, &id_text, &values);
            if let Some(versions) = &versions {
                params.push(versions);
            }
            let client = self.client().await?;
            let sql = &STATEMENTS.update[usize::from(versions.is_some())];
            let update = client.prepare_cached(sql).await.map_err(db)?;
            match client.query_opt(&update, &params).await.map_err(db)? {
                Some(row) => written_managed(&row, &id)?,
                None => return Err(unmatched(&client, tenant, &id, precondition).await),
            }
        };
        Ok(managed.customer(id, details))
    }

    async fn delete_one(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        let versions = precondition.acceptable_versions();
        let (tenant_name, id_text) = (tenant.as_str(), id.as_str());
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant_name, &id_text];
        if let Some(versions) = &versions {
            params.push(versions);
        }
        let client = self.client().await?;
        let sql = &STATEMENTS.delete[usize::from(versions.is_some())];
        let delete = client.prepare_cached(sql).await.map_err(db)?;
        if client.execute(&delete, &params).await.map_err(db)? == 0 {
            return Err(unmatched(&client, tenant, id, precondition).await);
        }
        Ok(())
    }
}

/// A pooled connection used by a read. Dropped before [`Cancellable::finish`]
/// (the read's future was dropped mid-statement), it cancels the running
/// statement on the server and leaves the pool (see the module documentation).
struct Cancellable {
    client: Option<deadpool_postgres::Object>,
}

impl Cancellable {
    fn new(client: deadpool_postgres::Object) -> Self {
        Cancellable { client: Some(client) }
    }

    fn client(&mut self) -> &mut deadpool_postgres::Object {
        self.client.as_mut().expect("present until finished or dropped")
    }

    /// The read is over: the connection goes back to the pool.
    fn finish(mut self) {
        drop(self.client.take());
    }
}

impl Drop for Cancellable {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        let cancel = client.cancel_token();
        let detached = deadpool_postgres::Object::take(client);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = cancel.cancel_query(NoTls).await;
                drop(detached);
            });
        }
    }
}

/// One connection (outside any pool) to a migrated database, for tools such
/// as `copy-store`; the task drives the connection until the client is dropped.
pub async fn connect_one(
    url: &str,
    schema: Option<&str>,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError> {
    let options = PostgresOptions {
        schema: schema.map(str::to_string),
        pool_size: 1,
        statement_timeout: None,
    };
    let config = connection_config(url, &options)?;
    migrate(&config, schema).await?;
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| unavailable("cannot connect to PostgreSQL", with_causes(&e)))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, driver))
}

/// The connection settings: the URL, a connect timeout, and the schema as
/// every connection's search_path.
fn connection_config(
    url: &str,
    options: &PostgresOptions,
) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|e| unavailable("invalid PostgreSQL URL", with_causes(&e)))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    if let Some(schema) = &options.schema {
        if !valid_schema_name(schema) {
            return Err(StoreError::Unavailable(format!(
                "invalid PostgreSQL schema name `{schema}`: use lower-case ASCII letters, \
                 digits and `_`, not starting with a digit, at most 63 characters"
            )));
        }
        // Every pooled connection starts with this search_path (it also
        // survives `DISCARD ALL`, being a connection default).
        let extra = format!("-c search_path={schema}");
        let combined = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {extra}"),
            _ => extra,
        };
        config.options(&combined);
    }
    Ok(config)
}

/// Creates the schema and applies the migrations on a connection of its own,
/// holding an advisory lock so that concurrent starts apply them once.
async fn migrate(config: &tokio_postgres::Config, schema: Option<&str>) -> Result<(), StoreError> {
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| unavailable("cannot connect to PostgreSQL", with_causes(&e)))?;
    let driver = tokio::spawn(connection);
    let lock_key = format!("network-server migrations {}", schema.unwrap_or(""));
    let result = async {
        client.execute("SELECT pg_advisory_lock(hashtext($1))", &[&lock_key]).await.map_err(db)?;
        let migrated = async {
            if let Some(schema) = schema {
                // The name was validated: a plain identifier, safe to splice.
                client
                    .batch_execute(&format!(
                        "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
                    ))
                    .await
                    .map_err(|e| {
                        unavailable("cannot create the PostgreSQL schema", with_causes(&e))
                    })?;
            }
            embedded::migrations::runner().run_async(&mut client).await.map_err(|e| {
                unavailable("migrating the PostgreSQL database failed", with_causes(&e))
            })?;
            fold_names(&client).await?;
            Ok::<(), StoreError>(())
        }
        .await;
        let unlocked = client
            .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&lock_key])
            .await
            .map_err(db);
        migrated.and(unlocked.map(|_| ()))
    }
    .await;
    drop(client);
    let _ = driver.await;
    result
}

/// Rows folded per statement by [`fold_names`].
const FOLD_BATCH: i64 = 10_000;

/// Sets `name_folded` ([`fold`]) on every row that has none: the rows there
/// before the V3 migration, and rows written by a tool that does not fold
/// (`copy-store` inserts, then calls this). Keyset batches in primary-key
/// order, found through the partial index `customers_unfolded` (empty once
/// done, so a start with nothing to fold costs one index probe).
pub async fn fold_names(client: &tokio_postgres::Client) -> Result<u64, StoreError> {
    let select = client
        .prepare(
            "SELECT tenant, id, name FROM customers \
             WHERE name_folded IS NULL AND (tenant, id) > ($1, $2) \
             ORDER BY tenant, id LIMIT $3",
        )
        .await
        .map_err(db)?;
    let update = client
        .prepare(
            "UPDATE customers c SET name_folded = u.folded \
             FROM unnest($1::text[], $2::text[], $3::text[]) AS u(tenant, id, folded) \
             WHERE c.tenant = u.tenant AND c.id = u.id AND c.name_folded IS NULL",
        )
        .await
        .map_err(db)?;
    let (mut after_tenant, mut after_id) = (String::new(), String::new());
    let mut folded_rows = 0u64;
    loop {
        let rows =
            client.query(&select, &[&after_tenant, &after_id, &FOLD_BATCH]).await.map_err(db)?;
        let Some(last) = rows.last() else { return Ok(folded_rows) };
        after_tenant = last.try_get(0).map_err(db)?;
        after_id = last.try_get(1).map_err(db)?;
        let mut tenants = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        let mut folded = Vec::with_capacity(rows.len());
        for row in &rows {
            tenants.push(row.try_get::<_, String>(0).map_err(db)?);
            ids.push(row.try_get::<_, String>(1).map_err(db)?);
            folded.push(fold(row.try_get::<_, &str>(2).map_err(db)?));
        }
        folded_rows += client.execute(&update, &[&tenants, &ids, &folded]).await.map_err(db)?;
    }
}

/// Issue 13: widens the access timestamps of many customers in one
/// statement, writing only the rows it changes. Under READ COMMITTED a row
/// updated meanwhile by another replica is re-checked against its new
/// values once locked, so concurrent replicas never move a timestamp back.
const RECORD_ACCESS: &str = "UPDATE customers c SET \
     first_access_timestamp = LEAST(COALESCE(c.first_access_timestamp, u.first), u.first), \
     last_access_timestamp = GREATEST(COALESCE(c.last_access_timestamp, u.last), u.last), \
     version = c.version + 1 \
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(tenant, id, first, last) \
     WHERE c.tenant = u.tenant AND c.id = u.id \
     AND (c.first_access_timestamp IS NULL OR c.first_access_timestamp > u.first \
          OR c.last_access_timestamp IS NULL OR c.last_access_timestamp < u.last)";

/// The statements, built once from the column description.
struct Statements {
    insert: String,
    /// Unconditional, and with the acceptable versions.
    update: [String; 2],
    delete: [String; 2],
    exists: String,
    select_one: String,
    select_many: String,
    bulk_insert: String,
}

static STATEMENTS: LazyLock<Statements> = LazyLock::new(|| Statements {
    insert: POSTGRES.insert(),
    update: [POSTGRES.update(|_| true, false), POSTGRES.update(|_| true, true)],
    delete: [POSTGRES.delete(false), POSTGRES.delete(true)],
    exists: POSTGRES.exists(),
    select_one: POSTGRES.select_one(),
    select_many: POSTGRES.select_many("id = ANY($2::text[])"),
    bulk_insert: sql::postgres_bulk_insert(),
});

fn insert_error(error: tokio_postgres::Error, id: &CustomerId) -> StoreError {
    if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        duplicate_id(id)
    } else {
        db(error)
    }
}

/// Tenant, id and the draft's values: the parameters every write starts with.
fn write_params<'a>(
    tenant: &'a &'a str,
    id: &'a &'a str,
    values: &'a [Option<Cow<'a, str>>],
) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![tenant, id];
    params.extend(values.iter().map(|value| value as &(dyn ToSql + Sync)));
    params
}

#[async_trait]
impl CustomerStore for PostgresStore {
    async fn write(
        &self,
        tenant: &TenantName,
        write: Write,
    ) -> Result<Option<Customer>, StoreError> {
        match write {
            Write::Create { id, details, creation_timestamp } => {
                self.create_one(tenant, id, details, creation_timestamp).await.map(Some)
            }
            Write::Update { id, details, precondition } => {
                self.update_one(tenant, id, details, &precondition).await.map(Some)
            }
            Write::Delete { id, precondition } => {
                self.delete_one(tenant, &id, &precondition).await.map(|()| None)
            }
        }
    }

    async fn get(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        let mut guard = Cancellable::new(self.client().await?);
        let client = guard.client();
        let select = client.prepare_cached(&STATEMENTS.select_one).await.map_err(db)?;
        let row = client.query_opt(&select, &[&tenant.as_str(), &id.as_str()]).await.map_err(db)?;
        guard.finish();
        row.as_ref().map(customer_from_row).transpose()
    }

    async fn list_ids(&self, tenant: &TenantName, query: &ListQuery) -> Result<IdPage, StoreError> {
        let (filter, params) = POSTGRES.list_filter(tenant, query);
        let size = i64::from(query.size.max(1));
        let offset = i64::from(query.page) * size;
        let (page_sql, count_sql) = POSTGRES.list_statements(&filter, params.len(), query, "");

        let mut guard = Cancellable::new(self.client().await?);
        let page_statement = guard.client().prepare_cached(&page_sql).await.map_err(db)?;
        // The page and the count see one snapshot.
        let transaction = self.read_transaction(guard.client()).await?;
        let mut page_params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|param| param as &(dyn ToSql + Sync)).collect();
        page_params.push(&size);
        page_params.push(&offset);
        let rows = transaction
            .query(&page_statement, &page_params)
            .await
            .map_err(|e| self.read_error(e))?;
        let total = match total_from_page(offset, size, rows.len() as i64) {
            Some(total) => total,
            None => {
                let count_statement = transaction.prepare_cached(&count_sql).await.map_err(db)?;
                let row = transaction
                    .query_one(&count_statement, &page_params[..params.len()])
                    .await
                    .map_err(|e| self.read_error(e))?;
                row.try_get::<_, i64>(0).map_err(db)?
            }
        };
        transaction.commit().await.map_err(db)?;
        guard.finish();
        let ids = rows.iter().map(|row| row.try_get(0).map_err(db)).collect::<Result<_, _>>()?;
        Ok(IdPage { ids: parse_ids(ids)?, total_elements: u64::try_from(total).unwrap_or(0) })
    }

    async fn get_many(
        &self,
        tenant: &TenantName,
        ids: &[CustomerId],
    ) -> Result<Vec<Customer>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<&str> = ids.iter().map(CustomerId::as_str).collect();
        let mut guard = Cancellable::new(self.client().await?);
        let select = guard.client().prepare_cached(&STATEMENTS.select_many).await.map_err(db)?;
        let transaction = self.read_transaction(guard.client()).await?;
        let rows = transaction
            .query(&select, &[&tenant.as_str(), &wanted])
            .await
            .map_err(|e| self.read_error(e))?;
        transaction.commit().await.map_err(db)?;
        guard.finish();
        let found = rows.iter().map(customer_from_row).collect::<Result<_, _>>()?;
        Ok(in_order(ids, found))
    }

    async fn bulk_insert(
        &self,
        tenant: &TenantName,
        customers: Vec<SeedCustomer>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let insert = client.prepare_cached(&STATEMENTS.bulk_insert).await.map_err(db)?;
        let transaction = client.transaction().await.map_err(db)?;
        for chunk in customers.chunks(BULK_CHUNK) {
            // Column by column: the ids, one array per detail column, the creation times.
            let ids: Vec<&str> = chunk.iter().map(|customer| customer.id.as_str()).collect();
            let mut columns: Vec<Vec<Option<Cow<'_, str>>>> =
                DETAILS.iter().map(|_| Vec::with_capacity(chunk.len())).collect();
            for customer in chunk {
                for (column, value) in columns.iter_mut().zip(detail_values(&customer.details)) {
                    column.push(value);
                }
            }
            let creation: Vec<i64> = chunk.iter().map(|c| c.creation_timestamp).collect();
            let tenant_name = tenant.as_str();
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant_name, &ids];
            params.extend(columns.iter().map(|column| column as &(dyn ToSql + Sync)));
            params.push(&creation);
            transaction.execute(&insert, &params).await.map_err(|e| {
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    unavailable("bulk insert: duplicate customer id", with_causes(&e))
                } else {
                    db(e)
                }
            })?;
        }
        transaction.commit().await.map_err(db)
    }

    async fn record_access(&self, updates: &[AccessUpdate]) -> Result<u64, StoreError> {
        if updates.is_empty() {
            return Ok(0);
        }
        // Rows locked in key order, so that two replicas recording the same
        // customers cannot deadlock.
        let mut sorted: Vec<&AccessUpdate> = updates.iter().collect();
        sorted.sort_by(|a, b| (&a.tenant, &a.id).cmp(&(&b.tenant, &b.id)));
        let tenants: Vec<&str> = sorted.iter().map(|u| u.tenant.as_str()).collect();
        let ids: Vec<&str> = sorted.iter().map(|u| u.id.as_str()).collect();
        let firsts: Vec<i64> = sorted.iter().map(|u| u.first).collect();
        let lasts: Vec<i64> = sorted.iter().map(|u| u.last).collect();
        let client = self.client().await?;
        let record = client.prepare_cached(RECORD_ACCESS).await.map_err(db)?;
        client.execute(&record, &[&tenants, &ids, &firsts, &lasts]).await.map_err(db)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(db)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close();
        // Connections in use are dropped as they come back; wait for them.
        let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
        while self.pool.status().size > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// After a write that matched no row: whether the customer exists decides
/// (see [`Precondition::unmatched`]).
async fn unmatched(
    client: &deadpool_postgres::Object,
    tenant: &TenantName,
    id: &CustomerId,
    precondition: &Precondition,
) -> StoreError {
    let exists = async {
        let statement = client.prepare_cached(&STATEMENTS.exists).await?;
        client.query_opt(&statement, &[&tenant.as_str(), &id.as_str()]).await
    }
    .await;
    match exists {
        Ok(row) => precondition.unmatched(row.is_some()).into(),
        Err(error) => db(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PostgreSQL test URL, or `None` when it is not reachable (and
    /// `NETWORK_REQUIRE_POSTGRES` is not `1`).
    async fn test_url() -> Option<String> {
        let url = std::env::var("NETWORK_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let connect = tokio_postgres::connect(&url, NoTls);
        match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok(_)) => Some(url),
            _ if std::env::var("NETWORK_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
                panic!("PostgreSQL is required but not reachable at {url}")
            }
            _ => {
                eprintln!("SKIPPED: PostgreSQL not reachable at {url}");
                None
            }
        }
    }

    /// How many statements containing `marker` run (seen from a connection of its own).
    async fn running(monitor: &tokio_postgres::Client, marker: &str) -> i64 {
        let row = monitor
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 \
                 AND pid <> pg_backend_pid()",
                &[&format!("%{marker}%")],
            )
            .await
            .unwrap();
        row.get(0)
    }

    /// Issue 10: a read whose client went away ran on to completion on the
    /// server. Dropping a read's future mid-statement cancels the statement
    /// and keeps the connection out of the pool.
    #[tokio::test]
    async fn a_dropped_read_cancels_its_statement() {
        let Some(url) = test_url().await else { return };
        let schema = format!("cancel_{}", uuid::Uuid::new_v4().simple());
        let options =
            PostgresOptions { schema: Some(schema.clone()), pool_size: 2, statement_timeout: None };
        let store = PostgresStore::connect(&url, options).await.unwrap();
        let (monitor, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        let driver = tokio::spawn(connection);
        let marker = format!("marker_{}", uuid::Uuid::new_v4().simple());
        let sql = format!("SELECT pg_sleep(30), '{marker}'");
        let read = async {
            let mut guard = Cancellable::new(store.client().await?);
            guard.client().simple_query(&sql).await.map_err(db)?;
            guard.finish();
            Ok::<(), StoreError>(())
        };
        let mut read = Box::pin(read);
        assert!(tokio::time::timeout(Duration::from_millis(300), &mut read).await.is_err());
        assert_eq!(running(&monitor, &marker).await, 1, "the statement runs");
        drop(read);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while running(&monitor, &marker).await > 0 {
            assert!(tokio::time::Instant::now() < deadline, "the abandoned statement still runs");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(store.pool.status().size, 0, "the cancelled connection left the pool");
        monitor.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
        store.close().await;
        drop(monitor);
        let _ = driver.await;
    }
}
