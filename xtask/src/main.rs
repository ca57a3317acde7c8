//! `cargo xtask`: the workspace's developer commands.
//!
//! `cargo xtask generate` regenerates every generated file from the specs;
//! `cargo xtask generate --check` writes nothing and fails, with a diff, when a
//! generated file is stale; `--strict` makes every skipped operation an error.
//! `cargo xtask reach DIR` measures how much of the specs in `DIR` the
//! generator reaches (generated and compiled operations). `cargo xtask crash-test [--rounds N]` builds the
//! release server and runs the crash durability harness
//! (`crates/network-server/examples/crash_test.rs`) against it.
//! `cargo xtask release` snapshots each spec under its `info.version` in
//! `openapi/released/`; `cargo xtask api-compat` classifies the changes since
//! the newest snapshot and fails when the version does not allow them.
//! `cargo xtask bench [--quick]` installs the load generator (oha) if needed,
//! builds the release server and the harness (`crates/network-bench`) and
//! runs every benchmark configuration (see BENCHMARKS.md).
//! `cargo xtask attack [--quick]` builds the release server and the
//! hostile-load harness (`crates/network-attack`) and runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use xtask::codegen::{self, workspace_root, Mode};
use xtask::release;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  generate [--check] [--strict]
                       regenerate the generated crates (API, client, CLI, fixtures) from the specs
                       (--check: write nothing, fail with a diff if anything is stale;
                       --strict: every skipped operation is an error, as it always is
                       for the published specs in openapi/)
  reach DIR            generate every spec (*.json) in DIR into a scratch crate under
                       target/reach/, compile it, and print per spec: operations,
                       generated, compiled, and the skipped constructs with counts
  api-compat           compare each openapi/<name>.json with its newest snapshot in
                       openapi/released/: list every change (backward-incompatible,
                       forward-incompatible, compatible) and a changelog; fail when a
                       snapshot was altered, on a backward-incompatible change without
                       a new major info.version, and on an addition without a new minor
  release              snapshot each spec as openapi/released/<name>-<info.version>.json
                       (and its digest in openapi/released/SHA256SUMS), after the
                       api-compat checks; refuses a version that is already released
  crash-test [--rounds N] [ARGS...]
                       build the release network-server and the harness
                       crates/network-server/examples/crash_test.rs, then run it:
                       N rounds (default 20) of concurrent PUTs, kill -9, restart
                       (< 1 s) and check that no acknowledged write was lost and
                       that PRAGMA integrity_check is ok; other ARGS (--customers,
                       --writers, --seed, --keep) go to the harness
  bench [--quick] [ARGS...]
                       install oha 1.16.0 if missing (once, in ~/.cache/network-api),
                       build the release network-server and crates/network-bench,
                       run every configuration and write target/bench/results.{md,json};
                       without --quick (about 5 minutes) it also rewrites the results
                       section of BENCHMARKS.md and docs/benchmarks/latency.png;
                       --quick (under 2 minutes) checks the harness, timings mean little;
                       other ARGS (--only NAMES, --postgres-url URL) go to the harness
  attack [--quick] [--report-only] [ARGS...]
                       build the release network-server and crates/network-attack, then run
                       the bounded hostile-load harness on 127.0.0.1: idle sockets, stalled
                       anonymous bodies, h2c streams, a 1 GB Content-Length trickle, heavy list
                       queries, a bad-token flood and oversized pages at once, while another
                       tenant does GETs and PUTs; writes target/attack/results.json and fails
                       when a target is missed (--report-only: exit 0 anyway); about 2.5 minutes,
                       --quick under a minute; other ARGS (--only NAMES, --server-arg ARG,
                       --server-nofile N, --attack-seconds N, --keep) go to the harness";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["generate", flags @ ..] if flags.iter().all(|f| ["--check", "--strict"].contains(f)) => {
            codegen::run_with(codegen::Options {
                mode: if flags.contains(&"--check") { Mode::Check } else { Mode::Write },
                strict: flags.contains(&"--strict"),
            })
        }
        ["reach", dir] => xtask::reach::run(Path::new(dir)),
        ["api-compat"] => match release::api_compat(&workspace_root()) {
            Ok(report) => {
                print!("{report}");
                Ok(())
            }
            Err(report) => {
                print!("{report}");
                Err("api-compat failed (see above)".to_string())
            }
        },
        ["release"] => release::release(&workspace_root()).map(|report| print!("{report}")),
        ["crash-test", rest @ ..] => return crash_test(rest),
        ["bench", rest @ ..] => return bench(rest),
        ["attack", rest @ ..] => return attack(rest),
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

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// `cargo build --release` with `targets` (from the workspace root); false, with a message, if it fails.
fn build_release(targets: &[&str], what: &str) -> bool {
    let build = Command::new(cargo())
        .current_dir(workspace_root())
        .args(["build", "--release"])
        .args(targets)
        .status();
    let built = matches!(build, Ok(status) if status.success());
    if !built {
        eprintln!("error: building {what} failed");
    }
    built
}

/// Runs a harness and passes on whether it succeeded.
fn run_harness(command: &mut Command, what: &str) -> ExitCode {
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: cannot run {what}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the release server and the crash harness, then runs the harness
/// (which finds `network-server` next to its own directory).
fn crash_test(args: &[&str]) -> ExitCode {
    let targets = ["-p", "network-server", "--bin", "network-server", "--example", "crash_test"];
    if !build_release(&targets, "the release server and the crash harness") {
        return ExitCode::FAILURE;
    }
    let mut run = Command::new(cargo());
    run.args(["run", "--quiet", "--release", "-p", "network-server", "--example", "crash_test"])
        .arg("--")
        .args(args);
    run_harness(&mut run, "the crash harness")
}

/// The version of oha the harness expects (also checked by the harness).
const OHA_VERSION: &str = "1.16.0";

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target"),
    }
}

fn is_oha(path: &Path) -> bool {
    Command::new(path)
        .arg("--version")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains(OHA_VERSION))
}

/// Where `cargo xtask bench` installs oha: a per-user cache outside any clone
/// (`$XDG_CACHE_HOME` or `~/.cache`), so that it is compiled once per machine
/// and never replaces an oha the user installed elsewhere.
fn oha_root() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| target_dir().join("cache"));
    cache.join("network-api").join(format!("oha-{OHA_VERSION}"))
}

/// `oha` at the expected version: on PATH, else in [`oha_root`], else
/// installed there with `cargo install --locked` (a few minutes, once).
fn ensure_oha(cargo: &str) -> Result<PathBuf, String> {
    if is_oha(Path::new("oha")) {
        return Ok(PathBuf::from("oha"));
    }
    let root = oha_root();
    let installed = root.join("bin").join(format!("oha{}", std::env::consts::EXE_SUFFIX));
    if is_oha(&installed) {
        return Ok(installed);
    }
    eprintln!("installing oha {OHA_VERSION} into {} (once)", root.display());
    let status = Command::new(cargo)
        .args(["install", "oha", "--version", OHA_VERSION, "--locked"])
        .arg("--root")
        .arg(&root)
        .status()
        .map_err(|error| format!("cannot run cargo install: {error}"))?;
    if !status.success() || !is_oha(&installed) {
        return Err(format!("installing oha {OHA_VERSION} failed"));
    }
    Ok(installed)
}

/// The chart needs a TrueType font; on Debian, install DejaVu if none is there.
fn ensure_font() {
    let dejavu = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    if dejavu.exists() || !Path::new("/usr/bin/apt-get").exists() {
        return;
    }
    eprintln!("installing fonts-dejavu-core (for the chart)");
    let _ = Command::new("apt-get").args(["install", "-y", "-qq", "fonts-dejavu-core"]).status();
}

/// Installs what the benchmark needs, builds it in release mode and runs it.
fn bench(args: &[&str]) -> ExitCode {
    let oha = match ensure_oha(&cargo()) {
        Ok(oha) => oha,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    ensure_font();
    let targets = [
        "-p",
        "network-server",
        "--bin",
        "network-server",
        "-p",
        "network-bench",
        "--bin",
        "network-bench",
    ];
    if !build_release(&targets, "the release server and the benchmark harness") {
        return ExitCode::FAILURE;
    }
    let release = target_dir().join("release");
    let mut command = Command::new(release.join("network-bench"));
    command
        .current_dir(workspace_root())
        .arg("run")
        .arg("--server")
        .arg(release.join("network-server"));
    command.arg("--oha").arg(&oha);
    if !args.contains(&"--quick") {
        command.args([
            "--benchmarks-md",
            "BENCHMARKS.md",
            "--chart",
            "docs/benchmarks/latency.png",
        ]);
    }
    command.args(args);
    run_harness(&mut command, "the benchmark harness")
}

/// Builds the release server and the hostile-load harness, then runs it
/// (results in `target/attack/` under the workspace root).
fn attack(args: &[&str]) -> ExitCode {
    let targets = [
        "-p",
        "network-server",
        "--bin",
        "network-server",
        "-p",
        "network-attack",
        "--bin",
        "network-attack",
    ];
    if !build_release(&targets, "the release server and the attack harness") {
        return ExitCode::FAILURE;
    }
    let release = target_dir().join("release");
    let mut command = Command::new(release.join("network-attack"));
    command
        .current_dir(workspace_root())
        .arg("--server")
        .arg(release.join("network-server"))
        .args(args);
    run_harness(&mut command, "the attack harness")
}
