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

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls, Row};

use super::{CustomerStore, IdPage, SeedCustomer, StoreError};
use crate::domain::{
    CountryCode, Customer, CustomerDraft, CustomerId, CustomerName, Direction, ListQuery,
    NameSearch, Precondition, Properties, SortField, TenantName, TimeZoneName, Version,
};

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

/// An error and its causes: tokio-postgres shows only "db error" or "error
/// connecting to server" at the top and keeps the useful part in `source()`.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

fn db(error: tokio_postgres::Error) -> StoreError {
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

const SELECT_COLUMNS: &str = "id, name, country, timezone, properties::text, creation_timestamp, \
     first_access_timestamp, last_access_timestamp, version";

const INSERT: &str = "INSERT INTO customers (tenant, id, name, country, timezone, properties, \
     creation_timestamp, first_access_timestamp, last_access_timestamp, version) \
     VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, NULL, NULL, 1)";

const UPDATE_UNCONDITIONAL: &str = "UPDATE customers \
     SET name = $3, country = $4, timezone = $5, properties = $6::text::jsonb, version = version + 1 \
     WHERE tenant = $1 AND id = $2 \
     RETURNING creation_timestamp, first_access_timestamp, last_access_timestamp, version";

const UPDATE_IF_VERSION: &str = "UPDATE customers \
     SET name = $3, country = $4, timezone = $5, properties = $6::text::jsonb, version = version + 1 \
     WHERE tenant = $1 AND id = $2 AND version = ANY($7::bigint[]) \
     RETURNING creation_timestamp, first_access_timestamp, last_access_timestamp, version";

const DELETE_UNCONDITIONAL: &str = "DELETE FROM customers WHERE tenant = $1 AND id = $2";

const DELETE_IF_VERSION: &str =
    "DELETE FROM customers WHERE tenant = $1 AND id = $2 AND version = ANY($3::bigint[])";

const EXISTS: &str = "SELECT 1 FROM customers WHERE tenant = $1 AND id = $2";

const BULK_INSERT: &str =
    "INSERT INTO customers (tenant, id, name, country, timezone, properties, \
     creation_timestamp, first_access_timestamp, last_access_timestamp, version) \
     SELECT $1, u.id, u.name, u.country, u.timezone, u.properties::jsonb, u.creation_timestamp, \
            NULL, NULL, 1 \
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) \
          AS u(id, name, country, timezone, properties, creation_timestamp)";

/// The versions of a precondition, or `None` when any version will do.
fn acceptable_versions(precondition: &Precondition) -> Option<Vec<i64>> {
    match precondition {
        Precondition::None | Precondition::Exists => None,
        Precondition::OneOf(versions) => Some(versions.iter().map(|v| v.0).collect()),
    }
}

fn properties_json(properties: &Properties) -> Result<String, StoreError> {
    serde_json::to_string(properties.as_map())
        .map_err(|e| unavailable("cannot encode properties", e))
}

fn insert_error(error: tokio_postgres::Error, id: &CustomerId) -> StoreError {
    if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        StoreError::Unavailable(format!(
            "a customer with id `{}` already exists in this tenant",
            id.as_str()
        ))
    } else {
        db(error)
    }
}

/// The domain values only have validating constructors: a row that no longer
/// validates is reported, naming the customer and the field.
fn customer_from_row(row: &Row) -> Result<Customer, StoreError> {
    let id: String = row.try_get(0).map_err(db)?;
    let corrupt = |error: crate::domain::ValidationError| {
        StoreError::Unavailable(format!("stored customer `{id}` is not valid: {error}"))
    };
    let name: String = row.try_get(1).map_err(db)?;
    let country: Option<String> = row.try_get(2).map_err(db)?;
    let timezone: Option<String> = row.try_get(3).map_err(db)?;
    let properties: String = row.try_get(4).map_err(db)?;
    let properties: BTreeMap<String, String> = serde_json::from_str(&properties).map_err(|e| {
        StoreError::Unavailable(format!("stored customer `{id}` has unreadable properties: {e}"))
    })?;
    Ok(Customer {
        id: CustomerId::parse(&id).map_err(corrupt)?,
        details: CustomerDraft {
            name: CustomerName::parse(&name).map_err(corrupt)?,
            country: country.as_deref().map(CountryCode::parse).transpose().map_err(corrupt)?,
            timezone: timezone.as_deref().map(TimeZoneName::parse).transpose().map_err(corrupt)?,
            properties: Properties::parse(properties).map_err(corrupt)?,
        },
        creation_timestamp: row.try_get(5).map_err(db)?,
        first_access_timestamp: row.try_get(6).map_err(db)?,
        last_access_timestamp: row.try_get(7).map_err(db)?,
        version: Version(row.try_get(8).map_err(db)?),
    })
}

type Param = Box<dyn ToSql + Sync + Send>;

/// The WHERE clause (always starting with the tenant) and its parameters.
fn list_filter(tenant: &TenantName, query: &ListQuery) -> (String, Vec<Param>) {
    let mut params: Vec<Param> = vec![Box::new(tenant.as_str().to_string())];
    let mut clauses = vec!["tenant = $1".to_string()];
    fn bind(params: &mut Vec<Param>, value: &str) -> usize {
        params.push(Box::new(value.to_string()));
        params.len()
    }
    if let Some(search) = &query.search {
        // Case-sensitive and literal: no LIKE wildcards involved.
        let clause = match search {
            NameSearch::StartsWith(text) => {
                let n = bind(&mut params, text);
                format!("left(name, char_length(${n}::text)) = ${n}::text")
            }
            NameSearch::Contains(text) => {
                let n = bind(&mut params, text);
                format!("strpos(name, ${n}::text) > 0")
            }
            NameSearch::EndsWith(text) => {
                let n = bind(&mut params, text);
                format!("right(name, char_length(${n}::text)) = ${n}::text")
            }
            NameSearch::Exactly(text) => {
                let n = bind(&mut params, text);
                format!("name = ${n}::text")
            }
        };
        clauses.push(clause);
    }
    if let Some(name) = &query.name_equals {
        let n = bind(&mut params, name);
        clauses.push(format!("name = ${n}::text"));
    }
    if let Some(country) = &query.country {
        let n = bind(&mut params, country);
        clauses.push(format!("country = ${n}::text"));
    }
    (clauses.join(" AND "), params)
}

/// ORDER BY from the whitelist of sort fields, the id ascending last. A
/// missing country sorts first ascending and last descending, as in SQLite.
fn order_by(sort: &[(SortField, Direction)]) -> String {
    let mut terms: Vec<String> = sort
        .iter()
        .map(|(field, direction)| {
            match (field, direction) {
                (SortField::Name, Direction::Asc) => "name ASC",
                (SortField::Name, Direction::Desc) => "name DESC",
                (SortField::Country, Direction::Asc) => "country ASC NULLS FIRST",
                (SortField::Country, Direction::Desc) => "country DESC NULLS LAST",
                (SortField::CreationTimestamp, Direction::Asc) => "creation_timestamp ASC",
                (SortField::CreationTimestamp, Direction::Desc) => "creation_timestamp DESC",
            }
            .to_string()
        })
        .collect();
    terms.push("id ASC".to_string());
    terms.join(", ")
}

fn as_params(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

#[async_trait]
impl CustomerStore for PostgresStore {
    async fn create(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
        details: &CustomerDraft,
        creation_timestamp: i64,
    ) -> Result<Customer, StoreError> {
        let properties = properties_json(&details.properties)?;
        let client = self.client().await?;
        let insert = client.prepare_cached(INSERT).await.map_err(db)?;
        client
            .execute(
                &insert,
                &[
                    &tenant.as_str(),
                    &id.as_str(),
                    &details.name.as_str(),
                    &details.country.as_ref().map(CountryCode::as_str),
                    &details.timezone.as_ref().map(TimeZoneName::as_str),
                    &properties,
                    &creation_timestamp,
                ],
            )
            .await
            .map_err(|e| insert_error(e, id))?;
        Ok(Customer {
            id: id.clone(),
            details: details.clone(),
            creation_timestamp,
            first_access_timestamp: None,
            last_access_timestamp: None,
            version: Version::FIRST,
        })
    }

    async fn get(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        let mut guard = Cancellable::new(self.client().await?);
        let client = guard.client();
        let select = client
            .prepare_cached(&format!(
                "SELECT {SELECT_COLUMNS} FROM customers WHERE tenant = $1 AND id = $2"
            ))
            .await
            .map_err(db)?;
        let row = client.query_opt(&select, &[&tenant.as_str(), &id.as_str()]).await.map_err(db)?;
        guard.finish();
        row.as_ref().map(customer_from_row).transpose()
    }

    async fn update(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
        details: &CustomerDraft,
        precondition: &Precondition,
    ) -> Result<Customer, StoreError> {
        let properties = properties_json(&details.properties)?;
        let versions = acceptable_versions(precondition);
        let client = self.client().await?;
        let sql = if versions.is_some() { UPDATE_IF_VERSION } else { UPDATE_UNCONDITIONAL };
        let update = client.prepare_cached(sql).await.map_err(db)?;
        let (tenant_name, id_text, name) = (tenant.as_str(), id.as_str(), details.name.as_str());
        let country = details.country.as_ref().map(CountryCode::as_str);
        let timezone = details.timezone.as_ref().map(TimeZoneName::as_str);
        let mut params: Vec<&(dyn ToSql + Sync)> =
            vec![&tenant_name, &id_text, &name, &country, &timezone, &properties];
        if let Some(versions) = &versions {
            params.push(versions);
        }
        let row = client.query_opt(&update, &params).await.map_err(db)?;
        match row {
            Some(row) => Ok(Customer {
                id: id.clone(),
                details: details.clone(),
                creation_timestamp: row.try_get(0).map_err(db)?,
                first_access_timestamp: row.try_get(1).map_err(db)?,
                last_access_timestamp: row.try_get(2).map_err(db)?,
                version: Version(row.try_get(3).map_err(db)?),
            }),
            None => Err(missing_or_changed(&client, tenant, id).await),
        }
    }

    async fn delete(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let deleted = match acceptable_versions(precondition) {
            None => {
                let delete = client.prepare_cached(DELETE_UNCONDITIONAL).await.map_err(db)?;
                client.execute(&delete, &[&tenant.as_str(), &id.as_str()]).await.map_err(db)?
            }
            Some(versions) => {
                let delete = client.prepare_cached(DELETE_IF_VERSION).await.map_err(db)?;
                client
                    .execute(&delete, &[&tenant.as_str(), &id.as_str(), &versions])
                    .await
                    .map_err(db)?
            }
        };
        if deleted == 0 {
            return Err(missing_or_changed(&client, tenant, id).await);
        }
        Ok(())
    }

    async fn list_ids(&self, tenant: &TenantName, query: &ListQuery) -> Result<IdPage, StoreError> {
        let (filter, mut params) = list_filter(tenant, query);
        let size = i64::from(query.size.max(1));
        let offset = i64::from(query.page) * size;
        let n = params.len();
        let page_sql = format!(
            "SELECT id FROM customers WHERE {filter} ORDER BY {} LIMIT ${} OFFSET ${}",
            order_by(&query.sort),
            n + 1,
            n + 2
        );
        let count_sql = format!("SELECT count(*) FROM customers WHERE {filter}");

        let mut guard = Cancellable::new(self.client().await?);
        let page_statement = guard.client().prepare_cached(&page_sql).await.map_err(db)?;
        // The page and the count see one snapshot.
        let transaction = self.read_transaction(guard.client()).await?;
        params.push(Box::new(size));
        params.push(Box::new(offset));
        let rows = transaction
            .query(&page_statement, &as_params(&params))
            .await
            .map_err(|e| self.read_error(e))?;
        let returned = rows.len() as i64;
        // A short, non-empty page (or an empty first page) tells the total by itself.
        let total = if (returned > 0 && returned < size) || (returned == 0 && offset == 0) {
            offset + returned
        } else {
            params.truncate(n);
            let count_statement = transaction.prepare_cached(&count_sql).await.map_err(db)?;
            let row = transaction
                .query_one(&count_statement, &as_params(&params))
                .await
                .map_err(|e| self.read_error(e))?;
            row.try_get::<_, i64>(0).map_err(db)?
        };
        transaction.commit().await.map_err(db)?;
        guard.finish();
        let ids = rows
            .iter()
            .map(|row| {
                let id: String = row.try_get(0).map_err(db)?;
                CustomerId::parse(&id).map_err(|error| {
                    StoreError::Unavailable(format!("stored customer `{id}` is not valid: {error}"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(IdPage { ids, total_elements: u64::try_from(total).unwrap_or(0) })
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
        let select = guard
            .client()
            .prepare_cached(&format!(
                "SELECT {SELECT_COLUMNS} FROM customers WHERE tenant = $1 AND id = ANY($2::text[])"
            ))
            .await
            .map_err(db)?;
        let transaction = self.read_transaction(guard.client()).await?;
        let rows = transaction
            .query(&select, &[&tenant.as_str(), &wanted])
            .await
            .map_err(|e| self.read_error(e))?;
        transaction.commit().await.map_err(db)?;
        guard.finish();
        let mut found: BTreeMap<String, Customer> = BTreeMap::new();
        for row in &rows {
            let customer = customer_from_row(row)?;
            found.insert(customer.id.as_str().to_string(), customer);
        }
        Ok(ids.iter().filter_map(|id| found.remove(id.as_str())).collect())
    }

    async fn bulk_insert(
        &self,
        tenant: &TenantName,
        customers: Vec<SeedCustomer>,
    ) -> Result<(), StoreError> {
        if customers.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let insert = client.prepare_cached(BULK_INSERT).await.map_err(db)?;
        let transaction = client.transaction().await.map_err(db)?;
        for chunk in customers.chunks(BULK_CHUNK) {
            let mut ids = Vec::with_capacity(chunk.len());
            let mut names = Vec::with_capacity(chunk.len());
            let mut countries = Vec::with_capacity(chunk.len());
            let mut timezones = Vec::with_capacity(chunk.len());
            let mut properties = Vec::with_capacity(chunk.len());
            let mut creation = Vec::with_capacity(chunk.len());
            for customer in chunk {
                let details = &customer.details;
                ids.push(customer.id.as_str());
                names.push(details.name.as_str());
                countries.push(details.country.as_ref().map(CountryCode::as_str));
                timezones.push(details.timezone.as_ref().map(TimeZoneName::as_str));
                properties.push(properties_json(&details.properties)?);
                creation.push(customer.creation_timestamp);
            }
            transaction
                .execute(
                    &insert,
                    &[
                        &tenant.as_str(),
                        &ids,
                        &names,
                        &countries,
                        &timezones,
                        &properties,
                        &creation,
                    ],
                )
                .await
                .map_err(|e| {
                    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                        unavailable("bulk insert: duplicate customer id", with_causes(&e))
                    } else {
                        db(e)
                    }
                })?;
        }
        transaction.commit().await.map_err(db)
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

/// After a write that matched no row: 404 if the customer is absent, else 412.
async fn missing_or_changed(
    client: &deadpool_postgres::Object,
    tenant: &TenantName,
    id: &CustomerId,
) -> StoreError {
    let exists = async {
        let statement = client.prepare_cached(EXISTS).await?;
        client.query_opt(&statement, &[&tenant.as_str(), &id.as_str()]).await
    }
    .await;
    match exists {
        Ok(Some(_)) => StoreError::PreconditionFailed,
        Ok(None) => StoreError::NotFound,
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
