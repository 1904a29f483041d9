//! sys/ endpoints and error shapes over HTTP against the real binary.

mod common;

use common::{at, expect_status, keys, Server, ROOT};
use serde_json::{json, Value};

fn health(s: &Server, query: &str) -> common::Response {
    let target = if query.is_empty() {
        "/v1/sys/health".to_string()
    } else {
        format!("/v1/sys/health?{query}")
    };
    s.call("GET", &target, None, None)
}

#[test]
fn health_on_an_active_node() {
    let s = Server::dev();
    let r = health(&s, "");
    expect_status(&r, 200, "health");
    let v = r.json();
    assert_eq!(v["initialized"], true);
    assert_eq!(v["sealed"], false);
    assert_eq!(v["standby"], false);
    for k in [
        "replication_performance_mode",
        "replication_dr_mode",
        "server_time_utc",
        "version",
        "cluster_name",
        "cluster_id",
    ] {
        assert!(v.get(k).is_some(), "health lacks {k}: {v}");
    }
    assert!(v["server_time_utc"].is_u64(), "{v}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // overrides that apply to an active node
    expect_status(&health(&s, "activecode=299"), 299, "activecode=299");
    expect_status(&health(&s, "activecode=204"), 204, "activecode=204");
    // overrides for other states do not change an active node's answer
    for q in [
        "standbyok=true",
        "standbyok",
        "perfstandbyok=true",
        "standbycode=299",
        "performancestandbycode=299",
        "drsecondarycode=299",
        "sealedcode=299",
        "uninitcode=299",
        "standbyok=true&sealedcode=299&uninitcode=298",
    ] {
        expect_status(&health(&s, q), 200, q);
    }
    // an unparsable code is a 400
    let r = health(&s, "activecode=abc");
    expect_status(&r, 400, "activecode=abc");
    assert!(!r.errors().is_empty());

    // HEAD: same status, no body
    let r = s.raw("HEAD", "/v1/sys/health", &[], None);
    expect_status(&r, 200, "HEAD health");
    assert!(r.body.is_empty());
    let r = s.raw("HEAD", "/v1/sys/health?activecode=299", &[], None);
    expect_status(&r, 299, "HEAD health?activecode=299");

    // health needs no token, but accepts one
    expect_status(&s.get("/v1/sys/health"), 200, "health with a token");
    expect_status(
        &s.call("GET", "/v1/sys/health", Some("bogus"), None),
        200,
        "health with a bad token",
    );
}

#[test]
fn health_while_sealed_and_uninitialized() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::file(dir.path(), "");
    // uninitialized
    let r = health(&s, "");
    expect_status(&r, 501, "uninitialized");
    assert_eq!(r.json()["initialized"], false);
    expect_status(&health(&s, "uninitcode=200"), 200, "uninitcode=200");
    expect_status(&health(&s, "uninitcode=299"), 299, "uninitcode=299");
    expect_status(
        &s.raw("HEAD", "/v1/sys/health", &[], None),
        501,
        "HEAD uninitialized",
    );
    // sealed
    let init = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    );
    expect_status(&init, 200, "init");
    let key = init.json()["keys"][0].as_str().unwrap().to_string();
    let r = health(&s, "");
    expect_status(&r, 503, "sealed");
    assert_eq!(r.json()["sealed"], true);
    expect_status(&health(&s, "sealedcode=200"), 200, "sealedcode=200");
    expect_status(&health(&s, "sealedcode=299"), 299, "sealedcode=299");
    expect_status(
        &health(&s, "uninitcode=200"),
        503,
        "uninitcode does not apply when sealed",
    );
    expect_status(
        &health(&s, "standbyok=true"),
        503,
        "standbyok does not apply when sealed",
    );
    expect_status(
        &s.raw("HEAD", "/v1/sys/health", &[], None),
        503,
        "HEAD sealed",
    );
    // unsealed
    expect_status(
        &s.call("PUT", "/v1/sys/unseal", None, Some(&json!({ "key": key }))),
        200,
        "unseal",
    );
    expect_status(&health(&s, ""), 200, "unsealed");
    expect_status(
        &health(&s, "sealedcode=299"),
        200,
        "sealedcode does not apply when unsealed",
    );
}

#[test]
fn seal_status_and_leader() {
    let s = Server::dev();
    let r = s.call("GET", "/v1/sys/seal-status", None, None);
    expect_status(&r, 200, "seal-status");
    let v = r.json();
    assert_eq!(v["type"], "shamir");
    assert_eq!(v["initialized"], true);
    assert_eq!(v["sealed"], false);
    assert_eq!(v["t"], 1);
    assert_eq!(v["n"], 1);
    assert_eq!(v["progress"], 0);
    let r = s.call("GET", "/v1/sys/leader", None, None);
    expect_status(&r, 200, "leader");
    assert_eq!(r.json(), json!({"ha_enabled": false}));
}

#[test]
fn mounts_enable_read_tune_disable() {
    let s = Server::dev();
    let r = s.get("/v1/sys/mounts");
    expect_status(&r, 200, "list mounts");
    let v = r.json();
    let secret = at(&v, &["data", "secret/"]);
    assert_eq!(secret["type"], "kv", "{v}");
    assert_eq!(secret["options"]["version"], "2", "{v}");
    assert!(v["data"].get("sys/").is_some(), "sys/ is listed: {v}");
    for k in [
        "type",
        "description",
        "accessor",
        "config",
        "options",
        "local",
        "seal_wrap",
    ] {
        assert!(secret.get(k).is_some(), "mount entry lacks {k}: {secret}");
    }
    // listing needs a token
    expect_status(
        &s.call("GET", "/v1/sys/mounts", None, None),
        403,
        "list mounts without a token",
    );

    // enable
    expect_status(
        &s.post(
            "/v1/sys/mounts/team/kv",
            json!({"type": "kv", "description": "team secrets", "options": {"version": "2"}}),
        ),
        204,
        "enable team/kv",
    );
    let r = s.get("/v1/sys/mounts/team/kv");
    expect_status(&r, 200, "read the mount");
    let m = r.json();
    assert_eq!(m["data"]["type"], "kv", "{m}");
    assert_eq!(m["data"]["description"], "team secrets");
    assert!(s.get("/v1/sys/mounts").json()["data"]
        .get("team/kv/")
        .is_some());
    // the same path again, or one nested under it, is refused
    let r = s.post("/v1/sys/mounts/team/kv", json!({"type": "kv"}));
    expect_status(&r, 400, "enable twice");
    assert!(r.errors()[0].contains("path is already in use"), "{r}");
    expect_status(
        &s.post("/v1/sys/mounts/team/kv/inner", json!({"type": "kv"})),
        400,
        "nested mount",
    );
    expect_status(
        &s.post("/v1/sys/mounts/sys", json!({"type": "kv"})),
        400,
        "enable at sys/",
    );
    expect_status(
        &s.post("/v1/sys/mounts/weird", json!({"type": "no-such-engine"})),
        400,
        "unknown type",
    );
    expect_status(&s.post("/v1/sys/mounts/notype", json!({})), 400, "no type");

    // the mount works
    expect_status(
        &s.put("/v1/team/kv/data/x", json!({"data": {"a": 1}})),
        200,
        "write into team/kv",
    );

    // tune
    let r = s.get("/v1/sys/mounts/team/kv/tune");
    expect_status(&r, 200, "read tune");
    let t = r.json();
    for k in ["default_lease_ttl", "max_lease_ttl", "force_no_cache"] {
        assert!(t["data"].get(k).is_some(), "tune lacks {k}: {t}");
    }
    expect_status(
        &s.post(
            "/v1/sys/mounts/team/kv/tune",
            json!({"default_lease_ttl": "1h", "max_lease_ttl": "2h", "description": "retuned"}),
        ),
        204,
        "tune",
    );
    let t = s.get("/v1/sys/mounts/team/kv/tune").json();
    assert_eq!(t["data"]["default_lease_ttl"], 3600, "{t}");
    assert_eq!(t["data"]["max_lease_ttl"], 7200, "{t}");
    assert_eq!(t["data"]["description"], "retuned", "{t}");
    let m = s.get("/v1/sys/mounts").json();
    assert_eq!(
        m["data"]["team/kv/"]["config"]["default_lease_ttl"], 3600,
        "{m}"
    );
    assert_eq!(m["data"]["team/kv/"]["description"], "retuned");

    // disable
    expect_status(&s.delete("/v1/sys/mounts/team/kv"), 204, "disable");
    assert!(s.get("/v1/sys/mounts").json()["data"]
        .get("team/kv/")
        .is_none());
    let r = s.get("/v1/team/kv/data/x");
    expect_status(&r, 404, "a disabled mount's path");
    expect_status(
        &s.delete("/v1/sys/mounts/team/kv"),
        204,
        "disabling twice is fine",
    );
    // re-enabling starts empty
    expect_status(
        &s.post(
            "/v1/sys/mounts/team/kv",
            json!({"type": "kv", "options": {"version": "2"}}),
        ),
        204,
        "re-enable",
    );
    expect_status(&s.get("/v1/team/kv/data/x"), 404, "the old data is gone");
    // sys/ cannot be disabled
    let r = s.delete("/v1/sys/mounts/sys");
    assert!(r.status == 400 || r.status == 403, "disable sys/: {r}");
    expect_status(&s.get("/v1/sys/health"), 200, "still alive");
}

/// `term` of a key-status answer (in `data`; Vault also repeats it at the top).
fn term(v: &Value) -> u64 {
    v["data"]["term"]
        .as_u64()
        .or_else(|| v["term"].as_u64())
        .unwrap_or_else(|| panic!("no term in {v}"))
}

#[test]
fn rotate_then_key_status_and_old_data_reads() {
    let s = Server::dev();
    let r = s.get("/v1/sys/key-status");
    expect_status(&r, 200, "key-status");
    let v = r.json();
    let term0 = term(&v);
    assert!(v["data"].get("install_time").is_some(), "{v}");
    expect_status(
        &s.put("/v1/secret/data/before", json!({"data": {"k": "old"}})),
        200,
        "write",
    );
    for i in 1..=3u64 {
        expect_status(
            &s.call("PUT", "/v1/sys/rotate", Some(ROOT), None),
            204,
            "rotate",
        );
        let v = s.get("/v1/sys/key-status").json();
        assert_eq!(term(&v), term0 + i, "term after rotation {i}: {v}");
        expect_status(
            &s.put(
                &format!("/v1/secret/data/after{i}"),
                json!({"data": {"k": i}}),
            ),
            200,
            "write after rotate",
        );
    }
    assert_eq!(
        s.get("/v1/secret/data/before").json()["data"]["data"],
        json!({"k": "old"})
    );
    for i in 1..=3u64 {
        assert_eq!(
            s.get(&format!("/v1/secret/data/after{i}")).json()["data"]["data"],
            json!({"k": i})
        );
    }
    // rotate needs a (root) token
    expect_status(
        &s.call("PUT", "/v1/sys/rotate", None, None),
        403,
        "rotate without a token",
    );
    expect_status(
        &s.call("GET", "/v1/sys/key-status", None, None),
        403,
        "key-status without a token",
    );
}

#[test]
fn seal_then_everything_is_503() {
    let s = Server::dev();
    expect_status(
        &s.put("/v1/secret/data/x", json!({"data": {"a": 1}})),
        200,
        "write",
    );
    expect_status(
        &s.call("PUT", "/v1/sys/seal", None, None),
        403,
        "seal without a token",
    );
    expect_status(
        &s.call("PUT", "/v1/sys/seal", Some(ROOT), None),
        204,
        "seal",
    );
    let r = s.get("/v1/secret/data/x");
    expect_status(&r, 503, "read while sealed");
    assert_eq!(r.errors(), ["Vault is sealed"]);
    expect_status(
        &s.put("/v1/secret/data/x", json!({"data": {"a": 2}})),
        503,
        "write while sealed",
    );
    expect_status(&s.get("/v1/sys/mounts"), 503, "sys/mounts while sealed");
    let v = s.call("GET", "/v1/sys/seal-status", None, None).json();
    assert_eq!(v["sealed"], true);
    expect_status(&health(&s, ""), 503, "health while sealed");
}

#[test]
fn error_shapes() {
    let s = Server::dev();
    // malformed JSON
    let r = s.raw(
        "PUT",
        "/v1/secret/data/x",
        &[
            ("X-Vault-Token", ROOT),
            ("Content-Type", "application/json"),
        ],
        Some(b"{\"data\": {\"a\": "),
    );
    expect_status(&r, 400, "truncated JSON");
    assert!(!r.errors().is_empty());
    assert_eq!(keys(&r.json()), ["errors"]);
    let r = s.raw(
        "PUT",
        "/v1/secret/data/x",
        &[("X-Vault-Token", ROOT)],
        Some(b"not json at all"),
    );
    expect_status(&r, 400, "garbage body");
    assert!(
        r.errors()[0].starts_with("failed to decode JSON input"),
        "{r}"
    );
    let r = s.raw(
        "PUT",
        "/v1/secret/data/x",
        &[("X-Vault-Token", ROOT)],
        Some(b"[1,2]"),
    );
    expect_status(&r, 400, "a JSON array body");

    // unknown path / mount
    let r = s.get("/v1/nosuchmount/foo");
    expect_status(&r, 404, "unknown mount");
    assert_eq!(
        r.errors(),
        ["no handler for route \"nosuchmount/foo\". route entry not found."]
    );
    expect_status(&s.get("/v1/sys/no-such-endpoint"), 404, "unknown sys path");
    let r = s.call("GET", "/nope", None, None);
    expect_status(&r, 404, "outside /v1/");

    // wrong method
    let r = s.call("DELETE", "/v1/sys/health", Some(ROOT), None);
    expect_status(&r, 405, "DELETE sys/health");
    assert_eq!(r.json(), json!({"errors": []}));
    let r = s.call("OPTIONS", "/v1/secret/data/x", Some(ROOT), None);
    assert!(r.status == 405 || r.status == 204, "OPTIONS: {r}");

    // no token / bad token
    for (token, what) in [
        (None, "no token"),
        (Some("bogus"), "bad token"),
        (Some(""), "empty token"),
    ] {
        let r = s.call("GET", "/v1/secret/data/x", token, None);
        expect_status(&r, 403, what);
        assert_eq!(r.json(), json!({"errors": ["permission denied"]}), "{what}");
    }
    // a bearer token works like X-Vault-Token
    let r = s.raw(
        "GET",
        "/v1/sys/mounts",
        &[("Authorization", "Bearer root")],
        None,
    );
    expect_status(&r, 200, "Authorization: Bearer");
    // every error body is JSON with errors
    for r in [
        s.get("/v1/nosuchmount/x"),
        s.call("GET", "/v1/sys/mounts", None, None),
    ] {
        assert_eq!(r.header("content-type"), Some("application/json"), "{r}");
        assert!(r.json().get("errors").is_some());
    }
}

#[test]
fn oversize_bodies_are_413() {
    // A small configured limit.
    let dir = tempfile::tempdir().unwrap();
    let s = Server::file(dir.path(), "max_request_size = 1024");
    let body = format!("{{\"data\":{{\"a\":\"{}\"}}}}", "x".repeat(4096));
    let r = s.raw(
        "PUT",
        "/v1/secret/data/x",
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    expect_status(&r, 413, "body over max_request_size");
    assert!(!r.errors().is_empty());
    let small = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    );
    expect_status(&small, 200, "a small body still works");

    // Vault's default limit, 32 MiB, on a dev server.
    let s = Server::dev();
    let big = vec![b' '; 32 * 1024 * 1024 + 4096];
    let r = s.raw(
        "PUT",
        "/v1/secret/data/x",
        &[
            ("X-Vault-Token", ROOT),
            ("Content-Type", "application/json"),
        ],
        Some(&big),
    );
    expect_status(&r, 413, "body over 32 MiB");
    expect_status(&s.get("/v1/sys/health"), 200, "alive after a large body");
}

#[test]
fn path_traversal_never_reaches_sys_seal() {
    let s = Server::dev();
    let attempts = [
        "/v1/secret/../sys/seal",
        "/v1/secret/%2e%2e/sys/seal",
        "/v1/secret/%2E%2E/sys/seal",
        "/v1/secret/.%2e/sys/seal",
        "/v1/secret/data/..%2f..%2fsys/seal",
        "/v1/secret/data/%2e%2e%2f%2e%2e%2fsys%2fseal",
        "/v1/secret/./../sys/seal",
        "/v1/./sys/seal",
        "/v1/sys/./seal",
        "/v1/../v1/sys/seal",
        "/v1/secret/..\\sys\\seal",
    ];
    for target in attempts {
        for method in ["PUT", "POST"] {
            let r = s.raw(method, target, &[("X-Vault-Token", ROOT)], Some(b"{}"));
            assert!(
                (400..500).contains(&r.status),
                "{method} {target}: expected a 4xx, got {r}"
            );
            let h = s.call("GET", "/v1/sys/seal-status", None, None).json();
            assert_eq!(
                h["sealed"], false,
                "{method} {target} sealed the server (answered {r})"
            );
        }
    }
    // the legitimate path still works
    expect_status(
        &s.call("PUT", "/v1/sys/seal", Some(ROOT), None),
        204,
        "the real sys/seal",
    );
    assert_eq!(
        s.call("GET", "/v1/sys/seal-status", None, None).json()["sealed"],
        true
    );
}

#[test]
fn responses_are_never_cached() {
    let s = Server::dev();
    for r in [
        s.get("/v1/sys/health"),
        s.get("/v1/secret/data/missing"),
        s.put("/v1/secret/data/x", json!({"data": {"a": 1}})),
    ] {
        assert_eq!(r.header("cache-control"), Some("no-store"), "{r}");
    }
    let v: Value = s.get("/v1/secret/data/x").json();
    assert_eq!(v["data"]["data"]["a"], 1);
}

/// Whether `token` still authenticates.
fn alive(s: &Server, token: &str) -> bool {
    let r = s.call("GET", "/v1/auth/token/lookup-self", Some(token), None);
    match r.status {
        200 => true,
        403 => false,
        other => panic!("lookup-self: unexpected {other}: {}", r.text()),
    }
}

fn issued(r: &common::Response) -> String {
    common::expect_status(r, 200, "token issue");
    r.json()["auth"]["client_token"]
        .as_str()
        .expect("client_token")
        .to_string()
}

#[test]
fn lease_revoke_prefix_matches_whole_segments() {
    let s = Server::dev();
    // Tokens under three different creation paths.
    let plain = issued(&s.post("/v1/auth/token/create", json!({"policies": ["default"]})));
    expect_status(&s.post("/v1/auth/token/roles/web", json!({})), 204, "role");
    let by_role = issued(&s.post("/v1/auth/token/create/web", json!({})));
    expect_status(
        &s.put("/v1/sys/auth/userpass", json!({"type": "userpass"})),
        204,
        "enable userpass",
    );
    expect_status(
        &s.put(
            "/v1/auth/userpass/users/alice",
            json!({"password": "pw", "token_policies": "default"}),
        ),
        204,
        "user",
    );
    let login = || issued(&s.post("/v1/auth/userpass/login/alice", json!({"password": "pw"})));
    let by_login = login();

    let revoke = |kind: &str, prefix: &str| {
        expect_status(
            &s.put(&format!("/v1/sys/leases/{kind}/{prefix}"), json!({})),
            204,
            &format!("{kind} {prefix}"),
        );
    };
    // Prefixes that share characters but not segments revoke nothing.
    revoke("revoke-prefix", "a");
    revoke("revoke-prefix", "auth/tok");
    revoke("revoke-force", "auth/token/create/we");
    revoke("revoke-prefix", "auth/userpass/log");
    // Capture 399: an unknown prefix is 204 too.
    revoke("revoke-prefix", "nonexistent/prefix");
    assert!(alive(&s, &plain) && alive(&s, &by_role) && alive(&s, &by_login));

    revoke("revoke-prefix", "auth/userpass");
    assert!(!alive(&s, &by_login), "auth/userpass revokes its logins");
    assert!(alive(&s, &plain) && alive(&s, &by_role));

    let by_login = login();
    // Capture 398: a write to a path ending in '/' is refused.
    let r = s.put(
        "/v1/sys/leases/revoke-force/auth/token/create/web/",
        json!({}),
    );
    expect_status(&r, 400, "trailing slash");
    assert_eq!(
        r.json(),
        json!({"errors": ["cannot write to a path ending in '/'"]})
    );
    assert!(alive(&s, &by_role));
    revoke("revoke-force", "auth/token/create/web");
    assert!(
        !alive(&s, &by_role),
        "the role's tokens are under create/web"
    );
    assert!(alive(&s, &plain) && alive(&s, &by_login));

    // `auth/token` covers every token-store token (root included), and
    // nothing else.
    revoke("revoke-prefix", "auth/token");
    assert!(!alive(&s, &plain));
    assert!(
        alive(&s, &by_login),
        "userpass tokens are not under auth/token"
    );
}

/// Found with `bao list sys/leases/lookup/auth/token/` (the CLI drops the
/// trailing slash) and `bao lease revoke -prefix auth/token/` on a server
/// set up with `operator init`: Vault lists the folder either way, and the
/// init root token has no lease, so revoking the prefix keeps it.
#[test]
fn lease_lookup_lists_folders_and_the_init_root_has_no_lease() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::file(dir.path(), "");
    let root = init_unseal(&s);
    let child = s.call(
        "POST",
        "/v1/auth/token/create",
        Some(&root),
        Some(&json!({"policies": ["default"], "ttl": "10m"})),
    );
    let child = issued(&child);
    for prefix in ["auth/token", "auth/token/"] {
        let r = s.call(
            "LIST",
            &format!("/v1/sys/leases/lookup/{prefix}"),
            Some(&root),
            None,
        );
        expect_status(&r, 200, prefix);
        assert_eq!(common::list_keys(&r), vec!["create/"], "{prefix}");
    }
    let r = s.call(
        "PUT",
        "/v1/sys/leases/revoke-prefix/auth/token",
        Some(&root),
        Some(&json!({})),
    );
    expect_status(&r, 204, "revoke-prefix auth/token");
    assert!(!alive(&s, &child), "the child's lease is revoked");
    assert!(alive(&s, &root), "the init root token has no lease");
}

#[test]
fn wrapping_wrap_accepts_an_empty_body_but_needs_a_ttl() {
    let s = Server::dev();
    // Capture 390: an empty body wraps an empty payload.
    let r = s.raw(
        "POST",
        "/v1/sys/wrapping/wrap",
        &[("X-Vault-Token", ROOT), ("X-Vault-Wrap-TTL", "5m")],
        Some(b"{}"),
    );
    expect_status(&r, 200, "wrap {}");
    let info = r.json()["wrap_info"].clone();
    assert_eq!(info["ttl"], 300, "{info}");
    assert_eq!(info["creation_path"], "sys/wrapping/wrap", "{info}");
    assert_eq!(r.json()["data"], Value::Null);
    let wt = info["token"].as_str().unwrap().to_string();
    let lookup = s.post("/v1/sys/wrapping/lookup", json!({"token": wt}));
    expect_status(&lookup, 200, "lookup");
    let un = s.call("POST", "/v1/sys/wrapping/unwrap", Some(&wt), None);
    assert!(
        un.status == 200 || un.status == 204,
        "unwrap: {}",
        un.text()
    );

    // Capture 392: without X-Vault-Wrap-TTL the endpoint refuses.
    let r = s.post("/v1/sys/wrapping/wrap", json!({"app": "demo"}));
    expect_status(&r, 400, "wrap without ttl");
    assert_eq!(
        r.json(),
        json!({"errors": ["endpoint requires response wrapping to be used"]})
    );
}

#[test]
fn legacy_policy_list_and_policy_patch() {
    let s = Server::dev();
    expect_status(
        &s.put(
            "/v1/sys/policies/acl/reader",
            json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"}),
        ),
        204,
        "policy write",
    );
    // Capture 396: keys and policies, at the top level and under data.
    let r = s.get("/v1/sys/policy");
    expect_status(&r, 200, "legacy list");
    let v = r.json();
    let names = json!(["default", "reader", "root"]);
    assert_eq!(v["keys"], names, "{v}");
    assert_eq!(v["policies"], names, "{v}");
    assert_eq!(v["data"]["keys"], names, "{v}");
    assert_eq!(v["data"]["policies"], names, "{v}");
    assert!(v["request_id"].is_string(), "{v}");

    // PATCH replaces the text of an existing policy.
    let text = "path \"secret/data/*\" { capabilities = [\"read\", \"list\"] }";
    let r = s.raw(
        "PATCH",
        "/v1/sys/policies/acl/reader",
        &[
            ("X-Vault-Token", ROOT),
            ("Content-Type", "application/merge-patch+json"),
        ],
        Some(json!({ "policy": text }).to_string().as_bytes()),
    );
    expect_status(&r, 204, "patch");
    let read = s.get("/v1/sys/policies/acl/reader").json();
    assert_eq!(read["data"]["policy"], text, "{read}");
    let r = s.raw(
        "PATCH",
        "/v1/sys/policies/acl/nobody",
        &[
            ("X-Vault-Token", ROOT),
            ("Content-Type", "application/merge-patch+json"),
        ],
        Some(json!({ "policy": text }).to_string().as_bytes()),
    );
    expect_status(&r, 404, "patch of a missing policy");
    let r = s.raw(
        "PATCH",
        "/v1/sys/policies/acl/reader",
        &[
            ("X-Vault-Token", ROOT),
            ("Content-Type", "application/merge-patch+json"),
        ],
        Some(br#"{"policy": "path {"}"#),
    );
    expect_status(&r, 400, "patch with a bad policy");
}

// ---- system lease TTLs, the backend stanza, sys/remount, mount tune ----

/// Initializes (one share) and unseals a fresh non-dev server; returns its
/// root token.
fn init_unseal(s: &Server) -> String {
    let r = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    );
    expect_status(&r, 200, "sys/init");
    let v = r.json();
    let key = v["keys"][0].as_str().expect("key").to_string();
    let root = v["root_token"].as_str().expect("root").to_string();
    let r = s.call("PUT", "/v1/sys/unseal", None, Some(&json!({ "key": key })));
    expect_status(&r, 200, "unseal");
    assert_eq!(r.json()["sealed"], false);
    root
}

fn file_hcl(dir: &std::path::Path, stanza: &str, extra: &str) -> String {
    format!(
        "{stanza} \"file\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{{PORT}}\"\n  tls_disable = true\n}}\n{extra}\n",
        dir.display()
    )
}

#[test]
fn config_lease_ttls_are_the_system_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::with_hcl(&file_hcl(
        dir.path(),
        "storage",
        "default_lease_ttl = \"1h\"\nmax_lease_ttl = \"2h\"",
    ));
    assert!(!s.stderr().contains("has no effect"), "{}", s.stderr());
    let root = init_unseal(&s);
    let call = |m: &str, p: &str, b: Option<Value>| s.call(m, p, Some(&root), b.as_ref());
    let t = call("GET", "/v1/sys/auth/token/tune", None).json();
    assert_eq!(t["data"]["default_lease_ttl"], 3600, "{t}");
    assert_eq!(t["data"]["max_lease_ttl"], 7200, "{t}");
    expect_status(
        &call("POST", "/v1/sys/mounts/kv", Some(json!({"type": "kv"}))),
        204,
        "enable kv",
    );
    let t = call("GET", "/v1/sys/mounts/kv/tune", None).json();
    assert_eq!(t["data"]["default_lease_ttl"], 3600, "{t}");
    assert_eq!(t["data"]["max_lease_ttl"], 7200, "{t}");
    // the raw mount config still says "system" (0), as Vault lists it
    let m = call("GET", "/v1/sys/mounts", None).json();
    assert_eq!(m["data"]["kv/"]["config"]["default_lease_ttl"], 0, "{m}");
    // tokens: default TTL and cap from the config
    let r = call(
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["default"]})),
    );
    expect_status(&r, 200, "token create");
    assert_eq!(r.json()["auth"]["lease_duration"], 3600, "{}", r.text());
    let r = call(
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["default"], "ttl": "5h"})),
    );
    expect_status(&r, 200, "token create 5h");
    assert_eq!(r.json()["auth"]["lease_duration"], 7200, "{}", r.text());
    // a default above the system max (the mount max being the system's) is refused
    let r = call(
        "POST",
        "/v1/sys/mounts/kv/tune",
        Some(json!({"default_lease_ttl": "3h"})),
    );
    expect_status(&r, 400, "default above the system max");
    assert!(
        r.errors()[0].contains("system max lease TTL of 7200"),
        "{r}"
    );
    // enabling with such a default is refused with Vault's message
    let r = call(
        "POST",
        "/v1/sys/mounts/kv2",
        Some(json!({"type": "kv", "config": {"default_lease_ttl": "3h"}})),
    );
    expect_status(&r, 400, "enable with default above system max");
    assert_eq!(
        r.errors()[0],
        "given default lease TTL greater than system max lease TTL of 7200"
    );
    // a mount's own max may go above the system max (Vault's PKI guide does)
    expect_status(
        &call(
            "POST",
            "/v1/sys/mounts/kv/tune",
            Some(json!({"default_lease_ttl": "3h", "max_lease_ttl": "87600h"})),
        ),
        204,
        "mount max above the system max",
    );
    let t = call("GET", "/v1/sys/mounts/kv/tune", None).json();
    assert_eq!(t["data"]["max_lease_ttl"], 87_600 * 3600, "{t}");
}

#[test]
fn dev_server_keeps_vaults_768h_defaults() {
    let s = Server::dev();
    let t = s.get("/v1/sys/mounts/secret/tune").json();
    assert_eq!(t["data"]["default_lease_ttl"], 2_764_800, "{t}");
    assert_eq!(t["data"]["max_lease_ttl"], 2_764_800, "{t}");
    // the legacy shape: data keys repeated at the top level
    assert_eq!(t["default_lease_ttl"], 2_764_800, "{t}");
    assert_eq!(t["options"]["version"], "2", "{t}");
}

#[test]
fn legacy_backend_stanza_is_storage() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::with_hcl(&file_hcl(dir.path(), "backend", ""));
    let root = init_unseal(&s);
    let r = s.call("GET", "/v1/sys/seal-status", None, None);
    assert_eq!(r.json()["storage_type"], "file", "{}", r.text());
    expect_status(
        &s.call("GET", "/v1/sys/mounts", Some(&root), None),
        200,
        "mounts",
    );
    // both spellings at once is an error that names them
    let both = dir.path().join("both.hcl");
    std::fs::write(
        &both,
        format!(
            "{}backend \"file\" {{\n  path = \"{}\"\n}}\n",
            file_hcl(dir.path(), "storage", "").replace("{PORT}", "1"),
            dir.path().display()
        ),
    )
    .unwrap();
    let out = common::run_binary(&["server", &format!("-config={}", both.display())]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("backend") && err.contains("storage"), "{err}");
}

#[test]
fn remount_kv_v2_moves_its_data() {
    let s = Server::dev();
    expect_status(
        &s.post(
            "/v1/sys/mounts/kv-old",
            json!({"type": "kv", "options": {"version": "2"}, "description": "to be moved"}),
        ),
        204,
        "enable kv-old",
    );
    expect_status(
        &s.put("/v1/kv-old/data/moved-secret", json!({"data": {"k": "v"}})),
        200,
        "write",
    );
    let uuid = s.get("/v1/sys/mounts").json()["data"]["kv-old/"]["uuid"].clone();
    let r = s.post("/v1/sys/remount", json!({"from": "kv-old", "to": "kv-new"}));
    expect_status(&r, 200, "remount");
    let v = r.json();
    let id = v["data"]["migration_id"]
        .as_str()
        .expect("migration_id")
        .to_string();
    assert_eq!(v["migration_id"], id.as_str(), "legacy shape: {v}");
    assert!(
        v["warnings"][0]
            .as_str()
            .is_some_and(|w| w.starts_with("Mount move has been queued.")),
        "{v}"
    );
    let r = s.get(&format!("/v1/sys/remount/status/{id}"));
    expect_status(&r, 200, "status");
    assert_eq!(
        r.json()["data"],
        json!({"migration_id": id, "migration_info": {
            "source_mount": "kv-old/", "target_mount": "kv-new/", "status": "success"}}),
    );
    let r = s.get("/v1/kv-new/data/moved-secret");
    expect_status(&r, 200, "read after remount");
    assert_eq!(r.json()["data"]["data"], json!({"k": "v"}));
    assert_eq!(r.json()["data"]["metadata"]["version"], 1);
    expect_status(&s.get("/v1/kv-old/data/moved-secret"), 404, "old path");
    let m = s.get("/v1/sys/mounts").json();
    assert!(m["data"].get("kv-old/").is_none(), "{m}");
    assert_eq!(m["data"]["kv-new/"]["uuid"], uuid, "{m}");
    assert_eq!(m["data"]["kv-new/"]["description"], "to be moved");
    // an unknown migration id
    let r = s.get("/v1/sys/remount/status/00000000-0000-0000-0000-000000000000");
    expect_status(&r, 404, "unknown migration");
    assert_eq!(r.text().trim(), r#"{"errors":[]}"#);
}

#[test]
fn remount_errors_use_vaults_messages() {
    let s = Server::dev();
    expect_status(
        &s.post("/v1/sys/auth/userpass", json!({"type": "userpass"})),
        204,
        "enable userpass",
    );
    expect_status(
        &s.post("/v1/sys/mounts/kv1", json!({"type": "kv"})),
        204,
        "kv1",
    );
    for (body, msg) in [
        (
            json!({"from": "kv1"}),
            "both 'from' and 'to' path must be specified as a string",
        ),
        (
            json!({"from": "no-such-mount", "to": "elsewhere"}),
            "no matching mount at \"no-such-mount/\"",
        ),
        (
            json!({"from": "sys", "to": "sys2"}),
            "cannot remount \"sys/\"",
        ),
        (
            json!({"from": "cubbyhole", "to": "c2"}),
            "cannot remount \"cubbyhole/\"",
        ),
        (
            json!({"from": "identity", "to": "i2"}),
            "cannot remount \"identity/\"",
        ),
        (
            json!({"from": "auth/token", "to": "auth/t2"}),
            "cannot remount \"auth/token/\"",
        ),
        (
            json!({"from": "kv1", "to": "secret"}),
            "path already in use at \"secret/\"",
        ),
        (
            json!({"from": "auth/userpass", "to": "people"}),
            "cannot remount auth mount to non-auth mount \"people/\"",
        ),
        (
            json!({"from": "kv1", "to": "auth/kv1"}),
            "cannot remount to destination auth/kv1/",
        ),
    ] {
        let r = s.post("/v1/sys/remount", body.clone());
        expect_status(&r, 400, &body.to_string());
        assert_eq!(r.errors(), vec![msg.to_string()], "{body}");
    }
    // nothing moved
    let m = s.get("/v1/sys/mounts").json();
    assert!(m["data"].get("kv1/").is_some(), "{m}");
    // remount needs sudo: a default-policy token is refused
    let r = s.post("/v1/auth/token/create", json!({"policies": ["default"]}));
    let t = r.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.call(
        "POST",
        "/v1/sys/remount",
        Some(&t),
        Some(&json!({"from": "kv1", "to": "kv9"})),
    );
    expect_status(&r, 403, "remount without sudo");
}

#[test]
fn remount_an_auth_method_and_log_in_at_the_new_path() {
    let s = Server::dev();
    expect_status(
        &s.post(
            "/v1/sys/auth/userpass",
            json!({"type": "userpass", "description": "people"}),
        ),
        204,
        "enable userpass",
    );
    expect_status(
        &s.post(
            "/v1/auth/userpass/users/alice",
            json!({"password": "pw", "token_policies": "default"}),
        ),
        204,
        "user",
    );
    let r = s.call(
        "POST",
        "/v1/auth/userpass/login/alice",
        None,
        Some(&json!({"password": "pw"})),
    );
    expect_status(&r, 200, "login");
    let old_token = r.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.post(
        "/v1/sys/remount",
        json!({"from": "auth/userpass", "to": "auth/people"}),
    );
    expect_status(&r, 200, "remount auth");
    let id = r.json()["data"]["migration_id"]
        .as_str()
        .unwrap()
        .to_string();
    let st = s.get(&format!("/v1/sys/remount/status/{id}")).json();
    assert_eq!(
        st["data"]["migration_info"]["source_mount"],
        "auth/userpass/"
    );
    assert_eq!(st["data"]["migration_info"]["target_mount"], "auth/people/");
    // the user moved with the mount
    let r = s.call(
        "POST",
        "/v1/auth/people/login/alice",
        None,
        Some(&json!({"password": "pw"})),
    );
    expect_status(&r, 200, "login at the new path");
    let v = r.json();
    assert!(
        v["auth"]["policies"]
            .as_array()
            .unwrap()
            .contains(&json!("default")),
        "{v}"
    );
    let r = s.call(
        "POST",
        "/v1/auth/userpass/login/alice",
        None,
        Some(&json!({"password": "pw"})),
    );
    assert!(r.status >= 400, "the old path is gone: {r}");
    // tokens from the old path were revoked, as Vault revokes the old leases
    expect_status(
        &s.call("GET", "/v1/auth/token/lookup-self", Some(&old_token), None),
        403,
        "old token",
    );
    let a = s.get("/v1/sys/auth").json();
    assert!(a["data"].get("userpass/").is_none(), "{a}");
    assert_eq!(a["data"]["people/"]["description"], "people", "{a}");
}

#[test]
fn mount_tune_round_trip_and_errors() {
    let s = Server::dev();
    expect_status(
        &s.post(
            "/v1/sys/mounts/kv-new",
            json!({"type": "kv", "options": {"version": "2"}, "description": "to be moved"}),
        ),
        204,
        "enable",
    );
    let r = s.get("/v1/sys/mounts/kv-new/tune");
    expect_status(&r, 200, "tune read");
    let v = r.json();
    assert_eq!(
        v["data"],
        json!({"default_lease_ttl": 2764800, "description": "to be moved",
               "force_no_cache": false, "max_lease_ttl": 2764800, "options": {"version": "2"}}),
    );
    assert_eq!(v["description"], "to be moved", "{v}");
    expect_status(
        &s.post(
            "/v1/sys/mounts/kv-new/tune",
            json!({"default_lease_ttl": "1h", "max_lease_ttl": "24h", "description": "moved kv",
                   "listing_visibility": "unauth", "audit_non_hmac_request_keys": ["user"]}),
        ),
        204,
        "tune write",
    );
    let v = s.get("/v1/sys/mounts/kv-new/tune").json();
    assert_eq!(
        v["data"],
        json!({"audit_non_hmac_request_keys": ["user"], "default_lease_ttl": 3600,
               "description": "moved kv", "force_no_cache": false, "listing_visibility": "unauth",
               "max_lease_ttl": 86400, "options": {"version": "2"}}),
    );
    assert_eq!(v["listing_visibility"], "unauth", "{v}");
    // the mount listing shows the tuned config
    let m = s.get("/v1/sys/mounts").json();
    let cfg = &m["data"]["kv-new/"]["config"];
    assert_eq!(cfg["default_lease_ttl"], 3600, "{m}");
    assert_eq!(cfg["listing_visibility"], "unauth", "{m}");
    assert_eq!(cfg["audit_non_hmac_request_keys"], json!(["user"]), "{m}");
    // every other tunable round-trips
    expect_status(
        &s.post(
            "/v1/sys/mounts/kv-new/tune",
            json!({"audit_non_hmac_response_keys": "a,b", "passthrough_request_headers": ["X-A"],
                   "allowed_response_headers": ["X-B"], "allowed_managed_keys": ["k"],
                   "plugin_version": ""}),
        ),
        204,
        "tune lists",
    );
    let d = s.get("/v1/sys/mounts/kv-new/tune").json()["data"].clone();
    assert_eq!(d["audit_non_hmac_response_keys"], json!(["a", "b"]), "{d}");
    assert_eq!(d["passthrough_request_headers"], json!(["X-A"]), "{d}");
    assert_eq!(d["allowed_response_headers"], json!(["X-B"]), "{d}");
    assert_eq!(d["allowed_managed_keys"], json!(["k"]), "{d}");
    for (body, msg) in [
        (
            json!({"default_lease_ttl": "forever"}),
            "time: invalid duration \"forever\"".to_string(),
        ),
        (
            json!({"default_lease_ttl": "48h"}),
            "backend max lease TTL of 86400 would be less than backend default lease TTL of 172800"
                .to_string(),
        ),
        (
            json!({"listing_visibility": "loud"}),
            "invalid listing_visibility loud".to_string(),
        ),
        (
            json!({"token_type": "batch"}),
            "'token_type' can only be modified on auth mounts".to_string(),
        ),
        (
            json!({"options": {"version": "1"}}),
            "cannot downgrade mount from version 2".to_string(),
        ),
    ] {
        let r = s.post("/v1/sys/mounts/kv-new/tune", body.clone());
        expect_status(&r, 400, &body.to_string());
        assert_eq!(r.errors(), vec![msg], "{body}");
    }
    let r = s.post("/v1/sys/mounts/sys/tune", json!({"description": "x"}));
    expect_status(&r, 400, "tune sys");
    assert_eq!(r.errors(), vec!["cannot tune \"sys/\"".to_string()]);
    let r = s.post("/v1/sys/mounts/nope/tune", json!({"description": "x"}));
    expect_status(&r, 400, "tune a missing mount");
    assert_eq!(
        r.errors(),
        vec!["tune of path \"nope/\" failed: no mount entry found".to_string()]
    );
    // a refused tune changed nothing
    assert_eq!(
        s.get("/v1/sys/mounts/kv-new/tune").json()["data"]["description"],
        "moved kv"
    );
}

#[test]
fn auth_tune_round_trip_and_ttls_are_honored() {
    let s = Server::dev();
    expect_status(
        &s.post(
            "/v1/sys/auth/userpass",
            json!({"type": "userpass", "description": "people"}),
        ),
        204,
        "enable",
    );
    let v = s.get("/v1/sys/auth/userpass/tune").json();
    assert_eq!(
        v["data"],
        json!({"default_lease_ttl": 2764800, "description": "people", "force_no_cache": false,
               "max_lease_ttl": 2764800, "token_type": "default-service"}),
    );
    let a = s.get("/v1/sys/auth").json();
    assert_eq!(
        a["data"]["userpass/"]["config"]["token_type"], "default-service",
        "{a}"
    );
    assert_eq!(
        a["data"]["token/"]["config"]["token_type"], "default-service",
        "{a}"
    );
    expect_status(
        &s.post(
            "/v1/sys/auth/userpass/tune",
            json!({"default_lease_ttl": "30m", "max_lease_ttl": "2h",
                   "listing_visibility": "unauth", "token_type": "default-service"}),
        ),
        204,
        "auth tune",
    );
    let v = s.get("/v1/sys/auth/userpass/tune").json();
    assert_eq!(
        v["data"],
        json!({"default_lease_ttl": 1800, "description": "people", "force_no_cache": false,
               "listing_visibility": "unauth", "max_lease_ttl": 7200, "token_type": "default-service"}),
    );
    // the path the CLI uses (sys/mounts/auth/...) reads the same
    let v2 = s.get("/v1/sys/mounts/auth/userpass/tune").json();
    assert_eq!(v2["data"], v["data"]);
    let r = s.post(
        "/v1/sys/auth/userpass/tune",
        json!({"token_type": "platinum"}),
    );
    expect_status(&r, 400, "bad token type");
    assert_eq!(
        r.errors(),
        vec!["invalid value for 'token_type'".to_string()]
    );
    let r = s.post("/v1/sys/auth/token/tune", json!({"token_type": "batch"}));
    expect_status(&r, 400, "token type on the token store");
    // user lockout settings are stored and shown
    expect_status(
        &s.post(
            "/v1/sys/auth/userpass/tune",
            json!({"user_lockout_config": {"lockout_threshold": "5", "lockout_duration": "10m"}}),
        ),
        204,
        "lockout",
    );
    let d = s.get("/v1/sys/auth/userpass/tune").json()["data"].clone();
    assert_eq!(d["user_lockout_threshold"], 5, "{d}");
    assert_eq!(d["user_lockout_duration"], 600, "{d}");
    // the tuned TTLs apply to logins
    expect_status(
        &s.post("/v1/auth/userpass/users/alice", json!({"password": "pw"})),
        204,
        "user",
    );
    let r = s.call(
        "POST",
        "/v1/auth/userpass/login/alice",
        None,
        Some(&json!({"password": "pw"})),
    );
    expect_status(&r, 200, "login");
    assert_eq!(r.json()["auth"]["lease_duration"], 1800, "{}", r.text());
    expect_status(
        &s.post(
            "/v1/auth/userpass/users/bob",
            json!({"password": "pw", "token_ttl": "5h"}),
        ),
        204,
        "user bob",
    );
    let r = s.call(
        "POST",
        "/v1/auth/userpass/login/bob",
        None,
        Some(&json!({"password": "pw"})),
    );
    expect_status(&r, 200, "login bob");
    assert_eq!(r.json()["auth"]["lease_duration"], 7200, "{}", r.text());
}

#[test]
fn tune_upgrades_kv_v1_to_v2_with_its_data() {
    let s = Server::dev();
    expect_status(
        &s.post("/v1/sys/mounts/old", json!({"type": "kv"})),
        204,
        "enable v1",
    );
    expect_status(&s.put("/v1/old/a", json!({"x": "1"})), 204, "write a");
    expect_status(
        &s.put("/v1/old/dir/b", json!({"y": "2"})),
        204,
        "write dir/b",
    );
    let r = s.post(
        "/v1/sys/mounts/old/tune",
        json!({"options": {"version": "2"}}),
    );
    expect_status(&r, 200, "upgrade");
    assert!(
        r.json()["warnings"][0]
            .as_str()
            .is_some_and(|w| w.starts_with("Upgrading mount from version 1 to version 2.")),
        "{}",
        r.text()
    );
    let t = s.get("/v1/sys/mounts/old/tune").json();
    assert_eq!(t["data"]["options"]["version"], "2", "{t}");
    let r = s.get("/v1/old/data/a");
    expect_status(&r, 200, "read a as v2");
    assert_eq!(r.json()["data"]["data"], json!({"x": "1"}));
    let r = s.get("/v1/old/data/dir/b");
    expect_status(&r, 200, "read dir/b as v2");
    assert_eq!(r.json()["data"]["data"], json!({"y": "2"}));
}
