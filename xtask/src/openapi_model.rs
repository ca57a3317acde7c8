//! Lowers an OpenAPI 3.0 document into the model the emitters need.
//!
//! Problems are found per operation: an operation that uses a construct the
//! generator cannot express is left out of the model with a [`Warning`]
//! (operationId, method and path, JSON pointer, construct and what to change);
//! every other operation is kept. Only problems that make the whole document
//! unreadable (not OpenAPI 3.0.x, no `paths`) are errors, and all of them are
//! reported together.
//!
//! Supported: any operationId (mapped to a Rust identifier; collisions are
//! skipped); path, query and header parameters whose schema is a scalar, an
//! enum, a `$ref` to one, a composition (`oneOf`/`anyOf`/`allOf`, parsed from
//! the parameter's string) or a repeatable `form`/`explode` query array;
//! `Authorization`, `Accept` and `Content-Type` header parameters are ignored,
//! as OpenAPI says; one request body per operation (on any method): JSON
//! (`application/json`, with parameters), `application/x-www-form-urlencoded`,
//! raw bytes (`application/octet-stream`) or `multipart/form-data` (what
//! dropshot publishes differently, such as a multipart body's parts or an
//! optional raw body, is a partial warning; media types dropshot cannot
//! publish, `+json` and `text/plain` request bodies among them, skip the
//! operation); one success response (any 2xx, or a 302/303/307 redirect)
//! with a JSON, raw or no body and scalar response headers; dropshot's
//! pagination (`x-dropshot-pagination`, see [`Pagination`]); error responses (`4xx`, `5xx`,
//! `4XX`, `5XX`, `default`) with any schema: an operation's error type comes from its
//! own error responses, and is dropshot's own error shape when it documents
//! none; dropshot websocket channels (`x-dropshot-websocket` on a GET: a
//! `#[channel]` with its path, query and header parameters);
//! `$ref`s to `#/components/{schemas,parameters,requestBodies,responses,headers}`.

use std::collections::{BTreeMap, BTreeSet};

use heck::{ToSnakeCase, ToUpperCamelCase};
use serde_json::Value;

use crate::{pointer_segment, Effect, GenError, GenErrors, OperationRef, Warning};

/// What the emitters need to know about one spec.
#[derive(Debug, Clone)]
pub struct ApiModel {
    /// The component schemas the generator can express, in spec order.
    pub schemas: Vec<(String, Value)>,
    pub operations: Vec<Operation>,
    /// Operations skipped, or generated without part of their spec.
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone)]
pub struct Operation {
    /// `#/paths/~1a/get`.
    pub pointer: String,
    /// As written in the spec (kept in the trait's published spec).
    pub operation_id: String,
    /// The Rust method name (`meta/root` -> `meta_root`).
    pub ident: String,
    /// The prefix of the operation's Rust type names (`MetaRoot`).
    pub type_base: String,
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
    pub error: ErrorBody,
    /// What of the spec the generated operation leaves out (each becomes a
    /// [`Effect::Partial`] warning when the operation is emitted).
    pub partial: Vec<GenError>,
    /// A dropshot websocket channel (`x-dropshot-websocket`): a `#[channel]`
    /// answering 101, whose errors are dropshot's own (failed extractors).
    pub channel: bool,
    /// dropshot's pagination (`x-dropshot-pagination`), when the operation
    /// has the shape dropshot's pagination types publish.
    pub pagination: Option<Pagination>,
}

/// A paginated operation (`x-dropshot-pagination`): its query is dropshot's
/// `PaginationParams<ScanParams, PageSelector>`, whose `ScanParams` are the
/// query parameters other than `limit` and `page_token` (dropshot publishes
/// them all as optional and lists in the extension those a first page needs).
#[derive(Debug, Clone, PartialEq)]
pub struct Pagination {
    /// The scan parameters a first page requires (the extension's `required`).
    pub required: BTreeSet<String>,
    /// The query parameters that are no scan parameters (required ones, and
    /// arrays), read on every page by a second query extractor.
    pub others: BTreeSet<String>,
    /// The items' component schema, when the success body is dropshot's
    /// `ResultsPage<Item>` (the component `<Item>ResultsPage`: `items` and a
    /// nullable `next_page`).
    pub item: Option<String>,
}

/// The query parameters dropshot's `PaginationParams` adds to the scan parameters.
pub const PAGINATION_PARAMS: [&str; 2] = ["limit", "page_token"];

/// A websocket channel's responses as dropshot publishes them: the 101
/// upgrade, and dropshot's own errors for the extractors that fail before it.
fn channel_responses(pointer: &str, operation: &Value) -> (Success, ErrorBody, Vec<GenError>) {
    let description = operation
        .pointer("/responses/101/description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let success = Success {
        pointer: format!("{pointer}/responses/101"),
        status: 101,
        other_statuses: Vec::new(),
        description,
        body: SuccessBody::None,
        headers: Vec::new(),
        partial: Vec::new(),
    };
    (success, ErrorBody::Dropshot, Vec::new())
}

impl Operation {
    pub fn reference(&self) -> OperationRef {
        OperationRef {
            operation_id: self.operation_id.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
        }
    }
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
    /// Its Rust type.
    pub ty: ValueType,
}

/// The Rust type of a parameter or a response header, decided when lowering
/// (the emitters only write it out).
#[derive(Debug, Clone, PartialEq)]
pub enum ValueType {
    /// A primitive type the generator names itself.
    Scalar(Scalar),
    /// The type typify generates for the schema: a `$ref`, an enum, a
    /// composition (`oneOf`, `anyOf`, `allOf`).
    Generated,
    /// A query array (repeated keys) of scalars or generated types.
    Array {
        /// The items' schema (possibly a `$ref`) and type.
        items: Value,
        item: Box<ValueType>,
        min_items: Option<u64>,
        max_items: Option<u64>,
    },
}

/// A primitive Rust type, from a schema's `type` and `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Uuid,
    DateTime,
    String,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Bool,
}

impl Scalar {
    /// The type of `type`/`format`, or `None` for a kind that is no scalar.
    pub fn of(kind: &str, format: &str) -> Option<Scalar> {
        Some(match (kind, format) {
            ("string", "uuid") => Scalar::Uuid,
            ("string", "date-time") => Scalar::DateTime,
            ("string", _) => Scalar::String,
            ("integer", "int8") => Scalar::I8,
            ("integer", "int16") => Scalar::I16,
            ("integer", "int32") => Scalar::I32,
            ("integer", "uint8") => Scalar::U8,
            ("integer", "uint16") => Scalar::U16,
            ("integer", "uint32") => Scalar::U32,
            ("integer", "uint64" | "uint") => Scalar::U64,
            ("integer", _) => Scalar::I64,
            ("number", "float") => Scalar::F32,
            ("number", _) => Scalar::F64,
            ("boolean", _) => Scalar::Bool,
            _ => return None,
        })
    }

    /// Integers, numbers and booleans are parsed with `FromStr`; the rest
    /// are deserialized.
    pub fn parse_with_from_str(self) -> bool {
        !matches!(self, Scalar::Uuid | Scalar::DateTime | Scalar::String)
    }
}

impl ValueType {
    /// Whether the value is parsed with `FromStr` (an array: its items).
    pub fn parse_with_from_str(&self) -> bool {
        match self {
            ValueType::Scalar(scalar) => scalar.parse_with_from_str(),
            ValueType::Generated => false,
            ValueType::Array { item, .. } => item.parse_with_from_str(),
        }
    }
}

/// How a request body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` (with parameters) or a `+json` type.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/octet-stream`: the raw bytes.
    Bytes,
    /// `multipart/form-data`: dropshot's `MultipartBody` (the parts, read by
    /// the handler), published as dropshot publishes it (a binary string).
    Multipart,
}

#[derive(Debug, Clone)]
pub struct RequestBody {
    pub pointer: String,
    pub required: bool,
    pub kind: BodyKind,
    /// The media type as written in the spec.
    pub media_type: String,
    pub schema: Value,
    /// The `x-request-body-max-bytes` extension, if given.
    pub max_bytes: Option<u64>,
    /// What of the body's spec the trait does not publish.
    pub partial: Vec<GenError>,
}

/// The body of the success response.
#[derive(Debug, Clone, PartialEq)]
pub enum SuccessBody {
    None,
    /// A JSON body with this schema.
    Json(Value),
    /// A body of another media type, sent as bytes.
    Raw(String),
}

#[derive(Debug, Clone)]
pub struct Success {
    pub pointer: String,
    pub status: u16,
    /// Other 2xx statuses with the same body and no headers: the handler
    /// may answer them, the trait publishes only `status`.
    pub other_statuses: Vec<u16>,
    pub description: String,
    pub body: SuccessBody,
    pub headers: Vec<ResponseHeader>,
    /// What of the response's spec the trait does not publish.
    pub partial: Vec<GenError>,
}

/// The schema an operation's errors publish.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorBody {
    /// No error response documents a JSON body: dropshot's own error shape.
    Dropshot,
    /// The distinct JSON schemas of the error responses (usually one `$ref`).
    Schemas(Vec<Value>),
}

#[derive(Debug, Clone)]
pub struct ResponseHeader {
    pub pointer: String,
    pub name: String,
    pub required: bool,
    pub description: Option<String>,
    pub schema: Value,
    /// Its Rust type (a scalar or a generated type).
    pub ty: ValueType,
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// The warning for a response `code` that the trait leaves out because the
/// operation's one published success is `primary` (`kind`: what the construct
/// names it, "2xx" or the redirect's code).
fn left_out(at: &str, code: &str, primary: &str, kind: &str) -> GenError {
    GenError::new(
        at,
        format!("the {code} response is left out: a dropshot operation publishes one success response ({primary}), so the trait cannot answer {code} and the client reports it as unexpected"),
    )
    .construct(format!("response {code} next to a {kind}"))
}

/// Why a request body of this media type is not generated.
fn unsupported_body_reason(media_type: &str) -> &'static str {
    match media_essence(media_type).as_str() {
        "text/plain" => "dropshot publishes a raw request body only as `application/octet-stream` (the trait's spec would change the media type); document it as `application/octet-stream`",
        _ => "dropshot reads and publishes request bodies only as `application/json`, `application/x-www-form-urlencoded`, `multipart/form-data` and `application/octet-stream` (any other media type would change in the trait's spec); document the body as one of those",
    }
}

/// The essence of a media type (`application/json; charset=utf-8` -> `application/json`).
pub fn media_essence(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// `application/json`, with or without parameters, or any `+json` type.
pub fn is_json(media_type: &str) -> bool {
    let essence = media_essence(media_type);
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The Rust method name of an operationId: every run of characters outside
/// `[A-Za-z0-9]` becomes one `_`, then snake case; a leading digit gets `op_`,
/// a keyword a trailing `_`.
pub fn operation_ident(operation_id: &str) -> String {
    let spaced: String =
        operation_id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let mut snake = spaced.to_snake_case();
    if snake.is_empty() || snake.starts_with(|c: char| c.is_ascii_digit()) {
        snake = format!("op_{snake}");
    }
    if syn::parse_str::<syn::Ident>(&snake).is_err() {
        snake.push('_');
    }
    snake
}

/// Lowers a whole document: every operation it can express, and a warning
/// for every other one; an error only when the document as a whole is unreadable.
pub fn read(spec: &Value) -> Result<ApiModel, GenErrors> {
    let mut errors = Vec::new();
    let version = spec.get("openapi").and_then(Value::as_str).unwrap_or_default();
    if !version.starts_with("3.0.") {
        errors.push(
            GenError::new(
                "#/openapi",
                format!("OpenAPI version `{version}`: only 3.0.x is supported"),
            )
            .construct("OpenAPI version"),
        );
    }
    let all_schemas: Vec<(String, Value)> = match spec.pointer("/components/schemas") {
        None => Vec::new(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(_) => {
            errors.push(GenError::new("#/components/schemas", "must be an object"));
            Vec::new()
        }
    };
    let paths = match spec.get("paths") {
        Some(Value::Object(paths)) => Some(paths),
        _ => {
            errors.push(GenError::new("#/paths", "the document has no paths object"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(GenErrors(errors));
    }
    let paths = paths.expect("checked");
    let known: BTreeSet<String> = all_schemas.iter().map(|(name, _)| name.clone()).collect();
    let bad_schemas = bad_schemas(&all_schemas, &known);
    let schemas: Vec<(String, Value)> =
        all_schemas.into_iter().filter(|(name, _)| !bad_schemas.contains_key(name)).collect();
    let reader = Reader { spec, known: &known };

    let mut operations = Vec::new();
    let mut warnings = Vec::new();
    let mut operation_ids: BTreeMap<String, OperationRef> = BTreeMap::new();
    let mut idents: BTreeMap<String, OperationRef> = BTreeMap::new();
    for (path, item) in paths {
        let item_pointer = format!("#/paths/{}", pointer_segment(path));
        let Value::Object(item) = item else {
            errors.push(GenError::new(item_pointer, "a path item must be an object"));
            continue;
        };
        for method in METHODS {
            let Some(operation) = item.get(method) else { continue };
            let pointer = format!("{item_pointer}/{method}");
            let reference = OperationRef {
                operation_id: operation
                    .get("operationId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                method: method.to_uppercase(),
                path: path.clone(),
            };
            let skip = |error: GenError| Warning {
                operation: reference.clone(),
                effect: Effect::Skipped,
                error,
            };
            if item.contains_key("$ref") {
                warnings.push(skip(
                    GenError::new(
                        &item_pointer,
                        "path item `$ref`s are not supported: inline the path item",
                    )
                    .construct("path item $ref"),
                ));
                continue;
            }
            let operation =
                match reader.operation(&pointer, path, method, item.get("parameters"), operation) {
                    Ok(operation) => operation,
                    Err(problems) => {
                        warnings.extend(problems.into_iter().map(skip));
                        continue;
                    }
                };
            if let Some(error) = uses_bad_schema(&operation, &reader, &bad_schemas) {
                warnings.push(skip(error));
                continue;
            }
            if let Some(first) = operation_ids.get(&operation.operation_id) {
                warnings.push(skip(
                    GenError::new(
                        format!("{pointer}/operationId"),
                        format!(
                            "duplicate operationId `{}` (also {first}): make it unique",
                            operation.operation_id
                        ),
                    )
                    .construct("duplicate operationId"),
                ));
                continue;
            }
            if let Some(first) = idents.get(&operation.ident) {
                warnings.push(skip(
                    GenError::new(
                        format!("{pointer}/operationId"),
                        format!(
                            "operationId `{}` becomes the Rust name `{}`, as does {first}: rename one of them",
                            operation.operation_id, operation.ident
                        ),
                    )
                    .construct("operationId collision"),
                ));
                continue;
            }
            operation_ids.insert(operation.operation_id.clone(), reference.clone());
            idents.insert(operation.ident.clone(), reference.clone());
            operations.push(operation);
        }
    }
    if !errors.is_empty() {
        return Err(GenErrors(errors));
    }
    Ok(ApiModel { schemas, operations, warnings })
}

/// The component schemas the generator cannot convert, with the reason;
/// a schema referring to one (at any depth) is bad too.
fn bad_schemas(
    schemas: &[(String, Value)],
    known: &BTreeSet<String>,
) -> BTreeMap<String, GenError> {
    let mut bad = BTreeMap::new();
    for (name, value) in schemas {
        let pointer = format!("#/components/schemas/{}", pointer_segment(name));
        if let Err(error) = crate::schema::to_json_schema(&pointer, value, known) {
            bad.insert(name.clone(), error);
        }
    }
    loop {
        let mut added = false;
        for (name, value) in schemas {
            if bad.contains_key(name) {
                continue;
            }
            let mut refs = BTreeSet::new();
            collect_schema_refs(value, &mut refs);
            if let Some(culprit) = refs.iter().find(|r| bad.contains_key(*r)) {
                let error = bad[culprit].clone();
                bad.insert(name.clone(), error);
                added = true;
            }
        }
        if !added {
            return bad;
        }
    }
}

/// The names of the component schemas a schema refers to (directly).
pub fn collect_schema_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(crate::schema::SCHEMA_REF_PREFIX))
            {
                out.insert(name.to_string());
            }
            map.values().for_each(|child| collect_schema_refs(child, out));
        }
        Value::Array(items) => items.iter().for_each(|child| collect_schema_refs(child, out)),
        _ => {}
    }
}

/// The component schemas reachable from `roots` (the roots included).
pub fn schema_closure(
    roots: impl IntoIterator<Item = String>,
    schemas: &BTreeMap<String, Value>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = roots.into_iter().collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(value) = schemas.get(&name) {
            let mut refs = BTreeSet::new();
            collect_schema_refs(value, &mut refs);
            stack.extend(refs.into_iter().filter(|r| !seen.contains(r)));
        }
    }
    seen
}

/// Every component schema an operation uses, directly or not.
pub fn operation_schema_refs(
    operation: &Operation,
    schemas: &BTreeMap<String, Value>,
) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    for param in &operation.params {
        collect_schema_refs(&param.schema, &mut refs);
    }
    if let Some(body) = &operation.body {
        collect_schema_refs(&body.schema, &mut refs);
    }
    if let SuccessBody::Json(schema) = &operation.success.body {
        collect_schema_refs(schema, &mut refs);
    }
    for header in &operation.success.headers {
        collect_schema_refs(&header.schema, &mut refs);
    }
    if let ErrorBody::Schemas(schemas) = &operation.error {
        schemas.iter().for_each(|schema| collect_schema_refs(schema, &mut refs));
    }
    schema_closure(refs, schemas)
}

/// The first bad component schema an operation uses, as the reason to skip it.
fn uses_bad_schema(
    operation: &Operation,
    reader: &Reader<'_>,
    bad: &BTreeMap<String, GenError>,
) -> Option<GenError> {
    if bad.is_empty() {
        return None;
    }
    let mut refs = BTreeSet::new();
    for param in &operation.params {
        collect_schema_refs(&param.schema, &mut refs);
    }
    if let Some(body) = &operation.body {
        collect_schema_refs(&body.schema, &mut refs);
    }
    if let SuccessBody::Json(schema) = &operation.success.body {
        collect_schema_refs(schema, &mut refs);
    }
    for header in &operation.success.headers {
        collect_schema_refs(&header.schema, &mut refs);
    }
    if let ErrorBody::Schemas(schemas) = &operation.error {
        schemas.iter().for_each(|schema| collect_schema_refs(schema, &mut refs));
    }
    let _ = reader;
    let name = refs.iter().find(|name| bad.contains_key(*name))?;
    let cause = &bad[name];
    Some(
        GenError::new(
            cause.pointer.clone(),
            format!(
                "uses the schema `{name}`, which the generator cannot express: {}",
                cause.message
            ),
        )
        .construct(cause.construct_or_message().to_string()),
    )
}

struct Reader<'a> {
    spec: &'a Value,
    known: &'a BTreeSet<String>,
}

type Problems = Vec<GenError>;

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
                .construct("external $ref")
            })?;
            let target = self
                .spec
                .pointer(&format!("/components/{kind}/{}", pointer_segment(name)))
                .ok_or_else(|| {
                    GenError::new(&at, format!("`$ref` to `{reference}`, which does not exist"))
                        .construct("dangling $ref")
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
    ) -> Result<Operation, Problems> {
        let mut problems = Problems::new();
        let operation_id = match operation
            .get("operationId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
        {
            Some(id) => id.to_string(),
            None => {
                return Err(vec![GenError::new(
                    pointer,
                    "missing operationId: give the operation a unique `operationId` (the client and the trait are named after it)",
                )
                .construct("missing operationId")])
            }
        };
        let ident = operation_ident(&operation_id);
        let channel = operation.get("x-dropshot-websocket").is_some();
        if channel && method != "get" {
            return Err(vec![GenError::new(
                format!("{pointer}/x-dropshot-websocket"),
                format!(
                    "a websocket channel on {}: dropshot upgrades only GET requests",
                    method.to_uppercase()
                ),
            )
            .construct("websocket channel not on GET")]);
        }
        if operation.get("callbacks").is_some() {
            problems.push(
                GenError::new(
                    format!("{pointer}/callbacks"),
                    "callbacks are not supported (dropshot cannot describe them): remove them",
                )
                .construct("callbacks"),
            );
        }
        let text = |key: &str| operation.get(key).and_then(Value::as_str).map(str::to_string);
        let tags = match operation.get("tags") {
            Some(Value::Array(tags)) => {
                tags.iter().filter_map(Value::as_str).map(str::to_string).collect()
            }
            _ => Vec::new(),
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
                problems.push(GenError::new(list_pointer, "must be an array"));
                continue;
            };
            for (index, param) in list.iter().enumerate() {
                match self.param(&format!("{list_pointer}/{index}"), param) {
                    Ok(Some(param)) => {
                        params.retain(|p| !(p.name == param.name && p.location == param.location));
                        params.push(param);
                    }
                    Ok(None) => {}
                    Err(error) => problems.push(error),
                }
            }
        }
        let mut seen = BTreeSet::new();
        for param in &params {
            if !seen.insert((param.location, param.name.to_ascii_lowercase())) {
                problems.push(
                    GenError::new(
                        &param.pointer,
                        format!(
                            "two parameters named `{}` (names must be unique, ignoring case)",
                            param.name
                        ),
                    )
                    .construct("duplicate parameter"),
                );
            }
        }
        match path_template_vars(path) {
            Err(message) => {
                problems.push(GenError::new(pointer, message).construct("partial path segment"))
            }
            Ok(template_vars) => {
                let path_params: BTreeSet<String> = params
                    .iter()
                    .filter(|p| p.location == Location::Path)
                    .map(|p| p.name.clone())
                    .collect();
                if template_vars != path_params && problems.is_empty() {
                    problems.push(
                        GenError::new(
                            pointer,
                            format!(
                                "path parameters {path_params:?} do not match the variables {template_vars:?} of `{path}`"
                            ),
                        )
                        .construct("path parameters"),
                    );
                }
            }
        }

        let body = match operation.get("requestBody") {
            None => None,
            Some(body) => match self.request_body(&format!("{pointer}/requestBody"), body) {
                Ok(body) => body,
                Err(error) => {
                    problems.push(error);
                    None
                }
            },
        };
        if channel && body.is_some() {
            problems.push(
                GenError::new(
                    format!("{pointer}/requestBody"),
                    "a websocket channel takes no request body: remove it",
                )
                .construct("websocket channel with a body"),
            );
        }
        let responses = if channel {
            Ok(channel_responses(pointer, operation))
        } else {
            self.responses(&format!("{pointer}/responses"), operation)
        };
        let (success, error, partial) = match responses {
            Ok(found) => found,
            Err(mut more) => {
                problems.append(&mut more);
                return Err(problems);
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut partial = partial;
        if let Some(body) = &body {
            partial.extend(body.partial.iter().cloned());
        }
        partial.extend(success.partial.iter().cloned());
        let pagination = match operation.get("x-dropshot-pagination") {
            None => None,
            Some(_) if channel => {
                partial.push(
                    GenError::new(
                        format!("{pointer}/x-dropshot-pagination"),
                        "`x-dropshot-pagination` on a websocket channel is left out: dropshot paginates no channel",
                    )
                    .construct("x-dropshot-pagination on a channel"),
                );
                None
            }
            Some(extension) => match self.pagination(extension, &params, &success) {
                Ok(pagination) => Some(pagination),
                Err(reason) => {
                    partial.push(
                        GenError::new(
                            format!("{pointer}/x-dropshot-pagination"),
                            format!("`x-dropshot-pagination` is left out ({reason}): the query is generated as plain parameters and the trait publishes no pagination; give the operation dropshot's shape (optional `limit` integer and `page_token` string query parameters)"),
                        )
                        .construct("x-dropshot-pagination not in dropshot's shape"),
                    );
                    None
                }
            },
        };
        Ok(Operation {
            pointer: pointer.to_string(),
            type_base: ident.to_upper_camel_case(),
            ident,
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
            error,
            partial,
            channel,
            pagination,
        })
    }

    /// dropshot's pagination for an operation with `x-dropshot-pagination`,
    /// or why its parameters do not have the shape dropshot's types publish.
    fn pagination(
        &self,
        extension: &Value,
        params: &[Param],
        success: &Success,
    ) -> Result<Pagination, String> {
        let required = match extension.get("required") {
            None => BTreeSet::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|name| name.as_str().map(str::to_string))
                .collect::<Option<BTreeSet<String>>>()
                .ok_or("its `required` must list parameter names")?,
            Some(_) => return Err("its `required` must be an array".to_string()),
        };
        let query: Vec<&Param> = params.iter().filter(|p| p.location == Location::Query).collect();
        for (name, integer) in [("limit", true), ("page_token", false)] {
            let param = query
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| format!("no `{name}` query parameter"))?;
            let fits = match param.ty {
                ValueType::Scalar(scalar) if integer => matches!(
                    scalar,
                    Scalar::U8
                        | Scalar::U16
                        | Scalar::U32
                        | Scalar::U64
                        | Scalar::I32
                        | Scalar::I64
                ),
                ValueType::Scalar(scalar) => scalar == Scalar::String,
                _ => false,
            };
            if param.required || !fits {
                return Err(format!(
                    "`{name}` must be an optional {}",
                    if integer { "integer" } else { "string" }
                ));
            }
        }
        // Required and array parameters are not scan parameters: a second
        // query extractor reads them on every page.
        let others: BTreeSet<String> = query
            .iter()
            .filter(|p| p.required || matches!(p.ty, ValueType::Array { .. }))
            .map(|p| p.name.clone())
            .collect();
        if let Some(name) = required.iter().find(|name| {
            !query.iter().any(|p| {
                &p.name == *name
                    && !PAGINATION_PARAMS.contains(&p.name.as_str())
                    && !others.contains(&p.name)
            })
        }) {
            return Err(format!(
                "its `required` names `{name}`, which is no optional scalar query parameter"
            ));
        }
        Ok(Pagination { required, others, item: self.results_page_item(success) })
    }

    /// The item schema of a success body that is dropshot's `ResultsPage<Item>`:
    /// a `$ref` to `<Item>ResultsPage`, an object with `items` (an array of
    /// `$ref`s to `Item`, required) and `next_page` (a nullable string).
    fn results_page_item(&self, success: &Success) -> Option<String> {
        let SuccessBody::Json(schema) = &success.body else { return None };
        if !success.other_statuses.is_empty() {
            return None;
        }
        let page = schema.get("$ref")?.as_str()?.strip_prefix(crate::schema::SCHEMA_REF_PREFIX)?;
        let resolved =
            self.spec.pointer(&format!("/components/schemas/{}", pointer_segment(page)))?;
        let properties = resolved.get("properties")?.as_object()?;
        let item = properties
            .get("items")
            .filter(|items| items.get("type") == Some(&Value::from("array")))?
            .pointer("/items/$ref")?
            .as_str()?
            .strip_prefix(crate::schema::SCHEMA_REF_PREFIX)?;
        let next_page = properties.get("next_page")?;
        let fits = resolved.get("type") == Some(&Value::from("object"))
            && properties.len() == 2
            && next_page.get("type") == Some(&Value::from("string"))
            && next_page.get("nullable") == Some(&Value::Bool(true))
            && resolved.get("required") == Some(&serde_json::json!(["items"]))
            && page == format!("{item}ResultsPage")
            && self.known.contains(item);
        fits.then(|| item.to_string())
    }

    /// A parameter, or `None` for one OpenAPI says to ignore.
    fn param(&self, pointer: &str, param: &Value) -> Result<Option<Param>, GenError> {
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
                return Err(GenError::new(
                    field("in"),
                    format!("cookie parameter `{name}`: dropshot has no cookie extractor; read it from a header parameter `Cookie` instead"),
                )
                .construct("cookie parameter"))
            }
            other => {
                return Err(GenError::new(
                    field("in"),
                    format!("unknown parameter location {other:?}"),
                ))
            }
        };
        if location == Location::Header
            && ["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
        {
            return Ok(None); // OpenAPI: such a header parameter "SHALL be ignored".
        }
        if param.get("content").is_some() {
            return Err(GenError::new(
                field("content"),
                format!("parameter `{name}` with `content` (a serialized JSON value): give it a `schema` instead"),
            )
            .construct("parameter with content"));
        }
        let schema = param
            .get("schema")
            .ok_or_else(|| {
                GenError::new(&pointer, format!("parameter `{name}` has no schema"))
                    .construct("parameter without schema")
            })?
            .clone();
        let required = param.get("required") == Some(&Value::Bool(true));
        if location == Location::Path && !required {
            return Err(GenError::new(field("required"), format!("path parameter `{name}`: a path parameter must be required (add `required: true`)")).construct("optional path parameter"));
        }
        let schema_pointer = field("schema");
        let resolved = self.resolve_schema(&schema_pointer, &schema)?;
        let is_array = resolved.get("type").and_then(Value::as_str) == Some("array");
        if is_array {
            if location != Location::Query {
                return Err(GenError::new(
                    schema_pointer,
                    format!("array parameter `{name}`: array parameters are only supported in the query"),
                )
                .construct("array parameter outside the query"));
            }
            let style = param.get("style").and_then(Value::as_str).unwrap_or("form");
            let explode = param.get("explode").and_then(Value::as_bool).unwrap_or(true);
            if style != "form" || !explode {
                return Err(GenError::new(
                    &pointer,
                    format!("query array `{name}`: query arrays must use `style: form` with `explode: true` (repeated keys)"),
                )
                .construct("query array without explode"));
            }
            if let Some(items) = resolved.get("items") {
                self.check_scalar_param(&format!("{schema_pointer}/items"), &name, items, true)?;
            }
        } else {
            self.check_scalar_param(&schema_pointer, &name, &schema, false)?;
            if let Some(style) = param.get("style").and_then(Value::as_str) {
                let default = if location == Location::Query { "form" } else { "simple" };
                if style != default {
                    return Err(GenError::new(
                        field("style"),
                        format!("parameter `{name}`: style `{style}` is not supported (only `{default}`)"),
                    )
                    .construct(format!("parameter style {style}")));
                }
            }
        }
        let ty = self.value_type(&schema_pointer, &schema, "a parameter")?;
        Ok(Some(Param {
            pointer: pointer.clone(),
            name,
            location,
            required,
            description: param.get("description").and_then(Value::as_str).map(str::to_string),
            schema,
            ty,
        }))
    }

    /// The Rust type of a parameter's or header's schema (`what` names it in errors).
    fn value_type(&self, pointer: &str, schema: &Value, what: &str) -> Result<ValueType, GenError> {
        let resolved = self.resolve_schema(pointer, schema)?;
        let kind = resolved.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind == "array" {
            let items_pointer = format!("{pointer}/items");
            let items = resolved.get("items").ok_or_else(|| {
                GenError::new(&items_pointer, format!("an array in {what} needs `items`"))
            })?;
            let item = self.value_type(&items_pointer, items, what)?;
            if matches!(item, ValueType::Array { .. }) {
                return Err(GenError::new(
                    items_pointer,
                    "arrays of arrays are not supported in parameters",
                )
                .construct("array of arrays parameter"));
            }
            return Ok(ValueType::Array {
                items: items.clone(),
                item: Box::new(item),
                min_items: resolved.get("minItems").and_then(Value::as_u64),
                max_items: resolved.get("maxItems").and_then(Value::as_u64),
            });
        }
        let is_reference = schema.get("$ref").is_some();
        let is_composition = ["oneOf", "anyOf", "allOf"].iter().any(|k| resolved.get(*k).is_some());
        if is_reference || is_composition || resolved.get("enum").is_some() {
            return Ok(ValueType::Generated);
        }
        let format = resolved.get("format").and_then(Value::as_str).unwrap_or_default();
        Scalar::of(kind, format).map(ValueType::Scalar).ok_or_else(|| {
            GenError::new(pointer, format!("{what} of type `{kind}` is not supported"))
                .construct(format!("parameter of type `{kind}`"))
        })
    }

    /// Refuses a parameter schema (possibly a `$ref`) that cannot be read from
    /// one string: objects and arrays (an array too when `allow_array`, for
    /// array items, which the emitter then refuses with its own message).
    /// Scalars, enums and compositions (`oneOf`, `anyOf`, `allOf`) are fine.
    fn check_scalar_param(
        &self,
        pointer: &str,
        name: &str,
        schema: &Value,
        allow_array: bool,
    ) -> Result<(), GenError> {
        let resolved = self.resolve_schema(pointer, schema)?;
        let kind = resolved.get("type").and_then(Value::as_str).unwrap_or_default();
        let composition = ["oneOf", "anyOf", "allOf"].iter().find(|k| resolved.get(**k).is_some());
        let scalar = ["string", "integer", "number", "boolean"].contains(&kind)
            || (kind.is_empty() && (resolved.get("enum").is_some() || composition.is_some()))
            || (allow_array && kind == "array");
        if scalar {
            return Ok(());
        }
        let through = match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => format!(" (through `{reference}`)"),
            None => String::new(),
        };
        let kind = if kind.is_empty() {
            "without a type".to_string()
        } else {
            format!("of type `{kind}`")
        };
        Err(GenError::new(
            pointer,
            format!("parameter `{name}`: a schema {kind}{through} cannot be read from a parameter's string: use a scalar, an enum or a `oneOf` of those"),
        )
        .construct(format!("parameter {kind}")))
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

    fn request_body(&self, pointer: &str, body: &Value) -> Result<Option<RequestBody>, GenError> {
        let (pointer, body) = self.resolve(pointer, body, "requestBodies")?;
        let Some(Value::Object(content)) = body.get("content") else {
            return Err(GenError::new(&pointer, "a request body needs `content`"));
        };
        let content_pointer = format!("{pointer}/content");
        // The first JSON media type, else the first form or octet-stream one.
        let chosen = content
            .iter()
            .find(|(media, _)| is_json(media))
            .map(|(media, object)| (media, object, BodyKind::Json))
            .or_else(|| {
                content.iter().find_map(|(media, object)| match media_essence(media).as_str() {
                    "application/x-www-form-urlencoded" => Some((media, object, BodyKind::Form)),
                    "application/octet-stream" => Some((media, object, BodyKind::Bytes)),
                    "multipart/form-data" => Some((media, object, BodyKind::Multipart)),
                    _ => None,
                })
            });
        let Some((media_type, object, kind)) = chosen else {
            let types: Vec<&String> = content.keys().collect();
            if types.is_empty() {
                return Ok(None);
            }
            return Err(GenError::new(
                content_pointer,
                format!(
                    "request body media types {types:?}: {}",
                    unsupported_body_reason(types[0])
                ),
            )
            .construct(format!("request body {}", media_essence(types[0]))));
        };
        let media_pointer = format!("{content_pointer}/{}", pointer_segment(media_type));
        if kind == BodyKind::Json && media_essence(media_type) != "application/json" {
            return Err(GenError::new(
                media_pointer,
                format!("request body `{media_type}`: dropshot publishes a JSON body only as `application/json` (and progenitor 0.15.1 sends it so); document the body as `application/json`"),
            )
            .construct("request body +json"));
        }
        if content.len() > 1 {
            let types: Vec<&String> = content.keys().collect();
            return Err(GenError::new(
                content_pointer,
                format!("request body with media types {types:?}: dropshot and progenitor read one; keep only `{media_type}`"),
            )
            .construct("request body with several media types"));
        }
        let schema = match object.get("schema") {
            Some(schema) => schema.clone(),
            None if matches!(kind, BodyKind::Bytes | BodyKind::Multipart) => {
                serde_json::json!({"type": "string", "format": "binary"})
            }
            None => {
                return Err(GenError::new(media_pointer, "a media type needs a schema")
                    .construct("media type without schema"))
            }
        };
        if kind == BodyKind::Bytes {
            let resolved = self.resolve_schema(&format!("{media_pointer}/schema"), &schema)?;
            if resolved.get("type").and_then(Value::as_str) != Some("string")
                || resolved.get("format").and_then(Value::as_str) != Some("binary")
            {
                return Err(GenError::new(
                    format!("{media_pointer}/schema"),
                    "an `application/octet-stream` body's schema must be `{type: string, format: binary}`",
                )
                .construct("octet-stream body schema"));
            }
        }
        let required = body.get("required") == Some(&Value::Bool(true));
        let mut partial = Vec::new();
        if kind == BodyKind::Multipart {
            let resolved = self.resolve_schema(&format!("{media_pointer}/schema"), &schema)?;
            let binary = resolved.get("type").and_then(Value::as_str) == Some("string")
                && resolved.get("format").and_then(Value::as_str) == Some("binary");
            if !binary {
                partial.push(
                    GenError::new(
                        format!("{media_pointer}/schema"),
                        "the parts' schema is left out: dropshot's `MultipartBody` publishes a multipart body as `{type: string, format: binary}`, and the handler reads and checks the parts itself",
                    )
                    .construct("multipart parts schema"),
                );
            }
        }
        if !required && kind != BodyKind::Json {
            partial.push(
                GenError::new(
                    &pointer,
                    format!("the optional `{media_type}` body is published as required: dropshot's body extractors publish required bodies (an absent body reaches the handler as an empty one)"),
                )
                .construct("optional non-JSON request body"),
            );
        }
        let max_bytes = match body.get("x-request-body-max-bytes") {
            None => None,
            Some(value) => Some(value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                GenError::new(
                    format!("{pointer}/x-request-body-max-bytes"),
                    "must be a positive integer",
                )
            })?),
        };
        Ok(Some(RequestBody {
            pointer,
            required,
            kind,
            media_type: media_type.clone(),
            schema,
            max_bytes,
            partial,
        }))
    }

    fn responses(
        &self,
        pointer: &str,
        operation: &Value,
    ) -> Result<(Success, ErrorBody, Vec<GenError>), Problems> {
        let Some(Value::Object(responses)) = operation.get("responses") else {
            return Err(vec![GenError::new(pointer, "an operation needs `responses`")]);
        };
        let mut problems = Problems::new();
        let mut successes: Vec<(String, u16, String, &Value)> = Vec::new();
        let mut error_schemas: Vec<Value> = Vec::new();
        let mut redirects_or_others: Vec<(String, String)> = Vec::new();
        let mut partial = Vec::new();
        let mut default = None;
        for (code, response) in responses {
            if code.starts_with("x-") {
                continue;
            }
            let at = format!("{pointer}/{}", pointer_segment(code));
            let (resolved_at, response) = match self.resolve(&at, response, "responses") {
                Ok(found) => found,
                Err(error) => {
                    problems.push(error);
                    continue;
                }
            };
            let upper = code.to_ascii_uppercase();
            if upper == "DEFAULT" {
                default = Some((at, resolved_at, response));
                continue;
            }
            let is_error = upper == "4XX"
                || upper == "5XX"
                || code.parse::<u16>().is_ok_and(|status| (400..=599).contains(&status));
            if is_error {
                match self.json_schema(&resolved_at, response) {
                    Ok(Some(schema)) => {
                        if !error_schemas.contains(&schema) {
                            error_schemas.push(schema);
                        }
                    }
                    Ok(None) => {}
                    Err(error) => problems.push(error),
                }
                continue;
            }
            match code.parse::<u16>() {
                Ok(status) if (200..=299).contains(&status) => {
                    successes.push((at, status, resolved_at, response))
                }
                Ok(status) if (300..=399).contains(&status) => redirects_or_others.push((at, code.clone())),
                Ok(status) if (100..=199).contains(&status) => redirects_or_others.push((at, code.clone())),
                _ => problems.push(
                    GenError::new(
                        &at,
                        format!("response `{code}`: only status codes, `4XX`, `5XX` and `default` are supported"),
                    )
                    .construct(format!("response {code}")),
                ),
            }
        }
        let only_default = successes.is_empty() && redirects_or_others.is_empty();
        if let Some((_, resolved_at, response)) = default.as_ref().filter(|_| !only_default) {
            match self.json_schema(resolved_at, response) {
                Ok(Some(schema)) => {
                    if !error_schemas.contains(&schema) {
                        error_schemas.push(schema);
                    }
                }
                Ok(None) => {}
                Err(error) => problems.push(error),
            }
        }
        let success = match successes.as_slice() {
            // Only a `default` response: the operation's success is free-form,
            // as dropshot publishes a handler answering `Response<Body>`.
            [] if only_default && default.is_some() => {
                let (at, resolved_at, response) = default.as_ref().expect("checked");
                match self.success(at, resolved_at, 0, response) {
                    Ok(success) => Some(success),
                    Err(error) => {
                        problems.push(error);
                        None
                    }
                }
            }
            [] => {
                // A redirect as the only success; a 304 next to it is left
                // out with a warning, as next to a 2xx.
                let is_redirect = |code: &str| ["302", "303", "307"].contains(&code);
                let redirect = match redirects_or_others.as_slice() {
                    [(_, a), (_, b)]
                        if is_redirect(a) != is_redirect(b)
                            && [a, b].contains(&&"304".to_string()) =>
                    {
                        let (redirect, not_modified): (Vec<_>, Vec<_>) = redirects_or_others
                            .iter()
                            .cloned()
                            .partition(|(_, code)| is_redirect(code));
                        let (other_at, _) = &not_modified[0];
                        let primary = &redirect[0].1;
                        partial.push(left_out(other_at, "304", primary, primary));
                        redirect
                    }
                    _ => redirects_or_others.clone(),
                };
                match redirect.as_slice() {
                    [(at, code)] if is_redirect(code) => {
                        let response = &responses[code];
                        match self.resolve(at, response, "responses") {
                            Ok((resolved_at, response)) => {
                                match self.success(
                                    at,
                                    &resolved_at,
                                    code.parse().expect("a code"),
                                    response,
                                ) {
                                    Ok(success) => Some(success),
                                    Err(error) => {
                                        problems.push(error);
                                        None
                                    }
                                }
                            }
                            Err(error) => {
                                problems.push(error);
                                None
                            }
                        }
                    }
                    [] => {
                        problems.push(
                            GenError::new(pointer, "no success (2xx) response: document the operation's success response")
                                .construct("no success response"),
                        );
                        None
                    }
                    others => {
                        let codes: Vec<&str> =
                            others.iter().map(|(_, code)| code.as_str()).collect();
                        problems.push(
                            GenError::new(
                                &others[0].0,
                                format!("responses {codes:?} without a 2xx success: dropshot serves 302, 303 and 307 redirects (as the only success response), no other 1xx or 3xx"),
                            )
                            .construct(format!("response {}", codes[0])),
                        );
                        None
                    }
                }
            }
            [(at, status, resolved_at, response)] => {
                for (other_at, code) in &redirects_or_others {
                    if code.starts_with('1') {
                        problems.push(
                            GenError::new(other_at, format!("response {code} next to the success response {status}: dropshot cannot serve it"))
                                .construct(format!("response {code} next to a 2xx")),
                        );
                        continue;
                    }
                    partial.push(left_out(other_at, code, &status.to_string(), "2xx"));
                }
                match self.success(at, resolved_at, *status, response) {
                    Ok(success) => Some(success),
                    Err(error) => {
                        problems.push(error);
                        None
                    }
                }
            }
            several => {
                let codes: Vec<String> =
                    several.iter().map(|(_, status, _, _)| status.to_string()).collect();
                let read: Vec<Success> = several
                    .iter()
                    .filter_map(|(at, status, resolved_at, response)| {
                        self.success(at, resolved_at, *status, response).ok()
                    })
                    .collect();
                let same = read.len() == several.len()
                    && read.iter().all(|success| {
                        success.headers.is_empty()
                            && success.body == read[0].body
                            && !matches!(success.body, SuccessBody::Raw(_))
                    });
                if same && redirects_or_others.is_empty() {
                    let mut read = read.into_iter();
                    let mut first = read.next().expect("two or more");
                    first.other_statuses = read.map(|success| success.status).collect();
                    partial.push(
                        GenError::new(
                            pointer,
                            format!(
                                "success responses ({}) with the same body: the trait publishes only the {} (a dropshot operation publishes one success response); the handler answers the others with the operation's `status` field",
                                codes.join(", "),
                                first.status
                            ),
                        )
                        .construct("success responses with the same body"),
                    );
                    Some(first)
                } else {
                    problems.push(
                        GenError::new(
                            pointer,
                            format!(
                                "two success responses ({}) with different bodies or headers: a dropshot operation publishes one success response; keep one",
                                codes.join(", ")
                            ),
                        )
                        .construct("two success responses"),
                    );
                    None
                }
            }
        };
        match success {
            Some(success) if problems.is_empty() => {
                let error = if error_schemas.is_empty() {
                    ErrorBody::Dropshot
                } else {
                    ErrorBody::Schemas(error_schemas)
                };
                Ok((success, error, partial))
            }
            _ => Err(problems),
        }
    }

    /// The JSON schema of a response's body, if it has a JSON media type.
    fn json_schema(&self, resolved_at: &str, response: &Value) -> Result<Option<Value>, GenError> {
        let Some(Value::Object(content)) = response.get("content") else { return Ok(None) };
        let Some((media_type, object)) = content.iter().find(|(media, _)| is_json(media)) else {
            return Ok(None);
        };
        match object.get("schema") {
            Some(schema) => Ok(Some(schema.clone())),
            None => Err(GenError::new(
                format!("{resolved_at}/content/{}", pointer_segment(media_type)),
                "a JSON media type needs a schema",
            )
            .construct("media type without schema")),
        }
    }

    fn success(
        &self,
        at: &str,
        resolved_at: &str,
        status: u16,
        response: &Value,
    ) -> Result<Success, GenError> {
        let mut partial = Vec::new();
        let json_media = response
            .get("content")
            .and_then(Value::as_object)
            .and_then(|content| content.keys().find(|media| is_json(media)));
        if let Some(media) = json_media.filter(|media| media_essence(media) != "application/json") {
            partial.push(
                GenError::new(
                    format!("{resolved_at}/content/{}", pointer_segment(media)),
                    format!("the `{media}` body is published (and sent) as `application/json`: dropshot's typed responses are JSON"),
                )
                .construct("+json response body"),
            );
        }
        let body = match self.json_schema(resolved_at, response)? {
            Some(schema) => SuccessBody::Json(schema),
            None => match response
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.keys().next())
            {
                Some(media_type) => SuccessBody::Raw(media_type.clone()),
                None => SuccessBody::None,
            },
        };
        if [204, 205, 302, 303, 307].contains(&status) && !matches!(body, SuccessBody::None) {
            return Err(GenError::new(
                at,
                format!("a {status} response cannot have a body here: remove its `content`"),
            )
            .construct(format!("{status} with a body")));
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
                if [302, 303, 307].contains(&status) && name.eq_ignore_ascii_case("location") {
                    continue; // dropshot's redirect types publish it.
                }
                let schema = header
                    .get("schema")
                    .ok_or_else(|| {
                        GenError::new(&header_at, format!("response header `{name}` has no schema"))
                            .construct("response header without schema")
                    })?
                    .clone();
                let resolved = self.resolve_schema(&format!("{header_at}/schema"), &schema)?;
                let kind = resolved.get("type").and_then(Value::as_str).unwrap_or_default();
                if !["string", "integer", "number", "boolean"].contains(&kind) {
                    return Err(GenError::new(
                        format!("{header_at}/schema"),
                        format!("response header `{name}` of type `{kind}`: only scalar headers are supported"),
                    )
                    .construct(format!("response header of type `{kind}`")));
                }
                let ty =
                    self.value_type(&format!("{header_at}/schema"), &schema, "a response header")?;
                headers.push(ResponseHeader {
                    pointer: header_at.clone(),
                    name: name.clone(),
                    required: header.get("required") == Some(&Value::Bool(true)),
                    description: header
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    schema,
                    ty,
                });
            }
        }
        if [302, 303, 307].contains(&status) && !headers.is_empty() {
            return Err(GenError::new(at, format!("a {status} redirect with headers other than `Location`: dropshot's redirect types carry only `Location`")).construct("redirect with headers"));
        }
        Ok(Success {
            pointer: at.to_string(),
            status,
            other_statuses: Vec::new(),
            description: response
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            body,
            headers,
            partial,
        })
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
