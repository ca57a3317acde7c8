//! Every response of `updateCustomer`, produced for real and checked in status, body and headers.

use network_client::types::CustomerDetails;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

fn put_url(app: &TestApp, id: &str) -> String {
    app.url(&format!("/network/customers/{id}"))
}

async fn put(app: &TestApp, id: &str, body: &str) -> reqwest::Response {
    raw(Method::PUT, &put_url(app, id), Some(&admin_token()), Some(TENANT), Some(body)).await
}

async fn get_json(app: &TestApp, id: &str) -> (u16, serde_json::Value, Option<String>) {
    let response =
        raw(Method::GET, &put_url(app, id), Some(&admin_token()), Some(TENANT), None).await;
    let status = response.status().as_u16();
    let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
    (status, response.json().await.unwrap_or(serde_json::Value::Null), etag)
}

#[tokio::test]
async fn a_full_update_answers_200_with_the_new_state_and_a_new_etag() {
    let app = spawn_app().await;
    let id = app.create("Acme Inc.").await;
    let response = app
        .client()
        .update_customer()
        .x_servitly_tenant(TENANT)
        .customer_id(id.clone())
        .body(
            CustomerDetails::builder()
                .name("Acme Italia")
                .country(Some("IT".parse().unwrap()))
                .timezone(Some("Europe/Rome".parse().unwrap()))
                .properties(Some(network_client::types::Properties(
                    [
                        ("foo".to_string(), "abc".parse().unwrap()),
                        ("bar".to_string(), "123".parse().unwrap()),
                    ]
                    .into(),
                ))),
        )
        .send()
        .await
        .expect("the update succeeds");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"", "version 1 at create, 2 after one update");
    assert_eq!(response.headers()["content-type"], "application/json");
    let customer = response.into_inner();
    assert_eq!(customer.id.as_str(), id);
    assert_eq!(customer.name.as_str(), "Acme Italia");
    assert_eq!(customer.country.map(|c| c.to_string()).as_deref(), Some("IT"));
    assert_eq!(customer.timezone.as_deref().map(String::as_str), Some("Europe/Rome"));
    assert_eq!(customer.properties.0.len(), 2);
    assert_eq!(customer.properties.0["foo"].as_str(), "abc");
    let (status, stored, etag) = get_json(&app, &id).await;
    assert_eq!(status, 200);
    assert_eq!(etag.as_deref(), Some("\"2\""));
    assert_eq!(stored["name"], "Acme Italia");
    assert_eq!(stored["properties"], json!({"foo": "abc", "bar": "123"}));
    app.stop().await;
}

#[tokio::test]
async fn put_replaces_the_whole_state_fields_left_out_are_cleared() {
    let app = spawn_app().await;
    let id = app.create("Acme").await;
    let full = json!({"name": "Acme", "country": "IT", "timezone": "Europe/Rome", "properties": {"a": "1"}});
    assert_eq!(put(&app, &id, &full.to_string()).await.status(), 200);
    let response = put(&app, &id, r#"{"name": "Acme Two"}"#).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["name"], "Acme Two");
    assert!(body.get("country").is_none() || body["country"].is_null(), "{body}");
    assert!(body.get("timezone").is_none() || body["timezone"].is_null(), "{body}");
    assert_eq!(body["properties"], json!({}), "properties become {{}}");
    let (_, stored, _) = get_json(&app, &id).await;
    assert_eq!(stored["properties"], json!({}));
    app.stop().await;
}

#[tokio::test]
async fn server_managed_fields_sent_in_the_body_are_ignored() {
    let app = spawn_app().await;
    let id = app.create("Acme").await;
    let (_, before, _) = get_json(&app, &id).await;
    let body = json!({
        "id": "someone-else", "name": "Acme", "creationTimestamp": 1,
        "firstAccessTimestamp": 2, "lastAccessTimestamp": i64::MAX
    });
    let response = put(&app, &id, &body.to_string()).await;
    assert_eq!(response.status(), 200);
    let after: serde_json::Value = response.json().await.unwrap();
    assert_eq!(after["id"], id.as_str());
    assert_eq!(after["creationTimestamp"], before["creationTimestamp"]);
    assert!(after.get("firstAccessTimestamp").is_none() || after["firstAccessTimestamp"].is_null());
    assert!(after.get("lastAccessTimestamp").is_none() || after["lastAccessTimestamp"].is_null());
    let (status, _, _) = get_json(&app, "someone-else").await;
    assert_eq!(status, 404, "the id in the body creates nothing");
    app.stop().await;
}

#[tokio::test]
async fn get_edit_put_of_the_whole_object_just_works() {
    let app = spawn_app().await;
    let id = app.create("Acme").await;
    let client = app.client();
    let got = client
        .get_customer()
        .x_servitly_tenant(TENANT)
        .customer_id(id.clone())
        .send()
        .await
        .unwrap();
    let etag = got.headers()["etag"].to_str().unwrap().to_string();
    let mut customer = serde_json::to_value(got.into_inner()).unwrap();
    customer["name"] = json!("Acme Edited");
    customer["properties"]["edited"] = json!("yes");
    // The ETag of the GET goes back as If-Match: the edit applies to what was read.
    let put = |if_match: String| {
        reqwest::Client::new()
            .put(put_url(&app, &id))
            .bearer_auth(admin_token())
            .header("X-Servitly-Tenant", TENANT)
            .header("If-Match", if_match)
            .header("Content-Type", "application/json")
            .body(customer.to_string())
            .send()
    };
    let response = put(etag.clone()).await.unwrap();
    assert_eq!(response.status(), 200, "the whole GET body is a valid PUT body");
    assert_eq!(response.headers()["etag"], "\"2\"", "the edit made version 2");
    let again = put(etag).await.unwrap();
    assert_eq!(again.status(), 412, "the same ETag again is stale: the edit is not applied twice");
    let (_, stored, _) = get_json(&app, &id).await;
    assert_eq!(stored["name"], "Acme Edited");
    assert_eq!(stored["properties"]["edited"], "yes");
    app.stop().await;
}

#[tokio::test]
async fn if_match_star_list_stale_and_current() {
    let app = spawn_app().await;
    let id = app.create("Acme").await;
    let token = admin_token();
    let send = |if_match: &'static str, name: &'static str| {
        let url = put_url(&app, &id);
        let token = token.clone();
        async move {
            reqwest::Client::new()
                .put(url)
                .bearer_auth(token)
                .header("X-Servitly-Tenant", TENANT)
                .header("If-Match", if_match)
                .json(&json!({ "name": name }))
                .send()
                .await
                .unwrap()
        }
    };
    // Current version is 1.
    let response = send("\"1\"", "v2").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let response = send("*", "v3").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"3\"");
    let response = send("\"1\", \"3\", \"9\"", "v4").await;
    assert_eq!(response.status(), 200, "a list containing the current ETag matches");
    assert_eq!(response.headers()["etag"], "\"4\"");
    let (status, message, _) = error_of(send("\"3\"", "stale").await).await;
    assert_eq!(status, 412);
    assert!(message.contains("Precondition failed"), "{message}");
    let (status, _, _) = error_of(send("W/\"4\"", "weak").await).await;
    assert_eq!(status, 412, "weak tags never match If-Match");
    // Strong comparison compares the opaque tags as strings (RFC 9110 §8.8.3.2).
    for other_spelling in ["\"04\"", "\"+4\"", "\"4.0\""] {
        let (status, _, _) = error_of(send(other_spelling, "respelled").await).await;
        assert_eq!(status, 412, "{other_spelling} is not the tag \"4\"");
    }
    let (_, stored, etag) = get_json(&app, &id).await;
    assert_eq!(stored["name"], "v4", "a failed precondition changes nothing");
    assert_eq!(etag.as_deref(), Some("\"4\""));
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_customer_is_404_and_put_never_creates() {
    let app = spawn_app().await;
    let error = app
        .client()
        .update_customer()
        .x_servitly_tenant(TENANT)
        .customer_id("does-not-exist")
        .body(CustomerDetails::builder().name("Ghost"))
        .send()
        .await
        .expect_err("404");
    match error {
        network_client::Error::ErrorResponse(response) => {
            assert_eq!(response.status(), 404);
            assert_eq!(response.into_inner().message.as_str(), "Resource not found");
        }
        other => panic!("expected a 404 error response, got {other:?}"),
    }
    let (status, _, _) = get_json(&app, "does-not-exist").await;
    assert_eq!(status, 404);
    let (status, _, _) = error_of(
        raw(
            Method::PUT,
            &put_url(&app, "does-not-exist"),
            Some(&admin_token()),
            Some(TENANT),
            Some(r#"{"name":"x"}"#),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// Each validation rule: the 400 names the field and the reason, and nothing changes.
#[tokio::test]
async fn each_validation_rule_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let id = app.create("Original").await;
    let many: serde_json::Map<String, serde_json::Value> =
        (0..201).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases: Vec<(String, &str)> = vec![
        (json!({}).to_string(), "name"),
        (json!({"country": "IT"}).to_string(), "name"),
        (json!({"name": ""}).to_string(), "name"),
        (json!({"name": "   "}).to_string(), "name"),
        (json!({"name": "a".repeat(256)}).to_string(), "name"),
        (json!({"name": 42}).to_string(), "name"),
        (json!({"name": null}).to_string(), "name"),
        (json!({"name": "Acme", "country": "XX"}).to_string(), "country"),
        (json!({"name": "Acme", "country": "it"}).to_string(), "country"),
        (json!({"name": "Acme", "country": "ITA"}).to_string(), "country"),
        (json!({"name": "Acme", "timezone": "Europe/Atlantis"}).to_string(), "timezone"),
        (json!({"name": "Acme", "timezone": 5}).to_string(), "timezone"),
        (json!({"name": "Acme", "properties": many}).to_string(), "properties"),
        (json!({"name": "Acme", "properties": {"": "v"}}).to_string(), "properties"),
        (json!({"name": "Acme", "properties": {"k".repeat(129): "v"}}).to_string(), "properties"),
        (json!({"name": "Acme", "properties": {"k": "v".repeat(4097)}}).to_string(), "properties"),
        (json!({"name": "Acme", "properties": {"k": 1}}).to_string(), "properties"),
        (json!({"name": "Acme", "properties": ["a"]}).to_string(), "properties"),
        ("{\"name\": ".to_string(), "JSON"),
        ("not json".to_string(), "JSON"),
        ("[]".to_string(), "JSON"),
    ];
    for (body, field) in &cases {
        let (status, message, _) = error_of(put(&app, &id, body).await).await;
        assert_eq!(status, 400, "body {body}: {message}");
        assert!(message.starts_with("Request data not valid"), "body {body}: {message}");
        assert!(message.contains(field), "body {body}: the message names `{field}`: {message}");
    }
    let (_, stored, etag) = get_json(&app, &id).await;
    assert_eq!(stored["name"], "Original", "rejected requests change nothing");
    assert_eq!(etag.as_deref(), Some("\"1\""));
    app.stop().await;
}

#[tokio::test]
async fn a_too_long_customer_id_an_unknown_content_type_and_an_oversized_body_are_400() {
    let app = spawn_app().await;
    let long_id = "x".repeat(129);
    let (status, message, _) = error_of(put(&app, &long_id, r#"{"name":"x"}"#).await).await;
    assert_eq!(status, 400);
    assert!(message.contains("customerId"), "{message}");

    let id = app.create("Acme").await;
    let response = reqwest::Client::new()
        .put(put_url(&app, &id))
        .bearer_auth(admin_token())
        .header("X-Servitly-Tenant", TENANT)
        .header("Content-Type", "text/plain")
        .body(r#"{"name":"x"}"#)
        .send()
        .await
        .unwrap();
    let (status, message, _) = error_of(response).await;
    assert_eq!(status, 400);
    assert!(message.contains("unsupported Content-Type `text/plain`"), "{message}");

    let huge = json!({"name": "Acme", "properties": {"k": "v".repeat(300 * 1024)}}).to_string();
    let (status, message, _) = error_of(put(&app, &id, &huge).await).await;
    assert_eq!(status, 400);
    assert!(message.contains("body"), "{message}");

    let (status, message, _) = error_of(
        raw(Method::PUT, &put_url(&app, &id), Some(&admin_token()), None, Some(r#"{"name":"x"}"#))
            .await,
    )
    .await;
    assert_eq!(status, 400, "a missing tenant header is a malformed request");
    assert!(message.contains("X-Servitly-Tenant"), "{message}");
    app.stop().await;
}

/// 401 for every authentication failure, each with `WWW-Authenticate: Bearer`.
#[tokio::test]
async fn each_authentication_failure_is_a_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let id = app.create("Acme").await;
    let mut expired = claims(TENANT, "u", ALL);
    expired.iat = now() - 120;
    expired.exp = now() - 60;
    let mut wrong_audience = claims(TENANT, "u", ALL);
    wrong_audience.aud = "someone-else".into();
    let mut wrong_issuer = claims(TENANT, "u", ALL);
    wrong_issuer.iss = "evil".into();
    let other_key =
        network_server::auth::Signer::hs256(b"another-secret-of-32-bytes-long!".to_vec(), None)
            .unwrap();
    let wrong_signature = other_key.mint(&claims(TENANT, "u", ALL)).unwrap();
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing"),
        (Some("Basic dXNlcjpwYXNz".to_string()), "no bearer"),
        (Some("Bearer".to_string()), "empty bearer"),
        (Some("Bearer not-a-jwt".to_string()), "garbage"),
        (Some(format!("Bearer {}", mint(&expired))), "expired"),
        (Some(format!("Bearer {}", mint(&wrong_audience))), "audience"),
        (Some(format!("Bearer {}", mint(&wrong_issuer))), "issuer"),
        (Some(format!("Bearer {wrong_signature}")), "signature"),
    ];
    for (authorization, case) in cases {
        let mut request = reqwest::Client::new()
            .put(put_url(&app, &id))
            .header("X-Servitly-Tenant", TENANT)
            .json(&json!({"name": "Hacked"}));
        if let Some(authorization) = &authorization {
            request = request.header("Authorization", authorization);
        }
        let (status, message, headers) = error_of(request.send().await.unwrap()).await;
        assert_eq!(status, 401, "{case}: {message}");
        assert!(message.starts_with("User not authenticated"), "{case}: {message}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{case}: {challenge}");
    }
    let (_, stored, _) = get_json(&app, &id).await;
    assert_eq!(stored["name"], "Acme");
    app.stop().await;
}

/// 403 for each authorization failure.
#[tokio::test]
async fn each_authorization_failure_is_a_403() {
    let app = spawn_app().await;
    let id = app.create("Acme").await;
    let mut scoped = claims(TENANT, "u", ALL);
    scoped.customer_id = Some("another-customer".into());
    let mut own_scope = claims(TENANT, "u", &["READ_CUSTOMER", "WRITE_CUSTOMER"]);
    own_scope.customer_id = Some(id.clone());
    let cases = vec![
        (mint(&claims(OTHER_TENANT, "u", ALL)), TENANT, "tenant mismatch"),
        (mint(&claims(TENANT, "u", &["READ_CUSTOMER"])), TENANT, "no WRITE_CUSTOMER"),
        (mint(&claims(TENANT, "u", &["WRITE_CUSTOMER"])), TENANT, "no READ_CUSTOMER"),
        (mint(&claims(TENANT, "u", &[])), TENANT, "no permissions"),
        (mint(&scoped), TENANT, "another customer"),
    ];
    for (token, tenant, case) in cases {
        let (status, message, _) = error_of(
            raw(
                Method::PUT,
                &put_url(&app, &id),
                Some(&token),
                Some(tenant),
                Some(r#"{"name":"Hacked"}"#),
            )
            .await,
        )
        .await;
        assert_eq!(status, 403, "{case}: {message}");
        assert!(message.starts_with("User not authorized"), "{case}: {message}");
    }
    let response = raw(
        Method::PUT,
        &put_url(&app, &id),
        Some(&mint(&own_scope)),
        Some(TENANT),
        Some(r#"{"name":"Mine"}"#),
    )
    .await;
    assert_eq!(response.status(), 200, "a customer-scoped token may update its own customer");
    let (_, stored, _) = get_json(&app, &id).await;
    assert_eq!(stored["name"], "Mine");
    app.stop().await;
}

/// 401 → 403 → 400 → 404 → 412: a malformed request never reveals whether a customer exists.
#[tokio::test]
async fn checks_happen_in_the_documented_order() {
    let app = spawn_app().await;
    let id = app.create("Acme").await;
    let bad_body = Some("{broken");
    let (status, _, _) =
        error_of(raw(Method::PUT, &put_url(&app, "nope"), None, None, bad_body).await).await;
    assert_eq!(status, 401, "no token beats everything");
    let other = mint(&claims(OTHER_TENANT, "u", ALL));
    let (status, _, _) = error_of(
        raw(Method::PUT, &put_url(&app, "nope"), Some(&other), Some(TENANT), bad_body).await,
    )
    .await;
    assert_eq!(status, 403, "wrong tenant beats a malformed body");
    let (status, _, _) = error_of(
        raw(Method::PUT, &put_url(&app, "nope"), Some(&admin_token()), Some(TENANT), bad_body)
            .await,
    )
    .await;
    assert_eq!(status, 400, "a malformed body beats an unknown customer");
    let stale = reqwest::Client::new()
        .put(put_url(&app, "nope"))
        .bearer_auth(admin_token())
        .header("X-Servitly-Tenant", TENANT)
        .header("If-Match", "\"99\"")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 404, "an unknown customer beats a failed precondition");
    let _ = id;
    app.stop().await;
}

#[tokio::test]
async fn over_the_rate_limit_is_a_429_with_retry_after_and_ratelimit_headers() {
    let rate = network_server::ratelimit::RateLimitConfig {
        tenant_per_minute: 3,
        subject_per_minute: 100,
        ..Default::default()
    };
    let app = spawn_app_with(Backend::Sqlite, rate).await;
    let token = admin_token();
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let response = raw(
            Method::PUT,
            &put_url(&app, "any"),
            Some(&token),
            Some(TENANT),
            Some(r#"{"name":"x"}"#),
        )
        .await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            limited = Some(response);
        }
    }
    assert_eq!(&statuses[..3], &[404, 404, 404], "{statuses:?}");
    assert_eq!(statuses[3], 429, "{statuses:?}");
    let (status, message, headers) = error_of(limited.unwrap()).await;
    assert_eq!(status, 429);
    assert_eq!(message, "API call rate limit exceeded");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().expect("whole seconds");
    assert!(retry_after >= 1, "{retry_after}");
    assert!(headers.contains_key("ratelimit-policy"), "{headers:?}");
    assert!(headers.contains_key("ratelimit"), "{headers:?}");
    let other = mint(&claims(OTHER_TENANT, "u", ALL));
    let response = raw(
        Method::PUT,
        &put_url(&app, "any"),
        Some(&other),
        Some(OTHER_TENANT),
        Some(r#"{"name":"x"}"#),
    )
    .await;
    assert_eq!(response.status(), 404, "another tenant is unaffected");
    app.stop().await;
}
