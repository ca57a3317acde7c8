//! The xtask library: the spec-to-code generator, usable from `main.rs` and from tests.
//!
//! The generator knows nothing about customers: everything it emits comes from
//! an OpenAPI 3.0 document. `openapi_model` reads and checks the document into
//! a small model of operations (rejecting what we do not support, by JSON
//! pointer), `schema` converts OpenAPI schemas to JSON Schema for typify,
//! `emit_api` writes the dropshot trait crate, `emit_client` the progenitor
//! client, and `codegen` decides which files to write and checks for drift.
//! `release` keeps the released versions of the specs and gates changes to
//! them with `compat`, which classifies every change between two versions.

pub mod codegen;
pub mod compat;
pub mod emit_api;
pub mod emit_client;
pub mod openapi_model;
pub mod release;
pub mod schema;

/// A reason the generator refuses a spec: the construct and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenError {
    /// JSON pointer (as a URI fragment) of the offending part of the spec.
    pub pointer: String,
    /// What is wrong or unsupported there.
    pub message: String,
}

impl GenError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), message: message.into() }
    }
}

impl std::fmt::Display for GenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
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
