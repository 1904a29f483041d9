//! The Kubernetes backend's handlers over a barrier-backed view: config and
//! role shapes against the OpenBao captures, local (`pem_keys`) logins with
//! legacy and projected tokens, and the alias each returns.

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use super::*;
use crate::auth::jwt::jose::tests::sign;
use crate::auth::jwt::tests::ec_with_pem;
use crate::auth::test_support::{call, setup};
use crate::logical::{LogicalError, Operation, StorageView};

fn capture_keys(file: &str) -> Vec<String> {
    let path = format!(
        "{}/../shared/reference/openbao-api-samples-2/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let body = &text[text.find("{\"request_id").unwrap()..];
    let v: Value = serde_json::from_str(body).unwrap();
    let mut k: Vec<String> = v["data"].as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn data(r: crate::logical::Response) -> serde_json::Map<String, Value> {
    r.data.unwrap()
}

fn legacy_claims(ns: &str, name: &str) -> Value {
    json!({
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": ns,
        "kubernetes.io/serviceaccount/secret.name": format!("{name}-token-abcde"),
        "kubernetes.io/serviceaccount/service-account.name": name,
        "kubernetes.io/serviceaccount/service-account.uid": "uid-legacy-1",
        "sub": format!("system:serviceaccount:{ns}:{name}"),
    })
}

fn projected_claims(ns: &str, name: &str, aud: &str) -> Value {
    let now = crate::auth::jwt::jose::now();
    json!({
        "aud": [aud],
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "iss": "https://kubernetes.default.svc.cluster.local",
        "kubernetes.io": {
            "namespace": ns,
            "pod": {"name": "p", "uid": "pod-uid"},
            "serviceaccount": {"name": name, "uid": "uid-projected-7"},
        },
        "sub": format!("system:serviceaccount:{ns}:{name}"),
    })
}

async fn local(pem: &str) -> (KubernetesAuthBackend, StorageView) {
    let (_s, view) = setup().await;
    let b = backend();
    call(&b, &view, Operation::Update, "config", json!({
        "kubernetes_host": "https://127.0.0.1:1", "pem_keys": [pem], "disable_local_ca_jwt": true,
    })).await.unwrap();
    call(
        &b,
        &view,
        Operation::Update,
        "role/app",
        json!({
            "bound_service_account_names": ["app-*"], "bound_service_account_namespaces": ["apps"],
            "token_policies": ["app-read"], "token_ttl": "1h",
        }),
    )
    .await
    .unwrap();
    (b, view)
}

#[tokio::test]
async fn config_and_role_read_back_in_openbaos_shape() {
    let (_s, view) = setup().await;
    let b = backend();
    assert!(matches!(
        call(&b, &view, Operation::Read, "config", json!({})).await,
        Err(LogicalError::NotFound)
    ));
    match call(
        &b,
        &view,
        Operation::Update,
        "config",
        json!({"kubernetes_ca_cert": "x"}),
    )
    .await
    {
        Err(LogicalError::BadRequest(m)) => assert_eq!(m, "no host provided"),
        other => panic!("{other:?}"),
    }
    call(
        &b,
        &view,
        Operation::Update,
        "config",
        json!({
            "kubernetes_host": "https://127.0.0.1:1", "kubernetes_ca_cert": "not a pem",
            "disable_local_ca_jwt": true, "token_reviewer_jwt": "reviewer-secret",
        }),
    )
    .await
    .unwrap();
    let r = call(&b, &view, Operation::Read, "config", json!({}))
        .await
        .unwrap();
    let d = data(r);
    let mut keys: Vec<String> = d.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, capture_keys("553-k8s-config-read.txt"));
    assert_eq!(d["token_reviewer_jwt_set"], true);
    assert_eq!(d["disable_iss_validation"], true);
    assert_eq!(d["kubernetes_ca_cert"], "not a pem");
    assert!(!serde_json::to_string(&d)
        .unwrap()
        .contains("reviewer-secret"));

    call(
        &b,
        &view,
        Operation::Update,
        "role/app",
        json!({
            "bound_service_account_names": ["app-sa"], "bound_service_account_namespaces": ["apps"],
            "token_policies": ["app-read"], "token_ttl": "1h", "audience": "openbao",
        }),
    )
    .await
    .unwrap();
    let d = data(
        call(&b, &view, Operation::Read, "role/app", json!({}))
            .await
            .unwrap(),
    );
    let mut keys: Vec<String> = d.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, capture_keys("561-k8s-role-read.txt"));
    assert_eq!(d["alias_name_source"], "serviceaccount_uid");
    assert_eq!(d["token_ttl"], 3600);
    for (body, want) in [
        (json!({"bound_service_account_namespaces": ["apps"]}), "\"bound_service_account_names\" can not be empty"),
        (json!({"bound_service_account_names": ["app-sa"]}), "\"bound_service_account_namespaces\" can not be empty if \"bound_service_account_namespace_selector\" is not set"),
    ] {
        match call(&b, &view, Operation::Update, "role/bad", body).await {
            Err(LogicalError::BadRequest(m)) => assert_eq!(m, want),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        call(&b, &view, Operation::Read, "role/nope", json!({})).await,
        Err(LogicalError::NotFound)
    ));
}

#[tokio::test]
async fn local_logins_return_the_service_account_uid_as_alias() {
    let (key, pem) = ec_with_pem();
    let (b, view) = local(&pem).await;
    let jwt = sign(
        Algorithm::ES256,
        None,
        &key,
        &legacy_claims("apps", "app-sa"),
    );
    let r = call(
        &b,
        &view,
        Operation::Update,
        "login",
        json!({"role": "app", "jwt": jwt}),
    )
    .await
    .unwrap();
    let auth = r.auth.unwrap();
    let alias = auth.alias.clone().unwrap();
    assert_eq!(alias.name, "uid-legacy-1");
    assert_eq!(alias.metadata["service_account_name"], "app-sa");
    assert_eq!(alias.metadata["service_account_namespace"], "apps");
    assert_eq!(
        alias.metadata["service_account_secret_name"],
        "app-sa-token-abcde"
    );
    assert_eq!(auth.metadata["role"], "app");
    assert_eq!(auth.display_name, "apps-app-sa");
    assert_eq!(auth.policies, vec!["app-read"]);
    assert!(auth.group_aliases.is_empty());

    // Projected token, alias by name, audience bound.
    call(
        &b,
        &view,
        Operation::Update,
        "role/named",
        json!({
            "bound_service_account_names": "*", "bound_service_account_namespaces": "ci-*",
            "alias_name_source": "serviceaccount_name", "audience": "strongroom",
        }),
    )
    .await
    .unwrap();
    let jwt = sign(
        Algorithm::ES256,
        None,
        &key,
        &projected_claims("ci-main", "builder", "strongroom"),
    );
    let r = call(
        &b,
        &view,
        Operation::Update,
        "login",
        json!({"role": "named", "jwt": jwt}),
    )
    .await
    .unwrap();
    let alias = r.auth.unwrap().alias.unwrap();
    assert_eq!(alias.name, "ci-main/builder");
    assert_eq!(alias.metadata["service_account_uid"], "uid-projected-7");
    let jwt = sign(
        Algorithm::ES256,
        None,
        &key,
        &projected_claims("ci-main", "builder", "other"),
    );
    match call(
        &b,
        &view,
        Operation::Update,
        "login",
        json!({"role": "named", "jwt": jwt}),
    )
    .await
    {
        Err(LogicalError::Forbidden(m)) => assert_eq!(
            m,
            "invalid audience (aud) claim: audience claim does not match any expected audience"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bindings_and_signatures_are_enforced() {
    let (key, pem) = ec_with_pem();
    let (b, view) = local(&pem).await;
    let login = |jwt: String| {
        let (b, view) = (&b, &view);
        async move {
            call(
                b,
                view,
                Operation::Update,
                "login",
                json!({"role": "app", "jwt": jwt}),
            )
            .await
        }
    };
    match login(sign(
        Algorithm::ES256,
        None,
        &key,
        &legacy_claims("apps", "intruder"),
    ))
    .await
    {
        Err(LogicalError::Forbidden(m)) => assert_eq!(m, "service account name not authorized"),
        other => panic!("{other:?}"),
    }
    match login(sign(
        Algorithm::ES256,
        None,
        &key,
        &legacy_claims("kube-system", "app-sa"),
    ))
    .await
    {
        Err(LogicalError::Forbidden(m)) => assert_eq!(m, "namespace not authorized"),
        other => panic!("{other:?}"),
    }
    let (other, _) = ec_with_pem();
    assert!(matches!(
        login(sign(
            Algorithm::ES256,
            None,
            &other,
            &legacy_claims("apps", "app-sa")
        ))
        .await,
        Err(LogicalError::PermissionDenied)
    ));
    match call(
        &b,
        &view,
        Operation::Update,
        "login",
        json!({"role": "nope", "jwt": "x"}),
    )
    .await
    {
        Err(LogicalError::BadRequest(m)) => assert_eq!(m, "invalid role name \"nope\""),
        other => panic!("{other:?}"),
    }
    match call(
        &b,
        &view,
        Operation::Update,
        "login",
        json!({"role": "app"}),
    )
    .await
    {
        Err(LogicalError::BadRequest(m)) => assert_eq!(m, "missing jwt"),
        other => panic!("{other:?}"),
    }
    // Issuer validation, when enabled with an issuer.
    call(&b, &view, Operation::Update, "config", json!({
        "kubernetes_host": "https://127.0.0.1:1", "pem_keys": [pem], "disable_local_ca_jwt": true,
        "disable_iss_validation": false, "issuer": "https://expected",
    })).await.unwrap();
    match login(sign(
        Algorithm::ES256,
        None,
        &key,
        &legacy_claims("apps", "app-sa"),
    ))
    .await
    {
        Err(LogicalError::Forbidden(m)) => assert_eq!(m, "invalid issuer (iss) claim"),
        other => panic!("{other:?}"),
    }
}
