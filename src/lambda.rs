//! Lambda mode: the same binary, the same core and router, served through
//! the Lambda runtime API (`lambda_http`: Function URLs, API Gateway REST and
//! HTTP APIs, ALB) instead of a TCP listener.
//!
//! A Lambda instance can be frozen between invocations at any moment, so it
//! never holds the HA lease: it is always a standby that serves reads from
//! storage and forwards writes to the active node's advertised address (503
//! with `Retry-After` when there is none). Everything expensive — config,
//! SDK clients, the one KMS `Decrypt` of auto-unseal, the keyring — happens
//! once in the init phase and stays warm across invocations.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use lambda_http::{service_fn, Body, Request, Response};

use crate::config::ServerConfig;
use crate::core::Core;
use crate::http::handler::{standard_headers, HttpRequest};

/// True when started by the Lambda runtime (custom runtime `bootstrap`).
pub(crate) fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// `STRONGROOM_CONFIG`: a path to an HCL/JSON file, or the HCL text itself.
fn load_config() -> Result<ServerConfig, String> {
    let raw = std::env::var("STRONGROOM_CONFIG").map_err(|_| {
        "STRONGROOM_CONFIG is not set (a config file path, or the HCL text)".to_string()
    })?;
    let path = std::path::Path::new(raw.trim());
    if !raw.contains('\n') && !raw.contains('{') && path.exists() {
        return ServerConfig::load(&[path.to_path_buf()]).map_err(|e| e.to_string());
    }
    ServerConfig::parse(std::path::Path::new("STRONGROOM_CONFIG"), &raw).map_err(|e| e.to_string())
}

pub(crate) fn run() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run_async()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Builds the node (init phase) and reports how long our own work took.
pub(crate) async fn init() -> Result<Arc<Core>, String> {
    let started = Instant::now();
    let config = load_config()?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    // The advertised address is the active node's business; a Lambda
    // instance has none of its own.
    let node = crate::node::build_node(&config, String::new(), false).await?;
    let core = node.core;
    let built = started.elapsed();
    let unseal_started = Instant::now();
    match core.is_initialized().await {
        Ok(true) if core.seal.is_auto() => {
            if let Err(e) = core.auto_unseal().await {
                tracing::warn!(error = %e, "auto-unseal failed at init; will retry per request");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not read the seal configuration at init"),
    }
    tracing::info!(
        own_init_ms = built.as_secs_f64() * 1000.0,
        unseal_ms = unseal_started.elapsed().as_secs_f64() * 1000.0,
        total_ms = started.elapsed().as_secs_f64() * 1000.0,
        "lambda init done"
    );
    Ok(core)
}

async fn run_async() -> Result<(), String> {
    // CloudWatch stamps each line itself; `VAULT_LOG_FORMAT=json` for
    // Logs Insights.
    let format = std::env::var("VAULT_LOG_FORMAT").unwrap_or_default();
    let format = crate::logging::LogFormat::parse(&format)?;
    crate::logging::init("strongroom=info,warn", format, false);
    let core = init().await?;
    lambda_http::run(service_fn(move |event: Request| {
        let core = core.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&core, event).await) }
    }))
    .await
    .map_err(|e| format!("lambda runtime: {e}"))
}

/// Serves one invocation through the same handler as the HTTP server.
pub(crate) async fn handle(core: &Arc<Core>, event: Request) -> Response<Body> {
    if core.is_sealed() && core.seal.is_auto() {
        // KMS was unreachable at init: try again now, once.
        let _ = core.auto_unseal().await;
    }
    let (parts, body) = event.into_parts();
    let body_bytes: &[u8] = match &body {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    let remote_addr = source_ip(&parts);
    let max = crate::http::handler::DEFAULT_MAX_REQUEST_SIZE;
    let answer = if body_bytes.len() > max {
        crate::http::handler::HttpResponse::error(&crate::logical::LogicalError::TooLarge(format!(
            "http: request body too large (limit {max} bytes)"
        )))
    } else {
        // Envelope headers a caller sends are stripped (and never believed
        // unless signed with the cluster key).
        let admitted = crate::http::envelope::admit(
            core,
            &parts.method,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            body_bytes,
            remote_addr,
            Vec::new(),
        )
        .await;
        let req = HttpRequest {
            method: &parts.method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: admitted.headers.as_ref().unwrap_or(&parts.headers),
            body: body_bytes,
            remote_addr: admitted.remote_addr,
            client_cert_chain: admitted.client_cert_chain,
            remote_port: None,
        };
        crate::http::handler::handle(core, req).await
    };
    let is_head = parts.method == http::Method::HEAD;
    let content_type = if answer.body.is_empty() && !is_head {
        None
    } else {
        Some(answer.content_type.unwrap_or("application/json"))
    };
    let body = if is_head || answer.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(String::from_utf8_lossy(&answer.body).into_owned())
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = answer.status;
    standard_headers(resp.headers_mut(), content_type);
    for (name, value) in answer.headers {
        resp.headers_mut().insert(name, value);
    }
    resp
}

/// The client's address as the AWS front end saw the connection: the
/// event's `requestContext` (`http.sourceIp` for Function URLs and HTTP
/// APIs, `identity.sourceIp` for REST APIs). Never a header the client can
/// write: `X-Forwarded-For` arrives with whatever the client put in it. An
/// ALB event has no source IP in its context; the ALB appends the peer it
/// saw as the last `X-Forwarded-For` entry, so that one entry is used.
fn source_ip(parts: &http::request::Parts) -> Option<std::net::IpAddr> {
    use lambda_http::request::RequestContext;
    let ctx = parts.extensions.get::<RequestContext>()?;
    let ip = match ctx {
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.clone(),
        RequestContext::Alb(_) => parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|v| v.trim().to_string()),
        _ => None,
    }?;
    ip.trim().parse().ok()
}
