//! The TLS side of a listener: the server certificate and what the
//! handshake does with client certificates.
//!
//! Vault's TCP listener asks every client for a certificate and takes any it
//! is offered (Go's `tls.RequestClientCert`): the handshake only proves the
//! client holds the certificate's key (its `CertificateVerify` signature),
//! and trust is decided later by `auth/cert` against its own trusted
//! certificates. [`ClientCertPolicy`] picks that default, no request at all
//! (`tls_disable_client_certs`), or a handshake that requires a certificate
//! chaining to `tls_client_ca_file` (`tls_require_and_verify_client_cert`).
//! The certificates a client presented reach the logical request as
//! `client_cert_chain` (DER, leaf first); nothing else can set it.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::TlsAcceptor;

use crate::config::ClientCertPolicy;

/// Loads a rustls server config from PEM files, with the client-certificate
/// behavior `policy` asks for.
pub(crate) fn acceptor(
    cert_file: &Path,
    key_file: &Path,
    policy: &ClientCertPolicy,
) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| format!("reading tls_cert_file {}: {e}", cert_file.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("parsing tls_cert_file {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_cert_file {} holds no certificate",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("reading tls_key_file {}: {e}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = match policy {
        ClientCertPolicy::Disabled => builder.with_no_client_auth(),
        ClientCertPolicy::Request { ca_file } => {
            let hints = match ca_file {
                Some(path) => client_roots(path)?.subjects(),
                None => Vec::new(),
            };
            builder.with_client_cert_verifier(Arc::new(AnyClientCert {
                algorithms: provider.signature_verification_algorithms,
                hints,
            }))
        }
        ClientCertPolicy::Require { ca_file } => {
            let roots = match ca_file {
                Some(path) => client_roots(path)?,
                None => RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                },
            };
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("tls_client_ca_file: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The CA certificates of `tls_client_ca_file`.
fn client_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("reading tls_client_ca_file {}: {e}", path.display()))?
    {
        let cert =
            cert.map_err(|e| format!("parsing tls_client_ca_file {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("tls_client_ca_file {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "tls_client_ca_file {} holds no certificate",
            path.display()
        ));
    }
    Ok(roots)
}

/// The chain a client presented in the handshake, DER, leaf first (empty
/// when it presented none).
pub(crate) fn peer_chain<IO>(stream: &tokio_rustls::server::TlsStream<IO>) -> Vec<Vec<u8>> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|certs| certs.iter().map(|c| c.as_ref().to_vec()).collect())
        .unwrap_or_default()
}

/// Asks for a client certificate and accepts any, once the client has
/// signed the handshake with its key (Go's `tls.RequestClientCert`, what
/// Vault's listener does by default).
#[derive(Debug)]
struct AnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
    /// Subjects hinted to clients (`tls_client_ca_file`), possibly none.
    hints: Vec<DistinguishedName>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed server certificate and key in a temp dir.
    fn server_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k) = (dir.join("server.pem"), dir.join("server.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    #[test]
    fn every_client_cert_policy_builds() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = server_files(dir.path());
        let ca = Some(cert.clone());
        for policy in [
            ClientCertPolicy::Request { ca_file: None },
            ClientCertPolicy::Request {
                ca_file: ca.clone(),
            },
            ClientCertPolicy::Disabled,
            ClientCertPolicy::Require { ca_file: None },
            ClientCertPolicy::Require { ca_file: ca },
        ] {
            acceptor(&cert, &key, &policy).unwrap_or_else(|e| panic!("{policy:?}: {e}"));
        }
    }

    #[test]
    fn a_bad_client_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = server_files(dir.path());
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        for ca_file in [missing, empty] {
            for policy in [
                ClientCertPolicy::Request {
                    ca_file: Some(ca_file.clone()),
                },
                ClientCertPolicy::Require {
                    ca_file: Some(ca_file.clone()),
                },
            ] {
                let err = acceptor(&cert, &key, &policy).err().expect("must fail");
                assert!(err.contains("tls_client_ca_file"), "{err}");
            }
        }
    }
}
