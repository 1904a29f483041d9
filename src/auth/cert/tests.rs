//! Unit tests: certificates, CAs and CRLs are made here with rcgen; the
//! chain a login presents is set on the request as the listener would.

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use serde_json::{json, Value};

use super::matching::glob;
use super::verify::{NO_CHAIN, NO_MATCH};
use super::x509::der_string;
use super::*;
use crate::auth::test_support::{call, setup};
use crate::logical::{Backend, LogicalError, LogicalResult, Operation, Request, StorageView};

/// A CA: its params (to sign with), key and PEM.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(cn: &str, serial: u64) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            params,
            key,
        }
    }

    /// An intermediate CA signed by this one.
    fn intermediate(&self, cn: &str, serial: u64) -> Ca {
        let mut sub = Ca::new(cn, serial);
        let cert = sub
            .params
            .signed_by(&sub.key, &Issuer::from_params(&self.params, &self.key))
            .unwrap();
        sub.pem = cert.pem();
        sub.der = cert.der().to_vec();
        sub
    }

    fn sign(&self, params: &CertificateParams) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        params
            .signed_by(&key, &Issuer::from_params(&self.params, &self.key))
            .unwrap()
            .der()
            .to_vec()
    }

    /// A CRL revoking `serials`.
    fn crl(&self, serials: &[u64]) -> String {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2024, 1, 1),
            next_update: date_time_ymd(4000, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&s.to_be_bytes()),
                    revocation_time: date_time_ymd(2024, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(&Issuer::from_params(&self.params, &self.key))
            .unwrap()
            .pem()
            .unwrap()
    }
}

/// Client certificate parameters: CN, serial, client-auth EKU.
fn client(cn: &str, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    p
}

fn pem_of(der: &[u8]) -> String {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

async fn login_with(
    b: &CertBackend,
    view: &StorageView,
    chain: Vec<Vec<u8>>,
    body: Value,
) -> LogicalResult {
    let mut req = Request::new(Operation::Update, "auth/cert/login");
    req.mount_point = "auth/cert/".into();
    req.relative_path = "login".into();
    req.client_cert_chain = chain;
    req.remote_addr = Some("127.0.0.1".parse().unwrap());
    if let Value::Object(m) = body {
        req.data = m;
    }
    b.handle(&req, view).await
}

async fn login(b: &CertBackend, view: &StorageView, chain: Vec<Vec<u8>>) -> LogicalResult {
    login_with(b, view, chain, json!({})).await
}

fn err_text(r: LogicalResult) -> String {
    match r {
        Ok(resp) => panic!("expected an error, got {resp:?}"),
        Err(LogicalError::BadRequest(m)) => m,
        Err(e) => panic!("expected a 400, got {e:?}"),
    }
}

async fn write(b: &CertBackend, view: &StorageView, path: &str, body: Value) {
    call(b, view, Operation::Update, path, body)
        .await
        .unwrap_or_else(|e| panic!("writing {path}: {e:?}"));
}

#[test]
fn glob_semantics_are_go_globs() {
    assert!(glob("*", ""));
    assert!(glob("*", "anything"));
    assert!(glob("", ""));
    assert!(!glob("", "x"));
    assert!(glob("abc", "abc"));
    assert!(!glob("abc", "abcd"));
    assert!(glob("*.example.com", "a.example.com"));
    assert!(!glob("*.example.com", "example.com"));
    assert!(glob("web-*", "web-1"));
    assert!(!glob("web-*", "db-1"));
    assert!(glob("a*b*c", "a123b456c"));
    assert!(glob("a*b*c", "abc"));
    assert!(!glob("a*b*c", "a123c"));
    assert!(glob("*mid*", "xxmidyy"));
    assert!(!glob("a*c", "abcd"));
}

#[test]
fn der_strings_are_read_like_go() {
    assert_eq!(der_string(&[0x0c, 2, b'h', b'i']).as_deref(), Some("hi"));
    assert_eq!(der_string(&[0x13, 1, b'A']).as_deref(), Some("A"));
    assert_eq!(der_string(&[0x16, 0]).as_deref(), Some(""));
    assert_eq!(der_string(&[0x1e, 2, 0, b'z']).as_deref(), Some("z"));
    assert_eq!(der_string(&[0x02, 1, 5]), None); // an INTEGER
    assert_eq!(der_string(&[0x0c, 5, b'a']), None); // truncated
    let long: Vec<u8> = [vec![0x0c, 0x81, 200], vec![b'x'; 200]].concat();
    assert_eq!(der_string(&long).map(|s| s.len()), Some(200));
}

#[test]
fn crl_serials_are_decimal() {
    let ca = Ca::new("CRL CA", 1);
    let serials = crl::parse_crl(ca.crl(&[255, 4096]).as_bytes()).unwrap();
    assert_eq!(
        serials.into_iter().collect::<Vec<_>>(),
        vec!["255".to_string(), "4096".to_string()]
    );
    assert!(crl::parse_crl(b"not a crl").is_err());
}

#[tokio::test]
async fn ca_login_returns_policies_metadata_and_alias() {
    let (_s, view) = setup().await;
    let b = backend();
    let ca = Ca::new("Test Root", 1);
    write(
        &b,
        &view,
        "certs/web",
        json!({"certificate": ca.pem, "token_policies": "web,ops", "token_ttl": "1h"}),
    )
    .await;
    let leaf = ca.sign(&client("app.example.com", 77));
    let auth = login(&b, &view, vec![leaf.clone()])
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.policies, vec!["ops".to_string(), "web".to_string()]);
    assert_eq!(auth.ttl, 3600);
    assert_eq!(auth.display_name, "web");
    let alias = auth.alias.expect("a cert login names an identity alias");
    assert_eq!(alias.name, "app.example.com");
    assert!(alias.metadata.is_empty());
    assert_eq!(auth.metadata["cert_name"], "web");
    assert_eq!(auth.metadata["common_name"], "app.example.com");
    assert_eq!(auth.metadata["serial_number"], "77");
    // rcgen gives leaves no subject key id; the issuer's key id is there.
    assert_eq!(auth.metadata["subject_key_id"], "");
    let akid = &auth.metadata["authority_key_id"];
    assert!(
        !akid.is_empty() && akid.split(':').all(|h| h.len() == 2),
        "{akid}"
    );

    // enable_identity_alias_metadata copies the metadata onto the alias.
    write(
        &b,
        &view,
        "config",
        json!({"enable_identity_alias_metadata": true}),
    )
    .await;
    let auth = login(&b, &view, vec![leaf]).await.unwrap().auth.unwrap();
    let alias = auth.alias.unwrap();
    assert_eq!(alias.metadata, auth.metadata);
}

#[tokio::test]
async fn refusals_keep_vaults_texts() {
    let (_s, view) = setup().await;
    let b = backend();
    let ca = Ca::new("Trusted", 1);
    write(&b, &view, "certs/ca", json!({"certificate": ca.pem})).await;

    // No certificate at all (plain HTTP, or client certs disabled).
    let e = err_text(login(&b, &view, vec![]).await);
    assert_eq!(e, "client certificate must be supplied");

    // Signed by a CA nobody trusts.
    let other = Ca::new("Other", 2);
    let e = err_text(login(&b, &view, vec![other.sign(&client("x", 3))]).await);
    assert_eq!(e, NO_CHAIN);

    // Self-signed, untrusted.
    let key = KeyPair::generate().unwrap();
    let selfsigned = client("me", 4).self_signed(&key).unwrap().der().to_vec();
    assert_eq!(err_text(login(&b, &view, vec![selfsigned]).await), NO_CHAIN);

    // Expired, and not yet valid.
    let mut p = client("old", 5);
    p.not_before = date_time_ymd(2000, 1, 1);
    p.not_after = date_time_ymd(2001, 1, 1);
    let e = err_text(login(&b, &view, vec![ca.sign(&p)]).await);
    assert!(
        e.starts_with("failed to verify client's certificate: x509: certificate has expired or is not yet valid: current time ")
            && e.ends_with("is after 2001-01-01T00:00:00Z"),
        "{e}"
    );
    let mut p = client("future", 6);
    p.not_before = date_time_ymd(3000, 1, 1);
    let e = err_text(login(&b, &view, vec![ca.sign(&p)]).await);
    assert!(e.contains("is before 3000-01-01T00:00:00Z"), "{e}");

    // Only server authentication in its extended key usage.
    let mut p = client("server", 7);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let e = err_text(login(&b, &view, vec![ca.sign(&p)]).await);
    assert_eq!(
        e,
        "failed to verify client's certificate: x509: certificate specifies an incompatible key usage"
    );

    // Untrusted, whatever else is wrong with it: "invalid certificate".
    let mut p = client("untrusted-server", 9);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    assert_eq!(
        err_text(login(&b, &view, vec![other.sign(&p)]).await),
        NO_CHAIN
    );
    let untrusted_ca = Ca::new("Some CA", 10);
    assert_eq!(
        err_text(login(&b, &view, vec![untrusted_ca.der.clone()]).await),
        NO_CHAIN
    );
    // A CA certificate issued by the trusted CA cannot be a client's.
    let sub = ca.intermediate("Sub CA", 11);
    let e = err_text(login(&b, &view, vec![sub.der.clone()]).await);
    assert_eq!(
        e,
        "failed to verify client's certificate: x509: a CA certificate cannot log in as a client"
    );

    // Garbage instead of a certificate.
    let e = err_text(login(&b, &view, vec![b"junk".to_vec()]).await);
    assert!(
        e.starts_with("failed to verify client's certificate"),
        "{e}"
    );

    // No entry at all.
    let (_s2, empty) = setup().await;
    let e = err_text(login(&b, &empty, vec![ca.sign(&client("x", 8))]).await);
    assert_eq!(e, NO_CHAIN);
}

#[tokio::test]
async fn crls_revoke_the_leaf_the_intermediate_or_the_ca() {
    let (_s, view) = setup().await;
    let b = backend();
    let root = Ca::new("Root", 10);
    let inter = root.intermediate("Intermediate", 11);
    write(&b, &view, "certs/root", json!({"certificate": root.pem})).await;
    let leaf = inter.sign(&client("svc", 12));
    let chain = vec![leaf.clone(), inter.der.clone()];
    login(&b, &view, chain.clone()).await.unwrap();
    // Without the intermediate the chain cannot be built.
    assert_eq!(
        err_text(login(&b, &view, vec![leaf.clone()]).await),
        NO_CHAIN
    );

    for (name, serial) in [("leaf", 12u64), ("inter", 11), ("root", 10)] {
        write(
            &b,
            &view,
            "crls/revoked",
            json!({"crl": root.crl(&[serial])}),
        )
        .await;
        assert_eq!(
            err_text(login(&b, &view, chain.clone()).await),
            NO_MATCH,
            "revoking the {name}"
        );
    }
    let read = call(&b, &view, Operation::Read, "crls/revoked", json!({}))
        .await
        .unwrap();
    let data = read.data.unwrap();
    assert_eq!(data["serials"], json!({"10": {}}));
    assert_eq!(data["cdp"], Value::Null);
    let list = call(&b, &view, Operation::List, "crls", json!({}))
        .await
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["revoked"]));

    call(&b, &view, Operation::Delete, "crls/revoked", json!({}))
        .await
        .unwrap();
    login(&b, &view, chain).await.unwrap();
    let r = call(&b, &view, Operation::List, "crls", json!({})).await;
    assert!(matches!(r, Err(LogicalError::NotFound)), "{r:?}");
    let e = err_text(call(&b, &view, Operation::Delete, "crls/revoked", json!({})).await);
    assert_eq!(e, "no such CRL revoked");
    let e = err_text(call(&b, &view, Operation::Read, "crls/nope", json!({})).await);
    assert_eq!(e, "no such CRL nope");
    let e = err_text(
        call(
            &b,
            &view,
            Operation::Update,
            "crls/x",
            json!({"crl": "junk"}),
        )
        .await,
    );
    assert!(e.starts_with("failed to parse CRL: "), "{e}");
    let e = err_text(call(&b, &view, Operation::Update, "crls/x", json!({})).await);
    assert_eq!(e, "one of 'crl' or 'url' must be provided");
}

#[tokio::test]
async fn a_trusted_intermediate_or_a_pinned_leaf_also_logs_in() {
    let (_s, view) = setup().await;
    let b = backend();
    let root = Ca::new("Root", 20);
    let inter = root.intermediate("Intermediate", 21);
    // Trusting the intermediate alone: the leaf needs nothing more.
    write(
        &b,
        &view,
        "certs/inter",
        json!({"certificate": inter.pem, "policies": "i"}),
    )
    .await;
    let leaf = inter.sign(&client("svc", 22));
    let auth = login(&b, &view, vec![leaf.clone()])
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.metadata["cert_name"], "inter");

    // A pinned (non-CA) certificate: only that exact certificate matches.
    let pinned_key = KeyPair::generate().unwrap();
    let pinned = client("pinned.example", 23)
        .self_signed(&pinned_key)
        .unwrap();
    write(
        &b,
        &view,
        "certs/pinned",
        json!({"certificate": pem_of(pinned.der()), "policies": "p"}),
    )
    .await;
    let auth = login(&b, &view, vec![pinned.der().to_vec()])
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.metadata["cert_name"], "pinned");
    assert_eq!(auth.policies, vec!["p".to_string()]);
    assert_eq!(auth.alias.unwrap().name, "pinned.example");
    // Same subject, another key: not the pinned certificate.
    let impostor = client("pinned.example", 23)
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap();
    assert_eq!(
        err_text(login(&b, &view, vec![impostor.der().to_vec()]).await),
        NO_CHAIN
    );
    // A pinned certificate on a CRL no longer logs in.
    write(&b, &view, "crls/c", json!({"crl": root.crl(&[23])})).await;
    assert_eq!(
        err_text(login(&b, &view, vec![pinned.der().to_vec()]).await),
        NO_CHAIN
    );

    // `name` limits the login to one entry.
    let e = err_text(login_with(&b, &view, vec![leaf.clone()], json!({"name": "pinned"})).await);
    assert_eq!(e, NO_CHAIN);
    let auth = login_with(&b, &view, vec![leaf], json!({"name": "INTER"}))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.metadata["cert_name"], "inter");

    // A non-CA certificate must allow client authentication.
    let mut p = client("srv", 24);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let srv = p.self_signed(&KeyPair::generate().unwrap()).unwrap();
    let e = err_text(
        call(
            &b,
            &view,
            Operation::Update,
            "certs/srv",
            json!({"certificate": pem_of(srv.der())}),
        )
        .await,
    );
    assert_eq!(
        e,
        "nonCA certificates should have TLS client authentication set as an extended key usage"
    );
}

#[tokio::test]
async fn constraints_select_the_entry() {
    let (_s, view) = setup().await;
    let b = backend();
    let ca = Ca::new("Root", 30);
    let mut p = client("web-1.prod", 31);
    p.distinguished_name
        .push(DnType::OrganizationalUnitName, "payments");
    p.subject_alt_names = vec![
        SanType::DnsName("web-1.prod.example.com".try_into().unwrap()),
        SanType::Rfc822Name("ops@example.com".try_into().unwrap()),
        SanType::URI("spiffe://example.com/web".try_into().unwrap()),
    ];
    p.custom_extensions = vec![CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 99999, 1],
        vec![0x0c, 4, b't', b'e', b'a', b'm'],
    )];
    let leaf = ca.sign(&p);
    let chain = vec![leaf.clone()];

    let cases: Vec<(Value, bool)> = vec![
        (json!({"allowed_common_names": "web-*"}), true),
        (json!({"allowed_common_names": "db-*,api"}), false),
        (json!({"allowed_dns_sans": "*.prod.example.com"}), true),
        (json!({"allowed_dns_sans": "*.dev.example.com"}), false),
        (json!({"allowed_email_sans": "*@example.com"}), true),
        (json!({"allowed_email_sans": "root@example.com"}), false),
        (json!({"allowed_uri_sans": "spiffe://example.com/*"}), true),
        (json!({"allowed_uri_sans": ["spiffe://other/*"]}), false),
        (json!({"allowed_organizational_units": "pay*"}), true),
        (json!({"allowed_organizational_units": "hr"}), false),
        (json!({"allowed_names": "ops@example.com"}), true),
        (json!({"allowed_names": "nobody"}), false),
        (
            json!({"required_extensions": "1.3.6.1.4.1.99999.1:te*"}),
            true,
        ),
        (
            json!({"required_extensions": "1.3.6.1.4.1.99999.1:other"}),
            false,
        ),
        (json!({"required_extensions": "1.2.3.4:*"}), false),
    ];
    for (constraint, ok) in cases {
        let mut body = constraint.clone();
        body["certificate"] = json!(ca.pem);
        write(&b, &view, "certs/only", body).await;
        let got = login(&b, &view, chain.clone()).await;
        if ok {
            got.unwrap_or_else(|e| panic!("{constraint} should allow: {e:?}"));
        } else {
            assert_eq!(err_text(got), NO_MATCH, "{constraint} should refuse");
        }
        call(&b, &view, Operation::Delete, "certs/only", json!({}))
            .await
            .unwrap();
    }

    // With two entries, the one whose constraints hold is chosen.
    write(
        &b,
        &view,
        "certs/a-db",
        json!({"certificate": ca.pem, "allowed_common_names": "db-*", "policies": "db"}),
    )
    .await;
    write(
        &b,
        &view,
        "certs/b-web",
        json!({"certificate": ca.pem, "allowed_common_names": "web-*", "policies": "web",
               "allowed_metadata_extensions": "1.3.6.1.4.1.99999.1,1.2.3"}),
    )
    .await;
    let auth = login(&b, &view, chain).await.unwrap().auth.unwrap();
    assert_eq!(auth.metadata["cert_name"], "b-web");
    assert_eq!(auth.policies, vec!["web".to_string()]);
    assert_eq!(auth.metadata["1-3-6-1-4-1-99999-1"], "team");
    assert!(!auth.metadata.contains_key("1-2-3"));
}

#[tokio::test]
async fn bound_cidrs_are_enforced() {
    let (_s, view) = setup().await;
    let b = backend();
    let ca = Ca::new("Root", 40);
    write(
        &b,
        &view,
        "certs/c",
        json!({"certificate": ca.pem, "token_bound_cidrs": "10.0.0.0/8"}),
    )
    .await;
    let r = login(&b, &view, vec![ca.sign(&client("x", 41))]).await;
    assert!(matches!(r, Err(LogicalError::PermissionDenied)), "{r:?}");
}

#[tokio::test]
async fn certs_crud_and_config() {
    let (_s, view) = setup().await;
    let b = backend();
    let ca = Ca::new("Root", 50);
    write(
        &b,
        &view,
        "certs/Web",
        json!({"certificate": ca.pem, "allowed_dns_sans": ["a.com", "b.com"], "ttl": 60,
               "display_name": "web-clients", "bound_cidrs": "127.0.0.1/32"}),
    )
    .await;
    let data = call(&b, &view, Operation::Read, "certs/web", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["certificate"], json!(ca.pem));
    assert_eq!(data["allowed_dns_sans"], json!(["a.com", "b.com"]));
    assert_eq!(data["allowed_common_names"], json!([]));
    assert_eq!(data["display_name"], "web-clients");
    assert_eq!(data["token_ttl"], 60);
    assert_eq!(data["token_bound_cidrs"], json!(["127.0.0.1/32"]));
    assert_eq!(data["ocsp_enabled"], false);
    // An update keeps what it does not set.
    write(&b, &view, "certs/web", json!({"token_policies": "p"})).await;
    let data = call(&b, &view, Operation::Read, "certs/web", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["allowed_dns_sans"], json!(["a.com", "b.com"]));
    assert_eq!(data["token_policies"], json!(["p"]));
    // `lease` is the oldest name of token_ttl.
    write(
        &b,
        &view,
        "certs/old",
        json!({"certificate": ca.pem, "lease": 120}),
    )
    .await;
    let data = call(&b, &view, Operation::Read, "certs/old", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["token_ttl"], 120);
    assert_eq!(data["display_name"], "old");

    let list = call(&b, &view, Operation::List, "certs", json!({}))
        .await
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["old", "web"]));
    let list = call(&b, &view, Operation::List, "certs", json!({"after": "old"}))
        .await
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["web"]));
    let list = call(&b, &view, Operation::List, "certs", json!({"limit": 1}))
        .await
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["old"]));

    let e = err_text(
        call(
            &b,
            &view,
            Operation::Update,
            "certs/bad",
            json!({"certificate": "x"}),
        )
        .await,
    );
    assert_eq!(e, "failed to parse certificate");
    let e = err_text(call(&b, &view, Operation::Update, "certs/bad", json!({})).await);
    assert_eq!(e, "failed to parse certificate");
    let e = err_text(
        call(
            &b,
            &view,
            Operation::Update,
            "certs/bad",
            json!({"certificate": ca.pem, "ocsp_enabled": true}),
        )
        .await,
    );
    assert!(e.contains("OCSP"), "{e}");
    let e = err_text(
        call(
            &b,
            &view,
            Operation::Update,
            "certs/bad",
            json!({"certificate": ca.pem, "token_ttl": 100, "token_max_ttl": 10}),
        )
        .await,
    );
    assert!(e.contains("token_ttl"), "{e}");

    call(&b, &view, Operation::Delete, "certs/web", json!({}))
        .await
        .unwrap();
    let r = call(&b, &view, Operation::Read, "certs/web", json!({})).await;
    assert!(matches!(r, Err(LogicalError::NotFound)), "{r:?}");
    call(&b, &view, Operation::Delete, "certs/old", json!({}))
        .await
        .unwrap();
    let r = call(&b, &view, Operation::List, "certs", json!({})).await;
    assert!(matches!(r, Err(LogicalError::NotFound)), "{r:?}");

    // config
    let data = call(&b, &view, Operation::Read, "config", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        Value::Object(data),
        json!({"disable_binding": false, "enable_identity_alias_metadata": false, "ocsp_cache_size": 0})
    );
    write(
        &b,
        &view,
        "config",
        json!({"disable_binding": true, "ocsp_cache_size": 50}),
    )
    .await;
    let data = call(&b, &view, Operation::Read, "config", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["disable_binding"], true);
    assert_eq!(data["ocsp_cache_size"], 50);
    let e = err_text(
        call(
            &b,
            &view,
            Operation::Update,
            "config",
            json!({"ocsp_cache_size": 1}),
        )
        .await,
    );
    assert_eq!(e, "invalid cache size, must be >= 2 and <= 100000");
}

#[tokio::test]
async fn nothing_but_the_transport_supplies_the_chain() {
    // A body or header naming a certificate is not a credential.
    let (_s, view) = setup().await;
    let b = backend();
    let ca = Ca::new("Root", 60);
    write(&b, &view, "certs/c", json!({"certificate": ca.pem})).await;
    let leaf = pem_of(&ca.sign(&client("x", 61)));
    let mut req = Request::new(Operation::Update, "auth/cert/login");
    req.mount_point = "auth/cert/".into();
    req.relative_path = "login".into();
    req.headers = std::collections::HashMap::from([(
        "x-strongroom-forwarded-client-cert".to_string(),
        leaf.clone(),
    )]);
    req.data = json!({"certificate": leaf}).as_object().unwrap().clone();
    let e = err_text(b.handle(&req, &view).await);
    assert_eq!(e, "client certificate must be supplied");
}
