//! The victim: another tenant doing ordinary work, GETs and PUTs of its own
//! customers at a steady rate, from its own loopback address, with one token
//! (subject) per worker so that it stays within the default rate limits.
//!
//! Latency is measured from the moment a request was due on the worker's
//! fixed schedule (not from when it was sent), so that a stall that delays
//! the following requests counts against them too (no coordinated omission);
//! the time from sending to the answer is recorded as well.
//!
//! Every acknowledged PUT (200) is recorded with its ETag; a GET of a
//! customer must return its last acknowledged state. A PUT whose outcome is
//! unknown (timeout, connection error) retires its customer: from then on its
//! stored state may be that write or the last acknowledged one, and nothing
//! else is written to it (a write still queued in the server could otherwise
//! overtake a later one and look like a lost write).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::seed::{victim_id, victim_name, VICTIM};
use crate::stats::{error_kind, Counts};
use crate::wire::{record_5xx, ErrorLog};

pub const VICTIM_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
pub const CHECK_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// What a worker knows about one of its customers.
#[derive(Debug, Clone)]
struct Known {
    /// The last acknowledged write's sequence number (0: as seeded) and ETag.
    seq: u64,
    etag: String,
    /// A write whose outcome is unknown: the customer is retired.
    unknown: Option<u64>,
}

/// One worker's customers and client.
pub struct Worker {
    index: usize,
    client: reqwest::Client,
    base: String,
    token: String,
    customers: Vec<(String, Known)>,
    next_customer: usize,
    next_seq: u64,
    acknowledged_writes: u64,
}

/// One phase's measurements, all workers together.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PhaseRecord {
    pub requests: u64,
    pub gets: u64,
    pub puts: u64,
    pub ok: u64,
    /// Milliseconds from when each request was due to its answer (or failure).
    #[serde(skip)]
    pub latency_ms: Vec<f64>,
    /// Milliseconds from sending to the answer.
    #[serde(skip)]
    pub service_ms: Vec<f64>,
    /// Everything that was not a 200 with the expected content, by kind.
    pub errors: Counts,
    /// A few error details (status, body) for the report.
    pub error_samples: Vec<String>,
    pub retired_customers: u64,
}

impl PhaseRecord {
    fn merge(&mut self, other: PhaseRecord) {
        self.requests += other.requests;
        self.gets += other.gets;
        self.puts += other.puts;
        self.ok += other.ok;
        self.latency_ms.extend(other.latency_ms);
        self.service_ms.extend(other.service_ms);
        for (kind, count) in other.errors.0 {
            *self.errors.0.entry(kind).or_default() += count;
        }
        for sample in other.error_samples {
            if self.error_samples.len() < 20 {
                self.error_samples.push(sample);
            }
        }
        self.retired_customers += other.retired_customers;
    }

    fn error(&mut self, kind: String, detail: String) {
        self.errors.add(kind);
        if self.error_samples.len() < 20 && !detail.is_empty() {
            self.error_samples.push(detail);
        }
    }
}

fn client(source: IpAddr, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .local_address(source)
        .timeout(timeout)
        .pool_max_idle_per_host(4)
        .build()?)
}

impl Worker {
    pub fn new(
        index: usize,
        server: SocketAddr,
        token: String,
        customers: usize,
        timeout: Duration,
    ) -> anyhow::Result<Worker> {
        let customers = (0..customers)
            .map(|c| (victim_id(index, c), Known { seq: 0, etag: "\"1\"".into(), unknown: None }))
            .collect();
        Ok(Worker {
            index,
            client: client(VICTIM_SOURCE, timeout)?,
            base: format!("http://{server}"),
            token,
            customers,
            next_customer: 0,
            next_seq: 1,
            acknowledged_writes: 0,
        })
    }

    /// GETs every customer once (not measured): opens the connection and
    /// learns each seeded customer's ETag; fails unless each is a 200 with the seeded name.
    pub async fn warm_up(&mut self) -> anyhow::Result<()> {
        for c in 0..self.customers.len() {
            let id = self.customers[c].0.clone();
            let response = self.get(&id).send().await?;
            anyhow::ensure!(response.status() == 200, "warm-up GET {id}: {}", response.status());
            let etag =
                etag(&response).ok_or_else(|| anyhow::anyhow!("warm-up GET {id}: no ETag"))?;
            let value: Value = response.json().await?;
            anyhow::ensure!(
                value["name"].as_str() == Some(victim_name(self.index, 0).as_str()),
                "warm-up GET {id}: unexpected {value}"
            );
            self.customers[c].1.etag = etag;
        }
        Ok(())
    }

    fn get(&self, id: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}/network/customers/{id}", self.base))
            .bearer_auth(&self.token)
            .header("X-Servitly-Tenant", VICTIM)
    }

    /// Runs GETs and PUTs alternately at `rate` per second until `end`.
    pub async fn run(
        &mut self,
        start: Instant,
        end: Instant,
        rate: f64,
        errors: &ErrorLog,
    ) -> PhaseRecord {
        let mut record = PhaseRecord::default();
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut due = start + interval.mul_f64(self.index as f64 / 8.0);
        let mut operation = 0u64;
        while due < end {
            if Instant::now() >= end {
                // Held up past the phase's end by slow answers: every request
                // still due is one the victim could not send; each counts as
                // an error, with the time it had already waited.
                let now = Instant::now();
                while due < end {
                    record.requests += 1;
                    record.latency_ms.push((now - due).as_secs_f64() * 1000.0);
                    record.error(
                        "not sent: the worker was held up by earlier requests".into(),
                        String::new(),
                    );
                    due += interval;
                }
                break;
            }
            tokio::time::sleep_until(due).await;
            let active: Vec<usize> = (0..self.customers.len())
                .filter(|&c| self.customers[c].1.unknown.is_none())
                .collect();
            let chosen = if active.is_empty() {
                self.next_customer % self.customers.len()
            } else {
                active[self.next_customer % active.len()]
            };
            self.next_customer += 1;
            let put = operation % 2 == 1 && !active.is_empty();
            operation += 1;
            let sent = Instant::now();
            if put {
                self.put(chosen, &mut record, errors).await;
            } else {
                self.read(chosen, &mut record, errors).await;
            }
            let done = Instant::now();
            record.requests += 1;
            record.latency_ms.push((done - due).as_secs_f64() * 1000.0);
            record.service_ms.push((done - sent).as_secs_f64() * 1000.0);
            due += interval;
        }
        record.retired_customers =
            self.customers.iter().filter(|(_, known)| known.unknown.is_some()).count() as u64;
        record
    }

    async fn read(&mut self, chosen: usize, record: &mut PhaseRecord, errors: &ErrorLog) {
        record.gets += 1;
        let (id, known) = self.customers[chosen].clone();
        match self.get(&id).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let etag = etag(&response);
                let body = response.text().await.unwrap_or_default();
                record_5xx(errors, "victim", "GET", "/network/customers/{id}", status, &body);
                if status != 200 {
                    record.error(
                        format!("GET {status}"),
                        format!("GET {id}: {status} {}", cut(&body)),
                    );
                    return;
                }
                let name = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|value| value["name"].as_str().map(str::to_string));
                let expected = victim_name(self.index, known.seq);
                if known.unknown.is_none()
                    && (name.as_deref() != Some(&expected) || etag.as_deref() != Some(&known.etag))
                {
                    record.error(
                        "GET returned a state other than the last acknowledged write".into(),
                        format!(
                            "GET {id}: {name:?} {etag:?}, expected {expected:?} {}",
                            known.etag
                        ),
                    );
                    return;
                }
                record.ok += 1;
            }
            Err(error) => {
                let kind = error_kind(&error);
                record.error(format!("GET {kind}"), format!("GET {id}: {error}"));
            }
        }
    }

    async fn put(&mut self, chosen: usize, record: &mut PhaseRecord, errors: &ErrorLog) {
        record.puts += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = self.customers[chosen].0.clone();
        let body = json!({
            "name": victim_name(self.index, seq),
            "country": "IT",
            "timezone": "Europe/Rome",
            "properties": {"seq": seq.to_string(), "worker": self.index.to_string()},
        });
        let result = self
            .client
            .put(format!("{}/network/customers/{id}", self.base))
            .bearer_auth(&self.token)
            .header("X-Servitly-Tenant", VICTIM)
            .json(&body)
            .send()
            .await;
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let etag = etag(&response);
                let text = response.text().await.unwrap_or_default();
                record_5xx(errors, "victim", "PUT", "/network/customers/{id}", status, &text);
                match (status, etag) {
                    (200, Some(etag)) => {
                        let known = &mut self.customers[chosen].1;
                        known.seq = seq;
                        known.etag = etag;
                        self.acknowledged_writes += 1;
                        record.ok += 1;
                    }
                    (200, None) => record.error("PUT 200 without ETag".into(), format!("PUT {id}")),
                    // A refused write (4xx) changed nothing; a 5xx may or may not have.
                    (status, _) => {
                        if status >= 500 {
                            self.customers[chosen].1.unknown = Some(seq);
                        }
                        record.error(
                            format!("PUT {status}"),
                            format!("PUT {id}: {status} {}", cut(&text)),
                        );
                    }
                }
            }
            Err(error) => {
                self.customers[chosen].1.unknown = Some(seq);
                let kind = error_kind(&error);
                record.error(format!("PUT {kind}"), format!("PUT {id}: {error}"));
            }
        }
    }

    /// Every customer with what its stored state may be.
    fn expectations(&self) -> Vec<Expectation> {
        self.customers
            .iter()
            .map(|(id, known)| Expectation {
                worker: self.index,
                id: id.clone(),
                seq: known.seq,
                etag: known.etag.clone(),
                unknown: known.unknown,
            })
            .collect()
    }
}

fn etag(response: &reqwest::Response) -> Option<String> {
    response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn cut(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The workers, run together.
pub struct Victim {
    workers: Vec<Arc<tokio::sync::Mutex<Worker>>>,
}

impl Victim {
    pub fn new(workers: Vec<Worker>) -> Victim {
        Victim {
            workers: workers.into_iter().map(|w| Arc::new(tokio::sync::Mutex::new(w))).collect(),
        }
    }

    pub async fn warm_up(&self) -> anyhow::Result<()> {
        for worker in &self.workers {
            worker.lock().await.warm_up().await?;
        }
        Ok(())
    }

    /// Runs every worker from now until `end`; the phase's merged record.
    pub fn spawn_phase(
        &self,
        end: Instant,
        rate_per_worker: f64,
        errors: ErrorLog,
    ) -> tokio::task::JoinHandle<PhaseRecord> {
        let workers = self.workers.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let tasks: Vec<_> = workers
                .into_iter()
                .map(|worker| {
                    let errors = errors.clone();
                    tokio::spawn(async move {
                        worker.lock().await.run(start, end, rate_per_worker, &errors).await
                    })
                })
                .collect();
            let mut merged = PhaseRecord::default();
            for task in tasks {
                if let Ok(record) = task.await {
                    merged.merge(record);
                }
            }
            merged
        })
    }

    pub async fn acknowledged_writes(&self) -> u64 {
        let mut total = 0;
        for worker in &self.workers {
            total += worker.lock().await.acknowledged_writes;
        }
        total
    }

    pub async fn expectations(&self) -> Vec<Expectation> {
        let mut all = Vec::new();
        for worker in &self.workers {
            all.extend(worker.lock().await.expectations());
        }
        all
    }
}

/// What one customer's stored state must be.
#[derive(Debug, Clone)]
pub struct Expectation {
    worker: usize,
    id: String,
    seq: u64,
    etag: String,
    unknown: Option<u64>,
}

impl Expectation {
    /// The same customer expected at a write that was never sent: the check
    /// must call it lost (run after every check, so that a checker that
    /// passes everything is caught).
    pub fn tampered(&self) -> Expectation {
        Expectation { seq: self.seq + 1_000_000, unknown: None, ..self.clone() }
    }
}

/// The result of checking every victim customer against its last acknowledged write.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Verification {
    pub customers: u64,
    /// The stored state is the last acknowledged write.
    pub as_acknowledged: u64,
    /// The stored state is a later write whose answer was lost (allowed).
    pub later_unacknowledged: u64,
    /// Neither: an acknowledged write is missing.
    pub lost: u64,
    /// No answer (200 or 404) within the deadline.
    pub unchecked: u64,
    pub details: Vec<String>,
    pub seconds: f64,
}

/// GETs every customer (4 at a time, each try up to 10 s, retried until
/// `deadline`) and compares it with what was acknowledged.
pub async fn verify(
    server: SocketAddr,
    tokens: &HashMap<usize, String>,
    expectations: Vec<Expectation>,
    deadline: Instant,
) -> Verification {
    let started = Instant::now();
    let Ok(client) = client(CHECK_SOURCE, Duration::from_secs(10)) else {
        return Verification { unchecked: expectations.len() as u64, ..Verification::default() };
    };
    let result = Arc::new(Mutex::new(Verification {
        customers: expectations.len() as u64,
        ..Verification::default()
    }));
    let queue = Arc::new(Mutex::new(expectations));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, queue, result, tokens) =
            (client.clone(), queue.clone(), result.clone(), tokens.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(expected) = pop(&queue) {
                let token = tokens.get(&expected.worker).cloned().unwrap_or_default();
                let outcome = check_one(&client, server, &token, &expected, deadline).await;
                let mut result = result.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match outcome {
                    Check::AsAcknowledged => result.as_acknowledged += 1,
                    Check::Later => result.later_unacknowledged += 1,
                    Check::Lost(detail) => {
                        result.lost += 1;
                        if result.details.len() < 20 {
                            result.details.push(detail);
                        }
                    }
                    Check::Unchecked(detail) => {
                        result.unchecked += 1;
                        if result.details.len() < 20 {
                            result.details.push(detail);
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut result = result.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// The next expectation (the lock is released before the check runs).
fn pop(queue: &Mutex<Vec<Expectation>>) -> Option<Expectation> {
    queue.lock().ok()?.pop()
}

enum Check {
    AsAcknowledged,
    Later,
    Lost(String),
    Unchecked(String),
}

async fn check_one(
    client: &reqwest::Client,
    server: SocketAddr,
    token: &str,
    expected: &Expectation,
    deadline: Instant,
) -> Check {
    let mut last_problem = String::from("not tried before the deadline");
    while Instant::now() < deadline {
        let request = client
            .get(format!("http://{server}/network/customers/{}", expected.id))
            .bearer_auth(token)
            .header("X-Servitly-Tenant", VICTIM)
            .send();
        let response = match tokio::time::timeout_at(deadline, request).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                last_problem = error.to_string();
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(_) => break,
        };
        let status = response.status().as_u16();
        let etag = etag(&response);
        let body = response.text().await.unwrap_or_default();
        if status == 404 {
            return Check::Lost(format!(
                "{}: 404 (acknowledged write {})",
                expected.id, expected.seq
            ));
        }
        if status != 200 {
            last_problem = format!("status {status}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let name = value["name"].as_str().unwrap_or("");
        let property = value["properties"]["seq"].as_str().unwrap_or("");
        let acknowledged = victim_name(expected.worker, expected.seq);
        if name == acknowledged
            && etag.as_deref() == Some(expected.etag.as_str())
            && property == expected.seq.to_string()
        {
            return Check::AsAcknowledged;
        }
        if let Some(unknown) = expected.unknown {
            if name == victim_name(expected.worker, unknown) && property == unknown.to_string() {
                return Check::Later;
            }
        }
        return Check::Lost(format!(
            "{}: stored {name:?} {etag:?}, acknowledged {acknowledged:?} {}",
            expected.id, expected.etag
        ));
    }
    Check::Unchecked(format!("{}: {last_problem}", expected.id))
}

pub const PROBE_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4));

/// Fresh connections during the attack: does the server still accept and answer?
#[derive(Debug, Default, Clone, Serialize)]
pub struct ProbeReport {
    pub every_ms: u64,
    pub timeout_ms: u64,
    pub sent: u64,
    pub ok: u64,
    pub failures: Counts,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// Every `every` until `end`, a new connection from its own address with
/// `GET /healthz` (waiting up to `timeout`), as a new client would. Each
/// attempt runs on its own, so a slow one does not delay the next.
pub async fn health_probe(
    server: SocketAddr,
    end: Instant,
    every: Duration,
    timeout: Duration,
) -> ProbeReport {
    let mut attempts = Vec::new();
    let mut due = Instant::now();
    while due < end {
        tokio::time::sleep_until(due).await;
        due += every;
        attempts.push(tokio::spawn(probe_once(server, timeout)));
    }
    let mut report = ProbeReport {
        every_ms: every.as_millis() as u64,
        timeout_ms: timeout.as_millis() as u64,
        ..ProbeReport::default()
    };
    let mut latencies = Vec::new();
    for attempt in attempts {
        let Ok((outcome, latency)) = attempt.await else { continue };
        report.sent += 1;
        latencies.push(latency);
        match outcome {
            Ok(()) => report.ok += 1,
            Err(kind) => report.failures.add(kind),
        }
    }
    report.p50_ms = crate::stats::percentile_ms(&mut latencies, 50.0);
    report.p99_ms = crate::stats::percentile_ms(&mut latencies, 99.0);
    report.max_ms = crate::stats::percentile_ms(&mut latencies, 100.0);
    report
}

/// One probe: the outcome and its milliseconds.
async fn probe_once(server: SocketAddr, timeout: Duration) -> (Result<(), String>, f64) {
    use tokio::io::AsyncWriteExt;
    let started = Instant::now();
    let deadline = started + timeout;
    let attempt = async {
        let mut stream = crate::wire::connect(PROBE_SOURCE, server)
            .await
            .map_err(|e| format!("connect {:?}", e.kind()))?;
        let request =
            format!("GET /healthz HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("write {:?}", e.kind()))?;
        match crate::wire::read_response(&mut stream, deadline).await {
            Ok(Some(response)) if response.status == 200 => Ok(()),
            Ok(Some(response)) => Err(format!("status {}", response.status)),
            Ok(None) => Err("closed without an answer".to_string()),
            Err(error) => Err(format!("{error:?}")),
        }
    };
    let outcome = match tokio::time::timeout_at(deadline, attempt).await {
        Ok(outcome) => outcome,
        Err(_) => Err("Timeout".to_string()),
    };
    (outcome, started.elapsed().as_secs_f64() * 1000.0)
}
