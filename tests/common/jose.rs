//! Signing keys made in the test (openssl: RSA 2048, EC P-256, Ed25519)
//! and JWTs signed with them, for the JWT and Kubernetes login tests.

use std::process::Command;

use jsonwebtoken::{jwk::Jwk, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// A private key for signing and its public PEM for the server.
pub struct TestKey {
    pub alg: Algorithm,
    pub private_pem: String,
    pub public_pem: String,
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

impl TestKey {
    pub fn new(alg: Algorithm) -> TestKey {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.pem");
        let p = path.to_str().unwrap();
        match alg {
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 => {
                openssl(&[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    p,
                ])
            }
            Algorithm::ES256 => openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                p,
            ]),
            Algorithm::EdDSA => openssl(&["genpkey", "-algorithm", "ed25519", "-out", p]),
            other => panic!("no test key for {other:?}"),
        };
        let private_pem = std::fs::read_to_string(&path).expect("key file");
        let public_pem = openssl(&["pkey", "-in", p, "-pubout"]);
        TestKey {
            alg,
            private_pem,
            public_pem,
        }
    }

    /// A self-signed certificate for this key (PEM), as `pem_keys` and
    /// `jwt_validation_pubkeys` also accept.
    pub fn certificate(&self) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("k.pem");
        std::fs::write(&key, &self.private_pem).unwrap();
        openssl(&[
            "req",
            "-x509",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            "/CN=signer",
            "-days",
            "2",
        ])
    }

    pub fn encoding_key(&self) -> EncodingKey {
        let b = self.private_pem.as_bytes();
        match self.alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(b),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(b),
            _ => EncodingKey::from_rsa_pem(b),
        }
        .expect("encoding key")
    }

    /// A compact JWS of `claims`, with `kid` in the header if given.
    pub fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut h = Header::new(self.alg);
        h.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&h, claims, &self.encoding_key()).expect("sign")
    }

    /// The public key as a JWK with `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.encoding_key(), self.alg).expect("jwk");
        jwk.common.key_id = Some(kid.to_string());
        let mut v = serde_json::to_value(jwk).expect("jwk json");
        v["use"] = json!("sig");
        v
    }
}

/// Base64url without padding (for hand-made tokens such as `alg: none`).
pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token whose header says `alg: none`, with an empty signature.
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    )
}

/// An HS256 token whose HMAC secret is the server's public key PEM (the
/// classic algorithm-confusion attack).
pub fn hs256_with(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("hmac key"),
    )
    .expect("sign hs256")
}

/// Unix time now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A test CA and a server certificate for 127.0.0.1 it signed (PEM):
/// `(ca_cert, server_cert, server_key)`.
pub fn tls_ca_and_server() -> (String, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    let (ca_key, ca_pem) = (p("ca.key"), p("ca.pem"));
    ca.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca_pem,
        "-days",
        "2",
        "-subj",
        "/CN=strongroom-test-ca",
    ]);
    openssl(&ca);
    let (leaf_key, csr, leaf) = (p("leaf.key"), p("leaf.csr"), p("leaf.pem"));
    let mut req = vec!["req"];
    req.extend(ec);
    req.extend(["-keyout", &leaf_key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
    openssl(&req);
    let ext = p("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca_pem,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &leaf,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
    let read = |f: &str| std::fs::read_to_string(f).unwrap();
    (read(&ca_pem), read(&leaf), read(&leaf_key))
}
