//! What the API crates `cargo xtask generate` writes call at run time: the
//! spec-independent half of their request handling, written, compiled and
//! tested once here instead of being pasted into every generated file (as
//! progenitor's clients call `progenitor-client`).
//!
//! - [`read_body`]: a request body, bounded by a byte limit however it is framed;
//! - [`check_json_request_headers`]: the framing and typing headers of a JSON body;
//! - [`parse_json_body`]: a strict JSON reader (one document, structs only from
//!   objects, no repeated keys, errors naming the JSON path);
//! - [`parse_query_value`], [`deserialize_query_value`]: one query value;
//! - [`serialize_header_value`]: a response header value as text;
//! - [`deserialize_non_null`]: an optional property that refuses `null`.
//!
//! - [`ApiError`], generic over the [`ErrorSchema`] it publishes (the
//!   generated crate names its spec's error schema with a marker type;
//!   [`DropshotError`] is dropshot's own, written as `request_id`,
//!   `error_code` and `message` without the handler building the body);
//! - [`Reply`]: a success or an error, each with its headers, or a streamed response;
//! - the extractors [`Deferred`], [`DeferredBody`], [`JsonBody`] and
//!   [`OptionalJsonBody`], whose failures go to the handler.
//!
//! The functions return a 400's message as text; the extractors turn it into
//! an [`ApiError`]. The crate knows nothing about any API.

mod error;
mod extract;
mod reply;

pub use error::{ApiError, DropshotError, ErrorSchema, ErrorShape};
pub use extract::{Deferred, DeferredBody, JsonBody, OptionalJsonBody};
pub use reply::Reply;

/// Reads a request body into memory, refusing it (400) as soon as more than
/// `max_bytes` have arrived, whatever the framing: a chunked body is counted
/// as its chunks arrive, like one with a `Content-Length`.
pub async fn read_body(mut body: ::dropshot::Body, max_bytes: usize) -> Result<Vec<u8>, String> {
    use ::hyper::body::Body as _;
    let too_large =
        || bad_request_error(format!("request body exceeds the limit of {max_bytes} bytes"));
    // A declared length over the limit is refused before anything is read.
    if body.size_hint().lower() > max_bytes as u64 {
        return Err(too_large());
    }
    let capacity = body.size_hint().exact().map_or(0, |exact| exact as usize);
    let mut bytes = Vec::with_capacity(capacity);
    loop {
        let frame =
            ::std::future::poll_fn(|cx| ::std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|error| {
            bad_request_error(format!("error reading the request body: {error}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// A 400's message as is (the generated crate turns it into its error type).
fn bad_request_error(message: String) -> String {
    message
}

/// The headers that frame and type a JSON body. hyper reads a body sent with
/// both `Transfer-Encoding` and `Content-Length` by the former, and ignores
/// transfer codings other than `chunked`; both are refused here (RFC 9112
/// §6.1: such a message "ought to be handled as an error", a proxy in front
/// may have framed it differently). And a JSON body must say so: exactly one
/// `Content-Type` header whose media type is `application/json` (any
/// parameters, case-insensitive). dropshot alone would also take a missing
/// header and any `application/*+json` type, such as
/// `application/merge-patch+json`, whose meaning (a patch) differs from the
/// operation's.
pub fn check_json_request_headers(headers: &::http::HeaderMap) -> Result<(), String> {
    let mut codings = headers.get_all(::http::header::TRANSFER_ENCODING).iter();
    if let Some(coding) = codings.next() {
        if headers.contains_key(::http::header::CONTENT_LENGTH) {
            return Err(bad_request_error(
                "both Transfer-Encoding and Content-Length headers".to_string(),
            ));
        }
        let chunked_only = codings.next().is_none()
            && coding.to_str().is_ok_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        if !chunked_only {
            return Err(bad_request_error(
                "unsupported Transfer-Encoding (only chunked is accepted)".to_string(),
            ));
        }
    }
    let mut values = headers.get_all(::http::header::CONTENT_TYPE).iter();
    let value = values.next().ok_or_else(|| {
        bad_request_error("missing Content-Type header (expected application/json)".to_string())
    })?;
    if values.next().is_some() {
        return Err(bad_request_error("more than one Content-Type header".to_string()));
    }
    let value = value.to_str().map_err(|_| {
        bad_request_error("the Content-Type header is not visible ASCII text".to_string())
    })?;
    let media_type = value.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case(::dropshot::CONTENT_TYPE_JSON) {
        return Err(bad_request_error(format!(
            "unsupported Content-Type `{}` (expected application/json)",
            value.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}

/// Parses a JSON request body strictly: one JSON document and nothing after
/// it, objects where the schema has objects (serde would also take a struct
/// from an array, field by position), no object with the same key twice (at
/// any depth; the last one would otherwise win silently). Errors name the
/// path of the offending value (`properties.foo: ...`).
pub fn parse_json_body<T: ::serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let failed = |path: &strict_json::Path, error: ::serde_json::Error| {
        let path = path.to_string();
        // `?` alone: the error is in a key of the top-level object.
        if path.is_empty() || path == "?" {
            bad_request_error(format!("unable to parse JSON body: {error}"))
        } else {
            bad_request_error(format!("unable to parse JSON body: {path}: {error}"))
        }
    };
    let path = strict_json::Path::default();
    let mut json = ::serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(strict_json::Strict::new(&mut json, &path))
        .map_err(|error| failed(&path, error))?;
    json.end().map_err(|error| failed(&strict_json::Path::default(), error))?;
    Ok(value)
}

/// The deserializer wrapper behind [`parse_json_body`]: forwards everything
/// to the wrapped deserializer except that structs are read only from maps,
/// map keys are checked for duplicates, and the path to the current value is
/// tracked for error messages.
mod strict_json {
    use ::serde::de::{
        self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess,
        Visitor,
    };
    use ::std::cell::RefCell;
    use ::std::collections::BTreeSet;
    use ::std::fmt;
    use ::std::rc::Rc;

    /// Where the value being read is (left at the failing value on error).
    #[derive(Default)]
    pub struct Path(RefCell<Vec<Segment>>);

    enum Segment {
        Key(String),
        Index(usize),
        /// A map key that could not be read.
        Unknown,
    }

    impl fmt::Display for Path {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for (i, segment) in self.0.borrow().iter().enumerate() {
                match segment {
                    Segment::Index(index) => write!(f, "[{index}]")?,
                    Segment::Key(key) if i == 0 => f.write_str(key)?,
                    Segment::Key(key) => write!(f, ".{key}")?,
                    Segment::Unknown if i == 0 => f.write_str("?")?,
                    Segment::Unknown => f.write_str(".?")?,
                }
            }
            Ok(())
        }
    }

    /// Receives the text of a map key as it is read.
    type KeySlot = Rc<RefCell<Option<String>>>;

    pub struct Strict<'p, D> {
        inner: D,
        path: &'p Path,
        key: Option<KeySlot>,
    }

    impl<'p, D> Strict<'p, D> {
        pub fn new(inner: D, path: &'p Path) -> Self {
            Strict { inner, path, key: None }
        }
    }

    struct Wrap<'p, X> {
        inner: X,
        path: &'p Path,
        key: Option<KeySlot>,
    }

    impl<'p, X> Wrap<'p, X> {
        fn new(inner: X, path: &'p Path) -> Self {
            Wrap { inner, path, key: None }
        }
    }

    macro_rules! forward_deserialize {
        ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                let visitor = Wrap { inner: visitor, path: self.path, key: self.key };
                self.inner.$method($($arg,)* visitor)
            }
        )*};
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<'_, D> {
        type Error = D::Error;

        forward_deserialize! {
            deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16();
            deserialize_i32(); deserialize_i64(); deserialize_i128(); deserialize_u8();
            deserialize_u16(); deserialize_u32(); deserialize_u64(); deserialize_u128();
            deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
            deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
            deserialize_option(); deserialize_unit();
            deserialize_unit_struct(name: &'static str);
            deserialize_newtype_struct(name: &'static str);
            deserialize_seq(); deserialize_tuple(len: usize);
            deserialize_tuple_struct(name: &'static str, len: usize);
            deserialize_map();
            deserialize_enum(name: &'static str, variants: &'static [&'static str]);
            deserialize_identifier(); deserialize_ignored_any();
        }

        /// A struct only from an object.
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.inner.deserialize_map(Wrap { inner: visitor, path: self.path, key: self.key })
        }

        fn is_human_readable(&self) -> bool {
            self.inner.is_human_readable()
        }
    }

    macro_rules! forward_visit {
        ($($method:ident($ty:ty);)*) => {$(
            fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
                self.inner.$method(value)
            }
        )*};
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
        type Value = V::Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.expecting(f)
        }

        forward_visit! {
            visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64);
            visit_i128(i128); visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64);
            visit_u128(u128); visit_f32(f32); visit_f64(f64); visit_char(char);
            visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<V::Value, E> {
            if let Some(slot) = &self.key {
                *slot.borrow_mut() = Some(value.to_owned());
            }
            self.inner.visit_str(value)
        }

        fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<V::Value, E> {
            if let Some(slot) = &self.key {
                *slot.borrow_mut() = Some(value.to_owned());
            }
            self.inner.visit_borrowed_str(value)
        }

        fn visit_string<E: de::Error>(self, value: String) -> Result<V::Value, E> {
            if let Some(slot) = &self.key {
                *slot.borrow_mut() = Some(value.clone());
            }
            self.inner.visit_string(value)
        }

        fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
            self.inner.visit_some(Strict { inner: deserializer, path: self.path, key: self.key })
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<V::Value, D::Error> {
            self.inner.visit_newtype_struct(Strict {
                inner: deserializer,
                path: self.path,
                key: self.key,
            })
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
            self.inner.visit_seq(Items { inner: seq, path: self.path, index: 0 })
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
            self.inner.visit_map(Entries {
                inner: map,
                path: self.path,
                seen: BTreeSet::new(),
                slot: Rc::default(),
            })
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
            self.inner.visit_enum(Wrap::new(data, self.path))
        }
    }

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrap<'_, S> {
        type Value = S::Value;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
            self.inner.deserialize(Strict { inner: deserializer, path: self.path, key: self.key })
        }
    }

    struct Items<'p, A> {
        inner: A,
        path: &'p Path,
        index: usize,
    }

    impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Items<'_, A> {
        type Error = A::Error;

        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, A::Error> {
            self.path.0.borrow_mut().push(Segment::Index(self.index));
            let element = self.inner.next_element_seed(Wrap::new(seed, self.path))?;
            self.path.0.borrow_mut().pop();
            self.index += 1;
            Ok(element)
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint()
        }
    }

    struct Entries<'p, A> {
        inner: A,
        path: &'p Path,
        seen: BTreeSet<String>,
        slot: KeySlot,
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Entries<'_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            self.path.0.borrow_mut().push(Segment::Unknown);
            let seed = Wrap { inner: seed, path: self.path, key: Some(self.slot.clone()) };
            let key = self.inner.next_key_seed(seed)?;
            self.path.0.borrow_mut().pop();
            if let Some(text) = self.slot.borrow_mut().take() {
                if !self.seen.insert(text.clone()) {
                    self.path.0.borrow_mut().push(Segment::Key(text.clone()));
                    return Err(de::Error::custom(format!("duplicate key `{text}`")));
                }
                self.path.0.borrow_mut().push(Segment::Key(text));
            } else if key.is_some() {
                self.path.0.borrow_mut().push(Segment::Unknown);
            }
            Ok(key)
        }

        fn next_value_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<S::Value, A::Error> {
            let value = self.inner.next_value_seed(Wrap::new(seed, self.path))?;
            self.path.0.borrow_mut().pop();
            Ok(value)
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint()
        }
    }

    impl<'de, 'p, A: EnumAccess<'de>> EnumAccess<'de> for Wrap<'p, A> {
        type Error = A::Error;
        type Variant = Wrap<'p, A::Variant>;

        fn variant_seed<S: DeserializeSeed<'de>>(
            self,
            seed: S,
        ) -> Result<(S::Value, Self::Variant), A::Error> {
            let (value, variant) = self.inner.variant_seed(Wrap::new(seed, self.path))?;
            Ok((value, Wrap::new(variant, self.path)))
        }
    }

    impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Wrap<'_, A> {
        type Error = A::Error;

        fn unit_variant(self) -> Result<(), A::Error> {
            self.inner.unit_variant()
        }

        fn newtype_variant_seed<S: DeserializeSeed<'de>>(
            self,
            seed: S,
        ) -> Result<S::Value, A::Error> {
            self.inner.newtype_variant_seed(Wrap::new(seed, self.path))
        }

        fn tuple_variant<V: Visitor<'de>>(
            self,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            self.inner.tuple_variant(len, Wrap::new(visitor, self.path))
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            self.inner.struct_variant(fields, Wrap::new(visitor, self.path))
        }
    }
}

/// Reads an optional property that is not `nullable` in the spec: the value
/// itself, so that `null` is an error (serde would read it as absent). Used
/// by `#[serde(deserialize_with)]` on such fields of the model types.
pub fn deserialize_non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: ::serde::Deserializer<'de>,
    T: ::serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Parses one query-string value of a parameter whose type is not a string.
pub fn parse_query_value<T: ::std::str::FromStr>(name: &str, value: &str) -> Result<T, String>
where
    T::Err: ::std::fmt::Display,
{
    value.parse::<T>().map_err(|error| format!("query parameter `{name}`: {error}"))
}

/// Parses one query-string value of a parameter whose type is generated
/// (enums, newtypes): as a string, or else, for types that hold a number or a
/// boolean (a `$ref` to an integer schema, an integer enum), as that JSON value.
pub fn deserialize_query_value<T: ::serde::de::DeserializeOwned>(
    name: &str,
    value: &str,
) -> Result<T, String> {
    use ::serde::de::IntoDeserializer;
    let deserializer: ::serde::de::value::StrDeserializer<'_, ::serde::de::value::Error> =
        value.into_deserializer();
    T::deserialize(deserializer)
        .or_else(|error| match ::serde_json::from_str::<::serde_json::Value>(value) {
            Ok(scalar @ (::serde_json::Value::Number(_) | ::serde_json::Value::Bool(_))) => {
                T::deserialize(scalar).map_err(|_| error)
            }
            _ => Err(error),
        })
        .map_err(|error| format!("query parameter `{name}`: {error}"))
}

/// Serializes a response header value that is not a `String` (integers,
/// numbers, booleans, enums, newtypes) as the text dropshot requires: dropshot
/// serializes response headers with a serializer that accepts only strings.
pub fn serialize_header_value<T: ::serde::Serialize, S: ::serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match ::serde_json::to_value(value).map_err(::serde::ser::Error::custom)? {
        ::serde_json::Value::Null => serializer.serialize_none(),
        ::serde_json::Value::String(text) => serializer.serialize_str(&text),
        other => serializer.serialize_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Thing {
        name: String,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default, deserialize_with = "deserialize_non_null")]
        note: Option<String>,
    }

    #[test]
    fn json_bodies_are_read_strictly_and_errors_name_the_path() {
        let ok: Thing = parse_json_body(br#"{"name":"a","labels":{"x":"1"}}"#).unwrap();
        assert_eq!(ok.name, "a");
        for (body, needle) in [
            (&br#"{"name":"a"} {}"#[..], "trailing characters"),
            (br#"["a"]"#, "expected struct Thing"),
            (br#"{"name":"a","name":"b"}"#, "name: duplicate key `name`"),
            (br#"{"name":"a","labels":{"x":"1","x":"2"}}"#, "labels.x: duplicate key `x`"),
            (br#"{"name":"a","labels":{"x":7}}"#, "labels.x: invalid type"),
            (br#"{"name":"a","note":null}"#, "note: invalid type: null"),
        ] {
            let error = parse_json_body::<Thing>(body).unwrap_err();
            assert!(error.contains(needle), "{}: {error}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_json_body_needs_one_json_content_type_and_sane_framing() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = http::HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, http::HeaderValue::from_static(value));
            }
            map
        };
        assert_eq!(
            check_json_request_headers(&headers(&[(
                "content-type",
                "application/json; charset=utf-8"
            )])),
            Ok(())
        );
        for (pairs, needle) in [
            (&[][..], "missing Content-Type"),
            (&[("content-type", "application/merge-patch+json")], "unsupported Content-Type"),
            (
                &[("content-type", "application/json"), ("content-type", "application/json")],
                "more than one",
            ),
            (
                &[("content-type", "application/json"), ("transfer-encoding", "gzip")],
                "unsupported Transfer-Encoding",
            ),
            (
                &[
                    ("content-type", "application/json"),
                    ("transfer-encoding", "chunked"),
                    ("content-length", "3"),
                ],
                "both Transfer-Encoding and Content-Length",
            ),
        ] {
            let error = check_json_request_headers(&headers(pairs)).unwrap_err();
            assert!(error.contains(needle), "{pairs:?}: {error}");
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused() {
        let body = read_body(dropshot::Body::from("12345"), 5).await.unwrap();
        assert_eq!(body, b"12345");
        let error = read_body(dropshot::Body::from("123456"), 5).await.unwrap_err();
        assert!(error.contains("exceeds the limit of 5 bytes"), "{error}");
    }

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    #[serde(transparent)]
    struct Level(i64);

    #[test]
    fn query_and_header_values() {
        assert_eq!(parse_query_value::<i32>("n", "42"), Ok(42));
        assert!(parse_query_value::<i32>("n", "x").unwrap_err().starts_with("query parameter `n`"));
        assert_eq!(deserialize_query_value::<Level>("level", "7"), Ok(Level(7)));
        assert_eq!(deserialize_query_value::<String>("s", "7"), Ok("7".to_string()));
        #[derive(Serialize)]
        struct Headers {
            #[serde(serialize_with = "serialize_header_value")]
            count: i64,
        }
        let value = serde_json::to_value(Headers { count: 3 }).unwrap();
        assert_eq!(value, serde_json::json!({ "count": "3" }));
    }
}
