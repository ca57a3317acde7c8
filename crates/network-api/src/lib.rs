//! The Network API contract as Rust: the dropshot server trait and its types,
//! generated from `openapi/network.json` by `cargo xtask generate`.
//!
//! This crate depends on no implementation. `network_api_mod::stub_api_description()`
//! yields the OpenAPI document the trait describes without compiling a server,
//! and a test compares it semantically with the checked-in spec.
//!
//! # Shape of the trait
//!
//! Each operation of the spec is one method of [`NetworkApi`], named after its
//! `operationId` (`updateCustomer` is `update_customer`). Its request parts are
//! typed structs (`UpdateCustomerPathParams`, `UpdateCustomerHeaderParams`,
//! [`types::CustomerDetails`]) wrapped in [`Deferred`] / [`JsonBody`]: dropshot
//! extracts them but the implementation decides when a malformed part becomes
//! a 400, so that authentication (401) and authorization (403) are checked
//! first. A method answers `Result<Reply<XxxResponse>, ApiError>`: [`Reply`]
//! carries either the success response (body and headers such as `ETag`) or an
//! [`ApiError`] with its headers (`Retry-After`, `WWW-Authenticate`), because
//! dropshot drops the headers of an `Err`. Every error body is `{"message": ...}`.

// Formatted by prettyplease at generation time, not by rustfmt.
#[rustfmt::skip]
mod generated;

pub use generated::*;
