//! Hostile connections and bodies (issue 10): nothing is read before the
//! caller is admitted, bodies are bounded in size and time however they are
//! framed, idle and stalled connections are closed, connections are capped,
//! h2c is not served, shutdown has a grace period, and failed
//! authentications are limited per client address.

use std::time::{Duration, Instant};

use network_server::server::StartError;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;
use crate::wire::*;

/// Writes `bytes` on a fresh connection and keeps it open (never half-closed).
async fn open_and_send(app: &TestApp, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr_of(app)).await.expect("connects");
    stream.write_all(bytes).await.expect("writes");
    stream
}

/// Reads until the server closes the connection or `limit` passes; what arrived.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (received, true),
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
            Err(_) => return (received, false),
        }
    }
}

fn status_of(response: &[u8]) -> Option<u16> {
    let line = response.split(|b| *b == b'\r').next()?;
    std::str::from_utf8(line).ok()?.split(' ').nth(1)?.parse().ok()
}

/// The head of a create request with `Content-Length: length`, authenticated by `token`.
fn create_head(token: Option<&str>, length: u64) -> Vec<u8> {
    let mut head = format!(
        "POST /network/customers HTTP/1.1\r\nHost: localhost\r\nX-Servitly-Tenant: {TENANT}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n"
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[tokio::test]
async fn an_anonymous_body_is_never_read_the_401_comes_at_once() {
    let app = spawn_app().await;
    // The head announces 256 KiB; only 1,000 bytes follow, then the client stalls.
    let mut request = create_head(None, 262_144);
    request.extend_from_slice(&[b' '; 1000]);
    let started = Instant::now();
    let mut stream = open_and_send(&app, &request).await;
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status_of(&response), Some(401), "{}", String::from_utf8_lossy(&response));
    assert!(started.elapsed() < Duration::from_secs(2), "answered without waiting for the body");
    assert!(closed, "the connection is closed, since the rest of the body was not read");
    assert_healthy(&app, "an anonymous stalled body").await;
    app.stop().await;
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_reading() {
    let app = spawn_app().await;
    let mut stream = open_and_send(&app, &create_head(Some(&admin_token()), 1_000_000_000)).await;
    stream.write_all(&[b' '; 4096]).await.unwrap();
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&response);
    assert_eq!(status_of(&response), Some(400), "{text}");
    assert!(text.contains("exceeds the limit of 262144 bytes"), "{text}");
    assert!(closed, "the connection is closed");
    app.stop().await;
}

#[tokio::test]
async fn a_chunked_body_counts_against_the_limit_as_it_arrives() {
    let app = spawn_app_tuned(|settings| settings.body_limit = 1024).await;
    let (before, count) = tenant_checksum(&app, TENANT).await;
    let big = json!({ "name": "Acme", "properties": { "k": "v".repeat(200_000) } }).to_string();
    let headers = [
        ("Authorization", format!("Bearer {}", admin_token()).into_bytes()),
        ("X-Servitly-Tenant", TENANT.as_bytes().to_vec()),
        ("Content-Type", b"application/json".to_vec()),
    ];
    for (framing, request) in [
        ("Content-Length", http_request("POST", b"/network/customers", &headers, big.as_bytes())),
        ("chunked", {
            let mut headers = headers.to_vec();
            headers.push(("Transfer-Encoding", b"chunked".to_vec()));
            http_request("POST", b"/network/customers", &headers, &chunked(big.as_bytes()))
        }),
    ] {
        let response = send_raw(&addr_of(&app), request).await.unwrap();
        assert_eq!(response.status, 400, "{framing}: {}", response.text());
        assert!(response.text().contains("exceeds the limit of 1024 bytes"), "{}", response.text());
    }
    // A small body still goes through, chunked too.
    let small = br#"{"name": "Small"}"#;
    let mut chunked_headers = headers.to_vec();
    chunked_headers.push(("Transfer-Encoding", b"chunked".to_vec()));
    let request = http_request("POST", b"/network/customers", &chunked_headers, &chunked(small));
    let response = send_raw(&addr_of(&app), request).await.unwrap();
    assert_eq!(response.status, 201, "{}", response.text());
    let (after, after_count) = tenant_checksum(&app, TENANT).await;
    assert_eq!(after_count, count + 1, "only the small body created a customer");
    assert_ne!(before, after);
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_stalls_is_answered_408_after_the_deadline() {
    let app = spawn_app_tuned(|settings| {
        settings.connections.body_deadline = Duration::from_millis(300);
    })
    .await;
    let mut request = create_head(Some(&admin_token()), 100);
    request.extend_from_slice(br#"{"name": "#);
    let started = Instant::now();
    let mut stream = open_and_send(&app, &request).await;
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&response);
    assert_eq!(status_of(&response), Some(408), "{text}");
    assert!(text.contains("did not arrive within 300 ms"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(closed, "the connection is closed");
    let (_, count) = tenant_checksum(&app, TENANT).await;
    assert_eq!(count, 0, "nothing was created");
    app.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_header_timeout() {
    let app = spawn_app_tuned(|settings| {
        settings.connections.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    // A connection that never sends a byte.
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr_of(&app)).await.unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed, "a silent connection is closed");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // A request head that never ends.
    let mut slow = open_and_send(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(closed, "a head that never ends is closed");
    // A keep-alive connection that goes idle after its response.
    let mut idle = open_and_send(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (response, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert_eq!(status_of(&response), Some(200));
    assert!(closed, "an idle keep-alive connection is closed");
    app.stop().await;
}

#[tokio::test]
async fn http2_prior_knowledge_is_not_served() {
    let app = spawn_app().await;
    let mut stream = open_and_send(&app, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    // A SETTINGS frame (an HTTP/2 server's first frame) would also carry an
    // empty SETTINGS frame: 9 bytes, type 4.
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "the connection is closed");
    let looks_like_settings = response.len() >= 9 && response[3] == 4;
    assert!(
        !looks_like_settings || response.starts_with(b"HTTP/1.1"),
        "the server spoke HTTP/2: {response:?}"
    );
    assert_healthy(&app, "an h2c preface").await;
    app.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let app = spawn_app_tuned(|settings| settings.connections.max_connections = 3).await;
    // Three idle connections take every slot (each proven accepted by a request).
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = open_and_send(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let mut buffer = [0u8; 1024];
        let n = stream.read(&mut buffer).await.unwrap();
        assert_eq!(status_of(&buffer[..n]), Some(200));
        held.push(stream);
    }
    let request = http_request("GET", b"/healthz", &[], b"");
    let waiting =
        tokio::time::timeout(Duration::from_millis(500), send_raw(&addr_of(&app), request.clone()))
            .await;
    assert!(waiting.is_err(), "a fourth connection is not served while three are open");
    held.pop();
    let served =
        tokio::time::timeout(Duration::from_secs(5), send_raw(&addr_of(&app), request)).await;
    assert_eq!(served.expect("served once a slot is free").unwrap().status, 200);
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn shutdown_closes_stalled_connections_after_the_grace_period() {
    let app = spawn_app_tuned(|settings| {
        settings.connections.shutdown_grace = Duration::from_millis(500);
        settings.connections.body_deadline = Duration::from_secs(60);
    })
    .await;
    let mut request = create_head(Some(&admin_token()), 100);
    request.extend_from_slice(b"{");
    let _stalled = open_and_send(&app, &request).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let took = app.shutdown_timed().await;
    assert!(took < Duration::from_secs(3), "shutdown took {took:?} with a stalled body open");
}

#[tokio::test]
async fn more_connections_than_file_descriptors_refuse_to_start() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = settings(data_dir.path(), &Backend::Sqlite, &relaxed_rate());
    settings.connections.max_connections = usize::MAX / 2;
    let error = network_server::server::start(settings, network_server::telemetry::discard())
        .await
        .err()
        .expect("refuses to start");
    assert!(matches!(error, StartError::Limits(_)), "{error}");
    assert!(error.to_string().contains("NETWORK_MAX_CONNECTIONS"), "{error}");
}

#[tokio::test]
async fn failed_authentications_are_limited_per_address_before_any_signature_check() {
    let app = spawn_app_tuned(|settings| settings.rate.auth_failures_per_minute = 5).await;
    let good = admin_token();
    let get = |token: String| {
        let url = app.url("/v2/network/customers");
        async move { raw(reqwest::Method::GET, &url, Some(&token), Some(TENANT), None).await }
    };
    assert_eq!(get(good.clone()).await.status(), 200, "a good token, verified and cached");
    // Requests without a token are not failures: they use none of the budget.
    for _ in 0..10 {
        let url = app.url("/v2/network/customers");
        let response = raw(reqwest::Method::GET, &url, None, Some(TENANT), None).await;
        assert_eq!(response.status(), 401);
    }
    let forged = format!("{}x", &good[..good.len() - 1]);
    let forged = if forged == good { format!("{}y", &good[..good.len() - 1]) } else { forged };
    for attempt in 1..=5 {
        let (status, _, _) = error_of(get(forged.clone()).await).await;
        assert_eq!(status, 401, "failure {attempt} is within the budget");
    }
    let (status, message, headers) = error_of(get(forged.clone()).await).await;
    assert_eq!(status, 429, "{message}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(get(good).await.status(), 200, "a token the address already used still works");
    let fresh = mint(&claims(TENANT, "fresh", ALL));
    let (status, _, _) = error_of(get(fresh).await).await;
    assert_eq!(status, 429, "a new token from a blocked address waits, like a bad one");
    app.stop().await;
}
