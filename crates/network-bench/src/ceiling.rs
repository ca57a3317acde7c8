//! The ceiling: the least a server can do for `updateCustomer` over HTTP/1.1
//! and JSON on this machine. hyper, one in-memory map, the same request body
//! parsed and the same response serialized; no auth, validation, storage or
//! logging. Everything the real server measures is compared with this.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

use crate::seed::customer_id;

/// The update body (the fields the contract's `CustomerDetails` has).
#[derive(Deserialize)]
struct Details {
    name: String,
    country: Option<String>,
    timezone: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, String>,
}

/// The response body, shaped like the contract's `Customer`.
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Customer {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<String>,
    properties: BTreeMap<String, String>,
    creation_timestamp: i64,
    #[serde(skip)]
    version: u64,
}

type Map = Arc<Mutex<HashMap<String, Customer>>>;

/// Serves until the process is killed.
pub async fn serve(
    bind: SocketAddr,
    customers: usize,
    ready_file: &std::path::Path,
) -> anyhow::Result<()> {
    let map: Map = Arc::new(Mutex::new(
        (0..customers)
            .map(|index| {
                let id = customer_id(index, customers);
                let customer = Customer {
                    id: id.clone(),
                    name: format!("Seed customer {index}"),
                    country: None,
                    timezone: None,
                    properties: BTreeMap::new(),
                    creation_timestamp: 1_767_225_600_000,
                    version: 1,
                };
                (id, customer)
            })
            .collect(),
    ));
    let listener = tokio::net::TcpListener::bind(bind).await?;
    network_server::server::write_ready_file(ready_file, listener.local_addr()?)
        .map_err(|error| anyhow::anyhow!(error))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let map = map.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(map.clone(), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    map: Map,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let id = request.uri().path().strip_prefix("/network/customers/").map(str::to_string);
    let (Some(id), true) = (id, request.method() == Method::PUT) else {
        return Ok(plain(StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}"));
    };
    let body = request.into_body().collect().await?.to_bytes();
    let details: Details = match serde_json::from_slice(&body) {
        Ok(details) => details,
        Err(_) => return Ok(plain(StatusCode::BAD_REQUEST, "{\"message\":\"bad body\"}")),
    };
    let updated = {
        let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(customer) = map.get_mut(&id) else {
            return Ok(plain(StatusCode::NOT_FOUND, "{\"message\":\"Resource not found\"}"));
        };
        customer.name = details.name;
        customer.country = details.country;
        customer.timezone = details.timezone;
        customer.properties = details.properties;
        customer.version += 1;
        customer.clone()
    };
    let body = serde_json::to_vec(&updated).expect("serializes");
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ETAG, format!("\"{}\"", updated.version))
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response"))
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a valid response")
}
