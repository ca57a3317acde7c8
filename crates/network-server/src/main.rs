//! The `network-server` binary: parse and check the configuration (`config`),
//! then telemetry, then start, then serve until SIGINT/SIGTERM (or mint a
//! token, back up, restore, copy the store).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use network_server::auth::Permission;
use network_server::config::{Command, Config, CopyStoreArgs, ServerArgs, TokenArgs};
use network_server::server;
use network_server::telemetry;

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

fn mint(args: &ServerArgs, token: &TokenArgs) -> Result<(), String> {
    for permission in &token.permissions {
        if Permission::parse(permission).is_none() {
            return Err(format!(
                "unknown permission `{permission}` (READ_CUSTOMER, WRITE_CUSTOMER, DELETE_CUSTOMER, READ_ALL_CUSTOMERS)"
            ));
        }
    }
    let signer = args.signer()?;
    let claims = args.claims(
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

async fn serve(args: &ServerArgs) -> Result<(), String> {
    let settings = args.settings()?;
    let log = telemetry::logger(&args.log_level);
    let running = server::start(settings, log.clone()).await.map_err(|error| error.to_string())?;
    let address = running.local_addr();
    slog::info!(log, "listening"; "address" => %address);
    // Harnesses wait for this file instead of parsing logs or guessing ports.
    if let Some(path) = &args.ready_file {
        if let Err(error) = server::write_ready_file(path, address) {
            let _ = running.shutdown().await;
            return Err(error);
        }
    }
    if args.dev {
        print_dev_banner(args, address)?;
    }
    wait_for_signal().await;
    slog::info!(log, "shutting down: finishing in-flight requests");
    if let Some(path) = &args.ready_file {
        let _ = std::fs::remove_file(path);
    }
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
        args.claims("acme", "dev", permissions, None, std::time::Duration::from_secs(24 * 3600));
    let token = args.signer()?.mint(&claims).map_err(|error| error.to_string())?;
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
