//! Rate limiting: token buckets (GCRA, the `governor` crate) per tenant and
//! per (tenant, subject); a request must be admitted by both.
//!
//! The subject bucket is checked first, so a subject refused by its own limit
//! does not spend its tenant's shared budget (one noisy user cannot starve the
//! rest of the tenant). A subject admitted but then refused by the tenant
//! bucket has spent one of its own cells; that is the small price of not
//! having a "check both, then spend both" primitive.
//!
//! Limits are per process, except that the tenant limit can be shared by the
//! replicas of a PostgreSQL deployment ([`shared`]): each replica then admits
//! its share, `1/N` of the tenant's quota for `N` live replicas, by spending
//! `N` cells of the tenant bucket per request ([`RateLimiter::set_replicas`]).
//! The subject limit stays per replica.
//!
//! Answers carry the IETF draft headers (draft-ietf-httpapi-ratelimit-headers):
//! `RateLimit-Policy: "tenant";q=2000;w=60, "subject";q=600;w=60` and
//! `RateLimit: "subject";r=599;t=1`, naming the bucket closest to running out
//! (`r` remaining requests, `t` seconds until it is full again, rounded up);
//! a refusal adds `Retry-After` in whole seconds, at least 1.
//!
//! Failed authentications are limited per client address
//! ([`FailedAuthLimiter`]): an address that has used up its budget of
//! failures is refused (429) before any signature is checked, except for a
//! token already verified and cached, so a flood of bad tokens costs a map
//! look-up each while the address's good tokens keep working.
//!
//! Memory: a key is kept only while its bucket is not full. [`RateLimiter::housekeeping`]
//! drops the rest; it runs every [`HOUSEKEEPING_EVERY`] checks and can also be
//! called from a timer.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{NotUntil, Quota};

pub mod shared;

/// Housekeeping runs inline once every this many checks.
pub const HOUSEKEEPING_EVERY: u64 = 10_000;

/// The two limits, in requests per minute, and an optional burst for both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Default 2000, the upstream platform's default.
    pub tenant_per_minute: u32,
    /// Default 600.
    pub subject_per_minute: u32,
    /// Requests a full bucket admits at once; `None` means the per-minute limit.
    pub burst: Option<u32>,
    /// Failed authentications per minute allowed to one client address. Default 60.
    pub auth_failures_per_minute: u32,
    /// With PostgreSQL: how often each replica writes its heartbeat to share
    /// the tenant limit with the others ([`shared`]). Default 5 s.
    pub heartbeat: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            tenant_per_minute: 2000,
            subject_per_minute: 600,
            burst: None,
            auth_failures_per_minute: 60,
            heartbeat: Duration::from_secs(5),
        }
    }
}

impl RateLimitConfig {
    /// Zero limits are configuration mistakes ([`RateLimiter::new`] would treat them as 1).
    pub fn validate(&self) -> Result<(), String> {
        if self.tenant_per_minute == 0 {
            return Err("the tenant rate limit must be at least 1 request per minute".into());
        }
        if self.subject_per_minute == 0 {
            return Err("the subject rate limit must be at least 1 request per minute".into());
        }
        if self.auth_failures_per_minute == 0 {
            return Err("the failed-authentication limit must be at least 1 per minute".into());
        }
        if self.burst == Some(0) {
            return Err("the rate-limit burst must be at least 1".into());
        }
        Ok(())
    }
}

/// An admitted request: the policy and the bucket closest to running out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateStatus {
    /// The `RateLimit-Policy` header value.
    pub policy: String,
    /// Requests left in the bucket named by `scope`.
    pub remaining: u32,
    /// Seconds until that bucket is full again (rounded up).
    pub reset_seconds: u64,
    /// `"tenant"` or `"subject"`.
    pub scope: &'static str,
}

impl RateStatus {
    /// `RateLimit-Policy` and `RateLimit`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("RateLimit-Policy", self.policy.clone()), ("RateLimit", self.rate_limit())]
    }

    /// The `RateLimit` header value.
    pub fn rate_limit(&self) -> String {
        format!("\"{}\";r={};t={}", self.scope, self.remaining, self.reset_seconds)
    }
}

/// A refused request (429).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("API call rate limit exceeded")]
pub struct RateLimited {
    /// Whole seconds until a request can be admitted again, at least 1.
    pub retry_after_seconds: u64,
    /// The `RateLimit-Policy` header value.
    pub policy: String,
    /// Seconds until the refusing bucket is full again (rounded up).
    pub reset_seconds: u64,
    /// The bucket that refused: `"tenant"` or `"subject"`.
    pub scope: &'static str,
}

impl RateLimited {
    /// `Retry-After`, `RateLimit-Policy` and `RateLimit`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Retry-After", self.retry_after_seconds.to_string()),
            ("RateLimit-Policy", self.policy.clone()),
            ("RateLimit", format!("\"{}\";r=0;t={}", self.scope, self.reset_seconds)),
        ]
    }
}

type KeyedLimiter<K, C> =
    governor::RateLimiter<K, DefaultKeyedStateStore<K>, C, StateInformationMiddleware>;

/// The per-tenant and per-(tenant, subject) buckets. `C` is a fake clock in tests.
pub struct RateLimiter<C: Clock = DefaultClock> {
    tenants: KeyedLimiter<String, C>,
    subjects: KeyedLimiter<(String, String), C>,
    clock: C,
    policy: String,
    checks: AtomicU64,
    /// Cells of the tenant bucket one request spends: the number of live
    /// replicas sharing the tenant limit (1 alone), at most the burst.
    tenant_cost: AtomicU32,
    tenant_burst: u32,
}

impl<C: Clock> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("policy", &self.policy)
            .field("tenant_keys", &self.tenants.len())
            .field("subject_keys", &self.subjects.len())
            .finish()
    }
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> RateLimiter {
        RateLimiter::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// A limiter on the given clock (governor's `FakeRelativeClock` in tests).
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> RateLimiter<C> {
        let quota = |per_minute: u32| {
            let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
            match config.burst.and_then(NonZeroU32::new) {
                Some(burst) => quota.allow_burst(burst),
                None => quota,
            }
        };
        let tenants = governor::RateLimiter::dashmap_with_clock(
            quota(config.tenant_per_minute),
            clock.clone(),
        )
        .with_middleware::<StateInformationMiddleware>();
        let subjects = governor::RateLimiter::dashmap_with_clock(
            quota(config.subject_per_minute),
            clock.clone(),
        )
        .with_middleware::<StateInformationMiddleware>();
        let policy = format!(
            "\"tenant\";q={};w=60, \"subject\";q={};w=60",
            config.tenant_per_minute.max(1),
            config.subject_per_minute.max(1)
        );
        let tenant_burst = config.burst.unwrap_or(config.tenant_per_minute).max(1);
        RateLimiter {
            tenants,
            subjects,
            clock,
            policy,
            checks: AtomicU64::new(0),
            tenant_cost: AtomicU32::new(1),
            tenant_burst,
        }
    }

    /// This replica's share of the tenant limit becomes `1/replicas`: each
    /// request spends `replicas` cells of its tenant's bucket (capped at the
    /// burst, so that a request can always be admitted eventually). The
    /// buckets keep their state: only the price of a request changes.
    pub fn set_replicas(&self, replicas: u32) {
        self.tenant_cost.store(replicas.clamp(1, self.tenant_burst), Ordering::Relaxed);
    }

    /// The number of replicas this replica believes share the tenant limit.
    pub fn replicas(&self) -> u32 {
        self.tenant_cost.load(Ordering::Relaxed)
    }

    /// Admits one request of `subject` in `tenant`, or says how long to wait.
    pub fn check(&self, tenant: &str, subject: &str) -> Result<RateStatus, RateLimited> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY
            == HOUSEKEEPING_EVERY - 1
        {
            self.housekeeping();
        }
        // Subject first: see the module documentation.
        let subject_state = self
            .subjects
            .check_key(&(tenant.to_owned(), subject.to_owned()))
            .map_err(|refusal| self.refused(&refusal, "subject"))?;
        let cost = NonZeroU32::new(self.replicas()).unwrap_or(NonZeroU32::MIN);
        let tenant_state = match self.tenants.check_key_n(&tenant.to_owned(), cost) {
            Ok(outcome) => outcome.map_err(|refusal| self.refused(&refusal, "tenant"))?,
            // Not reachable: `set_replicas` keeps the cost within the burst.
            Err(_) => {
                return Err(RateLimited {
                    retry_after_seconds: 1,
                    policy: self.policy.clone(),
                    reset_seconds: 60,
                    scope: "tenant",
                })
            }
        };
        let subject_left = subject_state.remaining_burst_capacity();
        // Requests this replica can still admit for the tenant.
        let tenant_cells = tenant_state.remaining_burst_capacity();
        let tenant_left = tenant_cells / cost.get();
        let (scope, state, remaining, cells) = if tenant_left < subject_left {
            ("tenant", tenant_state, tenant_left, tenant_cells)
        } else {
            ("subject", subject_state, subject_left, subject_left)
        };
        Ok(RateStatus {
            policy: self.policy.clone(),
            remaining,
            reset_seconds: seconds_to_full(&state, cells),
            scope,
        })
    }

    fn refused(&self, refusal: &NotUntil<C::Instant>, scope: &'static str) -> RateLimited {
        let wait = refusal.wait_time_from(self.clock.now());
        let quota = refusal.quota();
        // An empty bucket is full again one cell after the wait, plus the rest of the burst.
        let refill = quota.replenish_interval().saturating_mul(quota.burst_size().get() - 1);
        RateLimited {
            retry_after_seconds: ceil_seconds(wait).max(1),
            policy: self.policy.clone(),
            reset_seconds: ceil_seconds(wait.saturating_add(refill)),
            scope,
        }
    }

    /// Forgets keys whose buckets are full again (indistinguishable from new
    /// ones) and releases the memory.
    pub fn housekeeping(&self) {
        self.tenants.retain_recent();
        self.subjects.retain_recent();
        self.tenants.shrink_to_fit();
        self.subjects.shrink_to_fit();
    }

    /// How many keys (tenants plus (tenant, subject) pairs) are tracked.
    pub fn tracked_keys(&self) -> usize {
        self.tenants.len() + self.subjects.len()
    }
}

/// Addresses blocked at once at most; beyond it new blocks are not recorded
/// (the governor bucket still limits), so memory stays bounded.
const MAX_BLOCKED_ADDRESSES: usize = 100_000;

/// Failed authentications per client address (see the module documentation).
pub struct FailedAuthLimiter<C: Clock = DefaultClock> {
    failures: governor::RateLimiter<
        IpAddr,
        DefaultKeyedStateStore<IpAddr>,
        C,
        StateInformationMiddleware,
    >,
    /// Addresses out of budget, and when their bucket has a cell again.
    blocked: Mutex<HashMap<IpAddr, C::Instant>>,
    clock: C,
    policy: String,
}

impl<C: Clock> fmt::Debug for FailedAuthLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedAuthLimiter").field("policy", &self.policy).finish()
    }
}

impl FailedAuthLimiter {
    pub fn new(config: &RateLimitConfig) -> FailedAuthLimiter {
        FailedAuthLimiter::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> FailedAuthLimiter<C> {
    /// A limiter on the given clock (governor's `FakeRelativeClock` in tests).
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> FailedAuthLimiter<C> {
        let per_minute =
            NonZeroU32::new(config.auth_failures_per_minute).unwrap_or(NonZeroU32::MIN);
        FailedAuthLimiter {
            failures: governor::RateLimiter::dashmap_with_clock(
                Quota::per_minute(per_minute),
                clock.clone(),
            )
            .with_middleware::<StateInformationMiddleware>(),
            blocked: Mutex::new(HashMap::new()),
            clock,
            policy: format!("\"address\";q={per_minute};w=60"),
        }
    }

    /// Whether `address` may have a token verified now: refused while it is
    /// out of its budget of failures.
    pub fn admit(&self, address: IpAddr) -> Result<(), RateLimited> {
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(until) = blocked.get(&address).copied() else { return Ok(()) };
        let now = self.clock.now();
        if now >= until {
            blocked.remove(&address);
            return Ok(());
        }
        let wait = ceil_seconds(until.duration_since(now).into()).max(1);
        Err(RateLimited {
            retry_after_seconds: wait,
            policy: self.policy.clone(),
            reset_seconds: 60,
            scope: "address",
        })
    }

    /// Counts one failed authentication of `address`.
    /// The failure that empties the bucket blocks the address until it has a cell again.
    pub fn record_failure(&self, address: IpAddr) {
        let until = match self.failures.check_key(&address) {
            Ok(state) if state.remaining_burst_capacity() > 0 => return,
            Ok(state) => self.clock.now() + state.quota().replenish_interval().into(),
            Err(refusal) => refusal.earliest_possible(),
        };
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        if blocked.len() < MAX_BLOCKED_ADDRESSES || blocked.contains_key(&address) {
            blocked.insert(address, until);
        }
    }

    /// Forgets addresses whose buckets are full again and blocks that ended.
    pub fn housekeeping(&self) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        let now = self.clock.now();
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        blocked.retain(|_, until| *until > now);
        blocked.shrink_to_fit();
    }
}

/// Seconds until a bucket with `remaining` cells left is full again, rounded up.
fn seconds_to_full(state: &StateSnapshot, remaining: u32) -> u64 {
    let quota = state.quota();
    let missing = quota.burst_size().get().saturating_sub(remaining);
    ceil_seconds(quota.replenish_interval().saturating_mul(missing))
}

fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn fake_limiter(
        tenant: u32,
        subject: u32,
    ) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let config = RateLimitConfig {
            tenant_per_minute: tenant,
            subject_per_minute: subject,
            ..Default::default()
        };
        (RateLimiter::with_clock(&config, clock.clone()), clock)
    }

    #[test]
    fn a_tenant_gets_exactly_its_quota_then_429() {
        let (limiter, _clock) = fake_limiter(5, 1000);
        for i in 0..5 {
            limiter.check("acme", &format!("user-{i}")).expect("within the tenant quota");
        }
        let refused = limiter.check("acme", "user-99").expect_err("over the tenant quota");
        assert_eq!(refused.scope, "tenant");
        // 5 per minute: one cell every 12 s.
        assert_eq!(refused.retry_after_seconds, 12);
        assert_eq!(refused.reset_seconds, 60);
        assert!(limiter.check("globex", "user-0").is_ok(), "another tenant is unaffected");
    }

    #[test]
    fn a_subject_limit_below_the_tenant_limit_bites_first() {
        let (limiter, _clock) = fake_limiter(100, 3);
        for _ in 0..3 {
            limiter.check("acme", "alice").unwrap();
        }
        let refused = limiter.check("acme", "alice").unwrap_err();
        assert_eq!(refused.scope, "subject");
        assert_eq!(refused.retry_after_seconds, 20);
        assert!(
            limiter.check("acme", "bob").is_ok(),
            "another subject of the tenant is unaffected"
        );
    }

    #[test]
    fn a_refused_subject_does_not_spend_the_tenant_budget() {
        let (limiter, _clock) = fake_limiter(5, 2);
        for _ in 0..10 {
            let _ = limiter.check("acme", "noisy");
        }
        // Two of the tenant's five cells were spent by `noisy`; three remain.
        for i in 0..3 {
            limiter.check("acme", &format!("quiet-{i}")).expect("tenant budget left");
        }
        assert_eq!(limiter.check("acme", "quiet-9").unwrap_err().scope, "tenant");
    }

    #[test]
    fn after_waiting_retry_after_a_request_is_admitted() {
        let (limiter, clock) = fake_limiter(2000, 600);
        for _ in 0..600 {
            limiter.check("acme", "alice").unwrap();
        }
        let refused = limiter.check("acme", "alice").unwrap_err();
        // 600 per minute is one cell every 100 ms: rounded up to 1 s.
        assert_eq!(refused.retry_after_seconds, 1);
        clock.advance(Duration::from_millis(50));
        assert!(limiter.check("acme", "alice").is_err(), "not yet");
        clock.advance(Duration::from_secs(refused.retry_after_seconds));
        assert!(limiter.check("acme", "alice").is_ok());
    }

    #[test]
    fn retry_after_is_rounded_up_and_at_least_one() {
        let (limiter, clock) = fake_limiter(7, 1000);
        for _ in 0..7 {
            limiter.check("acme", "alice").unwrap();
        }
        clock.advance(Duration::from_millis(100));
        // 60 / 7 = 8.571 s per cell, 8.471 s left: 9.
        assert_eq!(limiter.check("acme", "alice").unwrap_err().retry_after_seconds, 9);
    }

    #[test]
    fn headers_follow_the_ietf_draft() {
        let (limiter, _clock) = fake_limiter(2000, 600);
        let status = limiter.check("acme", "alice").unwrap();
        assert_eq!(status.scope, "subject");
        assert_eq!(status.remaining, 599);
        assert_eq!(
            status.headers(),
            vec![
                ("RateLimit-Policy", "\"tenant\";q=2000;w=60, \"subject\";q=600;w=60".to_string()),
                ("RateLimit", "\"subject\";r=599;t=1".to_string()),
            ]
        );

        // 3 per minute: one cell every 20 s; the tenant bucket is now the closer one.
        let (limiter, _clock) = fake_limiter(3, 600);
        let status = limiter.check("acme", "alice").unwrap();
        assert_eq!(status.headers()[1], ("RateLimit", "\"tenant\";r=2;t=20".to_string()));
        let status = limiter.check("acme", "bob").unwrap();
        assert_eq!(status.headers()[1], ("RateLimit", "\"tenant\";r=1;t=40".to_string()));
        limiter.check("acme", "carol").unwrap();
        let refused = limiter.check("acme", "alice").unwrap_err();
        assert_eq!(
            refused.headers(),
            vec![
                ("Retry-After", "20".to_string()),
                ("RateLimit-Policy", "\"tenant\";q=3;w=60, \"subject\";q=600;w=60".to_string()),
                ("RateLimit", "\"tenant\";r=0;t=60".to_string()),
            ]
        );
        assert_eq!(refused.to_string(), "API call rate limit exceeded");
    }

    #[test]
    fn burst_caps_what_a_full_bucket_admits_at_once() {
        let clock = FakeRelativeClock::default();
        let config = RateLimitConfig {
            tenant_per_minute: 600,
            subject_per_minute: 600,
            burst: Some(10),
            ..Default::default()
        };
        let limiter = RateLimiter::with_clock(&config, clock.clone());
        for _ in 0..10 {
            limiter.check("acme", "alice").unwrap();
        }
        assert!(limiter.check("acme", "alice").is_err());
        clock.advance(Duration::from_millis(100));
        assert!(limiter.check("acme", "alice").is_ok(), "one cell per 100 ms still refills");
    }

    /// Issue 13: with N replicas sharing the tenant limit, one replica
    /// admits 1/N of the burst and of the refill, and says so in `RateLimit`.
    #[test]
    fn a_share_of_the_tenant_limit_per_replica() {
        let clock = FakeRelativeClock::default();
        let config = RateLimitConfig {
            tenant_per_minute: 600,
            subject_per_minute: 100_000,
            burst: Some(30),
            ..Default::default()
        };
        let limiter = RateLimiter::with_clock(&config, clock.clone());
        limiter.set_replicas(3);
        assert_eq!(limiter.replicas(), 3);
        let first = limiter.check("acme", "alice").unwrap();
        assert_eq!((first.scope, first.remaining), ("tenant", 9), "10 of the 30 cells, one spent");
        for _ in 0..9 {
            limiter.check("acme", "alice").unwrap();
        }
        let refused = limiter.check("acme", "alice").unwrap_err();
        assert_eq!(refused.scope, "tenant");
        assert!(limiter.check("globex", "bob").is_ok(), "another tenant has its own bucket");
        // 10 cells a second: a request of this replica every 300 ms.
        clock.advance(Duration::from_millis(200));
        assert!(limiter.check("acme", "alice").is_err());
        clock.advance(Duration::from_millis(100));
        assert!(limiter.check("acme", "alice").is_ok());
        // Back to one replica: the same bucket, one cell a request again.
        limiter.set_replicas(1);
        clock.advance(Duration::from_millis(300));
        for _ in 0..3 {
            limiter.check("acme", "alice").unwrap();
        }
        assert!(limiter.check("acme", "alice").is_err());
        // Never more than the burst per request.
        limiter.set_replicas(1000);
        assert_eq!(limiter.replicas(), 30);
    }

    #[test]
    fn memory_stays_bounded_with_many_distinct_subjects() {
        let (limiter, clock) = fake_limiter(1_000_000, 600);
        for i in 0..100_000 {
            limiter.check("acme", &format!("subject-{i}")).unwrap();
        }
        // Inline housekeeping ran, but every bucket was still in use.
        assert_eq!(limiter.tracked_keys(), 100_001);
        limiter.housekeeping();
        assert_eq!(limiter.tracked_keys(), 100_001, "nothing has refilled yet");
        clock.advance(Duration::from_secs(61));
        limiter.check("acme", "subject-0").unwrap();
        limiter.housekeeping();
        assert!(
            limiter.tracked_keys() <= 2,
            "only the fresh keys remain: {}",
            limiter.tracked_keys()
        );
    }

    #[test]
    fn an_address_out_of_failures_is_refused_until_its_bucket_refills() {
        let clock = FakeRelativeClock::default();
        let config = RateLimitConfig { auth_failures_per_minute: 3, ..RateLimitConfig::default() };
        let limiter = FailedAuthLimiter::with_clock(&config, clock.clone());
        let attacker: IpAddr = "192.0.2.1".parse().unwrap();
        let neighbour: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.admit(attacker).is_ok());
            limiter.record_failure(attacker);
        }
        let refused = limiter.admit(attacker).expect_err("the third failure used up the budget");
        assert_eq!(refused.scope, "address");
        assert_eq!(refused.retry_after_seconds, 20, "one cell every 20 s at 3 per minute");
        assert!(limiter.admit(neighbour).is_ok(), "another address is unaffected");
        clock.advance(Duration::from_secs(20));
        assert!(limiter.admit(attacker).is_ok(), "a cell again after Retry-After");
        limiter.housekeeping();
    }

    #[test]
    fn zero_limits_are_reported_by_validate() {
        assert!(RateLimitConfig::default().validate().is_ok());
        let zero = RateLimitConfig { tenant_per_minute: 0, ..RateLimitConfig::default() };
        assert!(zero.validate().is_err());
        // And do not panic: a zero limit behaves as 1 per minute.
        let limiter = RateLimiter::new(&zero);
        assert!(limiter.check("acme", "alice").is_ok());
        assert!(limiter.check("acme", "alice").is_err());
    }
}
