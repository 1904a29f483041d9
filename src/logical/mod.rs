//! Logical layer: the request/response model that every engine speaks and
//! the per-mount storage view engines write through.
//!
//! Nothing here knows about HTTP. The HTTP server and the (later) Lambda
//! adapter both translate their wire format into a [`Request`] and render a
//! [`Response`] or [`LogicalError`] back; engines never see either transport.

pub(crate) mod auth;
pub(crate) mod cache;
pub(crate) mod framework;
pub(crate) mod view;

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

pub(crate) use auth::Auth;
pub(crate) use view::StorageView;

use crate::barrier::BarrierError;
use crate::storage::StorageError;

/// The header a standby adds (with its node id) to a request it forwards to
/// the active node; here because core's audit entries show it
/// (`forwarded_from`) and core never imports the HTTP layer.
pub(crate) const FORWARDED_HEADER: &str = "x-strongroom-forwarded";

/// What a request asks for, independent of the HTTP verb that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Operation {
    Read,
    /// PUT/POST on a path that does not exist yet (ACLs distinguish it).
    Create,
    /// PUT/POST on an existing path.
    Update,
    Patch,
    Delete,
    List,
    /// `?help=1`: the path's documentation (authorized as a read).
    Help,
}

impl Operation {
    /// Whether the operation may change storage.
    pub(crate) fn is_write(self) -> bool {
        !matches!(self, Operation::Read | Operation::List | Operation::Help)
    }
}

/// A transport-neutral request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) id: String,
    pub(crate) operation: Operation,
    /// The normalized path after `/v1/`, e.g. `secret/data/app/db`.
    pub(crate) path: String,
    /// The mount the router chose, e.g. `secret/` (empty before routing).
    pub(crate) mount_point: String,
    /// The path relative to the mount, e.g. `data/app/db`.
    pub(crate) relative_path: String,
    /// The JSON body (for writes) merged with query parameters (for reads and lists).
    pub(crate) data: Map<String, Value>,
    /// Selected request headers, lower-cased names.
    pub(crate) headers: HashMap<String, String>,
    /// The caller's token. Never logged, never stored in plaintext.
    pub(crate) client_token: Option<String>,
    /// The caller's IP address, for CIDR-bound credentials.
    pub(crate) remote_addr: Option<std::net::IpAddr>,
    /// The mount's (default, max) lease TTLs in seconds, filled in by core
    /// when it routes to a mount (Vault's `System().DefaultLeaseTTL()`);
    /// (0, 0) before routing.
    pub(crate) mount_ttls: (u64, u64),
    /// A body that is not JSON (an OCSP request, `application/ocsp-request`).
    pub(crate) raw_body: Option<Vec<u8>>,
    /// The client's TLS certificate chain (DER, leaf first; empty when none).
    pub(crate) client_cert_chain: Vec<Vec<u8>>,
    /// The identity entity of the caller's token, set by core once the
    /// token is authenticated (empty: none); never taken from the client.
    pub(crate) entity_id: String,
    /// The caller's TCP port (audit entries' `remote_port`).
    pub(crate) remote_port: Option<u16>,
}

/// A fresh random (v4) request id. Drawn from the thread-local CSPRNG
/// rather than `Uuid::new_v4` (a getrandom(2) system call per request:
/// bench/PROFILE.md); ids only need to be unique, not secret.
fn request_id() -> String {
    let bytes: [u8; 16] = rand::random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

impl Request {
    pub(crate) fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            id: request_id(),
            operation,
            path: path.into(),
            mount_point: String::new(),
            relative_path: String::new(),
            data: Map::new(),
            headers: HashMap::new(),
            client_token: None,
            remote_addr: None,
            mount_ttls: (0, 0),
            raw_body: None,
            client_cert_chain: Vec::new(),
            entity_id: String::new(),
            remote_port: None,
        }
    }

    pub(crate) fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A transport-neutral response.
#[derive(Debug, Clone, Default)]
pub(crate) struct Response {
    /// Overrides the status code the transport would pick (200 with data,
    /// 204 without). KV v2 uses it to answer 404 *with* a body for a
    /// deleted version, as Vault does.
    pub(crate) status: Option<u16>,
    pub(crate) data: Option<Map<String, Value>>,
    pub(crate) warnings: Vec<String>,
    /// A login's grant; core issues the token and renders the `auth` block.
    pub(crate) auth: Option<Auth>,
    pub(crate) lease_id: String,
    pub(crate) renewable: bool,
    pub(crate) lease_duration: u64,
    /// A body rendered as-is, without the standard envelope. Vault's
    /// `sys/health`, `sys/seal-status`, `sys/init` and friends answer this way.
    pub(crate) raw: Option<Value>,
    /// Set when the response was wrapped: the body is only this.
    pub(crate) wrap_info: Option<Value>,
    /// A non-JSON body (content type, text), e.g. Prometheus metrics.
    pub(crate) text: Option<(&'static str, String)>,
    /// A binary body (content type, bytes), e.g. a DER certificate or CRL.
    pub(crate) binary: Option<(&'static str, Vec<u8>)>,
    /// A secret lease for what this response hands out (Vault's `secret`
    /// block): core stores a lease entry and fills in `lease_id`.
    pub(crate) secret: Option<SecretLease>,
}

/// A lease on a secret a backend handed out. Core records it under
/// `id` and, when the lease is revoked or expires, calls the backend's
/// revoke path (`Backend::revoke_secret`) with `internal`.
#[derive(Debug, Clone)]
pub(crate) struct SecretLease {
    /// The full lease id: `<mount path><request path>/<unique id>`.
    pub(crate) id: String,
    pub(crate) ttl: u64,
    pub(crate) renewable: bool,
    /// What the backend needs to revoke the secret (never shown to clients).
    pub(crate) internal: Value,
}

impl Response {
    pub(crate) fn data(data: Map<String, Value>) -> Self {
        Self {
            data: Some(data),
            ..Default::default()
        }
    }

    /// A response from a `serde_json::json!({...})` object.
    pub(crate) fn json(value: Value) -> Self {
        match value {
            Value::Object(m) => Self::data(m),
            other => Self {
                raw: Some(other),
                ..Default::default()
            },
        }
    }

    pub(crate) fn raw(value: Value) -> Self {
        Self {
            raw: Some(value),
            ..Default::default()
        }
    }

    pub(crate) fn raw_with_status(status: u16, value: Value) -> Self {
        Self {
            status: Some(status),
            raw: Some(value),
            ..Default::default()
        }
    }

    /// No content: rendered as 204.
    pub(crate) fn empty() -> Self {
        Self::default()
    }

    pub(crate) fn list(keys: Vec<String>) -> Self {
        let mut m = Map::new();
        m.insert("keys".into(), Value::from(keys));
        Self::data(m)
    }
}

/// Errors an engine or the core can return; each maps to Vault's status code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogicalError {
    /// 400 with a message.
    #[error("{0}")]
    BadRequest(String),
    /// 403 `permission denied`: no token, or an unknown one.
    #[error("permission denied")]
    PermissionDenied,
    /// 403 from a policy check; Vault words it as a multierror.
    #[error("1 error occurred:\n\t* permission denied\n\n")]
    PermissionDeniedPolicy,
    /// 403 with Vault's own message (the token store's `bad token`).
    #[error("{0}")]
    Forbidden(String),
    /// 404 with `{"errors":[]}`: the key does not exist.
    #[error("not found")]
    NotFound,
    /// 404 with a message: no mount handles the path.
    #[error("{0}")]
    NoRoute(String),
    /// 405 `{"errors":[]}`: the path exists but not for this operation.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// 412/400 etc. are expressed with BadRequest; 413 for oversize bodies.
    #[error("{0}")]
    TooLarge(String),
    /// 503 `Vault is sealed`.
    #[error("Vault is sealed")]
    Sealed,
    /// 503: storage or a dependency is unavailable; safe to retry.
    #[error("{0}")]
    Unavailable(String),
    /// This node cannot write (HA standby, or it just lost the lease): the
    /// transport forwards the request to the active node, or answers 503
    /// with `Retry-After` when there is none.
    #[error("{0}")]
    Standby(String),
    /// 500: an internal error. The message is safe to show (no secrets).
    #[error("{0}")]
    Internal(String),
}

impl LogicalError {
    pub(crate) fn bad(msg: impl Into<String>) -> Self {
        LogicalError::BadRequest(msg.into())
    }

    /// The HTTP status Vault answers with.
    pub(crate) fn status(&self) -> u16 {
        match self {
            LogicalError::BadRequest(_) => 400,
            LogicalError::PermissionDenied
            | LogicalError::PermissionDeniedPolicy
            | LogicalError::Forbidden(_) => 403,
            LogicalError::NotFound | LogicalError::NoRoute(_) => 404,
            LogicalError::UnsupportedOperation => 405,
            LogicalError::TooLarge(_) => 413,
            LogicalError::Sealed | LogicalError::Unavailable(_) | LogicalError::Standby(_) => 503,
            LogicalError::Internal(_) => 500,
        }
    }

    /// The `errors` array of the body.
    pub(crate) fn messages(&self) -> Vec<String> {
        match self {
            LogicalError::NotFound | LogicalError::UnsupportedOperation => vec![],
            other => vec![other.to_string()],
        }
    }
}

impl From<BarrierError> for LogicalError {
    fn from(e: BarrierError) -> Self {
        match e {
            BarrierError::Sealed => LogicalError::Sealed,
            BarrierError::Storage(s) => s.into(),
            other => {
                tracing::error!(error = %other, "barrier error");
                LogicalError::Internal("internal error".into())
            }
        }
    }
}

impl From<StorageError> for LogicalError {
    fn from(e: StorageError) -> Self {
        if matches!(e, StorageError::ReadOnly | StorageError::LeaseLost) {
            return LogicalError::Standby(e.to_string());
        }
        tracing::error!(error = %e, "storage error");
        match e {
            StorageError::ReadOnly | StorageError::LeaseLost => {
                LogicalError::Standby(e.to_string())
            }
            StorageError::ConditionFailed(_) => LogicalError::Unavailable(
                "a concurrent write changed this value; retry the request".into(),
            ),
            // The backend's text (AWS operation names, SDK errors) is in
            // the log above, never in the answer.
            StorageError::Backend(_) => {
                LogicalError::Unavailable("storage unavailable; retry the request".into())
            }
            StorageError::Invalid(m) => LogicalError::BadRequest(m),
        }
    }
}

pub(crate) type LogicalResult = Result<Response, LogicalError>;

/// A secrets engine (or auth method) mounted at a path.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Handles a routed request. `req.relative_path` is relative to the mount;
    /// `view` is the mount's private storage.
    async fn handle(&self, req: &Request, view: &StorageView) -> LogicalResult;

    /// Whether `relative_path` already exists, so core can tell Create from
    /// Update for policies. Engines without the distinction answer `true`.
    async fn exists(&self, _req: &Request, _view: &StorageView) -> Result<bool, LogicalError> {
        Ok(true)
    }

    /// Revokes a secret this backend leased (see [`SecretLease`]): core
    /// calls it when the lease is revoked or expires.
    async fn revoke_secret(
        &self,
        _internal: &Value,
        _view: &StorageView,
    ) -> Result<(), LogicalError> {
        Ok(())
    }

    /// Paths (relative to the mount) that need no token, such as `login`.
    /// A trailing `*` matches any suffix. Only auth methods have any.
    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[]
    }

    /// Periodic upkeep (transit's auto-rotation), run by core on the active
    /// node about once a minute for each mount. Most engines have none.
    async fn periodic(&self, _view: &StorageView) -> Result<(), LogicalError> {
        Ok(())
    }
}

/// Reads a field as a string, accepting JSON strings only.
pub(crate) fn field_str<'a>(data: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str)
}

/// Reads a field as an unsigned integer, accepting numbers and numeric strings
/// (query parameters arrive as strings).
pub(crate) fn field_u64(data: &Map<String, Value>, key: &str) -> Result<Option<u64>, LogicalError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| LogicalError::bad(format!("{key} must be a non-negative integer"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| LogicalError::bad(format!("{key} must be a non-negative integer"))),
        Some(_) => Err(LogicalError::bad(format!(
            "{key} must be a non-negative integer"
        ))),
    }
}

/// Reads a boolean, accepting JSON booleans and "true"/"false" strings.
pub(crate) fn field_bool(
    data: &Map<String, Value>,
    key: &str,
) -> Result<Option<bool>, LogicalError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.as_str() {
            "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(Some(true)),
            "false" | "0" | "f" | "F" | "FALSE" | "False" | "" => Ok(Some(false)),
            _ => Err(LogicalError::bad(format!("{key} must be a boolean"))),
        },
        Some(Value::Number(n)) => Ok(Some(n.as_u64() != Some(0))),
        Some(_) => Err(LogicalError::bad(format!("{key} must be a boolean"))),
    }
}

/// Reads a duration field (`"1h"` or seconds).
pub(crate) fn duration_field(
    data: &Map<String, Value>,
    key: &str,
) -> Result<Option<u64>, LogicalError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_duration(v)
            .map(Some)
            .map_err(|e| LogicalError::bad(format!("{key}: {e}"))),
    }
}

/// Reads a list of strings given as a JSON array or a comma-separated string.
pub(crate) fn string_list(
    data: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, LogicalError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(|s| s.trim().to_string())
                    .ok_or_else(|| LogicalError::bad(format!("{key} must be a list of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| Some(v.into_iter().filter(|s| !s.is_empty()).collect())),
        Some(_) => Err(LogicalError::bad(format!(
            "{key} must be a list of strings"
        ))),
    }
}

/// Parses a Vault duration: an integer number of seconds or a Go-style
/// string such as `30s`, `5m`, `1h30m`, `768h`, `7d` (Vault accepts `d`).
pub(crate) fn parse_duration(value: &Value) -> Result<u64, String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| "duration must be a non-negative integer".to_string()),
        Value::String(s) => parse_duration_str(s),
        Value::Null => Ok(0),
        _ => Err("duration must be a string or a number of seconds".into()),
    }
}

pub(crate) fn parse_duration_str(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let mut total: f64 = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let bad = || format!("invalid duration {s:?}");
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() || n == 'µ' {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let mult = match unit.as_str() {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(bad()),
        };
        total += v * mult;
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(total.floor() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_fresh_v4_uuids() {
        let (a, b) = (request_id(), request_id());
        assert_ne!(a, b);
        for id in [a, b] {
            let u = uuid::Uuid::parse_str(&id).unwrap();
            assert_eq!(u.get_version_num(), 4);
            assert_eq!(u.hyphenated().to_string(), id);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_str("30").unwrap(), 30);
        assert_eq!(parse_duration_str("30s").unwrap(), 30);
        assert_eq!(parse_duration_str("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration_str("768h").unwrap(), 768 * 3600);
        assert_eq!(parse_duration_str("2d").unwrap(), 172800);
        assert_eq!(parse_duration_str("0s").unwrap(), 0);
        assert!(parse_duration_str("abc").is_err());
        assert!(parse_duration_str("10x").is_err());
        assert!(parse_duration_str("10").is_ok());
    }
}
