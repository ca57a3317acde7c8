//! The generated trait and the generated client work together: a small
//! in-memory implementation of `NetworkApi` (no more: the real server is
//! `network-server`) served on 127.0.0.1:0 and driven through the client.

// `ApiError` carries a header map; boxing it would only obscure this small test.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use dropshot::{ErrorStatusCode, RequestContext};
use network_api::types::{Customer, CustomerDetails, CustomerPage};
use network_api::*;

/// Customers by id (the tenant header is required but not interpreted here),
/// and the last list query received, for the test to inspect.
#[derive(Default)]
struct Store(Mutex<BTreeMap<String, Customer>>, Mutex<Option<GetCustomersQueryParams>>);

enum InMemory {}

/// Sample values of the headers every success carries.
const RATE_LIMIT: &str = "\"subject\";r=599;t=1";
const RATE_LIMIT_POLICY: &str = "\"tenant\";q=2000;w=60, \"subject\";q=600;w=60";

fn customer_from(id: String, details: CustomerDetails) -> Customer {
    let name: String = details.name.into();
    Customer {
        id: id.parse().expect("a valid id"),
        name: name.parse().expect("same constraints"),
        country: details.country.map(|c| c.to_string().parse().expect("same constraints")),
        timezone: details.timezone.map(|t| String::from(t).parse().expect("same constraints")),
        properties: details
            .properties
            .unwrap_or_else(|| network_api::types::Properties(BTreeMap::new())),
        creation_timestamp: details.creation_timestamp.unwrap_or(0),
        first_access_timestamp: details.first_access_timestamp,
        last_access_timestamp: details.last_access_timestamp,
    }
}

fn not_found() -> ApiError {
    ApiError::new(ErrorStatusCode::NOT_FOUND, "Resource not found")
}

impl NetworkApi for InMemory {
    type Context = Store;

    async fn create_customer(
        rqctx: RequestContext<Store>,
        headers: Deferred<dropshot::Header<CreateCustomerHeaderParams>>,
        body: JsonBody<CustomerDetails>,
    ) -> Result<Reply<CreateCustomerResponse>, ApiError> {
        let details = body.read(262_144).await;
        let reply = (|| {
            headers.into_result()?;
            let mut store = rqctx.context().0.lock().unwrap();
            let customer = customer_from(format!("c{}", store.len() + 1), details?);
            store.insert(customer.id.to_string(), customer.clone());
            let headers = CreateCustomerResponseHeaders {
                e_tag: "\"1\"".to_string(),
                location: format!("/network/customers/{}", customer.id.as_str()),
                rate_limit: RATE_LIMIT.into(),
                rate_limit_policy: RATE_LIMIT_POLICY.into(),
                x_request_id: rqctx.request_id.clone(),
                access_control_allow_origin: None,
                access_control_expose_headers: None,
            };
            Ok(CreateCustomerResponse::new(CreateCustomerSuccess(customer), headers))
        })();
        Ok(reply.into())
    }

    async fn get_customer(
        rqctx: RequestContext<Store>,
        path: Deferred<dropshot::Path<GetCustomerPathParams>>,
        _headers: Deferred<dropshot::Header<GetCustomerHeaderParams>>,
    ) -> Result<Reply<GetCustomerResponse>, ApiError> {
        let id = path.into_result()?.into_inner().customer_id;
        let found = rqctx.context().0.lock().unwrap().get(&id).cloned();
        Ok(found
            .map(|c| {
                GetCustomerResponse::new(
                    GetCustomerSuccess(c),
                    GetCustomerResponseHeaders {
                        e_tag: "\"1\"".into(),
                        rate_limit: RATE_LIMIT.into(),
                        rate_limit_policy: RATE_LIMIT_POLICY.into(),
                        x_request_id: rqctx.request_id.clone(),
                        access_control_allow_origin: None,
                        access_control_expose_headers: None,
                    },
                )
            })
            .ok_or_else(not_found)
            .into())
    }

    async fn update_customer(
        rqctx: RequestContext<Store>,
        path: Deferred<dropshot::Path<UpdateCustomerPathParams>>,
        headers: Deferred<dropshot::Header<UpdateCustomerHeaderParams>>,
        body: JsonBody<CustomerDetails>,
    ) -> Result<Reply<UpdateCustomerResponse>, ApiError> {
        let id = path.into_result()?.into_inner().customer_id;
        let headers = headers.into_result()?.into_inner();
        assert_eq!(headers.x_servitly_tenant, "acme", "the client sends the tenant header");
        let details = body.read(262_144).await?;
        let mut store = rqctx.context().0.lock().unwrap();
        let Some(slot) = store.get_mut(&id) else { return Ok(not_found().into()) };
        *slot = customer_from(id, details);
        let headers = UpdateCustomerResponseHeaders {
            e_tag: "\"2\"".into(),
            rate_limit: RATE_LIMIT.into(),
            rate_limit_policy: RATE_LIMIT_POLICY.into(),
            x_request_id: rqctx.request_id.clone(),
            access_control_allow_origin: None,
            access_control_expose_headers: None,
        };
        Ok(Ok(UpdateCustomerResponse::new(UpdateCustomerSuccess(slot.clone()), headers)).into())
    }

    async fn delete_customer(
        rqctx: RequestContext<Store>,
        path: Deferred<dropshot::Path<DeleteCustomerPathParams>>,
        _headers: Deferred<dropshot::Header<DeleteCustomerHeaderParams>>,
    ) -> Result<Reply<DeleteCustomerResponse>, ApiError> {
        let id = path.into_result()?.into_inner().customer_id;
        let removed = rqctx.context().0.lock().unwrap().remove(&id);
        let headers = DeleteCustomerResponseHeaders {
            rate_limit: RATE_LIMIT.into(),
            rate_limit_policy: RATE_LIMIT_POLICY.into(),
            x_request_id: rqctx.request_id.clone(),
            access_control_allow_origin: None,
            access_control_expose_headers: None,
        };
        Ok(removed
            .map(|_| DeleteCustomerResponse::new(DeleteCustomerSuccess, headers))
            .ok_or_else(not_found)
            .into())
    }

    async fn get_customers(
        rqctx: RequestContext<Store>,
        query: Deferred<dropshot::Query<GetCustomersQueryParams>>,
        _headers: Deferred<dropshot::Header<GetCustomersHeaderParams>>,
    ) -> Result<Reply<GetCustomersResponse>, ApiError> {
        let query = query.into_result()?.into_inner();
        *rqctx.context().1.lock().unwrap() = Some(query.clone());
        let content: Vec<Customer> = rqctx.context().0.lock().unwrap().values().cloned().collect();
        let count = content.len();
        let page = CustomerPage {
            number: query.page.unwrap_or(0),
            size: query.size.unwrap_or(20),
            number_of_elements: count as i32,
            total_elements: count as i64,
            total_pages: 1,
            first: true,
            last: true,
            empty: count == 0,
            content,
        };
        let headers = GetCustomersResponseHeaders {
            rate_limit: RATE_LIMIT.into(),
            rate_limit_policy: RATE_LIMIT_POLICY.into(),
            x_request_id: rqctx.request_id.clone(),
            access_control_allow_origin: None,
            access_control_expose_headers: None,
        };
        Ok(Ok(GetCustomersResponse::new(GetCustomersSuccess(page), headers)).into())
    }
}

struct Running {
    server: dropshot::HttpServer<Store>,
    client: network_client::Client,
}

fn start() -> Running {
    let api = network_api_mod::api_description::<InMemory>().expect("the implementation registers");
    let config = dropshot::ConfigDropshot {
        bind_address: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let server = dropshot::ServerBuilder::new(api, Store::default(), log)
        .config(config)
        .start()
        .expect("starts");
    let client =
        network_client::new_authenticated(&format!("http://{}", server.local_addr()), "test-token")
            .expect("client builds");
    Running { server, client }
}

#[tokio::test]
async fn update_customer_round_trips_every_field() {
    let Running { server, client } = start();
    let created = client
        .create_customer()
        .x_servitly_tenant("acme")
        .body(network_client::types::CustomerDetails::builder().name("Acme Inc."))
        .send()
        .await
        .expect("create succeeds");
    assert_eq!(created.status(), 201);
    let id = created.into_inner().id;

    let properties: BTreeMap<String, String> =
        [("foo".to_string(), "abc".to_string()), ("bar".to_string(), "123".to_string())].into();
    let sent = network_client::types::CustomerDetails::builder()
        .name("Acme Rome")
        .country(Some("IT".parse().unwrap()))
        .timezone(Some("Europe/Rome".parse().unwrap()))
        .properties(Some(network_client::types::Properties(
            properties.iter().map(|(k, v)| (k.clone(), v.parse().unwrap())).collect(),
        )))
        .creation_timestamp(Some(i64::MAX))
        .first_access_timestamp(Some(i64::MIN))
        .last_access_timestamp(Some(0));
    let response = client
        .update_customer()
        .x_servitly_tenant("acme")
        .customer_id(id.as_str())
        .if_match("\"1\"")
        .body(sent)
        .send()
        .await
        .expect("update succeeds");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let customer = response.into_inner();
    assert_eq!(customer.id, id);
    assert_eq!(customer.name.as_str(), "Acme Rome");
    assert_eq!(customer.country.map(|c| c.to_string()).as_deref(), Some("IT"));
    assert_eq!(customer.timezone.as_deref().map(String::as_str), Some("Europe/Rome"));
    let received: BTreeMap<String, String> =
        customer.properties.0.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
    assert_eq!(received, properties);
    assert_eq!(customer.creation_timestamp, i64::MAX);
    assert_eq!(customer.first_access_timestamp, Some(i64::MIN));
    assert_eq!(customer.last_access_timestamp, Some(0));
    server.close().await.unwrap();
}

#[tokio::test]
async fn a_404_message_reaches_the_caller_through_the_client_error() {
    let Running { server, client } = start();
    let error = client
        .update_customer()
        .x_servitly_tenant("acme")
        .customer_id("missing")
        .body(network_client::types::CustomerDetails::builder().name("Nobody"))
        .send()
        .await
        .expect_err("an unknown customer is an error");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
    match error {
        network_client::Error::ErrorResponse(response) => {
            assert_eq!(response.status(), 404);
            assert_eq!(response.into_inner().message.as_str(), "Resource not found");
        }
        other => panic!("expected an error response, got {other:?}"),
    }
    server.close().await.unwrap();
}

#[tokio::test]
async fn a_malformed_body_is_a_400_with_a_message_and_the_exact_error_shape() {
    let Running { server, client: _ } = start();
    let url = format!("http://{}/network/customers/c1", server.local_addr());
    let response = reqwest::Client::new()
        .put(url)
        .header("X-Servitly-Tenant", "acme")
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    let object = body.as_object().expect("an object");
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["message"],
        "the wire body is exactly {{message}}: {body}"
    );
    assert!(object["message"].as_str().unwrap().contains("JSON"), "{body}");
    server.close().await.unwrap();
}

#[tokio::test]
async fn query_arrays_and_list_parameters_reach_the_implementation() {
    let Running { server, client } = start();
    let page = client
        .get_customers()
        .x_servitly_tenant("acme")
        .page(2)
        .size(5)
        .sort(vec!["name,ASC".parse().unwrap(), "country,DESC".parse().unwrap()])
        .send()
        .await
        .expect("list succeeds")
        .into_inner();
    assert_eq!((page.number, page.size), (2, 5));
    let received = server.app_private().1.lock().unwrap().clone().expect("the query arrived");
    assert_eq!(received.sort, Some(vec!["name,ASC".to_string(), "country,DESC".to_string()]));
    assert_eq!(received.search_field, None);
    server.close().await.unwrap();
}
