//! The server under test: the release `network-server` in its own process on
//! 127.0.0.1, its address read from its `--ready-file`, its memory,
//! file descriptors and threads sampled from `/proc`, and its request log
//! scanned for 5xx answers (including those whose client had hung up).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;

/// How the server is started.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    pub data_dir: PathBuf,
    pub secret_file: PathBuf,
    /// `RLIMIT_NOFILE` for the server (soft and hard), through `prlimit`; `None` inherits ours.
    pub nofile: Option<u64>,
    /// Extra arguments (flags of a newer server, e.g. limits).
    pub extra_args: Vec<String>,
}

/// What the server's request log said, as it was written.
#[derive(Debug, Default, Clone, Serialize)]
pub struct LogSummary {
    /// Log lines with a `status`, by operation and status.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Every logged 5xx (at most [`MAX_KEPT`] kept): operation, status, problem.
    pub server_errors: Vec<LoggedError>,
    pub server_error_count: u64,
    /// Lines at level warn (40) or above that are not request lines (at most [`MAX_KEPT`]).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggedError {
    pub operation: String,
    pub status: u16,
    pub problem: String,
}

/// How many 5xx lines and warnings are kept verbatim.
pub const MAX_KEPT: usize = 50;

/// A running server.
pub struct Server {
    child: Arc<Mutex<Child>>,
    pub pid: u32,
    pub address: SocketAddr,
    pub log: Arc<Mutex<LogSummary>>,
    pub log_path: PathBuf,
}

impl Server {
    /// Starts the server on `127.0.0.1:0` and returns once its ready file
    /// gave the address (within 30 s).
    pub fn start(launch: &Launch, log_name: &str) -> anyhow::Result<Server> {
        let mut command = match launch.nofile {
            Some(limit) => {
                let mut command = Command::new("prlimit");
                command.arg(format!("--nofile={limit}:{limit}")).arg("--").arg(&launch.binary);
                command
            }
            None => Command::new(&launch.binary),
        };
        let ready =
            launch.data_dir.parent().unwrap_or(Path::new(".")).join(format!("{log_name}.ready"));
        let _ = std::fs::remove_file(&ready);
        command
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&launch.data_dir)
            .arg("--ready-file")
            .arg(&ready)
            .arg("--jwt-hs256-secret-file")
            .arg(&launch.secret_file)
            .args(&launch.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child =
            command.spawn().with_context(|| format!("start {}", launch.binary.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        let log_path = launch.data_dir.parent().unwrap_or(Path::new(".")).join(log_name);
        let file = std::fs::File::create(&log_path)
            .with_context(|| format!("create {}", log_path.display()))?;
        let file = Arc::new(Mutex::new(std::io::BufWriter::new(file)));
        let log = Arc::new(Mutex::new(LogSummary::default()));
        {
            let (file, log) = (file.clone(), log.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut file) = file.lock() {
                        let _ = writeln!(file, "{line}");
                    }
                    let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
                    if let Ok(mut log) = log.lock() {
                        summarise(&mut log, &entry);
                    }
                }
                if let Ok(mut file) = file.lock() {
                    let _ = file.flush();
                }
            });
        }
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut file) = file.lock() {
                    let _ = writeln!(file, "stderr: {line}");
                    let _ = file.flush();
                }
            }
        });
        let child = Arc::new(Mutex::new(child));
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = loop {
            let text = std::fs::read_to_string(&ready).unwrap_or_default();
            if let Some(line) = text.lines().next().filter(|line| !line.is_empty()) {
                break line.to_string();
            }
            let exited = child.lock().ok().and_then(|mut child| child.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() >= deadline {
                kill(&child);
                bail!("the server did not become ready within 30 s; see {}", log_path.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let address: SocketAddr = address.parse().context("the ready file's address")?;
        if !address.ip().is_loopback() {
            kill(&child);
            bail!("the server listens on {address}, not on loopback");
        }
        Ok(Server { child, pid, address, log, log_path })
    }

    /// The exit status, if the process has exited.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.child.lock().ok()?.try_wait().ok().flatten()
    }

    /// Sends SIGTERM (with `kill`, so that no unsafe code is needed here).
    pub fn terminate(&self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&self) {
        kill(&self.child);
    }

    /// One sample of `/proc/<pid>` (`None` once the process is gone).
    pub fn sample(&self) -> Option<ProcSample> {
        sample(self.pid)
    }

    /// The server's `RLIMIT_NOFILE` soft limit, from `/proc/<pid>/limits`.
    pub fn nofile_limit(&self) -> Option<u64> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid)).ok()?;
        let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }
}

/// One sample of `/proc/<pid>`.
fn sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid)).ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let state = status.lines().find(|line| line.starts_with("State:"))?;
    if state.contains("zombie") {
        return None;
    }
    let fds = std::fs::read_dir(format!("/proc/{}/fd", pid)).ok()?.count() as u64;
    Some(ProcSample {
        rss: kib("VmRSS:")? * 1024,
        hwm: kib("VmHWM:")? * 1024,
        threads: kib("Threads:").unwrap_or(0),
        fds,
    })
}

/// CPU time (user + system) of process `pid` (`"self"` for this one), in
/// seconds, assuming the usual 100 clock ticks per second.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

impl Drop for Server {
    /// A server is never left running, also when the harness fails half-way.
    fn drop(&mut self) {
        if self.exited().is_none() {
            kill(&self.child);
        }
    }
}

fn kill(child: &Arc<Mutex<Child>>) {
    if let Ok(mut child) = child.lock() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Resident memory, its high-water mark, threads and open descriptors.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProcSample {
    pub rss: u64,
    pub hwm: u64,
    pub threads: u64,
    pub fds: u64,
}

fn summarise(log: &mut LogSummary, entry: &Value) {
    if let Some(status) = entry["status"].as_u64() {
        let status = status as u16;
        let operation = entry["operation"].as_str().unwrap_or("?").to_string();
        *log.requests.entry(operation.clone()).or_default().entry(status).or_default() += 1;
        if status >= 500 {
            log.server_error_count += 1;
            if log.server_errors.len() < MAX_KEPT {
                let problem = entry["problem"].as_str().unwrap_or("").chars().take(300).collect();
                log.server_errors.push(LoggedError { operation, status, problem });
            }
        }
    } else if entry["level"].as_u64().is_some_and(|level| level >= 40)
        && log.warnings.len() < MAX_KEPT
    {
        log.warnings.push(entry.to_string().chars().take(400).collect());
    }
}

/// Samples process `pid` every `every` into the shared [`Samples`] until `stop`.
pub fn spawn_sampler(
    pid: u32,
    every: Duration,
    samples: Arc<Mutex<Samples>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let started = Instant::now();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let sample = sample(pid);
            if let Ok(mut samples) = samples.lock() {
                match sample {
                    Some(sample) => samples.add(started.elapsed(), sample),
                    None => samples.gone = true,
                }
            }
            std::thread::sleep(every);
        }
    })
}

/// Peaks of the samples taken during one phase, and a coarse timeline.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Samples {
    pub count: u64,
    pub peak_rss: u64,
    pub peak_hwm: u64,
    pub peak_fds: u64,
    pub peak_threads: u64,
    pub last: Option<ProcSample>,
    /// One sample per second: seconds since the sampler started, the sample.
    pub timeline: Vec<(f64, ProcSample)>,
    /// Whether the process disappeared (or became a zombie) while sampled.
    pub gone: bool,
}

impl Samples {
    fn add(&mut self, at: Duration, sample: ProcSample) {
        self.count += 1;
        self.peak_rss = self.peak_rss.max(sample.rss);
        self.peak_hwm = self.peak_hwm.max(sample.hwm);
        self.peak_fds = self.peak_fds.max(sample.fds);
        self.peak_threads = self.peak_threads.max(sample.threads);
        self.last = Some(sample);
        let second = at.as_secs_f64().floor();
        if self.timeline.last().is_none_or(|(t, _)| *t < second) {
            self.timeline.push((second, sample));
        }
    }
}
