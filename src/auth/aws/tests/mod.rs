use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Map, Value};

use super::arn::{globbed_match, principal_matches, IamEntity};
use super::endpoint::{is_region, parse_endpoint, sts_target};
use super::request::{parse_authorization, SERVER_ID_HEADER};
use super::storage::{load_config, ClientConfig};
use super::sts::{parse_caller_identity, CallerIdentity};
use super::{backend, AwsAuthBackend};
use crate::auth::userpass::tests::{call, setup};
use crate::logical::{Backend, LogicalResult, Operation, Request, StorageView};

const SERVER_ID: &str = "vault.example.com";
const MOTO_ARN: &str = "arn:aws:sts::123456789012:user/moto";
const ASSUMED_XML: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:sts::123456789012:assumed-role/Lambda-Role/my-function</Arn>
    <UserId>AROAEXAMPLEID:my-function</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#;

/// A stand-in STS on loopback: counts connections, records requests and
/// answers each with a fixed status and body (status 0: hang up).
struct FakeSts {
    url: String,
    host: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_sts(status: u16, body: &'static str) -> FakeSts {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (c, r) = (connections.clone(), requests.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                r.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).to_string());
                if status == 0 {
                    return;
                }
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    FakeSts {
        url: format!("http://{addr}"),
        host: addr.to_string(),
        connections,
        requests,
        task,
    }
}

/// A login request in the shape SDKs produce, with a well-formed (not
/// verifiable) signature over every header given.
#[derive(Clone)]
struct Signed {
    method: String,
    url: String,
    body: String,
    headers: Vec<(String, String)>,
    /// Headers left out of SignedHeaders.
    unsigned: Vec<String>,
    authorization: Option<String>,
}

impl Signed {
    fn new(host: &str, server_id: Option<&str>) -> Self {
        let mut headers = vec![
            (
                "Content-Type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
            ("Host".to_string(), host.to_string()),
            ("X-Amz-Date".to_string(), amz_date(chrono::Utc::now())),
        ];
        if let Some(id) = server_id {
            headers.push(("X-Vault-AWS-IAM-Server-ID".to_string(), id.to_string()));
        }
        Self {
            method: "POST".into(),
            url: format!("https://{host}/"),
            body: "Action=GetCallerIdentity&Version=2011-06-15".into(),
            headers,
            unsigned: vec![],
            authorization: None,
        }
    }

    fn set(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn remove(mut self, name: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    fn data(&self, role: Option<&str>) -> Value {
        let date = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-date"))
            .map(|(_, v)| v[..8].to_string())
            .unwrap_or_else(|| "20240101".into());
        let mut signed: Vec<String> = self
            .headers
            .iter()
            .map(|(k, _)| k.to_lowercase())
            .filter(|k| !self.unsigned.contains(k))
            .collect();
        signed.sort();
        let auth = self.authorization.clone().unwrap_or_else(|| {
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/{date}/us-east-1/sts/aws4_request, \
                 SignedHeaders={}, Signature={}",
                signed.join(";"),
                "ab".repeat(32)
            )
        });
        let mut map = Map::new();
        for (k, v) in &self.headers {
            map.insert(k.clone(), json!([v]));
        }
        if !auth.is_empty() {
            map.insert("Authorization".into(), json!([auth]));
        }
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut data = json!({
            "iam_http_request_method": self.method,
            "iam_request_url": b64(&self.url),
            "iam_request_body": b64(&self.body),
            "iam_request_headers": b64(&Value::Object(map).to_string()),
        });
        if let Some(r) = role {
            data["role"] = json!(r);
        }
        data
    }
}

fn amz_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

async fn configure(b: &AwsAuthBackend, view: &StorageView, cfg: Value) {
    call(b, view, Operation::Update, "config/client", cfg)
        .await
        .unwrap();
}

async fn make_role(b: &AwsAuthBackend, view: &StorageView, name: &str, body: Value) {
    call(b, view, Operation::Create, &format!("role/{name}"), body)
        .await
        .unwrap();
}

async fn login(b: &AwsAuthBackend, view: &StorageView, data: Value) -> LogicalResult {
    call(b, view, Operation::Update, "login", data).await
}

mod login;
mod moto;
mod parsing;
mod roles_and_config;
