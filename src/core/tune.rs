//! Mount tuning: `sys/mounts/:path/tune` and `sys/auth/:path/tune` (read and
//! write every setting Vault documents), the mount settings a `config`
//! object sets at enable time, and the system lease TTLs from the server
//! configuration that both fall back to.
//!
//! A tune is validated whole and then committed as one mount-table write
//! (Vault persists each setting in turn, so a later error leaves earlier
//! settings applied; here a refused tune changes nothing).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::mounts::{MountConfig, MountEntry};
use super::{Core, Unsealed, SYSTEM_DEFAULT_TTL, SYSTEM_MAX_TTL};
use crate::logical::{
    field_bool, parse_duration_str, string_list, Backend, LogicalError, LogicalResult, Operation,
    Request, Response, StorageView,
};

/// The system lease TTLs (seconds): `default_lease_ttl` and `max_lease_ttl`
/// of the server configuration, Vault's 768h each when unset. A mount whose
/// own TTL is 0 runs with these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SystemTtls {
    pub(crate) default: u64,
    pub(crate) max: u64,
}

impl Default for SystemTtls {
    fn default() -> Self {
        Self {
            default: SYSTEM_DEFAULT_TTL,
            max: SYSTEM_MAX_TTL,
        }
    }
}

impl SystemTtls {
    /// From the configuration values (0 or unset: Vault's defaults). Like
    /// Vault, a default above the maximum is a startup error.
    pub(crate) fn from_config(default: Option<u64>, max: Option<u64>) -> Result<Self, String> {
        let ttls = Self {
            default: default.filter(|d| *d > 0).unwrap_or(SYSTEM_DEFAULT_TTL),
            max: max.filter(|m| *m > 0).unwrap_or(SYSTEM_MAX_TTL),
        };
        if ttls.default > ttls.max {
            return Err(format!(
                "default_lease_ttl ({}s) cannot be larger than max_lease_ttl ({}s)",
                ttls.default, ttls.max
            ));
        }
        Ok(ttls)
    }

    /// The (default, max) TTLs a mount runs with: its own where set, the
    /// system's otherwise (Vault's system view). A mount's max may exceed
    /// the system max: Vault allows it (the PKI guide tunes `87600h`).
    pub(crate) fn for_mount(&self, cfg: &MountConfig) -> (u64, u64) {
        let default = if cfg.default_lease_ttl == 0 {
            self.default
        } else {
            cfg.default_lease_ttl
        };
        let max = if cfg.max_lease_ttl == 0 {
            self.max
        } else {
            cfg.max_lease_ttl
        };
        (default, max)
    }
}

/// Mounts whose settings cannot be tuned (Vault's `untunableMounts`).
const UNTUNABLE: &[&str] = &["cubbyhole/", "sys/", "audit/", "identity/"];

/// Auth methods whose `user_lockout_config` Vault accepts.
const LOCKOUT_TYPES: &[&str] = &["ldap", "approle", "userpass"];

/// Said when a tune asks for batch tokens, which Strongroom does not issue.
const BATCH_WARNING: &str = "token_type is stored, but Strongroom issues service tokens only: logins through this mount still get service tokens";

/// The version string of the built-in engines (as `running_plugin_version`).
fn builtin_version() -> String {
    format!("v{}+builtin.strongroom", env!("CARGO_PKG_VERSION"))
}

/// `GET sys/mounts/:path/tune` (and `sys/auth/:path/tune`, whose `path` is
/// `auth/...`): the effective settings, in Vault's legacy shape.
pub(crate) fn read(state: &Unsealed, req: &Request, path: &str) -> LogicalResult {
    let entry = state
        .mounts
        .get(path)
        .ok_or_else(|| LogicalError::bad(format!("cannot fetch sysview for path \"{path}\"")))?;
    let (default, max) = state.system_ttls.for_mount(&entry.config);
    let mut data = Map::new();
    data.insert("description".into(), Value::from(entry.description.clone()));
    data.insert("default_lease_ttl".into(), Value::from(default));
    data.insert("max_lease_ttl".into(), Value::from(max));
    data.insert("force_no_cache".into(), Value::from(false));
    entry
        .config
        .set_optional_json(&mut data, entry.path.starts_with("auth/"));
    if let Some(l) = &entry.config.user_lockout_config {
        data.insert(
            "user_lockout_counter_reset_duration".into(),
            Value::from(l.counter_reset),
        );
        data.insert("user_lockout_threshold".into(), Value::from(l.threshold));
        data.insert("user_lockout_duration".into(), Value::from(l.duration));
        data.insert("user_lockout_disable".into(), Value::from(l.disable));
    }
    if !entry.options.is_empty() {
        data.insert("options".into(), serde_json::json!(entry.options));
    }
    if !entry.plugin_version.is_empty() {
        data.insert(
            "plugin_version".into(),
            Value::from(entry.plugin_version.clone()),
        );
    }
    Ok(super::sys::enveloped(req, data))
}

/// A TTL as the tune endpoint takes it: `""`/absent keeps the current
/// value, `"system"` resets it, otherwise a Go duration or seconds.
fn tune_ttl(data: &Map<String, Value>, key: &str) -> Result<Option<u64>, LogicalError> {
    let text = match data.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(LogicalError::bad(format!(
                "time: invalid duration {:?}",
                other.to_string()
            )))
        }
    };
    match text.as_str() {
        "" => Ok(None),
        "system" => Ok(Some(0)),
        t if t.starts_with('-') => Err(LogicalError::bad(format!("time: invalid duration {t:?}"))),
        t => parse_duration_str(t)
            .map(Some)
            .map_err(|e| LogicalError::bad(format!("time: {e}"))),
    }
}

fn tune_list(data: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, LogicalError> {
    string_list(data, key)
}

/// Checks a `listing_visibility` value (Vault's `checkListingVisibility`).
fn listing_visibility(v: &str) -> Result<String, LogicalError> {
    match v {
        "" | "unauth" | "hidden" => Ok(v.to_string()),
        other => Err(LogicalError::bad(format!(
            "invalid listing_visibility {other}"
        ))),
    }
}

/// Checks a `token_type` value; `""` is the default.
fn token_type(v: &str) -> Result<String, LogicalError> {
    match v {
        "" | "default-service" => Ok(String::new()),
        "service" | "default-batch" | "batch" => Ok(v.to_string()),
        _ => Err(LogicalError::bad("invalid value for 'token_type'")),
    }
}

/// Vault's mount-time TTL checks on a `config` object.
fn check_enable_ttls(cfg: &MountConfig, system: SystemTtls) -> Result<(), LogicalError> {
    if cfg.max_lease_ttl != 0 && cfg.default_lease_ttl > cfg.max_lease_ttl {
        return Err(LogicalError::bad(
            "given default lease TTL greater than given max lease TTL",
        ));
    }
    if cfg.max_lease_ttl == 0 && cfg.default_lease_ttl > system.max {
        return Err(LogicalError::bad(format!(
            "given default lease TTL greater than system max lease TTL of {}",
            system.max
        )));
    }
    Ok(())
}

/// Applies the `config` object of `sys/mounts/:path` or `sys/auth/:path`
/// (enable) to a new entry.
pub(crate) fn apply_enable_config(
    entry: &mut MountEntry,
    cfg: &Map<String, Value>,
    system: SystemTtls,
) -> Result<(), LogicalError> {
    let parse_ttl = |key: &str, what: &str| -> Result<Option<u64>, LogicalError> {
        tune_ttl(cfg, key).map_err(|e| {
            let raw = cfg.get(key).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            LogicalError::bad(format!(
                "unable to parse {what} TTL of {}: {e}",
                raw.unwrap_or_default()
            ))
        })
    };
    if let Some(d) = parse_ttl("default_lease_ttl", "default")? {
        entry.config.default_lease_ttl = d;
    }
    if let Some(m) = parse_ttl("max_lease_ttl", "max")? {
        entry.config.max_lease_ttl = m;
    }
    check_enable_ttls(&entry.config, system)?;
    apply_common(entry, cfg)?;
    if let Some(v) = cfg.get("token_type").and_then(Value::as_str) {
        entry.config.token_type = token_type(v)?;
    }
    Ok(())
}

/// The settings enable and tune share: header and key lists and listing
/// visibility.
fn apply_common(entry: &mut MountEntry, data: &Map<String, Value>) -> Result<(), LogicalError> {
    let c = &mut entry.config;
    for (key, slot) in [
        (
            "audit_non_hmac_request_keys",
            &mut c.audit_non_hmac_request_keys,
        ),
        (
            "audit_non_hmac_response_keys",
            &mut c.audit_non_hmac_response_keys,
        ),
        (
            "passthrough_request_headers",
            &mut c.passthrough_request_headers,
        ),
        ("allowed_response_headers", &mut c.allowed_response_headers),
        ("allowed_managed_keys", &mut c.allowed_managed_keys),
    ] {
        if let Some(list) = tune_list(data, key)? {
            *slot = list;
        }
    }
    if let Some(v) = data.get("listing_visibility").filter(|v| !v.is_null()) {
        let v = v
            .as_str()
            .ok_or_else(|| LogicalError::bad("listing_visibility must be a string"))?;
        c.listing_visibility = listing_visibility(v)?;
    }
    Ok(())
}

/// Parses a `user_lockout_config` object into the entry's settings.
fn apply_lockout(entry: &mut MountEntry, raw: &Map<String, Value>) -> Result<(), LogicalError> {
    if raw.is_empty() {
        return Ok(());
    }
    if !LOCKOUT_TYPES.contains(&entry.mount_type.to_ascii_lowercase().as_str()) {
        return Err(LogicalError::bad(format!(
            "tuning of user lockout configuration for auth type \"{}\" not allowed",
            entry.mount_type
        )));
    }
    let unconvertible =
        || LogicalError::bad("unable to convert given user lockout config information");
    let mut cfg = entry.config.user_lockout_config.clone().unwrap_or_default();
    if let Some(v) = raw.get("lockout_threshold").filter(|v| !v.is_null()) {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(unconvertible()),
        };
        if !text.is_empty() {
            cfg.threshold = text.parse().map_err(|_| {
                LogicalError::bad(format!(
                    "unable to parse user lockout threshold: strconv.ParseUint: parsing {text:?}: invalid syntax"
                ))
            })?;
        }
    }
    for (key, slot) in [
        ("lockout_duration", &mut cfg.duration),
        ("lockout_counter_reset_duration", &mut cfg.counter_reset),
    ] {
        if let Some(v) = tune_ttl(raw, key)? {
            *slot = v;
        }
    }
    if raw.contains_key("lockout_disable") {
        cfg.disable = field_bool(raw, "lockout_disable")
            .map_err(|_| unconvertible())?
            .unwrap_or(false);
    }
    entry.config.user_lockout_config = Some(cfg);
    Ok(())
}

/// What a tune of `options.version` asks of a KV mount.
#[derive(Debug, PartialEq, Eq)]
enum KvChange {
    None,
    /// v1 → v2: the data is rewritten as version 1 of each secret.
    Upgrade,
}

/// Merges tuned `options` into the entry (an empty value removes a key,
/// except `version`); checks a `version` change as Vault does.
fn apply_options(
    entry: &mut MountEntry,
    raw: &Value,
) -> Result<(KvChange, Option<String>), LogicalError> {
    let Some(opts) = raw.as_object() else {
        if raw.is_null() {
            return Ok((KvChange::None, None));
        }
        return Err(LogicalError::bad("options must be a map of strings"));
    };
    let mut given = BTreeMap::new();
    for (k, v) in opts {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(LogicalError::bad(format!("option {k} must be a string"))),
        };
        given.insert(k.clone(), s);
    }
    if given.is_empty() {
        return Ok((KvChange::None, None));
    }
    let mut change = KvChange::None;
    let mut warning = None;
    if let Some(v) = given.get("version") {
        let current = entry
            .options
            .get("version")
            .map(String::as_str)
            .unwrap_or("");
        let current: i64 = if current.is_empty() {
            0
        } else {
            current
                .parse()
                .map_err(|_| LogicalError::Internal("unable to parse mount entry".into()))?
        };
        let wanted: i64 = v.trim().parse().map_err(|_| {
            LogicalError::bad(format!(
                "unable to parse options: strconv.ParseInt: parsing {v:?}: invalid syntax"
            ))
        })?;
        if wanted != 1 && wanted != 2 {
            return Err(LogicalError::bad(format!(
                "invalid version provided: {wanted}"
            )));
        }
        if current > wanted {
            return Err(LogicalError::bad(format!(
                "cannot downgrade mount from version {current}"
            )));
        }
        if current < wanted {
            if entry.mount_type == "kv" && current == 1 {
                change = KvChange::Upgrade;
            }
            warning = Some(format!(
                "Upgrading mount from version {current} to version {wanted}. This mount will be unavailable for a brief period and will resume service shortly."
            ));
        }
    }
    for (k, v) in given {
        if v.is_empty() && k != "version" {
            entry.options.remove(&k);
        } else {
            entry.options.insert(k, v);
        }
    }
    Ok((change, warning))
}

/// Applies a tune request to a copy of the entry; the caller commits it.
fn apply_tune(
    entry: &mut MountEntry,
    data: &Map<String, Value>,
    system: SystemTtls,
) -> Result<(KvChange, Option<String>), LogicalError> {
    let auth = entry.path.starts_with("auth/");
    let new_default =
        tune_ttl(data, "default_lease_ttl")?.unwrap_or(entry.config.default_lease_ttl);
    let new_max = tune_ttl(data, "max_lease_ttl")?.unwrap_or(entry.config.max_lease_ttl);
    if new_default != 0 && new_max != 0 && new_max < new_default {
        return Err(LogicalError::bad(format!(
            "backend max lease TTL of {new_max} would be less than backend default lease TTL of {new_default}"
        )));
    }
    // Vault checks a default against the system max only at enable time; a
    // default that the system max would silently cut is refused here too,
    // so what the tune read shows is what tokens get.
    if new_max == 0 && new_default > system.max {
        return Err(LogicalError::bad(format!(
            "backend default lease TTL of {new_default} would be greater than system max lease TTL of {}",
            system.max
        )));
    }
    entry.config.default_lease_ttl = new_default;
    entry.config.max_lease_ttl = new_max;

    if let Some(raw) = data.get("user_lockout_config").filter(|v| !v.is_null()) {
        let map = raw.as_object().ok_or_else(|| {
            LogicalError::bad("unable to convert given user lockout config information")
        })?;
        apply_lockout(entry, map)?;
    }
    if let Some(v) = data.get("description").filter(|v| !v.is_null()) {
        entry.description = v
            .as_str()
            .ok_or_else(|| LogicalError::bad("description must be a string"))?
            .to_string();
    }
    if let Some(v) = data.get("plugin_version").filter(|v| !v.is_null()) {
        let v = v
            .as_str()
            .ok_or_else(|| LogicalError::bad("plugin_version must be a string"))?;
        entry.plugin_version = plugin_version(&entry.mount_type, v)?;
    }
    apply_common(entry, data)?;
    if let Some(v) = data.get("token_type").filter(|v| !v.is_null()) {
        if !auth {
            return Err(LogicalError::bad(
                "'token_type' can only be modified on auth mounts",
            ));
        }
        if entry.mount_type == "token" || entry.mount_type == "ns_token" {
            return Err(LogicalError::bad(
                "'token_type' cannot be set for 'token' or 'ns_token' auth mounts",
            ));
        }
        let v = v
            .as_str()
            .ok_or_else(|| LogicalError::bad("invalid value for 'token_type'"))?;
        entry.config.token_type = token_type(v)?;
    }
    match data.get("options") {
        Some(raw) => apply_options(entry, raw),
        None => Ok((KvChange::None, None)),
    }
}

/// Checks a `plugin_version`: only the built-in version exists here, and
/// it is stored as empty (as Vault stores built-in versions).
fn plugin_version(mount_type: &str, v: &str) -> Result<String, LogicalError> {
    let v = v.trim();
    if v.is_empty()
        || v == builtin_version()
        || v.trim_start_matches('v') == builtin_version().trim_start_matches('v')
    {
        return Ok(String::new());
    }
    let core = v.trim_start_matches('v');
    let semver_like = core.split(['-', '+']).next().is_some_and(|n| {
        let parts: Vec<&str> = n.split('.').collect();
        (1..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    });
    if !semver_like {
        return Err(LogicalError::bad(format!(
            "version \"{v}\" is not a valid semantic version: Invalid Semantic Version"
        )));
    }
    Err(LogicalError::bad(format!(
        "1 error occurred:\n\t* no plugin found for {mount_type} version {v}: plugin not found in the catalog\n\n"
    )))
}

/// `POST sys/mounts/:path/tune` (and `sys/auth/:path/tune`).
pub(crate) async fn write(core: &Core, req: &Request, path: &str) -> LogicalResult {
    if UNTUNABLE.iter().any(|p| path.starts_with(p)) {
        return Err(LogicalError::bad(format!("cannot tune \"{path}\"")));
    }
    // A standby's cached table may predate the last change: let the active
    // node, the only writer, validate against the current one.
    if !core.is_active() {
        return Err(LogicalError::Standby(
            "mount tuning must run on the active node".into(),
        ));
    }
    let system = core.options.system_ttls;
    let not_found = || {
        LogicalError::bad(format!(
            "tune of path \"{path}\" failed: no mount entry found"
        ))
    };
    let mut outcome = (KvChange::None, None);
    let mut before = None;
    core.update_mounts(|table| {
        let entry = table
            .entries
            .iter_mut()
            .find(|e| e.path == path)
            .ok_or_else(not_found)?;
        let mut tuned = entry.clone();
        outcome = apply_tune(&mut tuned, &req.data, system)?;
        if outcome.0 == KvChange::Upgrade {
            // The upgrade commits the version change itself, with the data.
            tuned.options.insert("version".into(), "1".into());
            before = Some(tuned.clone());
        }
        *entry = tuned;
        Ok(())
    })
    .await?;
    let (change, warning) = outcome;
    if let (KvChange::Upgrade, Some(entry)) = (change, before) {
        upgrade_kv(core, path, &entry).await?;
    }
    let mut resp = Response::empty();
    resp.warnings.extend(warning);
    if req
        .data
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.ends_with("batch"))
    {
        resp.warnings.push(BATCH_WARNING.into());
    }
    Ok(resp)
}

/// Upgrades a KV v1 mount to v2: every secret becomes version 1 of the same
/// path, written through the KV v2 engine into a fresh storage prefix, and
/// then one mount-table write switches the mount to it. A crash before the
/// switch leaves the v1 mount as it was; after it, only the old prefix is
/// left over, and it is cleared.
async fn upgrade_kv(core: &Core, path: &str, entry: &MountEntry) -> Result<(), LogicalError> {
    let old = StorageView::new(core.barrier.clone(), entry.view_prefix());
    let new_uuid = uuid::Uuid::new_v4().to_string();
    let new_view = StorageView::new(core.barrier.clone(), format!("logical/{new_uuid}/"));
    let v2: Arc<dyn Backend> = Arc::new(crate::engines::kv2::KvV2::new());
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        for key in old.list(&folder).await? {
            let full = format!("{folder}{key}");
            if full.ends_with('/') {
                folders.push(full);
                continue;
            }
            let Some(bytes) = old.get(&full).await? else {
                continue;
            };
            let secret: Value = serde_json::from_slice(&bytes)
                .map_err(|e| LogicalError::Internal(format!("corrupt secret at {full:?}: {e}")))?;
            let mut body = Map::new();
            body.insert("data".into(), secret);
            let mut write =
                Request::new(Operation::Update, format!("{path}data/{full}")).with_data(body);
            write.mount_point = path.to_string();
            write.relative_path = format!("data/{full}");
            v2.handle(&write, &new_view).await?;
        }
    }
    let old_uuid = entry.uuid.clone();
    let switched = core
        .update_mounts(|table| {
            let e = table
                .entries
                .iter_mut()
                .find(|e| e.path == path && e.uuid == old_uuid)
                .ok_or_else(|| {
                    LogicalError::bad("the mount changed during the upgrade; try again")
                })?;
            e.uuid = new_uuid.clone();
            e.options.insert("version".into(), "2".into());
            Ok(())
        })
        .await;
    if let Err(e) = switched {
        new_view.clear().await?;
        return Err(e);
    }
    old.clear().await?;
    tracing::info!(path, "upgraded the KV mount to version 2");
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn system_ttls_from_config() {
        assert_eq!(
            SystemTtls::from_config(None, None).unwrap(),
            SystemTtls::default()
        );
        let t = SystemTtls::from_config(Some(60), Some(3600)).unwrap();
        assert_eq!((t.default, t.max), (60, 3600));
        assert!(SystemTtls::from_config(Some(7200), Some(3600)).is_err());
        let (d, m) = t.for_mount(&MountConfig::default());
        assert_eq!((d, m), (60, 3600));
        let cfg = MountConfig {
            default_lease_ttl: 10,
            max_lease_ttl: 99_999,
            ..Default::default()
        };
        assert_eq!(t.for_mount(&cfg), (10, 99_999));
    }

    #[test]
    fn tune_validates_ttls_and_values() {
        let sys = SystemTtls::default();
        let mut e = MountEntry::new("auth/userpass/", "userpass", "");
        let err =
            apply_tune(&mut e, &obj(json!({"default_lease_ttl": "forever"})), sys).unwrap_err();
        assert_eq!(err.to_string(), "time: invalid duration \"forever\"");
        let err = apply_tune(
            &mut e,
            &obj(json!({"default_lease_ttl": "2h", "max_lease_ttl": "1h"})),
            sys,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "backend max lease TTL of 3600 would be less than backend default lease TTL of 7200"
        );
        let err = apply_tune(&mut e, &obj(json!({"token_type": "platinum"})), sys).unwrap_err();
        assert_eq!(err.to_string(), "invalid value for 'token_type'");
        let err = apply_tune(&mut e, &obj(json!({"listing_visibility": "loud"})), sys).unwrap_err();
        assert_eq!(err.to_string(), "invalid listing_visibility loud");
        apply_tune(
            &mut e,
            &obj(json!({
                "default_lease_ttl": "30m", "max_lease_ttl": 7200, "token_type": "batch",
                "audit_non_hmac_request_keys": "a,b", "passthrough_request_headers": ["X-A"],
                "user_lockout_config": {"lockout_threshold": "5", "lockout_duration": "10m"},
            })),
            sys,
        )
        .unwrap();
        assert_eq!(e.config.default_lease_ttl, 1800);
        assert_eq!(e.config.max_lease_ttl, 7200);
        assert_eq!(e.config.token_type, "batch");
        assert_eq!(e.config.audit_non_hmac_request_keys, vec!["a", "b"]);
        let l = e.config.user_lockout_config.clone().unwrap();
        assert_eq!((l.threshold, l.duration), (5, 600));
        // "system" resets a TTL
        apply_tune(&mut e, &obj(json!({"max_lease_ttl": "system"})), sys).unwrap();
        assert_eq!(e.config.max_lease_ttl, 0);
        // a mount's max may exceed the system max, as in Vault
        apply_tune(&mut e, &obj(json!({"max_lease_ttl": "87600h"})), sys).unwrap();
        assert_eq!(e.config.max_lease_ttl, 87_600 * 3600);
    }

    #[test]
    fn token_type_only_on_auth_mounts() {
        let sys = SystemTtls::default();
        let mut kv = MountEntry::new("kv/", "kv", "");
        let err = apply_tune(&mut kv, &obj(json!({"token_type": "batch"})), sys).unwrap_err();
        assert_eq!(
            err.to_string(),
            "'token_type' can only be modified on auth mounts"
        );
        let mut tok = MountEntry::new("auth/token/", "token", "");
        assert!(apply_tune(&mut tok, &obj(json!({"token_type": "batch"})), sys).is_err());
        let err = apply_tune(
            &mut kv,
            &obj(json!({"user_lockout_config": {"lockout_threshold": 3}})),
            sys,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
    }

    #[test]
    fn kv_version_options() {
        let sys = SystemTtls::default();
        let mut kv = MountEntry::new("kv/", "kv", "");
        kv.options.insert("version".into(), "2".into());
        let err = apply_tune(&mut kv, &obj(json!({"options": {"version": "1"}})), sys).unwrap_err();
        assert_eq!(err.to_string(), "cannot downgrade mount from version 2");
        let err = apply_tune(&mut kv, &obj(json!({"options": {"version": "3"}})), sys).unwrap_err();
        assert_eq!(err.to_string(), "invalid version provided: 3");
        let (c, w) = apply_tune(
            &mut kv,
            &obj(json!({"options": {"version": "2", "x": "y"}})),
            sys,
        )
        .unwrap();
        assert_eq!(c, KvChange::None);
        assert!(w.is_none());
        assert_eq!(kv.options.get("x").map(String::as_str), Some("y"));
        apply_tune(&mut kv, &obj(json!({"options": {"x": ""}})), sys).unwrap();
        assert!(!kv.options.contains_key("x"));
        let mut v1 = MountEntry::new("old/", "kv", "");
        v1.options.insert("version".into(), "1".into());
        let (c, w) = apply_tune(&mut v1, &obj(json!({"options": {"version": 2}})), sys).unwrap();
        assert_eq!(c, KvChange::Upgrade);
        assert!(w
            .unwrap()
            .starts_with("Upgrading mount from version 1 to version 2."));
    }

    #[test]
    fn enable_config_checks() {
        let sys = SystemTtls::from_config(None, Some(3600)).unwrap_or_default();
        let mut e = MountEntry::new("kv/", "kv", "");
        let err = apply_enable_config(
            &mut e,
            &obj(json!({"default_lease_ttl": "2h", "max_lease_ttl": "1h"})),
            sys,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "given default lease TTL greater than given max lease TTL"
        );
        let mut e = MountEntry::new("kv/", "kv", "");
        let sys = SystemTtls {
            default: 60,
            max: 3600,
        };
        let err =
            apply_enable_config(&mut e, &obj(json!({"default_lease_ttl": "2h"})), sys).unwrap_err();
        assert_eq!(
            err.to_string(),
            "given default lease TTL greater than system max lease TTL of 3600"
        );
        let err =
            apply_enable_config(&mut e, &obj(json!({"max_lease_ttl": "soon"})), sys).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unable to parse max TTL of soon: "),
            "{err}"
        );
    }

    #[test]
    fn plugin_versions() {
        assert_eq!(plugin_version("kv", "").unwrap(), "");
        assert_eq!(plugin_version("kv", &builtin_version()).unwrap(), "");
        assert!(plugin_version("kv", "banana")
            .unwrap_err()
            .to_string()
            .contains("not a valid semantic version"));
        assert!(plugin_version("kv", "v1.2.3").is_err());
    }
}
