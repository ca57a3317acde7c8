//! Decides which files `cargo xtask generate` writes and checks them for drift.
//!
//! Every spec `openapi/<name>.json` yields `crates/<name>-api/src/generated.rs`
//! (the dropshot trait crate), `crates/<name>-client/src/generated.rs` (the
//! progenitor client), `crates/<name>-client/src/mock.rs` (its httpmock
//! extension, behind the client's `mock` feature) and, when the crate
//! `crates/<name>-cli` exists, `crates/<name>-cli/src/generated.rs` (a clap CLI
//! over the client). The fixture specs `xtask/fixtures/specs/<name>.json` yield
//! `xtask/fixtures/src/<name>/{api,client}.rs`, compiled by `cargo test`.
//! All writes go through [`ensure_file_contents`].

use std::path::{Path, PathBuf};

use heck::{ToSnakeCase, ToUpperCamelCase};
use serde_json::Value;

use crate::{
    emit_api, emit_client, openapi_model, Effect, GenError, GenErrors, OperationRef, Warning,
};

/// The command that regenerates every file; stamped on each generated file's first line.
pub const REGENERATE: &str = "cargo xtask generate";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rewrite stale files.
    Write,
    /// Write nothing; fail with a diff if a file is stale.
    Check,
}

/// One spec and the files generated from it.
#[derive(Debug, Clone)]
pub struct Job {
    pub spec: PathBuf,
    pub trait_name: String,
    pub api_out: PathBuf,
    pub client_out: PathBuf,
    /// The client's httpmock extension, if the job has one, and the Rust
    /// path of the client it extends (`crate` inside the client crate).
    pub mock_out: Option<PathBuf>,
    pub mock_client_path: String,
    /// The CLI's generated source, if the job has a CLI crate.
    pub cli: Option<CliJob>,
    /// Where the job's warnings are written (fixtures: a drift-checked list).
    pub skips_out: Option<PathBuf>,
    /// Whether every warning is an error (the published specs).
    pub strict: bool,
}

/// Where a CLI is written and which client crate it drives.
#[derive(Debug, Clone)]
pub struct CliJob {
    pub out: PathBuf,
    /// The client crate as a Rust path (`network_client`).
    pub client_crate: String,
}

/// The workspace root (the parent of `xtask/`).
///
/// Read at run time (`cargo run`, hence `cargo xtask`, and `cargo test` set
/// `CARGO_MANIFEST_DIR`), the compile-time value being the fallback: two
/// checkouts sharing one `CARGO_TARGET_DIR` can share one xtask binary, and
/// the compile-time path would then name the other checkout.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.parent().expect("xtask is in the workspace").to_path_buf()
}

/// Every generation job, in a stable order.
pub fn jobs(root: &Path) -> Result<Vec<Job>, String> {
    let mut jobs = Vec::new();
    for spec in json_files(&root.join("openapi"))? {
        let name = stem(&spec);
        let cli_crate = root.join(format!("crates/{name}-cli"));
        jobs.push(Job {
            trait_name: format!("{}Api", name.to_upper_camel_case()),
            api_out: root.join(format!("crates/{name}-api/src/generated.rs")),
            client_out: root.join(format!("crates/{name}-client/src/generated.rs")),
            mock_out: Some(root.join(format!("crates/{name}-client/src/mock.rs"))),
            mock_client_path: "crate".to_string(),
            cli: cli_crate.is_dir().then(|| CliJob {
                out: cli_crate.join("src/generated.rs"),
                client_crate: format!("{}_client", name.to_snake_case()),
            }),
            skips_out: None,
            strict: true,
            spec,
        });
    }
    for spec in json_files(&root.join("xtask/fixtures/specs"))? {
        let name = stem(&spec);
        jobs.push(Job {
            trait_name: format!("{}Api", name.to_upper_camel_case()),
            api_out: root.join(format!("xtask/fixtures/src/{name}/api.rs")),
            client_out: root.join(format!("xtask/fixtures/src/{name}/client.rs")),
            mock_out: Some(root.join(format!("xtask/fixtures/src/{name}/mock.rs"))),
            mock_client_path: format!("crate::{name}::client"),
            cli: None,
            skips_out: Some(root.join(format!("xtask/fixtures/src/{name}/warnings.txt"))),
            strict: false,
            spec,
        });
    }
    Ok(jobs)
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Options of one `cargo xtask generate` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    /// Every warning (a skipped or partial operation) is an error, for every
    /// spec. The published specs (`openapi/`) are always generated strictly.
    pub strict: bool,
}

/// Runs every job: writes stale files (or, in check mode, reports them all),
/// prints every warning, and fails on every error of every spec at once.
pub fn run(mode: Mode) -> Result<(), String> {
    run_with(Options { mode, strict: false })
}

/// [`run`] with options.
pub fn run_with(options: Options) -> Result<(), String> {
    let root = workspace_root();
    let mut stale = Vec::new();
    let mut errors = Vec::new();
    for job in jobs(&root)? {
        let spec_name = relative(&root, &job.spec);
        let strict = options.strict || job.strict;
        match generate_job(&job, strict) {
            Ok((files, warnings)) => {
                for warning in &warnings {
                    eprintln!("warning: {spec_name}: {warning}");
                }
                for (path, contents) in files {
                    if let Err(diff) = ensure_file_contents(&root, &path, &contents, options.mode) {
                        stale.push(diff);
                    }
                }
            }
            Err(job_errors) => {
                errors.extend(job_errors.0.iter().map(|error| format!("{spec_name}: {error}")))
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\nrun `{REGENERATE}` to update them", stale.join("\n")))
    }
}

/// A file to write: its path and contents.
pub type GeneratedFile = (PathBuf, String);

/// Generates every file of a job (path and contents, formatted and stamped).
pub fn generate(job: &Job) -> Result<Vec<GeneratedFile>, GenErrors> {
    generate_job(job, job.strict).map(|(files, _)| files)
}

/// Every file of a job and the warnings; with `strict`, warnings are errors.
pub fn generate_job(
    job: &Job,
    strict: bool,
) -> Result<(Vec<GeneratedFile>, Vec<Warning>), GenErrors> {
    let text = std::fs::read_to_string(&job.spec)
        .map_err(|error| GenError::new("#", format!("cannot read: {error}")))?;
    let spec: Value = serde_json::from_str(&text)
        .map_err(|error| GenError::new("#", format!("not valid JSON: {error}")))?;
    let generated = generate_from_value(&spec, &job.trait_name)?;
    let mut warnings = generated.warnings;
    let mut files =
        vec![(job.api_out.clone(), generated.api), (job.client_out.clone(), generated.client)];
    if let Some(mock_out) = &job.mock_out {
        let (tokens, mut skipped) = emit_client::emit_per_operation(
            &generated.client_view,
            &generated.operations,
            Effect::SkippedInMocks,
            &|view| emit_client::emit_mock_for(view, &job.mock_client_path),
        )?;
        warnings.append(&mut skipped);
        files.push((mock_out.clone(), format_file(tokens)?));
    }
    if let Some(cli) = &job.cli {
        let client_crate = cli.client_crate.clone();
        let (tokens, mut skipped) = emit_client::emit_per_operation(
            &generated.client_view,
            &generated.operations,
            Effect::SkippedInCli,
            &move |view| emit_client::emit_cli(view, &client_crate),
        )?;
        warnings.append(&mut skipped);
        files.push((cli.out.clone(), format_file(tokens)?));
    }
    if let Some(skips_out) = &job.skips_out {
        let mut text = format!(
            "# Generated by `{REGENERATE}`, do not edit by hand.\n# The warnings for {}:\n",
            job.spec.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        );
        for warning in &warnings {
            text.push_str(&format!("{warning}\n"));
        }
        files.push((skips_out.clone(), text));
    }
    if strict && !warnings.is_empty() {
        return Err(GenErrors(
            warnings
                .into_iter()
                .map(|warning| {
                    let message = format!(
                        "(strict) {} {}: {}",
                        warning.operation,
                        warning.effect.describe(),
                        warning.error.message
                    );
                    GenError::new(warning.error.pointer.clone(), message)
                        .construct(warning.error.construct.clone())
                })
                .collect(),
        ));
    }
    Ok((files, warnings))
}

/// What one spec generates, before formatting decisions of the job.
pub struct Generated {
    /// The API crate's source, formatted.
    pub api: String,
    /// The client's source, formatted.
    pub client: String,
    /// Operations skipped or generated in part.
    pub warnings: Vec<Warning>,
    /// The operations generated (in the trait and the client): pointer and name, in spec order.
    pub operations: Vec<(String, OperationRef)>,
    /// The spec the client was generated from (see [`emit_client::client_view`]).
    pub client_view: Value,
}

/// Generates the API and client sources of a spec given as JSON: every
/// operation both the trait and the client can express.
pub fn generate_from_value(spec: &Value, trait_name: &str) -> Result<Generated, GenErrors> {
    let mut model = openapi_model::read(spec)?;
    let mut warnings = std::mem::take(&mut model.warnings);
    loop {
        let api = emit_api::emit(&model, trait_name)?;
        let (view, notes) = emit_client::client_view(spec, &api.emitted, &api.schemas);
        let client = match emit_client::emit(&view) {
            Ok(client) => client,
            Err(error) => {
                let candidates: Vec<String> = model
                    .operations
                    .iter()
                    .map(|op| op.pointer.clone())
                    .filter(|p| api.emitted.contains(p))
                    .collect();
                let failing = emit_client::failing_operations(&view, &candidates, &|view| {
                    emit_client::emit(view)
                });
                if failing.is_empty() {
                    return Err(error.into());
                }
                for (pointer, error) in failing {
                    let Some(index) = model.operations.iter().position(|op| op.pointer == pointer)
                    else {
                        continue;
                    };
                    let operation = model.operations.remove(index);
                    warnings.push(Warning {
                        operation: operation.reference(),
                        effect: Effect::Skipped,
                        error: GenError::new(
                            pointer,
                            format!("the client cannot be generated: {}", error.message),
                        )
                        .construct(progenitor_construct(&error.message)),
                    });
                }
                continue;
            }
        };
        warnings.extend(api.warnings);
        for (pointer, effect, note) in notes {
            if let Some(operation) = model.operations.iter().find(|op| op.pointer == pointer) {
                warnings.push(Warning { operation: operation.reference(), effect, error: note });
            }
        }
        let generated: Vec<&openapi_model::Operation> =
            model.operations.iter().filter(|op| api.emitted.contains(&op.pointer)).collect();
        warnings.sort_by(|a, b| {
            (&a.operation.path, &a.operation.method, a.effect).cmp(&(
                &b.operation.path,
                &b.operation.method,
                b.effect,
            ))
        });
        return Ok(Generated {
            api: format_file(api.tokens)?,
            client: format_file(client)?,
            warnings,
            operations: generated.iter().map(|op| (op.pointer.clone(), op.reference())).collect(),
            client_view: view,
        });
    }
}

/// A short name for a progenitor failure (its message up to the first `:` or `(`).
fn progenitor_construct(message: &str) -> String {
    let head = message.split([':', '(', '{']).next().unwrap_or(message).trim();
    format!("progenitor: {}", head.chars().take(60).collect::<String>())
}

/// Formats tokens with prettyplease (independent of the installed rustfmt) and stamps them.
pub fn format_file(tokens: proc_macro2::TokenStream) -> Result<String, GenError> {
    let file: syn::File = syn::parse2(tokens)
        .map_err(|error| GenError::new("#", format!("generated code does not parse: {error}")))?;
    Ok(format!(
        "//! Generated by `{REGENERATE}`, do not edit by hand.\n\n{}",
        prettyplease::unparse(&file)
    ))
}

/// The only way the generator writes a file. Normalises newlines; does nothing
/// when the file is current; otherwise rewrites it (`Mode::Write`) or returns a
/// unified diff naming the file (`Mode::Check`).
pub fn ensure_file_contents(
    root: &Path,
    path: &Path,
    contents: &str,
    mode: Mode,
) -> Result<(), String> {
    let contents = contents.replace("\r\n", "\n");
    let current = std::fs::read_to_string(path).unwrap_or_default().replace("\r\n", "\n");
    if current == contents {
        return Ok(());
    }
    let name = relative(root, path);
    match mode {
        Mode::Write => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|error| format!("{name}: {error}"))?;
            }
            std::fs::write(path, &contents).map_err(|error| format!("{name}: {error}"))?;
            eprintln!("updated {name}");
            Ok(())
        }
        Mode::Check => {
            let diff = similar::TextDiff::from_lines(&current, &contents)
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string();
            let shown: String = diff.lines().take(200).map(|line| format!("{line}\n")).collect();
            Err(format!("{name} is stale:\n{shown}"))
        }
    }
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain `cargo test` catches drift: this is `cargo xtask generate --check`.
    #[test]
    fn generated_files_are_current() {
        if let Err(stale) = run(Mode::Check) {
            panic!("{stale}");
        }
    }

    /// A spec change without regeneration is reported with the stale file's
    /// name, a diff showing the change, and the command to run.
    #[test]
    fn a_spec_change_makes_the_check_fail_naming_the_file() {
        let root = workspace_root();
        let job = jobs(&root)
            .unwrap()
            .into_iter()
            .find(|job| job.spec.ends_with("openapi/network.json"))
            .unwrap();
        let mut spec: Value =
            serde_json::from_str(&std::fs::read_to_string(&job.spec).unwrap()).unwrap();
        spec["components"]["schemas"]["CustomerDetails"]["properties"]["vatNumber"] =
            serde_json::json!({"type": "string", "description": "The VAT number."});
        let generated = generate_from_value(&spec, &job.trait_name).unwrap();
        let (api, client) = (generated.api, generated.client);
        assert!(api.contains("pub vat_number:"), "the new field reaches the trait's types");
        assert!(client.contains("pub vat_number:"), "the new field reaches the client");
        let stale = ensure_file_contents(&root, &job.api_out, &api, Mode::Check).unwrap_err();
        assert!(stale.starts_with("crates/network-api/src/generated.rs is stale:"), "{stale}");
        assert!(stale.contains("+") && stale.contains("vat_number"), "{stale}");
        let stale = ensure_file_contents(&root, &job.client_out, &client, Mode::Check).unwrap_err();
        assert!(stale.starts_with("crates/network-client/src/generated.rs is stale:"), "{stale}");
    }

    #[test]
    fn generation_is_deterministic() {
        let root = workspace_root();
        for job in jobs(&root).unwrap() {
            assert_eq!(generate(&job).unwrap(), generate(&job).unwrap(), "{}", job.spec.display());
        }
    }

    #[test]
    fn generated_files_are_stamped_with_the_command() {
        let root = workspace_root();
        let job = &jobs(&root).unwrap()[0];
        for (path, text) in generate(job).unwrap() {
            assert_eq!(
                text.lines().next(),
                Some("//! Generated by `cargo xtask generate`, do not edit by hand."),
                "{}",
                path.display()
            );
        }
    }

    /// A published spec also yields the client's mocks, and a CLI when its crate exists.
    #[test]
    fn the_network_spec_yields_mocks_and_a_cli() {
        let root = workspace_root();
        let job = jobs(&root)
            .unwrap()
            .into_iter()
            .find(|job| job.spec.ends_with("openapi/network.json"))
            .unwrap();
        let files = generate(&job).unwrap();
        let names: Vec<String> = files.iter().map(|(path, _)| relative(&root, path)).collect();
        assert_eq!(
            names,
            [
                "crates/network-api/src/generated.rs",
                "crates/network-client/src/generated.rs",
                "crates/network-client/src/mock.rs",
                "crates/network-cli/src/generated.rs",
            ]
        );
        let (_, mock) = &files[2];
        assert!(mock.contains("pub trait MockServerExt"), "{mock}");
        assert!(mock.contains("fn update_customer<F>"), "{mock}");
        let (_, cli) = &files[3];
        assert!(cli.contains("use network_client::*;"), "{cli}");
        assert!(cli.contains("pub fn cli_update_customer()"), "{cli}");
    }
}
