//! Rekey and root generation against the real binary: a Shamir cluster on
//! file storage (rekey 3/2 → 5/3, seal, old shares refused, new ones
//! unseal; generate-root with an OTP, decoded by `strongroom operator
//! generate-root -decode`), the same ceremonies driven by the `bao` CLI, the
//! `disable_unauthed_*` switches, and recovery keys under AWS KMS (moto; run
//! through `scripts/test.sh --test rekey`).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{expect_status, Server};
use serde_json::{json, Value};

/// Initializes with `n`/`t` and returns (shares, root token). The server is
/// left sealed (Shamir) or unsealed (auto seal).
fn init(s: &Server, body: Value) -> (Vec<String>, String) {
    let r = s.call("PUT", "/v1/sys/init", None, Some(&body));
    expect_status(&r, 200, "init");
    let v = r.json();
    let key = if v["keys_base64"].as_array().is_some_and(|a| !a.is_empty()) {
        "keys_base64"
    } else {
        "recovery_keys_base64"
    };
    let shares = v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    (shares, v["root_token"].as_str().unwrap().to_string())
}

fn unseal(s: &Server, keys: &[String]) -> Value {
    let mut last = Value::Null;
    for k in keys {
        let r = s.call("PUT", "/v1/sys/unseal", None, Some(&json!({ "key": k })));
        last = r.json();
        if r.status != 200 {
            return last;
        }
    }
    last
}

fn put(s: &Server, path: &str, body: Value) -> common::http::Response {
    s.call("PUT", path, None, Some(&body))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

fn file_server(dir: &std::path::Path, extra_top: &str) -> Server {
    let storage = dir.display().to_string();
    Server::with_hcl(&format!(
        "storage \"file\" {{\n  path = \"{storage}\"\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{{PORT}}\"\n  tls_disable = true\n}}\napi_addr = \"http://127.0.0.1:{{PORT}}\"\ndisable_mlock = true\n{extra_top}\n"
    ))
}

/// Runs generate-root over HTTP with `keys` and returns the new root token
/// (decoded by our CLI).
fn generate_root(s: &Server, keys: &[String]) -> String {
    let st = put(s, "/v1/sys/generate-root/attempt", json!({}));
    expect_status(&st, 200, "generate-root attempt");
    let st = st.json();
    assert_eq!(st["started"], json!(true));
    let otp = st["otp"].as_str().unwrap().to_string();
    assert_eq!(st["otp_length"], json!(otp.len()));
    let nonce = st["nonce"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    for k in keys {
        let r = put(
            s,
            "/v1/sys/generate-root/update",
            json!({"key": k, "nonce": nonce}),
        );
        expect_status(&r, 200, "generate-root update");
        last = r.json();
    }
    assert_eq!(last["complete"], json!(true), "{last}");
    let encoded = last["encoded_token"].as_str().unwrap();
    assert_eq!(last["encoded_root_token"], json!(encoded));
    let out = common::run_binary(&[
        "operator",
        "generate-root",
        &format!("-decode={encoded}"),
        &format!("-otp={otp}"),
    ]);
    assert!(
        out.status.success(),
        "decode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn assert_root(s: &Server, token: &str) {
    let r = s.call("LIST", "/v1/sys/policies/acl", Some(token), None);
    expect_status(&r, 200, "policies with the generated root token");
    let me = s.call("GET", "/v1/auth/token/lookup-self", Some(token), None);
    expect_status(&me, 200, "lookup-self");
    assert_eq!(me.json()["data"]["policies"], json!(["root"]));
}

#[test]
fn shamir_rekey_then_generate_root() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_server(dir.path(), "");
    let (old, root) = init(&s, json!({"secret_shares": 3, "secret_threshold": 2}));
    assert_eq!(unseal(&s, &old[..2])["sealed"], json!(false));

    // Rekey needs no token (Vault); status before anything started.
    let st = s.call("GET", "/v1/sys/rekey/init", None, None);
    expect_status(&st, 200, "rekey status");
    assert_eq!(
        st.json(),
        json!({"nonce": "", "started": false, "t": 0, "n": 0, "progress": 0, "required": 2,
               "pgp_fingerprints": null, "backup": false, "verification_required": false})
    );
    let r = put(
        &s,
        "/v1/sys/rekey/init",
        json!({"secret_shares": 5, "secret_threshold": 3, "pgp_keys": ["x"]}),
    );
    expect_status(&r, 400, "pgp keys");
    let r = put(
        &s,
        "/v1/sys/rekey-recovery-key/init",
        json!({"secret_shares": 5, "secret_threshold": 3}),
    );
    expect_status(&r, 400, "recovery rekey under shamir");
    assert_eq!(r.json()["errors"], json!(["recovery keys not supported"]));
    let st = put(
        &s,
        "/v1/sys/rekey/init",
        json!({"secret_shares": 5, "secret_threshold": 3}),
    );
    expect_status(&st, 200, "rekey init");
    let st = st.json();
    assert_eq!(
        (st["started"].clone(), st["n"].clone(), st["t"].clone()),
        (json!(true), json!(5), json!(3))
    );
    let nonce = st["nonce"].as_str().unwrap().to_string();
    let r = put(
        &s,
        "/v1/sys/rekey/update",
        json!({"key": old[0], "nonce": "wrong"}),
    );
    expect_status(&r, 400, "wrong nonce");
    assert!(
        r.text().contains("incorrect nonce supplied"),
        "{}",
        r.text()
    );
    // Cancel resets; start again.
    expect_status(
        &s.call("DELETE", "/v1/sys/rekey/init", None, None),
        204,
        "cancel",
    );
    assert_eq!(
        s.call("GET", "/v1/sys/rekey/init", None, None).json()["started"],
        json!(false)
    );
    let nonce2 = put(
        &s,
        "/v1/sys/rekey/init",
        json!({"secret_shares": 5, "secret_threshold": 3}),
    )
    .json()["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(nonce, nonce2);
    let p = put(
        &s,
        "/v1/sys/rekey/update",
        json!({"key": old[0], "nonce": nonce2}),
    );
    expect_status(&p, 200, "first share");
    assert_eq!(p.json()["progress"], json!(1));
    let r = put(
        &s,
        "/v1/sys/rekey/update",
        json!({"key": old[0], "nonce": nonce2}),
    );
    expect_status(&r, 400, "duplicate share");
    let done = put(
        &s,
        "/v1/sys/rekey/update",
        json!({"key": old[2], "nonce": nonce2}),
    );
    expect_status(&done, 200, "second share");
    let done = done.json();
    assert_eq!(done["complete"], json!(true));
    let new = strings(&done["keys_base64"]);
    assert_eq!(new.len(), 5);
    assert_eq!(strings(&done["keys"]).len(), 5);
    let status = s.call("GET", "/v1/sys/seal-status", None, None).json();
    assert_eq!(
        (status["n"].clone(), status["t"].clone()),
        (json!(5), json!(3))
    );
    // Backups need sudo and there are none.
    expect_status(
        &s.call("GET", "/v1/sys/rekey/backup", None, None),
        403,
        "backup without token",
    );
    expect_status(
        &s.call("GET", "/v1/sys/rekey/backup", Some(&root), None),
        400,
        "no backup",
    );

    // Seal: the old shares no longer unseal, the new ones do (the data is intact).
    expect_status(
        &s.call(
            "PUT",
            "/v1/sys/mounts/kv",
            Some(&root),
            Some(&json!({"type": "kv"})),
        ),
        204,
        "mount",
    );
    expect_status(
        &s.call("PUT", "/v1/kv/a", Some(&root), Some(&json!({"v": 1}))),
        204,
        "write",
    );
    expect_status(
        &s.call("PUT", "/v1/sys/seal", Some(&root), None),
        204,
        "seal",
    );
    let r = unseal(&s, &old[..3]);
    assert!(
        r["sealed"] != json!(false),
        "old shares must not unseal: {r}"
    );
    put(&s, "/v1/sys/unseal", json!({"reset": true}));
    assert_eq!(unseal(&s, &new[1..4])["sealed"], json!(false));
    assert_eq!(
        s.call("GET", "/v1/kv/a", Some(&root), None).json()["data"]["v"],
        json!(1)
    );

    // Generate a root token with the new shares.
    let r = put(
        &s,
        "/v1/sys/generate-root/attempt",
        json!({"otp": "too-short"}),
    );
    expect_status(&r, 400, "short otp");
    let token = generate_root(&s, &new[..3]);
    assert_ne!(token, root);
    assert_root(&s, &token);
    // Wrong nonce is 400; cancel resets.
    put(&s, "/v1/sys/generate-root/attempt", json!({}));
    let r = put(
        &s,
        "/v1/sys/generate-root/update",
        json!({"key": new[0], "nonce": "nope"}),
    );
    expect_status(&r, 400, "wrong nonce");
    expect_status(
        &s.call("DELETE", "/v1/sys/generate-root/attempt", None, None),
        204,
        "cancel",
    );
    let st = s
        .call("GET", "/v1/sys/generate-root/attempt", None, None)
        .json();
    assert_eq!(
        (st["started"].clone(), st["progress"].clone()),
        (json!(false), json!(0))
    );
}

#[test]
fn disabled_unauthenticated_endpoints_answer_405() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_server(
        dir.path(),
        "disable_unauthed_rekey_endpoints = true\ndisable_unauthed_generate_root_endpoints = true",
    );
    let (keys, root) = init(&s, json!({"secret_shares": 1, "secret_threshold": 1}));
    unseal(&s, &keys);
    for (method, path) in [
        ("GET", "/v1/sys/rekey/init"),
        ("PUT", "/v1/sys/rekey/init"),
        ("DELETE", "/v1/sys/rekey/init"),
        ("GET", "/v1/sys/generate-root/attempt"),
        ("PUT", "/v1/sys/generate-root/attempt"),
    ] {
        for token in [None, Some(root.as_str())] {
            let r = s.call(
                method,
                path,
                token,
                Some(&json!({"secret_shares": 3, "secret_threshold": 2})),
            );
            expect_status(&r, 405, path);
            assert_eq!(r.text(), r#"{"errors":["unsupported operation"]}"#);
        }
    }
    // The authenticated OpenBao endpoint still works with a token.
    let st = s.call(
        "GET",
        "/v1/sys/generate-root-token/attempt",
        Some(&root),
        None,
    );
    expect_status(&st, 200, "generate-root-token status");
    assert_eq!(st.json()["data"]["started"], json!(false));
    expect_status(
        &s.call("GET", "/v1/sys/generate-root-token/attempt", None, None),
        403,
        "generate-root-token without a token",
    );
}

fn bao(s: &Server, token: &str, home: &std::path::Path, args: &[&str]) -> String {
    let bin: PathBuf = common::repo_root().join(".venv/bin/bao");
    assert!(
        bin.is_file(),
        "{} is missing: run `make test`",
        bin.display()
    );
    let mut cmd = Command::new(bin);
    common::clean_env(&mut cmd);
    cmd.env("HOME", home)
        .env("VAULT_ADDR", s.addr())
        .env("BAO_ADDR", s.addr())
        .env("VAULT_TOKEN", token)
        .env("BAO_TOKEN", token)
        .env("NO_COLOR", "1")
        .args(args);
    let out = common::run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "bao {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bao_cli_rekey_and_generate_root() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let s = file_server(dir.path(), "");
    let (old, root) = init(&s, json!({"secret_shares": 3, "secret_threshold": 2}));
    unseal(&s, &old[..2]);
    let b = |args: &[&str]| bao(&s, &root, home.path(), args);

    let out = b(&[
        "operator",
        "rekey",
        "-init",
        "-key-shares=3",
        "-key-threshold=2",
    ]);
    assert!(out.contains("New Shares") && out.contains("0/2"), "{out}");
    let st = b(&["operator", "rekey", "-status", "-format=json"]);
    let st: Value = serde_json::from_str(&st).unwrap();
    assert_eq!(st["started"], json!(true), "{st}");
    // A key given as an argument needs -nonce (the CLI fills it in only
    // when it prompts).
    let nonce = format!("-nonce={}", st["nonce"].as_str().unwrap());
    b(&["operator", "rekey", &nonce, &old[0]]);
    let out = b(&["operator", "rekey", &nonce, &old[1]]);
    let new: Vec<String> = out
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Key ")
                .and_then(|r| r.split_once(": "))
                .map(|(_, k)| k.trim().to_string())
        })
        .collect();
    assert_eq!(new.len(), 3, "{out}");

    // bao 2.7 speaks OpenBao's authenticated sys/generate-root-token.
    let init = b(&["operator", "generate-root", "-init", "-format=json"]);
    let init: Value = serde_json::from_str(&init).unwrap_or_else(|e| panic!("{e}: {init}"));
    let otp = init["otp"].as_str().unwrap().to_string();
    assert_eq!(otp.len(), 28);
    let nonce = format!("-nonce={}", init["nonce"].as_str().unwrap());
    b(&["operator", "generate-root", &nonce, &new[0]]);
    let done = b(&["operator", "generate-root", "-format=json", &nonce, &new[2]]);
    let done: Value = serde_json::from_str(&done).unwrap_or_else(|e| panic!("{e}: {done}"));
    assert_eq!(done["complete"], json!(true), "{done}");
    let encoded = done["encoded_token"].as_str().unwrap();
    let token = b(&[
        "operator",
        "generate-root",
        &format!("-decode={encoded}"),
        &format!("-otp={otp}"),
    ]);
    let token = token.trim();
    assert!(token.starts_with("hvs."), "{token}");
    assert_root(&s, token);

    // An OTP made by bao itself (-generate-otp) has the right length.
    let otp = b(&["operator", "generate-root", "-generate-otp"])
        .trim()
        .to_string();
    b(&["operator", "generate-root", "-init", &format!("-otp={otp}")]);
    b(&["operator", "generate-root", "-cancel"]);
}

fn moto() -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty())
}

#[test]
fn recovery_keys_under_kms() {
    let Some(ep) = moto() else {
        eprintln!("SKIPPED recovery_keys_under_kms: AWS_ENDPOINT_URL is not set (run scripts/test.sh --test rekey)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().display().to_string();
    let s = Server::with_hcl(&format!(
        "storage \"file\" {{\n  path = \"{storage}\"\n}}\nseal \"awskms\" {{\n  kms_key_id = \"alias/strongroom\"\n  endpoint = \"{ep}\"\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{{PORT}}\"\n  tls_disable = true\n}}\napi_addr = \"http://127.0.0.1:{{PORT}}\"\n"
    ));
    let (old, root) = init(&s, json!({"recovery_shares": 3, "recovery_threshold": 2}));
    let start = Instant::now();
    while s.call("GET", "/v1/sys/health", None, None).status != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never unsealed: {}",
            s.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // sys/rekey is refused under an auto seal; the recovery key is rekeyed.
    let r = put(
        &s,
        "/v1/sys/rekey/init",
        json!({"secret_shares": 3, "secret_threshold": 2}),
    );
    expect_status(&r, 400, "barrier rekey under awskms");
    let st = put(
        &s,
        "/v1/sys/rekey-recovery-key/init",
        json!({"secret_shares": 4, "secret_threshold": 3}),
    );
    expect_status(&st, 200, "recovery rekey init");
    let nonce = st.json()["nonce"].as_str().unwrap().to_string();
    // A wrong quorum (a fabricated share) is refused and resets the progress.
    put(
        &s,
        "/v1/sys/rekey-recovery-key/update",
        json!({"key": old[0], "nonce": nonce}),
    );
    let bogus = base64_of(&[1u8; 33]);
    let r = put(
        &s,
        "/v1/sys/rekey-recovery-key/update",
        json!({"key": bogus, "nonce": nonce}),
    );
    expect_status(&r, 400, "wrong recovery quorum");
    assert_eq!(
        s.call("GET", "/v1/sys/rekey-recovery-key/init", None, None)
            .json()["progress"],
        json!(0)
    );
    put(
        &s,
        "/v1/sys/rekey-recovery-key/update",
        json!({"key": old[0], "nonce": nonce}),
    );
    let done = put(
        &s,
        "/v1/sys/rekey-recovery-key/update",
        json!({"key": old[1], "nonce": nonce}),
    );
    expect_status(&done, 200, "recovery rekey done");
    let new = strings(&done.json()["keys_base64"]);
    assert_eq!(new.len(), 4);
    let status = s.call("GET", "/v1/sys/seal-status", None, None).json();
    assert_eq!(
        (status["n"].clone(), status["t"].clone()),
        (json!(4), json!(3))
    );

    // Generate-root now takes 3 of the new recovery shares; the old ones fail.
    let st = put(&s, "/v1/sys/generate-root/attempt", json!({})).json();
    assert_eq!(st["required"], json!(3));
    let nonce = st["nonce"].as_str().unwrap().to_string();
    for k in &old[..2] {
        put(
            &s,
            "/v1/sys/generate-root/update",
            json!({"key": k, "nonce": nonce}),
        );
    }
    let r = put(
        &s,
        "/v1/sys/generate-root/update",
        json!({"key": old[2], "nonce": nonce}),
    );
    expect_status(&r, 400, "old recovery shares");
    assert!(
        r.text().contains("recovery key verification failed"),
        "{}",
        r.text()
    );
    expect_status(
        &s.call("DELETE", "/v1/sys/generate-root/attempt", None, None),
        204,
        "cancel",
    );
    let token = generate_root(&s, &new[1..4]);
    assert_ne!(token, root);
    assert_root(&s, &token);
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// `strongroom ARGS` against `s` with `token`; panics unless it exits 0.
fn strongroom(s: &Server, token: &str, args: &[&str]) -> String {
    let mut cmd = common::command();
    cmd.env("VAULT_ADDR", s.addr())
        .env("VAULT_TOKEN", token)
        .args(args);
    let out = common::run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "strongroom {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn strongroom_cli_rekey_and_generate_root() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_server(dir.path(), "");
    let (old, root) = init(&s, json!({"secret_shares": 3, "secret_threshold": 2}));
    unseal(&s, &old[..2]);
    let sr = |args: &[&str]| strongroom(&s, &root, args);

    let out = sr(&[
        "operator",
        "rekey",
        "-init",
        "-key-shares=2",
        "-key-threshold=2",
    ]);
    assert_eq!(row(&out, "Rekey Progress"), "0/2", "{out}");
    let out = sr(&["operator", "rekey", &old[0]]);
    assert_eq!(row(&out, "Rekey Progress"), "1/2", "{out}");
    let out = sr(&["operator", "rekey", &old[1]]);
    assert!(
        out.contains("Vault rekeyed with 2 key shares and a key threshold of 2"),
        "{out}"
    );
    let new: Vec<String> = out
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Key ")
                .and_then(|r| r.split_once(": "))
                .map(|(_, k)| k.trim().to_string())
        })
        .collect();
    assert_eq!(new.len(), 2, "{out}");
    let st = sr(&["operator", "rekey", "-status"]);
    assert_eq!(row(&st, "Started"), "false", "{st}");

    let init: Value =
        serde_json::from_str(&sr(&["operator", "generate-root", "-init", "-format=json"])).unwrap();
    let otp = init["otp"].as_str().unwrap().to_string();
    sr(&["operator", "generate-root", &new[0]]);
    let done: Value =
        serde_json::from_str(&sr(&["operator", "generate-root", "-format=json", &new[1]])).unwrap();
    assert_eq!(done["complete"], json!(true), "{done}");
    let encoded = done["encoded_token"].as_str().unwrap();
    let token = sr(&[
        "operator",
        "generate-root",
        &format!("-decode={encoded}"),
        &format!("-otp={otp}"),
    ]);
    assert_root(&s, token.trim());

    sr(&["operator", "generate-root", "-init"]);
    sr(&["operator", "generate-root", "-cancel"]);
    let st = sr(&["operator", "generate-root", "-status"]);
    assert_eq!(row(&st, "Started"), "false", "{st}");
}

/// The value of a `Key    Value` table row.
fn row(table: &str, key: &str) -> String {
    table
        .lines()
        .find_map(|l| l.strip_prefix(key).filter(|r| r.starts_with(' ')))
        .map(|r| r.trim().to_string())
        .unwrap_or_default()
}

/// Two nodes on one DynamoDB table (moto) with KMS: rekey and
/// generate-root sent to the standby are served by the active node, whose
/// memory holds the operation.
#[test]
fn standby_forwards_to_the_active_node() {
    let Some(ep) = moto() else {
        eprintln!("SKIPPED standby_forwards_to_the_active_node: AWS_ENDPOINT_URL is not set (run scripts/test.sh --test rekey)");
        return;
    };
    let table = format!("rekey-ha-{}", std::process::id());
    let hcl = format!(
        "storage \"dynamodb\" {{\n  table = \"{table}\"\n  endpoint = \"{ep}\"\n  create_table = \"true\"\n  ha_enabled = \"true\"\n  lease_ttl = \"3s\"\n}}\nseal \"awskms\" {{\n  kms_key_id = \"alias/strongroom\"\n  endpoint = \"{ep}\"\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{{PORT}}\"\n  tls_disable = true\n}}\napi_addr = \"http://127.0.0.1:{{PORT}}\"\n"
    );
    let nodes = [Server::with_hcl(&hcl), Server::with_hcl(&hcl)];
    let start = Instant::now();
    let keys = loop {
        let r = put(
            &nodes[0],
            "/v1/sys/init",
            json!({"recovery_shares": 1, "recovery_threshold": 1}),
        );
        if r.status == 200 {
            break strings(&r.json()["recovery_keys_base64"]);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "init: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let standby = loop {
        let st: Vec<u16> = nodes
            .iter()
            .map(|n| n.call("GET", "/v1/sys/health", None, None).status)
            .collect();
        match st.as_slice() {
            [200, 473] => break &nodes[1],
            [473, 200] => break &nodes[0],
            _ => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "never settled: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let st = put(
        standby,
        "/v1/sys/rekey-recovery-key/init",
        json!({"secret_shares": 3, "secret_threshold": 2}),
    );
    expect_status(&st, 200, "rekey init via the standby");
    let nonce = st.json()["nonce"].as_str().unwrap().to_string();
    let st = standby
        .call("GET", "/v1/sys/rekey-recovery-key/init", None, None)
        .json();
    assert_eq!(
        (st["started"].clone(), st["nonce"].clone()),
        (json!(true), json!(nonce))
    );
    let done = put(
        standby,
        "/v1/sys/rekey-recovery-key/update",
        json!({"key": keys[0], "nonce": nonce}),
    );
    expect_status(&done, 200, "rekey update via the standby");
    let new = strings(&done.json()["keys_base64"]);
    assert_eq!(new.len(), 3);
    // Generate-root through the standby needs 2 of the new shares.
    let token = generate_root(standby, &new[..2]);
    assert_root(standby, &token);
}
