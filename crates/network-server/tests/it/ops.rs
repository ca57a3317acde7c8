//! The operational endpoints, and that the server adds nothing to the published contract.

use reqwest::Method;

use crate::helpers::*;

#[tokio::test]
async fn health_readiness_metrics_and_the_contract_are_served() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let health = http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let _ = app.create("Metered").await;
    let _ = raw(
        Method::GET,
        &app.url("/network/customers/nope"),
        Some(&admin_token()),
        Some(TENANT),
        None,
    )
    .await;
    let metrics = http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("network_requests_total{operation=\"createCustomer\",status=\"201\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("network_requests_total{operation=\"getCustomer\",status=\"404\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("network_request_duration_seconds_bucket"), "{metrics}");

    let served: serde_json::Value =
        http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let checked_in: serde_json::Value =
        serde_json::from_str(network_server::ops::CONTRACT).unwrap();
    assert_eq!(served, checked_in);
    assert_eq!(served["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    app.stop().await;
}

#[test]
fn the_server_adds_nothing_to_the_published_contract() {
    fn published<C: dropshot::ServerContext>(
        api: dropshot::ApiDescription<C>,
    ) -> (Vec<String>, serde_json::Value) {
        let spec =
            api.openapi("Network API", dropshot::semver::Version::new(1, 0, 0)).json().unwrap();
        let mut paths: Vec<String> = spec["paths"].as_object().unwrap().keys().cloned().collect();
        paths.sort();
        (paths, spec["components"].clone())
    }
    let server = published(network_server::server::api());
    let contract = published(network_api::network_api_mod::stub_api_description().unwrap());
    assert_eq!(server, contract, "health, readiness, metrics and openapi.json are unpublished");
}
