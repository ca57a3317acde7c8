//! Raw HTTP/1.1 over a `tokio::net::TcpStream`: the exact bytes of a request go
//! on the wire (nothing normalised by a client library), and a small parser
//! reads the answer (status line, headers, a `Content-Length` or chunked body,
//! or everything up to EOF). Also the tenant checksum used to prove that
//! rejected requests changed nothing.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// A parsed response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// In arrival order, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as (lossy) text, for assertion messages.
    pub fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        if text.chars().count() > 300 {
            format!("{}… ({} bytes)", text.chars().take(300).collect::<String>(), self.body.len())
        } else {
            text.into_owned()
        }
    }
}

/// `host:port` of a test server.
pub fn addr_of(app: &TestApp) -> String {
    app.base_url.trim_start_matches("http://").to_string()
}

/// Sends `request` as is and reads one response. The request is written by a
/// separate task while the response is read, so a server that answers before
/// reading the whole (oversized) body is still heard; write errors after that
/// are ignored. Fails only when no complete response arrives.
pub async fn send_raw(addr: &str, request: Vec<u8>) -> Result<RawResponse, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let write = tokio::spawn(async move {
        // Never half-close: hyper would drop the connection on an early EOF.
        let _ = writer.write_all(&request).await;
        let _ = writer.flush().await;
        writer
    });
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        if let Some(response) = parse_complete(&received)? {
            break Ok(response);
        }
        match tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await {
            Err(_) => break Err("timed out waiting for a response".to_string()),
            Ok(Ok(0)) => {
                break parse_at_eof(&received)
                    .ok_or_else(|| "connection closed before a complete response".to_string())
            }
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
            Ok(Err(error)) => {
                break parse_at_eof(&received)
                    .ok_or_else(|| format!("read failed before a complete response: {error}"))
            }
        }
    };
    write.abort();
    outcome
}

/// A status, the headers and the bytes after the head.
type Head<'a> = (u16, Vec<(String, String)>, &'a [u8]);

/// Splits off the head (status line and headers) once it is complete.
fn split_head(data: &[u8]) -> Option<Head<'_>> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect();
    Some((status, headers, &data[end + 4..]))
}

/// A complete response, `None` when more bytes are needed.
fn parse_complete(data: &[u8]) -> Result<Option<RawResponse>, String> {
    let Some((status, headers, rest)) = split_head(data) else { return Ok(None) };
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    if find("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        return Ok(decode_chunked(rest).map(|body| RawResponse { status, headers, body }));
    }
    let length = match find("content-length") {
        Some(value) => value.parse::<usize>().map_err(|_| format!("bad Content-Length {value}"))?,
        None if status == 204 || status == 304 || (100..200).contains(&status) => 0,
        None => return Ok(None), // read to EOF
    };
    if rest.len() < length {
        return Ok(None);
    }
    Ok(Some(RawResponse { status, headers, body: rest[..length].to_vec() }))
}

/// At EOF: a complete framed response, or a head with everything after it as body.
fn parse_at_eof(data: &[u8]) -> Option<RawResponse> {
    if let Ok(Some(response)) = parse_complete(data) {
        return Some(response);
    }
    let (status, headers, rest) = split_head(data)?;
    let framed = headers.iter().any(|(n, _)| n == "content-length" || n == "transfer-encoding");
    (!framed).then(|| RawResponse { status, headers, body: rest.to_vec() })
}

fn decode_chunked(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        if data.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A request built byte by byte: request line, headers in order, body.
/// `Host` and `Connection: close` come first; `Content-Length` is added from
/// the body unless the headers already frame it.
pub fn http_request(
    method: &str,
    target: &[u8],
    headers: &[(&str, Vec<u8>)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 512);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    let framed = headers.iter().any(|(name, _)| {
        name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
    });
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !framed {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// `body` in chunked transfer coding (chunks of at most 16 KiB).
pub fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(16 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A simple authenticated request of the default tenant with every permission.
pub async fn send_simple(
    app: &TestApp,
    method: &str,
    target: &str,
    body: Option<&str>,
) -> RawResponse {
    let mut headers = vec![
        ("Authorization", format!("Bearer {}", admin_token()).into_bytes()),
        ("X-Servitly-Tenant", TENANT.as_bytes().to_vec()),
    ];
    if body.is_some() {
        headers.push(("Content-Type", b"application/json".to_vec()));
    }
    let request = http_request(method, target.as_bytes(), &headers, body.unwrap_or("").as_bytes());
    send_raw(&addr_of(app), request).await.unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

/// Asserts that the server answers `GET /healthz` with 200.
pub async fn assert_healthy(app: &TestApp, after: &str) {
    let request = http_request("GET", b"/healthz", &[], b"");
    match send_raw(&addr_of(app), request).await {
        Ok(response) if response.status == 200 => {}
        Ok(response) => panic!("after {after}: /healthz answered {}", response.status),
        Err(error) => panic!("after {after}: /healthz failed: {error}"),
    }
}

/// SHA-256 over every customer of `tenant` (listed with size=1000, ordered by
/// id) as canonical JSON, each with the `ETag` of its own GET. Also returns
/// the number of customers.
pub async fn tenant_checksum(app: &TestApp, tenant: &str) -> (String, usize) {
    tenant_checksum_with(app, tenant, &mint(&claims(tenant, "checksum", ALL))).await
}

/// [`tenant_checksum`] reading with `token` (a server with other keys).
pub async fn tenant_checksum_with(app: &TestApp, tenant: &str, token: &str) -> (String, usize) {
    let token = token.to_string();
    let response = raw(
        reqwest::Method::GET,
        &app.url("/v2/network/customers?size=1000"),
        Some(&token),
        Some(tenant),
        None,
    )
    .await;
    assert_eq!(response.status(), 200, "listing for the checksum");
    let page: serde_json::Value = response.json().await.expect("a page");
    let mut customers = page["content"].as_array().expect("content").clone();
    assert!(customers.len() < 1000, "the checksum must see the whole tenant");
    customers.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let mut hasher = Sha256::new();
    for customer in &customers {
        let id = customer["id"].as_str().expect("an id");
        let response = raw(
            reqwest::Method::GET,
            &app.url(&format!("/network/customers/{id}")),
            Some(&token),
            Some(tenant),
            None,
        )
        .await;
        assert_eq!(response.status(), 200, "GET {id} for the checksum");
        let etag = response.headers()["etag"].to_str().expect("ASCII").to_string();
        let single: serde_json::Value = response.json().await.expect("a customer");
        assert_eq!(&single, customer, "GET and list agree on {id}");
        // serde_json's map is ordered by key here, so this is canonical.
        hasher.update(serde_json::to_vec(customer).expect("serialises"));
        hasher.update(b"\x00");
        hasher.update(etag.as_bytes());
        hasher.update(b"\x00");
    }
    let digest = hasher.finalize();
    (digest.iter().map(|b| format!("{b:02x}")).collect(), customers.len())
}
