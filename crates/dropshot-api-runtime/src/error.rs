//! [`ApiError`]: the error every generated operation returns, generic over the
//! error schema it publishes ([`ErrorSchema`]), with dropshot's own error shape
//! ([`DropshotError`]) built in.

use std::fmt;
use std::marker::PhantomData;

use dropshot::{ErrorStatusCode, HttpError};
use schemars::JsonSchema;

/// How an error built without [`ApiError::with_body`] is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"message": ...}`.
    Message,
    /// dropshot's `{"request_id": ..., "error_code": ..., "message": ...}`.
    Dropshot,
}

/// The error schema an [`ApiError`] publishes in the OpenAPI document (its
/// [`JsonSchema`]) and the body it writes by default ([`ErrorSchema::SHAPE`]).
/// The generated crate implements it on a marker type per schema; the marker
/// is never instantiated.
pub trait ErrorSchema: JsonSchema + Send + Sync + 'static {
    /// The default body of an error.
    const SHAPE: ErrorShape;
}

/// dropshot's own error schema (`Error`: `request_id`, `error_code`,
/// `message`), for specs and operations that document no error body.
#[derive(Debug)]
pub enum DropshotError {}

impl JsonSchema for DropshotError {
    fn schema_name() -> String {
        "Error".to_string()
    }

    fn json_schema(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        <dropshot::HttpErrorResponseBody as JsonSchema>::json_schema(generator)
    }
}

impl ErrorSchema for DropshotError {
    const SHAPE: ErrorShape = ErrorShape::Dropshot;
}

/// The error every operation returns: a status, a message, optional response
/// headers (`Retry-After`, `WWW-Authenticate`, ...) and, for an error schema
/// that is neither `{message}` nor dropshot's, the whole body.
///
/// Returned inside a [`crate::Reply`], it is sent with its headers; returned
/// as `Err` (which is also what dropshot's extractor failures become), with
/// its status and body only (dropshot cannot attach headers to a custom error
/// type). dropshot's shape carries the request id the error carries (the
/// extractors set it on their failures; a handler sets it with
/// [`ApiError::with_request_id`]), else `""`: dropshot hands a custom error
/// type no request id, though it always sends the `x-request-id` header.
pub struct ApiError<S> {
    /// The 4xx or 5xx status of the response.
    pub status: ErrorStatusCode,
    /// The `message` of the response body.
    pub message: String,
    /// The `error_code` of dropshot's shape (not written for `{message}`).
    pub error_code: Option<String>,
    /// The `request_id` of dropshot's shape, when known.
    pub request_id: Option<String>,
    /// Extra response headers.
    pub headers: http::HeaderMap,
    /// The whole response body (set with [`ApiError::with_body`]); `None`: the
    /// schema's default shape.
    pub body: Option<serde_json::Value>,
    schema: PhantomData<fn() -> S>,
}

impl<S> ApiError<S> {
    /// An error with the given status and message and no extra headers.
    pub fn new(status: ErrorStatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            error_code: None,
            request_id: None,
            headers: http::HeaderMap::new(),
            body: None,
            schema: PhantomData,
        }
    }

    /// Sends `body` (a value of the operation's error schema) instead of the
    /// default shape. A body that does not serialize is ignored.
    pub fn with_body(mut self, body: impl serde::Serialize) -> Self {
        self.body = serde_json::to_value(body).ok();
        self
    }

    /// Adds a response header (values that are not valid header values are skipped).
    pub fn with_header(mut self, name: http::HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(value) = http::HeaderValue::from_str(value.as_ref()) {
            self.headers.insert(name, value);
        }
        self
    }

    /// Sets the `error_code` of dropshot's shape.
    pub fn with_error_code(mut self, code: impl Into<String>) -> Self {
        self.error_code = Some(code.into());
        self
    }

    /// Sets the `request_id` of dropshot's shape (`rqctx.request_id`).
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// The same error, publishing another schema (an operation whose error
    /// responses differ from the shared one).
    pub fn into_schema<T>(self) -> ApiError<T> {
        ApiError {
            status: self.status,
            message: self.message,
            error_code: self.error_code,
            request_id: self.request_id,
            headers: self.headers,
            body: self.body,
            schema: PhantomData,
        }
    }
}

impl<S: ErrorSchema> ApiError<S> {
    /// The JSON body this error is sent with.
    pub fn body_value(&self) -> serde_json::Value {
        if let Some(body) = &self.body {
            return body.clone();
        }
        let mut body = serde_json::Map::new();
        if S::SHAPE == ErrorShape::Dropshot {
            let request_id = self.request_id.clone().unwrap_or_default();
            body.insert("request_id".to_string(), request_id.into());
            if let Some(code) = &self.error_code {
                body.insert("error_code".to_string(), code.clone().into());
            }
        }
        body.insert("message".to_string(), self.message.clone().into());
        serde_json::Value::Object(body)
    }

    /// The HTTP response for this error: status, headers and the JSON body.
    pub fn into_response(self) -> http::Response<dropshot::Body> {
        let body = serde_json::to_string(&self.body_value())
            .unwrap_or_else(|_| String::from("{\"message\":\"Internal Server Error\"}"));
        let mut response = http::Response::new(dropshot::Body::from(body));
        *response.status_mut() = self.status.as_status();
        *response.headers_mut() = self.headers;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(dropshot::CONTENT_TYPE_JSON),
        );
        response
    }
}

impl<S> fmt::Debug for ApiError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("message", &self.message)
            .field("error_code", &self.error_code)
            .field("request_id", &self.request_id)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

impl<S> Clone for ApiError<S> {
    fn clone(&self) -> Self {
        Self {
            status: self.status,
            message: self.message.clone(),
            error_code: self.error_code.clone(),
            request_id: self.request_id.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            schema: PhantomData,
        }
    }
}

impl<S> fmt::Display for ApiError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.message)
    }
}

impl<S> std::error::Error for ApiError<S> {}

impl<S: ErrorSchema> serde::Serialize for ApiError<S> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        self.body_value().serialize(serializer)
    }
}

/// The published schema of an error is its [`ErrorSchema`]'s.
impl<S: ErrorSchema> JsonSchema for ApiError<S> {
    fn schema_name() -> String {
        S::schema_name()
    }

    fn json_schema(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        S::json_schema(generator)
    }
}

impl<S> From<HttpError> for ApiError<S> {
    fn from(error: HttpError) -> Self {
        let mut api_error = ApiError::new(error.status_code, error.external_message);
        api_error.error_code = error.error_code;
        if let Some(headers) = error.headers {
            api_error.headers = *headers;
        }
        api_error
    }
}

impl<S: ErrorSchema> dropshot::HttpResponseError for ApiError<S> {
    fn status_code(&self) -> ErrorStatusCode {
        self.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `{message}` error schema, as the generated crates declare theirs.
    #[derive(Debug)]
    enum MessageOnly {}

    impl JsonSchema for MessageOnly {
        fn schema_name() -> String {
            "Error".to_string()
        }

        fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
            schemars::schema::Schema::Bool(true)
        }
    }

    impl ErrorSchema for MessageOnly {
        const SHAPE: ErrorShape = ErrorShape::Message;
    }

    #[test]
    fn the_default_body_follows_the_schema_shape() {
        let error = ApiError::<MessageOnly>::new(ErrorStatusCode::NOT_FOUND, "gone")
            .with_error_code("E1")
            .with_request_id("r-1");
        assert_eq!(serde_json::to_value(&error).unwrap(), serde_json::json!({"message": "gone"}));
        let error = error.into_schema::<DropshotError>();
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({"request_id": "r-1", "error_code": "E1", "message": "gone"})
        );
        let error = ApiError::<DropshotError>::new(ErrorStatusCode::CONFLICT, "no");
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({"request_id": "", "message": "no"})
        );
        let error = error.with_body(serde_json::json!({"reason": "taken"}));
        assert_eq!(serde_json::to_value(&error).unwrap(), serde_json::json!({"reason": "taken"}));
    }

    #[test]
    fn an_http_error_keeps_its_code_and_headers() {
        let mut http_error = HttpError::for_client_error(
            Some("Throttled".to_string()),
            dropshot::ClientErrorStatusCode::TOO_MANY_REQUESTS,
            "slow down".to_string(),
        );
        http_error.add_header(http::header::RETRY_AFTER, "3").unwrap();
        let error = ApiError::<DropshotError>::from(http_error);
        assert_eq!(error.status, ErrorStatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error.error_code.as_deref(), Some("Throttled"));
        assert_eq!(error.headers[http::header::RETRY_AFTER], "3");
        assert_eq!(error.message, "slow down");
    }

    #[test]
    fn the_response_has_status_headers_and_json() {
        let response = ApiError::<MessageOnly>::new(ErrorStatusCode::UNAUTHORIZED, "who?")
            .with_header(http::header::WWW_AUTHENTICATE, "Bearer")
            .into_response();
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(response.headers()[http::header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn the_published_schema_is_the_markers() {
        assert_eq!(<ApiError<DropshotError> as JsonSchema>::schema_name(), "Error");
        let mut generator = schemars::r#gen::SchemaGenerator::default();
        let schema = <ApiError<DropshotError> as JsonSchema>::json_schema(&mut generator);
        let schema = serde_json::to_value(schema).unwrap();
        assert!(schema["properties"]["request_id"].is_object(), "{schema}");
    }
}
