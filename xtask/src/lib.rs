//! The xtask library: the spec-to-code generator, usable from `main.rs` and from tests.
//!
//! The generator knows nothing about customers: everything it emits comes from
//! an OpenAPI 3.0 document. `openapi_model` reads and checks the document into
//! a small model of operations (rejecting what we do not support, by JSON
//! pointer), `schema` converts OpenAPI schemas to JSON Schema for typify,
//! `emit_api` writes the dropshot trait crate (`direct_pattern` replaces
//! typify's regular expressions for simple patterns), `emit_client` the progenitor
//! client, and `codegen` decides which files to write and checks for drift.
//! `release` keeps the released versions of the specs and gates changes to
//! them with `compat`, which classifies every change between two versions.

pub mod codegen;
pub mod compat;
pub mod direct_pattern;
pub mod emit_api;
pub mod emit_client;
pub mod openapi_model;
pub mod reach;
pub mod release;
pub mod schema;

/// A reason the generator refuses a spec, or one operation of it: the
/// construct and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenError {
    /// JSON pointer (as a URI fragment) of the offending part of the spec.
    pub pointer: String,
    /// What is wrong or unsupported there, and what to change.
    pub message: String,
    /// A short name of the construct (`cookie parameter`, `status 206`), for
    /// counting skips (`cargo xtask reach`); empty when not classified.
    pub construct: String,
}

impl GenError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), message: message.into(), construct: String::new() }
    }

    /// Names the construct this error is about.
    pub fn construct(mut self, construct: impl Into<String>) -> Self {
        self.construct = construct.into();
        self
    }

    /// The construct, or the message when none was named.
    pub fn construct_or_message(&self) -> &str {
        if self.construct.is_empty() {
            &self.message
        } else {
            &self.construct
        }
    }
}

impl std::fmt::Display for GenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// One operation, as a warning names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRef {
    pub operation_id: String,
    /// Upper case: `GET`.
    pub method: String,
    pub path: String,
}

impl std::fmt::Display for OperationRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` ({} {})", self.operation_id, self.method, self.path)
    }
}

/// What a [`Warning`] did to the generated code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// The operation is absent from every generated file.
    Skipped,
    /// The operation is absent from the httpmock mocks only.
    SkippedInMocks,
    /// The operation is absent from the CLI only.
    SkippedInCli,
    /// The operation is in the trait only: absent from the client (and so
    /// from its mocks and the CLI).
    SkippedInClient,
    /// The operation is generated, but part of the spec (named by the
    /// warning) is not reflected in the trait or the client.
    Partial,
}

/// A problem that did not stop generation: an operation skipped (or
/// generated without part of its spec), with the reason. `--strict` makes
/// every warning an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub operation: OperationRef,
    pub effect: Effect,
    pub error: GenError,
}

impl Effect {
    /// What the effect did, as a warning says it (`skipped in the mocks`).
    pub fn describe(self) -> &'static str {
        match self {
            Effect::Skipped => "skipped",
            Effect::SkippedInMocks => "skipped in the mocks",
            Effect::SkippedInCli => "skipped in the CLI",
            Effect::SkippedInClient => "skipped in the client",
            Effect::Partial => "generated without part of its spec",
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.operation, self.effect.describe(), self.error)
    }
}

/// Every problem of a document that stopped its generation, in one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenErrors(pub Vec<GenError>);

impl std::fmt::Display for GenErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GenErrors {}

impl From<GenError> for GenErrors {
    fn from(error: GenError) -> Self {
        GenErrors(vec![error])
    }
}

impl std::error::Error for GenError {}

/// Escapes one JSON pointer segment (RFC 6901): `~` becomes `~0`, `/` becomes `~1`.
pub fn pointer_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Runs `f`, turning a panic inside a library we call (typify, progenitor)
/// into an error at `pointer` instead of a crash.
pub fn no_panic<T>(pointer: &str, f: impl FnOnce() -> Result<T, GenError>) -> Result<T, GenError> {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous_hook);
    match result {
        Ok(result) => result,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(GenError::new(pointer, format!("unsupported construct ({detail})")))
        }
    }
}
