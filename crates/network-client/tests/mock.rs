//! How a client user tests their own code without a server: the `mock` feature
//! of `network-client` adds `network_client::mock::MockServerExt`, one typed
//! httpmock method per operation (`update_customer`, `get_customer`, ...),
//! whose `when` matches the operation's parameters and body and whose `then`
//! answers with one of its documented responses (`ok`, `not_found`,
//! `precondition_failed`, ...).
//!
//! ```toml
//! [dev-dependencies]
//! network-client = { path = "...", features = ["mock"] }
//! httpmock = "0.9"
//! ```
//!
//! `cargo test --workspace` runs this file: the crate enables `mock` for its
//! own tests through a dev-dependency on itself.
#![cfg(feature = "mock")]

use httpmock::MockServer;
use network_client::mock::MockServerExt;
use network_client::types::{Customer, CustomerDetails, Properties, UpdateCustomerIfMatch};
use network_client::{Client, Error};

/// The code under test, as a client user would write it: puts a customer on
/// `plan` (a property), keeping everything else, unless the customer changed
/// since it was read (`etag`); a refusal is explained with the server's message.
async fn set_plan(
    client: &Client,
    tenant: &str,
    customer: &Customer,
    etag: &str,
    plan: &str,
) -> Result<Customer, String> {
    let mut properties = customer.properties.clone();
    properties.0.insert("plan".to_string(), plan.parse().map_err(|e| format!("plan: {e}"))?);
    let country = customer.country.map(|country| country.to_string().parse());
    let timezone = customer.timezone.as_deref().map(|timezone| timezone.parse());
    let details = CustomerDetails::builder()
        .name(customer.name.as_str())
        .country(country.transpose().map_err(|e| format!("country: {e}"))?)
        .timezone(timezone.transpose().map_err(|e| format!("timezone: {e}"))?)
        .properties(Some(properties));
    let sent = client
        .update_customer()
        .x_servitly_tenant(tenant)
        .customer_id(customer.id.as_str())
        .if_match(etag)
        .body(details)
        .send()
        .await;
    match sent {
        Ok(response) => Ok(response.into_inner()),
        Err(Error::ErrorResponse(error)) => {
            Err(format!("{}: {}", error.status().as_u16(), error.into_inner().message.as_str()))
        }
        Err(other) => Err(other.to_string()),
    }
}

fn customer(json: serde_json::Value) -> Customer {
    serde_json::from_value(json).expect("a valid customer")
}

fn acme() -> Customer {
    customer(serde_json::json!({
        "id": "abcd1234",
        "name": "Acme Inc.",
        "country": "IT",
        "timezone": "Europe/Rome",
        "properties": {"region": "emea"},
        "creationTimestamp": 1_700_000_000_000_i64
    }))
}

#[tokio::test]
async fn set_plan_sends_the_whole_customer_with_if_match() {
    let server = MockServer::start_async().await;
    let before = acme();
    let after = customer(serde_json::json!({
        "id": "abcd1234",
        "name": "Acme Inc.",
        "country": "IT",
        "timezone": "Europe/Rome",
        "properties": {"region": "emea", "plan": "gold"},
        "creationTimestamp": 1_700_000_000_000_i64
    }));
    let expected_body: CustomerDetails = CustomerDetails::builder()
        .name("Acme Inc.")
        .country(Some("IT".parse().unwrap()))
        .timezone(Some("Europe/Rome".parse().unwrap()))
        .properties(Some(Properties(
            [("region", "emea"), ("plan", "gold")]
                .into_iter()
                .map(|(key, value)| (key.to_string(), value.parse().unwrap()))
                .collect(),
        )))
        .try_into()
        .unwrap();

    // The mock answers only the request set_plan must send.
    let update = server.update_customer(|when, then| {
        when.customer_id(&"abcd1234".parse().unwrap())
            .x_servitly_tenant(&"acme".parse().unwrap())
            .if_match(&"\"3\"".parse::<UpdateCustomerIfMatch>().unwrap())
            .body(&expected_body);
        then.ok(&after);
    });

    let client = network_client::new_authenticated(&server.base_url(), "a-token").unwrap();
    let result = set_plan(&client, "acme", &before, "\"3\"", "gold").await;

    update.assert_async().await;
    assert_eq!(result, Ok(after));
}

#[tokio::test]
async fn set_plan_reports_a_lost_update_with_the_servers_message() {
    let server = MockServer::start_async().await;
    let update = server.update_customer(|when, then| {
        when.customer_id(&"abcd1234".parse().unwrap());
        then.precondition_failed(&network_client::types::Error {
            message: "The customer was changed by someone else".parse().unwrap(),
        });
    });

    let client = network_client::new_authenticated(&server.base_url(), "a-token").unwrap();
    let result = set_plan(&client, "acme", &acme(), "\"2\"", "gold").await;

    update.assert_async().await;
    assert_eq!(result, Err("412: The customer was changed by someone else".to_string()));
}

/// The README's example, kept compiling and passing here.
#[tokio::test]
async fn renames_the_customer() {
    let server = MockServer::start_async().await;
    let customer: network_client::types::Customer = serde_json::from_value(serde_json::json!({
        "id": "abcd1234", "name": "Acme Italia", "properties": {}, "creationTimestamp": 0
    }))
    .unwrap();
    let update = server.update_customer(|when, then| {
        when.customer_id(&"abcd1234".parse().unwrap())
            .x_servitly_tenant(&"acme".parse().unwrap())
            .if_match(&"\"1\"".parse::<UpdateCustomerIfMatch>().unwrap());
        then.ok(&customer);
    });
    let client = network_client::new_authenticated(&server.base_url(), "token").unwrap();
    // ... call your code with `client`; here, the client directly:
    let renamed = client
        .update_customer()
        .x_servitly_tenant("acme")
        .customer_id("abcd1234")
        .if_match("\"1\"")
        .body(network_client::types::CustomerDetails::builder().name("Acme Italia"))
        .send()
        .await
        .unwrap();
    update.assert_async().await;
    assert_eq!(renamed.into_inner(), customer);
}
