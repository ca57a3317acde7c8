//! Runs the `network-cli` binary against a real server started in-process
//! (SQLite in a temporary directory, HS256 tokens): create, update with a
//! properties map, get, list, delete, and the error paths (404, 412, no tenant).

use std::path::Path;
use std::process::Output;

use network_server::auth::{AuthConfig, KeySource, Signer, TokenClaims};
use network_server::ratelimit::RateLimitConfig;
use network_server::server::{self, Running, Settings, StoreSettings};
use serde_json::Value;

const ISSUER: &str = "network-cli-test";
const AUDIENCE: &str = "network-api";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const TENANT: &str = "acme";

async fn start_server(data_dir: &Path) -> Running {
    let settings = Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        store: StoreSettings::Sqlite {
            path: data_dir.join(server::SQLITE_FILE),
            group_commit: true,
        },
        auth: AuthConfig {
            issuer: ISSUER.to_string(),
            audience: AUDIENCE.to_string(),
            keys: vec![KeySource::HmacSecret { secret: SECRET.to_vec(), kid: None }],
            leeway_seconds: 0,
            claims: Default::default(),
        },
        rate: RateLimitConfig::default(),
        body_limit: 262_144,
        connections: Default::default(),
        cors_allow_origins: Vec::new(),
        list: network_server::listing::ListLimits::default(),
        access: Default::default(),
    };
    server::start(settings, network_server::telemetry::discard()).await.expect("the server starts")
}

fn token() -> String {
    let now = network_server::domain::now_millis() / 1000;
    let claims = TokenClaims {
        sub: "cli-test".to_string(),
        tenant: TENANT.to_string(),
        permissions: ["READ_CUSTOMER", "WRITE_CUSTOMER", "DELETE_CUSTOMER", "READ_ALL_CUSTOMERS"]
            .iter()
            .map(|permission| permission.to_string())
            .collect(),
        customer_id: None,
        iss: ISSUER.to_string(),
        aud: AUDIENCE.to_string(),
        iat: now,
        exp: now + 3600,
        nbf: None,
    };
    Signer::hs256(SECRET.to_vec(), None).unwrap().mint(&claims).unwrap()
}

/// The CLI with the server's URL, the token and the tenant in its environment.
struct Cli {
    url: String,
    token: String,
}

impl Cli {
    /// Runs `network-cli args...` with `NETWORK_URL`, `NETWORK_TOKEN` and
    /// (unless `tenant` is `None`) `NETWORK_TENANT` set.
    async fn run_with_tenant(&self, tenant: Option<&str>, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_network-cli"));
        command
            .args(args)
            .env_remove("NETWORK_TENANT")
            .env("NETWORK_URL", &self.url)
            .env("NETWORK_TOKEN", &self.token);
        if let Some(tenant) = tenant {
            command.env("NETWORK_TENANT", tenant);
        }
        command.output().await.expect("network-cli runs")
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with_tenant(Some(TENANT), args).await
    }

    /// Runs a command that must succeed; returns its stdout as JSON (Null if empty).
    async fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args).await;
        assert!(output.status.success(), "{args:?} failed: {}", describe(&output));
        if output.stdout.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!("{args:?}: stdout is not JSON ({error}): {}", describe(&output))
        })
    }
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_get_list_delete_and_errors_through_the_binary() {
    let data_dir = tempfile::tempdir().unwrap();
    let running = start_server(data_dir.path()).await;
    let cli = Cli { url: format!("http://{}", running.local_addr()), token: token() };

    // Create, from flags.
    let created = cli.json(&["create-customer", "--name", "Acme Inc.", "--country", "IT"]).await;
    assert_eq!(created["name"], "Acme Inc.");
    assert_eq!(created["country"], "IT");
    let id = created["id"].as_str().expect("the new customer has an id").to_string();

    // Update with a whole body (the properties map), conditionally, showing headers.
    let body = data_dir.path().join("update.json");
    std::fs::write(
        &body,
        r#"{"name": "Acme Italia", "country": "IT", "timezone": "Europe/Rome",
            "properties": {"plan": "gold", "region": "emea"}}"#,
    )
    .unwrap();
    let body = body.to_str().unwrap();
    let output = cli
        .run(&[
            "--include",
            "update-customer",
            "--customer-id",
            &id,
            "--if-match",
            "\"1\"",
            "--json-body",
            body,
        ])
        .await;
    assert!(output.status.success(), "{}", describe(&output));
    let updated: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(updated["name"], "Acme Italia");
    assert_eq!(updated["timezone"], "Europe/Rome");
    assert_eq!(updated["properties"], serde_json::json!({"plan": "gold", "region": "emea"}));
    assert!(stderr(&output).contains("HTTP 200 OK"), "{}", describe(&output));
    assert!(stderr(&output).contains("etag: \"2\""), "{}", describe(&output));

    // Get it back; the tenant given as a flag instead of the environment.
    let output = cli
        .run_with_tenant(None, &["--tenant", TENANT, "get-customer", "--customer-id", &id])
        .await;
    assert!(output.status.success(), "{}", describe(&output));
    let fetched: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(fetched, updated);

    // List, sorted (a flag main.rs adds: progenitor skips array query parameters).
    let second = cli.json(&["create-customer", "--name", "Beta Ltd"]).await;
    let page = cli.json(&["get-customers", "--sort", "name,DESC", "--size", "10"]).await;
    let names: Vec<&str> =
        page["content"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Beta Ltd", "Acme Italia"]);
    assert_eq!(page["totalElements"], 2);

    // A stale If-Match: 412, the server's message on stderr, nothing on stdout.
    let output = cli
        .run(&["update-customer", "--customer-id", &id, "--if-match", "\"1\"", "--name", "Late"])
        .await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(output.stdout.is_empty(), "{}", describe(&output));
    assert!(stderr(&output).contains("412 Precondition Failed"), "{}", describe(&output));

    // Delete: no output.
    assert_eq!(cli.json(&["delete-customer", "--customer-id", &id]).await, Value::Null);
    let _ = cli.json(&["delete-customer", "--customer-id", second["id"].as_str().unwrap()]).await;

    // Now a 404: non-zero exit status and exactly the server's message on stderr.
    let client = network_client::new_authenticated(&cli.url, &cli.token).unwrap();
    let expected =
        match client.get_customer().x_servitly_tenant(TENANT).customer_id(id.as_str()).send().await
        {
            Err(network_client::Error::ErrorResponse(response)) => {
                response.into_inner().message.to_string()
            }
            other => panic!("expected an error response, got {other:?}"),
        };
    let output = cli.run(&["get-customer", "--customer-id", &id]).await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(output.stdout.is_empty(), "{}", describe(&output));
    assert_eq!(stderr(&output), format!("error: 404 Not Found: {expected}\n"));

    // No tenant anywhere: a usage error before any request.
    let output = cli.run_with_tenant(None, &["get-customer", "--customer-id", &id]).await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(stderr(&output).contains("no tenant"), "{}", describe(&output));

    running.shutdown().await.unwrap();
}
