//! One behavioural suite for every `CustomerStore`, written once and run
//! against three backends:
//! - `sqlite_group_commit::*`: SQLite, concurrent writes group-committed;
//! - `sqlite_single_commit::*`: SQLite, one transaction (one fsync) per write;
//! - `postgres::*`: PostgreSQL, each test in a fresh schema (dropped at the end).
//!
//! PostgreSQL: `NETWORK_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. When it cannot be reached, each
//! PostgreSQL test prints `SKIPPED: ...` to stderr and passes, unless
//! `NETWORK_REQUIRE_POSTGRES=1` (CI), which makes it fail.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use network_server::domain::{
    fold, Customer, CustomerDraft, CustomerId, Direction, DraftFields, ListQuery, NameSearch,
    Precondition, Properties, SortField, TenantName, Version,
};
use network_server::store::postgres::{PostgresOptions, PostgresStore};
use network_server::store::sql;
use network_server::store::sqlite::{SqliteOptions, SqliteStore};
use network_server::store::{AccessUpdate, CustomerStore, SeedCustomer, StoreError};

#[path = "common/postgres.rs"]
mod common_postgres;

// ---------------------------------------------------------------------------
// Harness: one fresh store per test, on the backend the test module names.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SqliteGroupCommit,
    SqliteSingleCommit,
    Postgres,
}

enum Backend {
    Sqlite { dir: tempfile::TempDir, group_commit: bool },
    Postgres { url: String, schema: String },
}

struct Harness {
    kind: Kind,
    backend: Backend,
    store: Arc<dyn CustomerStore>,
    /// The SQLite store as its concrete type (commit statistics).
    sqlite: Option<Arc<SqliteStore>>,
    opened: Mutex<Vec<Arc<dyn CustomerStore>>>,
}

impl Harness {
    /// A fresh store, or `None` when PostgreSQL is not reachable (and not required).
    async fn start(kind: Kind) -> Option<Harness> {
        let backend = match kind {
            Kind::SqliteGroupCommit | Kind::SqliteSingleCommit => Backend::Sqlite {
                dir: tempfile::tempdir().expect("a temporary directory"),
                group_commit: kind == Kind::SqliteGroupCommit,
            },
            Kind::Postgres => {
                let (url, schema) =
                    common_postgres::database_for("store suite", "store_suite").await?;
                Backend::Postgres { url, schema }
            }
        };
        let (store, sqlite) = open(&backend).await;
        Some(Harness {
            kind,
            backend,
            store: store.clone(),
            sqlite,
            opened: Mutex::new(vec![store]),
        })
    }

    fn store(&self) -> Arc<dyn CustomerStore> {
        self.store.clone()
    }

    /// Another store on the same database (after closing the first: a restart).
    async fn open_again(&self) -> Arc<dyn CustomerStore> {
        let (store, _) = open(&self.backend).await;
        self.opened.lock().unwrap().push(store.clone());
        store
    }

    /// Another store on the same database whose list queries have a time limit.
    async fn open_with_timeout(&self, limit: Duration) -> Arc<dyn CustomerStore> {
        let (store, _) = open_with(&self.backend, Some(limit)).await;
        self.opened.lock().unwrap().push(store.clone());
        store
    }

    /// Closes every store opened and drops the PostgreSQL schema.
    async fn finish(self) {
        let opened = std::mem::take(&mut *self.opened.lock().unwrap());
        for store in opened {
            store.close().await;
        }
        if let Backend::Postgres { url, schema } = &self.backend {
            common_postgres::drop_schema(url, schema).await.expect("drops the test schema");
        }
    }
}

async fn open(backend: &Backend) -> (Arc<dyn CustomerStore>, Option<Arc<SqliteStore>>) {
    open_with(backend, None).await
}

/// Opens the store with a time limit for list queries.
async fn open_with(
    backend: &Backend,
    query_timeout: Option<Duration>,
) -> (Arc<dyn CustomerStore>, Option<Arc<SqliteStore>>) {
    match backend {
        Backend::Sqlite { dir, group_commit } => {
            let options = SqliteOptions {
                group_commit: *group_commit,
                query_timeout,
                ..SqliteOptions::default()
            };
            let store = Arc::new(
                SqliteStore::open(&dir.path().join("network.db"), options).expect("opens SQLite"),
            );
            (store.clone(), Some(store))
        }
        Backend::Postgres { url, schema } => {
            let options = PostgresOptions {
                schema: Some(schema.clone()),
                pool_size: 8,
                statement_timeout: query_timeout,
            };
            let store = PostgresStore::connect(url, options).await.expect("connects to PostgreSQL");
            (Arc::new(store), None)
        }
    }
}

/// Every case, on every backend: `cases![name, ...]` makes one test per case
/// and backend; a case is `async fn name(h: &Harness)`.
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        mod sqlite_group_commit {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::run(super::Kind::SqliteGroupCommit, |h| Box::pin(super::$case(h))).await;
                }
            )*
        }
        mod sqlite_single_commit {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::run(super::Kind::SqliteSingleCommit, |h| Box::pin(super::$case(h))).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::run(super::Kind::Postgres, |h| Box::pin(super::$case(h))).await;
                }
            )*
        }
    };
}

type CaseFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Runs one case on a fresh store, cleans up even when the case panics.
async fn run(kind: Kind, case: impl for<'a> FnOnce(&'a Harness) -> CaseFuture<'a>) {
    let Some(harness) = Harness::start(kind).await else { return };
    let outcome = std::panic::AssertUnwindSafe(case(&harness)).catch_unwind().await;
    harness.finish().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

cases![
    ping_answers,
    create_get_round_trip_of_every_field,
    get_unknown_is_none,
    get_of_another_tenants_customer_is_none,
    create_with_an_existing_id_fails_and_changes_nothing,
    update_replaces_all_mutable_fields,
    update_of_unknown_id_is_not_found_and_creates_nothing,
    update_preconditions,
    updates_keep_the_name_and_country_indexes_right,
    delete_then_second_delete_is_not_found,
    delete_preconditions,
    tenant_isolation_on_every_method,
    list_paging_is_stable,
    list_default_sort_is_by_id,
    list_sorts_by_each_field_both_directions_ties_by_id,
    list_filters,
    list_search_is_literal_and_case_insensitive,
    list_search_folds_unicode_case,
    list_search_after_the_folding_migration,
    record_access_widens_only_and_bumps_the_version_on_change,
    values_are_stored_verbatim,
    a_property_key_with_nul_round_trips,
    largest_properties_round_trip,
    bulk_insert_then_list,
    list_over_the_time_limit_is_a_timeout,
    concurrent_read_modify_write_loses_no_update,
    concurrent_mixed_writes_fail_independently,
    data_survives_close_and_reopen,
    close_is_idempotent_and_later_writes_fail,
];

// ---------------------------------------------------------------------------
// Helpers.

fn tenant(name: &str) -> TenantName {
    TenantName::parse(name).unwrap()
}

fn cid(id: &str) -> CustomerId {
    CustomerId::parse(id).unwrap()
}

fn props(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn draft(
    name: &str,
    country: Option<&str>,
    timezone: Option<&str>,
    properties: &[(&str, &str)],
) -> CustomerDraft {
    CustomerDraft::parse(DraftFields {
        country: country.map(str::to_string),
        timezone: timezone.map(str::to_string),
        properties: Some(props(properties)),
        ..DraftFields::new(name)
    })
    .unwrap()
}

fn named(name: &str) -> CustomerDraft {
    draft(name, None, None, &[])
}

fn query() -> ListQuery {
    ListQuery { page: 0, size: 20, sort: vec![], search: None, name_equals: None, country: None }
}

fn ids(customers: &[Customer]) -> Vec<String> {
    customers.iter().map(|c| c.id.as_str().to_string()).collect()
}

async fn list_all(
    store: &dyn CustomerStore,
    tenant: &TenantName,
    query: ListQuery,
) -> Vec<Customer> {
    let page = store.list(tenant, &ListQuery { page: 0, size: 1000, ..query }).await.unwrap();
    assert!(page.content.len() < 1000, "list_all is for small sets");
    assert_eq!(page.total_elements, page.content.len() as u64);
    page.content
}

async fn count(store: &dyn CustomerStore, tenant: &TenantName) -> u64 {
    store.list(tenant, &query()).await.unwrap().total_elements
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound)), "expected NotFound, got {result:?}");
}

#[track_caller]
fn assert_precondition_failed<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::PreconditionFailed)),
        "expected PreconditionFailed, got {result:?}"
    );
}

#[track_caller]
fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "expected Unavailable, got {result:?}"
    );
}

// ---------------------------------------------------------------------------
// Cases.

async fn ping_answers(h: &Harness) {
    h.store().ping().await.unwrap();
}

async fn create_get_round_trip_of_every_field(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let details = draft(
        "Acme Inc.",
        Some("IT"),
        Some("Europe/Rome"),
        &[("plan", "gold"), ("seats", "42"), ("empty", "")],
    );
    let created = store.create(&t, &cid("c1"), &details, 1_700_000_000_123).await.unwrap();
    let expected = Customer {
        id: cid("c1"),
        details: details.clone(),
        creation_timestamp: 1_700_000_000_123,
        first_access_timestamp: None,
        last_access_timestamp: None,
        version: Version::FIRST,
    };
    assert_eq!(created, expected);
    assert_eq!(store.get(&t, &cid("c1")).await.unwrap(), Some(expected));

    // Optional fields absent.
    let bare = store.create(&t, &cid("c2"), &named("Bare"), -5).await.unwrap();
    let read = store.get(&t, &cid("c2")).await.unwrap().unwrap();
    assert_eq!(read, bare);
    assert_eq!(read.details.country, None);
    assert_eq!(read.details.timezone, None);
    assert!(read.details.properties.as_map().is_empty());
    assert_eq!(read.creation_timestamp, -5);
}

async fn get_unknown_is_none(h: &Harness) {
    assert_eq!(h.store().get(&tenant("acme"), &cid("nope")).await.unwrap(), None);
}

async fn get_of_another_tenants_customer_is_none(h: &Harness) {
    let store = h.store();
    store.create(&tenant("acme"), &cid("c1"), &named("Acme"), 1).await.unwrap();
    assert_eq!(store.get(&tenant("globex"), &cid("c1")).await.unwrap(), None);
    assert_eq!(
        store.get(&tenant("ACME"), &cid("c1")).await.unwrap(),
        None,
        "tenants are case-sensitive"
    );
    assert!(store.get(&tenant("acme"), &cid("c1")).await.unwrap().is_some());
}

async fn create_with_an_existing_id_fails_and_changes_nothing(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let first = store.create(&t, &cid("c1"), &named("First"), 1).await.unwrap();
    assert_unavailable(store.create(&t, &cid("c1"), &named("Second"), 2).await);
    assert_eq!(store.get(&t, &cid("c1")).await.unwrap(), Some(first));
    assert_eq!(count(&*store, &t).await, 1);
    // The store still works after the failed write.
    store.create(&t, &cid("c2"), &named("Other"), 3).await.unwrap();
}

async fn update_replaces_all_mutable_fields(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let full = draft("Acme", Some("IT"), Some("Europe/Rome"), &[("a", "1"), ("b", "2")]);
    store.create(&t, &cid("c1"), &full, 1_000).await.unwrap();

    let changed = draft("Acme S.p.A.", Some("DE"), Some("Europe/Berlin"), &[("c", "3")]);
    let updated = store.update(&t, &cid("c1"), &changed, &Precondition::None).await.unwrap();
    assert_eq!(updated.details, changed);
    assert_eq!(updated.version, Version(2));
    assert_eq!(updated.creation_timestamp, 1_000);
    assert_eq!(store.get(&t, &cid("c1")).await.unwrap(), Some(updated));

    // Fields left out are cleared: country and timezone None, properties empty.
    let cleared = named("Only a name");
    let updated = store.update(&t, &cid("c1"), &cleared, &Precondition::None).await.unwrap();
    assert_eq!(updated.version, Version(3));
    let read = store.get(&t, &cid("c1")).await.unwrap().unwrap();
    assert_eq!(read, updated);
    assert_eq!(read.details.country, None);
    assert_eq!(read.details.timezone, None);
    assert!(read.details.properties.as_map().is_empty());
    assert_eq!(read.creation_timestamp, 1_000);
    assert_eq!(read.first_access_timestamp, None);
    assert_eq!(read.last_access_timestamp, None);
}

async fn update_of_unknown_id_is_not_found_and_creates_nothing(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    for precondition in [
        Precondition::None,
        Precondition::Exists,
        Precondition::OneOf(vec![Version(1)]),
        Precondition::OneOf(vec![]),
    ] {
        // 404 comes before 412: an unknown id is NotFound whatever the If-Match.
        assert_not_found(store.update(&t, &cid("ghost"), &named("Ghost"), &precondition).await);
        assert_not_found(store.delete(&t, &cid("ghost"), &precondition).await);
    }
    assert_eq!(store.get(&t, &cid("ghost")).await.unwrap(), None);
    assert_eq!(count(&*store, &t).await, 0);
}

async fn update_preconditions(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let id = cid("c1");
    store.create(&t, &id, &named("v1"), 1).await.unwrap();

    let v2 = store.update(&t, &id, &named("v2"), &Precondition::None).await.unwrap();
    assert_eq!(v2.version, Version(2));
    let v3 = store.update(&t, &id, &named("v3"), &Precondition::Exists).await.unwrap();
    assert_eq!(v3.version, Version(3));
    let v4 =
        store.update(&t, &id, &named("v4"), &Precondition::OneOf(vec![Version(3)])).await.unwrap();
    assert_eq!(v4.version, Version(4));
    let v5 = store
        .update(
            &t,
            &id,
            &named("v5"),
            &Precondition::OneOf(vec![Version(1), Version(4), Version(9)]),
        )
        .await
        .unwrap();
    assert_eq!(v5.version, Version(5));

    // Failing preconditions change nothing.
    assert_precondition_failed(
        store.update(&t, &id, &named("stale"), &Precondition::OneOf(vec![Version(4)])).await,
    );
    assert_precondition_failed(
        store.update(&t, &id, &named("future"), &Precondition::OneOf(vec![Version(6)])).await,
    );
    assert_precondition_failed(
        store.update(&t, &id, &named("never"), &Precondition::OneOf(vec![])).await,
    );
    // The stored name and country again (SQLite's one-statement update, which
    // only matches a row keeping its indexed values): the version still decides.
    assert_precondition_failed(
        store.update(&t, &id, &named("v5"), &Precondition::OneOf(vec![Version(4)])).await,
    );
    assert_eq!(store.get(&t, &id).await.unwrap(), Some(v5));
    let v6 =
        store.update(&t, &id, &named("v5"), &Precondition::OneOf(vec![Version(5)])).await.unwrap();
    assert_eq!(v6.version, Version(6));
    assert_not_found(store.update(&t, &cid("nobody"), &named("v5"), &Precondition::None).await);
    assert_eq!(store.get(&t, &id).await.unwrap(), Some(v6));
}

/// SQLite sets `name` and `country` (both indexed) only when they change:
/// lists sorted and filtered through those indexes must see every change,
/// and an update that keeps them must still bump the version.
async fn updates_keep_the_name_and_country_indexes_right(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let any = Precondition::None;
    store.create(&t, &cid("a"), &draft("Alpha", Some("IT"), None, &[]), 1).await.unwrap();
    store.create(&t, &cid("b"), &draft("Bravo", Some("DE"), None, &[]), 1).await.unwrap();
    // Same name and country, new properties: the version still moves.
    let same = store
        .update(&t, &cid("a"), &draft("Alpha", Some("IT"), None, &[("k", "v")]), &any)
        .await
        .unwrap();
    assert_eq!(same.version.0, 2);
    // A new name only, then a new country only, then the country cleared.
    store.update(&t, &cid("a"), &draft("Zulu", Some("IT"), None, &[]), &any).await.unwrap();
    store.update(&t, &cid("b"), &draft("Bravo", Some("FR"), None, &[]), &any).await.unwrap();
    let by_name = ListQuery { sort: vec![(SortField::Name, Direction::Asc)], ..query() };
    assert_eq!(ids(&list_all(&*store, &t, by_name).await), vec!["b", "a"]);
    let in_country = |code: &str| ListQuery { country: Some(code.to_string()), ..query() };
    assert_eq!(ids(&list_all(&*store, &t, in_country("FR")).await), vec!["b"]);
    assert!(list_all(&*store, &t, in_country("DE")).await.is_empty());
    assert_eq!(ids(&list_all(&*store, &t, in_country("IT")).await), vec!["a"]);
    store.update(&t, &cid("a"), &draft("Zulu", None, None, &[]), &any).await.unwrap();
    assert!(list_all(&*store, &t, in_country("IT")).await.is_empty());
    // No country, kept: the one-statement update matches a missing value too.
    store.update(&t, &cid("a"), &draft("Zulu", None, None, &[("k", "w")]), &any).await.unwrap();
    let a = store.get(&t, &cid("a")).await.unwrap().unwrap();
    assert_eq!(
        (a.details.name.as_str(), a.details.country.is_none(), a.version.0),
        ("Zulu", true, 5)
    );
    assert_eq!(a.details.properties.as_map(), &props(&[("k", "w")]));
    // The folded name (searched) follows a rename and stays with a kept name.
    let search = |text: &str| ListQuery { search: NameSearch::parse(text), ..query() };
    assert_eq!(ids(&list_all(&*store, &t, search("zulu")).await), vec!["a"]);
    assert!(list_all(&*store, &t, search("alpha")).await.is_empty());
}

async fn delete_then_second_delete_is_not_found(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    store.create(&t, &cid("c1"), &named("Acme"), 1).await.unwrap();
    store.create(&t, &cid("c2"), &named("Other"), 1).await.unwrap();
    store.delete(&t, &cid("c1"), &Precondition::None).await.unwrap();
    assert_eq!(store.get(&t, &cid("c1")).await.unwrap(), None);
    assert_not_found(store.delete(&t, &cid("c1"), &Precondition::None).await);
    assert_not_found(store.update(&t, &cid("c1"), &named("Back?"), &Precondition::None).await);
    assert_eq!(ids(&list_all(&*store, &t, query()).await), ["c2"]);
}

async fn delete_preconditions(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    store.create(&t, &cid("c1"), &named("v1"), 1).await.unwrap();
    let v2 = store.update(&t, &cid("c1"), &named("v2"), &Precondition::None).await.unwrap();

    assert_precondition_failed(
        store.delete(&t, &cid("c1"), &Precondition::OneOf(vec![Version(1)])).await,
    );
    assert_precondition_failed(store.delete(&t, &cid("c1"), &Precondition::OneOf(vec![])).await);
    assert_eq!(store.get(&t, &cid("c1")).await.unwrap(), Some(v2));
    store.delete(&t, &cid("c1"), &Precondition::OneOf(vec![Version(7), Version(2)])).await.unwrap();
    assert_eq!(store.get(&t, &cid("c1")).await.unwrap(), None);

    store.create(&t, &cid("c2"), &named("x"), 1).await.unwrap();
    store.delete(&t, &cid("c2"), &Precondition::Exists).await.unwrap();
    assert_not_found(store.delete(&t, &cid("c2"), &Precondition::Exists).await);
}

async fn tenant_isolation_on_every_method(h: &Harness) {
    let store = h.store();
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let only_acme = store.create(&acme, &cid("a1"), &named("Acme One"), 1).await.unwrap();
    // The same id may exist in both tenants, independently.
    let shared_acme = store.create(&acme, &cid("same"), &named("Acme Same"), 2).await.unwrap();
    let shared_globex =
        store.create(&globex, &cid("same"), &named("Globex Same"), 3).await.unwrap();

    assert_eq!(store.get(&globex, &cid("a1")).await.unwrap(), None);
    for precondition in
        [Precondition::None, Precondition::Exists, Precondition::OneOf(vec![Version(1)])]
    {
        assert_not_found(store.update(&globex, &cid("a1"), &named("Stolen"), &precondition).await);
        assert_not_found(store.delete(&globex, &cid("a1"), &precondition).await);
    }
    assert_eq!(store.get(&acme, &cid("a1")).await.unwrap(), Some(only_acme.clone()));

    let globex_updated = store
        .update(&globex, &cid("same"), &named("Globex Renamed"), &Precondition::None)
        .await
        .unwrap();
    assert_eq!(globex_updated.version, Version(2));
    assert_eq!(store.get(&acme, &cid("same")).await.unwrap(), Some(shared_acme.clone()));
    store.delete(&globex, &cid("same"), &Precondition::OneOf(vec![Version(2)])).await.unwrap();
    assert_eq!(store.get(&acme, &cid("same")).await.unwrap(), Some(shared_acme.clone()));
    assert_ne!(shared_acme, shared_globex);

    assert_eq!(ids(&list_all(&*store, &acme, query()).await), ["a1", "same"]);
    assert!(list_all(&*store, &globex, query()).await.is_empty());
    let search = ListQuery { search: NameSearch::parse("*Acme*"), ..query() };
    assert!(list_all(&*store, &globex, search).await.is_empty());
    let seed =
        vec![SeedCustomer { id: cid("a1"), details: named("Globex A1"), creation_timestamp: 9 }];
    store.bulk_insert(&globex, seed).await.unwrap();
    assert_eq!(store.get(&acme, &cid("a1")).await.unwrap(), Some(only_acme));
    assert_eq!(
        store.get(&globex, &cid("a1")).await.unwrap().unwrap().details.name.as_str(),
        "Globex A1"
    );
}

async fn list_paging_is_stable(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    // 45 customers, many sharing a name: paging must still be stable (ties by id).
    for i in 0..45 {
        let name = format!("Name {}", i % 4);
        store.create(&t, &cid(&format!("id{i:02}")), &named(&name), 100 + (i % 3)).await.unwrap();
    }
    store.create(&tenant("other"), &cid("x"), &named("Name 0"), 1).await.unwrap();

    for sort in [
        vec![],
        vec![(SortField::Name, Direction::Asc)],
        vec![(SortField::CreationTimestamp, Direction::Desc)],
    ] {
        let mut seen = Vec::new();
        for page in 0..5 {
            let result = store
                .list(&t, &ListQuery { page, size: 10, sort: sort.clone(), ..query() })
                .await
                .unwrap();
            assert_eq!(result.total_elements, 45, "page {page} of {sort:?}");
            assert_eq!(
                result.content.len(),
                if page < 4 { 10 } else { 5 },
                "page {page} of {sort:?}"
            );
            seen.extend(ids(&result.content));
        }
        let whole = list_all(&*store, &t, ListQuery { sort: sort.clone(), ..query() }).await;
        assert_eq!(seen, ids(&whole), "pages concatenate to the whole sorted list ({sort:?})");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 45);
    }

    let beyond = store.list(&t, &ListQuery { page: 5, size: 10, ..query() }).await.unwrap();
    assert!(beyond.content.is_empty());
    assert_eq!(beyond.total_elements, 45);
    let far = store.list(&t, &ListQuery { page: u32::MAX, size: 1000, ..query() }).await.unwrap();
    assert!(far.content.is_empty());
    assert_eq!(far.total_elements, 45);
    let exact = store.list(&t, &ListQuery { page: 0, size: 45, ..query() }).await.unwrap();
    assert_eq!((exact.content.len(), exact.total_elements), (45, 45));
    let one = store.list(&t, &ListQuery { page: 44, size: 1, ..query() }).await.unwrap();
    assert_eq!(ids(&one.content), ["id44"]);
    assert_eq!(one.total_elements, 45);
    let empty = store.list(&tenant("nobody"), &query()).await.unwrap();
    assert!(empty.content.is_empty());
    assert_eq!(empty.total_elements, 0);
}

async fn list_default_sort_is_by_id(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    for id in ["m", "B", "a", "Z", "b2", "b10", "é"] {
        store.create(&t, &cid(id), &named(&format!("n-{id}")), 1).await.unwrap();
    }
    // Binary order of the UTF-8 bytes: upper case before lower case, ASCII before é.
    assert_eq!(ids(&list_all(&*store, &t, query()).await), ["B", "Z", "a", "b10", "b2", "m", "é"]);
}

async fn list_sorts_by_each_field_both_directions_ties_by_id(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let rows: [(&str, &str, Option<&str>, i64); 9] = [
        ("k1", "beta", Some("IT"), 30),
        ("k2", "Alpha", None, 10),
        ("k3", "alpha", Some("DE"), 20),
        ("k4", "beta", Some("IT"), 10),
        ("k5", "Beta", None, 30),
        ("k6", "gamma", Some("FR"), 20),
        ("k7", "beta", Some("DE"), 30),
        ("k8", "Ärger", Some("AT"), 40),
        ("k9", "zulu", Some("IT"), 10),
    ];
    for (id, name, country, created) in rows {
        store.create(&t, &cid(id), &draft(name, country, None, &[]), created).await.unwrap();
    }
    let all = list_all(&*store, &t, query()).await;
    assert_eq!(all.len(), 9);

    // The expected order, computed here: byte order of names, a missing
    // country first when ascending (last when descending), ties by id ascending.
    let expected = |sort: &[(SortField, Direction)]| {
        let mut sorted = all.clone();
        sorted.sort_by(|a, b| {
            for (field, direction) in sort {
                let ordering = match field {
                    SortField::Name => a.details.name.as_str().cmp(b.details.name.as_str()),
                    SortField::Country => a
                        .details
                        .country
                        .as_ref()
                        .map(|c| c.as_str())
                        .cmp(&b.details.country.as_ref().map(|c| c.as_str())),
                    SortField::CreationTimestamp => a.creation_timestamp.cmp(&b.creation_timestamp),
                };
                let ordering = match direction {
                    Direction::Asc => ordering,
                    Direction::Desc => ordering.reverse(),
                };
                if ordering.is_ne() {
                    return ordering;
                }
            }
            a.id.as_str().cmp(b.id.as_str())
        });
        ids(&sorted)
    };

    let mut sorts: Vec<Vec<(SortField, Direction)>> = Vec::new();
    for field in [SortField::Name, SortField::Country, SortField::CreationTimestamp] {
        for direction in [Direction::Asc, Direction::Desc] {
            sorts.push(vec![(field, direction)]);
        }
    }
    sorts.push(vec![(SortField::Country, Direction::Asc), (SortField::Name, Direction::Desc)]);
    sorts.push(vec![
        (SortField::CreationTimestamp, Direction::Desc),
        (SortField::Country, Direction::Desc),
    ]);
    sorts.push(vec![
        (SortField::Name, Direction::Asc),
        (SortField::CreationTimestamp, Direction::Asc),
    ]);
    for sort in sorts {
        let listed = list_all(&*store, &t, ListQuery { sort: sort.clone(), ..query() }).await;
        assert_eq!(ids(&listed), expected(&sort), "sort {sort:?}");
    }

    // Spot checks that do not rely on the comparator above.
    let by_name = list_all(
        &*store,
        &t,
        ListQuery { sort: vec![(SortField::Name, Direction::Asc)], ..query() },
    )
    .await;
    assert_eq!(ids(&by_name), ["k2", "k5", "k3", "k1", "k4", "k7", "k6", "k9", "k8"]);
    let by_country_desc = list_all(
        &*store,
        &t,
        ListQuery { sort: vec![(SortField::Country, Direction::Desc)], ..query() },
    )
    .await;
    assert_eq!(ids(&by_country_desc), ["k1", "k4", "k9", "k6", "k3", "k7", "k8", "k2", "k5"]);
    let by_created_desc = list_all(
        &*store,
        &t,
        ListQuery { sort: vec![(SortField::CreationTimestamp, Direction::Desc)], ..query() },
    )
    .await;
    assert_eq!(ids(&by_created_desc), ["k8", "k1", "k5", "k7", "k3", "k6", "k2", "k4", "k9"]);
}

async fn list_filters(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let rows = [
        ("c1", "Acme Inc.", Some("IT")),
        ("c2", "Acme", Some("DE")),
        ("c3", "Big Acme", Some("IT")),
        ("c4", "Bacme", None),
        ("c5", "Globex", Some("IT")),
        ("c6", "The Acme Corp", Some("US")),
    ];
    for (id, name, country) in rows {
        store.create(&t, &cid(id), &draft(name, country, None, &[]), 1).await.unwrap();
    }
    store
        .create(&tenant("other"), &cid("o1"), &draft("Acme", Some("IT"), None, &[]), 1)
        .await
        .unwrap();

    let with = |search: &str| ListQuery { search: NameSearch::parse(search), ..query() };
    let cases: Vec<(ListQuery, Vec<&str>)> = vec![
        (with("Acme*"), vec!["c1", "c2"]),
        // Case-insensitive (issue 13): `Bacme` contains `acme`.
        (with("*Acme*"), vec!["c1", "c2", "c3", "c4", "c6"]),
        (with("*cme"), vec!["c2", "c3", "c4"]),
        (with("Acme"), vec!["c2"]),
        (with("*"), vec!["c1", "c2", "c3", "c4", "c5", "c6"]),
        (with("Acme Inc.*"), vec!["c1"]),
        (with("*Acme Inc."), vec!["c1"]),
        (with("*Acme Inc.*"), vec!["c1"]),
        (with("Acme Inc. and more*"), vec![]),
        (with("*xAcme"), vec![]),
        (ListQuery { name_equals: Some("Acme".into()), ..query() }, vec!["c2"]),
        (ListQuery { name_equals: Some("Acm".into()), ..query() }, vec![]),
        (ListQuery { country: Some("IT".into()), ..query() }, vec!["c1", "c3", "c5"]),
        (ListQuery { country: Some("FR".into()), ..query() }, vec![]),
        (ListQuery { country: Some("IT".into()), ..with("*Acme*") }, vec!["c1", "c3"]),
        (
            ListQuery { name_equals: Some("Acme".into()), country: Some("DE".into()), ..query() },
            vec!["c2"],
        ),
        (
            ListQuery { name_equals: Some("Acme".into()), country: Some("IT".into()), ..query() },
            vec![],
        ),
        (ListQuery { name_equals: Some("Big Acme".into()), ..with("*Acme") }, vec!["c3"]),
    ];
    for (query, expected) in cases {
        let page = store.list(&t, &query).await.unwrap();
        assert_eq!(ids(&page.content), expected, "{query:?}");
        assert_eq!(page.total_elements, expected.len() as u64, "{query:?}");
    }
    // The count follows the filters even when the page is full.
    let page = store.list(&t, &ListQuery { size: 1, page: 1, ..with("*Acme*") }).await.unwrap();
    assert_eq!(ids(&page.content), ["c2"]);
    assert_eq!(page.total_elements, 5);
}

async fn list_search_is_literal_and_case_insensitive(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let names = [
        ("p1", "100% pure"),
        ("p2", "100 percent"),
        ("u1", "snake_case"),
        ("u2", "snakeXcase"),
        ("s1", "star*name"),
        ("s2", "starname"),
        ("q1", "what?"),
        ("b1", "[abc]"),
        ("b2", "a"),
        ("e1", "back\\slash"),
        ("c1", "ACME"),
        ("c2", "acme"),
        ("c3", "Acme"),
        ("x1", "x'y\"z"),
    ];
    for (id, name) in names {
        store.create(&t, &cid(id), &named(name), 1).await.unwrap();
    }
    let search = |text: &str| NameSearch::parse(text);
    let cases: Vec<(Option<NameSearch>, Vec<&str>)> = vec![
        (search("*%*"), vec!["p1"]),
        (search("100%*"), vec!["p1"]),
        (search("*_*"), vec!["u1"]),
        (search("snake_*"), vec!["u1"]),
        (search("*e_c*"), vec!["u1"]),
        (Some(NameSearch::Contains("*".into())), vec!["s1"]),
        (Some(NameSearch::Contains("r*n".into())), vec!["s1"]),
        (search("*?"), vec!["q1"]),
        (search("what?"), vec!["q1"]),
        (search("[abc]"), vec!["b1"]),
        (search("*[a*"), vec!["b1"]),
        (search("*\\*"), vec!["e1"]),
        (search("back\\*"), vec!["e1"]),
        // Issue 13: case-insensitive (it was case-sensitive: `acme` found only c2).
        (search("acme"), vec!["c1", "c2", "c3"]),
        (search("ACME"), vec!["c1", "c2", "c3"]),
        (search("*cM*"), vec!["c1", "c2", "c3"]),
        (search("AC*"), vec!["c1", "c2", "c3"]),
        (search("*ME"), vec!["c1", "c2", "c3", "s1", "s2"]),
        (search("SNAKE_*"), vec!["u1"]),
        (search("*E_C*"), vec!["u1"]),
        (search("BACK\\*"), vec!["e1"]),
        (search("*'y\"*"), vec!["x1"]),
        (Some(NameSearch::StartsWith(String::new())), names.iter().map(|(id, _)| *id).collect()),
        (Some(NameSearch::EndsWith(String::new())), names.iter().map(|(id, _)| *id).collect()),
    ];
    for (search, expected) in cases {
        let listed = list_all(&*store, &t, ListQuery { search: search.clone(), ..query() }).await;
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(ids(&listed), expected, "{search:?}");
    }
    let exact = |name: &str| ListQuery { name_equals: Some(name.into()), ..query() };
    assert_eq!(ids(&list_all(&*store, &t, exact("acme")).await), ["c2"]);
    assert_eq!(ids(&list_all(&*store, &t, exact("100%")).await), Vec::<String>::new());
    assert_eq!(ids(&list_all(&*store, &t, exact("snake_case")).await), ["u1"]);
    assert_eq!(ids(&list_all(&*store, &t, exact("snake%")).await), Vec::<String>::new());
}

/// Issue 13: Unicode case folding, the same on every store (each case runs
/// on each backend with the same expectations).
async fn list_search_folds_unicode_case(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let names = [
        ("e1", "École Polytechnique"),
        ("e2", "ecole libre"),
        ("e3", "E\u{301}COLE DÉCOMPOSÉE"),
        ("s1", "Straße 1"),
        ("s2", "STRASSE 2"),
        ("g1", "ΣΊΣΥΦΟΣ Α.Ε."),
        ("t1", "İstanbul Ltd"),
        ("k1", "Kelvin \u{212A}"),
        ("x1", "Acme Inc."),
    ];
    for (id, name) in names {
        store.create(&t, &cid(id), &named(name), 1).await.unwrap();
    }
    let search = |text: &str| NameSearch::parse(text);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("é*", vec!["e1", "e3"]),
        ("É*", vec!["e1", "e3"]),
        ("e\u{301}*", vec!["e1", "e3"]),
        ("École*", vec!["e1", "e3"]),
        ("ÉCOLE POLYTECHNIQUE", vec!["e1"]),
        ("*décomposée", vec!["e3"]),
        ("*ÉCOLE*", vec!["e1", "e3"]),
        ("e*", vec!["e2"]),
        ("strasse*", vec!["s1", "s2"]),
        ("STRAßE*", vec!["s1", "s2"]),
        ("*ss*", vec!["s1", "s2"]),
        ("σίσυφος*", vec!["g1"]),
        ("*ΦΟΣ*", vec!["g1"]),
        ("*kelvin k", vec!["k1"]),
        ("ac*", vec!["x1"]),
        ("*INC.", vec!["x1"]),
    ];
    for (text, expected) in cases {
        let listed = list_all(&*store, &t, ListQuery { search: search(text), ..query() }).await;
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(ids(&listed), expected, "{text:?}");
    }
    // `name=eq;...` stays exact.
    let exact = |name: &str| ListQuery { name_equals: Some(name.into()), ..query() };
    assert_eq!(ids(&list_all(&*store, &t, exact("Straße 1")).await), ["s1"]);
    assert!(list_all(&*store, &t, exact("straße 1")).await.is_empty());
    // A rename is searchable by its new name only; paging and counts follow.
    store.update(&t, &cid("x1"), &named("Globex"), &Precondition::None).await.unwrap();
    assert!(list_all(&*store, &t, ListQuery { search: search("acme*"), ..query() })
        .await
        .is_empty());
    let page = store
        .list(&t, &ListQuery { size: 1, page: 1, search: search("*S*"), ..query() })
        .await
        .unwrap();
    assert_eq!(page.total_elements, 4, "e3, s1, s2, t1 (x1 is now Globex)");
    // Another tenant's customers are never found.
    assert!(list_all(&*store, &tenant("other"), ListQuery { search: search("é*"), ..query() })
        .await
        .is_empty());
}

/// Issue 13: rows written before the V3 migration (no folded name) are
/// folded by it. The database is taken back to V2 (the column, its index
/// and the migration's record removed), then opened again.
async fn list_search_after_the_folding_migration(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    store.create(&t, &cid("e1"), &named("École"), 1).await.unwrap();
    let seed = (0..2500)
        .map(|i| SeedCustomer {
            id: cid(&format!("bulk{i:05}")),
            details: named(&format!("ÀB {i:05}")),
            creation_timestamp: 1,
        })
        .collect();
    store.bulk_insert(&t, seed).await.unwrap();
    store.close().await;
    let undo = "DROP INDEX customers_by_name_folded; \
                ALTER TABLE customers DROP COLUMN name_folded; \
                DELETE FROM refinery_schema_history WHERE version = 3;";
    match &h.backend {
        Backend::Sqlite { dir, .. } => {
            let path = dir.path().join("network.db");
            let connection = rusqlite::Connection::open(&path).unwrap();
            connection.execute_batch(undo).unwrap();
        }
        Backend::Postgres { url, schema } => {
            // V5 (`properties` as `json`) too: reopening then runs V3 to V5
            // over rows written as `jsonb`.
            let undo_v5 = "ALTER TABLE customers DROP CONSTRAINT customers_properties_check; \
                ALTER TABLE customers ALTER COLUMN properties DROP DEFAULT; \
                ALTER TABLE customers ALTER COLUMN properties TYPE JSONB USING properties::jsonb; \
                ALTER TABLE customers ALTER COLUMN properties SET DEFAULT '{}'; \
                ALTER TABLE customers ADD CONSTRAINT customers_properties_check \
                    CHECK (jsonb_typeof(properties) = 'object'); \
                DELETE FROM refinery_schema_history WHERE version = 5;";
            let (client, connection) =
                tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
            let driver = tokio::spawn(connection);
            client
                .batch_execute(&format!(
                    "SET search_path TO {schema}; DROP INDEX customers_unfolded; {undo} \
                     DROP TABLE rate_limit_replicas; \
                     DELETE FROM refinery_schema_history WHERE version = 4; {undo_v5}"
                ))
                .await
                .unwrap();
            drop(client);
            let _ = driver.await;
        }
    }
    let store = h.open_again().await;
    let found = |text: &str| ListQuery { search: NameSearch::parse(text), ..query() };
    assert_eq!(ids(&list_all(&*store, &t, found("é*")).await), ["e1"]);
    let page = store.list(&t, &found("àb 01*")).await.unwrap();
    assert_eq!(page.total_elements, 1000);
    assert_eq!(store.list(&t, &found("*b*")).await.unwrap().total_elements, 2500);
}

/// Issue 13: logins widen the access timestamps, write only on change,
/// never move back, skip unknown customers and stay in their tenant.
async fn record_access_widens_only_and_bumps_the_version_on_change(h: &Harness) {
    let store = h.store();
    let (t, other) = (tenant("acme"), tenant("globex"));
    store.create(&t, &cid("c1"), &named("One"), 1).await.unwrap();
    store.create(&t, &cid("c2"), &named("Two"), 1).await.unwrap();
    store.create(&other, &cid("c1"), &named("Other"), 1).await.unwrap();
    let login = |tenant: &TenantName, id: &str, first: i64, last: i64| AccessUpdate {
        tenant: tenant.clone(),
        id: cid(id),
        first,
        last,
    };
    let access = |c: &Customer| (c.first_access_timestamp, c.last_access_timestamp, c.version);
    let get = |id: &'static str| {
        let store = store.clone();
        let t = t.clone();
        async move { store.get(&t, &cid(id)).await.unwrap().unwrap() }
    };

    let changed =
        store.record_access(&[login(&t, "c1", 500, 600), login(&t, "ghost", 1, 2)]).await.unwrap();
    assert_eq!(changed, 1, "unknown customers are skipped");
    assert_eq!(access(&get("c1").await), (Some(500), Some(600), Version(2)));
    // Inside what is known: no write, the version stays.
    assert_eq!(store.record_access(&[login(&t, "c1", 550, 550)]).await.unwrap(), 0);
    assert_eq!(store.record_access(&[login(&t, "c1", 500, 600)]).await.unwrap(), 0);
    assert_eq!(access(&get("c1").await), (Some(500), Some(600), Version(2)));
    // Earlier first, later last, each alone.
    assert_eq!(store.record_access(&[login(&t, "c1", 400, 450)]).await.unwrap(), 1);
    assert_eq!(access(&get("c1").await), (Some(400), Some(600), Version(3)));
    assert_eq!(store.record_access(&[login(&t, "c1", 700, 700)]).await.unwrap(), 1);
    assert_eq!(access(&get("c1").await), (Some(400), Some(700), Version(4)));
    // Several customers in one write; the other tenant's c1 is its own.
    let changed = store
        .record_access(&[login(&t, "c2", 10, 20), login(&other, "c1", 5, 5), login(&t, "c1", 1, 1)])
        .await
        .unwrap();
    assert_eq!(changed, 3);
    assert_eq!(access(&get("c1").await), (Some(1), Some(700), Version(5)));
    assert_eq!(access(&get("c2").await), (Some(10), Some(20), Version(2)));
    let theirs = store.get(&other, &cid("c1")).await.unwrap().unwrap();
    assert_eq!(access(&theirs), (Some(5), Some(5), Version(2)));
    // An update keeps them; an If-Match with the version before a login fails.
    assert_precondition_failed(
        store.update(&t, &cid("c1"), &named("One!"), &Precondition::OneOf(vec![Version(4)])).await,
    );
    let updated = store
        .update(&t, &cid("c1"), &named("One!"), &Precondition::OneOf(vec![Version(5)]))
        .await
        .unwrap();
    assert_eq!(access(&updated), (Some(1), Some(700), Version(6)));
    assert_eq!(store.record_access(&[]).await.unwrap(), 0);
}

async fn values_are_stored_verbatim(h: &Harness) {
    let store = h.store();
    let odd = [
        "Robert'); DROP TABLE customers;--",
        "\" OR 1=1 --",
        "'; DELETE FROM customers WHERE ''='",
        "emoji 🦀🚀 and 👨‍👩‍👧",
        "日本語の顧客",
        "Ünïcödé ñ ß Ω",
        "tab\tnewline\nreturn\r",
        "  leading and trailing  ",
        "$1 $$ ?1 :name @p %s {}",
        "back\\slash \\x00 \\u0000",
        "\u{FFFF}\u{10FFFF}\u{200B}",
    ];
    let t = tenant("tenant'; DROP TABLE customers;-- 🦀");
    for (i, text) in odd.iter().enumerate() {
        let id = cid(&format!("{text}#{i}"));
        let properties = props(&[(text, text), ("k\"ey", text), ("🔑", "")]);
        let details = CustomerDraft::parse(DraftFields {
            country: Some("IT".into()),
            timezone: Some("America/Argentina/Buenos_Aires".into()),
            properties: Some(properties),
            ..DraftFields::new(*text)
        })
        .unwrap();
        let created = store.create(&t, &id, &details, i as i64).await.unwrap();
        let read = store.get(&t, &id).await.unwrap().expect("stored");
        assert_eq!(read, created);
        assert_eq!(read.id.as_str(), format!("{text}#{i}"));
        assert_eq!(read.details.name.as_str(), *text);
        assert_eq!(read.details.properties.as_map().get(*text).map(String::as_str), Some(*text));
        let exact = ListQuery { name_equals: Some(text.to_string()), ..query() };
        assert_eq!(ids(&list_all(&*store, &t, exact).await), [read.id.as_str()]);
        let contains = ListQuery { search: Some(NameSearch::Contains(fold(text))), ..query() };
        assert!(ids(&list_all(&*store, &t, contains).await).contains(&read.id.as_str().to_string()));
        let updated = store
            .update(&t, &id, &named(&format!("{text}!")), &Precondition::OneOf(vec![Version(1)]))
            .await
            .unwrap();
        assert_eq!(store.get(&t, &id).await.unwrap(), Some(updated));
    }
    assert_eq!(count(&*store, &t).await, odd.len() as u64);
    assert_eq!(count(&*store, &tenant("tenant")).await, 0);
}

/// Issue 12: a property key may contain NUL (OpenAPI 3.0 cannot forbid it),
/// which PostgreSQL's `jsonb` cannot hold; create, update and bulk insert
/// keep it on every backend.
async fn a_property_key_with_nul_round_trips(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let key = "nul\0key";
    let with_nul = |name: &str| draft(name, None, None, &[(key, "v"), ("\0", "only NUL")]);
    let created = store.create(&t, &cid("created"), &with_nul("Created"), 1).await.unwrap();
    assert_eq!(created.details.properties.as_map()[key], "v");
    assert_eq!(store.get(&t, &cid("created")).await.unwrap(), Some(created));

    store.create(&t, &cid("updated"), &named("Updated"), 2).await.unwrap();
    let updated =
        store.update(&t, &cid("updated"), &with_nul("Updated"), &Precondition::None).await.unwrap();
    assert_eq!(updated.details.properties.as_map()["\0"], "only NUL");
    assert_eq!(store.get(&t, &cid("updated")).await.unwrap(), Some(updated));

    let seed =
        SeedCustomer { id: cid("seeded"), details: with_nul("Seeded"), creation_timestamp: 3 };
    store.bulk_insert(&t, vec![seed]).await.unwrap();
    let seeded = store.get(&t, &cid("seeded")).await.unwrap().expect("seeded");
    assert_eq!(seeded.details.properties, with_nul("Seeded").properties);
}

async fn largest_properties_round_trip(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let map: BTreeMap<String, String> = (0..200)
        .map(|i| (format!("{i:03}{}", "k".repeat(125)), format!("{i}{}", "é🦀".repeat(2046))))
        .collect();
    let fields = DraftFields { properties: Some(map), ..DraftFields::new("N".repeat(255)) };
    let details = CustomerDraft::parse(fields).unwrap();
    let id = cid(&"i".repeat(128));
    let created = store.create(&t, &id, &details, 1).await.unwrap();
    assert_eq!(store.get(&t, &id).await.unwrap(), Some(created));
    let listed = list_all(&*store, &t, query()).await;
    assert_eq!(listed[0].details, details);
}

async fn bulk_insert_then_list(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    store.create(&t, &cid("before"), &named("Before"), 1).await.unwrap();
    let seed: Vec<SeedCustomer> = (0..3_000)
        .map(|i| SeedCustomer {
            id: cid(&format!("bulk{i:05}")),
            details: draft(
                &format!("Customer {i}"),
                if i % 2 == 0 { Some("IT") } else { None },
                Some("UTC"),
                &[("n", &i.to_string())],
            ),
            creation_timestamp: 1_000 + i,
        })
        .collect();
    store.bulk_insert(&t, seed).await.unwrap();
    store.bulk_insert(&t, vec![]).await.unwrap();

    assert_eq!(count(&*store, &t).await, 3_001);
    let italians =
        store.list(&t, &ListQuery { country: Some("IT".into()), ..query() }).await.unwrap();
    assert_eq!(italians.total_elements, 1_500);
    let one = store.get(&t, &cid("bulk02999")).await.unwrap().unwrap();
    assert_eq!(one.version, Version::FIRST);
    assert_eq!(one.creation_timestamp, 3_999);
    assert_eq!(one.details.properties.as_map()["n"], "2999");
    let newest = store
        .list(
            &t,
            &ListQuery {
                size: 2,
                sort: vec![(SortField::CreationTimestamp, Direction::Desc)],
                ..query()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&newest.content), ["bulk02999", "bulk02998"]);
    // Bulk-inserted customers are ordinary customers.
    store
        .update(&t, &cid("bulk00000"), &named("Updated"), &Precondition::OneOf(vec![Version(1)]))
        .await
        .unwrap();
    store.delete(&t, &cid("bulk00001"), &Precondition::None).await.unwrap();
    assert_eq!(count(&*store, &t).await, 3_000);
}

async fn concurrent_read_modify_write_loses_no_update(h: &Harness) {
    const TASKS: usize = 16;
    const INCREMENTS: usize = 25;
    let store = h.store();
    let t = tenant("acme");
    let id = cid("counter");
    store.create(&t, &id, &draft("Counter", None, None, &[("counter", "0")]), 1).await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, t, id) = (store.clone(), t.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let (mut successes, mut conflicts) = (0usize, 0usize);
            while successes < INCREMENTS {
                let current = store.get(&t, &id).await.unwrap().unwrap();
                let counter: u64 = current.details.properties.as_map()["counter"].parse().unwrap();
                let mut next = current.details.clone();
                next.properties =
                    Properties::parse(props(&[("counter", &(counter + 1).to_string())])).unwrap();
                match store
                    .update(&t, &id, &next, &Precondition::OneOf(vec![current.version]))
                    .await
                {
                    Ok(updated) => {
                        assert_eq!(updated.version, current.version.next());
                        successes += 1;
                    }
                    Err(StoreError::PreconditionFailed) => conflicts += 1,
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            (successes, conflicts)
        }));
    }
    let mut total = 0;
    for task in tasks {
        let (successes, _conflicts) = task.await.unwrap();
        total += successes;
    }
    assert_eq!(total, TASKS * INCREMENTS);
    let last = store.get(&t, &id).await.unwrap().unwrap();
    assert_eq!(last.details.properties.as_map()["counter"], (TASKS * INCREMENTS).to_string());
    assert_eq!(last.version, Version(1 + (TASKS * INCREMENTS) as i64));
}

type JobFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = (String, Result<(), StoreError>)> + Send>>;

/// Many writes at once, some failing: on SQLite with group commit they share
/// transactions, and each failure must roll back only its own job.
async fn concurrent_mixed_writes_fail_independently(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let target = cid("target");
    store.create(&t, &target, &named("Target"), 1).await.unwrap();
    store.create(&t, &cid("doomed"), &named("Doomed"), 1).await.unwrap();

    // Keep the SQLite writer busy so that what follows queues up and is
    // committed in as few batches as possible.
    let seed: Vec<SeedCustomer> = (0..20_000)
        .map(|i| SeedCustomer {
            id: cid(&format!("seed{i:05}")),
            details: named("Seed"),
            creation_timestamp: 0,
        })
        .collect();
    let busy = {
        let (store, t) = (store.clone(), t.clone());
        tokio::spawn(async move { store.bulk_insert(&t, seed).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;

    let before = h.sqlite.as_ref().map(|s| s.commit_stats());
    let mut jobs: Vec<JobFuture> = Vec::new();
    for i in 0..20 {
        let (s, tt) = (store.clone(), t.clone());
        jobs.push(Box::pin(async move {
            (
                "create".into(),
                s.create(&tt, &cid(&format!("new{i:02}")), &named("New"), 5).await.map(|_| ()),
            )
        }));
        let (s, tt, target) = (store.clone(), t.clone(), target.clone());
        jobs.push(Box::pin(async move {
            let stale = Precondition::OneOf(vec![Version(99)]);
            ("stale".into(), s.update(&tt, &target, &named("Stale"), &stale).await.map(|_| ()))
        }));
        let (s, tt) = (store.clone(), t.clone());
        jobs.push(Box::pin(async move {
            let ghost = cid(&format!("ghost{i:02}"));
            (
                "ghost".into(),
                s.update(&tt, &ghost, &named("Ghost"), &Precondition::None).await.map(|_| ()),
            )
        }));
        let (s, tt) = (store.clone(), t.clone());
        jobs.push(Box::pin(async move {
            // Duplicate id: a database-level failure inside the batch.
            ("duplicate".into(), s.create(&tt, &cid("doomed"), &named("Dup"), 5).await.map(|_| ()))
        }));
    }
    {
        let (s, tt, target) = (store.clone(), t.clone(), target.clone());
        jobs.push(Box::pin(async move {
            let good = Precondition::OneOf(vec![Version(1)]);
            ("good".into(), s.update(&tt, &target, &named("Renamed"), &good).await.map(|_| ()))
        }));
    }
    let job_count = jobs.len() as u64;
    let results = futures::future::join_all(jobs).await;
    for (what, result) in &results {
        match what.as_str() {
            "create" | "good" => assert!(result.is_ok(), "{what}: {result:?}"),
            "stale" => {
                assert!(matches!(result, Err(StoreError::PreconditionFailed)), "{what}: {result:?}")
            }
            "ghost" => assert!(matches!(result, Err(StoreError::NotFound)), "{what}: {result:?}"),
            "duplicate" => {
                assert!(matches!(result, Err(StoreError::Unavailable(_))), "{what}: {result:?}")
            }
            _ => unreachable!(),
        }
    }
    busy.await.unwrap().unwrap();

    let target_now = store.get(&t, &target).await.unwrap().unwrap();
    assert_eq!((target_now.details.name.as_str(), target_now.version), ("Renamed", Version(2)));
    assert_eq!(
        store.get(&t, &cid("doomed")).await.unwrap().unwrap().details.name.as_str(),
        "Doomed"
    );
    assert_eq!(store.get(&t, &cid("ghost00")).await.unwrap(), None);
    assert_eq!(count(&*store, &t).await, 2 + 20 + 20_000);

    if let (Some(sqlite), Some(before)) = (h.sqlite.as_ref(), before) {
        let after = sqlite.commit_stats();
        let (transactions, jobs) =
            (after.transactions - before.transactions, after.jobs - before.jobs);
        assert_eq!(jobs, job_count);
        match h.kind {
            Kind::SqliteGroupCommit => {
                assert!(
                    transactions < jobs && after.largest_batch >= 2,
                    "group commit should batch: {jobs} jobs in {transactions} transactions ({after:?})"
                );
                eprintln!("group commit: {jobs} jobs in {transactions} transactions ({after:?})");
            }
            _ => {
                assert_eq!(transactions, jobs, "one transaction per write");
                assert_eq!(after.largest_batch, 1);
            }
        }
    }
}

async fn data_survives_close_and_reopen(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    let details = draft("Durable", Some("IT"), Some("Europe/Rome"), &[("k", "v")]);
    store.create(&t, &cid("d1"), &details, 7).await.unwrap();
    let updated =
        store.update(&t, &cid("d1"), &named("Durable 2"), &Precondition::None).await.unwrap();
    store.create(&t, &cid("d2"), &named("Deleted"), 8).await.unwrap();
    store.delete(&t, &cid("d2"), &Precondition::None).await.unwrap();
    let writes: Vec<_> = (0..10)
        .map(|i| {
            let (store, t) = (store.clone(), t.clone());
            async move { store.create(&t, &cid(&format!("p{i}")), &named("P"), 9).await }
        })
        .collect();
    if h.sqlite.is_some() {
        // Writes queued when close starts are finished, not dropped: one poll
        // puts every job in the writer's queue, then close runs.
        let mut queued = Box::pin(futures::future::join_all(writes));
        assert!(futures::poll!(&mut queued).is_pending());
        store.close().await;
        for result in queued.await {
            result.unwrap();
        }
    } else {
        for result in futures::future::join_all(writes).await {
            result.unwrap();
        }
        store.close().await;
    }

    let reopened = h.open_again().await;
    assert_eq!(reopened.get(&t, &cid("d1")).await.unwrap(), Some(updated));
    assert_eq!(reopened.get(&t, &cid("d2")).await.unwrap(), None);
    assert_eq!(count(&*reopened, &t).await, 11);
    // Migrations ran again on an up-to-date database: a no-op.
    let again = reopened
        .update(&t, &cid("d1"), &named("Durable 3"), &Precondition::OneOf(vec![Version(2)]))
        .await;
    assert_eq!(again.unwrap().version, Version(3));

    if let Backend::Sqlite { dir, .. } = &h.backend {
        let files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(files.contains(&"network.db".to_string()), "{files:?}");
        assert!(files.iter().all(|f| f.starts_with("network.db")), "one database file: {files:?}");
        let check = rusqlite::Connection::open(dir.path().join("network.db")).unwrap();
        let mode: String = check.query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }
}

async fn close_is_idempotent_and_later_writes_fail(h: &Harness) {
    let store = h.store();
    let t = tenant("acme");
    store.create(&t, &cid("c1"), &named("Before"), 1).await.unwrap();
    store.close().await;
    store.close().await;
    assert_unavailable(store.create(&t, &cid("c2"), &named("After"), 1).await);
    assert_unavailable(store.update(&t, &cid("c1"), &named("After"), &Precondition::None).await);
    assert_unavailable(store.delete(&t, &cid("c1"), &Precondition::None).await);
    assert_unavailable(store.ping().await);
    let reopened = h.open_again().await;
    assert_eq!(count(&*reopened, &t).await, 1);
}

// ---------------------------------------------------------------------------
// Seeding speed, not part of the default run:
// `cargo test --release -p network-server --test store_suite -- --ignored --nocapture`

async fn bulk_insert_of_a_million_rows(h: &Harness) {
    let store = h.store();
    let t = tenant("bench");
    let seed: Vec<SeedCustomer> = (0..1_000_000)
        .map(|i| SeedCustomer {
            id: network_server::domain::new_customer_id(),
            details: draft(
                &format!("Customer {i}"),
                Some("IT"),
                Some("Europe/Rome"),
                &[("tier", "gold")],
            ),
            creation_timestamp: 1_700_000_000_000 + i,
        })
        .collect();
    let started = std::time::Instant::now();
    store.bulk_insert(&t, seed).await.unwrap();
    let elapsed = started.elapsed();
    eprintln!("{:?}: bulk_insert of 1,000,000 rows: {elapsed:?}", h.kind);
    assert_eq!(count(&*store, &t).await, 1_000_000);
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "seeding speed: run with --release --ignored"]
async fn sqlite_bulk_insert_of_a_million_rows() {
    run(Kind::SqliteGroupCommit, |h| Box::pin(bulk_insert_of_a_million_rows(h))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "seeding speed: run with --release --ignored"]
async fn postgres_bulk_insert_of_a_million_rows() {
    run(Kind::Postgres, |h| Box::pin(bulk_insert_of_a_million_rows(h))).await;
}

/// Issue 10: a list query had no time limit. Over its limit it is stopped
/// and reported as [`StoreError::Timeout`] with the limit; the store keeps
/// answering afterwards.
async fn list_over_the_time_limit_is_a_timeout(h: &Harness) {
    let t = tenant("acme");
    let countries = ["IT", "FR", "DE"];
    let customers = (0..30_000)
        .map(|i| SeedCustomer {
            id: cid(&format!("c{i:06}")),
            details: draft(&format!("n{}", (i * 7919) % 30_000), Some(countries[i % 3]), None, &[]),
            creation_timestamp: i as i64,
        })
        .collect();
    h.store().bulk_insert(&t, customers).await.unwrap();
    let limit = Duration::from_millis(1);
    let limited = h.open_with_timeout(limit).await;
    let heavy = ListQuery {
        page: 25,
        size: 1000,
        sort: vec![(SortField::Country, Direction::Asc), (SortField::Name, Direction::Desc)],
        ..query()
    };
    match limited.list_ids(&t, &heavy).await {
        Err(StoreError::Timeout { limit: reported }) => assert_eq!(reported, limit),
        other => panic!("expected a timeout, got {:?}", other.map(|page| page.ids.len())),
    }
    // Without the limit the same query answers, and the limited store still serves.
    assert_eq!(h.store().list_ids(&t, &heavy).await.unwrap().ids.len(), 1000);
    assert!(limited.get(&t, &cid("c000001")).await.unwrap().is_some());
}

/// The statements both stores run, as built from the column description
/// (`store::sql`): every column once, parameters numbered in order.
#[test]
fn statements_name_every_column_once() {
    assert_eq!(
        sql::SQLITE.insert(),
        "INSERT INTO customers (tenant, id, name, country, timezone, properties, name_folded, \
             creation_timestamp, first_access_timestamp, last_access_timestamp, version) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, NULL, 1)"
    );
    assert_eq!(
        sql::POSTGRES.update(|_| true, true),
        "UPDATE customers SET name = $3, country = $4, timezone = $5, \
             properties = $6::text::json, name_folded = $7, version = version + 1 \
             WHERE tenant = $1 AND id = $2 \
             AND version = ANY($8::bigint[]) RETURNING creation_timestamp, \
             first_access_timestamp, last_access_timestamp, version"
    );
    assert_eq!(
        sql::SQLITE.update(|i| i >= 2, false),
        "UPDATE customers SET timezone = ?5, properties = ?6, name_folded = ?7, \
             version = version + 1 \
             WHERE tenant = ?1 AND id = ?2"
    );
    assert_eq!(
        sql::SQLITE.update_keeping(|i| i >= 2 && i != 4, |i| i < 2, true),
        "UPDATE customers SET timezone = ?5, properties = ?6, version = version + 1 \
             WHERE tenant = ?1 AND id = ?2 AND name IS ?3 AND country IS ?4 \
             AND version IN (SELECT value FROM json_each(?8))"
    );
    assert_eq!(
        sql::SQLITE.select_managed(),
        "SELECT creation_timestamp, first_access_timestamp, last_access_timestamp, version \
             FROM customers WHERE tenant = ?1 AND id = ?2"
    );
    assert_eq!(
        sql::POSTGRES.select_one(),
        "SELECT id, name, country, timezone, properties::text, name_folded, creation_timestamp, \
             first_access_timestamp, last_access_timestamp, version FROM customers \
             WHERE tenant = $1 AND id = $2"
    );
    assert_eq!(
        sql::postgres_bulk_insert(),
        "INSERT INTO customers (tenant, id, name, country, timezone, properties, name_folded, \
             creation_timestamp, first_access_timestamp, last_access_timestamp, version) \
             SELECT $1, u.id, u.name, u.country, u.timezone, u.properties::json, \
             u.name_folded, u.creation_timestamp, NULL, NULL, 1 FROM unnest($2::text[], \
             $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[]) \
             AS u(id, name, country, timezone, properties, name_folded, creation_timestamp)"
    );
}

/// The bundled SQLite is built as `.cargo/config.toml` asks (issue 17):
/// without memory statistics, which take a global mutex on every
/// allocation SQLite makes. A `LIBSQLITE3_FLAGS` set in the environment
/// replaces the workspace's and fails this. (`HAVE_FDATASYNC`, the other
/// flag, is not among SQLite's compile options.)
#[test]
fn the_bundled_sqlite_is_built_without_memory_statistics() {
    let connection = rusqlite::Connection::open_in_memory().expect("an in-memory database");
    let mut statement = connection.prepare("PRAGMA compile_options").expect("the pragma");
    let options: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .expect("its rows")
        .collect::<Result<_, _>>()
        .expect("text");
    assert!(options.iter().any(|option| option == "DEFAULT_MEMSTATUS=0"), "{options:?}");
}
