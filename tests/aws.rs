//! DynamoDB storage and AWS KMS auto-unseal, end to end against moto:
//! init with recovery keys, secrets (one of 1 MiB), kill -9, restart with no
//! key typed, every acknowledged write back, no plaintext in the table, the
//! request budget from the metrics, and KMS down at start then up.
//!
//! Run by `make test` (which starts moto and exports `AWS_ENDPOINT_URL`).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{expect_status, Server};
use serde_json::json;

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run under `make test` (moto not started)")
}

fn hcl(table: &str, kms_endpoint: &str) -> String {
    let ep = endpoint();
    format!(
        r#"
storage "dynamodb" {{
  table        = "{table}"
  endpoint     = "{ep}"
  create_table = "true"
}}
seal "awskms" {{
  kms_key_id = "alias/strongroom"
  endpoint   = "{kms_endpoint}"
}}
listener "tcp" {{
  address     = "127.0.0.1:{{PORT}}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{{PORT}}"
"#
    )
}

fn wait_health(s: &Server, want: u16, timeout: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let st = s.call("GET", "/v1/sys/health", None, None).status;
        if st == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "health stayed {st}, wanted {want}; stderr:\n{}",
            s.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn aws_requests(s: &Server, token: &str) -> f64 {
    let text = s
        .call(
            "GET",
            "/v1/sys/metrics?format=prometheus",
            Some(token),
            None,
        )
        .text();
    text.lines()
        .filter(|l| l.starts_with("strongroom_aws_requests_total{service=\"dynamodb\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every attribute value in the table, via boto3 from the test venv.
fn scan_table(table: &str) -> Vec<u8> {
    let py = common::repo_root().join(".venv/bin/python");
    let script = r#"
import os, sys, boto3
ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ.get("AWS_REGION", "us-east-1"))
out = sys.stdout.buffer
for page in ddb.get_paginator("scan").paginate(TableName=sys.argv[1]):
    for item in page["Items"]:
        for attr in item.values():
            for v in attr.values():
                out.write(v if isinstance(v, bytes) else str(v).encode())
                out.write(b"\n")
"#;
    let out = std::process::Command::new(py)
        .args(["-c", script, table])
        .output()
        .expect("run python (run `make test` to build .venv)");
    assert!(
        out.status.success(),
        "scan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn dynamodb_and_kms_survive_kill_9_and_auto_unseal() {
    let table = format!("aws-e2e-{}", std::process::id());
    let config = hcl(&table, &endpoint());
    // No background sweep during the request-count measurements.
    let quiet = [("STRONGROOM_EXPIRATION_INTERVAL_SECS", "3600")];
    let mut s = Server::with_hcl_env(&config, &quiet);
    let init = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"recovery_shares": 3, "recovery_threshold": 2})),
    );
    expect_status(&init, 200, "init");
    let iv = init.json();
    assert_eq!(iv["keys"], json!([]), "auto seal: no unseal keys");
    assert_eq!(iv["recovery_keys"].as_array().map(Vec::len), Some(3));
    let root = iv["root_token"].as_str().unwrap().to_string();
    wait_health(&s, 200, Duration::from_secs(20));
    let status = s.call("GET", "/v1/sys/seal-status", None, None).json();
    assert_eq!(status["type"], "awskms");
    assert_eq!(status["recovery_seal"], true);

    let call =
        |s: &Server, m: &str, p: &str, b: Option<&serde_json::Value>| s.call(m, p, Some(&root), b);
    expect_status(
        &call(
            &s,
            "POST",
            "/v1/sys/mounts/secret",
            Some(&json!({"type": "kv", "options": {"version": "2"}})),
        ),
        204,
        "enable kv",
    );
    let marker = "plaintext-marker-7f3a";
    for i in 0..5 {
        let r = call(
            &s,
            "PUT",
            &format!("/v1/secret/data/k{i}"),
            Some(&json!({"data": {"v": format!("{marker}-{i}")}})),
        );
        expect_status(&r, 200, "write");
    }
    let big = "0123456789abcdef".repeat(65536); // 1 MiB
    let r = call(
        &s,
        "PUT",
        "/v1/secret/data/big",
        Some(&json!({"data": {"blob": format!("{marker}{big}")}})),
    );
    expect_status(&r, 200, "1 MiB write");

    // The request budget, from the metrics counter.
    call(&s, "GET", "/v1/secret/data/k0", None); // warm
    let before = aws_requests(&s, &root);
    expect_status(
        &call(&s, "GET", "/v1/secret/data/k0", None),
        200,
        "warm read",
    );
    let read_cost = aws_requests(&s, &root) - before;
    let before = aws_requests(&s, &root);
    expect_status(
        &call(
            &s,
            "PUT",
            "/v1/secret/data/k0",
            Some(&json!({"data": {"v": format!("{marker}-again")}})),
        ),
        200,
        "write",
    );
    let write_cost = aws_requests(&s, &root) - before;
    // Past max_versions (10) every write also drops the oldest version.
    for i in 0..11 {
        call(
            &s,
            "PUT",
            "/v1/secret/data/many",
            Some(&json!({"data": {"i": i}})),
        );
    }
    let before = aws_requests(&s, &root);
    expect_status(
        &call(
            &s,
            "PUT",
            "/v1/secret/data/many",
            Some(&json!({"data": {"i": 99}})),
        ),
        200,
        "write",
    );
    let trim_cost = aws_requests(&s, &root) - before;
    println!("DynamoDB requests: warm KV v2 read {read_cost}, KV v2 write {write_cost}, write past max_versions {trim_cost}");
    assert_eq!(
        trim_cost, 1.0,
        "a write that trims an old version must still cost one request"
    );
    assert_eq!(
        read_cost, 1.0,
        "a warm KV v2 read must cost one DynamoDB request"
    );
    assert_eq!(
        write_cost, 1.0,
        "a warm KV v2 write must cost one DynamoDB request"
    );

    // kill -9, restart: unsealed with no key typed, every write back.
    s.kill();
    let s = Server::with_hcl_env(&config, &quiet);
    let took = wait_health(&s, 200, Duration::from_secs(30));
    println!("auto-unsealed {took:?} after restart");
    for i in 1..5 {
        let r = call(&s, "GET", &format!("/v1/secret/data/k{i}"), None);
        expect_status(&r, 200, "read back");
        assert_eq!(r.json()["data"]["data"]["v"], format!("{marker}-{i}"));
    }
    let r = call(&s, "GET", "/v1/secret/data/k0", None);
    assert_eq!(r.json()["data"]["data"]["v"], format!("{marker}-again"));
    let r = call(&s, "GET", "/v1/secret/data/big", None);
    expect_status(&r, 200, "1 MiB read back");
    assert_eq!(
        r.json()["data"]["data"]["blob"].as_str().map(str::len),
        Some(marker.len() + big.len())
    );
    drop(s);

    // No plaintext anywhere in the table.
    let dump = scan_table(&table);
    assert!(!dump.is_empty(), "the scan returned nothing");
    assert!(
        !dump.windows(marker.len()).any(|w| w == marker.as_bytes()),
        "a plaintext secret value is in the DynamoDB table"
    );
}

/// A TCP proxy to moto that can be started late, to play a KMS endpoint that
/// is down at first and comes up later.
fn start_proxy_later(listener_port: u16, upstream: String, after: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let listener = TcpListener::bind(("127.0.0.1", listener_port)).expect("bind proxy port");
        let upstream = upstream.trim_start_matches("http://").to_string();
        for conn in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    return;
                };
                pipe(conn, server);
            });
        }
    });
}

fn pipe(a: TcpStream, b: TcpStream) {
    let (mut a2, mut b2) = match (a.try_clone(), b.try_clone()) {
        (Ok(x), Ok(y)) => (x, y),
        _ => return,
    };
    let t = std::thread::spawn(move || copy(&mut a2, &mut b2));
    let (mut a, mut b) = (a, b);
    copy(&mut b, &mut a);
    let _ = t.join();
}

fn copy(from: &mut TcpStream, to: &mut TcpStream) {
    let mut buf = [0u8; 16384];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(std::net::Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

#[test]
fn kms_down_at_start_stays_sealed_then_recovers_by_itself() {
    let table = format!("aws-kmsdown-{}", std::process::id());
    let mut s = Server::with_hcl(&hcl(&table, &endpoint()));
    let init = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"recovery_shares": 1, "recovery_threshold": 1})),
    );
    expect_status(&init, 200, "init");
    wait_health(&s, 200, Duration::from_secs(20));
    s.kill();

    // Restart with KMS behind a port nothing listens on yet.
    let kms_port = common::free_port();
    let s = Server::with_hcl(&hcl(&table, &format!("http://127.0.0.1:{kms_port}")));
    std::thread::sleep(Duration::from_secs(2));
    let h = s.call("GET", "/v1/sys/health", None, None);
    expect_status(&h, 503, "sealed while KMS is down");
    assert_eq!(h.json()["sealed"], true);
    start_proxy_later(kms_port, endpoint(), Duration::from_millis(500));
    let took = wait_health(&s, 200, Duration::from_secs(30));
    println!("unsealed {took:?} after KMS came up");
}

#[test]
fn iam_login_with_hvac_against_moto_sts() {
    let table = format!("aws-iam-{}", std::process::id());
    let s = Server::with_hcl(&hcl(&table, &endpoint()));
    let init = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"recovery_shares": 1, "recovery_threshold": 1})),
    );
    expect_status(&init, 200, "init");
    let root = init.json()["root_token"].as_str().unwrap().to_string();
    wait_health(&s, 200, Duration::from_secs(20));
    let call = |m: &str, p: &str, b: serde_json::Value| s.call(m, p, Some(&root), Some(&b));
    expect_status(
        &call("POST", "/v1/sys/auth/aws", json!({"type": "aws"})),
        204,
        "enable aws auth",
    );
    // No sts_endpoint: the server replays to AWS_ENDPOINT_URL (moto), while
    // hvac signs for sts.amazonaws.com as real clients do.
    expect_status(
        &call(
            "POST",
            "/v1/auth/aws/config/client",
            json!({"iam_server_id_header_value": "strongroom.test"}),
        ),
        204,
        "config/client",
    );
    expect_status(
        &call(
            "POST",
            "/v1/auth/aws/role/app",
            json!({"auth_type": "iam", "bound_iam_principal_arn": ["arn:aws:iam::123456789012:user/*"], "token_policies": ["app"], "token_ttl": "10m"}),
        ),
        204,
        "role",
    );
    let py = common::repo_root().join(".venv/bin/python");
    let script = common::repo_root().join("tests/python/iam_login.py");
    let run = |header: &str| {
        std::process::Command::new(&py)
            .arg(&script)
            .arg(s.addr())
            .args(["--role", "app", "--header-value", header])
            .output()
            .expect("run python (run `make test` to build .venv)")
    };
    let ok = run("strongroom.test");
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "hvac IAM login failed: {out} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        out.contains("app"),
        "the login token must carry the role's policy: {out}"
    );
    let wrong = run("another.server");
    assert!(
        !wrong.status.success(),
        "a wrong server-ID header must be refused"
    );
}

/// A TCP proxy to `upstream` on a free loopback port that counts the bytes
/// clients send through it (connections may be pooled, bytes cannot hide).
fn counting_proxy(upstream: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let upstream = upstream.clone();
            let counter = counter.clone();
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    return;
                };
                let (Ok(mut from_client), Ok(mut to_server)) =
                    (conn.try_clone(), server.try_clone())
                else {
                    return;
                };
                let up = std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    loop {
                        match from_client.read(&mut buf) {
                            Ok(0) | Err(_) => {
                                let _ = to_server.shutdown(std::net::Shutdown::Write);
                                return;
                            }
                            Ok(n) => {
                                counter.fetch_add(n, Ordering::SeqCst);
                                if to_server.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
                let (mut server, mut conn) = (server, conn);
                copy(&mut server, &mut conn);
                let _ = up.join();
            });
        }
    });
    (format!("http://{addr}"), sent)
}

/// A listener playing the host a client names in its signed request: it
/// only counts the connections it gets.
fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind listener");
    let port = listener.local_addr().expect("listener addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for _conn in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, hits)
}

/// Issue 10: hvac signs its IAM login for `sts.amazonaws.com`; with
/// `sts_endpoint` pointing elsewhere (here a proxy in front of moto) the
/// login is accepted and sent to that endpoint. A request signed for any
/// other host is refused with a 400, and nothing is sent anywhere: neither
/// to the host it names nor to the endpoint.
#[test]
fn iam_login_signed_for_the_standard_host_with_an_sts_endpoint() {
    let s = Server::dev();
    let root = common::ROOT;
    let call = |m: &str, p: &str, b: serde_json::Value| s.call(m, p, Some(root), Some(&b));
    expect_status(
        &call("POST", "/v1/sys/auth/aws", json!({"type": "aws"})),
        204,
        "enable aws auth",
    );
    let (sts_endpoint, sent) = counting_proxy(endpoint());
    expect_status(
        &call(
            "POST",
            "/v1/auth/aws/config/client",
            json!({"sts_endpoint": sts_endpoint, "iam_server_id_header_value": "strongroom.test"}),
        ),
        204,
        "config/client",
    );
    let cfg = s.call("GET", "/v1/auth/aws/config/client", Some(root), None);
    expect_status(&cfg, 200, "read config/client");
    assert_eq!(cfg.json()["data"]["sts_endpoint"], sts_endpoint);
    expect_status(
        &call(
            "POST",
            "/v1/auth/aws/role/app",
            json!({"auth_type": "iam", "bound_iam_principal_arn": ["arn:aws:iam::123456789012:user/*"], "token_policies": ["app"]}),
        ),
        204,
        "role",
    );
    let py = common::repo_root().join(".venv/bin/python");
    let script = common::repo_root().join("tests/python/iam_login.py");
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(&py)
            .arg(&script)
            .arg(s.addr())
            .args(["--role", "app", "--header-value", "strongroom.test"])
            .args(["--expect-policies", "app"])
            .args(extra)
            .output()
            .expect("run python (run `make test` to build .venv)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };

    // hvac's default signing: for sts.amazonaws.com.
    let (ok, out, err) = run(&[]);
    assert!(
        ok,
        "hvac IAM login signed for sts.amazonaws.com failed: {out} {err}"
    );
    assert!(
        out.contains("client_arn=arn:aws:sts::123456789012:user/moto"),
        "{out}"
    );
    let after_login = sent.load(Ordering::SeqCst);
    assert!(
        after_login > 0,
        "the login was not sent to the configured sts_endpoint"
    );

    // Signed for a host the server does not trust: 400, nothing sent.
    let (evil_port, evil_hits) = counting_listener();
    for url in [
        format!("http://127.0.0.1:{evil_port}/"),
        "https://evil.example.com/".to_string(),
    ] {
        let (ok, out, err) = run(&["--sign-url", &url]);
        assert!(!ok, "a request signed for {url} was accepted: {out}");
        // hvac raises InvalidRequest for a 400, and only for a 400.
        assert!(err.contains("InvalidRequest"), "{url}: {err}");
        assert!(
            err.contains("not the configured STS endpoint"),
            "{url}: {err}"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        evil_hits.load(Ordering::SeqCst),
        0,
        "the server connected to the host the client named"
    );
    assert_eq!(
        sent.load(Ordering::SeqCst),
        after_login,
        "a refused login was sent to the STS endpoint"
    );

    // The server ID header is still enforced for the standard host.
    let (ok, _, err) = run(&["--header-value", "another.server"]);
    assert!(!ok, "a wrong server-ID header must be refused");
    assert!(err.contains("X-Vault-AWS-IAM-Server-ID"), "{err}");
}
