//! Extractors whose failures are kept for the handler ([`Deferred`],
//! [`DeferredBody`]) and lazily read JSON bodies ([`JsonBody`],
//! [`OptionalJsonBody`]), so that the handler, not dropshot, decides the order
//! of checks (authentication before validation).

use crate::error::{ApiError, DropshotError};

/// A 400 with a message from this crate's request handling.
fn bad_request<S>(message: String) -> ApiError<S> {
    ApiError::new(dropshot::ErrorStatusCode::BAD_REQUEST, message)
}

/// An extractor's failure, with the request's id.
fn extraction_error<S, C: dropshot::ServerContext>(
    rqctx: &dropshot::RequestContext<C>,
    error: dropshot::HttpError,
) -> ApiError<S> {
    ApiError::from(error).with_request_id(rqctx.request_id.clone())
}

/// A request part whose extraction is deferred to the handler, so that the
/// handler decides the order of checks (authentication before validation):
/// dropshot would otherwise answer 400 for a malformed request before the
/// handler could answer 401.
#[derive(Debug)]
pub struct Deferred<E, S = DropshotError>(Result<E, ApiError<S>>);

impl<E, S> Deferred<E, S> {
    /// The extracted part, or the 400 that extraction produced.
    #[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
    pub fn into_result(self) -> Result<E, ApiError<S>> {
        self.0
    }
}

impl<E, S> From<E> for Deferred<E, S> {
    fn from(extracted: E) -> Self {
        Deferred(Ok(extracted))
    }
}

#[async_trait::async_trait]
impl<E: dropshot::SharedExtractor + 'static, S: Send + Sync + 'static> dropshot::SharedExtractor
    for Deferred<E, S>
{
    async fn from_request<Context: dropshot::ServerContext>(
        rqctx: &dropshot::RequestContext<Context>,
    ) -> Result<Self, dropshot::HttpError> {
        Ok(Deferred(E::from_request(rqctx).await.map_err(|error| extraction_error(rqctx, error))))
    }

    fn metadata(
        body_content_type: dropshot::ApiEndpointBodyContentType,
    ) -> dropshot::ExtractorMetadata {
        E::metadata(body_content_type)
    }
}

/// A body extractor of dropshot's (`TypedBody` of a form, `UntypedBody`,
/// `MultipartBody`, `StreamingBody`) whose failure is kept for the handler
/// (see [`Deferred`]).
#[derive(Debug)]
pub struct DeferredBody<E, S = DropshotError>(Result<E, ApiError<S>>);

impl<E, S> DeferredBody<E, S> {
    /// The extracted body, or the 400 that extraction produced.
    #[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
    pub fn into_result(self) -> Result<E, ApiError<S>> {
        self.0
    }
}

impl<E, S> From<E> for DeferredBody<E, S> {
    fn from(extracted: E) -> Self {
        DeferredBody(Ok(extracted))
    }
}

#[async_trait::async_trait]
impl<E: dropshot::ExclusiveExtractor + 'static, S: Send + Sync + 'static>
    dropshot::ExclusiveExtractor for DeferredBody<E, S>
{
    async fn from_request<Context: dropshot::ServerContext>(
        rqctx: &dropshot::RequestContext<Context>,
        request: hyper::Request<dropshot::Body>,
    ) -> Result<Self, dropshot::HttpError> {
        let extracted = E::from_request(rqctx, request).await;
        Ok(DeferredBody(extracted.map_err(|error| extraction_error(rqctx, error))))
    }

    fn metadata(
        body_content_type: dropshot::ApiEndpointBodyContentType,
    ) -> dropshot::ExtractorMetadata {
        E::metadata(body_content_type)
    }
}

/// The state of a request body the handler has not read yet.
#[derive(Debug)]
enum LazyBody<T, S> {
    /// The body as it arrives, behind headers that frame and type it correctly.
    Unread(dropshot::Body),
    /// Headers that make the body unacceptable: reading it would be wasted.
    Refused(ApiError<S>),
    /// A value given directly (tests, in-process callers).
    Given(T),
}

/// A required JSON request body, read and parsed only when the handler asks
/// for it with [`JsonBody::read`] (see [`Deferred`]): a request refused before
/// that (401, 429, 403) is answered without its body ever being buffered.
#[derive(Debug)]
pub struct JsonBody<T, S = DropshotError>(LazyBody<T, S>);

impl<T: serde::de::DeserializeOwned, S> JsonBody<T, S> {
    /// Reads the body (at most `max_bytes` of it, however it is framed:
    /// `Content-Length` or chunked) and parses it. A body over the limit is a
    /// 400 as soon as the limit is crossed; the rest is never read. The caller
    /// bounds the time it may take (e.g. `tokio::time::timeout`).
    #[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
    pub async fn read(self, max_bytes: usize) -> Result<T, ApiError<S>> {
        match self.0 {
            LazyBody::Given(value) => Ok(value),
            LazyBody::Refused(error) => Err(error),
            LazyBody::Unread(body) => {
                let bytes = crate::read_body(body, max_bytes).await.map_err(bad_request)?;
                crate::parse_json_body(&bytes).map_err(bad_request)
            }
        }
    }
}

impl<T, S> From<T> for JsonBody<T, S> {
    fn from(body: T) -> Self {
        JsonBody(LazyBody::Given(body))
    }
}

#[async_trait::async_trait]
impl<T, S> dropshot::ExclusiveExtractor for JsonBody<T, S>
where
    T: schemars::JsonSchema + serde::de::DeserializeOwned + Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    async fn from_request<Context: dropshot::ServerContext>(
        _rqctx: &dropshot::RequestContext<Context>,
        request: hyper::Request<dropshot::Body>,
    ) -> Result<Self, dropshot::HttpError> {
        Ok(JsonBody(match crate::check_json_request_headers(request.headers()) {
            Ok(()) => LazyBody::Unread(request.into_body()),
            Err(message) => LazyBody::Refused(bad_request(message)),
        }))
    }

    fn metadata(
        body_content_type: dropshot::ApiEndpointBodyContentType,
    ) -> dropshot::ExtractorMetadata {
        <dropshot::TypedBody<T> as dropshot::ExclusiveExtractor>::metadata(body_content_type)
    }
}

/// An optional JSON request body: an empty body is `None`. Read lazily, like [`JsonBody`].
#[derive(Debug)]
pub struct OptionalJsonBody<T, S = DropshotError> {
    body: LazyBody<Option<T>, S>,
    /// What the framing and typing headers say; it matters only if a body was sent.
    headers: Result<(), String>,
}

impl<T: serde::de::DeserializeOwned, S> OptionalJsonBody<T, S> {
    /// Reads the body if one was sent (at most `max_bytes`) and parses it; see [`JsonBody::read`].
    #[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
    pub async fn read(self, max_bytes: usize) -> Result<Option<T>, ApiError<S>> {
        match self.body {
            LazyBody::Given(value) => Ok(value),
            LazyBody::Refused(error) => Err(error),
            LazyBody::Unread(body) => {
                let bytes = crate::read_body(body, max_bytes).await.map_err(bad_request)?;
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                self.headers.map_err(bad_request)?;
                crate::parse_json_body(&bytes).map(Some).map_err(bad_request)
            }
        }
    }
}

impl<T, S> From<Option<T>> for OptionalJsonBody<T, S> {
    fn from(body: Option<T>) -> Self {
        OptionalJsonBody { body: LazyBody::Given(body), headers: Ok(()) }
    }
}

#[async_trait::async_trait]
impl<T, S> dropshot::ExclusiveExtractor for OptionalJsonBody<T, S>
where
    T: schemars::JsonSchema + serde::de::DeserializeOwned + Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    async fn from_request<Context: dropshot::ServerContext>(
        _rqctx: &dropshot::RequestContext<Context>,
        request: hyper::Request<dropshot::Body>,
    ) -> Result<Self, dropshot::HttpError> {
        let headers = crate::check_json_request_headers(request.headers());
        Ok(OptionalJsonBody { body: LazyBody::Unread(request.into_body()), headers })
    }

    fn metadata(
        body_content_type: dropshot::ApiEndpointBodyContentType,
    ) -> dropshot::ExtractorMetadata {
        <dropshot::TypedBody<T> as dropshot::ExclusiveExtractor>::metadata(body_content_type)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Thing {
        name: String,
    }

    fn unread<T>(text: &'static str) -> JsonBody<T> {
        JsonBody(LazyBody::Unread(dropshot::Body::from(text)))
    }

    #[tokio::test]
    async fn a_json_body_is_read_when_asked_within_the_limit() {
        let thing: Thing = unread(r#"{"name":"a"}"#).read(64).await.unwrap();
        assert_eq!(thing, Thing { name: "a".to_string() });
        let error = unread::<Thing>(r#"{"name":"a"}"#).read(4).await.unwrap_err();
        assert_eq!(error.status, dropshot::ErrorStatusCode::BAD_REQUEST);
        assert!(error.message.contains("exceeds the limit of 4 bytes"), "{}", error.message);
        let error = unread::<Thing>(r#"{"name":1}"#).read(64).await.unwrap_err();
        assert!(error.message.starts_with("unable to parse JSON body: name:"), "{}", error.message);
        let given: Thing =
            JsonBody::<Thing>::from(Thing { name: "b".to_string() }).read(0).await.unwrap();
        assert_eq!(given.name, "b");
    }

    #[tokio::test]
    async fn an_optional_body_is_none_when_empty_whatever_the_headers() {
        let optional = |text: &'static str, headers: Result<(), String>| OptionalJsonBody::<Thing> {
            body: LazyBody::Unread(dropshot::Body::from(text)),
            headers,
        };
        let refused = || Err("missing Content-Type header".to_string());
        assert_eq!(optional(" ", refused()).read(64).await.unwrap(), None);
        let error = optional(r#"{"name":"a"}"#, refused()).read(64).await.unwrap_err();
        assert_eq!(error.message, "missing Content-Type header");
        let some = optional(r#"{"name":"a"}"#, Ok(())).read(64).await.unwrap();
        assert_eq!(some, Some(Thing { name: "a".to_string() }));
    }

    #[test]
    fn deferred_parts_given_directly_are_ok() {
        let deferred = Deferred::<u8>::from(3);
        assert_eq!(deferred.into_result().unwrap(), 3);
        let body = DeferredBody::<u8>::from(4);
        assert_eq!(body.into_result().unwrap(), 4);
    }
}
