//! Tests of verification (every accepted algorithm, JWKS), of the attacks it
//! must refuse, of the verification cache, of minting and of the dev key.
//! Keys are generated here with aws-lc-rs; nothing is checked in.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

#[path = "../../tests/common/jwt.rs"]
mod jwt;
use jwt::{b64, forged, sign, with, with_payload, without};

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "network-api";
const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

/// PEM texts of one generated key pair.
struct Pair {
    private_pem: String,
    public_pem: String,
}

impl Pair {
    fn from_der(pkcs8: &[u8], spki: &[u8]) -> Pair {
        Pair {
            private_pem: pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.to_vec())),
            public_pem: pem::encode(&pem::Pem::new("PUBLIC KEY", spki.to_vec())),
        }
    }

    fn encoding_key(&self, algorithm: Algorithm) -> EncodingKey {
        let pem = self.private_pem.as_bytes();
        match algorithm {
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
            Algorithm::RS256 => EncodingKey::from_rsa_pem(pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
            other => panic!("no {other:?} pairs"),
        }
        .expect("jsonwebtoken reads the generated private key")
    }
}

fn ed25519_pair() -> Pair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let spki = pair.public_key().as_der().unwrap();
    Pair::from_der(pkcs8.as_ref(), spki.as_ref())
}

fn ec_pair(algorithm: &'static aws_lc_rs::signature::EcdsaSigningAlgorithm) -> Pair {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(algorithm, &SystemRandom::new()).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(algorithm, pkcs8.as_ref()).unwrap();
    let spki = pair.public_key().as_der().unwrap();
    Pair::from_der(pkcs8.as_ref(), spki.as_ref())
}

fn rsa_pair() -> Pair {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(&pair).unwrap();
    let spki = pair.public_key().as_der().unwrap();
    Pair::from_der(pkcs8.as_ref(), spki.as_ref())
}

/// Keys shared by the tests (RSA generation is slow-ish), written to one directory.
struct Fixture {
    _dir: tempfile::TempDir,
    ed: Pair,
    ed_path: PathBuf,
    rsa: Pair,
    rsa_path: PathBuf,
    ec: Pair,
    ec_path: PathBuf,
    other_ed: Pair,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let (ed, rsa, ec) = (ed25519_pair(), rsa_pair(), ec_pair(&ECDSA_P256_SHA256_FIXED_SIGNING));
        let ed_path = write("ed.pub.pem", &ed.public_pem);
        let rsa_path = write("rsa.pub.pem", &rsa.public_pem);
        let ec_path = write("ec.pub.pem", &ec.public_pem);
        Fixture { _dir: dir, ed, ed_path, rsa, rsa_path, ec, ec_path, other_ed: ed25519_pair() }
    })
}

fn config(keys: Vec<KeySource>) -> AuthConfig {
    AuthConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        keys,
        leeway_seconds: 60,
        claims: ClaimNames::default(),
    }
}

/// Ed25519 (no kid), RSA (kid `rsa-1`) and EC P-256 (no kid) public keys; no HMAC.
fn asymmetric() -> Authenticator {
    let f = fixture();
    Authenticator::new(config(vec![
        KeySource::PublicKeyPem { path: f.ed_path.clone(), kid: None },
        KeySource::PublicKeyPem { path: f.rsa_path.clone(), kid: Some("rsa-1".into()) },
        KeySource::PublicKeyPem { path: f.ec_path.clone(), kid: None },
    ]))
    .expect("the generated public keys load")
}

fn hmac() -> Authenticator {
    Authenticator::new(config(vec![KeySource::HmacSecret { secret: SECRET.to_vec(), kid: None }]))
        .unwrap()
}

fn good_claims() -> Value {
    let now = unix_now();
    json!({
        "sub": "alice",
        "tenant": "acme",
        "permissions": ["READ_CUSTOMER", "WRITE_CUSTOMER", "LAUNCH_ROCKETS"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    })
}

fn ed_token(claims: &Value) -> String {
    sign(Algorithm::EdDSA, &fixture().ed.encoding_key(Algorithm::EdDSA), None, claims)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn check(auth: &Authenticator, token: &str) -> Result<Arc<Principal>, AuthError> {
    auth.authenticate(Some(&bearer(token)))
}

// ---- accepted tokens -------------------------------------------------------

#[test]
fn a_valid_eddsa_token_gives_its_principal() {
    let auth = asymmetric();
    let claims = good_claims();
    let principal = check(&auth, &ed_token(&claims)).expect("valid EdDSA token");
    assert_eq!(principal.subject, "alice");
    assert_eq!(principal.tenant, "acme");
    // The unknown permission is ignored.
    assert_eq!(
        principal.permissions,
        BTreeSet::from([Permission::ReadCustomer, Permission::WriteCustomer])
    );
    assert!(principal.has(Permission::ReadCustomer));
    assert!(!principal.has(Permission::DeleteCustomer));
    assert_eq!(principal.customer_id, None);
    assert_eq!(principal.expires_at, claims["exp"].as_i64().unwrap());
}

#[test]
fn rs256_tokens_are_accepted_with_and_without_kid() {
    let auth = asymmetric();
    let key = fixture().rsa.encoding_key(Algorithm::RS256);
    let claims = with(good_claims(), "customerId", json!("c-42"));
    let principal = check(&auth, &sign(Algorithm::RS256, &key, Some("rsa-1"), &claims)).unwrap();
    assert_eq!(principal.customer_id.as_deref(), Some("c-42"));
    assert!(check(&auth, &sign(Algorithm::RS256, &key, None, &good_claims())).is_ok());
}

#[test]
fn es256_tokens_are_accepted() {
    let auth = asymmetric();
    let key = fixture().ec.encoding_key(Algorithm::ES256);
    assert!(check(&auth, &sign(Algorithm::ES256, &key, None, &good_claims())).is_ok());
}

#[test]
fn hs256_tokens_are_accepted_and_short_secrets_refused() {
    let auth = hmac();
    let token = sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET), None, &good_claims());
    assert!(check(&auth, &token).is_ok());

    let short =
        Authenticator::new(config(vec![KeySource::HmacSecret { secret: vec![7; 31], kid: None }]));
    let error = short.expect_err("a 31-byte secret is refused");
    assert!(error.to_string().contains("at least 32 bytes (got 31)"), "{error}");
    assert!(Signer::hs256(vec![7; 31], None).is_err());
}

#[test]
fn the_scheme_is_case_insensitive_and_spaces_are_tolerated() {
    let auth = asymmetric();
    let token = ed_token(&good_claims());
    assert!(auth.authenticate(Some(&format!("bearer {token}"))).is_ok());
    assert!(auth.authenticate(Some(&format!("BEARER   {token}  "))).is_ok());
}

#[test]
fn an_audience_array_containing_ours_is_accepted() {
    let auth = asymmetric();
    let claims = with(good_claims(), "aud", json!(["other", AUDIENCE]));
    assert!(check(&auth, &ed_token(&claims)).is_ok());
}

#[test]
fn expiry_within_the_leeway_is_accepted() {
    let auth = asymmetric();
    let claims = with(good_claims(), "exp", json!(unix_now() - 30));
    assert!(check(&auth, &ed_token(&claims)).is_ok());
}

fn jwk(pair: &Pair, algorithm: Algorithm, kid: &str) -> Value {
    if algorithm == Algorithm::EdDSA {
        // jsonwebtoken's `Jwk::from_encoding_key` only reads 48-byte (PKCS#8 v1) Ed25519 keys.
        let spki = pem::parse(&pair.public_pem).unwrap().into_contents();
        let x = b64(&spki[keys::ED25519_SPKI_PREFIX.len()..]);
        return json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid, "x": x});
    }
    let mut jwk =
        jsonwebtoken::jwk::Jwk::from_encoding_key(&pair.encoding_key(algorithm), algorithm)
            .unwrap();
    jwk.common.key_id = Some(kid.to_string());
    serde_json::to_value(jwk).unwrap()
}

fn jwks_file(dir: &Path, keys: Vec<Value>) -> PathBuf {
    let path = dir.join("jwks.json");
    std::fs::write(&path, serde_json::to_vec(&json!({ "keys": keys })).unwrap()).unwrap();
    path
}

#[test]
fn a_jwks_file_selects_keys_by_kid() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = jwks_file(
        dir.path(),
        vec![
            jwk(&f.ed, Algorithm::EdDSA, "a"),
            jwk(&f.other_ed, Algorithm::EdDSA, "b"),
            jwk(&f.rsa, Algorithm::RS256, "r"),
            jwk(&f.ec, Algorithm::ES256, "e"),
            // An encryption key is skipped, not an error.
            json!({"kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "kid": "x", "n": "AQAB", "e": "AQAB"}),
        ],
    );
    let auth = Authenticator::new(config(vec![KeySource::Jwks { path }])).unwrap();
    assert_eq!(auth.describe_keys().len(), 4, "{:?}", auth.describe_keys());

    let a = f.ed.encoding_key(Algorithm::EdDSA);
    let b = f.other_ed.encoding_key(Algorithm::EdDSA);
    let token_a =
        sign(Algorithm::EdDSA, &a, Some("a"), &with(good_claims(), "sub", json!("from-a")));
    let token_b =
        sign(Algorithm::EdDSA, &b, Some("b"), &with(good_claims(), "sub", json!("from-b")));
    assert_eq!(check(&auth, &token_a).unwrap().subject, "from-a");
    assert_eq!(check(&auth, &token_b).unwrap().subject, "from-b");
    // Key b's signature presented under kid a: only key a is tried.
    let swapped = sign(Algorithm::EdDSA, &b, Some("a"), &good_claims());
    assert_eq!(check(&auth, &swapped).unwrap_err(), AuthError::InvalidSignature);
    // Without a kid, both EdDSA keys are tried.
    assert!(check(&auth, &sign(Algorithm::EdDSA, &b, None, &good_claims())).is_ok());

    let rsa =
        sign(Algorithm::RS256, &f.rsa.encoding_key(Algorithm::RS256), Some("r"), &good_claims());
    assert!(check(&auth, &rsa).is_ok());
    let ec =
        sign(Algorithm::ES256, &f.ec.encoding_key(Algorithm::ES256), Some("e"), &good_claims());
    assert!(check(&auth, &ec).is_ok());
}

#[test]
fn jwks_entries_with_other_algorithms_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut rs = jwk(&fixture().rsa, Algorithm::RS256, "r");
    rs["alg"] = json!("PS256");
    let path = jwks_file(dir.path(), vec![rs]);
    let error = Authenticator::new(config(vec![KeySource::Jwks { path }])).unwrap_err();
    assert!(error.to_string().contains("`alg` PS256 is not supported"), "{error}");
    assert!(error.to_string().contains("kid `r`"), "{error}");

    let path = jwks_file(dir.path(), vec![json!({"kty": "oct", "k": b64(&[1; 16])})]);
    let error = Authenticator::new(config(vec![KeySource::Jwks { path }])).unwrap_err();
    assert!(error.to_string().contains("at least 32 bytes"), "{error}");
}

// ---- attacks ----------------------------------------------------------------

#[test]
fn alg_none_is_refused() {
    let auth = asymmetric();
    for alg in ["none", "None", "NONE"] {
        let token = forged(&json!({"alg": alg, "typ": "JWT"}), &good_claims(), "");
        assert_eq!(check(&auth, &token).unwrap_err(), AuthError::AlgorithmNotAllowed, "{alg}");
    }
    // Also with a (meaningless) signature and with an existing kid.
    let token = forged(&json!({"alg": "none", "kid": "rsa-1"}), &good_claims(), "c2ln");
    assert_eq!(check(&auth, &token).unwrap_err(), AuthError::AlgorithmNotAllowed);
}

#[test]
fn hs256_signed_with_a_public_key_is_refused() {
    let f = fixture();
    let auth = asymmetric();
    let public_keys = [
        f.ed.public_pem.as_bytes().to_vec(),
        f.rsa.public_pem.as_bytes().to_vec(),
        pem::parse(&f.rsa.public_pem).unwrap().into_contents(),
        pem::parse(&f.ed.public_pem).unwrap().into_contents(),
    ];
    for bytes in &public_keys {
        let key = EncodingKey::from_secret(bytes);
        for kid in [None, Some("rsa-1")] {
            let token = sign(Algorithm::HS256, &key, kid, &good_claims());
            assert_eq!(check(&auth, &token).unwrap_err(), AuthError::AlgorithmNotAllowed);
        }
    }
    // With an HS256 secret configured too, only that secret is tried.
    let mixed = Authenticator::new(config(vec![
        KeySource::PublicKeyPem { path: f.rsa_path.clone(), kid: None },
        KeySource::HmacSecret { secret: SECRET.to_vec(), kid: None },
    ]))
    .unwrap();
    let token = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(f.rsa.public_pem.as_bytes()),
        None,
        &good_claims(),
    );
    assert_eq!(check(&mixed, &token).unwrap_err(), AuthError::InvalidSignature);
}

#[test]
fn other_algorithms_are_refused() {
    let auth = hmac();
    let key = EncodingKey::from_secret(SECRET);
    for algorithm in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign(algorithm, &key, None, &good_claims());
        assert_eq!(check(&auth, &token).unwrap_err(), AuthError::AlgorithmNotAllowed);
    }
    // EdDSA is a supported algorithm, but no EdDSA key is configured here.
    assert_eq!(
        check(&auth, &ed_token(&good_claims())).unwrap_err(),
        AuthError::AlgorithmNotAllowed
    );
}

#[test]
fn a_kid_bound_to_another_algorithm_is_refused() {
    let auth = asymmetric();
    let ec = fixture().ec.encoding_key(Algorithm::ES256);
    let token = sign(Algorithm::ES256, &ec, Some("rsa-1"), &good_claims());
    assert_eq!(check(&auth, &token).unwrap_err(), AuthError::AlgorithmNotAllowed);
}

#[test]
fn an_unknown_kid_is_refused() {
    let f = fixture();
    let auth = asymmetric();
    // The only RS256 key has kid `rsa-1`.
    let rsa = f.rsa.encoding_key(Algorithm::RS256);
    let token = sign(Algorithm::RS256, &rsa, Some("nobody"), &good_claims());
    assert_eq!(check(&auth, &token).unwrap_err(), AuthError::UnknownKeyId);
    // Every key of a JWKS has a kid.
    let dir = tempfile::tempdir().unwrap();
    let path = jwks_file(dir.path(), vec![jwk(&f.ed, Algorithm::EdDSA, "a")]);
    let jwks = Authenticator::new(config(vec![KeySource::Jwks { path }])).unwrap();
    let ed = f.ed.encoding_key(Algorithm::EdDSA);
    let token = sign(Algorithm::EdDSA, &ed, Some("nobody"), &good_claims());
    assert_eq!(check(&jwks, &token).unwrap_err(), AuthError::UnknownKeyId);
}

#[test]
fn a_key_without_kid_verifies_tokens_stamped_with_any_kid() {
    let f = fixture();
    let auth = asymmetric(); // the Ed25519 key is configured without a kid
    let ed = f.ed.encoding_key(Algorithm::EdDSA);
    let token = sign(Algorithm::EdDSA, &ed, Some("idp-key-7"), &good_claims());
    assert!(check(&auth, &token).is_ok());
    // The kid is only a hint: the signature must still be by a configured key.
    let stranger = f.other_ed.encoding_key(Algorithm::EdDSA);
    let token = sign(Algorithm::EdDSA, &stranger, Some("idp-key-7"), &good_claims());
    assert_eq!(check(&auth, &token).unwrap_err(), AuthError::InvalidSignature);
}

#[test]
fn a_tampered_payload_is_refused() {
    let auth = asymmetric();
    let token = ed_token(&good_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let escalated = with(
        with(good_claims(), "tenant", json!("globex")),
        "permissions",
        json!(["READ_ALL_CUSTOMERS", "DELETE_CUSTOMER"]),
    );
    let tampered = with_payload(&token, &escalated);
    assert_eq!(check(&auth, &tampered).unwrap_err(), AuthError::InvalidSignature);
    // A flipped signature byte too.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[0] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
    assert_eq!(check(&auth, &flipped).unwrap_err(), AuthError::InvalidSignature);
    // And a token signed by a key we do not know.
    let stranger = sign(
        Algorithm::EdDSA,
        &fixture().other_ed.encoding_key(Algorithm::EdDSA),
        None,
        &good_claims(),
    );
    assert_eq!(check(&auth, &stranger).unwrap_err(), AuthError::InvalidSignature);
}

#[test]
fn time_claims_are_checked() {
    let auth = asymmetric();
    let now = unix_now();
    let expired = with(good_claims(), "exp", json!(now - 3600));
    assert_eq!(check(&auth, &ed_token(&expired)).unwrap_err(), AuthError::Expired);
    let early = with(good_claims(), "nbf", json!(now + 3600));
    assert_eq!(check(&auth, &ed_token(&early)).unwrap_err(), AuthError::NotYetValid);
    let started = with(good_claims(), "nbf", json!(now - 10));
    assert!(check(&auth, &ed_token(&started)).is_ok());
    let no_exp = without(good_claims(), "exp");
    assert_eq!(check(&auth, &ed_token(&no_exp)).unwrap_err(), AuthError::MissingClaim("exp"));
    let text_exp = with(good_claims(), "exp", json!("tomorrow"));
    assert_eq!(
        check(&auth, &ed_token(&text_exp)).unwrap_err(),
        AuthError::InvalidClaim("exp", "has the wrong type")
    );
}

#[test]
fn issuer_and_audience_are_checked() {
    let auth = asymmetric();
    let cases = [
        (with(good_claims(), "iss", json!("https://evil.example")), AuthError::WrongIssuer),
        (without(good_claims(), "iss"), AuthError::MissingClaim("iss")),
        (with(good_claims(), "aud", json!("another-api")), AuthError::WrongAudience),
        (with(good_claims(), "aud", json!(["another-api"])), AuthError::WrongAudience),
        (without(good_claims(), "aud"), AuthError::MissingClaim("aud")),
    ];
    for (claims, expected) in cases {
        assert_eq!(check(&auth, &ed_token(&claims)).unwrap_err(), expected, "{claims}");
    }
}

#[test]
fn our_claims_are_required_and_typed() {
    let auth = asymmetric();
    let cases = [
        (without(good_claims(), "tenant"), AuthError::MissingClaim("tenant")),
        (without(good_claims(), "sub"), AuthError::MissingClaim("sub")),
        (without(good_claims(), "permissions"), AuthError::MissingClaim("permissions")),
        (
            with(good_claims(), "tenant", json!("")),
            AuthError::InvalidClaim("tenant", "must not be empty"),
        ),
        (
            with(good_claims(), "tenant", json!(7)),
            AuthError::InvalidClaim("tenant", "must be a string"),
        ),
        (
            with(good_claims(), "permissions", json!("READ_CUSTOMER")),
            AuthError::InvalidClaim("permissions", "must be an array of strings"),
        ),
        (
            with(good_claims(), "permissions", json!(["READ_CUSTOMER", 1])),
            AuthError::InvalidClaim("permissions", "must be an array of strings"),
        ),
        (
            with(good_claims(), "customerId", json!(42)),
            AuthError::InvalidClaim("customerId", "must be a string"),
        ),
        (
            with(good_claims(), "customerId", json!("")),
            AuthError::InvalidClaim("customerId", "must not be empty"),
        ),
    ];
    for (claims, expected) in cases {
        assert_eq!(check(&auth, &ed_token(&claims)).unwrap_err(), expected, "{claims}");
    }
    assert_eq!(AuthError::MissingClaim("tenant").to_string(), "missing claim `tenant`");
}

#[test]
fn oversized_tokens_are_refused_unparsed() {
    let auth = asymmetric();
    let huge = "a".repeat(100 * 1024);
    assert_eq!(check(&auth, &huge).unwrap_err(), AuthError::TokenTooLarge);
    let just_over = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(check(&auth, &just_over).unwrap_err(), AuthError::TokenTooLarge);
    // A real token padded with a huge claim.
    let padded = with(good_claims(), "padding", json!("x".repeat(10_000)));
    assert_eq!(check(&auth, &ed_token(&padded)).unwrap_err(), AuthError::TokenTooLarge);
}

#[test]
fn garbage_and_wrong_headers_are_refused() {
    let auth = asymmetric();
    let valid = ed_token(&good_claims());
    let cases: Vec<(Option<String>, AuthError)> = vec![
        (None, AuthError::MissingToken),
        (Some(String::new()), AuthError::MissingToken),
        (Some("   ".into()), AuthError::MissingToken),
        (Some("Bearer".into()), AuthError::MalformedHeader),
        (Some("Bearer    ".into()), AuthError::MalformedHeader),
        (Some("Bearer a b".into()), AuthError::MalformedHeader),
        (Some("Bearer ===".into()), AuthError::MalformedHeader),
        (Some("Bearer tök€n".into()), AuthError::MalformedHeader),
        (Some("Basic dXNlcjpwYXNzd29yZA==".into()), AuthError::NotBearer),
        (Some(format!("Token {valid}")), AuthError::NotBearer),
        (Some(valid.clone()), AuthError::NotBearer),
        (Some("Bearer garbage".into()), AuthError::MalformedToken),
        (Some("Bearer a.b.c".into()), AuthError::MalformedToken),
        (Some("Bearer ..".into()), AuthError::MalformedToken),
        (Some("Bearer a.b.c.d.e".into()), AuthError::MalformedToken),
        (Some(format!("Bearer {valid}.extra")), AuthError::MalformedToken),
        (Some("Bearer e30.e30.e30".into()), AuthError::MalformedToken), // `{}` header: no alg
    ];
    for (header, expected) in cases {
        assert_eq!(auth.authenticate(header.as_deref()).unwrap_err(), expected, "{header:?}");
    }
}

#[test]
fn a_crit_header_is_refused() {
    let auth = asymmetric();
    let key = fixture().ed.encoding_key(Algorithm::EdDSA);
    let mut header = Header::new(Algorithm::EdDSA);
    header.crit = Some(vec!["exp".into()]);
    let token = jsonwebtoken::encode(&header, &good_claims(), &key).unwrap();
    assert_eq!(check(&auth, &token).unwrap_err(), AuthError::MalformedToken);
}

#[test]
fn error_messages_fit_in_a_www_authenticate_header() {
    let all = [
        AuthError::MissingToken,
        AuthError::MalformedHeader,
        AuthError::NotBearer,
        AuthError::TokenTooLarge,
        AuthError::MalformedToken,
        AuthError::AlgorithmNotAllowed,
        AuthError::UnknownKeyId,
        AuthError::InvalidSignature,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::WrongIssuer,
        AuthError::WrongAudience,
        AuthError::MissingClaim("tenant"),
        AuthError::InvalidClaim("permissions", "must be an array of strings"),
    ];
    for error in all {
        let message = error.to_string();
        assert!(message.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'));
    }
}

// ---- the verification cache --------------------------------------------------

#[test]
fn a_cache_hit_returns_the_same_principal_without_verifying() {
    let auth = asymmetric();
    let token = ed_token(&good_claims());
    let first = check(&auth, &token).unwrap();
    let second = check(&auth, &token).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(auth.signature_verifications(), 1);
    assert_eq!(auth.cached_tokens(), 1);
    // The same token under another spelling of the scheme is the same cache entry.
    assert!(auth.authenticate(Some(&format!("bearer  {token}"))).is_ok());
    assert_eq!(auth.signature_verifications(), 1);
}

#[test]
fn failures_are_never_cached() {
    let auth = asymmetric();
    let stranger = sign(
        Algorithm::EdDSA,
        &fixture().other_ed.encoding_key(Algorithm::EdDSA),
        None,
        &good_claims(),
    );
    // One EdDSA key is configured, so one verification per attempt.
    assert!(check(&auth, &stranger).is_err());
    assert!(check(&auth, &stranger).is_err());
    assert_eq!(auth.signature_verifications(), 2);
    assert_eq!(auth.cached_tokens(), 0);
}

fn two_hours_later() -> i64 {
    unix_now() + 2 * 3600
}

#[test]
fn an_expired_cached_token_is_refused() {
    let mut auth = asymmetric();
    let token = ed_token(&good_claims()); // expires in one hour
    assert!(check(&auth, &token).is_ok());
    auth.now = two_hours_later;
    assert_eq!(check(&auth, &token).unwrap_err(), AuthError::Expired);
    assert_eq!(auth.cached_tokens(), 0, "the expired entry is dropped");
    assert_eq!(auth.signature_verifications(), 1, "refused from the cache");
}

#[test]
fn the_cache_stays_bounded() {
    let auth = hmac();
    let key = EncodingKey::from_secret(SECRET);
    let base = good_claims();
    for i in 0..50_000 {
        let token = sign(
            Algorithm::HS256,
            &key,
            None,
            &with(base.clone(), "sub", json!(format!("user-{i}"))),
        );
        assert!(check(&auth, &token).is_ok());
        assert!(auth.cached_tokens() <= TOKEN_CACHE_CAPACITY);
    }
    assert!(auth.cached_tokens() >= TOKEN_CACHE_CAPACITY / 2);
    assert_eq!(auth.signature_verifications(), 50_000);
}

// ---- configuration errors ------------------------------------------------------

#[test]
fn configuration_errors_name_the_file_and_the_problem() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let pem_error = |path: PathBuf| {
        Authenticator::new(config(vec![KeySource::PublicKeyPem { path, kid: None }]))
            .unwrap_err()
            .to_string()
    };

    let missing = dir.path().join("absent.pem");
    let message = pem_error(missing.clone());
    assert!(message.starts_with(&format!("cannot read {}", missing.display())), "{message}");

    let private = write("private.pem", &f.ed.private_pem);
    let message = pem_error(private.clone());
    assert!(message.contains(&private.display().to_string()), "{message}");
    assert!(message.contains("is a private key"), "{message}");

    let p384 = write("p384.pub.pem", &ec_pair(&ECDSA_P384_SHA384_FIXED_SIGNING).public_pem);
    assert!(pem_error(p384).contains("curve other than P-256"));

    let garbage = write("garbage.pem", "hello");
    assert!(pem_error(garbage).contains("no PEM block"));

    let two = write("two.pem", &format!("{}{}", f.ed.public_pem, f.rsa.public_pem));
    assert!(pem_error(two).contains("more than one key"));

    let duplicate = Authenticator::new(config(vec![
        KeySource::PublicKeyPem { path: f.ed_path.clone(), kid: Some("k".into()) },
        KeySource::HmacSecret { secret: SECRET.to_vec(), kid: Some("k".into()) },
    ]));
    assert!(matches!(duplicate, Err(AuthConfigError::DuplicateKeyId(kid)) if kid == "k"));

    assert!(matches!(Authenticator::new(config(vec![])), Err(AuthConfigError::NoKeys)));
    let mut no_issuer = config(vec![KeySource::HmacSecret { secret: SECRET.to_vec(), kid: None }]);
    no_issuer.issuer = " ".into();
    assert!(matches!(Authenticator::new(no_issuer), Err(AuthConfigError::EmptySetting("issuer"))));
    let mut lenient = config(vec![KeySource::HmacSecret { secret: SECRET.to_vec(), kid: None }]);
    lenient.leeway_seconds = u64::MAX;
    assert!(matches!(Authenticator::new(lenient), Err(AuthConfigError::LeewayTooLarge(_))));

    // Secrets never show up in Debug output.
    let source = KeySource::HmacSecret { secret: SECRET.to_vec(), kid: None };
    assert!(!format!("{source:?}").contains("0123456789"));
}

// ---- minting and the dev key --------------------------------------------------------

fn token_claims() -> TokenClaims {
    let now = unix_now();
    TokenClaims {
        sub: "ops".into(),
        tenant: "acme".into(),
        permissions: vec!["READ_ALL_CUSTOMERS".into()],
        customer_id: Some("c-1".into()),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now,
        exp: now + 600,
        nbf: Some(now),
    }
}

#[test]
fn signers_mint_tokens_the_authenticator_accepts() {
    let f = fixture();
    let auth = asymmetric();
    for (pair, expected) in [(&f.ed, "EdDSA"), (&f.rsa, "RS256"), (&f.ec, "ES256")] {
        let signer = Signer::from_private_pem(pair.private_pem.as_bytes(), None).unwrap();
        assert_eq!(signer.algorithm(), expected);
        let principal = check(&auth, &signer.mint(&token_claims()).unwrap()).unwrap();
        assert_eq!(principal.customer_id.as_deref(), Some("c-1"));
        assert!(principal.has(Permission::ReadAllCustomers));
    }
    // The RSA key is configured with kid `rsa-1`: a signer with that kid is selected by it.
    let signer =
        Signer::from_private_pem(f.rsa.private_pem.as_bytes(), Some("rsa-1".into())).unwrap();
    assert!(check(&auth, &signer.mint(&token_claims()).unwrap()).is_ok());

    let signer = Signer::hs256(SECRET.to_vec(), None).unwrap();
    assert_eq!(signer.algorithm(), "HS256");
    assert!(check(&hmac(), &signer.mint(&token_claims()).unwrap()).is_ok());
}

#[test]
fn minted_claims_are_serialized_with_platform_names() {
    let signer = Signer::hs256(SECRET.to_vec(), Some("k1".into())).unwrap();
    let token = signer.mint(&token_claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], "k1");
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(payload["customerId"], "c-1");
    assert!(payload.get("customer_id").is_none());
    let unscoped = TokenClaims { customer_id: None, nbf: None, ..token_claims() };
    let token = signer.mint(&unscoped).unwrap();
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    assert!(payload.get("customerId").is_none() && payload.get("nbf").is_none());
}

#[test]
fn minting_refuses_claims_we_would_not_accept() {
    let signer = Signer::hs256(SECRET.to_vec(), None).unwrap();
    let empty_tenant = TokenClaims { tenant: String::new(), ..token_claims() };
    assert!(matches!(signer.mint(&empty_tenant), Err(MintError::InvalidClaims(_))));
    let backwards = TokenClaims { exp: token_claims().iat, ..token_claims() };
    assert!(matches!(signer.mint(&backwards), Err(MintError::InvalidClaims(_))));
    let huge = TokenClaims { permissions: vec!["X".repeat(9000)], ..token_claims() };
    assert!(matches!(signer.mint(&huge), Err(MintError::TooLarge(_))));
}

#[test]
fn signer_configuration_errors() {
    let f = fixture();
    let error = Signer::from_private_pem(f.ed.public_pem.as_bytes(), None).unwrap_err();
    assert!(error.to_string().contains("is a public key"), "{error}");
    let error = Signer::from_private_pem(b"not pem", None).unwrap_err();
    assert!(error.to_string().contains("private key"), "{error}");
    let p384 = ec_pair(&ECDSA_P384_SHA384_FIXED_SIGNING);
    assert!(Signer::from_private_pem(p384.private_pem.as_bytes(), None).is_err());
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.pem");
    let error = Signer::from_private_pem_file(&absent, None).unwrap_err();
    assert!(error.to_string().contains(&absent.display().to_string()));
}

#[test]
fn the_dev_key_is_created_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("network-data");
    let dev = ensure_dev_key(&data).unwrap();
    let private_path = data.join(DEV_PRIVATE_KEY_FILE);
    assert_eq!(dev.public_key_path, data.join(DEV_PUBLIC_KEY_FILE));
    assert_eq!(dev.signer.algorithm(), "EdDSA");
    assert_eq!(dev.signer.kid(), None);

    let private_pem = std::fs::read(&private_path).unwrap();
    let public_pem = std::fs::read(&dev.public_key_path).unwrap();
    assert!(String::from_utf8_lossy(&private_pem).starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(String::from_utf8_lossy(&public_pem).starts_with("-----BEGIN PUBLIC KEY-----"));
    // jsonwebtoken reads both files as they are.
    EncodingKey::from_ed_pem(&private_pem).expect("jsonwebtoken reads the dev private key");
    jsonwebtoken::DecodingKey::from_ed_pem(&public_pem)
        .expect("jsonwebtoken reads the dev public key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let auth = Authenticator::new(config(vec![KeySource::PublicKeyPem {
        path: dev.public_key_path.clone(),
        kid: None,
    }]))
    .unwrap();
    let token = dev.signer.mint(&token_claims()).unwrap();
    assert_eq!(check(&auth, &token).unwrap().subject, "ops");

    // A second start reuses the key: the first start's tokens still verify.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&private_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::remove_file(&dev.public_key_path).unwrap();
    let again = ensure_dev_key(&data).unwrap();
    assert_eq!(std::fs::read(&private_path).unwrap(), private_pem);
    assert_eq!(std::fs::read(&again.public_key_path).unwrap(), public_pem, "rewritten identically");
    let auth = Authenticator::new(config(vec![KeySource::PublicKeyPem {
        path: again.public_key_path.clone(),
        kid: None,
    }]))
    .unwrap();
    assert!(check(&auth, &token).is_ok());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a loosened key file is narrowed again");
    }
}

#[test]
fn a_corrupt_dev_key_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DEV_PRIVATE_KEY_FILE), "garbage").unwrap();
    let error = ensure_dev_key(dir.path()).unwrap_err().to_string();
    assert!(error.contains(DEV_PRIVATE_KEY_FILE), "{error}");
}

#[test]
fn permissions_round_trip_their_names() {
    for permission in Permission::ALL {
        assert_eq!(Permission::parse(permission.as_str()), Some(permission));
    }
    assert_eq!(Permission::ReadAllCustomers.as_str(), "READ_ALL_CUSTOMERS");
    assert_eq!(Permission::parse("read_customer"), None);
}

// ---- claim names as identity providers issue them ---------------------------

fn with_claim_names(tenant: &str, permissions: &str, customer: &str) -> Authenticator {
    let mut config =
        config(vec![KeySource::PublicKeyPem { path: fixture().ed_path.clone(), kid: None }]);
    config.claims = ClaimNames {
        tenant: ClaimPath::parse(tenant).unwrap(),
        permissions: ClaimPath::parse(permissions).unwrap(),
        customer: ClaimPath::parse(customer).unwrap(),
    };
    Authenticator::new(config).unwrap()
}

#[test]
fn keycloak_shaped_tokens_use_nested_roles_and_a_mapped_tenant() {
    let auth = with_claim_names("organization", "realm_access.roles", "customer_id");
    let now = unix_now();
    // A Keycloak access token: roles under realm_access, plus a mapped claim.
    let token = ed_token(&json!({
        "sub": "f:1234:alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300,
        "typ": "Bearer", "azp": "network-ui", "scope": "openid profile",
        "organization": "acme",
        "realm_access": {"roles": ["READ_CUSTOMER", "offline_access", "uma_authorization"]},
        "resource_access": {"account": {"roles": ["manage-account"]}},
        "customer_id": "c42",
    }));
    let principal = check(&auth, &token).expect("a Keycloak-shaped token");
    assert_eq!(principal.tenant, "acme");
    assert!(principal.has(Permission::ReadCustomer));
    assert!(!principal.has(Permission::WriteCustomer));
    assert_eq!(principal.customer_id.as_deref(), Some("c42"));
    // The default names are not looked at any more.
    let default_names = ed_token(&json!({
        "sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300,
        "tenant": "acme", "permissions": ["READ_CUSTOMER"],
    }));
    assert_eq!(check(&auth, &default_names).unwrap_err(), AuthError::MissingClaim("organization"));
    // A nested path that stops short is missing, not a crash.
    let short = ed_token(&json!({
        "sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300,
        "organization": "acme", "realm_access": "admin",
    }));
    assert_eq!(check(&auth, &short).unwrap_err(), AuthError::MissingClaim("realm_access.roles"));
}

#[test]
fn url_shaped_claim_names_and_scope_strings_work() {
    // Auth0: custom claims are namespaced by URL; permissions as an OAuth scope.
    let auth =
        with_claim_names("https://example.com/tenant", "scope", "https://example.com/customer");
    let now = unix_now();
    let token = ed_token(&json!({
        "sub": "auth0|abc", "iss": ISSUER, "aud": [AUDIENCE, "https://example.eu.auth0.com/userinfo"],
        "iat": now, "exp": now + 300, "azp": "xyz",
        "scope": "openid READ_CUSTOMER WRITE_CUSTOMER",
        "https://example.com/tenant": "acme",
    }));
    let principal = check(&auth, &token).expect("an Auth0-shaped token");
    assert_eq!(principal.tenant, "acme");
    assert!(principal.has(Permission::ReadCustomer) && principal.has(Permission::WriteCustomer));
    assert_eq!(principal.customer_id, None);
    let null_scope = ed_token(&json!({
        "sub": "auth0|abc", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300,
        "scope": "READ_CUSTOMER", "https://example.com/tenant": "acme",
        "https://example.com/customer": null,
    }));
    assert_eq!(
        check(&auth, &null_scope).unwrap_err(),
        AuthError::InvalidClaim("https://example.com/customer", "must be a string"),
        "a present but unusable customer claim never widens the scope"
    );
}

#[test]
fn an_empty_claim_name_is_refused() {
    assert_eq!(ClaimPath::parse("  "), None);
    assert_eq!(ClaimPath::parse("realm_access.roles").unwrap().name(), "realm_access.roles");
}
