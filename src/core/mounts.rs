//! The mount table: which engine serves which path prefix.
//!
//! The table is stored through the barrier at [`MOUNT_TABLE_PATH`], so mount
//! paths and options are encrypted like everything else. Each mount's data
//! lives under `logical/<uuid>/`, so disabling and re-enabling a path never
//! exposes old data, and the table can be rewritten atomically.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub(crate) const MOUNT_TABLE_PATH: &str = "core/mounts";

/// Per-mount settings changed by `sys/mounts/:path/tune` (TTLs in seconds;
/// 0 means "use the system value"). Empty settings are left out of the
/// stored table, so tables written before they existed read the same.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct MountConfig {
    #[serde(default)]
    pub(crate) default_lease_ttl: u64,
    #[serde(default)]
    pub(crate) max_lease_ttl: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) audit_non_hmac_request_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) audit_non_hmac_response_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) passthrough_request_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) allowed_response_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) allowed_managed_keys: Vec<String>,
    /// `""`, `unauth` or `hidden`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) listing_visibility: String,
    /// Auth mounts: `default-service` (when empty), `service`,
    /// `default-batch` or `batch`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) token_type: String,
    /// Stored and shown as Vault does; Strongroom's logins do not lock users out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_lockout_config: Option<UserLockoutConfig>,
}

/// `user_lockout_config` of an auth mount (durations in seconds).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct UserLockoutConfig {
    #[serde(default)]
    pub(crate) threshold: u64,
    #[serde(default)]
    pub(crate) duration: u64,
    #[serde(default)]
    pub(crate) counter_reset: u64,
    #[serde(default)]
    pub(crate) disable: bool,
}

impl MountConfig {
    /// The token type shown for an auth mount.
    pub(crate) fn token_type_name(&self) -> &str {
        if self.token_type.is_empty() {
            "default-service"
        } else {
            &self.token_type
        }
    }

    /// The optional settings Vault lists only when set, as JSON (shared by
    /// the mount listing and the tune read).
    pub(crate) fn set_optional_json(&self, out: &mut Map<String, Value>, auth: bool) {
        for (key, list) in [
            (
                "audit_non_hmac_request_keys",
                &self.audit_non_hmac_request_keys,
            ),
            (
                "audit_non_hmac_response_keys",
                &self.audit_non_hmac_response_keys,
            ),
            (
                "passthrough_request_headers",
                &self.passthrough_request_headers,
            ),
            ("allowed_response_headers", &self.allowed_response_headers),
            ("allowed_managed_keys", &self.allowed_managed_keys),
        ] {
            if !list.is_empty() {
                out.insert(key.into(), json!(list));
            }
        }
        if !self.listing_visibility.is_empty() {
            out.insert("listing_visibility".into(), json!(self.listing_visibility));
        }
        if auth {
            out.insert("token_type".into(), json!(self.token_type_name()));
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct MountEntry {
    /// Always ends with `/`, e.g. `secret/`.
    pub(crate) path: String,
    /// Engine type: `kv`, `system`, `cubbyhole`, ...
    #[serde(rename = "type")]
    pub(crate) mount_type: String,
    #[serde(default)]
    pub(crate) description: String,
    pub(crate) uuid: String,
    pub(crate) accessor: String,
    #[serde(default)]
    pub(crate) config: MountConfig,
    #[serde(default)]
    pub(crate) options: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) local: bool,
    #[serde(default)]
    pub(crate) seal_wrap: bool,
    /// A pinned plugin version; empty for the built-in one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) plugin_version: String,
}

impl MountEntry {
    pub(crate) fn new(path: &str, mount_type: &str, description: &str) -> Self {
        let uuid = uuid::Uuid::new_v4().to_string();
        let accessor = format!("{}_{}", mount_type.replace('-', "_"), &uuid[..8]);
        Self {
            path: path.to_string(),
            mount_type: mount_type.to_string(),
            description: description.to_string(),
            uuid,
            accessor,
            config: MountConfig::default(),
            options: BTreeMap::new(),
            local: false,
            seal_wrap: false,
            plugin_version: String::new(),
        }
    }

    /// The storage prefix of this mount's private view.
    pub(crate) fn view_prefix(&self) -> String {
        // `concat`, not `format!`: this runs on every request to the mount,
        // and `format!` costs several times more (bench/PROFILE.md).
        ["logical/", self.uuid.as_str(), "/"].concat()
    }

    /// True for KV mounts with `options.version = "2"`.
    pub(crate) fn is_kv_v2(&self) -> bool {
        self.mount_type == "kv" && self.options.get("version").map(String::as_str) == Some("2")
    }

    /// The JSON Vault shows for a mount in `sys/mounts`.
    pub(crate) fn to_json(&self) -> Value {
        let options: Value = if self.options.is_empty() && self.mount_type != "kv" {
            Value::Null
        } else {
            Value::Object(
                self.options
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                    .collect(),
            )
        };
        let mut config = Map::new();
        config.insert(
            "default_lease_ttl".into(),
            json!(self.config.default_lease_ttl),
        );
        config.insert("force_no_cache".into(), json!(false));
        config.insert("max_lease_ttl".into(), json!(self.config.max_lease_ttl));
        self.config
            .set_optional_json(&mut config, self.path.starts_with("auth/"));
        if let Some(l) = &self.config.user_lockout_config {
            config.insert(
                "user_lockout_config".into(),
                json!({
                    "user_lockout_counter_reset_duration": l.counter_reset,
                    "user_lockout_threshold": l.threshold,
                    "user_lockout_duration": l.duration,
                    "user_lockout_disable": l.disable,
                }),
            );
        }
        json!({
            "accessor": self.accessor,
            "config": config,
            "description": self.description,
            "external_entropy_access": false,
            "local": self.local,
            "options": options,
            "plugin_version": self.plugin_version,
            "running_plugin_version": format!("v{}+builtin.strongroom", env!("CARGO_PKG_VERSION")),
            "running_sha256": "",
            "seal_wrap": self.seal_wrap,
            "type": self.mount_type,
            "uuid": self.uuid,
        })
    }
}

/// The whole table, persisted as one JSON document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct MountTable {
    pub(crate) entries: Vec<MountEntry>,
}

impl MountTable {
    /// The table a freshly initialized server starts with.
    pub(crate) fn default_table() -> Self {
        let mut sys = MountEntry::new(
            "sys/",
            "system",
            "system endpoints used for control, policy and debugging",
        );
        sys.local = false;
        let mut cubbyhole = MountEntry::new(
            "cubbyhole/",
            "cubbyhole",
            "per-token private secret storage",
        );
        cubbyhole.local = true;
        let token = MountEntry::new("auth/token/", "token", "token based credentials");
        let identity = MountEntry::new("identity/", "identity", "identity store");
        Self {
            entries: vec![sys, cubbyhole, identity, token],
        }
    }

    pub(crate) fn get(&self, path: &str) -> Option<&MountEntry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Secrets engine mounts for `sys/mounts` (auth methods excluded).
    pub(crate) fn to_json(&self) -> Map<String, Value> {
        self.entries
            .iter()
            .filter(|e| !e.path.starts_with("auth/"))
            .map(|e| (e.path.clone(), e.to_json()))
            .collect()
    }

    /// Auth method mounts for `sys/auth`, keyed without the `auth/` prefix.
    pub(crate) fn auth_json(&self) -> Map<String, Value> {
        self.entries
            .iter()
            .filter_map(|e| {
                e.path
                    .strip_prefix("auth/")
                    .map(|p| (p.to_string(), e.to_json()))
            })
            .collect()
    }
}

/// Normalizes a user-supplied mount path to `segment/segment/`.
pub(crate) fn normalize_mount_path(path: &str) -> Result<String, String> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Err("path cannot be empty".into());
    }
    if trimmed
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!("invalid mount path {path:?}"));
    }
    Ok(format!("{trimmed}/"))
}

/// Paths users may not mount over or unmount. Auth methods (`auth=true`)
/// live under `auth/` and may not replace the token store; secrets engines
/// may not go under `auth/` or over the built-in mounts.
pub(crate) fn is_protected(path: &str, auth: bool) -> bool {
    if auth {
        return !path.starts_with("auth/") || path == "auth/" || path.starts_with("auth/token/");
    }
    ["sys/", "auth/", "cubbyhole/", "identity/"]
        .iter()
        .any(|p| path.starts_with(p) || p.starts_with(path))
}

/// Engine types that are auth methods (mounted through `sys/auth`).
pub(crate) fn is_auth_type(t: &str) -> bool {
    matches!(
        t,
        "userpass" | "approle" | "aws" | "cert" | "token" | "jwt" | "oidc" | "kubernetes"
    )
}
