//! [`Reply`]: what an operation answers, its success response or an
//! [`ApiError`], each with its headers, or a response the handler streamed.

use crate::error::{ApiError, DropshotError, ErrorSchema};

/// What an operation answers: its success response or an [`ApiError`], each
/// with its headers, or a response built by the handler with a streamed body
/// ([`Reply::streamed`]). Build it with `Reply::from(result)`, `result.into()`,
/// [`Reply::ok`] or [`Reply::err`].
#[derive(Debug)]
pub struct Reply<T, S = DropshotError>(ReplyKind<T, S>);

#[derive(Debug)]
enum ReplyKind<T, S> {
    Typed(Result<T, ApiError<S>>),
    Streamed(http::Response<dropshot::Body>),
}

impl<T, S> Reply<T, S> {
    /// The success response.
    pub fn ok(success: T) -> Self {
        Reply(ReplyKind::Typed(Ok(success)))
    }

    /// An error response.
    pub fn err(error: ApiError<S>) -> Self {
        Reply(ReplyKind::Typed(Err(error)))
    }

    /// A success response built by the handler, typically with a body streamed
    /// as it is produced (`dropshot::Body::wrap`), for responses too large to
    /// hold in memory at once. The caller is responsible for the contract: the
    /// status must be the operation's documented success status, the headers
    /// must include `Content-Type` as documented, and the body must follow the
    /// operation's documented schema exactly (as `T` would serialize).
    pub fn streamed(response: http::Response<dropshot::Body>) -> Self {
        Reply(ReplyKind::Streamed(response))
    }
}

impl<T, S> From<Result<T, ApiError<S>>> for Reply<T, S> {
    fn from(result: Result<T, ApiError<S>>) -> Self {
        Reply(ReplyKind::Typed(result))
    }
}

impl<T, S> From<ApiError<S>> for Reply<T, S> {
    fn from(error: ApiError<S>) -> Self {
        Reply::err(error)
    }
}

impl<T, S> dropshot::HttpResponse for Reply<T, S>
where
    T: dropshot::HttpResponse + Send + Sync + 'static,
    S: ErrorSchema,
{
    fn to_result(self) -> Result<http::Response<dropshot::Body>, dropshot::HttpError> {
        match self.0 {
            ReplyKind::Typed(Ok(success)) => success.to_result(),
            ReplyKind::Typed(Err(error)) => Ok(error.into_response()),
            ReplyKind::Streamed(response) => Ok(response),
        }
    }

    fn response_metadata() -> dropshot::ApiEndpointResponse {
        T::response_metadata()
    }

    fn status_code(&self) -> http::StatusCode {
        match &self.0 {
            ReplyKind::Typed(Ok(success)) => success.status_code(),
            ReplyKind::Typed(Err(error)) => error.status.as_status(),
            ReplyKind::Streamed(response) => response.status(),
        }
    }
}

#[cfg(test)]
mod tests {
    use dropshot::{ErrorStatusCode, HttpResponse, HttpResponseOk};

    use super::*;

    #[test]
    fn an_error_is_sent_with_its_headers_and_the_default_body() {
        let error = ApiError::<DropshotError>::new(ErrorStatusCode::SERVICE_UNAVAILABLE, "busy")
            .with_header(http::header::RETRY_AFTER, "1")
            .with_request_id("r-7");
        let reply = Reply::<HttpResponseOk<u8>>::err(error);
        assert_eq!(reply.status_code(), http::StatusCode::SERVICE_UNAVAILABLE);
        let response = reply.to_result().unwrap();
        assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
    }

    #[test]
    fn an_error_with_its_own_body_is_written_here() {
        let error = ApiError::<DropshotError>::new(ErrorStatusCode::CONFLICT, "no")
            .with_body(serde_json::json!({"reason": "taken"}));
        let response = Reply::<HttpResponseOk<u8>>::from(Err(error)).to_result().unwrap();
        assert_eq!(response.status(), http::StatusCode::CONFLICT);
    }

    #[test]
    fn success_and_streamed_replies_pass_through() {
        let response = Reply::<_, DropshotError>::ok(HttpResponseOk(7u8)).to_result().unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        let streamed = http::Response::builder()
            .status(http::StatusCode::OK)
            .body(dropshot::Body::from("[]"))
            .unwrap();
        let reply = Reply::<HttpResponseOk<u8>, DropshotError>::streamed(streamed);
        assert_eq!(reply.status_code(), http::StatusCode::OK);
        assert!(reply.to_result().is_ok());
    }
}
