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

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use progenitor_impl::{GenerationSettings, Generator, InterfaceStyle, TagStyle};
use serde_json::Value;

use crate::openapi_model::{is_json, media_essence};
use crate::{no_panic, pointer_segment, Effect, GenError, GenErrors, OperationRef, Warning};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// The spec progenitor is given: only the operations whose pointers are in
/// `keep` (those the trait has), with what progenitor 0.15.1 cannot read
/// rewritten, without the component schemas not in `schemas`, without `not`
/// (the types are the server's, see `schema::without_not`), and a note
/// (pointer, what changed) for each operation whose client loses something:
/// - `+json` response bodies are read as JSON (progenitor types only
///   `application/json`);
/// - a `default` response is an error response (`4XX`/`5XX`) when the
///   operation has a success response (progenitor would count it as a second
///   success type);
/// - when an operation's error responses have different bodies, the client
///   reads none of them (progenitor needs one error type per operation);
/// - an operation with a `multipart/form-data` body is left out of the client
///   (and so of the mocks and the CLI; [`Effect::SkippedInClient`]):
///   progenitor 0.15.1 cannot send one.
pub fn client_view(
    spec: &Value,
    keep: &BTreeSet<String>,
    schemas: &BTreeSet<String>,
) -> (Value, Vec<(String, Effect, GenError)>) {
    let mut notes = Vec::new();
    let mut view = crate::schema::without_not(spec);
    // The component schemas the generator could not express (progenitor generates them all).
    if let Some(all) = view.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        all.retain(|name, _| schemas.contains(name));
        let kept: Vec<(String, Value)> =
            all.iter().map(|(name, value)| (name.clone(), value.clone())).collect();
        *all = crate::schema::without_colliding_titles(&kept).into_iter().collect();
    }
    let resolve = |value: &Value| -> Value {
        let mut value = value.clone();
        for _ in 0..8 {
            let Some(pointer) = value.get("$ref").and_then(Value::as_str) else { break };
            let Some(target) = pointer.strip_prefix('#').and_then(|p| spec.pointer(p)) else {
                break;
            };
            value = crate::schema::without_not(target);
        }
        value
    };
    let Some(paths) = view.get_mut("paths").and_then(Value::as_object_mut) else {
        return (view, notes);
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for method in METHODS {
            let pointer = format!("#/paths/{}/{method}", pointer_segment(path));
            if !keep.contains(&pointer) {
                item.remove(method);
                continue;
            }
            let multipart = item
                .get(method)
                .and_then(|op| op.get("requestBody"))
                .map(&resolve)
                .and_then(|body| body.get("content").and_then(Value::as_object).cloned())
                .and_then(|content| {
                    content
                        .keys()
                        .find(|media| media_essence(media) == "multipart/form-data")
                        .cloned()
                });
            if let Some(media_type) = multipart {
                item.remove(method);
                notes.push((
                    pointer.clone(),
                    Effect::SkippedInClient,
                    GenError::new(
                        format!("{pointer}/requestBody/content/{}", pointer_segment(&media_type)),
                        "progenitor 0.15.1 cannot send a `multipart/form-data` body (the trait serves it); send it with `reqwest`'s multipart support",
                    )
                    .construct("multipart request body (client)"),
                ));
                continue;
            }
            let Some(responses) = item
                .get_mut(method)
                .and_then(|op| op.get_mut("responses"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            // Resolve every response, so that it can be rewritten.
            for response in responses.values_mut() {
                *response = resolve(response);
                if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) {
                    let json = content.keys().find(|media| is_json(media)).cloned();
                    if let Some(json) = json {
                        if !(json == "application/json" || json.starts_with("application/json;")) {
                            let object = content.remove(&json).expect("present");
                            content.insert("application/json".to_string(), object);
                        }
                    }
                }
            }
            let has_success = responses.keys().any(|code| code.starts_with('2'));
            if has_success {
                if let Some(default) = responses.remove("default") {
                    for range in ["4XX", "5XX"] {
                        responses.entry(range.to_string()).or_insert_with(|| default.clone());
                    }
                }
            }
            let is_error = |code: &str| {
                let upper = code.to_ascii_uppercase();
                upper == "DEFAULT" || upper.starts_with('4') || upper.starts_with('5')
            };
            let kinds: BTreeSet<String> = responses
                .iter()
                .filter(|(code, _)| is_error(code))
                .map(|(_, response)| match response.get("content").and_then(Value::as_object) {
                    Some(content) if !content.is_empty() => content
                        .iter()
                        .find(|(media, _)| media_essence(media) == "application/json")
                        .map(|(_, object)| object["schema"].to_string())
                        .unwrap_or_else(|| "raw".to_string()),
                    _ => "none".to_string(),
                })
                .collect();
            if kinds.len() > 1 {
                let codes: Vec<String> =
                    responses.keys().filter(|code| is_error(code)).cloned().collect();
                for (code, response) in responses.iter_mut() {
                    if is_error(code) {
                        if let Some(response) = response.as_object_mut() {
                            response.remove("content");
                        }
                    }
                }
                notes.push((
                    pointer.clone(),
                    Effect::Partial,
                    GenError::new(
                        format!("{pointer}/responses"),
                        format!("the error responses {codes:?} have different bodies: the client does not read them (progenitor 0.15.1 needs one error type per operation); give them one schema"),
                    )
                    .construct("error responses with different bodies (client)"),
                ));
            }
        }
    }
    paths.retain(|_, item| {
        item.as_object().is_none_or(|item| METHODS.iter().any(|method| item.contains_key(*method)))
    });
    (view, notes)
}

/// Runs `generate` (the mocks or the CLI) on the client's view of the spec;
/// when progenitor fails, the operations it fails on are left out, each with
/// a warning of the given effect.
pub fn emit_per_operation(
    view: &Value,
    operations: &[(String, OperationRef)],
    effect: Effect,
    generate: &dyn Fn(&Value) -> Result<TokenStream, GenError>,
) -> Result<(TokenStream, Vec<Warning>), GenErrors> {
    // What progenitor 0.15.1's mocks emit but cannot compile, found beforehand.
    let mut known: Vec<(String, GenError)> = Vec::new();
    if effect == Effect::SkippedInMocks {
        for (pointer, _) in operations {
            if let Some(error) = mock_problem(view, pointer) {
                known.push((pointer.clone(), error));
            }
        }
    }
    let view = &only_operations(
        view,
        &operations
            .iter()
            .map(|(pointer, _)| pointer.clone())
            .filter(|pointer| known.iter().all(|(p, _)| p != pointer))
            .collect::<Vec<_>>(),
    );
    let warn = |failing: Vec<(String, GenError)>| -> Vec<Warning> {
        failing
            .into_iter()
            .filter_map(|(pointer, error)| {
                let (_, operation) = operations.iter().find(|(p, _)| *p == pointer)?;
                Some(Warning { operation: operation.clone(), effect, error })
            })
            .collect()
    };
    let first_error = match generate(view) {
        Ok(tokens) => return Ok((tokens, warn(known))),
        Err(error) => error,
    };
    let candidates: Vec<String> = operations
        .iter()
        .map(|(pointer, _)| pointer.clone())
        .filter(|pointer| known.iter().all(|(p, _)| p != pointer))
        .collect();
    let failing = failing_operations(view, &candidates, generate);
    if failing.is_empty() {
        return Err(first_error.into());
    }
    let left_out: BTreeSet<&String> = failing.iter().map(|(pointer, _)| pointer).collect();
    let keep: Vec<String> = candidates.iter().filter(|p| !left_out.contains(p)).cloned().collect();
    let tokens = generate(&only_operations(view, &keep)).map_err(GenErrors::from)?;
    let failing = failing.into_iter().map(|(pointer, error)| {
        let construct =
            format!("progenitor {}", error.message.split(':').next().unwrap_or_default());
        (pointer.clone(), GenError::new(pointer, error.message.clone()).construct(construct))
    });
    known.extend(failing);
    Ok((tokens, warn(known)))
}

/// Why progenitor 0.15.1's httpmock code for an operation would not compile,
/// if it would not: it passes an enum or scalar body by value and a nullable
/// body as `Option<&T>` where httpmock takes `&T`, formats parameters whose
/// type has no `Display` (compositions, nullable schemas), and takes `()`
/// for a `null` JSON body.
pub fn mock_problem(view: &Value, pointer: &str) -> Option<GenError> {
    let resolve = |value: &Value| -> Value {
        let mut value = value.clone();
        for _ in 0..8 {
            let Some(target) = value
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|p| view.pointer(p))
            else {
                break;
            };
            value = target.clone();
        }
        value
    };
    let operation = view.pointer(pointer.strip_prefix('#')?)?;
    let problem = |at: String, message: &str, construct: &str| {
        Some(
            GenError::new(
                at,
                format!("progenitor 0.15.1's httpmock code does not compile for {message}"),
            )
            .construct(format!("mock: {construct}")),
        )
    };
    if let Some(body) = operation.get("requestBody").map(resolve) {
        if let Some(schema) = body
            .get("content")
            .and_then(Value::as_object)
            .and_then(|content| content.iter().find(|(media, _)| is_json(media)))
            .and_then(|(_, object)| object.get("schema"))
        {
            let at = format!("{pointer}/requestBody");
            let schema = resolve(schema);
            if schema.get("nullable") == Some(&Value::Bool(true)) {
                return problem(
                    at,
                    "a nullable JSON request body (`Option<&T>`)",
                    "nullable request body",
                );
            }
            let kind = schema.get("type").and_then(Value::as_str).unwrap_or_default();
            if schema.get("enum").is_some()
                || ["string", "integer", "number", "boolean"].contains(&kind)
            {
                return problem(
                    at,
                    "an enum or scalar request body (passed by value)",
                    "enum or scalar request body",
                );
            }
        }
    }
    let item_params = {
        let (item, _) = pointer.rsplit_once('/')?;
        view.pointer(item.strip_prefix('#')?).and_then(|item| item.get("parameters")).cloned()
    };
    let params: Vec<Value> = item_params
        .iter()
        .chain(operation.get("parameters"))
        .filter_map(Value::as_array)
        .flatten()
        .map(resolve)
        .collect();
    for param in params {
        let Some(schema) = param.get("schema").map(resolve) else { continue };
        // typify writes `Display` for a composition of string-like members only.
        let composed = ["oneOf", "anyOf", "allOf"].iter().any(|k| {
            schema.get(*k).and_then(Value::as_array).is_some_and(|members| {
                members.iter().map(resolve).any(|member| {
                    let kind = member.get("type").and_then(Value::as_str).unwrap_or_default();
                    ["array", "object"].contains(&kind) || member.get("properties").is_some()
                })
            })
        });
        let nullable = schema.get("nullable") == Some(&Value::Bool(true));
        if composed || nullable {
            let name = param.get("name").and_then(Value::as_str).unwrap_or_default();
            return problem(
                format!("{pointer}/parameters"),
                &format!("parameter `{name}`, whose type has no `Display` (a nullable schema, or a composition with an array or object member)"),
                "parameter without Display",
            );
        }
    }
    let responses = operation.get("responses").and_then(Value::as_object)?;
    for (code, response) in responses {
        let response = resolve(response);
        let schema = response
            .get("content")
            .and_then(Value::as_object)
            .and_then(|content| content.iter().find(|(media, _)| is_json(media)))
            .and_then(|(_, object)| object.get("schema"))
            .map(resolve);
        if schema.is_some_and(|schema| schema.get("enum") == Some(&serde_json::json!([null]))) {
            return problem(
                format!("{pointer}/responses/{}", pointer_segment(code)),
                &format!("the `null` JSON body of response {code} (`()`)"),
                "null response body",
            );
        }
    }
    None
}

/// The spec with only the operations whose pointers are in `subset`.
fn only_operations(view: &Value, subset: &[String]) -> Value {
    let keep: BTreeSet<String> = subset.iter().cloned().collect();
    let mut spec = view.clone();
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for method in METHODS {
                if !keep.contains(&format!("#/paths/{}/{method}", pointer_segment(path))) {
                    item.remove(method);
                }
            }
        }
        paths.retain(|_, item| {
            item.as_object().is_none_or(|item| METHODS.iter().any(|m| item.contains_key(*m)))
        });
    }
    spec
}

/// The operations (pointers, among `candidates`) progenitor fails on with
/// `generate`, each with its error: progenitor is run on halves of the
/// operations until each failing one is alone (a few runs per failure).
pub fn failing_operations(
    view: &Value,
    candidates: &[String],
    generate: &dyn Fn(&Value) -> Result<TokenStream, GenError>,
) -> Vec<(String, GenError)> {
    let only = |subset: &[String]| only_operations(view, subset);
    let mut failing = Vec::new();
    let mut stack = vec![candidates.to_vec()];
    while let Some(set) = stack.pop() {
        if set.is_empty() {
            continue;
        }
        match generate(&only(&set)) {
            Ok(_) => {}
            Err(error) if set.len() == 1 => failing.push((set[0].clone(), error)),
            Err(_) => {
                let (left, right) = set.split_at(set.len() / 2);
                stack.push(right.to_vec());
                stack.push(left.to_vec());
            }
        }
    }
    failing.sort_by(|a, b| a.0.cmp(&b.0));
    failing
}

fn settings(spec: &Value) -> GenerationSettings {
    let mut settings = GenerationSettings::default();
    let names: Vec<String> = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|schemas| schemas.keys().cloned().collect())
        .unwrap_or_default();
    for (from, to) in crate::schema::reserved_renames(names.iter()) {
        settings.with_patch(from, progenitor_impl::TypePatch::default().with_rename(to));
    }
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
    let mut generator = Generator::new(&settings(spec));
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
    emit_mock_for(spec, "crate")
}

/// [`emit_mock`] for a client at the Rust path `client_path`.
pub fn emit_mock_for(spec: &Value, client_path: &str) -> Result<TokenStream, GenError> {
    let spec = without_array_query_parameters(spec);
    run(&spec, "httpmock", |generator, openapi| generator.httpmock(openapi, client_path))
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

    /// The operations whose httpmock code progenitor 0.15.1 would emit broken
    /// are found from the spec, each with its reason; the others are not.
    #[test]
    fn mock_problems_are_found_per_operation() {
        let spec = json!({
            "components": { "schemas": {
                "Mode": { "type": "string", "enum": ["a", "b"] },
                "Guid": { "type": "string", "nullable": true },
                "Thing": { "type": "object", "nullable": true, "properties": {} },
                "IdOrName": { "oneOf": [{ "type": "string", "format": "uuid" }, { "type": "string" }] },
                "OneOrMany": { "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }] },
                "Null": { "type": "string", "enum": [null] }
            } },
            "paths": {
                "/enum": { "put": { "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Mode" } } } } } },
                "/nullable": { "put": { "requestBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } } } } } },
                "/guid": { "get": { "parameters": [{ "name": "g", "in": "query", "schema": { "$ref": "#/components/schemas/Guid" } }] } },
                "/many": { "get": { "parameters": [{ "name": "id", "in": "query", "schema": { "$ref": "#/components/schemas/OneOrMany" } }] } },
                "/null": { "get": { "responses": { "200": { "description": "", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Null" } } } } } } },
                "/fine": { "get": { "parameters": [{ "name": "id", "in": "query", "schema": { "$ref": "#/components/schemas/IdOrName" } }] } }
            }
        });
        let construct = |pointer: &str| mock_problem(&spec, pointer).map(|error| error.construct);
        assert_eq!(
            construct("#/paths/~1enum/put").as_deref(),
            Some("mock: enum or scalar request body")
        );
        assert_eq!(
            construct("#/paths/~1nullable/put").as_deref(),
            Some("mock: nullable request body")
        );
        assert_eq!(
            construct("#/paths/~1guid/get").as_deref(),
            Some("mock: parameter without Display")
        );
        assert_eq!(
            construct("#/paths/~1many/get").as_deref(),
            Some("mock: parameter without Display")
        );
        assert_eq!(construct("#/paths/~1null/get").as_deref(), Some("mock: null response body"));
        assert_eq!(construct("#/paths/~1fine/get"), None);
    }
}
