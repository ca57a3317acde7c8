//! The server's error type and its mapping to HTTP, in one place.

use dropshot::ErrorStatusCode;
use network_api::ApiError;

use crate::auth::AuthError;
use crate::domain::ValidationError;
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
    /// 429.
    #[error("API call rate limit exceeded ({})", .0.scope)]
    RateLimited(RateLimited),
    /// 404, 412 or 500 from the store.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The realm announced in `WWW-Authenticate`.
const REALM: &str = "network";

impl From<AppError> for ApiError {
    fn from(error: AppError) -> ApiError {
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
            AppError::Store(StoreError::Unavailable(_)) => {
                ApiError::new(ErrorStatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

/// A 400 from an extraction failure (path, query, header or body): keeps dropshot's message.
pub fn malformed(error: ApiError) -> AppError {
    AppError::Malformed(error.message)
}
