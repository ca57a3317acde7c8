//! Creates a customer, updates it and reads it back with the generated client.
//!
//! ```sh
//! export TOKEN=...   # printed by `network-server --dev`, or `network-server token ...`
//! cargo run -p network-client --example update_customer
//! ```
//! `NETWORK_URL` (default `http://127.0.0.1:8080`) and `NETWORK_TENANT`
//! (default `acme`) select the server and the tenant.

use network_client::types::{CustomerDetails, Properties};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("NETWORK_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".to_string());
    let tenant = std::env::var("NETWORK_TENANT").unwrap_or_else(|_| "acme".to_string());
    let token = std::env::var("TOKEN")
        .map_err(|_| "set TOKEN to a bearer token (see `network-server --dev`)")?;
    let client = network_client::new_authenticated(&url, &token)?;

    let created = client
        .create_customer()
        .x_servitly_tenant(tenant.as_str())
        .body(CustomerDetails::builder().name("Acme Inc."))
        .send()
        .await?;
    let etag = created.headers()["etag"].to_str()?.to_string();
    let id = created.into_inner().id.to_string();
    println!("created {id} (ETag {etag})");

    let properties = Properties([("plan".to_string(), "gold".parse()?)].into());
    let updated = client
        .update_customer()
        .x_servitly_tenant(tenant.as_str())
        .customer_id(id.as_str())
        .if_match(etag)
        .body(
            CustomerDetails::builder()
                .name("Acme Italia")
                .country(Some("IT".parse()?))
                .timezone(Some("Europe/Rome".parse()?))
                .properties(Some(properties)),
        )
        .send()
        .await?;
    println!("updated (ETag {})", updated.headers()["etag"].to_str()?);

    let customer = client
        .get_customer()
        .x_servitly_tenant(tenant.as_str())
        .customer_id(id)
        .send()
        .await?
        .into_inner();
    println!("{}", serde_json::to_string_pretty(&customer)?);

    match client
        .get_customer()
        .x_servitly_tenant(tenant.as_str())
        .customer_id("no-such-customer")
        .send()
        .await
    {
        Err(network_client::Error::ErrorResponse(error)) => {
            println!("as expected, {}: {}", error.status(), error.into_inner().message.as_str())
        }
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
