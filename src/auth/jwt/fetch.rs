//! Outbound HTTP for auth methods: JWKS documents, OIDC discovery and token
//! endpoints, and Kubernetes TokenReview. One hyper 1 + rustls (ring)
//! client per trust anchor set: a configured CA PEM (`jwks_ca_pem`,
//! `oidc_discovery_ca_pem`, `kubernetes_ca_cert`) replaces the public roots,
//! as in Vault, where a configured pool is the only one trusted.
//!
//! Every exchange is bounded (connect and whole-exchange timeouts, a
//! response size cap), so a slow or hostile identity provider cannot hold a
//! login open or fill memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;
use sha2::{Digest, Sha256};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// A JWKS or a discovery document is a few KiB; a TokenReview answer less.
const MAX_RESPONSE: usize = 1024 * 1024;
/// Clients kept per state (one per distinct CA set); old ones are dropped.
const MAX_CLIENTS: usize = 16;

use crate::https_client::HttpsClient;

/// Why an outbound call failed (the message is safe to show).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("could not parse CA PEM value successfully")]
    BadCa,
    #[error("{0}")]
    Client(String),
    #[error("{0}")]
    Transport(String),
    #[error("unexpected status code {status}: {body}")]
    Status { status: u16, body: String },
    #[error("invalid JSON in the response: {0}")]
    Json(String),
}

/// Parses the certificates of a CA PEM bundle (none: an error).
pub(crate) fn parse_ca_pem(
    pem: &str,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, FetchError> {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(FetchError::BadCa);
    }
    Ok(certs)
}

fn build_client(ca_pem: &str) -> Result<HttpsClient, FetchError> {
    let mut roots = rustls::RootCertStore::empty();
    if ca_pem.trim().is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else {
        for cert in parse_ca_pem(ca_pem)? {
            roots.add(cert).map_err(|_| FetchError::BadCa)?;
        }
    }
    crate::https_client::build(roots, CONNECT_TIMEOUT, Some(Duration::from_secs(30)))
        .map_err(FetchError::Client)
}

/// The clients of one auth mount, keyed by the SHA-256 of their CA PEM.
#[derive(Default)]
pub(crate) struct Clients {
    by_ca: Mutex<HashMap<[u8; 32], HttpsClient>>,
}

/// One answer: status and body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as JSON, for a 2xx answer; an error with an excerpt
    /// otherwise.
    pub(crate) fn json(&self) -> Result<Value, FetchError> {
        if !(200..300).contains(&self.status) {
            return Err(FetchError::Status {
                status: self.status,
                body: excerpt(&self.body),
            });
        }
        serde_json::from_slice(&self.body).map_err(|e| FetchError::Json(e.to_string()))
    }
}

/// At most 256 characters of an upstream answer, for an error message.
fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    if s.chars().count() <= 256 {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(256).collect::<String>())
    }
}

impl Clients {
    fn client(&self, ca_pem: &str) -> Result<HttpsClient, FetchError> {
        let key: [u8; 32] = Sha256::digest(ca_pem.trim().as_bytes()).into();
        let mut map = self
            .by_ca
            .lock()
            .map_err(|_| FetchError::Client("client cache poisoned".into()))?;
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let c = build_client(ca_pem)?;
        if map.len() >= MAX_CLIENTS {
            map.clear();
        }
        map.insert(key, c.clone());
        Ok(c)
    }

    /// Sends one request and reads the whole (bounded) answer.
    pub(crate) async fn send(
        &self,
        ca_pem: &str,
        method: http::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, FetchError> {
        let client = self.client(ca_pem)?;
        let uri: http::Uri = url
            .parse()
            .map_err(|e| FetchError::Client(format!("invalid URL {url:?}: {e}")))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => {
                return Err(FetchError::Client(format!(
                    "unsupported URL scheme in {url:?}"
                )))
            }
        }
        let mut builder = hyper::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| FetchError::Client(e.to_string()))?;
        let exchange = async {
            let answer = client.request(request).await.map_err(|e| {
                FetchError::Transport(format!("error making request to {url}: {e}"))
            })?;
            let status = answer.status().as_u16();
            let body = Limited::new(answer.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| {
                    FetchError::Transport(format!("error reading the answer of {url}: {e}"))
                })?
                .to_bytes();
            Ok::<_, FetchError>(Answer { status, body })
        };
        match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Transport(format!(
                "{url} did not answer within {}s",
                EXCHANGE_TIMEOUT.as_secs()
            ))),
        }
    }

    /// GET a JSON document.
    pub(crate) async fn get_json(&self, ca_pem: &str, url: &str) -> Result<Value, FetchError> {
        self.send(
            ca_pem,
            http::Method::GET,
            url,
            &[("accept", "application/json".to_string())],
            None,
        )
        .await?
        .json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_pem_without_certificates_is_refused() {
        assert!(matches!(parse_ca_pem("not a pem"), Err(FetchError::BadCa)));
        assert!(matches!(build_client("garbage"), Err(FetchError::BadCa)));
        assert!(build_client("").is_ok());
    }

    #[tokio::test]
    async fn only_http_and_https_urls_are_fetched() {
        let c = Clients::default();
        let e = c.get_json("", "ftp://127.0.0.1/keys").await.err().unwrap();
        assert!(e.to_string().contains("unsupported URL scheme"), "{e}");
    }
}
