//! Every construct the generator does not support skips the operation that
//! uses it, with a warning naming the operation, its JSON pointer and the
//! construct, never with a panic or with code; the other operations are
//! generated. Constructs it now supports are accepted.
//!
//! Each test patches one construct into a small valid spec ([`base`]), whose
//! second operation `getOk` must survive every patch.

use serde_json::{json, Value};
use xtask::codegen::{generate_from_value, generate_job, Generated, Job};
use xtask::{Effect, GenError};

/// A small spec the generator accepts: `GET /a` answering a `Thing` or an `Error`.
fn base() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Fixture", "version": "1.0.0" },
        "paths": {
            "/a": {
                "get": {
                    "operationId": "getA",
                    "responses": {
                        "200": {
                            "description": "A thing.",
                            "content": {
                                "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } }
                            }
                        },
                        "400": { "$ref": "#/components/responses/BadRequest" }
                    }
                }
            },
            "/ok": {
                "get": {
                    "operationId": "getOk",
                    "responses": {
                        "204": { "description": "Fine." },
                        "400": { "$ref": "#/components/responses/BadRequest" }
                    }
                }
            }
        },
        "components": {
            "responses": {
                "BadRequest": {
                    "description": "Bad request.",
                    "content": {
                        "application/json": { "schema": { "$ref": "#/components/schemas/Error" } }
                    }
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["message"],
                    "properties": { "message": { "type": "string" } }
                },
                "Thing": {
                    "type": "object",
                    "properties": { "name": { "type": "string" } }
                }
            }
        }
    })
}

/// The base spec with `patch` applied.
fn patched(patch: impl FnOnce(&mut Value)) -> Value {
    let mut spec = base();
    patch(&mut spec);
    spec
}

/// The base spec's `GET /a` operation, to patch.
fn get_a(spec: &mut Value) -> &mut Value {
    &mut spec["paths"]["/a"]["get"]
}

/// The base spec plus `GET /items/{id}` with the given parameters.
fn with_items(parameters: Value) -> Value {
    patched(|spec| {
        let mut operation = get_a(spec).clone();
        operation["operationId"] = json!("getItem");
        operation["parameters"] = parameters;
        spec["paths"]["/items/{id}"] = json!({ "get": operation });
    })
}

/// The base spec's `GET /a` with the given parameters.
fn with_params(parameters: Value) -> Value {
    patched(|spec| get_a(spec)["parameters"] = parameters)
}

/// A JSON error response (the shared error schema).
fn error_response() -> Value {
    json!({
        "description": "Error.",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

/// Generates a spec that must be accepted as a whole.
#[track_caller]
fn generated(spec: &Value) -> Generated {
    match generate_from_value(spec, "FixtureApi") {
        Ok(generated) => generated,
        Err(errors) => panic!("expected code, got: {errors}"),
    }
}

/// Asserts that `getOk` is generated and the operation at `operation`
/// (`#/paths/~1a/get`) is skipped with a warning at `pointer` whose message
/// contains `message`, and returns that warning's text.
#[track_caller]
fn assert_skipped_at(spec: Value, operation: &str, pointer: &str, message: &str) -> String {
    let generated = generated(&spec);
    assert!(generated.api.contains("fn get_ok("), "getOk is generated:\n{}", generated.api);
    assert!(generated.client.contains("pub fn get_ok("), "getOk is in the client");
    assert!(
        generated.operations.iter().all(|(p, _)| p != operation),
        "{operation} must be skipped"
    );
    let warning = generated
        .warnings
        .iter()
        .find(|w| w.effect == Effect::Skipped && w.error.pointer == pointer)
        .unwrap_or_else(|| panic!("no skip at {pointer} in {:#?}", generated.warnings));
    assert!(warning.error.message.contains(message), "expected `{message}` in: {warning}");
    warning.to_string()
}

/// [`assert_skipped_at`] for the base spec's `GET /a`.
#[track_caller]
fn assert_skipped(spec: Value, pointer: &str, message: &str) -> String {
    let warning = assert_skipped_at(spec, "#/paths/~1a/get", pointer, message);
    assert!(warning.starts_with("`getA` (GET /a) skipped: "), "{warning}");
    warning
}

/// Asserts that every operation (`getA` too) is generated without warnings.
#[track_caller]
fn assert_accepted(spec: Value) -> Generated {
    let generated = generated(&spec);
    assert!(generated.warnings.is_empty(), "{:#?}", generated.warnings);
    let operations: usize = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(generated.operations.len(), operations);
    generated
}

/// Asserts that generation of the whole document fails with an error at `pointer`.
#[track_caller]
fn assert_rejected(spec: Value, pointer: &str, message: &str) {
    let errors = match generate_from_value(&spec, "FixtureApi") {
        Ok(generated) => panic!("expected an error at {pointer}, got code:\n{}", generated.api),
        Err(errors) => errors,
    };
    let error: &GenError = errors
        .0
        .iter()
        .find(|error| error.pointer == pointer)
        .unwrap_or_else(|| panic!("no error at {pointer}: {errors}"));
    assert!(error.message.contains(message), "expected `{message}` in: {error}");
}

#[test]
fn the_base_spec_is_accepted() {
    let generated = assert_accepted(base());
    assert!(generated.api.contains("pub trait FixtureApi"));
    assert!(generated.client.contains("pub fn get_a"));
}

#[test]
fn two_success_responses_name_their_codes() {
    let spec = patched(|spec| {
        get_a(spec)["responses"]["201"] = json!({ "description": "Also fine." });
    });
    assert_skipped(spec, "#/paths/~1a/get/responses", "two success responses (200, 201)");
}

#[test]
fn no_success_response() {
    let spec = patched(|spec| {
        get_a(spec)["responses"].as_object_mut().unwrap().remove("200");
    });
    assert_skipped(spec, "#/paths/~1a/get/responses", "no success (2xx) response");
}

#[test]
fn default_and_range_responses_are_error_responses() {
    let spec = patched(|spec| {
        get_a(spec)["responses"]["default"] = error_response();
        get_a(spec)["responses"]["4XX"] = error_response();
        get_a(spec)["responses"]["5XX"] = error_response();
    });
    assert_accepted(spec);
}

#[test]
fn any_2xx_success_status() {
    let spec = patched(|spec| {
        let responses = get_a(spec)["responses"].as_object_mut().unwrap();
        let ok = responses.remove("200").unwrap();
        responses.insert("206".to_string(), ok);
    });
    let generated = assert_accepted(spec);
    assert!(generated.api.contains("::http::StatusCode::PARTIAL_CONTENT"), "{}", generated.api);
}

#[test]
fn no_content_with_a_body() {
    let spec = patched(|spec| {
        let responses = get_a(spec)["responses"].as_object_mut().unwrap();
        let ok = responses.remove("200").unwrap();
        responses.insert("204".to_string(), ok);
    });
    assert_skipped(spec, "#/paths/~1a/get/responses/204", "a 204 response cannot have a body");
}

/// A 304 next to a 200 is left out of the trait (dropshot publishes one
/// success response), with a warning: the operation is still generated.
#[test]
fn a_304_next_to_a_success_is_left_out_with_a_warning() {
    let spec = patched(|spec| {
        get_a(spec)["responses"]["304"] = json!({ "description": "Not modified." });
    });
    let generated = generated(&spec);
    assert_eq!(generated.operations.len(), 2);
    let [warning] = generated.warnings.as_slice() else { panic!("{:#?}", generated.warnings) };
    assert_eq!(warning.effect, Effect::Partial);
    assert_eq!(warning.error.pointer, "#/paths/~1a/get/responses/304");
    assert!(warning.error.message.contains("the 304 response is left out"), "{warning}");
}

/// A redirect with a 304 next to it (GitHub's migration archive): the
/// redirect is the success, the 304 is left out as next to a 2xx.
#[test]
fn a_304_next_to_a_redirect_is_left_out_with_a_warning() {
    let spec = patched(|spec| {
        get_a(spec)["responses"] = json!({
            "302": { "description": "Found." },
            "304": { "description": "Not modified." },
            "400": { "$ref": "#/components/responses/BadRequest" }
        });
    });
    let generated = generated(&spec);
    assert_eq!(generated.operations.len(), 2);
    assert!(generated.api.contains("Reply<::dropshot::HttpResponseFound>"), "{}", generated.api);
    let [warning] = generated.warnings.as_slice() else { panic!("{:#?}", generated.warnings) };
    assert_eq!(
        (warning.effect, warning.error.pointer.as_str()),
        (Effect::Partial, "#/paths/~1a/get/responses/304")
    );
    assert!(warning.error.message.contains("the 304 response is left out"), "{warning}");
}

/// Only a `default` response: a free-form success, as dropshot publishes a
/// handler answering `Response<Body>`.
#[test]
fn only_a_default_response() {
    let spec = patched(|spec| {
        get_a(spec)["responses"] =
            json!({ "default": { "description": "", "content": { "*/*": { "schema": {} } } } });
    });
    let generated = assert_accepted(spec);
    // It documents no error either: dropshot's shape, which its reply carries.
    let api: String = generated.api.split_whitespace().collect();
    assert!(
        api.contains(
            "::dropshot_api_runtime::Reply<::http::Response<::dropshot::Body>,::dropshot_api_runtime::DropshotError,>"
        ),
        "{}",
        generated.api
    );
}

#[test]
fn redirects_use_dropshots_redirect_types() {
    let spec = patched(|spec| {
        let responses = get_a(spec)["responses"].as_object_mut().unwrap();
        responses.remove("200");
        responses.insert(
            "303".to_string(),
            json!({ "description": "Elsewhere.", "headers": { "Location": { "schema": { "type": "string" } } } }),
        );
    });
    let generated = assert_accepted(spec);
    assert!(generated.api.contains("Reply<::dropshot::HttpResponseSeeOther>"), "{}", generated.api);
}

#[test]
fn missing_operation_id() {
    let spec = patched(|spec| {
        get_a(spec).as_object_mut().unwrap().remove("operationId");
    });
    let warning =
        assert_skipped_at(spec, "#/paths/~1a/get", "#/paths/~1a/get", "missing operationId");
    assert!(warning.starts_with("`` (GET /a) skipped"), "{warning}");
}

#[test]
fn duplicate_operation_id() {
    let spec = patched(|spec| {
        let operation = get_a(spec).clone();
        spec["paths"]["/b"] = json!({ "get": operation });
    });
    assert_skipped_at(
        spec,
        "#/paths/~1b/get",
        "#/paths/~1b/get/operationId",
        "duplicate operationId `getA` (also `getA` (GET /a))",
    );
}

#[test]
fn any_operation_id_becomes_a_rust_name() {
    let spec = patched(|spec| {
        get_a(spec)["operationId"] = json!("meta/root");
        let mut other = get_a(spec).clone();
        other["operationId"] = json!("key.get");
        spec["paths"]["/b"] = json!({ "get": other });
        let mut other = get_a(spec).clone();
        other["operationId"] = json!("match");
        spec["paths"]["/c"] = json!({ "get": other });
    });
    let generated = assert_accepted(spec);
    for name in ["fn meta_root(", "fn key_get(", "fn match_("] {
        assert!(generated.api.contains(name), "{name} in:\n{}", generated.api);
    }
    // The spec's own operationId is what the trait publishes.
    assert!(generated.api.contains(r#"operation_id = "meta/root""#), "{}", generated.api);
}

#[test]
fn operation_ids_with_the_same_rust_name_are_reported() {
    let spec = patched(|spec| {
        let mut other = get_a(spec).clone();
        other["operationId"] = json!("get-a");
        spec["paths"]["/b"] = json!({ "get": other });
    });
    assert_skipped_at(
        spec,
        "#/paths/~1b/get",
        "#/paths/~1b/get/operationId",
        "operationId `get-a` becomes the Rust name `get_a`, as does `getA` (GET /a)",
    );
}

#[test]
fn cookie_parameter() {
    let spec =
        with_params(json!([{ "name": "session", "in": "cookie", "schema": { "type": "string" } }]));
    assert_skipped(spec, "#/paths/~1a/get/parameters/0/in", "cookie parameter `session`");
}

#[test]
fn parameter_with_content() {
    let spec = with_params(json!([{
        "name": "filter",
        "in": "query",
        "content": { "application/json": { "schema": { "type": "object" } } }
    }]));
    assert_skipped(
        spec,
        "#/paths/~1a/get/parameters/0/content",
        "parameter `filter` with `content`",
    );
}

#[test]
fn path_parameter_not_required() {
    let spec = with_items(json!([{ "name": "id", "in": "path", "schema": { "type": "string" } }]));
    assert_skipped_at(
        spec,
        "#/paths/~1items~1{id}/get",
        "#/paths/~1items~1{id}/get/parameters/0/required",
        "a path parameter must be required",
    );
}

#[test]
fn path_template_variable_without_parameter() {
    let spec = with_items(json!([]));
    assert_skipped_at(
        spec,
        "#/paths/~1items~1{id}/get",
        "#/paths/~1items~1{id}/get",
        "do not match the variables",
    );
}

#[test]
fn array_in_a_header() {
    let spec = with_params(json!([{
        "name": "X-Tags",
        "in": "header",
        "schema": { "type": "array", "items": { "type": "string" } }
    }]));
    assert_skipped(
        spec,
        "#/paths/~1a/get/parameters/0/schema",
        "array parameters are only supported in the query",
    );
}

#[test]
fn query_array_without_explode() {
    let spec = with_params(json!([{
        "name": "tags",
        "in": "query",
        "style": "form",
        "explode": false,
        "schema": { "type": "array", "items": { "type": "string" } }
    }]));
    assert_skipped(spec, "#/paths/~1a/get/parameters/0", "`explode: true`");
}

#[test]
fn xml_request_body() {
    let spec = patched(|spec| {
        let mut operation = get_a(spec).clone();
        operation["operationId"] = json!("postA");
        operation["requestBody"] = json!({
            "required": true,
            "content": { "application/xml": { "schema": { "$ref": "#/components/schemas/Thing" } } }
        });
        spec["paths"]["/a"]["post"] = operation;
    });
    assert_skipped_at(
        spec,
        "#/paths/~1a/post",
        "#/paths/~1a/post/requestBody/content",
        "request body media types [\"application/xml\"]",
    );
}

/// The base spec plus `POST /a` with a request body of this media type and schema.
fn with_post_body(media_type: &str, schema: Value) -> Value {
    patched(|spec| {
        let mut operation = get_a(spec).clone();
        operation["operationId"] = json!("postA");
        operation["requestBody"] =
            json!({ "required": true, "content": { media_type: { "schema": schema } } });
        spec["paths"]["/a"]["post"] = operation;
    })
}

/// Request bodies dropshot cannot publish as the spec says, each with its reason.
#[test]
fn text_xml_and_plus_json_request_bodies_name_what_cannot_express_them() {
    for (media_type, at, reason) in [
        (
            "text/plain",
            "",
            "dropshot publishes a raw request body only as `application/octet-stream`",
        ),
        (
            "application/xml",
            "",
            "dropshot reads and publishes request bodies only as `application/json`",
        ),
        (
            "application/scim+json",
            "/application~1scim+json",
            "dropshot publishes a JSON body only as `application/json`",
        ),
    ] {
        let spec = with_post_body(media_type, json!({ "type": "string" }));
        let pointer = format!("#/paths/~1a/post/requestBody/content{at}");
        let warning = assert_skipped_at(spec, "#/paths/~1a/post", &pointer, reason);
        assert!(warning.contains(media_type), "{warning}");
    }
}

/// A multipart body is dropshot's `MultipartBody` in the trait; the parts'
/// schema, which dropshot does not publish, and the client, which progenitor
/// 0.15.1 cannot write, are left out, each with a warning.
#[test]
fn a_multipart_body_is_served_and_what_is_left_out_is_named() {
    let parts = json!({ "type": "object", "properties": { "file": { "type": "string", "format": "binary" } } });
    let served = generated(&with_post_body("multipart/form-data", parts));
    assert!(served.api.contains("body: DeferredBody<::dropshot::MultipartBody>"), "{}", served.api);
    assert!(!served.client.contains("pub fn post_a("), "progenitor cannot send it");
    let effects: Vec<(Effect, &str)> =
        served.warnings.iter().map(|w| (w.effect, w.error.construct.as_str())).collect();
    assert_eq!(
        effects,
        [
            (Effect::SkippedInClient, "multipart request body (client)"),
            (Effect::Partial, "multipart parts schema"),
        ]
    );
    // dropshot's own shape (a binary string) is published as written: only the client is left out.
    let binary = json!({ "type": "string", "format": "binary" });
    let served = generated(&with_post_body("multipart/form-data", binary));
    let effects: Vec<Effect> = served.warnings.iter().map(|w| w.effect).collect();
    assert_eq!(effects, [Effect::SkippedInClient]);
}

#[test]
fn a_json_response_among_other_media_types_is_used() {
    let spec = patched(|spec| {
        get_a(spec)["responses"]["200"]["content"]["text/plain"] =
            json!({ "schema": { "type": "string" } });
        get_a(spec)["responses"]["200"]["content"].as_object_mut().unwrap().insert(
            "application/json; charset=utf-8".into(),
            json!({ "schema": { "$ref": "#/components/schemas/Thing" } }),
        );
        get_a(spec)["responses"]["200"]["content"]
            .as_object_mut()
            .unwrap()
            .remove("application/json");
    });
    let generated = assert_accepted(spec);
    assert!(
        generated.api.contains("pub struct GetASuccess(pub types::Thing)"),
        "{}",
        generated.api
    );
}

#[test]
fn error_responses_with_two_schemas_publish_both() {
    let spec = patched(|spec| {
        spec["components"]["schemas"]["OtherError"] = json!({
            "type": "object",
            "required": ["detail"],
            "properties": { "detail": { "type": "string" } }
        });
        get_a(spec)["responses"]["404"] = json!({
            "description": "Not found.",
            "content": {
                "application/json": { "schema": { "$ref": "#/components/schemas/OtherError" } }
            }
        });
    });
    let generated = generated(&spec);
    let api: String = generated.api.split_whitespace().collect();
    assert!(api.contains("pubenumGetAErrorSchema{}"), "{}", generated.api);
    assert!(
        api.contains("pubtypeGetAError=::dropshot_api_runtime::ApiError<GetAErrorSchema>;"),
        "{}",
        generated.api
    );
    // The two schemas are published as one `anyOf`, written `{message}` by default.
    assert!(api.contains("any_of:Some(vec!["), "{}", generated.api);
    assert!(api.contains("ErrorShape::Message"), "{}", generated.api);
    // The client cannot type two error bodies: it says so, and still has the operation.
    let note = generated.warnings.iter().find(|w| w.effect == Effect::Partial).expect("a note");
    assert!(note.error.message.contains("different bodies"), "{note}");
    assert!(generated.client.contains("pub fn get_a("));
}

#[test]
fn any_error_schema_and_no_error_response() {
    let spec = patched(|spec| {
        spec["components"]["schemas"]["Error"] = json!({
            "type": "object",
            "required": ["detail"],
            "properties": { "detail": { "type": "string" } }
        });
        spec["paths"]["/ok"]["get"]["responses"].as_object_mut().unwrap().remove("400");
    });
    let generated = assert_accepted(spec);
    // `getOk` documents no error: dropshot's own error shape.
    let api: String = generated.api.split_whitespace().collect();
    assert!(
        api.contains("pubtypeGetOkError=::dropshot_api_runtime::ApiError<::dropshot_api_runtime::DropshotError,>;"),
        "{}",
        generated.api
    );
    // The shared `{detail}` schema is written `{message}` unless the handler gives a body.
    assert!(api.contains("pubenumApiErrorSchema{}"), "{}", generated.api);
}

#[test]
fn reference_to_a_missing_schema() {
    let spec = patched(|spec| {
        spec["components"]["schemas"]["Thing"]["properties"]["part"] =
            json!({ "$ref": "#/components/schemas/Missing" });
    });
    assert_skipped(
        spec,
        "#/components/schemas/Thing/properties/part",
        "uses the schema `Thing`, which the generator cannot express: `$ref` to `#/components/schemas/Missing`, which does not exist",
    );
}

#[test]
fn reference_to_an_external_file() {
    let spec = patched(|spec| {
        get_a(spec)["responses"]["200"]["content"]["application/json"]["schema"] =
            json!({ "$ref": "things.json#/Thing" });
    });
    assert_skipped(
        spec,
        "#/paths/~1a/get/responses/200/content",
        "only references to #/components/schemas/",
    );
}

/// `not` is published but not typed (see `schema.rs`); `if` is not supported.
#[test]
fn if_keyword() {
    let spec = patched(|spec| {
        spec["components"]["schemas"]["Thing"]["properties"]["name"] =
            json!({ "type": "string", "if": { "enum": ["x"] } });
    });
    assert_skipped(
        spec,
        "#/components/schemas/Thing/properties/name/if",
        "the `if` keyword is not supported",
    );
}

#[test]
fn openapi_3_1() {
    let spec = patched(|spec| spec["openapi"] = json!("3.1.0"));
    assert_rejected(spec, "#/openapi", "only 3.0.x is supported");
}

#[test]
fn every_problem_of_a_document_is_reported_in_one_run() {
    let spec = patched(|spec| {
        spec["openapi"] = json!("3.1.0");
        spec.as_object_mut().unwrap().remove("paths");
    });
    let errors = generate_from_value(&spec, "FixtureApi").err().expect("errors");
    assert_eq!(errors.0.len(), 2, "{errors}");
    let spec = patched(|spec| {
        get_a(spec)["parameters"] = json!([
            { "name": "session", "in": "cookie", "schema": { "type": "string" } },
            { "name": "filter", "in": "query", "schema": { "type": "object" } }
        ]);
        get_a(spec)["responses"]["201"] = json!({ "description": "Also fine." });
        let mut other = get_a(spec).clone();
        other["operationId"] = json!("getB");
        spec["paths"]["/b"] = json!({ "get": other });
    });
    let generated = generated(&spec);
    let skips: Vec<String> = generated.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(skips.len(), 6, "three problems of each of two operations: {skips:#?}");
}

#[test]
fn object_query_parameter() {
    let spec = with_params(json!([{
        "name": "filter",
        "in": "query",
        "schema": { "type": "object", "properties": { "name": { "type": "string" } } }
    }]));
    assert_skipped(
        spec,
        "#/paths/~1a/get/parameters/0/schema",
        "parameter `filter`: a schema of type `object` cannot be read from a parameter's string",
    );
}

#[test]
fn request_body_on_get_and_delete() {
    let spec = patched(|spec| {
        get_a(spec)["requestBody"] = json!({
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } } }
        });
        let mut delete = get_a(spec).clone();
        delete["operationId"] = json!("deleteA");
        spec["paths"]["/a"]["delete"] = delete;
    });
    let generated = assert_accepted(spec);
    assert!(generated.api.contains("body: OptionalJsonBody<types::Thing>"), "{}", generated.api);
}

#[test]
fn callbacks() {
    let spec = patched(|spec| {
        get_a(spec)["callbacks"] = json!({
            "onEvent": { "{$request.query.url}": { "post": { "responses": { "200": { "description": "Ok." } } } } }
        });
    });
    assert_skipped(spec, "#/paths/~1a/get/callbacks", "callbacks are not supported");
}

#[test]
fn object_query_parameter_via_a_reference() {
    let spec = with_params(json!([{
        "name": "filter",
        "in": "query",
        "schema": { "$ref": "#/components/schemas/Thing" }
    }]));
    assert_skipped(
        spec,
        "#/paths/~1a/get/parameters/0/schema",
        "a schema of type `object` (through `#/components/schemas/Thing`) cannot be read",
    );
}

#[test]
fn query_array_of_objects() {
    let spec = with_params(json!([{
        "name": "things",
        "in": "query",
        "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Thing" } }
    }]));
    assert_skipped(
        spec,
        "#/paths/~1a/get/parameters/0/schema/items",
        "a schema of type `object` (through `#/components/schemas/Thing`)",
    );
}

#[test]
fn ignored_headers_and_composed_parameters() {
    let spec = patched(|spec| {
        spec["components"]["schemas"]["IdOrName"] = json!({
            "oneOf": [{ "type": "string", "format": "uuid" }, { "type": "string" }]
        });
        get_a(spec)["parameters"] = json!([
            { "name": "Authorization", "in": "header", "schema": { "type": "string" } },
            { "name": "Accept", "in": "header", "schema": { "type": "string" } },
            { "name": "thing", "in": "query", "required": true, "schema": { "$ref": "#/components/schemas/IdOrName" } }
        ]);
    });
    let generated = assert_accepted(spec);
    assert!(!generated.api.contains("pub authorization"), "{}", generated.api);
    assert!(generated.api.contains("pub thing: types::IdOrName"), "{}", generated.api);
}

/// `--strict` (and every published spec) turns each skip into an error.
#[test]
fn strict_generation_fails_on_every_skip() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("strict");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = patched(|spec| {
        get_a(spec)["responses"]["201"] = json!({ "description": "Also fine." });
    });
    let path = dir.join("fixture.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let job = Job {
        spec: path,
        trait_name: "FixtureApi".into(),
        api_out: dir.join("api.rs"),
        client_out: dir.join("client.rs"),
        mock_out: None,
        mock_client_path: "crate".into(),
        cli: None,
        skips_out: None,
        strict: true,
    };
    let (files, warnings) = generate_job(&job, false).expect("lenient");
    assert_eq!((files.len(), warnings.len()), (2, 1));
    let errors = generate_job(&job, true).expect_err("strict fails");
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert!(errors.0[0].message.contains("(strict) `getA` (GET /a) skipped"), "{errors}");
}

/// An enum whose values typify would give the same variant name (`add`,
/// `Add`; `Etc/GMT+1`, `Etc/GMT-1`) is typed as a string newtype (with
/// `FromStr`, keeping `maxLength`), inline or behind a `$ref`, on the server
/// and in the client; the published schema keeps the enum. A plain enum stays
/// a Rust enum (see ARCHITECTURE.md, "Enums typed as strings").
#[test]
fn a_colliding_enum_becomes_a_string_newtype_and_a_plain_enum_stays_an_enum() {
    let spec = patched(|spec| {
        let mut post = get_a(spec).clone();
        post["operationId"] = json!("postA");
        post["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": {
                "type": "object",
                "title": "Body",
                "properties": {
                    "op": { "type": "string", "enum": ["add", "Add"] },
                    "zone": { "$ref": "#/components/schemas/Zone" },
                    "mode": { "$ref": "#/components/schemas/Mode" }
                }
            } } }
        });
        spec["paths"]["/a"]["post"] = post;
        spec["components"]["schemas"]["Zone"] =
            json!({ "type": "string", "maxLength": 9, "enum": ["Etc/GMT+1", "Etc/GMT-1"] });
        spec["components"]["schemas"]["Mode"] = json!({ "type": "string", "enum": ["on", "off"] });
    });
    let generated = assert_accepted(spec);
    for code in [&generated.api, &generated.client] {
        let flat: String = code.split_whitespace().collect();
        assert!(flat.contains("pubstructZone(::std::string::String);"), "{code}");
        assert!(flat.contains("impl::std::str::FromStrforZone"), "{code}");
        assert!(flat.contains("ifvalue.chars().count()>9usize"), "maxLength kept: {code}");
        // Unconstrained, the string needs no newtype.
        assert!(flat.contains("pubop:::std::option::Option<::std::string::String>"), "{code}");
        assert!(flat.contains("pubenumMode{"), "{code}");
    }
    // The trait publishes the spec's schema, enum included.
    assert!(
        generated.api.contains(r#"\"enum\":[\"Etc/GMT+1\",\"Etc/GMT-1\"]"#),
        "{}",
        generated.api
    );
}

#[test]
fn websocket_channels_become_dropshot_channels() {
    let spec = patched(|spec| {
        get_a(spec)["x-dropshot-websocket"] = json!({});
        get_a(spec)["responses"] = json!({
            "101": { "description": "Negotiating protocol upgrade from HTTP/1.1 to WebSocket" },
            "4XX": { "description": "" }
        });
    });
    let generated = assert_accepted(spec);
    let api: String = generated.api.split_whitespace().collect();
    assert!(api.contains("#[channel{protocol=WEBSOCKETS,path=\"/a\""), "{}", generated.api);
    assert!(api.contains("upgraded:::dropshot::WebsocketConnection,"), "{}", generated.api);
    assert!(api.contains("->::dropshot::WebsocketChannelResult;"), "{}", generated.api);
    assert!(generated.client.contains("reqwest::Upgraded"), "{}", generated.client);
}

#[test]
fn a_websocket_channel_on_post_is_skipped() {
    let spec = patched(|spec| {
        let operation = get_a(spec).clone();
        spec["paths"]["/a"].as_object_mut().unwrap().remove("get");
        spec["paths"]["/a"]["post"] = operation;
        spec["paths"]["/a"]["post"]["x-dropshot-websocket"] = json!({});
    });
    assert_skipped_at(
        spec,
        "#/paths/~1a/post",
        "#/paths/~1a/post/x-dropshot-websocket",
        "dropshot upgrades only GET requests",
    );
}

/// dropshot paginates no websocket channel (it panics on one): the extension
/// is left out of a channel with a warning.
#[test]
fn pagination_on_a_websocket_channel_is_left_out() {
    let spec = patched(|spec| {
        let operation = get_a(spec);
        operation["x-dropshot-websocket"] = json!({});
        operation["x-dropshot-pagination"] = json!({ "required": [] });
        operation["responses"] = json!({
            "101": { "description": "Upgraded." },
            "4XX": { "$ref": "#/components/responses/BadRequest" }
        });
        operation["parameters"] = json!([
            { "name": "limit", "in": "query", "schema": { "type": "integer", "format": "uint32" } },
            { "name": "page_token", "in": "query", "schema": { "type": "string" } }
        ]);
    });
    let generated = generated(&spec);
    assert!(!generated.api.contains("PaginationParams"), "{}", generated.api);
    let [warning] = generated.warnings.as_slice() else { panic!("{:#?}", generated.warnings) };
    assert_eq!(
        (warning.effect, warning.error.pointer.as_str()),
        (Effect::Partial, "#/paths/~1a/get/x-dropshot-pagination")
    );
}
