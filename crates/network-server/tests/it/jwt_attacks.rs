//! Attacks on bearer authentication, end to end over HTTP: forged, altered,
//! stale, misdirected, incomplete and oversized tokens, each sent to
//! updateCustomer, createCustomer and getCustomer of the victim tenant. Every
//! one must get its 401 (with `WWW-Authenticate: Bearer ...`) or 403, never a
//! 2xx or a 5xx, and the victim's data must be unchanged afterwards.
//!
//! The server trusts an Ed25519 public key (kid `ed-1`, from
//! `ensure_dev_key`) and the HS256 test secret (kid `hs-1`); a second server
//! trusts only the Ed25519 key, without a kid (as in `--dev`), for the
//! classic "HS256 signed with the public key" confusion. Tokens that
//! jsonwebtoken would refuse to produce are assembled by hand (base64url).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use network_server::auth::{
    ensure_dev_key, AuthConfig, KeySource, Signer, DEV_PRIVATE_KEY_FILE, DEV_PUBLIC_KEY_FILE,
};
use serde_json::{json, Value};

use crate::common_jwt::{b64, forged, hs256_signed, sign, with, with_payload, without};
use crate::helpers::*;
use crate::wire::*;

const ED_KID: &str = "ed-1";
const HS_KID: &str = "hs-1";

/// The trusted Ed25519 key pair and an attacker's own one.
struct Keys {
    _dir: tempfile::TempDir,
    private_pem: Vec<u8>,
    public_pem: Vec<u8>,
    public_path: std::path::PathBuf,
    attacker: Signer,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let trusted = dir.path().join("trusted");
    ensure_dev_key(&trusted).expect("a dev key pair");
    ensure_dev_key(&dir.path().join("attacker")).expect("another key pair");
    let attacker = Signer::from_private_pem_file(
        &dir.path().join("attacker").join(DEV_PRIVATE_KEY_FILE),
        Some(ED_KID.to_string()),
    )
    .unwrap();
    Keys {
        private_pem: std::fs::read(trusted.join(DEV_PRIVATE_KEY_FILE)).unwrap(),
        public_pem: std::fs::read(trusted.join(DEV_PUBLIC_KEY_FILE)).unwrap(),
        public_path: trusted.join(DEV_PUBLIC_KEY_FILE),
        attacker,
        _dir: dir,
    }
}

fn auth_config(keys: Vec<KeySource>) -> AuthConfig {
    AuthConfig {
        issuer: ISSUER.to_string(),
        audience: AUDIENCE.to_string(),
        keys,
        leeway_seconds: 0,
        claims: Default::default(),
    }
}

/// Valid claims of `tenant` with every permission, as JSON to edit.
fn claims_json(tenant: &str) -> Value {
    serde_json::to_value(claims(tenant, "mallory", ALL)).unwrap()
}

/// Signed with the trusted Ed25519 key (a valid signature), any claims.
fn ed_signed(keys: &Keys, kid: Option<&str>, claims: &Value) -> String {
    let key = EncodingKey::from_ed_pem(&keys.private_pem).unwrap();
    sign(Algorithm::EdDSA, &key, kid, claims)
}

/// One attack: the `Authorization` value, the tenant header, and what it must get.
struct Attack {
    name: String,
    authorization: String,
    tenant: &'static str,
    status: u16,
    /// A substring of the message.
    reason: &'static str,
    /// Only the writes are refused (the token may read).
    writes_only: bool,
}

fn bearer(name: &str, token: String, status: u16, reason: &'static str) -> Attack {
    Attack {
        name: name.to_string(),
        authorization: format!("Bearer {token}"),
        tenant: TENANT,
        status,
        reason,
        writes_only: false,
    }
}

/// Sends `attack` to update, create and get; returns the problems found.
async fn run(app: &TestApp, victim: &str, attack: &Attack) -> Vec<String> {
    let mut problems = Vec::new();
    let target = format!("/network/customers/{victim}");
    for (method, target, body) in [
        ("PUT", target.as_str(), Some(r#"{"name":"pwned","properties":{"owner":"mallory"}}"#)),
        ("POST", "/network/customers", Some(r#"{"name":"planted"}"#)),
        ("GET", target.as_str(), None),
    ] {
        if attack.writes_only && method == "GET" {
            continue;
        }
        let mut headers = vec![
            ("Authorization", attack.authorization.clone().into_bytes()),
            ("X-Servitly-Tenant", attack.tenant.as_bytes().to_vec()),
        ];
        if body.is_some() {
            headers.push(("Content-Type", b"application/json".to_vec()));
        }
        let request =
            http_request(method, target.as_bytes(), &headers, body.unwrap_or("").as_bytes());
        let response = match send_raw(&addr_of(app), request).await {
            Ok(response) => response,
            Err(error) => {
                problems.push(format!("{} {method}: no answer: {error}", attack.name));
                continue;
            }
        };
        let message = response.json().and_then(|body| body["message"].as_str().map(str::to_string));
        if std::env::var("JWT_DUMP").is_ok() && method == "PUT" {
            eprintln!(
                "{} {:<75} {}",
                response.status,
                attack.name,
                message.as_deref().unwrap_or("")
            );
        }
        if response.status != attack.status {
            problems.push(format!(
                "{} {method}: expected {}, got {} {}",
                attack.name,
                attack.status,
                response.status,
                response.text()
            ));
            continue;
        }
        match &message {
            Some(message) if message.contains(attack.reason) => {}
            _ => problems.push(format!(
                "{} {method}: message does not say `{}`: {}",
                attack.name,
                attack.reason,
                response.text()
            )),
        }
        let challenge = response.header("www-authenticate");
        if attack.status == 401 && !challenge.is_some_and(|c| c.starts_with("Bearer")) {
            problems
                .push(format!("{} {method}: 401 without WWW-Authenticate: Bearer", attack.name));
        }
        if attack.status == 401 && !challenge.is_some_and(|c| c.contains("invalid_token")) {
            problems.push(format!(
                "{} {method}: a bad token is not `invalid_token`: {challenge:?}",
                attack.name
            ));
        }
        if attack.status == 403 && challenge.is_some() {
            problems.push(format!("{} {method}: 403 with a challenge", attack.name));
        }
    }
    problems
}

#[tokio::test]
async fn forged_altered_stale_and_misdirected_tokens_are_refused_and_change_nothing() {
    let keys = keys();
    let app = spawn_app_with_auth(auth_config(vec![
        KeySource::PublicKeyPem { path: keys.public_path.clone(), kid: Some(ED_KID.to_string()) },
        KeySource::HmacSecret { secret: SECRET.to_vec(), kid: Some(HS_KID.to_string()) },
    ]))
    .await;
    let victim = app.create("Victim Corp").await;
    let other_tenant_customer = {
        let token = mint(&claims(OTHER_TENANT, "g", ALL));
        let response = raw(
            reqwest::Method::POST,
            &app.url("/network/customers"),
            Some(&token),
            Some(OTHER_TENANT),
            Some(r#"{"name":"Globex"}"#),
        )
        .await;
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
    };

    // Positive controls: the genuine keys work (GET only, so nothing changes).
    let genuine = ed_signed(&keys, Some(ED_KID), &claims_json(TENANT));
    let response =
        send_simple_with(&app, &genuine, TENANT, &format!("/network/customers/{victim}")).await;
    assert_eq!(response.status, 200, "a genuine EdDSA token is accepted: {}", response.text());
    let response =
        send_simple_with(&app, &admin_token(), TENANT, &format!("/network/customers/{victim}"))
            .await;
    assert_eq!(response.status, 200, "a genuine HS256 token is accepted: {}", response.text());

    let before = tenant_checksum(&app, TENANT).await;
    let other_before = tenant_checksum(&app, OTHER_TENANT).await;

    let good = claims_json(TENANT);
    let signed = |claims: &Value| ed_signed(&keys, Some(ED_KID), claims);
    let edit = |name: &str, value: Value| with(good.clone(), name, value);
    let drop_claim = |name: &str| without(good.clone(), name);
    let jwk_header = json!({
        "alg": "EdDSA", "kid": ED_KID, "jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}
    });
    let crit_header = json!({"alg": "EdDSA", "kid": ED_KID, "crit": ["exp"]});
    let now = now();
    let none_header = json!({"alg": "none", "typ": "JWT"});
    let public_pem = keys.public_pem.clone();
    let globex_token = signed(&claims_json(OTHER_TENANT));
    let read_only = ed_signed(
        &keys,
        Some(ED_KID),
        &with(good.clone(), "permissions", json!(["READ_CUSTOMER"])),
    );
    let mut attacks = vec![
        bearer(
            "alg none, no signature",
            forged(&none_header, &good, ""),
            401,
            "algorithm not allowed",
        ),
        bearer(
            "alg none with a signature",
            forged(&none_header, &good, "c2lnbmF0dXJl"),
            401,
            "algorithm not allowed",
        ),
        bearer(
            "alg None (case variant)",
            forged(&json!({"alg": "None"}), &good, ""),
            401,
            "algorithm not allowed",
        ),
        bearer(
            "alg none with the Ed25519 kid",
            forged(&json!({"alg": "none", "kid": ED_KID}), &good, ""),
            401,
            "algorithm not allowed",
        ),
        bearer(
            "HS256 signed with the Ed25519 public key PEM, its kid",
            hs256_signed(&json!({"alg": "HS256", "typ": "JWT", "kid": ED_KID}), &good, &public_pem),
            401,
            "algorithm not allowed",
        ),
        bearer(
            "HS256 signed with the Ed25519 public key PEM, no kid",
            hs256_signed(&json!({"alg": "HS256", "typ": "JWT"}), &good, &public_pem),
            401,
            "invalid token signature",
        ),
        bearer(
            "HS256 signed with the Ed25519 public key PEM, the HS256 kid",
            hs256_signed(&json!({"alg": "HS256", "kid": HS_KID}), &good, &public_pem),
            401,
            "invalid token signature",
        ),
        bearer(
            "RS256 header on an EdDSA signature",
            with_header(&genuine, &json!({"alg": "RS256", "kid": ED_KID})),
            401,
            "algorithm not allowed",
        ),
        bearer(
            "a kid that does not exist (validly signed)",
            ed_signed(&keys, Some("no-such-key"), &good),
            401,
            "unknown key id",
        ),
        bearer(
            "signed by an attacker's Ed25519 key under the trusted kid",
            keys.attacker.mint(&claims(TENANT, "mallory", ALL)).unwrap(),
            401,
            "invalid token signature",
        ),
        bearer(
            "an embedded jwk naming the attacker's key",
            keys.attacker
                .mint(&claims(TENANT, "mallory", ALL))
                .map(|token| with_header(&token, &jwk_header))
                .unwrap(),
            401,
            "invalid token signature",
        ),
        bearer("a crit header", with_header(&genuine, &crit_header), 401, "malformed token"),
        bearer(
            "signature removed",
            format!("{}.", genuine.rsplit_once('.').unwrap().0),
            401,
            "invalid token signature",
        ),
        bearer(
            "signature cut by one character (not base64url)",
            genuine[..genuine.len() - 1].to_string(),
            401,
            "malformed token",
        ),
        bearer(
            "signature with one bit flipped",
            flip_signature_bit(&genuine),
            401,
            "invalid token signature",
        ),
        bearer(
            "tampered payload: permissions escalated, original signature",
            with_payload(&read_only, &good),
            401,
            "invalid token signature",
        ),
        bearer(
            "tampered payload: customer scope removed, original signature",
            with_payload(&signed(&edit("customerId", json!("someone"))), &good),
            401,
            "invalid token signature",
        ),
        bearer(
            "tampered payload: exp extended, original signature",
            with_payload(
                &signed(&edit("exp", json!(now - 10))),
                &with(good.clone(), "exp", json!(now + 86_400 * 365)),
            ),
            401,
            "invalid token signature",
        ),
        bearer(
            "customerId null (present but unusable: never a wider scope)",
            signed(&edit("customerId", json!(null))),
            401,
            "customerId",
        ),
        bearer(
            "expired",
            signed(&with(edit("exp", json!(now - 60)), "iat", json!(now - 3600))),
            401,
            "token expired",
        ),
        bearer(
            "expired long ago",
            signed(&with(edit("exp", json!(1)), "iat", json!(0))),
            401,
            "token expired",
        ),
        bearer(
            "nbf in the future",
            signed(&edit("nbf", json!(now + 3600))),
            401,
            "token not yet valid",
        ),
        bearer(
            "wrong iss",
            signed(&edit("iss", json!("https://evil.example"))),
            401,
            "wrong issuer",
        ),
        bearer("missing iss", signed(&drop_claim("iss")), 401, "missing claim `iss`"),
        bearer("wrong aud", signed(&edit("aud", json!("another-api"))), 401, "wrong audience"),
        bearer(
            "aud array without ours",
            signed(&edit("aud", json!(["another-api", "a-third"]))),
            401,
            "wrong audience",
        ),
        bearer("missing aud", signed(&drop_claim("aud")), 401, "missing claim `aud`"),
        bearer("missing exp", signed(&drop_claim("exp")), 401, "missing claim `exp`"),
        bearer(
            "exp as a string",
            signed(&edit("exp", json!("tomorrow"))),
            401,
            "invalid claim `exp`",
        ),
        bearer("missing tenant", signed(&drop_claim("tenant")), 401, "missing claim `tenant`"),
        bearer("empty tenant", signed(&edit("tenant", json!(""))), 401, "invalid claim `tenant`"),
        bearer(
            "tenant as an array",
            signed(&edit("tenant", json!([TENANT]))),
            401,
            "invalid claim `tenant`",
        ),
        bearer("missing sub", signed(&drop_claim("sub")), 401, "missing claim `sub`"),
        bearer(
            "missing permissions",
            signed(&drop_claim("permissions")),
            401,
            "missing claim `permissions`",
        ),
        bearer(
            "permissions as a string",
            signed(&edit("permissions", json!("WRITE_CUSTOMER"))),
            401,
            "invalid claim `permissions`",
        ),
        bearer(
            "a 100 KB token",
            format!("{}.{}.{}", "e".repeat(100), "p".repeat(100 * 1024), "s".repeat(86)),
            401,
            "token too large",
        ),
        bearer(
            "a 100 KB validly signed token",
            signed(&edit("padding", json!("x".repeat(100 * 1024)))),
            401,
            "token too large",
        ),
        bearer("not three parts", "a.b".to_string(), 401, "malformed token"),
        bearer(
            "header not JSON",
            format!("{}.{}.sig", b64(b"not json"), b64(good.to_string().as_bytes())),
            401,
            "malformed token",
        ),
        // Another tenant's genuine token with its tenant claim rewritten to the
        // victim's: the signature no longer matches.
        bearer(
            "another tenant's token with the tenant claim rewritten, victim's header",
            with_payload(&globex_token, &claims_json(TENANT)),
            401,
            "invalid token signature",
        ),
        // The same token untouched, naming the victim in the header: 403.
        bearer(
            "another tenant's genuine token, victim's header",
            globex_token.clone(),
            403,
            "does not grant access to this tenant",
        ),
        Attack {
            writes_only: true,
            ..bearer(
                "a READ_CUSTOMER-only token",
                read_only.clone(),
                403,
                "missing permission WRITE_CUSTOMER",
            )
        },
        bearer(
            "a token scoped to another customer",
            signed(&edit("customerId", json!(other_tenant_customer))),
            403,
            "customer",
        ),
    ];
    attacks.push(Attack {
        name: "Basic instead of Bearer".into(),
        authorization: format!("Basic {}", b64(b"admin:admin")),
        tenant: TENANT,
        status: 401,
        reason: "not Bearer",
        writes_only: false,
    });
    attacks.push(Attack {
        name: "the token in the wrong scheme case and with extra spaces".into(),
        authorization: format!("bEaReR    {}", forged(&none_header, &good, "")),
        tenant: TENANT,
        status: 401,
        reason: "algorithm not allowed",
        writes_only: false,
    });

    let mut problems = Vec::new();
    for attack in &attacks {
        problems.extend(run(&app, &victim, attack).await);
        assert_healthy(&app, &attack.name).await;
    }

    // The second server trusts only the Ed25519 key, without a kid (like --dev):
    // HS256 signed with its public key has no key to be checked against at all.
    let dev_like = spawn_app_with_auth(auth_config(vec![KeySource::PublicKeyPem {
        path: keys.public_path.clone(),
        kid: None,
    }]))
    .await;
    let dev_token = ed_signed(&keys, None, &good);
    let dev_victim = {
        let response = send_raw(
            &addr_of(&dev_like),
            http_request(
                "POST",
                b"/network/customers",
                &[
                    ("Authorization", format!("Bearer {dev_token}").into_bytes()),
                    ("X-Servitly-Tenant", TENANT.as_bytes().to_vec()),
                    ("Content-Type", b"application/json".to_vec()),
                ],
                br#"{"name":"Dev Victim"}"#,
            ),
        )
        .await
        .unwrap();
        assert_eq!(response.status, 201, "{}", response.text());
        response.json().unwrap()["id"].as_str().unwrap().to_string()
    };
    let dev_before = tenant_checksum_with(&dev_like, TENANT, &dev_token).await;
    let der = pem::parse(&keys.public_pem).unwrap().contents().to_vec();
    let raw_key = der[der.len() - 32..].to_vec();
    let dev_attacks = vec![
        bearer(
            "dev-like: HS256 signed with the Ed25519 public key PEM",
            hs256_signed(&json!({"alg": "HS256", "typ": "JWT"}), &good, &public_pem),
            401,
            "algorithm not allowed",
        ),
        bearer(
            "dev-like: HS256 signed with the public key's DER",
            hs256_signed(&json!({"alg": "HS256"}), &good, &der),
            401,
            "algorithm not allowed",
        ),
        bearer(
            "dev-like: HS256 signed with the raw 32-byte public key",
            hs256_signed(&json!({"alg": "HS256"}), &good, &raw_key),
            401,
            "algorithm not allowed",
        ),
        bearer("dev-like: alg none", forged(&none_header, &good, ""), 401, "algorithm not allowed"),
        bearer(
            "dev-like: an attacker's key with some kid",
            keys.attacker.mint(&claims(TENANT, "mallory", ALL)).unwrap(),
            401,
            "invalid token signature",
        ),
    ];
    for attack in &dev_attacks {
        problems.extend(run(&dev_like, &dev_victim, attack).await);
        assert_healthy(&dev_like, &attack.name).await;
    }

    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert_eq!(tenant_checksum(&app, TENANT).await, before, "the victim tenant's data changed");
    assert_eq!(
        tenant_checksum(&app, OTHER_TENANT).await,
        other_before,
        "the other tenant's data changed"
    );
    assert_eq!(
        tenant_checksum_with(&dev_like, TENANT, &dev_token).await,
        dev_before,
        "the dev-like server's data changed"
    );
    eprintln!(
        "JWT attacks: {} cases ({} on the server with kids, {} on the dev-like one), each against update, create and get; all refused, data unchanged",
        attacks.len() + dev_attacks.len(),
        attacks.len(),
        dev_attacks.len()
    );
    dev_like.stop().await;
    app.stop().await;
}

/// Replaces the header of `token`, keeping payload and signature.
fn with_header(token: &str, header: &Value) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", b64(header.to_string().as_bytes()))
}

/// A GET with `token` and `tenant`.
async fn send_simple_with(app: &TestApp, token: &str, tenant: &str, target: &str) -> RawResponse {
    let headers = [
        ("Authorization", format!("Bearer {token}").into_bytes()),
        ("X-Servitly-Tenant", tenant.as_bytes().to_vec()),
    ];
    send_raw(&addr_of(app), http_request("GET", target.as_bytes(), &headers, b"")).await.unwrap()
}

/// `token` with the first bit of its signature flipped.
fn flip_signature_bit(token: &str) -> String {
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 0x80;
    format!("{signing_input}.{}", b64(&bytes))
}
