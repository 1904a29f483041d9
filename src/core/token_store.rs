//! `auth/token/`: Vault's token store endpoints (create, lookup, renew,
//! revoke, roles, accessors). Storage-side logic lives in `tokens.rs`; this
//! module resolves TTLs and policies and shapes Vault's responses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::tokens::{FoundToken, NewToken, RenewError, TokenEntry};
use super::{Core, Unsealed};
use crate::logical::{
    duration_field, field_bool, field_str, field_u64, string_list, Auth,
    LogicalError, LogicalResult, Operation, Request, Response,
};
use crate::policy::normalize_policies;

const ROLE_PREFIX: &str = "sys/token/roles/";

/// A token role: a template for `create/:role`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub(crate) struct TokenRole {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) allowed_policies: Vec<String>,
    #[serde(default)]
    pub(crate) disallowed_policies: Vec<String>,
    #[serde(default)]
    pub(crate) orphan: bool,
    #[serde(default = "yes")]
    pub(crate) renewable: bool,
    #[serde(default)]
    pub(crate) token_period: u64,
    #[serde(default)]
    pub(crate) token_explicit_max_ttl: u64,
    #[serde(default)]
    pub(crate) path_suffix: String,
    #[serde(default)]
    pub(crate) token_bound_cidrs: Vec<String>,
}

fn yes() -> bool {
    true
}

fn string_map(
    data: &Map<String, Value>,
    key: &str,
) -> Result<BTreeMap<String, String>, LogicalError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(LogicalError::bad(format!("{key} values must be strings"))),
            })
            .collect(),
        Some(_) => Err(LogicalError::bad(format!("{key} must be a map of strings"))),
    }
}

/// The effective TTL limits of an auth mount: its tuned TTLs, else the
/// system's (server configuration).
fn mount_ttls(state: &Unsealed, mount: &str) -> (u64, u64) {
    let cfg = state
        .mounts
        .get(mount)
        .map(|m| m.config.clone())
        .unwrap_or_default();
    let (default, max) = state.system_ttls.for_mount(&cfg);
    (default.min(max), max)
}

/// Resolves the TTL fields of a grant into `NewToken` settings, capping as
/// Vault does (with a warning) rather than failing.
pub(crate) fn resolve_ttls(
    state: &Unsealed,
    mount: &str,
    ttl: u64,
    explicit_max_ttl: u64,
    period: u64,
    warnings: &mut Vec<String>,
) -> (u64, u64) {
    let (default, mount_max) = mount_ttls(state, mount);
    let cap = if explicit_max_ttl > 0 {
        explicit_max_ttl.min(mount_max)
    } else {
        mount_max
    };
    if period > 0 {
        let ttl = if explicit_max_ttl > 0 {
            period.min(explicit_max_ttl)
        } else {
            period
        };
        return (
            ttl,
            if explicit_max_ttl > 0 {
                explicit_max_ttl
            } else {
                0
            },
        );
    }
    let wanted = if ttl == 0 { default } else { ttl };
    if wanted > cap {
        warnings.push(format!(
            "TTL of \"{wanted}s\" exceeded the effective max_ttl of \"{cap}s\"; TTL value is capped accordingly"
        ));
    }
    (wanted.min(cap), cap)
}

/// Issues a token for a login grant and fills the grant's `auth` fields.
pub(crate) async fn issue_for_login(
    state: &Unsealed,
    mount: &str,
    path: &str,
    auth: &mut Auth,
    warnings: &mut Vec<String>,
) -> Result<(), LogicalError> {
    let policies = normalize_policies(auth.policies.clone(), !auth.no_default_policy);
    let (ttl, max) = resolve_ttls(
        state,
        mount,
        auth.ttl,
        auth.explicit_max_ttl,
        auth.period,
        warnings,
    );
    let mount_name = mount
        .trim_start_matches("auth/")
        .trim_end_matches('/')
        .replace('/', "-");
    let display_name = if auth.display_name.is_empty() {
        mount_name
    } else {
        format!("{mount_name}-{}", auth.display_name)
    };
    let (token, found) = state
        .tokens
        .create(NewToken {
            policies: policies.clone(),
            meta: auth.metadata.clone(),
            display_name,
            path: path.to_string(),
            ttl,
            max_ttl: max,
            explicit_max_ttl: auth.explicit_max_ttl,
            period: auth.period,
            num_uses: auth.num_uses,
            renewable: auth.renewable,
            bound_cidrs: auth.bound_cidrs.clone(),
            ..Default::default()
        })
        .await?;
    auth.client_token = token;
    auth.accessor = found.entry.accessor.clone();
    auth.lease_duration = found.entry.ttl;
    auth.renewable = found.entry.renewable;
    auth.orphan = true;
    auth.token_policies = policies;
    Ok(())
}

/// Vault's lookup body for a token.
pub(crate) fn lookup_json(entry: &TokenEntry, id: &str, now: i64) -> Value {
    let expire_time = if entry.expire_time == 0 {
        Value::Null
    } else {
        chrono::DateTime::from_timestamp(entry.expire_time, 0)
            .map(|t| Value::from(crate::util::rfc3339(t)))
            .unwrap_or(Value::Null)
    };
    let meta: Value = if entry.meta.is_empty() {
        Value::Null
    } else {
        json!(entry.meta)
    };
    let mut v = json!({
        "accessor": entry.accessor,
        "creation_time": entry.creation_time,
        "creation_ttl": entry.creation_ttl,
        "display_name": entry.display_name,
        "entity_id": "",
        "expire_time": expire_time,
        "explicit_max_ttl": entry.explicit_max_ttl,
        "id": id,
        "issue_time": entry.issue_time,
        "meta": meta,
        "num_uses": entry.num_uses,
        "orphan": entry.orphan,
        "path": entry.path,
        "policies": entry.policies,
        "renewable": entry.renewable,
        "ttl": entry.remaining_ttl(now),
        "type": "service",
    });
    if entry.period > 0 {
        v["period"] = Value::from(entry.period);
    }
    if !entry.role.is_empty() {
        v["role"] = Value::from(entry.role.clone());
    }
    if !entry.bound_cidrs.is_empty() {
        v["bound_cidrs"] = json!(entry.bound_cidrs);
    }
    v
}

fn write_ops(op: Operation) -> Result<(), LogicalError> {
    match op {
        Operation::Update | Operation::Create => Ok(()),
        _ => Err(LogicalError::UnsupportedOperation),
    }
}

/// Handles `auth/token/<rest>`.
pub(crate) async fn handle(
    core: &Core,
    state: &Unsealed,
    req: &Request,
    caller: &FoundToken,
    rest: &str,
) -> LogicalResult {
    let op = req.operation;
    let ts = &state.tokens;
    let now = ts.now();
    match rest {
        "create" | "create-orphan" => {
            write_ops(op)?;
            create(state, req, caller, rest == "create-orphan", None).await
        }
        r if r.starts_with("create/") => {
            write_ops(op)?;
            let role = load_role(core, &r["create/".len()..])
                .await?
                .ok_or_else(|| LogicalError::bad("unknown role"))?;
            create(state, req, caller, role.orphan, Some(role)).await
        }
        "lookup-self" => {
            if !matches!(op, Operation::Read | Operation::Update | Operation::Create) {
                return Err(LogicalError::UnsupportedOperation);
            }
            let id = req.client_token.clone().unwrap_or_default();
            Ok(Response::json(lookup_json(&caller.entry, &id, now)))
        }
        "lookup" => {
            let token =
                field_str(&req.data, "token").ok_or_else(|| LogicalError::bad("missing token"))?;
            let found = ts
                .lookup(token)
                .await?
                .ok_or_else(|| LogicalError::bad("bad token"))?;
            Ok(Response::json(lookup_json(&found.entry, token, now)))
        }
        "lookup-accessor" => {
            write_ops(op)?;
            let found = by_accessor(state, req).await?;
            Ok(Response::json(lookup_json(&found.entry, "", now)))
        }
        "renew-self" => {
            write_ops(op)?;
            let token = req.client_token.clone().unwrap_or_default();
            renew(state, req, caller, &token).await
        }
        "renew" => {
            write_ops(op)?;
            let token =
                field_str(&req.data, "token").ok_or_else(|| LogicalError::bad("missing token"))?;
            let found = ts
                .lookup(token)
                .await?
                .ok_or_else(|| LogicalError::bad("invalid token"))?;
            renew(state, req, &found, token).await
        }
        "renew-accessor" => {
            write_ops(op)?;
            let found = by_accessor(state, req).await?;
            renew(state, req, &found, "").await
        }
        "revoke-self" => {
            write_ops(op)?;
            ts.revoke_tree(&caller.hash).await?;
            Ok(Response::empty())
        }
        "revoke" => {
            write_ops(op)?;
            let token =
                field_str(&req.data, "token").ok_or_else(|| LogicalError::bad("missing token"))?;
            if let Some(found) = ts.lookup(token).await? {
                ts.revoke_tree(&found.hash).await?;
            }
            Ok(Response::empty())
        }
        "revoke-accessor" => {
            write_ops(op)?;
            let found = by_accessor(state, req).await?;
            ts.revoke_tree(&found.hash).await?;
            Ok(Response::empty())
        }
        "revoke-orphan" => {
            write_ops(op)?;
            let token =
                field_str(&req.data, "token").ok_or_else(|| LogicalError::bad("missing token"))?;
            if let Some(found) = ts.lookup(token).await? {
                ts.revoke_orphan(&found.hash).await?;
            }
            Ok(Response::empty())
        }
        "accessors" | "accessors/" => {
            if op != Operation::List {
                return Err(LogicalError::UnsupportedOperation);
            }
            Ok(Response::list(ts.list_accessors().await?))
        }
        "roles" | "roles/" => {
            if op != Operation::List {
                return Err(LogicalError::UnsupportedOperation);
            }
            let keys = core.barrier.list(ROLE_PREFIX).await?;
            if keys.is_empty() {
                return Err(LogicalError::NotFound);
            }
            Ok(Response::list(keys))
        }
        r if r.starts_with("roles/") => role_endpoint(core, req, &r["roles/".len()..]).await,
        "tidy" => {
            write_ops(op)?;
            ts.sweep_expired().await?;
            let mut r = Response::empty();
            r.warnings.push("Tidy operation successfully started. Any information from the operation will be printed to Strongroom's server logs.".into());
            Ok(r)
        }
        _ => Err(LogicalError::NoRoute(format!(
            "unsupported path: auth/token/{rest}"
        ))),
    }
}

async fn by_accessor(state: &Unsealed, req: &Request) -> Result<FoundToken, LogicalError> {
    let accessor =
        field_str(&req.data, "accessor").ok_or_else(|| LogicalError::bad("missing accessor"))?;
    state
        .tokens
        .lookup_accessor(accessor)
        .await?
        .ok_or_else(|| LogicalError::bad("invalid accessor"))
}

async fn renew(state: &Unsealed, req: &Request, found: &FoundToken, token: &str) -> LogicalResult {
    let increment = duration_field(&req.data, "increment")?.unwrap_or(0);
    let (entry, warning) = state
        .tokens
        .renew(found, increment)
        .await
        .map_err(|e| match e {
            RenewError::NotRenewable => LogicalError::bad("lease is not renewable"),
            RenewError::Storage(b) => b.into(),
        })?;
    let mut resp = Response::empty();
    resp.warnings.extend(warning);
    resp.auth = Some(Auth {
        client_token: token.to_string(),
        accessor: entry.accessor.clone(),
        token_policies: entry.policies.clone(),
        metadata: entry.meta.clone(),
        lease_duration: entry.ttl,
        renewable: entry.renewable,
        orphan: entry.orphan,
        num_uses: entry.num_uses,
        ..Default::default()
    });
    Ok(resp)
}

async fn create(
    state: &Unsealed,
    req: &Request,
    caller: &FoundToken,
    orphan: bool,
    role: Option<TokenRole>,
) -> LogicalResult {
    let d = &req.data;
    let parent_is_root = caller.entry.is_root();
    let no_parent = orphan || field_bool(d, "no_parent")?.unwrap_or(false);
    if no_parent && !parent_is_root && role.is_none() && !orphan {
        return Err(LogicalError::bad(
            "root or sudo privileges required to create orphan token",
        ));
    }
    let no_default = field_bool(d, "no_default_policy")?.unwrap_or(false);
    let requested = string_list(d, "policies")?;
    let mut policies = match (&requested, &role) {
        (Some(p), _) => p.clone(),
        (None, Some(r)) if !r.allowed_policies.is_empty() => r.allowed_policies.clone(),
        (None, _) => caller.entry.policies.clone(),
    };
    policies = normalize_policies(policies, !no_default);
    if no_default {
        policies.retain(|p| p != "default");
    }
    if let Some(r) = &role {
        if !r.allowed_policies.is_empty() {
            if let Some(bad) = policies
                .iter()
                .find(|p| *p != "default" && !r.allowed_policies.contains(p))
            {
                return Err(LogicalError::bad(format!(
                    "token policies ({bad}) must be subset of the role's allowed policies"
                )));
            }
        }
        if let Some(bad) = policies.iter().find(|p| r.disallowed_policies.contains(p)) {
            return Err(LogicalError::bad(format!(
                "token policy ({bad}) is disallowed by this role"
            )));
        }
    } else if !parent_is_root {
        if let Some(bad) = policies
            .iter()
            .find(|p| *p != "default" && !caller.entry.policies.contains(p))
        {
            return Err(LogicalError::bad(format!(
                "child policies must be subset of parent (\"{bad}\" is not)"
            )));
        }
    }
    if policies.iter().any(|p| p == "root") && !parent_is_root {
        return Err(LogicalError::bad(
            "root tokens can only be created by a root token",
        ));
    }
    if let Some(id) = field_str(d, "id").filter(|s| !s.is_empty()) {
        if !parent_is_root {
            return Err(LogicalError::bad(
                "root or sudo privileges required to specify token id",
            ));
        }
        if id.contains('.') && !id.starts_with(super::tokens::SERVICE_TOKEN_PREFIX) {
            return Err(LogicalError::bad(
                "custom token ID cannot have the '.' in the value",
            ));
        }
    }
    let ttl = duration_field(d, "ttl")?
        .or(duration_field(d, "lease")?)
        .unwrap_or(0);
    let mut explicit_max = duration_field(d, "explicit_max_ttl")?.unwrap_or(0);
    let mut period = duration_field(d, "period")?.unwrap_or(0);
    let mut renewable = field_bool(d, "renewable")?.unwrap_or(true);
    let mut bound_cidrs = string_list(d, "bound_cidrs")?.unwrap_or_default();
    if let Some(r) = &role {
        if r.token_period > 0 {
            period = r.token_period;
        }
        if r.token_explicit_max_ttl > 0 {
            explicit_max = if explicit_max == 0 {
                r.token_explicit_max_ttl
            } else {
                explicit_max.min(r.token_explicit_max_ttl)
            };
        }
        renewable &= r.renewable;
        if bound_cidrs.is_empty() {
            bound_cidrs = r.token_bound_cidrs.clone();
        }
    }
    let mut warnings = Vec::new();
    let is_root_token = policies.iter().any(|p| p == "root");
    let (ttl, max) = if is_root_token && ttl == 0 && period == 0 && explicit_max == 0 {
        (0, 0) // a root token without a TTL never expires
    } else {
        resolve_ttls(
            state,
            "auth/token/",
            ttl,
            explicit_max,
            period,
            &mut warnings,
        )
    };
    let display = field_str(d, "display_name")
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let display_name = if display.is_empty() {
        "token".to_string()
    } else {
        format!("token-{display}")
    };
    let path = match &role {
        Some(r) if !r.path_suffix.is_empty() => {
            format!("auth/token/create/{}/{}", r.name, r.path_suffix)
        }
        Some(r) => format!("auth/token/create/{}", r.name),
        None => "auth/token/create".into(),
    };
    let num_uses = field_u64(d, "num_uses")?.unwrap_or(0);
    let meta = string_map(d, "meta")?;
    let (token, found) = state
        .tokens
        .create(NewToken {
            id: field_str(d, "id")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            policies: policies.clone(),
            meta: meta.clone(),
            display_name,
            path,
            ttl,
            max_ttl: max,
            explicit_max_ttl: explicit_max,
            period,
            num_uses,
            renewable,
            parent: if no_parent {
                None
            } else {
                Some(caller.hash.clone())
            },
            role: role.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
            bound_cidrs,
            wrapping: false,
        })
        .await
        .map_err(|e| match e {
            crate::barrier::BarrierError::Storage(
                crate::storage::StorageError::ConditionFailed(_),
            ) => LogicalError::bad(
                "a token with this id already exists, or the parent token was revoked",
            ),
            other => other.into(),
        })?;
    let mut resp = Response::empty();
    resp.warnings = warnings;
    resp.auth = Some(Auth {
        client_token: token,
        accessor: found.entry.accessor.clone(),
        token_policies: policies,
        metadata: meta,
        lease_duration: found.entry.ttl,
        renewable: found.entry.renewable,
        orphan: found.entry.orphan,
        num_uses,
        ..Default::default()
    });
    Ok(resp)
}

async fn load_role(core: &Core, name: &str) -> Result<Option<TokenRole>, LogicalError> {
    match core
        .barrier
        .get(&format!("{ROLE_PREFIX}{}", name.to_lowercase()))
        .await?
    {
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| LogicalError::Internal(format!("token role is corrupt: {e}"))),
        None => Ok(None),
    }
}

async fn role_endpoint(core: &Core, req: &Request, name: &str) -> LogicalResult {
    let name = name.trim_end_matches('/').to_lowercase();
    if name.is_empty() || name.contains('/') {
        return Err(LogicalError::bad("invalid role name"));
    }
    let key = format!("{ROLE_PREFIX}{name}");
    match req.operation {
        Operation::Read => {
            let role = load_role(core, &name)
                .await?
                .ok_or(LogicalError::NotFound)?;
            Ok(Response::json(json!({
                "name": role.name,
                "allowed_policies": role.allowed_policies,
                "disallowed_policies": role.disallowed_policies,
                "orphan": role.orphan,
                "renewable": role.renewable,
                "token_period": role.token_period,
                "period": role.token_period,
                "token_explicit_max_ttl": role.token_explicit_max_ttl,
                "explicit_max_ttl": role.token_explicit_max_ttl,
                "path_suffix": role.path_suffix,
                "token_bound_cidrs": role.token_bound_cidrs,
                "token_type": "service",
            })))
        }
        Operation::Update | Operation::Create => {
            let d = &req.data;
            let mut role = load_role(core, &name).await?.unwrap_or(TokenRole {
                name: name.clone(),
                renewable: true,
                ..Default::default()
            });
            if let Some(p) = string_list(d, "allowed_policies")? {
                role.allowed_policies = normalize_policies(p, false);
            }
            if let Some(p) = string_list(d, "disallowed_policies")? {
                role.disallowed_policies = normalize_policies(p, false);
            }
            if let Some(b) = field_bool(d, "orphan")? {
                role.orphan = b;
            }
            if let Some(b) = field_bool(d, "renewable")? {
                role.renewable = b;
            }
            if let Some(p) = duration_field(d, "token_period")?.or(duration_field(d, "period")?) {
                role.token_period = p;
            }
            if let Some(p) = duration_field(d, "token_explicit_max_ttl")?
                .or(duration_field(d, "explicit_max_ttl")?)
            {
                role.token_explicit_max_ttl = p;
            }
            if let Some(s) = field_str(d, "path_suffix") {
                if s.contains("..") {
                    return Err(LogicalError::bad("path_suffix cannot contain '..'"));
                }
                role.path_suffix = s.to_string();
            }
            if let Some(c) = string_list(d, "token_bound_cidrs")? {
                role.token_bound_cidrs = c;
            }
            let bytes =
                serde_json::to_vec(&role).map_err(|e| LogicalError::Internal(e.to_string()))?;
            core.barrier.put(&key, &bytes).await?;
            Ok(Response::empty())
        }
        Operation::Delete => {
            core.barrier.delete(&key).await?;
            Ok(Response::empty())
        }
        _ => Err(LogicalError::UnsupportedOperation),
    }
}
