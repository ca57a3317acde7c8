//! `spawn_app()` and friends: a running server, its data directory, tokens and clients.

use std::sync::Arc;
use std::time::Duration;

use network_server::auth::{AuthConfig, KeySource, Signer, TokenClaims};
use network_server::ratelimit::RateLimitConfig;
use network_server::server::{self, Running, Settings, StoreSettings};

pub const TENANT: &str = "acme";
pub const OTHER_TENANT: &str = "globex";
pub const ISSUER: &str = "network-test";
pub const AUDIENCE: &str = "network-api";
/// The HS256 secret the test servers trust (32 bytes).
pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
pub const ALL: &[&str] =
    &["READ_CUSTOMER", "WRITE_CUSTOMER", "DELETE_CUSTOMER", "READ_ALL_CUSTOMERS"];

/// Which store a test server uses.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL schema (created and migrated at start).
    Postgres {
        url: String,
        schema: String,
    },
}

pub struct TestApp {
    pub base_url: String,
    pub data_dir: Arc<tempfile::TempDir>,
    pub backend: Backend,
    pub rate: RateLimitConfig,
    running: Option<Running>,
    is_replica: bool,
}

pub fn signer() -> Signer {
    Signer::hs256(SECRET.to_vec(), None).expect("a 32-byte secret is accepted")
}

pub fn now() -> i64 {
    network_server::domain::now_millis() / 1000
}

/// Claims for a token of `tenant`/`subject` with `permissions`, valid for an hour.
pub fn claims(tenant: &str, subject: &str, permissions: &[&str]) -> TokenClaims {
    TokenClaims {
        sub: subject.to_string(),
        tenant: tenant.to_string(),
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        customer_id: None,
        iss: ISSUER.to_string(),
        aud: AUDIENCE.to_string(),
        iat: now(),
        exp: now() + 3600,
        nbf: None,
    }
}

pub fn mint(claims: &TokenClaims) -> String {
    signer().mint(claims).expect("mints")
}

/// A token of the default tenant with every permission.
pub fn admin_token() -> String {
    mint(&claims(TENANT, "admin", ALL))
}

pub fn settings(data_dir: &std::path::Path, backend: &Backend, rate: &RateLimitConfig) -> Settings {
    let store = match backend {
        Backend::Sqlite => {
            StoreSettings::Sqlite { path: data_dir.join(server::SQLITE_FILE), group_commit: true }
        }
        Backend::Postgres { url, schema } => {
            StoreSettings::Postgres { url: url.clone(), schema: Some(schema.clone()), pool_size: 4 }
        }
    };
    Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        store,
        auth: AuthConfig {
            issuer: ISSUER.to_string(),
            audience: AUDIENCE.to_string(),
            keys: vec![KeySource::HmacSecret { secret: SECRET.to_vec(), kid: None }],
            leeway_seconds: 0,
            claims: Default::default(),
        },
        rate: rate.clone(),
        body_limit: 262_144,
        connections: Default::default(),
        cors_allow_origins: Vec::new(),
        list: network_server::listing::ListLimits::default(),
        access: network_server::access::AccessOptions {
            flush_interval: Duration::from_millis(20),
            ..Default::default()
        },
    }
}

/// Generous limits, so only the rate-limit tests meet them.
pub fn relaxed_rate() -> RateLimitConfig {
    RateLimitConfig {
        tenant_per_minute: 1_000_000,
        subject_per_minute: 1_000_000,
        auth_failures_per_minute: 1_000_000,
        ..RateLimitConfig::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Backend::Sqlite, relaxed_rate()).await
}

pub async fn spawn_app_with(backend: Backend, rate: RateLimitConfig) -> TestApp {
    spawn_app_on(backend, rate, |_| {}).await
}

/// A SQLite server that verifies tokens with `auth` instead of the HS256 test secret.
pub async fn spawn_app_with_auth(auth: AuthConfig) -> TestApp {
    spawn_app_tuned(|settings| settings.auth = auth).await
}

/// A SQLite server with relaxed rate limits and its settings edited by `tune`.
pub async fn spawn_app_tuned(tune: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(Backend::Sqlite, relaxed_rate(), tune).await
}

/// The one way test servers start: a fresh data directory, `backend`,
/// `rate`, and any other setting edited by `tune`.
async fn spawn_app_on(
    backend: Backend,
    rate: RateLimitConfig,
    tune: impl FnOnce(&mut Settings),
) -> TestApp {
    let data_dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
    let mut settings = settings(data_dir.path(), &backend, &rate);
    tune(&mut settings);
    let rate = settings.rate.clone();
    let running = server::start(settings, network_server::telemetry::discard())
        .await
        .expect("the server starts");
    TestApp {
        base_url: format!("http://{}", running.local_addr()),
        data_dir,
        backend,
        rate,
        running: Some(running),
        is_replica: false,
    }
}

impl TestApp {
    /// A client authenticated with `token`.
    pub fn client_with(&self, token: &str) -> network_client::Client {
        network_client::new_authenticated(&self.base_url, token).expect("client builds")
    }

    /// A client of the default tenant with every permission.
    pub fn client(&self) -> network_client::Client {
        self.client_with(&admin_token())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops the server (gracefully) and starts a new one on the same data.
    pub async fn restart(&mut self) {
        self.running.take().expect("running").shutdown().await.expect("stops cleanly");
        let running = server::start(
            settings(self.data_dir.path(), &self.backend, &self.rate),
            network_server::telemetry::discard(),
        )
        .await
        .expect("the server restarts");
        self.base_url = format!("http://{}", running.local_addr());
        self.running = Some(running);
    }

    /// A second server on the same database (a replica).
    pub async fn replica(&self) -> TestApp {
        let running = server::start(
            settings(self.data_dir.path(), &self.backend, &self.rate),
            network_server::telemetry::discard(),
        )
        .await
        .expect("the replica starts");
        TestApp {
            base_url: format!("http://{}", running.local_addr()),
            data_dir: self.data_dir.clone(),
            backend: self.backend.clone(),
            rate: self.rate.clone(),
            running: Some(running),
            is_replica: true,
        }
    }

    /// Stops the server gracefully and returns how long that took.
    pub async fn shutdown_timed(mut self) -> Duration {
        let started = std::time::Instant::now();
        self.running.take().expect("running").shutdown().await.expect("stops cleanly");
        started.elapsed()
    }

    /// Stops the server; a primary (not a replica) also drops its PostgreSQL schema.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("stops cleanly");
        }
        if let (Backend::Postgres { url, schema }, false) = (&self.backend, self.is_replica) {
            let _ = crate::common_postgres::drop_schema(url, schema).await;
        }
    }

    /// Creates a customer named `name` in the default tenant; returns its id.
    pub async fn create(&self, name: &str) -> String {
        self.client()
            .create_customer()
            .x_servitly_tenant(TENANT)
            .body(network_client::types::CustomerDetails::builder().name(name))
            .send()
            .await
            .expect("create succeeds")
            .into_inner()
            .id
            .to_string()
    }
}

/// A PostgreSQL backend in a fresh schema, or `None` when PostgreSQL is not
/// reachable (see `common_postgres::database_for`).
pub async fn postgres_backend(test: &str) -> Option<Backend> {
    let (url, schema) = crate::common_postgres::database_for(test, "it").await?;
    Some(Backend::Postgres { url, schema })
}

/// Sends a raw request (nothing cleaned up by a client library).
pub async fn raw(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    tenant: Option<&str>,
    body: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if let Some(tenant) = tenant {
        request = request.header("X-Servitly-Tenant", tenant);
    }
    if let Some(body) = body {
        request = request.header("Content-Type", "application/json").body(body.to_string());
    }
    request.send().await.expect("the server answers")
}

/// The status and the JSON body `{"message": ...}` of an error response; asserts its shape.
pub async fn error_of(response: reqwest::Response) -> (u16, String, reqwest::header::HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body: serde_json::Value = response.json().await.expect("an error body is JSON");
    let object = body.as_object().expect("an error body is an object");
    assert_eq!(object.len(), 1, "an error body is exactly {{\"message\"}}: {body}");
    (status, object["message"].as_str().expect("message is a string").to_string(), headers)
}
