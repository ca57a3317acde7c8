//! Bare dropshot: the generated `NetworkApi` trait served by dropshot with an
//! in-memory map and nothing else (no auth, validation beyond what the
//! generated types do, storage or logging): the limit of the framework and
//! the generated code, which the real server is compared with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use dropshot::{
    ConfigDropshot, ErrorStatusCode, Header, Path, Query, RequestContext, ServerBuilder,
};
use network_api::types::{Customer, CustomerDetails, CustomerPage, Properties};
use network_api::*;

use crate::seed::customer_id;

/// The map, keyed by customer id; the version is the ETag.
pub struct BareContext {
    customers: Mutex<HashMap<String, (Customer, u64)>>,
}

/// The trait implementation.
pub enum BareApi {}

fn not_found() -> ApiError {
    ApiError::new(ErrorStatusCode::NOT_FOUND, "Resource not found")
}

/// The wire `Customer` with `details` applied (the generated newtypes
/// convert through their string form).
#[allow(clippy::result_large_err)] // ApiError is the generated trait's error type.
fn apply(customer: &mut Customer, details: CustomerDetails) -> Result<(), ApiError> {
    let invalid = |_| ApiError::new(ErrorStatusCode::BAD_REQUEST, "invalid value");
    customer.name = String::from(details.name).parse().map_err(invalid)?;
    customer.country =
        details.country.map(|c| c.to_string().parse()).transpose().map_err(invalid)?;
    customer.timezone =
        details.timezone.map(|t| String::from(t).parse()).transpose().map_err(invalid)?;
    customer.properties = details.properties.unwrap_or_else(|| Properties(Default::default()));
    Ok(())
}

impl NetworkApi for BareApi {
    type Context = BareContext;

    async fn create_customer(
        rqctx: RequestContext<BareContext>,
        _headers: Deferred<Header<CreateCustomerHeaderParams>>,
        body: JsonBody<CustomerDetails>,
    ) -> Result<Reply<CreateCustomerResponse>, ApiError> {
        let details = body.read(262_144).await?;
        let mut map = rqctx.context().customers.lock().unwrap_or_else(|p| p.into_inner());
        let id = format!("new{}", map.len());
        let mut customer = blank(&id);
        apply(&mut customer, details)?;
        map.insert(id.clone(), (customer.clone(), 1));
        Ok(Reply::ok(CreateCustomerResponse::new(
            CreateCustomerSuccess(customer),
            CreateCustomerResponseHeaders {
                e_tag: "\"1\"".into(),
                location: format!("/network/customers/{id}"),
                rate_limit: RATE_LIMIT.into(),
                rate_limit_policy: RATE_LIMIT_POLICY.into(),
                x_request_id: rqctx.request_id.clone(),
                access_control_allow_origin: None,
                access_control_expose_headers: None,
            },
        )))
    }

    async fn get_customer(
        rqctx: RequestContext<BareContext>,
        path: Deferred<Path<GetCustomerPathParams>>,
        _headers: Deferred<Header<GetCustomerHeaderParams>>,
    ) -> Result<Reply<GetCustomerResponse>, ApiError> {
        let id = path.into_result()?.into_inner().customer_id;
        let map = rqctx.context().customers.lock().unwrap_or_else(|p| p.into_inner());
        let (customer, version) = map.get(&id).cloned().ok_or_else(not_found)?;
        Ok(Reply::ok(GetCustomerResponse::new(
            GetCustomerSuccess(customer),
            GetCustomerResponseHeaders {
                e_tag: format!("\"{version}\""),
                rate_limit: RATE_LIMIT.into(),
                rate_limit_policy: RATE_LIMIT_POLICY.into(),
                x_request_id: rqctx.request_id.clone(),
                access_control_allow_origin: None,
                access_control_expose_headers: None,
            },
        )))
    }

    async fn update_customer(
        rqctx: RequestContext<BareContext>,
        path: Deferred<Path<UpdateCustomerPathParams>>,
        _headers: Deferred<Header<UpdateCustomerHeaderParams>>,
        body: JsonBody<CustomerDetails>,
    ) -> Result<Reply<UpdateCustomerResponse>, ApiError> {
        let id = path.into_result()?.into_inner().customer_id;
        let details = body.read(262_144).await?;
        let (customer, version) = {
            let mut map = rqctx.context().customers.lock().unwrap_or_else(|p| p.into_inner());
            let (customer, version) = map.get_mut(&id).ok_or_else(not_found)?;
            apply(customer, details)?;
            *version += 1;
            (customer.clone(), *version)
        };
        Ok(Reply::ok(UpdateCustomerResponse::new(
            UpdateCustomerSuccess(customer),
            UpdateCustomerResponseHeaders {
                e_tag: format!("\"{version}\""),
                rate_limit: RATE_LIMIT.into(),
                rate_limit_policy: RATE_LIMIT_POLICY.into(),
                x_request_id: rqctx.request_id.clone(),
                access_control_allow_origin: None,
                access_control_expose_headers: None,
            },
        )))
    }

    async fn delete_customer(
        rqctx: RequestContext<BareContext>,
        path: Deferred<Path<DeleteCustomerPathParams>>,
        _headers: Deferred<Header<DeleteCustomerHeaderParams>>,
    ) -> Result<Reply<DeleteCustomerResponse>, ApiError> {
        let id = path.into_result()?.into_inner().customer_id;
        let mut map = rqctx.context().customers.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&id).ok_or_else(not_found)?;
        Ok(Reply::ok(DeleteCustomerResponse::new(
            DeleteCustomerSuccess,
            DeleteCustomerResponseHeaders {
                rate_limit: RATE_LIMIT.into(),
                rate_limit_policy: RATE_LIMIT_POLICY.into(),
                x_request_id: rqctx.request_id.clone(),
                access_control_allow_origin: None,
                access_control_expose_headers: None,
            },
        )))
    }

    async fn get_customers(
        rqctx: RequestContext<BareContext>,
        _query: Deferred<Query<GetCustomersQueryParams>>,
        _headers: Deferred<Header<GetCustomersHeaderParams>>,
    ) -> Result<Reply<GetCustomersResponse>, ApiError> {
        let map = rqctx.context().customers.lock().unwrap_or_else(|p| p.into_inner());
        let content: Vec<Customer> = map.values().take(20).map(|(c, _)| c.clone()).collect();
        let count = content.len() as i32;
        let headers = GetCustomersResponseHeaders {
            rate_limit: RATE_LIMIT.into(),
            rate_limit_policy: RATE_LIMIT_POLICY.into(),
            x_request_id: rqctx.request_id.clone(),
            access_control_allow_origin: None,
            access_control_expose_headers: None,
        };
        Ok(Reply::ok(GetCustomersResponse::new(
            GetCustomersSuccess(CustomerPage {
                content,
                empty: count == 0,
                first: true,
                last: map.len() <= 20,
                number: 0,
                number_of_elements: count,
                size: 20,
                total_elements: map.len() as i64,
                total_pages: map.len().div_ceil(20) as i32,
            }),
            headers,
        )))
    }
}

/// What the real server's rate-limit headers look like (the bare server has no limiter).
const RATE_LIMIT: &str = "\"subject\";r=599;t=1";
const RATE_LIMIT_POLICY: &str = "\"tenant\";q=2000;w=60, \"subject\";q=600;w=60";

fn blank(id: &str) -> Customer {
    Customer {
        id: id.parse().expect("a valid id"),
        name: "Seed customer".parse().expect("a valid name"),
        country: None,
        timezone: None,
        properties: Properties(Default::default()),
        creation_timestamp: 1_767_225_600_000,
        first_access_timestamp: None,
        last_access_timestamp: None,
    }
}

/// Serves until the process is killed (dropshot's own request log is discarded).
pub async fn serve(
    bind: SocketAddr,
    customers: usize,
    ready_file: &std::path::Path,
) -> anyhow::Result<()> {
    let map = (0..customers)
        .map(|index| {
            let id = customer_id(index, customers);
            (id.clone(), (blank(&id), 1))
        })
        .collect();
    let context = BareContext { customers: Mutex::new(map) };
    let api = network_api_mod::api_description::<BareApi>()
        .map_err(|error| anyhow::anyhow!("the generated API does not register: {error}"))?;
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let config = ConfigDropshot {
        bind_address: bind,
        default_request_body_max_bytes: 262_144,
        ..Default::default()
    };
    let server = ServerBuilder::new(api, context, log)
        .config(config)
        .start()
        .map_err(|error| anyhow::anyhow!("cannot start bare dropshot: {error}"))?;
    network_server::server::write_ready_file(ready_file, server.local_addr())
        .map_err(|error| anyhow::anyhow!(error))?;
    server.await.map_err(|error| anyhow::anyhow!(error))
}
