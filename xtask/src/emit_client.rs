//! Emits the client side of a spec: a progenitor client with the builder interface.

use proc_macro2::TokenStream;
use progenitor_impl::{GenerationSettings, Generator, InterfaceStyle, TagStyle};
use serde_json::Value;

use crate::{no_panic, GenError};

/// Generates the client crate's `generated.rs` contents (unformatted tokens).
pub fn emit(spec: &Value) -> Result<TokenStream, GenError> {
    let openapi: openapiv3::OpenAPI = serde_json::from_value(spec.clone())
        .map_err(|error| GenError::new("#", format!("not an OpenAPI 3.0 document: {error}")))?;
    let mut settings = GenerationSettings::default();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq")
        .with_map_type("::std::collections::BTreeMap");
    let mut generator = Generator::new(&settings);
    no_panic("#", || {
        generator
            .generate_tokens(&openapi)
            .map_err(|error| GenError::new("#", format!("progenitor: {error}")))
    })
}
