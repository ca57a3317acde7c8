//! The server process's own CPU time, per thread group, read from `/proc`:
//! what a request costs the server, apart from the load generator that shares
//! the machine.

use std::collections::BTreeMap;

use serde::Serialize;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`): 100 on every
/// Linux architecture this runs on (only alpha and ia64 differed).
const TICKS_PER_SECOND: f64 = 100.0;

/// The thread groups the server's threads fall into, by thread name.
fn group_of(thread_name: &str) -> &'static str {
    match thread_name {
        // tokio names its workers and its blocking pool alike ("tokio-rt-worker";
        // "tokio-runtime-worker", cut to 15 bytes, in older versions); both run
        // request work.
        name if name.starts_with("tokio-r") => "workers",
        "sqlite-writer" => "writer",
        "log-flusher" => "log",
        _ => "other",
    }
}

/// CPU ticks (user + system) of a process: in all, and per thread group.
#[derive(Debug, Clone, Default)]
pub struct CpuSample {
    /// The whole process, exited threads included.
    total: u64,
    /// The threads alive now, by group.
    groups: BTreeMap<&'static str, u64>,
}

/// utime + stime of one `/proc/.../stat` line (fields 14 and 15; the
/// command name in parentheses may contain spaces, so count after its `)`).
fn ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

impl CpuSample {
    /// Reads the process `pid` now; `None` if it is gone.
    pub fn read(pid: u32) -> Option<CpuSample> {
        let total = ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
        let mut groups = BTreeMap::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
            let path = task.path();
            // A thread may exit between the listing and the read: skip it.
            let Ok(name) = std::fs::read_to_string(path.join("comm")) else { continue };
            let Some(task_ticks) =
                std::fs::read_to_string(path.join("stat")).ok().and_then(|s| ticks(&s))
            else {
                continue;
            };
            *groups.entry(group_of(name.trim())).or_insert(0) += task_ticks;
        }
        Some(CpuSample { total, groups })
    }
}

/// The server's CPU time per completed request over one run, in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct CpuPerRequest {
    pub total_us: f64,
    /// By thread group (`workers`, `writer`, `log`, `other`); `other` also
    /// holds threads that exited during the run.
    pub by_group_us: BTreeMap<String, f64>,
    /// How many requests the figures are divided by.
    pub requests: u64,
    /// The CPU time measured, in seconds (its resolution is 10 ms).
    pub cpu_seconds: f64,
}

impl CpuPerRequest {
    /// The CPU used between `before` and `after`, over `requests` requests.
    pub fn between(before: &CpuSample, after: &CpuSample, requests: u64) -> Option<CpuPerRequest> {
        if requests == 0 {
            return None;
        }
        let per_request = |ticks: u64| ticks as f64 / TICKS_PER_SECOND * 1e6 / requests as f64;
        let total = after.total.saturating_sub(before.total);
        let mut by_group = BTreeMap::new();
        let mut grouped = 0;
        for (group, after_ticks) in &after.groups {
            if *group == "other" {
                continue;
            }
            let used = after_ticks.saturating_sub(before.groups.get(group).copied().unwrap_or(0));
            grouped += used;
            by_group.insert(group.to_string(), per_request(used));
        }
        by_group.insert("other".to_string(), per_request(total.saturating_sub(grouped)));
        Some(CpuPerRequest {
            total_us: per_request(total),
            by_group_us: by_group,
            requests,
            cpu_seconds: total as f64 / TICKS_PER_SECOND,
        })
    }

    /// `12.3 µs (workers 9.0, writer 3.0, log 0.3, other 0.0)`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> =
            self.by_group_us.iter().map(|(group, us)| format!("{group} {us:.1}")).collect();
        format!("{:.1} µs ({})", self.total_us, parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_read_after_a_command_name_with_spaces_and_parentheses() {
        // Fields after the name: state, ppid, pgrp, session, tty, tpgid, flags,
        // minflt, cminflt, majflt, cmajflt, utime (14), stime (15), ...
        let stat = "4242 (log (a) b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3";
        assert_eq!(ticks(stat), Some(300));
    }

    #[test]
    fn this_process_uses_cpu_and_its_threads_are_grouped() {
        let before = CpuSample::read(std::process::id()).expect("own /proc entry");
        let started = std::time::Instant::now();
        let mut spin = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(200) {
            spin = spin.wrapping_add(std::hint::black_box(1));
        }
        let after = CpuSample::read(std::process::id()).expect("own /proc entry");
        let cost = CpuPerRequest::between(&before, &after, 1_000).expect("requests > 0");
        // 200 ms of spinning over 1,000 "requests" is about 200 µs each; allow
        // for a shared machine and the 10 ms tick.
        assert!(cost.total_us >= 50.0, "{cost:?} after {spin} spins");
        let sum: f64 = cost.by_group_us.values().sum();
        assert!((sum - cost.total_us).abs() < 1e-6, "groups {sum} vs total {}", cost.total_us);
        assert!(CpuPerRequest::between(&before, &after, 0).is_none());
    }

    #[test]
    fn thread_names_map_to_groups() {
        // The names tokio 1.54 gives (checked on a running server) and older ones.
        assert_eq!(group_of("tokio-rt-worker"), "workers");
        assert_eq!(group_of("tokio-runtime-w"), "workers");
        assert_eq!(group_of("sqlite-writer"), "writer");
        assert_eq!(group_of("log-flusher"), "log");
        assert_eq!(group_of("network-server"), "other");
    }
}
