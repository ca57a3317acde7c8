//! The customer between the wire and the domain: the generated request type
//! into a validated [`CustomerDraft`], a stored [`Customer`] into the
//! generated response type. A new field of the customer is mapped here.

use network_api::types::{Customer as WireCustomer, CustomerDetails};

use crate::domain::{Customer, CustomerDraft, DraftFields, ValidationError};

/// Validates a request body's customer (every rule in `domain`).
pub fn draft_from(details: CustomerDetails) -> Result<CustomerDraft, ValidationError> {
    CustomerDraft::parse(DraftFields {
        name: details.name.into(),
        country: details.country.map(|country| country.to_string()),
        timezone: details.timezone.map(Into::into),
        properties: details
            .properties
            .map(|p| p.0.into_iter().map(|(k, v)| (k, v.into())).collect()),
    })
}

/// A customer in its wire form, taken by value: its strings move into the
/// wire type instead of being copied (the properties' keys; the values and
/// the other newtypes are checked again by their generated constructors).
pub fn to_wire(customer: Customer) -> WireCustomer {
    // The domain values were validated with limits at least as strict as the
    // spec's, so the wire newtypes accept them.
    let details = customer.details;
    WireCustomer {
        id: customer.id.as_str().parse().expect("a valid id fits the wire type"),
        name: details.name.as_str().parse().expect("a valid name fits the wire type"),
        country: details.country.map(|c| c.as_str().parse().expect("a valid country fits")),
        timezone: details.timezone.map(|t| t.as_str().parse().expect("a valid time zone fits")),
        properties: network_api::types::Properties(
            details
                .properties
                .into_map()
                .into_iter()
                .map(|(k, v)| (k, v.parse().expect("a valid value fits")))
                .collect(),
        ),
        creation_timestamp: customer.creation_timestamp,
        first_access_timestamp: customer.first_access_timestamp,
        last_access_timestamp: customer.last_access_timestamp,
    }
}
