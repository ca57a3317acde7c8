//! `network-cli`: the Network API from the command line, one subcommand per operation.
//!
//! The subcommands, their flags and their help come from the contract:
//! `cargo xtask generate` writes `generated.rs` with progenitor's CLI generator,
//! over the generated client (`network_client`). This file adds what the
//! contract does not say: where the server is, the bearer token, the tenant,
//! and how results are shown.
//!
//! - `--url`/`NETWORK_URL` (default `http://127.0.0.1:8080`), `--token`/`NETWORK_TOKEN`.
//! - `--tenant`/`NETWORK_TENANT` fills the required `X-Servitly-Tenant` parameter
//!   of every operation unless `--x-servitly-tenant` is given.
//! - A success prints the response body as JSON on stdout (nothing for 204);
//!   `-i`/`--include` also prints the status and headers (`ETag`) on stderr.
//! - An error response prints its status and the server's `message` on stderr
//!   and exits with status 1; a usage error exits with status 2.
//! - `--json-body FILE` sends a whole JSON body (the only way to send `properties`);
//!   it replaces the body built from the other flags. `/dev/stdin` reads it from stdin.
//! - `--country` takes one of the spec's 250 ISO 3166-1 codes; the list is
//!   checked but not printed by `--help` (unreadable at that length).
//! - `get-customers --sort field,direction` (repeatable) is added here: progenitor
//!   cannot generate array-valued query parameters.

use std::cell::Cell;
use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;
use std::rc::Rc;

use clap::{Arg, ArgAction, ArgMatches, Command};
use network_client::types::GetCustomersSortItem;
use network_client::{builder, Error, ResponseValue};

// Generated: formatted by prettyplease, not rustfmt, and not held to our lints
// (progenitor's default trait methods name unused arguments, clone `Copy` values).
#[rustfmt::skip]
#[allow(unused_variables, unused_imports, elided_lifetimes_in_paths, dead_code, clippy::all)]
mod generated;

use generated::{Cli, CliCommand, CliConfig};

/// The id of the generated argument for the tenant header.
const TENANT_ARG: &str = "x-servitly-tenant";
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Writes results: JSON on stdout, diagnostics on stderr.
struct Output {
    include_headers: bool,
    /// Set once an error has been written, so `main` does not repeat it.
    reported: Rc<Cell<bool>>,
}

impl Output {
    fn print_json(&self, value: &impl serde::Serialize) {
        let text = serde_json::to_string_pretty(value).expect("a response serializes");
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
    }

    fn print_head(&self, status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap) {
        if !self.include_headers {
            return;
        }
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "HTTP {status}");
        for (name, value) in headers {
            let _ = writeln!(stderr, "{name}: {}", value.to_str().unwrap_or("<binary>"));
        }
    }
}

impl CliConfig for Output {
    fn success_item<T>(&self, value: &ResponseValue<T>)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
        self.print_head(value.status(), value.headers());
        self.print_json(value.as_ref());
    }

    fn success_no_item(&self, value: &ResponseValue<()>) {
        self.print_head(value.status(), value.headers());
    }

    fn error<T>(&self, value: &Error<T>)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
        self.reported.set(true);
        let line = match value {
            Error::ErrorResponse(response) => {
                self.print_head(response.status(), response.headers());
                let body = serde_json::to_value(response.as_ref()).unwrap_or_default();
                let message = match body.get("message").and_then(|message| message.as_str()) {
                    Some(message) => message.to_string(),
                    None => body.to_string(),
                };
                format!("{}: {message}", response.status())
            }
            Error::UnexpectedResponse(response) => {
                format!("unexpected response: {}", response.status())
            }
            other => other.to_string(),
        };
        eprintln!("error: {line}");
    }

    fn list_start<T>(&self)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
    }

    fn list_item<T>(&self, value: &T)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
        self.print_json(value);
    }

    fn list_end_success<T>(&self)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
    }

    fn list_end_error<T>(&self, value: &Error<T>)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
        self.error(value);
    }

    fn execute_get_customers(
        &self,
        matches: &ArgMatches,
        request: &mut builder::GetCustomers<'_>,
    ) -> anyhow::Result<()> {
        if let Some(sort) = matches.get_many::<GetCustomersSortItem>("sort") {
            *request = request.clone().sort(sort.cloned().collect::<Vec<_>>());
        }
        Ok(())
    }
}

/// The command line. With `tenant`, every operation's tenant argument defaults to it.
fn command(tenant: Option<&str>) -> Command {
    let mut root = Command::new("network-cli")
        .about("A command-line client of the Network API, generated from its contract.")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("url")
                .long("url")
                .help_heading("Connection")
                .env("NETWORK_URL")
                .default_value(DEFAULT_URL)
                .global(true)
                .help("The server's base URL"),
        )
        .arg(
            Arg::new("token")
                .long("token")
                .help_heading("Connection")
                .env("NETWORK_TOKEN")
                .hide_env_values(true)
                .global(true)
                .help("The bearer token (JWT) sent as `Authorization: Bearer ...`"),
        )
        .arg(
            Arg::new("tenant")
                .long("tenant")
                .help_heading("Connection")
                .env("NETWORK_TENANT")
                .global(true)
                .help("The tenant, for every operation's X-Servitly-Tenant header"),
        )
        .arg(
            Arg::new("include")
                .short('i')
                .long("include")
                .help_heading("Connection")
                .action(ArgAction::SetTrue)
                .global(true)
                .help("Also print the response status and headers (e.g. ETag) on stderr"),
        );
    for operation in CliCommand::iter() {
        let mut sub =
            Cli::<Output>::get_command(operation).name(operation.operation_id().replace('_', "-"));
        // The generated help is summary and description in one: list the
        // summary, show both with --help.
        if let Some(about) = sub.get_about().map(ToString::to_string) {
            let summary = about.split("\n\n").next().unwrap_or_default().to_string();
            sub = sub.about(summary).long_about(about);
        }
        if sub.get_arguments().any(|arg| arg.get_id() == TENANT_ARG) {
            sub = sub.mut_arg(TENANT_ARG, |arg| match tenant {
                Some(tenant) => arg.required(false).default_value(tenant.to_string()),
                None => arg.required(false),
            });
        }
        if sub.get_arguments().any(|arg| arg.get_id() == "json-body-template") {
            // Generated, but progenitor does nothing with it yet.
            sub = sub.mut_arg("json-body-template", |arg| arg.hide(true));
        }
        if sub
            .get_arguments()
            .any(|arg| arg.get_id() == "country" && !arg.get_possible_values().is_empty())
        {
            // The spec's enum of ISO 3166-1 codes (250): checked, not listed in --help.
            sub = sub.mut_arg("country", |arg| {
                arg.hide_possible_values(true).value_name("ISO 3166-1 ALPHA-2 CODE, e.g. IT")
            });
        }
        if let CliCommand::GetCustomers = operation {
            sub = sub.arg(
                Arg::new("sort")
                    .long("sort")
                    .value_name("FIELD,DIRECTION")
                    .value_parser(clap::value_parser!(GetCustomersSortItem))
                    .action(ArgAction::Append)
                    .help(
                        "Sort order, repeatable, the first is the primary key: fields name, \
                         country, creationTimestamp; directions ASC, DESC (e.g. name,ASC)",
                    ),
            );
        }
        root = root.subcommand(sub);
    }
    root
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // First pass: find the tenant (--tenant or NETWORK_TENANT, wherever given).
    let matches = command(None).get_matches_from(&args);
    let Some((name, sub_matches)) = matches.subcommand() else {
        unreachable!("a subcommand is required")
    };
    let tenant =
        sub_matches.get_one::<String>("tenant").filter(|tenant| !tenant.is_empty()).cloned();
    // Second pass: the same arguments, each operation's tenant defaulting to it.
    let matches = command(tenant.as_deref()).get_matches_from(&args);
    let (_, sub_matches) = matches.subcommand().expect("parsed before");
    let operation = CliCommand::iter()
        .find(|operation| operation.operation_id().replace('_', "-") == name)
        .expect("every subcommand is an operation");
    // Ok(false): the operation has the tenant parameter, and it has no value.
    if let Ok(false) = sub_matches.try_contains_id(TENANT_ARG) {
        eprintln!("error: no tenant: pass --tenant, set NETWORK_TENANT, or pass --{TENANT_ARG}");
        return ExitCode::from(2);
    }

    let url = sub_matches.get_one::<String>("url").map_or(DEFAULT_URL, String::as_str);
    let client = match sub_matches.get_one::<String>("token") {
        Some(token) => match network_client::new_authenticated(url, token) {
            Ok(client) => client,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        },
        None => network_client::Client::new(url),
    };
    let reported = Rc::new(Cell::new(false));
    let output =
        Output { include_headers: sub_matches.get_flag("include"), reported: reported.clone() };
    let cli = Cli::new(client, output);
    match cli.execute(operation, sub_matches).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !reported.get() {
                eprintln!("error: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command(None).debug_assert();
        command(Some("acme")).debug_assert();
    }

    #[test]
    fn every_operation_is_a_subcommand_with_the_tenant_parameter() {
        let names: Vec<String> =
            command(None).get_subcommands().map(|sub| sub.get_name().to_string()).collect();
        assert_eq!(
            names,
            [
                "create-customer",
                "get-customer",
                "update-customer",
                "delete-customer",
                "get-customers"
            ]
        );
        for sub in command(Some("acme")).get_subcommands() {
            let tenant = sub.get_arguments().find(|arg| arg.get_id() == TENANT_ARG).unwrap();
            assert!(!tenant.is_required_set(), "{}", sub.get_name());
            assert_eq!(tenant.get_default_values(), ["acme"], "{}", sub.get_name());
        }
    }

    #[test]
    fn the_tenant_fills_the_header_parameter_unless_given() {
        let parse = |tenant: Option<&str>, args: &[&str]| {
            let matches = command(tenant)
                .try_get_matches_from(std::iter::once("network-cli").chain(args.iter().copied()))
                .unwrap();
            let (_, sub) = matches.subcommand().unwrap();
            sub.get_one::<network_client::types::GetCustomerXServitlyTenant>(TENANT_ARG)
                .map(|tenant| tenant.to_string())
        };
        assert_eq!(
            parse(Some("acme"), &["get-customer", "--customer-id", "x"]).as_deref(),
            Some("acme")
        );
        assert_eq!(
            parse(
                Some("acme"),
                &["get-customer", "--customer-id", "x", "--x-servitly-tenant", "globex"]
            )
            .as_deref(),
            Some("globex")
        );
        assert_eq!(parse(None, &["get-customer", "--customer-id", "x"]), None);
    }
}
