//! Semantic conformance of the generated trait and the checked-in contract.
//!
//! The spec that `network_api_mod::stub_api_description()` yields is compared
//! with `openapi/network.json`: operations (method, path, operationId, summary,
//! description), parameters (name, location, required, schema), request body
//! (media type, required, schema), success response (status, description,
//! body schema, headers), component schemas, and that every documented error
//! status is served by the trait's error type with the shared error schema.
//!
//! Byte equality is impossible, so both documents are normalised first; each
//! normalisation is listed here and nowhere else:
//! - dropshot collapses error responses into `4XX`/`5XX` ranges referring to
//!   one `Error` response: a documented 4xx/5xx status conforms when the trait
//!   has the matching range and its schema is the spec's shared error schema;
//!   error descriptions and headers (`Retry-After`, `WWW-Authenticate`) are set
//!   by the server at run time and are not compared.
//! - `nullable` is dropped: schemars marks every optional field and parameter
//!   nullable, the spec marks none.
//! - descriptions, examples, `default` values and parameter `style`/`explode`
//!   are dropped inside schemas and parameters (documentation noise dropshot
//!   cannot carry); operation summaries and descriptions are compared with
//!   white space collapsed, and success descriptions exactly.
//! - `$ref`s in parameter and header schemas are resolved on both sides (the
//!   trait publishes a parameter enum as a component, the spec inlines it), and
//!   components the trait adds for parameters only are allowed.
//! - dropshot accepts only scalar query parameters: a spec query parameter of
//!   type `array` is compared as its item schema (the generated code still
//!   collects the repeated keys into a `Vec`).
//! - the spec's `securitySchemes`/`security`, `servers`, `tags` list, `info`
//!   and `links` are not compared: dropshot has no security schemes (bearer
//!   auth is implemented by the server) and the rest is documentation.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

fn checked_in_spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/network.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("spec is readable"))
        .expect("spec is JSON")
}

fn trait_spec() -> Value {
    let description =
        network_api::network_api_mod::stub_api_description().expect("the trait yields a valid API");
    let spec = description.openapi("Network API", dropshot::semver::Version::new(1, 0, 0));
    spec.json().expect("the trait's spec serializes")
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// Every semantic difference between `spec` and `trait_spec`, as readable lines.
fn differences(spec: &Value, trait_spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let spec_ops = operations(spec);
    let trait_ops = operations(trait_spec);
    for key in spec_ops.keys() {
        if !trait_ops.contains_key(key) {
            out.push(format!("operation {key} is in the spec but not in the trait"));
        }
    }
    for key in trait_ops.keys() {
        if !spec_ops.contains_key(key) {
            out.push(format!("operation {key} is in the trait but not in the spec"));
        }
    }
    for (key, spec_op) in &spec_ops {
        let Some(trait_op) = trait_ops.get(key) else { continue };
        compare_operation(key, spec, spec_op, trait_spec, trait_op, &mut out);
    }

    let spec_schemas =
        spec.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();
    let trait_schemas = trait_spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, schema) in &spec_schemas {
        match trait_schemas.get(name) {
            None => {
                out.push(format!("component schema `{name}` is in the spec but not in the trait"))
            }
            Some(trait_schema) => {
                let (a, b) = (normalize(schema, None), normalize(trait_schema, None));
                if a != b {
                    out.push(format!("component schema `{name}` differs: spec {a} vs trait {b}"));
                }
            }
        }
    }
    out
}

/// `"PUT /network/customers/{customerId} updateCustomer"` -> operation object.
fn operations(spec: &Value) -> BTreeMap<String, Value> {
    let mut ops = BTreeMap::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let id = op["operationId"].as_str().unwrap_or("<none>");
                ops.insert(format!("{} {path} {id}", method.to_uppercase()), op.clone());
            }
        }
    }
    ops
}

fn compare_operation(
    key: &str,
    spec: &Value,
    spec_op: &Value,
    trait_spec: &Value,
    trait_op: &Value,
    out: &mut Vec<String>,
) {
    let collapse =
        |v: &Value| v.as_str().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
    for field in ["summary", "description"] {
        if collapse(&spec_op[field]) != collapse(&trait_op[field]) {
            out.push(format!(
                "{key}: {field} differs: spec {:?} vs trait {:?}",
                spec_op[field], trait_op[field]
            ));
        }
    }

    let spec_params = parameters(spec, spec_op);
    let trait_params = parameters(trait_spec, trait_op);
    for (name, spec_param) in &spec_params {
        match trait_params.get(name) {
            None => {
                out.push(format!("{key}: parameter {name} is in the spec but not in the trait"))
            }
            Some(trait_param) if trait_param != spec_param => out.push(format!(
                "{key}: parameter {name} differs: spec {spec_param} vs trait {trait_param}"
            )),
            Some(_) => {}
        }
    }
    for name in trait_params.keys() {
        if !spec_params.contains_key(name) {
            out.push(format!("{key}: parameter {name} is in the trait but not in the spec"));
        }
    }

    let spec_body = request_body(spec, spec_op);
    let trait_body = request_body(trait_spec, trait_op);
    if spec_body != trait_body {
        out.push(format!("{key}: request body differs: spec {spec_body} vs trait {trait_body}"));
    }

    let (spec_status, spec_success) = success(spec, spec_op);
    let (trait_status, trait_success) = success(trait_spec, trait_op);
    if spec_status != trait_status {
        out.push(format!(
            "{key}: success status differs: spec {spec_status} vs trait {trait_status}"
        ));
    } else if spec_success != trait_success {
        out.push(format!(
            "{key}: {spec_status} response differs: spec {spec_success} vs trait {trait_success}"
        ));
    }

    let trait_error_schema = |range: &str| {
        let response = resolve(trait_spec, &trait_op["responses"][range]);
        response.pointer("/content/application~1json/schema/$ref").cloned()
    };
    for (status, response) in spec_op["responses"].as_object().into_iter().flatten() {
        let Ok(code) = status.parse::<u16>() else { continue };
        if code < 400 {
            continue;
        }
        let range = if code < 500 { "4XX" } else { "5XX" };
        let spec_schema =
            resolve(spec, response).pointer("/content/application~1json/schema/$ref").cloned();
        let served = trait_error_schema(range);
        if served.is_none() {
            out.push(format!(
                "{key}: error status {code} is documented but the trait serves no {range} response"
            ));
        } else if served != spec_schema {
            out.push(format!("{key}: error status {code} has schema {spec_schema:?} in the spec but {served:?} in the trait"));
        }
    }
}

fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            spec.pointer(&reference[1..]).map(|target| resolve(spec, target)).unwrap_or(value)
        }
        None => value,
    }
}

/// `"header X-Servitly-Tenant"` -> `{required, schema}` (normalised).
fn parameters(spec: &Value, op: &Value) -> BTreeMap<String, Value> {
    let mut params = BTreeMap::new();
    for param in op["parameters"].as_array().into_iter().flatten() {
        let param = resolve(spec, param);
        let location = param["in"].as_str().unwrap_or_default();
        let mut schema = normalize(&param["schema"], Some(spec));
        if location == "query" && schema["type"] == "array" {
            schema = schema["items"].clone();
        }
        params.insert(
            format!("{location} {}", param["name"].as_str().unwrap_or_default()),
            json!({ "required": param["required"].as_bool().unwrap_or(false), "schema": schema }),
        );
    }
    params
}

fn request_body(spec: &Value, op: &Value) -> Value {
    let Some(body) = op.get("requestBody") else { return Value::Null };
    let body = resolve(spec, body);
    let content: BTreeMap<&String, Value> = body["content"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(media, object)| (media, normalize(&object["schema"], None)))
        .collect();
    json!({ "required": body["required"].as_bool().unwrap_or(false), "content": content })
}

fn success(spec: &Value, op: &Value) -> (String, Value) {
    let Some((status, response)) = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .find(|(status, _)| status.starts_with('2'))
    else {
        return ("none".to_string(), Value::Null);
    };
    let response = resolve(spec, response);
    let headers: BTreeMap<&String, Value> = response["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, header)| {
            let header = resolve(spec, header);
            let required = header["required"].as_bool().unwrap_or(false);
            (
                name,
                json!({ "required": required, "schema": normalize(&header["schema"], Some(spec)) }),
            )
        })
        .collect();
    let body =
        response.pointer("/content/application~1json/schema").map(|schema| normalize(schema, None));
    (
        status.clone(),
        json!({ "description": response["description"], "body": body, "headers": headers }),
    )
}

/// Drops the documentation noise listed in the module docs; with `resolve_in`,
/// also inlines `$ref`s (for parameter and header schemas).
fn normalize(schema: &Value, resolve_in: Option<&Value>) -> Value {
    match schema {
        Value::Object(map) => {
            if let (Some(spec), Some(_)) = (resolve_in, map.get("$ref")) {
                let target = resolve(spec, schema);
                if target != schema {
                    return normalize(target, resolve_in);
                }
            }
            let dropped: BTreeSet<&str> =
                ["description", "example", "nullable", "default", "style", "explode", "title"]
                    .into();
            Value::Object(
                map.iter()
                    .filter(|(key, _)| !dropped.contains(key.as_str()))
                    .map(|(key, value)| {
                        // Inside `properties`, keys are field names: keep them all.
                        let value = if key == "properties" {
                            Value::Object(
                                value
                                    .as_object()
                                    .into_iter()
                                    .flatten()
                                    .map(|(name, property)| {
                                        (name.clone(), normalize(property, resolve_in))
                                    })
                                    .collect(),
                            )
                        } else {
                            normalize(value, resolve_in)
                        };
                        (key.clone(), value)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => {
            let mut items: Vec<Value> =
                items.iter().map(|item| normalize(item, resolve_in)).collect();
            // `required` lists and enums are sets.
            if items.iter().all(Value::is_string) {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
            Value::Array(items)
        }
        other => other.clone(),
    }
}

#[test]
fn the_trait_conforms_to_the_checked_in_spec() {
    let differences = differences(&checked_in_spec(), &trait_spec());
    assert!(
        differences.is_empty(),
        "the trait and openapi/network.json differ:\n{}",
        differences.join("\n")
    );
}

/// Applies `mutate` to a copy of the spec and returns what the check reports.
fn differences_after(mutate: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut spec = checked_in_spec();
    mutate(&mut spec);
    differences(&spec, &trait_spec())
}

fn assert_reported(differences: &[String], needles: &[&str]) {
    assert!(
        differences.iter().any(|line| needles.iter().all(|needle| line.contains(needle))),
        "expected a difference mentioning {needles:?}, got:\n{}",
        differences.join("\n")
    );
}

#[test]
fn a_renamed_parameter_is_reported() {
    let found = differences_after(|spec| {
        spec["components"]["parameters"]["IfMatch"]["name"] = json!("If-Match-Etag")
    });
    assert_reported(
        &found,
        &["updateCustomer", "parameter header If-Match-Etag is in the spec but not in the trait"],
    );
    assert_reported(
        &found,
        &["updateCustomer", "parameter header If-Match is in the trait but not in the spec"],
    );
}

#[test]
fn a_changed_field_type_is_reported() {
    let found = differences_after(|spec| {
        spec["components"]["schemas"]["CustomerDetails"]["properties"]["name"]["type"] =
            json!("integer")
    });
    assert_reported(&found, &["component schema `CustomerDetails` differs", "\"integer\""]);
}

#[test]
fn a_removed_operation_is_reported() {
    let found = differences_after(|spec| {
        spec["paths"]["/v2/network/customers"].as_object_mut().unwrap().remove("get");
    });
    assert_reported(
        &found,
        &["operation GET /v2/network/customers getCustomers is in the trait but not in the spec"],
    );
}

#[test]
fn a_changed_success_status_is_reported() {
    let found = differences_after(|spec| {
        let responses = spec["paths"]["/network/customers/{customerId}"]["put"]["responses"]
            .as_object_mut()
            .unwrap();
        let ok = responses.remove("200").unwrap();
        responses.insert("201".to_string(), ok);
    });
    assert_reported(&found, &["updateCustomer", "success status differs: spec 201 vs trait 200"]);
}

#[test]
fn a_changed_parameter_constraint_is_reported() {
    let found = differences_after(|spec| {
        spec["components"]["parameters"]["CustomerId"]["schema"]["maxLength"] = json!(64)
    });
    assert_reported(&found, &["getCustomer", "parameter path customerId differs", "64"]);
}

#[test]
fn an_undocumented_error_schema_is_reported() {
    let found = differences_after(|spec| {
        spec["components"]["schemas"]["Problem"] =
            json!({"type": "object", "properties": {"detail": {"type": "string"}}});
        spec["components"]["responses"]["NotFound"]["content"]["application/json"]["schema"]
            ["$ref"] = json!("#/components/schemas/Problem");
    });
    assert_reported(&found, &["error status 404", "Problem"]);
}
