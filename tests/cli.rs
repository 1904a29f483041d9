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
