//! JWT/OIDC login against the real binary: tokens signed in the test with
//! RSA, EC and Ed25519 keys, verified from static PEM keys, from a JWKS
//! served by a local HTTP server (with key rotation), and through an OIDC
//! discovery document; the OIDC browser flow against a provider the test
//! plays; Vault's refusals; and the bao CLI as a user would drive it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::jose::{hs256_with, now, unsigned, TestKey};
use common::mockhttp::MockServer;
use common::{at, expect_status, Server, ROOT};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

const ISSUER: &str = "https://issuer.example.com";

fn claims(extra: Value) -> Value {
    let t = now();
    let mut c = json!({
        "iss": ISSUER, "sub": "ci-runner-42", "aud": "bao-ci", "repository": "acme/widgets",
        "ref": "refs/heads/main", "iat": t, "nbf": t, "exp": t + 600,
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn enable(s: &Server, path: &str, ty: &str) {
    expect_status(
        &s.post(&format!("/v1/sys/auth/{path}"), json!({"type": ty})),
        204,
        "enable",
    );
}

fn role(s: &Server, mount: &str) {
    let r = s.post(
        &format!("/v1/auth/{mount}/role/ci"),
        json!({
            "role_type": "jwt", "bound_audiences": ["bao-ci"], "user_claim": "sub",
            "token_policies": ["ci-read"], "token_ttl": "1h",
            "claim_mappings": {"repository": "repo"},
            "bound_claims": {"ref": "refs/heads/*"}, "bound_claims_type": "glob",
        }),
    );
    expect_status(&r, 204, "role");
}

fn login(s: &Server, mount: &str, jwt: &str) -> common::http::Response {
    s.call(
        "POST",
        &format!("/v1/auth/{mount}/login"),
        None,
        Some(&json!({"role": "ci", "jwt": jwt})),
    )
}

fn assert_login_ok(s: &Server, mount: &str, jwt: &str) -> Value {
    let r = login(s, mount, jwt);
    expect_status(&r, 200, "login");
    let v = r.json();
    assert_eq!(
        at(&v, &["auth", "policies"]),
        &json!(["ci-read", "default"]),
        "{v}"
    );
    assert_eq!(
        at(&v, &["auth", "metadata"]),
        &json!({"repo": "acme/widgets", "role": "ci"}),
        "{v}"
    );
    assert_eq!(at(&v, &["auth", "lease_duration"]), 3600, "{v}");
    v
}

fn error_of(r: &common::http::Response) -> String {
    r.errors().join("\n")
}

#[test]
fn static_keys_rsa_ec_and_ed25519() {
    let s = Server::dev();
    enable(&s, "jwt", "jwt");
    let keys = [
        TestKey::new(Algorithm::RS256),
        TestKey::new(Algorithm::ES256),
        TestKey::new(Algorithm::EdDSA),
    ];
    let pems: Vec<&str> = keys.iter().map(|k| k.public_pem.as_str()).collect();
    let r = s.post(
        "/v1/auth/jwt/config",
        json!({"jwt_validation_pubkeys": pems, "bound_issuer": ISSUER}),
    );
    expect_status(&r, 204, "config");
    role(&s, "jwt");
    for k in &keys {
        let v = assert_login_ok(&s, "jwt", &k.sign(Some("any"), &claims(json!({}))));
        let token = at(&v, &["auth", "client_token"])
            .as_str()
            .unwrap()
            .to_string();
        let me = s.call("GET", "/v1/auth/token/lookup-self", Some(&token), None);
        expect_status(&me, 200, "lookup-self");
        let me = me.json();
        assert_eq!(
            at(&me, &["data", "display_name"]),
            "jwt-ci-runner-42",
            "{me}"
        );
        assert_eq!(at(&me, &["data", "path"]), "auth/jwt/login", "{me}");
        assert_eq!(
            at(&me, &["data", "meta"]),
            &json!({"repo": "acme/widgets", "role": "ci"})
        );
    }
    // The config reads back in OpenBao's shape.
    let c = s.get("/v1/auth/jwt/config").json();
    assert_eq!(
        at(&c, &["data", "jwt_validation_pubkeys"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(at(&c, &["data", "bound_issuer"]), ISSUER);
}

#[test]
fn refusals_with_vaults_messages() {
    let s = Server::dev();
    enable(&s, "jwt", "jwt");
    let key = TestKey::new(Algorithm::RS256);
    expect_status(
        &s.post(
            "/v1/auth/jwt/config",
            json!({"jwt_validation_pubkeys": [key.public_pem], "bound_issuer": ISSUER}),
        ),
        204,
        "config",
    );
    role(&s, "jwt");
    let t = now();
    let cases = [
        (json!({"aud": "someone-else"}), "error validating token: invalid audience (aud) claim: audience claim does not match any expected audience"),
        (json!({"iat": t - 7200, "nbf": t - 7200, "exp": t - 3600}), "error validating token: invalid expiration time (exp) claim: token is expired"),
        (json!({"iat": null, "nbf": t + 3600, "exp": t + 7200}), "error validating token: invalid not before (nbf) claim: token not yet valid"),
        (json!({"iss": "https://evil.example.net"}), "error validating token: invalid issuer (iss) claim"),
        (json!({"ref": "refs/tags/v1"}), "error validating claims: claim \"ref\" does not match any associated bound claim values"),
        (json!({"sub": null}), "claim \"sub\" not found in token"),
    ];
    for (extra, want) in cases {
        let r = login(&s, "jwt", &key.sign(None, &claims(extra.clone())));
        expect_status(&r, 400, &extra.to_string());
        assert_eq!(error_of(&r), want, "{extra}");
    }
    let no_key = "error validating token: error verifying token signature: no known key successfully validated the token signature";
    let r = login(&s, "jwt", &unsigned(&claims(json!({}))));
    expect_status(&r, 400, "alg none");
    assert_eq!(error_of(&r), no_key);
    let r = login(&s, "jwt", &hs256_with(&key.public_pem, &claims(json!({}))));
    expect_status(&r, 400, "HS256 with the public key");
    assert_eq!(error_of(&r), no_key);
    let other = TestKey::new(Algorithm::RS256);
    let r = login(&s, "jwt", &other.sign(None, &claims(json!({}))));
    assert_eq!(error_of(&r), no_key);
    let r = s.call(
        "POST",
        "/v1/auth/jwt/login",
        None,
        Some(&json!({"role": "ci"})),
    );
    assert_eq!(error_of(&r), "missing token");
    let r = s.call(
        "POST",
        "/v1/auth/jwt/login",
        None,
        Some(&json!({"role": "nope", "jwt": "x"})),
    );
    assert_eq!(error_of(&r), "role \"nope\" could not be found");
    let r = s.call(
        "POST",
        "/v1/auth/jwt/login",
        None,
        Some(&json!({"role": "ci", "jwt": "not.a.jwt"})),
    );
    assert_eq!(error_of(&r), "error validating token: error verifying token signature: illegal base64 data at input byte 0");
}

/// A JWKS endpoint whose document the test can swap.
fn jwks_server(doc: Arc<Mutex<Value>>) -> MockServer {
    MockServer::start(move |req| match req.path.as_str() {
        "/jwks" => (200, "application/json", doc.lock().unwrap().to_string()),
        _ => (404, "text/plain", "not found".into()),
    })
}

#[test]
fn jwks_with_refresh_on_an_unknown_kid() {
    let s = Server::dev();
    enable(&s, "jwt", "jwt");
    let (k1, k2) = (
        TestKey::new(Algorithm::RS256),
        TestKey::new(Algorithm::ES256),
    );
    let doc = Arc::new(Mutex::new(json!({"keys": [k1.jwk("one")]})));
    let idp = jwks_server(doc.clone());
    let r = s.post(
        "/v1/auth/jwt/config",
        json!({"jwks_url": format!("{}/jwks", idp.url()), "bound_issuer": ISSUER}),
    );
    expect_status(&r, 204, "config");
    role(&s, "jwt");
    assert_login_ok(&s, "jwt", &k1.sign(Some("one"), &claims(json!({}))));
    let fetched = idp.requests("/jwks").len();
    // A second login is served from the cache.
    assert_login_ok(&s, "jwt", &k1.sign(Some("one"), &claims(json!({}))));
    assert_eq!(
        idp.requests("/jwks").len(),
        fetched,
        "the key set is cached"
    );
    // The provider rotates: the new kid is unknown, so the set is refetched.
    *doc.lock().unwrap() = json!({"keys": [k2.jwk("two")]});
    std::thread::sleep(Duration::from_millis(1100));
    assert_login_ok(&s, "jwt", &k2.sign(Some("two"), &claims(json!({}))));
    assert_eq!(idp.requests("/jwks").len(), fetched + 1, "one refetch");
    // The retired key no longer verifies.
    std::thread::sleep(Duration::from_millis(1100));
    let r = login(&s, "jwt", &k1.sign(Some("one"), &claims(json!({}))));
    expect_status(&r, 400, "retired key");
    assert!(
        error_of(&r).contains("no known key successfully validated"),
        "{}",
        error_of(&r)
    );
    // A JWKS URL that does not answer a key set is refused at config time.
    let r = s.post(
        "/v1/auth/jwt/config",
        json!({"jwks_url": format!("{}/missing", idp.url())}),
    );
    expect_status(&r, 400, "bad jwks url");
    assert!(
        error_of(&r).starts_with("error checking jwks URL: "),
        "{}",
        error_of(&r)
    );
}

#[test]
fn jwks_over_tls_trusts_only_the_configured_ca() {
    let s = Server::dev();
    enable(&s, "jwt", "jwt");
    let key = TestKey::new(Algorithm::EdDSA);
    let (ca, cert, tls_key) = common::jose::tls_ca_and_server();
    let doc = json!({"keys": [key.jwk("ed")]});
    let idp = MockServer::start_tls(&cert, &tls_key, move |_| {
        (200, "application/json", doc.to_string())
    });
    let url = format!("{}/jwks", idp.https_url());
    // The public roots do not trust the test CA.
    let r = s.post("/v1/auth/jwt/config", json!({"jwks_url": url}));
    expect_status(&r, 400, "untrusted TLS");
    assert!(
        error_of(&r).starts_with("error checking jwks URL: "),
        "{}",
        error_of(&r)
    );
    let r = s.post(
        "/v1/auth/jwt/config",
        json!({"jwks_url": url, "jwks_ca_pem": "garbage"}),
    );
    expect_status(&r, 400, "bad CA");
    assert_eq!(
        error_of(&r),
        "error checking jwks_ca_pem: could not parse CA PEM value successfully"
    );
    let r = s.post(
        "/v1/auth/jwt/config",
        json!({"jwks_url": url, "jwks_ca_pem": ca, "bound_issuer": ISSUER}),
    );
    expect_status(&r, 204, "config with the CA");
    role(&s, "jwt");
    assert_login_ok(&s, "jwt", &key.sign(Some("ed"), &claims(json!({}))));
}

/// An OIDC provider: discovery, JWKS, and a token endpoint that answers an
/// ID token carrying the nonce of the last authorization URL.
struct Provider {
    server: MockServer,
    nonce: Arc<Mutex<String>>,
}

fn provider(key: Arc<TestKey>, issuer_cell: Arc<Mutex<String>>) -> Provider {
    let nonce = Arc::new(Mutex::new(String::new()));
    let n = nonce.clone();
    let server = MockServer::start(move |req| {
        let issuer = issuer_cell.lock().unwrap().clone();
        match req.path.as_str() {
            "/.well-known/openid-configuration" => (
                200,
                "application/json",
                json!({
                    "issuer": issuer,
                    "jwks_uri": format!("{issuer}/keys"),
                    "authorization_endpoint": format!("{issuer}/authorize"),
                    "token_endpoint": format!("{issuer}/token"),
                })
                .to_string(),
            ),
            "/keys" => (
                200,
                "application/json",
                json!({"keys": [key.jwk("p1")]}).to_string(),
            ),
            "/token" => {
                let t = now();
                let id = key.sign(
                    Some("p1"),
                    &json!({
                        "iss": issuer, "sub": "alice", "aud": "strongroom-client",
                        "nonce": n.lock().unwrap().clone(), "email": "alice@example.com",
                        "groups": ["admins"], "iat": t, "exp": t + 300,
                    }),
                );
                (
                    200,
                    "application/json",
                    json!({"access_token": "at", "token_type": "Bearer", "id_token": id})
                        .to_string(),
                )
            }
            _ => (404, "text/plain", "not found".into()),
        }
    });
    Provider { server, nonce }
}

#[test]
fn oidc_discovery_and_the_browser_flow() {
    let s = Server::dev();
    enable(&s, "oidc", "oidc");
    let key = Arc::new(TestKey::new(Algorithm::ES256));
    let issuer = Arc::new(Mutex::new(String::new()));
    let p = provider(key.clone(), issuer.clone());
    *issuer.lock().unwrap() = p.server.url();
    let r = s.post(
        "/v1/auth/oidc/config",
        json!({
            "oidc_discovery_url": p.server.url(), "oidc_client_id": "strongroom-client",
            "oidc_client_secret": "s3cret", "default_role": "web",
        }),
    );
    expect_status(&r, 204, "config");
    let c = s.get("/v1/auth/oidc/config").json();
    assert!(
        !c.to_string().contains("s3cret"),
        "the client secret is never returned: {c}"
    );
    // JWT login validated through the discovery document's keys.
    role(&s, "oidc");
    let jwt = key.sign(Some("p1"), &claims(json!({"iss": p.server.url()})));
    assert_login_ok(&s, "oidc", &jwt);

    // The browser flow.
    let redirect = "http://localhost:8250/oidc/callback";
    let r = s.post(
        "/v1/auth/oidc/role/web",
        json!({
            "role_type": "oidc", "user_claim": "email", "groups_claim": "groups",
            "allowed_redirect_uris": [redirect], "token_policies": ["web"],
            "bound_audiences": ["strongroom-client"], "claim_mappings": {"sub": "subject"},
        }),
    );
    expect_status(&r, 204, "oidc role");
    let r = s.call(
        "POST",
        "/v1/auth/oidc/oidc/auth_url",
        None,
        Some(&json!({"redirect_uri": "http://evil/cb"})),
    );
    expect_status(&r, 400, "unlisted redirect");
    let r = s.call(
        "POST",
        "/v1/auth/oidc/oidc/auth_url",
        None,
        Some(&json!({"role": "web", "redirect_uri": redirect})),
    );
    expect_status(&r, 200, "auth_url");
    let url = at(&r.json(), &["data", "auth_url"])
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.starts_with(&format!("{}/authorize?", p.server.url())),
        "{url}"
    );
    let query: std::collections::HashMap<String, String> =
        form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(query["client_id"], "strongroom-client");
    assert_eq!(query["redirect_uri"], redirect);
    assert_eq!(query["response_type"], "code");
    assert!(query["scope"].contains("openid"));
    *p.nonce.lock().unwrap() = query["nonce"].clone();
    let state = query["state"].clone();
    let cb = format!("/v1/auth/oidc/oidc/callback?state={state}&code=the-code");
    let r = s.call("GET", &cb, None, None);
    expect_status(&r, 200, "callback");
    let v = r.json();
    assert_eq!(
        at(&v, &["auth", "policies"]),
        &json!(["default", "web"]),
        "{v}"
    );
    assert_eq!(
        at(&v, &["auth", "metadata"]),
        &json!({"role": "web", "subject": "alice"}),
        "{v}"
    );
    let tok = p.server.requests("/token");
    assert_eq!(tok.len(), 1);
    let body = String::from_utf8_lossy(&tok[0].body).to_string();
    assert!(
        body.contains("code=the-code") && body.contains("client_secret=s3cret"),
        "{body}"
    );
    // A state is good once.
    let r = s.call("GET", &cb, None, None);
    expect_status(&r, 400, "replayed state");
    assert_eq!(error_of(&r), "Expired or missing OAuth state.");
}

fn bao(s: &Server, args: &[&str]) -> std::process::Output {
    let bin = common::repo_root().join(".venv/bin/bao");
    assert!(
        bin.is_file(),
        "{} is missing: run `make test` to create .venv/",
        bin.display()
    );
    let home = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(bin);
    common::clean_env(&mut cmd);
    cmd.env("HOME", home.path())
        .env("BAO_ADDR", s.addr())
        .env("VAULT_ADDR", s.addr())
        .env("BAO_TOKEN", ROOT)
        .env("NO_COLOR", "1")
        .args(args);
    common::run_with_timeout(cmd, Duration::from_secs(120))
}

#[test]
fn bao_cli_configures_jwt_and_logs_in() {
    let s = Server::dev();
    let key = TestKey::new(Algorithm::RS256);
    let ok = |args: &[&str]| {
        let out = bao(&s, args);
        assert!(
            out.status.success(),
            "bao {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["auth", "enable", "jwt"]);
    let pem = format!("jwt_validation_pubkeys={}", key.public_pem);
    ok(&[
        "write",
        "auth/jwt/config",
        &pem,
        &format!("bound_issuer={ISSUER}"),
    ]);
    ok(&[
        "write",
        "auth/jwt/role/ci",
        "role_type=jwt",
        "bound_audiences=bao-ci",
        "user_claim=sub",
        "token_policies=ci-read",
        "token_ttl=1h",
        "bound_claims_type=glob",
    ]);
    let jwt = key.sign(None, &claims(json!({})));
    let out = ok(&[
        "write",
        "-format=json",
        "auth/jwt/login",
        "role=ci",
        &format!("jwt={jwt}"),
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        at(&v, &["auth", "policies"]),
        &json!(["ci-read", "default"]),
        "{v}"
    );
    assert!(
        !at(&v, &["auth", "client_token"])
            .as_str()
            .unwrap()
            .is_empty(),
        "{v}"
    );
    let bad = bao(
        &s,
        &[
            "write",
            "auth/jwt/login",
            "role=ci",
            &format!("jwt={}", key.sign(None, &claims(json!({"aud": "x"})))),
        ],
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid audience (aud) claim"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn a_login_is_an_entity_and_the_same_one_next_time() {
    let s = Server::dev();
    enable(&s, "jwt", "jwt");
    let key = TestKey::new(Algorithm::ES256);
    expect_status(
        &s.post(
            "/v1/auth/jwt/config",
            json!({"jwt_validation_pubkeys": [key.public_pem], "bound_issuer": ISSUER}),
        ),
        204,
        "config",
    );
    role(&s, "jwt");
    let a = assert_login_ok(&s, "jwt", &key.sign(None, &claims(json!({}))));
    let b = assert_login_ok(&s, "jwt", &key.sign(None, &claims(json!({}))));
    let ea = at(&a, &["auth", "entity_id"]).as_str().unwrap().to_string();
    assert!(!ea.is_empty(), "{a}");
    assert_eq!(at(&b, &["auth", "entity_id"]).as_str().unwrap(), ea);
    let other = assert_login_ok(
        &s,
        "jwt",
        &key.sign(None, &claims(json!({"sub": "someone-else"}))),
    );
    assert_ne!(at(&other, &["auth", "entity_id"]).as_str().unwrap(), ea);
}

#[test]
fn hvac_configures_jwt_and_kubernetes_and_logs_in() {
    let s = Server::dev();
    let jwt_key = TestKey::new(Algorithm::RS256);
    let k8s_key = TestKey::new(Algorithm::ES256);
    let t = now();
    let sa = json!({
        "iss": "kubernetes/serviceaccount", "iat": t, "exp": t + 600,
        "kubernetes.io/serviceaccount/namespace": "apps",
        "kubernetes.io/serviceaccount/service-account.name": "app-sa",
        "kubernetes.io/serviceaccount/service-account.uid": "uid-hvac",
        "sub": "system:serviceaccount:apps:app-sa",
    });
    let python = common::repo_root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `make test` to create .venv/",
        python.display()
    );
    let script = common::repo_root().join("tests/python/jwt_k8s_login.py");
    let home = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(python);
    common::clean_env(&mut cmd);
    cmd.env("HOME", home.path())
        .env("VAULT_ADDR", s.addr())
        .env("VAULT_TOKEN", ROOT)
        .env("JWT_PUBKEY", &jwt_key.public_pem)
        .env("JWT_TOKEN", jwt_key.sign(None, &claims(json!({}))))
        .env("K8S_PUBKEY", k8s_key.certificate())
        .env("K8S_TOKEN", k8s_key.sign(None, &sa))
        .arg(script);
    let out = common::run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hvac script failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

/// The OpenBao captures 500-523 replayed: statuses, error bodies, and the
/// `data` of reads (513-518 carry tokens that have expired since).
#[test]
fn openbao_captures_replay() {
    use common::capture::replay;
    let s = Server::dev();
    for f in [
        "500-jwt-auth-enable.txt",
        "502-jwt-config-write.txt",
        "507-jwt-role-create.txt",
        "523-jwt-role-delete.txt",
    ] {
        let r = replay(&s, f);
        assert_eq!(r.got.status, r.status, "{f}: {}", r.got.text());
        if f.starts_with("500") {
            replay(&s, "501-jwt-config-read-unset.txt").assert_same_error();
            // Writes the config again after checking the unset read.
            let r = replay(&s, "502-jwt-config-write.txt");
            assert_eq!(r.got.status, 204, "{}", r.got.text());
        }
        if f.starts_with("507") {
            for read in [
                "503-jwt-config-read.txt",
                "508-jwt-role-read.txt",
                "509-jwt-role-list.txt",
            ] {
                let r = replay(&s, read);
                assert_eq!(r.got.status, 200, "{read}: {}", r.got.text());
                let want: Value = serde_json::from_str(&r.body).unwrap();
                assert_eq!(r.got.json()["data"], want["data"], "{read}");
            }
            for err in [
                "504-jwt-config-conflicting.txt",
                "505-jwt-config-bad-pubkey.txt",
                "510-jwt-role-missing-user-claim.txt",
                "511-jwt-role-wrong-type.txt",
                "512-jwt-role-bad-role-type.txt",
                "519-jwt-login-unknown-role.txt",
                "520-jwt-login-missing-jwt.txt",
                "521-jwt-login-not-a-jwt.txt",
            ] {
                replay(&s, err).assert_same_error();
            }
        }
    }
}
