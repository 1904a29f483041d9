//! The HTTP listener: hyper 1 over TCP, optionally TLS (rustls).
//!
//! This layer only moves bytes: it buffers the body (with a size limit),
//! hands method/path/headers/body to [`handler::handle`], and writes the
//! answer. All Vault semantics live below it.

pub(crate) mod forward;
pub(crate) mod handler;
pub(crate) mod message;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::core::Core;
use crate::logical::LogicalError;
use handler::{standard_headers, HttpResponse};

/// Listener settings (from the `listener "tcp"` stanza).
#[derive(Clone, Debug)]
pub(crate) struct ListenerOptions {
    pub(crate) max_request_size: usize,
}

/// Loads a rustls server config from PEM files.
pub(crate) fn tls_acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
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
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn serve_one(
    core: Arc<Core>,
    opts: ListenerOptions,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let is_head = parts.method == http::Method::HEAD;
    let answer = match Limited::new(body, opts.max_request_size).collect().await {
        Ok(collected) => {
            let body = collected.to_bytes();
            let http_req = handler::HttpRequest {
                method: &parts.method,
                path: parts.uri.path(),
                query: parts.uri.query(),
                headers: &parts.headers,
                body: &body,
                remote_addr: Some(peer.ip()),
                remote_port: Some(peer.port()),
            };
            handler::handle(&core, http_req).await
        }
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            HttpResponse::error(&LogicalError::TooLarge(format!(
                "http: request body too large (limit {} bytes)",
                opts.max_request_size
            )))
        }
        Err(_) => HttpResponse::error(&LogicalError::bad("failed to read the request body")),
    };
    let took = started.elapsed();
    // Debug, not info: formatting this line cost ~12% of a KV read's CPU
    // (bench/PROFILE.md). Vault does not log every request either (that is
    // what audit devices are for); `-log-level=debug` brings it back.
    tracing::debug!(
        method = %parts.method,
        path = parts.uri.path(),
        status = answer.status.as_u16(),
        micros = took.as_micros() as u64,
        "request"
    );
    crate::metrics::http_request(parts.method.as_str(), answer.status.as_u16(), took);
    let content_type = if answer.body.is_empty() && !is_head {
        None
    } else {
        Some(answer.content_type.unwrap_or("application/json"))
    };
    let body = if is_head { Bytes::new() } else { answer.body };
    let mut resp = hyper::Response::new(Full::new(body));
    *resp.status_mut() = answer.status;
    standard_headers(resp.headers_mut(), content_type);
    for (name, value) in answer.headers {
        resp.headers_mut().insert(name, value);
    }
    Ok(resp)
}

/// Accepts connections until `shutdown` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    core: Arc<Core>,
    opts: ListenerOptions,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let core = core.clone();
        let opts = opts.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| serve_one(core.clone(), opts.clone(), peer, req));
            let builder = auto::Builder::new(TokioExecutor::new());
            let result = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => builder.serve_connection(TokioIo::new(s), service).await,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
                None => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
