//! Server configuration files, in HCL or JSON, with Vault's stanzas:
//!
//! ```hcl
//! storage "file" { path = "/var/lib/strongroom" }
//! listener "tcp" { address = "127.0.0.1:8200"  tls_disable = true }
//! seal "awskms" { kms_key_id = "alias/strongroom" }
//! api_addr = "http://127.0.0.1:8200"
//! ```
//!
//! Unknown keys produce warnings (printed at start), malformed files an
//! error naming the file and the line.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("error reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("error parsing {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration in {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A labeled block such as `storage "file" { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stanza {
    pub(crate) kind: String,
    pub(crate) options: Map<String, Value>,
}

impl Stanza {
    /// A string option; numbers and booleans are accepted and stringified,
    /// since Vault's config takes `"true"` and `true` alike.
    pub(crate) fn get_str(&self, key: &str) -> Option<String> {
        match self.options.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// A size in bytes: a number, or a string such as `"32MiB"`, `"512KB"`,
/// `"1g"` or `"65536"` (binary and decimal units, case-insensitive; `K`,
/// `M`, `G` alone are binary, as in Vault's `max_request_size`-style
/// options and Go's humanize). Used for cache bounds in the config file.
pub(crate) fn byte_size(key: &str, v: &Value) -> Result<u64, String> {
    let bad = || format!("{key} must be a size in bytes such as 33554432 or \"32MiB\"");
    let text = match v {
        Value::Number(n) => return n.as_u64().ok_or_else(bad),
        Value::String(s) => s.trim().to_ascii_lowercase(),
        _ => return Err(bad()),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kib" | "ki" => 1 << 10,
        "kb" => 1000,
        "m" | "mib" | "mi" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" | "gi" => 1 << 30,
        "gb" => 1_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" | "yes" => Some(true),
            "false" | "0" | "f" | "no" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listener {
    pub(crate) address: String,
    pub(crate) tls_disable: bool,
    pub(crate) tls_cert_file: Option<PathBuf>,
    pub(crate) tls_key_file: Option<PathBuf>,
    pub(crate) max_request_size: Option<usize>,
    /// `x_forwarded_for_*`: which peers (load balancers) may tell the
    /// client's address in `X-Forwarded-For`; `None` when not configured.
    pub(crate) x_forwarded_for: Option<ForwardedFor>,
    /// Which client certificates the TLS handshake asks for.
    pub(crate) client_certs: ClientCertPolicy,
}

/// Vault's client-certificate listener options: by default a TLS listener
/// asks for a certificate and takes any the client proves it holds (trust
/// is `auth/cert`'s business); `tls_disable_client_certs` stops asking;
/// `tls_require_and_verify_client_cert` refuses a handshake without one
/// signed by `tls_client_ca_file` (or a public root when it is unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientCertPolicy {
    /// Ask, accept any; `ca_file` only names the CAs hinted to clients.
    Request {
        ca_file: Option<PathBuf>,
    },
    Disabled,
    Require {
        ca_file: Option<PathBuf>,
    },
}

impl Default for ClientCertPolicy {
    fn default() -> Self {
        Self::Request { ca_file: None }
    }
}

/// Vault's `x_forwarded_for_*` listener options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForwardedFor {
    /// `x_forwarded_for_authorized_addrs`: peers whose header is believed.
    pub(crate) authorized_addrs: Vec<ipnet::IpNet>,
    /// `x_forwarded_for_hop_skips`: entries to skip from the right.
    pub(crate) hop_skips: usize,
    /// `x_forwarded_for_reject_not_authorized` (default true): refuse a
    /// request with the header from a peer not in `authorized_addrs`.
    pub(crate) reject_not_authorized: bool,
    /// `x_forwarded_for_reject_not_present` (default true): refuse a
    /// request without the header.
    pub(crate) reject_not_present: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ServerConfig {
    pub(crate) storage: Option<Stanza>,
    pub(crate) listeners: Vec<Listener>,
    pub(crate) seal: Option<Stanza>,
    pub(crate) api_addr: Option<String>,
    pub(crate) cluster_addr: Option<String>,
    pub(crate) disable_mlock: bool,
    pub(crate) ui: bool,
    pub(crate) log_level: Option<String>,
    /// `log_format`: `standard` or `json`.
    pub(crate) log_format: Option<String>,
    /// `default_lease_ttl`, seconds: the system default lease TTL (Vault:
    /// 768h when unset).
    pub(crate) default_lease_ttl: Option<u64>,
    /// `max_lease_ttl`, seconds: the system maximum lease TTL (768h).
    pub(crate) max_lease_ttl: Option<u64>,
    /// Refuse the unauthenticated `sys/rekey*` endpoints (OpenBao's switch).
    pub(crate) disable_unauthed_rekey_endpoints: bool,
    /// Refuse the unauthenticated `sys/generate-root/*` endpoints.
    pub(crate) disable_unauthed_generate_root_endpoints: bool,
    /// `audit "file" "path" { ... }` stanzas and the API-creation switch
    /// (`disable_api_audit_creation = true`, or OpenBao's
    /// `unsafe_allow_api_audit_creation = false`).
    pub(crate) audit: crate::core::audit::AuditConfig,
    /// `kv_write_cache_size`, bytes: the bound of each KV v2 mount's write
    /// cache (default 64 MiB; 0 turns it off).
    pub(crate) kv_write_cache_size: Option<u64>,
    /// Non-fatal problems (unknown keys), printed at startup.
    pub(crate) warnings: Vec<String>,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "storage",
    "backend",
    "ha_storage",
    "listener",
    "seal",
    "api_addr",
    "cluster_addr",
    "disable_mlock",
    "ui",
    "log_level",
    "log_format",
    "cluster_name",
    "default_lease_ttl",
    "max_lease_ttl",
    "telemetry",
    "pid_file",
    "disable_cache",
    "plugin_directory",
];
const LISTENER_KEYS: &[&str] = &[
    "address",
    "cluster_address",
    "tls_disable",
    "tls_cert_file",
    "tls_key_file",
    "max_request_size",
    "tls_min_version",
    "tls_max_version",
    "tls_client_ca_file",
    "tls_require_and_verify_client_cert",
    "tls_disable_client_certs",
    "proxy_protocol_behavior",
    "x_forwarded_for_authorized_addrs",
    "x_forwarded_for_hop_skips",
    "x_forwarded_for_reject_not_authorized",
    "x_forwarded_for_reject_not_present",
];

/// Parses HCL text; JSON is valid input too (JSON is a subset of what we accept
/// by trying it first, so its errors name JSON lines and columns).
fn parse_text(path: &Path, text: &str) -> Result<Value, ConfigError> {
    let looks_json =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    if looks_json {
        return serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: format!("at line {}, column {}: {e}", e.line(), e.column()),
        });
    }
    hcl::from_str::<Value>(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

impl ServerConfig {
    /// Loads and merges one or more files (later files override earlier ones).
    pub(crate) fn load(paths: &[PathBuf]) -> Result<Self, ConfigError> {
        let mut merged = ServerConfig::default();
        for p in paths {
            let files: Vec<PathBuf> = if p.is_dir() {
                let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(|source| ConfigError::Read {
                        path: p.clone(),
                        source,
                    })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|e| e == "hcl" || e == "json"))
                    .collect();
                v.sort();
                v
            } else {
                vec![p.clone()]
            };
            for f in files {
                let text = std::fs::read_to_string(&f).map_err(|source| ConfigError::Read {
                    path: f.clone(),
                    source,
                })?;
                merged.merge(Self::parse(&f, &text)?);
            }
        }
        Ok(merged)
    }

    fn merge(&mut self, other: ServerConfig) {
        if other.storage.is_some() {
            self.storage = other.storage;
        }
        if other.seal.is_some() {
            self.seal = other.seal;
        }
        self.listeners.extend(other.listeners);
        self.api_addr = other.api_addr.or(self.api_addr.take());
        self.cluster_addr = other.cluster_addr.or(self.cluster_addr.take());
        self.log_level = other.log_level.or(self.log_level.take());
        self.log_format = other.log_format.or(self.log_format.take());
        self.default_lease_ttl = other.default_lease_ttl.or(self.default_lease_ttl);
        self.max_lease_ttl = other.max_lease_ttl.or(self.max_lease_ttl);
        self.kv_write_cache_size = other.kv_write_cache_size.or(self.kv_write_cache_size);
        self.disable_mlock |= other.disable_mlock;
        self.ui |= other.ui;
        self.disable_unauthed_rekey_endpoints |= other.disable_unauthed_rekey_endpoints;
        self.disable_unauthed_generate_root_endpoints |=
            other.disable_unauthed_generate_root_endpoints;
        self.audit.devices.extend(other.audit.devices);
        self.audit.api_creation_disabled |= other.audit.api_creation_disabled;
        self.warnings.extend(other.warnings);
    }

    /// Parses one file's text.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let root = parse_text(path, text)?;
        let Value::Object(root) = root else {
            return Err(invalid("the top level must be a set of stanzas".into()));
        };
        let mut cfg = ServerConfig::default();
        // `backend` is Vault's old name for `storage`; one file may not use both.
        if root.contains_key("storage") && root.contains_key("backend") {
            return Err(invalid(
                "both \"storage\" and its legacy name \"backend\" are set; use only \"storage\""
                    .into(),
            ));
        }
        for (key, value) in &root {
            match key.as_str() {
                "storage" | "backend" => {
                    cfg.storage = Some(one_stanza(key, value).map_err(invalid)?)
                }
                "default_lease_ttl" => {
                    cfg.default_lease_ttl = Some(duration(key, value).map_err(invalid)?)
                }
                "max_lease_ttl" => cfg.max_lease_ttl = Some(duration(key, value).map_err(invalid)?),
                "seal" => cfg.seal = Some(one_stanza(key, value).map_err(invalid)?),
                "listener" => {
                    for st in stanzas(key, value).map_err(invalid)? {
                        cfg.listeners
                            .push(listener(&st, &mut cfg.warnings).map_err(invalid)?);
                    }
                }
                "api_addr" => cfg.api_addr = Some(string(key, value).map_err(invalid)?),
                "cluster_addr" => cfg.cluster_addr = Some(string(key, value).map_err(invalid)?),
                "log_level" => cfg.log_level = Some(string(key, value).map_err(invalid)?),
                "log_format" => cfg.log_format = Some(string(key, value).map_err(invalid)?),
                "kv_write_cache_size" => {
                    cfg.kv_write_cache_size = Some(byte_size(key, value).map_err(invalid)?)
                }
                "disable_mlock" => {
                    cfg.disable_mlock =
                        as_bool(value).ok_or_else(|| invalid(format!("{key} must be a boolean")))?
                }
                "ui" => {
                    cfg.ui =
                        as_bool(value).ok_or_else(|| invalid(format!("{key} must be a boolean")))?
                }
                "disable_unauthed_rekey_endpoints" => {
                    cfg.disable_unauthed_rekey_endpoints =
                        as_bool(value).ok_or_else(|| invalid(format!("{key} must be a boolean")))?
                }
                "disable_unauthed_generate_root_endpoints" => {
                    cfg.disable_unauthed_generate_root_endpoints =
                        as_bool(value).ok_or_else(|| invalid(format!("{key} must be a boolean")))?
                }
                "audit" => {
                    for st in stanzas(key, value).map_err(invalid)? {
                        cfg.audit
                            .devices
                            .extend(audit_devices(&st).map_err(invalid)?);
                    }
                }
                "disable_api_audit_creation" => {
                    cfg.audit.api_creation_disabled =
                        as_bool(value).ok_or_else(|| invalid(format!("{key} must be a boolean")))?
                }
                "unsafe_allow_api_audit_creation" => {
                    let allow = as_bool(value)
                        .ok_or_else(|| invalid(format!("{key} must be a boolean")))?;
                    cfg.audit.api_creation_disabled |= !allow;
                }
                k if TOP_LEVEL_KEYS.contains(&k) => cfg.warnings.push(format!(
                    "{}: {k:?} is accepted but has no effect in Strongroom",
                    path.display()
                )),
                k => cfg
                    .warnings
                    .push(format!("{}: unknown key {k:?} ignored", path.display())),
            }
        }
        Ok(cfg)
    }
}

/// The devices of one `audit "<type>"` stanza. OpenBao's form names the
/// path as a second label (`audit "file" "to-stdout" { options { ... } }`);
/// the one-label form takes `path` in the body (default: the type).
fn audit_devices(st: &Stanza) -> Result<Vec<crate::core::audit::DeclaredDevice>, String> {
    const BODY_KEYS: &[&str] = &["path", "description", "options", "local"];
    let one_label =
        st.options.is_empty() || st.options.keys().any(|k| BODY_KEYS.contains(&k.as_str()));
    let bodies: Vec<(String, &Map<String, Value>)> = if one_label {
        let path = st.get_str("path").unwrap_or_else(|| st.kind.clone());
        vec![(path, &st.options)]
    } else {
        let mut v = Vec::new();
        for (path, body) in &st.options {
            let b = match body {
                Value::Object(m) => m,
                Value::Array(a) if a.len() == 1 && a[0].is_object() => a[0]
                    .as_object()
                    .ok_or("audit device body must be a block")?,
                _ => return Err(format!("audit \"{}\" \"{path}\" must be a block", st.kind)),
            };
            v.push((path.clone(), b));
        }
        v
    };
    let mut out = Vec::new();
    for (path, body) in bodies {
        let mut options = std::collections::BTreeMap::new();
        let opts = match body.get("options") {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(Value::Array(a)) if a.len() == 1 => a[0].as_object(),
            Some(_) => {
                return Err(format!(
                    "audit {path:?}: options must be a block of strings"
                ))
            }
        };
        for (k, v) in opts.into_iter().flatten() {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(format!("audit {path:?}: option {k} must be a string")),
            };
            options.insert(k.clone(), s);
        }
        if path.trim_matches('/').is_empty() {
            return Err("audit device path must not be empty".into());
        }
        out.push(crate::core::audit::DeclaredDevice {
            path,
            device_type: st.kind.clone(),
            description: body
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            options,
            local: body.get("local").and_then(as_bool).unwrap_or(false),
        });
    }
    Ok(out)
}

/// A duration as Vault's config takes it: `"768h"`, `"30m"` or seconds.
fn duration(key: &str, v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(_) | Value::String(_) => {
            crate::logical::parse_duration(v).map_err(|e| format!("{key}: {e}"))
        }
        _ => Err(format!("{key} must be a duration such as \"768h\"")),
    }
}

fn string(key: &str, v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{key} must be a string"))
}

/// Flattens the shapes HCL and JSON produce for labeled blocks:
/// `{"file": {...}}`, `[{"file": {...}}]`, `{"tcp": [{...}, {...}]}`.
fn stanzas(key: &str, v: &Value) -> Result<Vec<Stanza>, String> {
    let mut out = Vec::new();
    match v {
        Value::Array(items) => {
            for item in items {
                out.extend(stanzas(key, item)?);
            }
        }
        Value::Object(m) => {
            for (kind, body) in m {
                match body {
                    Value::Object(opts) => out.push(Stanza {
                        kind: kind.clone(),
                        options: opts.clone(),
                    }),
                    Value::Array(bodies) => {
                        for b in bodies {
                            let opts = b
                                .as_object()
                                .ok_or_else(|| format!("{key} \"{kind}\" must be a block"))?;
                            out.push(Stanza {
                                kind: kind.clone(),
                                options: opts.clone(),
                            });
                        }
                    }
                    _ => {
                        return Err(format!(
                            "{key} \"{kind}\" must be a block, like {key} \"{kind}\" {{ ... }}"
                        ))
                    }
                }
            }
        }
        _ => {
            return Err(format!(
                "{key} must be a labeled block, like {key} \"type\" {{ ... }}"
            ))
        }
    }
    Ok(out)
}

fn one_stanza(key: &str, v: &Value) -> Result<Stanza, String> {
    let mut all = stanzas(key, v)?;
    if all.len() != 1 {
        return Err(format!(
            "exactly one {key} stanza is allowed, found {}",
            all.len()
        ));
    }
    Ok(all.remove(0))
}

fn listener(st: &Stanza, warnings: &mut Vec<String>) -> Result<Listener, String> {
    if st.kind != "tcp" {
        return Err(format!(
            "unsupported listener type {:?}: only \"tcp\" is supported",
            st.kind
        ));
    }
    for k in st.options.keys() {
        if !LISTENER_KEYS.contains(&k.as_str()) {
            warnings.push(format!("listener \"tcp\": unknown key {k:?} ignored"));
        }
    }
    let tls_disable = match st.options.get("tls_disable") {
        None => false,
        Some(v) => as_bool(v).ok_or("listener tls_disable must be a boolean")?,
    };
    let max_request_size = match st.options.get("max_request_size") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .ok_or("listener max_request_size must be a number of bytes")? as usize,
        ),
    };
    let flag = |key: &str| -> Result<bool, String> {
        match st.options.get(key) {
            None => Ok(false),
            Some(v) => as_bool(v).ok_or_else(|| format!("listener {key} must be a boolean")),
        }
    };
    let ca_file = st.get_str("tls_client_ca_file").map(PathBuf::from);
    let client_certs = match (
        flag("tls_disable_client_certs")?,
        flag("tls_require_and_verify_client_cert")?,
    ) {
        (true, true) => return Err("listener \"tcp\": 'tls_disable_client_certs' and 'tls_require_and_verify_client_cert' are mutually exclusive".into()),
        (true, false) => ClientCertPolicy::Disabled,
        (false, true) => ClientCertPolicy::Require { ca_file },
        (false, false) => ClientCertPolicy::Request { ca_file },
    };
    let l = Listener {
        address: st
            .get_str("address")
            .unwrap_or_else(|| "127.0.0.1:8200".into()),
        tls_disable,
        tls_cert_file: st.get_str("tls_cert_file").map(PathBuf::from),
        tls_key_file: st.get_str("tls_key_file").map(PathBuf::from),
        max_request_size,
        x_forwarded_for: forwarded_for(st)?,
        client_certs,
    };
    if !l.tls_disable && (l.tls_cert_file.is_none() || l.tls_key_file.is_none()) {
        return Err("listener \"tcp\": TLS is enabled but tls_cert_file and tls_key_file are not both set (set tls_disable = true for plain HTTP)".into());
    }
    Ok(l)
}

/// Parses the `x_forwarded_for_*` options (Vault's names and defaults);
/// `None` without `x_forwarded_for_authorized_addrs`.
fn forwarded_for(st: &Stanza) -> Result<Option<ForwardedFor>, String> {
    let entries: Vec<String> = match st.options.get("x_forwarded_for_authorized_addrs") {
        None => return Ok(None),
        Some(Value::String(s)) => s.split(',').map(|s| s.trim().to_string()).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(|s| s.trim().to_string()))
            .collect::<Option<_>>()
            .ok_or("listener x_forwarded_for_authorized_addrs must be strings")?,
        Some(_) => {
            return Err(
                "listener x_forwarded_for_authorized_addrs must be a list of CIDR blocks".into(),
            )
        }
    };
    let mut authorized_addrs = Vec::new();
    for e in entries.iter().filter(|e| !e.is_empty()) {
        let net = match e.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => e
                .parse::<std::net::IpAddr>()
                .map(ipnet::IpNet::from)
                .map_err(|_| {
                    format!("listener x_forwarded_for_authorized_addrs: {e:?} is not a CIDR block")
                })?,
        };
        authorized_addrs.push(net);
    }
    let flag = |key: &str| -> Result<bool, String> {
        match st.options.get(key) {
            None => Ok(true),
            Some(v) => as_bool(v).ok_or(format!("listener {key} must be a boolean")),
        }
    };
    let hop_skips = match st.options.get("x_forwarded_for_hop_skips") {
        None => 0,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or("listener x_forwarded_for_hop_skips must be a non-negative number")?
            as usize,
    };
    Ok(Some(ForwardedFor {
        authorized_addrs,
        hop_skips,
        reject_not_authorized: flag("x_forwarded_for_reject_not_authorized")?,
        reject_not_present: flag("x_forwarded_for_reject_not_present")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_write_cache_size() {
        let p = Path::new("t.hcl");
        let cfg = ServerConfig::parse(p, "kv_write_cache_size = \"8MiB\"\n").expect("parses");
        assert_eq!(cfg.kv_write_cache_size, Some(8 << 20));
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        let err = ServerConfig::parse(p, "kv_write_cache_size = \"huge\"\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("kv_write_cache_size must be a size"),
            "{err}"
        );
        assert_eq!(ServerConfig::default().kv_write_cache_size, None);
    }

    #[test]
    fn byte_sizes() {
        use serde_json::json;
        let ok = |v: Value| byte_size("cache_size", &v).expect("valid size");
        assert_eq!(ok(json!(65536)), 65536);
        assert_eq!(ok(json!("65536")), 65536);
        assert_eq!(ok(json!("32MiB")), 32 << 20);
        assert_eq!(ok(json!("32mib")), 32 << 20);
        assert_eq!(ok(json!("32M")), 32 << 20);
        assert_eq!(ok(json!("32MB")), 32_000_000);
        assert_eq!(ok(json!("512 KiB")), 512 << 10);
        assert_eq!(ok(json!("1GiB")), 1 << 30);
        assert_eq!(ok(json!("0")), 0);
        for bad in [
            json!("lots"),
            json!("12 parsecs"),
            json!(-1),
            json!(true),
            json!(""),
            json!("99999999999999999999GiB"),
        ] {
            assert!(byte_size("cache_size", &bad).is_err(), "{bad} accepted");
        }
    }

    fn parse(text: &str, name: &str) -> Result<ServerConfig, ConfigError> {
        ServerConfig::parse(Path::new(name), text)
    }

    #[test]
    fn hcl_stanzas() {
        let cfg = parse(
            r#"
storage "file" {
  path = "/tmp/sr"
}
listener "tcp" {
  address     = "127.0.0.1:8300"
  tls_disable = 1
}
listener "tcp" {
  address     = "127.0.0.1:8301"
  tls_disable = "true"
  bogus = 1
}
api_addr = "http://127.0.0.1:8300"
disable_mlock = true
ui = true
whatever = 3
"#,
            "a.hcl",
        )
        .unwrap();
        let storage = cfg.storage.unwrap();
        assert_eq!(storage.kind, "file");
        assert_eq!(storage.get_str("path").unwrap(), "/tmp/sr");
        assert_eq!(cfg.listeners.len(), 2);
        assert!(cfg.listeners.iter().all(|l| l.tls_disable));
        assert_eq!(cfg.api_addr.as_deref(), Some("http://127.0.0.1:8300"));
        assert!(cfg.disable_mlock && cfg.ui);
        assert!(cfg.warnings.iter().any(|w| w.contains("whatever")));
        assert!(cfg.warnings.iter().any(|w| w.contains("bogus")));
    }

    #[test]
    fn json_config() {
        let cfg = parse(
            r#"{"storage": {"file": {"path": "/x"}}, "listener": [{"tcp": {"address": "127.0.0.1:1", "tls_disable": true}}]}"#,
            "a.json",
        )
        .unwrap();
        assert_eq!(cfg.storage.unwrap().kind, "file");
        assert_eq!(cfg.listeners[0].address, "127.0.0.1:1");
    }

    #[test]
    fn malformed_files_name_the_line() {
        let err = parse("storage \"file\" {\n  path = \n}\n", "bad.hcl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.hcl"), "{err}");
        assert!(err.contains('2') || err.contains("line"), "{err}");
        let err = parse("{\n\"storage\": {,}\n}", "bad.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn tls_needs_files() {
        let err = parse("listener \"tcp\" { address = \"127.0.0.1:1\" }", "t.hcl").unwrap_err();
        assert!(err.to_string().contains("tls_cert_file"));
    }

    #[test]
    fn client_cert_options() {
        let listener = |extra: &str| {
            let text = format!(
                "listener \"tcp\" {{\n address = \"127.0.0.1:1\"\n tls_cert_file = \"c\"\n tls_key_file = \"k\"\n {extra}\n}}\n"
            );
            parse(&text, "t.hcl").map(|c| c.listeners[0].client_certs.clone())
        };
        assert_eq!(
            listener("").unwrap(),
            ClientCertPolicy::Request { ca_file: None }
        );
        assert_eq!(
            listener("tls_disable_client_certs = true").unwrap(),
            ClientCertPolicy::Disabled
        );
        assert_eq!(
            listener(
                "tls_require_and_verify_client_cert = \"true\"\n tls_client_ca_file = \"ca.pem\""
            )
            .unwrap(),
            ClientCertPolicy::Require {
                ca_file: Some(PathBuf::from("ca.pem"))
            }
        );
        let err =
            listener("tls_disable_client_certs = true\n tls_require_and_verify_client_cert = true")
                .unwrap_err();
        assert!(err.to_string().contains("mutually exclusive"), "{err}");
        let err = listener("tls_disable_client_certs = \"maybe\"").unwrap_err();
        assert!(
            err.to_string().contains("tls_disable_client_certs"),
            "{err}"
        );
    }

    #[test]
    fn lease_ttls_in_hcl_and_json() {
        let cfg = parse(
            "default_lease_ttl = \"1h\"\nmax_lease_ttl = \"768h\"\n",
            "t.hcl",
        )
        .unwrap();
        assert_eq!(cfg.default_lease_ttl, Some(3600));
        assert_eq!(cfg.max_lease_ttl, Some(768 * 3600));
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        let cfg = parse(
            r#"{"default_lease_ttl": 60, "max_lease_ttl": "2h"}"#,
            "t.json",
        )
        .unwrap();
        assert_eq!(cfg.default_lease_ttl, Some(60));
        assert_eq!(cfg.max_lease_ttl, Some(7200));
        let err = parse("max_lease_ttl = \"forever\"\n", "t.hcl").unwrap_err();
        assert!(err.to_string().contains("max_lease_ttl"), "{err}");
        let err = parse("max_lease_ttl = [1]\n", "t.hcl").unwrap_err();
        assert!(err.to_string().contains("max_lease_ttl"), "{err}");
    }

    #[test]
    fn x_forwarded_for_options() {
        let cfg = parse(
            r#"
listener "tcp" {
  address = "127.0.0.1:1"
  tls_disable = true
  x_forwarded_for_authorized_addrs = "10.0.0.0/8, 192.168.1.7"
  x_forwarded_for_hop_skips = "1"
  x_forwarded_for_reject_not_present = "false"
}
listener "tcp" {
  address = "127.0.0.1:2"
  tls_disable = true
  x_forwarded_for_authorized_addrs = ["127.0.0.1/32"]
}
listener "tcp" {
  address = "127.0.0.1:3"
  tls_disable = true
}
"#,
            "x.hcl",
        )
        .unwrap();
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        let x = cfg.listeners[0].x_forwarded_for.clone().unwrap();
        assert_eq!(
            x.authorized_addrs,
            vec![
                "10.0.0.0/8".parse::<ipnet::IpNet>().unwrap(),
                "192.168.1.7/32".parse().unwrap()
            ]
        );
        assert_eq!(x.hop_skips, 1);
        assert!(x.reject_not_authorized && !x.reject_not_present);
        let y = cfg.listeners[1].x_forwarded_for.clone().unwrap();
        assert!(y.reject_not_authorized && y.reject_not_present && y.hop_skips == 0);
        assert!(cfg.listeners[2].x_forwarded_for.is_none());
        let err = parse(
            "listener \"tcp\" {\n address = \"127.0.0.1:1\"\n tls_disable = true\n x_forwarded_for_authorized_addrs = \"nonsense\"\n}\n",
            "x.hcl",
        )
        .unwrap_err();
        assert!(err.to_string().contains("nonsense"), "{err}");
    }

    #[test]
    fn backend_is_a_synonym_of_storage_but_not_both() {
        let cfg = parse("backend \"file\" { path = \"/x\" }\n", "t.hcl").unwrap();
        assert_eq!(cfg.storage.unwrap().kind, "file");
        let err = parse(
            "backend \"file\" { path = \"/x\" }\nstorage \"file\" { path = \"/y\" }\n",
            "t.hcl",
        )
        .unwrap_err();
        assert!(err.to_string().contains("backend"), "{err}");
    }
}

#[cfg(test)]
mod audit_tests {
    use super::*;

    #[test]
    fn audit_stanzas_both_forms() {
        let text = r#"
audit "file" "to-stdout" {
  description = "never fails"
  options {
    file_path = "stdout"
    log_raw = "true"
  }
}
disable_api_audit_creation = true
"#;
        let cfg = ServerConfig::parse(Path::new("a.hcl"), text).unwrap();
        assert!(cfg.audit.api_creation_disabled);
        assert_eq!(cfg.audit.devices.len(), 1);
        let d = &cfg.audit.devices[0];
        assert_eq!(d.path, "to-stdout");
        assert_eq!(d.device_type, "file");
        assert_eq!(d.description, "never fails");
        assert_eq!(d.options["log_raw"], "true");
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        let one = ServerConfig::parse(
            Path::new("o.hcl"),
            "audit \"file\" {\n  path = \"second\"\n  options = { file_path = \"/tmp/x.log\" }\n}\n",
        )
        .unwrap();
        assert_eq!(one.audit.devices.len(), 1);
        assert_eq!(one.audit.devices[0].path, "second");
        assert_eq!(one.audit.devices[0].options["file_path"], "/tmp/x.log");

        let openbao = ServerConfig::parse(
            Path::new("b.hcl"),
            "unsafe_allow_api_audit_creation = false\n",
        )
        .unwrap();
        assert!(openbao.audit.api_creation_disabled);
        let allowed = ServerConfig::parse(
            Path::new("c.hcl"),
            "unsafe_allow_api_audit_creation = true\n",
        )
        .unwrap();
        assert!(!allowed.audit.api_creation_disabled);
    }
}
