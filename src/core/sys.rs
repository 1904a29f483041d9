//! The system backend: `sys/` endpoints. Unlike engines it needs the core
//! itself (seal state, mount table), so core dispatches to it directly.

use serde_json::{json, Map, Value};

use super::lifecycle::InitParams;
use super::mounts::{is_protected, normalize_mount_path, MountEntry};
use super::tokens::FoundToken;
use super::{Core, Unsealed, API_VERSION};
use crate::logical::{
    field_bool, field_str, field_u64, LogicalError, LogicalResult, Operation, Request, Response,
    StorageView,
};

/// Endpoints that work without a token (and while sealed). Returns `None`
/// for every other path.
pub(crate) async fn handle_unauthenticated(
    core: &Core,
    req: &Request,
) -> Result<Option<Response>, LogicalError> {
    let op = req.operation;
    let resp = match req.path.as_str() {
        "sys/health" => {
            ensure(op, &[Operation::Read])?;
            health(core, req).await?
        }
        "sys/seal-status" => {
            ensure(op, &[Operation::Read])?;
            Response::raw(core.seal_status().await?)
        }
        "sys/init" => match op {
            Operation::Read => Response::raw(json!({"initialized": core.is_initialized().await?})),
            Operation::Update | Operation::Create => init(core, req).await?,
            _ => return Err(LogicalError::UnsupportedOperation),
        },
        "sys/unseal" => {
            ensure(op, &[Operation::Update, Operation::Create])?;
            let reset = field_bool(&req.data, "reset")?.unwrap_or(false);
            core.submit_unseal_key(field_str(&req.data, "key"), reset)
                .await?;
            Response::raw(core.seal_status().await?)
        }
        "sys/leader" => {
            ensure(op, &[Operation::Read])?;
            Response::raw(leader(core))
        }
        p if super::rekey::is_operator_path(p) => {
            super::rekey::handle_unauthenticated(core, req).await?
        }
        _ => return Ok(None),
    };
    Ok(Some(resp))
}

fn ensure(op: Operation, allowed: &[Operation]) -> Result<(), LogicalError> {
    if allowed.contains(&op) {
        Ok(())
    } else {
        Err(LogicalError::UnsupportedOperation)
    }
}

/// Reads a status-code override from the query (`?sealedcode=200`).
fn code(req: &Request, key: &str, default: u16) -> Result<u16, LogicalError> {
    match field_u64(&req.data, key)? {
        None => Ok(default),
        Some(c) if (100..=599).contains(&c) => Ok(c as u16),
        Some(_) => Err(LogicalError::bad(format!(
            "{key} must be a valid HTTP status code"
        ))),
    }
}

/// `sys/health`: the status code carries the state, for load balancers.
async fn health(core: &Core, req: &Request) -> Result<Response, LogicalError> {
    // Once initialized the seal config is cached, so this reads storage only
    // while the cluster is uninitialized (another node may initialize it).
    let initialized = !core.is_sealed() || core.is_initialized().await?;
    let sealed = core.is_sealed();
    let standby = !core.is_active();
    let status = if !initialized {
        code(req, "uninitcode", 501)?
    } else if sealed {
        code(req, "sealedcode", 503)?
    } else if standby {
        // Our standbys serve reads: Vault calls that a performance standby.
        if field_bool(&req.data, "perfstandbyok")?.unwrap_or(false) {
            code(req, "activecode", 200)?
        } else {
            code(req, "performancestandbycode", 473)?
        }
    } else {
        code(req, "activecode", 200)?
    };
    let mut body = json!({
        "initialized": initialized,
        "sealed": sealed,
        "standby": sealed || standby,
        "replication_performance_mode": if sealed { "unknown" } else { "disabled" },
        "replication_dr_mode": if sealed { "unknown" } else { "disabled" },
        "server_time_utc": chrono::Utc::now().timestamp(),
        "version": API_VERSION,
    });
    if let Ok(state) = core.unsealed_state() {
        body["cluster_name"] = Value::from(state.cluster.name.clone());
        body["cluster_id"] = Value::from(state.cluster.id.clone());
    }
    Ok(Response::raw_with_status(status, body))
}

async fn init(core: &Core, req: &Request) -> LogicalResult {
    if req.data.get("pgp_keys").is_some_and(|v| !v.is_null())
        || req
            .data
            .get("root_token_pgp_key")
            .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    {
        return Err(LogicalError::bad(
            "PGP-encrypted key shares are not supported",
        ));
    }
    let auto = core.seal.is_auto();
    let (shares_key, threshold_key) = if auto {
        ("recovery_shares", "recovery_threshold")
    } else {
        ("secret_shares", "secret_threshold")
    };
    let shares = field_u64(&req.data, shares_key)?.unwrap_or(if auto { 5 } else { 0 });
    let threshold = field_u64(&req.data, threshold_key)?.unwrap_or(if auto { 3 } else { 0 });
    if shares > 255 {
        return Err(LogicalError::bad(
            "invalid seal configuration: shares cannot be more than 255",
        ));
    }
    let result = core
        .initialize(InitParams {
            secret_shares: shares as u8,
            secret_threshold: threshold.min(255) as u8,
            root_token: None,
        })
        .await?;
    Ok(Response::raw(result.to_json()))
}

/// Authenticated `sys/` endpoints.
pub(crate) async fn handle(
    core: &Core,
    state: &Unsealed,
    req: &Request,
    token: &FoundToken,
) -> LogicalResult {
    let path = req.path.strip_prefix("sys/").unwrap_or("");
    let op = req.operation;
    if let Some(r) = super::audit::handle(core, req, path).await {
        return r;
    }
    match path {
        "seal" => {
            ensure(op, &[Operation::Update, Operation::Create])?;
            core.seal().await?;
            Ok(Response::empty())
        }
        "mounts" => {
            ensure(op, &[Operation::Read])?;
            Ok(enveloped(req, state.mounts.to_json()))
        }
        "rotate" | "rotate/keyring" => {
            ensure(op, &[Operation::Update, Operation::Create])?;
            core.barrier.rotate().await?;
            Ok(Response::empty())
        }
        "key-status" => {
            ensure(op, &[Operation::Read])?;
            let s = core.barrier.key_status()?;
            Ok(Response::json(
                json!({"term": s.term, "install_time": s.install_time, "encryptions": s.encryptions}),
            ))
        }
        "ha-status" => {
            ensure(op, &[Operation::Read])?;
            let mut data = Map::new();
            data.insert("nodes".into(), Value::from(ha_nodes(core).await?));
            Ok(enveloped(req, data))
        }
        "step-down" => {
            ensure(op, &[Operation::Update, Operation::Create])?;
            let Some(ha) = &core.options.ha else {
                return Ok(Response::empty()); // single node: nothing to hand over
            };
            if !ha.is_active() {
                return Err(LogicalError::Standby(
                    "step-down must run on the active node".into(),
                ));
            }
            // Hand the lease over and keep out of the contest for a while so
            // another node takes it at once.
            if let Ok(mut h) = ha.hold_off_until.write() {
                *h = Some(std::time::Instant::now() + ha.config.lease_ttl * 2);
            }
            crate::ha::elector::release(&ha.storage, ha).await;
            Ok(Response::empty())
        }
        "remount" => super::remount::remount(core, state, req).await,
        p if p.starts_with("remount/status/") => {
            super::remount::status(core, req, &p["remount/status/".len()..]).await
        }
        p if p.starts_with("mounts/") => {
            mounts(core, state, req, &p["mounts/".len()..], false).await
        }
        "metrics" => {
            ensure(op, &[Operation::Read])?;
            match field_str(&req.data, "format") {
                Some("prometheus") => Ok(Response {
                    text: Some(("text/plain; version=0.0.4", crate::metrics::render())),
                    ..Default::default()
                }),
                Some(other) if !other.is_empty() => Err(LogicalError::bad(format!(
                    "unknown metrics format {other:?}; use prometheus"
                ))),
                _ => Ok(Response::json(
                    json!({"prometheus": crate::metrics::render()}),
                )),
            }
        }
        "auth" => {
            ensure(op, &[Operation::Read])?;
            Ok(enveloped(req, state.mounts.auth_json()))
        }
        p if p.starts_with("auth/") => {
            // sys/auth/<path>[/tune] manages mounts under auth/<path>/.
            let rest = &p["auth/".len()..];
            mounts(core, state, req, &format!("auth/{rest}"), true).await
        }
        "policy" | "policies/acl" | "policies/acl/" => {
            core.policy_endpoint(req, "", path == "policy").await
        }
        p if p.starts_with("policy/") => {
            core.policy_endpoint(req, &p["policy/".len()..], true).await
        }
        p if p.starts_with("policies/acl/") => {
            core.policy_endpoint(req, &p["policies/acl/".len()..], false)
                .await
        }
        p if p.starts_with("wrapping/") => {
            crate::core::wrapping::handle(core, state, req, token, &p["wrapping/".len()..]).await
        }
        p if p.starts_with("leases/") => {
            crate::core::leases::handle(state, req, &p["leases/".len()..]).await
        }
        p if p == "renew" || p.starts_with("renew/") => {
            crate::core::leases::handle(
                state,
                req,
                &format!(
                    "renew/{}",
                    p.trim_start_matches("renew").trim_start_matches('/')
                ),
            )
            .await
        }
        p if p == "revoke" || p.starts_with("revoke/") => {
            crate::core::leases::handle(
                state,
                req,
                &format!(
                    "revoke/{}",
                    p.trim_start_matches("revoke").trim_start_matches('/')
                ),
            )
            .await
        }
        "capabilities" | "capabilities-self" | "capabilities-accessor" => {
            capabilities(core, state, req, token, path).await
        }
        "rekey/backup" | "rekey/recovery-key-backup" => super::rekey::handle_backup(req),
        "generate-root-token/attempt" | "generate-root-token/update" | "decode-token" => {
            super::generate_root::handle_authenticated(core, req, path).await
        }
        p if p.starts_with("internal/ui/mounts/") => {
            ui_mount(state, &p["internal/ui/mounts/".len()..])
        }
        _ => Err(LogicalError::NoRoute(format!(
            "unsupported path: sys/{path}"
        ))),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Vault's legacy shape for some sys endpoints: the data both at the top
/// level and under `data`, plus the usual envelope fields.
pub(crate) fn enveloped(req: &Request, data: Map<String, Value>) -> Response {
    let mut body = data.clone();
    body.insert("request_id".into(), Value::from(req.id.clone()));
    body.insert("lease_id".into(), Value::from(""));
    body.insert("renewable".into(), Value::from(false));
    body.insert("lease_duration".into(), Value::from(0));
    body.insert("data".into(), Value::Object(data));
    body.insert("wrap_info".into(), Value::Null);
    body.insert("warnings".into(), Value::Null);
    body.insert("auth".into(), Value::Null);
    Response::raw(Value::Object(body))
}

/// `sys/internal/ui/mounts/:path`: tells the CLI which mount (and KV
/// version) serves a path. The `vault kv` commands depend on it.
fn ui_mount(state: &Unsealed, path: &str) -> LogicalResult {
    let route = state
        .router
        .lookup(path)
        .ok_or(LogicalError::PermissionDenied)?;
    let mut data = route.entry.to_json();
    data["path"] = Value::from(route.entry.path.clone());
    Ok(Response::json(data))
}

async fn mounts(
    core: &Core,
    state: &Unsealed,
    req: &Request,
    rest: &str,
    auth: bool,
) -> LogicalResult {
    let (mount_path, tune) = match rest
        .strip_suffix("/tune")
        .or_else(|| rest.strip_suffix("/tune/"))
    {
        Some(p) => (p, true),
        None => (rest, false),
    };
    let path = normalize_mount_path(mount_path).map_err(LogicalError::bad)?;
    let op = req.operation;
    if tune {
        return match op {
            Operation::Read => super::tune::read(state, req, &path),
            Operation::Update | Operation::Create => super::tune::write(core, req, &path).await,
            _ => Err(LogicalError::UnsupportedOperation),
        };
    }
    match op {
        Operation::Read => {
            let entry = state
                .mounts
                .get(&path)
                .ok_or_else(|| LogicalError::bad(format!("No secret engine mount at {path}")))?;
            Ok(Response::json(entry.to_json()))
        }
        Operation::Update | Operation::Create => {
            let mount_type = field_str(&req.data, "type")
                .ok_or_else(|| LogicalError::bad("type is required"))?;
            if is_protected(&path, auth) {
                return Err(LogicalError::bad(format!(
                    "cannot mount at reserved path \"{path}\""
                )));
            }
            if crate::core::mounts::is_auth_type(mount_type) != auth {
                let what = if auth {
                    "auth method"
                } else {
                    "secrets engine"
                };
                return Err(LogicalError::bad(format!(
                    "plugin not found in the catalog: {mount_type} is not a {what}"
                )));
            }
            let (mount_type, forced_version) = match mount_type {
                "kv-v2" => ("kv", Some("2")),
                "kv-v1" => ("kv", Some("1")),
                "generic" => ("kv", Some("1")),
                t => (t, None),
            };
            let mut entry = MountEntry::new(
                &path,
                mount_type,
                field_str(&req.data, "description").unwrap_or(""),
            );
            if let Some(opts) = req.data.get("options").filter(|v| !v.is_null()) {
                let opts = opts
                    .as_object()
                    .ok_or_else(|| LogicalError::bad("options must be an object"))?;
                for (k, v) in opts {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err(LogicalError::bad(format!("option {k} must be a string"))),
                    };
                    entry.options.insert(k.clone(), s);
                }
            }
            if let Some(v) = forced_version {
                entry.options.insert("version".into(), v.into());
            }
            if entry.mount_type == "kv" {
                let v = entry
                    .options
                    .entry("version".into())
                    .or_insert_with(|| "1".into());
                if v != "1" && v != "2" {
                    return Err(LogicalError::bad(format!(
                        "invalid kv version {v:?}: must be 1 or 2"
                    )));
                }
            }
            if let Some(cfg) = req.data.get("config").filter(|v| !v.is_null()) {
                let cfg = cfg
                    .as_object()
                    .ok_or_else(|| LogicalError::bad("config must be an object"))?;
                super::tune::apply_enable_config(&mut entry, cfg, core.options.system_ttls)?;
            }
            entry.local = field_bool(&req.data, "local")?.unwrap_or(false);
            entry.seal_wrap = field_bool(&req.data, "seal_wrap")?.unwrap_or(false);
            core.update_mounts(|table| {
                if let Some(existing) = table
                    .entries
                    .iter()
                    .find(|e| e.path.starts_with(&path) || path.starts_with(&e.path))
                {
                    return Err(LogicalError::bad(format!(
                        "path is already in use at {}",
                        existing.path
                    )));
                }
                table.entries.push(entry);
                Ok(())
            })
            .await?;
            Ok(Response::empty())
        }
        Operation::Delete => {
            if is_protected(&path, auth) {
                return Err(LogicalError::bad(format!("cannot unmount \"{path}\"")));
            }
            let Some(entry) = state.mounts.get(&path).cloned() else {
                return Ok(Response::empty()); // Vault: unmounting nothing succeeds
            };
            core.update_mounts(|table| {
                table.entries.retain(|e| e.path != path);
                Ok(())
            })
            .await?;
            if auth {
                core.identity.delete_mount_aliases(&entry.accessor).await?;
            }
            StorageView::new(core.barrier.clone(), entry.view_prefix())
                .clear()
                .await?;
            Ok(Response::empty())
        }
        _ => Err(LogicalError::UnsupportedOperation),
    }
}

/// `sys/capabilities`, `-self` and `-accessor`: what a token may do on paths.
async fn capabilities(
    core: &Core,
    state: &Unsealed,
    req: &Request,
    caller: &FoundToken,
    which: &str,
) -> LogicalResult {
    ensure(req.operation, &[Operation::Update, Operation::Create])?;
    let paths = crate::logical::string_list(&req.data, "paths")?
        .or(crate::logical::string_list(&req.data, "path")?)
        .unwrap_or_default();
    if paths.is_empty() {
        return Err(LogicalError::bad("missing paths"));
    }
    let entry = match which {
        "capabilities-self" => caller.entry.clone(),
        "capabilities" => {
            let token = field_str(&req.data, "token").unwrap_or_default();
            match state.tokens.lookup(token).await? {
                Some(t) => t.entry,
                None => return Err(LogicalError::bad("invalid token")),
            }
        }
        _ => {
            let accessor = field_str(&req.data, "accessor").unwrap_or_default();
            match state.tokens.lookup_accessor(accessor).await? {
                Some(t) => t.entry,
                None => return Err(LogicalError::bad("invalid accessor")),
            }
        }
    };
    let policies = core.effective_policies(&entry).await?.into_owned();
    let acl = core.acl_for(&policies).await?;
    Ok(Response::json(crate::core::policies::capabilities_json(
        &acl, &paths,
    )))
}

/// `sys/leader`: Vault's shape; only `ha_enabled` without HA.
fn leader(core: &Core) -> Value {
    let Some(ha) = &core.options.ha else {
        return json!({"ha_enabled": false});
    };
    let active = ha.is_active();
    let record = if active {
        ha.held().map(|h| h.record)
    } else {
        ha.leader()
    };
    let active_time = if active {
        core.active_since
            .read()
            .map(|t| crate::util::rfc3339(*t))
            .unwrap_or_default()
    } else {
        "0001-01-01T00:00:00Z".to_string()
    };
    json!({
        "ha_enabled": true,
        "is_self": active,
        "active_time": active_time,
        "leader_address": record.as_ref().map(|r| r.api_addr.clone()).unwrap_or_default(),
        "leader_cluster_address": "",
        "performance_standby": !active,
        "performance_standby_last_remote_wal": 0,
        "raft_committed_index": 0,
        "raft_applied_index": 0,
    })
}

/// The nodes for `sys/ha-status`.
async fn ha_nodes(core: &Core) -> Result<Vec<Value>, LogicalError> {
    let Some(ha) = &core.options.ha else {
        return Ok(vec![json!({
            "hostname": hostname(),
            "api_address": core.options.api_addr.clone().unwrap_or_default(),
            "cluster_address": "",
            "active_node": core.is_active(),
            "last_echo": Value::Null,
            "version": API_VERSION,
        })]);
    };
    let leader = if ha.is_active() {
        Some(ha.node_id.clone())
    } else {
        ha.leader().map(|l| l.holder)
    };
    let nodes = crate::ha::elector::live_nodes(&ha.storage, ha.config.lease_ttl * 3).await?;
    Ok(nodes
        .into_iter()
        .map(|n| {
            let active = leader.as_deref() == Some(n.id.as_str());
            json!({
                "hostname": n.hostname,
                "api_address": n.api_addr,
                "cluster_address": "",
                "active_node": active,
                "last_echo": if active { Value::Null } else { Value::from(n.last_seen.clone()) },
                "version": n.version,
            })
        })
        .collect())
}
