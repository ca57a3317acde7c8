//! Logins recorded as the customer's access timestamps (issue 13).
//!
//! The server is a resource server: it sees a user's login as the token the
//! identity provider issued then. A verified token with a customer claim
//! (`customerId` by default) is a user of that customer, and its `iat` is
//! when that user logged in. The first time this replica verifies such a
//! token (a miss of the verified-token cache, so once per token and replica
//! while the cache keeps it), [`AccessRecorder::record`] queues the login:
//! a non-blocking send on a bounded channel, nothing else on the request's
//! path. One task merges the queued logins per customer (the earliest and
//! the latest `iat`) and writes them every `flush_interval` (or when
//! `max_batch` customers are pending) with one
//! [`CustomerStore::record_access`]: on SQLite a job committed with the
//! other writes of its group commit, on PostgreSQL one statement.
//!
//! The store writes a customer only when its first access moves earlier or
//! its last access later (never backwards, idempotent across replicas and
//! restarts: an old token replayed, or the same token seen by every replica,
//! changes nothing), and a customer that changes gets a new version: its
//! `ETag` changes with its representation (RFC 9110 §8.8.1).
//!
//! Decisions: a customer-scoped token without `iat` (or with one that is not
//! a non-negative number of seconds) records nothing, since when its user
//! logged in is unknown and the server does not invent a time. An `iat` in
//! the future (the issuer's clock ahead of ours) counts as now, so that it
//! cannot pin the last access in the future. A token naming a customer that
//! does not exist (not yet, or any more) records nothing, and nothing is
//! kept for later: the customer's first access is then its first login
//! seen after it exists. A queue that is full (the store much slower than
//! the logins) drops the login, counted in [`AccessStats::dropped`], rather
//! than delay the request; a write that fails keeps its logins for the next
//! flush (at most `max_pending` customers are held).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use tokio::sync::{mpsc, oneshot};

use crate::auth::Principal;
use crate::domain::{now_millis, CustomerId, TenantName};
use crate::store::{AccessUpdate, CustomerStore};

/// How logins are batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessOptions {
    /// The longest a login waits before it is written.
    pub flush_interval: Duration,
    /// A write carries at most this many customers (and starts as soon as
    /// this many are pending).
    pub max_batch: usize,
    /// Logins queued and not yet merged; beyond, new logins are dropped.
    pub queue: usize,
    /// Customers held for a retry after failed writes; beyond, dropped.
    pub max_pending: usize,
}

impl Default for AccessOptions {
    fn default() -> Self {
        AccessOptions {
            flush_interval: Duration::from_millis(500),
            max_batch: 1000,
            queue: 10_000,
            max_pending: 100_000,
        }
    }
}

/// What the recorder has done (for `/metrics` and tests).
#[derive(Debug, Default)]
pub struct AccessStats {
    /// Logins queued.
    pub queued: Counter,
    /// Logins dropped: the queue was full, or too many customers were pending.
    pub dropped: Counter,
    /// Store writes (each one transaction or statement).
    pub writes: Counter,
    /// Customers whose timestamps changed.
    pub changed: Counter,
    /// Store writes that failed (their logins were kept for the next flush).
    pub failures: Counter,
}

impl AccessStats {
    /// Registers the metrics (`network_access_*`).
    pub fn register(&self, registry: &mut Registry) {
        let metrics = [
            ("network_access_logins_queued", "Logins queued for recording", &self.queued),
            ("network_access_logins_dropped", "Logins dropped (queue full)", &self.dropped),
            ("network_access_writes", "Writes of recorded logins", &self.writes),
            ("network_access_customers_changed", "Customers whose access changed", &self.changed),
            ("network_access_write_failures", "Writes of logins that failed", &self.failures),
        ];
        for (name, help, counter) in metrics {
            registry.register(name, help, counter.clone());
        }
    }
}

enum Command {
    Login(AccessUpdate),
    /// Write everything queued before this, then answer.
    Flush(oneshot::Sender<()>),
}

/// Queues logins and writes them in batches (see the module documentation).
pub struct AccessRecorder {
    sender: Mutex<Option<mpsc::Sender<Command>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    stats: Arc<AccessStats>,
}

impl std::fmt::Debug for AccessRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessRecorder").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl AccessRecorder {
    /// Starts the writing task (needs a tokio runtime).
    pub fn start(store: Arc<dyn CustomerStore>, options: AccessOptions, log: slog::Logger) -> Self {
        let (sender, receiver) = mpsc::channel(options.queue.max(1));
        let stats = Arc::new(AccessStats::default());
        let task = tokio::spawn(run(store, options, receiver, stats.clone(), log));
        AccessRecorder { sender: Mutex::new(Some(sender)), task: Mutex::new(Some(task)), stats }
    }

    pub fn stats(&self) -> &AccessStats {
        &self.stats
    }

    /// Queues the login a newly verified token stands for, if it is one (a
    /// customer claim and a usable `iat`). Never waits.
    pub fn record(&self, principal: &Principal) {
        let Some(update) = login_of(principal, now_millis()) else { return };
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(sender) = sender else { return };
        match sender.try_send(Command::Login(update)) {
            Ok(()) => self.stats.queued.inc(),
            Err(_) => self.stats.dropped.inc(),
        };
    }

    /// Writes every login queued so far (tests, shutdown).
    pub async fn flush(&self) {
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(sender) = sender else { return };
        let (done, wait) = oneshot::channel();
        if sender.send(Command::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Writes what is queued, then stops the task (graceful shutdown).
    pub async fn close(&self) {
        self.flush().await;
        drop(self.sender.lock().unwrap_or_else(PoisonError::into_inner).take());
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The login a principal stands for: its tenant, its customer and its `iat`
/// in milliseconds (a future one counts as `now`); `None` without a customer
/// claim or a usable `iat`, or when the names are not valid ids.
pub fn login_of(principal: &Principal, now: i64) -> Option<AccessUpdate> {
    let customer = principal.customer_id.as_deref()?;
    let issued_at = principal.issued_at?;
    if issued_at < 0 {
        return None;
    }
    let at = issued_at.checked_mul(1000)?.min(now);
    Some(AccessUpdate {
        tenant: TenantName::parse(&principal.tenant).ok()?,
        id: CustomerId::parse(customer).ok()?,
        first: at,
        last: at,
    })
}

/// Logins merged per customer, waiting to be written.
#[derive(Default)]
struct Pending {
    by_customer: BTreeMap<(TenantName, CustomerId), (i64, i64)>,
}

impl Pending {
    /// Merges a login; false when it would exceed `max` customers.
    fn add(&mut self, update: AccessUpdate, max: usize) -> bool {
        let key = (update.tenant, update.id);
        if let Some((first, last)) = self.by_customer.get_mut(&key) {
            *first = (*first).min(update.first);
            *last = (*last).max(update.last);
            return true;
        }
        if self.by_customer.len() >= max {
            return false;
        }
        self.by_customer.insert(key, (update.first, update.last));
        true
    }

    fn take(&mut self, max: usize) -> Vec<AccessUpdate> {
        let mut batch = Vec::with_capacity(max.min(self.by_customer.len()));
        while batch.len() < max {
            let Some(((tenant, id), (first, last))) = self.by_customer.pop_first() else { break };
            batch.push(AccessUpdate { tenant, id, first, last });
        }
        batch
    }
}

async fn run(
    store: Arc<dyn CustomerStore>,
    options: AccessOptions,
    mut receiver: mpsc::Receiver<Command>,
    stats: Arc<AccessStats>,
    log: slog::Logger,
) {
    let max_batch = options.max_batch.max(1);
    let mut pending = Pending::default();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut open = true;
    while open {
        // Wait for the first login (or a flush), then gather for one interval.
        if pending.by_customer.is_empty() && waiters.is_empty() {
            match receiver.recv().await {
                Some(command) => take(command, &mut pending, &mut waiters, &options, &stats),
                None => break,
            }
        }
        let deadline = tokio::time::Instant::now() + options.flush_interval;
        while waiters.is_empty() && pending.by_customer.len() < max_batch {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(command)) => take(command, &mut pending, &mut waiters, &options, &stats),
                Ok(None) => {
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        // Whatever is already queued joins this write (and a flush sees it).
        while let Ok(command) = receiver.try_recv() {
            take(command, &mut pending, &mut waiters, &options, &stats);
        }
        while !pending.by_customer.is_empty() {
            let batch = pending.take(max_batch);
            stats.writes.inc();
            match store.record_access(&batch).await {
                Ok(changed) => {
                    stats.changed.inc_by(changed);
                }
                Err(error) => {
                    stats.failures.inc();
                    slog::warn!(log, "recording logins failed; kept for the next flush";
                        "customers" => batch.len(), "error" => error.to_string());
                    for update in batch {
                        if !pending.add(update, options.max_pending) {
                            stats.dropped.inc();
                        }
                    }
                    break;
                }
            }
        }
        for waiter in waiters.drain(..) {
            let _ = waiter.send(());
        }
        if !pending.by_customer.is_empty() && open {
            // A failed write: wait one interval before the retry.
            tokio::time::sleep(options.flush_interval).await;
        }
    }
}

fn take(
    command: Command,
    pending: &mut Pending,
    waiters: &mut Vec<oneshot::Sender<()>>,
    options: &AccessOptions,
    stats: &AccessStats,
) {
    match command {
        Command::Login(update) => {
            if !pending.add(update, options.max_pending) {
                stats.dropped.inc();
            }
        }
        Command::Flush(done) => waiters.push(done),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn principal(customer: Option<&str>, iat: Option<i64>) -> Principal {
        Principal {
            subject: "user".into(),
            tenant: "acme".into(),
            permissions: BTreeSet::new(),
            customer_id: customer.map(str::to_string),
            expires_at: i64::MAX,
            issued_at: iat,
        }
    }

    #[test]
    fn a_login_needs_a_customer_and_an_iat() {
        let now = 2_000_000_000_000;
        let login = login_of(&principal(Some("c1"), Some(1_700_000_000)), now).unwrap();
        assert_eq!((login.first, login.last), (1_700_000_000_000, 1_700_000_000_000));
        assert_eq!(login.id.as_str(), "c1");
        assert_eq!(login_of(&principal(None, Some(1_700_000_000)), now), None);
        assert_eq!(login_of(&principal(Some("c1"), None), now), None);
        assert_eq!(login_of(&principal(Some("c1"), Some(-1)), now), None);
        let future = login_of(&principal(Some("c1"), Some(3_000_000_000)), now).unwrap();
        assert_eq!(future.last, now, "a future iat counts as now");
    }

    #[test]
    fn pending_logins_merge_per_customer() {
        let mut pending = Pending::default();
        let update = |id: &str, at: i64| AccessUpdate {
            tenant: TenantName::parse("acme").unwrap(),
            id: CustomerId::parse(id).unwrap(),
            first: at,
            last: at,
        };
        for (id, at) in [("a", 5), ("a", 3), ("a", 9), ("b", 1)] {
            assert!(pending.add(update(id, at), 2));
        }
        assert!(!pending.add(update("c", 1), 2), "over the bound");
        let batch = pending.take(10);
        assert_eq!(batch.len(), 2);
        assert_eq!((batch[0].first, batch[0].last), (3, 9));
        assert_eq!((batch[1].first, batch[1].last), (1, 1));
    }
}
