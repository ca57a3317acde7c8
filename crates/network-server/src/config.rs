//! The server's configuration: one clap struct, every flag with a `NETWORK_...`
//! environment variable, documented by `network-server --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::auth::remote::{FetchSettings, RefreshBounds};
use crate::auth::{self, AuthConfig, ClaimNames, ClaimPath, KeySource, Signer, TokenClaims};
use crate::domain;
use crate::listing::ListLimits;
use crate::ratelimit::RateLimitConfig;
use crate::server::{self, ConnectionLimits, Settings, StoreSettings, CONTRACT_BODY_LIMIT};

/// The Network API server: customers of an IoT platform, contract-first.
#[derive(Debug, Clone, Parser)]
#[command(name = "network-server", version, about, long_about = None)]
pub struct Config {
    #[command(flatten)]
    pub server: ServerArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Mint a token with the configured private key or secret and print only the token.
    Token(TokenArgs),
    /// Copy the SQLite database of --data-dir into a new file, consistently,
    /// while the server runs (then check the copy's integrity).
    Backup(BackupArgs),
    /// Put a backup in place as the SQLite database of --data-dir (the server
    /// must be stopped).
    Restore(RestoreArgs),
    /// Copy every customer of the SQLite store of --data-dir into PostgreSQL
    /// (ids, versions and timestamps kept), then verify counts and checksums
    /// per tenant.
    CopyStore(CopyStoreArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CopyStoreArgs {
    /// The PostgreSQL database to copy into (migrated first).
    #[arg(long)]
    pub to: String,
    /// The PostgreSQL schema to copy into (created if missing).
    #[arg(long)]
    pub schema: Option<String>,
    /// Continue an interrupted copy: customers already in the target are kept.
    #[arg(long)]
    pub resume: bool,
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The file to write (must not exist).
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup to restore.
    #[arg(long)]
    pub from: PathBuf,
    /// Replace the database the data directory already holds.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Development mode: listen on 127.0.0.1:8080, keep SQLite and a generated
    /// Ed25519 signing key under the data directory, print a ready token.
    #[arg(long, env = "NETWORK_DEV", global = true)]
    pub dev: bool,

    /// Address to listen on.
    #[arg(long, env = "NETWORK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Directory for the SQLite database (and, with --dev, the dev signing key).
    #[arg(long, env = "NETWORK_DATA_DIR", default_value = "./network-data", global = true)]
    pub data_dir: PathBuf,

    /// PostgreSQL URL (postgres://user@host/db); without it, SQLite in the data directory.
    #[arg(long, env = "NETWORK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL schema to use (created if missing); default: the search_path's.
    #[arg(long, env = "NETWORK_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,

    /// PostgreSQL connection pool size.
    #[arg(long, env = "NETWORK_DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: usize,

    /// SQLite: commit concurrent writes together (one fsync for many requests).
    /// `false` commits (and fsyncs) every request on its own.
    #[arg(long, env = "NETWORK_SQLITE_GROUP_COMMIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub sqlite_group_commit: bool,

    /// Required `iss` of tokens (and the `iss` of minted ones).
    #[arg(long, env = "NETWORK_JWT_ISSUER", default_value = "network-server", global = true)]
    pub jwt_issuer: String,

    /// Required `aud` of tokens (and the `aud` of minted ones).
    #[arg(long, env = "NETWORK_JWT_AUDIENCE", default_value = "network-api", global = true)]
    pub jwt_audience: String,

    /// A PEM public key (Ed25519 → EdDSA, RSA → RS256, P-256 → ES256) that signs tokens.
    /// Repeatable; in the environment, a comma-separated list.
    #[arg(long = "jwt-public-key", env = "NETWORK_JWT_PUBLIC_KEYS", value_delimiter = ',')]
    pub jwt_public_keys: Vec<PathBuf>,

    /// A JWKS file (JSON Web Key Set) with the keys that sign tokens.
    #[arg(long, env = "NETWORK_JWT_JWKS")]
    pub jwt_jwks: Option<PathBuf>,

    /// The identity provider's JWKS URL: keys fetched at start (not ready
    /// until then), refreshed, rotated without a restart. https:// (http://
    /// only for loopback).
    #[arg(long, env = "NETWORK_JWT_JWKS_URL", conflicts_with = "jwt_oidc_issuer")]
    pub jwt_jwks_url: Option<String>,

    /// An OpenID Connect issuer: its JWKS URL is discovered from
    /// `<URL>/.well-known/openid-configuration`, and it becomes the required
    /// `iss` (instead of --jwt-issuer).
    #[arg(long, env = "NETWORK_JWT_OIDC_ISSUER")]
    pub jwt_oidc_issuer: Option<String>,

    /// A PEM CA certificate trusted for the identity provider, besides the system's roots.
    #[arg(long, env = "NETWORK_JWT_JWKS_CA")]
    pub jwt_jwks_ca: Option<PathBuf>,

    /// The identity provider's keys are fetched at most this often (also the
    /// limit for the early fetch a token with an unknown `kid` asks for).
    #[arg(long, env = "NETWORK_JWT_JWKS_REFRESH_MIN", default_value = "30s", value_parser = humantime::parse_duration)]
    pub jwt_jwks_refresh_min: Duration,

    /// ... and at least this often (a `Cache-Control: max-age` in between is honoured).
    #[arg(long, env = "NETWORK_JWT_JWKS_REFRESH_MAX", default_value = "5m", value_parser = humantime::parse_duration)]
    pub jwt_jwks_refresh_max: Duration,

    /// How long the start waits for the identity provider's first key set before it fails.
    #[arg(long, env = "NETWORK_JWT_JWKS_START_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub jwt_jwks_start_timeout: Duration,

    /// A file holding an HS256 secret (at least 32 bytes; surrounding white space is trimmed).
    #[arg(long, env = "NETWORK_JWT_HS256_SECRET_FILE", global = true)]
    pub jwt_hs256_secret_file: Option<PathBuf>,

    /// A PEM private key used by `network-server token` to mint tokens.
    #[arg(long, env = "NETWORK_JWT_SIGNING_KEY", global = true)]
    pub jwt_signing_key: Option<PathBuf>,

    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(long, env = "NETWORK_JWT_LEEWAY_SECONDS", default_value_t = 30)]
    pub jwt_leeway_seconds: u64,

    /// The claim that names the tenant: a name, or a path into nested
    /// objects (`org.name`); a top-level claim with the whole name wins, so
    /// URL-shaped names (`https://example.com/tenant`) work as they are.
    #[arg(long, env = "NETWORK_JWT_TENANT_CLAIM", default_value = "tenant", global = true)]
    pub jwt_tenant_claim: String,

    /// The claim that lists the permissions, a JSON array of strings (for the
    /// OAuth claims `scope` and `scp`, also a space-separated string); a name
    /// or path as for the tenant (Keycloak: `realm_access.roles`).
    #[arg(
        long,
        env = "NETWORK_JWT_PERMISSIONS_CLAIM",
        default_value = "permissions",
        global = true
    )]
    pub jwt_permissions_claim: String,

    /// The optional claim that scopes a token to one customer; a name or path.
    #[arg(long, env = "NETWORK_JWT_CUSTOMER_CLAIM", default_value = "customerId", global = true)]
    pub jwt_customer_claim: String,

    /// Requests per minute allowed to one tenant: for the whole deployment
    /// when the replicas share PostgreSQL, else per replica (SQLite).
    #[arg(long, env = "NETWORK_RATE_LIMIT_TENANT_PER_MINUTE", default_value_t = 2000)]
    pub rate_limit_tenant_per_minute: u32,

    /// Requests per minute allowed to one subject (user) of a tenant (per replica).
    #[arg(long, env = "NETWORK_RATE_LIMIT_SUBJECT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_subject_per_minute: u32,

    /// Failed authentications per minute allowed to one client address;
    /// beyond it the address gets 429 before any signature is checked
    /// (tokens it already used successfully keep working).
    #[arg(long, env = "NETWORK_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE", default_value_t = 60)]
    pub rate_limit_auth_failures_per_minute: u32,

    /// With PostgreSQL, replicas share each tenant's limit: every replica
    /// writes a heartbeat this often (milliseconds) and admits 1/N of the
    /// limit for N live replicas (one seen within three heartbeats).
    #[arg(long, env = "NETWORK_RATE_LIMIT_HEARTBEAT_MS", default_value_t = 5000)]
    pub rate_limit_heartbeat_ms: u64,

    /// An origin (`scheme://host[:port]`) allowed to call the API from a
    /// browser (CORS). Repeatable; the variable takes a comma-separated list.
    /// None (the default): no CORS header is ever sent.
    #[arg(long = "cors-allow-origin", env = "NETWORK_CORS_ALLOW_ORIGINS", value_delimiter = ',')]
    pub cors_allow_origins: Vec<String>,

    /// Largest accepted request body, in bytes (at most the contract's
    /// 10485760, which every schema-valid body fits; a lower value refuses
    /// some valid requests).
    #[arg(long, env = "NETWORK_BODY_LIMIT", default_value_t = crate::server::CONTRACT_BODY_LIMIT)]
    pub body_limit: usize,

    /// A request body must arrive whole within this time once the server
    /// reads it (after admission); a slower one is answered 408 and its
    /// connection closed.
    #[arg(long, env = "NETWORK_BODY_DEADLINE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub body_deadline: Duration,

    /// A connection must send a complete request head within this time after
    /// it opens and after each response (idle keep-alive); otherwise it is closed.
    #[arg(long, env = "NETWORK_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// Most connections open at once; more wait in the listen backlog.
    /// Default: 4096, or fewer when the open-files hard limit (RLIMIT_NOFILE)
    /// leaves less room (it minus 128). A value given here must fit under
    /// that limit (the soft limit is raised as needed), or the server refuses
    /// to start.
    #[arg(long, env = "NETWORK_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// On SIGINT/SIGTERM, in-flight requests get this long to finish before
    /// the remaining connections are closed and the process exits (acknowledged
    /// writes are durable before they are acknowledged, so none is lost).
    #[arg(long, env = "NETWORK_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// The longest one list query may run, in milliseconds (SQLite: the
    /// statement is interrupted; PostgreSQL: `statement_timeout`); a list that
    /// takes longer is answered 503 with `Retry-After`.
    #[arg(long, env = "NETWORK_LIST_QUERY_TIMEOUT_MS", default_value_t = 2000)]
    pub list_query_timeout_ms: u64,

    /// At most this many list requests of one tenant in flight (per replica);
    /// must be below the number of read connections (SQLite: 4; PostgreSQL:
    /// the pool size), so that other tenants always find one.
    #[arg(long, env = "NETWORK_LIST_CONCURRENCY_PER_TENANT", default_value_t = 2)]
    pub list_concurrency_per_tenant: usize,

    /// At most this many list requests in flight in total (per replica): bounds
    /// the memory of the pages being streamed.
    #[arg(long, env = "NETWORK_LIST_CONCURRENCY", default_value_t = 8)]
    pub list_concurrency: usize,

    /// How long a list request waits for its turn, in milliseconds, before a
    /// 429 (the tenant's limit) or a 503 (the total), each with `Retry-After`.
    #[arg(long, env = "NETWORK_LIST_QUEUE_WAIT_MS", default_value_t = 1000)]
    pub list_queue_wait_ms: u64,

    /// Once the server accepts requests, write its bound address
    /// (`127.0.0.1:8080`, one line) to this file, atomically (a temporary
    /// file renamed into place); removed at shutdown. Harnesses wait for it.
    #[arg(long, env = "NETWORK_READY_FILE")]
    pub ready_file: Option<PathBuf>,
    /// The longest a login (a newly seen token with a customer claim) waits
    /// before it is written as the customer's access timestamps, in
    /// milliseconds; the logins of that time are merged into one write.
    #[arg(long, env = "NETWORK_ACCESS_FLUSH_INTERVAL_MS", default_value_t = 500)]
    pub access_flush_interval_ms: u64,

    /// At most this many logins queued for recording (per replica); beyond,
    /// a login is dropped (counted in the metrics) rather than delay a request.
    #[arg(long, env = "NETWORK_ACCESS_QUEUE", default_value_t = 10_000)]
    pub access_queue: usize,

    /// Log level: trace, debug, info, warn, error, critical.
    #[arg(long, env = "NETWORK_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The tenant the token grants access to.
    #[arg(long)]
    pub tenant: String,

    /// The user id (`sub`).
    #[arg(long)]
    pub subject: String,

    /// A permission (READ_CUSTOMER, WRITE_CUSTOMER, DELETE_CUSTOMER, READ_ALL_CUSTOMERS); repeatable.
    #[arg(long = "permission", required = true)]
    pub permissions: Vec<String>,

    /// Restrict the token to one customer.
    #[arg(long)]
    pub customer_id: Option<String>,

    /// Lifetime, e.g. 15m, 1h, 24h.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
}

/// Which flag and variable a message names.
fn flag(name: &str) -> String {
    format!("--{name} (NETWORK_{})", name.to_uppercase().replace('-', "_"))
}

impl ServerArgs {
    /// Every value checked at start, each refusal naming its flag: no limit
    /// is quietly raised, lowered or read as another value.
    pub fn validate(&self) -> Result<(), String> {
        let at_least_one = [
            ("rate-limit-tenant-per-minute", u64::from(self.rate_limit_tenant_per_minute)),
            ("rate-limit-subject-per-minute", u64::from(self.rate_limit_subject_per_minute)),
            (
                "rate-limit-auth-failures-per-minute",
                u64::from(self.rate_limit_auth_failures_per_minute),
            ),
            ("body-limit", self.body_limit as u64),
            ("database-pool-size", self.database_pool_size as u64),
            ("list-query-timeout-ms", self.list_query_timeout_ms),
            ("list-concurrency-per-tenant", self.list_concurrency_per_tenant as u64),
            ("list-concurrency", self.list_concurrency as u64),
            ("access-flush-interval-ms", self.access_flush_interval_ms),
            ("access-queue", self.access_queue as u64),
            ("max-connections", self.max_connections.unwrap_or(1) as u64),
        ];
        for (name, value) in at_least_one {
            if value == 0 {
                return Err(format!("{} must be at least 1 (got 0)", flag(name)));
            }
        }
        if self.rate_limit_heartbeat_ms < 10 {
            return Err(format!(
                "{} must be at least 10 (got {})",
                flag("rate-limit-heartbeat-ms"),
                self.rate_limit_heartbeat_ms
            ));
        }
        if self.body_limit > CONTRACT_BODY_LIMIT {
            return Err(format!(
                "{} must be at most {CONTRACT_BODY_LIMIT} bytes, the contract's limit (got {})",
                flag("body-limit"),
                self.body_limit
            ));
        }
        let durations = [
            ("body-deadline", self.body_deadline),
            ("header-read-timeout", self.header_read_timeout),
            ("jwt-jwks-refresh-min", self.jwt_jwks_refresh_min),
            ("jwt-jwks-start-timeout", self.jwt_jwks_start_timeout),
        ];
        for (name, value) in durations {
            if value.is_zero() {
                return Err(format!("{} must be longer than zero", flag(name)));
            }
        }
        if self.jwt_jwks_refresh_min > self.jwt_jwks_refresh_max {
            return Err(format!(
                "{} must be at most {}",
                flag("jwt-jwks-refresh-min"),
                flag("jwt-jwks-refresh-max")
            ));
        }
        if self.log_level.parse::<slog::Level>().is_err() {
            return Err(format!(
                "{} must be trace, debug, info, warn, error or critical (got `{}`)",
                flag("log-level"),
                self.log_level
            ));
        }
        Ok(())
    }

    /// The server's settings, every value checked first ([`ServerArgs::validate`]).
    pub fn settings(&self) -> Result<Settings, String> {
        self.validate()?;
        let store = match &self.database_url {
            Some(url) => StoreSettings::Postgres {
                url: url.clone(),
                schema: self.database_schema.clone(),
                pool_size: self.database_pool_size,
            },
            None => StoreSettings::Sqlite {
                path: self.data_dir.join(server::SQLITE_FILE),
                group_commit: self.sqlite_group_commit,
            },
        };
        let settings = Settings {
            bind: self.bind,
            store,
            auth: AuthConfig {
                // An OIDC issuer is the required `iss`, exactly as given (Auth0's
                // ends with a slash, Keycloak's does not).
                issuer: self.jwt_oidc_issuer.clone().unwrap_or_else(|| self.jwt_issuer.clone()),
                audience: self.jwt_audience.clone(),
                keys: self.key_sources()?,
                leeway_seconds: self.jwt_leeway_seconds,
                claims: self.claim_names()?,
            },
            rate: RateLimitConfig {
                tenant_per_minute: self.rate_limit_tenant_per_minute,
                subject_per_minute: self.rate_limit_subject_per_minute,
                auth_failures_per_minute: self.rate_limit_auth_failures_per_minute,
                heartbeat: Duration::from_millis(self.rate_limit_heartbeat_ms),
                ..RateLimitConfig::default()
            },
            body_limit: self.body_limit,
            connections: ConnectionLimits {
                body_deadline: self.body_deadline,
                header_read_timeout: self.header_read_timeout,
                max_connections: self
                    .max_connections
                    .unwrap_or_else(server::default_max_connections),
                shutdown_grace: self.shutdown_grace,
            },
            cors_allow_origins: self.cors_allow_origins.clone(),
            list: ListLimits {
                query_timeout: Duration::from_millis(self.list_query_timeout_ms),
                per_tenant: self.list_concurrency_per_tenant,
                total: self.list_concurrency,
                queue_wait: Duration::from_millis(self.list_queue_wait_ms),
            },
            access: crate::access::AccessOptions {
                flush_interval: Duration::from_millis(self.access_flush_interval_ms),
                queue: self.access_queue,
                ..Default::default()
            },
        };
        Ok(settings)
    }

    /// The keys that verify tokens, from flags (and, with --dev, the dev key).
    pub fn key_sources(&self) -> Result<Vec<KeySource>, String> {
        let mut keys: Vec<KeySource> = self
            .jwt_public_keys
            .iter()
            .map(|path| KeySource::PublicKeyPem { path: path.clone(), kid: None })
            .collect();
        if let Some(path) = &self.jwt_jwks {
            keys.push(KeySource::Jwks { path: path.clone() });
        }
        if let Some(path) = &self.jwt_hs256_secret_file {
            keys.push(KeySource::HmacSecret { secret: read_secret(path)?, kid: None });
        }
        let fetch = FetchSettings {
            ca: self.jwt_jwks_ca.clone(),
            bounds: RefreshBounds {
                min: self.jwt_jwks_refresh_min,
                max: self.jwt_jwks_refresh_max,
            },
            start_deadline: self.jwt_jwks_start_timeout,
        };
        if let Some(url) = &self.jwt_jwks_url {
            keys.push(KeySource::JwksUrl { url: url.clone(), fetch: fetch.clone() });
        }
        if let Some(issuer) = &self.jwt_oidc_issuer {
            keys.push(KeySource::OidcIssuer { issuer: issuer.clone(), fetch });
        }
        if self.dev {
            let dev = auth::ensure_dev_key(&self.data_dir).map_err(|error| error.to_string())?;
            keys.push(KeySource::PublicKeyPem { path: dev.public_key_path, kid: None });
        }
        if keys.is_empty() {
            return Err("no key to verify tokens with: pass --jwt-public-key, --jwt-jwks, \
                 --jwt-jwks-url, --jwt-oidc-issuer or --jwt-hs256-secret-file (or \
                 NETWORK_JWT_PUBLIC_KEYS, NETWORK_JWT_JWKS, NETWORK_JWT_JWKS_URL, \
                 NETWORK_JWT_OIDC_ISSUER, NETWORK_JWT_HS256_SECRET_FILE), or run with --dev \
                 for development"
                .to_string());
        }
        Ok(keys)
    }

    /// The key that mints tokens: --jwt-signing-key, else the HS256 secret, else (with --dev) the dev key.
    pub fn signer(&self) -> Result<Signer, String> {
        if let Some(path) = &self.jwt_signing_key {
            let pem = std::fs::read(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
            return Signer::from_private_pem(&pem, None).map_err(|error| error.to_string());
        }
        if let Some(path) = &self.jwt_hs256_secret_file {
            return Signer::hs256(read_secret(path)?, None).map_err(|error| error.to_string());
        }
        if self.dev {
            return auth::ensure_dev_key(&self.data_dir)
                .map(|dev| dev.signer)
                .map_err(|error| error.to_string());
        }
        Err("no key to sign tokens with: pass --jwt-signing-key (a PEM private key) or \
             --jwt-hs256-secret-file, or --dev (with --data-dir) to use the dev key"
            .to_string())
    }

    pub fn claims(
        &self,
        tenant: &str,
        subject: &str,
        permissions: Vec<String>,
        customer_id: Option<String>,
        ttl: std::time::Duration,
    ) -> TokenClaims {
        let now = domain::now_millis() / 1000;
        TokenClaims {
            sub: subject.to_string(),
            tenant: tenant.to_string(),
            permissions,
            customer_id,
            iss: self.jwt_issuer.clone(),
            aud: self.jwt_audience.clone(),
            iat: now,
            exp: now + ttl.as_secs() as i64,
            nbf: None,
        }
    }

    /// The configured claim names, each checked to be non-empty.
    pub fn claim_names(&self) -> Result<ClaimNames, String> {
        let path = |flag: &str, value: &str| {
            ClaimPath::parse(value).ok_or_else(|| format!("--{flag} must not be empty"))
        };
        Ok(ClaimNames {
            tenant: path("jwt-tenant-claim", &self.jwt_tenant_claim)?,
            permissions: path("jwt-permissions-claim", &self.jwt_permissions_claim)?,
            customer: path("jwt-customer-claim", &self.jwt_customer_claim)?,
        })
    }
}

fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let text =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    Ok(text.trim_ascii().to_vec())
}

/// `docs/configuration.md`: every flag and subcommand with its environment
/// variable, default and meaning, rendered from the clap definitions above
/// (a test keeps the checked-in file current).
pub fn reference_markdown() -> String {
    use clap::CommandFactory;
    let command = Config::command();
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from crates/network-server/src/config.rs by its test \
         `configuration_reference_is_current`; do not edit by hand. Regenerate with \
         `NETWORK_UPDATE_DOCS=1 cargo test -p network-server --lib configuration_reference`. -->\n\n\
         Every flag can also be set by its environment variable; a flag given on the \
         command line wins. Durations are written like `10s`, `500ms`, `15m`.\n",
    );
    render_command(&mut out, &command, "network-server");
    for sub in command.get_subcommands() {
        render_command(&mut out, sub, &format!("network-server {}", sub.get_name()));
    }
    out
}

fn render_command(out: &mut String, command: &clap::Command, name: &str) {
    out.push_str(&format!("\n## `{name}`\n\n"));
    if let Some(about) = command.get_about() {
        out.push_str(&format!("{about}\n\n"));
    }
    out.push_str("| flag | variable | default | meaning |\n|---|---|---|---|\n");
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        let variable = arg
            .get_env()
            .map(|env| format!("`{}`", env.to_string_lossy()))
            .unwrap_or_else(|| "".to_string());
        let defaults: Vec<String> =
            arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        let default =
            if defaults.is_empty() { String::new() } else { format!("`{}`", defaults.join(",")) };
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|help| help.to_string().replace('\n', " ").replace('|', "\\|"))
            .unwrap_or_default();
        out.push_str(&format!("| `--{long}` | {variable} | {default} | {help} |\n"));
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The server's arguments from a command line (a JWKS file path is
    /// enough for the key list: it is read only when the server starts).
    fn args(extra: &[&str]) -> ServerArgs {
        let mut line = vec!["network-server", "--jwt-jwks", "/nonexistent/jwks.json"];
        line.extend_from_slice(extra);
        Config::try_parse_from(line).expect("the flags parse").server
    }

    #[test]
    fn defaults_are_valid_and_become_the_settings() {
        let settings = args(&[]).settings().expect("the defaults are valid");
        assert_eq!(settings.rate.tenant_per_minute, 2000);
        assert_eq!(settings.body_limit, CONTRACT_BODY_LIMIT);
        assert_eq!(settings.list.query_timeout, Duration::from_millis(2000));
        assert!(matches!(settings.store, StoreSettings::Sqlite { group_commit: true, .. }));
        assert!(matches!(
            settings.auth.keys.as_slice(),
            [KeySource::Jwks { path }] if path == std::path::Path::new("/nonexistent/jwks.json")
        ));
    }

    /// Issue 11: `--rate-limit-tenant-per-minute 0` quietly became 1 per
    /// minute, and a body limit above the contract's was clamped.
    #[test]
    fn every_limit_is_checked_at_start_naming_its_flag() {
        let refused = [
            (&["--rate-limit-tenant-per-minute", "0"][..], "--rate-limit-tenant-per-minute (NETWORK_RATE_LIMIT_TENANT_PER_MINUTE) must be at least 1"),
            (&["--rate-limit-subject-per-minute", "0"], "--rate-limit-subject-per-minute"),
            (&["--rate-limit-auth-failures-per-minute", "0"], "--rate-limit-auth-failures-per-minute"),
            (&["--body-limit", "0"], "--body-limit (NETWORK_BODY_LIMIT) must be at least 1"),
            (&["--body-limit", "10485761"], "must be at most 10485760 bytes, the contract's limit (got 10485761)"),
            (&["--rate-limit-heartbeat-ms", "9"], "--rate-limit-heartbeat-ms (NETWORK_RATE_LIMIT_HEARTBEAT_MS) must be at least 10 (got 9)"),
            (&["--access-flush-interval-ms", "0"], "--access-flush-interval-ms (NETWORK_ACCESS_FLUSH_INTERVAL_MS) must be at least 1"),
            (&["--access-queue", "0"], "--access-queue (NETWORK_ACCESS_QUEUE) must be at least 1"),
            (&["--database-pool-size", "0"], "--database-pool-size"),
            (&["--list-query-timeout-ms", "0"], "--list-query-timeout-ms"),
            (&["--list-concurrency", "0"], "--list-concurrency (NETWORK_LIST_CONCURRENCY)"),
            (&["--max-connections", "0"], "--max-connections"),
            (&["--body-deadline", "0s"], "--body-deadline (NETWORK_BODY_DEADLINE) must be longer than zero"),
            (&["--header-read-timeout", "0s"], "--header-read-timeout"),
            (&["--jwt-jwks-refresh-min", "10m"], "--jwt-jwks-refresh-min (NETWORK_JWT_JWKS_REFRESH_MIN) must be at most --jwt-jwks-refresh-max"),
            (&["--log-level", "loud"], "--log-level (NETWORK_LOG_LEVEL) must be trace"),
        ];
        for (flags, expected) in refused {
            let error = args(flags).settings().expect_err(&flags.join(" "));
            assert!(error.contains(expected), "{flags:?}: {error}");
        }
        assert_eq!(args(&["--body-limit", "10485760"]).settings().unwrap().body_limit, 10_485_760);
    }

    #[test]
    fn keys_come_from_the_flags_and_none_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "  0123456789abcdef0123456789abcdef\n").unwrap();
        let secret = secret.to_str().unwrap();
        let keys = args(&["--jwt-public-key", "/a.pem", "--jwt-hs256-secret-file", secret])
            .key_sources()
            .unwrap();
        assert_eq!(keys.len(), 3);
        assert!(keys.iter().any(|key| matches!(
            key,
            KeySource::HmacSecret { secret, .. } if secret == b"0123456789abcdef0123456789abcdef"
        )));
        let none = Config::try_parse_from(["network-server"]).unwrap().server;
        assert!(none.key_sources().unwrap_err().contains("no key to verify tokens with"));
        assert!(none.signer().unwrap_err().contains("no key to sign tokens with"));
        let signer = args(&["--jwt-hs256-secret-file", secret]).signer().unwrap();
        let claims = args(&[]).claims(
            "acme",
            "dev",
            vec!["READ_CUSTOMER".into()],
            None,
            Duration::from_secs(60),
        );
        assert_eq!((claims.iss.as_str(), claims.aud.as_str()), ("network-server", "network-api"));
        assert_eq!(claims.exp - claims.iat, 60);
        assert!(signer.mint(&claims).is_ok());
    }

    #[test]
    fn claim_names_must_not_be_empty() {
        let error = args(&["--jwt-tenant-claim", ""]).settings().unwrap_err();
        assert_eq!(error, "--jwt-tenant-claim must not be empty");
    }

    #[test]
    fn configuration_reference_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
        let expected = reference_markdown();
        if std::env::var_os("NETWORK_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &expected).expect("writes docs/configuration.md");
            return;
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/configuration.md is stale: run \
             `NETWORK_UPDATE_DOCS=1 cargo test -p network-server --lib configuration_reference`"
        );
    }
}
