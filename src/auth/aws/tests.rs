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

#[tokio::test]
async fn refusals_never_reach_sts() {
    let sts = fake_sts(200, ASSUMED_XML).await;
    let (_s, view) = setup().await;
    let b = backend();
    configure(
        &b,
        &view,
        json!({"sts_endpoint": sts.url, "iam_server_id_header_value": SERVER_ID}),
    )
    .await;
    make_role(
        &b,
        &view,
        "app",
        json!({"bound_iam_principal_arn": ["arn:aws:iam::123456789012:role/*"],
               "token_policies": ["app"]}),
    )
    .await;
    let good = Signed::new(&sts.host, Some(SERVER_ID));
    let stale = amz_date(chrono::Utc::now() - chrono::Duration::minutes(20));
    let future = amz_date(chrono::Utc::now() + chrono::Duration::minutes(20));

    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    let mut push = |name: &'static str, s: Signed, want: &'static str| {
        cases.push((name, s.data(Some("app")), want));
    };
    push(
        "another action",
        Signed {
            body: "Action=AssumeRole&Version=2011-06-15".into(),
            ..good.clone()
        },
        "iam_request_body must be exactly",
    );
    push(
        "extra parameter",
        Signed {
            body: "Action=GetCallerIdentity&Version=2011-06-15&RoleArn=x".into(),
            ..good.clone()
        },
        "iam_request_body must be exactly",
    );
    push(
        "repeated action",
        Signed {
            body: "Action=GetCallerIdentity&Action=GetCallerIdentity&Version=2011-06-15".into(),
            ..good.clone()
        },
        "iam_request_body must be exactly",
    );
    push(
        "other version",
        Signed {
            body: "Action=GetCallerIdentity&Version=2099-01-01".into(),
            ..good.clone()
        },
        "iam_request_body must be exactly",
    );
    push(
        "GET",
        Signed {
            method: "GET".into(),
            ..good.clone()
        },
        "only 'POST' is supported",
    );
    push(
        "query action",
        Signed {
            url: format!("https://{}/?Action=AssumeRole", sts.host),
            ..good.clone()
        },
        "must not have a query",
    );
    push(
        "other path",
        Signed {
            url: format!("https://{}/other", sts.host),
            ..good.clone()
        },
        "root URL",
    );
    push(
        "missing Authorization",
        Signed {
            authorization: Some(String::new()),
            ..good.clone()
        },
        "no Authorization header",
    );
    push(
        "non-SigV4 Authorization",
        Signed {
            authorization: Some("Basic dXNlcjpwYXNz".into()),
            ..good.clone()
        },
        "not AWS Signature Version 4",
    );
    push(
        "SigV2-style Authorization",
        Signed {
            authorization: Some("AWS AKIAEXAMPLE:c2lnbmF0dXJl".into()),
            ..good.clone()
        },
        "not AWS Signature Version 4",
    );
    push(
        "signed for another service",
        Signed {
            authorization: Some(format!(
                "AWS4-HMAC-SHA256 Credential=AKIA/{}/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;x-amz-date;x-vault-aws-iam-server-id, Signature={}",
                &amz_date(chrono::Utc::now())[..8],
                "ab".repeat(32)
            )),
            ..good.clone()
        },
        "not sts",
    );
    push(
        "SignedHeaders without host",
        Signed {
            unsigned: vec!["host".into()],
            ..good.clone()
        },
        "host header is not among the SignedHeaders",
    );
    push(
        "SignedHeaders without x-amz-date",
        Signed {
            unsigned: vec!["x-amz-date".into()],
            ..good.clone()
        },
        "x-amz-date header is not among the SignedHeaders",
    );
    push(
        "missing server ID",
        good.clone().remove("X-Vault-AWS-IAM-Server-ID"),
        "missing header \"X-Vault-AWS-IAM-Server-ID\"",
    );
    push(
        "wrong server ID",
        good.clone()
            .set("X-Vault-AWS-IAM-Server-ID", "other.example.com"),
        "does not match this server's iam_server_id_header_value",
    );
    push(
        "unsigned server ID",
        Signed {
            unsigned: vec!["x-vault-aws-iam-server-id".into()],
            ..good.clone()
        },
        "header wasn't signed",
    );
    let evil = Signed::new("sts.evil.example.com", Some(SERVER_ID));
    push(
        "another host",
        evil.clone(),
        "which is not the configured STS endpoint",
    );
    push(
        "a standard-looking host outside amazonaws.com",
        Signed::new("sts.amazonaws.com.evil.example.com", Some(SERVER_ID)),
        "which is not the configured STS endpoint",
    );
    push(
        "a regional host for another region than the signature's",
        Signed::new("sts.eu-west-1.amazonaws.com", Some(SERVER_ID)),
        "which is not the configured STS endpoint",
    );
    push(
        "Host header differs from the URL",
        good.clone().set("Host", "sts.evil.example.com"),
        "does not match the host of iam_request_url",
    );
    push(
        "URL host differs from the Host header",
        Signed {
            url: "https://sts.evil.example.com/".into(),
            ..good.clone()
        },
        "does not match the host of iam_request_url",
    );
    push(
        "no Host header, URL names another host",
        Signed {
            url: "https://sts.evil.example.com/".into(),
            authorization: Some(format!(
                "AWS4-HMAC-SHA256 Credential=AKIA/{}/us-east-1/sts/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-vault-aws-iam-server-id, Signature={}",
                &amz_date(chrono::Utc::now())[..8],
                "ab".repeat(32)
            )),
            ..good.clone().remove("Host")
        },
        "which is not the configured STS endpoint",
    );
    push(
        "stale X-Amz-Date",
        good.clone().set("X-Amz-Date", &stale),
        "stale",
    );
    push(
        "future X-Amz-Date",
        good.clone().set("X-Amz-Date", &future),
        "stale",
    );
    push(
        "missing X-Amz-Date",
        Signed {
            unsigned: vec![],
            ..good.clone().remove("X-Amz-Date")
        },
        "x-amz-date header is not among the SignedHeaders",
    );
    push(
        "signed header missing",
        Signed {
            authorization: Some(format!(
                "AWS4-HMAC-SHA256 Credential=AKIA/{}/us-east-1/sts/aws4_request, \
                 SignedHeaders=host;x-amz-date;x-amz-security-token;x-vault-aws-iam-server-id, Signature={}",
                &amz_date(chrono::Utc::now())[..8],
                "ab".repeat(32)
            )),
            ..good.clone()
        },
        "signed header \"x-amz-security-token\" is missing",
    );
    push(
        "disallowed x-amz header",
        good.clone().set(
            "X-Amz-Target",
            "AWSSecurityTokenServiceV20110615.AssumeRole",
        ),
        "invalid request header: x-amz-target",
    );
    push(
        "wrong Content-Length",
        good.clone().set("Content-Length", "5"),
        "Content-Length",
    );
    // Fields missing or not decodable.
    let mut no_headers = good.data(Some("app"));
    no_headers
        .as_object_mut()
        .unwrap()
        .remove("iam_request_headers");
    cases.push(("no headers", no_headers, "missing iam_request_headers"));
    let mut bad_b64 = good.data(Some("app"));
    bad_b64["iam_request_body"] = json!("%%%");
    cases.push(("bad base64", bad_b64, "failed to base64 decode"));
    cases.push((
        "ec2 login",
        json!({"pkcs7": "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwGggCSABIIB"}),
        "ec2 auth type is not supported",
    ));

    for (name, data, want) in cases {
        let e = login(&b, &view, data).await.unwrap_err();
        assert_eq!(e.status(), 400, "{name}: {e}");
        assert!(e.to_string().contains(want), "{name}: {e}");
    }
    assert_eq!(
        sts.connections.load(Ordering::SeqCst),
        0,
        "a refused login reached STS"
    );

    // The baseline is accepted, and the listener does see it.
    let auth = login(&b, &view, good.data(Some("app")))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.policies, vec!["app"]);
    assert_eq!(sts.connections.load(Ordering::SeqCst), 1);
}

/// Issue 10: a request signed for a standard STS host (what hvac and the
/// SDKs sign for) is accepted whatever `sts_endpoint` says, and is sent to
/// the configured endpoint, never to the host it names, with the signed Host
/// and the server ID header intact.
#[tokio::test]
async fn standard_hosts_are_accepted_and_sent_to_the_configured_endpoint() {
    let sts = fake_sts(200, ASSUMED_XML).await;
    let (_s, view) = setup().await;
    let b = backend();
    configure(
        &b,
        &view,
        json!({"sts_endpoint": sts.url, "iam_server_id_header_value": SERVER_ID}),
    )
    .await;
    make_role(
        &b,
        &view,
        "app",
        json!({"bound_iam_principal_arn": "arn:aws:iam::123456789012:role/*"}),
    )
    .await;
    for host in [
        "sts.amazonaws.com",
        "STS.amazonaws.com:443",
        "sts.us-east-1.amazonaws.com",
    ] {
        let signed = Signed::new(host, Some(SERVER_ID));
        let before = sts.connections.load(Ordering::SeqCst);
        login(&b, &view, signed.data(Some("app")))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(sts.connections.load(Ordering::SeqCst), before + 1, "{host}");
        let raw = sts.requests.lock().unwrap().last().cloned().unwrap();
        let lower = raw.to_lowercase();
        assert!(
            lower.contains(&format!("\r\nhost: {}\r\n", host.to_lowercase())),
            "{raw}"
        );
        assert!(lower.contains("\r\nx-vault-aws-iam-server-id: vault.example.com\r\n"));
    }
    // The server ID is still required, equal and signed for those hosts.
    let std_host = Signed::new("sts.amazonaws.com", Some(SERVER_ID));
    let before = sts.connections.load(Ordering::SeqCst);
    for (s, want) in [
        (
            std_host.clone().remove("X-Vault-AWS-IAM-Server-ID"),
            "missing header",
        ),
        (
            std_host
                .clone()
                .set("X-Vault-AWS-IAM-Server-ID", "other.example.com"),
            "does not match",
        ),
        (
            Signed {
                unsigned: vec!["x-vault-aws-iam-server-id".into()],
                ..std_host.clone()
            },
            "header wasn't signed",
        ),
    ] {
        let e = login(&b, &view, s.data(Some("app"))).await.unwrap_err();
        assert_eq!(e.status(), 400, "{e}");
        assert!(e.to_string().contains(want), "{e}");
    }
    assert_eq!(sts.connections.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn login_replays_the_signed_request_and_grants() {
    let sts = fake_sts(200, ASSUMED_XML).await;
    let (_s, view) = setup().await;
    let b = backend();
    configure(
        &b,
        &view,
        json!({"sts_endpoint": format!("{}/", sts.url), "iam_server_id_header_value": SERVER_ID}),
    )
    .await;
    make_role(
        &b,
        &view,
        "lambda-role",
        json!({"bound_iam_principal_arn": "arn:aws:iam::123456789012:role/Lambda-Role",
               "token_policies": "dev,ops", "token_ttl": "1h", "token_max_ttl": "2h",
               "token_num_uses": 3, "token_period": 0}),
    )
    .await;
    let signed = Signed::new(&sts.host, Some(SERVER_ID))
        .set("X-Amz-Security-Token", "FwoGZXIvYXdzEJr//////////session");
    // No role: the role named in the ARN (lower-cased) is used.
    let auth = login(&b, &view, signed.data(None))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.policies, vec!["dev", "ops"]);
    assert_eq!(auth.ttl, 3600);
    assert_eq!(auth.explicit_max_ttl, 7200);
    assert_eq!(auth.num_uses, 3);
    assert!(auth.renewable);
    assert!(auth.client_token.is_empty());
    assert_eq!(auth.display_name, "Lambda-Role");
    let md = &auth.metadata;
    assert_eq!(md["account_id"], "123456789012");
    assert_eq!(md["auth_type"], "iam");
    assert_eq!(
        md["canonical_arn"],
        "arn:aws:iam::123456789012:role/Lambda-Role"
    );
    assert_eq!(
        md["client_arn"],
        "arn:aws:sts::123456789012:assumed-role/Lambda-Role/my-function"
    );
    assert_eq!(md["client_user_id"], "AROAEXAMPLEID");
    assert_eq!(md["inferred_entity_id"], "");
    assert_eq!(md["inferred_entity_type"], "");
    assert!(!md["role_id"].is_empty());

    // What STS received: the signed request, verbatim, at the endpoint.
    let requests = sts.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let raw = &requests[0];
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("POST / HTTP/1.1\r\n"), "{head}");
    assert_eq!(body, "Action=GetCallerIdentity&Version=2011-06-15");
    let lower = format!("{}\r\n", head.to_lowercase());
    assert!(
        lower.contains(&format!("\r\nhost: {}\r\n", sts.host)),
        "{head}"
    );
    assert!(lower.contains("\r\nx-vault-aws-iam-server-id: vault.example.com\r\n"));
    assert!(lower.contains("\r\nauthorization: aws4-hmac-sha256 credential=akiaexample/"));
    assert!(lower.contains("\r\nx-amz-security-token: fwogzxivyxdzejr//////////session\r\n"));
    assert!(lower.contains("\r\ncontent-length: 43\r\n"), "{head}");
    assert_eq!(lower.matches("\r\nhost:").count(), 1);

    // The headers may also be a JSON object with string values; the role
    // may be named explicitly (case-insensitively).
    let mut data = signed.data(Some("Lambda-Role"));
    let mut obj = Map::new();
    for (k, v) in &signed.headers {
        obj.insert(k.clone(), json!(v));
    }
    let hdrs: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(data["iam_request_headers"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    obj.insert("Authorization".into(), hdrs["Authorization"][0].clone());
    data["iam_request_headers"] = Value::Object(obj);
    login(&b, &view, data).await.unwrap();

    // Not bound: a role for another principal refuses the same caller.
    make_role(
        &b,
        &view,
        "other",
        json!({"bound_iam_principal_arn": ["arn:aws:iam::123456789012:role/Other",
                                           "arn:aws:iam::210987654321:role/*"]}),
    )
    .await;
    let e = login(&b, &view, signed.data(Some("other")))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("does not belong to the role"), "{e}");
    let e = login(&b, &view, signed.data(Some("ghost")))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "entry for role ghost not found");

    // token_bound_cidrs is enforced.
    make_role(
        &b,
        &view,
        "cidr",
        json!({"bound_iam_principal_arn": "arn:aws:iam::123456789012:*",
               "token_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    let mut req = Request::new(Operation::Update, "auth/aws/login");
    req.relative_path = "login".into();
    req.data = signed.data(Some("cidr")).as_object().cloned().unwrap();
    req.remote_addr = Some("192.0.2.1".parse().unwrap());
    assert_eq!(b.handle(&req, &view).await.unwrap_err().status(), 403);
    req.remote_addr = Some("10.1.2.3".parse().unwrap());
    let auth = b.handle(&req, &view).await.unwrap().auth.unwrap();
    assert_eq!(auth.bound_cidrs, vec!["10.0.0.0/8"]);
}

#[tokio::test]
async fn sts_failures() {
    let (_s, view) = setup().await;
    let b = backend();
    make_role(
        &b,
        &view,
        "app",
        json!({"bound_iam_principal_arn": "arn:aws:iam::123456789012:role/*"}),
    )
    .await;
    let cases: [(u16, &'static str, u16, &str); 5] = [
        (
            403,
            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>",
            400,
            "error making upstream request: received error code 403 from STS: <ErrorResponse>",
        ),
        (500, "oops", 503, "received error code 500 from STS"),
        (0, "", 503, "error making upstream request"),
        (200, "not xml", 400, "error parsing STS response"),
        (
            200,
            "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:s3:::bucket</Arn>\
             <UserId>x</UserId><Account>1</Account></GetCallerIdentityResult></GetCallerIdentityResponse>",
            400,
            "error parsing arn",
        ),
    ];
    for (status, body, want_status, want) in cases {
        let sts = fake_sts(status, body).await;
        configure(&b, &view, json!({"sts_endpoint": sts.url})).await;
        let e = login(&b, &view, Signed::new(&sts.host, None).data(Some("app")))
            .await
            .unwrap_err();
        assert_eq!(e.status(), want_status, "{status}: {e}");
        assert!(e.to_string().contains(want), "{status}: {e}");
        assert_eq!(sts.connections.load(Ordering::SeqCst), 1);
    }
    // Nothing listening: unavailable, not a client error.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    configure(&b, &view, json!({"sts_endpoint": format!("http://{addr}")})).await;
    let e = login(
        &b,
        &view,
        Signed::new(&addr.to_string(), None).data(Some("app")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 503, "{e}");
}

#[tokio::test]
async fn role_crud_and_validation() {
    let (_s, view) = setup().await;
    let b = backend();
    let r = call(
        &b,
        &view,
        Operation::Create,
        "role/Dev",
        json!({"auth_type": "iam", "bound_iam_principal_arn": ["arn:aws:iam::123456789012:role/dev",
               "arn:aws:iam::123456789012:user/ops/*"], "policies": ["dev"],
               "resolve_aws_unique_ids": true, "token_ttl": 60}),
    )
    .await
    .unwrap();
    assert!(r.warnings[0].contains("resolve_aws_unique_ids"));
    let d = call(&b, &view, Operation::Read, "role/dev", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(d["auth_type"], json!("iam"));
    assert_eq!(
        d["bound_iam_principal_arn"],
        json!([
            "arn:aws:iam::123456789012:role/dev",
            "arn:aws:iam::123456789012:user/ops/*"
        ])
    );
    assert_eq!(d["token_policies"], json!(["dev"]));
    assert_eq!(d["policies"], json!(["dev"]));
    assert_eq!(d["token_ttl"], json!(60));
    assert_eq!(d["resolve_aws_unique_ids"], json!(false));
    let role_id = d["role_id"].as_str().unwrap().to_string();
    assert_eq!(role_id.len(), 36);
    // An update keeps the other fields and the role ID.
    call(
        &b,
        &view,
        Operation::Update,
        "role/dev",
        json!({"token_max_ttl": "2h"}),
    )
    .await
    .unwrap();
    let d = call(&b, &view, Operation::Read, "role/dev", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(d["token_max_ttl"], json!(7200));
    assert_eq!(d["token_ttl"], json!(60));
    assert_eq!(d["role_id"], json!(role_id));
    make_role(
        &b,
        &view,
        "ops",
        json!({"bound_iam_principal_arn": "arn:aws:iam::1:user/x"}),
    )
    .await;
    for list in ["role", "roles"] {
        let keys = call(&b, &view, Operation::List, list, json!({}))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(keys["keys"], json!(["dev", "ops"]));
    }
    let mut q = Request::new(Operation::Update, "x");
    q.relative_path = "role/dev".into();
    assert!(b.exists(&q, &view).await.unwrap());
    q.relative_path = "role/nope".into();
    assert!(!b.exists(&q, &view).await.unwrap());

    let refusals: [(Value, &str); 8] = [
        (
            json!({"auth_type": "ec2", "bound_ami_id": "ami-1"}),
            "auth_type \"ec2\" is not supported",
        ),
        (
            json!({"auth_type": "ec2"}),
            "auth_type \"ec2\" is not supported",
        ),
        (json!({"auth_type": "ldap"}), "unrecognized auth_type"),
        (
            json!({"bound_iam_principal_arn": "arn:aws:iam::1:role/x", "bound_ami_id": "ami-1"}),
            "bound_ami_id is not supported",
        ),
        (json!({"policies": ["x"]}), "at least one bound parameter"),
        (
            json!({"bound_iam_principal_arn": "*"}),
            "is not an IAM principal ARN",
        ),
        (
            json!({"bound_iam_principal_arn": "arn:aws:s3:::bucket"}),
            "bound_iam_principal_arn",
        ),
        (
            json!({"bound_iam_principal_arn": "arn:aws:iam::1:role/x",
                   "token_ttl": "2h", "token_max_ttl": "1h"}),
            "token_ttl should not be greater than token_max_ttl",
        ),
    ];
    for (body, want) in refusals {
        let e = call(&b, &view, Operation::Create, "role/new", body.clone())
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400, "{body}: {e}");
        assert!(e.to_string().contains(want), "{body}: {e}");
    }
    let e = call(&b, &view, Operation::Read, "role/new", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);

    call(&b, &view, Operation::Delete, "role/dev", json!({}))
        .await
        .unwrap();
    assert_eq!(
        call(&b, &view, Operation::Read, "role/dev", json!({}))
            .await
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        call(&b, &view, Operation::Read, "login", json!({}))
            .await
            .unwrap_err()
            .status(),
        405
    );
    assert_eq!(b.unauthenticated_paths(), &["login"]);
}

#[tokio::test]
async fn client_config() {
    let (_s, view) = setup().await;
    let b = backend();
    let e = call(&b, &view, Operation::Read, "config/client", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    configure(
        &b,
        &view,
        json!({"access_key": "AKIAEXAMPLE", "secret_key": "very-secret-key",
               "sts_endpoint": "https://sts.eu-west-1.amazonaws.com", "sts_region": "eu-west-1",
               "iam_server_id_header_value": SERVER_ID, "use_sts_region_from_client": "false",
               "endpoint": "https://ec2.eu-west-1.amazonaws.com",
               "iam_endpoint": "https://iam.amazonaws.com",
               "allowed_sts_header_values": "X-Amz-Extra"}),
    )
    .await;
    let d = call(&b, &view, Operation::Read, "config/client", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(!d.contains_key("secret_key"));
    assert!(!Value::Object(d.clone())
        .to_string()
        .contains("very-secret-key"));
    assert_eq!(d["access_key"], json!("AKIAEXAMPLE"));
    assert_eq!(
        d["sts_endpoint"],
        json!("https://sts.eu-west-1.amazonaws.com")
    );
    assert_eq!(d["sts_region"], json!("eu-west-1"));
    assert_eq!(d["iam_server_id_header_value"], json!(SERVER_ID));
    assert_eq!(d["use_sts_region_from_client"], json!(false));
    assert_eq!(d["allowed_sts_header_values"], json!(["X-Amz-Extra"]));
    // Partial update keeps the rest.
    configure(&b, &view, json!({"sts_region": "eu-west-2"})).await;
    let d = call(&b, &view, Operation::Read, "config/client", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(d["sts_region"], json!("eu-west-2"));
    assert_eq!(d["iam_server_id_header_value"], json!(SERVER_ID));
    let stored = load_config(&view).await.unwrap().unwrap();
    assert_eq!(stored.secret_key, "very-secret-key");

    for bad in [
        json!({"sts_endpoint": "ftp://sts.example.com"}),
        json!({"sts_endpoint": "not a url"}),
        json!({"sts_endpoint": "https://sts.example.com/?x=1"}),
        json!({"max_retries": "many"}),
        json!({"iam_server_id_header_value": "a\nb"}),
    ] {
        let e = call(&b, &view, Operation::Update, "config/client", bad.clone())
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400, "{bad}");
    }
    call(&b, &view, Operation::Delete, "config/client", json!({}))
        .await
        .unwrap();
    assert!(load_config(&view).await.unwrap().is_none());
}

#[test]
fn endpoint_hosts() {
    // An explicit endpoint: its host, and the standard hosts SDKs sign for
    // (issue 10: hvac signs for sts.amazonaws.com whatever the server uses).
    let cfg = ClientConfig {
        sts_endpoint: "https://sts.eu-west-1.amazonaws.com".into(),
        ..Default::default()
    };
    let t = sts_target(&cfg, "eu-west-1").unwrap();
    assert_eq!(t.base, "https://sts.eu-west-1.amazonaws.com");
    assert!(t
        .allowed_hosts
        .contains(&"sts.eu-west-1.amazonaws.com".to_string()));
    assert!(t.allowed_hosts.contains(&"sts.amazonaws.com".to_string()));
    let cfg = ClientConfig {
        sts_endpoint: "http://127.0.0.1:4566".into(),
        ..Default::default()
    };
    let t = sts_target(&cfg, "us-east-1").unwrap();
    assert_eq!(t.base, "http://127.0.0.1:4566", "sent only to the endpoint");
    let mut hosts = t.allowed_hosts.clone();
    hosts.sort();
    assert_eq!(
        hosts,
        vec![
            "127.0.0.1:4566",
            "sts.amazonaws.com",
            "sts.amazonaws.com:443",
            "sts.us-east-1.amazonaws.com",
            "sts.us-east-1.amazonaws.com:443",
        ]
    );
    // A malformed signing region adds no regional host.
    let t = sts_target(&cfg, "evil.example.com/x").unwrap();
    assert!(!t.allowed_hosts.iter().any(|h| h.contains("evil")));
    // The default: the standard hosts too.
    let t = sts_target(&ClientConfig::default(), "eu-central-1").unwrap();
    assert!(t.allowed_hosts.contains(&"sts.amazonaws.com".to_string()));
    assert!(t
        .allowed_hosts
        .contains(&"sts.eu-central-1.amazonaws.com".to_string()));
    let t = sts_target(&ClientConfig::default(), "evil.com/x").unwrap();
    assert!(!t.allowed_hosts.iter().any(|h| h.contains("evil")));
    // The client's region picks the regional endpoint.
    let cfg = ClientConfig {
        use_sts_region_from_client: true,
        sts_endpoint: "http://127.0.0.1:1".into(),
        ..Default::default()
    };
    let t = sts_target(&cfg, "ap-southeast-2").unwrap();
    assert_eq!(t.base, "https://sts.ap-southeast-2.amazonaws.com");
    assert_eq!(
        sts_target(&cfg, "cn-north-1").unwrap().base,
        "https://sts.cn-north-1.amazonaws.com.cn"
    );
    assert!(sts_target(&cfg, "attacker.example.com#").is_err());
    assert!(is_region("us-gov-west-1"));
    assert!(!is_region("us-east"));
    assert!(!is_region("US-EAST-1"));
}

#[test]
fn arns_and_wildcards() {
    let e = IamEntity::parse("arn:aws:sts::123456789012:assumed-role/MyRole/session-1").unwrap();
    assert_eq!(e.canonical_arn(), "arn:aws:iam::123456789012:role/MyRole");
    assert_eq!(e.friendly_name, "MyRole");
    assert_eq!(e.session, "session-1");
    assert_eq!(e.account, "123456789012");
    let u = IamEntity::parse("arn:aws:iam::123456789012:user/path/to/alice").unwrap();
    assert_eq!(u.canonical_arn(), "arn:aws:iam::123456789012:user/alice");
    assert_eq!(u.full_arn(), "arn:aws:iam::123456789012:user/path/to/alice");
    let m = IamEntity::parse(MOTO_ARN).unwrap();
    assert_eq!(m.canonical_arn(), "arn:aws:iam::123456789012:user/moto");
    let gov = IamEntity::parse("arn:aws-us-gov:sts::1:assumed-role/R/s").unwrap();
    assert_eq!(gov.canonical_arn(), "arn:aws-us-gov:iam::1:role/R");
    for bad in [
        "arn:aws:s3:::bucket",
        "arn:aws:iam::1:group/g",
        "arn:aws:iam::1:user",
        "not:an:arn:at:all:x",
        "arn:aws:sts::1:assumed-role/OnlyRole",
        "arn:aws:iam::1",
    ] {
        assert!(IamEntity::parse(bad).is_err(), "{bad}");
    }

    let b = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(principal_matches(
        &b(&["arn:aws:iam::123456789012:role/MyRole"]),
        &e
    ));
    assert!(principal_matches(
        &b(&["arn:aws:iam::123456789012:role/*"]),
        &e
    ));
    assert!(principal_matches(&b(&["arn:aws:iam::123456789012:*"]), &e));
    assert!(principal_matches(
        &b(&["arn:aws:iam::123456789012:role/My*"]),
        &e
    ));
    assert!(!principal_matches(
        &b(&["arn:aws:iam::123456789012:role/my*"]),
        &e
    ));
    assert!(!principal_matches(
        &b(&["arn:aws:iam::123456789012:role/myrole"]),
        &e
    ));
    assert!(!principal_matches(
        &b(&["arn:aws:iam::123456789012:user/*"]),
        &e
    ));
    assert!(!principal_matches(
        &b(&["arn:aws:iam::999999999999:role/*"]),
        &e
    ));
    // The session ARN itself is not a binding.
    assert!(!principal_matches(
        &b(&["arn:aws:sts::123456789012:assumed-role/MyRole/session-1"]),
        &e
    ));
    // Users match on the canonical ARN exactly, on their path by wildcard.
    assert!(principal_matches(
        &b(&["arn:aws:iam::123456789012:user/alice"]),
        &u
    ));
    assert!(principal_matches(
        &b(&["arn:aws:iam::123456789012:user/path/*"]),
        &u
    ));
    assert!(!principal_matches(
        &b(&["arn:aws:iam::123456789012:user/path/to/alice"]),
        &u
    ));
    assert!(globbed_match("*/alice", "arn:aws:iam::1:user/alice"));
    assert!(globbed_match("*:user/*", "arn:aws:iam::1:user/alice"));
    assert!(!globbed_match("*", "anything"));
}

#[test]
fn caller_identity_xml() {
    let id = parse_caller_identity(ASSUMED_XML).unwrap();
    assert_eq!(
        id,
        CallerIdentity {
            arn: "arn:aws:sts::123456789012:assumed-role/Lambda-Role/my-function".into(),
            user_id: "AROAEXAMPLEID:my-function".into(),
            account: "123456789012".into(),
        }
    );
    let plain = "<GetCallerIdentityResponse><GetCallerIdentityResult><UserId>AIDA</UserId>\
                 <Account>1</Account><Arn>arn:aws:iam::1:user/u</Arn></GetCallerIdentityResult>\
                 </GetCallerIdentityResponse>";
    assert_eq!(
        parse_caller_identity(plain).unwrap().arn,
        "arn:aws:iam::1:user/u"
    );
    for bad in [
        "",
        "not xml",
        "<ErrorResponse><Error><Code>x</Code></Error></ErrorResponse>",
        "<GetCallerIdentityResponse></GetCallerIdentityResponse>",
        "<GetCallerIdentityResponse><GetCallerIdentityResult><UserId>a</UserId><Account>1</Account>\
         </GetCallerIdentityResult></GetCallerIdentityResponse>",
        "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>a</Arn><Arn>b</Arn><UserId>a</UserId>\
         <Account>1</Account></GetCallerIdentityResult></GetCallerIdentityResponse>",
        "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>a</Arn><UserId>a</UserId><Account>1</Account>\
         </GetCallerIdentityResult><GetCallerIdentityResult><Arn>b</Arn><UserId>a</UserId><Account>1</Account>\
         </GetCallerIdentityResult></GetCallerIdentityResponse>",
    ] {
        assert!(parse_caller_identity(bad).is_err(), "{bad}");
    }
}

#[test]
fn authorization_header() {
    let a = parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu-west-1/sts/aws4_request,SignedHeaders=host;x-amz-date,Signature={}",
        "0f".repeat(32)
    ))
    .unwrap();
    assert_eq!(a.region, "eu-west-1");
    assert_eq!(a.date, "20240101");
    assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);
    for bad in [
        "AWS4-HMAC-SHA256Credential=x".to_string(),
        format!("AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature=zz{}", "0".repeat(62)),
        format!("AWS4-HMAC-SHA256 Credential=AKIA/2024/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature={}", "0".repeat(64)),
        format!("AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu-west-1/sts/aws4_request, SignedHeaders=Host, Signature={}", "0".repeat(64)),
        format!("AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature={0}, Signature={0}", "0".repeat(64)),
        format!("AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu-west-1/sts, SignedHeaders=host, Signature={}", "0".repeat(64)),
    ] {
        assert!(parse_authorization(&bad).is_err(), "{bad}");
    }
}

/// A really signed GetCallerIdentity request (aws-sigv4, credentials
/// `test`/`test`) for `url`, as the login fields.
fn sigv4_login(url: &str, host: &str, server_id: Option<&str>, role: &str) -> Value {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        ),
        ("host".to_string(), host.to_string()),
    ];
    if let Some(id) = server_id {
        headers.push((SERVER_ID_HEADER.to_string(), id.to_string()));
    }
    let identity =
        aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _sig) = sign(signable, &params).unwrap().into_parts();
    let mut map = Map::new();
    for (k, v) in &headers {
        map.insert(k.clone(), json!([v]));
    }
    for (k, v) in instructions.headers() {
        map.insert(k.to_string(), json!([v]));
    }
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({
        "role": role,
        "iam_http_request_method": "POST",
        "iam_request_url": b64(url),
        "iam_request_body": b64(body),
        "iam_request_headers": b64(&Value::Object(map).to_string()),
    })
}

#[tokio::test]
async fn login_against_moto_sts() {
    if !crate::aws::aws_tests_enabled("auth::aws::login_against_moto_sts") {
        return;
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let endpoint = endpoint.trim().trim_end_matches('/').to_string();
    let uri = parse_endpoint(&endpoint).unwrap();
    let host = uri.authority().unwrap().as_str().to_string();
    let (_s, view) = setup().await;
    let b = backend();

    // Explicit endpoint: the request is signed for moto's own host.
    configure(
        &b,
        &view,
        json!({"sts_endpoint": endpoint, "iam_server_id_header_value": SERVER_ID}),
    )
    .await;
    make_role(
        &b,
        &view,
        "moto-role",
        json!({"auth_type": "iam", "bound_iam_principal_arn": ["arn:aws:iam::123456789012:user/moto"],
               "token_policies": ["moto-policy"], "token_ttl": "10m"}),
    )
    .await;
    let data = sigv4_login(&format!("{endpoint}/"), &host, Some(SERVER_ID), "moto-role");
    let auth = login(&b, &view, data.clone()).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["moto-policy"]);
    assert_eq!(auth.ttl, 600);
    assert_eq!(auth.display_name, "moto");
    assert_eq!(auth.metadata["client_arn"], MOTO_ARN);
    assert_eq!(
        auth.metadata["canonical_arn"],
        "arn:aws:iam::123456789012:user/moto"
    );
    assert_eq!(auth.metadata["account_id"], "123456789012");
    assert_eq!(auth.metadata["auth_type"], "iam");
    assert!(!auth.metadata["client_user_id"].is_empty());

    // The same real signature without the server ID is refused.
    let unsigned = sigv4_login(&format!("{endpoint}/"), &host, None, "moto-role");
    let e = login(&b, &view, unsigned).await.unwrap_err();
    assert!(e.to_string().contains("X-Vault-AWS-IAM-Server-ID"), "{e}");

    // A binding for someone else refuses moto's principal.
    make_role(
        &b,
        &view,
        "other",
        json!({"bound_iam_principal_arn": "arn:aws:iam::123456789012:role/*"}),
    )
    .await;
    let data = sigv4_login(&format!("{endpoint}/"), &host, Some(SERVER_ID), "other");
    let e = login(&b, &view, data).await.unwrap_err();
    assert!(e.to_string().contains("does not belong to the role"), "{e}");

    // Explicit endpoint, request signed for sts.amazonaws.com as hvac and
    // the SDKs sign it: accepted, and sent to moto (issue 10).
    let data = sigv4_login(
        "https://sts.amazonaws.com/",
        "sts.amazonaws.com",
        Some(SERVER_ID),
        "moto-role",
    );
    let auth = login(&b, &view, data).await.unwrap().auth.unwrap();
    assert_eq!(auth.metadata["client_arn"], MOTO_ARN);

    // Default endpoint (from AWS_ENDPOINT_URL*): SDKs sign for
    // sts.amazonaws.com, which moto serves too.
    configure(&b, &view, json!({"sts_endpoint": ""})).await;
    if std::env::var("AWS_ENDPOINT_URL_STS").is_ok_and(|v| !v.is_empty()) {
        return;
    }
    let data = sigv4_login(
        "https://sts.amazonaws.com/",
        "sts.amazonaws.com",
        Some(SERVER_ID),
        "moto-role",
    );
    let auth = login(&b, &view, data).await.unwrap().auth.unwrap();
    assert_eq!(auth.metadata["client_arn"], MOTO_ARN);
}

/// The paths are declared through the framework: typed fields with Vault's
/// error texts, unknown-parameter warnings, 404 for undeclared paths, help.
#[tokio::test]
async fn declared_paths() {
    let (_s, view) = setup().await;
    let b = backend();
    let r = call(
        &b,
        &view,
        Operation::Create,
        "role/app",
        json!({"bound_iam_principal_arn": "arn:aws:iam::1:role/x", "colour": "blue"}),
    )
    .await
    .unwrap();
    assert_eq!(
        r.warnings,
        vec!["Endpoint ignored these unrecognized parameters: [colour]".to_string()]
    );
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/app",
        json!({"token_ttl": "forever"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(
        e.messages(),
        vec!["error converting input for field \"token_ttl\": time: invalid duration \"forever\""]
    );
    let e = call(
        &b,
        &view,
        Operation::Update,
        "config/client",
        json!({"max_retries": "many"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.messages()[0]
        .starts_with("Field validation failed: error converting input for field \"max_retries\""));
    // The CLI sends every value as a string.
    configure(
        &b,
        &view,
        json!({"max_retries": "3", "use_sts_region_from_client": "true"}),
    )
    .await;
    let d = call(&b, &view, Operation::Read, "config/client", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(d["max_retries"], json!(3));
    assert_eq!(d["use_sts_region_from_client"], json!(true));

    let e = call(&b, &view, Operation::Read, "nope", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    let e = call(&b, &view, Operation::Delete, "roles", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
    let help = call(&b, &view, Operation::Help, "role/app", json!({}))
        .await
        .unwrap()
        .raw
        .unwrap();
    let help = help["help"].as_str().unwrap();
    assert!(help.contains("bound_iam_principal_arn"), "{help}");
    assert!(help.contains("token_policies"), "{help}");
}
