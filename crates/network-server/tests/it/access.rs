//! Issue 13: logins (verified tokens with a customer claim) recorded as the
//! customer's `firstAccessTimestamp` / `lastAccessTimestamp`: the earliest
//! and the latest `iat`, never backwards, only written when they change
//! (then with a new ETag), across restarts and replicas.
//!
//! Logins are written off the request's path (every 20 ms in these servers),
//! so each test waits for a recorded value, and proves that something was
//! NOT recorded by a later login of another customer: the recorder handles
//! logins in order, so once the later one is visible the earlier one was
//! handled.

use std::time::Duration;

use reqwest::Method;

use crate::helpers::*;

/// A token of a user of `customer` who logged in at `iat` (seconds).
fn login_token(customer: &str, iat: i64) -> String {
    let mut claims = claims(TENANT, &format!("user-{customer}-{iat}"), &["READ_CUSTOMER"]);
    claims.customer_id = Some(customer.to_string());
    claims.iat = iat;
    mint(&claims)
}

/// One request with `token` (a GET of its own customer).
async fn use_token(app: &TestApp, customer: &str, token: &str) -> u16 {
    let url = app.url(&format!("/network/customers/{customer}"));
    raw(Method::GET, &url, Some(token), Some(TENANT), None).await.status().as_u16()
}

/// The customer's (first access, last access, ETag), read with an admin token.
async fn access_of(app: &TestApp, id: &str) -> (Option<i64>, Option<i64>, String) {
    let url = app.url(&format!("/network/customers/{id}"));
    let response = raw(Method::GET, &url, Some(&admin_token()), Some(TENANT), None).await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    (body["firstAccessTimestamp"].as_i64(), body["lastAccessTimestamp"].as_i64(), etag)
}

/// Waits until the customer's access timestamps are `(first, last)` (in
/// seconds); returns its ETag then.
async fn wait_for(app: &TestApp, id: &str, first: i64, last: i64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (seen_first, seen_last, etag) = access_of(app, id).await;
        if (seen_first, seen_last) == (Some(first * 1000), Some(last * 1000)) {
            return etag;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id}: access is {seen_first:?}..{seen_last:?}, expected {first}..{last} (seconds)"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Logs a fresh user of a fresh sentinel customer in and waits until that
/// is recorded: every login sent before it has been handled by then.
async fn barrier(app: &TestApp) {
    let sentinel = app.create("Sentinel").await;
    let at = now() - 1;
    assert_eq!(use_token(app, &sentinel, &login_token(&sentinel, at)).await, 200);
    wait_for(app, &sentinel, at, at).await;
}

#[tokio::test]
async fn logins_keep_the_earliest_and_the_latest_iat_and_change_the_etag() {
    let app = spawn_app().await;
    let id = app.create("Acme").await;
    assert_eq!(access_of(&app, &id).await, (None, None, "\"1\"".to_string()));
    let base = now() - 10_000;

    assert_eq!(use_token(&app, &id, &login_token(&id, base + 100)).await, 200);
    let etag = wait_for(&app, &id, base + 100, base + 100).await;
    assert_eq!(etag, "\"2\"", "a new ETag when the timestamps change");

    // An older login moves the first access back, a newer the last access on.
    use_token(&app, &id, &login_token(&id, base + 50)).await;
    assert_eq!(wait_for(&app, &id, base + 50, base + 100).await, "\"3\"");
    use_token(&app, &id, &login_token(&id, base + 200)).await;
    assert_eq!(wait_for(&app, &id, base + 50, base + 200).await, "\"4\"");

    // A login between the two changes nothing: no write, the same ETag.
    use_token(&app, &id, &login_token(&id, base + 150)).await;
    barrier(&app).await;
    assert_eq!(
        access_of(&app, &id).await,
        (Some((base + 50) * 1000), Some((base + 200) * 1000), "\"4\"".to_string())
    );

    // Several logins at once (one batch): the extremes win.
    for iat in [base + 300, base + 10, base + 250] {
        use_token(&app, &id, &login_token(&id, iat)).await;
    }
    wait_for(&app, &id, base + 10, base + 300).await;

    // An update keeps them (server-managed), and its If-Match sees the new ETag.
    let (.., etag) = access_of(&app, &id).await;
    let url = app.url(&format!("/network/customers/{id}"));
    let response = reqwest::Client::new()
        .put(&url)
        .bearer_auth(admin_token())
        .header("X-Servitly-Tenant", TENANT)
        .header("If-Match", &etag)
        .json(&serde_json::json!({"name": "Acme 2", "firstAccessTimestamp": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["firstAccessTimestamp"], (base + 10) * 1000);
    assert_eq!(body["lastAccessTimestamp"], (base + 300) * 1000);
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_old_token_changes_nothing_even_after_a_restart() {
    let mut app = spawn_app().await;
    let id = app.create("Acme").await;
    let base = now() - 10_000;
    let (old, new) = (login_token(&id, base + 10), login_token(&id, base + 20));
    use_token(&app, &id, &old).await;
    use_token(&app, &id, &new).await;
    let etag = wait_for(&app, &id, base + 10, base + 20).await;

    // Replayed on the same replica (a cached token) ...
    use_token(&app, &id, &old).await;
    barrier(&app).await;
    assert_eq!(access_of(&app, &id).await.2, etag);
    // ... and after a restart, where it is verified (and recorded) again.
    app.restart().await;
    use_token(&app, &id, &old).await;
    use_token(&app, &id, &new).await;
    barrier(&app).await;
    assert_eq!(
        access_of(&app, &id).await,
        (Some((base + 10) * 1000), Some((base + 20) * 1000), etag),
        "idempotent: nothing written"
    );
    app.stop().await;
}

#[tokio::test]
async fn tokens_without_a_customer_or_an_iat_and_unknown_customers_record_nothing() {
    let app = spawn_app().await;
    let id = app.create("Acme").await;
    // A token without a customer claim (every admin request here).
    let url = app.url(&format!("/network/customers/{id}"));
    let mut unscoped = claims(TENANT, "someone", &["READ_CUSTOMER"]);
    unscoped.iat = now() - 500;
    assert_eq!(
        raw(Method::GET, &url, Some(&mint(&unscoped)), Some(TENANT), None).await.status(),
        200
    );
    // A customer-scoped token without `iat`: when its user logged in is unknown.
    let no_iat = serde_json::json!({
        "sub": "no-iat", "tenant": TENANT, "permissions": ["READ_CUSTOMER"], "customerId": id,
        "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600,
    });
    let no_iat = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &no_iat,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(use_token(&app, &id, &no_iat).await, 200);
    // A token naming a customer that does not exist: nothing, no error.
    assert_eq!(use_token(&app, "ghost", &login_token("ghost", now() - 5)).await, 404);
    barrier(&app).await;
    assert_eq!(access_of(&app, &id).await, (None, None, "\"1\"".to_string()));
    app.stop().await;
}

#[tokio::test]
async fn two_replicas_on_one_postgres_database_agree() {
    let Some(backend) = postgres_backend("two_replicas_on_one_postgres_database_agree").await
    else {
        return;
    };
    let primary = spawn_app_with(backend, relaxed_rate()).await;
    let replica = primary.replica().await;
    let ids = [primary.create("One").await, primary.create("Two").await];
    let base = now() - 10_000;
    // Each replica sees some of the logins, interleaved, concurrently.
    let mut sends = Vec::new();
    for (i, iat) in [40, 10, 70, 30, 90, 20, 60, 80, 50].into_iter().enumerate() {
        for id in &ids {
            let app = if i % 2 == 0 { &primary } else { &replica };
            let token = login_token(id, base + iat);
            let id = id.clone();
            sends.push(async move { use_token(app, &id, &token).await });
        }
    }
    for status in futures::future::join_all(sends).await {
        assert_eq!(status, 200);
    }
    let mut etags = Vec::new();
    for id in &ids {
        etags.push(wait_for(&primary, id, base + 10, base + 90).await);
        assert_eq!(wait_for(&replica, id, base + 10, base + 90).await, *etags.last().unwrap());
    }
    // The same tokens at the other replica: already covered, nothing written.
    for (i, iat) in [40, 10, 90].into_iter().enumerate() {
        let app = if i % 2 == 0 { &replica } else { &primary };
        for id in &ids {
            use_token(app, id, &login_token(id, base + iat)).await;
        }
    }
    barrier(&primary).await;
    barrier(&replica).await;
    for (id, etag) in ids.iter().zip(&etags) {
        assert_eq!(access_of(&replica, id).await.2, *etag, "no write when nothing changes");
    }
    replica.stop().await;
    primary.stop().await;
}
