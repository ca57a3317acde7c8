//! No lost update: clients doing GET → increment a counter property → PUT with
//! `If-Match` (retrying on 412) end with a counter equal to the number of
//! successful PUTs, on one SQLite server and on two replicas sharing PostgreSQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const CLIENTS: usize = 16;
const INCREMENTS: usize = 50;

async fn increment_until_done(
    base_urls: Vec<String>,
    id: String,
    client_index: usize,
    successes: Arc<AtomicU64>,
) {
    let http = reqwest::Client::new();
    let token = admin_token();
    let mut done = 0;
    let mut attempt = 0usize;
    while done < INCREMENTS {
        // Alternate between replicas so both serve reads and writes.
        let base = &base_urls[(client_index + attempt) % base_urls.len()];
        attempt += 1;
        let url = format!("{base}/network/customers/{id}");
        let got = http
            .get(&url)
            .bearer_auth(&token)
            .header("X-Servitly-Tenant", TENANT)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        let etag = got.headers()["etag"].to_str().unwrap().to_string();
        let mut customer: serde_json::Value = got.json().await.unwrap();
        let counter: u64 =
            customer["properties"]["counter"].as_str().unwrap_or("0").parse().unwrap();
        customer["properties"]["counter"] = json!((counter + 1).to_string());
        let put = http
            .put(&url)
            .bearer_auth(&token)
            .header("X-Servitly-Tenant", TENANT)
            .header("If-Match", &etag)
            .json(&customer)
            .send()
            .await
            .unwrap();
        match put.status().as_u16() {
            200 => {
                done += 1;
                successes.fetch_add(1, Ordering::SeqCst);
            }
            412 => continue,
            other => panic!("unexpected status {other}: {}", put.text().await.unwrap_or_default()),
        }
    }
}

async fn run_counter(apps: &[&TestApp]) {
    let id = apps[0].create("Counter").await;
    let successes = Arc::new(AtomicU64::new(0));
    let base_urls: Vec<String> = apps.iter().map(|app| app.base_url.clone()).collect();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|index| {
            tokio::spawn(increment_until_done(
                base_urls.clone(),
                id.clone(),
                index,
                successes.clone(),
            ))
        })
        .collect();
    for task in tasks {
        task.await.expect("a client task finishes");
    }
    let response = raw(
        Method::GET,
        &apps[0].url(&format!("/network/customers/{id}")),
        Some(&admin_token()),
        Some(TENANT),
        None,
    )
    .await;
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let customer: serde_json::Value = response.json().await.unwrap();
    let counter: u64 = customer["properties"]["counter"].as_str().unwrap().parse().unwrap();
    let successes = successes.load(Ordering::SeqCst);
    assert_eq!(successes, (CLIENTS * INCREMENTS) as u64);
    assert_eq!(counter, successes, "no lost update");
    assert_eq!(etag, format!("\"{}\"", successes + 1), "one version per successful PUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_update_on_one_sqlite_server() {
    let app = spawn_app().await;
    run_counter(&[&app]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_update_on_two_replicas_sharing_postgres() {
    let Some(backend) = postgres_backend("no_lost_update_on_two_replicas_sharing_postgres").await
    else {
        return;
    };
    let first = spawn_app_with(backend, relaxed_rate()).await;
    let second = first.replica().await;
    run_counter(&[&first, &second]).await;
    // What one replica wrote, the other reads.
    second.stop().await;
    first.stop().await;
}
