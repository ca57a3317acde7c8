//! The API version is visible: `/openapi.json` (which `/docs` renders) carries
//! the spec's `info.version`, the generated client has it as `API_VERSION`
//! and sends it as `api-version`, and the server logs that header.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::*;

fn checked_in_version() -> String {
    let spec: serde_json::Value = serde_json::from_str(network_server::ops::CONTRACT).unwrap();
    spec["info"]["version"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_served_contract_has_the_version_the_client_was_generated_for() {
    let app = spawn_app().await;
    let served: serde_json::Value =
        reqwest::get(app.url("/openapi.json")).await.unwrap().json().await.unwrap();
    assert_eq!(served["info"]["version"], checked_in_version());
    assert_eq!(network_client::API_VERSION, checked_in_version());
    app.stop().await;
}

/// The real binary's log lines (stdout), one request from the generated
/// client, one without the header and one with an overlong header.
#[test]
fn the_server_logs_the_api_version_the_client_sends() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_network-server"))
        .args(["--dev", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (mut address, mut token) = (None, None);
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("network-server (dev) on http://") {
            address = rest.split(',').next().map(str::to_string);
        }
        if let Some(rest) = line.trim().strip_prefix("export TOKEN=") {
            token = Some(rest.to_string());
            break;
        }
    }
    let (address, token) = (address.expect("the banner names the address"), token.unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client =
            network_client::new_authenticated(&format!("http://{address}"), &token).unwrap();
        let missing =
            client.get_customer().x_servitly_tenant("acme").customer_id("from-client").send().await;
        assert_eq!(missing.unwrap_err().status(), Some(reqwest::StatusCode::NOT_FOUND));
        let http = reqwest::Client::new();
        for (id, version) in [("no-header", None), ("long-header", Some("9".repeat(100)))] {
            let mut request = http
                .get(format!("http://{address}/network/customers/{id}"))
                .bearer_auth(&token)
                .header("X-Servitly-Tenant", "acme");
            if let Some(version) = version {
                request = request.header("api-version", version);
            }
            assert_eq!(request.send().await.unwrap().status(), 404);
        }
    });
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let handled: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| record["msg"] == "request handled")
        .collect();
    let version_of = |id: &str| {
        let record = handled
            .iter()
            .find(|record| record["uri"].as_str().is_some_and(|uri| uri.ends_with(id)))
            .unwrap_or_else(|| panic!("no log line for {id} in:\n{stdout}"));
        record["api_version"].as_str().unwrap_or_else(|| panic!("{record}")).to_string()
    };
    assert_eq!(version_of("from-client"), network_client::API_VERSION);
    assert_eq!(version_of("no-header"), "");
    assert_eq!(version_of("long-header"), "9".repeat(64));
}
