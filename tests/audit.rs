//! Audit devices, whole-binary: `sys/audit*`, Vault-shaped entries with
//! every secret HMAC'd, fail-closed behaviour, config-declared devices and
//! the bao CLI.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{expect_status, Server, ROOT};
use serde_json::{json, Value};

fn read_entries(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("audit log");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn enable_file(s: &Server, name: &str, file: &Path) {
    let r = s.put(
        &format!("/v1/sys/audit/{name}"),
        json!({"type": "file", "description": "test device", "options": {"file_path": file.display().to_string()}}),
    );
    expect_status(&r, 204, "enable file device");
}

fn audit_hash(s: &Server, device: &str, input: &str) -> String {
    let r = s.post(
        &format!("/v1/sys/audit-hash/{device}"),
        json!({ "input": input }),
    );
    expect_status(&r, 200, "audit-hash");
    let v = r.json();
    assert_eq!(
        v["hash"], v["data"]["hash"],
        "legacy shape: hash at the top too"
    );
    v["hash"].as_str().expect("hash").to_string()
}

fn find<'a>(
    entries: &'a [Value],
    kind: &str,
    path: &str,
    pred: impl Fn(&Value) -> bool,
) -> &'a Value {
    entries
        .iter()
        .find(|e| e["type"] == kind && e["request"]["path"] == path && pred(e))
        .unwrap_or_else(|| panic!("no {kind} entry for {path} in {entries:#?}"))
}

#[test]
fn file_device_records_vault_shaped_hmacd_entries() {
    let s = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");

    // Empty list, Vault's legacy shape.
    let r = s.get("/v1/sys/audit");
    expect_status(&r, 200, "list empty");
    assert_eq!(r.json()["data"], json!({}));

    enable_file(&s, "file", &log);
    let r = s.get("/v1/sys/audit");
    let v = r.json();
    let expected = json!({"description": "test device", "local": false,
        "options": {"file_path": log.display().to_string()}, "path": "file/", "type": "file"});
    assert_eq!(v["file/"], expected, "{v}");
    assert_eq!(v["data"]["file/"], expected);

    // Errors as OpenBao words them.
    let cases = [
        (
            "file2",
            json!({"options": {"file_path": "/tmp/x"}}),
            "unknown backend type: \"\"",
        ),
        (
            "file",
            json!({"type": "file", "options": {"file_path": "/tmp/x"}}),
            "path already in use",
        ),
        ("file3", json!({"type": "file"}), "file_path is required"),
    ];
    for (path, body, msg) in cases {
        let r = s.put(&format!("/v1/sys/audit/{path}"), body);
        expect_status(&r, 400, path);
        assert_eq!(r.errors(), vec![msg.to_string()]);
    }
    let r = s.post("/v1/sys/audit-hash/nope", json!({"input": "x"}));
    expect_status(&r, 400, "hash unknown device");
    assert_eq!(
        r.errors(),
        vec!["unknown audit backend \"nope/\"".to_string()]
    );
    let r = s.post("/v1/sys/audit-hash/file", json!({}));
    expect_status(&r, 400, "hash no input");
    assert_eq!(
        r.errors(),
        vec!["the \"input\" parameter is empty".to_string()]
    );

    // Audited request headers (one HMAC'd, one in clear).
    let r = s.get("/v1/sys/config/auditing/request-headers");
    assert_eq!(r.json()["headers"], json!({}));
    let r = s.put(
        "/v1/sys/config/auditing/request-headers/X-Request-Source",
        json!({"hmac": true}),
    );
    expect_status(&r, 204, "header write");
    let r = s.put(
        "/v1/sys/config/auditing/request-headers/X-Plain",
        json!({"hmac": false}),
    );
    expect_status(&r, 204, "header write");
    let r = s.get("/v1/sys/config/auditing/request-headers/X-Request-Source");
    assert_eq!(r.json()["X-Request-Source"], json!({"hmac": true}));
    let r = s.get("/v1/sys/config/auditing/request-headers");
    assert_eq!(
        r.json()["headers"],
        json!({"x-plain": {"hmac": false}, "x-request-source": {"hmac": true}})
    );

    // A secret, read with audited headers.
    let r = s.put(
        "/v1/secret/data/app",
        json!({"data": {"db_password": "kv-pa55word-xyz", "db_user": "app"}}),
    );
    expect_status(&r, 200, "kv write");
    let r = s.raw(
        "GET",
        "/v1/secret/data/app",
        &[
            ("X-Vault-Token", ROOT),
            ("X-Request-Source", "src-secret-value"),
            ("X-Plain", "plain-value"),
        ],
        None,
    );
    expect_status(&r, 200, "kv read");

    // A failed and a successful userpass login.
    expect_status(
        &s.put("/v1/sys/auth/userpass", json!({"type": "userpass"})),
        204,
        "userpass",
    );
    expect_status(
        &s.put(
            "/v1/auth/userpass/users/erin",
            json!({"password": "erins-real-password", "policies": "default"}),
        ),
        204,
        "user",
    );
    let r = s.call(
        "POST",
        "/v1/auth/userpass/login/erin",
        None,
        Some(&json!({"password": "wrong-password-xyz"})),
    );
    expect_status(&r, 400, "failed login");
    let r = s.call(
        "POST",
        "/v1/auth/userpass/login/erin",
        None,
        Some(&json!({"password": "erins-real-password"})),
    );
    expect_status(&r, 200, "login");
    let login_token = r.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let login_accessor = r.json()["auth"]["accessor"].as_str().unwrap().to_string();

    // A wrapped response.
    let r = s.raw(
        "GET",
        "/v1/secret/data/app",
        &[("X-Vault-Token", ROOT), ("X-Vault-Wrap-TTL", "60")],
        None,
    );
    expect_status(&r, 200, "wrapped read");
    let wrap_token = r.json()["wrap_info"]["token"].as_str().unwrap().to_string();

    // A permission-denied request.
    let r = s.call("GET", "/v1/sys/audit", Some(&login_token), None);
    expect_status(&r, 403, "denied");

    let root_hash = audit_hash(&s, "file", ROOT);
    let pw_hash = audit_hash(&s, "file", "kv-pa55word-xyz");
    let wrong_hash = audit_hash(&s, "file", "wrong-password-xyz");
    let header_hash = audit_hash(&s, "file", "src-secret-value");
    let login_hash = audit_hash(&s, "file", &login_token);

    let entries = read_entries(&log);
    // The self-test entry comes first (OpenBao's sys/audit/test).
    assert_eq!(entries[0]["type"], "request");
    assert_eq!(entries[0]["request"]["path"], "sys/audit/test");
    assert_eq!(entries[0]["auth"], json!({"token_type": "default"}));
    for e in &entries {
        let t = e["time"].as_str().expect("time");
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{t}");
        assert!(e["type"] == "request" || e["type"] == "response");
    }

    // The KV read: request and response entries.
    let plain_read =
        |e: &Value| e["request"]["operation"] == "read" && e["request"].get("wrap_ttl").is_none();
    let req = find(&entries, "request", "secret/data/app", plain_read);
    let resp = find(&entries, "response", "secret/data/app", plain_read);
    assert_eq!(req["request"]["id"], resp["request"]["id"]);
    for e in [req, resp] {
        let a = &e["auth"];
        assert_eq!(a["client_token"], root_hash.as_str());
        assert!(a["accessor"].as_str().unwrap().starts_with("hmac-sha256:"));
        assert_eq!(a["display_name"], "token", "OpenBao's dev root token");
        assert_eq!(a["policies"], json!(["root"]));
        assert_eq!(a["token_policies"], json!(["root"]));
        assert_eq!(a["token_type"], "service");
        assert_eq!(a["policy_results"]["allowed"], true);
        let r = &e["request"];
        assert_eq!(r["operation"], "read");
        assert_eq!(r["mount_point"], "secret/");
        assert_eq!(r["mount_type"], "kv");
        assert!(r["mount_accessor"].as_str().unwrap().starts_with("kv_"));
        assert_eq!(r["mount_class"], "secret");
        assert_eq!(r["client_token"], root_hash.as_str());
        assert!(r["client_token_accessor"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:"));
        assert_eq!(r["namespace"], json!({"id": "root"}));
        assert_eq!(r["remote_address"], "127.0.0.1");
        assert_eq!(r["headers"]["x-request-source"], json!([header_hash]));
        assert_eq!(r["headers"]["x-plain"], json!(["plain-value"]));
    }
    assert!(req.get("response").is_none());
    let data = &resp["response"]["data"]["data"];
    assert_eq!(data["db_password"], pw_hash.as_str());
    assert!(data["db_user"]
        .as_str()
        .unwrap()
        .starts_with("hmac-sha256:"));
    assert_eq!(
        resp["response"]["data"]["metadata"]["version"], 1,
        "numbers stay in clear"
    );
    assert_eq!(resp["response"]["data"]["metadata"]["destroyed"], false);
    // Timestamps stay in clear and an empty deletion_time is hashed, as in
    // OpenBao's audit-log-sample.jsonl.
    let created = resp["response"]["data"]["metadata"]["created_time"]
        .as_str()
        .unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "created_time in clear: {created}"
    );
    assert!(resp["response"]["data"]["metadata"]["deletion_time"]
        .as_str()
        .unwrap()
        .starts_with("hmac-sha256:"));
    assert_eq!(resp["response"]["mount_type"], "kv");

    // The failed login: unauthenticated, the password HMAC'd, the error kept.
    let fail = |e: &Value| e["request"]["data"]["password"] == wrong_hash.as_str();
    let req = find(&entries, "request", "auth/userpass/login/erin", fail);
    assert_eq!(req["auth"]["token_type"], "default");
    assert!(req["auth"].get("client_token").is_none());
    assert_eq!(req["request"]["mount_type"], "userpass");
    assert_eq!(req["request"]["mount_class"], "auth");
    let resp = find(&entries, "response", "auth/userpass/login/erin", fail);
    assert!(!resp["error"].as_str().unwrap().is_empty(), "{resp}");
    assert!(resp["response"]["data"]["error"]
        .as_str()
        .unwrap()
        .starts_with("hmac-sha256:"));

    // The successful login: the issued token is HMAC'd in response.auth.
    let ok = |e: &Value| e["response"]["auth"].is_object();
    let resp = find(&entries, "response", "auth/userpass/login/erin", ok);
    assert_eq!(
        resp["response"]["auth"]["client_token"],
        login_hash.as_str()
    );
    assert_eq!(resp["response"]["auth"]["display_name"], Value::Null);

    // The wrapped response.
    let wrapped = |e: &Value| e["request"]["wrap_ttl"] == 60;
    let resp = find(&entries, "response", "secret/data/app", wrapped);
    let wi = &resp["response"]["wrap_info"];
    assert_eq!(wi["token"], audit_hash(&s, "file", &wrap_token).as_str());
    assert_eq!(wi["ttl"], 60);

    // The denied request is recorded with its error.
    let denied = |e: &Value| e["auth"]["client_token"] == login_hash.as_str();
    let req = find(&entries, "request", "sys/audit", denied);
    assert_eq!(req["error"], "1 error occurred:\n\t* permission denied\n\n");
    assert_eq!(req["auth"]["policy_results"]["allowed"], false);

    // The audit-hash request's input is itself HMAC'd; its output equals
    // the hash the log shows for the token.
    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [
        "kv-pa55word-xyz",
        "erins-real-password",
        "wrong-password-xyz",
        "src-secret-value",
        login_token.as_str(),
        login_accessor.as_str(),
        wrap_token.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} appears in the audit log");
    }

    // Disable, twice (idempotent, as Vault).
    expect_status(&s.delete("/v1/sys/audit/file"), 204, "disable");
    assert_eq!(s.get("/v1/sys/audit").json()["data"], json!({}));
    expect_status(&s.delete("/v1/sys/audit/file"), 204, "disable again");
    let before = std::fs::read_to_string(&log).unwrap().len();
    expect_status(&s.get("/v1/secret/data/app"), 200, "read without audit");
    assert_eq!(std::fs::read_to_string(&log).unwrap().len(), before);
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn fails_closed_when_the_only_device_cannot_record_and_recovers() {
    let s = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    enable_file(&s, "file", &log);
    expect_status(&s.get("/v1/sys/audit"), 200, "audited read");

    // The file is replaced by a directory and the server told to reopen.
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    s.signal("HUP");
    wait_for("requests to be refused", || {
        s.get("/v1/sys/audit").status == 500
    });
    let r = s.get("/v1/secret/data/app");
    expect_status(&r, 500, "unaudited request refused");
    assert_eq!(r.errors(), vec!["internal error".to_string()]);
    // Refused before running: a write does not happen.
    let r = s.put("/v1/secret/data/never", json!({"data": {"a": "b"}}));
    expect_status(&r, 500, "write refused");

    // Fixed: the next request reopens the path and is served again.
    std::fs::remove_dir(&log).unwrap();
    wait_for("recovery", || s.get("/v1/sys/audit").status == 200);
    let r = s.get("/v1/secret/data/never");
    expect_status(&r, 404, "the refused write never ran");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("secret/data/never"));
}

#[test]
fn one_failing_device_of_two_is_counted_not_fatal() {
    let s = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    let bad = dir.path().join("bad.log");
    enable_file(&s, "good", &good);
    enable_file(&s, "bad", &bad);
    std::fs::remove_file(&bad).unwrap();
    std::fs::create_dir(&bad).unwrap();
    s.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    let r = s.put("/v1/secret/data/two", json!({"data": {"k": "v"}}));
    expect_status(&r, 200, "served with one device failing");
    let r = s.get("/v1/sys/metrics?format=prometheus");
    expect_status(&r, 200, "metrics");
    let text = r.text();
    let line = text
        .lines()
        .find(|l| l.starts_with("strongroom_audit_log_failures_total{device=\"bad/\"}"))
        .unwrap_or_else(|| panic!("no failure metric in {text}"));
    let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 2.0, "{line}");
    assert!(std::fs::read_to_string(&good)
        .unwrap()
        .contains("secret/data/two"));
    assert!(!s.stderr().contains("\"k\":\"v\""));
}

#[test]
fn jsonx_prefix_and_options() {
    let s = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("x.log");
    let r = s.put(
        "/v1/sys/audit/x",
        json!({"type": "file", "options": {"file_path": log.display().to_string(), "format": "jsonx", "prefix": "AUDIT:", "hmac_accessor": "false"}}),
    );
    expect_status(&r, 204, "enable jsonx");
    let r = s.put(
        "/v1/sys/audit/bad",
        json!({"type": "file", "options": {"file_path": "/tmp/y", "format": "yaml"}}),
    );
    expect_status(&r, 400, "bad format");
    s.get("/v1/sys/audit");
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("AUDIT:<?xml version=\"1.0\" encoding=\"UTF-8\"?><json:object"),
        "{last}"
    );
    assert!(last.contains("<json:string name=\"path\">sys/audit</json:string>"));
}

#[test]
fn bao_cli_enables_lists_and_disables() {
    let s = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let log = dir.path().join("cli.log");
    let bao = |args: &[&str]| {
        let mut cmd = std::process::Command::new(common::repo_root().join(".venv/bin/bao"));
        common::clean_env(&mut cmd);
        cmd.env("HOME", home.path())
            .env("BAO_ADDR", s.addr())
            .env("BAO_TOKEN", ROOT)
            .args(args);
        let out = common::run_with_timeout(cmd, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "bao {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = bao(&[
        "audit",
        "enable",
        "file",
        &format!("file_path={}", log.display()),
    ]);
    assert!(
        out.contains("Success! Enabled the file audit device at: file/"),
        "{out}"
    );
    let out = bao(&["audit", "list"]);
    assert!(out.contains("file/") && out.contains("file"), "{out}");
    let out = bao(&["audit", "list", "-format=json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["file/"]["type"], "file");
    let out = bao(&["audit", "disable", "file/"]);
    assert!(out.contains("Success! Disabled audit device"), "{out}");
    assert!(read_entries(&log)
        .iter()
        .any(|e| e["request"]["path"] == "sys/audit"));
}

/// Initializes (one share) and unseals a fresh non-dev server.
fn init_unseal(s: &Server) -> String {
    let r = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    );
    expect_status(&r, 200, "sys/init");
    let v = r.json();
    let key = v["keys"][0].as_str().unwrap().to_string();
    let root = v["root_token"].as_str().unwrap().to_string();
    let r = s.call("PUT", "/v1/sys/unseal", None, Some(&json!({ "key": key })));
    expect_status(&r, 200, "unseal");
    root
}

#[test]
fn config_declared_device_and_api_creation_switch() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("declared.log");
    let storage = dir.path().join("data");
    let hcl = format!(
        "storage \"file\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{{PORT}}\"\n  tls_disable = true\n}}\naudit \"file\" \"declared\" {{\n  description = \"from config\"\n  options {{\n    file_path = \"{}\"\n  }}\n}}\ndisable_api_audit_creation = true\n",
        storage.display(),
        log.display()
    );
    let s = Server::with_hcl(&hcl);
    let root = init_unseal(&s);
    let r = s.call("GET", "/v1/sys/audit", Some(&root), None);
    expect_status(&r, 200, "list");
    let v = r.json();
    assert_eq!(v["data"]["declared/"]["type"], "file");
    assert_eq!(v["data"]["declared/"]["description"], "from config");
    let r = s.call(
        "PUT",
        "/v1/sys/audit/file",
        Some(&root),
        Some(&json!({"type": "file", "options": {"file_path": "/tmp/demo/audit.log"}})),
    );
    expect_status(&r, 400, "API creation refused");
    assert_eq!(
        r.errors(),
        vec!["cannot enable audit device via API; use declarative, config-based audit device management instead".to_string()]
    );
    let r = s.call("DELETE", "/v1/sys/audit/declared", Some(&root), None);
    expect_status(&r, 400, "declared devices are not disabled via API");
    let entries = read_entries(&log);
    assert!(entries
        .iter()
        .any(|e| e["request"]["path"] == "sys/audit" && e["type"] == "response"));
    assert!(!std::fs::read_to_string(&log).unwrap().contains(&root));
}

#[test]
fn socket_device_whose_listener_dies_fails_closed_and_recovers() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    let s = Server::dev();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    // Accepts one connection and collects its lines until told to stop
    // (the stop flag closes the connection and the listener).
    let collect = |listener: TcpListener, lines: Arc<Mutex<Vec<String>>>| {
        std::thread::spawn(move || {
            let Ok((conn, _)) = listener.accept() else {
                return;
            };
            conn.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut reader = BufReader::new(conn);
            let deadline = Instant::now() + Duration::from_secs(3);
            let mut buf = String::new();
            while Instant::now() < deadline {
                buf.clear();
                match reader.read_line(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => lines.lock().unwrap().push(buf.clone()),
                    Err(_) => {}
                }
            }
        })
    };
    let t = collect(listener, lines.clone());
    let r = s.put(
        "/v1/sys/audit/sock",
        json!({"type": "socket", "options": {"address": addr.to_string(), "socket_type": "tcp", "write_timeout": "1s"}}),
    );
    expect_status(&r, 204, "enable socket device");
    expect_status(&s.get("/v1/sys/audit"), 200, "audited over the socket");
    // The collector stops after 3s, closing the connection and the port.
    t.join().unwrap();
    assert!(lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("sys/audit")));
    wait_for("requests to be refused", || {
        s.get("/v1/sys/audit").status == 500
    });
    let r = s.put("/v1/secret/data/sock-never", json!({"data": {"a": "b"}}));
    expect_status(&r, 500, "write refused while the collector is gone");

    // The collector returns on the same port: the device reconnects.
    let listener = TcpListener::bind(addr).unwrap();
    let lines2 = Arc::new(Mutex::new(Vec::<String>::new()));
    let t = collect(listener, lines2.clone());
    wait_for("recovery", || s.get("/v1/sys/audit").status == 200);
    expect_status(
        &s.get("/v1/secret/data/sock-never"),
        404,
        "the refused write never ran",
    );
    t.join().unwrap();
    let got = lines2.lock().unwrap().join("");
    assert!(got.contains("secret/data/sock-never"), "{got}");
    assert!(!got.contains("\"a\":\"b\""));
}

/// The gaps closed in round 2: the enable's own response entry lands in the
/// new device (Vault writes it; the request entry predates the device),
/// and request entries carry `remote_port`, `client_id` and the mount's
/// running version as OpenBao's sample does.
#[test]
fn enable_response_entry_and_openbao_request_fields() {
    let s = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    enable_file(&s, "file", &log);
    let r = s.put(
        "/v1/secret/data/app",
        json!({"data": {"db_password": "s3cret-value"}}),
    );
    expect_status(&r, 200, "kv write");
    let r = s.get("/v1/secret/data/app");
    expect_status(&r, 200, "kv read");

    let entries = read_entries(&log);
    // First the device's self-test, then the enable's response (no request
    // entry: the device did not exist yet), as in audit-log-sample.jsonl.
    assert_eq!(entries[0]["request"]["path"], "sys/audit/test");
    assert_eq!(entries[1]["type"], "response", "{:#}", entries[1]);
    assert_eq!(entries[1]["request"]["path"], "sys/audit/file");
    assert!(!entries
        .iter()
        .any(|e| e["type"] == "request" && e["request"]["path"] == "sys/audit/file"));
    let opts = &entries[1]["request"]["data"]["options"]["file_path"];
    assert_eq!(
        opts,
        &json!(audit_hash(&s, "file", &log.display().to_string()))
    );

    let read = find(&entries, "request", "secret/data/app", |e| {
        e["request"]["operation"] == "read"
    });
    let req = &read["request"];
    assert_eq!(req["remote_address"], "127.0.0.1");
    assert!(
        req["remote_port"].as_u64().is_some_and(|p| p > 0),
        "{req:#}"
    );
    // OpenBao's client_id of a root token without an entity (the capture).
    assert_eq!(
        req["client_id"],
        "0DHqvq2D77kL2/JTPSZkTMJbkFVmUu0TzMi0jiXcFy8="
    );
    assert!(req["mount_running_version"]
        .as_str()
        .is_some_and(|v| v.ends_with("+builtin.strongroom")));
    assert_eq!(
        read["auth"]["policy_results"]["granting_policies"][0]["name"],
        "root"
    );
    let resp = find(&entries, "response", "secret/data/app", |e| {
        e["request"]["operation"] == "read"
    });
    assert_eq!(resp["request"]["id"], req["id"]);
    assert_eq!(resp["request"]["remote_port"], req["remote_port"]);
    assert!(resp["response"]["mount_running_plugin_version"].is_string());
    assert_eq!(
        resp["response"]["data"]["data"]["db_password"],
        json!(audit_hash(&s, "file", "s3cret-value"))
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("s3cret-value"));
    // Exactly one request/response pair per request, matched by id.
    let ids: Vec<&Value> = entries
        .iter()
        .filter(|e| e["request"]["path"] == "secret/data/app")
        .map(|e| &e["request"]["id"])
        .collect();
    assert_eq!(ids.len(), 4, "two requests, two entries each");
}

/// Vault's `auth` block names the token's policies (`token_policies`),
/// those its entity and groups grant (`identity_policies`) and both
/// (`policies`); a token with an entity has the entity as its `client_id`.
#[test]
fn entries_name_token_and_identity_policies() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let s = Server::dev();
    enable_file(&s, "file", &log);
    let r = s.post("/v1/sys/auth/userpass", json!({"type": "userpass"}));
    expect_status(&r, 204, "enable userpass");
    let r = s.post(
        "/v1/auth/userpass/users/ivy",
        json!({"password": "pw-ivy-1", "token_policies": "u-pol"}),
    );
    expect_status(&r, 204, "user");
    let login = |s: &Server| {
        let r = s.call(
            "POST",
            "/v1/auth/userpass/login/ivy",
            None,
            Some(&json!({"password": "pw-ivy-1"})),
        );
        expect_status(&r, 200, "login");
        r.json()["auth"].clone()
    };
    let auth = login(&s);
    let entity = auth["entity_id"].as_str().unwrap().to_string();
    let r = s.post(
        &format!("/v1/identity/entity/id/{entity}"),
        json!({"policies": ["e-pol"]}),
    );
    assert!(r.status < 300, "entity policies: {}", r.status);
    let r = s.post(
        "/v1/identity/group",
        json!({"name": "g", "policies": ["g-pol", "u-pol"], "member_entity_ids": [entity]}),
    );
    assert!(r.status < 300, "group: {}", r.status);
    let token = auth["client_token"].as_str().unwrap().to_string();
    let r = s.call("GET", "/v1/auth/token/lookup-self", Some(&token), None);
    expect_status(&r, 200, "lookup-self");
    let entries = read_entries(&log);
    let e = find(&entries, "response", "auth/token/lookup-self", |_| true);
    let a = &e["auth"];
    assert_eq!(a["entity_id"], entity.as_str(), "{e}");
    assert_eq!(a["token_policies"], json!(["default", "u-pol"]), "{e}");
    assert_eq!(
        a["identity_policies"],
        json!(["e-pol", "g-pol", "u-pol"]),
        "{e}"
    );
    assert_eq!(
        a["policies"],
        json!(["default", "e-pol", "g-pol", "u-pol"]),
        "{e}"
    );
    assert_eq!(e["request"]["client_id"], entity.as_str(), "{e}");
    // The root token has no entity: no identity_policies, as in OpenBao's log.
    let e = find(&entries, "request", "identity/group", |_| true);
    assert!(e["auth"].get("identity_policies").is_none(), "{e}");
    assert_eq!(e["auth"]["display_name"], "token", "{e}");
}

/// HA: reads served by a standby around a change made on the active node
/// are each audited as one request entry and one response entry. (Whether
/// the standby learns of the change before or during the read depends on
/// timing, so the replay itself is tested at the layer that records it:
/// `core::dispatch_replay_tests`.)
#[test]
fn standby_reads_around_a_change_elsewhere_are_audited_once() {
    use common::cluster::{Cluster, SERIAL};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Cluster::start("auditreplay", 2);
    let (active, _) = c.wait_settled(Duration::from_secs(10));
    let standby = c.standby_index(active);
    let ok = |r: &common::Response, what: &str| {
        assert!(r.status < 300, "{what}: {} {:?}", r.status, r.text());
    };
    let r = c.call(
        active,
        "POST",
        "/v1/sys/mounts/secret",
        Some(&json!({"type": "kv", "options": {"version": "2"}})),
    );
    ok(&r, "enable kv");
    let allow = json!({"policy": "path \"secret/data/replayed\" { capabilities = [\"read\"] }"});
    let deny = json!({"policy": "path \"secret/data/other\" { capabilities = [\"read\"] }"});
    ok(
        &c.call(active, "PUT", "/v1/sys/policies/acl/reader", Some(&allow)),
        "policy",
    );
    let t = c.call(
        active,
        "POST",
        "/v1/auth/token/create",
        Some(&json!({"policies": ["reader"], "no_default_policy": true})),
    );
    ok(&t, "token");
    let token = t.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &c.call(
            active,
            "PUT",
            "/v1/secret/data/replayed",
            Some(&json!({"data": {"v": "replayed-secret"}})),
        ),
        "write",
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let r = c.call(
        active,
        "PUT",
        "/v1/sys/audit/file",
        Some(&json!({"type": "file", "options": {"file_path": log.display().to_string()}})),
    );
    expect_status(&r, 204, "enable");
    let read = |c: &Cluster| {
        c.node(standby)
            .call("GET", "/v1/secret/data/replayed", Some(&token), None)
    };
    // Warm the standby's token and policy caches at the current generation.
    for _ in 0..2 {
        expect_status(&read(&c), 200, "read on the standby");
    }
    ok(
        &c.call(active, "PUT", "/v1/sys/policies/acl/reader", Some(&deny)),
        "policy change",
    );
    expect_status(&read(&c), 403, "read after the policy change");

    let entries = read_entries(&log);
    let mut by_id: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for e in entries
        .iter()
        .filter(|e| e["request"]["path"] == "secret/data/replayed")
    {
        let n = by_id
            .entry(e["request"]["id"].as_str().unwrap().to_string())
            .or_default();
        match e["type"].as_str() {
            Some("request") => n.0 += 1,
            _ => n.1 += 1,
        }
    }
    assert_eq!(by_id.len(), 3, "three reads on the standby: {entries:#?}");
    for (id, n) in &by_id {
        assert_eq!(
            *n,
            (1, 1),
            "request {id}: one request and one response entry"
        );
    }
    let refused = find(&entries, "response", "secret/data/replayed", |e| {
        e["error"]
            .as_str()
            .is_some_and(|t| t.contains("permission denied"))
    });
    assert!(refused["response"].is_object(), "{refused}");
    assert!(!std::fs::read_to_string(&log)
        .unwrap()
        .contains("replayed-secret"));
}
