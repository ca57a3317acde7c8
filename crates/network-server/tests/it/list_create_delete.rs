//! The rest of the resource: create, get, list and delete.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn create_answers_201_with_location_and_etag() {
    let app = spawn_app().await;
    let response = raw(
        Method::POST,
        &app.url("/network/customers"),
        Some(&admin_token()),
        Some(TENANT),
        Some(r#"{"name":"Acme","country":"IT","timezone":"Europe/Rome","properties":{"a":"b"},"id":"chosen"}"#),
    )
    .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let body: serde_json::Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_ne!(id, "chosen", "the server generates the id");
    assert!(
        id.len() >= 22 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{id}"
    );
    assert_eq!(location, format!("/network/customers/{id}"));
    assert!(body["creationTimestamp"].as_i64().unwrap() > 1_600_000_000_000);
    let response =
        raw(Method::GET, &app.url(&location), Some(&admin_token()), Some(TENANT), None).await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn delete_is_204_honours_if_match_and_a_second_delete_is_404() {
    let app = spawn_app().await;
    let id = app.create("Doomed").await;
    let url = app.url(&format!("/network/customers/{id}"));
    let stale = reqwest::Client::new()
        .delete(&url)
        .bearer_auth(admin_token())
        .header("X-Servitly-Tenant", TENANT)
        .header("If-Match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let response = raw(Method::DELETE, &url, Some(&admin_token()), Some(TENANT), None).await;
    assert_eq!(response.status(), 204);
    let response = raw(Method::DELETE, &url, Some(&admin_token()), Some(TENANT), None).await;
    assert_eq!(response.status(), 404);
    let response = raw(Method::GET, &url, Some(&admin_token()), Some(TENANT), None).await;
    assert_eq!(response.status(), 404);
    let delete_only = mint(&claims(TENANT, "d", &["READ_CUSTOMER"]));
    let id = app.create("Kept").await;
    let response = raw(
        Method::DELETE,
        &app.url(&format!("/network/customers/{id}")),
        Some(&delete_only),
        Some(TENANT),
        None,
    )
    .await;
    assert_eq!(response.status(), 403, "DELETE_CUSTOMER is required");
    app.stop().await;
}

#[tokio::test]
async fn list_pages_sorts_and_filters() {
    let app = spawn_app().await;
    for (name, country) in
        [("Beta", "IT"), ("Alpha", "FR"), ("Gamma", "IT"), ("Acme", "DE"), ("Delta", "IT")]
    {
        let body = json!({"name": name, "country": country}).to_string();
        let response = raw(
            Method::POST,
            &app.url("/network/customers"),
            Some(&admin_token()),
            Some(TENANT),
            Some(&body),
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    let list = |query: &'static str| {
        let url = app.url(&format!("/v2/network/customers{query}"));
        async move {
            let response = raw(Method::GET, &url, Some(&admin_token()), Some(TENANT), None).await;
            assert_eq!(response.status(), 200, "{query}");
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let page = list("?sort=name,ASC&size=2&page=0").await;
    assert_eq!(names(&page), ["Acme", "Alpha"]);
    assert_eq!((page["totalElements"].as_i64(), page["totalPages"].as_i64()), (Some(5), Some(3)));
    assert_eq!(
        (page["first"].as_bool(), page["last"].as_bool(), page["empty"].as_bool()),
        (Some(true), Some(false), Some(false))
    );
    let page = list("?sort=name,ASC&size=2&page=2").await;
    assert_eq!(names(&page), ["Gamma"]);
    assert_eq!(
        (page["last"].as_bool(), page["numberOfElements"].as_i64(), page["number"].as_i64()),
        (Some(true), Some(1), Some(2))
    );
    let page = list("?sort=country,DESC&sort=name,DESC").await;
    assert_eq!(names(&page), ["Gamma", "Delta", "Beta", "Alpha", "Acme"]);
    let page = list("?country=IT&sort=name,ASC").await;
    assert_eq!(names(&page), ["Beta", "Delta", "Gamma"]);
    let page = list("?searchText=A*&searchField=name&sort=name,ASC").await;
    assert_eq!(names(&page), ["Acme", "Alpha"]);
    let page = list("?searchText=*ta*&sort=name,ASC").await;
    assert_eq!(names(&page), ["Beta", "Delta"]);
    let page = list("?name=eq;Gamma").await;
    assert_eq!(names(&page), ["Gamma"]);
    let page = list("?page=9").await;
    assert_eq!((page["empty"].as_bool(), page["numberOfElements"].as_i64()), (Some(true), Some(0)));

    for bad in [
        "?size=0",
        "?size=1001",
        "?page=-1",
        "?sort=id,ASC",
        "?sort=name,UP",
        "?name=Gamma",
        "?page=x",
    ] {
        let url = app.url(&format!("/v2/network/customers{bad}"));
        let (status, message, _) =
            error_of(raw(Method::GET, &url, Some(&admin_token()), Some(TENANT), None).await).await;
        assert_eq!(status, 400, "{bad}: {message}");
    }
    let mut scoped = claims(TENANT, "s", ALL);
    scoped.customer_id = Some("c1".into());
    let (status, _, _) = error_of(
        raw(
            Method::GET,
            &app.url("/v2/network/customers"),
            Some(&mint(&scoped)),
            Some(TENANT),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 403, "customer-scoped tokens cannot list");
    let reader = mint(&claims(TENANT, "r", &["READ_CUSTOMER"]));
    let (status, _, _) = error_of(
        raw(Method::GET, &app.url("/v2/network/customers"), Some(&reader), Some(TENANT), None)
            .await,
    )
    .await;
    assert_eq!(status, 403, "READ_ALL_CUSTOMERS is required");
    app.stop().await;
}
