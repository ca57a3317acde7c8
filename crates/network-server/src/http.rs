//! The implementation of the generated `NetworkApi` trait: for every operation,
//! the checks in the documented order (401 → 403 → 400 → 404 → 412), then the
//! store, then the response with its `ETag`.
//!
//! Request parts arrive as `Deferred`/`JsonBody` values (see `network-api`), so
//! a malformed request is only reported (400) after authentication and
//! authorization succeeded: a malformed request never reveals whether a
//! customer exists, and an anonymous one only learns that it needs a token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use dropshot::{Header, Path, Query, RequestContext};
use network_api::types::CustomerDetails;
use network_api::*;

use crate::auth::{AuthError, Authenticator, Cached, Permission, Principal};
use crate::domain::{
    self, CustomerDraft, CustomerId, ListParams, ListQuery, Precondition, TenantName,
    ValidationError,
};
use crate::error::{malformed, AppError};
use crate::listing::{self, to_wire, ListGate};
use crate::ops::Metrics;
use crate::ratelimit::{FailedAuthLimiter, RateLimiter, RateStatus};
use crate::store::CustomerStore;

/// What every request handler shares.
pub struct AppContext {
    pub store: Arc<dyn CustomerStore>,
    pub auth: Arc<Authenticator>,
    pub limiter: Arc<RateLimiter>,
    /// Failed authentications per client address.
    pub failed_auth: Arc<FailedAuthLimiter>,
    pub metrics: Metrics,
    /// Bodies larger than this are rejected (400), below the contract's own cap.
    pub body_limit: usize,
    /// A body must arrive whole within this time once the handler reads it (408).
    pub body_deadline: std::time::Duration,
    /// Admission of list requests (per tenant and in total).
    pub list_gate: Arc<ListGate>,
    /// Logins of customers' users, recorded as their access timestamps.
    pub access: Arc<crate::access::AccessRecorder>,
    /// The origins allowed to call from a browser (CORS headers on responses).
    pub cors: crate::cors::Cors,
}

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

/// The spec's `maxLength` of `If-Match` (repeated headers joined by `, `).
const MAX_IF_MATCH_CHARS: usize = 1024;

/// `If-Match` as one list: repeated headers are combined (RFC 9110 §5.3), where
/// the header extractor would keep only the last. Longer than the spec allows: 400.
fn if_match_of(rqctx: &RequestContext<AppContext>) -> Result<Option<String>, AppError> {
    let values: Vec<&str> = rqctx
        .request
        .headers()
        .get_all(http::header::IF_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let joined = (!values.is_empty()).then(|| values.join(", "));
    if let Some(value) = &joined {
        if value.len() > MAX_IF_MATCH_CHARS {
            return Err(ValidationError::new(
                "If-Match",
                format!(
                    "must be at most {MAX_IF_MATCH_CHARS} characters long (got {})",
                    value.len()
                ),
            )
            .into());
        }
    }
    Ok(joined)
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
    match tokio::time::timeout(ctx.body_deadline, body.read(ctx.body_limit)).await {
        Ok(parsed) => parsed.map_err(malformed),
        Err(_) => Err(AppError::BodyTimeout(ctx.body_deadline)),
    }
}

fn draft_from(details: CustomerDetails) -> Result<CustomerDraft, ValidationError> {
    let name: String = details.name.into();
    let country: Option<String> = details.country.map(|country| country.to_string());
    let timezone: Option<String> = details.timezone.map(Into::into);
    let properties: Option<BTreeMap<String, String>> =
        details.properties.map(|p| p.0.into_iter().map(|(k, v)| (k, v.into())).collect());
    CustomerDraft::parse(&name, country.as_deref(), timezone.as_deref(), properties)
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

/// Adds the rate-limit and CORS headers to any reply and records the request.
fn finish<T>(
    rqctx: &RequestContext<AppContext>,
    operation: &'static str,
    started: Instant,
    caller: &Caller,
    result: Result<T, AppError>,
) -> Reply<T>
where
    T: SuccessHeaders,
{
    Reply::from(record(rqctx, operation, started, caller, result))
}

/// [`finish`] without the [`Reply`]: the outcome with its headers, recorded.
#[allow(clippy::result_large_err)] // `ApiError` carries a `HeaderMap`
fn record<T>(
    rqctx: &RequestContext<AppContext>,
    operation: &'static str,
    started: Instant,
    caller: &Caller,
    result: Result<T, AppError>,
) -> Result<T, ApiError>
where
    T: SuccessHeaders,
{
    let ctx = rqctx.context();
    let rate_headers = caller.rate.as_ref().map(RateStatus::headers).unwrap_or_default();
    let request_headers = rqctx.request.headers();
    let (reply, status, problem) = match result {
        Ok(mut success) => {
            // A typed success has the rate-limit headers in its headers struct
            // already (see [`Admitted`]); the streamed page gets them here.
            let headers = success.headers_mut();
            for (name, value) in rate_headers {
                insert_header(headers, name, &value);
            }
            ctx.cors.decorate(request_headers, headers);
            (Ok(success), 0, None)
        }
        Err(error) => {
            let problem = error.to_string();
            let mut api_error = ApiError::from(error);
            for (name, value) in rate_headers {
                insert_header(&mut api_error.headers, name, &value);
            }
            ctx.cors.decorate(request_headers, &mut api_error.headers);
            let status = api_error.status.as_u16();
            (Err(api_error), status, Some(problem))
        }
    };
    let status = if status == 0 { success_status(operation) } else { status };
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
    slog::info!(rqctx.log, "request handled";
        "operation" => operation,
        "api_version" => api_version,
        "tenant" => tenant,
        "subject" => subject,
        "status" => status,
        "latency_us" => elapsed.as_micros() as u64,
        "problem" => problem,
    );
    reply
}

/// Every success response has a header map (they all carry documented headers).
trait SuccessHeaders {
    fn headers_mut(&mut self) -> &mut http::HeaderMap;
}

impl<
        T: dropshot::HttpCodedResponse,
        H: schemars::JsonSchema + serde::Serialize + Send + Sync + 'static,
    > SuccessHeaders for dropshot::HttpResponseHeaders<T, H>
{
    fn headers_mut(&mut self) -> &mut http::HeaderMap {
        dropshot::HttpResponseHeaders::headers_mut(self)
    }
}

/// A streamed list page (see `listing`).
struct StreamedPage(http::Response<dropshot::Body>);

impl SuccessHeaders for StreamedPage {
    fn headers_mut(&mut self) -> &mut http::HeaderMap {
        self.0.headers_mut()
    }
}

fn success_status(operation: &str) -> u16 {
    match operation {
        "createCustomer" => 201,
        "deleteCustomer" => 204,
        _ => 200,
    }
}

fn insert_header(headers: &mut http::HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) =
        (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value))
    {
        headers.insert(name, value);
    }
}

impl NetworkApi for NetworkServerImpl {
    type Context = AppContext;

    async fn update_customer(
        rqctx: RequestContext<AppContext>,
        path: Deferred<Path<UpdateCustomerPathParams>>,
        headers: Deferred<Header<UpdateCustomerHeaderParams>>,
        body: JsonBody<CustomerDetails>,
    ) -> Result<Reply<UpdateCustomerResponse>, ApiError> {
        let started = Instant::now();
        let mut caller = Caller::default();
        let result = async {
            let principal = admit(
                &rqctx,
                &[Permission::ReadCustomer, Permission::WriteCustomer],
                true,
                &mut caller,
            )?;
            let path = path.into_result().map_err(malformed)?.into_inner();
            check_customer_scope(&principal, &path.customer_id)?;
            let headers = headers
                .into_result()
                .map_err(|error| malformed_headers(&rqctx, error))?
                .into_inner();
            let tenant = tenant_of(&rqctx, &headers.x_servitly_tenant)?;
            let id = CustomerId::parse(&path.customer_id)?;
            let if_match = if_match_of(&rqctx)?;
            let draft = draft_from(read_json(&rqctx, body).await?)?;
            let precondition = Precondition::from_if_match(if_match.as_deref());
            let updated = rqctx.context().store.update(&tenant, &id, &draft, &precondition).await?;
            let etag = updated.version.etag();
            let Admitted { rate_limit, rate_limit_policy, x_request_id } =
                Admitted::of(&rqctx, &caller);
            Ok(UpdateCustomerResponse::new(
                UpdateCustomerSuccess(to_wire(&updated)),
                UpdateCustomerResponseHeaders {
                    e_tag: etag,
                    rate_limit,
                    rate_limit_policy,
                    x_request_id,
                    access_control_allow_origin: None,
                    access_control_expose_headers: None,
                },
            ))
        }
        .await;
        Ok(finish(&rqctx, "updateCustomer", started, &caller, result))
    }

    async fn get_customer(
        rqctx: RequestContext<AppContext>,
        path: Deferred<Path<GetCustomerPathParams>>,
        headers: Deferred<Header<GetCustomerHeaderParams>>,
    ) -> Result<Reply<GetCustomerResponse>, ApiError> {
        let started = Instant::now();
        let mut caller = Caller::default();
        let result = async {
            let principal = admit(&rqctx, &[Permission::ReadCustomer], true, &mut caller)?;
            let path = path.into_result().map_err(malformed)?.into_inner();
            check_customer_scope(&principal, &path.customer_id)?;
            let headers = headers
                .into_result()
                .map_err(|error| malformed_headers(&rqctx, error))?
                .into_inner();
            let tenant = tenant_of(&rqctx, &headers.x_servitly_tenant)?;
            let id = CustomerId::parse(&path.customer_id)?;
            let customer = rqctx
                .context()
                .store
                .get(&tenant, &id)
                .await?
                .ok_or(AppError::Store(crate::store::StoreError::NotFound))?;
            let Admitted { rate_limit, rate_limit_policy, x_request_id } =
                Admitted::of(&rqctx, &caller);
            Ok(GetCustomerResponse::new(
                GetCustomerSuccess(to_wire(&customer)),
                GetCustomerResponseHeaders {
                    e_tag: customer.version.etag(),
                    rate_limit,
                    rate_limit_policy,
                    x_request_id,
                    access_control_allow_origin: None,
                    access_control_expose_headers: None,
                },
            ))
        }
        .await;
        Ok(finish(&rqctx, "getCustomer", started, &caller, result))
    }

    async fn create_customer(
        rqctx: RequestContext<AppContext>,
        headers: Deferred<Header<CreateCustomerHeaderParams>>,
        body: JsonBody<CustomerDetails>,
    ) -> Result<Reply<CreateCustomerResponse>, ApiError> {
        let started = Instant::now();
        let mut caller = Caller::default();
        let result = async {
            admit(&rqctx, &[Permission::WriteCustomer], false, &mut caller)?;
            let headers = headers
                .into_result()
                .map_err(|error| malformed_headers(&rqctx, error))?
                .into_inner();
            let tenant = tenant_of(&rqctx, &headers.x_servitly_tenant)?;
            let draft = draft_from(read_json(&rqctx, body).await?)?;
            let id = domain::new_customer_id();
            let created =
                rqctx.context().store.create(&tenant, &id, &draft, domain::now_millis()).await?;
            let Admitted { rate_limit, rate_limit_policy, x_request_id } =
                Admitted::of(&rqctx, &caller);
            Ok(CreateCustomerResponse::new(
                CreateCustomerSuccess(to_wire(&created)),
                CreateCustomerResponseHeaders {
                    e_tag: created.version.etag(),
                    location: format!("/network/customers/{}", created.id.as_str()),
                    rate_limit,
                    rate_limit_policy,
                    x_request_id,
                    access_control_allow_origin: None,
                    access_control_expose_headers: None,
                },
            ))
        }
        .await;
        Ok(finish(&rqctx, "createCustomer", started, &caller, result))
    }

    async fn delete_customer(
        rqctx: RequestContext<AppContext>,
        path: Deferred<Path<DeleteCustomerPathParams>>,
        headers: Deferred<Header<DeleteCustomerHeaderParams>>,
    ) -> Result<Reply<DeleteCustomerResponse>, ApiError> {
        let started = Instant::now();
        let mut caller = Caller::default();
        let result = async {
            let principal = admit(&rqctx, &[Permission::DeleteCustomer], true, &mut caller)?;
            let path = path.into_result().map_err(malformed)?.into_inner();
            check_customer_scope(&principal, &path.customer_id)?;
            let headers = headers
                .into_result()
                .map_err(|error| malformed_headers(&rqctx, error))?
                .into_inner();
            let tenant = tenant_of(&rqctx, &headers.x_servitly_tenant)?;
            let id = CustomerId::parse(&path.customer_id)?;
            let precondition = Precondition::from_if_match(if_match_of(&rqctx)?.as_deref());
            rqctx.context().store.delete(&tenant, &id, &precondition).await?;
            let Admitted { rate_limit, rate_limit_policy, x_request_id } =
                Admitted::of(&rqctx, &caller);
            Ok(DeleteCustomerResponse::new(
                DeleteCustomerSuccess,
                DeleteCustomerResponseHeaders {
                    rate_limit,
                    rate_limit_policy,
                    x_request_id,
                    access_control_allow_origin: None,
                    access_control_expose_headers: None,
                },
            ))
        }
        .await;
        Ok(finish(&rqctx, "deleteCustomer", started, &caller, result))
    }

    async fn get_customers(
        rqctx: RequestContext<AppContext>,
        query: Deferred<Query<GetCustomersQueryParams>>,
        headers: Deferred<Header<GetCustomersHeaderParams>>,
    ) -> Result<Reply<GetCustomersResponse>, ApiError> {
        let started = Instant::now();
        let mut caller = Caller::default();
        let result = async {
            admit(&rqctx, &[Permission::ReadAllCustomers], false, &mut caller)?;
            let headers = headers
                .into_result()
                .map_err(|error| malformed_headers(&rqctx, error))?
                .into_inner();
            let tenant = tenant_of(&rqctx, &headers.x_servitly_tenant)?;
            let query = list_query(query.into_result().map_err(malformed)?.into_inner())?;
            let ctx = rqctx.context();
            let permit = ctx.list_gate.admit(&tenant).await.map_err(AppError::ListBusy)?;
            let ids = ctx.store.list_ids(&tenant, &query).await?;
            Ok(StreamedPage(listing::streamed_page(
                ctx.store.clone(),
                tenant,
                query,
                ids,
                permit,
                rqctx.log.clone(),
            )))
        }
        .await;
        Ok(match record(&rqctx, "getCustomers", started, &caller, result) {
            Ok(StreamedPage(response)) => Reply::streamed(response),
            Err(error) => Reply::err(error),
        })
    }
}

/// Validates the list parameters (the rules live in [`ListQuery::parse`]).
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
