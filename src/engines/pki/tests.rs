//! Handler tests over a barrier-backed view: the flows of captures 404-450.

use serde_json::{json, Value};

use super::backend;
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
