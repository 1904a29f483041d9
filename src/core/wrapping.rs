//! Response wrapping: `X-Vault-Wrap-TTL` on any request, and
//! `sys/wrapping/{wrap,unwrap,lookup,rewrap}`.
//!
//! A wrapped response is stored in the cubbyhole of a fresh single-purpose
//! token (policy `response-wrapping`), and the client gets only that token.
//! Unwrapping reads the response and revokes the token with a conditional
//! delete, so of any number of concurrent unwraps exactly one succeeds.

use serde_json::{json, Map, Value};

use super::tokens::{cubbyhole_prefix, FoundToken, NewToken};
use super::{Core, Unsealed};
use crate::logical::{
    field_str, LogicalError, LogicalResult, Operation, Request, Response, StorageView,
};

/// Vault's built-in policy for wrapping tokens.
pub(crate) const RESPONSE_WRAPPING_POLICY: &str = "response-wrapping";
pub(crate) const RESPONSE_WRAPPING_POLICY_TEXT: &str = r#"
path "cubbyhole/response" {
  capabilities = ["create", "read"]
}
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}
"#;
/// Longest wrap TTL accepted.
const MAX_WRAP_TTL: u64 = 32 * 24 * 3600;
const RESPONSE_KEY: &str = "response";
const INFO_KEY: &str = "info";

/// Parses the `X-Vault-Wrap-TTL` header, if present.
pub(crate) fn requested_wrap_ttl(req: &Request) -> Result<Option<u64>, LogicalError> {
    match req.header("x-vault-wrap-ttl") {
        None => Ok(None),
        Some(v) => {
            let ttl = crate::logical::parse_duration_str(v)
                .map_err(|e| LogicalError::bad(format!("invalid wrap TTL: {e}")))?;
            if ttl == 0 {
                return Ok(None);
            }
            if ttl > MAX_WRAP_TTL {
                return Err(LogicalError::bad("wrap TTL exceeds the maximum of 768h"));
            }
            Ok(Some(ttl))
        }
    }
}

/// Wraps a rendered response body under a new wrapping token.
pub(crate) async fn wrap(
    core: &Core,
    state: &Unsealed,
    body: Value,
    ttl: u64,
    creation_path: &str,
) -> LogicalResult {
    let (token, found) = state
        .tokens
        .create(NewToken {
            policies: vec![RESPONSE_WRAPPING_POLICY.into()],
            display_name: "response-wrapping".into(),
            path: creation_path.to_string(),
            ttl,
            max_ttl: ttl,
            wrapping: true,
            ..Default::default()
        })
        .await?;
    let now = state.tokens.now();
    let creation_time = chrono::DateTime::from_timestamp(now, 0)
        .map(crate::util::rfc3339)
        .unwrap_or_default();
    let info = json!({
        "creation_path": creation_path,
        "creation_time": creation_time,
        "creation_ttl": ttl,
    });
    let cubby = StorageView::new(core.barrier.clone(), cubbyhole_prefix(&found.hash));
    let bytes = serde_json::to_vec(&body).map_err(|e| LogicalError::Internal(e.to_string()))?;
    let info_bytes =
        serde_json::to_vec(&info).map_err(|e| LogicalError::Internal(e.to_string()))?;
    cubby
        .batch(vec![
            crate::storage::BatchItem::put(RESPONSE_KEY, bytes),
            crate::storage::BatchItem::put(INFO_KEY, info_bytes),
        ])
        .await?;
    let wrapped_accessor = body
        .pointer("/auth/accessor")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut wrap_info = json!({
        "token": token,
        "accessor": found.entry.accessor,
        "ttl": ttl,
        "creation_time": creation_time,
        "creation_path": creation_path,
    });
    if !wrapped_accessor.is_empty() {
        wrap_info["wrapped_accessor"] = Value::from(wrapped_accessor);
    }
    Ok(Response {
        wrap_info: Some(wrap_info),
        ..Default::default()
    })
}

/// The response body a wrapped request would have had (the envelope).
pub(crate) fn envelope(req_id: &str, resp: &Response) -> Value {
    json!({
        "request_id": req_id,
        "lease_id": resp.lease_id,
        "renewable": resp.renewable,
        "lease_duration": resp.lease_duration,
        "data": resp.data.clone().map(Value::Object).unwrap_or(Value::Null),
        "wrap_info": Value::Null,
        "warnings": if resp.warnings.is_empty() { Value::Null } else { Value::from(resp.warnings.clone()) },
        "auth": resp.auth.as_ref().map(|a| a.to_json()).unwrap_or(Value::Null),
    })
}

/// Finds the wrapping token named in the body, or the caller itself.
async fn wrapping_token(
    state: &Unsealed,
    req: &Request,
    caller: &FoundToken,
) -> Result<FoundToken, LogicalError> {
    let invalid = || LogicalError::bad("wrapping token is not valid or does not exist");
    let found = match field_str(&req.data, "token").filter(|t| !t.is_empty()) {
        Some(t) => state.tokens.lookup(t).await?.ok_or_else(invalid)?,
        None => caller.clone(),
    };
    if !found.entry.wrapping {
        return Err(invalid());
    }
    Ok(found)
}

async fn read_cubby(core: &Core, hash: &str, key: &str) -> Result<Value, LogicalError> {
    let cubby = StorageView::new(core.barrier.clone(), cubbyhole_prefix(hash));
    let bytes = cubby
        .get(key)
        .await?
        .ok_or_else(|| LogicalError::bad("wrapping token is not valid or does not exist"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| LogicalError::Internal(format!("wrapped response: {e}")))
}

/// `sys/wrapping/<op>`.
pub(crate) async fn handle(
    core: &Core,
    state: &Unsealed,
    req: &Request,
    caller: &FoundToken,
    op: &str,
) -> LogicalResult {
    if !matches!(req.operation, Operation::Update | Operation::Create) {
        return Err(LogicalError::UnsupportedOperation);
    }
    match op {
        "wrap" => {
            // Vault wraps whatever the body holds, nothing included, but
            // only when the caller asked for wrapping.
            let ttl = requested_wrap_ttl(req)?.ok_or_else(|| {
                LogicalError::bad("endpoint requires response wrapping to be used")
            })?;
            let data = if req.data.is_empty() {
                Value::Null
            } else {
                Value::Object(req.data.clone())
            };
            let body = json!({
                "request_id": req.id, "lease_id": "", "renewable": false, "lease_duration": 0,
                "data": data, "wrap_info": Value::Null, "warnings": Value::Null, "auth": Value::Null,
            });
            wrap(core, state, body, ttl, "sys/wrapping/wrap").await
        }
        "unwrap" => {
            let found = wrapping_token(state, req, caller).await?;
            let body = read_cubby(core, &found.hash, RESPONSE_KEY).await?;
            if !state.tokens.revoke_once(&found).await? {
                return Err(LogicalError::bad(
                    "wrapping token is not valid or does not exist",
                ));
            }
            // Vault answers with the wrapped response exactly as it was.
            let empty = body.get("data").is_none_or(Value::is_null)
                && body.get("auth").is_none_or(Value::is_null);
            if empty {
                return Ok(Response::empty());
            }
            Ok(Response::raw(body))
        }
        "lookup" => {
            let found = wrapping_token(state, req, caller).await?;
            let info = read_cubby(core, &found.hash, INFO_KEY).await?;
            let mut data: Map<String, Value> = info.as_object().cloned().unwrap_or_default();
            data.insert("creation_ttl".into(), Value::from(found.entry.creation_ttl));
            Ok(Response::data(data))
        }
        "rewrap" => {
            let found = wrapping_token(state, req, caller).await?;
            let body = read_cubby(core, &found.hash, RESPONSE_KEY).await?;
            let info = read_cubby(core, &found.hash, INFO_KEY).await?;
            if !state.tokens.revoke_once(&found).await? {
                return Err(LogicalError::bad(
                    "wrapping token is not valid or does not exist",
                ));
            }
            let path = info
                .get("creation_path")
                .and_then(Value::as_str)
                .unwrap_or("sys/wrapping/rewrap")
                .to_string();
            wrap(core, state, body, found.entry.creation_ttl, &path).await
        }
        _ => Err(LogicalError::NoRoute(format!(
            "unsupported path: sys/wrapping/{op}"
        ))),
    }
}
