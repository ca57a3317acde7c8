// Support types emitted verbatim into every generated API crate: the part
// that depends on the spec (`ApiError` publishes its error schema: the
// generator replaces `__ErrorBody__` with that type) and the extractors that
// produce `ApiError`s; the rest is the runtime crate `dropshot-api-runtime`.

/// The error every operation returns: a status, the wire body `{"message": ...}`
/// and optional response headers (`Retry-After`, `WWW-Authenticate`, ...).
///
/// dropshot cannot attach headers to the response of a custom error type
/// returned as `Err`, so errors that carry headers travel inside [`Reply`]; an
/// `Err(ApiError)` (which is also what dropshot's own extractor failures become)
/// is sent with its status and body only.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The 4xx or 5xx status of the response.
    pub status: ::dropshot::ErrorStatusCode,
    /// The `message` of the response body.
    pub message: String,
    /// Extra response headers.
    pub headers: ::http::HeaderMap,
    /// The whole response body, for an operation whose error schema is not
    /// `{message}` (set with [`ApiError::with_body`]); `None`: `{"message": ...}`.
    pub body: Option<::serde_json::Value>,
}

impl ApiError {
    /// An error with the given status and message and no extra headers.
    pub fn new(status: ::dropshot::ErrorStatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), headers: ::http::HeaderMap::new(), body: None }
    }

    /// Sends `body` (a value of the operation's error schema) instead of `{"message": ...}`.
    pub fn with_body(mut self, body: impl ::serde::Serialize) -> Self {
        self.body = ::serde_json::to_value(body).ok();
        self
    }

    /// Adds a response header (values that are not valid header values are skipped).
    pub fn with_header(mut self, name: ::http::HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(value) = ::http::HeaderValue::from_str(value.as_ref()) {
            self.headers.insert(name, value);
        }
        self
    }

    /// The HTTP response for this error: status, headers and the JSON body.
    pub fn into_response(self) -> ::http::Response<::dropshot::Body> {
        let body = ::serde_json::to_string(&self)
            .unwrap_or_else(|_| String::from("{\"message\":\"Internal Server Error\"}"));
        let mut response = ::http::Response::new(::dropshot::Body::from(body));
        *response.status_mut() = self.status.as_status();
        *response.headers_mut() = self.headers;
        response.headers_mut().insert(
            ::http::header::CONTENT_TYPE,
            ::http::HeaderValue::from_static(::dropshot::CONTENT_TYPE_JSON),
        );
        response
    }
}

impl ::std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.message)
    }
}

impl ::std::error::Error for ApiError {}

impl ::serde::Serialize for ApiError {
    fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use ::serde::ser::SerializeStruct;
        if let Some(body) = &self.body {
            return body.serialize(serializer);
        }
        let mut body = serializer.serialize_struct("Error", 1)?;
        body.serialize_field("message", &self.message)?;
        body.end()
    }
}

/// The published schema of an error is the spec's shared error schema.
impl ::schemars::JsonSchema for ApiError {
    fn schema_name() -> String {
        <__ErrorBody__ as ::schemars::JsonSchema>::schema_name()
    }

    fn json_schema(generator: &mut ::schemars::r#gen::SchemaGenerator) -> ::schemars::schema::Schema {
        <__ErrorBody__ as ::schemars::JsonSchema>::json_schema(generator)
    }
}

impl From<::dropshot::HttpError> for ApiError {
    fn from(error: ::dropshot::HttpError) -> Self {
        let mut api_error = ApiError::new(error.status_code, error.external_message);
        if let Some(headers) = error.headers {
            api_error.headers = *headers;
        }
        api_error
    }
}

impl ::dropshot::HttpResponseError for ApiError {
    fn status_code(&self) -> ::dropshot::ErrorStatusCode {
        self.status
    }
}

/// What an operation answers: its success response or an [`ApiError`], each
/// with its headers, or a response built by the handler with a streamed body
/// ([`Reply::streamed`]). Build it with `Reply::from(result)`, `result.into()`,
/// [`Reply::ok`] or [`Reply::err`].
#[derive(Debug)]
pub struct Reply<T>(ReplyKind<T>);

#[derive(Debug)]
enum ReplyKind<T> {
    Typed(Result<T, ApiError>),
    Streamed(::http::Response<::dropshot::Body>),
}

impl<T> Reply<T> {
    /// The success response.
    pub fn ok(success: T) -> Self {
        Reply(ReplyKind::Typed(Ok(success)))
    }

    /// An error response.
    pub fn err(error: ApiError) -> Self {
        Reply(ReplyKind::Typed(Err(error)))
    }

    /// A success response built by the handler, typically with a body streamed
    /// as it is produced (`::dropshot::Body::wrap`), for responses too large to
    /// hold in memory at once. The caller is responsible for the contract: the
    /// status must be the operation's documented success status, the headers
    /// must include `Content-Type` as documented, and the body must follow the
    /// operation's documented schema exactly (as `T` would serialize).
    pub fn streamed(response: ::http::Response<::dropshot::Body>) -> Self {
        Reply(ReplyKind::Streamed(response))
    }

}

impl<T> From<Result<T, ApiError>> for Reply<T> {
    fn from(result: Result<T, ApiError>) -> Self {
        Reply(ReplyKind::Typed(result))
    }
}

impl<T> From<ApiError> for Reply<T> {
    fn from(error: ApiError) -> Self {
        Reply::err(error)
    }
}

impl<T: ::dropshot::HttpResponse + Send + Sync + 'static> ::dropshot::HttpResponse for Reply<T> {
    fn to_result(self) -> Result<::http::Response<::dropshot::Body>, ::dropshot::HttpError> {
        match self.0 {
            ReplyKind::Typed(Ok(success)) => success.to_result(),
            ReplyKind::Typed(Err(error)) => Ok(error.into_response()),
            ReplyKind::Streamed(response) => Ok(response),
        }
    }

    fn response_metadata() -> ::dropshot::ApiEndpointResponse {
        T::response_metadata()
    }

    fn status_code(&self) -> ::http::StatusCode {
        match &self.0 {
            ReplyKind::Typed(Ok(success)) => success.status_code(),
            ReplyKind::Typed(Err(error)) => error.status.as_status(),
            ReplyKind::Streamed(response) => response.status(),
        }
    }
}

/// A request part whose extraction is deferred to the handler, so that the
/// handler decides the order of checks (authentication before validation):
/// dropshot would otherwise answer 400 for a malformed request before the
/// handler could answer 401.
#[derive(Debug)]
pub struct Deferred<E>(Result<E, ApiError>);

impl<E> Deferred<E> {
    /// The extracted part, or the 400 that extraction produced.
    #[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
    pub fn into_result(self) -> Result<E, ApiError> {
        self.0
    }
}

impl<E> From<E> for Deferred<E> {
    fn from(extracted: E) -> Self {
        Deferred(Ok(extracted))
    }
}

#[::async_trait::async_trait]
impl<E: ::dropshot::SharedExtractor + 'static> ::dropshot::SharedExtractor for Deferred<E> {
    async fn from_request<Context: ::dropshot::ServerContext>(
        rqctx: &::dropshot::RequestContext<Context>,
    ) -> Result<Self, ::dropshot::HttpError> {
        Ok(Deferred(E::from_request(rqctx).await.map_err(ApiError::from)))
    }

    fn metadata(
        body_content_type: ::dropshot::ApiEndpointBodyContentType,
    ) -> ::dropshot::ExtractorMetadata {
        E::metadata(body_content_type)
    }
}

/// A body extractor of dropshot's (`TypedBody` of a form, `UntypedBody`)
/// whose failure is kept for the handler (see [`Deferred`]).
#[derive(Debug)]
pub struct DeferredBody<E>(Result<E, ApiError>);

impl<E> DeferredBody<E> {
    /// The extracted body, or the 400 that extraction produced.
    #[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
    pub fn into_result(self) -> Result<E, ApiError> {
        self.0
    }
}

impl<E> From<E> for DeferredBody<E> {
    fn from(extracted: E) -> Self {
        DeferredBody(Ok(extracted))
    }
}

#[::async_trait::async_trait]
impl<E: ::dropshot::ExclusiveExtractor + 'static> ::dropshot::ExclusiveExtractor for DeferredBody<E> {
    async fn from_request<Context: ::dropshot::ServerContext>(
        rqctx: &::dropshot::RequestContext<Context>,
        request: ::hyper::Request<::dropshot::Body>,
    ) -> Result<Self, ::dropshot::HttpError> {
        Ok(DeferredBody(E::from_request(rqctx, request).await.map_err(ApiError::from)))
    }

    fn metadata(
        body_content_type: ::dropshot::ApiEndpointBodyContentType,
    ) -> ::dropshot::ExtractorMetadata {
        E::metadata(body_content_type)
    }
}

/// A required JSON request body, read and parsed only when the handler asks
/// for it with [`JsonBody::read`] (see [`Deferred`]): a request refused before
/// that (401, 429, 403) is answered without its body ever being buffered.
#[derive(Debug)]
pub struct JsonBody<T>(LazyBody<T>);

/// The state of a request body the handler has not read yet.
#[derive(Debug)]
enum LazyBody<T> {
    /// The body as it arrives, behind headers that frame and type it correctly.
    Unread(::dropshot::Body),
    /// Headers that make the body unacceptable: reading it would be wasted.
    Refused(ApiError),
    /// A value given directly (tests, in-process callers).
    Given(T),
}

impl<T: ::serde::de::DeserializeOwned> JsonBody<T> {
    /// Reads the body (at most `max_bytes` of it, however it is framed:
    /// `Content-Length` or chunked) and parses it. A body over the limit is a
    /// 400 as soon as the limit is crossed; the rest is never read. The caller
    /// bounds the time it may take (e.g. `tokio::time::timeout`).
    #[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
    pub async fn read(self, max_bytes: usize) -> Result<T, ApiError> {
        match self.0 {
            LazyBody::Given(value) => Ok(value),
            LazyBody::Refused(error) => Err(error),
            LazyBody::Unread(body) => parse_json_body(&read_body(body, max_bytes).await?),
        }
    }
}

impl<T> From<T> for JsonBody<T> {
    fn from(body: T) -> Self {
        JsonBody(LazyBody::Given(body))
    }
}

#[::async_trait::async_trait]
impl<T> ::dropshot::ExclusiveExtractor for JsonBody<T>
where
    T: ::schemars::JsonSchema + ::serde::de::DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<Context: ::dropshot::ServerContext>(
        _rqctx: &::dropshot::RequestContext<Context>,
        request: ::hyper::Request<::dropshot::Body>,
    ) -> Result<Self, ::dropshot::HttpError> {
        Ok(JsonBody(match check_json_request_headers(request.headers()) {
            Ok(()) => LazyBody::Unread(request.into_body()),
            Err(error) => LazyBody::Refused(error),
        }))
    }

    fn metadata(
        body_content_type: ::dropshot::ApiEndpointBodyContentType,
    ) -> ::dropshot::ExtractorMetadata {
        <::dropshot::TypedBody<T> as ::dropshot::ExclusiveExtractor>::metadata(body_content_type)
    }
}

/// An optional JSON request body: an empty body is `None`. Read lazily, like [`JsonBody`].
#[derive(Debug)]
pub struct OptionalJsonBody<T> {
    body: LazyBody<Option<T>>,
    /// What the framing and typing headers say; it matters only if a body was sent.
    headers: Result<(), ApiError>,
}

impl<T: ::serde::de::DeserializeOwned> OptionalJsonBody<T> {
    /// Reads the body if one was sent (at most `max_bytes`) and parses it; see [`JsonBody::read`].
    #[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
    pub async fn read(self, max_bytes: usize) -> Result<Option<T>, ApiError> {
        match self.body {
            LazyBody::Given(value) => Ok(value),
            LazyBody::Refused(error) => Err(error),
            LazyBody::Unread(body) => {
                let bytes = read_body(body, max_bytes).await?;
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                self.headers?;
                parse_json_body::<T>(&bytes).map(Some)
            }
        }
    }
}

impl<T> From<Option<T>> for OptionalJsonBody<T> {
    fn from(body: Option<T>) -> Self {
        OptionalJsonBody { body: LazyBody::Given(body), headers: Ok(()) }
    }
}

#[::async_trait::async_trait]
impl<T> ::dropshot::ExclusiveExtractor for OptionalJsonBody<T>
where
    T: ::schemars::JsonSchema + ::serde::de::DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<Context: ::dropshot::ServerContext>(
        _rqctx: &::dropshot::RequestContext<Context>,
        request: ::hyper::Request<::dropshot::Body>,
    ) -> Result<Self, ::dropshot::HttpError> {
        let headers = check_json_request_headers(request.headers());
        Ok(OptionalJsonBody { body: LazyBody::Unread(request.into_body()), headers })
    }

    fn metadata(
        body_content_type: ::dropshot::ApiEndpointBodyContentType,
    ) -> ::dropshot::ExtractorMetadata {
        <::dropshot::TypedBody<T> as ::dropshot::ExclusiveExtractor>::metadata(body_content_type)
    }
}

/// A 400 with a message from the runtime crate.
fn bad_request_error(message: String) -> ApiError {
    ApiError::new(::dropshot::ErrorStatusCode::BAD_REQUEST, message)
}

/// See [`dropshot_api_runtime::read_body`].
#[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
async fn read_body(body: ::dropshot::Body, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    ::dropshot_api_runtime::read_body(body, max_bytes).await.map_err(bad_request_error)
}

/// See [`dropshot_api_runtime::check_json_request_headers`].
#[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
fn check_json_request_headers(headers: &::http::HeaderMap) -> Result<(), ApiError> {
    ::dropshot_api_runtime::check_json_request_headers(headers).map_err(bad_request_error)
}

/// See [`dropshot_api_runtime::parse_json_body`].
#[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
fn parse_json_body<T: ::serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    ::dropshot_api_runtime::parse_json_body(bytes).map_err(bad_request_error)
}

// Named by generated code (`#[serde(...)]` attributes, query parsing).
#[allow(unused_imports)]
use ::dropshot_api_runtime::{
    deserialize_non_null, deserialize_query_value, parse_query_value, serialize_header_value,
};
