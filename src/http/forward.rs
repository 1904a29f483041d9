//! Forwarding from an HA standby to the active node.
//!
//! A standby executes every request itself; when the request turns out to
//! write, core aborts it before any effect ([`LogicalError::Standby`]) and
//! the whole HTTP request is replayed against the active node's advertised
//! `api_addr`, its answer relayed unchanged. Engines need no per-path rules.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use super::message::{HttpRequest, HttpResponse};
use crate::core::Core;
use crate::logical::LogicalError;

/// Marks a forwarded request, so a node that is not active either cannot
/// bounce it onward (no forwarding loops).
pub(crate) const FORWARDED_HEADER: &str = "x-strongroom-forwarded";
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

fn client() -> Result<&'static HttpsClient, String> {
    static CLIENT: OnceLock<Result<HttpsClient, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            // A private CA for the active node's TLS certificate.
            if let Ok(path) = std::env::var("VAULT_CACERT") {
                use rustls_pki_types::pem::PemObject;
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(&path)
                    .map_err(|e| format!("VAULT_CACERT {path}: {e}"))?;
                for cert in certs.flatten() {
                    let _ = roots.add(cert);
                }
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            // Fail fast when the advertised active node is gone.
            let mut http = HttpConnector::new();
            http.set_connect_timeout(Some(Duration::from_secs(2)));
            http.enforce_http(false);
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            Ok(Client::builder(TokioExecutor::new()).build(https))
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn unavailable(msg: &str) -> HttpResponse {
    let mut r = HttpResponse::error(&LogicalError::Unavailable(msg.to_string()));
    r.headers
        .push((http::header::RETRY_AFTER, HeaderValue::from_static("1")));
    r
}

/// Forwards `req` to the active node (or redirects, or answers 503).
pub(crate) async fn forward(core: &Arc<Core>, req: &HttpRequest<'_>, why: &str) -> HttpResponse {
    let Some(ha) = &core.options.ha else {
        return unavailable(why);
    };
    if !ha.config.can_lead {
        ha.refresh_leader().await;
    }
    if req.headers.contains_key(FORWARDED_HEADER) {
        return unavailable(
            "this node is not the active node (the request was already forwarded once)",
        );
    }
    let Some(leader) = ha
        .leader()
        .filter(|l| !ha.is_self(l) && !l.api_addr.is_empty())
    else {
        return unavailable(
            "no active node: writes are unavailable until a node takes the lease; retry",
        );
    };
    let path_and_query = match req.query {
        Some(q) => format!("{}?{q}", req.path),
        None => req.path.to_string(),
    };
    let target = format!("{}{path_and_query}", leader.api_addr.trim_end_matches('/'));
    if req.headers.contains_key("x-vault-no-request-forwarding") {
        let mut r = HttpResponse::error(&LogicalError::NotFound);
        r.status = StatusCode::TEMPORARY_REDIRECT;
        r.body = Bytes::new();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers.push((http::header::LOCATION, v));
        }
        return r;
    }
    let client = match client() {
        Ok(c) => c,
        Err(e) => return unavailable(&format!("cannot forward to the active node: {e}")),
    };
    let mut builder = hyper::Request::builder()
        .method(req.method.clone())
        .uri(&target);
    for (name, value) in req.headers {
        if matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) || super::envelope::is_envelope_header(name)
        {
            continue;
        }
        builder = builder.header(name, value);
    }
    builder = builder.header(FORWARDED_HEADER, ha.node_id.as_str());
    // The client's address (and certificate) reach the active node only in
    // the signed envelope (src/http/envelope.rs).
    for (name, value) in
        super::envelope::sign_forwarded(core, req, &path_and_query, &ha.node_id).await
    {
        builder = builder.header(name, value);
    }
    let outgoing = match builder.body(Full::new(Bytes::copy_from_slice(req.body))) {
        Ok(r) => r,
        Err(e) => return unavailable(&format!("cannot forward: {e}")),
    };
    let answer = match tokio::time::timeout(FORWARD_TIMEOUT, client.request(outgoing)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return unavailable(&format!("forwarding to the active node failed: {e}")),
        Err(_) => return unavailable("forwarding to the active node timed out"),
    };
    let (parts, body) = answer.into_parts();
    let body = match tokio::time::timeout(FORWARD_TIMEOUT, body.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        _ => return unavailable("reading the active node's answer failed"),
    };
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (name, value) in &parts.headers {
        if matches!(
            name.as_str(),
            "content-length" | "connection" | "transfer-encoding" | "date"
        ) {
            continue;
        }
        headers.push((name.clone(), value.clone()));
    }
    let content_type = if body.is_empty() {
        None
    } else {
        Some("application/json")
    };
    HttpResponse {
        status: parts.status,
        body,
        content_type,
        headers,
    }
}
