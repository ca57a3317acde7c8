//! Every construct the generator does not support is refused with a
//! [`GenError`] naming its JSON pointer, never with a panic or with code.
//!
//! Each test patches one construct into a small valid spec ([`base`]).

use serde_json::{json, Value};
use xtask::codegen::generate_from_value;
use xtask::GenError;

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

/// Asserts that generation fails at `pointer` with a message containing `message`.
#[track_caller]
fn assert_rejected(spec: Value, pointer: &str, message: &str) {
    let error: GenError = match generate_from_value(&spec, "FixtureApi") {
        Ok((api, _)) => panic!("expected an error at {pointer}, got code:\n{api}"),
        Err(error) => error,
    };
    assert_eq!(error.pointer, pointer, "{error}");
    assert!(error.message.contains(message), "expected `{message}` in: {error}");
}

#[test]
fn the_base_spec_is_accepted() {
    let (api, client) = generate_from_value(&base(), "FixtureApi").expect("the base spec is valid");
    assert!(api.contains("pub trait FixtureApi"));
    assert!(client.contains("pub fn get_a"));
}

#[test]
fn two_success_responses() {
    let spec = patched(|spec| {
        get_a(spec)["responses"]["201"] = json!({ "description": "Also fine." });
    });
    assert_rejected(spec, "#/paths/~1a/get/responses", "two success responses");
}

#[test]
fn no_success_response() {
    let spec = patched(|spec| {
        get_a(spec)["responses"].as_object_mut().unwrap().remove("200");
    });
    assert_rejected(spec, "#/paths/~1a/get/responses", "no success (2xx) response");
}

#[test]
fn default_response() {
    let spec = patched(|spec| get_a(spec)["responses"]["default"] = error_response());
    assert_rejected(spec, "#/paths/~1a/get/responses/default", "only explicit status codes");
}

#[test]
fn status_range() {
    let spec = patched(|spec| get_a(spec)["responses"]["4XX"] = error_response());
    assert_rejected(spec, "#/paths/~1a/get/responses/4XX", "only explicit status codes");
}

#[test]
fn success_status_206() {
    let spec = patched(|spec| {
        let responses = get_a(spec)["responses"].as_object_mut().unwrap();
        let ok = responses.remove("200").unwrap();
        responses.insert("206".to_string(), ok);
    });
    assert_rejected(spec, "#/paths/~1a/get/responses/206", "success status 206 is not supported");
}

#[test]
fn no_content_with_a_body() {
    let spec = patched(|spec| {
        let responses = get_a(spec)["responses"].as_object_mut().unwrap();
        let ok = responses.remove("200").unwrap();
        responses.insert("204".to_string(), ok);
    });
    assert_rejected(spec, "#/paths/~1a/get/responses/204", "a 204 response cannot have a body");
}

#[test]
fn missing_operation_id() {
    let spec = patched(|spec| {
        get_a(spec).as_object_mut().unwrap().remove("operationId");
    });
    assert_rejected(spec, "#/paths/~1a/get", "missing operationId");
}

#[test]
fn duplicate_operation_id() {
    let spec = patched(|spec| {
        let operation = get_a(spec).clone();
        spec["paths"]["/b"] = json!({ "get": operation });
    });
    assert_rejected(spec, "#/paths/~1b/get/operationId", "duplicate operationId `getA`");
}

#[test]
fn cookie_parameter() {
    let spec =
        with_params(json!([{ "name": "session", "in": "cookie", "schema": { "type": "string" } }]));
    assert_rejected(spec, "#/paths/~1a/get/parameters/0/in", "cookie parameters are not supported");
}

#[test]
fn parameter_with_content() {
    let spec = with_params(json!([{
        "name": "filter",
        "in": "query",
        "content": { "application/json": { "schema": { "type": "object" } } }
    }]));
    assert_rejected(
        spec,
        "#/paths/~1a/get/parameters/0/content",
        "parameters with `content` are not supported",
    );
}

#[test]
fn path_parameter_not_required() {
    let spec = with_items(json!([{ "name": "id", "in": "path", "schema": { "type": "string" } }]));
    assert_rejected(
        spec,
        "#/paths/~1items~1{id}/get/parameters/0/required",
        "a path parameter must be required",
    );
}

#[test]
fn path_template_variable_without_parameter() {
    let spec = with_items(json!([]));
    assert_rejected(spec, "#/paths/~1items~1{id}/get", "do not match the variables");
}

#[test]
fn array_in_a_header() {
    let spec = with_params(json!([{
        "name": "X-Tags",
        "in": "header",
        "schema": { "type": "array", "items": { "type": "string" } }
    }]));
    assert_rejected(
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
    assert_rejected(spec, "#/paths/~1a/get/parameters/0", "`explode: true`");
}

#[test]
fn non_json_request_body() {
    let spec = patched(|spec| {
        let mut operation = get_a(spec).clone();
        operation["operationId"] = json!("postA");
        operation["requestBody"] = json!({
            "required": true,
            "content": { "application/xml": { "schema": { "$ref": "#/components/schemas/Thing" } } }
        });
        spec["paths"]["/a"]["post"] = operation;
    });
    assert_rejected(
        spec,
        "#/paths/~1a/post/requestBody/content",
        "only a single `application/json` is supported",
    );
}

#[test]
fn two_media_types() {
    let spec = patched(|spec| {
        get_a(spec)["responses"]["200"]["content"]["text/plain"] =
            json!({ "schema": { "type": "string" } });
    });
    assert_rejected(
        spec,
        "#/paths/~1a/get/responses/200/content",
        "only a single `application/json` is supported",
    );
}

#[test]
fn error_responses_with_two_schemas() {
    let spec = patched(|spec| {
        spec["components"]["schemas"]["OtherError"] =
            spec["components"]["schemas"]["Error"].clone();
        get_a(spec)["responses"]["404"] = json!({
            "description": "Not found.",
            "content": {
                "application/json": { "schema": { "$ref": "#/components/schemas/OtherError" } }
            }
        });
    });
    assert_rejected(
        spec,
        "#/paths/~1a/get/responses/404",
        "error responses must share one schema: `Error`",
    );
}

#[test]
fn error_schema_without_message() {
    let spec = patched(|spec| {
        spec["components"]["schemas"]["Error"] = json!({
            "type": "object",
            "required": ["detail"],
            "properties": { "detail": { "type": "string" } }
        });
    });
    assert_rejected(
        spec,
        "#/components/schemas/Error",
        "exactly one property, a required string `message`",
    );
}

#[test]
fn no_error_response() {
    let spec = patched(|spec| {
        get_a(spec)["responses"].as_object_mut().unwrap().remove("400");
    });
    assert_rejected(spec, "#/paths", "no operation documents an error response");
}

#[test]
fn reference_to_a_missing_schema() {
    let spec = patched(|spec| {
        spec["components"]["schemas"]["Thing"]["properties"]["part"] =
            json!({ "$ref": "#/components/schemas/Missing" });
    });
    assert_rejected(
        spec,
        "#/components/schemas/Thing/properties/part",
        "`$ref` to `#/components/schemas/Missing`, which does not exist",
    );
}

#[test]
fn reference_to_an_external_file() {
    let spec = patched(|spec| {
        get_a(spec)["responses"]["200"]["content"]["application/json"]["schema"] =
            json!({ "$ref": "things.json#/Thing" });
    });
    assert_rejected(
        spec,
        "#/paths/~1a/get/responses/200/content",
        "only references to #/components/schemas/",
    );
}

#[test]
fn not_keyword() {
    let spec = patched(|spec| {
        spec["components"]["schemas"]["Thing"]["properties"]["name"] =
            json!({ "type": "string", "not": { "enum": ["x"] } });
    });
    assert_rejected(
        spec,
        "#/components/schemas/Thing/properties/name/not",
        "the `not` keyword is not supported",
    );
}

#[test]
fn openapi_3_1() {
    let spec = patched(|spec| spec["openapi"] = json!("3.1.0"));
    assert_rejected(spec, "#/openapi", "only 3.0.x is supported");
}

#[test]
fn object_query_parameter() {
    let spec = with_params(json!([{
        "name": "filter",
        "in": "query",
        "schema": { "type": "object", "properties": { "name": { "type": "string" } } }
    }]));
    assert_rejected(
        spec,
        "#/paths/~1a/get/parameters/0/schema",
        "a parameter or header of type `object` is not supported",
    );
}

#[test]
fn request_body_on_get() {
    let spec = patched(|spec| {
        get_a(spec)["requestBody"] = json!({
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } } }
        });
    });
    assert_rejected(
        spec,
        "#/paths/~1a/get/requestBody",
        "a request body on a GET operation is not supported",
    );
}

#[test]
fn callbacks() {
    let spec = patched(|spec| {
        get_a(spec)["callbacks"] = json!({
            "onEvent": { "{$request.query.url}": { "post": { "responses": { "200": { "description": "Ok." } } } } }
        });
    });
    assert_rejected(spec, "#/paths/~1a/get/callbacks", "callbacks are not supported");
}

#[test]
fn object_query_parameter_via_a_reference() {
    let spec = with_params(json!([{
        "name": "filter",
        "in": "query",
        "schema": { "$ref": "#/components/schemas/Thing" }
    }]));
    assert_rejected(
        spec,
        "#/paths/~1a/get/parameters/0/schema",
        "a parameter or header of type `object` is not supported",
    );
}

#[test]
fn query_array_of_objects() {
    let spec = with_params(json!([{
        "name": "things",
        "in": "query",
        "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Thing" } }
    }]));
    assert_rejected(
        spec,
        "#/paths/~1a/get/parameters/0/schema/items",
        "a parameter or header of type `object` is not supported",
    );
}

#[test]
fn operation_id_that_is_a_rust_keyword() {
    let spec = patched(|spec| get_a(spec)["operationId"] = json!("match"));
    assert_rejected(spec, "#/paths/~1a/get/operationId", "becomes the Rust keyword `match`");
}
