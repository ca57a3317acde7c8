//! The server's configuration: one clap struct, every flag with a `NETWORK_...`
//! environment variable, documented by `network-server --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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

    /// A file holding an HS256 secret (at least 32 bytes; surrounding white space is trimmed).
    #[arg(long, env = "NETWORK_JWT_HS256_SECRET_FILE", global = true)]
    pub jwt_hs256_secret_file: Option<PathBuf>,

    /// A PEM private key used by `network-server token` to mint tokens.
    #[arg(long, env = "NETWORK_JWT_SIGNING_KEY", global = true)]
    pub jwt_signing_key: Option<PathBuf>,

    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(long, env = "NETWORK_JWT_LEEWAY_SECONDS", default_value_t = 30)]
    pub jwt_leeway_seconds: u64,

    /// Requests per minute allowed to one tenant (per replica).
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

    /// Most connections open at once; more wait in the listen backlog. Must
    /// fit under the open-files limit (RLIMIT_NOFILE, raised to its hard
    /// limit if needed) with room for the store's files: checked at start.
    #[arg(long, env = "NETWORK_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// On SIGINT/SIGTERM, in-flight requests get this long to finish before
    /// the remaining connections are closed and the process exits (acknowledged
    /// writes are durable before they are acknowledged, so none is lost).
    #[arg(long, env = "NETWORK_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

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
