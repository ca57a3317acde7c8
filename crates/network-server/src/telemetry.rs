//! JSON logs (bunyan format, on stdout) through slog, the logger dropshot uses.
//!
//! A record is formatted on the thread that logs it, into that record's own
//! line, which joins a shared buffer whole; a background thread writes the
//! buffer to stdout every [`FLUSH_EVERY`], outside the lock. No record
//! crosses to another thread to be formatted (slog-async did that: a queue
//! and a wake-up of its thread per record, about 6 µs of CPU per request
//! under load; see BENCHMARKS.md), and no request thread ever waits for
//! stdout: when stdout does not keep up and the buffer reaches
//! [`MAX_PENDING`], records are dropped and counted, as slog-async dropped
//! them when its queue was full, and a line says how many.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use slog::Drain;

/// The longest a log line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// At most this many bytes wait for stdout; beyond, records are dropped.
pub const MAX_PENDING: usize = 16 * 1024 * 1024;

/// A JSON logger at `level` (`info` if the level is unknown), on stdout.
pub fn logger(level: &str) -> slog::Logger {
    logger_to(level, std::io::stdout())
}

/// The same logger writing to `out` (the cost table's benchmark: a sink).
pub fn logger_to(level: &str, out: impl Write + Send + 'static) -> slog::Logger {
    let level = level.parse::<slog::Level>().unwrap_or(slog::Level::Info);
    let out: Out = Arc::new(Mutex::new(Box::new(out)));
    let buffer = LineBuffer::new(Pending::shared(), MAX_PENDING, out.clone());
    spawn_flusher(Arc::downgrade(&buffer.shared), out);
    // The JSON drain keeps its writer in a RefCell: one record at a time,
    // behind a lock held only while the record is formatted into its line.
    let drain = Mutex::new(slog_bunyan::with_name("network-server", buffer).build());
    let drain =
        slog::Filter::new(drain.ignore_res(), |record: &slog::Record<'_>| !is_duplicate(record));
    slog::Logger::root(drain.filter_level(level).ignore_res(), slog::o!())
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

/// The lines waiting for stdout, and how many records were dropped since
/// the last write.
#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
}

type Shared = Arc<Mutex<Pending>>;

/// Where the lines go (stdout), shared by the flusher and the buffer's last write.
type Out = Arc<Mutex<Box<dyn Write + Send>>>;

impl Pending {
    fn shared() -> Shared {
        Arc::new(Mutex::new(Pending::default()))
    }

    /// Takes what is waiting (the buffer's capacity stays with `spare`'s).
    fn take(shared: &Shared, spare: &mut Vec<u8>) -> u64 {
        let mut pending = shared.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut pending.bytes, spare);
        std::mem::take(&mut pending.dropped)
    }
}

/// Writes the pending lines to `out` every [`FLUSH_EVERY`] until the
/// buffer is gone (the logger's end, which writes the rest itself).
fn spawn_flusher(weak: Weak<Mutex<Pending>>, out: Out) {
    let _ = std::thread::Builder::new().name("log-flusher".into()).spawn(move || {
        let mut spare = Vec::new();
        loop {
            std::thread::sleep(FLUSH_EVERY);
            let Some(shared) = weak.upgrade() else { return };
            let dropped = Pending::take(&shared, &mut spare);
            drop(shared);
            write_out(&mut *out.lock().unwrap_or_else(PoisonError::into_inner), &spare, dropped);
            spare.clear();
        }
    });
}

fn write_out(out: &mut impl Write, bytes: &[u8], dropped: u64) {
    let _ = out.write_all(bytes);
    if dropped > 0 {
        let _ = writeln!(
            out,
            r#"{{"name":"network-server","level":40,"msg":"log records dropped: stdout did not keep up","dropped":{dropped},"v":0}}"#
        );
    }
    let _ = out.flush();
}

/// What the JSON drain writes into: a record is gathered in `line` and
/// enters the shared buffer whole, at its final newline (so the flusher
/// never writes half a line), or is dropped when the buffer is full.
struct LineBuffer {
    shared: Shared,
    line: Vec<u8>,
    max_pending: usize,
    out: Out,
}

impl LineBuffer {
    fn new(shared: Shared, max_pending: usize, out: Out) -> LineBuffer {
        LineBuffer { shared, line: Vec::with_capacity(1024), max_pending, out }
    }
}

impl Write for LineBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        if bytes.ends_with(b"\n") {
            let mut pending = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.bytes.len() + self.line.len() <= self.max_pending {
                pending.bytes.extend_from_slice(&self.line);
            } else {
                pending.dropped += 1;
            }
            drop(pending);
            self.line.clear();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    /// The logger's end: what is still waiting goes out now.
    fn drop(&mut self) {
        let mut rest = Vec::new();
        let dropped = Pending::take(&self.shared, &mut rest);
        rest.extend_from_slice(&self.line);
        write_out(&mut *self.out.lock().unwrap_or_else(PoisonError::into_inner), &rest, dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink() -> Out {
        Arc::new(Mutex::new(Box::new(std::io::sink())))
    }

    fn pending(shared: &Shared) -> (String, u64) {
        let pending = shared.lock().unwrap();
        (String::from_utf8(pending.bytes.clone()).unwrap(), pending.dropped)
    }

    #[test]
    fn a_line_joins_the_buffer_only_whole_and_a_full_buffer_drops_and_counts() {
        let shared = Pending::shared();
        let mut buffer = LineBuffer::new(shared.clone(), 12, sink());
        buffer.write_all(b"{\"a\":").unwrap();
        assert_eq!(pending(&shared), (String::new(), 0));
        buffer.write_all(b"1}\n").unwrap();
        assert_eq!(pending(&shared), ("{\"a\":1}\n".into(), 0));
        // 8 bytes waiting, 8 more would pass the 12-byte cap: dropped, counted.
        buffer.write_all(b"{\"b\":2}\n").unwrap();
        assert_eq!(pending(&shared), ("{\"a\":1}\n".into(), 1));
        let mut spare = Vec::new();
        assert_eq!(Pending::take(&shared, &mut spare), 1);
        assert_eq!(spare, b"{\"a\":1}\n");
        buffer.write_all(b"{\"c\":3}\n").unwrap();
        assert_eq!(pending(&shared), ("{\"c\":3}\n".into(), 0));
    }

    #[test]
    fn the_flusher_writes_the_lines_and_the_count_of_dropped_ones() {
        let mut out = Vec::new();
        write_out(&mut out, b"{\"a\":1}\n", 3);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "{\"a\":1}");
        let report: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(report["dropped"], 3);
    }

    #[test]
    fn the_logger_formats_a_request_line_as_bunyan_json() {
        let shared = Pending::shared();
        let buffer = LineBuffer::new(shared.clone(), MAX_PENDING, sink());
        let drain = Mutex::new(slog_bunyan::with_name("network-server", buffer).build());
        let log = slog::Logger::root(drain.ignore_res(), slog::o!());
        let line = RequestLine {
            operation: "updateCustomer",
            api_version: "",
            tenant: "acme",
            subject: "dev",
            status: 200,
            elapsed: Duration::from_micros(42),
            problem: None,
        };
        line.log(&log);
        let (text, _) = pending(&shared);
        let record: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(record["msg"], "request handled");
        assert_eq!(record["latency_us"], 42);
        assert_eq!(record["tenant"], "acme");
    }
}
