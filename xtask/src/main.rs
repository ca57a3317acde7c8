//! `cargo xtask`: the workspace's developer commands.
//!
//! `cargo xtask generate` regenerates every generated file from the specs;
//! `cargo xtask generate --check` writes nothing and fails, with a diff, when a
//! generated file is stale. `cargo xtask crash-test [--rounds N]` builds the
//! release server and runs the crash durability harness
//! (`crates/network-server/examples/crash_test.rs`) against it.

use std::process::{Command, ExitCode};

use xtask::codegen::{self, Mode};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  generate [--check]   regenerate the API and client crates from openapi/*.json
                       (--check: write nothing, fail with a diff if anything is stale)
  crash-test [--rounds N] [ARGS...]
                       build the release network-server and the harness
                       crates/network-server/examples/crash_test.rs, then run it:
                       N rounds (default 20) of concurrent PUTs, kill -9, restart
                       (< 1 s) and check that no acknowledged write was lost and
                       that PRAGMA integrity_check is ok; other ARGS (--customers,
                       --writers, --seed, --keep) go to the harness";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["generate"] => codegen::run(Mode::Write),
        ["generate", "--check"] => codegen::run(Mode::Check),
        ["crash-test", rest @ ..] => return crash_test(rest),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the release server and the crash harness, then runs the harness
/// (which finds `network-server` next to its own directory).
fn crash_test(args: &[&str]) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let build = Command::new(&cargo)
        .args(["build", "--release", "-p", "network-server", "--bin", "network-server"])
        .args(["--example", "crash_test"])
        .status();
    if !matches!(build, Ok(status) if status.success()) {
        eprintln!("error: building the release server and the crash harness failed");
        return ExitCode::FAILURE;
    }
    let run = Command::new(&cargo)
        .args(["run", "--quiet", "--release", "-p", "network-server", "--example", "crash_test"])
        .arg("--")
        .args(args)
        .status();
    match run {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: cannot run the crash harness: {error}");
            ExitCode::FAILURE
        }
    }
}
