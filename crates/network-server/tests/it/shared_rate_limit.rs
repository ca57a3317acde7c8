//! Issue 13: with replicas sharing PostgreSQL, a tenant's rate limit holds
//! for the deployment (each replica admits 1/N of it, N counted through a
//! heartbeat table), at a cost independent of the request rate (one
//! heartbeat per replica and interval); another tenant is unaffected.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use network_server::ratelimit::RateLimitConfig;
use reqwest::Method;

use crate::helpers::*;

const PER_MINUTE: u32 = 6000;
const BURST: u32 = 300;

/// A metric's value in `/metrics` (the first sample whose name starts so).
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name || key == format!("{name}_total")).then(|| value.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

async fn wait_for_replicas(apps: &[&TestApp], expected: f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    for app in apps {
        while metric(app, "network_rate_limit_replicas").await != expected {
            assert!(Instant::now() < deadline, "the replicas do not see each other");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_hold_one_tenant_limit_and_spare_another_tenant() {
    let Some(backend) = postgres_backend("three_replicas_hold_one_tenant_limit").await else {
        return;
    };
    let rate = RateLimitConfig {
        tenant_per_minute: PER_MINUTE,
        subject_per_minute: 1_000_000,
        burst: Some(BURST),
        auth_failures_per_minute: 1_000_000,
        heartbeat: Duration::from_secs(5),
    };
    let first = spawn_app_with(backend, rate).await;
    let second = first.replica().await;
    let third = first.replica().await;
    let apps = [&first, &second, &third];
    wait_for_replicas(&apps, 3.0).await;
    let mut trips_before = 0.0;
    for app in apps {
        trips_before += metric(app, "network_rate_limit_round_trips").await;
    }

    // Three times the limit (300 requests/s) for 4 s, spread 60/30/10 %.
    let load = Duration::from_secs(4);
    let per_second = 3.0 * f64::from(PER_MINUTE) / 60.0;
    let token = Arc::new(mint(&claims(TENANT, "busy", ALL)));
    let admitted: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut senders = Vec::new();
    for (i, share) in [0.6, 0.3, 0.1].into_iter().enumerate() {
        // A customer that does not exist: 404 once admitted (no list gate involved).
        let url = apps[i].url("/network/customers/nobody");
        let (token, admitted, refused) = (token.clone(), admitted[i].clone(), refused.clone());
        senders.push(tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(1.0 / (per_second * share)));
            let client = reqwest::Client::new();
            let mut requests = Vec::new();
            while started.elapsed() < load {
                tick.tick().await;
                let request = client
                    .get(&url)
                    .bearer_auth(token.as_str())
                    .header("X-Servitly-Tenant", TENANT)
                    .send();
                let (admitted, refused) = (admitted.clone(), refused.clone());
                requests.push(tokio::spawn(async move {
                    let response = request.await.expect("the server answers");
                    match response.status().as_u16() {
                        404 => admitted.fetch_add(1, Ordering::Relaxed),
                        429 => {
                            // The policy is the deployment's quota.
                            let policy = response.headers()["ratelimit-policy"].to_str().unwrap();
                            assert!(policy.starts_with(&format!("\"tenant\";q={PER_MINUTE};w=60")));
                            refused.fetch_add(1, Ordering::Relaxed)
                        }
                        other => panic!("status {other}"),
                    };
                }));
            }
            for request in requests {
                request.await.unwrap();
            }
        }));
    }
    // Meanwhile another tenant is served by every replica.
    let other_token = mint(&claims(OTHER_TENANT, "calm", ALL));
    for _ in 0..10 {
        for app in apps {
            let url = app.url("/network/customers/nobody");
            let response =
                raw(Method::GET, &url, Some(&other_token), Some(OTHER_TENANT), None).await;
            assert_eq!(response.status(), 404, "the other tenant is not limited");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let elapsed = started.elapsed();

    let per_replica: Vec<u64> = admitted.iter().map(|n| n.load(Ordering::Relaxed)).collect();
    let total: u64 = per_replica.iter().sum();
    // What one process would admit in that time: the burst, then the refill.
    let allowed = f64::from(BURST) + f64::from(PER_MINUTE) / 60.0 * elapsed.as_secs_f64();
    let mut trips_after = 0.0;
    for app in apps {
        trips_after += metric(app, "network_rate_limit_round_trips").await;
    }
    let trips = trips_after - trips_before;
    eprintln!(
        "shared rate limit: admitted {per_replica:?} = {total} of {} sent in {elapsed:.1?} \
         (one process would admit {allowed:.0}); {trips} PostgreSQL round trips \
         (1 per {:.0} admitted)",
        total + refused.load(Ordering::Relaxed),
        total as f64 / trips.max(1.0)
    );
    assert!((total as f64) <= allowed * 1.1, "admitted {total}, allowed {allowed:.0}");
    assert!(refused.load(Ordering::Relaxed) > 0, "the limit was reached");
    assert!(trips * 50.0 <= total as f64, "{trips} round trips for {total} admitted");
    for app in [&first, &second] {
        // The replicas with traffic beyond their share admitted about their share.
        let share = f64::from(BURST) / 3.0 + f64::from(PER_MINUTE) / 180.0 * elapsed.as_secs_f64();
        let index = if std::ptr::eq(app, &first) { 0 } else { 1 };
        assert!(per_replica[index] as f64 <= share * 1.1, "{per_replica:?}, share {share:.0}");
    }

    // A replica that leaves gives its share back to the others.
    third.stop().await;
    wait_for_replicas(&[&first, &second], 2.0).await;
    assert_eq!(metric(&first, "network_rate_limit_degraded").await, 0.0);
    second.stop().await;
    first.stop().await;
}
