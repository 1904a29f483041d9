//! The outbound HTTPS client every part of the server builds the same way
//! (forwarding to the active node, AWS STS for IAM login, JWKS / OIDC
//! discovery / Kubernetes TokenReview): hyper 1 over rustls with ring, HTTP
//! and HTTPS, HTTP/1.1, a bounded connect time. One place, so a TLS or
//! timeout change reaches every caller and the tree keeps one hyper and one
//! rustls.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;

pub(crate) type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The public web PKI roots, plus the PEM certificates of the file the
/// environment variable `env_var` names, when it is set and not empty (a
/// private CA, as `VAULT_CACERT` or `AWS_CA_BUNDLE`). Unparsable entries in
/// the file are skipped; an unreadable file is an error.
pub(crate) fn public_roots_and_env_ca(env_var: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Ok(path) = std::env::var(env_var) {
        if !path.is_empty() {
            use rustls_pki_types::pem::PemObject;
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(&path)
                .map_err(|e| format!("{env_var} {path}: {e}"))?;
            for cert in certs.flatten() {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(roots)
}

/// A client trusting `roots`, giving up on a connection after
/// `connect_timeout`, and keeping idle connections for `pool_idle` (hyper's
/// default when `None`).
pub(crate) fn build(
    roots: RootCertStore,
    connect_timeout: Duration,
    pool_idle: Option<Duration>,
) -> Result<HttpsClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let mut builder = Client::builder(TokioExecutor::new());
    if let Some(idle) = pool_idle {
        builder.pool_idle_timeout(idle);
    }
    Ok(builder.build(https))
}
