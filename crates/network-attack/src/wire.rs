//! Raw HTTP/1.1 on tokio sockets: connections from a chosen loopback source
//! address (each attack has its own, as separate attackers would, so that a
//! per-address limit on one attack does not hide another), and a minimal
//! response reader.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// Connects from `source` (a 127.0.0.0/8 address) to `server` (loopback too).
pub async fn connect(source: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    assert!(source.is_loopback() && server.ip().is_loopback(), "loopback only");
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(server).await
}

/// A response read from a raw connection: status and the start of the body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub body: String,
}

/// Reads one response (status line, headers, up to 64 KiB of a
/// `Content-Length` body) until `deadline`; `Ok(None)` when the server closed
/// the connection without answering, `Err` on timeout or error.
pub async fn read_response(
    stream: &mut TcpStream,
    deadline: Instant,
) -> Result<Option<RawResponse>, ReadError> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > 64 * 1024 {
            return Err(ReadError::Malformed);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(Err(error)) => return Err(ReadError::Io(error.kind())),
            Ok(Ok(0)) if buffer.is_empty() => return Ok(None),
            Ok(Ok(0)) => return Err(ReadError::Malformed),
            Ok(Ok(read)) => buffer.extend_from_slice(&chunk[..read]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or(ReadError::Malformed)?;
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0usize)
        .min(64 * 1024);
    let mut body = buffer[header_end + 4..].to_vec();
    while body.len() < length {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(read)) if read > 0 => body.extend_from_slice(&chunk[..read]),
            _ => break,
        }
    }
    body.truncate(length);
    Ok(Some(RawResponse { status, body: String::from_utf8_lossy(&body).to_string() }))
}

/// Why no response was read (shown through `Debug`).
#[derive(Debug)]
pub enum ReadError {
    Timeout,
    #[allow(dead_code)] // shown through `Debug`
    Io(std::io::ErrorKind),
    Malformed,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Every 5xx any client saw, with where it came from and its body.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ServerErrors {
    pub count: u64,
    /// Those that are not a 503 answering a list query (which the targets allow).
    pub disallowed: u64,
    /// The first [`crate::server::MAX_KEPT`] of them.
    pub seen: Vec<SeenError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeenError {
    /// Which client saw it (attack or victim).
    pub client: String,
    /// `METHOD path` (the path shortened).
    pub request: String,
    pub status: u16,
    pub body: String,
    /// Whether it is the one 5xx the targets allow: a 503 answering a list query.
    pub allowed: bool,
}

pub type ErrorLog = Arc<Mutex<ServerErrors>>;

/// Records a 5xx (no-op for other statuses).
pub fn record_5xx(log: &ErrorLog, client: &str, method: &str, path: &str, status: u16, body: &str) {
    if status < 500 {
        return;
    }
    let list = path.starts_with("/v2/network/customers");
    let allowed = status == 503 && method == "GET" && list;
    let mut request = format!("{method} {path}");
    if request.len() > 120 {
        let cut = (0..=117).rev().find(|&i| request.is_char_boundary(i)).unwrap_or(0);
        request.truncate(cut);
        request.push_str("...");
    }
    if let Ok(mut log) = log.lock() {
        log.count += 1;
        log.disallowed += u64::from(!allowed);
        if log.seen.len() < crate::server::MAX_KEPT {
            log.seen.push(SeenError {
                client: client.to_string(),
                request,
                status,
                body: body.chars().take(500).collect(),
                allowed,
            });
        }
    }
}
