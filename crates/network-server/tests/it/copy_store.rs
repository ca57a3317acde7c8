//! `network-server copy-store`: a SQLite data directory copied into
//! PostgreSQL keeps every customer with its id, ETag and timestamps, is
//! verified per tenant, refuses a non-empty target unless resuming, and a
//! PostgreSQL server started on the copy serves the same customers.

use network_server::copy_store::{copy_store, CopyError};
use network_server::server;

use crate::helpers::*;

#[tokio::test]
async fn a_sqlite_store_copied_into_postgres_serves_the_same_customers() {
    let Some(Backend::Postgres { url, schema }) = postgres_backend("copy_store").await else {
        return;
    };
    let mut app = spawn_app().await;
    let client = app.client();
    let other = app.client_with(&mint(&claims(OTHER_TENANT, "o", ALL)));
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push((TENANT, app.create(&format!("Acme {n}")).await));
    }
    // Updated customers have versions above 1, so ETags must survive the copy.
    for (_, id) in ids.iter().take(10) {
        let details = network_client::types::CustomerDetails::builder()
            .name("Renamed")
            .country(Some("IT".parse().unwrap()))
            .properties(Some(network_client::types::Properties(
                [("plan".to_string(), "gold \u{e9}".parse().unwrap())].into(),
            )));
        client
            .update_customer()
            .x_servitly_tenant(TENANT)
            .customer_id(id.as_str())
            .body(details)
            .send()
            .await
            .unwrap();
    }
    let created = other
        .create_customer()
        .x_servitly_tenant(OTHER_TENANT)
        .body(network_client::types::CustomerDetails::builder().name("Globex"))
        .send()
        .await
        .unwrap()
        .into_inner();
    ids.push((OTHER_TENANT, created.id.to_string()));
    // A restart proves the data is on disk; the copy reads one consistent
    // snapshot of it (it would even while a server writes).
    app.restart().await;
    let mut progress = Vec::new();
    let report = copy_store(app.data_dir.path(), &url, Some(&schema), false, |done, total| {
        progress.push((done, total))
    })
    .await
    .expect("copies and verifies");
    assert_eq!(report.read, 31);
    assert_eq!(report.inserted, 31);
    assert_eq!(report.tenants.len(), 2, "{report}");
    assert_eq!(progress.last(), Some(&(31, 31)));

    // A second copy is refused; resuming inserts nothing and verifies again.
    let refused = copy_store(app.data_dir.path(), &url, Some(&schema), false, |_, _| {})
        .await
        .expect_err("a non-empty target is refused");
    assert!(matches!(refused, CopyError::TargetNotEmpty(31)), "{refused}");
    let resumed = copy_store(app.data_dir.path(), &url, Some(&schema), true, |_, _| {})
        .await
        .expect("resumes");
    assert_eq!(resumed.inserted, 0);

    // A PostgreSQL server on the copy answers as the SQLite one does.
    let backend = Backend::Postgres { url: url.clone(), schema: schema.clone() };
    let running = server::start(
        settings(app.data_dir.path(), &backend, &relaxed_rate()),
        network_server::telemetry::discard(),
    )
    .await
    .expect("a PostgreSQL server starts on the copy");
    let copied_url = format!("http://{}", running.local_addr());
    for (tenant, id) in &ids {
        let token = mint(&claims(tenant, "reader", ALL));
        let path = format!("/network/customers/{id}");
        let original =
            raw(reqwest::Method::GET, &app.url(&path), Some(&token), Some(tenant), None).await;
        let copied = raw(
            reqwest::Method::GET,
            &format!("{copied_url}{path}"),
            Some(&token),
            Some(tenant),
            None,
        )
        .await;
        assert_eq!(copied.status(), 200, "{id}");
        assert_eq!(original.headers()["etag"], copied.headers()["etag"], "{id}: same ETag");
        let original: serde_json::Value = original.json().await.unwrap();
        let copied: serde_json::Value = copied.json().await.unwrap();
        assert_eq!(original, copied, "{id}: same customer");
    }
    // Issue 13: the copied names are folded, so searchText finds them in any case.
    let token = mint(&claims(TENANT, "reader", ALL));
    let search = format!("{copied_url}/v2/network/customers?searchText=ACME*&size=100");
    let page = raw(reqwest::Method::GET, &search, Some(&token), Some(TENANT), None).await;
    let page: serde_json::Value = page.json().await.unwrap();
    assert_eq!(page["totalElements"], 20, "30 `Acme n`, 10 of them renamed: {page}");
    running.shutdown().await.unwrap();
    // Changing the target afterwards makes verification fail, naming the tenant.
    let (pg, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    pg.execute(
        &format!("UPDATE {schema}.customers SET name = 'Tampered' WHERE id = $1"),
        &[&ids[0].1],
    )
    .await
    .unwrap();
    let mismatch = copy_store(app.data_dir.path(), &url, Some(&schema), true, |_, _| {})
        .await
        .expect_err("verification notices the change");
    assert!(
        matches!(&mismatch, CopyError::Mismatch { tenant, .. } if tenant == TENANT),
        "{mismatch}"
    );
    pg.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
    app.stop().await;
}

/// A SQLite file from before the folded-name column (V3) is copied as it is:
/// copy-store opens the source read-only and does not migrate it, and the
/// target computes the folded names after the copy.
#[tokio::test]
async fn a_sqlite_file_from_before_the_folded_names_is_copied_and_folded() {
    let Some(Backend::Postgres { url, schema }) = postgres_backend("copy_store_v2").await else {
        return;
    };
    let app = spawn_app().await;
    for name in ["École", "Acme", "STRASSE"] {
        app.create(name).await;
    }
    let data_dir = app.data_dir.clone();
    app.stop().await;
    let connection = rusqlite::Connection::open(data_dir.path().join(server::SQLITE_FILE)).unwrap();
    connection
        .execute_batch(
            "DROP INDEX customers_by_name_folded; \
             ALTER TABLE customers DROP COLUMN name_folded; \
             DELETE FROM refinery_schema_history WHERE version = 3;",
        )
        .unwrap();
    drop(connection);
    let report = copy_store(data_dir.path(), &url, Some(&schema), false, |_, _| {})
        .await
        .expect("copies a file that predates name_folded");
    assert_eq!(report.read, 3, "{report}");
    let (pg, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let folded: Vec<String> = pg
        .query(&format!("SELECT name_folded FROM {schema}.customers ORDER BY name_folded"), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<_, Option<String>>(0).expect("every copied row is folded"))
        .collect();
    assert_eq!(folded.len(), 3);
    assert!(folded.contains(&"école".to_string()), "{folded:?}");
    pg.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
