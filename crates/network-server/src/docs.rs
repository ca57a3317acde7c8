//! `GET /docs`: a browsable reference of the contract, rendered in the browser
//! by Redoc from `GET /openapi.json`. Works without internet access: the Redoc
//! bundle is vendored (`assets/redoc/`, provenance and licence in its README)
//! and compiled into the binary; the page loads nothing from elsewhere.
//! Both endpoints are unpublished, like the other operational ones.

use dropshot::{Body, HttpError, RequestContext};

use crate::context::AppContext;

/// The page: Redoc, pointed at the served contract.
pub const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Network API reference</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="/openapi.json" required-props-first="true" expand-responses="200,201,204"></redoc>
<script src="/docs/redoc.standalone.js"></script>
</body>
</html>
"#;

/// Redoc's standalone bundle, from the npm package `redoc` (see `assets/redoc/README.md`).
pub const REDOC_JS: &[u8] = include_bytes!("../assets/redoc/redoc.standalone.js");

fn response(
    content_type: &str,
    cache_control: &str,
    body: Body,
) -> Result<http::Response<Body>, HttpError> {
    Ok(http::Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, cache_control)
        .header("x-content-type-options", "nosniff")
        .body(body)?)
}

/// The API reference page.
#[dropshot::endpoint { method = GET, path = "/docs", unpublished = true }]
pub async fn docs(_rqctx: RequestContext<AppContext>) -> Result<http::Response<Body>, HttpError> {
    response("text/html; charset=utf-8", "no-cache", Body::from(PAGE))
}

/// The Redoc bundle the page loads (it changes only with the binary).
#[dropshot::endpoint { method = GET, path = "/docs/redoc.standalone.js", unpublished = true }]
pub async fn redoc_js(
    _rqctx: RequestContext<AppContext>,
) -> Result<http::Response<Body>, HttpError> {
    let body = Body::from(bytes::Bytes::from_static(REDOC_JS));
    response("text/javascript; charset=utf-8", "public, max-age=86400", body)
}
