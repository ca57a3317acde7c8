//! CORS (Fetch standard): off unless origins are allowed
//! (`--cors-allow-origin`). For an allowed `Origin`, API responses carry
//! `Access-Control-Allow-Origin` (that origin) and
//! `Access-Control-Expose-Headers`, and the `OPTIONS` preflight of each API
//! path is answered with the allowed methods and request headers. With no
//! origin allowed, no CORS header is ever sent (a preflight gets a plain 204
//! with `Allow`, which browsers treat as a refusal).

use dropshot::{Body, HttpError, Path, RequestContext};
use http::header::{HeaderMap, HeaderValue};

use crate::context::AppContext;

/// The request headers a browser may send (`Access-Control-Allow-Headers`).
pub const ALLOWED_REQUEST_HEADERS: &str =
    "Authorization, X-Servitly-Tenant, If-Match, Content-Type";
/// The response headers a page may read (`Access-Control-Expose-Headers`).
pub const EXPOSED_RESPONSE_HEADERS: &str =
    "ETag, Location, RateLimit, RateLimit-Policy, Retry-After, X-Request-Id";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE_SECONDS: &str = "600";

/// The allowed origins, exactly as browsers send them (`scheme://host[:port]`).
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// Checks each origin's shape: `http` or `https`, a host, an optional
    /// port, nothing else (no path, no trailing slash, no `*`).
    pub fn new(origins: &[String]) -> Result<Cors, String> {
        let mut checked = Vec::new();
        for origin in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            let rest = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .ok_or_else(|| {
                format!("CORS origin `{origin}` must start with http:// or https://")
            })?;
            let well_formed = !rest.is_empty()
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
            if !well_formed {
                return Err(format!(
                    "CORS origin `{origin}` must be scheme://host[:port] (no path, no trailing slash, no wildcard)"
                ));
            }
            checked.push(origin.to_ascii_lowercase());
        }
        Ok(Cors { origins: checked })
    }

    pub fn enabled(&self) -> bool {
        !self.origins.is_empty()
    }

    /// The request's `Origin` if it is allowed (a request with several is not).
    fn allowed_origin<'a>(&self, request: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let mut values = request.get_all(http::header::ORIGIN).iter();
        let origin = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let text = origin.to_str().ok()?.to_ascii_lowercase();
        self.origins.contains(&text).then_some(origin)
    }

    /// Adds the CORS headers of an actual (not preflight) response.
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        if !self.enabled() {
            return;
        }
        response.append(http::header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = self.allowed_origin(request) {
            response.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            response.insert(
                http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_RESPONSE_HEADERS),
            );
        }
    }

    /// The answer to an `OPTIONS` request on a path that allows `methods`.
    fn preflight(
        &self,
        request: &HeaderMap,
        methods: &'static str,
    ) -> Result<http::Response<Body>, HttpError> {
        let mut response = http::Response::builder()
            .status(http::StatusCode::NO_CONTENT)
            .header(http::header::ALLOW, methods)
            .body(Body::empty())?;
        if !self.enabled() {
            return Ok(response);
        }
        let headers = response.headers_mut();
        headers.append(http::header::VARY, HeaderValue::from_static("Origin"));
        let requested = request
            .get(http::header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let method_allowed = methods.split(", ").any(|method| method == requested);
        if let (Some(origin), true) = (self.allowed_origin(request), method_allowed) {
            headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                http::header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(methods),
            );
            headers.insert(
                http::header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_REQUEST_HEADERS),
            );
            headers.insert(
                http::header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE_SECONDS),
            );
        }
        Ok(response)
    }
}

/// The path of the customer preflight (its id is not looked at).
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct CustomerPath {
    #[serde(rename = "customerId")]
    #[allow(dead_code)]
    customer_id: String,
}

#[dropshot::endpoint { method = OPTIONS, path = "/network/customers", unpublished = true }]
pub async fn preflight_customers(
    rqctx: RequestContext<AppContext>,
) -> Result<http::Response<Body>, HttpError> {
    rqctx.context().cors.preflight(rqctx.request.headers(), "POST")
}

#[dropshot::endpoint { method = OPTIONS, path = "/network/customers/{customerId}", unpublished = true }]
pub async fn preflight_customer(
    rqctx: RequestContext<AppContext>,
    _path: Path<CustomerPath>,
) -> Result<http::Response<Body>, HttpError> {
    rqctx.context().cors.preflight(rqctx.request.headers(), "GET, HEAD, PUT, DELETE")
}

#[dropshot::endpoint { method = OPTIONS, path = "/v2/network/customers", unpublished = true }]
pub async fn preflight_list(
    rqctx: RequestContext<AppContext>,
) -> Result<http::Response<Body>, HttpError> {
    rqctx.context().cors.preflight(rqctx.request.headers(), "GET, HEAD")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        assert!(Cors::new(&["http://127.0.0.1:8081".into()]).unwrap().enabled());
        assert!(!Cors::new(&[]).unwrap().enabled());
        assert!(!Cors::new(&[" ".into()]).unwrap().enabled(), "an empty entry is ignored");
        for bad in ["*", "127.0.0.1:8081", "http://a.example/", "http://a.example/path", "ftp://x"]
        {
            assert!(Cors::new(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_an_allowed_origin_is_echoed() {
        let cors = Cors::new(&["https://app.example".into()]).unwrap();
        let mut request = HeaderMap::new();
        request.insert(http::header::ORIGIN, HeaderValue::from_static("https://app.example"));
        let mut response = HeaderMap::new();
        cors.decorate(&request, &mut response);
        assert_eq!(response[http::header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        request.insert(http::header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        let mut response = HeaderMap::new();
        cors.decorate(&request, &mut response);
        assert!(response.get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(response[http::header::VARY], "Origin");
        let mut response = HeaderMap::new();
        Cors::default().decorate(&request, &mut response);
        assert!(response.is_empty(), "off: no CORS header at all");
    }
}
