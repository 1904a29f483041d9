//! A small blocking HTTP client for the Vault API, shaped after the Go
//! `api` package the `vault` CLI uses: the same headers, the same idea of
//! which status codes are errors, and the same error text, because scripts
//! grep for it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{Map, Value};

/// Vault's default when `VAULT_ADDR` is unset.
pub(crate) const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// Vault's default client timeout (`VAULT_CLIENT_TIMEOUT`).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Characters Go's `url.URL` escapes in a path; `/` stays literal so the
/// server sees the same segments the user typed.
const PATH_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Everything that can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// The server answered with an error status.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The request never got an answer (refused, TLS, timeout). Worded like
    /// Go's `url.Error`: `Get "http://...": reason`.
    #[error("{op} \"{url}\": {message}")]
    Transport {
        op: String,
        url: String,
        message: String,
    },
    /// Local configuration is unusable (bad address, unreadable CA file).
    #[error("{0}")]
    Config(String),
    /// A success status with a body that is not a JSON object.
    #[error("{0}")]
    Decode(String),
}

/// An error status from the server, printed exactly like Vault's
/// `api.ResponseError`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) errors: Vec<String>,
    /// The body was not `{"errors": [...]}`; `errors` holds it verbatim.
    pub(crate) raw: bool,
}

impl std::error::Error for ApiError {}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.raw { "Raw Message" } else { "Errors" };
        write!(
            f,
            "Error making API request.\n\nURL: {} {}\nCode: {}. {kind}:\n\n",
            self.method, self.url, self.status
        )?;
        if self.raw && self.errors.len() == 1 {
            return f.write_str(&self.errors[0]);
        }
        for e in &self.errors {
            write!(f, "* {e}")?;
        }
        Ok(())
    }
}

impl ApiError {
    /// Builds the error from a failed response; like the Go client, a body
    /// that does not decode as `{"errors": [...]}` is kept raw.
    fn from_response(method: &str, url: &str, status: u16, body: &[u8]) -> Self {
        let decoded = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .and_then(|m| match m.get("errors") {
                None | Some(Value::Null) => Some(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>(),
                Some(_) => None,
            });
        let (errors, raw) = match decoded {
            Some(errors) => (errors, false),
            None => (vec![String::from_utf8_lossy(body).into_owned()], true),
        };
        Self {
            method: method.to_string(),
            url: url.to_string(),
            status,
            errors,
            raw,
        }
    }
}

/// A decoded response body: Vault's `api.Secret`, kept as the JSON object so
/// nothing the server sent is lost for `-format=json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Secret(pub(crate) Map<String, Value>);

impl Secret {
    /// The `data` object; `None` when absent or null.
    pub(crate) fn data(&self) -> Option<&Map<String, Value>> {
        self.0.get("data").and_then(Value::as_object)
    }

    pub(crate) fn warnings(&self) -> Vec<String> {
        match self.0.get("warnings") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|w| w.as_str().map_or_else(|| w.to_string(), str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The Go client returns a 404 body as a secret only when it carries
    /// data or warnings (KV v2's deleted versions do); otherwise "not found".
    pub(crate) fn has_content(&self) -> bool {
        self.data().is_some_and(|d| !d.is_empty()) || !self.warnings().is_empty()
    }

    pub(crate) fn str_field(&self, key: &str) -> &str {
        self.0.get(key).and_then(Value::as_str).unwrap_or("")
    }

    pub(crate) fn int_field(&self, key: &str) -> i64 {
        self.0.get(key).and_then(Value::as_i64).unwrap_or(0)
    }

    /// A non-null object at the top level (`auth`, `wrap_info`).
    pub(crate) fn object(&self, key: &str) -> Option<&Map<String, Value>> {
        self.0.get(key).and_then(Value::as_object)
    }
}

/// Where and how to connect, resolved from flags and the environment.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ClientConfig {
    pub(crate) address: String,
    pub(crate) token: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) ca_cert: Option<PathBuf>,
    pub(crate) ca_path: Option<PathBuf>,
    pub(crate) skip_verify: bool,
}

/// A request body and its content type.
pub(crate) struct Body<'a> {
    pub(crate) json: &'a Value,
    pub(crate) content_type: &'static str,
}

impl<'a> Body<'a> {
    pub(crate) fn json(json: &'a Value) -> Self {
        Self {
            json,
            content_type: "application/json",
        }
    }
}

/// The blocking client: one current-thread runtime, one connection pool.
pub(crate) struct VaultClient {
    config: ClientConfig,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    runtime: tokio::runtime::Runtime,
}

impl VaultClient {
    pub(crate) fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let uri: http::Uri = config.address.parse().map_err(|e| {
            ClientError::Config(format!("invalid address {:?}: {e}", config.address))
        })?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => {
                return Err(ClientError::Config(format!(
                    "invalid address {:?}: the scheme must be http or https",
                    config.address
                )))
            }
        }
        let tls = tls_config(
            config.ca_cert.as_deref(),
            config.ca_path.as_deref(),
            config.skip_verify,
        )?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let http = Client::builder(TokioExecutor::new()).build(connector);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Config(format!("cannot start the runtime: {e}")))?;
        Ok(Self {
            config,
            http,
            runtime,
        })
    }

    /// Replaces the token sent with later requests (`login` checks a token
    /// that is not the configured one; non-token logins send none).
    pub(crate) fn set_token(&mut self, token: Option<String>) {
        self.config.token = token;
    }

    /// The URL a request goes to, as printed in error messages.
    pub(crate) fn url(&self, path: &str, query: &[(String, String)]) -> String {
        let base = self.config.address.trim_end_matches('/');
        let path = utf8_percent_encode(path.trim_start_matches('/'), PATH_ESCAPE);
        let mut url = format!("{base}/v1/{path}");
        if !query.is_empty() {
            let q = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            url.push('?');
            url.push_str(&q);
        }
        url
    }

    /// Sends one request; returns the status and body whatever the status.
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<Body<'_>>,
    ) -> Result<(u16, Bytes), ClientError> {
        let url = self.url(path, query);
        let transport = |message: String| ClientError::Transport {
            op: go_op(method),
            url: url.clone(),
            message,
        };
        let mut builder = http::Request::builder()
            .method(
                http::Method::from_bytes(method.as_bytes())
                    .map_err(|e| ClientError::Config(e.to_string()))?,
            )
            .uri(&url)
            .header("X-Vault-Request", "true");
        if let Some(token) = self.config.token.as_deref().filter(|t| !t.is_empty()) {
            builder = builder.header("X-Vault-Token", token);
        }
        if let Some(ns) = self.config.namespace.as_deref().filter(|n| !n.is_empty()) {
            builder = builder.header("X-Vault-Namespace", ns);
        }
        let payload = match body {
            Some(b) => {
                builder = builder.header("Content-Type", b.content_type);
                Bytes::from(serde_json::to_vec(b.json).map_err(|e| transport(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let authority = authority_of(&url);
        let request = builder
            .body(Full::new(payload))
            .map_err(|e| transport(e.to_string()))?;
        self.runtime.block_on(async {
            let exchange = async {
                let resp = self
                    .http
                    .request(request)
                    .await
                    .map_err(|e| transport(describe_request_error(&e, &authority)))?;
                let status = resp.status().as_u16();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| transport(error_chain(&e)))?
                    .to_bytes();
                Ok((status, body))
            };
            match tokio::time::timeout(TIMEOUT, exchange).await {
                Ok(r) => r,
                Err(_) => Err(transport(
                    "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                        .into(),
                )),
            }
        })
    }

    /// Vault's `RawRequest` + `ParseSecret`: error statuses become
    /// [`ApiError`], an empty body (204) becomes `None`.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<Body<'_>>,
    ) -> Result<Option<Secret>, ClientError> {
        let (status, bytes) = self.send(method, path, query, body)?;
        if is_error_status(status) {
            let url = self.url(path, query);
            return Err(ApiError::from_response(method, &url, status, &bytes).into());
        }
        parse_secret(&bytes)
    }

    /// Vault's `Logical().Read`/`List`: a 404 is "nothing there" (`None`)
    /// unless its body carries data or warnings, as KV v2's deleted
    /// versions do.
    pub(crate) fn read(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Option<Secret>, ClientError> {
        let (status, bytes) = self.send(method, path, query, None)?;
        if status == 404 {
            return Ok(parse_secret(&bytes)
                .ok()
                .flatten()
                .filter(Secret::has_content));
        }
        if is_error_status(status) {
            let url = self.url(path, query);
            return Err(ApiError::from_response(method, &url, status, &bytes).into());
        }
        parse_secret(&bytes)
    }

    pub(crate) fn get(&self, path: &str) -> Result<Option<Secret>, ClientError> {
        self.call("GET", path, &[], None)
    }

    pub(crate) fn put(&self, path: &str, body: &Value) -> Result<Option<Secret>, ClientError> {
        self.call("PUT", path, &[], Some(Body::json(body)))
    }
}

/// Vault treats everything below 400 and 429 (standby) as success.
fn is_error_status(status: u16) -> bool {
    status < 200 || (status >= 400 && status != 429)
}

/// Decodes a success body; empty means no secret.
pub(crate) fn parse_secret(body: &[u8]) -> Result<Option<Secret>, ClientError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(Some(Secret(m))),
        Ok(Value::Null) => Ok(None),
        Ok(_) => Err(ClientError::Decode(
            "unexpected response: not a JSON object".into(),
        )),
        Err(e) => Err(ClientError::Decode(format!("error decoding response: {e}"))),
    }
}

/// Go spells the method in `url.Error` as `Get`, `Put`, `List`.
fn go_op(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `host:port` of a URL, with the scheme's default port filled in, for
/// Go-style `dial tcp host:port` messages.
fn authority_of(url: &str) -> String {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return String::new();
    };
    let host = uri.host().unwrap_or("");
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    format!("{host}:{port}")
}

/// Connection failures read like Go's (`dial tcp 127.0.0.1:8200: connect:
/// connection refused`), which scripts and people recognise; anything
/// else gets hyper's cause chain.
fn describe_request_error(e: &hyper_util::client::legacy::Error, authority: &str) -> String {
    if e.is_connect() {
        let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                return describe_connect_error(io, authority);
            }
            source = s.source();
        }
    }
    error_chain(e)
}

/// Go's wording for the usual connect failures: refused, unknown host,
/// plain HTTP on the other end, TLS trouble.
fn describe_connect_error(io: &std::io::Error, authority: &str) -> String {
    let text = io.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    if text.contains("failed to lookup address") {
        return format!("dial tcp: lookup {host}: no such host");
    }
    if let Some(reason) = text.strip_prefix("invalid peer certificate: ") {
        let reason = match reason {
            "UnknownIssuer" => "x509: certificate signed by unknown authority".to_string(),
            other => other.to_string(),
        };
        return format!("tls: failed to verify certificate: {reason}");
    }
    if text.contains("InvalidContentType") {
        return "http: server gave HTTP response to HTTPS client".into();
    }
    let is_tls = io
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    if is_tls || io.kind() == std::io::ErrorKind::InvalidData {
        return format!("tls: {text}");
    }
    format!("dial tcp {authority}: connect: {}", text.to_lowercase())
}

/// hyper's errors say little at the top ("client error (Connect)"); the
/// cause chain says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Builds the TLS settings: the given CA file or directory, else the
/// webpki roots; or no verification at all with `-tls-skip-verify`.
fn tls_config(
    ca_cert: Option<&Path>,
    ca_path: Option<&Path>,
    skip_verify: bool,
) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(format!("TLS setup failed: {e}")))?;
    if skip_verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    let mut files = Vec::new();
    if let Some(file) = ca_cert {
        files.push(file.to_path_buf());
    } else if let Some(dir) = ca_path {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            ClientError::Config(format!("Error loading CA path {}: {e}", dir.display()))
        })?;
        files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
    }
    if files.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for file in files {
        let certs = CertificateDer::pem_file_iter(&file).map_err(|e| {
            ClientError::Config(format!("Error loading CA File: {}: {e}", file.display()))
        })?;
        for cert in certs {
            let cert = cert.map_err(|e| {
                ClientError::Config(format!("Error loading CA File: {}: {e}", file.display()))
            })?;
            roots.add(cert).map_err(|e| {
                ClientError::Config(format!("Error loading CA File: {}: {e}", file.display()))
            })?;
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `VAULT_SKIP_VERIFY`: trusts any certificate, but still checks that the
/// handshake signatures are sound.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_renders_like_vault() {
        let e = ApiError::from_response(
            "GET",
            "http://127.0.0.1:8200/v1/secret/data/foo",
            403,
            br#"{"errors":["permission denied"]}"#,
        );
        assert_eq!(
            e.to_string(),
            "Error making API request.\n\nURL: GET http://127.0.0.1:8200/v1/secret/data/foo\nCode: 403. Errors:\n\n* permission denied"
        );
        let raw = ApiError::from_response("PUT", "http://x/v1/a", 502, b"bad gateway");
        assert!(raw.raw);
        assert!(raw
            .to_string()
            .ends_with("Code: 502. Raw Message:\n\nbad gateway"));
    }

    #[test]
    fn secrets_from_404_need_content() {
        let empty = parse_secret(br#"{"errors":[]}"#).unwrap().unwrap();
        assert!(!empty.has_content());
        let deleted = parse_secret(br#"{"data":{"data":null,"metadata":{"version":2}}}"#)
            .unwrap()
            .unwrap();
        assert!(deleted.has_content());
        assert_eq!(parse_secret(b"").unwrap(), None);
        assert!(parse_secret(b"[1]").is_err());
    }

    #[test]
    fn urls_escape_like_go() {
        let c = VaultClient::new(ClientConfig {
            address: "http://127.0.0.1:8200/".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.url("secret/data/a b", &[("version".into(), "2".into())]),
            "http://127.0.0.1:8200/v1/secret/data/a%20b?version=2"
        );
        assert!(VaultClient::new(ClientConfig {
            address: "ftp://x".into(),
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn go_op_capitalizes() {
        assert_eq!(go_op("GET"), "Get");
        assert_eq!(go_op("LIST"), "List");
    }

    #[test]
    fn error_statuses() {
        assert!(!is_error_status(200));
        assert!(!is_error_status(204));
        assert!(!is_error_status(429));
        assert!(is_error_status(404));
        assert!(is_error_status(503));
    }
}
