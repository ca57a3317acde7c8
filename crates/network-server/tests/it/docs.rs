//! `GET /docs`: the contract rendered by the vendored Redoc, with nothing
//! loaded from outside the server (the browser test is `scripts/docs-browser-test.sh`).

use crate::helpers::*;

#[tokio::test]
async fn the_reference_page_and_its_script_are_served_from_the_server_itself() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();

    let page = http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let page = page.text().await.unwrap();
    assert!(page.contains(r#"spec-url="/openapi.json""#), "{page}");
    assert!(page.contains(r#"<script src="/docs/redoc.standalone.js">"#), "{page}");
    assert!(!page.contains("http://") && !page.contains("https://"), "no CDN: {page}");

    let script = http.get(app.url("/docs/redoc.standalone.js")).send().await.unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let script = script.bytes().await.unwrap();
    assert_eq!(&script[..], network_server::docs::REDOC_JS);
    assert!(script.len() > 500_000, "the whole bundle: {} bytes", script.len());

    // What the page loads: the contract, as checked in.
    let contract: serde_json::Value =
        http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        contract["paths"]["/network/customers/{customerId}"]["put"]["operationId"],
        "updateCustomer"
    );
    app.stop().await;
}
