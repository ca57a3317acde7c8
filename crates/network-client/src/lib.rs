//! The generated Rust client of the Network API (progenitor, builder interface),
//! plus what generation cannot provide: authentication.
//!
//! progenitor ignores the spec's `bearerAuth` security scheme, so [`Client`]
//! is built with [`new_authenticated`], which installs the bearer token on
//! every request. The tenant is a required parameter of every operation
//! (`.x_servitly_tenant("acme")`), so the builder asks for it explicitly.
//!
//! An error response reaches the caller as [`Error::ErrorResponse`] carrying
//! the server's [`types::Error`] (its `message`) and the response status and headers.
//!
//! [`API_VERSION`] is the version of the API the client was generated for
//! (the spec's `info.version`); every request sends it in the `api-version`
//! header, which the server logs. Released versions and what may change
//! between them: the workspace README, "Changing the API".
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = network_client::new_authenticated("http://127.0.0.1:8080", "eyJ...")?;
//! let customer = client
//!     .update_customer()
//!     .x_servitly_tenant("acme")
//!     .customer_id("abcd1234")
//!     .body(network_client::types::CustomerDetails::builder().name("Acme Inc."))
//!     .send()
//!     .await?;
//! println!("{}", customer.name.as_str());
//! # Ok(())
//! # }
//! ```

// Formatted by prettyplease at generation time, not by rustfmt.
#[rustfmt::skip]
mod generated;

pub use generated::*;

/// Typed [httpmock](https://docs.rs/httpmock) mocks of every operation, for
/// testing code that uses the client without a server (feature `mock`):
/// `MockServerExt` adds one method per operation to `httpmock::MockServer`.
/// Example: `tests/mock.rs`.
#[cfg(feature = "mock")]
#[rustfmt::skip]
#[allow(clippy::all)] // generated
pub mod mock;

/// Why an authenticated client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The token cannot be sent as an HTTP header value.
    #[error("invalid header value for {header}: {source}")]
    InvalidHeader {
        header: &'static str,
        #[source]
        source: reqwest::header::InvalidHeaderValue,
    },
    /// The underlying HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A client for the server at `base_url` (for example `http://127.0.0.1:8080`)
/// that sends `Authorization: Bearer <token>` (marked sensitive, so it is never
/// logged by reqwest) on every request.
pub fn new_authenticated(base_url: &str, token: &str) -> Result<Client, ClientBuildError> {
    use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
    let mut headers = HeaderMap::new();
    let mut bearer = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|source| ClientBuildError::InvalidHeader { header: "Authorization", source })?;
    bearer.set_sensitive(true);
    headers.insert(AUTHORIZATION, bearer);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(std::time::Duration::from_secs(15))
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    Ok(Client::new_with_client(base_url, http))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constant, progenitor's `api_version()` and the spec agree.
    #[test]
    fn the_api_version_is_the_specs() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../../openapi/network.json")).unwrap();
        assert_eq!(API_VERSION, spec["info"]["version"]);
        assert_eq!(API_VERSION, <Client as ClientInfo<()>>::api_version());
    }
}
