//! Reads an OpenAPI 3.0 document into the small model the emitters need, and
//! rejects every construct the generator does not support with an error that
//! names the construct and its JSON pointer.
//!
//! Supported: path, query and header parameters (scalars, enums, `$ref`s to
//! scalar schemas, repeatable `form`/`explode` query arrays); one JSON request
//! body per operation, required or optional; exactly one success response
//! (200, 201, 202 or 204) with or without a JSON body and with response
//! headers; 4xx/5xx responses that all share one `{message}` error schema;
//! `$ref`s to `#/components/{schemas,parameters,requestBodies,responses,headers}`.

use std::collections::{BTreeMap, BTreeSet};

use heck::ToSnakeCase;
use serde_json::Value;

use crate::{pointer_segment, GenError};

/// What the emitters need to know about one spec.
#[derive(Debug, Clone)]
pub struct ApiModel {
    /// The component schemas, in spec order.
    pub schemas: Vec<(String, Value)>,
    /// The name of the component schema shared by every error response.
    pub error_schema: String,
    pub operations: Vec<Operation>,
}

#[derive(Debug, Clone)]
pub struct Operation {
    /// `#/paths/~1a/get`.
    pub pointer: String,
    pub operation_id: String,
    /// Upper case: `GET`, `PUT`, ...
    pub method: String,
    pub path: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub deprecated: bool,
    pub params: Vec<Param>,
    pub body: Option<RequestBody>,
    pub success: Success,
    /// Every documented 4xx/5xx status.
    pub error_statuses: Vec<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub pointer: String,
    pub name: String,
    pub location: Location,
    pub required: bool,
    pub description: Option<String>,
    /// The parameter's schema (possibly a `$ref`).
    pub schema: Value,
}

#[derive(Debug, Clone)]
pub struct RequestBody {
    pub pointer: String,
    pub required: bool,
    pub schema: Value,
    /// The `x-request-body-max-bytes` extension, if given.
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Success {
    pub pointer: String,
    pub status: u16,
    pub description: String,
    /// The JSON body's schema, if the response has one.
    pub schema: Option<Value>,
    pub headers: Vec<ResponseHeader>,
}

#[derive(Debug, Clone)]
pub struct ResponseHeader {
    pub pointer: String,
    pub name: String,
    pub required: bool,
    pub description: Option<String>,
    pub schema: Value,
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
const JSON: &str = "application/json";

/// Reads and checks a whole document.
pub fn read(spec: &Value) -> Result<ApiModel, GenError> {
    let version = spec.get("openapi").and_then(Value::as_str).unwrap_or_default();
    if !version.starts_with("3.0.") {
        return Err(GenError::new(
            "#/openapi",
            format!("OpenAPI version `{version}`: only 3.0.x is supported"),
        ));
    }
    let schemas: Vec<(String, Value)> = match spec.pointer("/components/schemas") {
        None => Vec::new(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(_) => return Err(GenError::new("#/components/schemas", "must be an object")),
    };
    let known: BTreeSet<String> = schemas.iter().map(|(name, _)| name.clone()).collect();
    let reader = Reader { spec, known: &known };

    let Some(Value::Object(paths)) = spec.get("paths") else {
        return Err(GenError::new("#/paths", "the document has no paths"));
    };
    let mut operations = Vec::new();
    let mut operation_ids = BTreeSet::new();
    for (path, item) in paths {
        let item_pointer = format!("#/paths/{}", pointer_segment(path));
        let Value::Object(item) = item else {
            return Err(GenError::new(item_pointer, "a path item must be an object"));
        };
        if item.contains_key("$ref") {
            return Err(GenError::new(item_pointer, "path item `$ref`s are not supported"));
        }
        for key in item.keys() {
            let allowed = METHODS.contains(&key.as_str())
                || ["parameters", "summary", "description", "servers"].contains(&key.as_str())
                || key.starts_with("x-");
            if !allowed {
                return Err(GenError::new(
                    format!("{item_pointer}/{}", pointer_segment(key)),
                    format!("unknown path item field `{key}`"),
                ));
            }
        }
        for method in METHODS {
            let Some(operation) = item.get(method) else { continue };
            let pointer = format!("{item_pointer}/{method}");
            let operation =
                reader.operation(&pointer, path, method, item.get("parameters"), operation)?;
            if !operation_ids.insert(operation.operation_id.clone()) {
                return Err(GenError::new(
                    format!("{pointer}/operationId"),
                    format!("duplicate operationId `{}`", operation.operation_id),
                ));
            }
            operations.push(operation);
        }
    }

    let error_schema = reader.shared_error_schema(&operations, paths)?;
    Ok(ApiModel { schemas, error_schema, operations })
}

struct Reader<'a> {
    spec: &'a Value,
    known: &'a BTreeSet<String>,
}

impl Reader<'_> {
    /// Follows a `$ref` to `#/components/<kind>/<name>` (at most a few hops).
    fn resolve<'v>(
        &'v self,
        pointer: &str,
        mut value: &'v Value,
        kind: &str,
    ) -> Result<(String, &'v Value), GenError> {
        let mut at = pointer.to_string();
        for _ in 0..8 {
            let Some(reference) = value.get("$ref") else { return Ok((at, value)) };
            let reference =
                reference.as_str().ok_or_else(|| GenError::new(&at, "`$ref` must be a string"))?;
            let prefix = format!("#/components/{kind}/");
            let name = reference.strip_prefix(&prefix).ok_or_else(|| {
                GenError::new(
                    &at,
                    format!("`$ref` to `{reference}`: expected a reference to {prefix}..."),
                )
            })?;
            let target = self
                .spec
                .pointer(&format!("/components/{kind}/{}", pointer_segment(name)))
                .ok_or_else(|| {
                    GenError::new(&at, format!("`$ref` to `{reference}`, which does not exist"))
                })?;
            at = reference.to_string();
            value = target;
        }
        Err(GenError::new(pointer, "`$ref` chain too long or circular"))
    }

    fn operation(
        &self,
        pointer: &str,
        path: &str,
        method: &str,
        item_params: Option<&Value>,
        operation: &Value,
    ) -> Result<Operation, GenError> {
        let operation_id = operation
            .get("operationId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| GenError::new(pointer, "missing operationId"))?
            .to_string();
        if !operation_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(GenError::new(
                format!("{pointer}/operationId"),
                format!(
                    "operationId `{operation_id}` must be made of ASCII letters, digits and `_`"
                ),
            ));
        }
        if syn::parse_str::<syn::Ident>(&operation_id.to_snake_case()).is_err() {
            return Err(GenError::new(
                format!("{pointer}/operationId"),
                format!(
                    "operationId `{operation_id}` becomes the Rust keyword `{}`",
                    operation_id.to_snake_case()
                ),
            ));
        }
        if operation.get("callbacks").is_some() {
            return Err(GenError::new(
                format!("{pointer}/callbacks"),
                "callbacks are not supported",
            ));
        }
        let text = |key: &str| operation.get(key).and_then(Value::as_str).map(str::to_string);
        let tags = match operation.get("tags") {
            None => Vec::new(),
            Some(Value::Array(tags)) => {
                tags.iter().filter_map(Value::as_str).map(str::to_string).collect()
            }
            Some(_) => return Err(GenError::new(format!("{pointer}/tags"), "must be an array")),
        };

        // Path-item parameters apply unless the operation redefines them.
        let mut params: Vec<Param> = Vec::new();
        let item_pointer = pointer.rsplit_once('/').map(|(head, _)| head).unwrap_or(pointer);
        for (list, list_pointer) in [
            (item_params, format!("{item_pointer}/parameters")),
            (operation.get("parameters"), format!("{pointer}/parameters")),
        ] {
            let Some(list) = list else { continue };
            let Value::Array(list) = list else {
                return Err(GenError::new(list_pointer, "must be an array"));
            };
            for (index, param) in list.iter().enumerate() {
                let param = self.param(&format!("{list_pointer}/{index}"), param)?;
                params.retain(|p| !(p.name == param.name && p.location == param.location));
                params.push(param);
            }
        }
        let mut seen = BTreeSet::new();
        for param in &params {
            if !seen.insert(param.name.to_ascii_lowercase()) {
                return Err(GenError::new(
                    &param.pointer,
                    format!(
                        "two parameters named `{}` (names must be unique, ignoring case)",
                        param.name
                    ),
                ));
            }
        }
        let template_vars =
            path_template_vars(path).map_err(|message| GenError::new(pointer, message))?;
        let path_params: BTreeSet<String> = params
            .iter()
            .filter(|p| p.location == Location::Path)
            .map(|p| p.name.clone())
            .collect();
        if template_vars != path_params {
            return Err(GenError::new(
                pointer,
                format!(
                    "path parameters {path_params:?} do not match the variables {template_vars:?} of `{path}`"
                ),
            ));
        }

        let body = match operation.get("requestBody") {
            None => None,
            Some(body) => Some(self.request_body(&format!("{pointer}/requestBody"), body)?),
        };
        if body.is_some() && matches!(method, "get" | "head" | "delete" | "options" | "trace") {
            return Err(GenError::new(
                format!("{pointer}/requestBody"),
                format!("a request body on a {} operation is not supported", method.to_uppercase()),
            ));
        }
        let (success, error_statuses) =
            self.responses(&format!("{pointer}/responses"), operation)?;

        Ok(Operation {
            pointer: pointer.to_string(),
            operation_id,
            method: method.to_uppercase(),
            path: path.to_string(),
            summary: text("summary"),
            description: text("description"),
            tags,
            deprecated: operation.get("deprecated") == Some(&Value::Bool(true)),
            params,
            body,
            success,
            error_statuses,
        })
    }

    fn param(&self, pointer: &str, param: &Value) -> Result<Param, GenError> {
        let (pointer, param) = self.resolve(pointer, param, "parameters")?;
        let field = |key: &str| format!("{pointer}/{key}");
        let name = param
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| GenError::new(&pointer, "a parameter needs a name"))?
            .to_string();
        let location = match param.get("in").and_then(Value::as_str) {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            Some("cookie") => {
                return Err(GenError::new(field("in"), "cookie parameters are not supported"))
            }
            other => {
                return Err(GenError::new(
                    field("in"),
                    format!("unknown parameter location {other:?}"),
                ))
            }
        };
        if param.get("content").is_some() {
            return Err(GenError::new(
                field("content"),
                "parameters with `content` are not supported",
            ));
        }
        let schema = param
            .get("schema")
            .ok_or_else(|| GenError::new(&pointer, format!("parameter `{name}` has no schema")))?
            .clone();
        let required = param.get("required") == Some(&Value::Bool(true));
        if location == Location::Path && !required {
            return Err(GenError::new(field("required"), "a path parameter must be required"));
        }
        if location == Location::Header
            && ["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
        {
            return Err(GenError::new(
                field("name"),
                format!("header parameter `{name}` is ignored by OpenAPI and not supported"),
            ));
        }
        let schema_pointer = field("schema");
        let resolved = self.resolve_schema(&schema_pointer, &schema)?;
        let is_array = resolved.get("type").and_then(Value::as_str) == Some("array");
        if is_array {
            if location != Location::Query {
                return Err(GenError::new(
                    schema_pointer,
                    "array parameters are only supported in the query",
                ));
            }
            let style = param.get("style").and_then(Value::as_str).unwrap_or("form");
            let explode = param.get("explode").and_then(Value::as_bool).unwrap_or(true);
            if style != "form" || !explode {
                return Err(GenError::new(
                    &pointer,
                    "query arrays must use `style: form` with `explode: true` (repeated keys)",
                ));
            }
            if let Some(items) = resolved.get("items") {
                self.check_scalar_param(&format!("{schema_pointer}/items"), items, true)?;
            }
        } else {
            self.check_scalar_param(&schema_pointer, &schema, false)?;
            if let Some(style) = param.get("style").and_then(Value::as_str) {
                let default = if location == Location::Query { "form" } else { "simple" };
                if style != default {
                    return Err(GenError::new(
                        field("style"),
                        format!("parameter style `{style}` is not supported"),
                    ));
                }
            }
        }
        Ok(Param {
            pointer: pointer.clone(),
            name,
            location,
            required,
            description: param.get("description").and_then(Value::as_str).map(str::to_string),
            schema,
        })
    }

    /// Refuses a parameter schema (possibly a `$ref`) that is not a string,
    /// integer, number, boolean or enum (an array too when `allow_array`, for
    /// array items, which the emitter then refuses with its own message).
    fn check_scalar_param(
        &self,
        pointer: &str,
        schema: &Value,
        allow_array: bool,
    ) -> Result<(), GenError> {
        let resolved = self.resolve_schema(pointer, schema)?;
        let kind = resolved.get("type").and_then(Value::as_str).unwrap_or_default();
        let scalar = ["string", "integer", "number", "boolean"].contains(&kind)
            || (kind.is_empty() && resolved.get("enum").is_some())
            || (allow_array && kind == "array");
        if scalar {
            Ok(())
        } else {
            Err(GenError::new(
                pointer,
                format!("a parameter or header of type `{kind}` is not supported"),
            ))
        }
    }

    /// The schema a possible `$ref` points at (checked to exist).
    pub fn resolve_schema<'v>(
        &'v self,
        pointer: &str,
        schema: &'v Value,
    ) -> Result<&'v Value, GenError> {
        match schema.get("$ref").and_then(Value::as_str) {
            None => Ok(schema),
            Some(reference) => {
                let name = crate::schema::check_schema_ref(pointer, reference, self.known)?;
                Ok(self
                    .spec
                    .pointer(&format!("/components/schemas/{}", pointer_segment(&name)))
                    .expect("checked to exist"))
            }
        }
    }

    fn json_schema_of(&self, pointer: &str, content: &Value) -> Result<Option<Value>, GenError> {
        let Value::Object(content) = content else {
            return Err(GenError::new(pointer, "`content` must be an object"));
        };
        let mut media = content.iter();
        let Some((media_type, media_object)) = media.next() else { return Ok(None) };
        if media.next().is_some() || media_type != JSON {
            let types: Vec<&String> = content.keys().collect();
            return Err(GenError::new(
                pointer,
                format!("media types {types:?}: only a single `{JSON}` is supported"),
            ));
        }
        let schema = media_object.get("schema").ok_or_else(|| {
            GenError::new(
                format!("{pointer}/{}", pointer_segment(media_type)),
                "a media type needs a schema",
            )
        })?;
        Ok(Some(schema.clone()))
    }

    fn request_body(&self, pointer: &str, body: &Value) -> Result<RequestBody, GenError> {
        let (pointer, body) = self.resolve(pointer, body, "requestBodies")?;
        let content = body
            .get("content")
            .ok_or_else(|| GenError::new(&pointer, "a request body needs `content`"))?;
        let schema =
            self.json_schema_of(&format!("{pointer}/content"), content)?.ok_or_else(|| {
                GenError::new(format!("{pointer}/content"), "a request body needs a media type")
            })?;
        let max_bytes = match body.get("x-request-body-max-bytes") {
            None => None,
            Some(value) => Some(value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                GenError::new(
                    format!("{pointer}/x-request-body-max-bytes"),
                    "must be a positive integer",
                )
            })?),
        };
        Ok(RequestBody {
            pointer,
            required: body.get("required") == Some(&Value::Bool(true)),
            schema,
            max_bytes,
        })
    }

    fn responses(&self, pointer: &str, operation: &Value) -> Result<(Success, Vec<u16>), GenError> {
        let Some(Value::Object(responses)) = operation.get("responses") else {
            return Err(GenError::new(pointer, "an operation needs `responses`"));
        };
        let mut success: Option<Success> = None;
        let mut error_statuses = Vec::new();
        for (code, response) in responses {
            let at = format!("{pointer}/{}", pointer_segment(code));
            if code.starts_with("x-") {
                continue;
            }
            let status: u16 = match code.parse() {
                Ok(status) if (100..=599).contains(&status) => status,
                _ => {
                    return Err(GenError::new(
                        at,
                        format!("response `{code}`: only explicit status codes are supported (no `default` or ranges)"),
                    ))
                }
            };
            let (resolved_at, response) = self.resolve(&at, response, "responses")?;
            match status {
                200..=299 => {
                    if success.is_some() {
                        return Err(GenError::new(pointer, "two success responses"));
                    }
                    success = Some(self.success(&at, &resolved_at, status, response)?);
                }
                400..=599 => error_statuses.push(status),
                _ => {
                    return Err(GenError::new(
                        at,
                        format!("response status {status} is not supported"),
                    ))
                }
            }
        }
        let success = success.ok_or_else(|| GenError::new(pointer, "no success (2xx) response"))?;
        Ok((success, error_statuses))
    }

    fn success(
        &self,
        at: &str,
        resolved_at: &str,
        status: u16,
        response: &Value,
    ) -> Result<Success, GenError> {
        if ![200, 201, 202, 204].contains(&status) {
            return Err(GenError::new(
                at,
                format!("success status {status} is not supported (200, 201, 202, 204)"),
            ));
        }
        let schema = match response.get("content") {
            None => None,
            Some(content) => self.json_schema_of(&format!("{resolved_at}/content"), content)?,
        };
        if status == 204 && schema.is_some() {
            return Err(GenError::new(at, "a 204 response cannot have a body"));
        }
        let mut headers = Vec::new();
        if let Some(map) = response.get("headers") {
            let Value::Object(map) = map else {
                return Err(GenError::new(format!("{resolved_at}/headers"), "must be an object"));
            };
            for (name, header) in map {
                let header_at = format!("{resolved_at}/headers/{}", pointer_segment(name));
                let (header_at, header) = self.resolve(&header_at, header, "headers")?;
                if name.eq_ignore_ascii_case("content-type") {
                    continue; // OpenAPI says a `Content-Type` response header is ignored.
                }
                let schema = header
                    .get("schema")
                    .ok_or_else(|| {
                        GenError::new(&header_at, format!("response header `{name}` has no schema"))
                    })?
                    .clone();
                let resolved = self.resolve_schema(&format!("{header_at}/schema"), &schema)?;
                let kind = resolved.get("type").and_then(Value::as_str).unwrap_or_default();
                if !["string", "integer", "number", "boolean"].contains(&kind) {
                    return Err(GenError::new(
                        format!("{header_at}/schema"),
                        format!("response header `{name}` of type `{kind}`: only scalar headers are supported"),
                    ));
                }
                headers.push(ResponseHeader {
                    pointer: header_at.clone(),
                    name: name.clone(),
                    required: header.get("required") == Some(&Value::Bool(true)),
                    description: header
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    schema,
                });
            }
        }
        Ok(Success {
            pointer: at.to_string(),
            status,
            description: response
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            schema,
            headers,
        })
    }

    /// Every 4xx/5xx response must have a JSON body whose schema is the same
    /// `$ref`, and that schema must be an object with a required string `message`.
    fn shared_error_schema(
        &self,
        operations: &[Operation],
        paths: &serde_json::Map<String, Value>,
    ) -> Result<String, GenError> {
        let mut found: BTreeMap<String, String> = BTreeMap::new(); // schema name -> first pointer
        for operation in operations {
            let path_item = &paths[&operation.path];
            let responses = &path_item[operation.method.to_lowercase()]["responses"];
            for status in &operation.error_statuses {
                let at = format!("{}/responses/{status}", operation.pointer);
                let (resolved_at, response) =
                    self.resolve(&at, &responses[status.to_string()], "responses")?;
                let content = response.get("content").ok_or_else(|| {
                    GenError::new(
                        &at,
                        "an error response needs a JSON body with the shared error schema",
                    )
                })?;
                let schema = self
                    .json_schema_of(&format!("{resolved_at}/content"), content)?
                    .ok_or_else(|| GenError::new(&at, "an error response needs a JSON body"))?;
                let reference = schema.get("$ref").and_then(Value::as_str).ok_or_else(|| {
                    GenError::new(
                        &at,
                        "an error response's schema must be a `$ref` to the shared error schema",
                    )
                })?;
                let name = crate::schema::check_schema_ref(&at, reference, self.known)?;
                found.entry(name).or_insert(at);
            }
        }
        let mut names = found.into_iter();
        let Some((name, at)) = names.next() else {
            return Err(GenError::new(
                "#/paths",
                "no operation documents an error response (4xx/5xx)",
            ));
        };
        if let Some((other, other_at)) = names.next() {
            return Err(GenError::new(
                other_at,
                format!("error responses must share one schema: `{name}` (at {at}) and `{other}`"),
            ));
        }
        let schema_at = format!("#/components/schemas/{}", pointer_segment(&name));
        let schema = self.spec.pointer(&schema_at[1..]).expect("checked to exist");
        let message_type = schema.pointer("/properties/message/type").and_then(Value::as_str);
        let required = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).collect::<Vec<_>>())
            .unwrap_or_default();
        let property_count =
            schema.get("properties").and_then(Value::as_object).map_or(0, |p| p.len());
        if message_type != Some("string") || required != ["message"] || property_count != 1 {
            return Err(GenError::new(
                schema_at,
                "the shared error schema must be an object with exactly one property, a required string `message`",
            ));
        }
        Ok(name)
    }
}

/// The `{variables}` of a path template.
fn path_template_vars(path: &str) -> Result<BTreeSet<String>, String> {
    let mut vars = BTreeSet::new();
    for segment in path.split('/') {
        if let Some(inner) = segment.strip_prefix('{') {
            let name = inner
                .strip_suffix('}')
                .filter(|name| !name.is_empty() && !name.contains(['{', '}']))
                .ok_or_else(|| {
                    format!("path segment `{segment}`: a variable must be a whole segment")
                })?;
            vars.insert(name.to_string());
        } else if segment.contains(['{', '}']) {
            return Err(format!("path segment `{segment}`: a variable must be a whole segment"));
        }
    }
    Ok(vars)
}
