//! Storage of customers behind one trait, with two implementations that share
//! one behavioural test suite (`tests/store_suite.rs`):
//! - [`sqlite::SqliteStore`], the embedded default: one file, WAL, every
//!   acknowledged write fsync'd, concurrent writes group-committed;
//! - [`postgres::PostgresStore`], for several replicas sharing one database.
//!
//! Every method takes the tenant and every query filters on it: data of one
//! tenant is never visible to another. Preconditions (`If-Match`) are checked
//! inside the database transaction that writes, never in process memory.
//!
//! A list is read in two steps: [`CustomerStore::list_ids`] (the page's ids
//! and the total, one snapshot, a cheap query the indexes serve) and then
//! [`CustomerStore::get_many`] in small batches, so that a page of large
//! customers is never held in memory whole (the HTTP layer streams it). Both
//! run under the store's time limit per query ([`StoreError::Timeout`]), and
//! both stop their SQL statement when their future is dropped (the client
//! went away).

pub mod postgres;
pub mod schema;
pub mod sql;
pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{
    Customer, CustomerDraft, CustomerId, ListQuery, Page, Precondition, TenantName, Unmatched,
};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No customer with that id in that tenant.
    #[error("customer not found")]
    NotFound,
    /// The customer exists but its version does not satisfy `If-Match`.
    #[error("precondition failed: the customer has changed")]
    PreconditionFailed,
    /// The database could not be reached or failed; nothing is known to have changed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A list query ran longer than the store's time limit and was stopped.
    #[error("the query exceeded the time limit of {} ms", .limit.as_millis())]
    Timeout { limit: Duration },
}

/// A conditional write that matched no row (decided by
/// [`Precondition::unmatched`]).
impl From<Unmatched> for StoreError {
    fn from(unmatched: Unmatched) -> Self {
        match unmatched {
            Unmatched::NotFound => StoreError::NotFound,
            Unmatched::Changed => StoreError::PreconditionFailed,
        }
    }
}

/// The ids of one page of a list, in order, and the total count of matches
/// (read in one snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPage {
    pub ids: Vec<CustomerId>,
    pub total_elements: u64,
}

/// How many customers [`CustomerStore::list`] fetches per [`CustomerStore::get_many`].
pub const LIST_BATCH: usize = 8;

/// A customer to insert in bulk (benchmark seeding): id, state and creation time.
#[derive(Debug, Clone)]
pub struct SeedCustomer {
    pub id: CustomerId,
    pub details: CustomerDraft,
    pub creation_timestamp: i64,
}

/// Logins of one customer's users to record (issue 13): the earliest and the
/// latest login time seen (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUpdate {
    pub tenant: TenantName,
    pub id: CustomerId,
    pub first: i64,
    pub last: i64,
}

/// One write of one customer, as every store receives it.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new customer, version 1.
    Create { id: CustomerId, details: CustomerDraft, creation_timestamp: i64 },
    /// New mutable state, the version bumped, if the precondition holds.
    Update { id: CustomerId, details: CustomerDraft, precondition: Precondition },
    /// Gone, if the precondition holds.
    Delete { id: CustomerId, precondition: Precondition },
}

fn no_customer() -> StoreError {
    StoreError::Unavailable("the store returned no customer".into())
}

/// The customer that [`CustomerStore::write`] returns for a create or an update.
pub fn written(customer: Option<Customer>) -> Result<Customer, StoreError> {
    customer.ok_or_else(no_customer)
}

/// The storage of customers. Implementations are cheap to share (`Arc`).
#[async_trait]
pub trait CustomerStore: Send + Sync + 'static {
    /// Applies one write to the tenant's customer once durable: the
    /// customer as written (create, update) or `None` (delete). An update
    /// or delete that matches no row is decided by [`Precondition::unmatched`].
    async fn write(
        &self,
        tenant: &TenantName,
        write: Write,
    ) -> Result<Option<Customer>, StoreError>;

    /// Inserts a new customer (version 1) and returns it once durable.
    async fn create(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
        details: &CustomerDraft,
        creation_timestamp: i64,
    ) -> Result<Customer, StoreError> {
        let write = Write::Create { id: id.clone(), details: details.clone(), creation_timestamp };
        written(self.write(tenant, write).await?)
    }

    /// The customer, if it exists in the tenant.
    async fn get(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError>;

    /// Replaces the customer's mutable state if it exists and satisfies the
    /// precondition, bumping its version; returns the new state once durable.
    async fn update(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
        details: &CustomerDraft,
        precondition: &Precondition,
    ) -> Result<Customer, StoreError> {
        let (id, details, precondition) = (id.clone(), details.clone(), precondition.clone());
        written(self.write(tenant, Write::Update { id, details, precondition }).await?)
    }

    /// Deletes the customer if it exists and satisfies the precondition; durable on return.
    async fn delete(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        let write = Write::Delete { id: id.clone(), precondition: precondition.clone() };
        self.write(tenant, write).await.map(|_| ())
    }

    /// The ids of one page of the tenant's customers matching the query,
    /// sorted, ties by id, and the total count of matches (one snapshot).
    async fn list_ids(&self, tenant: &TenantName, query: &ListQuery) -> Result<IdPage, StoreError>;

    /// The customers with these ids (at most a few), in the order given;
    /// ids that no longer exist are skipped.
    async fn get_many(
        &self,
        tenant: &TenantName,
        ids: &[CustomerId],
    ) -> Result<Vec<Customer>, StoreError>;

    /// One page of the tenant's customers matching the query, sorted, ties by
    /// id: [`CustomerStore::list_ids`], then the customers in batches of
    /// [`LIST_BATCH`] (a customer deleted in between is skipped, the total
    /// stays the snapshot's).
    async fn list(&self, tenant: &TenantName, query: &ListQuery) -> Result<Page, StoreError> {
        let page = self.list_ids(tenant, query).await?;
        let mut content = Vec::with_capacity(page.ids.len());
        for batch in page.ids.chunks(LIST_BATCH) {
            content.extend(self.get_many(tenant, batch).await?);
        }
        Ok(Page { content, total_elements: page.total_elements })
    }

    /// Inserts many customers at once (seeding benchmarks): not the request path.
    async fn bulk_insert(
        &self,
        tenant: &TenantName,
        customers: Vec<SeedCustomer>,
    ) -> Result<(), StoreError>;

    /// Widens each customer's access timestamps to take in its update: the
    /// first access becomes the earlier of the stored one and `first`, the
    /// last access the later of the stored one and `last`. A customer whose
    /// timestamps already cover the update is not written (its version, the
    /// ETag, stays); one that changes gets a new version. Unknown customers
    /// are skipped. Idempotent, never moving a timestamp backwards, one write
    /// for all (one transaction). At most one update per customer. Returns
    /// how many customers changed.
    async fn record_access(&self, updates: &[AccessUpdate]) -> Result<u64, StoreError>;

    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Waits for pending writes and releases the database (graceful shutdown).
    async fn close(&self);
}
