//! A fleet behind a load balancer (issue 14, sections 1, 2, 5): forwarded
//! requests keep the client's address, and only a node holding the cluster
//! forwarding key can vouch for it; Lambda judges a client by the event's
//! source IP; per-node addresses; JSON logs without colour.
//!
//! The HA tests need moto (`scripts/test.sh --test fleet` starts it). The
//! client binds its socket to `127.0.0.5` or `127.0.0.6` (any 127/8 address
//! is local on Linux), so a CIDR bound of `127.0.0.5/32` tells the two apart.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, SERIAL};
use common::http::{self, Response};
use serde_json::{json, Value};

const ALLOWED: &str = "127.0.0.5";
const OTHER: &str = "127.0.0.6";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A request to `port` from the local address `from`.
fn call_from(
    from: &str,
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Response {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    let mut h: Vec<(&str, &str)> = headers.to_vec();
    if let Some(t) = token {
        h.push(("X-Vault-Token", t));
    }
    if body.is_some() {
        h.push(("Content-Type", "application/json"));
    }
    http::request_from(ip(from), port, method, path, &h, bytes.as_deref())
        .unwrap_or_else(|e| panic!("{method} {path} from {from}: {e}"))
}

fn expect(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {r}");
}

/// Enables AppRole and makes role `bound` (secret ID and token bound to
/// 127.0.0.5/32). Returns (role_id, secret_id).
fn approle_bound_to_allowed(c: &Cluster, active: usize) -> (String, String) {
    let r = c.call(
        active,
        "POST",
        "/v1/sys/auth/approle",
        Some(&json!({"type": "approle"})),
    );
    expect(&r, 204, "enable approle");
    let r = c.call(
        active,
        "POST",
        "/v1/auth/approle/role/bound",
        Some(&json!({
            "secret_id_bound_cidrs": format!("{ALLOWED}/32"),
            "token_bound_cidrs": format!("{ALLOWED}/32"),
            "token_ttl": "10m",
        })),
    );
    expect(&r, 204, "create role");
    let role_id = c.call(active, "GET", "/v1/auth/approle/role/bound/role-id", None);
    expect(&role_id, 200, "role-id");
    let role_id = role_id.json()["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sid = c.call(
        active,
        "POST",
        "/v1/auth/approle/role/bound/secret-id",
        None,
    );
    expect(&sid, 200, "secret-id");
    let secret_id = sid.json()["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    (role_id, secret_id)
}

fn login_body(role_id: &str, secret_id: &str) -> Value {
    json!({"role_id": role_id, "secret_id": secret_id})
}

/// Waits until the standby has the forwarding key (the active node creates
/// it after unsealing): a forwarded login from the allowed address passes.
fn login_through(from: &str, port: u16, body: &Value, headers: &[(&str, &str)]) -> Response {
    call_from(
        from,
        port,
        "POST",
        "/v1/auth/approle/login",
        None,
        headers,
        Some(body),
    )
}

#[test]
fn forwarded_logins_keep_the_client_address_and_forged_envelopes_are_not_believed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Cluster::start("fleet-fwd", 2);
    let (active, _) = c.wait_settled(Duration::from_secs(40));
    let standby = c.standby_index(active);
    let (role_id, secret_id) = approle_bound_to_allowed(&c, active);
    let body = login_body(&role_id, &secret_id);
    let standby_port = c.node(standby).port;
    let active_port = c.node(active).port;

    // 1. Through the standby from the allowed address: forwarded (a login
    // writes a token), signed, and judged by 127.0.0.5 on the active node.
    let r = login_through(ALLOWED, standby_port, &body, &[]);
    expect(
        &r,
        200,
        "CIDR-bound login through the standby from 127.0.0.5",
    );
    let token = r.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The token is bound too: usable from 127.0.0.5 on either node.
    for port in [standby_port, active_port] {
        let r = call_from(
            ALLOWED,
            port,
            "GET",
            "/v1/auth/token/lookup-self",
            Some(&token),
            &[],
            None,
        );
        expect(&r, 200, "bound token from 127.0.0.5");
        let r = call_from(
            OTHER,
            port,
            "GET",
            "/v1/auth/token/lookup-self",
            Some(&token),
            &[],
            None,
        );
        expect(&r, 403, "bound token from 127.0.0.6");
    }

    // 2. From another address, through the standby: refused.
    let r = login_through(OTHER, standby_port, &body, &[]);
    assert!(
        r.status == 400 || r.status == 403,
        "login through the standby from 127.0.0.6 must fail: {r}"
    );

    // 3. Forged headers: a client at 127.0.0.6 claims to be a standby
    // vouching for 127.0.0.5, straight to the active node and through the
    // standby (which strips them and signs the real address).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let forged: Vec<(&str, &str)> = vec![
        ("X-Strongroom-Forwarded", "some-node"),
        ("X-Strongroom-Forwarded-For", ALLOWED),
        ("X-Strongroom-Forwarded-At", &now),
        (
            "X-Strongroom-Forwarded-Signature",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
        ("X-Forwarded-For", ALLOWED),
    ];
    let r = login_through(OTHER, active_port, &body, &forged);
    assert!(
        r.status == 400 || r.status == 403,
        "a forged envelope straight to the active node was believed: {r}"
    );
    let no_loop: Vec<(&str, &str)> = forged[1..].to_vec();
    let r = login_through(OTHER, standby_port, &body, &no_loop);
    assert!(
        r.status == 400 || r.status == 403,
        "a forged envelope through the standby was believed: {r}"
    );
    // A plain X-Forwarded-For is not believed either (no trusted proxies).
    let r = login_through(OTHER, active_port, &body, &[("X-Forwarded-For", ALLOWED)]);
    assert!(r.status == 400 || r.status == 403, "{r}");
    // Control: the real 127.0.0.5 straight to the active node.
    let r = login_through(ALLOWED, active_port, &body, &forged[1..]);
    expect(&r, 200, "login from 127.0.0.5 straight to the active node");

    // 4. Lambda: the event's requestContext source IP decides; a forged
    // X-Forwarded-For changes nothing.
    let mut lambda = FakeLambda::start(&c);
    let r = lambda.invoke("POST", "/v1/auth/approle/login", ALLOWED, OTHER, &body);
    assert_eq!(
        r["statusCode"],
        200,
        "Lambda event from 127.0.0.5 with X-Forwarded-For 127.0.0.6: {r}\n{}",
        lambda.logs()
    );
    let r = lambda.invoke("POST", "/v1/auth/approle/login", OTHER, ALLOWED, &body);
    let status = r["statusCode"].as_u64().unwrap_or(0);
    assert!(
        status == 400 || status == 403,
        "Lambda event from 127.0.0.6 with a forged X-Forwarded-For 127.0.0.5 must fail: {r}"
    );
    // CloudWatch gets one JSON object per line, no colour codes.
    let logs = lambda.logs();
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI codes in the function's log:\n{logs}"
    );
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the function logged nothing");
    for l in lines {
        let v: Value = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("a function log line is not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{v}");
    }
    drop(lambda);
    drop(c.nodes.drain(..));
}

// ---- a Lambda runtime API of our own ----------------------------------------

/// The function process (the real binary in Lambda mode) and a minimal
/// Lambda runtime API it polls: each [`FakeLambda::invoke`] hands it one
/// Function URL event (payload format 2.0) and returns its answer.
struct FakeLambda {
    child: Option<Child>,
    events: mpsc::Sender<(String, Value)>,
    answers: mpsc::Receiver<(String, Value)>,
    logs: tempfile::TempDir,
    next_id: u64,
}

impl FakeLambda {
    fn start(c: &Cluster) -> FakeLambda {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (event_tx, event_rx) = mpsc::channel::<(String, Value)>();
        let (answer_tx, answer_rx) = mpsc::channel::<(String, Value)>();
        let event_rx = Arc::new(Mutex::new(event_rx));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let event_rx = event_rx.clone();
                let answer_tx = answer_tx.clone();
                std::thread::spawn(move || runtime_connection(stream, event_rx, answer_tx));
            }
        });
        let logs = tempfile::tempdir().unwrap();
        let hcl = common::cluster::hcl(&c.table)
            .replace("{PORT}", "1")
            .replace("create_table = \"true\"", "create_table = \"false\"");
        let mut cmd = common::command();
        cmd.env("STRONGROOM_CONFIG", hcl)
            .env("STRONGROOM_LOG", "strongroom=info,warn")
            .env("VAULT_LOG_FORMAT", "json")
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "strongroom")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(logs.path().join("out")).unwrap())
            .stderr(std::fs::File::create(logs.path().join("err")).unwrap());
        let child = cmd.spawn().expect("start the function");
        FakeLambda {
            child: Some(child),
            events: event_tx,
            answers: answer_rx,
            logs,
            next_id: 0,
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.logs.path().join("err")).unwrap_or_default()
    }

    /// One Function URL invocation from `source_ip` carrying the header
    /// `X-Forwarded-For: forwarded_for`; returns the function's answer.
    fn invoke(
        &mut self,
        method: &str,
        path: &str,
        source_ip: &str,
        forwarded_for: &str,
        body: &Value,
    ) -> Value {
        self.next_id += 1;
        let id = format!("req-{}", self.next_id);
        let event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {
                "content-type": "application/json",
                "host": "abcdef.lambda-url.us-east-1.on.aws",
                "x-forwarded-for": forwarded_for,
                "x-forwarded-proto": "https",
            },
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "abcdef",
                "domainName": "abcdef.lambda-url.us-east-1.on.aws",
                "domainPrefix": "abcdef",
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": source_ip,
                    "userAgent": "strongroom-tests",
                },
                "requestId": id,
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Dec/2026:16:00:00 +0000",
                "timeEpoch": 1_700_000_000_000u64,
            },
            "body": body.to_string(),
            "isBase64Encoded": false,
        });
        self.events.send((id.clone(), event)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            match self.answers.recv_timeout(Duration::from_millis(200)) {
                Ok((got, answer)) if got == id => return answer,
                Ok(_) => continue,
                Err(_) => {}
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(st)) = child.try_wait() {
                    panic!("the function exited with {st}:\n{}", self.logs());
                }
            }
            assert!(
                Instant::now() < deadline,
                "no answer from the function for {id}:\n{}",
                self.logs()
            );
        }
    }
}

impl Drop for FakeLambda {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Serves one connection of the function's runtime client: `GET
/// .../invocation/next` waits for an event; `POST .../response` (or
/// `.../error`) hands the answer back. Keep-alive, one request at a time.
fn runtime_connection(
    stream: TcpStream,
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    answers: mpsc::Sender<(String, Value)>,
) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if chunked {
            loop {
                let mut size = String::new();
                if reader.read_line(&mut size).unwrap_or(0) == 0 {
                    return;
                }
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                    .unwrap_or(0);
                let mut chunk = vec![0u8; n + 2];
                if reader.read_exact(&mut chunk).is_err() {
                    return;
                }
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let next = events.lock().unwrap().recv();
            let Ok((id, event)) = next else { return };
            let text = event.to_string();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:strongroom\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\nContent-Length: {}\r\n\r\n{text}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 120_000,
                text.len()
            )
        } else if method == "POST" && path.contains("/runtime/invocation/") {
            let id = path
                .split("/runtime/invocation/")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .unwrap_or("")
                .to_string();
            let value: Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&body)}));
            let value = if path.ends_with("/error") {
                json!({"statusCode": 0, "error": value})
            } else {
                value
            };
            let _ = answers.send((id, value));
            "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}".to_string()
        } else {
            // init/error and anything else.
            let _ = answers.send((
                "init".into(),
                json!({"path": path, "body": String::from_utf8_lossy(&body)}),
            ));
            "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}".to_string()
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

// ---- per-node addresses and logs (no moto needed) --------------------------

/// Serves the ECS container metadata (v4) document on a loopback port.
fn ecs_metadata(task_ip: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = format!(
                r#"{{"DockerId":"ea32192c8553fbff","Name":"strongroom","DockerName":"ecs-strongroom-1","Image":"strongroom:0.1.0","Labels":{{}},"DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Type":"NORMAL","Networks":[{{"NetworkMode":"awsvpc","IPv4Addresses":["{task_ip}"],"AttachmentIndex":0,"IPv4SubnetCIDRBlock":"10.0.2.0/24","PrivateDNSName":"ip-10-0-2-106.ec2.internal"}}]}}"#
            );
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}/v4/ea32192c8553fbff")
}

fn file_hcl(dir: &std::path::Path, extra: &str) -> String {
    format!(
        "storage \"file\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address     = \"127.0.0.1:{{PORT}}\"\n  tls_disable = true\n}}\ndisable_mlock = true\n{extra}\n",
        dir.display()
    )
}

#[test]
fn on_ecs_a_node_advertises_its_task_address_and_logs_json() {
    let dir = tempfile::tempdir().unwrap();
    let uri = ecs_metadata("10.0.2.106");
    let server = common::Server::with_hcl_env(
        &file_hcl(dir.path(), "log_format = \"json\""),
        &[("ECS_CONTAINER_METADATA_URI_V4", uri.as_str())],
    );
    let r = server.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    );
    expect(&r, 200, "init");
    std::thread::sleep(Duration::from_millis(300));
    let err = server.stderr();
    assert!(
        err.contains(&format!("Api Address: http://10.0.2.106:{}", server.port)),
        "the node does not advertise its task address:\n{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "ANSI escape codes in the log:\n{err}"
    );
    let json_lines: Vec<Value> = err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(json_lines.len() >= 2, "too few JSON log lines:\n{err}");
    for l in &json_lines {
        assert!(l["level"].is_string() && l["timestamp"].is_string(), "{l}");
        assert!(l["message"].is_string(), "{l}");
    }
    assert!(
        json_lines.iter().any(|l| l["message"] == "listening"),
        "no `listening` line:\n{err}"
    );
    // Every non-banner line is JSON.
    for l in err.lines() {
        let banner = l.starts_with("==>") || l.starts_with(' ') || l.is_empty();
        assert!(
            banner || l.starts_with('{'),
            "a log line is not JSON: {l:?}"
        );
    }
}

#[test]
fn the_environment_wins_and_colour_stays_off_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let uri = ecs_metadata("10.0.2.107");
    // VAULT_API_ADDR with a template beats both the file and ECS; the
    // -log-format environment (VAULT_LOG_FORMAT) beats the file's format.
    let server = common::Server::with_hcl_env(
        &file_hcl(
            dir.path(),
            "api_addr = \"http://192.0.2.1:8200\"\nlog_format = \"json\"",
        ),
        &[
            ("ECS_CONTAINER_METADATA_URI_V4", uri.as_str()),
            ("VAULT_API_ADDR", "http://{{ GetInterfaceIP \"lo\" }}:8201"),
            (
                "VAULT_CLUSTER_ADDR",
                "https://{{ GetInterfaceIP \"lo\" }}:8202",
            ),
            ("VAULT_LOG_FORMAT", "standard"),
            ("NO_COLOR", ""),
        ],
    );
    let r = server.call("GET", "/v1/sys/seal-status", None, None);
    expect(&r, 200, "seal-status");
    let err = server.stderr();
    assert!(err.contains("Api Address: http://127.0.0.1:8201"), "{err}");
    assert!(
        err.contains("Cluster Address: https://127.0.0.1:8202"),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "ANSI escape codes in the log:\n{err}"
    );
    assert!(
        !err.lines().any(|l| l.starts_with('{')),
        "VAULT_LOG_FORMAT=standard did not win over the file:\n{err}"
    );
}

#[test]
fn a_trusted_load_balancer_names_the_client() {
    // x_forwarded_for_authorized_addrs: 127.0.0.5 is the "load balancer".
    let dir = tempfile::tempdir().unwrap();
    let hcl = format!(
        "storage \"file\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address     = \"127.0.0.1:{{PORT}}\"\n  tls_disable = true\n  x_forwarded_for_authorized_addrs = \"{ALLOWED}/32\"\n}}\ndisable_mlock = true\n",
        dir.path().display()
    );
    let server = common::Server::with_hcl(&hcl);
    // Vault's defaults: reject when not present, reject when not authorized.
    let r = call_from(
        ALLOWED,
        server.port,
        "GET",
        "/v1/sys/seal-status",
        None,
        &[],
        None,
    );
    expect(&r, 400, "no X-Forwarded-For from the load balancer");
    assert_eq!(
        r.errors(),
        vec!["missing x-forwarded-for header and configured to reject when not present"]
    );
    let r = call_from(
        OTHER,
        server.port,
        "GET",
        "/v1/sys/seal-status",
        None,
        &[("X-Forwarded-For", "203.0.113.9")],
        None,
    );
    expect(&r, 400, "X-Forwarded-For from an unauthorized peer");
    assert_eq!(
        r.errors(),
        vec![
            "client address not authorized for x-forwarded-for and configured to reject connection"
        ]
    );
    let r = call_from(
        ALLOWED,
        server.port,
        "GET",
        "/v1/sys/seal-status",
        None,
        &[("X-Forwarded-For", "203.0.113.9")],
        None,
    );
    expect(&r, 200, "X-Forwarded-For from the load balancer");
}
