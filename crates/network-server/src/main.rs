//! The `network-server` binary: configuration, then telemetry, then start,
//! then serve until SIGINT/SIGTERM (or mint a token with `network-server token`).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use network_server::auth::remote::{FetchSettings, RefreshBounds};
use network_server::auth::{
    self, AuthConfig, ClaimNames, ClaimPath, KeySource, Permission, Signer, TokenClaims,
};
use network_server::config::{Command, Config, CopyStoreArgs, ServerArgs, TokenArgs};
use network_server::listing::ListLimits;
use network_server::ratelimit::RateLimitConfig;
use network_server::server::{self, ConnectionLimits, Settings, StoreSettings};
use network_server::{domain, telemetry};

/// mimalloc instead of glibc's malloc: under load, glibc's arenas (buffers
/// allocated on one thread and freed on another) cost about a quarter of the
/// server's CPU time (profile in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let outcome = match &config.command {
        Some(Command::Token(args)) => mint(&config.server, args),
        Some(Command::Backup(args)) => sqlite_only(&config.server, "backup").and_then(|()| {
            network_server::backup::backup(&config.server.data_dir, &args.to)
                .map(|copied| println!("backed up {copied}"))
                .map_err(|error| error.to_string())
        }),
        Some(Command::Restore(args)) => sqlite_only(&config.server, "restore").and_then(|()| {
            network_server::backup::restore(&args.from, &config.server.data_dir, args.force)
                .map(|copied| println!("restored {copied}"))
                .map_err(|error| error.to_string())
        }),
        Some(Command::CopyStore(args)) => copy_store(&config.server, args).await,
        None => serve(&config.server).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("network-server: {message}");
            ExitCode::from(2)
        }
    }
}

/// `network-server copy-store`: SQLite of --data-dir into PostgreSQL, with progress on stderr.
async fn copy_store(args: &ServerArgs, copy: &CopyStoreArgs) -> Result<(), String> {
    let mut last_report = std::time::Instant::now();
    let report = network_server::copy_store::copy_store(
        &args.data_dir,
        &copy.to,
        copy.schema.as_deref(),
        copy.resume,
        |done, total| {
            if done == total || last_report.elapsed() >= std::time::Duration::from_secs(2) {
                last_report = std::time::Instant::now();
                let _ = writeln!(std::io::stderr(), "copy-store: {done} of {total} customers");
            }
        },
    )
    .await
    .map_err(|error| error.to_string())?;
    print!("{report}");
    Ok(())
}

/// Backups are of the SQLite store; PostgreSQL has pg_dump.
fn sqlite_only(args: &ServerArgs, command: &str) -> Result<(), String> {
    match args.database_url {
        Some(_) => Err(format!(
            "`{command}` works on the SQLite store of --data-dir; for PostgreSQL use \
             pg_dump/pg_restore (see the README)"
        )),
        None => Ok(()),
    }
}

fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let text =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    Ok(text.trim_ascii().to_vec())
}

/// The keys that verify tokens, from flags (and, with --dev, the dev key).
fn key_sources(args: &ServerArgs) -> Result<Vec<KeySource>, String> {
    let mut keys: Vec<KeySource> = args
        .jwt_public_keys
        .iter()
        .map(|path| KeySource::PublicKeyPem { path: path.clone(), kid: None })
        .collect();
    if let Some(path) = &args.jwt_jwks {
        keys.push(KeySource::Jwks { path: path.clone() });
    }
    if let Some(path) = &args.jwt_hs256_secret_file {
        keys.push(KeySource::HmacSecret { secret: read_secret(path)?, kid: None });
    }
    let fetch = FetchSettings {
        ca: args.jwt_jwks_ca.clone(),
        bounds: RefreshBounds { min: args.jwt_jwks_refresh_min, max: args.jwt_jwks_refresh_max },
        start_deadline: args.jwt_jwks_start_timeout,
    };
    if let Some(url) = &args.jwt_jwks_url {
        keys.push(KeySource::JwksUrl { url: url.clone(), fetch: fetch.clone() });
    }
    if let Some(issuer) = &args.jwt_oidc_issuer {
        keys.push(KeySource::OidcIssuer { issuer: issuer.clone(), fetch });
    }
    if args.dev {
        let dev = auth::ensure_dev_key(&args.data_dir).map_err(|error| error.to_string())?;
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
fn signer(args: &ServerArgs) -> Result<Signer, String> {
    if let Some(path) = &args.jwt_signing_key {
        let pem = std::fs::read(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        return Signer::from_private_pem(&pem, None).map_err(|error| error.to_string());
    }
    if let Some(path) = &args.jwt_hs256_secret_file {
        return Signer::hs256(read_secret(path)?, None).map_err(|error| error.to_string());
    }
    if args.dev {
        return auth::ensure_dev_key(&args.data_dir)
            .map(|dev| dev.signer)
            .map_err(|error| error.to_string());
    }
    Err("no key to sign tokens with: pass --jwt-signing-key (a PEM private key) or \
         --jwt-hs256-secret-file, or --dev (with --data-dir) to use the dev key"
        .to_string())
}

fn claims(
    args: &ServerArgs,
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
        iss: args.jwt_issuer.clone(),
        aud: args.jwt_audience.clone(),
        iat: now,
        exp: now + ttl.as_secs() as i64,
        nbf: None,
    }
}

fn mint(args: &ServerArgs, token: &TokenArgs) -> Result<(), String> {
    for permission in &token.permissions {
        if Permission::parse(permission).is_none() {
            return Err(format!(
                "unknown permission `{permission}` (READ_CUSTOMER, WRITE_CUSTOMER, DELETE_CUSTOMER, READ_ALL_CUSTOMERS)"
            ));
        }
    }
    let signer = signer(args)?;
    let claims = claims(
        args,
        &token.tenant,
        &token.subject,
        token.permissions.clone(),
        token.customer_id.clone(),
        token.ttl,
    );
    let token = signer.mint(&claims).map_err(|error| error.to_string())?;
    println!("{token}");
    Ok(())
}

/// The configured claim names, each checked to be non-empty.
fn claim_names(args: &ServerArgs) -> Result<ClaimNames, String> {
    let path = |flag: &str, value: &str| {
        ClaimPath::parse(value).ok_or_else(|| format!("--{flag} must not be empty"))
    };
    Ok(ClaimNames {
        tenant: path("jwt-tenant-claim", &args.jwt_tenant_claim)?,
        permissions: path("jwt-permissions-claim", &args.jwt_permissions_claim)?,
        customer: path("jwt-customer-claim", &args.jwt_customer_claim)?,
    })
}

async fn serve(args: &ServerArgs) -> Result<(), String> {
    let log = telemetry::logger(&args.log_level);
    let store = match &args.database_url {
        Some(url) => StoreSettings::Postgres {
            url: url.clone(),
            schema: args.database_schema.clone(),
            pool_size: args.database_pool_size,
        },
        None => StoreSettings::Sqlite {
            path: args.data_dir.join(server::SQLITE_FILE),
            group_commit: args.sqlite_group_commit,
        },
    };
    let settings = Settings {
        bind: args.bind,
        store,
        auth: AuthConfig {
            // An OIDC issuer is the required `iss`, exactly as given (Auth0's
            // ends with a slash, Keycloak's does not).
            issuer: args.jwt_oidc_issuer.clone().unwrap_or_else(|| args.jwt_issuer.clone()),
            audience: args.jwt_audience.clone(),
            keys: key_sources(args)?,
            leeway_seconds: args.jwt_leeway_seconds,
            claims: claim_names(args)?,
        },
        rate: RateLimitConfig {
            tenant_per_minute: args.rate_limit_tenant_per_minute,
            subject_per_minute: args.rate_limit_subject_per_minute,
            auth_failures_per_minute: args.rate_limit_auth_failures_per_minute,
            heartbeat: Duration::from_millis(args.rate_limit_heartbeat_ms.max(10)),
            ..RateLimitConfig::default()
        },
        body_limit: args.body_limit,
        connections: ConnectionLimits {
            body_deadline: args.body_deadline,
            header_read_timeout: args.header_read_timeout,
            max_connections: args.max_connections.unwrap_or_else(server::default_max_connections),
            shutdown_grace: args.shutdown_grace,
        },
        cors_allow_origins: args.cors_allow_origins.clone(),
        list: ListLimits {
            query_timeout: Duration::from_millis(args.list_query_timeout_ms),
            per_tenant: args.list_concurrency_per_tenant,
            total: args.list_concurrency,
            queue_wait: Duration::from_millis(args.list_queue_wait_ms),
        },
        access: network_server::access::AccessOptions {
            flush_interval: Duration::from_millis(args.access_flush_interval_ms.max(1)),
            queue: args.access_queue.max(1),
            ..Default::default()
        },
    };
    let running = server::start(settings, log.clone()).await.map_err(|error| error.to_string())?;
    let address = running.local_addr();
    slog::info!(log, "listening"; "address" => %address);
    if args.dev {
        print_dev_banner(args, address)?;
    }
    wait_for_signal().await;
    slog::info!(log, "shutting down: finishing in-flight requests");
    running.shutdown().await?;
    slog::info!(log, "stopped");
    // Let the asynchronous log drain flush.
    drop(log);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    Ok(())
}

fn print_dev_banner(args: &ServerArgs, address: std::net::SocketAddr) -> Result<(), String> {
    let all = [
        Permission::ReadCustomer,
        Permission::WriteCustomer,
        Permission::DeleteCustomer,
        Permission::ReadAllCustomers,
    ];
    let permissions = all.iter().map(|p| p.as_str().to_string()).collect();
    let claims =
        claims(args, "acme", "dev", permissions, None, std::time::Duration::from_secs(24 * 3600));
    let token = signer(args)?.mint(&claims).map_err(|error| error.to_string())?;
    // Not `eprintln!`, which panics (and stops the server) when stderr is closed,
    // e.g. by a reader that stopped after the token line.
    let _ = writeln!(
        std::io::stderr(),
        "\nnetwork-server (dev) on http://{address}, data in {data}\n\n\
         A token for tenant `acme` with every permission, valid 24 h:\n\n  export TOKEN={token}\n\n\
         Create a customer, then update it (use the id the first call returns):\n\n  \
         curl -s -X POST http://{address}/network/customers -H \"Authorization: Bearer $TOKEN\" \\\n    \
         -H 'X-Servitly-Tenant: acme' -H 'Content-Type: application/json' -d '{{\"name\": \"Acme Inc.\"}}'\n\n  \
         curl -s -X PUT http://{address}/network/customers/<id> -H \"Authorization: Bearer $TOKEN\" \\\n    \
         -H 'X-Servitly-Tenant: acme' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"name\": \"Acme Inc.\", \"country\": \"IT\", \"timezone\": \"Europe/Rome\", \"properties\": {{\"foo\": \"abc\"}}}}'\n",
        data = args.data_dir.display(),
    );
    Ok(())
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler installs");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
