//! The binary: refuses to start without a key, mints tokens, and --dev prints a working token.

use std::process::Command;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_network-server"))
}

#[test]
fn without_dev_and_without_a_key_it_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("NETWORK_DEV")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no key to verify tokens with"), "{stderr}");
}

#[test]
fn help_lists_every_flag_with_its_environment_variable() {
    let output = binary().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--bind",
        "--data-dir",
        "--database-url",
        "--jwt-issuer",
        "--jwt-audience",
        "--jwt-public-key",
        "--jwt-jwks",
        "--rate-limit-tenant-per-minute",
        "--body-limit",
        "--dev",
    ] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
    assert!(help.contains("NETWORK_BIND") && help.contains("NETWORK_DATABASE_URL"), "{help}");
}

#[test]
fn token_prints_only_a_token_that_the_dev_key_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .args(["--dev", "--data-dir"])
        .arg(dir.path())
        .args([
            "token",
            "--tenant",
            "acme",
            "--subject",
            "ops",
            "--permission",
            "READ_CUSTOMER",
            "--ttl",
            "10m",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "only the token: {stdout}");
    assert_eq!(token.split('.').count(), 3, "a JWS: {token}");
    let dev = network_server::auth::ensure_dev_key(dir.path()).unwrap();
    let authenticator =
        network_server::auth::Authenticator::new(network_server::auth::AuthConfig {
            issuer: "network-server".into(),
            audience: "network-api".into(),
            keys: vec![network_server::auth::KeySource::PublicKeyPem {
                path: dev.public_key_path,
                kid: None,
            }],
            leeway_seconds: 0,
            claims: Default::default(),
        })
        .unwrap();
    let principal = authenticator
        .authenticate(Some(&format!("Bearer {token}")))
        .expect("the dev key verifies it");
    assert_eq!((principal.tenant.as_str(), principal.subject.as_str()), ("acme", "ops"));
    let unknown = binary()
        .args(["--dev", "--data-dir"])
        .arg(dir.path())
        .args(["token", "--tenant", "acme", "--subject", "ops", "--permission", "FLY"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
}

/// `--dev` prints a token and a curl line that work; SIGTERM stops it with exit 0.
#[test]
fn dev_mode_prints_a_working_token_and_sigterm_exits_cleanly() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = binary()
        .args(["--dev", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
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
    let (address, token) =
        (address.expect("the banner names the address"), token.expect("the banner has a token"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let created = client
            .post(format!("http://{address}/network/customers"))
            .bearer_auth(&token)
            .header("X-Servitly-Tenant", "acme")
            .json(&serde_json::json!({"name": "Acme Inc."}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let id = created.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let updated = client
            .put(format!("http://{address}/network/customers/{id}"))
            .bearer_auth(&token)
            .header("X-Servitly-Tenant", "acme")
            .json(&serde_json::json!({"name": "Acme Italia", "country": "IT", "timezone": "Europe/Rome"}))
            .send()
            .await
            .unwrap();
        assert_eq!(updated.status(), 200);
    });
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean shutdown");
    assert!(dir.path().join("dev-signing-key.pem").exists());
}

/// Under a low open-files hard limit the default connection cap shrinks to
/// fit (the server starts), while an explicit cap that does not fit is refused
/// with a message naming the variable.
#[test]
fn the_connection_cap_fits_a_low_open_files_limit() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef").unwrap();
    let run = |extra: &str| {
        let script = format!(
            "ulimit -Sn 512 && ulimit -Hn 512 && exec timeout 3 '{}' --bind 127.0.0.1:0 \
             --data-dir '{}' --jwt-hs256-secret-file '{}' {extra}",
            env!("CARGO_BIN_EXE_network-server"),
            dir.path().join("data").display(),
            secret.display()
        );
        Command::new("sh").arg("-c").arg(script).output().expect("sh runs")
    };
    let default = run("");
    let log = String::from_utf8_lossy(&default.stdout);
    assert!(log.contains("\"listening\""), "starts with the default cap: {log}");
    let explicit = run("--max-connections 1000");
    let stderr = String::from_utf8_lossy(&explicit.stderr);
    assert!(!explicit.status.success());
    assert!(stderr.contains("NETWORK_MAX_CONNECTIONS"), "{stderr}");
}

/// Issue 11: `--ready-file` holds the bound address once the server
/// answers, and is gone after a graceful stop.
#[test]
fn the_ready_file_gives_the_address_once_the_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let mut child = binary()
        .args(["--dev", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--ready-file")
        .arg(&ready)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let address = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            break text;
        }
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        assert!(std::time::Instant::now() < deadline, "no ready file within 30 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(address.ends_with('\n') && address.lines().count() == 1, "{address:?}");
    let address: std::net::SocketAddr = address.trim().parse().unwrap();
    assert_ne!(address.port(), 0);
    // Answers at once: the file is written only after the server accepts requests.
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success());
    assert!(!ready.exists(), "removed at shutdown");
}

/// Issue 11: a zero limit was quietly read as 1 per minute; now the server
/// refuses to start and names the flag.
#[test]
fn a_zero_rate_limit_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .args(["--dev", "--bind", "127.0.0.1:0", "--rate-limit-tenant-per-minute", "0"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--rate-limit-tenant-per-minute (NETWORK_RATE_LIMIT_TENANT_PER_MINUTE) must be at least 1"), "{stderr}");
}
