//! Core's side of auditing: the `sys/audit*` and
//! `sys/config/auditing/request-headers` endpoints, the device table's
//! persistence (one atomic write that bumps the cluster generation, so every
//! node reloads it before its next request), devices declared in the server
//! configuration, and the two dispatch hooks around every request.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use super::dispatch::{Admission, Target};
use super::tokens::{FoundToken, TokenEntry};
use super::{Core, Unsealed};
use crate::audit::format::{Caller, Entry, Input, MountInfo};
use crate::audit::table::{
    canonical_path, DeviceEntry, DeviceTable, HeaderSetting, HmacKey, AUDIT_TABLE_PATH,
};
use crate::audit::{Broker, Device, Loaded, DEVICE_TYPES};
use crate::logical::{LogicalError, LogicalResult, Operation, Request, Response};

/// OpenBao's answer when API creation is disabled in the configuration.
const API_CREATION_REFUSED: &str =
    "cannot enable audit device via API; use declarative, config-based audit device management instead";

/// A device declared in the server configuration (`audit "file" "path" {}`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeclaredDevice {
    pub(crate) path: String,
    pub(crate) device_type: String,
    pub(crate) description: String,
    pub(crate) options: BTreeMap<String, String>,
    pub(crate) local: bool,
}

/// What the configuration says about auditing.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AuditConfig {
    pub(crate) devices: Vec<DeclaredDevice>,
    /// The hardening switch: refuse `PUT sys/audit/:path` (OpenBao's
    /// default; Vault's default, which we follow, allows it).
    pub(crate) api_creation_disabled: bool,
}

/// Core's audit state: the broker plus the configuration.
#[derive(Default)]
pub(crate) struct AuditState {
    pub(crate) broker: Broker,
    config: RwLock<AuditConfig>,
}

fn internal(e: impl std::fmt::Display) -> LogicalError {
    LogicalError::Internal(e.to_string())
}

impl Core {
    /// Applies the server configuration's audit settings (at start).
    pub(crate) fn configure_audit(&self, config: AuditConfig) {
        if let Ok(mut c) = self.audit.config.write() {
            *c = config;
        }
    }

    fn audit_config(&self) -> AuditConfig {
        self.audit
            .config
            .read()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    async fn read_audit_table(&self) -> Result<DeviceTable, LogicalError> {
        match self.barrier.get(AUDIT_TABLE_PATH).await? {
            Some(bytes) => {
                let bytes = zeroize::Zeroizing::new(bytes);
                DeviceTable::decode(&bytes).map_err(LogicalError::Internal)
            }
            None => Ok(DeviceTable::default()),
        }
    }

    /// Loads the device table from storage into the broker (after unseal
    /// and whenever the cluster generation changes). Unchanged devices keep
    /// their open sinks.
    pub(crate) async fn load_audit_table(&self) -> Result<(), LogicalError> {
        let table = self.read_audit_table().await?;
        if self.audit.broker.loaded().table != table {
            self.audit.broker.install(table, Vec::new());
        }
        Ok(())
    }

    /// Changes the table in one atomic write (with a generation bump) and
    /// installs it. `change` may return devices it already built.
    async fn update_audit(
        &self,
        change: impl FnOnce(&mut DeviceTable) -> Result<Vec<Arc<Device>>, LogicalError>,
    ) -> Result<(), LogicalError> {
        let _guard = self.lifecycle_lock.lock().await;
        self.write_audit(change).await
    }

    /// [`Self::update_audit`] for callers that already hold the lifecycle
    /// lock (unseal).
    async fn write_audit(
        &self,
        change: impl FnOnce(&mut DeviceTable) -> Result<Vec<Arc<Device>>, LogicalError>,
    ) -> Result<(), LogicalError> {
        if !self.is_active() {
            return Err(LogicalError::Standby(
                "audit table changes go to the active node".into(),
            ));
        }
        let mut table = self.read_audit_table().await?;
        let fresh = change(&mut table)?;
        let bytes = table.encode().map_err(internal)?;
        self.barrier
            .batch_bump(vec![crate::storage::BatchItem::put(
                AUDIT_TABLE_PATH,
                bytes.to_vec(),
            )])
            .await?;
        self.audit.broker.install(table, fresh);
        Ok(())
    }

    /// Brings config-declared devices into the stored table (active node,
    /// after unseal): adds the missing, removes the ones no longer declared.
    pub(crate) async fn sync_declared_audit(&self) {
        if !self.is_active() || self.is_sealed() {
            return;
        }
        let declared = self.audit_config().devices;
        let current = match self.read_audit_table().await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the audit table");
                return;
            }
        };
        let stale = current
            .devices
            .iter()
            .any(|d| d.declarative && !declared.iter().any(|x| canonical_path(&x.path) == d.path));
        let missing = declared
            .iter()
            .any(|x| current.find(&canonical_path(&x.path)).is_none());
        if !stale && !missing {
            return;
        }
        // Runs during unseal, under the lifecycle lock already.
        let result = self
            .write_audit(|t| {
                t.devices.retain(|d| {
                    !d.declarative || declared.iter().any(|x| canonical_path(&x.path) == d.path)
                });
                for x in &declared {
                    let path = canonical_path(&x.path);
                    match t.find(&path) {
                        Some(d) if !d.declarative => tracing::warn!(
                            path = %path,
                            "declared audit device conflicts with an API-enabled one; keeping the API one"
                        ),
                        Some(_) => {}
                        None => t.devices.push(DeviceEntry {
                            path,
                            device_type: x.device_type.clone(),
                            description: x.description.clone(),
                            options: x.options.clone(),
                            local: x.local,
                            declarative: true,
                            hmac_key: HmacKey::generate(),
                        }),
                    }
                }
                Ok(Vec::new())
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot apply the declared audit devices");
        }
    }

    /// The dispatch hooks: records the request entry before the handler
    /// runs (refusing the request if no device records it) and the
    /// response entry after. With [`AuditPhase::First`] the response entry
    /// is rendered but handed back instead of written: the caller writes it
    /// unless it replays the request (HA), so a replayed read is logged as
    /// one request/response pair.
    pub(crate) async fn serve_audited(
        &self,
        loaded: Arc<Loaded>,
        state: &Unsealed,
        admitted: Admission,
        req: Request,
        phase: AuditPhase,
    ) -> (LogicalResult, Option<PendingResponse>) {
        let caller = admitted.caller.as_ref();
        let err = admitted.error.as_ref();
        let mount = admitted.target.as_ref().and_then(|t| mount_of(state, t));
        let identity = match caller {
            Some(c) => self.identity_policies(&c.entry).await,
            None => None,
        };
        let input = Input {
            req: &req,
            caller: caller.map(|c| caller_of(&req, c, identity.as_ref())),
            mount: mount.as_ref().map(|(p, t, a)| MountInfo {
                path: p,
                mount_type: t,
                accessor: a,
            }),
            headers: loaded.headers_of(&req),
            forwarded_from: req.header(crate::logical::FORWARDED_HEADER),
            request_blocks: Default::default(),
        };
        // A KV read or list has no effect but its answer, and the answer
        // leaves only after the response entry is written: its request
        // entry can go out in the same write as the response entry (one
        // syscall per device instead of two) without ever serving an
        // unrecorded request. Everything else is recorded before it runs.
        let coalesce = phase == AuditPhase::Full
            && err.is_none()
            && matches!(req.operation, Operation::Read | Operation::List)
            && matches!(&input.mount, Some(m) if m.mount_type == "kv");
        let mut request_lines = Vec::new();
        if phase != AuditPhase::Replay {
            let entry = Entry::Request {
                input: &input,
                error: err,
            };
            if coalesce {
                request_lines = loaded.render(&entry);
            } else if let Err(e) = loaded.log(&entry).await {
                return (Err(e), None);
            }
        }
        let result = match (&admitted.error, &admitted.target) {
            (Some(e), _) => Err(clone_error(e)),
            (None, Some(t)) => self.serve(state, t, caller, &req).await,
            (None, None) => Err(LogicalError::PermissionDenied),
        };
        let forwarded = matches!(result, Err(LogicalError::Standby(_)));
        // Enabling a device writes the enable's own response entry to the
        // new device too (as Vault does): the table may have changed.
        let loaded = if req.path.starts_with("sys/audit/") && result.is_ok() {
            self.audit.broker.loaded()
        } else {
            loaded
        };
        let response = Entry::Response {
            input: &input,
            result: &result,
            forwarded,
        };
        let lines = if coalesce && !request_lines.is_empty() {
            // The same device set (a KV read never changes it).
            loaded.render_onto(&response, &mut request_lines);
            request_lines
        } else {
            loaded.render(&response)
        };
        let pending = PendingResponse { loaded, lines };
        if phase == AuditPhase::First {
            return (result, Some(pending));
        }
        match pending.write().await {
            Ok(()) => (result, None),
            Err(e) => (Err(e), None),
        }
    }
}

/// Which entries an audited run of a request writes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum AuditPhase {
    /// Request and response entries (no replay possible: a single node).
    Full,
    /// The request entry; the response entry is handed back as pending.
    First,
    /// A replay of a request whose request entry is already written: only
    /// the response entry.
    Replay,
}

/// A response entry rendered for every device, not yet written.
pub(crate) struct PendingResponse {
    loaded: Arc<Loaded>,
    lines: Vec<Vec<u8>>,
}

impl PendingResponse {
    /// Writes the entry; an error when no device recorded it.
    pub(crate) async fn write(self) -> Result<(), LogicalError> {
        self.loaded.write(self.lines).await
    }

    /// `result`, unless the response entry cannot be recorded.
    pub(crate) async fn finish(pending: Option<Self>, result: LogicalResult) -> LogicalResult {
        match pending {
            Some(p) => p.write().await.and(result),
            None => result,
        }
    }
}

fn clone_error(e: &LogicalError) -> LogicalError {
    match e {
        LogicalError::BadRequest(m) => LogicalError::BadRequest(m.clone()),
        LogicalError::PermissionDenied => LogicalError::PermissionDenied,
        LogicalError::PermissionDeniedPolicy => LogicalError::PermissionDeniedPolicy,
        LogicalError::Forbidden(m) => LogicalError::Forbidden(m.clone()),
        LogicalError::NotFound => LogicalError::NotFound,
        LogicalError::NoRoute(m) => LogicalError::NoRoute(m.clone()),
        LogicalError::UnsupportedOperation => LogicalError::UnsupportedOperation,
        LogicalError::TooLarge(m) => LogicalError::TooLarge(m.clone()),
        LogicalError::Sealed => LogicalError::Sealed,
        LogicalError::Unavailable(m) => LogicalError::Unavailable(m.clone()),
        LogicalError::Standby(m) => LogicalError::Standby(m.clone()),
        LogicalError::Internal(m) => LogicalError::Internal(m.clone()),
    }
}

/// A token's identity policies for its audit entries: (all, identity),
/// each sorted and without repeats, as Vault's `policies` and
/// `identity_policies`. `None` for a token without an entity, or whose
/// entity grants nothing (or cannot be read: the entry then names the
/// token's own policies, which the request was authorized with anyway).
type IdentityPolicies = (Vec<String>, Vec<String>);

impl Core {
    async fn identity_policies(&self, entry: &TokenEntry) -> Option<IdentityPolicies> {
        if entry.entity_id.is_empty() {
            return None;
        }
        let grant = self.identity.entity_grant(&entry.entity_id).await.ok()??;
        if grant.policies.is_empty() {
            return None;
        }
        let mut all = entry.policies.clone();
        all.extend(grant.policies.iter().cloned());
        all.sort();
        all.dedup();
        Some((all, grant.policies))
    }
}

fn caller_of<'a>(
    req: &'a Request,
    c: &'a FoundToken,
    identity: Option<&'a IdentityPolicies>,
) -> Caller<'a> {
    let (policies, identity_policies): (&[String], &[String]) = match identity {
        Some((all, id)) => (all, id),
        None => (&c.entry.policies, &[]),
    };
    Caller {
        client_token: req.client_token.as_deref().unwrap_or(""),
        token_hash: &c.hash,
        accessor: &c.entry.accessor,
        display_name: &c.entry.display_name,
        policies,
        token_policies: &c.entry.policies,
        identity_policies,
        metadata: &c.entry.meta,
        ttl: c.entry.ttl,
        issue_time: &c.entry.issue_time,
        entity_id: &c.entry.entity_id,
    }
}

/// (path, type, accessor) of the mount serving `target`, borrowed.
fn mount_of<'a>(state: &'a Unsealed, target: &'a Target) -> Option<(&'a str, &'a str, &'a str)> {
    let entry = match target {
        Target::Sys => state.mounts.entries.iter().find(|e| e.path == "sys/")?,
        Target::TokenStore => state
            .mounts
            .entries
            .iter()
            .find(|e| e.path == "auth/token/")?,
        Target::Mount(r) => &r.entry,
    };
    Some((&entry.path, &entry.mount_type, &entry.accessor))
}

fn options_of(data: &Map<String, Value>) -> Result<BTreeMap<String, String>, LogicalError> {
    let mut out = BTreeMap::new();
    match data.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err(LogicalError::bad(format!("option {k} must be a string"))),
                };
                out.insert(k.clone(), s);
            }
        }
        Some(_) => return Err(LogicalError::bad("options must be a map of strings")),
    }
    Ok(out)
}

fn str_field<'a>(data: &'a Map<String, Value>, key: &str) -> &'a str {
    data.get(key).and_then(Value::as_str).unwrap_or("")
}

fn bool_field(data: &Map<String, Value>, key: &str) -> bool {
    match data.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "true" | "1" | "t"),
        _ => false,
    }
}

fn ensure(op: Operation, allowed: &[Operation]) -> Result<(), LogicalError> {
    if allowed.contains(&op) {
        Ok(())
    } else {
        Err(LogicalError::UnsupportedOperation)
    }
}

const WRITES: &[Operation] = &[Operation::Update, Operation::Create];

/// `sys/audit`, `sys/audit/:path`, `sys/audit-hash/:path` and
/// `sys/config/auditing/request-headers[/:name]`. `None`: not ours.
pub(crate) async fn handle(core: &Core, req: &Request, path: &str) -> Option<LogicalResult> {
    let r = if path == "audit" {
        list(core, req)
    } else if let Some(p) = path.strip_prefix("audit/") {
        device(core, req, p).await
    } else if let Some(p) = path.strip_prefix("audit-hash/") {
        hash(core, req, p)
    } else if path == "config/auditing/request-headers" {
        list_headers(core, req)
    } else if let Some(name) = path.strip_prefix("config/auditing/request-headers/") {
        header(core, req, name).await
    } else {
        return None;
    };
    Some(r)
}

fn list(core: &Core, req: &Request) -> LogicalResult {
    ensure(req.operation, &[Operation::Read])?;
    let loaded = core.audit.broker.loaded();
    let data: Map<String, Value> = loaded
        .table
        .devices
        .iter()
        .map(|d| (d.path.clone(), d.to_json()))
        .collect();
    Ok(super::sys::enveloped(req, data))
}

async fn device(core: &Core, req: &Request, path: &str) -> LogicalResult {
    let path = canonical_path(path);
    if path == "/" {
        return Err(LogicalError::bad("missing audit device path"));
    }
    match req.operation {
        Operation::Update | Operation::Create => enable(core, req, path).await,
        Operation::Delete => {
            if core
                .audit
                .broker
                .loaded()
                .table
                .find(&path)
                .is_some_and(|d| d.declarative)
            {
                return Err(LogicalError::bad(
                    "cannot disable a declared audit device via API; remove it from the configuration",
                ));
            }
            core.update_audit(|t| {
                t.devices.retain(|d| d.path != path);
                Ok(Vec::new())
            })
            .await?;
            Ok(Response::empty())
        }
        _ => Err(LogicalError::UnsupportedOperation),
    }
}

async fn enable(core: &Core, req: &Request, path: String) -> LogicalResult {
    if core.audit_config().api_creation_disabled {
        return Err(LogicalError::bad(API_CREATION_REFUSED));
    }
    let device_type = str_field(&req.data, "type");
    if !DEVICE_TYPES.contains(&device_type) {
        return Err(LogicalError::bad(format!(
            "unknown backend type: {device_type:?}"
        )));
    }
    if core.audit.broker.loaded().table.find(&path).is_some() {
        return Err(LogicalError::bad("path already in use"));
    }
    let entry = DeviceEntry {
        path: path.clone(),
        device_type: device_type.to_string(),
        description: str_field(&req.data, "description").to_string(),
        options: options_of(&req.data)?,
        local: bool_field(&req.data, "local"),
        declarative: false,
        hmac_key: HmacKey::generate(),
    };
    if !core.is_active() {
        return Err(LogicalError::Standby(
            "audit table changes go to the active node".into(),
        ));
    }
    let device = Device::build(entry.clone()).map_err(LogicalError::BadRequest)?;
    device.self_test().await.map_err(|e| {
        LogicalError::bad(format!("audit device failed to record a test entry: {e}"))
    })?;
    let device = Arc::new(device);
    core.update_audit(move |t| {
        if t.find(&entry.path).is_some() {
            return Err(LogicalError::bad("path already in use"));
        }
        t.devices.push(entry);
        Ok(vec![device])
    })
    .await?;
    Ok(Response::empty())
}

fn hash(core: &Core, req: &Request, path: &str) -> LogicalResult {
    ensure(req.operation, WRITES)?;
    let path = canonical_path(path);
    let loaded = core.audit.broker.loaded();
    let Some(device) = loaded.device(&path) else {
        return Err(LogicalError::bad(format!("unknown audit backend {path:?}")));
    };
    let input = str_field(&req.data, "input");
    if input.is_empty() {
        return Err(LogicalError::bad("the \"input\" parameter is empty"));
    }
    let mut data = Map::new();
    data.insert("hash".into(), Value::from(device.hash(input)));
    Ok(super::sys::enveloped(req, data))
}

fn list_headers(core: &Core, req: &Request) -> LogicalResult {
    ensure(req.operation, &[Operation::Read, Operation::List])?;
    let loaded = core.audit.broker.loaded();
    let headers: Map<String, Value> = loaded
        .table
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::json!({"hmac": v.hmac})))
        .collect();
    let mut data = Map::new();
    data.insert("headers".into(), Value::Object(headers));
    Ok(super::sys::enveloped(req, data))
}

async fn header(core: &Core, req: &Request, name: &str) -> LogicalResult {
    if name.is_empty() {
        return Err(LogicalError::bad("missing header name"));
    }
    let key = name.to_ascii_lowercase();
    match req.operation {
        Operation::Read => {
            let loaded = core.audit.broker.loaded();
            let Some(setting) = loaded.table.headers.get(&key) else {
                return Err(LogicalError::NotFound);
            };
            let mut data = Map::new();
            data.insert(name.to_string(), serde_json::json!({"hmac": setting.hmac}));
            Ok(super::sys::enveloped(req, data))
        }
        Operation::Update | Operation::Create => {
            let hmac = bool_field(&req.data, "hmac");
            core.update_audit(|t| {
                t.headers.insert(key, HeaderSetting { hmac });
                Ok(Vec::new())
            })
            .await?;
            Ok(Response::empty())
        }
        Operation::Delete => {
            core.update_audit(|t| {
                t.headers.remove(&key);
                Ok(Vec::new())
            })
            .await?;
            Ok(Response::empty())
        }
        _ => Err(LogicalError::UnsupportedOperation),
    }
}

/// Copies the request headers configured for auditing from the transport
/// into `req` (only when some are configured; never the token headers).
pub(crate) fn copy_audited_headers(core: &Core, headers: &http::HeaderMap, req: &mut Request) {
    let Some(loaded) = core.audit.broker.active() else {
        return;
    };
    for name in loaded.table.headers.keys() {
        if name == "x-vault-token" || name == "authorization" {
            continue;
        }
        if let Some(v) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) {
            req.headers.insert(name.clone(), v.to_string());
        }
    }
}
