//! Released versions of the specs and the compatibility gate:
//! `cargo xtask release` and `cargo xtask api-compat`.
//!
//! `openapi/released/<name>-<version>.json` is a byte copy of
//! `openapi/<name>.json` as it was released under its `info.version`, never
//! changed afterwards. `openapi/released/SHA256SUMS` (the format of
//! `sha256sum`, so `sha256sum -c` checks it too) holds the digest of every
//! snapshot, taken when it was released: [`verify_snapshots`] fails when a
//! snapshot is edited, deleted, or added without `cargo xtask release`. It
//! needs no Git history, so it works on a shallow CI clone; changing a
//! snapshot and its digest together is possible, but only in plain sight in
//! review. Digests are of the text with `\r\n` normalised to `\n`, so a
//! checkout that converts line endings does not trip it.
//!
//! [`gate`] is the rule `api-compat` applies between the newest snapshot and
//! the current spec: a backward-incompatible change needs a greater major
//! version, any other change but documentation a greater minor (or major)
//! version, and the version never goes down.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::compat::{self, Bump, Change, Class};

/// The manifest of snapshot digests, in `openapi/released/`.
pub const MANIFEST: &str = "SHA256SUMS";

/// A `major.minor.patch` version (pre-release and build suffixes are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('.').collect();
        let number = |part: &str| {
            (!part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0')))
            .then(|| part.parse::<u64>().ok())
            .flatten()
        };
        match parts.as_slice() {
            [major, minor, patch] => match (number(major), number(minor), number(patch)) {
                (Some(major), Some(minor), Some(patch)) => Ok(Version { major, minor, patch }),
                _ => Err(format!("info.version {text:?} is not major.minor.patch")),
            },
            _ => Err(format!("info.version {text:?} is not major.minor.patch")),
        }
    }

    /// The `info.version` of a spec.
    pub fn of(spec: &Value) -> Result<Self, String> {
        let text = spec
            .pointer("/info/version")
            .and_then(Value::as_str)
            .ok_or("the spec has no info.version string")?;
        Version::parse(text)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What `api-compat` found between a released spec and the current one.
#[derive(Debug)]
pub struct Outcome {
    pub released: Version,
    pub current: Version,
    pub changes: Vec<Change>,
    /// `Err` names every change the version does not allow.
    pub verdict: Result<(), String>,
}

impl Outcome {
    /// Compares `current` with `released` and applies the [`gate`].
    pub fn of(released: &Value, current: &Value) -> Result<Self, String> {
        let released_version = Version::of(released).map_err(|e| format!("released spec: {e}"))?;
        let current_version = Version::of(current)?;
        let changes = compat::compare(released, current)?;
        let verdict = gate(released_version, current_version, &changes);
        Ok(Outcome { released: released_version, current: current_version, changes, verdict })
    }

    /// The changes by class, then the changelog, then the verdict.
    pub fn report(&self, spec: &str, snapshot: &str) -> String {
        let mut out = format!(
            "api-compat: {spec} ({}) against {snapshot} ({})\n",
            self.current, self.released
        );
        if self.changes.is_empty() {
            out.push_str("no changes\n");
        }
        for class in [Class::BackwardIncompatible, Class::ForwardIncompatible, Class::Compatible] {
            let changes: Vec<&Change> = self.changes.iter().filter(|c| c.class == class).collect();
            if !changes.is_empty() {
                out.push_str(&format!("\n{class} ({}):\n", changes.len()));
                for change in changes {
                    out.push_str(&format!("  {change}\n"));
                }
            }
        }
        let changelog = compat::changelog(&self.changes);
        if !changelog.is_empty() {
            out.push_str(&format!(
                "\nchangelog ({} → {}):\n{changelog}",
                self.released, self.current
            ));
        }
        match &self.verdict {
            Ok(()) => {
                out.push_str("\nok: the version allows every change\n");
                if !self.changes.is_empty() && self.current == self.released {
                    out.push_str(
                        "note: documentation changed under a released version; bump at least the patch version before `cargo xtask release`\n",
                    );
                }
            }
            Err(why) => out.push_str(&format!("\nerror: {why}\n")),
        }
        out
    }
}

/// The version rule: `Err` (naming the offending changes) unless `current`
/// is at least what `changes` need over `released`.
pub fn gate(released: Version, current: Version, changes: &[Change]) -> Result<(), String> {
    if current < released {
        return Err(format!("info.version {current} is lower than the released {released}"));
    }
    let needed = changes.iter().map(Change::bump).max().unwrap_or(Bump::None);
    let list = |bump: Bump| -> String {
        changes
            .iter()
            .filter(|change| change.bump() == bump)
            .map(|change| format!("\n  - {} ({})", change, change.class))
            .collect()
    };
    if needed == Bump::Major && current.major <= released.major {
        return Err(format!(
            "backward-incompatible changes need a new major version (info.version {current}, released {released}; set it to at least {}.0.0 or undo them):{}",
            released.major + 1,
            list(Bump::Major)
        ));
    }
    if needed >= Bump::Minor && (current.major, current.minor) <= (released.major, released.minor) {
        return Err(format!(
            "additions need at least a new minor version (info.version {current}, released {released}; set it to at least {}.{}.0):{}",
            released.major,
            released.minor + 1,
            list(Bump::Minor)
        ));
    }
    Ok(())
}

/// The SHA-256 of a snapshot's text (newlines normalised), in hex.
pub fn digest(text: &str) -> String {
    let digest = Sha256::digest(text.replace("\r\n", "\n").as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub fn released_dir(root: &Path) -> PathBuf {
    root.join("openapi/released")
}

/// The specs that have releases: `openapi/<name>.json`, by name.
pub fn specs(root: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let dir = root.join("openapi");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut specs: Vec<(String, PathBuf)> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter_map(|path| Some((path.file_stem()?.to_str()?.to_string(), path)))
        .collect();
    specs.sort();
    Ok(specs)
}

/// The snapshots of spec `name`, oldest first.
pub fn snapshots(root: &Path, name: &str) -> Result<Vec<(Version, PathBuf)>, String> {
    let dir = released_dir(root);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let prefix = format!("{name}-");
    let mut out = Vec::new();
    for path in entries.filter_map(|entry| entry.ok().map(|entry| entry.path())) {
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else { continue };
        let Some(version) = file.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(".json"))
        else {
            continue;
        };
        // `network-api-1.0.0.json` belongs to `network-api`, not to `network`.
        if let Ok(version) = Version::parse(version) {
            out.push((version, path));
        }
    }
    out.sort();
    Ok(out)
}

fn read_json(path: &Path) -> Result<(String, Value), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    Ok((text, value))
}

/// The manifest's entries: file name → digest.
fn manifest(root: &Path) -> Result<Vec<(String, String)>, String> {
    let path = released_dir(root).join(MANIFEST);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(Vec::new()) };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| match line.split_once("  ") {
            Some((digest, file)) if digest.len() == 64 => {
                Ok((file.to_string(), digest.to_string()))
            }
            _ => Err(format!("openapi/released/{MANIFEST}: malformed line {line:?}")),
        })
        .collect()
}

/// Fails unless every snapshot is exactly as released: listed in the
/// manifest with its digest, named after its own `info.version`, and every
/// manifest entry still present.
pub fn verify_snapshots(root: &Path) -> Result<(), String> {
    let dir = released_dir(root);
    let entries = manifest(root)?;
    let mut problems = Vec::new();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    for file in &files {
        let path = dir.join(file);
        let (text, spec) = read_json(&path)?;
        match entries.iter().find(|(name, _)| name == file) {
            None => problems.push(format!(
                "openapi/released/{file} is not in {MANIFEST}: snapshots are made by `cargo xtask release`"
            )),
            Some((_, expected)) if *expected != digest(&text) => problems.push(format!(
                "openapi/released/{file} was changed after its release (SHA-256 {} instead of {expected}): released snapshots are immutable; restore it (`git checkout -- openapi/released/{file}`) and release a new version instead",
                digest(&text)
            )),
            Some(_) => {}
        }
        let version = Version::of(&spec).map(|v| v.to_string()).unwrap_or_default();
        if !file.ends_with(&format!("-{version}.json")) {
            problems.push(format!(
                "openapi/released/{file} holds info.version {version:?}, not the one in its name"
            ));
        }
    }
    for (file, _) in &entries {
        if !files.contains(file) {
            problems.push(format!("openapi/released/{file} is in {MANIFEST} but missing: released snapshots are never deleted"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// `cargo xtask api-compat`: checks the snapshots, then compares every spec
/// with its newest snapshot. Returns the report; `Err` holds it when the gate fails.
pub fn api_compat(root: &Path) -> Result<String, String> {
    verify_snapshots(root)?;
    let mut report = String::new();
    let mut failed = false;
    for (name, path) in specs(root)? {
        let (_, current) = read_json(&path)?;
        let spec = format!("openapi/{name}.json");
        let Some((_, snapshot)) = snapshots(root, &name)?.pop() else {
            report.push_str(&format!(
                "api-compat: {spec} has no released version yet (run `cargo xtask release`)\n"
            ));
            continue;
        };
        let (_, released) = read_json(&snapshot)?;
        let outcome = Outcome::of(&released, &current).map_err(|e| format!("{spec}: {e}"))?;
        let file = snapshot.file_name().unwrap_or_default().to_string_lossy();
        report.push_str(&outcome.report(&spec, &format!("openapi/released/{file}")));
        failed |= outcome.verdict.is_err();
    }
    if failed {
        Err(report)
    } else {
        Ok(report)
    }
}

/// `cargo xtask release`: snapshots every spec under its `info.version`,
/// after the same checks as `api-compat` (whose report, with the changelog
/// since the previous release, it prints first). Refuses a version that
/// already has a snapshot, writing nothing.
pub fn release(root: &Path) -> Result<String, String> {
    let report = api_compat(root)?;
    let mut planned = Vec::new();
    for (name, path) in specs(root)? {
        let (text, current) = read_json(&path)?;
        let version = Version::of(&current).map_err(|e| format!("openapi/{name}.json: {e}"))?;
        let file = format!("{name}-{version}.json");
        if released_dir(root).join(&file).exists() {
            return Err(format!(
                "openapi/released/{file} exists: {name} {version} is already released; set a new info.version in openapi/{name}.json first"
            ));
        }
        planned.push((name, version, file, text.replace("\r\n", "\n")));
    }
    std::fs::create_dir_all(released_dir(root)).map_err(|e| e.to_string())?;
    let mut manifest = manifest(root)?;
    // What changed since the previous release (its changelog), then what was released.
    let mut out = format!("{report}\n");
    for (name, version, file, text) in planned {
        let target = released_dir(root).join(&file);
        std::fs::write(&target, &text).map_err(|e| format!("{}: {e}", target.display()))?;
        manifest.push((file.clone(), digest(&text)));
        out.push_str(&format!("released {name} {version}: openapi/released/{file}\n"));
    }
    manifest.sort();
    let lines: String =
        manifest.iter().map(|(file, digest)| format!("{digest}  {file}\n")).collect();
    let path = released_dir(root).join(MANIFEST);
    std::fs::write(&path, lines).map_err(|e| format!("{}: {e}", path.display()))?;
    out.push_str("commit openapi/released/ (the changelog above is for the release notes)\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::workspace_root;

    /// Plain `cargo test` runs the gate: this is `cargo xtask api-compat`.
    #[test]
    fn the_specs_are_compatible_with_their_releases() {
        match api_compat(&workspace_root()) {
            Ok(report) => println!("{report}"),
            Err(report) => panic!("{report}"),
        }
    }

    /// A released snapshot that was edited (or deleted, or added by hand) fails here.
    #[test]
    fn released_snapshots_are_unchanged() {
        if let Err(problems) = verify_snapshots(&workspace_root()) {
            panic!("{problems}");
        }
    }

    /// Every spec has a released version to be compared with.
    #[test]
    fn every_spec_has_a_release() {
        let root = workspace_root();
        for (name, _) in specs(&root).unwrap() {
            assert!(
                !snapshots(&root, &name).unwrap().is_empty(),
                "{name}: run `cargo xtask release`"
            );
        }
    }

    #[test]
    fn digests_are_those_of_sha256sum() {
        assert_eq!(digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(digest("a\r\nb\n"), digest("a\nb\n"));
    }
}
