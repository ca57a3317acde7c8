//! JSON logs (bunyan format, on stdout) through slog, the logger dropshot uses.
//!
//! Records are formatted on slog-async's thread into a buffer that is written
//! to stdout when it fills or every [`FLUSH_EVERY`], not token by token: the
//! JSON serializer writes each key and value separately, and straight to
//! stdout that was a lock, a newline search and often a `write(2)` per token
//! (a tenth of the server's CPU under load; see BENCHMARKS.md).

use std::io::{BufWriter, Stdout, Write};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use slog::Drain;

/// The longest a log line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// A JSON logger at `level` (`info` if the level is unknown).
pub fn logger(level: &str) -> slog::Logger {
    let level = level.parse::<slog::Level>().unwrap_or(slog::Level::Info);
    let drain = slog_bunyan::with_name("network-server", BufferedStdout::new()).build().fuse();
    let drain = slog_async::Async::new(drain).chan_size(16_384).build().fuse();
    let drain = slog::Filter::new(drain, |record: &slog::Record<'_>| !is_duplicate(record));
    slog::Logger::root(drain.filter_level(level).fuse(), slog::o!())
}

/// The one log line of a request an API handler answered ("request handled").
#[derive(Debug)]
pub struct RequestLine<'a> {
    pub operation: &'static str,
    /// The client's `api-version` header (at most 64 characters), or empty.
    pub api_version: &'a str,
    pub tenant: &'a str,
    pub subject: &'a str,
    pub status: u16,
    pub elapsed: Duration,
    /// Why the request failed (an error's message), if it did.
    pub problem: Option<String>,
}

impl RequestLine<'_> {
    pub fn log(self, log: &slog::Logger) {
        slog::info!(log, "request handled";
            "operation" => self.operation,
            "api_version" => self.api_version,
            "tenant" => self.tenant,
            "subject" => self.subject,
            "status" => self.status,
            "latency_us" => self.elapsed.as_micros() as u64,
            "problem" => self.problem,
        );
    }
}

/// Whether `record` is dropshot's "request completed" line for a request an
/// API handler answered: that handler's "request handled" line already says
/// the same (status, latency, request id, method, URI) and more (operation,
/// tenant, subject, problem). Dropshot's line is kept when dropshot answered
/// by itself (no route, wrong method): it then carries `error_message_internal`.
fn is_duplicate(record: &slog::Record<'_>) -> bool {
    if record.msg().as_str() != Some("request completed")
        || !record.module().starts_with("dropshot")
    {
        return false;
    }
    let mut finder = KeyFinder { key: "error_message_internal", found: false };
    let _ = slog::KV::serialize(&record.kv(), record, &mut finder);
    !finder.found
}

/// A slog serializer that only notes whether a key is present.
struct KeyFinder {
    key: &'static str,
    found: bool,
}

impl slog::Serializer for KeyFinder {
    fn emit_arguments(&mut self, key: slog::Key, _: &std::fmt::Arguments<'_>) -> slog::Result {
        self.found |= key == self.key;
        Ok(())
    }
}

/// A logger that drops everything (tests).
pub fn discard() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

/// Stdout behind a 64 KiB buffer, flushed by a background thread every
/// [`FLUSH_EVERY`] and when the last handle is dropped (the logger's end).
/// A record is gathered in `line` and enters the shared buffer whole, at its
/// final newline (so the flusher never writes half a line).
struct BufferedStdout {
    shared: Arc<Mutex<BufWriter<Stdout>>>,
    line: Vec<u8>,
}

impl BufferedStdout {
    fn new() -> BufferedStdout {
        let shared = Arc::new(Mutex::new(BufWriter::with_capacity(64 * 1024, std::io::stdout())));
        let weak: Weak<Mutex<BufWriter<Stdout>>> = Arc::downgrade(&shared);
        let _ = std::thread::Builder::new().name("log-flusher".into()).spawn(move || loop {
            std::thread::sleep(FLUSH_EVERY);
            let Some(shared) = weak.upgrade() else { return };
            let _ = shared.lock().unwrap_or_else(PoisonError::into_inner).flush();
        });
        BufferedStdout { shared, line: Vec::with_capacity(1024) }
    }
}

impl Write for BufferedStdout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        if bytes.ends_with(b"\n") {
            let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            shared.write_all(&self.line)?;
            self.line.clear();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.write_all(&self.line)?;
        self.line.clear();
        shared.flush()
    }
}

impl Drop for BufferedStdout {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
