//! Kubernetes login against the real binary: a local HTTP server plays the
//! API server's TokenReview endpoint (the test owns the answers and checks
//! the reviewer JWT), local validation with `pem_keys`, the bound service
//! account name/namespace refusals, and the bao CLI flow.

mod common;

use std::time::Duration;

use common::jose::{now, TestKey};
use common::mockhttp::MockServer;
use common::{at, expect_status, Server, ROOT};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

const REVIEW_PATH: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const REVIEWER_JWT: &str = "reviewer-service-account-jwt";

fn sa_claims(ns: &str, name: &str, uid: &str) -> Value {
    let t = now();
    json!({
        "aud": ["strongroom"], "exp": t + 600, "iat": t, "nbf": t,
        "iss": "https://kubernetes.default.svc.cluster.local",
        "kubernetes.io": {"namespace": ns, "pod": {"name": "p", "uid": "pod-1"},
                          "serviceaccount": {"name": name, "uid": uid}},
        "sub": format!("system:serviceaccount:{ns}:{name}"),
    })
}

/// A TokenReview API: tokens listed in `valid` are authenticated as the
/// service account their claims name; others are not. Requests without the
/// reviewer JWT are refused with 401, as the API server would.
fn api_server(valid: Vec<(String, String, String, String)>) -> MockServer {
    MockServer::start(move |req| {
        if req.path != REVIEW_PATH || req.method != "POST" {
            return (
                404,
                "application/json",
                json!({"kind": "Status", "status": "Failure", "message": "not found"}).to_string(),
            );
        }
        if req.headers.get("authorization").map(String::as_str)
            != Some(&format!("Bearer {REVIEWER_JWT}"))
        {
            return (
                401,
                "application/json",
                json!({"kind": "Status", "status": "Failure", "message": "Unauthorized"})
                    .to_string(),
            );
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let token = body["spec"]["token"].as_str().unwrap_or_default();
        let status = match valid.iter().find(|(t, ..)| t == token) {
            Some((_, ns, name, uid)) => json!({
                "authenticated": true,
                "user": {"username": format!("system:serviceaccount:{ns}:{name}"), "uid": uid},
                "audiences": body["spec"]["audiences"],
            }),
            None => json!({"authenticated": false, "error": "invalid bearer token"}),
        };
        (
            201,
            "application/json",
            json!({
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "spec": body["spec"], "status": status,
            })
            .to_string(),
        )
    })
}

fn setup(s: &Server, config: Value) {
    expect_status(
        &s.post("/v1/sys/auth/kubernetes", json!({"type": "kubernetes"})),
        204,
        "enable",
    );
    expect_status(&s.post("/v1/auth/kubernetes/config", config), 204, "config");
    let r = s.post(
        "/v1/auth/kubernetes/role/app",
        json!({
            "bound_service_account_names": ["app-*"], "bound_service_account_namespaces": ["apps"],
            "token_policies": ["app-read"], "token_ttl": "1h", "audience": "strongroom",
        }),
    );
    expect_status(&r, 204, "role");
}

fn login(s: &Server, jwt: &str) -> common::http::Response {
    s.call(
        "POST",
        "/v1/auth/kubernetes/login",
        None,
        Some(&json!({"role": "app", "jwt": jwt})),
    )
}

#[test]
fn token_review_decides_and_sees_the_reviewer_jwt() {
    let key = TestKey::new(Algorithm::RS256);
    let good = key.sign(None, &sa_claims("apps", "app-sa", "uid-1"));
    let revoked = key.sign(None, &sa_claims("apps", "app-old", "uid-2"));
    let api = api_server(vec![(
        good.clone(),
        "apps".into(),
        "app-sa".into(),
        "uid-1".into(),
    )]);
    let s = Server::dev();
    setup(
        &s,
        json!({
            "kubernetes_host": api.url(), "token_reviewer_jwt": REVIEWER_JWT, "disable_local_ca_jwt": true,
        }),
    );
    let r = login(&s, &good);
    expect_status(&r, 200, "login");
    let v = r.json();
    assert_eq!(
        at(&v, &["auth", "policies"]),
        &json!(["app-read", "default"]),
        "{v}"
    );
    assert_eq!(
        at(&v, &["auth", "metadata"]),
        &json!({"role": "app", "service_account_name": "app-sa", "service_account_namespace": "apps",
                "service_account_secret_name": "", "service_account_uid": "uid-1"}),
        "{v}"
    );
    let seen = api.requests(REVIEW_PATH);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].headers["authorization"],
        format!("Bearer {REVIEWER_JWT}")
    );
    let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(body["kind"], "TokenReview");
    assert_eq!(body["spec"]["token"], good.as_str());
    assert_eq!(body["spec"]["audiences"], json!(["strongroom"]));
    let tok = at(&v, &["auth", "client_token"])
        .as_str()
        .unwrap()
        .to_string();
    let me = s
        .call("GET", "/v1/auth/token/lookup-self", Some(&tok), None)
        .json();
    assert_eq!(
        at(&me, &["data", "display_name"]),
        "kubernetes-apps-app-sa",
        "{me}"
    );

    // The API server says no: permission denied.
    let r = login(&s, &revoked);
    expect_status(&r, 403, "revoked");
    assert_eq!(r.errors(), vec!["permission denied"]);
    // The config never shows the reviewer JWT.
    let c = s.get("/v1/auth/kubernetes/config").json();
    assert_eq!(at(&c, &["data", "token_reviewer_jwt_set"]), true);
    assert!(!c.to_string().contains(REVIEWER_JWT), "{c}");
    // Without the reviewer JWT the login's own JWT is the bearer, which this
    // API server refuses (401): permission denied.
    expect_status(
        &s.post(
            "/v1/auth/kubernetes/config",
            json!({"kubernetes_host": api.url(), "disable_local_ca_jwt": true}),
        ),
        204,
        "config without reviewer",
    );
    let r = login(&s, &good);
    expect_status(&r, 403, "no reviewer jwt");
    let last = api.requests(REVIEW_PATH).pop().unwrap();
    assert_eq!(last.headers["authorization"], format!("Bearer {good}"));
}

#[test]
fn bound_names_namespaces_and_audience_are_refused_before_any_review() {
    let key = TestKey::new(Algorithm::ES256);
    let api = api_server(vec![]);
    let s = Server::dev();
    setup(
        &s,
        json!({"kubernetes_host": api.url(), "token_reviewer_jwt": REVIEWER_JWT, "disable_local_ca_jwt": true}),
    );
    let cases = [
        (
            sa_claims("apps", "intruder", "u"),
            "service account name not authorized",
        ),
        (
            sa_claims("kube-system", "app-sa", "u"),
            "namespace not authorized",
        ),
    ];
    for (c, want) in cases {
        let r = login(&s, &key.sign(None, &c));
        expect_status(&r, 403, want);
        assert_eq!(r.errors(), vec![want.to_string()]);
    }
    let mut c = sa_claims("apps", "app-sa", "u");
    c["aud"] = json!(["someone-else"]);
    let r = login(&s, &key.sign(None, &c));
    expect_status(&r, 403, "audience");
    assert_eq!(
        r.errors(),
        vec!["invalid audience (aud) claim: audience claim does not match any expected audience"]
    );
    assert!(api.requests(REVIEW_PATH).is_empty(), "no review was needed");
    let r = s.call(
        "POST",
        "/v1/auth/kubernetes/login",
        None,
        Some(&json!({"role": "nope", "jwt": "x"})),
    );
    expect_status(&r, 400, "unknown role");
    assert_eq!(r.errors(), vec!["invalid role name \"nope\""]);
}

#[test]
fn local_validation_with_pem_keys() {
    let key = TestKey::new(Algorithm::ES256);
    let rsa = TestKey::new(Algorithm::RS256);
    let s = Server::dev();
    // The host is never called: it does not even listen. The RSA key is
    // given as a certificate, which Vault also accepts.
    setup(
        &s,
        json!({
            "kubernetes_host": "https://127.0.0.1:1", "pem_keys": [key.public_pem, rsa.certificate()],
            "disable_local_ca_jwt": true,
        }),
    );
    for k in [&key, &rsa] {
        let r = login(&s, &k.sign(None, &sa_claims("apps", "app-sa", "uid-9")));
        expect_status(&r, 200, "local login");
        assert_eq!(
            at(&r.json(), &["auth", "metadata", "service_account_uid"]),
            "uid-9"
        );
    }
    let stranger = TestKey::new(Algorithm::ES256);
    let r = login(
        &s,
        &stranger.sign(None, &sa_claims("apps", "app-sa", "uid-9")),
    );
    expect_status(&r, 403, "unknown signer");
    assert_eq!(r.errors(), vec!["permission denied"]);
    let mut expired = sa_claims("apps", "app-sa", "uid-9");
    expired["exp"] = json!(now() - 3600);
    expired["iat"] = json!(now() - 7200);
    expired["nbf"] = json!(now() - 7200);
    let r = login(&s, &key.sign(None, &expired));
    expect_status(&r, 403, "expired");
    assert_eq!(
        r.errors(),
        vec!["invalid expiration time (exp) claim: token is expired"]
    );
    let c = s.get("/v1/auth/kubernetes/config").json();
    assert_eq!(at(&c, &["data", "pem_keys"]).as_array().unwrap().len(), 2);
}

#[test]
fn bao_cli_configures_kubernetes_and_logs_in() {
    let key = TestKey::new(Algorithm::RS256);
    let s = Server::dev();
    let bin = common::repo_root().join(".venv/bin/bao");
    assert!(
        bin.is_file(),
        "{} is missing: run `make test` to create .venv/",
        bin.display()
    );
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&bin);
        common::clean_env(&mut cmd);
        cmd.env("HOME", home.path())
            .env("BAO_ADDR", s.addr())
            .env("BAO_TOKEN", ROOT)
            .env("NO_COLOR", "1")
            .args(args);
        let out = common::run_with_timeout(cmd, Duration::from_secs(120));
        assert!(
            out.status.success(),
            "bao {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["auth", "enable", "kubernetes"]);
    run(&[
        "write",
        "auth/kubernetes/config",
        "kubernetes_host=https://127.0.0.1:1",
        &format!("pem_keys={}", key.public_pem),
        "disable_local_ca_jwt=true",
    ]);
    run(&[
        "write",
        "auth/kubernetes/role/app",
        "bound_service_account_names=app-sa",
        "bound_service_account_namespaces=apps",
        "token_policies=app-read",
        "alias_name_source=serviceaccount_name",
    ]);
    let role = run(&["read", "-format=json", "auth/kubernetes/role/app"]);
    let role: Value = serde_json::from_str(&role).unwrap();
    assert_eq!(
        at(&role, &["data", "alias_name_source"]),
        "serviceaccount_name"
    );
    let jwt = key.sign(None, &sa_claims("apps", "app-sa", "uid-cli"));
    let out = run(&[
        "write",
        "-format=json",
        "auth/kubernetes/login",
        "role=app",
        &format!("jwt={jwt}"),
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        at(&v, &["auth", "policies"]),
        &json!(["app-read", "default"]),
        "{v}"
    );
}

#[test]
fn a_service_account_is_one_entity_across_logins() {
    let key = TestKey::new(Algorithm::ES256);
    let s = Server::dev();
    setup(
        &s,
        json!({"kubernetes_host": "https://127.0.0.1:1", "pem_keys": [key.public_pem], "disable_local_ca_jwt": true}),
    );
    let a = login(&s, &key.sign(None, &sa_claims("apps", "app-sa", "uid-e"))).json();
    let b = login(&s, &key.sign(None, &sa_claims("apps", "app-sa", "uid-e"))).json();
    let ea = at(&a, &["auth", "entity_id"]).as_str().unwrap().to_string();
    assert!(!ea.is_empty(), "{a}");
    assert_eq!(at(&b, &["auth", "entity_id"]).as_str().unwrap(), ea);
}

/// The OpenBao captures 550-571 replayed (except the permission-denied
/// ones, which need a second token): statuses, error bodies, read data.
#[test]
fn openbao_captures_replay() {
    use common::capture::replay;
    let s = Server::dev();
    let same_data = |f: &str| {
        let r = replay(&s, f);
        assert_eq!(r.got.status, r.status, "{f}: {}", r.got.text());
        let want: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(r.got.json()["data"], want["data"], "{f}");
    };
    let status = |f: &str| {
        let r = replay(&s, f);
        assert_eq!(r.got.status, r.status, "{f}: {}", r.got.text());
    };
    status("550-k8s-auth-enable.txt");
    replay(&s, "551-k8s-config-read-unset.txt").assert_same_error();
    status("552-k8s-config-write.txt");
    same_data("553-k8s-config-read.txt");
    replay(&s, "554-k8s-config-missing-host.txt").assert_same_error();
    status("555-k8s-config-bad-ca-accepted.txt");
    same_data("556-k8s-config-read-after-bad-ca.txt");
    status("557-k8s-config-write-restore.txt");
    replay(&s, "558-k8s-config-wrong-type.txt").assert_same_error();
    status("560-k8s-role-create.txt");
    same_data("561-k8s-role-read.txt");
    status("562-k8s-role-create-second.txt");
    same_data("563-k8s-role-list.txt");
    same_data("564-k8s-role-list-get.txt");
    for f in [
        "565-k8s-role-missing-names.txt",
        "566-k8s-role-missing-namespaces.txt",
        "567-k8s-role-wrong-type.txt",
        "568-k8s-role-read-missing.txt",
    ] {
        replay(&s, f).assert_same_error();
    }
    status("570-k8s-role-delete.txt");
    same_data("571-k8s-role-list-after-delete.txt");
}

#[test]
fn token_review_over_tls_trusts_the_configured_ca() {
    let key = TestKey::new(Algorithm::RS256);
    let jwt = key.sign(None, &sa_claims("apps", "app-sa", "uid-tls"));
    let (ca, cert, tls_key) = common::jose::tls_ca_and_server();
    let answer = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "status": {"authenticated": true, "user": {"username": "system:serviceaccount:apps:app-sa", "uid": "uid-tls"}},
    })
    .to_string();
    let api = MockServer::start_tls(&cert, &tls_key, move |_| {
        (201, "application/json", answer.clone())
    });
    let s = Server::dev();
    setup(
        &s,
        json!({"kubernetes_host": api.https_url(), "kubernetes_ca_cert": ca, "token_reviewer_jwt": REVIEWER_JWT, "disable_local_ca_jwt": true}),
    );
    let r = login(&s, &jwt);
    expect_status(&r, 200, "login over TLS");
    assert_eq!(
        at(&r.json(), &["auth", "metadata", "service_account_uid"]),
        "uid-tls"
    );
    // Without the CA the API server is not trusted: permission denied.
    expect_status(
        &s.post(
            "/v1/auth/kubernetes/config",
            json!({"kubernetes_host": api.https_url(), "token_reviewer_jwt": REVIEWER_JWT, "disable_local_ca_jwt": true}),
        ),
        204,
        "config without CA",
    );
    let r = login(&s, &jwt);
    expect_status(&r, 403, "untrusted API server");
    assert_eq!(
        api.requests(REVIEW_PATH).len(),
        1,
        "the untrusted server got no request"
    );
}
