//! The tenant rate limit held deployment-wide by replicas sharing one
//! PostgreSQL database (issue 13): the quota is split among the live
//! replicas, found through a heartbeat table.
//!
//! Every `interval` each replica runs ONE statement on a connection of its
//! own: it upserts its row of `rate_limit_replicas` (`seen_at` = the
//! database's clock), deletes rows not seen for `stale_after`, and counts
//! the other replicas seen within `stale_after`. With `N` live replicas it
//! then spends `N` cells of a tenant's bucket per request
//! ([`RateLimiter::set_replicas`]): each replica admits `1/N` of the quota
//! and `1/N` of the burst, so the deployment admits at most what one
//! process would (see ARCHITECTURE.md for the error bound). No request
//! waits for the database: the only cost is the heartbeat, independent of
//! the request rate.
//!
//! When the heartbeat fails (the database is unreachable), the replica keeps
//! its last share and goes on limiting alone: it logs a warning once
//! (`rate limit degraded`), sets the `network_rate_limit_degraded` gauge to
//! 1, and reconnects at the next beat; recovery is logged too. A graceful
//! shutdown deletes the replica's row so that the others take its share at
//! their next beat.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::RateLimiter;
use crate::store::postgres::connect_one;
use crate::store::StoreError;

/// How often the heartbeat runs and when a silent replica counts as gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedOptions {
    pub interval: Duration,
    /// A replica not seen for this long no longer counts (at least two intervals).
    pub stale_after: Duration,
}

impl SharedOptions {
    /// `stale_after` three intervals.
    pub fn every(interval: Duration) -> SharedOptions {
        SharedOptions { interval, stale_after: interval.saturating_mul(3) }
    }
}

impl Default for SharedOptions {
    fn default() -> Self {
        SharedOptions::every(Duration::from_secs(5))
    }
}

/// What the shared limit does, exported in `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct SharedStats {
    /// Live replicas this replica counts (itself included).
    pub replicas: Gauge<i64, AtomicI64>,
    /// 1 while the database is unreachable (limiting on the last share).
    pub degraded: Gauge<i64, AtomicI64>,
    /// Round trips to PostgreSQL for rate limiting (heartbeats).
    pub round_trips: Counter,
    /// Heartbeats that failed.
    pub failures: Counter,
}

impl SharedStats {
    /// Registers the metrics (`network_rate_limit_*`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "network_rate_limit_replicas",
            "Replicas sharing the tenant rate limit, as this replica counts them",
            self.replicas.clone(),
        );
        registry.register(
            "network_rate_limit_degraded",
            "1 while the shared rate limit's database is unreachable (limiting on the last share)",
            self.degraded.clone(),
        );
        registry.register(
            "network_rate_limit_round_trips",
            "Round trips to PostgreSQL for the shared rate limit",
            self.round_trips.clone(),
        );
        registry.register(
            "network_rate_limit_heartbeat_failures",
            "Heartbeats of the shared rate limit that failed",
            self.failures.clone(),
        );
    }
}

/// The running heartbeat of this replica.
pub struct SharedLimit {
    task: tokio::task::JoinHandle<()>,
    url: String,
    schema: Option<String>,
    replica: String,
    stats: SharedStats,
}

impl std::fmt::Debug for SharedLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimit").field("replica", &self.replica).finish_non_exhaustive()
    }
}

/// One beat: upsert this replica, forget the stale ones, count the others
/// alive (the count reads the snapshot before the upsert, hence `+ 1`).
const BEAT: &str = "WITH beat AS ( \
         INSERT INTO rate_limit_replicas (replica, seen_at) VALUES ($1, clock_timestamp()) \
         ON CONFLICT (replica) DO UPDATE SET seen_at = EXCLUDED.seen_at), \
     gone AS ( \
         DELETE FROM rate_limit_replicas \
         WHERE replica <> $1 AND seen_at < clock_timestamp() - $2::bigint * interval '1 millisecond') \
     SELECT count(*) + 1 FROM rate_limit_replicas \
     WHERE replica <> $1 AND seen_at >= clock_timestamp() - $2::bigint * interval '1 millisecond'";

const LEAVE: &str = "DELETE FROM rate_limit_replicas WHERE replica = $1";

struct Beater {
    url: String,
    schema: Option<String>,
    replica: String,
    stale_ms: i64,
    client: Option<(tokio_postgres::Client, tokio::task::JoinHandle<()>)>,
}

impl Beater {
    /// One heartbeat: the number of live replicas.
    async fn beat(&mut self, stats: &SharedStats) -> Result<u32, StoreError> {
        if self.client.is_none() {
            self.client = Some(connect_one(&self.url, self.schema.as_deref()).await?);
        }
        let (client, _) = self.client.as_ref().expect("connected above");
        stats.round_trips.inc();
        let row = client.query_one(BEAT, &[&self.replica, &self.stale_ms]).await;
        match row {
            Ok(row) => {
                let count: i64 = row.get(0);
                Ok(u32::try_from(count).unwrap_or(u32::MAX).max(1))
            }
            Err(error) => {
                // The connection may be broken: a new one at the next beat.
                self.client = None;
                Err(StoreError::Unavailable(format!("rate-limit heartbeat: {error}")))
            }
        }
    }
}

impl SharedLimit {
    /// Joins the deployment: connects, beats once (so the share is right
    /// from the first request) and starts beating every `interval`.
    pub async fn start(
        url: &str,
        schema: Option<&str>,
        limiter: Arc<RateLimiter>,
        options: SharedOptions,
        stats: SharedStats,
        log: slog::Logger,
    ) -> Result<SharedLimit, StoreError> {
        let replica = uuid::Uuid::new_v4().simple().to_string();
        let stale_after = options.stale_after.max(options.interval.saturating_mul(2));
        let mut beater = Beater {
            url: url.to_string(),
            schema: schema.map(str::to_string),
            replica: replica.clone(),
            stale_ms: i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX),
            client: None,
        };
        let replicas = beater.beat(&stats).await?;
        limiter.set_replicas(replicas);
        stats.replicas.set(i64::from(replicas));
        slog::info!(log, "sharing the tenant rate limit"; "replicas" => replicas);
        let task_stats = stats.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(options.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match beater.beat(&task_stats).await {
                    Ok(replicas) => {
                        if limiter.replicas() != replicas {
                            slog::info!(log, "replicas sharing the tenant rate limit changed";
                                "replicas" => replicas);
                        }
                        limiter.set_replicas(replicas);
                        task_stats.replicas.set(i64::from(replicas));
                        if task_stats.degraded.set(0) == 1 {
                            slog::info!(log, "rate limit shared again: the database answers";
                                "replicas" => replicas);
                        }
                    }
                    Err(error) => {
                        task_stats.failures.inc();
                        if task_stats.degraded.set(1) == 0 {
                            slog::warn!(log, "rate limit degraded: the database is unreachable, \
                                limiting on this replica's last share";
                                "replicas" => limiter.replicas(), "error" => error.to_string());
                        }
                    }
                }
            }
        });
        Ok(SharedLimit {
            task,
            url: url.to_string(),
            schema: schema.map(str::to_string),
            replica,
            stats,
        })
    }

    pub fn stats(&self) -> &SharedStats {
        &self.stats
    }

    /// Stops beating and removes this replica's row (best effort), so that
    /// the others take its share at their next beat.
    pub async fn leave(self) {
        self.task.abort();
        let left = async {
            let (client, driver) = connect_one(&self.url, self.schema.as_deref()).await?;
            client
                .execute(LEAVE, &[&self.replica])
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            drop(client);
            let _ = driver.await;
            Ok::<(), StoreError>(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), left).await;
    }
}
