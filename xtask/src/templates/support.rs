// Support types emitted verbatim into every generated API crate; the
// generator replaces `__ErrorBody__` with the spec's shared error schema type.

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
}

impl ApiError {
    /// An error with the given status and message and no extra headers.
    pub fn new(status: ::dropshot::ErrorStatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), headers: ::http::HeaderMap::new() }
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
/// with its headers. Build it with `Reply::from(result)` or `result.into()`.
#[derive(Debug)]
pub struct Reply<T>(pub Result<T, ApiError>);

impl<T> From<Result<T, ApiError>> for Reply<T> {
    fn from(result: Result<T, ApiError>) -> Self {
        Reply(result)
    }
}

impl<T> From<ApiError> for Reply<T> {
    fn from(error: ApiError) -> Self {
        Reply(Err(error))
    }
}

impl<T: ::dropshot::HttpResponse + Send + Sync + 'static> ::dropshot::HttpResponse for Reply<T> {
    fn to_result(self) -> Result<::http::Response<::dropshot::Body>, ::dropshot::HttpError> {
        match self.0 {
            Ok(success) => success.to_result(),
            Err(error) => Ok(error.into_response()),
        }
    }

    fn response_metadata() -> ::dropshot::ApiEndpointResponse {
        T::response_metadata()
    }

    fn status_code(&self) -> ::http::StatusCode {
        match &self.0 {
            Ok(success) => success.status_code(),
            Err(error) => error.status.as_status(),
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

/// A required JSON request body, parsed when the handler asks for it (see [`Deferred`]).
#[derive(Debug)]
pub struct JsonBody<T>(Result<T, ApiError>);

impl<T> JsonBody<T> {
    /// The parsed body, or the 400 that reading or parsing it produced.
    #[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
    pub fn into_result(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T> From<T> for JsonBody<T> {
    fn from(body: T) -> Self {
        JsonBody(Ok(body))
    }
}

#[::async_trait::async_trait]
impl<T> ::dropshot::ExclusiveExtractor for JsonBody<T>
where
    T: ::schemars::JsonSchema + ::serde::de::DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<Context: ::dropshot::ServerContext>(
        rqctx: &::dropshot::RequestContext<Context>,
        request: ::hyper::Request<::dropshot::Body>,
    ) -> Result<Self, ::dropshot::HttpError> {
        let body = <::dropshot::TypedBody<T> as ::dropshot::ExclusiveExtractor>::from_request(
            rqctx, request,
        )
        .await;
        Ok(JsonBody(body.map(|body| body.into_inner()).map_err(ApiError::from)))
    }

    fn metadata(
        body_content_type: ::dropshot::ApiEndpointBodyContentType,
    ) -> ::dropshot::ExtractorMetadata {
        <::dropshot::TypedBody<T> as ::dropshot::ExclusiveExtractor>::metadata(body_content_type)
    }
}

/// An optional JSON request body: an empty body is `None` (see [`Deferred`]).
#[derive(Debug)]
pub struct OptionalJsonBody<T>(Result<Option<T>, ApiError>);

impl<T> OptionalJsonBody<T> {
    /// The parsed body if one was sent, or the 400 that reading or parsing it produced.
    #[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
    pub fn into_result(self) -> Result<Option<T>, ApiError> {
        self.0
    }
}

impl<T> From<Option<T>> for OptionalJsonBody<T> {
    fn from(body: Option<T>) -> Self {
        OptionalJsonBody(Ok(body))
    }
}

#[::async_trait::async_trait]
impl<T> ::dropshot::ExclusiveExtractor for OptionalJsonBody<T>
where
    T: ::schemars::JsonSchema + ::serde::de::DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<Context: ::dropshot::ServerContext>(
        rqctx: &::dropshot::RequestContext<Context>,
        request: ::hyper::Request<::dropshot::Body>,
    ) -> Result<Self, ::dropshot::HttpError> {
        let raw = <::dropshot::UntypedBody as ::dropshot::ExclusiveExtractor>::from_request(
            rqctx, request,
        )
        .await;
        let parsed = match raw {
            Err(error) => Err(ApiError::from(error)),
            Ok(raw) if raw.as_bytes().iter().all(u8::is_ascii_whitespace) => Ok(None),
            Ok(raw) => ::serde_json::from_slice::<T>(raw.as_bytes()).map(Some).map_err(|error| {
                ApiError::new(
                    ::dropshot::ErrorStatusCode::BAD_REQUEST,
                    format!("unable to parse JSON body: {error}"),
                )
            }),
        };
        Ok(OptionalJsonBody(parsed))
    }

    fn metadata(
        body_content_type: ::dropshot::ApiEndpointBodyContentType,
    ) -> ::dropshot::ExtractorMetadata {
        <::dropshot::TypedBody<T> as ::dropshot::ExclusiveExtractor>::metadata(body_content_type)
    }
}

/// Parses one query-string value of a parameter whose type is not a string.
#[allow(dead_code)] // unused when no operation has such a query parameter
fn parse_query_value<T: ::std::str::FromStr>(name: &str, value: &str) -> Result<T, String>
where
    T::Err: ::std::fmt::Display,
{
    value.parse::<T>().map_err(|error| format!("query parameter `{name}`: {error}"))
}

/// Parses one query-string value of a parameter whose type is generated
/// (enums, newtypes): as a string, or else, for types that hold a number or a
/// boolean (a `$ref` to an integer schema, an integer enum), as that JSON value.
#[allow(dead_code)] // unused when no operation has such a query parameter
fn deserialize_query_value<T: ::serde::de::DeserializeOwned>(name: &str, value: &str) -> Result<T, String> {
    use ::serde::de::IntoDeserializer;
    let deserializer: ::serde::de::value::StrDeserializer<'_, ::serde::de::value::Error> =
        value.into_deserializer();
    T::deserialize(deserializer)
        .or_else(|error| match ::serde_json::from_str::<::serde_json::Value>(value) {
            Ok(scalar @ (::serde_json::Value::Number(_) | ::serde_json::Value::Bool(_))) => {
                T::deserialize(scalar).map_err(|_| error)
            }
            _ => Err(error),
        })
        .map_err(|error| format!("query parameter `{name}`: {error}"))
}

/// Serializes a response header value that is not a `String` (integers,
/// numbers, booleans, enums, newtypes) as the text dropshot requires: dropshot
/// serializes response headers with a serializer that accepts only strings.
#[allow(dead_code)] // unused when no response header is of such a type
fn serialize_header_value<T: ::serde::Serialize, S: ::serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match ::serde_json::to_value(value).map_err(::serde::ser::Error::custom)? {
        ::serde_json::Value::Null => serializer.serialize_none(),
        ::serde_json::Value::String(text) => serializer.serialize_str(&text),
        other => serializer.serialize_str(&other.to_string()),
    }
}
