//! A fault-injecting HTTP/1.1 proxy in front of moto, for storage failure
//! tests: a node's DynamoDB `endpoint` points at the proxy, and the test
//! switches what the proxy does at runtime, for every request or only for
//! one DynamoDB operation (`X-Amz-Target`), forever or for the next N
//! requests:
//!
//! * [`Fault::Pass`] — forward to moto and relay the answer;
//! * [`Fault::Throttle`] / [`Fault::ThroughputExceeded`] — answer DynamoDB's
//!   400 `ThrottlingException` / `ProvisionedThroughputExceededException`;
//! * [`Fault::ServerError`] — answer 500 `InternalServerError` or 503
//!   `ServiceUnavailable` with DynamoDB's error shape;
//! * [`Fault::BlackHole`] — read the request and never answer (the
//!   connection is held until the fault is lifted or the proxy stops);
//! * [`Fault::ApplyThenDrop`] — forward to moto, discard its answer and
//!   close the connection: the write applied, the client cannot know.
//!
//! One thread per connection, one upstream connection per request; every
//! relayed answer carries `Connection: close`, so the client never reuses a
//! connection the proxy is about to close.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    Throttle,
    ThroughputExceeded,
    /// 500 or 503.
    ServerError(u16),
    BlackHole,
    ApplyThenDrop,
}

struct Rule {
    /// The DynamoDB operation (`TransactWriteItems`), or every request.
    operation: Option<String>,
    fault: Fault,
    /// Requests left before the rule expires (`None`: until replaced).
    remaining: Option<usize>,
}

struct Shared {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    stop: AtomicBool,
    /// Requests seen per operation, and how many got a fault.
    seen: Mutex<HashMap<String, usize>>,
    faulted: Mutex<HashMap<String, usize>>,
}

impl Shared {
    /// The fault for one request of `operation` (consumes counted rules).
    fn decide(&self, operation: &str) -> Fault {
        *self
            .seen
            .lock()
            .unwrap()
            .entry(operation.to_string())
            .or_default() += 1;
        let mut rules = self.rules.lock().unwrap();
        let Some(i) = rules
            .iter()
            .position(|r| r.operation.as_deref().is_none_or(|o| o == operation))
        else {
            return Fault::Pass;
        };
        let fault = rules[i].fault;
        if let Some(n) = rules[i].remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                rules.remove(i);
            }
        }
        if fault != Fault::Pass {
            *self
                .faulted
                .lock()
                .unwrap()
                .entry(operation.to_string())
                .or_default() += 1;
        }
        fault
    }

    /// True while a black-holed request for `operation` must stay unanswered.
    fn still_black_holed(&self, operation: &str) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        self.rules.lock().unwrap().iter().any(|r| {
            r.fault == Fault::BlackHole && r.operation.as_deref().is_none_or(|o| o == operation)
        })
    }
}

/// A running proxy; stops (and releases held connections) on drop.
pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream`
    /// (`http://127.0.0.1:PORT`, moto's URL).
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let port = listener.local_addr().expect("local_addr").port();
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            seen: Mutex::new(HashMap::new()),
            faulted: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        FaultProxy { port, shared }
    }

    /// `http://127.0.0.1:PORT`, for a storage `endpoint`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Applies `fault` to every request from now on (replaces all rules).
    pub fn set(&self, fault: Fault) {
        let mut rules = self.shared.rules.lock().unwrap();
        rules.clear();
        if fault != Fault::Pass {
            rules.push(Rule {
                operation: None,
                fault,
                remaining: None,
            });
        }
    }

    /// Applies `fault` to requests of one operation (`TransactWriteItems`),
    /// for the next `times` of them (`None`: until changed). Rules added
    /// later for the same operation come after earlier ones.
    pub fn set_for(&self, operation: &str, fault: Fault, times: Option<usize>) {
        self.shared.rules.lock().unwrap().push(Rule {
            operation: Some(operation.to_string()),
            fault,
            remaining: times,
        });
    }

    /// Back to passing everything through (releases black-holed requests
    /// by closing their connections).
    pub fn clear(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// Requests of `operation` seen so far.
    pub fn seen(&self, operation: &str) -> usize {
        self.shared
            .seen
            .lock()
            .unwrap()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Requests of `operation` that got a fault so far.
    pub fn faulted(&self, operation: &str) -> usize {
        self.shared
            .faulted
            .lock()
            .unwrap()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One parsed HTTP/1.1 message: its head lines and body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The message with `Connection: close` (and `Host` kept as sent: moto
    /// does not check signatures).
    fn to_bytes_closing(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("connection") || n.eq_ignore_ascii_case("keep-alive") {
                continue;
            }
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("Connection: close\r\n\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Reads one message (`None` at a clean end of stream). Bodies are framed
/// by `Content-Length`, chunked (kept encoded), or, for responses without
/// either, by the end of the stream.
fn read_message(stream: &mut TcpStream, is_response: bool) -> std::io::Result<Option<Message>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        match stream.read(&mut byte) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf.extend_from_slice(&byte[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut msg = Message {
        start,
        headers,
        body: buf[end + 4..].to_vec(),
    };
    let length = msg
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = msg
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let no_body = is_response
        && msg
            .start
            .split_whitespace()
            .nth(1)
            .is_some_and(|s| s == "204" || s == "304");
    loop {
        let complete = if no_body {
            true
        } else if let Some(len) = length {
            msg.body.len() >= len
        } else if chunked {
            msg.body.ends_with(b"0\r\n\r\n")
        } else {
            !is_response // a request without a length has no body
        };
        if complete {
            return Ok(Some(msg));
        }
        match stream.read(&mut byte) {
            Ok(0) if is_response && length.is_none() && !chunked => return Ok(Some(msg)),
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => msg.body.extend_from_slice(&byte[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn forward(shared: &Shared, request: &Message) -> std::io::Result<Message> {
    let mut up = TcpStream::connect(&shared.upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(30)))?;
    up.write_all(&request.to_bytes_closing())?;
    read_message(&mut up, true)?.ok_or_else(|| ErrorKind::UnexpectedEof.into())
}

fn error_answer(status: u16, kind: &str, message: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let body = format!(r#"{{"__type":"{kind}","message":"{message}"}}"#);
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: faultproxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn serve(mut client: TcpStream, shared: &Shared) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(Some(request)) = read_message(&mut client, false) else {
        return;
    };
    let operation = request
        .header("x-amz-target")
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("other")
        .to_string();
    let answer = match shared.decide(&operation) {
        Fault::Pass => match forward(shared, &request) {
            Ok(m) => m.to_bytes_closing(),
            Err(_) => return, // upstream gone: drop the connection
        },
        Fault::Throttle => error_answer(
            400,
            "com.amazonaws.dynamodb.v20120810#ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        ),
        Fault::ThroughputExceeded => error_answer(
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        Fault::ServerError(503) => error_answer(
            503,
            "com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
            "Service unavailable (fault proxy).",
        ),
        Fault::ServerError(status) => error_answer(
            status,
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "Internal server error (fault proxy).",
        ),
        Fault::BlackHole => {
            while shared.still_black_holed(&operation) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Fault::ApplyThenDrop => {
            let _ = forward(shared, &request);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    };
    let _ = client.write_all(&answer);
    let _ = client.flush();
    let _ = client.shutdown(Shutdown::Write);
    // Let the client read the answer before the socket closes.
    let mut sink = [0u8; 1024];
    let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
    while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
}
