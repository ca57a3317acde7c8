//! Emits the client side of a spec with progenitor: the client (builder
//! interface), its httpmock extension for client users' tests, and a clap CLI
//! over the client.
//!
//! The three use the same settings on separate generators, so every name they
//! share (`types::Customer`, `builder::UpdateCustomer`) is derived from the spec
//! alone. Client types derive `schemars::JsonSchema`, which the CLI's output
//! trait requires.
//!
//! progenitor 0.15.1's CLI and httpmock generators emit code that does not
//! compile for an array-valued query parameter (`value_parser!(Vec<T>)`,
//! `Vec<T>::to_string()`), so they are given the spec without such parameters:
//! the client still has them; a mock matches them through `into_inner()`, and a
//! CLI's hand-written `main.rs` may add them to its command.

use proc_macro2::TokenStream;
use progenitor_impl::{GenerationSettings, Generator, InterfaceStyle, TagStyle};
use serde_json::Value;

use crate::{no_panic, GenError};

fn settings() -> GenerationSettings {
    let mut settings = GenerationSettings::default();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq")
        .with_derive("schemars::JsonSchema")
        .with_map_type("::std::collections::BTreeMap");
    settings
}

fn openapi(spec: &Value) -> Result<openapiv3::OpenAPI, GenError> {
    serde_json::from_value(spec.clone())
        .map_err(|error| GenError::new("#", format!("not an OpenAPI 3.0 document: {error}")))
}

/// Runs one progenitor generation on a fresh generator, turning its errors and
/// panics into a [`GenError`].
fn run(
    spec: &Value,
    what: &str,
    generate: impl FnOnce(&mut Generator, &openapiv3::OpenAPI) -> progenitor_impl::Result<TokenStream>,
) -> Result<TokenStream, GenError> {
    let openapi = openapi(spec)?;
    let mut generator = Generator::new(&settings());
    no_panic("#", || {
        generate(&mut generator, &openapi)
            .map_err(|error| GenError::new("#", format!("progenitor ({what}): {error}")))
    })
}

/// Generates the client crate's `generated.rs` contents (unformatted tokens):
/// progenitor's client, then `API_VERSION`, the spec's `info.version` as a
/// constant (progenitor has it only as `ClientInfo::api_version()`).
pub fn emit(spec: &Value) -> Result<TokenStream, GenError> {
    let client = run(spec, "client", |generator, openapi| generator.generate_tokens(openapi))?;
    let version = spec
        .pointer("/info/version")
        .and_then(Value::as_str)
        .ok_or_else(|| GenError::new("#/info/version", "missing"))?;
    let doc = format!(
        " The version of the API this client was generated for: the spec's `info.version`, \
         {version}. The same as `Client::api_version()`, which every request sends as the \
         `api-version` header."
    );
    Ok(quote::quote! {
        #client
        #[doc = #doc]
        pub const API_VERSION: &str = #version;
    })
}

/// The spec without array-valued query parameters (see the module docs), for
/// the CLI and httpmock generators. Parameters given by `$ref` are resolved
/// against `#/components/parameters`, schemas against `#/components/schemas`.
pub fn without_array_query_parameters(spec: &Value) -> Value {
    let resolve = |value: &Value| -> Value {
        let mut value = value.clone();
        for _ in 0..8 {
            let Some(pointer) = value.get("$ref").and_then(Value::as_str) else { break };
            let Some(target) = pointer.strip_prefix('#').and_then(|p| spec.pointer(p)) else {
                break;
            };
            value = target.clone();
        }
        value
    };
    let is_array_query = |parameter: &Value| {
        let parameter = resolve(parameter);
        parameter["in"] == "query"
            && parameter.get("schema").is_some_and(|schema| resolve(schema)["type"] == "array")
    };
    let mut spec = spec.clone();
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for (_, member) in item.iter_mut() {
                // Path-level parameters, and each operation's.
                let parameters =
                    if member.is_array() { Some(member) } else { member.get_mut("parameters") };
                if let Some(parameters) = parameters.and_then(Value::as_array_mut) {
                    parameters.retain(|parameter| !is_array_query(parameter));
                }
            }
        }
    }
    spec
}

/// Generates the client crate's `mock.rs`: typed httpmock `When`/`Then`
/// wrappers per operation and a `MockServerExt` trait. It lives inside the
/// client crate, so it names the client as `crate`.
pub fn emit_mock(spec: &Value) -> Result<TokenStream, GenError> {
    let spec = without_array_query_parameters(spec);
    run(&spec, "httpmock", |generator, openapi| generator.httpmock(openapi, "crate"))
}

/// Generates a CLI crate's `generated.rs`: a clap subcommand per operation and
/// its execution through the client crate `client_crate` (a Rust path, e.g.
/// `network_client`).
pub fn emit_cli(spec: &Value, client_crate: &str) -> Result<TokenStream, GenError> {
    let spec = without_array_query_parameters(spec);
    run(&spec, "cli", |generator, openapi| generator.cli(openapi, client_crate))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn array_query_parameters_are_dropped_for_the_cli_and_mocks_only() {
        let spec = json!({
            "components": {
                "parameters": {
                    "Tags": {"name": "tag", "in": "query", "schema": {"$ref": "#/components/schemas/Tags"}},
                    "Tenant": {"name": "X-Tenant", "in": "header", "required": true, "schema": {"type": "string"}}
                },
                "schemas": {"Tags": {"type": "array", "items": {"type": "string"}}}
            },
            "paths": {
                "/items": {
                    "parameters": [{"name": "ids", "in": "query", "schema": {"type": "array", "items": {"type": "integer"}}}],
                    "get": {
                        "parameters": [
                            {"$ref": "#/components/parameters/Tenant"},
                            {"$ref": "#/components/parameters/Tags"},
                            {"name": "page", "in": "query", "schema": {"type": "integer"}},
                            {"name": "header-list", "in": "header", "schema": {"type": "array", "items": {"type": "string"}}}
                        ]
                    }
                }
            }
        });
        let filtered = without_array_query_parameters(&spec);
        assert_eq!(filtered["paths"]["/items"]["parameters"], json!([]));
        assert_eq!(
            filtered["paths"]["/items"]["get"]["parameters"],
            json!([
                {"$ref": "#/components/parameters/Tenant"},
                {"name": "page", "in": "query", "schema": {"type": "integer"}},
                {"name": "header-list", "in": "header", "schema": {"type": "array", "items": {"type": "string"}}}
            ])
        );
        assert_eq!(filtered["components"], spec["components"]);
    }
}
