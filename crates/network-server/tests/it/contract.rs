//! The contract states what the server sends and accepts: for every operation
//! and every status a test can provoke, the response headers the server sent
//! are exactly the ones the spec documents for that operation and status
//! (every required one present, none undocumented), and the largest body the
//! schemas allow is accepted.

use std::collections::BTreeSet;

use network_server::ratelimit::RateLimitConfig;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

/// Headers of the transport and of the representation, which OpenAPI does not
/// describe per response: framing, dates, connection management, content
/// negotiation (dropshot adds `Vary: Accept-Encoding`, gzip when asked).
const TRANSPORT: [&str; 7] = [
    "content-length",
    "content-type",
    "date",
    "connection",
    "transfer-encoding",
    "vary",
    "content-encoding",
];

fn spec() -> Value {
    serde_json::from_str(include_str!("../../../../openapi/network.json")).expect("spec is JSON")
}

fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => spec
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{reference} resolves")),
        None => value,
    }
}

/// The (documented, required) response header names, lower-cased, of an operation's status.
fn documented(
    spec: &Value,
    path: &str,
    method: &str,
    status: u16,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let operation = &spec["paths"][path][method];
    let response = operation["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{method} {path} documents {status}"));
    let response = resolve(spec, response);
    let mut all = BTreeSet::new();
    let mut required = BTreeSet::new();
    for (name, header) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
        let header = resolve(spec, header);
        all.insert(name.to_ascii_lowercase());
        if header.get("required").and_then(Value::as_bool) == Some(true) {
            required.insert(name.to_ascii_lowercase());
        }
    }
    (all, required)
}

struct Case {
    what: &'static str,
    method: Method,
    target: String,
    token: Option<String>,
    tenant: Option<&'static str>,
    if_match: Option<&'static str>,
    body: Option<String>,
    status: u16,
}

fn case(what: &'static str, method: Method, target: String, status: u16) -> Case {
    Case {
        what,
        method,
        target,
        token: Some(admin_token()),
        tenant: Some(TENANT),
        if_match: None,
        body: None,
        status,
    }
}

async fn check(
    app: &TestApp,
    spec: &Value,
    spec_path: &str,
    case: Case,
    problems: &mut Vec<String>,
) {
    let mut request = reqwest::Client::new().request(case.method.clone(), app.url(&case.target));
    if let Some(token) = &case.token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if let Some(tenant) = case.tenant {
        request = request.header("X-Servitly-Tenant", tenant);
    }
    if let Some(if_match) = case.if_match {
        request = request.header("If-Match", if_match);
    }
    if let Some(body) = &case.body {
        request = request.header("Content-Type", "application/json").body(body.clone());
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let label = format!("{} {} ({}): {status}", case.method, spec_path, case.what);
    if status != case.status {
        problems.push(format!("{label}: expected status {}", case.status));
        return;
    }
    let sent: BTreeSet<String> = response
        .headers()
        .keys()
        .map(|name| name.as_str().to_string())
        .filter(|name| !TRANSPORT.contains(&name.as_str()))
        .collect();
    let (all, required) =
        documented(spec, spec_path, &case.method.as_str().to_ascii_lowercase(), status);
    for name in sent.difference(&all) {
        problems.push(format!("{label}: sends `{name}`, which the spec does not document there"));
    }
    for name in required.difference(&sent) {
        problems
            .push(format!("{label}: the spec requires `{name}`, which the server did not send"));
    }
}

const ONE: &str = "/network/customers/{customerId}";
const MANY: &str = "/network/customers";
const LIST: &str = "/v2/network/customers";

#[tokio::test]
async fn every_response_header_is_documented_and_every_required_one_sent() {
    let spec = spec();
    let app = spawn_app().await;
    let mut problems = Vec::new();
    let id = app.create("Headers Inc.").await;
    let one = format!("/network/customers/{id}");
    let missing = "/network/customers/no-such-customer".to_string();
    let too_long = format!("/network/customers/{}", "x".repeat(129));
    let foreign = mint(&claims(OTHER_TENANT, "intruder", ALL));
    let good = r#"{"name": "Headers Inc."}"#.to_string();
    let bad = r#"{"name": ""}"#.to_string();

    let mut cases = vec![
        Case { body: Some(good.clone()), ..case("created", Method::POST, MANY.into(), 201) },
        Case { body: Some(bad.clone()), ..case("invalid body", Method::POST, MANY.into(), 400) },
        Case {
            token: None,
            body: Some(good.clone()),
            ..case("no token", Method::POST, MANY.into(), 401)
        },
        Case {
            token: Some(foreign.clone()),
            body: Some(good.clone()),
            ..case("other tenant", Method::POST, MANY.into(), 403)
        },
        case("found", Method::GET, one.clone(), 200),
        case("id too long", Method::GET, too_long.clone(), 400),
        Case { token: Some("garbage".into()), ..case("bad token", Method::GET, one.clone(), 401) },
        Case {
            token: Some(foreign.clone()),
            ..case("other tenant", Method::GET, one.clone(), 403)
        },
        case("missing", Method::GET, missing.clone(), 404),
        Case { body: Some(good.clone()), ..case("updated", Method::PUT, one.clone(), 200) },
        Case { body: Some(bad.clone()), ..case("invalid body", Method::PUT, one.clone(), 400) },
        Case {
            token: None,
            body: Some(good.clone()),
            ..case("no token", Method::PUT, one.clone(), 401)
        },
        Case {
            token: Some(foreign.clone()),
            body: Some(good.clone()),
            ..case("other tenant", Method::PUT, one.clone(), 403)
        },
        Case { body: Some(good.clone()), ..case("missing", Method::PUT, missing.clone(), 404) },
        Case {
            if_match: Some("\"999\""),
            body: Some(good.clone()),
            ..case("stale If-Match", Method::PUT, one.clone(), 412)
        },
        case("id too long", Method::DELETE, too_long.clone(), 400),
        Case { token: None, ..case("no token", Method::DELETE, one.clone(), 401) },
        Case {
            token: Some(foreign.clone()),
            ..case("other tenant", Method::DELETE, one.clone(), 403)
        },
        case("missing", Method::DELETE, missing.clone(), 404),
        Case {
            if_match: Some("\"999\""),
            ..case("stale If-Match", Method::DELETE, one.clone(), 412)
        },
        case("deleted", Method::DELETE, one.clone(), 204),
        case("a page", Method::GET, format!("{LIST}?sort=name,ASC&searchText=head*"), 200),
        case("size 0", Method::GET, format!("{LIST}?size=0"), 400),
        Case { token: None, ..case("no token", Method::GET, LIST.into(), 401) },
        Case {
            token: Some(foreign.clone()),
            ..case("other tenant", Method::GET, LIST.into(), 403)
        },
    ];
    for case in cases.drain(..) {
        let spec_path = spec_path_of(&case.target);
        check(&app, &spec, spec_path, case, &mut problems).await;
    }
    app.stop().await;

    // 429: one request a minute per subject; the second is refused.
    let limited = spawn_app_tuned(|settings| {
        settings.rate = RateLimitConfig { subject_per_minute: 1, ..relaxed_rate() }
    })
    .await;
    let targets = [
        (Method::POST, MANY.to_string(), Some(good.clone())),
        (Method::GET, "/network/customers/x".to_string(), None),
        (Method::PUT, "/network/customers/x".to_string(), Some(good.clone())),
        (Method::DELETE, "/network/customers/x".to_string(), None),
        (Method::GET, LIST.to_string(), None),
    ];
    for (n, (method, target, body)) in targets.into_iter().enumerate() {
        let token = mint(&claims(TENANT, &format!("limited-{n}"), ALL));
        let first =
            raw(method.clone(), &limited.url(&target), Some(&token), Some(TENANT), body.as_deref())
                .await;
        assert_ne!(
            first.status().as_u16(),
            429,
            "{method} {target}: the first request is admitted"
        );
        let spec_path = spec_path_of(&target);
        let limited_case =
            Case { token: Some(token), body, ..case("rate limited", method, target.clone(), 429) };
        check(&limited, &spec, spec_path, limited_case, &mut problems).await;
    }
    limited.stop().await;
    assert!(problems.is_empty(), "headers differ from the spec:\n{}", problems.join("\n"));
}

fn spec_path_of(target: &str) -> &'static str {
    let path = target.split('?').next().unwrap_or(target);
    if path == MANY {
        MANY
    } else if path == LIST {
        LIST
    } else {
        ONE
    }
}

/// A JSON string of `text` with every character escaped as the longest JSON
/// allows: `\uXXXX`, a surrogate pair (12 bytes) for characters beyond the BMP.
fn escaped(text: &str) -> String {
    let mut out = String::from("\"");
    for unit in text.encode_utf16() {
        out.push_str(&format!("\\u{unit:04x}"));
    }
    out.push('"');
    out
}

/// The largest body the schemas allow (a `Customer` sent back whole, every
/// character of every string escaped, keys too) is accepted, within the
/// contract's body limit; one byte more than the limit is refused.
#[tokio::test]
async fn the_largest_schema_valid_body_is_accepted() {
    let spec = spec();
    let limit = spec["paths"][ONE]["put"]["requestBody"]["x-request-body-max-bytes"]
        .as_u64()
        .expect("the spec states the body limit") as usize;
    assert_eq!(limit, network_server::server::CONTRACT_BODY_LIMIT, "spec and server agree");
    let app = spawn_app_tuned(|settings| {
        settings.body_limit = network_server::server::CONTRACT_BODY_LIMIT
    })
    .await;
    let id = app.create("Largest").await;
    let emoji = |n: u32| char::from_u32(0x1F600 + n % 64).expect("an emoji");
    let mut members = vec![
        (escaped("id"), escaped(&"😀".repeat(128))),
        (escaped("name"), escaped(&"😀".repeat(255))),
        (escaped("country"), escaped("IT")),
        (escaped("timezone"), escaped("America/Argentina/ComodRivadavia")),
    ];
    let properties: Vec<String> = (0..200u32)
        .map(|i| {
            let key: String = [emoji(i), emoji(i / 64)]
                .into_iter()
                .chain(std::iter::repeat_n('😀', 126))
                .collect();
            format!("{}:{}", escaped(&key), escaped(&"😀".repeat(4096)))
        })
        .collect();
    members.push((escaped("properties"), format!("{{{}}}", properties.join(","))));
    for field in ["creationTimestamp", "firstAccessTimestamp", "lastAccessTimestamp"] {
        members.push((escaped(field), i64::MIN.to_string()));
    }
    let body = format!(
        "{{{}}}",
        members.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",")
    );
    assert_eq!(body.len(), 10_144_224, "the worst case the spec's description computes");
    assert!(body.len() <= limit);
    let url = app.url(&format!("/network/customers/{id}"));
    let token = admin_token();
    let response = raw(Method::PUT, &url, Some(&token), Some(TENANT), Some(&body)).await;
    assert_eq!(response.status().as_u16(), 200, "{:?}", response.text().await);

    let over = format!("{{\"name\":\"a\",\"pad\":\"{}\"}}", "a".repeat(limit));
    let (status, message, _) =
        error_of(raw(Method::PUT, &url, Some(&token), Some(TENANT), Some(&over)).await).await;
    assert_eq!(status, 400, "{message}");
    app.stop().await;
}

/// Every GET route answers HEAD (RFC 9110 §9.3.2) with the GET's status and
/// header names, and no body; the vendored dropshot's router falls back to
/// the GET handler (vendor/README.md).
#[tokio::test]
async fn head_answers_every_get_route_like_get_without_a_body() {
    let app = spawn_app().await;
    let id = app.create("Head Inc.").await;
    let token = admin_token();
    let targets = [
        (format!("/network/customers/{id}"), Some(token.as_str())),
        ("/network/customers/no-such-customer".to_string(), Some(token.as_str())),
        (format!("/network/customers/{id}"), None),
        ("/v2/network/customers?sort=name,ASC".to_string(), Some(token.as_str())),
        ("/healthz".to_string(), None),
        ("/readyz".to_string(), None),
        ("/metrics".to_string(), None),
        ("/openapi.json".to_string(), None),
        ("/docs".to_string(), None),
    ];
    let names = |response: &reqwest::Response| -> BTreeSet<String> {
        response
            .headers()
            .keys()
            .map(|name| name.as_str().to_string())
            // A streamed page (the list) is framed with `Transfer-Encoding:
            // chunked`, which a HEAD response leaves out (RFC 9110 §9.3.2: a
            // field whose value is determined only while generating the content).
            .filter(|name| name != "date" && name != "transfer-encoding")
            .collect()
    };
    for (target, token) in targets {
        let get = raw(Method::GET, &app.url(&target), token, Some(TENANT), None).await;
        let head = raw(Method::HEAD, &app.url(&target), token, Some(TENANT), None).await;
        assert_eq!(head.status(), get.status(), "HEAD {target}");
        assert_eq!(names(&head), names(&get), "HEAD {target}: the GET's headers");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {target}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {target}: no body");
    }
    // A path without GET still refuses HEAD, and a 405 lists HEAD where GET is allowed.
    let head =
        raw(Method::HEAD, &app.url("/network/customers"), Some(&token), Some(TENANT), None).await;
    assert_eq!(head.status(), 405);
    let patch = raw(
        Method::PATCH,
        &app.url(&format!("/network/customers/{id}")),
        Some(&token),
        Some(TENANT),
        None,
    )
    .await;
    assert_eq!(patch.status(), 405);
    let allowed: Vec<&str> =
        patch.headers().get_all("allow").iter().filter_map(|v| v.to_str().ok()).collect();
    assert!(allowed.contains(&"GET") && allowed.contains(&"HEAD"), "{allowed:?}");
    app.stop().await;
}

/// CORS: off by default (no `Access-Control-*` header at all); with an
/// allowed origin, responses to it carry the documented CORS headers and its
/// preflights are answered; other origins get none.
#[tokio::test]
async fn cors_is_off_by_default_and_answers_only_allowed_origins() {
    let spec = spec();
    let token = admin_token();
    let http = reqwest::Client::new();
    let cors_headers = |response: &reqwest::Response| -> Vec<String> {
        response
            .headers()
            .keys()
            .map(|name| name.as_str().to_string())
            .filter(|name| name.starts_with("access-control-"))
            .collect()
    };
    let off = spawn_app().await;
    let id = off.create("Cors Inc.").await;
    let one = format!("/network/customers/{id}");
    let get = http
        .get(off.url(&one))
        .bearer_auth(&token)
        .header("X-Servitly-Tenant", TENANT)
        .header("Origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert!(cors_headers(&get).is_empty(), "off: {:?}", cors_headers(&get));
    assert!(get.headers().get_all("vary").iter().all(|v| v != "Origin"));
    let preflight = http
        .request(Method::OPTIONS, off.url(&one))
        .header("Origin", "http://app.example")
        .header("Access-Control-Request-Method", "PUT")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert!(cors_headers(&preflight).is_empty(), "off: {:?}", cors_headers(&preflight));
    off.stop().await;

    let on =
        spawn_app_tuned(|settings| settings.cors_allow_origins = vec!["http://app.example".into()])
            .await;
    let id = on.create("Cors Inc.").await;
    let one = format!("/network/customers/{id}");
    for (origin, allowed) in [("http://app.example", true), ("http://evil.example", false)] {
        let preflight = http
            .request(Method::OPTIONS, on.url(&one))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "PUT")
            .header(
                "Access-Control-Request-Headers",
                "authorization,x-servitly-tenant,if-match,content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204);
        let header =
            |name: &str| preflight.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        if allowed {
            assert_eq!(header("access-control-allow-origin").as_deref(), Some(origin));
            assert_eq!(
                header("access-control-allow-methods").as_deref(),
                Some("GET, HEAD, PUT, DELETE")
            );
            assert_eq!(
                header("access-control-allow-headers").as_deref(),
                Some("Authorization, X-Servitly-Tenant, If-Match, Content-Type")
            );
        } else {
            assert!(
                cors_headers(&preflight).is_empty(),
                "{origin}: {:?}",
                cors_headers(&preflight)
            );
        }
        for (method, status) in [(Method::GET, 200), (Method::PUT, 200)] {
            let mut request = http
                .request(method.clone(), on.url(&one))
                .bearer_auth(&token)
                .header("X-Servitly-Tenant", TENANT)
                .header("Origin", origin);
            if method == Method::PUT {
                request = request.json(&serde_json::json!({"name": "Cors Inc."}));
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), status);
            let got = response.headers().get("access-control-allow-origin").cloned();
            if allowed {
                assert_eq!(got.unwrap(), origin);
                assert_eq!(
                    response.headers()["access-control-expose-headers"],
                    "ETag, Location, RateLimit, RateLimit-Policy, Retry-After, X-Request-Id"
                );
                let (documented, _) =
                    documented(&spec, ONE, &method.as_str().to_ascii_lowercase(), status);
                for name in cors_headers(&response) {
                    assert!(
                        documented.contains(&name),
                        "{method} {status}: `{name}` is documented"
                    );
                }
            } else {
                assert!(got.is_none(), "{origin}");
            }
            assert!(response.headers().get_all("vary").iter().any(|v| v == "Origin"));
        }
        // An error response to an allowed origin is readable too (a 404 here).
        let missing = http
            .get(on.url("/network/customers/no-such-customer"))
            .bearer_auth(&token)
            .header("X-Servitly-Tenant", TENANT)
            .header("Origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(missing.headers().get("access-control-allow-origin").is_some(), allowed);
    }
    on.stop().await;
}
