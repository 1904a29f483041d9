//! Tokens, ACL policies, userpass, AppRole, cubbyhole and response wrapping,
//! end to end over HTTP against the real binary.

mod common;

use std::time::Duration;

use common::{at, expect_status, Server, ROOT};
use serde_json::{json, Value};

const APP_POLICY: &str = r#"
path "secret/data/app/*" {
  capabilities = ["read"]
}
"#;

fn token_of(resp: &common::Response) -> String {
    at(&resp.json(), &["auth", "client_token"])
        .as_str()
        .expect("client_token")
        .to_string()
}

fn create_token(s: &Server, body: Value) -> String {
    let r = s.post("/v1/auth/token/create", body);
    expect_status(&r, 200, "token create");
    token_of(&r)
}

fn with_app_policy(s: &Server) {
    expect_status(
        &s.put("/v1/sys/policies/acl/app", json!({ "policy": APP_POLICY })),
        204,
        "policy write",
    );
    expect_status(
        &s.put(
            "/v1/secret/data/app/db",
            json!({"data": {"password": "p1"}}),
        ),
        200,
        "seed app secret",
    );
    expect_status(
        &s.put("/v1/secret/data/admin", json!({"data": {"password": "p2"}})),
        200,
        "seed admin secret",
    );
}

/// Found with `bao token create -ttl=5h` under a 2h max: Vault formats both
/// durations as Go does (`5h0m0s`), not as bare seconds.
#[test]
fn capped_ttl_warning_uses_go_durations() {
    let s = Server::dev();
    let r = s.post(
        "/v1/auth/token/create",
        json!({"policies": ["default"], "ttl": "5h", "explicit_max_ttl": "2h"}),
    );
    expect_status(&r, 200, "token create");
    assert_eq!(at(&r.json(), &["auth", "lease_duration"]), 7200);
    assert_eq!(
        r.json()["warnings"],
        json!([
            "TTL of \"5h0m0s\" exceeded the effective max_ttl of \"2h0m0s\"; TTL value is capped accordingly"
        ])
    );
}

#[test]
fn a_policy_grants_exactly_what_it_says() {
    let s = Server::dev();
    with_app_policy(&s);
    let t = create_token(&s, json!({"policies": ["app"], "ttl": "1h"}));

    let r = s.call("GET", "/v1/secret/data/app/db", Some(&t), None);
    expect_status(&r, 200, "read allowed path");
    assert_eq!(at(&r.json(), &["data", "data", "password"]), "p1");

    let denied = s.call("GET", "/v1/secret/data/admin", Some(&t), None);
    expect_status(&denied, 403, "read elsewhere");
    assert_eq!(
        denied.errors(),
        vec!["1 error occurred:\n\t* permission denied\n\n"]
    );
    let write = s.call(
        "PUT",
        "/v1/secret/data/app/db",
        Some(&t),
        Some(&json!({"data": {"x": 1}})),
    );
    expect_status(&write, 403, "write on a read-only path");
    expect_status(
        &s.call("POST", "/v1/sys/seal", Some(&t), None),
        403,
        "sys/seal",
    );
    expect_status(
        &s.call(
            "PUT",
            "/v1/sys/policies/acl/app",
            Some(&t),
            Some(&json!({"policy": ""})),
        ),
        403,
        "policy change",
    );

    // The default policy lets a token look itself up.
    let me = s.call("GET", "/v1/auth/token/lookup-self", Some(&t), None);
    expect_status(&me, 200, "lookup-self");
    assert_eq!(
        at(&me.json(), &["data", "policies"]),
        &json!(["app", "default"])
    );

    let caps = s.call(
        "POST",
        "/v1/sys/capabilities-self",
        Some(&t),
        Some(&json!({"paths": ["secret/data/app/db", "secret/data/admin"]})),
    );
    expect_status(&caps, 200, "capabilities-self");
    assert_eq!(
        at(&caps.json(), &["data", "secret/data/app/db"]),
        &json!(["read"])
    );
    assert_eq!(
        at(&caps.json(), &["data", "secret/data/admin"]),
        &json!(["deny"])
    );
}

#[test]
fn path_tricks_never_reach_a_denied_path() {
    let s = Server::dev();
    with_app_policy(&s);
    let t = create_token(&s, json!({"policies": ["app"]}));
    let tricks = [
        "/v1/secret/data/app/../admin",
        "/v1/secret/data/app/%2e%2e/admin",
        "/v1/secret/data/app%2F..%2Fadmin",
        "/v1/secret/data/app/./../admin",
        "/v1/secret//data/admin",
        "/v1/secret/data/admin/",
        "/v1/secret/data//admin//",
        "/v1/secret/data/app/..%2fadmin",
    ];
    for target in tricks {
        let r = s.call("GET", target, Some(&t), None);
        assert!(
            r.status == 400 || r.status == 403,
            "{target}: expected 400 or 403, got {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("p2"), "{target} leaked the admin secret");
    }
    // The same tricks cannot seal the server either.
    for target in ["/v1/secret/../sys/seal", "/v1/secret/%2e%2e/sys/seal"] {
        let r = s.call("PUT", target, Some(ROOT), None);
        assert_eq!(r.status, 400, "{target}: {}", r.text());
    }
    expect_status(
        &s.call("GET", "/v1/sys/health", None, None),
        200,
        "still unsealed",
    );
}

#[test]
fn bad_policies_and_unknown_tokens_are_clear_errors() {
    let s = Server::dev();
    let bad = [
        "path \"secret/*\" { capabilities = [\"fly\"] }",
        "path \"secret/*\" { capabilities = ",
        "path \"secret/*\" { colour = \"red\" }",
    ];
    for text in bad {
        let r = s.put("/v1/sys/policies/acl/bad", json!({ "policy": text }));
        expect_status(&r, 400, text);
        assert!(!r.errors().is_empty());
    }
    expect_status(
        &s.put("/v1/sys/policies/acl/root", json!({"policy": APP_POLICY})),
        400,
        "root",
    );
    expect_status(
        &s.delete("/v1/sys/policies/acl/default"),
        400,
        "delete default",
    );
    let r = s.call("GET", "/v1/secret/data/x", Some("hvs.nonsense"), None);
    expect_status(&r, 403, "unknown token");
    assert_eq!(r.errors(), vec!["permission denied"]);
}

#[test]
fn tokens_expire_renew_and_cascade() {
    let s = Server::dev();
    // Expiry.
    let short = create_token(&s, json!({"ttl": "2s"}));
    expect_status(
        &s.call("GET", "/v1/auth/token/lookup-self", Some(&short), None),
        200,
        "fresh",
    );
    std::thread::sleep(Duration::from_millis(3200));
    expect_status(
        &s.call("GET", "/v1/auth/token/lookup-self", Some(&short), None),
        403,
        "expired",
    );

    // Renewal is capped by explicit_max_ttl.
    let capped = create_token(&s, json!({"ttl": "60s", "explicit_max_ttl": "90s"}));
    let r = s.call(
        "POST",
        "/v1/auth/token/renew-self",
        Some(&capped),
        Some(&json!({"increment": "1h"})),
    );
    expect_status(&r, 200, "renew-self");
    let ttl = at(&r.json(), &["auth", "lease_duration"]).as_u64().unwrap();
    assert!(ttl <= 90, "renewal went past the cap: {ttl}");
    assert!(!r.json()["warnings"].is_null(), "a capped renewal warns");

    // Revoking a parent revokes its children and grandchildren.
    let creator = r#"path "auth/token/create" { capabilities = ["update"] }"#;
    expect_status(
        &s.put("/v1/sys/policies/acl/creator", json!({"policy": creator})),
        204,
        "policy",
    );
    let parent = create_token(&s, json!({"policies": ["creator"]}));
    let child = token_of(&s.call(
        "POST",
        "/v1/auth/token/create",
        Some(&parent),
        Some(&json!({})),
    ));
    let grandchild = token_of(&s.call(
        "POST",
        "/v1/auth/token/create",
        Some(&child),
        Some(&json!({})),
    ));
    let orphan = create_token(&s, json!({"no_parent": true}));
    let r = s.call(
        "POST",
        "/v1/auth/token/create",
        Some(&child),
        Some(&json!({"policies": ["app"]})),
    );
    assert!(r.status == 400 || r.status == 403, "policy escalation: {r}");
    expect_status(
        &s.post("/v1/auth/token/revoke", json!({"token": parent})),
        204,
        "revoke",
    );
    for t in [&parent, &child, &grandchild] {
        expect_status(
            &s.call("GET", "/v1/auth/token/lookup-self", Some(t), None),
            403,
            "revoked tree",
        );
    }
    expect_status(
        &s.call("GET", "/v1/auth/token/lookup-self", Some(&orphan), None),
        200,
        "orphan lives",
    );
}

#[test]
fn use_limited_tokens_stop_after_their_last_use() {
    let s = Server::dev();
    let t = create_token(&s, json!({"num_uses": 2}));
    for i in 0..2 {
        expect_status(
            &s.call("GET", "/v1/auth/token/lookup-self", Some(&t), None),
            200,
            &format!("use {i}"),
        );
    }
    expect_status(
        &s.call("GET", "/v1/auth/token/lookup-self", Some(&t), None),
        403,
        "third use",
    );
}

#[test]
fn cubbyhole_is_private_to_each_token() {
    let s = Server::dev();
    let a = create_token(&s, json!({}));
    let b = create_token(&s, json!({}));
    expect_status(
        &s.call(
            "PUT",
            "/v1/cubbyhole/note",
            Some(&a),
            Some(&json!({"v": "mine"})),
        ),
        204,
        "write",
    );
    let r = s.call("GET", "/v1/cubbyhole/note", Some(&a), None);
    expect_status(&r, 200, "own read");
    assert_eq!(at(&r.json(), &["data", "v"]), "mine");
    expect_status(
        &s.call("GET", "/v1/cubbyhole/note", Some(&b), None),
        404,
        "other token",
    );
    // Revoking the token destroys its cubbyhole.
    expect_status(
        &s.post("/v1/auth/token/revoke", json!({"token": a})),
        204,
        "revoke",
    );
    let again = create_token(&s, json!({}));
    expect_status(
        &s.call("GET", "/v1/cubbyhole/note", Some(&again), None),
        404,
        "gone",
    );
}

#[test]
fn wrapped_responses_unwrap_exactly_once() {
    let s = Server::dev();
    let wrapped = s.raw(
        "POST",
        "/v1/sys/wrapping/wrap",
        &[("X-Vault-Token", ROOT), ("X-Vault-Wrap-TTL", "60s")],
        Some(br#"{"secret":"s3"}"#),
    );
    expect_status(&wrapped, 200, "wrap");
    let info = wrapped.json()["wrap_info"].clone();
    assert_eq!(info["ttl"], 60);
    let wt = info["token"].as_str().unwrap().to_string();

    let look = s.call(
        "POST",
        "/v1/sys/wrapping/lookup",
        Some(ROOT),
        Some(&json!({"token": wt})),
    );
    expect_status(&look, 200, "lookup");
    assert_eq!(
        at(&look.json(), &["data", "creation_path"]),
        "sys/wrapping/wrap"
    );

    let first = s.call("POST", "/v1/sys/wrapping/unwrap", Some(&wt), None);
    expect_status(&first, 200, "first unwrap");
    assert_eq!(at(&first.json(), &["data", "secret"]), "s3");
    let second = s.call("POST", "/v1/sys/wrapping/unwrap", Some(&wt), None);
    assert!(
        second.status == 400 || second.status == 403,
        "second unwrap: {second}"
    );
    let by_body = s.call(
        "POST",
        "/v1/sys/wrapping/unwrap",
        Some(ROOT),
        Some(&json!({"token": wt})),
    );
    expect_status(&by_body, 400, "unwrap by body after use");

    // Any response can be wrapped with the header, e.g. a token creation.
    let r = s.raw(
        "POST",
        "/v1/auth/token/create",
        &[("X-Vault-Token", ROOT), ("X-Vault-Wrap-TTL", "5m")],
        Some(b"{}"),
    );
    expect_status(&r, 200, "wrapped create");
    let v = r.json();
    assert!(
        v["auth"].is_null(),
        "the token must not appear unwrapped: {v}"
    );
    let wt = v["wrap_info"]["token"].as_str().unwrap();
    let inner = s.call(
        "POST",
        "/v1/sys/wrapping/unwrap",
        Some(ROOT),
        Some(&json!({"token": wt})),
    );
    expect_status(&inner, 200, "unwrap token");
    let t = inner.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    expect_status(
        &s.call("GET", "/v1/auth/token/lookup-self", Some(&t), None),
        200,
        "unwrapped token works",
    );
}

#[test]
fn userpass_login_end_to_end() {
    let s = Server::dev();
    with_app_policy(&s);
    expect_status(
        &s.post("/v1/sys/auth/userpass", json!({"type": "userpass"})),
        204,
        "enable",
    );
    let listed = s.get("/v1/sys/auth");
    expect_status(&listed, 200, "sys/auth");
    assert_eq!(
        at(&listed.json(), &["data", "userpass/", "type"]),
        "userpass"
    );
    expect_status(
        &s.post(
            "/v1/auth/userpass/users/alice",
            json!({"password": "correct horse", "token_policies": "app", "token_ttl": "30m"}),
        ),
        204,
        "create user",
    );
    let login = s.call(
        "POST",
        "/v1/auth/userpass/login/alice",
        None,
        Some(&json!({"password": "correct horse"})),
    );
    expect_status(&login, 200, "login");
    let v = login.json();
    assert_eq!(v["auth"]["policies"], json!(["app", "default"]));
    assert_eq!(v["auth"]["lease_duration"], 1800);
    assert_eq!(v["auth"]["metadata"]["username"], "alice");
    let t = token_of(&login);
    expect_status(
        &s.call("GET", "/v1/secret/data/app/db", Some(&t), None),
        200,
        "read with login token",
    );
    expect_status(
        &s.call("GET", "/v1/secret/data/admin", Some(&t), None),
        403,
        "denied elsewhere",
    );

    let wrong = s.call(
        "POST",
        "/v1/auth/userpass/login/alice",
        None,
        Some(&json!({"password": "nope"})),
    );
    expect_status(&wrong, 400, "wrong password");
    let nobody = s.call(
        "POST",
        "/v1/auth/userpass/login/bob",
        None,
        Some(&json!({"password": "x"})),
    );
    expect_status(&nobody, 400, "unknown user");
    assert_eq!(
        wrong.errors(),
        nobody.errors(),
        "the error must not reveal which users exist"
    );

    // A password change takes effect.
    expect_status(
        &s.post(
            "/v1/auth/userpass/users/alice/password",
            json!({"password": "battery staple"}),
        ),
        204,
        "change password",
    );
    let old = s.call(
        "POST",
        "/v1/auth/userpass/login/alice",
        None,
        Some(&json!({"password": "correct horse"})),
    );
    expect_status(&old, 400, "old password");
    let new = s.call(
        "POST",
        "/v1/auth/userpass/login/alice",
        None,
        Some(&json!({"password": "battery staple"})),
    );
    expect_status(&new, 200, "new password");
}

#[test]
fn approle_login_with_a_wrapped_secret_id() {
    let s = Server::dev();
    with_app_policy(&s);
    expect_status(
        &s.post("/v1/sys/auth/approle", json!({"type": "approle"})),
        204,
        "enable",
    );
    expect_status(
        &s.post(
            "/v1/auth/approle/role/web",
            json!({"token_policies": ["app"], "token_ttl": "20m", "token_max_ttl": "1h", "secret_id_num_uses": 5}),
        ),
        204,
        "role",
    );
    let bad = s.post(
        "/v1/auth/approle/role/bad",
        json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
    );
    expect_status(&bad, 400, "ttl above max");

    let role_id = s.get("/v1/auth/approle/role/web/role-id").json()["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let wrapped = s.raw(
        "POST",
        "/v1/auth/approle/role/web/secret-id",
        &[("X-Vault-Token", ROOT), ("X-Vault-Wrap-TTL", "120s")],
        Some(b"{}"),
    );
    expect_status(&wrapped, 200, "wrapped secret-id");
    let wt = wrapped.json()["wrap_info"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let unwrapped = s.call("POST", "/v1/sys/wrapping/unwrap", Some(&wt), None);
    expect_status(&unwrapped, 200, "unwrap secret-id");
    let secret_id = unwrapped.json()["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    let again = s.call("POST", "/v1/sys/wrapping/unwrap", Some(&wt), None);
    assert!(
        again.status == 400 || again.status == 403,
        "second unwrap: {again}"
    );

    let login = s.call(
        "POST",
        "/v1/auth/approle/login",
        None,
        Some(&json!({"role_id": role_id, "secret_id": secret_id})),
    );
    expect_status(&login, 200, "approle login");
    let v = login.json();
    assert_eq!(v["auth"]["policies"], json!(["app", "default"]));
    assert_eq!(v["auth"]["lease_duration"], 1200);
    let t = token_of(&login);
    expect_status(
        &s.call("GET", "/v1/secret/data/app/db", Some(&t), None),
        200,
        "read",
    );

    let wrong = s.call(
        "POST",
        "/v1/auth/approle/login",
        None,
        Some(&json!({"role_id": role_id, "secret_id": "00000000-0000-0000-0000-000000000000"})),
    );
    expect_status(&wrong, 400, "wrong secret id");
}

#[test]
fn no_raw_token_or_password_reaches_storage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Server::file(dir.path(), "");
    let init = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    );
    expect_status(&init, 200, "init");
    let iv = init.json();
    let root = iv["root_token"].as_str().unwrap().to_string();
    let key = iv["keys"][0].as_str().unwrap().to_string();
    expect_status(
        &s.call("PUT", "/v1/sys/unseal", None, Some(&json!({"key": key}))),
        200,
        "unseal",
    );
    let call = |m: &str, p: &str, b: Value| s.call(m, p, Some(&root), Some(&b));
    expect_status(
        &call("POST", "/v1/sys/auth/userpass", json!({"type": "userpass"})),
        204,
        "enable userpass",
    );
    let password = "pw-8c1f0a7e-unique";
    expect_status(
        &call(
            "POST",
            "/v1/auth/userpass/users/carol",
            json!({"password": password}),
        ),
        204,
        "user",
    );
    let t = token_of(&call("POST", "/v1/auth/token/create", json!({"ttl": "1h"})));
    s.kill();

    let mut bytes = Vec::new();
    for entry in walk(dir.path()) {
        bytes.extend(std::fs::read(entry).unwrap_or_default());
    }
    for needle in [root.as_str(), t.as_str(), password] {
        let secret = needle.trim_start_matches("hvs.");
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{needle} found in storage"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
/// Every AppRole role sub-path reads, writes and deletes as in Vault: the
/// read answers under the setting's field name, a delete resets it to its
/// default, the role's own read shows the change.
#[test]
fn approle_role_sub_paths_round_trip() {
    let s = Server::dev();
    expect_status(
        &s.post("/v1/sys/auth/approle", json!({"type": "approle"})),
        204,
        "enable",
    );
    expect_status(
        &s.post(
            "/v1/auth/approle/role/web",
            json!({"token_policies": "app"}),
        ),
        204,
        "role",
    );
    // (segment, body written, data read back, data after delete)
    let cases = [
        (
            "policies",
            json!({"token_policies": ["db", "app"]}),
            json!({"token_policies": ["app", "db"], "policies": ["app", "db"]}),
            json!({"token_policies": [], "policies": []}),
        ),
        (
            "token-ttl",
            json!({"token_ttl": "10m"}),
            json!({"token_ttl": 600}),
            json!({"token_ttl": 0}),
        ),
        (
            "token-max-ttl",
            json!({"token_max_ttl": "2h"}),
            json!({"token_max_ttl": 7200}),
            json!({"token_max_ttl": 0}),
        ),
        (
            "token-num-uses",
            json!({"token_num_uses": "3"}),
            json!({"token_num_uses": 3}),
            json!({"token_num_uses": 0}),
        ),
        (
            "period",
            json!({"token_period": "1h"}),
            json!({"token_period": 3600, "period": 3600}),
            json!({"token_period": 0, "period": 0}),
        ),
        (
            "secret-id-ttl",
            json!({"secret_id_ttl": "30m"}),
            json!({"secret_id_ttl": 1800}),
            json!({"secret_id_ttl": 0}),
        ),
        (
            "secret-id-num-uses",
            json!({"secret_id_num_uses": 7}),
            json!({"secret_id_num_uses": 7}),
            json!({"secret_id_num_uses": 0}),
        ),
        (
            "bound-cidr-list",
            json!({"bound_cidr_list": "10.0.0.0/8,127.0.0.1/32"}),
            json!({"bound_cidr_list": ["10.0.0.0/8", "127.0.0.1/32"]}),
            json!({"bound_cidr_list": []}),
        ),
        (
            "secret-id-bound-cidrs",
            json!({"secret_id_bound_cidrs": ["127.0.0.0/8"]}),
            json!({"secret_id_bound_cidrs": ["127.0.0.0/8"]}),
            json!({"secret_id_bound_cidrs": []}),
        ),
        (
            "token-bound-cidrs",
            json!({"token_bound_cidrs": "127.0.0.1"}),
            json!({"token_bound_cidrs": ["127.0.0.1"]}),
            json!({"token_bound_cidrs": []}),
        ),
        (
            "bind-secret-id",
            json!({"bind_secret_id": true}),
            json!({"bind_secret_id": true}),
            json!({"bind_secret_id": true}),
        ),
    ];
    for (seg, body, written, reset) in cases {
        let path = format!("/v1/auth/approle/role/web/{seg}");
        expect_status(&s.post(&path, body.clone()), 204, &format!("write {seg}"));
        let r = s.get(&path);
        expect_status(&r, 200, &format!("read {seg}"));
        assert_eq!(r.json()["data"], written, "{seg}");
        expect_status(&s.delete(&path), 204, &format!("delete {seg}"));
        assert_eq!(s.get(&path).json()["data"], reset, "{seg} after delete");
        // A missing role: read 404, write 404, delete 204 (as Vault).
        let gone = format!("/v1/auth/approle/role/nope/{seg}");
        expect_status(&s.get(&gone), 404, &format!("read missing {seg}"));
        expect_status(&s.post(&gone, body), 404, &format!("write missing {seg}"));
        expect_status(&s.delete(&gone), 204, &format!("delete missing {seg}"));
    }
    // A write without its field, and a bad value.
    let r = s.post("/v1/auth/approle/role/web/token-ttl", json!({}));
    expect_status(&r, 400, "missing token_ttl");
    assert_eq!(r.json()["errors"], json!(["missing token_ttl"]));
    let r = s.post(
        "/v1/auth/approle/role/web/token-ttl",
        json!({"token_ttl": "forever"}),
    );
    expect_status(&r, 400, "bad token_ttl");
    assert_eq!(
        r.json()["errors"],
        json!(["Field validation failed: error converting input for field \"token_ttl\": time: invalid duration \"forever\""])
    );
    // The role's own read reflects a sub-path write.
    expect_status(
        &s.post(
            "/v1/auth/approle/role/web/secret-id-num-uses",
            json!({"secret_id_num_uses": 2}),
        ),
        204,
        "num uses",
    );
    assert_eq!(
        s.get("/v1/auth/approle/role/web").json()["data"]["secret_id_num_uses"],
        2
    );
    // bound-cidr-list is deprecated: its read warns.
    let r = s.get("/v1/auth/approle/role/web/bound-cidr-list");
    assert_eq!(
        r.json()["warnings"].as_array().map(Vec::len),
        Some(1),
        "{r}"
    );
    // local-secret-ids is read-only.
    let r = s.get("/v1/auth/approle/role/web/local-secret-ids");
    expect_status(&r, 200, "local-secret-ids");
    assert_eq!(r.json()["data"], json!({"local_secret_ids": false}));
    expect_status(
        &s.post(
            "/v1/auth/approle/role/web/local-secret-ids",
            json!({"local_secret_ids": true}),
        ),
        405,
        "local-secret-ids write",
    );
    let r = s.post(
        "/v1/auth/approle/role/web",
        json!({"local_secret_ids": true}),
    );
    expect_status(&r, 400, "local_secret_ids on update");
    assert_eq!(
        r.json()["errors"],
        json!(["local_secret_ids can only be modified during role creation"])
    );
}

/// Userpass answers as OpenBao does (captures 260-267 of set 2).
#[test]
fn userpass_matches_openbao_captures() {
    let s = Server::dev();
    expect_status(
        &s.post("/v1/sys/auth/userpass", json!({"type": "userpass"})),
        204,
        "enable",
    );
    expect_status(
        &s.post(
            "/v1/auth/userpass/users/dave",
            json!({"password": "correct-horse-battery", "token_policies": ["default", "dev"],
                   "token_ttl": "1h", "token_max_ttl": "4h"}),
        ),
        204,
        "260 create",
    );
    let r = s.get("/v1/auth/userpass/users/dave");
    expect_status(&r, 200, "261 read");
    let d = &r.json()["data"];
    assert_eq!(d["token_policies"], json!(["default", "dev"]));
    assert_eq!(d["token_ttl"], 3600);
    assert_eq!(d["token_max_ttl"], 14400);
    assert_eq!(d["token_type"], "default");
    assert_eq!(
        common::list_keys(&s.list("/v1/auth/userpass/users")),
        vec!["dave"]
    );
    let r = s.post(
        "/v1/auth/userpass/users/erin",
        json!({"password": "x", "token_ttl": "forever"}),
    );
    expect_status(&r, 400, "263 wrong type");
    assert_eq!(
        r.json()["errors"],
        json!([
            "error converting input for field \"token_ttl\": time: invalid duration \"forever\""
        ])
    );
    let r = s.post(
        "/v1/auth/userpass/users/frank",
        json!({"token_policies": ["default"]}),
    );
    expect_status(&r, 400, "264 missing password");
    assert_eq!(
        r.json()["errors"],
        json!(["must provide either password or password_hash"])
    );
    let r = s.call(
        "POST",
        "/v1/auth/userpass/login/dave",
        None,
        Some(&json!({"password": "correct-horse-battery"})),
    );
    expect_status(&r, 200, "265 login");
    assert_eq!(r.json()["auth"]["metadata"], json!({"username": "dave"}));
    assert_eq!(r.json()["auth"]["lease_duration"], 3600);
    for (user, pw, what) in [("dave", "wrong", "266"), ("nobody", "wrong", "267")] {
        let r = s.call(
            "POST",
            &format!("/v1/auth/userpass/login/{user}"),
            None,
            Some(&json!({"password": pw})),
        );
        expect_status(&r, 400, what);
        assert_eq!(r.json()["errors"], json!(["invalid username or password"]));
    }
    // 268: OpenBao answers 500; bad input is a 400 here, same text.
    let r = s.call(
        "POST",
        "/v1/auth/userpass/login/dave",
        None,
        Some(&json!({})),
    );
    expect_status(&r, 400, "268 missing password");
    assert_eq!(r.json()["errors"], json!(["missing password"]));
    // Unknown parameters are reported.
    let r = s.post(
        "/v1/auth/userpass/users/dave",
        json!({"token_ttl": "30m", "colour": "red"}),
    );
    expect_status(&r, 200, "update with unknown key");
    assert_eq!(
        r.json()["warnings"],
        json!(["Endpoint ignored these unrecognized parameters: [colour]"])
    );
}

#[test]
fn token_lookup_of_unknown_or_revoked_tokens_is_403() {
    let s = Server::dev();
    // Capture 397: OpenBao answers 403 `bad token`.
    let r = s.post(
        "/v1/auth/token/lookup",
        json!({"token": "s.ThisTokenDoesNotExist0000"}),
    );
    expect_status(&r, 403, "lookup of an unknown token");
    assert_eq!(r.json(), json!({"errors": ["bad token"]}));

    let t = create_token(&s, json!({"policies": ["default"]}));
    let looked = s.post("/v1/auth/token/lookup", json!({ "token": t }));
    expect_status(&looked, 200, "lookup of a live token");
    assert_eq!(at(&looked.json(), &["data", "id"]), t.as_str());
    let accessor = at(&looked.json(), &["data", "accessor"])
        .as_str()
        .unwrap()
        .to_string();
    expect_status(
        &s.post("/v1/auth/token/revoke", json!({ "token": t })),
        204,
        "revoke",
    );
    let r = s.post("/v1/auth/token/lookup", json!({ "token": t }));
    expect_status(&r, 403, "lookup of a revoked token");
    assert_eq!(r.json(), json!({"errors": ["bad token"]}));

    // Accessors of nothing: 403 as well, with Vault's text.
    for path in ["lookup-accessor", "revoke-accessor"] {
        let r = s.post(
            &format!("/v1/auth/token/{path}"),
            json!({ "accessor": accessor }),
        );
        expect_status(&r, 403, path);
        assert_eq!(r.json(), json!({"errors": ["invalid accessor"]}), "{path}");
        let r = s.post(&format!("/v1/auth/token/{path}"), json!({}));
        expect_status(&r, 400, path);
        assert_eq!(r.json(), json!({"errors": ["missing accessor"]}), "{path}");
    }

    // Without a token, lookup looks up the caller (Vault).
    let me = s.post("/v1/auth/token/lookup", json!({}));
    expect_status(&me, 200, "lookup without a token");
    assert_eq!(at(&me.json(), &["data", "id"]), ROOT);
}

#[test]
fn token_revoke_needs_a_token_and_roles_refuse_a_null_type() {
    let s = Server::dev();
    for path in ["revoke", "revoke-orphan"] {
        for body in [json!({"token": ""}), json!({})] {
            let r = s.post(&format!("/v1/auth/token/{path}"), body.clone());
            expect_status(&r, 400, &format!("{path} {body}"));
            assert_eq!(r.json(), json!({"errors": ["missing token ID"]}));
        }
    }
    // Revoking an unknown token succeeds; orphaning one does not (Vault).
    expect_status(
        &s.post("/v1/auth/token/revoke", json!({"token": "s.nope"})),
        204,
        "revoke unknown",
    );
    let r = s.post("/v1/auth/token/revoke-orphan", json!({"token": "s.nope"}));
    expect_status(&r, 400, "revoke-orphan unknown");
    assert_eq!(r.json(), json!({"errors": ["token to revoke not found"]}));

    let r = s.post("/v1/auth/token/roles/web", json!({"token_type": null}));
    expect_status(&r, 400, "null token_type");
    assert_eq!(
        r.json(),
        json!({"errors": ["invalid 'token_type' value \"\""]})
    );
    let r = s.post("/v1/auth/token/roles/web", json!({"token_type": "bogus"}));
    expect_status(&r, 400, "bogus token_type");
    expect_status(&s.get("/v1/auth/token/roles/web"), 404, "nothing stored");

    expect_status(
        &s.post(
            "/v1/auth/token/roles/web",
            json!({"allowed_policies": "default", "renewable": "false"}),
        ),
        204,
        "role write",
    );
    let role = s.get("/v1/auth/token/roles/web").json();
    assert_eq!(at(&role, &["data", "token_type"]), "default-service");
    assert_eq!(at(&role, &["data", "renewable"]), false);
    expect_status(
        &s.post("/v1/auth/token/roles/web", json!({"token_type": "service"})),
        204,
        "role update",
    );
    let role = s.get("/v1/auth/token/roles/web").json();
    assert_eq!(at(&role, &["data", "token_type"]), "service");
    assert_eq!(at(&role, &["data", "renewable"]), false, "kept: {role}");
    let r = s.post("/v1/auth/token/roles/web", json!({"orphan": "maybe"}));
    expect_status(&r, 400, "bad bool");
    assert!(
        r.text()
            .contains("Field validation failed: error converting input for field \\\"orphan\\\""),
        "{}",
        r.text()
    );

    let created = s.post("/v1/auth/token/create/web", json!({}));
    expect_status(&created, 200, "create against role");
    assert_eq!(at(&created.json(), &["auth", "renewable"]), false);
    let r = s.post("/v1/auth/token/create/nope", json!({}));
    expect_status(&r, 400, "unknown role");
    assert_eq!(r.json(), json!({"errors": ["unknown role nope"]}));
    assert_eq!(
        common::list_keys(&s.list("/v1/auth/token/roles")),
        vec!["web".to_string()]
    );
    expect_status(&s.delete("/v1/auth/token/roles/web"), 204, "role delete");
    expect_status(&s.list("/v1/auth/token/roles"), 404, "no roles");
}

#[test]
fn token_store_paths_are_declared() {
    let s = Server::dev();
    let r = s.get("/v1/auth/token/nope");
    expect_status(&r, 404, "unknown path");
    assert_eq!(
        r.json(),
        json!({"errors": ["1 error occurred:\n\t* unsupported path\n\n"]})
    );
    expect_status(&s.get("/v1/auth/token/create"), 405, "GET create");
    expect_status(
        &s.get("/v1/auth/token/lookup-accessor"),
        405,
        "GET lookup-accessor",
    );
    // Unknown body keys are reported, not silently dropped.
    let r = s.post("/v1/auth/token/lookup-self", json!({"bogus": 1}));
    expect_status(&r, 200, "lookup-self");
    assert_eq!(
        r.json()["warnings"],
        json!(["Endpoint ignored these unrecognized parameters: [bogus]"])
    );
    let help = s.get("/v1/auth/token/create?help=1");
    expect_status(&help, 200, "help");
    let text = help.json()["help"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("create new tokens"), "{text}");
    assert!(text.contains("explicit_max_ttl"), "{text}");
}

#[test]
fn token_role_writes_tell_create_from_update_for_acls() {
    let s = Server::dev();
    expect_status(
        &s.put(
            "/v1/sys/policies/acl/role-maker",
            json!({"policy": "path \"auth/token/roles/*\" { capabilities = [\"create\", \"read\"] }"}),
        ),
        204,
        "policy",
    );
    let t = create_token(&s, json!({"policies": ["role-maker"]}));
    let write = |body: Value| s.call("POST", "/v1/auth/token/roles/ci", Some(&t), Some(&body));
    expect_status(&write(json!({"orphan": true})), 204, "create a new role");
    expect_status(
        &write(json!({"orphan": false})),
        403,
        "updating needs the update capability",
    );
    let role = s.get("/v1/auth/token/roles/ci").json();
    assert_eq!(at(&role, &["data", "orphan"]), true, "{role}");
}
