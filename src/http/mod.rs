//! The HTTP listener: hyper 1 over TCP, optionally TLS (rustls).
//!
//! This layer only moves bytes: it buffers the body (with a size limit),
//! hands method/path/headers/body to [`handler::handle`], and writes the
//! answer. All Vault semantics live below it.

pub(crate) mod client_addr;
pub(crate) mod envelope;
pub(crate) mod forward;
pub(crate) mod handler;
pub(crate) mod message;
pub(crate) mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
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
    /// `x_forwarded_for_*` (trusted load balancers), when configured.
    pub(crate) x_forwarded_for: Option<Arc<crate::config::ForwardedFor>>,
}

async fn serve_one(
    core: Arc<Core>,
    opts: ListenerOptions,
    peer: SocketAddr,
    client_cert_chain: Arc<Vec<Vec<u8>>>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let is_head = parts.method == http::Method::HEAD;
    let answer = match Limited::new(body, opts.max_request_size).collect().await {
        Ok(collected) => {
            let body = collected.to_bytes();
            let tls_chain = client_cert_chain.to_vec();
            admit_and_handle(&core, &opts, &parts, &body, peer, tls_chain).await
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

/// Decides who the client is (a standby's signed envelope, else the
/// listener's `X-Forwarded-For` rules, else the TCP peer) and runs the
/// request.
async fn admit_and_handle(
    core: &Arc<Core>,
    opts: &ListenerOptions,
    parts: &http::request::Parts,
    body: &Bytes,
    peer: SocketAddr,
    tls_chain: Vec<Vec<u8>>,
) -> HttpResponse {
    let admitted = envelope::admit(
        core,
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        body,
        Some(peer.ip()),
        tls_chain,
    )
    .await;
    let headers = admitted.headers.as_ref().unwrap_or(&parts.headers);
    let mut remote_addr = admitted.remote_addr;
    if let (Some(policy), false) = (&opts.x_forwarded_for, admitted.vouched) {
        match client_addr::client_addr(policy, headers, remote_addr) {
            Ok(addr) => remote_addr = addr,
            Err(e) => return HttpResponse::error(&e),
        }
    }
    let http_req = handler::HttpRequest {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers,
        body,
        // The peer's port is the client's only when the address is the peer's.
        remote_port: (remote_addr == Some(peer.ip())).then_some(peer.port()),
        remote_addr,
        client_cert_chain: admitted.client_cert_chain,
    };
    handler::handle(core, http_req).await
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
            match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => {
                        let chain = Arc::new(tls::peer_chain(&s));
                        serve_connection(s, core, opts, peer, chain).await
                    }
                    Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                },
                None => serve_connection(stream, core, opts, peer, Arc::default()).await,
            }
        });
    }
}

/// Serves one connection (plain or TLS); `chain` is what the client
/// presented in the TLS handshake, the same for every request on it.
async fn serve_connection<IO>(
    io: IO,
    core: Arc<Core>,
    opts: ListenerOptions,
    peer: SocketAddr,
    chain: Arc<Vec<Vec<u8>>>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service =
        service_fn(move |req| serve_one(core.clone(), opts.clone(), peer, chain.clone(), req));
    let builder = auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection(TokioIo::new(io), service).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
