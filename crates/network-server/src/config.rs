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

    /// Largest accepted request body, in bytes (at most the contract's 262144).
    #[arg(long, env = "NETWORK_BODY_LIMIT", default_value_t = 262_144)]
    pub body_limit: usize,

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
