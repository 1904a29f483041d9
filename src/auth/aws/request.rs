//! The signed `sts:GetCallerIdentity` request a login carries: decoding
//! the `iam_*` fields and every check made on it before it is sent to STS
//! (see the module docs of [`super`] for the list).

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use super::endpoint::{parse_endpoint, sts_target};
use super::storage::ClientConfig;
use crate::logical::framework::FieldData;
use crate::logical::LogicalError;

/// The header a client signs to bind its login to one Vault server.
pub(super) const SERVER_ID_HEADER: &str = "x-vault-aws-iam-server-id";
/// How far `X-Amz-Date` may be from now (STS's own window).
const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// The body of the only call a login may carry.
const ACTION: &str = "GetCallerIdentity";
const VERSION: &str = "2011-06-15";
/// `X-Amz-*` headers a login may carry without configuration (Vault's list).
const DEFAULT_ALLOWED_AMZ_HEADERS: &[&str] = &[
    "x-amz-algorithm",
    "x-amz-content-sha256",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
    "x-amz-user-agent",
];

/// Request headers, keyed by lower-cased name, values in order.
pub(super) type Headers = BTreeMap<String, Vec<String>>;

/// The parts of a SigV4 `Authorization` header that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SigV4Authorization {
    pub(super) date: String,
    pub(super) region: String,
    pub(super) signed_headers: Vec<String>,
}

pub(super) fn parse_authorization(value: &str) -> Result<SigV4Authorization, String> {
    const ALGORITHM: &str = "AWS4-HMAC-SHA256";
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| {
            format!("the Authorization header is not AWS Signature Version 4 ({ALGORITHM})")
        })?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("malformed Authorization component {part:?}"))?;
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            other => return Err(format!("unexpected Authorization component {other:?}")),
        };
        if slot.replace(v).is_some() {
            return Err(format!("Authorization repeats {k}"));
        }
    }
    let credential = credential.ok_or("the Authorization header has no Credential")?;
    let signed = signed.ok_or("the Authorization header has no SignedHeaders")?;
    let signature = signature.ok_or("the Authorization header has no Signature")?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the Authorization Signature is not a SigV4 signature".into());
    }
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = scope.as_slice() else {
        return Err(
            "the Authorization Credential is not ACCESS_KEY/DATE/REGION/sts/aws4_request".into(),
        );
    };
    if access_key.is_empty()
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
        || region.is_empty()
        || *terminator != "aws4_request"
    {
        return Err(
            "the Authorization Credential is not ACCESS_KEY/DATE/REGION/sts/aws4_request".into(),
        );
    }
    if *service != "sts" {
        return Err(format!(
            "the request is signed for the {service:?} service, not sts"
        ));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_string).collect();
    if signed_headers
        .iter()
        .any(|h| h.is_empty() || *h != h.to_lowercase())
    {
        return Err("malformed SignedHeaders in the Authorization header".into());
    }
    Ok(SigV4Authorization {
        date: date.to_string(),
        region: region.to_string(),
        signed_headers,
    })
}

/// Decodes `iam_request_headers`: base64 of a JSON object, the JSON object
/// itself, or a JSON string; each value a string or a list of strings.
pub(super) fn parse_headers(value: &Value) -> Result<Headers, LogicalError> {
    let bad = |m: &str| LogicalError::bad(format!("iam_request_headers: {m}"));
    let parsed;
    let object = match value {
        Value::Object(m) => m,
        Value::String(s) => {
            let s = s.trim();
            parsed = match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(raw) => serde_json::from_slice::<Value>(&raw)
                    .map_err(|_| bad("not base64 of a JSON object of headers"))?,
                Err(_) => serde_json::from_str::<Value>(s)
                    .map_err(|_| bad("neither base64 nor a JSON object of headers"))?,
            };
            parsed
                .as_object()
                .ok_or_else(|| bad("must decode to a JSON object of headers"))?
        }
        _ => return Err(bad("must be a base64-encoded JSON object")),
    };
    let mut out = Headers::new();
    for (name, v) in object {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(bad(&format!("invalid header name {name:?}")));
        }
        let values: Vec<String> = match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    bad(&format!(
                        "header {name:?} must be a string or a list of strings"
                    ))
                })?,
            _ => {
                return Err(bad(&format!(
                    "header {name:?} must be a string or a list of strings"
                )))
            }
        };
        for val in &values {
            if http::HeaderValue::from_str(val).is_err() {
                return Err(bad(&format!("invalid value for header {name:?}")));
            }
        }
        out.entry(name.to_ascii_lowercase())
            .or_default()
            .extend(values);
    }
    Ok(out)
}

/// The only value of a header; more than one is refused.
fn single<'a>(headers: &'a Headers, name: &str) -> Result<Option<&'a str>, LogicalError> {
    match headers.get(name).map(Vec::as_slice) {
        None | Some([]) => Ok(None),
        Some([v]) => Ok(Some(v.as_str())),
        Some(_) => Err(LogicalError::bad(format!(
            "iam_request_headers: header {name:?} is given more than once"
        ))),
    }
}

/// The raw `iam_*` login fields.
#[derive(Debug, Clone)]
pub(super) struct LoginRequest {
    method: String,
    url: String,
    body: Vec<u8>,
    headers: Headers,
}

impl LoginRequest {
    /// Reads the `iam_*` login fields (already type-checked by the
    /// framework): the URL and body are base64, the headers base64 JSON or
    /// a JSON object.
    pub(super) fn from_fields(d: &FieldData) -> Result<Self, LogicalError> {
        let b64 = |key: &str| -> Result<Vec<u8>, LogicalError> {
            let v = d.str(key);
            let v = v.trim();
            if v.is_empty() {
                return Err(LogicalError::bad(format!("missing {key}")));
            }
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| LogicalError::bad(format!("failed to base64 decode {key}")))
        };
        let method = d.str("iam_http_request_method");
        if method.is_empty() {
            return Err(LogicalError::bad("missing iam_http_request_method"));
        }
        let url = String::from_utf8(b64("iam_request_url")?)
            .map_err(|_| LogicalError::bad("iam_request_url is not UTF-8"))?;
        let body = b64("iam_request_body")?;
        let headers = match d.get::<Value>("iam_request_headers") {
            None | Some(Value::Null) => {
                return Err(LogicalError::bad("missing iam_request_headers"))
            }
            Some(v) => parse_headers(&v)?,
        };
        if headers.is_empty() {
            return Err(LogicalError::bad("missing iam_request_headers"));
        }
        Ok(Self {
            method,
            url,
            body,
            headers,
        })
    }
}

/// A login request that passed every check: what to send, and where.
#[derive(Debug, Clone)]
pub(super) struct ValidatedRequest {
    /// The full URL the request is sent to: always the server's choice.
    pub(super) target: String,
    /// The signed Host.
    pub(super) host: String,
    pub(super) body: Vec<u8>,
    pub(super) headers: Headers,
}

/// Checks everything that can be checked without STS (see the module docs).
pub(super) fn validate_request(
    req: &LoginRequest,
    config: &ClientConfig,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ValidatedRequest, LogicalError> {
    let bad = |m: String| LogicalError::BadRequest(m);
    if req.method != "POST" {
        return Err(bad(
            "invalid iam_http_request_method; currently only 'POST' is supported".into(),
        ));
    }

    // The URL: the endpoint's root, nothing else.
    let url = parse_endpoint(&req.url).map_err(|e| bad(format!("iam_request_url: {e}")))?;
    if !matches!(url.path(), "" | "/") {
        return Err(bad(format!(
            "iam_request_url must be the STS endpoint's root URL (path \"/\"), got path {:?}",
            url.path()
        )));
    }

    // The body: exactly Action=GetCallerIdentity&Version=2011-06-15.
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let action = pairs.iter().filter(|(k, _)| k == "Action").count();
    let version = pairs.iter().filter(|(k, _)| k == "Version").count();
    let exact = pairs.len() == 2
        && action == 1
        && version == 1
        && pairs
            .iter()
            .all(|(k, v)| (k == "Action" && v == ACTION) || (k == "Version" && v == VERSION));
    if !exact {
        return Err(bad(format!(
            "iam_request_body must be exactly {ACTION:?} with version {VERSION} \
             (Action=GetCallerIdentity&Version=2011-06-15) and nothing else"
        )));
    }

    let headers = &req.headers;
    // X-Amz-* headers: Vault's allow-list plus the configured extras.
    for name in headers.keys() {
        if name.starts_with("x-amz-")
            && !DEFAULT_ALLOWED_AMZ_HEADERS.contains(&name.as_str())
            && !config
                .allowed_sts_header_values
                .iter()
                .any(|a| a.eq_ignore_ascii_case(name))
        {
            return Err(bad(format!("invalid request header: {name}")));
        }
    }

    // The signature's shape.
    let authorization = single(headers, "authorization")?
        .ok_or_else(|| bad("the signed request has no Authorization header".into()))?;
    let auth = parse_authorization(authorization).map_err(bad)?;
    let is_signed = |h: &str| auth.signed_headers.iter().any(|s| s == h);
    for required in ["host", "x-amz-date"] {
        if !is_signed(required) {
            return Err(bad(format!(
                "the {required} header is not among the SignedHeaders of the request"
            )));
        }
    }
    for h in &auth.signed_headers {
        if h != "host" && !headers.contains_key(h) {
            return Err(bad(format!(
                "signed header {h:?} is missing from iam_request_headers"
            )));
        }
    }

    // The host the request is signed for.
    let url_host = url
        .authority()
        .map(|a| a.as_str().to_ascii_lowercase())
        .unwrap_or_default();
    let host = match single(headers, "host")? {
        Some(h) => {
            let h = h.trim().to_ascii_lowercase();
            if h != url_host {
                return Err(bad(format!(
                    "the Host header {h:?} does not match the host of iam_request_url {url_host:?}"
                )));
            }
            h
        }
        None => url_host,
    };
    let target = sts_target(config, &auth.region)?;
    if !target.allowed_hosts.contains(&host) {
        return Err(bad(format!(
            "the request is signed for host {host:?}, which is not the configured STS endpoint ({}) \
             nor a standard STS host (sts.amazonaws.com, sts.<signing region>.amazonaws.com)",
            target.base
        )));
    }

    // Freshness.
    let date = single(headers, "x-amz-date")?
        .ok_or_else(|| bad("the signed request has no X-Amz-Date header".into()))?;
    let signed_at = chrono::NaiveDateTime::parse_from_str(date.trim(), "%Y%m%dT%H%M%SZ")
        .map_err(|_| bad(format!("invalid X-Amz-Date {date:?}")))?
        .and_utc();
    if (now - signed_at).num_seconds().abs() > MAX_CLOCK_SKEW_SECS {
        return Err(bad(format!(
            "the signed request is stale: X-Amz-Date {date} is more than 15 minutes from the server's time"
        )));
    }
    if !date.trim().starts_with(&auth.date) {
        return Err(bad(
            "the Authorization credential date does not match X-Amz-Date".into(),
        ));
    }

    // The server ID header, when required.
    if !config.iam_server_id_header_value.is_empty() {
        let expected = &config.iam_server_id_header_value;
        match single(headers, SERVER_ID_HEADER)? {
            None => {
                return Err(bad(
                    "error validating X-Vault-AWS-IAM-Server-ID header: missing header \"X-Vault-AWS-IAM-Server-ID\""
                        .into(),
                ))
            }
            Some(v) if v.trim() != expected => {
                return Err(bad(
                    "error validating X-Vault-AWS-IAM-Server-ID header: the value does not match this server's iam_server_id_header_value".into(),
                ))
            }
            Some(_) => {}
        }
        if !is_signed(SERVER_ID_HEADER) {
            return Err(bad(
                "error validating X-Vault-AWS-IAM-Server-ID header: header wasn't signed".into(),
            ));
        }
    }

    if let Some(len) = single(headers, "content-length")? {
        if len.trim().parse::<usize>().ok() != Some(req.body.len()) {
            return Err(bad(
                "the Content-Length header does not match iam_request_body".into(),
            ));
        }
    }

    Ok(ValidatedRequest {
        target: format!("{}/", target.base),
        host,
        body: req.body.clone(),
        headers: headers.clone(),
    })
}
