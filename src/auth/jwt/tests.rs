//! The JWT backend's handlers over a barrier-backed view: config and role
//! shapes against the OpenBao captures, and logins from static keys with
//! the alias, metadata and group aliases they return.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use super::jose::tests::sign;
use super::*;
use crate::auth::test_support::{call, setup};
use crate::logical::{LogicalError, Operation, StorageView};

/// The SPKI PEM of a P-256 public point or an Ed25519 public key.
pub(crate) fn spki_pem(alg: Algorithm, raw: &[u8]) -> String {
    let prefix: &[u8] = match alg {
        Algorithm::ES256 => &hex_lit("3059301306072a8648ce3d020106082a8648ce3d030107034200"),
        Algorithm::EdDSA => &hex_lit("302a300506032b6570032100"),
        _ => unreachable!(),
    };
    let der = [prefix, raw].concat();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

fn hex_lit(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// An EC key pair with its PEM, from fresh random key material.
pub(crate) fn ec_with_pem() -> (EncodingKey, String) {
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    (
        EncodingKey::from_ec_der(pkcs8.as_ref()),
        spki_pem(Algorithm::ES256, kp.public_key().as_ref()),
    )
}

fn ed_with_pem() -> (EncodingKey, String) {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    (
        EncodingKey::from_ed_der(pkcs8.as_ref()),
        spki_pem(Algorithm::EdDSA, kp.public_key().as_ref()),
    )
}

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

fn data_keys(r: &crate::logical::Response) -> Vec<String> {
    let mut k: Vec<String> = r.data.as_ref().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn bad(r: crate::logical::LogicalResult) -> String {
    match r {
        Err(LogicalError::BadRequest(m)) => m,
        other => panic!("expected a 400, got {other:?}"),
    }
}

async fn configured(pem: &str) -> (JwtAuthBackend, StorageView) {
    let (_s, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Update,
        "config",
        json!({
            "jwt_validation_pubkeys": [pem],
            "bound_issuer": "https://issuer.example.com",
        }),
    )
    .await
    .unwrap();
    call(
        &b,
        &view,
        Operation::Update,
        "role/ci",
        json!({
            "role_type": "jwt",
            "bound_audiences": ["bao-ci"],
            "user_claim": "sub",
            "groups_claim": "groups",
            "token_policies": ["ci-read"],
            "token_ttl": "1h",
            "claim_mappings": {"repository": "repo"},
            "bound_claims": {"ref": "refs/heads/*"},
            "bound_claims_type": "glob",
        }),
    )
    .await
    .unwrap();
    (b, view)
}

fn claims(extra: Value) -> Value {
    let now = jose::now();
    let mut c = json!({
        "iss": "https://issuer.example.com",
        "sub": "ci-runner-42",
        "aud": "bao-ci",
        "repository": "acme/widgets",
        "ref": "refs/heads/main",
        "groups": ["eng", "ops"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
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

async fn login(b: &JwtAuthBackend, view: &StorageView, jwt: &str) -> crate::logical::LogicalResult {
    call(
        b,
        view,
        Operation::Update,
        "login",
        json!({"role": "ci", "jwt": jwt}),
    )
    .await
}

#[tokio::test]
async fn config_and_role_read_back_in_openbaos_shape() {
    let (_k, pem) = ec_with_pem();
    let (b, view) = configured(&pem).await;
    let r = call(&b, &view, Operation::Read, "config", json!({}))
        .await
        .unwrap();
    assert_eq!(data_keys(&r), capture_keys("503-jwt-config-read.txt"));
    let d = r.data.unwrap();
    assert_eq!(d["jwt_validation_pubkeys"], json!([pem.trim()]));
    assert_eq!(d["status"], "valid");
    let r = call(&b, &view, Operation::Read, "role/ci", json!({}))
        .await
        .unwrap();
    assert_eq!(data_keys(&r), capture_keys("508-jwt-role-read.txt"));
    let d = r.data.unwrap();
    assert_eq!(d["token_ttl"], 3600);
    assert_eq!(d["claim_mappings"], json!({"repository": "repo"}));
    assert_eq!(d["callback_mode"], "client");
    assert_eq!(d["clock_skew_leeway"], 0);
    let l = call(&b, &view, Operation::List, "role", json!({}))
        .await
        .unwrap();
    assert_eq!(l.data.unwrap()["keys"], json!(["ci"]));
}

#[tokio::test]
async fn config_and_role_refusals_use_vaults_texts() {
    let (_s, view) = setup().await;
    let b = backend();
    assert!(matches!(
        call(&b, &view, Operation::Read, "config", json!({})).await,
        Err(LogicalError::NotFound)
    ));
    assert_eq!(
        bad(call(
            &b,
            &view,
            Operation::Update,
            "config",
            json!({"jwt_validation_pubkeys": ["not a pem key"]})
        )
        .await),
        "error parsing public key: data does not contain any valid public keys"
    );
    let (_k, pem) = ec_with_pem();
    assert_eq!(
        bad(call(&b, &view, Operation::Update, "config", json!({"jwt_validation_pubkeys": [pem], "jwks_url": "https://x/jwks"})).await),
        "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs', 'oidc_discovery_url', or 'provider_config' must be set"
    );
    assert_eq!(
        bad(call(
            &b,
            &view,
            Operation::Update,
            "config",
            json!({"jwt_validation_pubkeys": [pem], "jwt_supported_algs": ["HS256"]})
        )
        .await),
        "Invalid supported algorithm: HS256"
    );
    assert_eq!(
        bad(call(
            &b,
            &view,
            Operation::Update,
            "role/bad",
            json!({"role_type": "jwt", "bound_audiences": ["a"]})
        )
        .await),
        "a user claim must be defined on the role"
    );
    assert_eq!(
        bad(call(
            &b,
            &view,
            Operation::Update,
            "role/bad",
            json!({"role_type": "saml", "user_claim": "sub"})
        )
        .await),
        "invalid 'role_type': saml"
    );
    assert_eq!(
        bad(call(
            &b,
            &view,
            Operation::Update,
            "role/bad",
            json!({"role_type": "jwt", "user_claim": "sub"})
        )
        .await),
        "must have at least one bound constraint when creating/updating a role"
    );
    assert_eq!(
        bad(call(
            &b,
            &view,
            Operation::Update,
            "role/bad",
            json!({"user_claim": "sub", "bound_audiences": ["a"]})
        )
        .await),
        "'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified."
    );
    assert_eq!(
        bad(call(&b, &view, Operation::Update, "role/bad", json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["a"], "claim_mappings": {"x": "role"}})).await),
        "metadata key \"role\" is reserved and may not be a mapping destination"
    );
}

#[tokio::test]
async fn a_login_returns_the_user_claim_as_alias_with_metadata_and_groups() {
    let (key, pem) = ec_with_pem();
    let (b, view) = configured(&pem).await;
    let jwt = sign(Algorithm::ES256, Some("k1"), &key, &claims(json!({})));
    let r = login(&b, &view, &jwt).await.unwrap();
    let auth = r.auth.unwrap();
    let alias = auth.alias.unwrap();
    assert_eq!(alias.name, "ci-runner-42");
    assert_eq!(
        alias.metadata.get("repo").map(String::as_str),
        Some("acme/widgets")
    );
    assert_eq!(alias.metadata.get("role").map(String::as_str), Some("ci"));
    assert_eq!(auth.group_aliases, vec!["eng", "ops"]);
    assert_eq!(auth.metadata, alias.metadata);
    assert_eq!(auth.display_name, "ci-runner-42");
    assert_eq!(auth.policies, vec!["ci-read"]);
    assert_eq!(auth.ttl, 3600);
}

#[tokio::test]
async fn refusals_carry_vaults_messages() {
    let (key, pem) = ec_with_pem();
    let (b, view) = configured(&pem).await;
    let now = jose::now();
    let cases = [
        (json!({"aud": "someone-else"}), "error validating token: invalid audience (aud) claim: audience claim does not match any expected audience"),
        (json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200}), "error validating token: invalid expiration time (exp) claim: token is expired"),
        (json!({"nbf": now + 3600, "exp": now + 7200, "iat": null}), "error validating token: invalid not before (nbf) claim: token not yet valid"),
        (json!({"iss": "https://evil.example.net"}), "error validating token: invalid issuer (iss) claim"),
        (json!({"sub": null}), "claim \"sub\" not found in token"),
        (json!({"ref": "refs/tags/v1"}), "error validating claims: claim \"ref\" does not match any associated bound claim values"),
        (json!({"groups": null}), "failed to fetch groups: \"groups\" claim not found in token"),
    ];
    for (extra, want) in cases {
        let jwt = sign(Algorithm::ES256, None, &key, &claims(extra.clone()));
        assert_eq!(bad(login(&b, &view, &jwt).await), want, "{extra}");
    }
    // Signed by another key.
    let (other, _) = ec_with_pem();
    let jwt = sign(Algorithm::ES256, None, &other, &claims(json!({})));
    assert_eq!(
        bad(login(&b, &view, &jwt).await),
        "error validating token: error verifying token signature: no known key successfully validated the token signature"
    );
    // alg none.
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(json!({})))
    );
    assert!(bad(login(&b, &view, &none).await).contains("no known key successfully validated"));
    // HS256 with the public key as the HMAC secret.
    let hs = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(pem.as_bytes()).unwrap(),
        &claims(json!({})),
    );
    assert!(bad(login(&b, &view, &hs).await).contains("no known key successfully validated"));
    assert_eq!(
        bad(call(&b, &view, Operation::Update, "login", json!({"role": "ci"})).await),
        "missing token"
    );
    assert_eq!(
        bad(call(
            &b,
            &view,
            Operation::Update,
            "login",
            json!({"role": "nope", "jwt": "x"})
        )
        .await),
        "role \"nope\" could not be found"
    );
    assert_eq!(
        bad(call(&b, &view, Operation::Update, "login", json!({"jwt": "x"})).await),
        "missing role"
    );
    assert_eq!(
        bad(login(&b, &view, "not.a.jwt").await),
        "error validating token: error verifying token signature: illegal base64 data at input byte 0"
    );
}

#[tokio::test]
async fn ed25519_keys_default_role_and_supported_algs() {
    let (key, pem) = ed_with_pem();
    let (_s, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Update,
        "config",
        json!({
            "jwt_validation_pubkeys": [pem], "default_role": "ci", "jwt_supported_algs": ["EdDSA"],
        }),
    )
    .await
    .unwrap();
    call(&b, &view, Operation::Update, "role/ci", json!({
        "role_type": "jwt", "bound_subject": "ci-runner-42", "user_claim": "sub", "bound_audiences": "bao-ci",
    })).await.unwrap();
    let jwt = sign(Algorithm::EdDSA, None, &key, &claims(json!({})));
    let r = call(&b, &view, Operation::Update, "login", json!({"jwt": jwt}))
        .await
        .unwrap();
    assert_eq!(r.auth.unwrap().alias.unwrap().name, "ci-runner-42");
    let jwt = sign(
        Algorithm::EdDSA,
        None,
        &key,
        &claims(json!({"sub": "someone"})),
    );
    assert_eq!(
        bad(call(&b, &view, Operation::Update, "login", json!({"jwt": jwt})).await),
        "error validating token: invalid subject (sub) claim"
    );
    // An EC token is refused by the algorithm list even with a valid key.
    let (eck, ecpem) = ec_with_pem();
    call(&b, &view, Operation::Update, "config", json!({
        "jwt_validation_pubkeys": [ecpem], "default_role": "ci", "jwt_supported_algs": ["EdDSA"],
    })).await.unwrap();
    let jwt = sign(Algorithm::ES256, None, &eck, &claims(json!({})));
    assert_eq!(
        bad(call(&b, &view, Operation::Update, "login", json!({"jwt": jwt})).await),
        "error validating token: invalid algorithm (alg) header parameter: token signed with unexpected algorithm"
    );
}

#[tokio::test]
async fn an_oidc_role_cannot_log_in_with_a_jwt() {
    let (key, pem) = ec_with_pem();
    let (b, view) = configured(&pem).await;
    call(&b, &view, Operation::Update, "role/web", json!({
        "role_type": "oidc", "user_claim": "sub", "allowed_redirect_uris": ["http://localhost:8250/oidc/callback"],
    })).await.unwrap();
    let jwt = sign(Algorithm::ES256, None, &key, &claims(json!({})));
    assert_eq!(
        bad(call(
            &b,
            &view,
            Operation::Update,
            "login",
            json!({"role": "web", "jwt": jwt})
        )
        .await),
        "role with oidc role_type is not allowed"
    );
    assert_eq!(
        bad(call(
            &b,
            &view,
            Operation::Update,
            "oidc/auth_url",
            json!({"role": "web", "redirect_uri": "http://x"})
        )
        .await),
        "OIDC login is not configured for this mount"
    );
}
