//! The PKI engine against the real binary, checked with `openssl` (3.0 on
//! PATH): chains root → intermediate → leaf verify, `x509 -text` shows what
//! the role allows, refusals carry Vault's 400 texts, revocation shows up in
//! the CRL and the OCSP answer, a leased certificate revoked through
//! `sys/leases/revoke` lands in the CRL, the bao CLI flow of the issue, and
//! on HA a standby issues `no_store` certificates without the active node.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{expect_status, Server, ROOT};
use serde_json::{json, Value};

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

fn ok(s: &Server, method: &str, path: &str, body: Value) -> Value {
    let r = s.call(method, path, Some(ROOT), Some(&body));
    assert!(
        r.status == 200 || r.status == 204,
        "{method} {path}: {} {}",
        r.status,
        r.text()
    );
    r.json_opt().unwrap_or(Value::Null)
}

fn s(v: &Value, k: &str) -> String {
    v["data"][k]
        .as_str()
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .to_string()
}

/// A root mount `pki` (RSA root) and an intermediate `pki_int` (EC)
/// signed by it, with config/urls pointing at the server.
fn root_and_intermediate(srv: &Server) -> (String, String) {
    ok(srv, "POST", "/v1/sys/mounts/pki", json!({"type": "pki"}));
    ok(
        srv,
        "POST",
        "/v1/sys/mounts/pki/tune",
        json!({"max_lease_ttl": "87600h"}),
    );
    let root = ok(
        srv,
        "POST",
        "/v1/pki/root/generate/internal",
        json!({"common_name": "example.com", "ttl": "8760h", "issuer_name": "root-2026"}),
    );
    let addr = srv.addr();
    ok(
        srv,
        "POST",
        "/v1/pki/config/urls",
        json!({"issuing_certificates": [format!("{addr}/v1/pki/ca")], "crl_distribution_points": [format!("{addr}/v1/pki/crl")], "ocsp_servers": [format!("{addr}/v1/pki/ocsp")]}),
    );
    ok(
        srv,
        "POST",
        "/v1/sys/mounts/pki_int",
        json!({"type": "pki"}),
    );
    ok(
        srv,
        "POST",
        "/v1/pki_int/config/urls",
        json!({"issuing_certificates": [format!("{addr}/v1/pki_int/ca")], "ocsp_servers": [format!("{addr}/v1/pki_int/ocsp")]}),
    );
    ok(
        srv,
        "POST",
        "/v1/sys/mounts/pki_int/tune",
        json!({"max_lease_ttl": "43800h"}),
    );
    let csr = ok(
        srv,
        "POST",
        "/v1/pki_int/intermediate/generate/internal",
        json!({"common_name": "example.com Intermediate Authority", "key_type": "ec", "key_bits": 256}),
    );
    let signed = ok(
        srv,
        "POST",
        "/v1/pki/root/sign-intermediate",
        json!({"csr": s(&csr, "csr"), "format": "pem_bundle", "ttl": "43800h"}),
    );
    let set = ok(
        srv,
        "POST",
        "/v1/pki_int/intermediate/set-signed",
        json!({"certificate": s(&signed, "certificate")}),
    );
    assert_eq!(
        set["data"]["imported_issuers"].as_array().unwrap().len(),
        2,
        "{set}"
    );
    let int_pem = s(&signed, "certificate")
        .split_inclusive("-----END CERTIFICATE-----")
        .next()
        .unwrap()
        .to_string();
    (s(&root, "certificate"), int_pem)
}

#[test]
fn chain_verifies_and_shows_what_the_role_allows() {
    let srv = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    let (root, int) = root_and_intermediate(&srv);
    write(dir.path(), "root.pem", &root);
    write(dir.path(), "int.pem", &int);
    ok(
        &srv,
        "POST",
        "/v1/pki_int/roles/svc",
        json!({"allowed_domains": ["svc.example.com"], "allow_subdomains": true, "max_ttl": "24h", "key_type": "ec", "key_bits": 256, "client_flag": false}),
    );
    let leaf = ok(
        &srv,
        "POST",
        "/v1/pki_int/issue/svc",
        json!({"common_name": "api.svc.example.com", "alt_names": "db.svc.example.com", "ip_sans": "127.0.0.1", "ttl": "1h"}),
    );
    assert_eq!(leaf["data"]["private_key_type"], "ec");
    assert_eq!(leaf["data"]["ca_chain"].as_array().unwrap().len(), 2);
    write(dir.path(), "leaf.pem", &s(&leaf, "certificate"));
    let (good, out) = openssl(
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "int.pem",
            "leaf.pem",
        ],
        dir.path(),
    );
    assert!(
        good && out.contains("leaf.pem: OK"),
        "openssl verify: {out}"
    );
    let (_, text) = openssl(&["x509", "-in", "leaf.pem", "-noout", "-text"], dir.path());
    for want in [
        "DNS:api.svc.example.com",
        "DNS:db.svc.example.com",
        "IP Address:127.0.0.1",
        "TLS Web Server Authentication",
        "Digital Signature",
        "Key Agreement",
        "CA Issuers - URI:",
        "OCSP - URI:",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    assert!(
        !text.contains("TLS Web Client Authentication"),
        "client_flag=false: {text}"
    );
    let nb = leaf["data"]["not_before"].as_i64().unwrap();
    let exp = leaf["data"]["expiration"].as_i64().unwrap();
    assert_eq!(exp - nb, 3600 + 30, "1h plus the 30 s backdating");
    // A TTL above the role's max is capped with Vault's warning.
    let capped = ok(
        &srv,
        "POST",
        "/v1/pki_int/issue/svc",
        json!({"common_name": "b.svc.example.com", "ttl": "100h"}),
    );
    assert_eq!(
        capped["warnings"][0],
        "TTL \"100h0m0s\" is longer than permitted maxTTL \"24h0m0s\", so maxTTL is being used"
    );
    // The CA endpoints need no token and answer with Vault's content types.
    let pem = srv.call("GET", "/v1/pki/ca/pem", None, None);
    expect_status(&pem, 200, "ca/pem");
    assert_eq!(
        pem.header("content-type"),
        Some("application/pem-certificate-chain")
    );
    assert_eq!(pem.text(), root);
    let der = srv.call("GET", "/v1/pki/ca", None, None);
    assert_eq!(der.header("content-type"), Some("application/pkix-cert"));
    std::fs::write(dir.path().join("ca.der"), &der.body).unwrap();
    let (good, _) = openssl(
        &["x509", "-inform", "DER", "-in", "ca.der", "-noout"],
        dir.path(),
    );
    assert!(good, "ca is DER");
    let chain = srv.call("GET", "/v1/pki_int/ca_chain", None, None);
    assert_eq!(chain.header("content-type"), Some("application/pkix-cert"));
    assert_eq!(chain.text().matches("BEGIN CERTIFICATE").count(), 2);
    let serial = s(&leaf, "serial_number");
    let read = srv.call("GET", &format!("/v1/pki_int/cert/{serial}"), None, None);
    expect_status(&read, 200, "cert/:serial");
    assert_eq!(read.json()["data"]["revocation_time"], 0);
    let listed = srv.list("/v1/pki_int/certs");
    assert!(common::list_keys(&listed).contains(&serial));
    let issuers = srv.list("/v1/pki/issuers");
    let v = issuers.json();
    let id = common::list_keys(&issuers)[0].clone();
    assert_eq!(v["data"]["key_info"][&id]["issuer_name"], "root-2026");
    assert_eq!(v["data"]["key_info"][&id]["is_default"], true);
    let def = srv.get("/v1/pki/issuer/default");
    assert_eq!(
        def.json()["data"]["revocation_signature_algorithm"],
        "SHA256WithRSA"
    );
}

#[test]
fn refusals_carry_vaults_messages() {
    let srv = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    ok(&srv, "POST", "/v1/sys/mounts/pki", json!({"type": "pki"}));
    let before = srv.call("GET", "/v1/pki/ca/pem", None, None);
    expect_status(&before, 204, "ca/pem before a root");
    let bad = srv.post(
        "/v1/pki/root/generate/sideways",
        json!({"common_name": "example.com"}),
    );
    expect_status(&bad, 400, "bad exported type");
    ok(
        &srv,
        "POST",
        "/v1/pki/root/generate/internal",
        json!({"common_name": "example.com", "ttl": "720h"}),
    );
    ok(
        &srv,
        "POST",
        "/v1/pki/roles/web",
        json!({"allowed_domains": ["example.com"], "allow_subdomains": true, "allow_ip_sans": false, "max_ttl": "72h"}),
    );
    let r = srv.post("/v1/pki/issue/web", json!({"common_name": "evil.org"}));
    expect_status(&r, 400, "name outside the role");
    assert_eq!(
        r.errors(),
        vec!["common name evil.org not allowed by this role"]
    );
    let r = srv.post(
        "/v1/pki/issue/web",
        json!({"common_name": "a.example.com", "alt_names": "b.evil.org"}),
    );
    assert_eq!(
        r.errors(),
        vec!["subject alternate name b.evil.org not allowed by this role"]
    );
    let r = srv.post(
        "/v1/pki/issue/web",
        json!({"common_name": "a.example.com", "ip_sans": "10.0.0.1"}),
    );
    expect_status(&r, 400, "IP SAN not allowed");
    assert_eq!(
        r.errors(),
        vec!["IP Subject Alternative Names are not allowed in this role, but was provided [10.0.0.1]"]
    );
    let r = srv.post(
        "/v1/pki/issue/nope",
        json!({"common_name": "a.example.com"}),
    );
    assert_eq!(r.errors(), vec!["unknown role: nope"]);
    let r = srv.post(
        "/v1/pki/roles/bad",
        json!({"allowed_domains": ["example.com"], "max_ttl": "a long time"}),
    );
    assert_eq!(
        r.errors(),
        vec!["Field validation failed: error converting input for field \"max_ttl\": time: invalid duration \"a long time\""]
    );
    let missing = srv.get("/v1/pki/roles/nope");
    expect_status(&missing, 404, "missing role");
    // A CSR with a 1024-bit RSA key.
    let (made, out) = openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "small.key",
            "-subj",
            "/CN=a.example.com",
            "-out",
            "small.csr",
        ],
        dir.path(),
    );
    assert!(made, "openssl req: {out}");
    let csr = std::fs::read_to_string(dir.path().join("small.csr")).unwrap();
    let r = srv.post("/v1/pki/sign/web", json!({"csr": csr}));
    expect_status(&r, 400, "small key");
    assert_eq!(
        r.errors(),
        vec!["role requires a minimum of a 2048-bit key, but CSR's key is 1024 bits"]
    );
    // A 2048-bit one is signed and verifies.
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ok.key",
            "-subj",
            "/CN=c.example.com",
            "-out",
            "ok.csr",
        ],
        dir.path(),
    );
    let csr = std::fs::read_to_string(dir.path().join("ok.csr")).unwrap();
    let signed = ok(
        &srv,
        "POST",
        "/v1/pki/sign/web",
        json!({"csr": csr, "ttl": "1h"}),
    );
    assert!(signed["data"].get("private_key").is_none());
    write(dir.path(), "c.pem", &s(&signed, "certificate"));
    write(dir.path(), "root.pem", &s(&signed, "issuing_ca"));
    let (good, out) = openssl(&["verify", "-CAfile", "root.pem", "c.pem"], dir.path());
    assert!(good, "{out}");
    let r = srv.post("/v1/pki/sign/web", json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot a csr\n-----END CERTIFICATE REQUEST-----\n"}));
    assert_eq!(r.errors(), vec!["csr contains no data"]);
    let r = srv.post("/v1/pki/revoke", json!({}));
    assert_eq!(
        r.errors(),
        vec!["The serial number or certificate to revoke must be provided."]
    );
    let r = srv.post("/v1/pki/revoke", json!({"serial_number": "11:22:33"}));
    assert_eq!(
        r.errors(),
        vec!["certificate with serial 11:22:33 not found."]
    );
    let r = srv.post("/v1/pki/intermediate/set-signed", json!({}));
    assert_eq!(
        r.errors(),
        vec!["'pem_bundle' and 'certificate' parameters were empty"]
    );
}

/// Issues a leaf from `pki` with role `web` and writes it and the root.
fn issue_leaf(srv: &Server, dir: &Path, name: &str, cn: &str) -> Value {
    let leaf = ok(
        srv,
        "POST",
        "/v1/pki/issue/web",
        json!({"common_name": cn, "ttl": "1h"}),
    );
    write(dir, &format!("{name}.pem"), &s(&leaf, "certificate"));
    write(dir, "root.pem", &s(&leaf, "issuing_ca"));
    leaf
}

#[test]
fn revocation_shows_in_the_crl_and_ocsp() {
    let srv = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    ok(&srv, "POST", "/v1/sys/mounts/pki", json!({"type": "pki"}));
    ok(
        &srv,
        "POST",
        "/v1/pki/root/generate/internal",
        json!({"common_name": "example.com", "ttl": "720h", "key_type": "ec"}),
    );
    ok(
        &srv,
        "POST",
        "/v1/pki/roles/web",
        json!({"allowed_domains": ["example.com"], "allow_subdomains": true, "key_type": "ec"}),
    );
    let bad = issue_leaf(&srv, dir.path(), "bad", "bad.example.com");
    issue_leaf(&srv, dir.path(), "good", "good.example.com");
    let serial = s(&bad, "serial_number");
    let r = ok(
        &srv,
        "POST",
        "/v1/pki/revoke",
        json!({"serial_number": serial}),
    );
    assert_eq!(r["data"]["state"], "revoked");
    let again = ok(
        &srv,
        "POST",
        "/v1/pki/revoke",
        json!({"serial_number": serial}),
    );
    assert_eq!(
        again["data"]["revocation_time"],
        r["data"]["revocation_time"]
    );
    assert!(common::list_keys(&srv.list("/v1/pki/certs/revoked")).contains(&serial));
    let crl = srv.call("GET", "/v1/pki/crl", None, None);
    expect_status(&crl, 200, "crl");
    assert_eq!(crl.header("content-type"), Some("application/pkix-crl"));
    std::fs::write(dir.path().join("crl.der"), &crl.body).unwrap();
    let (good, text) = openssl(
        &[
            "crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text", "-CAfile", "root.pem",
        ],
        dir.path(),
    );
    assert!(good, "openssl crl: {text}");
    assert!(text.contains("verify OK"), "CRL signature: {text}");
    let hex = serial.replace(':', "").to_uppercase();
    assert!(text.contains(&hex), "serial {hex} not in CRL:\n{text}");
    let pem = srv.call("GET", "/v1/pki/crl/pem", None, None);
    assert_eq!(pem.header("content-type"), Some("application/x-pem-file"));
    assert!(pem.text().starts_with("-----BEGIN X509 CRL-----"));
    let rot = ok(&srv, "GET", "/v1/pki/crl/rotate", Value::Null);
    assert_eq!(rot["data"]["success"], true);
    // The CRL the certificate's verification uses.
    write(dir.path(), "crl.pem", &pem.text());
    let (good, out) = openssl(
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "root.pem",
            "-CRLfile",
            "crl.pem",
            "bad.pem",
        ],
        dir.path(),
    );
    assert!(
        !good && out.contains("revoked"),
        "revoked leaf verifies: {out}"
    );
    // OCSP (openssl POSTs DER).
    let url = format!("{}/v1/pki/ocsp", srv.addr());
    for (name, want) in [("bad", "bad.pem: revoked"), ("good", "good.pem: good")] {
        let (_, out) = openssl(
            &[
                "ocsp",
                "-issuer",
                "root.pem",
                "-cert",
                &format!("{name}.pem"),
                "-url",
                &url,
                "-CAfile",
                "root.pem",
            ],
            dir.path(),
        );
        assert!(out.contains(want), "openssl ocsp {name}: {out}");
        assert!(
            out.contains("Response verify OK"),
            "openssl ocsp {name}: {out}"
        );
    }
    // OCSP GET: the base64 request in the path.
    let (made, out) = openssl(
        &[
            "ocsp",
            "-issuer",
            "root.pem",
            "-cert",
            "bad.pem",
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
        dir.path(),
    );
    assert!(made, "openssl ocsp -reqout: {out}");
    use base64::Engine as _;
    let req = std::fs::read(dir.path().join("req.der")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(req);
    let escaped: String = b64
        .chars()
        .map(|c| match c {
            '+' => "%2B".to_string(),
            '/' => "%2F".to_string(),
            '=' => "%3D".to_string(),
            c => c.to_string(),
        })
        .collect();
    let got = srv.call("GET", &format!("/v1/pki/ocsp/{escaped}"), None, None);
    expect_status(&got, 200, "ocsp GET");
    assert_eq!(
        got.header("content-type"),
        Some("application/ocsp-response")
    );
    std::fs::write(dir.path().join("resp.der"), &got.body).unwrap();
    let (_, out) = openssl(
        &["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"],
        dir.path(),
    );
    assert!(
        out.contains("Cert Status: revoked"),
        "ocsp GET answer: {out}"
    );
    // Tidy answers 202 with Vault's warnings.
    let t = srv.post("/v1/pki/tidy", json!({}));
    expect_status(&t, 202, "tidy with nothing selected");
    assert!(t.json()["warnings"][0]
        .as_str()
        .unwrap()
        .starts_with("Manual tidy requested"));
    let t = srv.post(
        "/v1/pki/tidy",
        json!({"tidy_cert_store": true, "tidy_revoked_certs": true, "safety_buffer": "1s"}),
    );
    expect_status(&t, 202, "tidy");
    let st = srv.get("/v1/pki/tidy-status").json();
    assert_eq!(st["data"]["state"], "Finished");
}

#[test]
fn leased_certificate_revoked_through_sys_leases() {
    let srv = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    ok(&srv, "POST", "/v1/sys/mounts/pki", json!({"type": "pki"}));
    ok(
        &srv,
        "POST",
        "/v1/pki/root/generate/internal",
        json!({"common_name": "example.com", "ttl": "720h", "key_type": "ec"}),
    );
    ok(
        &srv,
        "POST",
        "/v1/pki/roles/leased",
        json!({"allow_any_name": true, "generate_lease": true, "key_type": "ec"}),
    );
    let leaf = ok(
        &srv,
        "POST",
        "/v1/pki/issue/leased",
        json!({"common_name": "svc-1", "ttl": "1h"}),
    );
    let lease = leaf["lease_id"].as_str().unwrap().to_string();
    assert!(lease.starts_with("pki/issue/leased/"), "{leaf}");
    assert!(leaf["lease_duration"].as_u64().unwrap() > 3500);
    write(dir.path(), "root.pem", &s(&leaf, "issuing_ca"));
    let look = ok(
        &srv,
        "PUT",
        "/v1/sys/leases/lookup",
        json!({"lease_id": lease}),
    );
    assert_eq!(look["data"]["id"], lease);
    assert!(common::list_keys(&srv.list("/v1/sys/leases/lookup/pki/issue/leased/")).len() == 1);
    ok(
        &srv,
        "PUT",
        "/v1/sys/leases/revoke",
        json!({"lease_id": lease}),
    );
    let look = srv.put("/v1/sys/leases/lookup", json!({"lease_id": lease}));
    expect_status(&look, 400, "revoked lease is gone");
    let crl = srv.call("GET", "/v1/pki/crl", None, None);
    std::fs::write(dir.path().join("crl.der"), &crl.body).unwrap();
    let (_, text) = openssl(
        &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"],
        dir.path(),
    );
    let hex = s(&leaf, "serial_number").replace(':', "").to_uppercase();
    assert!(
        text.contains(&hex),
        "leased certificate not in the CRL:\n{text}"
    );
}

fn bao(srv: &Server, home: &Path, args: &[&str]) -> String {
    let bin = common::repo_root().join(".venv/bin/bao");
    assert!(
        bin.is_file(),
        "{} is missing: run `make test`",
        bin.display()
    );
    let mut cmd = Command::new(bin);
    common::clean_env(&mut cmd);
    cmd.env("HOME", home)
        .env("BAO_ADDR", srv.addr())
        .env("VAULT_ADDR", srv.addr())
        .env("BAO_TOKEN", ROOT)
        .env("VAULT_TOKEN", ROOT)
        .env("NO_COLOR", "1")
        .current_dir(home)
        .args(args);
    let out = common::run_with_timeout(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "bao {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bao_cli_root_intermediate_issue_revoke() {
    let srv = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bao(&srv, d, &["secrets", "enable", "pki"]);
    bao(
        &srv,
        d,
        &["secrets", "tune", "-max-lease-ttl=87600h", "pki"],
    );
    let root = bao(
        &srv,
        d,
        &[
            "write",
            "-field=certificate",
            "pki/root/generate/internal",
            "common_name=example.com",
            "issuer_name=root-2026",
            "ttl=87600h",
        ],
    );
    write(d, "root.pem", &root);
    bao(
        &srv,
        d,
        &[
            "write",
            "pki/config/urls",
            &format!("issuing_certificates={}/v1/pki/ca", srv.addr()),
            &format!("crl_distribution_points={}/v1/pki/crl", srv.addr()),
        ],
    );
    bao(&srv, d, &["secrets", "enable", "-path=pki_int", "pki"]);
    bao(
        &srv,
        d,
        &["secrets", "tune", "-max-lease-ttl=43800h", "pki_int"],
    );
    let csr = bao(
        &srv,
        d,
        &[
            "write",
            "-field=csr",
            "pki_int/intermediate/generate/internal",
            "common_name=example.com Intermediate Authority",
        ],
    );
    write(d, "int.csr", &csr);
    let int = bao(
        &srv,
        d,
        &[
            "write",
            "-field=certificate",
            "pki/root/sign-intermediate",
            "csr=@int.csr",
            "format=pem_bundle",
            "ttl=43800h",
        ],
    );
    write(d, "int.pem", &int);
    bao(
        &srv,
        d,
        &[
            "write",
            "pki_int/intermediate/set-signed",
            "certificate=@int.pem",
        ],
    );
    bao(
        &srv,
        d,
        &[
            "write",
            "pki_int/roles/example-dot-com",
            "allowed_domains=example.com",
            "allow_subdomains=true",
            "max_ttl=720h",
        ],
    );
    let issued = bao(
        &srv,
        d,
        &[
            "write",
            "-format=json",
            "pki_int/issue/example-dot-com",
            "common_name=test.example.com",
            "ttl=24h",
        ],
    );
    let v: Value = serde_json::from_str(&issued).unwrap();
    write(d, "leaf.pem", v["data"]["certificate"].as_str().unwrap());
    let (good, out) = openssl(
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "int.pem",
            "leaf.pem",
        ],
        d,
    );
    assert!(good, "openssl verify: {out}");
    let serial = v["data"]["serial_number"].as_str().unwrap();
    bao(
        &srv,
        d,
        &[
            "write",
            "pki_int/revoke",
            &format!("serial_number={serial}"),
        ],
    );
    let crl = srv.call("GET", "/v1/pki_int/crl/pem", None, None);
    write(d, "crl.pem", &crl.text());
    let (_, text) = openssl(&["crl", "-in", "crl.pem", "-noout", "-text"], d);
    assert!(
        text.contains(&serial.replace(':', "").to_uppercase()),
        "{text}"
    );
    let listed = bao(&srv, d, &["list", "-format=json", "pki_int/certs"]);
    assert!(listed.contains(serial));
}

#[test]
fn standby_issues_no_store_certificates_without_the_active_node() {
    let _serial = common::cluster::SERIAL
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let c = common::cluster::Cluster::start("pki", 2);
    let active = c.active_index().expect("an active node");
    let standby = c.standby_index(active);
    let call = |i: usize, m: &str, p: &str, b: Value| {
        let r = c.call(i, m, p, Some(&b));
        assert!(
            r.status == 200 || r.status == 204,
            "{m} {p} on node {i}: {} {}",
            r.status,
            r.text()
        );
        r.json_opt().unwrap_or(Value::Null)
    };
    call(active, "POST", "/v1/sys/mounts/pki", json!({"type": "pki"}));
    call(
        active,
        "POST",
        "/v1/pki/root/generate/internal",
        json!({"common_name": "fleet.internal", "ttl": "720h", "key_type": "ec"}),
    );
    call(
        active,
        "POST",
        "/v1/pki/roles/fleet",
        json!({"allowed_domains": ["svc.fleet.internal"], "allow_subdomains": true, "no_store": true, "key_type": "ec", "max_ttl": "1h"}),
    );
    // Warm the standby (mount table and CA cache) before counting.
    common::cluster::wait_until("the standby sees the role", Duration::from_secs(20), || {
        c.call(
            standby,
            "POST",
            "/v1/pki/issue/fleet",
            Some(&json!({"common_name": "warm.svc.fleet.internal"})),
        )
        .status
            == 200
    });
    let count = |i: usize| -> f64 {
        c.call(i, "GET", "/v1/sys/metrics?format=prometheus", None)
            .text()
            .lines()
            .filter(|l| l.starts_with("strongroom_http_requests_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before = count(active);
    for n in 0..10 {
        let v = call(
            standby,
            "POST",
            "/v1/pki/issue/fleet",
            json!({"common_name": format!("s{n}.svc.fleet.internal"), "ttl": "10m"}),
        );
        assert!(v["data"]["certificate"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
    }
    let after = count(active);
    assert!(
        after - before <= 2.0,
        "standby issues reached the active node ({before} -> {after})"
    );
    // A stored issue from the standby is forwarded and lands on the active node.
    call(
        active,
        "POST",
        "/v1/pki/roles/stored",
        json!({"allow_any_name": true, "key_type": "ec"}),
    );
    let v = call(
        standby,
        "POST",
        "/v1/pki/issue/stored",
        json!({"common_name": "kept", "ttl": "1h"}),
    );
    let serial = v["data"]["serial_number"].as_str().unwrap().to_string();
    let read = c.call(active, "GET", &format!("/v1/pki/cert/{serial}"), None);
    expect_status(&read, 200, "forwarded issue is stored");
}
