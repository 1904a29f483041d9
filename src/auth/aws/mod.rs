//! The AWS auth method, `iam` login type, compatible with Vault's `auth/aws`
//! API (what Vault clients use from Lambda, ECS and EC2 instance roles).
//!
//! Paths (relative to the mount):
//! - `config/client` (GET, POST, DELETE): the STS endpoint and the
//!   `X-Vault-AWS-IAM-Server-ID` value; `secret_key` is stored but never
//!   returned (Strongroom calls no AWS API that needs credentials).
//! - `role/:role` (GET, POST, DELETE), `role` / `roles` (LIST).
//! - `login` (POST, unauthenticated): `role`, `iam_http_request_method`,
//!   `iam_request_url`, `iam_request_body`, `iam_request_headers`.
//!
//! A login carries a SigV4-signed `sts:GetCallerIdentity` request the client
//! made with its AWS credentials but did not send. Strongroom checks that the
//! request is exactly that call, aimed at the STS host Strongroom trusts, and
//! signed over the headers that matter, *before* anything leaves the server;
//! then it replays it to the configured STS endpoint (never to the URL the
//! client names). STS answers with the caller's ARN only when the signature
//! is valid; the ARN is matched against the role's `bound_iam_principal_arn`.
//!
//! Checks made before replaying (each refusal is a 400 with a message, as
//! Vault answers):
//! - the method is `POST`; the URL has path `/` and no query;
//! - the body is exactly the form `Action=GetCallerIdentity&Version=2011-06-15`;
//! - `Authorization` is AWS SigV4 (`AWS4-HMAC-SHA256`) with a credential
//!   scope for `sts`, and `SignedHeaders` includes `host` and `x-amz-date`;
//!   every signed header is present;
//! - the signed `Host` (the header, or the URL's host when no header is
//!   given, as Vault infers it) is the STS endpoint's host; with no
//!   `sts_endpoint` configured, the standard `sts.amazonaws.com` and
//!   `sts.<region>.amazonaws.com` hosts are accepted as well, since SDKs sign
//!   for them;
//! - `X-Amz-Date` is within 15 minutes of now (STS's own window);
//! - with `iam_server_id_header_value` configured, `X-Vault-AWS-IAM-Server-ID`
//!   is present, equal, and signed;
//! - `X-Amz-*` headers are limited to Vault's allow-list plus
//!   `allowed_sts_header_values`.
//!
//! Differences from Vault, by design:
//! - Only the `iam` auth type exists; `ec2` roles and logins are refused.
//! - `resolve_aws_unique_ids` is accepted but always behaves as `false`
//!   (resolving needs IAM API calls): principals are matched by canonical ARN,
//!   so a principal deleted and re-created under the same ARN still matches.
//!   Wildcard bindings are matched against the ARN STS returns (for an
//!   assumed role, `arn:aws:iam::ACCOUNT:role/NAME` without the role's path,
//!   which STS does not report).
//! - The default STS endpoint honours `AWS_ENDPOINT_URL_STS` and then
//!   `AWS_ENDPOINT_URL`, as the AWS SDKs do.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::auth::common::{addr_allowed, is_condition_failed, TokenParams, CAS_ATTEMPTS};
use crate::logical::{
    field_bool, field_str, string_list, Backend, LogicalError, LogicalResult, Operation, Request, Response,
    StorageView,
};
use crate::storage::{BatchItem, Condition};

const CONFIG_KEY: &str = "config/client";
const ROLE_PREFIX: &str = "role/";
/// The header a client signs to bind its login to one Vault server.
const SERVER_ID_HEADER: &str = "x-vault-aws-iam-server-id";
const DEFAULT_STS_ENDPOINT: &str = "https://sts.amazonaws.com";
/// How far `X-Amz-Date` may be from now (STS's own window).
const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// Bound on one replay to STS (connect, send, read the answer).
const STS_TIMEOUT: Duration = Duration::from_secs(10);
const STS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// STS's answer is a few hundred bytes; anything this large is not STS.
const MAX_STS_RESPONSE: usize = 64 * 1024;
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
/// Headers that describe one hop, not the request: never replayed.
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

// ---------------------------------------------------------------------------
// Stored configuration and roles
// ---------------------------------------------------------------------------

/// `config/client`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct ClientConfig {
    #[serde(default)]
    access_key: String,
    /// Stored (encrypted by the barrier) for compatibility; never returned
    /// and not used: the IAM login needs no AWS credentials of its own.
    #[serde(default)]
    secret_key: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    iam_endpoint: String,
    #[serde(default)]
    sts_endpoint: String,
    #[serde(default)]
    sts_region: String,
    #[serde(default)]
    iam_server_id_header_value: String,
    #[serde(default)]
    use_sts_region_from_client: bool,
    #[serde(default = "default_max_retries")]
    max_retries: i64,
    #[serde(default)]
    allowed_sts_header_values: Vec<String>,
}

fn default_max_retries() -> i64 {
    -1
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            access_key: String::new(),
            secret_key: String::new(),
            endpoint: String::new(),
            iam_endpoint: String::new(),
            sts_endpoint: String::new(),
            sts_region: String::new(),
            iam_server_id_header_value: String::new(),
            use_sts_region_from_client: false,
            max_retries: -1,
            allowed_sts_header_values: Vec::new(),
        }
    }
}

impl ClientConfig {
    fn update_from(&mut self, data: &Map<String, Value>) -> Result<(), LogicalError> {
        let strings: [(&str, &mut String); 7] = [
            ("access_key", &mut self.access_key),
            ("secret_key", &mut self.secret_key),
            ("endpoint", &mut self.endpoint),
            ("iam_endpoint", &mut self.iam_endpoint),
            ("sts_endpoint", &mut self.sts_endpoint),
            ("sts_region", &mut self.sts_region),
            (
                "iam_server_id_header_value",
                &mut self.iam_server_id_header_value,
            ),
        ];
        for (key, slot) in strings {
            match data.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => *slot = s.trim().to_string(),
                Some(_) => return Err(LogicalError::bad(format!("{key} must be a string"))),
            }
        }
        if let Some(b) = field_bool(data, "use_sts_region_from_client")? {
            self.use_sts_region_from_client = b;
        }
        match data.get("max_retries") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let n = match v {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                self.max_retries =
                    n.ok_or_else(|| LogicalError::bad("max_retries must be an integer"))?;
            }
        }
        if let Some(list) = string_list(data, "allowed_sts_header_values")? {
            for h in &list {
                if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(LogicalError::bad(format!(
                        "allowed_sts_header_values: invalid header name {h:?}"
                    )));
                }
            }
            self.allowed_sts_header_values = list;
        }
        for (key, url) in [
            ("sts_endpoint", &self.sts_endpoint),
            ("endpoint", &self.endpoint),
            ("iam_endpoint", &self.iam_endpoint),
        ] {
            if !url.is_empty() {
                parse_endpoint(url).map_err(|e| LogicalError::bad(format!("{key}: {e}")))?;
            }
        }
        if self.iam_server_id_header_value.len() > 1024
            || http::HeaderValue::from_str(&self.iam_server_id_header_value).is_err()
        {
            return Err(LogicalError::bad(
                "iam_server_id_header_value must be a valid HTTP header value",
            ));
        }
        Ok(())
    }

    fn to_json(&self) -> Map<String, Value> {
        let v = json!({
            "access_key": self.access_key,
            "endpoint": self.endpoint,
            "iam_endpoint": self.iam_endpoint,
            "sts_endpoint": self.sts_endpoint,
            "sts_region": self.sts_region,
            "iam_server_id_header_value": self.iam_server_id_header_value,
            "use_sts_region_from_client": self.use_sts_region_from_client,
            "max_retries": self.max_retries,
            "allowed_sts_header_values": self.allowed_sts_header_values,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// `role/:role`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RoleEntry {
    auth_type: String,
    #[serde(default)]
    bound_iam_principal_arn: Vec<String>,
    #[serde(default)]
    role_id: String,
    #[serde(flatten)]
    token: TokenParams,
}

/// Role fields that only make sense for the `ec2` auth type or for inferred
/// EC2 entities, which Strongroom does not implement.
const UNSUPPORTED_ROLE_FIELDS: &[&str] = &[
    "bound_ami_id",
    "bound_account_id",
    "bound_region",
    "bound_vpc_id",
    "bound_subnet_id",
    "bound_iam_role_arn",
    "bound_iam_instance_profile_arn",
    "bound_ec2_instance_id",
    "inferred_entity_type",
    "inferred_aws_region",
    "role_tag",
];

fn unsupported_field_set(data: &Map<String, Value>, key: &str) -> bool {
    match data.get(key) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

/// Lower-cases and checks a role name (Vault's name pattern).
fn role_name(raw: &str) -> Result<String, LogicalError> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() {
        return Err(LogicalError::bad("missing role"));
    }
    if name.len() > 512
        || !name.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '+' | '=' | ',')
        })
    {
        return Err(LogicalError::bad(format!("invalid role name {raw:?}")));
    }
    Ok(name)
}

fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{name}")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, LogicalError> {
    serde_json::from_slice(bytes)
        .map_err(|e| LogicalError::Internal(format!("corrupt {what}: {e}")))
}

async fn load_config(view: &StorageView) -> Result<Option<ClientConfig>, LogicalError> {
    match view.get(CONFIG_KEY).await? {
        None => Ok(None),
        Some(b) => decode(&b, "AWS client configuration").map(Some),
    }
}

async fn load_role(view: &StorageView, name: &str) -> Result<Option<RoleEntry>, LogicalError> {
    match view.get(&role_key(name)).await? {
        None => Ok(None),
        Some(b) => decode(&b, "AWS role").map(Some),
    }
}

/// Read-modify-write of one JSON entry with a condition on the bytes read,
/// retried when a concurrent write wins. `f` gets `None` for a new entry.
async fn update_entry<T, F>(view: &StorageView, key: &str, mut f: F) -> Result<T, LogicalError>
where
    T: Serialize + serde::de::DeserializeOwned,
    F: FnMut(Option<T>) -> Result<T, LogicalError>,
{
    for _ in 0..CAS_ATTEMPTS {
        let current = view.get_versioned(key).await?;
        let (entry, cond) = match &current {
            Some(v) => (
                Some(decode::<T>(&v.plaintext, key)?),
                Condition::Equals(v.raw.clone()),
            ),
            None => (None, Condition::Absent),
        };
        let new = f(entry)?;
        let bytes = serde_json::to_vec(&new)
            .map_err(|e| LogicalError::Internal(format!("encoding {key}: {e}")))?;
        match view
            .batch(vec![BatchItem::put(key.to_string(), bytes).when(cond)])
            .await
        {
            Ok(()) => return Ok(new),
            Err(e) if is_condition_failed(&e) => tokio::task::yield_now().await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LogicalError::Unavailable(format!(
        "too many concurrent updates of {key}; retry the request"
    )))
}

// ---------------------------------------------------------------------------
// ARNs
// ---------------------------------------------------------------------------

/// An IAM principal as STS reports it (Vault's `iamEntity`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct IamEntity {
    partition: String,
    account: String,
    /// `user`, `role`, `assumed-role` or `instance-profile`.
    kind: String,
    path: String,
    /// The user or role name.
    friendly_name: String,
    /// The session name of an assumed role.
    session: String,
}

impl IamEntity {
    /// Parses `arn:aws:iam::ACCT:user/path/NAME` or
    /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` (and `role/`,
    /// `instance-profile/`), as Vault's `parseIamArn` does.
    fn parse(arn: &str) -> Result<Self, String> {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() != 6 {
            return Err(format!(
                "unrecognized arn: contains {} colon-separated parts, expected 6",
                parts.len()
            ));
        }
        if parts[0] != "arn" {
            return Err("unrecognized arn: does not begin with \"arn:\"".into());
        }
        if parts[2] != "iam" && parts[2] != "sts" {
            return Err(format!(
                "unrecognized service: {}, not one of iam or sts",
                parts[2]
            ));
        }
        if parts[1].is_empty() || parts[4].is_empty() {
            return Err("unrecognized arn: missing partition or account".into());
        }
        let segs: Vec<&str> = parts[5].split('/').collect();
        if segs.len() < 2 || segs.iter().any(|s| s.is_empty()) {
            return Err(format!(
                "unrecognized arn: {:?} contains fewer than 2 slash-separated parts",
                parts[5]
            ));
        }
        let mut entity = IamEntity {
            partition: parts[1].to_string(),
            account: parts[4].to_string(),
            kind: segs[0].to_string(),
            path: segs[1..segs.len() - 1].join("/"),
            friendly_name: segs[segs.len() - 1].to_string(),
            session: String::new(),
        };
        match entity.kind.as_str() {
            "assumed-role" => {
                if segs.len() != 3 {
                    return Err(format!(
                        "unrecognized arn: assumed-role ARN {arn:?} must be assumed-role/ROLE/SESSION"
                    ));
                }
                entity.path = String::new();
                entity.friendly_name = segs[1].to_string();
                entity.session = segs[2].to_string();
            }
            "user" | "role" | "instance-profile" => {}
            other => return Err(format!("unrecognized principal type: {other:?}")),
        }
        Ok(entity)
    }

    /// `arn:PARTITION:iam::ACCOUNT:TYPE/NAME`, with `assumed-role` turned
    /// into `role` and the path dropped (Vault's `canonicalArn`).
    fn canonical_arn(&self) -> String {
        let kind = if self.kind == "assumed-role" {
            "role"
        } else {
            self.kind.as_str()
        };
        format!(
            "arn:{}:iam::{}:{}/{}",
            self.partition, self.account, kind, self.friendly_name
        )
    }

    /// The ARN wildcard bindings are matched against: the IAM ARN with its
    /// path when STS reports one (users), else the canonical ARN.
    fn full_arn(&self) -> String {
        if self.path.is_empty() {
            return self.canonical_arn();
        }
        let kind = if self.kind == "assumed-role" {
            "role"
        } else {
            self.kind.as_str()
        };
        format!(
            "arn:{}:iam::{}:{}/{}/{}",
            self.partition, self.account, kind, self.path, self.friendly_name
        )
    }
}

/// Vault's `strutil.GlobbedStringsMatch`: a leading and/or trailing `*`.
fn globbed_match(pattern: &str, value: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == value;
    }
    let prefix = pattern.starts_with('*');
    let suffix = pattern.ends_with('*');
    match (prefix, suffix) {
        (true, true) => value.contains(&pattern[1..pattern.len() - 1]),
        (true, false) => value.ends_with(&pattern[1..]),
        (false, true) => value.starts_with(&pattern[..pattern.len() - 1]),
        (false, false) => pattern == value,
    }
}

/// Whether the principal matches one of the role's bindings: an exact
/// canonical ARN, or (for entries ending in `*`) a glob over the full ARN.
fn principal_matches(bindings: &[String], entity: &IamEntity) -> bool {
    let canonical = entity.canonical_arn();
    let full = entity.full_arn();
    bindings.iter().any(|b| {
        if b.ends_with('*') {
            globbed_match(b, &full) || globbed_match(b, &canonical)
        } else {
            *b == canonical
        }
    })
}

fn validate_binding(arn: &str) -> Result<(), LogicalError> {
    if arn == "*" || !arn.starts_with("arn:") {
        return Err(LogicalError::bad(format!(
            "bound_iam_principal_arn: {arn:?} is not an IAM principal ARN \
             (e.g. arn:aws:iam::123456789012:role/NAME, or a prefix ending in *)"
        )));
    }
    if arn.ends_with('*') {
        return Ok(());
    }
    IamEntity::parse(arn)
        .map(|_| ())
        .map_err(|e| LogicalError::bad(format!("bound_iam_principal_arn: {arn:?}: {e}")))
}

// ---------------------------------------------------------------------------
// STS's answer
// ---------------------------------------------------------------------------

/// What `GetCallerIdentity` says about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CallerIdentity {
    arn: String,
    user_id: String,
    account: String,
}

/// Parses a `GetCallerIdentityResponse` document (namespaced or not).
fn parse_caller_identity(xml: &str) -> Result<CallerIdentity, String> {
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

// ---------------------------------------------------------------------------
// Validating the signed request
// ---------------------------------------------------------------------------

/// Request headers, keyed by lower-cased name, values in order.
type Headers = BTreeMap<String, Vec<String>>;

/// The parts of a SigV4 `Authorization` header that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SigV4Authorization {
    date: String,
    region: String,
    signed_headers: Vec<String>,
}

fn parse_authorization(value: &str) -> Result<SigV4Authorization, String> {
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
fn parse_headers(value: &Value) -> Result<Headers, LogicalError> {
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

/// Where a login's request is replayed, and the hosts it may be signed for.
#[derive(Debug, Clone)]
struct StsTarget {
    /// `scheme://authority[/path]` without a trailing slash.
    base: String,
    /// Lower-cased `host[:port]` values the signed Host may take.
    allowed_hosts: Vec<String>,
}

/// Checks an endpoint URL: http(s), a host, no query.
fn parse_endpoint(url: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("URL {url:?} must start with http:// or https://")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(format!("URL {url:?} has no host"));
    }
    if uri.query().is_some() {
        return Err(format!("URL {url:?} must not have a query"));
    }
    Ok(uri)
}

/// The host forms a URL's authority may be written as in a Host header.
fn host_forms(uri: &http::Uri) -> Vec<String> {
    let Some(auth) = uri.authority() else {
        return vec![];
    };
    let host = auth.host().to_ascii_lowercase();
    let default_port = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    match auth.port_u16() {
        Some(p) if p != default_port => vec![format!("{host}:{p}")],
        _ => vec![host.clone(), format!("{host}:{default_port}")],
    }
}

/// Whether `region` looks like an AWS region (`us-east-1`, `us-gov-west-1`).
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
        && region.len() <= 32
}

fn regional_sts_host(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("sts.{region}.amazonaws.com.cn")
    } else {
        format!("sts.{region}.amazonaws.com")
    }
}

/// The STS endpoint to replay to, from the configuration, then
/// `AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL`, then AWS's global one.
fn default_sts_endpoint() -> String {
    for var in ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"] {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return v.trim().to_string();
            }
        }
    }
    DEFAULT_STS_ENDPOINT.to_string()
}

fn sts_target(config: &ClientConfig, scope_region: &str) -> Result<StsTarget, LogicalError> {
    let bad_endpoint =
        |e: String| LogicalError::Internal(format!("the configured STS endpoint is invalid: {e}"));
    if config.use_sts_region_from_client {
        // Vault's behaviour: the client's signing region picks the regional
        // endpoint, overriding sts_endpoint.
        if !is_region(scope_region) {
            return Err(LogicalError::bad(format!(
                "use_sts_region_from_client is set but the request is signed for an invalid region {scope_region:?}"
            )));
        }
        let host = regional_sts_host(scope_region);
        return Ok(StsTarget {
            base: format!("https://{host}"),
            allowed_hosts: vec![host.clone(), format!("{host}:443")],
        });
    }
    if !config.sts_endpoint.is_empty() {
        let uri = parse_endpoint(&config.sts_endpoint).map_err(bad_endpoint)?;
        return Ok(StsTarget {
            base: config.sts_endpoint.trim_end_matches('/').to_string(),
            allowed_hosts: host_forms(&uri),
        });
    }
    let endpoint = default_sts_endpoint();
    let uri = parse_endpoint(&endpoint).map_err(bad_endpoint)?;
    let mut allowed = host_forms(&uri);
    // SDKs sign for the standard hosts; with the default endpoint (AWS's,
    // or an emulator/proxy named by the environment) those are expected.
    allowed.push("sts.amazonaws.com".into());
    if is_region(scope_region) {
        allowed.push(regional_sts_host(scope_region));
    }
    Ok(StsTarget {
        base: endpoint.trim_end_matches('/').to_string(),
        allowed_hosts: allowed,
    })
}

/// The raw `iam_*` login fields.
#[derive(Debug, Clone)]
struct LoginRequest {
    method: String,
    url: String,
    body: Vec<u8>,
    headers: Headers,
}

impl LoginRequest {
    fn from_data(data: &Map<String, Value>) -> Result<Self, LogicalError> {
        let b64 = |key: &str| -> Result<Vec<u8>, LogicalError> {
            let v = match data.get(key) {
                None | Some(Value::Null) => {
                    return Err(LogicalError::bad(format!("missing {key}")))
                }
                Some(Value::String(s)) if s.trim().is_empty() => {
                    return Err(LogicalError::bad(format!("missing {key}")))
                }
                Some(Value::String(s)) => s.trim(),
                Some(_) => return Err(LogicalError::bad(format!("{key} must be a base64 string"))),
            };
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| LogicalError::bad(format!("failed to base64 decode {key}")))
        };
        let method = match field_str(data, "iam_http_request_method") {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => return Err(LogicalError::bad("missing iam_http_request_method")),
        };
        let url = String::from_utf8(b64("iam_request_url")?)
            .map_err(|_| LogicalError::bad("iam_request_url is not UTF-8"))?;
        let body = b64("iam_request_body")?;
        let headers = match data.get("iam_request_headers") {
            None | Some(Value::Null) => {
                return Err(LogicalError::bad("missing iam_request_headers"))
            }
            Some(v) => parse_headers(v)?,
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
struct ValidatedRequest {
    /// The full URL the request is replayed to.
    target: String,
    /// The signed Host.
    host: String,
    body: Vec<u8>,
    headers: Headers,
}

/// Checks everything that can be checked without STS (see the module docs).
fn validate_request(
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
            "the request is signed for host {host:?}, which is not the configured STS endpoint ({})",
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

// ---------------------------------------------------------------------------
// Replaying to STS
// ---------------------------------------------------------------------------

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

fn build_client() -> Result<HttpsClient, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // A private CA for an STS proxy, as the AWS SDKs take it.
    if let Ok(path) = std::env::var("AWS_CA_BUNDLE") {
        if !path.is_empty() {
            use rustls_pki_types::pem::PemObject;
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(&path)
                .map_err(|e| format!("AWS_CA_BUNDLE {path}: {e}"))?;
            for cert in certs.flatten() {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(STS_CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https))
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

// ---------------------------------------------------------------------------
// The backend
// ---------------------------------------------------------------------------

/// The AWS auth method (`iam` login type).
pub(crate) struct AwsAuthBackend {
    /// One HTTP client per backend: its pooled connections belong to the
    /// runtime that made them.
    client: OnceLock<Result<HttpsClient, String>>,
}

impl AwsAuthBackend {
    // Reached once core's `backend_for` maps mount type "aws" here.
    #[allow(dead_code)]
    pub(crate) fn new() -> Self {
        Self {
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&HttpsClient, LogicalError> {
        self.client
            .get_or_init(build_client)
            .as_ref()
            .map_err(|e| LogicalError::Internal(format!("cannot build the STS client: {e}")))
    }

    /// Sends the validated request to STS and parses its answer.
    async fn call_sts(&self, req: &ValidatedRequest) -> Result<CallerIdentity, LogicalError> {
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

    async fn login(&self, req: &Request, view: &StorageView) -> LogicalResult {
        if ["pkcs7", "identity", "signature"]
            .iter()
            .any(|k| unsupported_field_set(&req.data, k))
        {
            return Err(LogicalError::bad(
                "the ec2 auth type is not supported: log in with the iam auth type (a signed sts:GetCallerIdentity request)",
            ));
        }
        let login = LoginRequest::from_data(&req.data)?;
        let role_param = match req.data.get("role") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(_) => return Err(LogicalError::bad("role must be a string")),
        };
        let config = load_config(view).await?.unwrap_or_default();
        let validated = validate_request(&login, &config, chrono::Utc::now())?;

        let caller = self.call_sts(&validated).await?;
        let entity = IamEntity::parse(&caller.arn)
            .map_err(|e| LogicalError::bad(format!("error parsing arn {:?}: {e}", caller.arn)))?;

        let raw_role = role_param.unwrap_or_else(|| entity.friendly_name.clone());
        let name = role_name(&raw_role)
            .map_err(|_| LogicalError::bad(format!("entry for role {raw_role} not found")))?;
        let role = load_role(view, &name)
            .await?
            .ok_or_else(|| LogicalError::bad(format!("entry for role {name} not found")))?;
        if role.auth_type != "iam" {
            return Err(LogicalError::bad(format!(
                "auth method iam not allowed for role {name}"
            )));
        }
        if !principal_matches(&role.bound_iam_principal_arn, &entity) {
            return Err(LogicalError::bad(format!(
                "IAM Principal {:?} does not belong to the role {name:?}",
                caller.arn
            )));
        }
        if !role.token.token_bound_cidrs.is_empty()
            && !addr_allowed(&role.token.token_bound_cidrs, req.remote_addr)
        {
            return Err(LogicalError::PermissionDenied);
        }
        // "userID:sessionName" for an assumed role, the user's ID otherwise.
        let user_id = caller
            .user_id
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let mut auth = role.token.auth();
        auth.metadata = BTreeMap::from([
            ("account_id".to_string(), entity.account.clone()),
            ("auth_type".to_string(), "iam".to_string()),
            ("canonical_arn".to_string(), entity.canonical_arn()),
            ("client_arn".to_string(), caller.arn.clone()),
            ("client_user_id".to_string(), user_id),
            ("inferred_entity_id".to_string(), String::new()),
            ("inferred_entity_type".to_string(), String::new()),
            ("inferred_aws_region".to_string(), String::new()),
            ("role_id".to_string(), role.role_id.clone()),
        ]);
        auth.display_name = entity.friendly_name.clone();
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }

    async fn write_config(&self, req: &Request, view: &StorageView) -> LogicalResult {
        // Validate before touching storage.
        ClientConfig::default().update_from(&req.data)?;
        update_entry(view, CONFIG_KEY, |current: Option<ClientConfig>| {
            let mut cfg = current.unwrap_or_default();
            cfg.update_from(&req.data)?;
            Ok(cfg)
        })
        .await?;
        Ok(Response::empty())
    }

    async fn write_role(&self, req: &Request, view: &StorageView, name: &str) -> LogicalResult {
        let data = &req.data;
        let auth_type = match field_str(data, "auth_type").map(str::trim) {
            None | Some("") => None,
            Some("iam") => Some("iam"),
            Some("ec2") => return Err(LogicalError::bad(
                "auth_type \"ec2\" is not supported: Strongroom implements only the iam auth type",
            )),
            Some(other) => {
                return Err(LogicalError::bad(format!(
                    "unrecognized auth_type {other:?}: only \"iam\" is supported"
                )))
            }
        };
        if data
            .get("auth_type")
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            return Err(LogicalError::bad("auth_type must be a string"));
        }
        for key in UNSUPPORTED_ROLE_FIELDS {
            if unsupported_field_set(data, key) {
                return Err(LogicalError::bad(format!(
                    "{key} is not supported: it applies to the ec2 auth type or to inferred EC2 \
                     entities, and Strongroom implements only the iam auth type"
                )));
            }
        }
        let bound = string_list(data, "bound_iam_principal_arn")?;
        if let Some(list) = &bound {
            for arn in list {
                validate_binding(arn)?;
            }
        }
        let mut warnings = Vec::new();
        if field_bool(data, "resolve_aws_unique_ids")? == Some(true) {
            warnings.push(
                "resolve_aws_unique_ids is not supported (it needs IAM API calls) and is stored as \
                 false: principals are matched by ARN, so a principal deleted and re-created under \
                 the same ARN still matches this role"
                    .to_string(),
            );
        }
        // Reject malformed token fields before touching storage.
        TokenParams::default().update_from(data, false)?;
        update_entry(view, &role_key(name), |current: Option<RoleEntry>| {
            let mut role = current.unwrap_or_else(|| RoleEntry {
                auth_type: "iam".into(),
                role_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            });
            if let Some(t) = auth_type {
                role.auth_type = t.to_string();
            }
            if let Some(list) = &bound {
                role.bound_iam_principal_arn = list.clone();
            }
            if role.bound_iam_principal_arn.is_empty() {
                return Err(LogicalError::bad(
                    "at least one bound parameter should be specified on the role: \
                     set bound_iam_principal_arn",
                ));
            }
            role.token.update_from(data, false)?;
            role.token.validate()?;
            Ok(role)
        })
        .await?;
        Ok(Response {
            warnings,
            ..Default::default()
        })
    }

    async fn read_role(&self, view: &StorageView, name: &str) -> LogicalResult {
        let Some(role) = load_role(view, name).await? else {
            return Err(LogicalError::NotFound);
        };
        let mut data = Map::new();
        data.insert("auth_type".into(), json!(role.auth_type));
        data.insert(
            "bound_iam_principal_arn".into(),
            json!(role.bound_iam_principal_arn),
        );
        data.insert("bound_iam_principal_id".into(), json!([]));
        data.insert("resolve_aws_unique_ids".into(), json!(false));
        data.insert("role_id".into(), json!(role.role_id));
        for key in [
            "bound_ami_id",
            "bound_account_id",
            "bound_region",
            "bound_vpc_id",
            "bound_subnet_id",
            "bound_iam_role_arn",
            "bound_iam_instance_profile_arn",
            "bound_ec2_instance_id",
        ] {
            data.insert(key.into(), json!([]));
        }
        data.insert("inferred_entity_type".into(), json!(""));
        data.insert("inferred_aws_region".into(), json!(""));
        data.insert("role_tag".into(), json!(""));
        data.insert("allow_instance_migration".into(), json!(false));
        data.insert("disallow_reauthentication".into(), json!(false));
        role.token.write_json(&mut data);
        Ok(Response::data(data))
    }
}

impl Default for AwsAuthBackend {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Backend for AwsAuthBackend {
    async fn handle(&self, req: &Request, view: &StorageView) -> LogicalResult {
        let path = req.relative_path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        let write = matches!(req.operation, Operation::Create | Operation::Update);
        match (parts.as_slice(), req.operation) {
            (["login"], _) if write => self.login(req, view).await,
            (["login"], _) => Err(LogicalError::UnsupportedOperation),
            (["config", "client"], op) => match op {
                Operation::Read => match load_config(view).await? {
                    Some(cfg) => Ok(Response::data(cfg.to_json())),
                    None => Err(LogicalError::NotFound),
                },
                Operation::Create | Operation::Update => self.write_config(req, view).await,
                Operation::Delete => {
                    view.delete(CONFIG_KEY).await?;
                    Ok(Response::empty())
                }
                _ => Err(LogicalError::UnsupportedOperation),
            },
            (["role" | "roles"], Operation::List) => {
                let keys = view.list(ROLE_PREFIX).await?;
                if keys.is_empty() {
                    return Err(LogicalError::NotFound);
                }
                Ok(Response::list(keys))
            }
            (["role" | "roles"], _) => Err(LogicalError::UnsupportedOperation),
            (["role", name], op) => {
                let name = role_name(name)?;
                match op {
                    Operation::Read => self.read_role(view, &name).await,
                    Operation::Create | Operation::Update => {
                        self.write_role(req, view, &name).await
                    }
                    Operation::Delete => {
                        view.delete(&role_key(&name)).await?;
                        Ok(Response::empty())
                    }
                    _ => Err(LogicalError::UnsupportedOperation),
                }
            }
            _ => Err(LogicalError::NoRoute(format!(
                "unsupported path: {:?}",
                req.relative_path
            ))),
        }
    }

    async fn exists(&self, req: &Request, view: &StorageView) -> Result<bool, LogicalError> {
        let path = req.relative_path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["config", "client"] => Ok(view.get(CONFIG_KEY).await?.is_some()),
            ["role", name] => match role_name(name) {
                Ok(n) => Ok(view.get(&role_key(&n)).await?.is_some()),
                Err(_) => Ok(true),
            },
            _ => Ok(true),
        }
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login"]
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::auth::userpass::tests::{call, setup};

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
        let b = AwsAuthBackend::new();
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
            "standard host with an explicit endpoint",
            Signed::new("sts.amazonaws.com", Some(SERVER_ID)),
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

    #[tokio::test]
    async fn login_replays_the_signed_request_and_grants() {
        let sts = fake_sts(200, ASSUMED_XML).await;
        let (_s, view) = setup().await;
        let b = AwsAuthBackend::new();
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
        let b = AwsAuthBackend::new();
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
        let b = AwsAuthBackend::new();
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
        let b = AwsAuthBackend::new();
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
        // An explicit endpoint: only its host.
        let cfg = ClientConfig {
            sts_endpoint: "https://sts.eu-west-1.amazonaws.com".into(),
            ..Default::default()
        };
        let t = sts_target(&cfg, "eu-west-1").unwrap();
        assert_eq!(t.base, "https://sts.eu-west-1.amazonaws.com");
        assert!(t
            .allowed_hosts
            .contains(&"sts.eu-west-1.amazonaws.com".to_string()));
        assert!(!t.allowed_hosts.contains(&"sts.amazonaws.com".to_string()));
        let cfg = ClientConfig {
            sts_endpoint: "http://127.0.0.1:4566".into(),
            ..Default::default()
        };
        assert_eq!(
            sts_target(&cfg, "us-east-1").unwrap().allowed_hosts,
            vec!["127.0.0.1:4566"]
        );
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
        let e =
            IamEntity::parse("arn:aws:sts::123456789012:assumed-role/MyRole/session-1").unwrap();
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
        if !crate::aws::aws_tests_enabled("logical::aws_auth::login_against_moto_sts") {
            return;
        }
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
        let endpoint = endpoint.trim().trim_end_matches('/').to_string();
        let uri = parse_endpoint(&endpoint).unwrap();
        let host = uri.authority().unwrap().as_str().to_string();
        let (_s, view) = setup().await;
        let b = AwsAuthBackend::new();

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
}
