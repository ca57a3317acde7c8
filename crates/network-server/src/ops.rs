//! Operational endpoints beside the published contract (not part of it):
//! `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus text) and
//! `GET /openapi.json` (the checked-in contract, with its security scheme).

use dropshot::{Body, HttpError, RequestContext};

use crate::context::AppContext;

/// The contract exactly as checked in.
pub const CONTRACT: &str = include_str!("../../../openapi/network.json");

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
