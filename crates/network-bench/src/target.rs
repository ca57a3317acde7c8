//! The servers under test, each in its own process: started, checked with
//! one real request, measured (peak RSS) and stopped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// How a configuration's server is started.
#[derive(Debug, Clone)]
pub enum Launch {
    /// `network-bench serve-ceiling`.
    Ceiling,
    /// `network-bench serve-bare`.
    Bare,
    /// The real `network-server` on SQLite in `data_dir`.
    Sqlite { group_commit: bool },
    /// The real `network-server` on PostgreSQL, in its own schema.
    Postgres { url: String, schema: String },
}

/// A running server process.
pub struct Target {
    child: Child,
    pub address: SocketAddr,
}

/// Whether `server` takes `--ready-file` (an older build compared with
/// `--compare-server` may not: it only logs its address).
fn has_ready_file(server: &Path) -> bool {
    Command::new(server)
        .arg("--help")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("--ready-file"))
}

/// The address in a server log's `listening` line (bunyan JSON), the way
/// builds without `--ready-file` announced it.
fn logged_address(log: &str) -> Option<&str> {
    let line = log.lines().find(|line| line.contains(r#""msg":"listening""#))?;
    let after = &line[line.find(r#""address":""#)? + r#""address":""#.len()..];
    Some(&after[..after.find('"')?])
}

/// Waits for a server's ready file (`--ready-file`: its bound address,
/// written once it accepts requests), or its `listening` log line, while
/// the process runs.
fn wait_ready(
    child: &mut Child,
    ready: &Path,
    launch: &Launch,
    log: &Path,
) -> anyhow::Result<SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(ready).unwrap_or_default();
        if let Some(line) = text.lines().next().filter(|line| !line.is_empty()) {
            return line.parse().with_context(|| format!("the ready file holds {line:?}"));
        }
        let logged = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(address) = logged_address(&logged) {
            return address.parse().with_context(|| format!("the log names {address:?}"));
        }
        if let Some(status) = child.try_wait()? {
            bail!("{launch:?} exited at start ({status}); see {}", log.display());
        }
        if Instant::now() >= deadline {
            bail!("{launch:?} did not become ready within 30 s; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Target {
    /// Starts the server and returns once `check` (a request that must get a
    /// 200) succeeds.
    pub fn start(
        launch: &Launch,
        server: &Path,
        data_dir: &Path,
        customers: usize,
        check: &RawRequest,
    ) -> anyhow::Result<Target> {
        let ready = data_dir.join("ready");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::File::create(data_dir.join("server.log"))?;
        let mut command = match launch {
            Launch::Ceiling | Launch::Bare => {
                let mut command = Command::new(std::env::current_exe()?);
                let verb =
                    if matches!(launch, Launch::Ceiling) { "serve-ceiling" } else { "serve-bare" };
                command
                    .arg(verb)
                    .args(["--bind", "127.0.0.1:0", "--customers", &customers.to_string()])
                    .arg("--ready-file")
                    .arg(&ready);
                command
            }
            Launch::Sqlite { .. } | Launch::Postgres { .. } => {
                let mut command = Command::new(server);
                command.args(["--dev", "--bind", "127.0.0.1:0", "--data-dir"]).arg(data_dir);
                if has_ready_file(server) {
                    command.arg("--ready-file").arg(&ready);
                }
                command
                    // The limiter still runs on every request; it just never refuses one.
                    .args(["--rate-limit-tenant-per-minute", "1000000000"])
                    .args(["--rate-limit-subject-per-minute", "1000000000"]);
                if let Launch::Sqlite { group_commit } = launch {
                    command.args(["--sqlite-group-commit", &group_commit.to_string()]);
                }
                if let Launch::Postgres { url, schema } = launch {
                    command.args(["--database-url", url, "--database-schema", schema]);
                }
                command
            }
        };
        // The server logs one JSON line per request, as in production: to a file.
        command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let mut child = command.spawn().with_context(|| format!("start {launch:?}"))?;
        let address = match wait_ready(&mut child, &ready, launch, &data_dir.join("server.log")) {
            Ok(address) => address,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error);
            }
        };
        let target = Target { child, address };
        match check.send(address) {
            Ok(200) => Ok(target),
            Ok(status) => bail!("{launch:?}: the check request got {status}, not 200"),
            Err(error) => bail!("{launch:?}: the check request failed: {error}"),
        }
    }

    /// The server's process id (its CPU time is read from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's peak resident set size so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// SIGKILL and reap.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request written by hand (for the start check).
pub struct RawRequest {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawRequest {
    /// Sends the request on a new connection and returns the status code.
    pub fn send(&self, address: SocketAddr) -> anyhow::Result<u16> {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut request = format!(
            "{} {} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n",
            self.method, self.path
        );
        for (name, value) in &self.headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{}", self.body.len(), self.body));
        stream.write_all(request.as_bytes())?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response);
        let status =
            text.split_whitespace().nth(1).and_then(|code| code.parse().ok()).with_context(
                || format!("no status line in {:?}", text.chars().take(80).collect::<String>()),
            )?;
        Ok(status)
    }
}

/// A scratch directory for one configuration, emptied first.
pub fn scratch_dir(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = root.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_read_from_a_listening_line() {
        let log = concat!(
            r#"{"msg":"migrated","v":0}"#,
            "\n",
            r#"{"msg":"listening","level":30,"address":"127.0.0.1:41234","v":0}"#,
            "\n"
        );
        assert_eq!(logged_address(log), Some("127.0.0.1:41234"));
        assert_eq!(logged_address(r#"{"msg":"starting"}"#), None);
    }
}
