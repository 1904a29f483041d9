//! A tiny HTTP/1.1 server for tests that need a remote party the test
//! owns: a JWKS endpoint, an OIDC provider, a Kubernetes TokenReview API.
//! One thread, one request per connection (`Connection: close`); every
//! request is recorded, and a handler closure picks each answer.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Lower-cased header names.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// What the handler answers: status, content type, body.
pub type Answer = (u16, &'static str, String);

type Handler = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

pub struct MockServer {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl MockServer {
    /// Starts serving on a free port of 127.0.0.1 until the process ends.
    pub fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> MockServer {
        Self::serve(None, Arc::new(handler))
    }

    /// The same over TLS with the given certificate chain and key (PEM).
    pub fn start_tls(
        cert_pem: &str,
        key_pem: &str,
        handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    ) -> MockServer {
        use rustls_pki_types::pem::PemObject;
        let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .map(|c| c.expect("cert"))
            .collect();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
        Self::serve(Some(Arc::new(config)), Arc::new(handler))
    }

    fn serve(tls: Option<Arc<rustls::ServerConfig>>, handler: Handler) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock server");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { continue };
                let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                match &tls {
                    None => exchange(tcp, &log, &handler),
                    Some(cfg) => {
                        let Ok(conn) = rustls::ServerConnection::new(cfg.clone()) else {
                            continue;
                        };
                        exchange(rustls::StreamOwned::new(conn, tcp), &log, &handler)
                    }
                }
            }
        });
        MockServer { port, seen }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The requests seen so far for `path`.
    pub fn requests(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

fn exchange<S: Read + Write>(mut stream: S, log: &Mutex<Vec<Seen>>, handler: &Handler) {
    let Some(req) = read_request(&mut stream) else {
        return;
    };
    log.lock().unwrap().push(req.clone());
    let (status, ctype, body) = handler(&req);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

fn read_request<S: Read>(stream: &mut S) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}
