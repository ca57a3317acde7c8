//! What every request handler shares ([`AppContext`]): the store, the
//! authenticator, the limiters, the metrics, the body limits,
//! the access recorder and the CORS origins.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::listing::ListGate;
use crate::metrics::Metrics;
use crate::ratelimit::{FailedAuthLimiter, RateLimiter};
use crate::store::CustomerStore;

/// What every request handler shares.
pub struct AppContext {
    pub store: Arc<dyn CustomerStore>,
    pub auth: Arc<Authenticator>,
    pub limiter: Arc<RateLimiter>,
    /// Failed authentications per client address.
    pub failed_auth: Arc<FailedAuthLimiter>,
    pub metrics: Metrics,
    /// Bodies larger than this are rejected (400), below the contract's own cap.
    pub body_limit: usize,
    /// A body must arrive whole within this time once the handler reads it (408).
    pub body_deadline: std::time::Duration,
    /// Admission of list requests (per tenant and in total).
    pub list_gate: Arc<ListGate>,
    /// Logins of customers' users, recorded as their access timestamps.
    pub access: Arc<crate::access::AccessRecorder>,
    /// The origins allowed to call from a browser (CORS headers on responses).
    pub cors: crate::cors::Cors,
}
