//! Real Vault clients against the real binary: the `bao` CLI (OpenBao 2.7.2,
//! from the pinned venv in `.venv/`), hvac (tests/python/hvac_smoke.py), and
//! our own `strongroom` client commands.
//!
//! The venv is made by `make test` (tests/requirements.txt). Without it these
//! tests fail, never pass silently.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::{expect_status, Server, ROOT};
use serde_json::{json, Value};

fn venv_bin(name: &str) -> PathBuf {
    let p = common::repo_root().join(".venv/bin").join(name);
    assert!(
        p.is_file(),
        "{} is missing: the pinned test tools are not installed. Run `make test` \
         (it creates .venv/ from tests/requirements.txt) and try again.",
        p.display()
    );
    p
}

/// A client command with the server's address and the root token, in both
/// the VAULT_* and BAO_* spellings, and a private HOME (no ~/.vault-token).
fn client(program: PathBuf, s: &Server, home: &std::path::Path) -> Command {
    let mut cmd = Command::new(program);
    common::clean_env(&mut cmd);
    let addr = s.addr();
    cmd.env("HOME", home)
        .env("VAULT_ADDR", &addr)
        .env("BAO_ADDR", &addr)
        .env("VAULT_TOKEN", ROOT)
        .env("BAO_TOKEN", ROOT)
        .env("NO_COLOR", "1");
    cmd
}

struct Clients {
    server: Server,
    home: tempfile::TempDir,
}

impl Clients {
    fn new() -> Self {
        Self::with(Server::dev())
    }

    fn with(server: Server) -> Self {
        Clients {
            server,
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn run(&self, program: PathBuf, args: &[&str]) -> Output {
        let mut cmd = client(program, &self.server, self.home.path());
        cmd.args(args);
        common::run_with_timeout(cmd, Duration::from_secs(120))
    }

    /// `bao ARGS`; panics (with its output) unless it exits 0.
    fn bao(&self, args: &[&str]) -> String {
        let out = self.run(venv_bin("bao"), args);
        assert!(
            out.status.success(),
            "bao {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn bao_json(&self, args: &[&str]) -> Value {
        let out = self.bao(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bao {args:?}: not JSON ({e}): {out}"))
    }

    fn strongroom(&self, args: &[&str]) -> Output {
        self.run(common::binary(), args)
    }
}

#[test]
fn bao_cli_status() {
    let c = Clients::new();
    let out = c.bao(&["status"]);
    assert!(
        out.contains("Sealed") && out.contains("false"),
        "bao status: {out}"
    );
    let st = c.bao_json(&["status", "-format=json"]);
    assert_eq!(st["sealed"], false, "{st}");
    assert_eq!(st["initialized"], true, "{st}");
}

#[test]
fn bao_cli_kv_v2() {
    let c = Clients::new();
    // kv v2 at secret/
    c.bao(&["kv", "put", "secret/app", "user=alice"]);
    let v = c.bao_json(&["kv", "get", "-format=json", "secret/app"]);
    assert_eq!(v["data"]["data"], json!({"user": "alice"}), "{v}");
    assert_eq!(v["data"]["metadata"]["version"], 1);
    c.bao(&["kv", "put", "secret/app", "user=bob", "pw=x"]);
    let out = c.bao(&["kv", "get", "-field=user", "secret/app"]);
    assert_eq!(out.trim(), "bob");
    let out = c.bao(&["kv", "metadata", "get", "secret/app"]);
    assert!(
        out.contains("current_version") && out.contains('2'),
        "metadata get: {out}"
    );
    let m = c.bao_json(&["kv", "metadata", "get", "-format=json", "secret/app"]);
    assert_eq!(m["data"]["current_version"], 2, "{m}");
    c.bao(&["kv", "patch", "secret/app", "extra=1"]);
    let v = c.bao_json(&["kv", "get", "-format=json", "secret/app"]);
    assert_eq!(
        v["data"]["data"],
        json!({"user": "bob", "pw": "x", "extra": "1"}),
        "{v}"
    );
    let l = c.bao_json(&["kv", "list", "-format=json", "secret/"]);
    assert_eq!(l, json!(["app"]));

    // delete / undelete
    c.bao(&["kv", "delete", "secret/app"]);
    expect_status(&c.server.get("/v1/secret/data/app"), 404, "deleted by bao");
    c.bao(&["kv", "delete", "-versions=1", "secret/app"]);
    expect_status(
        &c.server.get("/v1/secret/data/app?version=1"),
        404,
        "v1 deleted by bao",
    );
    c.bao(&["kv", "undelete", "-versions=1", "secret/app"]);
    let v = c.bao_json(&["kv", "get", "-format=json", "-version=1", "secret/app"]);
    assert_eq!(v["data"]["data"], json!({"user": "alice"}), "{v}");
    c.bao(&["kv", "destroy", "-versions=1", "secret/app"]);
    let m = c.server.get("/v1/secret/metadata/app").json();
    assert_eq!(m["data"]["versions"]["1"]["destroyed"], true, "{m}");
    c.bao(&["kv", "metadata", "delete", "secret/app"]);
    expect_status(
        &c.server.get("/v1/secret/metadata/app"),
        404,
        "metadata deleted by bao",
    );

    // a missing secret: exit code 2, as Vault
    let out = c.run(venv_bin("bao"), &["kv", "get", "secret/missing"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "bao kv get of a missing key: {out:?}"
    );
}

#[test]
fn bao_cli_secrets_enable_list_and_kv_v1() {
    let c = Clients::new();
    // kv v1
    c.bao(&["secrets", "enable", "-path=kv1", "kv"]);
    c.bao(&["kv", "put", "kv1/x", "a=b"]);
    let v = c.bao_json(&["kv", "get", "-format=json", "kv1/x"]);
    assert_eq!(v["data"], json!({"a": "b"}), "{v}");
    c.bao(&["secrets", "enable", "-path=kv2", "-version=2", "kv"]);
    c.bao(&["kv", "put", "kv2/y", "c=d"]);
    let v = c.bao_json(&["kv", "get", "-format=json", "kv2/y"]);
    assert_eq!(v["data"]["data"], json!({"c": "d"}), "{v}");

    // secrets list
    let out = c.bao(&["secrets", "list"]);
    for m in ["kv1/", "kv2/", "secret/", "sys/"] {
        assert!(out.contains(m), "secrets list lacks {m}: {out}");
    }
    let l = c.bao_json(&["secrets", "list", "-format=json"]);
    assert_eq!(l["kv1/"]["type"], "kv", "{l}");
    assert_eq!(l["secret/"]["options"]["version"], "2", "{l}");
    c.bao(&["secrets", "tune", "-default-lease-ttl=1h", "kv1/"]);
    c.bao(&["secrets", "disable", "kv1/"]);
    let l = c.bao_json(&["secrets", "list", "-format=json"]);
    assert!(l.get("kv1/").is_none(), "{l}");
}

#[test]
fn bao_cli_operator_commands() {
    let c = Clients::new();
    let out = c.bao(&["operator", "key-status"]);
    assert!(out.contains("Key Term"), "key-status: {out}");
    c.bao(&["operator", "rotate"]);
    let out = c.bao(&["operator", "key-status", "-format=json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["term"], 2, "{v}");
    c.bao(&["operator", "seal"]);
    let out = c.run(venv_bin("bao"), &["status"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "bao status of a sealed server exits 2: {out:?}"
    );
}

#[test]
fn hvac_kv_v2() {
    let c = Clients::new();
    let script = common::repo_root().join("tests/python/hvac_smoke.py");
    let out = c.run(venv_bin("python"), &[script.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hvac script failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 failed"), "{stdout}");
}

#[test]
fn bao_cli_init_and_unseal_a_file_server() {
    let data = tempfile::tempdir().expect("tempdir");
    let c = Clients::with(Server::file(data.path(), ""));
    let out = c.run(venv_bin("bao"), &["status"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "bao status before init exits 2: {out:?}"
    );
    let init = c.bao_json(&[
        "operator",
        "init",
        "-key-shares=3",
        "-key-threshold=2",
        "-format=json",
    ]);
    let keys: Vec<String> = init["unseal_keys_b64"]
        .as_array()
        .unwrap_or_else(|| panic!("{init}"))
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 3, "{init}");
    let root = init["root_token"].as_str().expect("root_token").to_string();
    c.bao(&["operator", "unseal", &keys[2]]);
    c.bao(&["operator", "unseal", &keys[0]]);
    let st = c.bao_json(&["status", "-format=json"]);
    assert_eq!(st["sealed"], false, "{st}");
    expect_status(
        &c.server.call("GET", "/v1/sys/mounts", Some(&root), None),
        200,
        "the root token from bao operator init",
    );
}

// ---- our own client (src/cli/client), same flags as Vault's --------------

fn ok_stdout(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn strongroom_client_status() {
    let c = Clients::new();
    let out = c.strongroom(&["status"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "strongroom status (unsealed exits 0): {out:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Sealed") && stdout.contains("false"),
        "{stdout}"
    );
    expect_status(
        &c.server.call("PUT", "/v1/sys/seal", Some(ROOT), None),
        204,
        "seal",
    );
    let out = c.strongroom(&["status"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "strongroom status (sealed exits 2): {out:?}"
    );
}

#[test]
fn strongroom_client_kv() {
    let c = Clients::new();
    ok_stdout(
        "kv put",
        &c.strongroom(&["kv", "put", "secret/app", "user=alice"]),
    );
    let out = ok_stdout(
        "kv get -format=json",
        &c.strongroom(&["kv", "get", "-format=json", "secret/app"]),
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["data"]["data"], json!({"user": "alice"}), "{v}");
    let out = ok_stdout(
        "kv get -field",
        &c.strongroom(&["kv", "get", "-field=user", "secret/app"]),
    );
    assert_eq!(out.trim(), "alice");
    let out = ok_stdout(
        "kv metadata get",
        &c.strongroom(&["kv", "metadata", "get", "secret/app"]),
    );
    assert!(out.contains("current_version"), "{out}");
    let out = ok_stdout("kv list", &c.strongroom(&["kv", "list", "secret/"]));
    assert!(out.contains("app"), "{out}");
    ok_stdout("kv delete", &c.strongroom(&["kv", "delete", "secret/app"]));
    expect_status(
        &c.server.get("/v1/secret/data/app"),
        404,
        "deleted by strongroom kv delete",
    );
    ok_stdout(
        "kv undelete",
        &c.strongroom(&["kv", "undelete", "-versions=1", "secret/app"]),
    );
    expect_status(
        &c.server.get("/v1/secret/data/app"),
        200,
        "undeleted by strongroom kv undelete",
    );
    let out = c.strongroom(&["kv", "get", "secret/missing"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "kv get of a missing key exits 2: {out:?}"
    );
}

#[test]
fn strongroom_client_operator_init_unseal() {
    let data = tempfile::tempdir().expect("tempdir");
    let c = Clients::with(Server::file(data.path(), ""));
    let out = ok_stdout(
        "operator init",
        &c.strongroom(&[
            "operator",
            "init",
            "-key-shares=3",
            "-key-threshold=2",
            "-format=json",
        ]),
    );
    let init: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let k0 = init["unseal_keys_b64"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{init}"))
        .to_string();
    let k1 = init["unseal_keys_hex"][1]
        .as_str()
        .unwrap_or_else(|| panic!("{init}"))
        .to_string();
    ok_stdout(
        "operator unseal",
        &c.strongroom(&["operator", "unseal", &k0]),
    );
    ok_stdout(
        "operator unseal",
        &c.strongroom(&["operator", "unseal", &k1]),
    );
    expect_status(
        &c.server.call("GET", "/v1/sys/health", None, None),
        200,
        "unsealed by strongroom",
    );
}

// ---- login, token, policy, auth (our client) -------------------------------

impl Clients {
    /// `strongroom ARGS` with no VAULT_TOKEN/BAO_TOKEN in the environment,
    /// so the token comes from `~/.vault-token` in the private HOME.
    fn strongroom_no_env_token(&self, args: &[&str]) -> Output {
        let mut cmd = client(common::binary(), &self.server, self.home.path());
        cmd.env_remove("VAULT_TOKEN")
            .env_remove("BAO_TOKEN")
            .args(args);
        common::run_with_timeout(cmd, Duration::from_secs(120))
    }

    fn strongroom_json(&self, args: &[&str]) -> Value {
        let out = ok_stdout(&format!("strongroom {args:?}"), &self.strongroom(args));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    fn stored_token(&self) -> String {
        std::fs::read_to_string(self.home.path().join(".vault-token"))
            .expect("~/.vault-token written by login")
    }
}

const READ_SECRET_POLICY: &str = "path \"secret/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n";

#[test]
fn strongroom_client_policy_commands() {
    let c = Clients::new();
    let file = c.home.path().join("p.hcl");
    std::fs::write(&file, READ_SECRET_POLICY).unwrap();
    let out = ok_stdout(
        "policy write",
        &c.strongroom(&["policy", "write", "Reader", file.to_str().unwrap()]),
    );
    assert_eq!(out, "Success! Uploaded policy: reader\n");
    let out = ok_stdout("policy read", &c.strongroom(&["policy", "read", "reader"]));
    assert_eq!(out, READ_SECRET_POLICY.trim().to_string() + "\n");
    let v = c.strongroom_json(&["policy", "read", "-format=json", "reader"]);
    assert_eq!(v, json!({"policy": READ_SECRET_POLICY}));
    let out = ok_stdout("policy list", &c.strongroom(&["policy", "list"]));
    let names: Vec<&str> = out.lines().collect();
    assert!(
        names.contains(&"reader") && names.contains(&"default"),
        "{out}"
    );
    let v = c.strongroom_json(&["policy", "list", "-format=json"]);
    assert!(v.as_array().unwrap().contains(&json!("reader")), "{v}");
    // The server agrees.
    let body = c.server.get("/v1/sys/policies/acl/reader").json();
    assert_eq!(body["data"]["policy"], READ_SECRET_POLICY, "{body}");

    let out = ok_stdout(
        "policy delete",
        &c.strongroom(&["policy", "delete", "reader"]),
    );
    assert_eq!(out, "Success! Deleted policy: reader\n");
    let out = c.strongroom(&["policy", "read", "reader"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "No policy named: reader\n"
    );
    let out = c.strongroom(&["policy", "write", "only-a-name"]);
    assert_eq!(out.status.code(), Some(1), "usage error: {out:?}");
    let out = c.strongroom(&["policy", "write", "x", "/nonexistent/p.hcl"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn strongroom_client_token_lifecycle() {
    let c = Clients::new();
    let file = c.home.path().join("p.hcl");
    std::fs::write(&file, READ_SECRET_POLICY).unwrap();
    ok_stdout(
        "policy write",
        &c.strongroom(&["policy", "write", "reader", file.to_str().unwrap()]),
    );
    let created = c.strongroom_json(&[
        "token",
        "create",
        "-policy=reader",
        "-ttl=1h",
        "-metadata=team=ops",
        "-display-name=ci",
        "-format=json",
    ]);
    let token = created["auth"]["client_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    let accessor = created["auth"]["accessor"].as_str().unwrap().to_string();
    assert_eq!(created["auth"]["lease_duration"], 3600, "{created}");
    let policies = created["auth"]["policies"].as_array().unwrap();
    assert!(policies.contains(&json!("reader")), "{created}");

    let out = ok_stdout(
        "token create -field=token",
        &c.strongroom(&["token", "create", "-policy=reader", "-field=token"]),
    );
    assert!(!out.trim().is_empty() && !out.contains('\n'), "{out:?}");

    let looked = c.strongroom_json(&["token", "lookup", "-format=json", &token]);
    assert_eq!(looked["data"]["display_name"], "token-ci", "{looked}");
    assert_eq!(looked["data"]["meta"], json!({"team": "ops"}), "{looked}");
    assert!(
        looked["data"]["policies"]
            .as_array()
            .unwrap()
            .contains(&json!("reader")),
        "{looked}"
    );
    let by_accessor =
        c.strongroom_json(&["token", "lookup", "-format=json", "-accessor", &accessor]);
    assert_eq!(
        by_accessor["data"]["accessor"],
        accessor.as_str(),
        "{by_accessor}"
    );
    let out = ok_stdout(
        "token lookup (table)",
        &c.strongroom(&["token", "lookup", &token]),
    );
    assert!(out.contains("policies") && out.contains("reader"), "{out}");

    let renewed = c.strongroom_json(&["token", "renew", "-increment=2h", "-format=json", &token]);
    assert_eq!(renewed["auth"]["client_token"], token.as_str(), "{renewed}");
    assert!(
        renewed["auth"]["lease_duration"].as_i64().unwrap() > 3600,
        "{renewed}"
    );

    let out = ok_stdout(
        "token capabilities",
        &c.strongroom(&["token", "capabilities", &token, "secret/data/x"]),
    );
    assert_eq!(out, "list, read\n");

    let out = ok_stdout("token revoke", &c.strongroom(&["token", "revoke", &token]));
    assert_eq!(out, "Success! Revoked token (if it existed)\n");
    let out = c.strongroom(&["token", "lookup", &token]);
    assert_eq!(out.status.code(), Some(2), "lookup after revoke: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("Error looking up token: "),
        "{out:?}"
    );
    let out = c.strongroom(&["token", "revoke"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn strongroom_client_auth_userpass_login() {
    let c = Clients::new();
    let file = c.home.path().join("p.hcl");
    std::fs::write(&file, READ_SECRET_POLICY).unwrap();
    ok_stdout(
        "policy write",
        &c.strongroom(&["policy", "write", "p", file.to_str().unwrap()]),
    );
    let out = ok_stdout(
        "auth enable",
        &c.strongroom(&["auth", "enable", "-description=people", "userpass"]),
    );
    assert_eq!(out, "Success! Enabled userpass auth method at: userpass/\n");
    let out = ok_stdout("auth list", &c.strongroom(&["auth", "list"]));
    assert!(
        out.lines()
            .any(|l| l.starts_with("userpass/") && l.contains("people")),
        "{out}"
    );
    let l = c.strongroom_json(&["auth", "list", "-format=json"]);
    assert_eq!(l["userpass/"]["type"], "userpass", "{l}");
    ok_stdout(
        "write user",
        &c.strongroom(&[
            "write",
            "auth/userpass/users/alice",
            "password=x",
            "token_policies=p",
        ]),
    );

    let out =
        c.strongroom_no_env_token(&["login", "-method=userpass", "username=alice", "password=x"]);
    let stdout = ok_stdout("login -method=userpass", &out);
    assert!(
        stdout.starts_with("Success! You are now authenticated."),
        "{stdout}"
    );
    let token = c.stored_token();
    assert!(!token.is_empty() && !token.contains('\n'), "{token:?}");
    assert!(stdout.contains(&token), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(c.home.path().join(".vault-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Later commands use the stored token.
    let out = ok_stdout(
        "token lookup with the stored token",
        &c.strongroom_no_env_token(&["token", "lookup", "-format=json"]),
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["data"]["id"], token.as_str(), "{v}");
    assert!(
        v["data"]["policies"]
            .as_array()
            .unwrap()
            .contains(&json!("p")),
        "{v}"
    );
    assert_eq!(v["data"]["meta"]["username"], "alice", "{v}");

    // The password can come from stdin; -token-only prints the bare token
    // and stores nothing.
    std::fs::remove_file(c.home.path().join(".vault-token")).unwrap();
    let mut cmd = client(common::binary(), &c.server, c.home.path());
    cmd.env_remove("VAULT_TOKEN")
        .env_remove("BAO_TOKEN")
        .args(["login", "-method=userpass", "-token-only", "username=alice"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn login");
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"x\n").unwrap();
    }
    let out = child.wait_with_output().expect("login output");
    let bare = ok_stdout("login -token-only (password on stdin)", &out);
    assert!(bare.starts_with("hvs.") || !bare.is_empty(), "{bare:?}");
    assert!(!bare.contains('\n'), "{bare:?}");
    assert!(!c.home.path().join(".vault-token").exists());

    // A token login validates the token and stores it.
    let out = ok_stdout(
        "login TOKEN",
        &c.strongroom_no_env_token(&["login", "-format=json", &bare]),
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["auth"]["client_token"], bare.as_str(), "{v}");
    assert_eq!(c.stored_token(), bare);

    // A wrong password: exit 2 and the API error.
    let out = c.strongroom_no_env_token(&[
        "login",
        "-method=userpass",
        "username=alice",
        "password=wrong",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Error authenticating: Error making API request.")
            && stderr.contains("/v1/auth/userpass/login/alice")
            && stderr.contains("invalid username or password"),
        "{stderr}"
    );
    assert_eq!(c.stored_token(), bare, "a failed login keeps the old token");

    // A bad token: exit 2.
    let out = c.strongroom_no_env_token(&["login", "not-a-token"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // An unknown method: exit 1.
    let out = c.strongroom_no_env_token(&["login", "-method=nope"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    let out = ok_stdout(
        "auth disable",
        &c.strongroom(&["auth", "disable", "userpass"]),
    );
    assert_eq!(
        out,
        "Success! Disabled the auth method (if it existed) at: userpass/\n"
    );
}

#[test]
fn strongroom_client_approle_login_and_secrets() {
    let c = Clients::new();
    ok_stdout(
        "auth enable approle",
        &c.strongroom(&["auth", "enable", "-path=machines", "approle"]),
    );
    ok_stdout(
        "write role",
        &c.strongroom(&[
            "write",
            "auth/machines/role/ci",
            "token_policies=default,ci",
        ]),
    );
    let role_id = ok_stdout(
        "read role-id",
        &c.strongroom(&["read", "-field=role_id", "auth/machines/role/ci/role-id"]),
    );
    let secret_id = ok_stdout(
        "write secret-id",
        &c.strongroom(&[
            "write",
            "-f",
            "-field=secret_id",
            "auth/machines/role/ci/secret-id",
        ]),
    );
    let out = ok_stdout(
        "login -method=approle",
        &c.strongroom_no_env_token(&[
            "login",
            "-method=approle",
            "-path=machines",
            "-format=json",
            &format!("role_id={role_id}"),
            &format!("secret_id={secret_id}"),
        ]),
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let token = v["auth"]["client_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(c.stored_token(), token);
    assert!(
        v["auth"]["token_policies"]
            .as_array()
            .unwrap()
            .contains(&json!("ci")),
        "{v}"
    );
    let out = c.strongroom_no_env_token(&[
        "login",
        "-method=approle",
        "-path=machines",
        &format!("role_id={role_id}"),
        "secret_id=wrong",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // secrets enable / list / disable
    let out = ok_stdout(
        "secrets enable",
        &c.strongroom(&["secrets", "enable", "-path=kv2", "-version=2", "kv"]),
    );
    assert_eq!(out, "Success! Enabled the kv secrets engine at: kv2/\n");
    let l = c.strongroom_json(&["secrets", "list", "-format=json"]);
    assert_eq!(l["kv2/"]["options"]["version"], "2", "{l}");
    let out = ok_stdout("secrets list", &c.strongroom(&["secrets", "list"]));
    assert!(out.lines().any(|l| l.starts_with("kv2/")), "{out}");
    ok_stdout(
        "secrets disable",
        &c.strongroom(&["secrets", "disable", "kv2"]),
    );
    let l = c.strongroom_json(&["secrets", "list", "-format=json"]);
    assert!(l.get("kv2/").is_none(), "{l}");
}

/// The bao CLI drives the AppRole role sub-paths and a userpass user the
/// way a Vault user would: `write`, `read -field`, `delete`, and a login.
#[test]
fn bao_cli_approle_role_sub_paths_and_userpass() {
    let c = Clients::new();
    c.bao(&["auth", "enable", "approle"]);
    c.bao(&["write", "auth/approle/role/ci", "token_policies=default"]);
    c.bao(&["write", "auth/approle/role/ci/token-ttl", "token_ttl=15m"]);
    let ttl = c.bao(&["read", "-field=token_ttl", "auth/approle/role/ci/token-ttl"]);
    assert_eq!(ttl.trim(), "900");
    c.bao(&[
        "write",
        "auth/approle/role/ci/policies",
        "token_policies=ci,dev",
    ]);
    let p = c.bao_json(&["read", "-format=json", "auth/approle/role/ci/policies"]);
    assert_eq!(p["data"]["token_policies"], json!(["ci", "dev"]), "{p}");
    assert_eq!(p["data"]["policies"], json!(["ci", "dev"]), "{p}");
    c.bao(&[
        "write",
        "auth/approle/role/ci/secret-id-bound-cidrs",
        "secret_id_bound_cidrs=127.0.0.0/8",
    ]);
    let cidrs = c.bao_json(&[
        "read",
        "-format=json",
        "auth/approle/role/ci/secret-id-bound-cidrs",
    ]);
    assert_eq!(
        cidrs["data"]["secret_id_bound_cidrs"],
        json!(["127.0.0.0/8"]),
        "{cidrs}"
    );
    c.bao(&[
        "write",
        "auth/approle/role/ci/bind-secret-id",
        "bind_secret_id=false",
    ]);
    let b = c.bao(&[
        "read",
        "-field=bind_secret_id",
        "auth/approle/role/ci/bind-secret-id",
    ]);
    assert_eq!(b.trim(), "false");
    c.bao(&["delete", "auth/approle/role/ci/bind-secret-id"]);
    let b = c.bao(&[
        "read",
        "-field=bind_secret_id",
        "auth/approle/role/ci/bind-secret-id",
    ]);
    assert_eq!(b.trim(), "true");
    c.bao(&["delete", "auth/approle/role/ci/token-ttl"]);
    let role = c.bao_json(&["read", "-format=json", "auth/approle/role/ci"]);
    assert_eq!(role["data"]["token_ttl"], 0, "{role}");
    assert_eq!(
        role["data"]["token_policies"],
        json!(["ci", "dev"]),
        "{role}"
    );
    let local = c.bao(&[
        "read",
        "-field=local_secret_ids",
        "auth/approle/role/ci/local-secret-ids",
    ]);
    assert_eq!(local.trim(), "false");

    c.bao(&["auth", "enable", "userpass"]);
    c.bao(&[
        "write",
        "auth/userpass/users/dave",
        "password=correct-horse",
        "token_policies=dev",
    ]);
    let out = c.run(
        venv_bin("bao"),
        &[
            "write",
            "auth/userpass/users/erin",
            "password=x",
            "token_ttl=forever",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "error converting input for field \"token_ttl\": time: invalid duration \"forever\""
        ),
        "{out:?}"
    );
    let login = c.bao_json(&[
        "login",
        "-method=userpass",
        "-format=json",
        "-no-store",
        "username=dave",
        "password=correct-horse",
    ]);
    assert_eq!(login["auth"]["metadata"]["username"], "dave", "{login}");
}

#[test]
fn bao_cli_wrap_and_policy_endpoints() {
    let c = Clients::new();
    // An empty wrap (capture 390): `-force` sends no data at all.
    let v = c.bao_json(&[
        "write",
        "-force",
        "-wrap-ttl=5m",
        "-format=json",
        "sys/wrapping/wrap",
    ]);
    assert_eq!(v["wrap_info"]["ttl"], 300, "{v}");
    let wt = v["wrap_info"]["token"]
        .as_str()
        .expect("wrap token")
        .to_string();
    let l = c.bao_json(&[
        "write",
        "-format=json",
        "sys/wrapping/lookup",
        &format!("token={wt}"),
    ]);
    assert_eq!(l["data"]["creation_path"], "sys/wrapping/wrap", "{l}");
    // Without -wrap-ttl the CLI still wraps: its client defaults
    // sys/wrapping/wrap to 5m (the 400 without a TTL is tested over HTTP).
    let v = c.bao_json(&["write", "-format=json", "sys/wrapping/wrap", "app=demo"]);
    assert_eq!(v["wrap_info"]["ttl"], 300, "{v}");
    let v = c.bao_json(&[
        "write",
        "-wrap-ttl=60s",
        "-format=json",
        "sys/wrapping/wrap",
        "app=demo",
    ]);
    let wt = v["wrap_info"]["token"]
        .as_str()
        .expect("wrap token")
        .to_string();
    let u = c.bao_json(&["unwrap", "-format=json", &wt]);
    assert_eq!(u["data"]["app"], "demo", "{u}");

    // The legacy policy list (capture 396) and PATCH of a policy.
    let file = c.home.path().join("p.hcl");
    std::fs::write(&file, READ_SECRET_POLICY).unwrap();
    c.bao(&["policy", "write", "reader", file.to_str().unwrap()]);
    let p = c.bao_json(&["read", "-format=json", "sys/policy"]);
    let names = json!(["default", "reader", "root"]);
    assert_eq!(p["data"]["policies"], names, "{p}");
    assert_eq!(p["data"]["keys"], names, "{p}");
    let text = "path \"secret/data/other\" { capabilities = [\"read\"] }";
    c.bao(&[
        "patch",
        "sys/policies/acl/reader",
        &format!("policy={text}"),
    ]);
    let r = c.bao_json(&["read", "-format=json", "sys/policies/acl/reader"]);
    assert_eq!(r["data"]["policy"], text, "{r}");
}

#[test]
fn bao_cli_secrets_and_auth_tune_and_move() {
    let c = Clients::new();
    c.bao(&["secrets", "enable", "-path=kv-old", "-version=2", "kv"]);
    c.bao(&["kv", "put", "kv-old/app", "k=v"]);
    let out = c.bao(&["secrets", "move", "kv-old/", "kv-new/"]);
    assert!(
        out.contains("Success! Finished moving secrets engine kv-old/ to kv-new/"),
        "{out}"
    );
    let v = c.bao_json(&["kv", "get", "-format=json", "kv-new/app"]);
    assert_eq!(v["data"]["data"], json!({"k": "v"}), "{v}");
    c.bao(&[
        "secrets",
        "tune",
        "-default-lease-ttl=1h",
        "-max-lease-ttl=24h",
        "-description=moved kv",
        "-listing-visibility=unauth",
        "-audit-non-hmac-request-keys=user",
        "kv-new/",
    ]);
    let t = c.bao_json(&["read", "-format=json", "sys/mounts/kv-new/tune"]);
    assert_eq!(t["data"]["default_lease_ttl"], 3600, "{t}");
    assert_eq!(t["data"]["max_lease_ttl"], 86400, "{t}");
    assert_eq!(t["data"]["description"], "moved kv", "{t}");
    assert_eq!(t["data"]["listing_visibility"], "unauth", "{t}");
    assert_eq!(
        t["data"]["audit_non_hmac_request_keys"],
        json!(["user"]),
        "{t}"
    );
    // a tune error is reported, exit code 2
    let out = c.run(
        venv_bin("bao"),
        &["secrets", "tune", "-max-lease-ttl=1m", "kv-new/"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("would be less than"),
        "{out:?}"
    );

    c.bao(&["auth", "enable", "userpass"]);
    c.bao(&[
        "auth",
        "tune",
        "-default-lease-ttl=30m",
        "-max-lease-ttl=2h",
        "-token-type=default-batch",
        "userpass/",
    ]);
    let t = c.bao_json(&["read", "-format=json", "sys/auth/userpass/tune"]);
    assert_eq!(t["data"]["default_lease_ttl"], 1800, "{t}");
    assert_eq!(t["data"]["max_lease_ttl"], 7200, "{t}");
    assert_eq!(t["data"]["token_type"], "default-batch", "{t}");
    let out = c.bao(&["auth", "move", "auth/userpass/", "auth/people/"]);
    assert!(
        out.contains("Success! Finished moving auth method"),
        "{out}"
    );
    let l = c.bao_json(&["auth", "list", "-format=json"]);
    assert!(l.get("userpass/").is_none(), "{l}");
    assert_eq!(l["people/"]["config"]["token_type"], "default-batch", "{l}");
}

#[test]
fn strongroom_client_secrets_and_auth_tune_and_move() {
    let c = Clients::new();
    ok_stdout(
        "secrets enable",
        &c.strongroom(&["secrets", "enable", "-path=kv-old", "-version=2", "kv"]),
    );
    ok_stdout("kv put", &c.strongroom(&["kv", "put", "kv-old/app", "k=v"]));
    let out = ok_stdout(
        "secrets move",
        &c.strongroom(&["secrets", "move", "kv-old", "kv-new"]),
    );
    assert!(
        out.starts_with("Started moving secrets engine kv-old/ to kv-new/, with migration ID "),
        "{out}"
    );
    assert!(
        out.contains(
            "Success! Finished moving secrets engine kv-old/ to kv-new/, with migration ID "
        ),
        "{out}"
    );
    let v = c.strongroom_json(&["kv", "get", "-format=json", "kv-new/app"]);
    assert_eq!(v["data"]["data"], json!({"k": "v"}), "{v}");
    let out = ok_stdout(
        "secrets tune",
        &c.strongroom(&[
            "secrets",
            "tune",
            "-default-lease-ttl=1h",
            "-max-lease-ttl=24h",
            "-description=moved kv",
            "-listing-visibility=unauth",
            "-audit-non-hmac-request-keys=user",
            "-audit-non-hmac-request-keys=pass",
            "-passthrough-request-headers=X-A",
            "kv-new/",
        ]),
    );
    assert_eq!(out, "Success! Tuned the secrets engine at: kv-new/\n");
    let t = c.server.get("/v1/sys/mounts/kv-new/tune").json()["data"].clone();
    assert_eq!(t["default_lease_ttl"], 3600, "{t}");
    assert_eq!(t["max_lease_ttl"], 86400, "{t}");
    assert_eq!(t["description"], "moved kv", "{t}");
    assert_eq!(
        t["audit_non_hmac_request_keys"],
        json!(["user", "pass"]),
        "{t}"
    );
    assert_eq!(t["passthrough_request_headers"], json!(["X-A"]), "{t}");
    let out = c.strongroom(&["secrets", "tune", "-max-lease-ttl=1m", "kv-new/"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("Error tuning secrets engine kv-new/: "),
        "{out:?}"
    );

    ok_stdout(
        "auth enable",
        &c.strongroom(&["auth", "enable", "userpass"]),
    );
    let out = ok_stdout(
        "auth tune",
        &c.strongroom(&[
            "auth",
            "tune",
            "-default-lease-ttl=30m",
            "-max-lease-ttl=2h",
            "-token-type=batch",
            "-user-lockout-threshold=4",
            "userpass",
        ]),
    );
    assert_eq!(out, "Success! Tuned the auth method at: userpass/\n");
    let t = c.server.get("/v1/sys/auth/userpass/tune").json()["data"].clone();
    assert_eq!(t["default_lease_ttl"], 1800, "{t}");
    assert_eq!(t["token_type"], "batch", "{t}");
    assert_eq!(t["user_lockout_threshold"], 4, "{t}");
    // `auth move` takes the paths with or without auth/
    let out = ok_stdout(
        "auth move",
        &c.strongroom(&["auth", "move", "userpass", "people"]),
    );
    assert!(
        out.contains("Success! Finished moving auth method auth/userpass/ to auth/people/"),
        "{out}"
    );
    let l = c.strongroom_json(&["auth", "list", "-format=json"]);
    assert!(
        l.get("people/").is_some() && l.get("userpass/").is_none(),
        "{l}"
    );
}
