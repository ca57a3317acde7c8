//! Signing keys from the identity provider: a JWKS URL, or an OpenID Connect
//! issuer whose discovery document names it. Fetched at start (the server is
//! not ready until they are), refreshed periodically within bounds that
//! honour `Cache-Control: max-age`, and refreshed early when a token names a
//! `kid` the set does not have, at most once per [`RefreshBounds::min`] (a
//! flood of unknown kids causes no more than one fetch per interval). A fetch
//! that fails keeps the keys in use; a key missing from a new set stops being
//! accepted (the token cache is emptied with each new set).
//!
//! HTTPS is verified with the system's roots plus an optional CA file; plain
//! `http://` is accepted only for loopback addresses (tests, a sidecar).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::keys::{self, VerifyingKey};
use super::{AuthConfigError, Authenticator, KeySource};

/// A key from a fetched set, ready to verify with.
pub struct FetchedKey(pub(super) VerifyingKey);

/// How often the set is fetched: never more often than `min` (also the
/// unknown-kid rate), never less often than `max`; in between, the
/// `max-age` the provider sends (default `max` when it sends none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshBounds {
    pub min: Duration,
    pub max: Duration,
}

impl Default for RefreshBounds {
    fn default() -> Self {
        RefreshBounds { min: Duration::from_secs(30), max: Duration::from_secs(300) }
    }
}

/// How keys are fetched: extra CA roots, refresh bounds, and how long the
/// start may wait for the first set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    pub ca: Option<std::path::PathBuf>,
    pub bounds: RefreshBounds,
    pub start_deadline: Duration,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            ca: None,
            bounds: RefreshBounds::default(),
            start_deadline: Duration::from_secs(30),
        }
    }
}

/// Where the keys come from, and the state of their refresh.
pub struct RemoteKeys {
    /// The JWKS URL, or the issuer whose discovery names it.
    source: Source,
    client: reqwest::Client,
    bounds: RefreshBounds,
    start_deadline: Duration,
    wake: tokio::sync::Notify,
    /// When the last fetch started (none yet: `None`).
    last_fetch: Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

enum Source {
    Jwks(String),
    Oidc(String),
}

impl RemoteKeys {
    pub(super) fn new(source: &KeySource) -> Result<RemoteKeys, AuthConfigError> {
        let (source, fetch) = match source {
            KeySource::JwksUrl { url, fetch } => (Source::Jwks(url.clone()), fetch),
            KeySource::OidcIssuer { issuer, fetch } => {
                (Source::Oidc(issuer.trim_end_matches('/').to_string()), fetch)
            }
            _ => unreachable!("only remote sources"),
        };
        if fetch.bounds.min > fetch.bounds.max || fetch.bounds.min.is_zero() {
            return Err(AuthConfigError::InvalidKey {
                origin: "--jwt-jwks-refresh-min/--jwt-jwks-refresh-max".into(),
                reason: "the minimum must be above zero and at most the maximum".into(),
            });
        }
        let ca = &fetch.ca;
        let url = match &source {
            Source::Jwks(url) | Source::Oidc(url) => url.clone(),
        };
        check_url(&url)?;
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("network-server/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca {
            let pem = keys::read(path)?;
            let certificate = reqwest::Certificate::from_pem(&pem).map_err(|error| {
                AuthConfigError::InvalidKey {
                    origin: path.display().to_string(),
                    reason: format!("not a PEM CA certificate ({error})"),
                }
            })?;
            builder = builder.add_root_certificate(certificate);
        }
        let client = builder.build().map_err(|error| AuthConfigError::InvalidKey {
            origin: url.clone(),
            reason: format!("cannot build the HTTPS client ({error})"),
        })?;
        Ok(RemoteKeys {
            source,
            client,
            bounds: fetch.bounds,
            start_deadline: fetch.start_deadline,
            wake: tokio::sync::Notify::new(),
            last_fetch: Mutex::new(None),
            fetches: AtomicU64::new(0),
        })
    }

    /// The URL keys are fetched from (or discovered through), for messages.
    pub fn url(&self) -> &str {
        match &self.source {
            Source::Jwks(url) | Source::Oidc(url) => url,
        }
    }

    /// How long the start waits for the first key set.
    pub fn start_deadline(&self) -> Duration {
        self.start_deadline
    }

    /// How many fetches were started (for tests and metrics).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Asks the refresh task for an early fetch (a token named an unknown
    /// kid); it happens no sooner than `min` after the previous one.
    pub(super) fn request_refresh(&self) {
        self.wake.notify_one();
    }

    /// Fetches the set once: the keys and how long the provider says they stay fresh.
    pub async fn fetch(&self) -> Result<(Vec<FetchedKey>, Option<Duration>), String> {
        *self.last_fetch.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let jwks_url = match &self.source {
            Source::Jwks(url) => url.clone(),
            Source::Oidc(issuer) => {
                let discovery = format!("{issuer}/.well-known/openid-configuration");
                let (body, _) = self.get(&discovery).await?;
                let document: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|error| format!("{discovery}: not a JSON document ({error})"))?;
                if document.get("issuer").and_then(|v| v.as_str()).map(|i| i.trim_end_matches('/'))
                    != Some(issuer.as_str())
                {
                    return Err(format!("{discovery}: its `issuer` is not {issuer}"));
                }
                let uri = document
                    .get("jwks_uri")
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| format!("{discovery}: no `jwks_uri`"))?;
                check_url(uri).map_err(|error| error.to_string())?;
                uri.to_string()
            }
        };
        let (body, max_age) = self.get(&jwks_url).await?;
        let keys = keys::parse_jwks(&body, &jwks_url, false).map_err(|error| error.to_string())?;
        Ok((keys.into_iter().map(FetchedKey).collect(), max_age))
    }

    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<Duration>), String> {
        let response =
            self.client.get(url).send().await.map_err(|error| format!("{url}: {error}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("{url}: HTTP {status}"));
        }
        let max_age = response
            .headers()
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .find_map(|directive| {
                let (name, value) = directive.trim().split_once('=')?;
                name.eq_ignore_ascii_case("max-age").then(|| value.trim().parse::<u64>().ok())?
            })
            .map(Duration::from_secs);
        // A key set is small; anything much larger is not one.
        let body = response.bytes().await.map_err(|error| format!("{url}: {error}"))?;
        if body.len() > 1 << 20 {
            return Err(format!("{url}: a key set of {} bytes is too large", body.len()));
        }
        Ok((body.to_vec(), max_age))
    }
}

/// `https://`, or `http://` to a loopback address only.
fn check_url(url: &str) -> Result<(), AuthConfigError> {
    let invalid = |reason: &str| AuthConfigError::InvalidKey {
        origin: url.to_string(),
        reason: reason.to_string(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| invalid("not a URL"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = parsed.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host == "localhost"
                || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(invalid("plain http:// is accepted only for loopback addresses: use https://"))
            }
        }
        _ => Err(invalid("must be an https:// URL")),
    }
}

/// Fetches the set until it is had or `deadline` passes (the server is not
/// ready meanwhile); the error names the URL and the last failure.
pub async fn fetch_initial(auth: &Authenticator, deadline: Duration) -> Result<(), String> {
    let Some(remote) = auth.remote() else { return Ok(()) };
    let give_up = Instant::now() + deadline;
    let mut last_error;
    loop {
        match remote.fetch().await {
            Ok((keys, _)) => {
                auth.replace_remote_keys(keys);
                return Ok(());
            }
            Err(error) => last_error = error,
        }
        if Instant::now() + Duration::from_millis(500) > give_up {
            return Err(format!(
                "no signing keys from {} within {:?}: {last_error}",
                remote.url(),
                deadline
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The refresh task: runs for the life of the server.
pub async fn refresh(auth: Arc<Authenticator>, log: slog::Logger) {
    let Some(remote) = auth.remote() else { return };
    let bounds = remote.bounds;
    let mut wait = bounds.max;
    loop {
        // Sleep until the set is stale or a token names an unknown kid...
        let _ = tokio::time::timeout(wait, remote.wake.notified()).await;
        // ...but never fetch sooner than `min` after the previous fetch.
        let since = remote
            .last_fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|at| at.elapsed())
            .unwrap_or(bounds.min);
        if since < bounds.min {
            tokio::time::sleep(bounds.min - since).await;
        }
        wait = match remote.fetch().await {
            Ok((keys, max_age)) => {
                slog::info!(log, "signing keys refreshed"; "url" => remote.url(), "keys" => keys.len());
                auth.replace_remote_keys(keys);
                max_age.unwrap_or(bounds.max).clamp(bounds.min, bounds.max)
            }
            Err(error) => {
                slog::warn!(log, "refreshing the signing keys failed: keeping the current ones";
                    "url" => remote.url(), "error" => error);
                bounds.min
            }
        };
    }
}
