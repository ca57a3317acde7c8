//! Tenant isolation: two tenants × every operation; nothing of one tenant is
//! readable or writable from the other (even with a token of the other tenant
//! and the right header for it).

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn nothing_of_one_tenant_is_readable_or_writable_from_the_other() {
    let app = spawn_app().await;
    let acme_id = app.create("Acme secret").await;
    let globex = mint(&claims(OTHER_TENANT, "g", ALL));
    let url = app.url(&format!("/network/customers/{acme_id}"));

    // The other tenant, addressing its own tenant, cannot see or touch acme's customer.
    let response = raw(Method::GET, &url, Some(&globex), Some(OTHER_TENANT), None).await;
    assert_eq!(response.status(), 404, "get");
    let response =
        raw(Method::PUT, &url, Some(&globex), Some(OTHER_TENANT), Some(r#"{"name":"pwned"}"#))
            .await;
    assert_eq!(response.status(), 404, "update");
    let response = raw(Method::DELETE, &url, Some(&globex), Some(OTHER_TENANT), None).await;
    assert_eq!(response.status(), 404, "delete");
    let response = raw(
        Method::GET,
        &app.url("/v2/network/customers"),
        Some(&globex),
        Some(OTHER_TENANT),
        None,
    )
    .await;
    assert_eq!(response.status(), 200, "list");
    let page: serde_json::Value = response.json().await.unwrap();
    assert_eq!(page["totalElements"], 0, "{page}");
    let response = raw(
        Method::POST,
        &app.url("/network/customers"),
        Some(&globex),
        Some(OTHER_TENANT),
        Some(r#"{"name":"Globex"}"#),
    )
    .await;
    assert_eq!(response.status(), 201, "create in its own tenant");

    // Naming acme in the header with a globex token is a 403 on every operation.
    for (method, path, body) in [
        (Method::GET, format!("/network/customers/{acme_id}"), None),
        (Method::PUT, format!("/network/customers/{acme_id}"), Some(r#"{"name":"pwned"}"#)),
        (Method::DELETE, format!("/network/customers/{acme_id}"), None),
        (Method::GET, "/v2/network/customers".to_string(), None),
        (Method::POST, "/network/customers".to_string(), Some(r#"{"name":"intruder"}"#)),
    ] {
        let (status, _, _) =
            error_of(raw(method.clone(), &app.url(&path), Some(&globex), Some(TENANT), body).await)
                .await;
        assert_eq!(status, 403, "{method} {path}");
    }

    // And acme's view is unchanged: one customer, untouched.
    let response = raw(
        Method::GET,
        &app.url("/v2/network/customers"),
        Some(&admin_token()),
        Some(TENANT),
        None,
    )
    .await;
    let page: serde_json::Value = response.json().await.unwrap();
    assert_eq!(page["totalElements"], 1, "{page}");
    assert_eq!(page["content"][0]["name"], "Acme secret");
    assert_eq!(page["content"][0]["properties"], json!({}));
    app.stop().await;
}
