//! TLS client-certificate login (`auth/cert`) against the real binary: a CA,
//! server and client certificates made here with the openssl CLI, a server
//! with one plain listener (setup) and three TLS listeners (Vault's default
//! of asking for any client certificate, `tls_require_and_verify_client_cert`
//! with `tls_client_ca_file`, and `tls_disable_client_certs`), logins with
//! curl, the bao CLI and hvac.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{expect_status, Server};
use serde_json::{json, Value};

const NO_CHAIN: &str = "invalid certificate or no client certificate supplied";
const NO_MATCH: &str =
    "no chain matching all constraints could be found for this login certificate";

/// Runs openssl in `dir`; panics with its output on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl 3 must be on PATH");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const CA_CONF: &str = "[ ca ]\ndefault_ca = testca\n[ testca ]\ndir = .\ndatabase = ./index.txt\nnew_certs_dir = ./newcerts\ncertificate = ./ca.pem\nprivate_key = ./ca.key\nserial = ./serial\ndefault_md = sha256\npolicy = anything\nunique_subject = no\ndefault_crl_days = 30\n[ anything ]\ncommonName = supplied\norganizationalUnitName = optional\n";

/// A test PKI: a CA (an `openssl ca` database, so it can revoke and issue
/// CRLs), the server's TLS certificate, and client certificates.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("ca.cnf"), CA_CONF).unwrap();
        fs::create_dir(d.join("newcerts")).unwrap();
        fs::write(d.join("index.txt"), "").unwrap();
        fs::write(d.join("serial"), "1000\n").unwrap();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "30",
                "-subj",
                "/CN=Strongroom Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            ],
        );
        let pki = Pki { dir };
        pki.issue(
            "server",
            "/CN=localhost",
            "extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n",
            None,
        );
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn path_str(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn ca_pem(&self) -> String {
        fs::read_to_string(self.path("ca.pem")).unwrap()
    }

    /// Issues `<name>.pem`/`<name>.key` for `subject` with the extensions
    /// `ext` (openssl config lines); `dates` backdates it (YYYYMMDDHHMMSSZ).
    fn issue(&self, name: &str, subject: &str, ext: &str, dates: Option<(&str, &str)>) {
        let d = self.dir.path();
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let extfile = format!("{name}.ext");
        fs::write(
            d.join(&extfile),
            format!("basicConstraints = CA:FALSE\n{ext}"),
        )
        .unwrap();
        openssl(
            d,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                subject,
            ],
        );
        let mut args = vec![
            "ca", "-batch", "-config", "ca.cnf", "-extfile", &extfile, "-in", &csr, "-out", &pem,
        ];
        match dates {
            Some((start, end)) => args.extend(["-startdate", start, "-enddate", end]),
            None => args.extend(["-days", "7"]),
        }
        openssl(d, &args);
    }

    /// A client certificate with the client-auth key usage.
    fn client(&self, name: &str, cn: &str, dns: &str) {
        self.issue(
            name,
            &format!("/CN={cn}/OU=payments"),
            &format!("extendedKeyUsage = clientAuth\nsubjectAltName = DNS:{dns}\n"),
            None,
        );
    }

    /// Revokes `<name>.pem` and returns the CA's new CRL (PEM).
    fn revoke(&self, name: &str) -> String {
        let d = self.dir.path();
        let pem = format!("{name}.pem");
        openssl(d, &["ca", "-config", "ca.cnf", "-revoke", &pem]);
        openssl(
            d,
            &["ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem"],
        );
        fs::read_to_string(d.join("crl.pem")).unwrap()
    }

    /// A self-signed client certificate nobody trusts.
    fn untrusted(&self, name: &str) {
        let key = format!("{name}.key");
        let pem = format!("{name}.pem");
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &pem,
                "-days",
                "7",
                "-subj",
                "/CN=intruder",
                "-addext",
                "extendedKeyUsage=clientAuth",
            ],
        );
    }
}

/// A server on inmem storage with a plain listener for setup and three TLS
/// listeners, initialized and unsealed, with `auth/cert` enabled.
struct Fixture {
    pki: Pki,
    server: Server,
    root: String,
    /// Vault's default: asks for a client certificate, accepts any.
    tls: u16,
    /// `tls_require_and_verify_client_cert` + `tls_client_ca_file`.
    require: u16,
    /// `tls_disable_client_certs`.
    disabled: u16,
}

impl Fixture {
    fn new() -> Fixture {
        let pki = Pki::new();
        let (tls, require, disabled) = (
            common::free_port(),
            common::free_port(),
            common::free_port(),
        );
        let (cert, key, ca) = (
            pki.path_str("server.pem"),
            pki.path_str("server.key"),
            pki.path_str("ca.pem"),
        );
        let hcl = format!(
            "storage \"inmem\" {{}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{{PORT}}\"\n  tls_disable = true\n}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{tls}\"\n  tls_cert_file = \"{cert}\"\n  tls_key_file = \"{key}\"\n}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{require}\"\n  tls_cert_file = \"{cert}\"\n  tls_key_file = \"{key}\"\n  tls_require_and_verify_client_cert = true\n  tls_client_ca_file = \"{ca}\"\n}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{disabled}\"\n  tls_cert_file = \"{cert}\"\n  tls_key_file = \"{key}\"\n  tls_disable_client_certs = true\n}}\n\
             disable_mlock = true\n"
        );
        let server = Server::with_hcl(&hcl);
        let r = server.call(
            "PUT",
            "/v1/sys/init",
            None,
            Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
        );
        expect_status(&r, 200, "sys/init");
        let v = r.json();
        let root = v["root_token"].as_str().unwrap().to_string();
        let key = v["keys"][0].as_str().unwrap().to_string();
        let r = server.call("PUT", "/v1/sys/unseal", None, Some(&json!({ "key": key })));
        expect_status(&r, 200, "unseal");
        let f = Fixture {
            pki,
            server,
            root,
            tls,
            require,
            disabled,
        };
        let r = f.admin("POST", "/v1/sys/auth/cert", Some(json!({"type": "cert"})));
        expect_status(&r, 204, "enable cert");
        f
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> common::Response {
        self.server
            .call(method, path, Some(&self.root), body.as_ref())
    }

    /// Trusts the CA as `certs/<name>` with extra settings.
    fn trust(&self, name: &str, extra: Value) {
        let mut body = json!({"certificate": self.pki.ca_pem()});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let r = self.admin("POST", &format!("/v1/auth/cert/certs/{name}"), Some(body));
        expect_status(&r, 204, "write certs/");
    }

    /// curl over TLS to `port` with the client certificate `client` (none
    /// if `None`): `Ok((status, body))`, or `Err(curl's exit code and
    /// stderr)` when the TLS handshake or the connection failed.
    fn curl(
        &self,
        port: u16,
        client: Option<&str>,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<(u16, Value), String> {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", "--cacert"])
            .arg(self.pki.path("ca.pem"))
            .args(["-X", method, "-w", "\n%{http_code}"]);
        if let Some(c) = client {
            cmd.arg("--cert")
                .arg(self.pki.path(&format!("{c}.pem")))
                .arg("--key")
                .arg(self.pki.path(&format!("{c}.key")));
        }
        if !body.is_empty() {
            cmd.args(["-H", "Content-Type: application/json", "-d", body]);
        }
        cmd.arg(format!("https://127.0.0.1:{port}{path}"));
        let out = cmd.output().expect("curl must be on PATH");
        if !out.status.success() {
            return Err(format!(
                "curl exited {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let status = code.trim().parse().unwrap_or(0);
        let json = serde_json::from_str(body).unwrap_or(Value::Null);
        Ok((status, json))
    }

    fn login(&self, port: u16, client: Option<&str>, body: &str) -> (u16, Value) {
        self.curl(port, client, "POST", "/v1/auth/cert/login", body)
            .unwrap_or_else(|e| {
                panic!(
                    "login over TLS: {e}\nserver stderr:\n{}",
                    self.server.stderr()
                )
            })
    }
}

fn errors(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn login_over_tls_gets_the_roles_policies() {
    let f = Fixture::new();
    f.trust(
        "web",
        json!({"token_policies": "web,ops", "display_name": "web-clients"}),
    );
    f.pki.client("app", "app.example.com", "app.example.com");

    let (status, v) = f.login(f.tls, Some("app"), "");
    assert_eq!(status, 200, "{v}");
    let auth = &v["auth"];
    assert_eq!(auth["policies"], json!(["default", "ops", "web"]), "{v}");
    assert_eq!(auth["metadata"]["cert_name"], "web");
    assert_eq!(auth["metadata"]["common_name"], "app.example.com");
    assert_eq!(auth["renewable"], true);
    let token = auth["client_token"].as_str().unwrap().to_string();

    // The token works, and carries the role's policies.
    let r = f
        .server
        .call("GET", "/v1/auth/token/lookup-self", Some(&token), None);
    expect_status(&r, 200, "lookup-self");
    let data = r.json()["data"].clone();
    assert_eq!(data["policies"], json!(["default", "ops", "web"]), "{data}");
    assert!(
        data["display_name"]
            .as_str()
            .unwrap()
            .contains("web-clients"),
        "{data}"
    );

    // `name` picks the entry; an unknown one matches nothing.
    let (status, v) = f.login(f.tls, Some("app"), r#"{"name": "web"}"#);
    assert_eq!(status, 200, "{v}");
    let (status, v) = f.login(f.tls, Some("app"), r#"{"name": "nope"}"#);
    assert_eq!((status, errors(&v)), (400, vec![NO_CHAIN.to_string()]));

    // The plain listener carries no certificate at all.
    let r = f
        .server
        .call("POST", "/v1/auth/cert/login", None, Some(&json!({})));
    assert_eq!(r.status, 400);
    assert_eq!(r.errors(), vec!["client certificate must be supplied"]);
    // Nor does a TLS connection without one.
    let (status, v) = f.login(f.tls, None, "");
    assert_eq!(
        (status, errors(&v)),
        (400, vec!["client certificate must be supplied".to_string()])
    );
    // A header claiming a certificate is not one.
    let pem = fs::read_to_string(f.pki.path("app.pem")).unwrap();
    let one_line = pem.replace('\n', "");
    let r = f.server.raw(
        "POST",
        "/v1/auth/cert/login",
        &[("X-Strongroom-Forwarded-Client-Cert", &one_line)],
        Some(b"{}"),
    );
    assert_eq!(r.errors(), vec!["client certificate must be supplied"]);
}

#[test]
fn untrusted_expired_revoked_and_constrained_certificates_are_refused() {
    let f = Fixture::new();
    f.trust(
        "web",
        json!({"allowed_common_names": "*.example.com", "allowed_dns_sans": "*.example.com"}),
    );

    f.pki.untrusted("intruder");
    let (status, v) = f.login(f.tls, Some("intruder"), "");
    assert_eq!(
        (status, errors(&v)),
        (400, vec![NO_CHAIN.to_string()]),
        "untrusted"
    );

    f.pki.issue(
        "old",
        "/CN=old.example.com",
        "extendedKeyUsage = clientAuth\nsubjectAltName = DNS:old.example.com\n",
        Some(("20000101000000Z", "20010101000000Z")),
    );
    let (status, v) = f.login(f.tls, Some("old"), "");
    assert_eq!(status, 400, "expired: {v}");
    let e = errors(&v).join(" ");
    assert!(
        e.starts_with("failed to verify client's certificate: x509: certificate has expired or is not yet valid")
            && e.ends_with("is after 2001-01-01T00:00:00Z"),
        "expired: {e}"
    );

    // Common name outside allowed_common_names; DNS SAN outside allowed_dns_sans.
    f.pki.client("badcn", "app.other.org", "app.example.com");
    let (status, v) = f.login(f.tls, Some("badcn"), "");
    assert_eq!(
        (status, errors(&v)),
        (400, vec![NO_MATCH.to_string()]),
        "cn"
    );
    f.pki.client("baddns", "app.example.com", "app.other.org");
    let (status, v) = f.login(f.tls, Some("baddns"), "");
    assert_eq!(
        (status, errors(&v)),
        (400, vec![NO_MATCH.to_string()]),
        "dns"
    );

    // Good until revoked by a CRL; good again once the CRL is deleted.
    f.pki.client("good", "good.example.com", "good.example.com");
    let (status, v) = f.login(f.tls, Some("good"), "");
    assert_eq!(status, 200, "{v}");
    let crl = f.pki.revoke("good");
    let r = f.admin("POST", "/v1/auth/cert/crls/ca", Some(json!({ "crl": crl })));
    expect_status(&r, 204, "write crl");
    let (status, v) = f.login(f.tls, Some("good"), "");
    assert_eq!(
        (status, errors(&v)),
        (400, vec![NO_MATCH.to_string()]),
        "revoked"
    );
    let r = f.admin("GET", "/v1/auth/cert/crls/ca", None);
    expect_status(&r, 200, "read crl");
    assert_eq!(r.json()["data"]["serials"].as_object().unwrap().len(), 1);
    let r = f.admin("DELETE", "/v1/auth/cert/crls/ca", None);
    expect_status(&r, 204, "delete crl");
    let (status, v) = f.login(f.tls, Some("good"), "");
    assert_eq!(status, 200, "{v}");
}

#[test]
fn require_and_verify_and_disabled_client_certs() {
    let f = Fixture::new();
    f.trust("web", json!({"token_policies": "web"}));
    f.pki.client("app", "app.example.com", "app.example.com");
    f.pki.untrusted("intruder");

    // Required: no certificate, or one from another CA, fails the handshake.
    let e = f
        .curl(f.require, None, "GET", "/v1/sys/health", "")
        .expect_err("a handshake without a client certificate must fail");
    assert!(e.contains("curl exited"), "{e}");
    f.curl(f.require, Some("intruder"), "GET", "/v1/sys/health", "")
        .expect_err("a client certificate from another CA must fail the handshake");
    let (status, v) = f.login(f.require, Some("app"), "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["auth"]["policies"], json!(["default", "web"]));

    // Disabled: the handshake asks for nothing, so the login has no
    // certificate; it fails with a 400, and the listener keeps serving.
    let (status, v) = f.login(f.disabled, Some("app"), "");
    assert_eq!(
        (status, errors(&v)),
        (400, vec!["client certificate must be supplied".to_string()])
    );
    let (status, _) = f
        .curl(f.disabled, None, "GET", "/v1/sys/health", "")
        .unwrap();
    assert_eq!(status, 200);
}

fn venv_bin(name: &str) -> PathBuf {
    let p = common::repo_root().join(".venv/bin").join(name);
    assert!(
        p.is_file(),
        "{} is missing: the pinned test tools are not installed. Run `make test` \
         (it creates .venv/ from tests/requirements.txt) and try again.",
        p.display()
    );
    p
}

/// A client process pointed at the default TLS listener, trusting the CA,
/// with a private HOME.
fn client_cmd(program: PathBuf, f: &Fixture, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    common::clean_env(&mut cmd);
    let addr = format!("https://127.0.0.1:{}", f.tls);
    cmd.env("HOME", home)
        .env("VAULT_ADDR", &addr)
        .env("BAO_ADDR", &addr)
        .env("VAULT_CACERT", f.pki.path("ca.pem"))
        .env("BAO_CACERT", f.pki.path("ca.pem"))
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn bao_cli_and_hvac_log_in_with_a_certificate() {
    let f = Fixture::new();
    let home = tempfile::tempdir().unwrap();
    f.pki.client("app", "app.example.com", "app.example.com");

    // As an operator would: enable (already done), trust the CA, log in.
    let mut cmd = client_cmd(venv_bin("bao"), &f, home.path());
    cmd.env("BAO_TOKEN", &f.root)
        .env("VAULT_TOKEN", &f.root)
        .args([
            "write",
            "auth/cert/certs/web",
            &format!("certificate=@{}", f.pki.path_str("ca.pem")),
            "token_policies=web",
            "allowed_common_names=*.example.com",
        ]);
    let out = common::run_with_timeout(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "bao write: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut cmd = client_cmd(venv_bin("bao"), &f, home.path());
    cmd.args([
        "login",
        "-method=cert",
        "-format=json",
        &format!("-client-cert={}", f.pki.path_str("app.pem")),
        &format!("-client-key={}", f.pki.path_str("app.key")),
        "name=web",
    ]);
    let out = common::run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bao login -method=cert: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(v["auth"]["policies"], json!(["default", "web"]), "{v}");
    assert_eq!(v["auth"]["metadata"]["common_name"], "app.example.com");

    // bao login saved the token: `token lookup` uses it.
    let mut cmd = client_cmd(venv_bin("bao"), &f, home.path());
    cmd.args(["token", "lookup", "-format=json"]);
    let out = common::run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bao token lookup: {stdout}");
    assert!(stdout.contains("\"web\""), "{stdout}");

    // hvac, as its docs show: the client certificate on the session.
    let script = format!(
        r#"
import hvac, sys
c = hvac.Client(url="https://127.0.0.1:{port}", cert=("{cert}", "{key}"), verify="{ca}")
r = c.auth.cert.login(name="web")
assert r["auth"]["policies"] == ["default", "web"], r
assert c.is_authenticated()
bad = hvac.Client(url="https://127.0.0.1:{port}", cert=("{icert}", "{ikey}"), verify="{ca}")
try:
    bad.auth.cert.login()
    sys.exit("an untrusted certificate logged in")
except hvac.exceptions.InvalidRequest as e:
    assert "invalid certificate" in str(e), e
print("ok")
"#,
        port = f.tls,
        cert = f.pki.path_str("app.pem"),
        key = f.pki.path_str("app.key"),
        ca = f.pki.path_str("ca.pem"),
        icert = {
            f.pki.untrusted("intruder");
            f.pki.path_str("intruder.pem")
        },
        ikey = f.pki.path_str("intruder.key"),
    );
    let mut cmd = client_cmd(venv_bin("python"), &f, home.path());
    cmd.args(["-c", &script]);
    let out = common::run_with_timeout(cmd, Duration::from_secs(120));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "hvac: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cert_login_creates_an_entity_named_by_the_common_name() {
    let f = Fixture::new();
    f.trust("web", json!({"token_policies": "web"}));
    f.pki.client("app", "app.example.com", "app.example.com");
    let (status, v) = f.login(f.tls, Some("app"), "");
    assert_eq!(status, 200, "{v}");
    let entity_id = v["auth"]["entity_id"].as_str().unwrap().to_string();
    assert!(!entity_id.is_empty(), "a cert login has an entity: {v}");

    // The same certificate logs in as the same entity.
    let (_, again) = f.login(f.tls, Some("app"), "");
    assert_eq!(again["auth"]["entity_id"], json!(entity_id));

    let r = f.admin("GET", &format!("/v1/identity/entity/id/{entity_id}"), None);
    expect_status(&r, 200, "read entity");
    let aliases = r.json()["data"]["aliases"].clone();
    let accessor = f.admin("GET", "/v1/sys/auth", None).json()["data"]["cert/"]["accessor"].clone();
    assert!(
        aliases
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "app.example.com" && a["mount_accessor"] == accessor),
        "{aliases}"
    );
}

/// Through an HA standby: the standby runs the login, cannot write the
/// token, and forwards the request to the active node; the chain it
/// verified travels in the signed forwarding envelope
/// (`X-Strongroom-Forwarded-Client-Cert`), which only the active node's
/// check of the forwarding signature makes believable.
#[test]
fn login_through_a_standby() {
    use common::cluster::{self, health_status, wait_until};
    let _serial = cluster::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pki = Pki::new();
    pki.client("app", "app.example.com", "app.example.com");
    let table = cluster::unique_table("cert");
    let (cert, key) = (pki.path_str("server.pem"), pki.path_str("server.key"));
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let tls = common::free_port();
        let hcl = format!(
            "{}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{tls}\"\n  tls_cert_file = \"{cert}\"\n  tls_key_file = \"{key}\"\n}}\n",
            cluster::hcl(&table)
        );
        nodes.push((Server::with_hcl(&hcl), tls));
    }
    let mut root = String::new();
    wait_until("init to succeed", Duration::from_secs(30), || {
        let r = nodes[0].0.call(
            "PUT",
            "/v1/sys/init",
            None,
            Some(&json!({"recovery_shares": 1, "recovery_threshold": 1})),
        );
        if r.status == 200 {
            root = r.json()["root_token"].as_str().unwrap().to_string();
        }
        r.status == 200
    });
    let mut active = 0;
    wait_until("one active node", Duration::from_secs(40), || {
        let s: Vec<u16> = nodes.iter().map(|(n, _)| health_status(n)).collect();
        active = s.iter().position(|c| *c == 200).unwrap_or(0);
        s.iter().filter(|c| **c == 200).count() == 1 && s.iter().filter(|c| **c == 473).count() == 1
    });
    let standby = 1 - active;
    let a = &nodes[active].0;
    let r = a.call(
        "POST",
        "/v1/sys/auth/cert",
        Some(&root),
        Some(&json!({"type": "cert"})),
    );
    expect_status(&r, 204, "enable cert");
    let r = a.call(
        "POST",
        "/v1/auth/cert/certs/web",
        Some(&root),
        Some(&json!({"certificate": pki.ca_pem(), "token_policies": "web"})),
    );
    expect_status(&r, 204, "trust the CA");

    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "--cacert",
            &pki.path_str("ca.pem"),
        ])
        .args([
            "--cert",
            &pki.path_str("app.pem"),
            "--key",
            &pki.path_str("app.key"),
        ])
        .args(["-X", "POST", "-w", "\n%{http_code}"])
        .arg(format!(
            "https://127.0.0.1:{}/v1/auth/cert/login",
            nodes[standby].1
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    assert_eq!(code.trim(), "200", "login through the standby: {body}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["auth"]["policies"], json!(["default", "web"]), "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap();
    let r = a.call("GET", "/v1/auth/token/lookup-self", Some(token), None);
    expect_status(&r, 200, "the token the standby's login made");
}
