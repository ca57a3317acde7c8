//! The embedded store: SQLite in one file, WAL, `synchronous=FULL`.
//!
//! # Writes: one writer thread, group commit
//!
//! Every write (create, update, delete, bulk insert) is a job sent over a
//! channel to ONE dedicated thread that owns the only read-write connection.
//! With group commit on (the default), the writer takes the first job, drains
//! every job already queued (at most [`SqliteOptions::max_batch`], default
//! [`DEFAULT_MAX_BATCH`]), runs them all in one `BEGIN IMMEDIATE` transaction
//! (a job that fails, e.g. not found or precondition failed, changes nothing
//! while the others still commit: a create, update or delete writes with one
//! statement, which SQLite applies whole or not at all, and recording access,
//! several statements, runs inside its own `SAVEPOINT`), then `COMMIT`s once
//! (one fsync for the whole batch) and only then answers every job. If `BEGIN` or `COMMIT`
//! fails, every job of the batch gets [`StoreError::Unavailable`]. With group
//! commit off, every job gets its own transaction (one fsync per request).
//!
//! A bulk insert is never batched with other jobs: it runs alone, in
//! transactions of [`BULK_CHUNK`] rows.
//!
//! # Reads: a small pool of read-only connections
//!
//! `get`, `list` and `ping` borrow one of a few read-only connections (WAL
//! lets them read while the writer writes) on tokio's blocking threads. A
//! list reads its page's ids and its count in one read transaction (one
//! snapshot), then the customers by id in small batches.
//!
//! Every read installs a progress handler on its connection that stops the
//! statement (SQLite's interrupt) when the read's future has been dropped (the
//! request was cancelled because its client went away) or, for list reads,
//! when [`SqliteOptions::query_timeout`] has passed ([`StoreError::Timeout`]).
//! Writes are not cancelled: a job sent to the writer completes (and is
//! durable) even if its caller went away, exactly as before.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, LazyLock, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use tokio::sync::{oneshot, Semaphore};

use super::schema::{
    created_customer, customer_from_row, detail_value, detail_values, duplicate_id, in_order,
    parse_ids, total_from_page, written_managed, DETAILS,
};
use super::sql::SQLITE;
use super::{AccessUpdate, CustomerStore, IdPage, SeedCustomer, StoreError, Write};
use crate::domain::{
    Customer, CustomerDraft, CustomerId, ListQuery, NameSearch, Precondition, SortField, TenantName,
};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// The default cap on the number of jobs committed in one transaction.
pub const DEFAULT_MAX_BATCH: usize = 256;
/// Rows per transaction in [`CustomerStore::bulk_insert`] (1,000,000 random-id
/// rows: about 26 s with 50,000, 21 s with 100,000 on a 2-core VM, release build).
pub const BULK_CHUNK: usize = 100_000;

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Commit concurrent writes together (one fsync per batch). When false,
    /// every write is its own transaction (one fsync per write).
    pub group_commit: bool,
    /// At most this many jobs per group commit (at least 1).
    pub max_batch: usize,
    /// How many read-only connections serve `get`, `list` and `ping` (at least 1).
    pub read_connections: usize,
    /// How long a connection waits for a lock held by another connection.
    pub busy_timeout: Duration,
    /// The longest a list query may run before it is interrupted
    /// ([`StoreError::Timeout`]); `None`: no limit.
    pub query_timeout: Option<Duration>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            group_commit: true,
            max_batch: DEFAULT_MAX_BATCH,
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
            query_timeout: None,
        }
    }
}

/// What the writer thread has done so far (for metrics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed for request jobs (bulk inserts not counted).
    pub transactions: u64,
    /// Request jobs (create, update, delete) those transactions carried.
    pub jobs: u64,
    /// The most jobs ever committed in one transaction.
    pub largest_batch: u64,
}

#[derive(Default)]
struct StatsCounters {
    transactions: AtomicU64,
    jobs: AtomicU64,
    largest_batch: AtomicU64,
}

/// The SQLite implementation of [`CustomerStore`]. See the module documentation.
pub struct SqliteStore {
    path: PathBuf,
    writer: RwLock<Option<Writer>>,
    readers: Arc<ReaderPool>,
    stats: Arc<StatsCounters>,
    close_lock: tokio::sync::Mutex<()>,
    query_timeout: Option<Duration>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

struct Writer {
    sender: mpsc::Sender<Job>,
    thread: JoinHandle<()>,
}

struct ReaderPool {
    path: PathBuf,
    busy_timeout: Duration,
    size: u32,
    connections: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, switches it to
    /// WAL with `synchronous=FULL`, runs the embedded migrations and starts
    /// the writer thread. The parent directory must exist.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let max_batch = options.max_batch.max(1);
        let read_connections = options.read_connections.clamp(1, 64);
        let mut connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| unavailable(&format!("cannot open {}", path.display()), e))?;
        configure_writer(&connection, options.busy_timeout)
            .map_err(|e| unavailable(&format!("cannot configure {}", path.display()), e))?;
        register_fold(&connection)
            .map_err(|e| unavailable("cannot register the name folding function", e))?;
        embedded::migrations::runner()
            .run(&mut connection)
            .map_err(|e| unavailable("migrating the SQLite database failed", e))?;

        let readers = (0..read_connections)
            .map(|_| open_reader(path, options.busy_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        let readers = Arc::new(ReaderPool {
            path: path.to_path_buf(),
            busy_timeout: options.busy_timeout,
            size: read_connections as u32,
            connections: Mutex::new(readers),
            permits: Arc::new(Semaphore::new(read_connections)),
        });

        let stats = Arc::new(StatsCounters::default());
        let (sender, receiver) = mpsc::channel();
        let cap = if options.group_commit { max_batch } else { 1 };
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(connection, receiver, cap, &thread_stats))
            .map_err(|e| unavailable("cannot start the SQLite writer thread", e))?;

        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: RwLock::new(Some(Writer { sender, thread })),
            readers,
            stats,
            close_lock: tokio::sync::Mutex::new(()),
            query_timeout: options.query_timeout,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the writer has committed so far.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            transactions: self.stats.transactions.load(Ordering::Relaxed),
            jobs: self.stats.jobs.load(Ordering::Relaxed),
            largest_batch: self.stats.largest_batch.load(Ordering::Relaxed),
        }
    }

    async fn write_job(&self, op: WriteOp) -> Result<Outcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let writer = self.writer.read().unwrap_or_else(PoisonError::into_inner);
            let Some(writer) = writer.as_ref() else { return Err(closed()) };
            writer.sender.send(Job { op, reply }).map_err(|_| writer_stopped())?;
        }
        answer.await.map_err(|_| writer_stopped())?
    }

    /// Runs `work` on a pooled read connection, stopped if this future is
    /// dropped or (with `limit`) once `limit` has passed.
    async fn read<T, F>(&self, limit: Option<Duration>, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self.readers.permits.clone().acquire_owned().await.map_err(|_| closed())?;
        let readers = self.readers.clone();
        // Set when this future completes or is dropped: a statement still
        // running then is abandoned (its result has nobody to go to).
        let abandoned = Arc::new(AtomicBool::new(false));
        let _abandon_on_drop = SetOnDrop(abandoned.clone());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if abandoned.load(Ordering::Relaxed) {
                return Err(unavailable("SQLite", "the read was cancelled"));
            }
            let pooled = readers.connections.lock().unwrap_or_else(PoisonError::into_inner).pop();
            // A connection is missing only if an earlier read panicked: replace it.
            let mut connection = match pooled {
                Some(connection) => connection,
                None => open_reader(&readers.path, readers.busy_timeout)?,
            };
            let deadline = limit.map(|limit| Instant::now() + limit);
            let watched = abandoned.clone();
            let stop = move || {
                watched.load(Ordering::Relaxed)
                    || deadline.is_some_and(|deadline| Instant::now() >= deadline)
            };
            let result = connection
                .progress_handler(PROGRESS_OPS, Some(stop))
                .map_err(db)
                .and_then(|()| work(&mut connection));
            let _ = connection.progress_handler(0, None::<fn() -> bool>);
            readers.connections.lock().unwrap_or_else(PoisonError::into_inner).push(connection);
            match (result, limit) {
                // `db` reports an interrupted statement as a timeout without its limit.
                (Err(StoreError::Timeout { .. }), Some(limit))
                    if !abandoned.load(Ordering::Relaxed) =>
                {
                    Err(StoreError::Timeout { limit })
                }
                (Err(StoreError::Timeout { .. }), _) => {
                    Err(unavailable("SQLite", "the read was cancelled"))
                }
                (result, _) => result,
            }
        })
        .await
        .map_err(|e| unavailable("the SQLite read task failed", e))?
    }
}

/// How many SQLite virtual-machine instructions run between two checks of a
/// read's cancellation and deadline (a few microseconds of work).
const PROGRESS_OPS: std::ffi::c_int = 1000;

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn configure_writer(connection: &Connection, busy_timeout: Duration) -> Result<(), String> {
    let sqlite = |e: rusqlite::Error| e.to_string();
    connection.busy_timeout(busy_timeout).map_err(sqlite)?;
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("the database refused WAL mode (journal_mode is {mode})"));
    }
    // FULL: in WAL mode the log is synced at every commit, so an acknowledged
    // write survives a crash or a power loss. (The bundled SQLite syncs with
    // fdatasync: `HAVE_FDATASYNC` in `.cargo/config.toml`.)
    connection.pragma_update(None, "synchronous", 2).map_err(sqlite)?;
    let synchronous: i64 =
        connection.pragma_query_value(None, "synchronous", |row| row.get(0)).map_err(sqlite)?;
    if synchronous != 2 {
        return Err(format!("the database refused synchronous=FULL (got {synchronous})"));
    }
    // A 32 MiB page cache (default: 2 MiB) keeps the indexes' hot pages in
    // memory: random ids make every insert touch a random primary-key page.
    // Not more: at 1,000,000 customers under load, 64 MiB put the server's
    // peak RSS at 108 MiB; pages beyond the cache come from the OS page cache.
    connection.pragma_update(None, "cache_size", -32 * 1024).map_err(sqlite)?;
    // Truncate the log back to 64 MiB after checkpoints (bulk inserts grow it).
    connection.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024).map_err(sqlite)?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// `network_fold(text)`: [`crate::domain::fold`] as an SQL function of the
/// writing connection, so that every write (and the V3 migration, for the
/// rows already there) stores the name's folded form computed in Rust.
fn register_fold(connection: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    connection.create_scalar_function(
        "network_fold",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |context| Ok(crate::domain::fold(&context.get::<String>(0)?)),
    )
}

fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| unavailable(&format!("cannot open {} for reading", path.display()), e))?;
    connection
        .busy_timeout(busy_timeout)
        .map_err(|e| unavailable("cannot configure a reader", e))?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

fn unavailable(context: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{context}: {error}"))
}

fn closed() -> StoreError {
    StoreError::Unavailable("the SQLite store is closed".into())
}

fn writer_stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer has stopped".into())
}

/// A statement stopped by the progress handler comes back as a
/// [`StoreError::Timeout`] with a zero limit; `SqliteStore::read` tells a
/// timeout (and its limit) from a cancellation.
pub(super) fn db(error: rusqlite::Error) -> StoreError {
    if error.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) {
        return StoreError::Timeout { limit: Duration::ZERO };
    }
    unavailable("SQLite", error)
}

// ---------------------------------------------------------------------------
// The writer thread.

enum WriteOp {
    One {
        tenant: TenantName,
        write: Write,
    },
    BulkInsert {
        tenant: TenantName,
        customers: Vec<SeedCustomer>,
    },
    /// Logins to record as access timestamps (issue 13), in the group commit.
    RecordAccess {
        updates: Vec<AccessUpdate>,
    },
}

/// What a job did.
enum Outcome {
    /// The customer written (create, update) or nothing (delete, bulk insert).
    Written(Option<Customer>),
    /// How many rows changed (recording access).
    Changed(u64),
}

/// Where a job's outcome goes.
type Reply = oneshot::Sender<Result<Outcome, StoreError>>;

struct Job {
    op: WriteOp,
    reply: Reply,
}

impl Job {
    fn is_bulk(&self) -> bool {
        matches!(self.op, WriteOp::BulkInsert { .. })
    }
}

fn answer(reply: Reply, result: Result<Outcome, StoreError>) {
    // The caller may have gone away (request cancelled): nothing to do then.
    let _ = reply.send(result);
}

/// Runs until every sender is gone and the queue is empty.
fn run_writer(
    connection: Connection,
    jobs: mpsc::Receiver<Job>,
    cap: usize,
    stats: &StatsCounters,
) {
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        if first.is_bulk() {
            let WriteOp::BulkInsert { tenant, customers } = &first.op else { unreachable!() };
            let result =
                bulk_insert(&connection, tenant, customers).map(|()| Outcome::Written(None));
            answer(first.reply, result);
            continue;
        }
        let mut batch = vec![first];
        while batch.len() < cap {
            match jobs.try_recv() {
                Ok(job) if job.is_bulk() => {
                    carried = Some(job);
                    break;
                }
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&connection, batch, stats);
    }
    // The connection closes here; the last connection to close checkpoints the WAL.
}

/// One transaction for the whole batch, replies after COMMIT. A job that
/// fails changes nothing while the others still commit (see [`run_job`]).
fn run_batch(connection: &Connection, batch: Vec<Job>, stats: &StatsCounters) {
    // Each job's operation is consumed by its run (the written draft moves
    // into the customer it returns); the replies wait for the commit.
    let (ops, replies): (Vec<WriteOp>, Vec<Reply>) =
        batch.into_iter().map(|job| (job.op, job.reply)).unzip();
    let fail_all = |replies: Vec<Reply>, why: String| {
        for reply in replies {
            answer(reply, Err(StoreError::Unavailable(why.clone())));
        }
    };
    if let Err(error) = execute(connection, "BEGIN IMMEDIATE") {
        return fail_all(replies, format!("SQLite: cannot begin a transaction: {error}"));
    }
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        match run_job(connection, op) {
            Ok(result) => results.push(result),
            Err(error) => {
                // The transaction is in an unknown state: give it all up.
                if !connection.is_autocommit() {
                    let _ = execute(connection, "ROLLBACK");
                }
                return fail_all(replies, format!("SQLite: the transaction failed: {error}"));
            }
        }
        if connection.is_autocommit() {
            // SQLite rolled the whole transaction back by itself (e.g. disk full).
            return fail_all(replies, "SQLite rolled the transaction back".into());
        }
    }
    if let Err(error) = execute(connection, "COMMIT") {
        if !connection.is_autocommit() {
            let _ = execute(connection, "ROLLBACK");
        }
        return fail_all(replies, format!("SQLite: commit failed: {error}"));
    }
    let size = replies.len() as u64;
    stats.transactions.fetch_add(1, Ordering::Relaxed);
    stats.jobs.fetch_add(size, Ordering::Relaxed);
    stats.largest_batch.fetch_max(size, Ordering::Relaxed);
    for (reply, result) in replies.into_iter().zip(results) {
        answer(reply, result);
    }
}

fn execute(connection: &Connection, sql: &str) -> rusqlite::Result<usize> {
    connection.prepare_cached(sql)?.execute([])
}

/// Runs one job. The outer error means the transaction itself failed (the
/// batch must be abandoned); the inner result is the job's own outcome, and
/// when it is an error the job changed nothing. A create, update or delete
/// writes with ONE statement, which SQLite applies whole or not at all
/// (a failed statement is rolled back by itself, or the whole transaction
/// is, which `run_batch` sees), and nothing after it can fail (an update's
/// read-back of what it wrote can, and then rolls the whole transaction
/// back, see [`update`]), so it needs no savepoint: a savepoint per job cost
/// two more statements and a copy of every page the job dirtied into the
/// statement journal. Recording access runs one statement per login, so it
/// runs inside its own savepoint.
fn run_job(connection: &Connection, op: WriteOp) -> rusqlite::Result<Result<Outcome, StoreError>> {
    if !matches!(op, WriteOp::RecordAccess { .. }) {
        return Ok(apply(connection, op));
    }
    execute(connection, "SAVEPOINT job")?;
    let result = apply(connection, op);
    if result.is_err() {
        execute(connection, "ROLLBACK TO job")?;
    }
    execute(connection, "RELEASE job")?;
    Ok(result)
}

/// The statements of the writer, built once from the column description.
struct Statements {
    insert: String,
    /// The indexed details a customer has now (read before an update, in
    /// the writing transaction).
    indexed_now: String,
    /// See [`Statements::update`].
    updates: Vec<String>,
    /// The update of a customer whose indexed columns keep their values,
    /// only where they do (without and with the version condition).
    update_keeping_indexed: [String; 2],
    delete: [String; 2],
    exists: String,
    /// The managed columns of the customer an update just wrote.
    select_managed: String,
    /// The positions in [`DETAILS`] of the indexed columns.
    indexed: Vec<usize>,
}

static STATEMENTS: LazyLock<Statements> = LazyLock::new(|| {
    let indexed: Vec<usize> = (0..DETAILS.len()).filter(|&i| DETAILS[i].indexed).collect();
    let names: Vec<&str> = indexed.iter().map(|&i| DETAILS[i].name).collect();
    let updates = (0..1usize << (indexed.len() + 1))
        .map(|bits| {
            let set = |i: usize| match indexed.iter().position(|&column| column == i) {
                Some(bit) => bits & (1 << bit) != 0,
                None => true,
            };
            SQLITE.update(set, bits & (1 << indexed.len()) != 0)
        })
        .collect();
    let keeping = |if_version| {
        let column = |i: usize| &DETAILS[i];
        SQLITE.update_keeping(
            |i| !column(i).indexed,
            |i| column(i).indexed && !column(i).derived(),
            if_version,
        )
    };
    Statements {
        update_keeping_indexed: [keeping(false), keeping(true)],
        insert: SQLITE.insert(),
        indexed_now: SQLITE.select_by_id(&names.join(", ")),
        updates,
        delete: [SQLITE.delete(false), SQLITE.delete(true)],
        exists: SQLITE.exists(),
        select_managed: SQLITE.select_managed(),
        indexed,
    }
});

impl Statements {
    /// The `UPDATE` for a customer. The indexed columns (`name`, `country`):
    /// an UPDATE that sets them rewrites their index entries even when the
    /// value is the same (two more B-tree pages dirtied, written to the WAL
    /// and fsync'd), so they are set only when `changed` says they change
    /// (bit `b`: the `b`-th indexed column). With `if_version`, the version
    /// must be one of the JSON array parameter. Every variant is built once.
    fn update(&self, changed: usize, if_version: bool) -> &str {
        &self.updates[changed | usize::from(if_version) << self.indexed.len()]
    }
}

/// The acceptable versions as the JSON array SQLite's `json_each` reads.
fn versions_json(versions: &[i64]) -> String {
    let list: Vec<String> = versions.iter().map(i64::to_string).collect();
    format!("[{}]", list.join(","))
}

/// Issue 13: widens the access timestamps, only when that changes them.
const RECORD_ACCESS: &str = "UPDATE customers SET \
     first_access_timestamp = min(coalesce(first_access_timestamp, ?3), ?3), \
     last_access_timestamp = max(coalesce(last_access_timestamp, ?4), ?4), \
     version = version + 1 \
     WHERE tenant = ?1 AND id = ?2 \
     AND (first_access_timestamp IS NULL OR first_access_timestamp > ?3 \
          OR last_access_timestamp IS NULL OR last_access_timestamp < ?4)";

/// Tenant, id and the draft's values: the parameters every write starts with.
fn write_params<'a>(
    tenant: &'a TenantName,
    id: &'a CustomerId,
    values: &'a [Option<Cow<'a, str>>],
) -> Vec<ToSqlOutput<'a>> {
    let mut params = vec![ToSqlOutput::from(tenant.as_str()), ToSqlOutput::from(id.as_str())];
    params.extend(
        values.iter().map(|value| {
            value.as_deref().map_or(ToSqlOutput::Owned(Value::Null), ToSqlOutput::from)
        }),
    );
    params
}

fn apply(connection: &Connection, op: WriteOp) -> Result<Outcome, StoreError> {
    let (tenant, write) = match op {
        WriteOp::One { tenant, write } => (tenant, write),
        WriteOp::RecordAccess { updates } => return record_access(connection, &updates),
        WriteOp::BulkInsert { .. } => {
            return Err(StoreError::Unavailable("a bulk insert cannot join a batch".into()))
        }
    };
    match write {
        Write::Create { id, details, creation_timestamp } => {
            create(connection, &tenant, id, details, creation_timestamp).map(Some)
        }
        Write::Update { id, details, precondition } => {
            update(connection, &tenant, id, details, &precondition).map(Some)
        }
        Write::Delete { id, precondition } => {
            delete(connection, &tenant, &id, &precondition).map(|()| None)
        }
    }
    .map(Outcome::Written)
}

/// Widens the access timestamps of each update's customer (one statement each).
fn record_access(connection: &Connection, updates: &[AccessUpdate]) -> Result<Outcome, StoreError> {
    let mut record = connection.prepare_cached(RECORD_ACCESS).map_err(db)?;
    let mut changed = 0u64;
    for update in updates {
        changed += record
            .execute(params![update.tenant.as_str(), update.id.as_str(), update.first, update.last])
            .map_err(db)? as u64;
    }
    Ok(Outcome::Changed(changed))
}

fn create(
    connection: &Connection,
    tenant: &TenantName,
    id: CustomerId,
    details: CustomerDraft,
    creation_timestamp: i64,
) -> Result<Customer, StoreError> {
    {
        let values = detail_values(&details);
        let mut params = write_params(tenant, &id, &values);
        params.push(ToSqlOutput::from(creation_timestamp));
        connection
            .prepare_cached(&STATEMENTS.insert)
            .and_then(|mut insert| insert.execute(params_from_iter(&params)))
            .map_err(|e| insert_error(e, &id))?;
    }
    Ok(created_customer(id, details, creation_timestamp))
}

/// An update in one `UPDATE` when the indexed columns keep their values
/// (the usual update: new properties or time zone, the same name and
/// country), else in two statements: read the indexed columns, then set only
/// those that change (see [`Statements::update`]). Either way, a row written
/// is then read back for its managed columns (no `RETURNING` in SQLite:
/// `sql::Dialect::update_returns`).
fn update(
    connection: &Connection,
    tenant: &TenantName,
    id: CustomerId,
    details: CustomerDraft,
    precondition: &Precondition,
) -> Result<Customer, StoreError> {
    // The draft's values, except the derived ones (the folded name): they
    // change only with their source and are computed only then. A value not
    // computed is bound as NULL, which no statement using it reads.
    let mut values: Vec<Option<Cow<'_, str>>> = (0..DETAILS.len())
        .map(|i| if DETAILS[i].derived() { None } else { detail_value(&details, i) })
        .collect();
    let versions = precondition.acceptable_versions().map(|versions| versions_json(&versions));
    let if_version = versions.is_some();
    let run = |sql: &str, values: &[Option<Cow<'_, str>>]| {
        let mut update = connection.prepare_cached(sql)?;
        let mut params = write_params(tenant, &id, values);
        if let Some(versions) = &versions {
            params.push(ToSqlOutput::from(versions.as_str()));
        }
        // SQLite counts parameters up to the last one the statement names: a
        // trailing column it does not name (`name_folded`) takes none.
        params.truncate(update.parameter_count());
        if update.execute(params_from_iter(&params))? == 0 {
            return Ok(None);
        }
        // No RETURNING (see `Dialect::update_returns`): the row just written,
        // read in the same transaction.
        let read_back =
            connection.prepare_cached(&STATEMENTS.select_managed).and_then(|mut select| {
                select.query_row(params![tenant.as_str(), id.as_str()], |row| {
                    Ok(written_managed(row, &id))
                })
            });
        if read_back.is_err() && !connection.is_autocommit() {
            // Written but not read back: give the whole transaction up, so
            // that this failed job changed nothing (`run_batch` sees the
            // rollback and fails the batch, as when SQLite rolls back).
            let _ = execute(connection, "ROLLBACK");
        }
        read_back.map(Some)
    };
    let kept = &STATEMENTS.update_keeping_indexed[usize::from(if_version)];
    if let Some(managed) = run(kept, &values).map_err(db)? {
        return Ok(managed?.customer(id, details));
    }

    // Not found, refused by the precondition, or an indexed column changes.
    let indexed = &STATEMENTS.indexed;
    let indexed_now = connection
        .prepare_cached(&STATEMENTS.indexed_now)
        .and_then(|mut select| {
            select
                .query_row(params![tenant.as_str(), id.as_str()], |row| {
                    (0..indexed.len()).map(|i| row.get::<_, Option<String>>(i)).collect()
                })
                .optional()
        })
        .map_err(db)?;
    let Some(now): Option<Vec<Option<String>>> = indexed_now else {
        return Err(precondition.unmatched(false).into());
    };
    // The indexed columns that change, by bit: first the draft's own, then
    // those derived from another column, which change with their source.
    let mut changed = 0;
    for (bit, &column) in indexed.iter().enumerate() {
        if !DETAILS[column].derived() && now[bit].as_deref() != values[column].as_deref() {
            changed |= 1 << bit;
        }
    }
    let mut derived_changes = 0;
    for (column, detail) in DETAILS.iter().enumerate() {
        let Some(source) = detail.derived_from else { continue };
        let source_bit = indexed.iter().position(|&i| i == source);
        if source_bit.is_none_or(|bit| changed & (1 << bit) != 0) {
            values[column] = detail_value(&details, column);
            if let Some(bit) = indexed.iter().position(|&i| i == column) {
                derived_changes |= 1 << bit;
            }
        }
    }
    changed |= derived_changes;
    match run(STATEMENTS.update(changed, if_version), &values).map_err(db)? {
        Some(managed) => Ok(managed?.customer(id, details)),
        // The customer was read above in this transaction: it exists, so
        // only the version condition can have failed.
        None => Err(precondition.unmatched(true).into()),
    }
}

fn delete(
    connection: &Connection,
    tenant: &TenantName,
    id: &CustomerId,
    precondition: &Precondition,
) -> Result<(), StoreError> {
    let versions = precondition.acceptable_versions().map(|versions| versions_json(&versions));
    let deleted = connection
        .prepare_cached(&STATEMENTS.delete[usize::from(versions.is_some())])
        .and_then(|mut delete| match &versions {
            None => delete.execute(params![tenant.as_str(), id.as_str()]),
            Some(versions) => delete.execute(params![tenant.as_str(), id.as_str(), versions]),
        })
        .map_err(db)?;
    if deleted == 0 {
        let exists = connection
            .prepare_cached(&STATEMENTS.exists)
            .and_then(|mut exists| {
                exists.query_row(params![tenant.as_str(), id.as_str()], |_| Ok(())).optional()
            })
            .map_err(db)?;
        return Err(precondition.unmatched(exists.is_some()).into());
    }
    Ok(())
}

fn insert_error(error: rusqlite::Error, id: &CustomerId) -> StoreError {
    if error.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
        duplicate_id(id)
    } else {
        db(error)
    }
}

/// Inserts in transactions of [`BULK_CHUNK`] rows with one prepared statement.
/// On failure the chunks already committed stay (this is for seeding only).
fn bulk_insert(
    connection: &Connection,
    tenant: &TenantName,
    customers: &[SeedCustomer],
) -> Result<(), StoreError> {
    for chunk in customers.chunks(BULK_CHUNK) {
        // Inserting in key order keeps the primary-key pages being written
        // together (random ids otherwise touch a random page per row).
        let mut sorted: Vec<&SeedCustomer> = chunk.iter().collect();
        sorted.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        execute(connection, "BEGIN IMMEDIATE").map_err(db)?;
        let inserted = (|| {
            let mut insert = connection.prepare_cached(&STATEMENTS.insert).map_err(db)?;
            for customer in sorted {
                let values = detail_values(&customer.details);
                let mut params = write_params(tenant, &customer.id, &values);
                params.push(ToSqlOutput::from(customer.creation_timestamp));
                insert
                    .execute(params_from_iter(&params))
                    .map_err(|e| insert_error(e, &customer.id))?;
            }
            Ok(())
        })();
        let committed = inserted.and_then(|()| execute(connection, "COMMIT").map_err(db));
        if let Err(error) = committed {
            if !connection.is_autocommit() {
                let _ = execute(connection, "ROLLBACK");
            }
            return Err(error);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reads.

/// `get`'s statement.
static SELECT_ONE: LazyLock<String> = LazyLock::new(|| SQLITE.select_one());

/// The index a sorted list reads: the first sort field's (each also carries
/// the other sort fields, see `V2__covering_sort_indexes.sql`). Without
/// statistics SQLite 3.54 would rather sort the whole tenant read from the
/// smallest covering index (2.3 s for page 90 of `name,DESC&country,ASC` at
/// 1,000,000 customers, 84 ms through `customers_by_name_covering`). An
/// exact filter on the name or the country, or a `searchText` prefix or
/// exact text, is left to the planner: it finds the matching rows faster
/// through their own index (`customers_by_name_folded` for the search).
/// An infix or suffix search reads its index instead ([`scan_index`]).
fn sort_index(query: &ListQuery) -> &'static str {
    if let Some(index) = scan_index(query) {
        return index;
    }
    let exact = query.name_equals.is_some()
        || query.country.is_some()
        || matches!(query.search, Some(NameSearch::Exactly(_) | NameSearch::StartsWith(_)));
    match query.sort.first() {
        Some((field, _)) if !exact => match field {
            SortField::Name => " INDEXED BY customers_by_name_covering",
            SortField::Country => " INDEXED BY customers_by_country_covering",
            SortField::CreationTimestamp => " INDEXED BY customers_by_creation_covering",
        },
        _ => "",
    }
}

/// An infix or suffix `searchText` (without an exact filter) reads every
/// row of the tenant: through `customers_by_name_folded`, which holds the
/// folded name and the id, so that the scan (and the count) never visits
/// the table; by default SQLite scanned the primary key and read each row
/// (1.4 s at 1,000,000 customers, BENCHMARKS.md).
fn scan_index(query: &ListQuery) -> Option<&'static str> {
    let scan = matches!(query.search, Some(NameSearch::Contains(_) | NameSearch::EndsWith(_)));
    (scan && query.name_equals.is_none() && query.country.is_none())
        .then_some(" INDEXED BY customers_by_name_folded")
}

fn list_ids(
    connection: &mut Connection,
    tenant: &TenantName,
    query: &ListQuery,
) -> Result<IdPage, StoreError> {
    let (filter, params) = SQLITE.list_filter(tenant, query);
    let size = i64::from(query.size.max(1));
    let offset = i64::from(query.page) * size;
    let (page_sql, mut count_sql) =
        SQLITE.list_statements(&filter, params.len(), query, sort_index(query));
    if let Some(index) = scan_index(query) {
        // The count of an infix or suffix search reads the same index.
        count_sql = format!("SELECT count(*) FROM customers{index} WHERE {filter}");
    }

    // One read transaction: the page and the count see the same snapshot.
    let transaction = connection.transaction().map_err(db)?;
    let mut page_params: Vec<Value> = params.into_iter().map(Value::Text).collect();
    let filter_params = page_params.len();
    page_params.push(Value::Integer(size));
    page_params.push(Value::Integer(offset));
    let ids = {
        let mut select = transaction.prepare_cached(&page_sql).map_err(db)?;
        let mut ids = Vec::new();
        let mut cursor = select.query(params_from_iter(page_params.iter())).map_err(db)?;
        while let Some(row) = cursor.next().map_err(db)? {
            ids.push(row.get::<_, String>(0).map_err(db)?);
        }
        ids
    };
    let total = match total_from_page(offset, size, ids.len() as i64) {
        Some(total) => total,
        None => {
            let mut count = transaction.prepare_cached(&count_sql).map_err(db)?;
            let filter = params_from_iter(&page_params[..filter_params]);
            count.query_row(filter, |row| row.get::<_, i64>(0)).map_err(db)?
        }
    };
    drop(transaction);
    Ok(IdPage { ids: parse_ids(ids)?, total_elements: u64::try_from(total).unwrap_or(0) })
}

fn get_many(
    connection: &mut Connection,
    tenant: &TenantName,
    ids: &[CustomerId],
) -> Result<Vec<Customer>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (2..ids.len() + 2).map(|n| format!("?{n}")).collect();
    let sql = SQLITE.select_many(&format!("id IN ({})", placeholders.join(", ")));
    let mut params = vec![tenant.as_str()];
    params.extend(ids.iter().map(CustomerId::as_str));
    let mut found = Vec::with_capacity(ids.len());
    let mut select = connection.prepare_cached(&sql).map_err(db)?;
    let mut cursor = select.query(params_from_iter(params.iter())).map_err(db)?;
    while let Some(row) = cursor.next().map_err(db)? {
        found.push(customer_from_row(row)?);
    }
    Ok(in_order(ids, found))
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn write(
        &self,
        tenant: &TenantName,
        write: Write,
    ) -> Result<Option<Customer>, StoreError> {
        match self.write_job(WriteOp::One { tenant: tenant.clone(), write }).await? {
            Outcome::Written(customer) => Ok(customer),
            Outcome::Changed(_) => {
                Err(StoreError::Unavailable("the writer returned a count".into()))
            }
        }
    }

    async fn get(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(None, move |connection| {
            let row = connection
                .prepare_cached(&SELECT_ONE)
                .and_then(|mut select| {
                    select
                        .query_row(params![tenant.as_str(), id.as_str()], |row| {
                            Ok(customer_from_row(row))
                        })
                        .optional()
                })
                .map_err(db)?;
            row.transpose()
        })
        .await
    }

    async fn list_ids(&self, tenant: &TenantName, query: &ListQuery) -> Result<IdPage, StoreError> {
        let (tenant, query) = (tenant.clone(), query.clone());
        self.read(self.query_timeout, move |connection| list_ids(connection, &tenant, &query)).await
    }

    async fn get_many(
        &self,
        tenant: &TenantName,
        ids: &[CustomerId],
    ) -> Result<Vec<Customer>, StoreError> {
        let (tenant, ids) = (tenant.clone(), ids.to_vec());
        self.read(self.query_timeout, move |connection| get_many(connection, &tenant, &ids)).await
    }

    async fn bulk_insert(
        &self,
        tenant: &TenantName,
        customers: Vec<SeedCustomer>,
    ) -> Result<(), StoreError> {
        self.write_job(WriteOp::BulkInsert { tenant: tenant.clone(), customers }).await.map(|_| ())
    }

    async fn record_access(&self, updates: &[AccessUpdate]) -> Result<u64, StoreError> {
        if updates.is_empty() {
            return Ok(0);
        }
        // A job like any other write: committed with the writes queued with it.
        match self.write_job(WriteOp::RecordAccess { updates: updates.to_vec() }).await? {
            Outcome::Changed(changed) => Ok(changed),
            _ => Err(StoreError::Unavailable("the writer returned no count".into())),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        {
            let writer = self.writer.read().unwrap_or_else(PoisonError::into_inner);
            match writer.as_ref() {
                None => return Err(closed()),
                Some(writer) if writer.thread.is_finished() => return Err(writer_stopped()),
                Some(_) => {}
            }
        }
        self.read(None, |connection| {
            connection.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(())).map_err(db)
        })
        .await
    }

    async fn close(&self) {
        let _closing = self.close_lock.lock().await;
        let writer = self.writer.write().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(Writer { sender, thread }) = writer {
            // Without a sender the writer finishes the queued jobs, then stops.
            drop(sender);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        // Wait for the reads in flight, then release the read connections.
        if let Ok(permits) = self.readers.permits.acquire_many(self.readers.size).await {
            permits.forget();
        }
        self.readers.permits.close();
        self.readers.connections.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
