//! The list under hostile load (issue 10): the contract's exact `sort`
//! syntax, each sort field at most once, a time limit per query, the work
//! stopped when the client hangs up, a per-tenant cap on list queries in
//! flight, and pages streamed so that memory stays bounded.

use reqwest::Method;

use crate::helpers::*;

fn list_url(app: &TestApp, query: &str) -> String {
    app.url(&format!("/v2/network/customers{query}"))
}

async fn list_status(app: &TestApp, query: &str) -> (u16, String) {
    let response =
        raw(Method::GET, &list_url(app, query), Some(&admin_token()), Some(TENANT), None).await;
    let status = response.status().as_u16();
    if status == 200 {
        return (status, String::new());
    }
    let (status, message, _) = error_of(response).await;
    (status, message)
}

/// Issue 10, defect 8: `sort=name` and `sort=name,asc` were accepted.
#[tokio::test]
async fn sort_accepts_exactly_the_contract_syntax() {
    let app = spawn_app().await;
    app.create("Acme").await;
    for good in
        ["?sort=name,ASC", "?sort=name,DESC", "?sort=creationTimestamp,DESC&sort=country,ASC"]
    {
        assert_eq!(list_status(&app, good).await.0, 200, "{good}");
    }
    for (bad, needle) in [
        ("?sort=name", "direction is required"),
        ("?sort=name,asc", "unknown direction"),
        ("?sort=name,Desc", "unknown direction"),
        ("?sort=country,", "unknown direction"),
        ("?sort=id,ASC", "unknown field"),
    ] {
        let (status, message) = list_status(&app, bad).await;
        assert_eq!(status, 400, "{bad}: {message}");
        assert!(message.contains("sort") && message.contains(needle), "{bad}: {message}");
    }
    app.stop().await;
}

/// Issue 10, defect 1: `sort` could be repeated without limit (2,000 terms
/// were a 500, "too many terms in ORDER BY clause").
#[tokio::test]
async fn a_repeated_sort_field_is_a_400_that_says_so() {
    let app = spawn_app().await;
    app.create("Acme").await;
    let (status, message) = list_status(&app, "?sort=name,ASC&sort=name,DESC").await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("sort: field `name` given twice"), "{message}");
    let many: String = (0..2000)
        .map(|i| if i % 2 == 0 { "&sort=name,DESC" } else { "&sort=country,ASC" })
        .collect();
    let (status, message) = list_status(&app, &format!("?page=90&size=1000{many}")).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("given twice"), "{message}");
    app.stop().await;
}
