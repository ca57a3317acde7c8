//! The attacks, each bounded in count and time, each from its own loopback
//! source address. Connection-holding attacks (idle sockets, stalled bodies,
//! the huge-body trickle, h2c streams) keep their sockets until released (the
//! harness then sends SIGTERM with them still open) or their hard deadline.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use crate::stats::{percentile_ms, Counts};
use crate::wire::{self, record_5xx, ErrorLog, ReadError};

pub const IDLE_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10));
pub const STALLED_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11));
pub const TRICKLE_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 12));
pub const H2C_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 13));
pub const LIST_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 14));
pub const BAD_TOKEN_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 15));
pub const PAGES_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 16));

/// What every attack shares.
#[derive(Clone)]
pub struct Ctx {
    pub server: SocketAddr,
    pub errors: ErrorLog,
    /// When attacks stop sending new requests.
    pub attack_end: Instant,
    /// Flips to true when held connections are to be closed.
    pub release: watch::Receiver<bool>,
    /// Held connections close by then whatever happens.
    pub hold_deadline: Instant,
    /// When the harness sent SIGTERM (a close after it is the shutdown's, not a limit's).
    pub terminated: Arc<OnceLock<Instant>>,
}

impl Ctx {
    fn closed(&self) -> Outcome {
        match self.terminated.get() {
            Some(_) => Outcome::ClosedAtShutdown,
            None => Outcome::ClosedByServer,
        }
    }

    /// Waits until release or the hard deadline.
    async fn held(&self) {
        let mut release = self.release.clone();
        let _ = tokio::time::timeout_at(self.hold_deadline, release.wait_for(|r| *r)).await;
    }
}

/// How one held connection ended.
#[derive(Debug, Clone)]
enum Outcome {
    ConnectFailed(String),
    Answered(u16),
    ClosedByServer,
    ClosedAtShutdown,
    Reset(String),
    StillOpen,
}

/// One held connection: its outcome, bytes of body sent, seconds from connect to the end.
struct Held {
    outcome: Outcome,
    sent: u64,
    lifetime: f64,
}

/// The summary of a connection-holding attack.
#[derive(Debug, Default, Clone, Serialize)]
pub struct HeldReport {
    pub connections: u64,
    pub connect_failed: Counts,
    /// Body bytes the server accepted (written into the socket), in total.
    pub body_bytes_sent: u64,
    /// Connections whose whole planned body was written.
    pub bodies_complete: u64,
    pub answered: Counts,
    /// Closed by the server before SIGTERM.
    pub closed_by_server: u64,
    /// Median seconds from connect to the server closing (or answering) before SIGTERM.
    pub median_seconds_to_close: Option<f64>,
    /// Closed by the server after SIGTERM (while shutting down).
    pub closed_at_shutdown: u64,
    pub reset: Counts,
    /// Still open when released (the server neither answered nor closed them).
    pub still_open: u64,
}

fn summarise_held(results: Vec<Held>, planned_body: u64) -> HeldReport {
    let mut report = HeldReport { connections: results.len() as u64, ..HeldReport::default() };
    let mut close_times = Vec::new();
    for held in results {
        report.body_bytes_sent += held.sent;
        if planned_body > 0 && held.sent >= planned_body {
            report.bodies_complete += 1;
        }
        match held.outcome {
            Outcome::ConnectFailed(kind) => report.connect_failed.add(kind),
            Outcome::Answered(status) => {
                report.answered.add(status.to_string());
                close_times.push(held.lifetime);
            }
            Outcome::ClosedByServer => {
                report.closed_by_server += 1;
                close_times.push(held.lifetime);
            }
            Outcome::ClosedAtShutdown => report.closed_at_shutdown += 1,
            Outcome::Reset(kind) => {
                report.reset.add(kind);
                close_times.push(held.lifetime);
            }
            Outcome::StillOpen => report.still_open += 1,
        }
    }
    close_times.sort_by(f64::total_cmp);
    report.median_seconds_to_close = close_times.get(close_times.len() / 2).copied();
    report
}

/// After sending, waits for an answer, a close, or the release.
async fn hold(
    ctx: &Ctx,
    mut stream: TcpStream,
    started: Instant,
    client: &str,
    path: &str,
) -> Outcome {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let released = ctx.held();
    tokio::pin!(released);
    loop {
        tokio::select! {
            _ = &mut released => return Outcome::StillOpen,
            read = stream.read(&mut chunk) => match read {
                Ok(0) => {
                    return match parse_status(&buffer) {
                        Some((status, body)) => {
                            record_5xx(&ctx.errors, client, "POST", path, status, &body);
                            Outcome::Answered(status)
                        }
                        None => ctx.closed(),
                    }
                }
                Ok(read) => {
                    buffer.extend_from_slice(&chunk[..read]);
                    if let Some((status, body)) = parse_status(&buffer) {
                        if buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                            record_5xx(&ctx.errors, client, "POST", path, status, &body);
                            let _ = started;
                            return Outcome::Answered(status);
                        }
                    }
                }
                Err(error) => return Outcome::Reset(format!("{:?}", error.kind())),
            }
        }
    }
}

fn parse_status(buffer: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(buffer);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    Some((status, body))
}

async fn held_connection(
    ctx: Ctx,
    source: IpAddr,
    client: &'static str,
    head: Option<String>,
    body: u64,
    trickle: Option<(usize, Duration)>,
    gate: Arc<Semaphore>,
) -> Held {
    let permit = gate.acquire_owned().await;
    let started = Instant::now();
    let end = |outcome, sent| Held { outcome, sent, lifetime: started.elapsed().as_secs_f64() };
    let connect = tokio::time::timeout_at(ctx.attack_end, wire::connect(source, ctx.server)).await;
    let mut stream = match connect {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return end(Outcome::ConnectFailed(format!("{:?}", error.kind())), 0),
        Err(_) => return end(Outcome::ConnectFailed("Timeout".into()), 0),
    };
    let mut sent = 0u64;
    if let Some(head) = head {
        let path = "/network/customers";
        if let Err(error) = stream.write_all(head.as_bytes()).await {
            return end(Outcome::Reset(format!("{:?}", error.kind())), 0);
        }
        let (piece, pause) = trickle.unwrap_or((16 * 1024, Duration::ZERO));
        let filler = vec![b' '; piece];
        let mut opening = b"{\"name\": \"".to_vec();
        opening.resize(piece, b'x');
        while sent < body && Instant::now() < ctx.attack_end {
            let size = (body - sent).min(piece as u64) as usize;
            let data = if sent == 0 { &opening[..size] } else { &filler[..size] };
            match tokio::time::timeout_at(ctx.attack_end, stream.write_all(data)).await {
                Ok(Ok(())) => sent += size as u64,
                Ok(Err(error)) => {
                    // The server may have answered and closed: look for the answer.
                    let outcome = match wire::read_response(
                        &mut stream,
                        Instant::now() + Duration::from_millis(200),
                    )
                    .await
                    {
                        Ok(Some(response)) => {
                            record_5xx(
                                &ctx.errors,
                                client,
                                "POST",
                                path,
                                response.status,
                                &response.body,
                            );
                            Outcome::Answered(response.status)
                        }
                        _ => Outcome::Reset(format!("{:?}", error.kind())),
                    };
                    return end(outcome, sent);
                }
                Err(_) => break, // the server stopped reading: stalled
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        drop(permit);
        let outcome = hold(&ctx, stream, started, client, path).await;
        return end(outcome, sent);
    }
    drop(permit);
    let outcome = hold(&ctx, stream, started, client, "(idle)").await;
    end(outcome, 0)
}

/// Connections that send nothing.
pub async fn idle_sockets(ctx: Ctx, count: usize) -> HeldReport {
    let gate = Arc::new(Semaphore::new(64));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            tokio::spawn(held_connection(
                ctx.clone(),
                IDLE_SOURCE,
                "idle",
                None,
                0,
                None,
                gate.clone(),
            ))
        })
        .collect();
    summarise_held(join_all(tasks).await, 0)
}

/// Anonymous `POST` headers with a `Content-Length`, `body` bytes of it, then silence.
pub async fn stalled_bodies(ctx: Ctx, count: usize, declared: u64, body: u64) -> HeldReport {
    let head = post_head(ctx.server, declared);
    let gate = Arc::new(Semaphore::new(64));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            tokio::spawn(held_connection(
                ctx.clone(),
                STALLED_SOURCE,
                "stalled body",
                Some(head.clone()),
                body,
                None,
                gate.clone(),
            ))
        })
        .collect();
    summarise_held(join_all(tasks).await, body)
}

/// `Content-Length: 1000000000`, then the body trickles until the attack ends.
pub async fn huge_trickle(ctx: Ctx, count: usize, piece: usize, every: Duration) -> HeldReport {
    let head = post_head(ctx.server, 1_000_000_000);
    let gate = Arc::new(Semaphore::new(count.max(1)));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            tokio::spawn(held_connection(
                ctx.clone(),
                TRICKLE_SOURCE,
                "huge-body trickle",
                Some(head.clone()),
                1_000_000_000,
                Some((piece, every)),
                gate.clone(),
            ))
        })
        .collect();
    summarise_held(join_all(tasks).await, 1_000_000_000)
}

fn post_head(server: SocketAddr, length: u64) -> String {
    format!(
        "POST /network/customers HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\n\
         X-Servitly-Tenant: victim\r\nContent-Length: {length}\r\n\r\n"
    )
}

async fn join_all<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(result) = task.await {
            results.push(result);
        }
    }
    results
}

/// The list query of the outside tester: page `page` of 1,000, `terms` sort
/// terms alternating `name,DESC` and `country,ASC`.
pub fn heavy_path(page: usize, terms: usize) -> String {
    let mut path = format!("/v2/network/customers?page={page}&size=1000");
    for term in 0..terms {
        path.push_str(if term % 2 == 0 { "&sort=name,DESC" } else { "&sort=country,ASC" });
    }
    path
}

/// The same deep page with a sort the contract allows (each field once), so
/// that the attack stays heavy on a server that refuses repeated fields.
pub fn deep_page_path(page: usize) -> String {
    format!(
        "/v2/network/customers?page={page}&size=1000&sort=country,ASC&sort=name,DESC\
         &sort=creationTimestamp,DESC"
    )
}

fn get_request(server: SocketAddr, path: &str, token: &str, tenant: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {server}\r\nAuthorization: Bearer {token}\r\n\
         X-Servitly-Tenant: {tenant}\r\n\r\n"
    )
}

/// The heavy-list attack's figures. Outcomes are labelled by the query
/// (`N terms`: the repeated-terms query; `3 terms`: the contract-valid deep page).
#[derive(Debug, Default, Clone, Serialize)]
pub struct ListReport {
    pub page: usize,
    pub sort_terms: usize,
    pub hangup_after_ms: u64,
    /// Requests sent by the clients that hang up.
    pub sent: u64,
    /// Answered before the hang-up, by query and status.
    pub answered_in_time: Counts,
    pub hung_up: u64,
    pub connect_failed: Counts,
    /// The patient client: each request waited for its answer (up to `patient_timeout_s`).
    pub patient_timeout_s: u64,
    pub patient: Counts,
    /// The patient client's latencies by query.
    pub patient_latency_ms: BTreeMap<String, Vec<f64>>,
    /// A single query with 2,000 sort terms (waited for), by status.
    pub probe_2000_terms: Counts,
}

/// `workers` clients each sending a heavy query once a second (alternately
/// the `terms`-term one and the valid deep page) and hanging up after
/// `hangup`; one patient client that waits for each answer (the same two
/// queries alternately); one 2,000-term probe.
pub async fn heavy_lists(
    ctx: Ctx,
    token: String,
    workers: usize,
    page: usize,
    terms: usize,
    hangup: Duration,
    patient_timeout: Duration,
) -> ListReport {
    let queries = Arc::new([
        (format!("{terms} terms"), heavy_path(page, terms)),
        ("3 terms".to_string(), deep_page_path(page)),
    ]);
    let report = Arc::new(Mutex::new(ListReport {
        page,
        sort_terms: terms,
        hangup_after_ms: hangup.as_millis() as u64,
        patient_timeout_s: patient_timeout.as_secs(),
        ..ListReport::default()
    }));
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (ctx, token, queries, report) =
            (ctx.clone(), token.clone(), queries.clone(), report.clone());
        tasks.push(tokio::spawn(async move {
            // Spread the workers over the first second.
            let start =
                Instant::now() + Duration::from_millis(1000 * worker as u64 / workers as u64);
            let mut tick = 0u32;
            loop {
                let at = start + Duration::from_secs(tick.into());
                let (label, path) = &queries[(tick as usize + worker) % 2];
                tick += 1;
                if at >= ctx.attack_end {
                    break;
                }
                tokio::time::sleep_until(at).await;
                let mut stream = match wire::connect(LIST_SOURCE, ctx.server).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        lock(&report).connect_failed.add(format!("{:?}", error.kind()));
                        continue;
                    }
                };
                let request = get_request(ctx.server, path, &token, crate::seed::LISTER);
                lock(&report).sent += 1;
                if stream.write_all(request.as_bytes()).await.is_err() {
                    lock(&report).connect_failed.add("WriteFailed".into());
                    continue;
                }
                let answer = match wire::read_response(&mut stream, Instant::now() + hangup).await {
                    Ok(Some(response)) => {
                        record_5xx(
                            &ctx.errors,
                            "heavy list",
                            "GET",
                            path,
                            response.status,
                            &response.body,
                        );
                        response.status.to_string()
                    }
                    Ok(None) => "closed".into(),
                    Err(ReadError::Timeout) => {
                        lock(&report).hung_up += 1;
                        continue;
                    }
                    Err(error) => format!("{error:?}"),
                };
                lock(&report).answered_in_time.add(format!("{label}: {answer}"));
                drop(stream); // hang up
            }
        }));
    }
    {
        let (ctx, token, report) = (ctx.clone(), token.clone(), report.clone());
        tasks.push(tokio::spawn(async move {
            let probe = heavy_path(page, 2000);
            let outcome = patient_get(&ctx, &token, &probe, patient_timeout).await;
            lock(&report).probe_2000_terms.add(outcome.0);
            let mut round = 0usize;
            while Instant::now() < ctx.attack_end {
                let (label, path) = &queries[round % 2];
                round += 1;
                let (outcome, latency) = patient_get(&ctx, &token, path, patient_timeout).await;
                let mut report = lock(&report);
                report.patient.add(format!("{label}: {outcome}"));
                report.patient_latency_ms.entry(label.clone()).or_default().push(latency);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let report = lock(&report).clone();
    report
}

/// One list query on its own connection, waiting up to `timeout`: outcome and milliseconds.
async fn patient_get(ctx: &Ctx, token: &str, path: &str, timeout: Duration) -> (String, f64) {
    let started = Instant::now();
    let ms = || started.elapsed().as_secs_f64() * 1000.0;
    let mut stream = match wire::connect(LIST_SOURCE, ctx.server).await {
        Ok(stream) => stream,
        Err(error) => return (format!("connect {:?}", error.kind()), ms()),
    };
    let request = get_request(ctx.server, path, token, crate::seed::LISTER);
    if stream.write_all(request.as_bytes()).await.is_err() {
        return ("write failed".into(), ms());
    }
    // The last query may run past the attack's end by 5 s at most.
    let cap = ctx.attack_end + Duration::from_secs(5);
    let deadline = (started + timeout).min(cap);
    match wire::read_response(&mut stream, deadline).await {
        Ok(Some(response)) => {
            record_5xx(
                &ctx.errors,
                "heavy list (patient)",
                "GET",
                path,
                response.status,
                &response.body,
            );
            (response.status.to_string(), ms())
        }
        Ok(None) => ("closed".into(), ms()),
        Err(ReadError::Timeout) if deadline == cap && started + timeout > cap => {
            ("unfinished at the end".into(), ms())
        }
        Err(ReadError::Timeout) => ("timeout".into(), ms()),
        Err(error) => (format!("{error:?}"), ms()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The bad-token flood's figures.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FloodReport {
    pub planned: u64,
    pub sent: u64,
    pub large_bodies: u64,
    pub large_body_bytes: u64,
    pub statuses: Counts,
    pub transport_errors: Counts,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// p50 of the `POST`s with the large body, and of the bodiless `GET`s.
    pub large_body_p50_ms: Option<f64>,
    pub small_p50_ms: Option<f64>,
    pub seconds: f64,
}

/// `count` requests with a wrongly signed token for the victim's tenant,
/// spread evenly over the attack (at most `concurrency` at a time); every
/// fourth a `POST` with a large body.
pub async fn bad_token_flood(
    ctx: Ctx,
    bad_token: String,
    count: u64,
    concurrency: usize,
    large_body: Bytes,
) -> FloodReport {
    let client = match reqwest::Client::builder()
        .no_proxy()
        .local_address(BAD_TOKEN_SOURCE)
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(_) => return FloodReport::default(),
    };
    let next = Arc::new(AtomicU64::new(0));
    let report = Arc::new(Mutex::new(FloodReport {
        planned: count,
        large_body_bytes: large_body.len() as u64,
        ..FloodReport::default()
    }));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let spacing = (ctx.attack_end - started).div_f64(count.max(1) as f64);
    let base = format!("http://{}", ctx.server);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (ctx, client, next, report, latencies, token, body, base) = (
            ctx.clone(),
            client.clone(),
            next.clone(),
            report.clone(),
            latencies.clone(),
            bad_token.clone(),
            large_body.clone(),
            base.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count || Instant::now() >= ctx.attack_end {
                    break;
                }
                // Spread over the attack, so that the flood lasts as long as the rest.
                tokio::time::sleep_until(started + spacing.mul_f64(index as f64)).await;
                let large = index % 4 == 3;
                let (method, path) = if large {
                    ("POST", "/network/customers".to_string())
                } else {
                    ("GET", format!("/network/customers/{}", crate::seed::victim_id(0, 0)))
                };
                let request = if large {
                    client
                        .post(format!("{base}{path}"))
                        .header("Content-Type", "application/json")
                        .body(body.clone())
                } else {
                    client.get(format!("{base}{path}"))
                };
                let request =
                    request.bearer_auth(&token).header("X-Servitly-Tenant", crate::seed::VICTIM);
                let sent = Instant::now();
                let result = request.send().await;
                let latency = sent.elapsed().as_secs_f64() * 1000.0;
                {
                    let mut report = lock(&report);
                    report.sent += 1;
                    report.large_bodies += u64::from(large);
                }
                match result {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        lock(&report).statuses.add(status.to_string());
                        let text = if status >= 500 {
                            response.text().await.unwrap_or_default()
                        } else {
                            let _ = response.bytes().await;
                            String::new()
                        };
                        record_5xx(&ctx.errors, "bad-token flood", method, &path, status, &text);
                        lock(&latencies).push((large, latency));
                    }
                    Err(error) => {
                        lock(&report).transport_errors.add(crate::stats::error_kind(&error))
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut report = lock(&report).clone();
    let pairs = lock(&latencies).clone();
    let mut all: Vec<f64> = pairs.iter().map(|(_, ms)| *ms).collect();
    let mut large: Vec<f64> = pairs.iter().filter(|(l, _)| *l).map(|(_, ms)| *ms).collect();
    let mut small: Vec<f64> = pairs.iter().filter(|(l, _)| !*l).map(|(_, ms)| *ms).collect();
    report.p50_ms = percentile_ms(&mut all, 50.0);
    report.p99_ms = percentile_ms(&mut all, 99.0);
    report.large_body_p50_ms = percentile_ms(&mut large, 50.0);
    report.small_p50_ms = percentile_ms(&mut small, 50.0);
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// The oversized-pages attack's figures.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PagesReport {
    pub concurrency: usize,
    pub sent: u64,
    pub statuses: Counts,
    pub transport_errors: Counts,
    pub complete_pages: u64,
    /// Largest body received.
    pub max_body_bytes: u64,
    pub latency_ms: Vec<f64>,
}

/// `concurrency` clients each reading `GET ...?size=1000` pages of the bulky
/// tenant, one after another, until the attack ends.
pub async fn oversized_pages(ctx: Ctx, token: String, concurrency: usize) -> PagesReport {
    let client = match reqwest::Client::builder().no_proxy().local_address(PAGES_SOURCE).build() {
        Ok(client) => client,
        Err(_) => return PagesReport::default(),
    };
    let report = Arc::new(Mutex::new(PagesReport { concurrency, ..PagesReport::default() }));
    let url = format!("http://{}/v2/network/customers?size=1000", ctx.server);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (ctx, client, report, token, url) =
            (ctx.clone(), client.clone(), report.clone(), token.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            // A page started before the end may finish up to 5 s after it.
            let limit = ctx.attack_end + Duration::from_secs(5);
            while Instant::now() < ctx.attack_end {
                let started = Instant::now();
                lock(&report).sent += 1;
                let page = async {
                    let mut response = client
                        .get(&url)
                        .bearer_auth(&token)
                        .header("X-Servitly-Tenant", crate::seed::BULKY)
                        .send()
                        .await?;
                    let status = response.status().as_u16();
                    let mut bytes = 0u64;
                    let mut head = Vec::new();
                    while let Some(chunk) = response.chunk().await? {
                        bytes += chunk.len() as u64;
                        if head.len() < 2048 {
                            head.extend_from_slice(&chunk[..chunk.len().min(2048)]);
                        }
                    }
                    Ok::<_, reqwest::Error>((status, bytes, head))
                };
                match tokio::time::timeout_at(limit, page).await {
                    Ok(Ok((status, bytes, head))) => {
                        let body = String::from_utf8_lossy(&head).to_string();
                        record_5xx(
                            &ctx.errors,
                            "oversized pages",
                            "GET",
                            "/v2/network/customers?size=1000",
                            status,
                            &body,
                        );
                        let mut report = lock(&report);
                        report.statuses.add(status.to_string());
                        report.max_body_bytes = report.max_body_bytes.max(bytes);
                        report.complete_pages += u64::from(status == 200);
                        report.latency_ms.push(started.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(Err(error)) => {
                        lock(&report).transport_errors.add(crate::stats::error_kind(&error))
                    }
                    Err(_) => {
                        lock(&report).transport_errors.add("unfinished at the deadline".into());
                        break;
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let report = lock(&report).clone();
    report
}

/// The h2c attack's figures.
#[derive(Debug, Default, Clone, Serialize)]
pub struct H2Report {
    /// Whether the server took the HTTP/2 prior-knowledge handshake.
    pub handshake: String,
    pub streams_planned: usize,
    pub streams_opened: u64,
    pub body_bytes_sent: u64,
    /// How the streams ended by the release: answered (status), reset, still open.
    pub outcomes: Counts,
}

/// One h2c connection (prior knowledge) with `streams` `POST`s, each
/// declaring `declared` bytes and sending `body` of them, then stalling.
pub async fn h2c_streams(ctx: Ctx, streams: usize, declared: u64, body: u64) -> H2Report {
    let mut report = H2Report { streams_planned: streams, ..H2Report::default() };
    let tcp = match wire::connect(H2C_SOURCE, ctx.server).await {
        Ok(tcp) => tcp,
        Err(error) => {
            report.handshake = format!("connect failed: {:?}", error.kind());
            return report;
        }
    };
    let handshake = tokio::time::timeout(
        Duration::from_secs(5),
        h2::client::Builder::new().handshake::<_, Bytes>(tcp),
    )
    .await;
    let (client, connection) = match handshake {
        Ok(Ok(pair)) => pair,
        Ok(Err(error)) => {
            report.handshake = format!("refused: {error}");
            return report;
        }
        Err(_) => {
            report.handshake = "no answer within 5 s".into();
            return report;
        }
    };
    report.handshake = "accepted".into();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let mut opened = 0u64;
    let mut client = client;
    for _ in 0..streams {
        if Instant::now() >= ctx.attack_end {
            break;
        }
        let ready = tokio::time::timeout_at(ctx.attack_end, client.clone().ready()).await;
        let mut ready = match ready {
            Ok(Ok(ready)) => ready,
            Ok(Err(error)) => {
                report.outcomes.add(format!("open refused: {}", short(&error.to_string())));
                break;
            }
            Err(_) => {
                report.outcomes.add("open: no stream slot by the end".into());
                break;
            }
        };
        let request = http::Request::post(format!("http://{}/network/customers", ctx.server))
            .header("content-type", "application/json")
            .header("content-length", declared.to_string())
            .header("x-servitly-tenant", crate::seed::VICTIM)
            .body(());
        let Ok(request) = request else { break };
        let (response, mut stream) = match ready.send_request(request, false) {
            Ok(pair) => pair,
            Err(error) => {
                report.outcomes.add(format!("open refused: {}", short(&error.to_string())));
                break;
            }
        };
        client = ready;
        opened += 1;
        let (ctx, sent) = (ctx.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut left = body;
            let mut first = true;
            while left > 0 && Instant::now() < ctx.attack_end {
                stream.reserve_capacity(left as usize);
                let capacity = tokio::time::timeout_at(
                    ctx.attack_end,
                    std::future::poll_fn(|cx| stream.poll_capacity(cx)),
                )
                .await;
                match capacity {
                    Ok(Some(Ok(granted))) if granted > 0 => {
                        let size = (granted as u64).min(left) as usize;
                        let mut data = vec![b' '; size];
                        if first {
                            let opening = b"{\"name\": \"";
                            let n = opening.len().min(size);
                            data[..n].copy_from_slice(&opening[..n]);
                            first = false;
                        }
                        if stream.send_data(Bytes::from(data), false).is_err() {
                            break;
                        }
                        left -= size as u64;
                        sent.fetch_add(size as u64, Ordering::Relaxed);
                    }
                    Ok(Some(Ok(_))) => continue,
                    _ => break,
                }
            }
            // Hold the stream (and its response) until released.
            let released = ctx.held();
            tokio::select! {
                _ = released => "still open".to_string(),
                answer = response => match answer {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        record_5xx(&ctx.errors, "h2c streams", "POST", "/network/customers", status, "");
                        format!("answered {status}")
                    }
                    Err(error) => format!("reset: {}", short(&error.to_string())),
                },
            }
        }));
    }
    report.streams_opened = opened;
    for task in tasks {
        if let Ok(outcome) = task.await {
            report.outcomes.add(outcome);
        }
    }
    report.body_bytes_sent = sent.load(Ordering::Relaxed);
    drop(client);
    driver.abort();
    report
}

fn short(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heavy_queries_are_the_testers_and_fit_in_a_request_line() {
        let path = heavy_path(90, 1_999);
        assert!(path.starts_with(
            "/v2/network/customers?page=90&size=1000&sort=name,DESC&sort=country,ASC"
        ));
        assert_eq!(path.matches("&sort=").count(), 1_999);
        assert!(path.len() < 40 * 1024, "{} bytes", path.len());
        let valid = deep_page_path(9);
        assert_eq!(
            valid,
            "/v2/network/customers?page=9&size=1000&sort=country,ASC&sort=name,DESC&sort=creationTimestamp,DESC"
        );
    }

    #[test]
    fn only_a_503_to_a_list_query_is_an_allowed_5xx() {
        let log = ErrorLog::default();
        record_5xx(&log, "t", "GET", "/v2/network/customers?size=1", 503, "");
        record_5xx(&log, "t", "GET", "/v2/network/customers?size=1", 500, "");
        record_5xx(&log, "t", "GET", "/network/customers/x", 503, "");
        record_5xx(&log, "t", "GET", "/network/customers/x", 404, "");
        let log = log.lock().unwrap();
        assert_eq!((log.count, log.disallowed), (3, 2));
        assert!(log.seen[0].allowed && !log.seen[1].allowed && !log.seen[2].allowed);
    }
}
