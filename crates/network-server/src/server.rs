//! Wiring: open the store, build the authenticator and the limiter, register
//! the API (the generated trait plus the operational endpoints), start, and
//! shut down gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dropshot::{
    ApiDescription, ConfigConnections, ConfigDropshot, HandlerTaskMode, HttpServer, ServerBuilder,
};

use crate::auth::{AuthConfig, Authenticator};
use crate::context::AppContext;
use crate::cors::{self, Cors};
use crate::docs;
use crate::http::NetworkServerImpl;
use crate::listing::{ListGate, ListLimits};
use crate::metrics::Metrics;
use crate::ops;
use crate::ratelimit::{FailedAuthLimiter, RateLimitConfig, RateLimiter};
use crate::store::postgres::{PostgresOptions, PostgresStore};
use crate::store::sqlite::{SqliteOptions, SqliteStore};
use crate::store::{CustomerStore, StoreError};

/// Where customers are kept.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// SQLite in one file.
    Sqlite { path: PathBuf, group_commit: bool },
    /// A PostgreSQL database shared by any number of replicas.
    Postgres { url: String, schema: Option<String>, pool_size: usize },
}

/// Everything `start` needs, already resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub store: StoreSettings,
    pub auth: AuthConfig,
    pub rate: RateLimitConfig,
    pub body_limit: usize,
    pub connections: ConnectionLimits,
    /// Origins allowed to call the API from a browser (CORS); none: CORS off.
    pub cors_allow_origins: Vec<String>,
    /// The limits of the list path (time limit, concurrency).
    pub list: ListLimits,
    /// How logins are batched into access timestamps.
    pub access: crate::access::AccessOptions,
}

/// Limits on connections and on how long a client may take to send.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A body must arrive whole within this time once the handler reads it.
    pub body_deadline: Duration,
    /// A request head must arrive within this time after a connection opens
    /// and after each response.
    pub header_read_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests before closing connections.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            body_deadline: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_connections: default_max_connections(),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// File descriptors kept free beside the connections: the store's files and
/// sockets, the listener, logs.
const RESERVED_FILE_DESCRIPTORS: u64 = 128;

/// The default cap on connections: 4096, or what the open-files hard limit
/// leaves room for if that is less (a machine with a low hard limit still
/// starts with the defaults; an explicit value is checked strictly).
pub fn default_max_connections() -> usize {
    let hard = rlimit::Resource::NOFILE.get().map(|(_, hard)| hard).unwrap_or(u64::MAX);
    let room = hard.saturating_sub(RESERVED_FILE_DESCRIPTORS).max(1);
    usize::try_from(room).unwrap_or(usize::MAX).min(4096)
}

/// Makes sure `max_connections` connections fit under RLIMIT_NOFILE, raising
/// the soft limit towards the hard one if needed; an error names both.
pub fn ensure_file_descriptors(max_connections: usize) -> Result<(), StartError> {
    let needed = max_connections as u64 + RESERVED_FILE_DESCRIPTORS;
    let (soft, hard) = rlimit::Resource::NOFILE
        .get()
        .map_err(|error| StartError::Limits(format!("cannot read RLIMIT_NOFILE: {error}")))?;
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(StartError::Limits(format!(
            "--max-connections {max_connections} needs {needed} file descriptors, but the \
             open-files limit (RLIMIT_NOFILE) is {hard}: lower NETWORK_MAX_CONNECTIONS \
             to at most {} or raise the limit (ulimit -n, LimitNOFILE=)",
            hard.saturating_sub(RESERVED_FILE_DESCRIPTORS)
        )));
    }
    rlimit::Resource::NOFILE.set(needed, hard).map_err(|error| {
        StartError::Limits(format!("cannot raise RLIMIT_NOFILE to {needed}: {error}"))
    })
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("invalid JWT configuration: {0}")]
    Auth(#[from] crate::auth::AuthConfigError),
    #[error("{0}")]
    Limits(String),
    #[error("{0}")]
    Keys(String),
    #[error("invalid list limits: {0}")]
    ListLimits(String),
    #[error("cannot start the HTTP server on {bind}: {message}")]
    Http { bind: SocketAddr, message: String },
}

/// The SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "network.sqlite3";

/// The largest body the contract allows (its `x-request-body-max-bytes`): 10
/// MiB, above the largest body its schemas allow however it is escaped
/// (10144224 bytes: a `Customer` sent back whole, 200 properties of 128 + 4096
/// characters, each character a 12-byte surrogate-pair escape; see the spec's
/// description and `tests/it/contract.rs`).
pub const CONTRACT_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The generated trait's endpoints plus the unpublished operational ones.
pub fn api() -> ApiDescription<AppContext> {
    let mut api = network_api::network_api_mod::api_description::<NetworkServerImpl>()
        .expect("the generated API registers");
    api.register(ops::healthz).expect("registers");
    api.register(ops::readyz).expect("registers");
    api.register(ops::metrics).expect("registers");
    api.register(ops::openapi).expect("registers");
    api.register(docs::docs).expect("registers");
    api.register(docs::redoc_js).expect("registers");
    api.register(cors::preflight_customers).expect("registers");
    api.register(cors::preflight_customer).expect("registers");
    api.register(cors::preflight_list).expect("registers");
    api
}

/// Opens (and migrates) the configured store; list queries get `query_timeout`.
pub async fn open_store(
    settings: &StoreSettings,
    query_timeout: Option<Duration>,
) -> Result<Arc<dyn CustomerStore>, StoreError> {
    Ok(match settings {
        StoreSettings::Sqlite { path, group_commit } => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|error| {
                    StoreError::Unavailable(format!("cannot create {}: {error}", parent.display()))
                })?;
            }
            let options = SqliteOptions {
                group_commit: *group_commit,
                query_timeout,
                ..SqliteOptions::default()
            };
            Arc::new(SqliteStore::open(path, options)?)
        }
        StoreSettings::Postgres { url, schema, pool_size } => {
            let options = PostgresOptions {
                schema: schema.clone(),
                pool_size: *pool_size,
                statement_timeout: query_timeout,
            };
            Arc::new(PostgresStore::connect(url, options).await?)
        }
    })
}

/// One tenant must never hold every read connection: its cap on list
/// queries in flight stays below the number of connections.
fn check_list_limits(settings: &Settings) -> Result<(), StartError> {
    let connections = match &settings.store {
        StoreSettings::Sqlite { .. } => SqliteOptions::default().read_connections,
        StoreSettings::Postgres { pool_size, .. } => *pool_size,
    };
    let list = &settings.list;
    if list.per_tenant == 0 || list.total == 0 {
        return Err(StartError::ListLimits(
            "the list concurrency limits must be at least 1".into(),
        ));
    }
    if list.per_tenant >= connections {
        return Err(StartError::ListLimits(format!(
            "--list-concurrency-per-tenant ({}) must be below the number of read connections \
             ({connections}), so that one tenant cannot hold them all",
            list.per_tenant
        )));
    }
    if list.query_timeout.is_zero() {
        return Err(StartError::ListLimits("--list-query-timeout-ms must be at least 1".into()));
    }
    Ok(())
}

/// Writes the bound address to `path` once the server accepts requests: a
/// temporary file beside it, renamed into place, so a reader never sees a
/// partial line.
pub fn write_ready_file(path: &std::path::Path, address: SocketAddr) -> Result<(), String> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, format!("{address}\n"))
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|error| format!("cannot write the ready file {}: {error}", path.display()))
}

/// The settings `start` refuses (the flags are checked earlier, by
/// `ServerArgs::validate`, with the flag names).
fn check_settings(settings: &Settings) -> Result<(), StartError> {
    settings.rate.validate().map_err(StartError::Limits)?;
    if !(1..=CONTRACT_BODY_LIMIT).contains(&settings.body_limit) {
        return Err(StartError::Limits(format!(
            "the body limit must be 1 to {CONTRACT_BODY_LIMIT} bytes (got {})",
            settings.body_limit
        )));
    }
    check_list_limits(settings)
}

/// A started server.
pub struct Running {
    server: HttpServer<AppContext>,
    store: Arc<dyn CustomerStore>,
    access: Arc<crate::access::AccessRecorder>,
    shared_limit: Option<crate::ratelimit::shared::SharedLimit>,
    housekeeping: tokio::task::JoinHandle<()>,
    refresh: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops accepting connections, lets in-flight requests finish, then
    /// flushes and closes the store.
    pub async fn shutdown(self) -> Result<(), String> {
        self.housekeeping.abort();
        self.refresh.abort();
        let result = self.server.close().await;
        if let Some(shared) = self.shared_limit {
            shared.leave().await;
        }
        self.access.close().await;
        self.store.close().await;
        result
    }
}

/// Opens the store and starts serving.
pub async fn start(settings: Settings, log: slog::Logger) -> Result<Running, StartError> {
    let limits = settings.connections;
    check_settings(&settings)?;
    ensure_file_descriptors(limits.max_connections)?;
    let cors = Cors::new(&settings.cors_allow_origins).map_err(StartError::Limits)?;
    let store = open_store(&settings.store, Some(settings.list.query_timeout)).await?;
    let auth = Arc::new(Authenticator::new(settings.auth.clone())?);
    let limiter = Arc::new(RateLimiter::new(&settings.rate));
    let failed_auth = Arc::new(FailedAuthLimiter::new(&settings.rate));
    let mut metrics = Metrics::default();
    let access = Arc::new(crate::access::AccessRecorder::start(
        store.clone(),
        settings.access,
        log.new(slog::o!("component" => "access")),
    ));
    access.stats().register(metrics.registry_mut());
    // PostgreSQL: the tenant limit is shared with the other replicas.
    let shared_limit = match &settings.store {
        StoreSettings::Postgres { url, schema, .. } => {
            use crate::ratelimit::shared::{SharedLimit, SharedOptions, SharedStats};
            let stats = SharedStats::default();
            stats.register(metrics.registry_mut());
            let started = SharedLimit::start(
                url,
                schema.as_deref(),
                limiter.clone(),
                SharedOptions::every(settings.rate.heartbeat),
                stats,
                log.new(slog::o!("component" => "rate-limit")),
            )
            .await;
            match started {
                Ok(shared) => Some(shared),
                Err(error) => {
                    store.close().await;
                    return Err(error.into());
                }
            }
        }
        StoreSettings::Sqlite { .. } => None,
    };
    let context = AppContext {
        store: store.clone(),
        auth: auth.clone(),
        limiter: limiter.clone(),
        failed_auth: failed_auth.clone(),
        metrics,
        body_limit: settings.body_limit,
        body_deadline: limits.body_deadline,
        cors,
        list_gate: ListGate::new(settings.list.clone()),
        access: access.clone(),
    };
    let config = ConfigDropshot {
        bind_address: settings.bind,
        default_request_body_max_bytes: CONTRACT_BODY_LIMIT,
        // HTTP/1.1 only: h2c is not part of the contract, and without it a
        // connection's first bytes are read under the header timeout.
        connections: ConfigConnections {
            http1_only: true,
            header_read_timeout: Some(limits.header_read_timeout),
            max_connections: Some(limits.max_connections),
            shutdown_grace: Some(limits.shutdown_grace),
        },
        // A handler whose client went away is dropped, and with it any read
        // in progress, which stops its SQL (see `store`); writes complete.
        default_handler_task_mode: HandlerTaskMode::CancelOnDisconnect,
        ..Default::default()
    };
    let log_for_keys = log.new(slog::o!("component" => "signing-keys"));
    let server = ServerBuilder::new(api(), context, log)
        .config(config)
        .start()
        .map_err(|error| StartError::Http { bind: settings.bind, message: error.to_string() })?;
    // An identity provider's keys: fetched now, while /readyz says not ready,
    // then refreshed for the life of the server.
    if let Some(remote) = auth.remote() {
        if let Err(message) =
            crate::auth::remote::fetch_initial(&auth, remote.start_deadline()).await
        {
            let _ = server.close().await;
            store.close().await;
            return Err(StartError::Keys(message));
        }
    }
    let refresh = tokio::spawn(crate::auth::remote::refresh(auth.clone(), log_for_keys));
    // Forget rate-limit keys that have refilled, so memory stays bounded.
    let housekeeping = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            limiter.housekeeping();
            failed_auth.housekeeping();
        }
    });
    Ok(Running { server, store, access, shared_limit, housekeeping, refresh })
}
