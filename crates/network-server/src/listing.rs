//! The list path under load: how many list queries may run at once (per
//! tenant and in total), and the page's JSON streamed as its customers are
//! read, so that a page of 1,000 large customers never sits in memory whole.
//!
//! A list runs in two steps (see [`crate::store`]): the page's ids and the
//! total in one snapshot, then the customers by id in batches of
//! [`LIST_BATCH`], each batch serialized and handed to hyper before the next
//! one is read. The JSON is what the typed response would be, byte for byte
//! (`{"content":[...]` first, then the page fields in the generated type's
//! order); since those fields come after `content`, a customer deleted
//! between the steps is simply left out and `numberOfElements`/`empty` count
//! what was written. The [`ListPermit`] travels with the body: the limits
//! hold until the last byte is produced or the client goes away (the body is
//! then dropped, which drops the batch being read, which stops its SQL).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use network_api::types::CustomerPage;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::{CustomerId, ListQuery, TenantName};
use crate::store::{CustomerStore, IdPage, StoreError, LIST_BATCH};
use crate::wire::to_wire;

/// The limits of the list path (flags `--list-*`, see `config.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListLimits {
    /// The longest one list query may run (SQLite: interrupted; PostgreSQL:
    /// `statement_timeout`); answered 503.
    pub query_timeout: Duration,
    /// At most this many list requests of one tenant in flight (per replica).
    pub per_tenant: usize,
    /// At most this many list requests in flight in total (per replica).
    pub total: usize,
    /// How long a list request waits for its turn before 429 (tenant) or 503 (total).
    pub queue_wait: Duration,
}

impl Default for ListLimits {
    fn default() -> Self {
        Self {
            query_timeout: Duration::from_millis(2000),
            per_tenant: 2,
            total: 8,
            queue_wait: Duration::from_millis(1000),
        }
    }
}

/// Why a list request was not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListBusy {
    /// The tenant already has `limit` list requests in flight (429).
    #[error("the tenant already has {limit} list queries in flight")]
    Tenant { limit: usize },
    /// The replica already serves `limit` list requests (503).
    #[error("the server already serves {limit} list queries")]
    Server { limit: usize },
}

/// Admission of list requests: a semaphore per tenant (created on first use,
/// removed when nobody holds or waits for it, so memory follows the requests
/// in flight, not the number of tenants ever seen) and one in total.
#[derive(Debug)]
pub struct ListGate {
    limits: ListLimits,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
    total: Arc<Semaphore>,
}

/// A tenant's semaphore as held by one request; the entry is removed from the
/// map when the last holder lets go.
#[derive(Debug)]
struct TenantSlot {
    gate: Arc<ListGate>,
    tenant: String,
    semaphore: Arc<Semaphore>,
}

impl Drop for TenantSlot {
    fn drop(&mut self) {
        let mut tenants = self.gate.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        // Clones are taken under this lock: the map's and ours mean nobody else.
        if Arc::strong_count(&self.semaphore) == 2 {
            tenants.remove(&self.tenant);
        }
    }
}

/// The right to run one list request; released when dropped.
#[derive(Debug)]
pub struct ListPermit {
    // Dropped in this order: the permits, then the slot (which may remove the entry).
    _total: OwnedSemaphorePermit,
    _tenant: OwnedSemaphorePermit,
    _slot: TenantSlot,
}

impl ListGate {
    pub fn new(limits: ListLimits) -> Arc<ListGate> {
        let limits = ListLimits {
            per_tenant: limits.per_tenant.max(1),
            total: limits.total.max(1),
            ..limits
        };
        Arc::new(ListGate {
            total: Arc::new(Semaphore::new(limits.total)),
            tenants: Mutex::new(HashMap::new()),
            limits,
        })
    }

    pub fn limits(&self) -> &ListLimits {
        &self.limits
    }

    /// How many tenants have list requests in flight or waiting (for tests).
    pub fn tenants_tracked(&self) -> usize {
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Waits up to `queue_wait` for a place of the tenant's, then for one of
    /// the total.
    pub async fn admit(self: &Arc<Self>, tenant: &TenantName) -> Result<ListPermit, ListBusy> {
        let deadline = tokio::time::Instant::now() + self.limits.queue_wait;
        let semaphore = {
            let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
            tenants
                .entry(tenant.as_str().to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.limits.per_tenant)))
                .clone()
        };
        let slot =
            TenantSlot { gate: self.clone(), tenant: tenant.as_str().to_string(), semaphore };
        let tenant_permit =
            match tokio::time::timeout_at(deadline, slot.semaphore.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                _ => return Err(ListBusy::Tenant { limit: self.limits.per_tenant }),
            };
        let total_permit =
            match tokio::time::timeout_at(deadline, self.total.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                _ => return Err(ListBusy::Server { limit: self.limits.total }),
            };
        Ok(ListPermit { _total: total_permit, _tenant: tenant_permit, _slot: slot })
    }
}

/// The page fields of a list answer (everything but `content`, which is empty here).
pub fn page_summary(query: &ListQuery, total_elements: u64, count: usize) -> CustomerPage {
    let size = i64::from(query.size);
    let total = i64::try_from(total_elements).unwrap_or(i64::MAX);
    let total_pages = if total == 0 { 0 } else { (total + size - 1) / size };
    let number = i64::from(query.page);
    CustomerPage {
        content: Vec::new(),
        total_elements: total,
        total_pages: total_pages.min(i64::from(i32::MAX)) as i32,
        size: query.size as i32,
        number: query.page.min(i32::MAX as u32) as i32,
        number_of_elements: count as i32,
        first: number == 0,
        last: number + 1 >= total_pages,
        empty: count == 0,
    }
}

/// The typed answer for a page read whole (what the streamed one must equal).
pub fn typed_page(query: &ListQuery, page: &crate::domain::Page) -> CustomerPage {
    CustomerPage {
        content: page.content.iter().cloned().map(to_wire).collect(),
        ..page_summary(query, page.total_elements, page.content.len())
    }
}

/// What the page's JSON starts with: the generated type serializes `content` first.
const CONTENT_OPEN: &str = "{\"content\":[";

/// The bytes after the last customer: `]` and the page fields, exactly as
/// serde writes them for the generated type.
fn closing_bytes(query: &ListQuery, total_elements: u64, count: usize) -> Bytes {
    let summary = serde_json::to_string(&page_summary(query, total_elements, count))
        .expect("a page serializes");
    let rest = summary
        .strip_prefix(CONTENT_OPEN)
        .expect("the generated CustomerPage serializes `content` first");
    Bytes::from(rest.to_string())
}

/// The state of one streamed page.
struct PageStream {
    store: Arc<dyn CustomerStore>,
    tenant: TenantName,
    query: ListQuery,
    ids: Vec<CustomerId>,
    total_elements: u64,
    next: usize,
    written: usize,
    opened: bool,
    permit: Option<ListPermit>,
    log: slog::Logger,
}

type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, StoreError>> + Send>>;

impl PageStream {
    fn into_chunks(self) -> Chunks {
        Box::pin(futures::stream::unfold(self, |mut page| async move {
            page.permit.as_ref()?;
            if !page.opened {
                page.opened = true;
                return Some((Ok(Bytes::from_static(CONTENT_OPEN.as_bytes())), page));
            }
            if page.next < page.ids.len() {
                let end = (page.next + LIST_BATCH).min(page.ids.len());
                let batch = page.store.get_many(&page.tenant, &page.ids[page.next..end]).await;
                return match batch {
                    Ok(customers) => {
                        page.next = end;
                        let mut json = Vec::new();
                        for customer in customers {
                            if page.written > 0 {
                                json.push(b',');
                            }
                            serde_json::to_writer(&mut json, &to_wire(customer))
                                .expect("a customer serializes");
                            page.written += 1;
                        }
                        Some((Ok(Bytes::from(json)), page))
                    }
                    Err(error) => {
                        slog::warn!(page.log, "list page abandoned mid-stream";
                            "error" => error.to_string(), "written" => page.written);
                        page.permit = None;
                        Some((Err(error), page))
                    }
                };
            }
            page.permit = None;
            let closing = closing_bytes(&page.query, page.total_elements, page.written);
            Some((Ok(closing), page))
        }))
    }
}

/// The streamed body: `Sync` as dropshot requires (the stream is only ever
/// touched through `&mut`, so the mutex is never contended).
struct PageBody(Mutex<Chunks>);

impl hyper::body::Body for PageBody {
    type Data = Bytes;
    type Error = StoreError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, StoreError>>> {
        let chunks = self.get_mut().0.get_mut().unwrap_or_else(PoisonError::into_inner);
        chunks
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|chunk| chunk.map(hyper::body::Frame::data)))
    }
}

/// The 200 answer for a page whose ids are known: its JSON streamed as the
/// customers are read. `permit` is held until the body is done or dropped.
pub fn streamed_page(
    store: Arc<dyn CustomerStore>,
    tenant: TenantName,
    query: ListQuery,
    page: IdPage,
    permit: ListPermit,
    log: slog::Logger,
) -> http::Response<dropshot::Body> {
    let stream = PageStream {
        store,
        tenant,
        query,
        ids: page.ids,
        total_elements: page.total_elements,
        next: 0,
        written: 0,
        opened: false,
        permit: Some(permit),
        log,
    };
    let body = dropshot::Body::wrap(PageBody(Mutex::new(stream.into_chunks())));
    let mut response = http::Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(dropshot::CONTENT_TYPE_JSON),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use http_body_util::BodyExt;

    use super::*;
    use crate::domain::{CustomerDraft, Direction, DraftFields, ListParams, SortField};
    use crate::store::sqlite::{SqliteOptions, SqliteStore};
    use crate::store::SeedCustomer;

    async fn seeded(count: usize) -> (tempfile::TempDir, Arc<dyn CustomerStore>, TenantName) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("list.db"), SqliteOptions::default())
            .expect("opens");
        let tenant = TenantName::parse("acme").unwrap();
        let customers = (0..count)
            .map(|i| {
                // Text that JSON must escape, non-ASCII, and missing optional fields.
                let properties: BTreeMap<String, String> = (0..i % 4)
                    .map(|k| (format!("k{k}\t\"q\""), format!("v{i} \u{e9}\u{1f600}\\ \u{1}")))
                    .collect();
                SeedCustomer {
                    id: CustomerId::parse(&format!("id{i:04}")).unwrap(),
                    details: CustomerDraft::parse(DraftFields {
                        country: (i % 3 != 0).then_some(["IT", "FR"][i % 2]).map(str::to_string),
                        timezone: (i % 5 == 0).then_some("Europe/Rome").map(str::to_string),
                        properties: Some(properties),
                        ..DraftFields::new(format!("Name \"{}\" </script>", (i * 7) % count))
                    })
                    .unwrap(),
                    creation_timestamp: 1_700_000_000_000 + (i as i64 % 7),
                }
            })
            .collect();
        store.bulk_insert(&tenant, customers).await.unwrap();
        (dir, Arc::new(store), tenant)
    }

    async fn streamed_bytes(
        store: &Arc<dyn CustomerStore>,
        tenant: &TenantName,
        query: &ListQuery,
        ids: IdPage,
    ) -> Vec<u8> {
        let gate = ListGate::new(ListLimits::default());
        let permit = gate.admit(tenant).await.unwrap();
        let response = streamed_page(
            store.clone(),
            tenant.clone(),
            query.clone(),
            ids,
            permit,
            slog::Logger::root(slog::Discard, slog::o!()),
        );
        assert_eq!(
            response.headers().get(http::header::CONTENT_TYPE).unwrap(),
            dropshot::CONTENT_TYPE_JSON
        );
        let bytes = response.into_body().collect().await.expect("the body completes").to_bytes();
        assert_eq!(gate.tenants_tracked(), 0, "the permit is released with the body");
        bytes.to_vec()
    }

    /// The gate lets in `per_tenant` of a tenant and `total` in all, refuses
    /// the rest after `queue_wait` (tenant first), lets a waiter in as soon
    /// as a permit is dropped, and forgets a tenant once nobody holds or
    /// waits for its semaphore.
    #[tokio::test]
    async fn the_gate_bounds_each_tenant_and_the_total() {
        let gate = ListGate::new(ListLimits {
            per_tenant: 1,
            total: 2,
            queue_wait: Duration::from_millis(50),
            ..ListLimits::default()
        });
        let (a, b, c) = (
            TenantName::parse("a").unwrap(),
            TenantName::parse("b").unwrap(),
            TenantName::parse("c").unwrap(),
        );
        let first = gate.admit(&a).await.unwrap();
        assert_eq!(gate.admit(&a).await.unwrap_err(), ListBusy::Tenant { limit: 1 });
        let second = gate.admit(&b).await.unwrap();
        assert_eq!(gate.admit(&c).await.unwrap_err(), ListBusy::Server { limit: 2 });
        assert_eq!(gate.tenants_tracked(), 2, "the refused tenant is forgotten at once");
        let waiting = tokio::spawn({
            let gate = gate.clone();
            let a = a.clone();
            async move { gate.admit(&a).await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(first);
        assert_eq!(waiting.await.unwrap(), Ok(()), "a waiter gets the freed place");
        drop(second);
        assert_eq!(gate.tenants_tracked(), 0);
    }

    /// The streamed page is byte for byte what the typed response would be.
    #[tokio::test]
    async fn the_streamed_page_is_the_typed_page_byte_for_byte() {
        let (_dir, store, tenant) = seeded(45).await;
        let sort = ["country,DESC".to_string(), "name,ASC".to_string()];
        for (page, size, sort) in [
            (0, 20, &sort[..0]),
            (1, 20, &sort[..]),
            (2, 20, &sort[..]),
            (0, 1000, &sort[..1]),
            (0, LIST_BATCH as i32, &sort[..]),
            (0, 1, &sort[..0]),
            (9, 10, &sort[..]),
        ] {
            let query = ListQuery::parse(ListParams {
                page: Some(page),
                size: Some(size),
                sort,
                ..ListParams::default()
            })
            .unwrap();
            let ids = store.list_ids(&tenant, &query).await.unwrap();
            let whole = store.list(&tenant, &query).await.unwrap();
            let typed = serde_json::to_vec(&typed_page(&query, &whole)).unwrap();
            let streamed = streamed_bytes(&store, &tenant, &query, ids).await;
            assert_eq!(
                String::from_utf8(streamed).unwrap(),
                String::from_utf8(typed).unwrap(),
                "page {page} size {size} sort {sort:?}"
            );
        }
    }

    /// A customer deleted between reading the ids and reading the customers
    /// is left out, and the page's counts say what was written.
    #[tokio::test]
    async fn a_customer_deleted_meanwhile_is_skipped_and_counted_out() {
        let (_dir, store, tenant) = seeded(12).await;
        let query = ListQuery {
            sort: vec![(SortField::CreationTimestamp, Direction::Asc)],
            ..ListQuery::parse(ListParams::default()).unwrap()
        };
        let ids = store.list_ids(&tenant, &query).await.unwrap();
        let gone = ids.ids[LIST_BATCH].clone();
        store.delete(&tenant, &gone, &crate::domain::Precondition::None).await.unwrap();
        let page: serde_json::Value =
            serde_json::from_slice(&streamed_bytes(&store, &tenant, &query, ids).await).unwrap();
        let content = page["content"].as_array().unwrap();
        assert_eq!(content.len(), 11);
        assert!(content.iter().all(|c| c["id"] != gone.as_str()));
        assert_eq!(page["numberOfElements"], 11);
        assert_eq!(page["totalElements"], 12, "the total is the snapshot's");
        assert_eq!(page["empty"], false);
    }
}
