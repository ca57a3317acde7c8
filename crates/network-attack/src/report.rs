//! The results: the table on stdout, `results.json`, and the targets.

use serde::Serialize;

use crate::attacks::{FloodReport, H2Report, HeldReport, ListReport, PagesReport};
use crate::server::{LogSummary, ProcSample, Samples};
use crate::stats::percentile_ms;
use crate::victim::{PhaseRecord, ProbeReport, Verification};
use crate::wire::ServerErrors;
use crate::Plan;

/// The victim's p99 during the attack must stay within this.
pub const TARGET_P99_MS: f64 = 250.0;
/// The server's RSS may grow by at most this much during the attack.
pub const TARGET_RSS_GROWTH: u64 = 256 * 1024 * 1024;

pub struct Phases {
    pub seed_s: f64,
    pub start_s: f64,
    pub baseline: PhaseRecord,
    pub attack: PhaseRecord,
    pub attack_seconds: f64,
    pub server_cpu_s: Option<f64>,
    pub harness_cpu_s: Option<f64>,
    pub baseline_samples: Samples,
    pub before: ProcSample,
    pub attack_samples: Samples,
    pub nofile: Option<u64>,
}

/// Each attack's figures (`None`: left out by `--only`).
pub struct Attacks {
    pub idle: Option<HeldReport>,
    pub stalled: Option<HeldReport>,
    pub h2c: Option<H2Report>,
    pub trickle: Option<HeldReport>,
    pub lists: Option<ListReport>,
    pub flood: Option<FloodReport>,
    pub pages: Option<PagesReport>,
    pub probe: ProbeReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct VictimSummary {
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub service_p50_ms: Option<f64>,
    pub service_p99_ms: Option<f64>,
    pub record: PhaseRecord,
}

fn victim_summary(record: PhaseRecord) -> VictimSummary {
    let mut latency = record.latency_ms.clone();
    let mut service = record.service_ms.clone();
    VictimSummary {
        requests: record.requests,
        ok: record.ok,
        errors: record.errors.total(),
        p50_ms: percentile_ms(&mut latency, 50.0),
        p99_ms: percentile_ms(&mut latency, 99.0),
        max_ms: percentile_ms(&mut latency, 100.0),
        service_p50_ms: percentile_ms(&mut service, 50.0),
        service_p99_ms: percentile_ms(&mut service, 99.0),
        record,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerSummary {
    pub rlimit_nofile: Option<u64>,
    /// At the end of the baseline (the attack's starting point).
    pub rss_before: u64,
    pub fds_before: u64,
    pub threads_before: u64,
    /// From the attack's start to SIGTERM (including the live check).
    pub peak_rss: u64,
    pub peak_hwm: u64,
    pub rss_growth: u64,
    pub peak_fds: u64,
    pub peak_threads: u64,
    /// CPU seconds (user + system) the server and this harness used during the attack.
    pub attack_cpu_s: Option<f64>,
    pub harness_attack_cpu_s: Option<f64>,
    pub samples: u64,
    pub baseline_samples: Samples,
    pub attack_samples: Samples,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShutdownReport {
    pub already_exited: Option<String>,
    pub grace_s: u64,
    pub exited_within_grace: bool,
    pub exit_seconds: Option<f64>,
    pub exit_status: Option<String>,
    /// When it did not exit within the grace period: whether it did once the held connections closed.
    pub exited_after_release: Option<String>,
    pub killed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttackReports {
    pub idle_sockets: Option<HeldReport>,
    pub stalled_bodies: Option<HeldReport>,
    pub h2c: Option<H2Report>,
    pub huge_trickle: Option<HeldReport>,
    pub heavy_lists: Option<ListReport>,
    pub bad_token_flood: Option<FloodReport>,
    pub oversized_pages: Option<PagesReport>,
    /// Fresh connections with `GET /healthz` during the attack (not a target).
    pub new_connection_probe: ProbeReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub plan: Plan,
    pub seconds: RunSeconds,
    pub victim_baseline: VictimSummary,
    pub victim_attack: VictimSummary,
    pub acknowledged_writes: u64,
    pub server: ServerSummary,
    pub attacks: AttackReports,
    /// Every 5xx a client saw.
    pub client_5xx: ServerErrors,
    /// The server's request log: counts per operation and status, every logged 5xx.
    pub server_log: LogSummary,
    pub died_during_attack: Option<String>,
    pub live_check: Option<Verification>,
    pub restart_check: Verification,
    pub shutdown: ShutdownReport,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSeconds {
    pub seeding: f64,
    pub server_start: f64,
    pub attack: f64,
    pub total: f64,
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn ms(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.1} ms"))
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        plan: Plan,
        phases: Phases,
        attacks: Attacks,
        client_5xx: ServerErrors,
        server_log: LogSummary,
        died_during_attack: Option<String>,
        live_check: Option<Verification>,
        restart_check: Verification,
        shutdown: ShutdownReport,
        acknowledged_writes: u64,
        total_seconds: f64,
    ) -> Report {
        let samples = &phases.attack_samples;
        // VmHWM is the process's lifetime peak: it says something about the
        // attack only once it rose above its value at the attack's start
        // (it also catches peaks between two samples).
        let peak =
            if samples.peak_hwm > phases.before.hwm { samples.peak_hwm } else { samples.peak_rss };
        let server = ServerSummary {
            rlimit_nofile: phases.nofile,
            rss_before: phases.before.rss,
            fds_before: phases.before.fds,
            threads_before: phases.before.threads,
            peak_rss: samples.peak_rss,
            peak_hwm: samples.peak_hwm,
            rss_growth: peak.saturating_sub(phases.before.rss),
            peak_fds: samples.peak_fds,
            peak_threads: samples.peak_threads,
            attack_cpu_s: phases.server_cpu_s,
            harness_attack_cpu_s: phases.harness_cpu_s,
            samples: samples.count,
            baseline_samples: phases.baseline_samples.clone(),
            attack_samples: samples.clone(),
        };
        let victim_baseline = victim_summary(phases.baseline);
        let victim_attack = victim_summary(phases.attack);
        let mut targets = Vec::new();
        let p99 = victim_attack.p99_ms;
        targets.push(Target {
            name: format!("victim p99 during the attack <= {TARGET_P99_MS:.0} ms"),
            measured: ms(p99),
            met: p99.is_some_and(|p| p <= TARGET_P99_MS),
        });
        let victim_errors = victim_attack.errors + victim_baseline.errors;
        targets.push(Target {
            name: "victim errors = 0".into(),
            measured: format!(
                "{} during the attack ({}), {} in the baseline",
                victim_attack.errors,
                victim_attack.record.errors.describe(),
                victim_baseline.errors
            ),
            met: victim_errors == 0,
        });
        targets.push(Target {
            name: format!("server RSS growth <= {}", mib(TARGET_RSS_GROWTH)),
            measured: format!(
                "{} ({} -> peak {})",
                mib(server.rss_growth),
                mib(server.rss_before),
                mib(server.peak_hwm)
            ),
            met: server.rss_growth <= TARGET_RSS_GROWTH,
        });
        let logged_disallowed = server_log
            .server_errors
            .iter()
            .filter(|e| !(e.status == 503 && e.operation == "getCustomers"))
            .count() as u64;
        let logged_disallowed =
            if server_log.server_error_count > server_log.server_errors.len() as u64 {
                // Not all kept: count the unkept ones as disallowed unless every kept one is allowed.
                logged_disallowed.max(u64::from(logged_disallowed > 0))
            } else {
                logged_disallowed
            };
        targets.push(Target {
            name: "no 5xx except a 503 to a list query".into(),
            measured: format!(
                "{} seen by clients ({} not allowed), {} logged by the server ({} not allowed)",
                client_5xx.count,
                client_5xx.disallowed,
                server_log.server_error_count,
                logged_disallowed
            ),
            met: client_5xx.disallowed == 0 && logged_disallowed == 0,
        });
        let lost = live_check.as_ref().map_or(0, |c| c.lost) + restart_check.lost;
        targets.push(Target {
            name: "every acknowledged write present afterwards".into(),
            measured: format!(
                "{acknowledged_writes} acknowledged; live: {}; after restart: {} as acknowledged, {} later, {} lost, {} unchecked",
                live_check.as_ref().map_or("not run (server dead)".into(), |c| format!(
                    "{} as acknowledged, {} later, {} lost, {} unchecked in {:.1} s",
                    c.as_acknowledged, c.later_unacknowledged, c.lost, c.unchecked, c.seconds
                )),
                restart_check.as_acknowledged,
                restart_check.later_unacknowledged,
                restart_check.lost,
                restart_check.unchecked
            ),
            met: lost == 0 && restart_check.unchecked == 0,
        });
        targets.push(Target {
            name: "the server survives the attack".into(),
            measured: died_during_attack.clone().map_or("alive".into(), |s| format!("died: {s}")),
            met: died_during_attack.is_none(),
        });
        Report {
            plan,
            seconds: RunSeconds {
                seeding: phases.seed_s,
                server_start: phases.start_s,
                attack: phases.attack_seconds,
                total: total_seconds,
            },
            victim_baseline,
            victim_attack,
            acknowledged_writes,
            server,
            attacks: AttackReports {
                idle_sockets: attacks.idle,
                stalled_bodies: attacks.stalled,
                h2c: attacks.h2c,
                huge_trickle: attacks.trickle,
                heavy_lists: attacks.lists,
                bad_token_flood: attacks.flood,
                oversized_pages: attacks.pages,
                new_connection_probe: attacks.probe,
            },
            client_5xx,
            server_log,
            died_during_attack,
            live_check,
            restart_check,
            shutdown,
            targets,
        }
    }

    pub fn print(&self) {
        let plan = &self.plan;
        println!("\n== network-attack, {} mode ({:.0} s in all) ==", plan.mode, self.seconds.total);
        println!("\nvictim ({} workers x {}/s, GET and PUT alternately; latency from when each request was due)", plan.victim_workers, plan.victim_rate_per_worker);
        println!(
            "  {:<10} {:>8} {:>8} {:>8} {:>11} {:>11} {:>11} {:>13}",
            "phase", "requests", "ok", "errors", "p50", "p99", "max", "service p99"
        );
        for (name, v) in [("baseline", &self.victim_baseline), ("attack", &self.victim_attack)] {
            println!(
                "  {:<10} {:>8} {:>8} {:>8} {:>11} {:>11} {:>11} {:>13}",
                name,
                v.requests,
                v.ok,
                v.errors,
                ms(v.p50_ms),
                ms(v.p99_ms),
                ms(v.max_ms),
                ms(v.service_p99_ms)
            );
        }
        if !self.victim_attack.record.error_samples.is_empty() {
            println!("  errors during the attack: {}", self.victim_attack.record.errors.describe());
            for sample in self.victim_attack.record.error_samples.iter().take(5) {
                println!("    {sample}");
            }
        }
        let s = &self.server;
        println!("\nserver (sampled every 100 ms from /proc)");
        println!(
            "  RSS before the attack {}, peak {} (VmHWM {}), growth {}",
            mib(s.rss_before),
            mib(s.peak_rss),
            mib(s.peak_hwm),
            mib(s.rss_growth)
        );
        println!(
            "  open fds before {}, peak {} (RLIMIT_NOFILE {}); threads before {}, peak {}",
            s.fds_before,
            s.peak_fds,
            s.rlimit_nofile.map_or("?".into(), |n| n.to_string()),
            s.threads_before,
            s.peak_threads
        );
        let cpu = |v: Option<f64>| v.map_or("?".into(), |v| format!("{v:.1} s"));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "  CPU during the attack: server {}, this harness {} (of {:.0} s on {cores} cores)",
            cpu(s.attack_cpu_s),
            cpu(s.harness_attack_cpu_s),
            cores as f64 * self.seconds.attack
        );

        let a = &self.attacks;
        println!("\nattacks (during {:.0} s)", self.seconds.attack);
        let skipped = |name: &str| println!("  {name:<22} skipped (--only)");
        let held = |name: &str, r: &Option<HeldReport>| {
            let Some(r) = r else { return skipped(name) };
            println!(
                "  {name:<22} {} connections; body bytes accepted {}; answered {}; closed by the server before SIGTERM {} (median {} s after connect), at shutdown {}; reset {}; still open at release {}; connect failed {}",
                r.connections,
                mib(r.body_bytes_sent),
                r.answered.describe(),
                r.closed_by_server,
                r.median_seconds_to_close.map_or("-".into(), |v| format!("{v:.1}")),
                r.closed_at_shutdown,
                r.reset.describe(),
                r.still_open,
                r.connect_failed.describe()
            )
        };
        held("idle sockets", &a.idle_sockets);
        held("stalled bodies", &a.stalled_bodies);
        held("Content-Length 1e9", &a.huge_trickle);
        match &a.h2c {
            Some(h) => println!(
                "  {:<22} handshake {}; {} of {} streams opened; body bytes accepted {}; {}",
                "h2c streams",
                h.handshake,
                h.streams_opened,
                h.streams_planned,
                mib(h.body_bytes_sent),
                h.outcomes.describe()
            ),
            None => skipped("h2c streams"),
        }
        match &a.heavy_lists {
            Some(l) => {
                println!(
                    "  {:<22} {} sent (page {} of 1,000; {} sort terms and a valid 3-term sort alternately; hang-up after {} ms): {} hung up, answered in time {}, connect failed {}",
                    "heavy list queries", l.sent, l.page, l.sort_terms, l.hangup_after_ms, l.hung_up, l.answered_in_time.describe(), l.connect_failed.describe()
                );
                let latencies = l
                    .patient_latency_ms
                    .iter()
                    .map(|(label, values)| {
                        let mut values = values.clone();
                        format!(
                            "{label} p50 {} max {}",
                            ms(percentile_ms(&mut values, 50.0)),
                            ms(percentile_ms(&mut values, 100.0))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                println!(
                    "  {:<22} patient client ({} s timeout): {} ({latencies}); 2,000-term probe: {}",
                    "",
                    l.patient_timeout_s,
                    l.patient.describe(),
                    l.probe_2000_terms.describe()
                );
            }
            None => skipped("heavy list queries"),
        }
        match &a.bad_token_flood {
            Some(f) => println!(
                "  {:<22} {} of {} sent in {:.1} s ({} with {} KiB bodies): {}; p50 {}, p99 {} (p50 with a large body {}, without {}); transport errors {}",
                "bad-token flood", f.sent, f.planned, f.seconds, f.large_bodies, f.large_body_bytes / 1024, f.statuses.describe(), ms(f.p50_ms), ms(f.p99_ms), ms(f.large_body_p50_ms), ms(f.small_p50_ms), f.transport_errors.describe()
            ),
            None => skipped("bad-token flood"),
        }
        match &a.oversized_pages {
            Some(p) => {
                let mut latency = p.latency_ms.clone();
                println!(
                    "  {:<22} {} clients, {} sent: {}; {} complete pages, largest {}; p50 {}, max {}; errors {}",
                    "oversized pages", p.concurrency, p.sent, p.statuses.describe(), p.complete_pages, mib(p.max_body_bytes), ms(percentile_ms(&mut latency, 50.0)), ms(percentile_ms(&mut latency, 100.0)), p.transport_errors.describe()
                );
            }
            None => skipped("oversized pages"),
        }
        let probe = &a.new_connection_probe;
        println!(
            "  {:<22} {} sent (a new connection every {} ms, {} ms timeout): {} ok, failures {}; p50 {}, p99 {}, max {}",
            "GET /healthz probe", probe.sent, probe.every_ms, probe.timeout_ms, probe.ok, probe.failures.describe(), ms(probe.p50_ms), ms(probe.p99_ms), ms(probe.max_ms)
        );

        println!(
            "\n5xx: {} seen by clients, {} logged by the server",
            self.client_5xx.count, self.server_log.server_error_count
        );
        for seen in self.client_5xx.seen.iter().take(10) {
            println!(
                "  {} {} ({}){}: {}",
                seen.status,
                seen.request,
                seen.client,
                if seen.allowed { " [allowed]" } else { "" },
                seen.body.chars().take(160).collect::<String>()
            );
        }
        for logged in self.server_log.server_errors.iter().take(10) {
            println!(
                "  logged {} {}: {}",
                logged.status,
                logged.operation,
                logged.problem.chars().take(160).collect::<String>()
            );
        }
        let sd = &self.shutdown;
        println!(
            "\nSIGTERM with held connections open: {}",
            if let Some(status) = &sd.already_exited {
                format!("not sent, the server had exited ({status})")
            } else if sd.exited_within_grace {
                format!(
                    "exited in {:.1} s ({})",
                    sd.exit_seconds.unwrap_or(0.0),
                    sd.exit_status.clone().unwrap_or_default()
                )
            } else {
                format!(
                    "still running after {} s; {}",
                    sd.grace_s,
                    sd.exited_after_release
                        .clone()
                        .map_or("killed (SIGKILL) 5 s after the clients left".into(), |e| format!(
                            "exited once the clients left: {e}"
                        ))
                )
            }
        );

        println!("\ntargets");
        for target in &self.targets {
            println!(
                "  [{}] {}: {}",
                if target.met { "met" } else { "MISSED" },
                target.name,
                target.measured
            );
        }
        println!(
            "\ntimes: seeding {:.1} s, server start {:.1} s, attack {:.1} s, total {:.1} s",
            self.seconds.seeding,
            self.seconds.server_start,
            self.seconds.attack,
            self.seconds.total
        );
    }
}
