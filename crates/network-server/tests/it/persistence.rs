//! Persistence: stop the server, start it again on the same data directory, everything is there.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn data_survives_a_restart() {
    let mut app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = app.create(&format!("Customer {i}")).await;
        let body = json!({"name": format!("Customer {i} v2"), "properties": {"i": i.to_string()}})
            .to_string();
        let response = raw(
            Method::PUT,
            &app.url(&format!("/network/customers/{id}")),
            Some(&admin_token()),
            Some(TENANT),
            Some(&body),
        )
        .await;
        assert_eq!(response.status(), 200);
        ids.push(id);
    }
    app.restart().await;
    for (i, id) in ids.iter().enumerate() {
        let response = raw(
            Method::GET,
            &app.url(&format!("/network/customers/{id}")),
            Some(&admin_token()),
            Some(TENANT),
            None,
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["etag"], "\"2\"");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["name"], format!("Customer {i} v2"));
        assert_eq!(body["properties"]["i"], i.to_string());
    }
    app.stop().await;
}
