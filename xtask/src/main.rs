//! `cargo xtask`: the workspace's developer commands; today, spec-to-code generation.
//!
//! `cargo xtask generate` regenerates every generated file from the specs;
//! `cargo xtask generate --check` writes nothing and fails, with a diff, when a
//! generated file is stale.

use std::process::ExitCode;

use xtask::codegen::{self, Mode};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  generate [--check]   regenerate the API and client crates from openapi/*.json
                       (--check: write nothing, fail with a diff if anything is stale)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["generate"] => codegen::run(Mode::Write),
        ["generate", "--check"] => codegen::run(Mode::Check),
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
