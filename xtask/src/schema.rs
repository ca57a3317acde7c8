//! Converts OpenAPI 3.0 schemas into the JSON Schema (draft 7) that typify reads.
//!
//! The two dialects differ in a few places that matter for code generation:
//! `nullable` becomes a `null` member of `type` (or an `anyOf` with `null` for
//! references and compositions), boolean `exclusiveMinimum`/`exclusiveMaximum`
//! become numeric bounds, and OpenAPI-only keywords (`example`, `discriminator`,
//! `xml`, `externalDocs`) are dropped. Every `$ref` must point at an existing
//! `#/components/schemas/...` entry; anything else is an error naming its pointer.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::{pointer_segment, GenError};

/// The prefix of every schema reference we accept.
pub const SCHEMA_REF_PREFIX: &str = "#/components/schemas/";

/// Converts the OpenAPI schema `value` found at `pointer` into a schemars schema.
/// `known` holds the names of the spec's component schemas.
pub fn to_json_schema(
    pointer: &str,
    value: &Value,
    known: &BTreeSet<String>,
) -> Result<schemars::schema::Schema, GenError> {
    let converted = convert(pointer, value, known, Dialect::Types)?;
    serde_json::from_value(converted)
        .map_err(|error| GenError::new(pointer, format!("not a valid schema: {error}")))
}

/// Like [`to_json_schema`], but for publishing in dropshot's OpenAPI 3.0
/// document: dropshot cannot translate a `type` array, so nullability is
/// written back as OpenAPI's `nullable: true` (which schemars keeps as an
/// extension and dropshot reads) instead of a `null` type.
pub fn to_published_schema(
    pointer: &str,
    value: &Value,
    known: &BTreeSet<String>,
) -> Result<schemars::schema::Schema, GenError> {
    let converted = nullable_for_openapi(convert(pointer, value, known, Dialect::Published)?);
    serde_json::from_value(converted)
        .map_err(|error| GenError::new(pointer, format!("not a valid schema: {error}")))
}

/// Rewrites `{"type": [T, "null"]}` to `{"type": T, "nullable": true}` and
/// `{"anyOf": [S, {"type": "null"}]}` to `S` with `"nullable": true`, everywhere.
fn nullable_for_openapi(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(nullable_for_openapi).collect()),
        Value::Object(object) => {
            let mut object: Map<String, Value> =
                object.into_iter().map(|(key, item)| (key, nullable_for_openapi(item))).collect();
            if let Some(Value::Array(kinds)) = object.get("type") {
                let others: Vec<&Value> = kinds.iter().filter(|kind| *kind != "null").collect();
                if let [kind] = others.as_slice() {
                    if kinds.len() == 2 {
                        let kind = (*kind).clone();
                        object.insert("type".to_string(), kind);
                        object.insert("nullable".to_string(), Value::Bool(true));
                    }
                }
            }
            let null = serde_json::json!({ "type": "null" });
            if object.len() == 1 {
                if let Some(Value::Array(members)) = object.get("anyOf") {
                    if let [Value::Object(inner), second] = members.as_slice() {
                        if *second == null {
                            let mut inner = inner.clone();
                            inner.insert("nullable".to_string(), Value::Bool(true));
                            return Value::Object(inner);
                        }
                    }
                }
            }
            Value::Object(object)
        }
        other => other,
    }
}

/// Who reads the converted schema. They differ in `not` only: the published
/// schema keeps it (a validator reads it), typify does not get it, because it
/// can subtract only a few shapes (an `enum` from an `enum`) and fails or
/// guesses on the rest. A member of `properties` whose schema is `{"not": {}}`
/// (no value is valid: the member is forbidden, JSON Schema draft 4's way of
/// saying it) is left out of the types with it, so that a map that forbids
/// one key (`Properties` forbids the empty key) stays a map. The generated
/// types then accept a superset of the schema, so the implementation must
/// refuse what `not` excludes itself; the `not` is still converted, so its
/// errors are found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Types,
    Published,
}

fn convert(
    pointer: &str,
    value: &Value,
    known: &BTreeSet<String>,
    dialect: Dialect,
) -> Result<Value, GenError> {
    let Value::Object(object) = value else {
        return Err(GenError::new(pointer, "a schema must be an object"));
    };
    if let Some(reference) = object.get("$ref") {
        let reference =
            reference.as_str().ok_or_else(|| GenError::new(pointer, "`$ref` must be a string"))?;
        check_schema_ref(pointer, reference, known)?;
        // Siblings of `$ref` are ignored in OpenAPI 3.0.
        return Ok(Value::Object(Map::from_iter([("$ref".to_string(), reference.into())])));
    }
    for keyword in ["if", "then", "else", "patternProperties", "dependencies"] {
        if object.contains_key(keyword) {
            return Err(GenError::new(
                format!("{pointer}/{keyword}"),
                format!("the `{keyword}` keyword is not supported"),
            ));
        }
    }
    if let Some(kind) = object.get("type") {
        if !kind.is_string() {
            return Err(GenError::new(format!("{pointer}/type"), "`type` must be a single string"));
        }
    }

    let mut out = Map::new();
    for (key, item) in object {
        let child = format!("{pointer}/{}", pointer_segment(key));
        match key.as_str() {
            "nullable" | "example" | "discriminator" | "xml" | "externalDocs" => {}
            "exclusiveMinimum" | "exclusiveMaximum" => {}
            "properties" => {
                let Value::Object(properties) = item else {
                    return Err(GenError::new(child, "`properties` must be an object"));
                };
                let mut converted = Map::new();
                for (name, schema) in properties {
                    let at = format!("{child}/{}", pointer_segment(name));
                    let schema = convert(&at, schema, known, dialect)?;
                    // A forbidden member has no value to type (see `Dialect`).
                    if dialect == Dialect::Published || !is_forbidden(&properties[name]) {
                        converted.insert(name.clone(), schema);
                    }
                }
                if dialect == Dialect::Published || !converted.is_empty() || properties.is_empty() {
                    out.insert(key.clone(), Value::Object(converted));
                }
            }
            "items" | "additionalProperties" if item.is_object() => {
                out.insert(key.clone(), convert(&child, item, known, dialect)?);
            }
            "not" => {
                let converted = convert(&child, item, known, dialect)?;
                if dialect == Dialect::Published {
                    out.insert(key.clone(), converted);
                }
            }
            "allOf" | "oneOf" | "anyOf" => {
                let Value::Array(members) = item else {
                    return Err(GenError::new(child, format!("`{key}` must be an array")));
                };
                let converted = members
                    .iter()
                    .enumerate()
                    .map(|(index, member)| {
                        convert(&format!("{child}/{index}"), member, known, dialect)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert(key.clone(), Value::Array(converted));
            }
            _ if key.starts_with("x-") => {}
            _ => {
                out.insert(key.clone(), item.clone());
            }
        }
    }

    // OpenAPI 3.0 writes exclusive bounds as booleans next to the bound.
    for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        if object.get(flag) == Some(&Value::Bool(true)) {
            let value = out.remove(bound).ok_or_else(|| {
                GenError::new(format!("{pointer}/{flag}"), format!("`{flag}` without `{bound}`"))
            })?;
            out.insert(flag.to_string(), value);
        }
    }

    if object.get("nullable") == Some(&Value::Bool(true)) {
        match out.get_mut("type") {
            Some(Value::String(kind)) => {
                let kind = kind.clone();
                out.insert("type".to_string(), Value::Array(vec![kind.into(), "null".into()]));
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    values.push(Value::Null);
                }
            }
            _ => {
                let inner = Value::Object(out);
                let null = serde_json::json!({ "type": "null" });
                out = Map::from_iter([("anyOf".to_string(), Value::Array(vec![inner, null]))]);
            }
        }
    }
    Ok(Value::Object(out))
}

/// `{"not": {}}`: a schema no value satisfies (a forbidden member).
fn is_forbidden(schema: &Value) -> bool {
    *schema == serde_json::json!({ "not": {} })
}

/// `value` (a spec, or any part of one) without its `not` keywords (and
/// without forbidden members, see [`Dialect`]), for
/// progenitor, which hands schemas to typify as they are: the client's types
/// are the server's (see [`Dialect`]; typify would turn a `Properties` map
/// with a forbidden member into a struct with an `extra` map). A member
/// called `not` of a `properties` map is kept, and so are examples, defaults
/// and enum values.
pub fn without_not(value: &Value) -> Value {
    fn strip(value: &Value, is_properties_map: bool) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(key, child)| {
                        if is_properties_map {
                            !is_forbidden(child)
                        } else {
                            key.as_str() != "not"
                                && !(key.as_str() == "properties"
                                    && child.as_object().is_some_and(|members| {
                                        !members.is_empty() && members.values().all(is_forbidden)
                                    }))
                        }
                    })
                    .map(|(key, child)| {
                        let child = match key.as_str() {
                            _ if is_properties_map => strip(child, false),
                            "example" | "examples" | "default" | "enum" => child.clone(),
                            "properties" => strip(child, true),
                            _ => strip(child, false),
                        };
                        (key.clone(), child)
                    })
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|item| strip(item, false)).collect())
            }
            other => other.clone(),
        }
    }
    strip(value, false)
}

/// The component schemas without the `title`s typify (or progenitor) would
/// turn into type names that collide: a title naming a component schema (in
/// any case; a `nullable` component's inner type is named after its title) or
/// used twice. Titles only name types; the published schemas keep them.
pub fn without_colliding_titles(schemas: &[(String, Value)]) -> Vec<(String, Value)> {
    use heck::ToUpperCamelCase;
    fn count(value: &Value, counts: &mut std::collections::BTreeMap<String, usize>) {
        match value {
            Value::Object(map) => {
                if let Some(title) = map.get("title").and_then(Value::as_str) {
                    *counts.entry(title.to_upper_camel_case()).or_default() += 1;
                }
                for (key, child) in map {
                    // `properties` maps names to schemas: a property called `title` is not a title.
                    if key != "title" || !child.is_string() {
                        count(child, counts);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| count(item, counts)),
            _ => {}
        }
    }
    fn strip(value: &mut Value, colliding: &BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                let collides = map
                    .get("title")
                    .and_then(Value::as_str)
                    .is_some_and(|title| colliding.contains(&title.to_upper_camel_case()));
                if collides {
                    map.remove("title");
                }
                for (key, child) in map.iter_mut() {
                    if key != "title" || !child.is_string() {
                        strip(child, colliding);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| strip(item, colliding)),
            _ => {}
        }
    }
    let mut counts = std::collections::BTreeMap::new();
    for (name, value) in schemas {
        *counts.entry(name.to_upper_camel_case()).or_default() += 1;
        count(value, &mut counts);
    }
    let colliding: BTreeSet<String> =
        counts.into_iter().filter(|(_, n)| *n > 1).map(|(title, _)| title).collect();
    schemas
        .iter()
        .map(|(name, value)| {
            let mut value = value.clone();
            strip(&mut value, &colliding);
            (name.clone(), value)
        })
        .collect()
}

/// Type names generated code (typify's, schemars' derive, progenitor's)
/// uses without a path: a component schema with one of these names gets a
/// Rust type named differently (its published schema keeps the name).
const RESERVED_TYPE_NAMES: &[&str] = &[
    "Box",
    "Clone",
    "Copy",
    "Debug",
    "Default",
    "Deserialize",
    "Display",
    "Drop",
    "Eq",
    "Err",
    "Error",
    "Extend",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "FromStr",
    "Hash",
    "Into",
    "IntoIterator",
    "Iterator",
    "JsonSchema",
    "None",
    "Ok",
    "Option",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Result",
    "Self",
    "Send",
    "Serialize",
    "Sized",
    "Some",
    "String",
    "Sync",
    "ToOwned",
    "ToString",
    "TryFrom",
    "TryInto",
    "Vec",
];

/// The renames (typify's type name -> the name used instead) that keep
/// component schemas' types off [`RESERVED_TYPE_NAMES`]: `String` becomes
/// `StringSchema` (or `StringSchema2`, ... when that is taken too). `Error`
/// is reserved only where typify's name is not already the error type's.
pub fn reserved_renames<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<(String, String)> {
    let type_name = |name: &str| -> String {
        use heck::ToPascalCase;
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "-").to_pascal_case()
    };
    let names: Vec<String> = names.into_iter().map(|name| type_name(name)).collect();
    let taken: BTreeSet<&String> = names.iter().collect();
    let mut renames = Vec::new();
    for name in &names {
        if name == "Error" || !RESERVED_TYPE_NAMES.contains(&name.as_str()) {
            continue;
        }
        let mut candidate = format!("{name}Schema");
        let mut n = 2;
        while taken.contains(&candidate) {
            candidate = format!("{name}Schema{n}");
            n += 1;
        }
        renames.push((name.clone(), candidate));
    }
    renames
}

/// Checks that `reference` names an existing component schema.
pub fn check_schema_ref(
    pointer: &str,
    reference: &str,
    known: &BTreeSet<String>,
) -> Result<String, GenError> {
    let name = reference.strip_prefix(SCHEMA_REF_PREFIX).ok_or_else(|| {
        GenError::new(
            pointer,
            format!(
                "`$ref` to `{reference}`: only references to {SCHEMA_REF_PREFIX}... are supported"
            ),
        )
    })?;
    if name.contains('/') || !known.contains(name) {
        return Err(GenError::new(
            pointer,
            format!("`$ref` to `{reference}`, which does not exist"),
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> BTreeSet<String> {
        ["Thing".to_string()].into()
    }

    fn convert(pointer: &str, value: &Value, known: &BTreeSet<String>) -> Result<Value, GenError> {
        super::convert(pointer, value, known, Dialect::Types)
    }

    fn convert_ok(value: Value) -> Value {
        convert("#/x", &value, &known()).unwrap()
    }

    #[test]
    fn nullable_scalar_gets_a_null_type() {
        assert_eq!(
            convert_ok(json!({"type": "string", "nullable": true})),
            json!({"type": ["string", "null"]})
        );
    }

    #[test]
    fn nullable_reference_becomes_any_of() {
        assert_eq!(
            convert_ok(
                json!({"allOf": [{"$ref": "#/components/schemas/Thing"}], "nullable": true})
            ),
            json!({"anyOf": [{"allOf": [{"$ref": "#/components/schemas/Thing"}]}, {"type": "null"}]})
        );
    }

    #[test]
    fn published_schemas_say_nullable_instead_of_a_null_type() {
        let published = |value: Value| {
            serde_json::to_value(to_published_schema("#/x", &value, &known()).unwrap()).unwrap()
        };
        assert_eq!(
            published(json!({"type": "object", "properties": {
                "a": {"type": "integer", "nullable": true},
                "b": {"allOf": [{"$ref": "#/components/schemas/Thing"}], "nullable": true}
            }})),
            json!({"type": "object", "properties": {
                "a": {"type": "integer", "nullable": true},
                "b": {"allOf": [{"$ref": "#/components/schemas/Thing"}], "nullable": true}
            }})
        );
    }

    #[test]
    fn boolean_exclusive_bounds_become_numbers() {
        assert_eq!(
            convert_ok(json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true})),
            json!({"type": "integer", "exclusiveMinimum": 0})
        );
    }

    #[test]
    fn openapi_only_keywords_are_dropped() {
        assert_eq!(
            convert_ok(json!({"type": "string", "example": "x", "x-foo": 1})),
            json!({"type": "string"})
        );
    }

    #[test]
    fn dangling_reference_is_an_error_at_its_pointer() {
        let error = convert(
            "#/components/schemas/A",
            &json!({"type": "object", "properties": {"b": {"$ref": "#/components/schemas/Nope"}}}),
            &known(),
        )
        .unwrap_err();
        assert_eq!(error.pointer, "#/components/schemas/A/properties/b");
        assert!(error.message.contains("does not exist"), "{error}");
    }

    #[test]
    fn external_reference_is_an_error() {
        let error = convert("#/p", &json!({"$ref": "other.json#/Thing"}), &known()).unwrap_err();
        assert!(error.message.contains("only references to"), "{error}");
    }

    #[test]
    fn not_is_published_and_left_out_of_the_types() {
        let schema = json!({
            "type": "object",
            "additionalProperties": {"type": "string"},
            "properties": {"": {"not": {}}},
            "not": {"type": "object", "required": ["x"], "example": {"x": "x"}}
        });
        assert_eq!(
            convert_ok(schema.clone()),
            json!({"type": "object", "additionalProperties": {"type": "string"}})
        );
        let published =
            serde_json::to_value(to_published_schema("#/x", &schema, &known()).unwrap()).unwrap();
        assert_eq!(
            published,
            json!({
                "type": "object",
                "additionalProperties": {"type": "string"},
                "properties": {"": {"not": {}}},
                "not": {"type": "object", "required": ["x"]}
            })
        );
    }

    #[test]
    fn the_client_view_loses_not_but_not_a_property_called_not() {
        let spec = json!({"components": {"schemas": {"A": {
            "type": "object",
            "properties": {"not": {"type": "string", "not": {"enum": ["x"]}}, "": {"not": {}}},
            "not": {"required": ["not"]},
            "example": {"not": 1}
        }, "B": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "properties": {"": {"not": {}}}
        }}}});
        assert_eq!(
            without_not(&spec),
            json!({"components": {"schemas": {"A": {
                "type": "object",
                "properties": {"not": {"type": "string"}},
                "example": {"not": 1}
            }, "B": {
                "type": "object",
                "additionalProperties": {"type": "string"}
            }}}})
        );
    }

    #[test]
    fn an_error_inside_not_is_still_found() {
        let error = convert(
            "#/p",
            &json!({"type": "object", "not": {"$ref": "#/components/schemas/Nope"}}),
            &known(),
        )
        .unwrap_err();
        assert_eq!(error.pointer, "#/p/not");
    }

    #[test]
    fn if_keyword_is_an_error() {
        let error = convert("#/p", &json!({"if": {"type": "string"}}), &known()).unwrap_err();
        assert_eq!(error.to_string(), "#/p/if: the `if` keyword is not supported");
    }
}
