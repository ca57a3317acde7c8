//! The server's error type and its mapping to HTTP, in one place.

use dropshot::ErrorStatusCode;
use network_api::ApiError;

use crate::auth::AuthError;
use crate::domain::ValidationError;
use crate::listing::ListBusy;
use crate::ratelimit::RateLimited;
use crate::store::StoreError;

/// Everything a request can fail with; [`From<AppError> for ApiError`] is the
/// only place that decides statuses, messages and error headers.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 401: no, malformed, expired, wrongly signed or wrong-audience token.
    #[error("{0}")]
    Unauthenticated(#[from] AuthError),
    /// 403: tenant mismatch, missing permission, customer-scoped token elsewhere.
    #[error("{0}")]
    Forbidden(String),
    /// 400 from our own validation: names the field and the reason.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// 400 from a malformed request part (dropshot's extraction message).
    #[error("{0}")]
    Malformed(String),
    /// 408: the request body did not arrive within the deadline.
    #[error("the request body did not arrive within {} ms", .0.as_millis())]
    BodyTimeout(std::time::Duration),
    /// 429.
    #[error("API call rate limit exceeded ({})", .0.scope)]
    RateLimited(RateLimited),
    /// 429 (the tenant's list queries) or 503 (the replica's) at their limit.
    #[error("{0}")]
    ListBusy(ListBusy),
    /// 404, 412, 503 (a list query's time limit) or 500 from the store.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The realm announced in `WWW-Authenticate`.
const REALM: &str = "network";

/// The spec's `maxLength` of `Error.message`.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// A message cut to [`MAX_MESSAGE_CHARS`] characters (ending in `…` when cut).
fn bounded(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        return message;
    }
    let mut cut: String = message.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    cut.push('…');
    cut
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> ApiError {
        let mut api_error = api_error_of(error);
        api_error.message = bounded(std::mem::take(&mut api_error.message));
        api_error
    }
}

fn api_error_of(error: AppError) -> ApiError {
    {
        match error {
            AppError::Unauthenticated(error) => {
                // RFC 6750 §3: no error code when the request had no token at all.
                let challenge = if matches!(error, AuthError::MissingToken) {
                    format!("Bearer realm=\"{REALM}\"")
                } else {
                    format!("Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{error}\"")
                };
                ApiError::new(
                    ErrorStatusCode::UNAUTHORIZED,
                    format!("User not authenticated: {error}"),
                )
                .with_header(http::header::WWW_AUTHENTICATE, challenge)
            }
            AppError::Forbidden(reason) => {
                ApiError::new(ErrorStatusCode::FORBIDDEN, format!("User not authorized: {reason}"))
            }
            AppError::Invalid(error) => ApiError::new(
                ErrorStatusCode::BAD_REQUEST,
                format!("Request data not valid: {error}"),
            ),
            AppError::Malformed(message) => ApiError::new(
                ErrorStatusCode::BAD_REQUEST,
                format!("Request data not valid: {message}"),
            ),
            AppError::BodyTimeout(deadline) => ApiError::new(
                ErrorStatusCode::REQUEST_TIMEOUT,
                format!(
                    "Request timeout: the request body did not arrive within {} ms",
                    deadline.as_millis()
                ),
            ),
            AppError::RateLimited(limited) => {
                let mut api_error = ApiError::new(
                    ErrorStatusCode::TOO_MANY_REQUESTS,
                    "API call rate limit exceeded",
                );
                for (name, value) in limited.headers() {
                    if let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) {
                        api_error = api_error.with_header(name, value);
                    }
                }
                api_error
            }
            AppError::Store(StoreError::NotFound) => {
                ApiError::new(ErrorStatusCode::NOT_FOUND, "Resource not found")
            }
            AppError::Store(StoreError::PreconditionFailed) => ApiError::new(
                ErrorStatusCode::PRECONDITION_FAILED,
                "Precondition failed: the customer's current ETag matches none in If-Match",
            ),
            AppError::ListBusy(ListBusy::Tenant { limit }) => ApiError::new(
                ErrorStatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many list queries in flight for this tenant: at most {limit} at a time \
                     (NETWORK_LIST_CONCURRENCY_PER_TENANT); retry later"
                ),
            )
            .with_header(http::header::RETRY_AFTER, "1"),
            AppError::ListBusy(ListBusy::Server { limit }) => ApiError::new(
                ErrorStatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "The server is answering as many list queries as it allows ({limit}, \
                     NETWORK_LIST_CONCURRENCY); retry later"
                ),
            )
            .with_header(http::header::RETRY_AFTER, "1"),
            AppError::Store(StoreError::Timeout { limit }) => ApiError::new(
                ErrorStatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "The query exceeded the time limit of {} ms (NETWORK_LIST_QUERY_TIMEOUT_MS); \
                     narrow it or retry later",
                    limit.as_millis()
                ),
            )
            .with_header(http::header::RETRY_AFTER, "1"),
            AppError::Store(StoreError::Unavailable(_)) => {
                ApiError::new(ErrorStatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

/// A 400 from an extraction failure (path, query, header or body): keeps
/// dropshot's message, with the spec's patterns explained in words.
pub fn malformed(error: ApiError) -> AppError {
    AppError::Malformed(explain_patterns(error.message))
}

/// What each of the spec's patterns means. The generated types report a value
/// that fails a `pattern` by quoting the regular expression, which says little
/// to a person (and the `name` one is long).
const PATTERN_MEANINGS: [(&str, &str); 3] = [
    (crate::domain::NAME_PATTERN, "must not be blank and must not contain NUL characters"),
    (crate::domain::NO_NUL_PATTERN, "must not contain NUL characters"),
    (crate::domain::COUNTRY_PATTERN, "must be an ISO 3166-1 alpha-2 country code (e.g. IT)"),
];

/// A `country` outside the spec's enum (serde quotes all 250 codes).
const COUNTRY_ENUM_START: &str = ", expected one of `AD`, `AE`";

fn explain_patterns(message: String) -> String {
    // serde's message for an enum given JSON that is not a string (null, a
    // number, ...) names neither the field's type nor the value.
    if message.contains("country: expected value") {
        return message.replace(
            "country: expected value",
            "country: must be a string, an ISO 3166-1 alpha-2 country code (e.g. IT), not null or another type",
        );
    }
    if let (Some(start), Some(list)) =
        (message.find("unknown variant `"), message.find(COUNTRY_ENUM_START))
    {
        let end = message[list..].find("` at ").map_or(message.len(), |i| list + i + 1);
        let value = &message[start + "unknown variant ".len()..list];
        return format!(
            "{}{value} is not an ISO 3166-1 alpha-2 country code (e.g. IT){}",
            &message[..start],
            &message[end..]
        );
    }
    for (pattern, meaning) in PATTERN_MEANINGS {
        let quoted = format!("doesn't match pattern \"{pattern}\"");
        if message.contains(&quoted) {
            return message.replace(&quoted, meaning);
        }
    }
    message
}

/// An error and its causes, each once: tokio-postgres shows only "db error"
/// or "error connecting to server" at the top and keeps the useful part in `source()`.
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error<T: serde::de::DeserializeOwned>(json: &str) -> String {
        serde_json::from_str::<T>(json).err().expect("rejected").to_string()
    }

    #[test]
    fn pattern_failures_are_explained() {
        use network_api::types::CustomerDetails;
        let blank = explain_patterns(parse_error::<CustomerDetails>(r#"{"name": " \t"}"#));
        assert!(blank.starts_with("must not be blank and must not contain NUL"), "{blank}");
        let nul = explain_patterns(parse_error::<CustomerDetails>(r#"{"name": "a\u0000"}"#));
        assert!(nul.contains("NUL"), "{nul}");
        let value = explain_patterns(parse_error::<CustomerDetails>(
            r#"{"name": "a", "properties": {"k": "\u0000"}}"#,
        ));
        assert!(value.starts_with("must not contain NUL characters"), "{value}");
        let country =
            explain_patterns(parse_error::<CustomerDetails>(r#"{"name": "a", "country": "it"}"#));
        assert!(country.contains("`it` is not an ISO 3166-1 alpha-2"), "{country}");
        assert!(country.len() < 200, "{country}");
        // `timezone` is typed as a bounded string (its enum is checked by
        // `TimeZoneName::parse`, with its own message): only the bound is left.
        assert!(serde_json::from_str::<CustomerDetails>(
            r#"{"name": "a", "timezone": "Mars/Base"}"#
        )
        .is_ok());
        let zone = parse_error::<CustomerDetails>(&format!(
            r#"{{"name": "a", "timezone": "{}"}}"#,
            "x".repeat(33)
        ));
        assert!(zone.len() < 200, "{zone}");
        assert_eq!(explain_patterns("something else".into()), "something else");
    }
}
