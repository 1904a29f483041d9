//! A tiny blocking HTTP/1.1 client for the integration tests.
//!
//! Deliberately raw: it sends the method and the request target exactly as
//! given (so `LIST`, `/v1/secret/../sys/seal` and `%2e%2e` reach the server
//! untouched), one request per connection (`Connection: close`), and reads the
//! answer even when the server stops reading an oversize body half-way.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

/// One HTTP response, fully read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the raw body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}); status {}, body {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// The body as JSON, or `None` when it is empty.
    pub fn json_opt(&self) -> Option<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(self.json())
        }
    }

    /// `errors` of an error body (`{"errors":[...]}`).
    pub fn errors(&self) -> Vec<String> {
        let v = self.json();
        let errs = v
            .get("errors")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no \"errors\" array in {v}"));
        errs.iter()
            .map(|e| e.as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text())
    }
}

/// Sends one request to `127.0.0.1:port`. `headers` are extra headers;
/// `Host`, `Connection: close` and `Content-Length` (when there is a body)
/// are added.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Response> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    send(stream, port, method, target, headers, body)
}

/// Like [`request`], from a chosen local address (e.g. `127.0.0.5`: any
/// 127/8 address is local on Linux), for tests of CIDR-bound credentials.
pub fn request_from(
    source: std::net::IpAddr,
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Response> {
    let stream = connect_from(source, port)?;
    send(stream, port, method, target, headers, body)
}

/// A blocking connection to `127.0.0.1:port` bound to `source` first
/// (std cannot bind before connecting; tokio's `TcpSocket` can).
fn connect_from(source: std::net::IpAddr, port: u16) -> std::io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::new(source, 0))?;
        socket
            .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

fn send(
    mut stream: TcpStream,
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Response> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    stream.set_nodelay(true)?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nUser-Agent: strongroom-tests\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(b) = body {
        // The server may answer (413) and stop reading before the whole body
        // is sent: a failed write is not an error as long as an answer came.
        for chunk in b.chunks(64 * 1024) {
            if let Err(e) = stream.write_all(chunk) {
                if matches!(
                    e.kind(),
                    ErrorKind::BrokenPipe
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                ) {
                    break;
                }
                return Err(e);
            }
        }
    }
    // No shutdown(Write): hyper closes a half-closed connection without
    // answering the request in flight. `Connection: close` ends it instead.
    let _ = stream.flush();
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // A reset after the answer arrived (the server closed with our
            // unread body in its buffer): keep what was read.
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], is_head: bool) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(ErrorKind::InvalidData, m.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            bad(&format!(
                "no end of headers in {:?}",
                String::from_utf8_lossy(raw)
            ))
        })?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if is_head || status == 204 || status == 304 {
        Vec::new()
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() < len {
            return Err(bad(&format!("short body: {} of {len} bytes", rest.len())));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
