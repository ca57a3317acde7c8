//! The implementation of the generated `NetworkApi` trait: for every operation,
//! the checks in the documented order (401 → 403 → 400 → 404 → 412), then the
//! store, then the response with its `ETag`.
//!
//! Request parts arrive as `Deferred`/`JsonBody` values (see `network-api`), so
//! a malformed request is only reported (400) after authentication and
//! authorization succeeded: a malformed request never reveals whether a
//! customer exists, and an anonymous one only learns that it needs a token.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use dropshot::{Header, Path, Query, RequestContext};
use futures::FutureExt;
use network_api::types::CustomerDetails;
use network_api::*;

use crate::auth::{AuthError, Cached, Permission, Principal};
use crate::context::AppContext;
use crate::domain::{
    self, Customer, CustomerId, ListParams, ListQuery, Precondition, TenantName, ValidationError,
};
use crate::error::{malformed, AppError};
use crate::listing;
use crate::ratelimit::RateStatus;
use crate::store::{self, StoreError, Write};
use crate::telemetry::RequestLine;
use crate::wire::{draft_from, to_wire};

/// The server's implementation of the contract.
pub enum NetworkServerImpl {}

/// Who is calling, as far as admission got (for the log line and the rate-limit headers).
#[derive(Default)]
struct Caller {
    principal: Option<Arc<Principal>>,
    rate: Option<RateStatus>,
}

/// Authentication (401), then rate limiting (429), then the tenant and
/// permission checks (403). The tenant header is read raw here: its absence is
/// a 400, reported later with the other malformed parts. Fills `caller` as it goes.
fn admit(
    rqctx: &RequestContext<AppContext>,
    required: &[Permission],
    customer_scoped_ok: bool,
    caller: &mut Caller,
) -> Result<Arc<Principal>, AppError> {
    let ctx = rqctx.context();
    let headers = rqctx.request.headers();
    // Two Authorization headers are ambiguous (a proxy may pick the other one).
    let mut authorizations = headers.get_all(http::header::AUTHORIZATION).iter();
    let authorization = authorizations
        .next()
        .map(|value| value.to_str().map_err(|_| AuthError::MalformedHeader))
        .transpose()?;
    if authorizations.next().is_some() {
        return Err(AuthError::MultipleAuthorizationHeaders.into());
    }
    // A cached token costs a hash; a new one a signature check, which a
    // client address that keeps failing is refused before it gets (429).
    let address = rqctx.request.remote_addr().ip();
    // A request without any token is not a failed attempt (nothing to guess
    // with, nothing to verify); every presented credential that fails is.
    let cached = ctx.auth.authenticate_cached(authorization).inspect_err(|error| {
        if !matches!(error, AuthError::MissingToken) {
            ctx.failed_auth.record_failure(address);
        }
    })?;
    let principal = match cached {
        Cached::Hit(principal) => principal,
        Cached::Miss(miss) => {
            ctx.failed_auth.admit(address).map_err(AppError::RateLimited)?;
            let verified = ctx.auth.authenticate_verified(miss).inspect_err(|_| {
                ctx.failed_auth.record_failure(address);
            })?;
            // A token seen for the first time: a login (issue 13), queued.
            ctx.access.record(&verified);
            verified
        }
    };
    caller.principal = Some(principal.clone());
    let rate =
        ctx.limiter.check(&principal.tenant, &principal.subject).map_err(AppError::RateLimited)?;
    caller.rate = Some(rate);
    // Every tenant header must name the token's tenant: the header extractor
    // keeps the last one, so checking only the first would let a token of one
    // tenant act on another (a repeated header is then a 400, in `tenant_of`).
    for tenant in headers.get_all(TENANT_HEADER) {
        if tenant.as_bytes() != principal.tenant.as_bytes() {
            return Err(AppError::Forbidden(
                "the token does not grant access to this tenant".into(),
            ));
        }
    }
    if let Some(missing) = required.iter().find(|permission| !principal.has(**permission)) {
        return Err(AppError::Forbidden(format!("missing permission {}", missing.as_str())));
    }
    if principal.customer_id.is_some() && !customer_scoped_ok {
        return Err(AppError::Forbidden(
            "a customer-scoped token cannot use this operation".into(),
        ));
    }
    Ok(principal)
}

/// 403 when a customer-scoped token addresses another customer.
fn check_customer_scope(principal: &Principal, customer_id: &str) -> Result<(), AppError> {
    match &principal.customer_id {
        Some(own) if own != customer_id => {
            Err(AppError::Forbidden("the token is scoped to another customer".into()))
        }
        _ => Ok(()),
    }
}

const TENANT_HEADER: &str = "x-servitly-tenant";

/// The tenant named by the header (already checked against the token by
/// `admit`), which must be sent once.
fn tenant_of(
    rqctx: &RequestContext<AppContext>,
    header_tenant: &str,
) -> Result<TenantName, AppError> {
    let count = rqctx.request.headers().get_all(TENANT_HEADER).iter().count();
    if count > 1 {
        return Err(ValidationError::new(
            "X-Servitly-Tenant",
            format!("must be sent once (got {count} headers)"),
        )
        .into());
    }
    Ok(TenantName::parse(header_tenant)?)
}

/// A 400 from the header extractor. Its message for a value that is not
/// visible ASCII does not say which header (dropshot converts every header
/// of the request), so name it here.
fn malformed_headers(rqctx: &RequestContext<AppContext>, error: ApiError) -> AppError {
    let offending = rqctx.request.headers().iter().find(|(_, value)| value.to_str().is_err());
    match offending {
        Some((name, _)) => AppError::Malformed(format!(
            "header `{name}` has a value that is not visible ASCII text"
        )),
        None => malformed(error),
    }
}

/// Reads the JSON body the handler asked for, within the body limit and the
/// body deadline: only now, after admission, is anything of it read.
async fn read_json<T: serde::de::DeserializeOwned>(
    rqctx: &RequestContext<AppContext>,
    body: JsonBody<T>,
) -> Result<T, AppError> {
    let ctx = rqctx.context();
    let mut read = std::pin::pin!(body.read(ctx.body_limit));
    // A small body usually came with the headers: read it at once, and only
    // arm the deadline's timer (a timer-wheel entry per request) if it did not.
    if let Some(parsed) = read.as_mut().now_or_never() {
        return parsed.map_err(malformed);
    }
    match tokio::time::timeout(ctx.body_deadline, read).await {
        Ok(parsed) => parsed.map_err(malformed),
        Err(_) => Err(AppError::BodyTimeout(ctx.body_deadline)),
    }
}

/// The headers every success response carries (documented on each 2xx):
/// the state of the rate limit that admitted the request and the request id
/// (which dropshot also sets, to the same value).
struct Admitted {
    rate_limit: String,
    rate_limit_policy: String,
    x_request_id: String,
}

impl Admitted {
    /// Only called once `admit` succeeded, so the rate status is known.
    fn of(rqctx: &RequestContext<AppContext>, caller: &Caller) -> Admitted {
        let rate = caller.rate.as_ref().expect("an admitted request has a rate status");
        Admitted {
            rate_limit: rate.rate_limit(),
            rate_limit_policy: rate.policy.clone(),
            x_request_id: rqctx.request_id.clone(),
        }
    }
}

/// A generated success headers struct: the operation's own fields, then the
/// [`Admitted`] ones; the CORS fields stay empty (`record` sets them).
macro_rules! success_headers {
    ($type:ident { $($field:ident: $value:expr),* $(,)? }, $admitted:expr) => {{
        let Admitted { rate_limit, rate_limit_policy, x_request_id } = $admitted;
        $type {
            $($field: $value,)*
            rate_limit,
            rate_limit_policy,
            x_request_id,
            access_control_allow_origin: None,
            access_control_expose_headers: None,
        }
    }};
}

/// The outcome with its rate-limit and CORS headers, recorded (log line and metrics).
#[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
fn record<T>(
    rqctx: &RequestContext<AppContext>,
    operation: &'static str,
    started: Instant,
    caller: &Caller,
    result: Result<T, AppError>,
) -> Result<T, ApiError>
where
    T: Success,
{
    let ctx = rqctx.context();
    let rate_headers = || caller.rate.as_ref().map(RateStatus::headers).unwrap_or_default();
    let request_headers = rqctx.request.headers();
    let (reply, status, problem) = match result {
        Ok(mut success) => {
            // A typed success has the rate-limit headers in its headers struct
            // already (see [`Admitted`]); the streamed page gets them here.
            let headers = success.headers();
            if !T::TYPED_HEADERS {
                for (name, value) in rate_headers() {
                    insert_header(headers, name, &value);
                }
            }
            ctx.cors.decorate(request_headers, headers);
            (Ok(success), T::STATUS.as_u16(), None)
        }
        Err(error) => {
            let problem = error.to_string();
            let mut api_error = ApiError::from(error);
            for (name, value) in rate_headers() {
                insert_header(&mut api_error.headers, name, &value);
            }
            ctx.cors.decorate(request_headers, &mut api_error.headers);
            let status = api_error.status.as_u16();
            (Err(api_error), status, Some(problem))
        }
    };
    let elapsed = started.elapsed();
    ctx.metrics.observe(operation, status, elapsed);
    let (tenant, subject) = caller
        .principal
        .as_ref()
        .map(|principal| (principal.tenant.as_str(), principal.subject.as_str()))
        .unwrap_or(("", ""));
    // The API version the client was generated for (progenitor sends it on
    // every request); at most 64 characters of it, empty when absent.
    let api_version = rqctx
        .request
        .headers()
        .get("api-version")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.get(..64).unwrap_or(value))
        .unwrap_or("");
    let line = RequestLine { operation, api_version, tenant, subject, status, elapsed, problem };
    line.log(&rqctx.log);
    reply
}

/// A handler's success: the status the generated type declares (for the log
/// line and the metrics), its header map (every success carries documented
/// headers: rate limit, request id, CORS), and the reply it becomes.
trait Success {
    type Reply;
    const STATUS: http::StatusCode;
    /// Whether its headers struct carries the [`Admitted`] headers.
    const TYPED_HEADERS: bool;
    fn headers(&mut self) -> &mut http::HeaderMap;
    fn into_reply(self) -> Reply<Self::Reply>;
}

impl<T, H> Success for dropshot::HttpResponseHeaders<T, H>
where
    T: dropshot::HttpCodedResponse,
    H: schemars::JsonSchema + serde::Serialize + Send + Sync + 'static,
{
    type Reply = Self;
    const STATUS: http::StatusCode = T::STATUS_CODE;
    const TYPED_HEADERS: bool = true;
    fn headers(&mut self) -> &mut http::HeaderMap {
        self.headers_mut()
    }
    fn into_reply(self) -> Reply<Self> {
        Reply::ok(self)
    }
}

/// A streamed list page (see `listing`): the generated page type's status,
/// the response's own headers.
struct StreamedPage(http::Response<dropshot::Body>);

impl Success for StreamedPage {
    type Reply = GetCustomersResponse;
    const STATUS: http::StatusCode =
        <GetCustomersSuccess as dropshot::HttpCodedResponse>::STATUS_CODE;
    const TYPED_HEADERS: bool = false;
    fn headers(&mut self) -> &mut http::HeaderMap {
        self.0.headers_mut()
    }
    fn into_reply(self) -> Reply<GetCustomersResponse> {
        Reply::streamed(self.0)
    }
}

fn insert_header(headers: &mut http::HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) =
        (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value))
    {
        headers.insert(name, value);
    }
}

/// What an operation asks of admission, and its name in logs and metrics.
struct Operation {
    name: &'static str,
    required: &'static [Permission],
    /// Whether a customer-scoped token may use it (for its own customer).
    customer_scoped_ok: bool,
}

impl Operation {
    const fn new(name: &'static str, required: &'static [Permission], scoped_ok: bool) -> Self {
        Operation { name, required, customer_scoped_ok: scoped_ok }
    }
}

use Permission::{DeleteCustomer, ReadAllCustomers, ReadCustomer, WriteCustomer};
const UPDATE_CUSTOMER: Operation =
    Operation::new("updateCustomer", &[ReadCustomer, WriteCustomer], true);
const GET_CUSTOMER: Operation = Operation::new("getCustomer", &[ReadCustomer], true);
const CREATE_CUSTOMER: Operation = Operation::new("createCustomer", &[WriteCustomer], false);
const DELETE_CUSTOMER: Operation = Operation::new("deleteCustomer", &[DeleteCustomer], true);
const GET_CUSTOMERS: Operation = Operation::new("getCustomers", &[ReadAllCustomers], false);

/// The steps every handler shares (in the spirit of omicron's
/// `instrument_dropshot_handler`): start the timer, admit the caller (401,
/// 429, 403), run the operation's own `work`, then [`record`] the outcome
/// (log line, metrics, rate-limit and CORS headers) with the success status
/// the generated type declares. `work` gets the [`Admitted`] headers for its
/// typed headers struct.
async fn handle<'a, T, F, Fut>(
    rqctx: &'a RequestContext<AppContext>,
    operation: &Operation,
    work: F,
) -> Result<Reply<T::Reply>, ApiError>
where
    T: Success,
    F: FnOnce(&'a RequestContext<AppContext>, Arc<Principal>, Admitted) -> Fut,
    Fut: Future<Output = Result<T, AppError>> + 'a,
{
    let started = Instant::now();
    let mut caller = Caller::default();
    let admitted = admit(rqctx, operation.required, operation.customer_scoped_ok, &mut caller);
    let result = match admitted {
        Ok(principal) => work(rqctx, principal, Admitted::of(rqctx, &caller)).await,
        Err(error) => Err(error),
    };
    Ok(match record(rqctx, operation.name, started, &caller, result) {
        Ok(success) => success.into_reply(),
        Err(error) => Reply::err(error),
    })
}

/// The tenant and the customer a request addresses, in the check order: the
/// path, then the customer scope of the token (403, before any 400 of the
/// other parts), then the headers and the tenant, then the id.
fn addressed<P: CustomerPath, H: TenantHeaders>(
    rqctx: &RequestContext<AppContext>,
    principal: &Principal,
    path: Deferred<Path<P>>,
    headers: Deferred<Header<H>>,
) -> Result<(TenantName, CustomerId), AppError> {
    let path = path.into_result().map_err(malformed)?.into_inner();
    check_customer_scope(principal, path.customer_id())?;
    let tenant = tenant_from(rqctx, headers)?;
    Ok((tenant, CustomerId::parse(path.customer_id())?))
}

/// The tenant of a request's headers (a 400 names a malformed header).
fn tenant_from<H: TenantHeaders>(
    rqctx: &RequestContext<AppContext>,
    headers: Deferred<Header<H>>,
) -> Result<TenantName, AppError> {
    let headers =
        headers.into_result().map_err(|error| malformed_headers(rqctx, error))?.into_inner();
    tenant_of(rqctx, headers.tenant())
}

/// The spec's `maxLength` of `If-Match` (repeated headers joined by `, `).
const MAX_IF_MATCH_CHARS: usize = 1024;

/// The request's `If-Match` (every header of that name, as one list, RFC 9110
/// §5.3). Longer, joined, than the spec allows: 400.
fn precondition_of(rqctx: &RequestContext<AppContext>) -> Result<Precondition, AppError> {
    let values: Vec<&str> = rqctx
        .request
        .headers()
        .get_all(http::header::IF_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let length =
        values.iter().map(|value| value.len()).sum::<usize>() + 2 * values.len().saturating_sub(1);
    if length > MAX_IF_MATCH_CHARS {
        return Err(ValidationError::new(
            "If-Match",
            format!("must be at most {MAX_IF_MATCH_CHARS} characters long (got {length})"),
        )
        .into());
    }
    Ok(Precondition::from_if_match(values))
}

/// A customer in the body, its version as the `ETag` among the generated
/// success headers (with the others the operation sends, named after the
/// variables holding them) and the admitted request's rate-limit and
/// request-id headers.
macro_rules! etagged {
    ($customer:expr, $success:ident, $headers:ident { $($field:ident),* }, $admitted:expr) => {{
        // By value: the customer's strings move into the wire type.
        let customer: Customer = $customer;
        let e_tag = customer.version.etag();
        let headers = success_headers!($headers { e_tag: e_tag, $($field: $field),* }, $admitted);
        dropshot::HttpResponseHeaders::new($success(to_wire(customer)), headers)
    }};
}

/// The generated path parameters that name a customer.
trait CustomerPath: serde::de::DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static {
    fn customer_id(&self) -> &str;
}

/// The generated header parameters (every operation takes the tenant header).
trait TenantHeaders:
    serde::de::DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static
{
    fn tenant(&self) -> &str;
}

/// Which field of each generated parameter type holds what the handlers need.
macro_rules! parameters {
    ($($type:ty: $trait:ident::$method:ident => $field:ident),* $(,)?) => {$(
        impl $trait for $type {
            fn $method(&self) -> &str {
                &self.$field
            }
        }
    )*};
}

parameters!(
    UpdateCustomerPathParams: CustomerPath::customer_id => customer_id,
    GetCustomerPathParams: CustomerPath::customer_id => customer_id,
    DeleteCustomerPathParams: CustomerPath::customer_id => customer_id,
    UpdateCustomerHeaderParams: TenantHeaders::tenant => x_servitly_tenant,
    GetCustomerHeaderParams: TenantHeaders::tenant => x_servitly_tenant,
    CreateCustomerHeaderParams: TenantHeaders::tenant => x_servitly_tenant,
    DeleteCustomerHeaderParams: TenantHeaders::tenant => x_servitly_tenant,
    GetCustomersHeaderParams: TenantHeaders::tenant => x_servitly_tenant,
);

/// Each handler does only its operation's work; [`handle`] does the rest.
impl NetworkApi for NetworkServerImpl {
    type Context = AppContext;

    async fn get_customer(
        rqctx: RequestContext<Self::Context>,
        path: Deferred<Path<GetCustomerPathParams>>,
        headers: Deferred<Header<GetCustomerHeaderParams>>,
    ) -> Result<Reply<GetCustomerResponse>, ApiError> {
        handle(&rqctx, &GET_CUSTOMER, |rqctx, principal, admitted| async move {
            let (tenant, id) = addressed(rqctx, &principal, path, headers)?;
            let found = rqctx.context().store.get(&tenant, &id).await?;
            let customer = found.ok_or(AppError::Store(StoreError::NotFound))?;
            Ok(etagged!(customer, GetCustomerSuccess, GetCustomerResponseHeaders {}, admitted))
        })
        .await
    }

    async fn update_customer(
        rqctx: RequestContext<AppContext>,
        path: Deferred<Path<UpdateCustomerPathParams>>,
        headers: Deferred<Header<UpdateCustomerHeaderParams>>,
        body: JsonBody<CustomerDetails>,
    ) -> Result<Reply<UpdateCustomerResponse>, ApiError> {
        handle(&rqctx, &UPDATE_CUSTOMER, |rqctx, principal, admitted| async move {
            let (tenant, id) = addressed(rqctx, &principal, path, headers)?;
            let precondition = precondition_of(rqctx)?;
            let draft = draft_from(read_json(rqctx, body).await?)?;
            // The draft moves into the write (no copy of its properties).
            let write = Write::Update { id, details: draft, precondition };
            let updated = store::written(rqctx.context().store.write(&tenant, write).await?)?;
            Ok(etagged!(updated, UpdateCustomerSuccess, UpdateCustomerResponseHeaders {}, admitted))
        })
        .await
    }

    async fn create_customer(
        rqctx: RequestContext<AppContext>,
        headers: Deferred<Header<CreateCustomerHeaderParams>>,
        body: JsonBody<CustomerDetails>,
    ) -> Result<Reply<CreateCustomerResponse>, ApiError> {
        handle(&rqctx, &CREATE_CUSTOMER, |rqctx, _, admitted| async move {
            let tenant = tenant_from(rqctx, headers)?;
            let draft = draft_from(read_json(rqctx, body).await?)?;
            let (id, now) = (domain::new_customer_id(), domain::now_millis());
            let write = Write::Create { id, details: draft, creation_timestamp: now };
            let created = store::written(rqctx.context().store.write(&tenant, write).await?)?;
            let location = format!("/network/customers/{}", created.id.as_str());
            Ok(etagged!(
                created,
                CreateCustomerSuccess,
                CreateCustomerResponseHeaders { location },
                admitted
            ))
        })
        .await
    }

    async fn delete_customer(
        rqctx: RequestContext<AppContext>,
        path: Deferred<Path<DeleteCustomerPathParams>>,
        headers: Deferred<Header<DeleteCustomerHeaderParams>>,
    ) -> Result<Reply<DeleteCustomerResponse>, ApiError> {
        handle(&rqctx, &DELETE_CUSTOMER, |rqctx, principal, admitted| async move {
            let (tenant, id) = addressed(rqctx, &principal, path, headers)?;
            let precondition = precondition_of(rqctx)?;
            rqctx.context().store.delete(&tenant, &id, &precondition).await?;
            Ok(DeleteCustomerResponse::new(
                DeleteCustomerSuccess,
                success_headers!(DeleteCustomerResponseHeaders {}, admitted),
            ))
        })
        .await
    }

    async fn get_customers(
        rqctx: RequestContext<Self::Context>,
        query: Deferred<Query<GetCustomersQueryParams>>,
        headers: Deferred<Header<GetCustomersHeaderParams>>,
    ) -> Result<Reply<GetCustomersResponse>, ApiError> {
        let query = query.into_result();
        handle(&rqctx, &GET_CUSTOMERS, |rqctx, _, _| async move {
            let tenant = tenant_from(rqctx, headers)?;
            let query = list_query(query.map_err(malformed)?.into_inner())?;
            let ctx = rqctx.context();
            let permit = ctx.list_gate.admit(&tenant).await.map_err(AppError::ListBusy)?;
            let ids = ctx.store.list_ids(&tenant, &query).await?;
            let log = rqctx.log.clone();
            let page = listing::streamed_page(ctx.store.clone(), tenant, query, ids, permit, log);
            Ok(StreamedPage(page))
        })
        .await
    }
}

/// The list parameters as [`ListQuery::parse`] takes them (every list rule lives there).
fn list_query(params: GetCustomersQueryParams) -> Result<ListQuery, AppError> {
    let sort = params.sort.unwrap_or_default();
    Ok(ListQuery::parse(ListParams {
        page: params.page,
        size: params.size,
        sort: &sort,
        search_text: params.search_text.as_deref(),
        name: params.name.as_deref(),
        country: params.country.as_deref(),
    })?)
}
