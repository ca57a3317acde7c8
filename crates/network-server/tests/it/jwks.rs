//! Signing keys from an identity provider (`--jwt-jwks-url`,
//! `--jwt-oidc-issuer`) against a local JWKS server that rotates its keys,
//! serves garbage, goes away and comes back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use network_server::auth::remote::{FetchSettings, RefreshBounds};
use network_server::auth::{
    ensure_dev_key, AuthConfig, Authenticator, KeySource, Signer, DEV_PRIVATE_KEY_FILE,
    DEV_PUBLIC_KEY_FILE,
};
use network_server::server::StartError;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// What the fake identity provider answers.
#[derive(Clone)]
enum Serving {
    Keys(serde_json::Value),
    Garbage,
    Down,
}

struct Provider {
    url: String,
    serving: Arc<Mutex<Serving>>,
    jwks_requests: Arc<AtomicU64>,
}

impl Provider {
    async fn start(serving: Serving) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let serving = Arc::new(Mutex::new(serving));
        let jwks_requests = Arc::new(AtomicU64::new(0));
        let (state, count, base) = (serving.clone(), jwks_requests.clone(), url.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let (state, count, base) = (state.clone(), count.clone(), base.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut byte).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&byte[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    let serving = state.lock().unwrap().clone();
                    let (status, body) = match (path.as_str(), serving) {
                        (_, Serving::Down) => return, // closes without an answer
                        ("/.well-known/openid-configuration", _) => (
                            "200 OK",
                            json!({"issuer": base, "jwks_uri": format!("{base}/jwks.json")})
                                .to_string(),
                        ),
                        ("/jwks.json", Serving::Keys(keys)) => {
                            count.fetch_add(1, Ordering::SeqCst);
                            ("200 OK", keys.to_string())
                        }
                        ("/jwks.json", Serving::Garbage) => {
                            count.fetch_add(1, Ordering::SeqCst);
                            ("200 OK", "<html>maintenance</html>".to_string())
                        }
                        _ => ("404 Not Found", String::new()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                         Cache-Control: public, max-age=3600\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Provider { url, serving, jwks_requests }
    }

    fn serve(&self, serving: Serving) {
        *self.serving.lock().unwrap() = serving;
    }

    fn fetches(&self) -> u64 {
        self.jwks_requests.load(Ordering::SeqCst)
    }
}

/// An Ed25519 key pair: its JWK and a signer that stamps its kid.
struct Pair {
    _dir: tempfile::TempDir,
    jwk: serde_json::Value,
    signer: Signer,
}

fn pair(kid: &str) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    ensure_dev_key(dir.path()).unwrap();
    let public = pem::parse(std::fs::read(dir.path().join(DEV_PUBLIC_KEY_FILE)).unwrap()).unwrap();
    let raw = &public.contents()[public.contents().len() - 32..];
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                     "x": URL_SAFE_NO_PAD.encode(raw)});
    let signer = Signer::from_private_pem_file(
        &dir.path().join(DEV_PRIVATE_KEY_FILE),
        Some(kid.to_string()),
    )
    .unwrap();
    Pair { _dir: dir, jwk, signer }
}

fn set(pairs: &[&Pair]) -> Serving {
    Serving::Keys(json!({"keys": pairs.iter().map(|p| p.jwk.clone()).collect::<Vec<_>>()}))
}

fn fetch(min_ms: u64, max_ms: u64) -> FetchSettings {
    FetchSettings {
        ca: None,
        bounds: RefreshBounds {
            min: Duration::from_millis(min_ms),
            max: Duration::from_millis(max_ms),
        },
        start_deadline: Duration::from_secs(2),
    }
}

async fn status_with(app: &TestApp, signer: &Signer, subject: &str) -> u16 {
    let token = signer.mint(&claims(TENANT, subject, ALL)).unwrap();
    let url = app.url("/v2/network/customers");
    raw(reqwest::Method::GET, &url, Some(&token), Some(TENANT), None).await.status().as_u16()
}

async fn app_with(source: KeySource, issuer: &str) -> TestApp {
    let issuer = issuer.to_string();
    spawn_app_tuned(move |settings| {
        settings.auth = AuthConfig { issuer, keys: vec![source], ..settings.auth.clone() };
    })
    .await
}

#[tokio::test]
async fn keys_rotate_without_a_restart_and_a_removed_key_stops_working() {
    let (a, b) = (pair("a"), pair("b"));
    let provider = Provider::start(set(&[&a])).await;
    let source = KeySource::JwksUrl {
        url: format!("{}/jwks.json", provider.url),
        fetch: fetch(200, 60_000),
    };
    let app = app_with(source, ISSUER).await;
    assert_eq!(status_with(&app, &a.signer, "alice").await, 200, "key a from the provider");
    // The provider rotates: b replaces a.
    provider.serve(set(&[&b]));
    assert_eq!(status_with(&app, &b.signer, "bob").await, 401, "b is unknown until a refresh");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(status_with(&app, &b.signer, "bob").await, 200, "the unknown kid caused a refresh");
    assert_eq!(
        status_with(&app, &a.signer, "alice").await,
        401,
        "a key gone from the set is refused"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_interval() {
    let a = pair("a");
    let provider = Provider::start(set(&[&a])).await;
    let source = KeySource::JwksUrl {
        url: format!("{}/jwks.json", provider.url),
        fetch: fetch(1_000, 60_000),
    };
    let app = app_with(source, ISSUER).await;
    let after_start = provider.fetches();
    assert_eq!(after_start, 1);
    // 25 unknown kids, made beforehand and sent 100 ms apart: the throttle,
    // not how fast this machine signs tokens, must bound the fetches.
    let strangers: Vec<Pair> = (0..25).map(|i| pair(&format!("unknown-{i}"))).collect();
    let started = std::time::Instant::now();
    for (i, stranger) in strangers.iter().enumerate() {
        let due = Duration::from_millis(100 * i as u64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        assert_eq!(status_with(&app, &stranger.signer, "mallory").await, 401);
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fetched = provider.fetches() - after_start;
    eprintln!(
        "unknown-kid flood: {} tokens in {elapsed:?} caused {fetched} fetches (minimum interval 1 s)",
        strangers.len()
    );
    // One fetch at the first unknown kid, then at most one per second.
    let allowed = elapsed.as_secs() + 1;
    assert!(
        fetched <= allowed,
        "{} unknown kids over {elapsed:?} caused {fetched} fetches (at most {allowed})",
        strangers.len()
    );
    assert!(fetched >= 1, "an unknown kid does ask for a refresh");
    app.stop().await;
}

#[tokio::test]
async fn garbage_or_an_outage_keeps_the_current_keys() {
    let a = pair("a");
    let provider = Provider::start(set(&[&a])).await;
    let source =
        KeySource::JwksUrl { url: format!("{}/jwks.json", provider.url), fetch: fetch(100, 200) };
    let app = app_with(source, ISSUER).await;
    assert_eq!(status_with(&app, &a.signer, "s1").await, 200);
    provider.serve(Serving::Garbage);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(provider.fetches() >= 2, "the garbage was fetched");
    assert_eq!(status_with(&app, &a.signer, "s2").await, 200, "a new token still verifies");
    provider.serve(Serving::Down);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(status_with(&app, &a.signer, "s3").await, 200, "and while the provider is down");
    // It comes back with a new key.
    let b = pair("b");
    provider.serve(set(&[&a, &b]));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(status_with(&app, &b.signer, "s4").await, 200, "the periodic refresh found b");
    app.stop().await;
}

#[tokio::test]
async fn an_oidc_issuer_is_discovered_and_is_the_required_iss() {
    let a = pair("a");
    let provider = Provider::start(set(&[&a])).await;
    let source = KeySource::OidcIssuer { issuer: provider.url.clone(), fetch: fetch(100, 60_000) };
    let app = app_with(source, &provider.url).await;
    let mut claims = claims(TENANT, "oidc", ALL);
    claims.iss = provider.url.clone();
    let token = a.signer.mint(&claims).unwrap();
    let url = app.url("/v2/network/customers");
    let response = raw(reqwest::Method::GET, &url, Some(&token), Some(TENANT), None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(status_with(&app, &a.signer, "wrong-iss").await, 401, "another iss is refused");
    app.stop().await;
}

#[tokio::test]
async fn the_start_fails_naming_the_url_when_keys_never_come() {
    let provider = Provider::start(Serving::Down).await;
    let url = format!("{}/jwks.json", provider.url);
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = settings(data_dir.path(), &Backend::Sqlite, &relaxed_rate());
    settings.auth.keys = vec![KeySource::JwksUrl { url: url.clone(), fetch: fetch(100, 1_000) }];
    let started = std::time::Instant::now();
    let error = network_server::server::start(settings, network_server::telemetry::discard())
        .await
        .err()
        .expect("no keys, no start");
    assert!(matches!(error, StartError::Keys(_)), "{error}");
    assert!(error.to_string().contains(&url), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn plain_http_is_only_for_loopback() {
    let config = |url: &str| AuthConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        keys: vec![KeySource::JwksUrl { url: url.into(), fetch: FetchSettings::default() }],
        leeway_seconds: 0,
        claims: Default::default(),
    };
    let refused = Authenticator::new(config("http://idp.example.com/jwks")).expect_err("refused");
    assert!(refused.to_string().contains("loopback"), "{refused}");
    assert!(Authenticator::new(config("http://127.0.0.1:9/jwks")).is_ok());
    assert!(Authenticator::new(config("http://[::1]:9/jwks")).is_ok());
    assert!(Authenticator::new(config("https://idp.example.com/jwks")).is_ok());
    assert!(Authenticator::new(config("ftp://idp.example.com/jwks")).is_err());
}
