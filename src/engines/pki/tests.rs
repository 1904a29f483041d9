//! Handler tests over a barrier-backed view: the flows of captures 404-450.

use serde_json::{json, Value};

use super::{backend, certs};
use crate::auth::test_support::setup;
use crate::logical::framework::FrameworkBackend;
use crate::logical::{Backend, LogicalResult, Operation, Request, StorageView};

async fn call(
    b: &FrameworkBackend<super::Pki>,
    view: &StorageView,
    op: Operation,
    path: &str,
    body: Value,
) -> LogicalResult {
    let mut req = Request::new(op, format!("pki/{path}"));
    req.mount_point = "pki/".into();
    req.relative_path = path.into();
    req.mount_ttls = (2764800, 315360000);
    if let Value::Object(m) = body {
        req.data = m;
    }
    b.handle(&req, view).await
}

fn data(r: LogicalResult) -> serde_json::Map<String, Value> {
    r.unwrap().data.unwrap()
}

async fn with_root() -> (FrameworkBackend<super::Pki>, StorageView) {
    let (_, view) = setup().await;
    let b = backend();
    let d = data(call(&b, &view, Operation::Update, "root/generate/internal", json!({"common_name": "example.com", "ttl": "8760h", "issuer_name": "root-2026", "key_type": "ec"})).await);
    assert_eq!(d["issuer_name"], "root-2026");
    assert!(d["serial_number"].as_str().unwrap().contains(':'));
    (b, view)
}

#[tokio::test]
async fn root_role_issue_and_refusals() {
    let (b, view) = with_root().await;
    let e = call(
        &b,
        &view,
        Operation::Update,
        "root/generate/sideways",
        json!({"common_name": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the \"exported\" path parameter must be \"internal\", \"existing\", exported\" or \"kms\""
    );
    let role = data(call(&b, &view, Operation::Update, "roles/web", json!({"allowed_domains": ["example.com"], "allow_subdomains": true, "max_ttl": "72h", "key_type": "ec", "key_bits": 256})).await);
    assert_eq!(role["max_ttl"], 259200);
    assert_eq!(
        role["key_usage"],
        json!(["DigitalSignature", "KeyAgreement", "KeyEncipherment"])
    );
    let issued = call(
        &b,
        &view,
        Operation::Update,
        "issue/web",
        json!({"common_name": "a.example.com", "ttl": "100h"}),
    )
    .await
    .unwrap();
    assert_eq!(
        issued.warnings,
        vec![
            "TTL \"100h0m0s\" is longer than permitted maxTTL \"72h0m0s\", so maxTTL is being used"
                .to_string()
        ]
    );
    let d = issued.data.unwrap();
    assert_eq!(d["private_key_type"], "ec");
    assert!(d["private_key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let e = call(
        &b,
        &view,
        Operation::Update,
        "issue/web",
        json!({"common_name": "evil.org"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "common name evil.org not allowed by this role"
    );
    let e = call(&b, &view, Operation::Update, "issue/web", json!({}))
        .await
        .unwrap_err();
    assert!(e
        .to_string()
        .starts_with("the common_name field is required"));
    let e = call(
        &b,
        &view,
        Operation::Update,
        "issue/nope",
        json!({"common_name": "a.example.com"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "unknown role: nope");
    call(&b, &view, Operation::Update, "roles/noip", json!({"allowed_domains": "example.com", "allow_subdomains": true, "allow_ip_sans": false, "key_type": "ec"})).await.unwrap();
    let e = call(
        &b,
        &view,
        Operation::Update,
        "issue/noip",
        json!({"common_name": "a.example.com", "ip_sans": "10.0.0.1"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "IP Subject Alternative Names are not allowed in this role, but was provided [10.0.0.1]"
    );
    // Revocation.
    let serial = d["serial_number"].as_str().unwrap().to_string();
    let r = data(
        call(
            &b,
            &view,
            Operation::Update,
            "revoke",
            json!({"serial_number": serial}),
        )
        .await,
    );
    assert_eq!(r["state"], "revoked");
    let again = data(
        call(
            &b,
            &view,
            Operation::Update,
            "revoke",
            json!({"serial_number": serial}),
        )
        .await,
    );
    assert_eq!(again["revocation_time"], r["revocation_time"]);
    let e = call(&b, &view, Operation::Update, "revoke", json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "The serial number or certificate to revoke must be provided."
    );
    let crl = call(&b, &view, Operation::Read, "crl", json!({}))
        .await
        .unwrap();
    let der = crl.binary.unwrap().1;
    use x509_parser::prelude::FromDer;
    let (_, parsed) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
    assert_eq!(parsed.iter_revoked_certificates().count(), 1);
}

#[tokio::test]
async fn intermediate_chain_and_sign() {
    let (b, root_view) = with_root().await;
    let (_, int_view) = setup().await;
    let ib = backend();
    let gen = data(call(&ib, &int_view, Operation::Update, "intermediate/generate/internal", json!({"common_name": "example.com Intermediate Authority", "key_type": "ec", "key_bits": 256})).await);
    let csr = gen["csr"].as_str().unwrap().to_string();
    let signed = data(
        call(
            &b,
            &root_view,
            Operation::Update,
            "root/sign-intermediate",
            json!({"csr": csr, "format": "pem_bundle", "ttl": "43800h"}),
        )
        .await,
    );
    assert_eq!(signed["ca_chain"].as_array().unwrap().len(), 2);
    let imported = data(
        call(
            &ib,
            &int_view,
            Operation::Update,
            "intermediate/set-signed",
            json!({"certificate": signed["certificate"]}),
        )
        .await,
    );
    assert_eq!(imported["imported_issuers"].as_array().unwrap().len(), 2);
    let e = call(
        &ib,
        &int_view,
        Operation::Update,
        "intermediate/set-signed",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "'pem_bundle' and 'certificate' parameters were empty"
    );
    let e = call(
        &ib,
        &int_view,
        Operation::Update,
        "intermediate/set-signed",
        json!({"certificate": "garbage"}),
    )
    .await
    .unwrap_err();
    assert!(e
        .to_string()
        .starts_with("provided data for import was too short"));
    call(&ib, &int_view, Operation::Update, "roles/svc", json!({"allowed_domains": ["svc.example.com"], "allow_subdomains": true, "max_ttl": "24h", "key_type": "ec", "key_bits": 256})).await.unwrap();
    let leaf = data(
        call(
            &ib,
            &int_view,
            Operation::Update,
            "issue/svc",
            json!({"common_name": "api.svc.example.com", "ttl": "1h"}),
        )
        .await,
    );
    assert_eq!(leaf["ca_chain"].as_array().unwrap().len(), 2);
    let chain = call(&ib, &int_view, Operation::Read, "ca_chain", json!({}))
        .await
        .unwrap();
    assert_eq!(
        chain.text.unwrap().1.matches("BEGIN CERTIFICATE").count(),
        2
    );
    // An EC CSR under an RSA role, then with key_type any.
    const EC_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----\nMIHSMHoCAQAwGDEWMBQGA1UEAwwNYi5leGFtcGxlLmNvbTBZMBMGByqGSM49AgEG\nCCqGSM49AwEHA0IABM4XgyQGv0BHrmMT+r7dJsFZfuMw6O6GcUTvwGs3bbW7DG3A\nt3CBm+OeKOBQgjqwrFBXyocIz50ZqUEh05pmi/GgADAKBggqhkjOPQQDAgNIADBF\nAiEAsZeGGjnbTxNQ1t/woP0sitUIVPGyjyUHdShX1huYSMYCIAUK7n0fWK5VYsp+\np6N9V1iP91pPMHKb1zKzjq+J/oKv\n-----END CERTIFICATE REQUEST-----\n";
    call(
        &b,
        &root_view,
        Operation::Update,
        "roles/rsa",
        json!({"allowed_domains": ["example.com"], "allow_subdomains": true}),
    )
    .await
    .unwrap();
    let e = call(
        &b,
        &root_view,
        Operation::Update,
        "sign/rsa",
        json!({"csr": EC_CSR, "common_name": "b.example.com"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "role requires keys of type rsa");
    call(
        &b,
        &root_view,
        Operation::Update,
        "roles/rsa",
        json!({"allowed_domains": ["example.com"], "allow_subdomains": true, "key_type": "any"}),
    )
    .await
    .unwrap();
    let s = call(
        &b,
        &root_view,
        Operation::Update,
        "sign/rsa",
        json!({"csr": EC_CSR, "common_name": "b.example.com"}),
    )
    .await
    .unwrap();
    assert_eq!(s.warnings.len(), 1);
    assert!(s.data.unwrap().get("private_key").is_none());
    let e = call(&b, &root_view, Operation::Update, "sign/rsa", json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot a csr\n-----END CERTIFICATE REQUEST-----\n"})).await.unwrap_err();
    assert_eq!(e.to_string(), "csr contains no data");
}

#[tokio::test]
async fn no_store_issue_writes_nothing() {
    let (b, view) = with_root().await;
    call(
        &b,
        &view,
        Operation::Update,
        "roles/fleet",
        json!({"allow_any_name": true, "no_store": true, "key_type": "ec"}),
    )
    .await
    .unwrap();
    let before = view.list("certs/").await.unwrap().len();
    let d = data(
        call(
            &b,
            &view,
            Operation::Update,
            "issue/fleet",
            json!({"common_name": "svc-1"}),
        )
        .await,
    );
    assert_eq!(view.list("certs/").await.unwrap().len(), before);
    let serial = d["serial_number"].as_str().unwrap();
    let e = call(
        &b,
        &view,
        Operation::Read,
        &format!("cert/{serial}"),
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 404);
}

#[tokio::test]
async fn multi_issuer_api_import_and_self_issued() {
    let (b, view) = with_root().await;
    let second = data(call(&b, &view, Operation::Update, "root/generate/internal", json!({"common_name": "second.example", "issuer_name": "second", "key_type": "ec", "ttl": "24h"})).await);
    let issuers = data(call(&b, &view, Operation::List, "issuers", json!({})).await);
    assert_eq!(issuers["keys"].as_array().unwrap().len(), 2);
    let second_id = second["issuer_id"].as_str().unwrap();
    assert_eq!(
        issuers["key_info"][second_id]["is_default"], false,
        "the first root stays the default"
    );
    let e = call(
        &b,
        &view,
        Operation::Update,
        "root/generate/internal",
        json!({"common_name": "x", "issuer_name": "second"}),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("already in use"));
    let cfg = data(
        call(
            &b,
            &view,
            Operation::Update,
            "config/issuers",
            json!({"default": "second"}),
        )
        .await,
    );
    assert_eq!(cfg["default"], second_id);
    let read = data(call(&b, &view, Operation::Read, "issuer/default", json!({})).await);
    assert_eq!(read["issuer_name"], "second");
    assert_eq!(read["revocation_signature_algorithm"], "ECDSAWithSHA256");
    let upd = data(
        call(
            &b,
            &view,
            Operation::Update,
            "issuer/second",
            json!({"leaf_not_after_behavior": "truncate"}),
        )
        .await,
    );
    assert_eq!(upd["leaf_not_after_behavior"], "truncate");
    call(
        &b,
        &view,
        Operation::Update,
        "roles/any",
        json!({"allow_any_name": true, "key_type": "ec"}),
    )
    .await
    .unwrap();
    // The second root lives 24h; a 48h leaf is truncated to it.
    let leaf = data(
        call(
            &b,
            &view,
            Operation::Update,
            "issuer/second/issue/any",
            json!({"common_name": "t.example", "ttl": "48h"}),
        )
        .await,
    );
    let issuer_exp =
        certs::inspect(&certs::pem_to_der(second["certificate"].as_str().unwrap()).unwrap())
            .unwrap()
            .not_after;
    assert_eq!(leaf["expiration"].as_i64().unwrap(), issuer_exp);
    let keys = data(call(&b, &view, Operation::List, "keys", json!({})).await);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    let key_id = second["key_id"].as_str().unwrap();
    let k = data(
        call(
            &b,
            &view,
            Operation::Read,
            &format!("key/{key_id}"),
            json!({}),
        )
        .await,
    );
    assert_eq!(k["key_type"], "ec");
    let e = call(
        &b,
        &view,
        Operation::Delete,
        &format!("key/{key_id}"),
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("in use"));

    // config/ca: a bundle of another mount's exported root and its key.
    let (_, other_view) = setup().await;
    let other = backend();
    let exported = data(
        call(
            &other,
            &other_view,
            Operation::Update,
            "root/generate/exported",
            json!({"common_name": "imported.example", "key_type": "ec", "ttl": "24h"}),
        )
        .await,
    );
    let bundle = format!(
        "{}\n{}\n",
        exported["private_key"].as_str().unwrap(),
        exported["certificate"].as_str().unwrap()
    );
    let (_, import_view) = setup().await;
    let importer = backend();
    let imp = data(
        call(
            &importer,
            &import_view,
            Operation::Update,
            "config/ca",
            json!({"pem_bundle": bundle}),
        )
        .await,
    );
    assert_eq!(imp["imported_issuers"].as_array().unwrap().len(), 1);
    assert_eq!(imp["imported_keys"].as_array().unwrap().len(), 1);
    call(
        &importer,
        &import_view,
        Operation::Update,
        "roles/any",
        json!({"allow_any_name": true, "key_type": "ec"}),
    )
    .await
    .unwrap();
    let leaf = data(
        call(
            &importer,
            &import_view,
            Operation::Update,
            "issue/any",
            json!({"common_name": "from.imported", "ttl": "1h"}),
        )
        .await,
    );
    let leaf_der = certs::pem_to_der(leaf["certificate"].as_str().unwrap()).unwrap();
    let ca_der = certs::pem_to_der(exported["certificate"].as_str().unwrap()).unwrap();
    assert!(certs::signed_by(&leaf_der, &ca_der));

    // sign-self-issued: the other root, re-signed by ours.
    let cross = data(
        call(
            &b,
            &view,
            Operation::Update,
            "root/sign-self-issued",
            json!({"certificate": exported["certificate"]}),
        )
        .await,
    );
    let cross_der = certs::pem_to_der(cross["certificate"].as_str().unwrap()).unwrap();
    let ours = certs::pem_to_der(cross["issuing_ca"].as_str().unwrap()).unwrap();
    assert!(certs::signed_by(&cross_der, &ours));
    let e = call(
        &b,
        &view,
        Operation::Update,
        "root/sign-self-issued",
        json!({"certificate": leaf["certificate"]}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "given certificate is not self-issued");
}

#[tokio::test]
async fn revoke_with_key_needs_the_matching_key() {
    let (b, view) = with_root().await;
    call(
        &b,
        &view,
        Operation::Update,
        "roles/any",
        json!({"allow_any_name": true, "key_type": "ec"}),
    )
    .await
    .unwrap();
    let one = data(
        call(
            &b,
            &view,
            Operation::Update,
            "issue/any",
            json!({"common_name": "one", "ttl": "1h"}),
        )
        .await,
    );
    let two = data(
        call(
            &b,
            &view,
            Operation::Update,
            "issue/any",
            json!({"common_name": "two", "ttl": "1h"}),
        )
        .await,
    );
    let e = call(
        &b,
        &view,
        Operation::Update,
        "revoke-with-key",
        json!({"serial_number": one["serial_number"], "private_key": two["private_key"]}),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("public keys do not match"), "{e}");
    let r = data(
        call(
            &b,
            &view,
            Operation::Update,
            "revoke-with-key",
            json!({"certificate": one["certificate"], "private_key": one["private_key"]}),
        )
        .await,
    );
    assert_eq!(r["state"], "revoked");
    let listed = data(call(&b, &view, Operation::List, "certs/revoked", json!({})).await);
    assert_eq!(listed["keys"], json!([one["serial_number"]]));
}
