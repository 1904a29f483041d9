//! The STS client: sends a validated login request to the endpoint the
//! server chose and reads `GetCallerIdentity`'s answer. Nothing reaches this
//! module before [`super::request::validate_request`] accepted it.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

use super::request::ValidatedRequest;
use crate::logical::LogicalError;

/// Bound on one request to STS (connect, send, read the answer).
const STS_TIMEOUT: Duration = Duration::from_secs(10);
const STS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// STS's answer is a few hundred bytes; anything this large is not STS.
const MAX_STS_RESPONSE: usize = 64 * 1024;
/// Headers that describe one hop, not the request: never forwarded.
const HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "content-length",
];

/// What `GetCallerIdentity` says about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CallerIdentity {
    pub(super) arn: String,
    pub(super) user_id: String,
    pub(super) account: String,
}

/// Parses a `GetCallerIdentityResponse` document (namespaced or not).
pub(super) fn parse_caller_identity(xml: &str) -> Result<CallerIdentity, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("invalid XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "GetCallerIdentityResponse" {
        return Err(format!(
            "expected a GetCallerIdentityResponse, got <{}>",
            root.tag_name().name()
        ));
    }
    let results: Vec<_> = root
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "GetCallerIdentityResult")
        .collect();
    if results.len() != 1 {
        return Err(format!(
            "received {} identities in STS response but expected 1",
            results.len()
        ));
    }
    let field = |name: &str| -> Result<String, String> {
        let nodes: Vec<_> = results[0]
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == name)
            .collect();
        match nodes.as_slice() {
            [n] => Ok(n.text().unwrap_or_default().trim().to_string()),
            [] => Err(format!("missing {name}")),
            _ => Err(format!("more than one {name}")),
        }
    };
    let arn = field("Arn")?;
    if arn.is_empty() {
        return Err("empty Arn".into());
    }
    Ok(CallerIdentity {
        arn,
        user_id: field("UserId")?,
        account: field("Account")?,
    })
}

use crate::https_client::HttpsClient;

fn build_client() -> Result<HttpsClient, String> {
    // A private CA for an STS proxy, as the AWS SDKs take it.
    let roots = crate::https_client::public_roots_and_env_ca("AWS_CA_BUNDLE")?;
    crate::https_client::build(roots, STS_CONNECT_TIMEOUT, Some(Duration::from_secs(30)))
}

/// At most `max` characters of an upstream answer, for an error message.
fn excerpt(body: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

/// One HTTP client per mount: its pooled connections belong to the runtime
/// that made them, so it is built on first use.
#[derive(Default)]
pub(super) struct StsClient {
    client: OnceLock<Result<HttpsClient, String>>,
}

impl StsClient {
    fn client(&self) -> Result<&HttpsClient, LogicalError> {
        self.client
            .get_or_init(build_client)
            .as_ref()
            .map_err(|e| LogicalError::Internal(format!("cannot build the STS client: {e}")))
    }

    /// Sends the validated request to STS and parses its answer.
    pub(super) async fn get_caller_identity(
        &self,
        req: &ValidatedRequest,
    ) -> Result<CallerIdentity, LogicalError> {
        let client = self.client()?;
        let mut builder = hyper::Request::builder()
            .method(http::Method::POST)
            .uri(&req.target)
            .header(http::header::HOST, &req.host);
        for (name, values) in &req.headers {
            if name == "host" || HOP_HEADERS.contains(&name.as_str()) {
                continue;
            }
            for v in values {
                builder = builder.header(name.as_str(), v.as_str());
            }
        }
        let outgoing = builder
            .body(Full::new(Bytes::from(req.body.clone())))
            .map_err(|e| LogicalError::bad(format!("cannot build the STS request: {e}")))?;
        let exchange = async {
            let answer = client
                .request(outgoing)
                .await
                .map_err(|e| format!("error making upstream request: {e}"))?;
            let status = answer.status();
            let body = Limited::new(answer.into_body(), MAX_STS_RESPONSE)
                .collect()
                .await
                .map_err(|e| format!("error reading the STS response: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = match tokio::time::timeout(STS_TIMEOUT, exchange).await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, endpoint = %req.target, "STS request failed");
                return Err(LogicalError::Unavailable(e));
            }
            Err(_) => {
                return Err(LogicalError::Unavailable(format!(
                    "error making upstream request: STS did not answer within {}s",
                    STS_TIMEOUT.as_secs()
                )))
            }
        };
        if !status.is_success() {
            let msg = format!(
                "error making upstream request: received error code {} from STS: {}",
                status.as_u16(),
                excerpt(&body, 512)
            );
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                LogicalError::Unavailable(msg)
            } else {
                LogicalError::BadRequest(msg)
            });
        }
        let text = std::str::from_utf8(&body)
            .map_err(|_| LogicalError::bad("error parsing STS response: not UTF-8"))?;
        parse_caller_identity(text)
            .map_err(|e| LogicalError::bad(format!("error parsing STS response: {e}")))
    }
}
