//! Operational endpoints beside the published contract (not part of it):
//! `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus text) and
//! `GET /openapi.json` (the checked-in contract, with its security scheme).

use std::time::Duration;

use dropshot::{Body, HttpError, RequestContext};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::http::AppContext;

/// The contract exactly as checked in.
pub const CONTRACT: &str = include_str!("../../../openapi/network.json");

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Request counts by operation and status, and latency by operation.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<OperationLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "network_requests",
            "Requests handled, by operation and status",
            requests.clone(),
        );
        registry.register(
            "network_request_duration_seconds",
            "Time spent handling a request, by operation",
            latency.clone(),
        );
        Self { registry, requests, latency }
    }
}

impl Metrics {
    pub fn observe(&self, operation: &'static str, status: u16, elapsed: Duration) {
        self.requests.get_or_create(&RequestLabels { operation, status }).inc();
        self.latency.get_or_create(&OperationLabels { operation }).observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

fn text_response(
    status: http::StatusCode,
    content_type: &str,
    body: String,
) -> Result<http::Response<Body>, HttpError> {
    Ok(http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Body::from(body))?)
}

/// Liveness: the process answers.
#[dropshot::endpoint { method = GET, path = "/healthz", unpublished = true }]
pub async fn healthz(
    _rqctx: RequestContext<AppContext>,
) -> Result<http::Response<Body>, HttpError> {
    text_response(http::StatusCode::OK, "application/json", "{\"status\":\"ok\"}".to_string())
}

/// Readiness: the store answers.
#[dropshot::endpoint { method = GET, path = "/readyz", unpublished = true }]
pub async fn readyz(rqctx: RequestContext<AppContext>) -> Result<http::Response<Body>, HttpError> {
    // Not ready until tokens can be verified (an identity provider's keys
    // are fetched after the server starts listening).
    if !rqctx.context().auth.has_keys() {
        return text_response(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            "{\"status\":\"no signing keys yet\"}".to_string(),
        );
    }
    match rqctx.context().store.ping().await {
        Ok(()) => text_response(
            http::StatusCode::OK,
            "application/json",
            "{\"status\":\"ready\"}".to_string(),
        ),
        Err(error) => {
            slog::warn!(rqctx.log, "not ready"; "error" => %error);
            text_response(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                "{\"status\":\"unavailable\"}".to_string(),
            )
        }
    }
}

/// Prometheus metrics.
#[dropshot::endpoint { method = GET, path = "/metrics", unpublished = true }]
pub async fn metrics(rqctx: RequestContext<AppContext>) -> Result<http::Response<Body>, HttpError> {
    text_response(
        http::StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        rqctx.context().metrics.render(),
    )
}

/// The published contract, as checked in (with its security scheme).
#[dropshot::endpoint { method = GET, path = "/openapi.json", unpublished = true }]
pub async fn openapi(
    _rqctx: RequestContext<AppContext>,
) -> Result<http::Response<Body>, HttpError> {
    text_response(http::StatusCode::OK, "application/json", CONTRACT.to_string())
}
