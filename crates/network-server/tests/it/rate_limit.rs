//! Rate limiting under load, over HTTP: one tenant driven past its limit by
//! concurrent requests gets exactly its quota (governor's GCRA: a full bucket
//! of `burst` cells, one more every 60 s / limit) and then 429s with the
//! documented body and headers; `Retry-After` is honest (waiting that long is
//! enough); another tenant, and another subject, are unaffected.

use std::time::{Duration, Instant};

use futures::future::join_all;
use network_server::ratelimit::RateLimitConfig;

use crate::helpers::*;
use crate::wire::*;

const LIMITED_BODY: &[u8] = br#"{"message":"API call rate limit exceeded"}"#;

async fn send(app: &TestApp, method: &str, target: &str, token: &str, tenant: &str) -> RawResponse {
    let mut headers = vec![
        ("Authorization", format!("Bearer {token}").into_bytes()),
        ("X-Servitly-Tenant", tenant.as_bytes().to_vec()),
    ];
    let body: &[u8] = if method == "POST" {
        headers.push(("Content-Type", b"application/json".to_vec()));
        br#"{"name":"Limited"}"#
    } else {
        b""
    };
    let request = http_request(method, target.as_bytes(), &headers, body);
    send_raw(&addr_of(app), request).await.unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

async fn list(app: &TestApp, token: &str, tenant: &str) -> RawResponse {
    send(app, "GET", "/v2/network/customers", token, tenant).await
}

/// The scope, `r` and `t` of a `RateLimit: "scope";r=R;t=T` header.
fn rate_limit_header(response: &RawResponse) -> (String, u32, u64) {
    let value = response.header("ratelimit").expect("a RateLimit header");
    let parse = || {
        let (scope, rest) = value.strip_prefix('"')?.split_once("\";r=")?;
        let (remaining, reset) = rest.split_once(";t=")?;
        Some((scope.to_string(), remaining.parse().ok()?, reset.parse().ok()?))
    };
    parse().unwrap_or_else(|| panic!("RateLimit {value}"))
}

/// A 429 as documented; returns its `Retry-After`.
fn assert_limited(response: &RawResponse, policy: &str, scope: &str) -> u64 {
    assert_eq!(response.status, 429, "{}", response.text());
    assert_eq!(response.body, LIMITED_BODY, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    let retry_after = response.header("retry-after").expect("a Retry-After header");
    let retry_after: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is whole seconds: {retry_after}"));
    assert!(retry_after >= 1, "Retry-After is at least 1");
    assert_eq!(response.header("ratelimit-policy"), Some(policy));
    let (named, remaining, reset) = rate_limit_header(response);
    assert_eq!((named.as_str(), remaining), (scope, 0), "the refusing bucket is named, empty");
    assert!(reset >= retry_after && reset <= 60, "t={reset} with Retry-After {retry_after}");
    retry_after
}

#[tokio::test]
async fn a_tenant_past_its_limit_gets_its_quota_then_429s_and_another_tenant_is_unaffected() {
    // 30 per minute: a bucket of 30 cells, one more every 2 s.
    let rate = RateLimitConfig {
        tenant_per_minute: 30,
        subject_per_minute: 10_000,
        burst: None,
        ..Default::default()
    };
    let app = spawn_app_with(Backend::Sqlite, rate).await;
    let policy = "\"tenant\";q=30;w=60, \"subject\";q=10000;w=60";
    let subjects: Vec<String> = (0..3)
        .map(|i| mint(&claims(TENANT, &format!("user-{i}"), &["READ_ALL_CUSTOMERS"])))
        .collect();
    let other = mint(&claims(OTHER_TENANT, "user-0", &["READ_ALL_CUSTOMERS"]));

    // 90 concurrent requests of one tenant (three subjects), 10 of another.
    let started = Instant::now();
    let flood = join_all((0..90).map(|i| list(&app, &subjects[i % 3], TENANT)));
    let bystander = join_all((0..10).map(|_| list(&app, &other, OTHER_TENANT)));
    let (flood, bystander) = tokio::join!(flood, bystander);
    let elapsed = started.elapsed();

    let ok = flood.iter().filter(|r| r.status == 200).count();
    let limited: Vec<&RawResponse> = flood.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok + limited.len(), 90, "only 200s and 429s");
    // GCRA: the full bucket (30), plus one cell per 2 s of the run.
    let refilled = (elapsed.as_secs_f64() / 2.0).floor() as usize;
    assert!(
        (30..=30 + refilled).contains(&ok),
        "{ok} admitted in {elapsed:?}: expected 30 (+{refilled} refilled)"
    );
    let mut retry_afters = Vec::new();
    for response in &limited {
        retry_afters.push(assert_limited(response, policy, "tenant"));
    }
    assert!(retry_afters.iter().all(|&r| r <= 2), "one cell is 2 s away at most: {retry_afters:?}");
    assert!(
        bystander.iter().all(|r| r.status == 200),
        "the other tenant is unaffected: {:?}",
        bystander.iter().map(|r| r.status).collect::<Vec<_>>()
    );

    // Retry-After is honest: after waiting that long, a request is admitted.
    let mut refused = list(&app, &subjects[0], TENANT).await;
    while refused.status == 200 {
        refused = list(&app, &subjects[0], TENANT).await; // a cell refilled meanwhile
    }
    let retry_after = assert_limited(&refused, policy, "tenant");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let admitted = list(&app, &subjects[1], TENANT).await;
    assert_eq!(admitted.status, 200, "after Retry-After: {retry_after} s: {}", admitted.text());
    let min = retry_afters.iter().min().copied().unwrap_or(0);
    let max = retry_afters.iter().max().copied().unwrap_or(0);
    eprintln!(
        "rate limit: 30/min tenant, 90 concurrent requests in {elapsed:?}: {ok} admitted, {} refused \
         (Retry-After {min}..={max} s), other tenant 10/10 admitted; admitted again {retry_after} s after a 429",
        limited.len(),
    );
    app.stop().await;
}

#[tokio::test]
async fn retry_after_is_honest_at_one_request_per_second() {
    // 60 per minute with a burst of 1: one request per second, nothing saved up.
    let rate = RateLimitConfig {
        tenant_per_minute: 60,
        subject_per_minute: 600,
        burst: Some(1),
        ..Default::default()
    };
    let app = spawn_app_with(Backend::Sqlite, rate).await;
    let policy = "\"tenant\";q=60;w=60, \"subject\";q=600;w=60";
    // A new subject each time, so only the tenant's bucket can refuse.
    let mut subjects = (0..).map(|i| mint(&claims(TENANT, &format!("user-{i}"), ALL)));
    let created = send(&app, "POST", "/network/customers", &subjects.next().unwrap(), TENANT).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.header("ratelimit-policy"), Some(policy), "successes carry the policy too");
    let (_, remaining, reset) = rate_limit_header(&created);
    assert_eq!((remaining, reset), (0, 1), "empty, full again in 1 s");
    let target = format!("/network/customers/{}", created.json().unwrap()["id"].as_str().unwrap());
    for round in 0..3 {
        let refused = send(&app, "GET", &target, &subjects.next().unwrap(), TENANT).await;
        assert_eq!(assert_limited(&refused, policy, "tenant"), 1, "round {round}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let admitted = send(&app, "GET", &target, &subjects.next().unwrap(), TENANT).await;
        assert_eq!(admitted.status, 200, "round {round}: {}", admitted.text());
        assert_eq!(admitted.header("ratelimit-policy"), Some(policy));
        assert_eq!(rate_limit_header(&admitted).1, 0);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_subject_past_its_own_limit_does_not_stop_the_rest_of_its_tenant() {
    let rate = RateLimitConfig {
        tenant_per_minute: 10_000,
        subject_per_minute: 5,
        burst: None,
        ..Default::default()
    };
    let app = spawn_app_with(Backend::Sqlite, rate).await;
    let policy = "\"tenant\";q=10000;w=60, \"subject\";q=5;w=60";
    let noisy = mint(&claims(TENANT, "noisy", &["READ_ALL_CUSTOMERS"]));
    let quiet = mint(&claims(TENANT, "quiet", &["READ_ALL_CUSTOMERS"]));
    let responses = join_all((0..12).map(|_| list(&app, &noisy, TENANT))).await;
    assert_eq!(responses.iter().filter(|r| r.status == 200).count(), 5);
    for response in responses.iter().filter(|r| r.status != 200) {
        // One cell every 12 s.
        let retry_after = assert_limited(response, policy, "subject");
        assert!((1..=12).contains(&retry_after), "{retry_after}");
    }
    for _ in 0..5 {
        assert_eq!(list(&app, &quiet, TENANT).await.status, 200, "another subject is unaffected");
    }
    app.stop().await;
}
