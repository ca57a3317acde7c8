//! Storage of customers behind one trait, with two implementations that share
//! one behavioural test suite (`tests/store_suite.rs`):
//! - [`sqlite::SqliteStore`], the embedded default: one file, WAL, every
//!   acknowledged write fsync'd, concurrent writes group-committed;
//! - [`postgres::PostgresStore`], for several replicas sharing one database.
//!
//! Every method takes the tenant and every query filters on it: data of one
//! tenant is never visible to another. Preconditions (`If-Match`) are checked
//! inside the database transaction that writes, never in process memory.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;

use crate::domain::{
    Customer, CustomerDraft, CustomerId, ListQuery, Page, Precondition, TenantName,
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
}

/// A customer to insert in bulk (benchmark seeding): id, state and creation time.
#[derive(Debug, Clone)]
pub struct SeedCustomer {
    pub id: CustomerId,
    pub details: CustomerDraft,
    pub creation_timestamp: i64,
}

/// The storage of customers. Implementations are cheap to share (`Arc`).
#[async_trait]
pub trait CustomerStore: Send + Sync + 'static {
    /// Inserts a new customer (version 1) and returns it once durable.
    async fn create(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
        details: &CustomerDraft,
        creation_timestamp: i64,
    ) -> Result<Customer, StoreError>;

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
    ) -> Result<Customer, StoreError>;

    /// Deletes the customer if it exists and satisfies the precondition; durable on return.
    async fn delete(
        &self,
        tenant: &TenantName,
        id: &CustomerId,
        precondition: &Precondition,
    ) -> Result<(), StoreError>;

    /// One page of the tenant's customers matching the query, sorted, ties by id.
    async fn list(&self, tenant: &TenantName, query: &ListQuery) -> Result<Page, StoreError>;

    /// Inserts many customers at once (seeding benchmarks): not the request path.
    async fn bulk_insert(
        &self,
        tenant: &TenantName,
        customers: Vec<SeedCustomer>,
    ) -> Result<(), StoreError>;

    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Waits for pending writes and releases the database (graceful shutdown).
    async fn close(&self);
}
