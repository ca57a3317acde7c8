//! JSON logs (bunyan format, on stdout) through slog, the logger dropshot uses.

use slog::Drain;

/// A JSON logger at `level` (`info` if the level is unknown).
pub fn logger(level: &str) -> slog::Logger {
    let level = level.parse::<slog::Level>().unwrap_or(slog::Level::Info);
    let drain = slog_bunyan::with_name("network-server", std::io::stdout()).build().fuse();
    let drain = slog_async::Async::new(drain).chan_size(16_384).build().fuse();
    slog::Logger::root(drain.filter_level(level).fuse(), slog::o!())
}

/// A logger that drops everything (tests).
pub fn discard() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}
