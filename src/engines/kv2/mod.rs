//! The KV version 2 secrets engine: versioned secrets with soft delete,
//! undelete, destroy, check-and-set and per-key metadata, speaking Vault's
//! KV v2 HTTP API (`config`, `data/`, `metadata/`, `delete/`, `undelete/`,
//! `destroy/`, `subkeys/`).
//!
//! # Storage layout (inside the mount's [`StorageView`])
//!
//! * `config` — the mount settings ([`Config`]) as JSON. Absent means defaults.
//! * `meta/<path>` — one [`KeyRecord`] per secret: the key's metadata, the
//!   metadata of every retained version, **and the data of the current
//!   version inline**. A read of the latest version is therefore a single
//!   storage get. Keeping the user's path in the key makes LIST a plain
//!   storage list of `meta/<prefix>/`.
//! * `versions/<sha256(path) hex>/<n>` — the data of version `n` once it is no
//!   longer the current one. Writing version `n+1` moves version `n`'s data
//!   here in the same atomic batch. Hashing the path bounds key length and
//!   keeps the layout unambiguous whatever characters a path holds.
//!
//! # Concurrency
//!
//! Every change is a read-modify-write of `meta/<path>`: the new record (plus
//! any version-data puts and deletes) is written in one batch conditioned on
//! the record's raw bytes being unchanged (or on the key being absent), and
//! — when the change depends on the mount settings — on `config` holding the
//! raw bytes the decision was made with (a `Check` item; `Absent` when there
//! is no config record). The barrier encrypts with a fresh nonce every time,
//! so the conditions cannot suffer ABA. When a condition fails the whole
//! read-modify-write is retried on what storage holds, so a check-and-set
//! that lost the race reports a cas mismatch, and two writers can never
//! produce the same version. Several server processes may share one storage
//! (HA: the active node can change at any time): nothing cached here decides
//! anything storage has not confirmed. Within a process, writers of the same
//! key also queue on a striped lock, so conditional writes fail only on
//! cross-process races or stale caches.
//!
//! # Write cache
//!
//! Each engine instance caches, per storage key, the last record it read or
//! wrote together with its raw (encrypted) bytes: the mount `config` and
//! `meta/<path>` records. A write starts from the cached records instead of
//! reading them, and the batch's conditions check they are still current; a
//! failed condition drops both entries and retries from storage. A refusal
//! (cas mismatch, cas required, ...) or a no-op decided on cached records is
//! decided again on freshly read ones before it is answered, since only a
//! successful conditional write proves a cached record current. After a
//! write, the new raw bytes come back from the barrier
//! ([`StorageView::batch_returning_raw`]) so the next write's condition needs
//! no read either. Reads never answer from the cache (a standby must see the
//! active node's writes at once): they read storage and refresh the entry
//! with what they found, as does the existence check before a write.
//!
//! The cache holds decrypted secret data in process memory, like Vault's
//! physical cache does; it is bounded to [`CACHE_MAX_ENTRIES`] records and
//! about [`CACHE_MAX_BYTES`] (entries over a sixteenth of that are not
//! cached), evicting arbitrary entries, plus at most [`CACHE_MAX_CONFIGS`]
//! configs.
//!
//! Round trips: a read of the current version (data or subkeys) is one get;
//! an older version adds one get of its data key. A warm write (data,
//! metadata, delete, undelete, destroy, config) is one batch; a cold one adds
//! a get of the record and, for data and metadata writes, of `config`.
//!
//! Besides Vault's fields, metadata and config carry OpenBao's
//! `metadata_cas_required` and `current_metadata_version` (check-and-set on
//! metadata writes via `metadata_cas`), so answers match OpenBao's captures.
//!
//! Deletion time for `delete_version_after` is computed when a version is
//! written and stored with it (as Vault does); a version whose deletion time
//! has passed reads as deleted.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::logical::{
    field_bool, field_u64, parse_duration, Backend, LogicalError, LogicalResult, Operation,
    Request, Response, StorageView,
};
use crate::barrier::BarrierError;
use crate::storage::{BatchItem, Condition, StorageError};
use crate::util::rfc3339;

const CONFIG_KEY: &str = "config";
const META_PREFIX: &str = "meta/";
const VERSION_PREFIX: &str = "versions/";
/// Versions kept when neither the key nor the mount sets `max_versions`.
const DEFAULT_MAX_VERSIONS: u32 = 10;
/// Read-modify-write attempts before answering 503.
const MAX_ATTEMPTS: u32 = 20;
/// Number of in-process write locks; keys hash onto them.
const LOCK_STRIPES: usize = 64;
const MERGE_PATCH: &str = "application/merge-patch+json";
/// Vault's limits on `custom_metadata`.
const CUSTOM_MAX_KEYS: usize = 64;
const CUSTOM_MAX_KEY_LEN: usize = 128;
const CUSTOM_MAX_VALUE_LEN: usize = 512;
/// Most secret records the write cache holds per engine instance.
const CACHE_MAX_ENTRIES: usize = 1024;
/// Most bytes (ciphertext plus plaintext, estimated) the write cache holds.
const CACHE_MAX_BYTES: usize = 64 << 20;
/// Most mount configs the write cache holds (an engine serves one mount).
const CACHE_MAX_CONFIGS: usize = 16;

/// Mount-wide settings (`<mount>/config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Config {
    max_versions: u32,
    cas_required: bool,
    /// OpenBao: metadata writes must carry `metadata_cas`.
    metadata_cas_required: bool,
    /// Seconds; 0 disables.
    delete_version_after: u64,
}

/// What is known about one version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct VersionMeta {
    created_time: String,
    /// Empty when not deleted; may lie in the future (`delete_version_after`).
    deletion_time: String,
    destroyed: bool,
}

impl VersionMeta {
    /// Whether the version counts as deleted at `now`. An unparsable time
    /// (never written by us) errs on the side of hiding the data.
    fn is_deleted(&self, now: DateTime<Utc>) -> bool {
        if self.deletion_time.is_empty() {
            return false;
        }
        DateTime::parse_from_rfc3339(&self.deletion_time)
            .map(|t| t.with_timezone(&Utc) <= now)
            .unwrap_or(true)
    }

    fn is_live(&self, now: DateTime<Utc>) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }

    /// The per-version block of a data read or write response.
    fn to_json(&self, version: u64, custom: &BTreeMap<String, String>) -> Value {
        json!({
            "created_time": self.created_time,
            "custom_metadata": custom_json(custom),
            "deletion_time": self.deletion_time,
            "destroyed": self.destroyed,
            "version": version,
        })
    }
}

/// Everything stored about one secret at `meta/<path>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct KeyRecord {
    created_time: String,
    updated_time: String,
    current_version: u64,
    oldest_version: u64,
    /// 0: use the mount setting.
    max_versions: u32,
    cas_required: bool,
    /// OpenBao: metadata writes to this key must carry `metadata_cas`.
    metadata_cas_required: bool,
    /// OpenBao: how many metadata writes the key has had (data writes do
    /// not count); the value `metadata_cas` is compared against.
    current_metadata_version: u64,
    /// Seconds; 0: use the mount setting.
    delete_version_after: u64,
    custom_metadata: BTreeMap<String, String>,
    versions: BTreeMap<u64, VersionMeta>,
    /// The data of `current_version`, unless that version was destroyed.
    current_data: Option<Map<String, Value>>,
}

impl KeyRecord {
    fn new(now: &str) -> Self {
        Self {
            created_time: now.to_string(),
            updated_time: now.to_string(),
            ..Default::default()
        }
    }

    /// Drops the oldest versions beyond `max`, returning them so their data
    /// can be deleted. Versions are contiguous, so this is a split.
    fn trim(&mut self, max: u32) -> Vec<(u64, VersionMeta)> {
        if self.versions.len() <= max as usize {
            return Vec::new();
        }
        let cutoff = self.current_version.saturating_sub(u64::from(max));
        let keep = self.versions.split_off(&(cutoff + 1));
        let removed = std::mem::replace(&mut self.versions, keep);
        self.oldest_version = cutoff + 1;
        removed.into_iter().collect()
    }

    /// The `metadata/` read response: Vault's fields plus OpenBao's
    /// `current_metadata_version` and `metadata_cas_required`.
    fn to_json(&self) -> Value {
        let versions: Map<String, Value> = self
            .versions
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    json!({
                        "created_time": v.created_time,
                        "deletion_time": v.deletion_time,
                        "destroyed": v.destroyed,
                    }),
                )
            })
            .collect();
        json!({
            "cas_required": self.cas_required,
            "created_time": self.created_time,
            "current_metadata_version": self.current_metadata_version,
            "current_version": self.current_version,
            "custom_metadata": custom_json(&self.custom_metadata),
            "delete_version_after": go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "metadata_cas_required": self.metadata_cas_required,
            "oldest_version": self.oldest_version,
            "updated_time": self.updated_time,
            "versions": versions,
        })
    }
}

/// Vault renders an unset custom metadata map as `null`.
fn custom_json(custom: &BTreeMap<String, String>) -> Value {
    if custom.is_empty() {
        Value::Null
    } else {
        json!(custom)
    }
}

/// Formats seconds the way Go's `time.Duration.String` does (`0s`, `1m30s`,
/// `1h0m0s`), which is what Vault puts in `delete_version_after`.
pub(crate) fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn meta_key(path: &str) -> String {
    format!("{META_PREFIX}{path}")
}

fn version_key(path: &str, version: u64) -> String {
    let digest = Sha256::digest(path.as_bytes());
    format!("{VERSION_PREFIX}{}/{version}", hex::encode(digest))
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> LogicalError {
    LogicalError::Internal(format!("corrupt {what} in storage: {e}"))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, LogicalError> {
    serde_json::to_vec(value).map_err(|e| LogicalError::Internal(format!("encoding failed: {e}")))
}

/// Which endpoint a mount-relative path addresses.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Config,
    Data(&'a str),
    Metadata(&'a str),
    Delete(&'a str),
    Undelete(&'a str),
    Destroy(&'a str),
    Subkeys(&'a str),
    Invalid,
}

fn route(rel: &str) -> Route<'_> {
    if rel == "config" {
        return Route::Config;
    }
    if rel == "metadata" {
        return Route::Metadata("");
    }
    let Some((head, rest)) = rel.split_once('/') else {
        return Route::Invalid;
    };
    match head {
        "data" => Route::Data(rest),
        "metadata" => Route::Metadata(rest),
        "delete" => Route::Delete(rest),
        "undelete" => Route::Undelete(rest),
        "destroy" => Route::Destroy(rest),
        "subkeys" => Route::Subkeys(rest),
        _ => Route::Invalid,
    }
}

/// Checks a secret path: non-empty and without empty segments.
fn secret_key(path: &str) -> Result<&str, LogicalError> {
    if path.is_empty() {
        return Err(LogicalError::bad("missing path"));
    }
    if path.split('/').any(str::is_empty) {
        return Err(LogicalError::bad(format!(
            "invalid secret path {path:?}: empty path segment"
        )));
    }
    Ok(path)
}

/// Vault's answer to a path outside the KV v2 API, e.g. `secret/foo`:
/// 404 with a warning pointing at the right endpoint.
fn invalid_path(op: Operation) -> LogicalResult {
    let sub = match op {
        Operation::Create | Operation::Update => "put",
        Operation::Patch => "patch",
        Operation::Read | Operation::Help => "get",
        Operation::List => "list",
        Operation::Delete => "delete",
    };
    Ok(Response {
        status: Some(404),
        warnings: vec![format!(
            "Invalid path for a versioned K/V secrets engine. See the API docs for the \
             appropriate API endpoints to use. If using the Vault CLI, use 'vault kv {sub}' \
             for this operation."
        )],
        ..Default::default()
    })
}

/// A response with a body and status 404, as Vault answers for deleted or
/// destroyed versions.
fn not_found_with(body: Value) -> Response {
    let mut resp = Response::json(body);
    resp.status = Some(404);
    resp
}

/// PATCH must carry `application/merge-patch+json`, as Vault's HTTP layer
/// enforces: 415 otherwise (400 when no media type at all).
fn check_merge_patch(req: &Request) -> Result<Option<Response>, LogicalError> {
    let raw = req.header("content-type").unwrap_or("");
    let media = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media.is_empty() {
        return Err(LogicalError::bad("mime: no media type"));
    }
    if media == MERGE_PATCH {
        return Ok(None);
    }
    Ok(Some(Response::raw_with_status(
        415,
        json!({ "errors": [format!("PATCH requires Content-Type of {MERGE_PATCH}, provided {media}")] }),
    )))
}

/// Applies an RFC 7386 JSON merge patch to `target`.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The keys of `data` down to `depth` levels (0: unlimited), with `null` at
/// every leaf, as the `subkeys/` endpoint answers.
fn subkeys(data: &Map<String, Value>, depth: u64, level: u64) -> Value {
    let out: Map<String, Value> = data
        .iter()
        .map(|(k, v)| match v {
            Value::Object(m) if depth == 0 || level < depth => {
                (k.clone(), subkeys(m, depth, level + 1))
            }
            _ => (k.clone(), Value::Null),
        })
        .collect();
    Value::Object(out)
}

/// The required `data` object of a write or patch.
fn data_object(body: &Map<String, Value>) -> Result<&Map<String, Value>, LogicalError> {
    match body.get("data") {
        None | Some(Value::Null) => Err(LogicalError::bad("no data provided")),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(LogicalError::bad("data must be a JSON object")),
    }
}

/// The optional `options.cas` of a write or patch.
fn cas_option(body: &Map<String, Value>) -> Result<Option<u64>, LogicalError> {
    match body.get("options") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(opts)) => field_u64(opts, "cas")
            .map_err(|_| LogicalError::bad("error parsing check-and-set parameter")),
        Some(_) => Err(LogicalError::bad("options must be a JSON object")),
    }
}

/// The `versions` list of delete/undelete/destroy: a JSON array of numbers
/// (or numeric strings), a single number, or a comma-separated string.
fn versions_param(body: &Map<String, Value>) -> Result<Vec<u64>, LogicalError> {
    let bad = || LogicalError::bad("versions must be a list of positive version numbers");
    let one = |v: &Value| -> Result<u64, LogicalError> {
        match v {
            Value::Number(n) => n.as_u64().ok_or_else(bad),
            Value::String(s) => s.trim().parse().map_err(|_| bad()),
            _ => Err(bad()),
        }
    };
    let out: Vec<u64> = match body.get("versions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(one).collect::<Result<_, _>>()?,
        Some(Value::String(s)) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?,
        Some(v @ Value::Number(_)) => vec![one(v)?],
        Some(_) => return Err(bad()),
    };
    if out.is_empty() {
        return Err(LogicalError::bad("no version number provided"));
    }
    Ok(out)
}

/// A duration field in seconds, `None` when absent.
fn duration_field(body: &Map<String, Value>, key: &str) -> Result<Option<u64>, LogicalError> {
    match body.get(key) {
        None => Ok(None),
        Some(v) => parse_duration(v)
            .map(Some)
            .map_err(|e| LogicalError::bad(format!("{key}: {e}"))),
    }
}

fn u32_field(body: &Map<String, Value>, key: &str) -> Result<Option<u32>, LogicalError> {
    field_u64(body, key)?
        .map(|n| u32::try_from(n).map_err(|_| LogicalError::bad(format!("{key} is too large"))))
        .transpose()
}

/// Converts one `custom_metadata` value: Vault weakly decodes scalars to
/// strings; `null` (only meaningful in a PATCH) means "remove".
fn custom_value(key: &str, v: &Value) -> Result<Option<String>, LogicalError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(LogicalError::bad(format!(
            "custom_metadata value for key {key:?} must be a string"
        ))),
    }
}

/// Enforces Vault's custom metadata limits.
fn validate_custom(custom: &BTreeMap<String, String>) -> Result<(), LogicalError> {
    let fail = |m: String| {
        Err(LogicalError::bad(format!(
            "custom_metadata validation failed: {m}"
        )))
    };
    if custom.len() > CUSTOM_MAX_KEYS {
        return fail(format!(
            "payload must contain at most {CUSTOM_MAX_KEYS} keys, provided {}",
            custom.len()
        ));
    }
    for (k, v) in custom {
        if k.is_empty() || k.len() > CUSTOM_MAX_KEY_LEN {
            return fail(format!(
                "length of key {k:?} is {} but must be between 1 and {CUSTOM_MAX_KEY_LEN}",
                k.len()
            ));
        }
        if v.is_empty() || v.len() > CUSTOM_MAX_VALUE_LEN {
            return fail(format!(
                "length of value for key {k:?} is {} but must be between 1 and {CUSTOM_MAX_VALUE_LEN}",
                v.len()
            ));
        }
        if k.chars().chain(v.chars()).any(char::is_control) {
            return fail(format!(
                "key {k:?} or its value contains unprintable characters"
            ));
        }
    }
    Ok(())
}

/// Settings a metadata write or patch may change; `None` leaves a field as is.
#[derive(Debug, Default)]
struct MetaSettings {
    max_versions: Option<u32>,
    cas_required: Option<bool>,
    metadata_cas_required: Option<bool>,
    /// OpenBao's check-and-set on the metadata version.
    metadata_cas: Option<u64>,
    delete_version_after: Option<u64>,
    /// Key → new value, or `None` to remove the key.
    custom: Option<CustomChange>,
}

#[derive(Debug)]
enum CustomChange {
    Replace(BTreeMap<String, String>),
    Merge(Vec<(String, Option<String>)>),
}

impl MetaSettings {
    /// Parses the body of `metadata/` POST (`patch == false`) or PATCH.
    fn parse(body: &Map<String, Value>, patch: bool) -> Result<Self, LogicalError> {
        let custom = match body.get("custom_metadata") {
            None => None,
            Some(Value::Null) => Some(CustomChange::Replace(BTreeMap::new())),
            Some(Value::Object(m)) => {
                let pairs = m
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), custom_value(k, v)?)))
                    .collect::<Result<Vec<_>, LogicalError>>()?;
                if patch {
                    Some(CustomChange::Merge(pairs))
                } else {
                    // Outside a PATCH a null is an empty string (which then
                    // fails validation), as Vault's TypeKVPairs decodes it.
                    let map = pairs
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect();
                    Some(CustomChange::Replace(map))
                }
            }
            Some(_) => return Err(LogicalError::bad("custom_metadata must be a JSON object")),
        };
        let settings = Self {
            max_versions: u32_field(body, "max_versions")?,
            cas_required: field_bool(body, "cas_required")?,
            metadata_cas_required: field_bool(body, "metadata_cas_required")?,
            metadata_cas: field_u64(body, "metadata_cas")?,
            delete_version_after: duration_field(body, "delete_version_after")?,
            custom,
        };
        if let Some(CustomChange::Replace(m)) = &settings.custom {
            validate_custom(m)?;
        }
        Ok(settings)
    }

    /// Whether the body sets nothing (a bare `metadata_cas` included): such a
    /// write changes nothing and checks nothing, as in Vault and OpenBao.
    fn is_noop(&self) -> bool {
        self.max_versions.is_none()
            && self.cas_required.is_none()
            && self.metadata_cas_required.is_none()
            && self.delete_version_after.is_none()
            && self.custom.is_none()
    }

    /// Warnings for settings the mount config overrides.
    fn warnings(&self, config: &Config) -> Vec<String> {
        let mut out = Vec::new();
        for (name, set, forced) in [
            ("cas_required", self.cas_required, config.cas_required),
            (
                "metadata_cas_required",
                self.metadata_cas_required,
                config.metadata_cas_required,
            ),
        ] {
            if set == Some(false) && forced {
                out.push(format!(
                    "\"{name}\" set to false, but is mandated by backend config. \
                     This value will be ignored."
                ));
            }
        }
        out
    }

    /// Enforces OpenBao's metadata check-and-set against `rec` as it stands.
    fn check_metadata_cas(&self, config: &Config, rec: &KeyRecord) -> Result<(), LogicalError> {
        match self.metadata_cas {
            None if config.metadata_cas_required || rec.metadata_cas_required => Err(
                LogicalError::bad("check-and-set parameter required for this call"),
            ),
            Some(c) if c != rec.current_metadata_version => Err(LogicalError::bad(
                "check-and-set parameter did not match the current version",
            )),
            _ => Ok(()),
        }
    }

    fn apply(&self, rec: &mut KeyRecord) -> Result<(), LogicalError> {
        if let Some(b) = self.metadata_cas_required {
            rec.metadata_cas_required = b;
        }
        if let Some(n) = self.max_versions {
            rec.max_versions = n;
        }
        if let Some(b) = self.cas_required {
            rec.cas_required = b;
        }
        if let Some(d) = self.delete_version_after {
            rec.delete_version_after = d;
        }
        match &self.custom {
            None => {}
            Some(CustomChange::Replace(m)) => rec.custom_metadata = m.clone(),
            Some(CustomChange::Merge(pairs)) => {
                let mut merged = rec.custom_metadata.clone();
                for (k, v) in pairs {
                    match v {
                        Some(v) => merged.insert(k.clone(), v.clone()),
                        None => merged.remove(k),
                    };
                }
                validate_custom(&merged)?;
                rec.custom_metadata = merged;
            }
        }
        Ok(())
    }
}

/// The effective version limit: the key's, else the mount's, else 10.
fn effective_max_versions(config: &Config, rec: &KeyRecord) -> u32 {
    [rec.max_versions, config.max_versions]
        .into_iter()
        .find(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_VERSIONS)
}

/// The effective `delete_version_after`: the shorter of the key's and the
/// mount's when both are set (a key may not outlive the mount's policy).
fn effective_delete_after(config: &Config, rec: &KeyRecord) -> Option<u64> {
    [rec.delete_version_after, config.delete_version_after]
        .into_iter()
        .filter(|d| *d > 0)
        .min()
}

/// Enforces `cas_required` and the cas value against the current version.
fn check_cas(config: &Config, rec: &KeyRecord, cas: Option<u64>) -> Result<(), LogicalError> {
    match cas {
        None if config.cas_required || rec.cas_required => Err(LogicalError::bad(
            "check-and-set parameter required for this call",
        )),
        Some(c) if c != rec.current_version => Err(LogicalError::bad(
            "check-and-set parameter did not match the current version",
        )),
        _ => Ok(()),
    }
}

/// Adds a new current version holding `data` to `rec`, trimming old ones.
/// Returns the extra batch items (moving the previous version's data out of
/// the record, deleting trimmed versions) and the write response.
fn append_version(
    rec: &mut KeyRecord,
    path: &str,
    data: Map<String, Value>,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<(Vec<BatchItem>, Value), LogicalError> {
    let previous = rec.current_version;
    let previous_data = rec.current_data.take();
    let version = previous
        .checked_add(1)
        .ok_or_else(|| LogicalError::bad("version number overflow"))?;
    let created = rfc3339(now);
    let deletion_time = effective_delete_after(config, rec)
        .and_then(|secs| i64::try_from(secs).ok())
        .and_then(chrono::Duration::try_seconds)
        .and_then(|d| now.checked_add_signed(d))
        .map(rfc3339)
        .unwrap_or_default();
    let vm = VersionMeta {
        created_time: created.clone(),
        deletion_time,
        destroyed: false,
    };
    let response = vm.to_json(version, &rec.custom_metadata);
    rec.versions.insert(version, vm);
    rec.current_version = version;
    rec.updated_time = created;
    rec.current_data = Some(data);
    let trimmed = rec.trim(effective_max_versions(config, rec));

    let mut items = Vec::new();
    if let Some(old) = previous_data {
        if rec.versions.contains_key(&previous) {
            items.push(BatchItem::put(version_key(path, previous), encode(&old)?));
        }
    }
    for (n, meta) in trimmed {
        // The previous version's data was inline, so it has no key yet.
        if n != previous && !meta.destroyed {
            items.push(BatchItem::delete(version_key(path, n)));
        }
    }
    Ok((items, response))
}

/// What a read-modify-write decided.
enum Change<R, T> {
    /// Write `R` (plus extra items) and answer `T`.
    Put(R, Vec<BatchItem>, T),
    /// Delete the record (plus extra items) and answer `T`.
    Remove(Vec<BatchItem>, T),
    /// Nothing to write; answer `T`.
    Keep(T),
}

fn is_condition_failed(e: &BarrierError) -> bool {
    matches!(e, BarrierError::Storage(StorageError::ConditionFailed(_)))
}

/// Jittered exponential backoff after a lost race.
async fn backoff(attempt: u32) {
    let cap_ms = 1u64 << attempt.min(6);
    let ms = rand::random::<u64>() % (cap_ms + 1);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// A stored record's value as the write cache holds it.
#[derive(Clone)]
enum Body {
    /// Plaintext JSON as a read found it; parsed when a write needs it (so a
    /// read refreshes the cache without copying or re-encoding anything).
    Plain(Vec<u8>),
    Config(Config),
    Record(KeyRecord),
}

/// What this process last saw (or wrote) at one storage key.
#[derive(Clone)]
enum Snapshot {
    Absent,
    /// The value and the raw (encrypted) bytes storage holds for it.
    Present {
        body: Body,
        raw: Vec<u8>,
    },
}

impl Snapshot {
    /// Estimated memory held: key, ciphertext and plaintext (a parsed record
    /// is counted as the size of its ciphertext).
    fn size(&self, key: &str) -> usize {
        key.len()
            + match self {
                Snapshot::Absent => 0,
                Snapshot::Present {
                    body: Body::Plain(p),
                    raw,
                } => raw.len() + p.len(),
                Snapshot::Present { raw, .. } => 2 * raw.len(),
            }
    }
}

/// A JSON record the write cache can hold parsed.
trait Stored: Serialize + DeserializeOwned + Send + Sized {
    fn into_body(self) -> Body;
    /// `None` when `body` holds another kind of record.
    fn from_body(body: Body) -> Option<Self>;
}

impl Stored for Config {
    fn into_body(self) -> Body {
        Body::Config(self)
    }
    fn from_body(body: Body) -> Option<Self> {
        match body {
            Body::Config(c) => Some(c),
            _ => None,
        }
    }
}

impl Stored for KeyRecord {
    fn into_body(self) -> Body {
        Body::Record(self)
    }
    fn from_body(body: Body) -> Option<Self> {
        match body {
            Body::Record(r) => Some(r),
            _ => None,
        }
    }
}

/// Where a storage key lives in the write cache: keyed by the full storage
/// key (view prefix included); the mount config has a map of its own, so
/// evicting secrets never evicts it.
struct Slot {
    key: String,
    config: bool,
}

impl Slot {
    fn new(view: &StorageView, key: &str) -> Self {
        Self {
            key: format!("{}{key}", view.prefix()),
            config: key == CONFIG_KEY,
        }
    }
}

#[derive(Default)]
struct CacheMaps {
    configs: HashMap<String, Snapshot>,
    records: HashMap<String, Snapshot>,
    /// Total [`Snapshot::size`] of `records`.
    record_bytes: usize,
}

/// The records this engine instance may write without re-reading them
/// (see "Write cache" in the module doc). A std mutex: it is held only for
/// map operations, never across an await.
#[derive(Default)]
struct WriteCache {
    maps: Mutex<CacheMaps>,
}

impl WriteCache {
    fn maps(&self) -> std::sync::MutexGuard<'_, CacheMaps> {
        // A panic while holding the lock cannot leave a map half-updated in
        // a way that matters: every entry is re-checked by storage anyway.
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes and returns the entry (a write owns it until it puts back).
    fn take(&self, slot: &Slot) -> Option<Snapshot> {
        let mut m = self.maps();
        if slot.config {
            return m.configs.remove(&slot.key);
        }
        let snap = m.records.remove(&slot.key)?;
        m.record_bytes = m.record_bytes.saturating_sub(snap.size(&slot.key));
        Some(snap)
    }

    /// A copy of the entry (used for the small, shared mount config).
    fn peek(&self, slot: &Slot) -> Option<Snapshot> {
        let m = self.maps();
        if slot.config {
            m.configs.get(&slot.key).cloned()
        } else {
            m.records.get(&slot.key).cloned()
        }
    }

    fn forget(&self, slot: &Slot) {
        self.take(slot);
    }

    /// Stores `snap`, evicting arbitrary entries to stay within bounds.
    fn put(&self, slot: &Slot, snap: Snapshot) {
        let mut m = self.maps();
        if slot.config {
            if m.configs.len() >= CACHE_MAX_CONFIGS && !m.configs.contains_key(&slot.key) {
                m.configs.clear();
            }
            m.configs.insert(slot.key.clone(), snap);
            return;
        }
        if let Some(old) = m.records.remove(&slot.key) {
            m.record_bytes = m.record_bytes.saturating_sub(old.size(&slot.key));
        }
        let size = snap.size(&slot.key);
        if size > CACHE_MAX_BYTES / 16 {
            return; // too big to be worth the memory
        }
        while m.records.len() >= CACHE_MAX_ENTRIES || m.record_bytes + size > CACHE_MAX_BYTES {
            let Some(victim) = m.records.keys().next().cloned() else {
                break;
            };
            if let Some(old) = m.records.remove(&victim) {
                m.record_bytes = m.record_bytes.saturating_sub(old.size(&victim));
            }
        }
        m.record_bytes += size;
        m.records.insert(slot.key.clone(), snap);
    }
}

/// A record as a write starts from.
struct Seen<R> {
    /// `None`: the key is absent.
    value: Option<R>,
    /// The raw bytes in storage (`None`: absent): the write's condition.
    raw: Option<Vec<u8>>,
    /// The plaintext, when read from storage in this attempt, so that a
    /// write that changes nothing can put the record back in the cache.
    plain: Option<Vec<u8>>,
    /// Whether this came from the cache (possibly stale) or from storage.
    cached: bool,
}

impl<R: Stored> Seen<R> {
    /// Parses a cache entry; `None` if it holds another kind of record.
    fn from_snapshot(key: &str, snap: Snapshot) -> Result<Option<Self>, LogicalError> {
        let (value, raw) = match snap {
            Snapshot::Absent => (None, None),
            Snapshot::Present { body, raw } => {
                let value = match body {
                    Body::Plain(p) => serde_json::from_slice(&p).map_err(|e| corrupt(key, e))?,
                    other => match R::from_body(other) {
                        Some(v) => v,
                        None => return Ok(None),
                    },
                };
                (Some(value), Some(raw))
            }
        };
        Ok(Some(Self {
            value,
            raw,
            plain: None,
            cached: true,
        }))
    }

    /// Reads `key` from storage.
    async fn fetch(view: &StorageView, key: &str) -> Result<Self, LogicalError> {
        Ok(match view.get_versioned(key).await? {
            Some(v) => Self {
                value: Some(serde_json::from_slice(&v.plaintext).map_err(|e| corrupt(key, e))?),
                raw: Some(v.raw),
                plain: Some(v.plaintext),
                cached: false,
            },
            None => Self {
                value: None,
                raw: None,
                plain: None,
                cached: false,
            },
        })
    }

    /// The cache entry for what was read from storage, if it is still whole
    /// (the value is moved out when a write decides).
    fn unchanged_snapshot(self) -> Option<Snapshot> {
        match (self.raw, self.plain) {
            (None, _) if !self.cached => Some(Snapshot::Absent),
            (Some(raw), Some(plain)) => Some(Snapshot::Present {
                body: Body::Plain(plain),
                raw,
            }),
            _ => None,
        }
    }
}

/// The cache entry for a config as a write saw it.
fn config_snapshot(seen: &Seen<Config>) -> Snapshot {
    match (&seen.value, &seen.raw) {
        (Some(c), Some(raw)) => Snapshot::Present {
            body: Body::Config(c.clone()),
            raw: raw.clone(),
        },
        _ => Snapshot::Absent,
    }
}

fn condition_for(raw: Option<Vec<u8>>) -> Condition {
    match raw {
        Some(raw) => Condition::Equals(raw),
        None => Condition::Absent,
    }
}

/// Reads a JSON value without its raw bytes (older versions' data).
async fn load_json<T: DeserializeOwned>(
    view: &StorageView,
    key: &str,
) -> Result<Option<T>, LogicalError> {
    match view.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| corrupt(key, e)),
    }
}

/// The outcome of looking up one version for a read.
enum Resolved {
    /// Live version: its data and response metadata.
    Live(Map<String, Value>, Value),
    /// Deleted or destroyed: only the response metadata.
    Gone(Value),
}

/// How a new version's data is obtained from the current one.
#[derive(Clone, Copy)]
enum NewData<'a> {
    Replace(&'a Map<String, Value>),
    /// Merge-patch the current live version; 404 if there is none.
    Patch(&'a Map<String, Value>),
}

/// Which versions a delete/undelete/destroy addresses.
enum Target {
    /// The current version (DELETE `data/:path`).
    Latest,
    Versions(Vec<u64>),
}

/// The KV v2 engine.
pub(crate) struct KvV2 {
    /// Striped per-key write locks for this process (see the module doc).
    locks: Vec<tokio::sync::Mutex<()>>,
    /// Records this instance may write without re-reading them.
    cache: WriteCache,
}

impl Default for KvV2 {
    fn default() -> Self {
        Self::new()
    }
}

impl KvV2 {
    pub(crate) fn new() -> Self {
        Self {
            locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            cache: WriteCache::default(),
        }
    }

    /// This process's write lock for `path` (a stripe shared with other keys).
    async fn lock(&self, path: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        // The modulo keeps the index in range, so indexing cannot panic.
        let i = (h.finish() % self.locks.len() as u64) as usize;
        self.locks[i].lock().await
    }

    /// The record at `key` for a write: the cached one unless `fresh`, else
    /// read from storage.
    async fn seen<R: Stored>(
        &self,
        view: &StorageView,
        key: &str,
        fresh: bool,
    ) -> Result<Seen<R>, LogicalError> {
        if !fresh {
            let slot = Slot::new(view, key);
            if let Some(snap) = self.cache.take(&slot) {
                if let Some(seen) = Seen::from_snapshot(key, snap)? {
                    return Ok(seen);
                }
            }
        }
        Seen::fetch(view, key).await
    }

    /// The mount config for a write: the cached one unless `fresh`, else read
    /// from storage (and cached). It stays in the cache meanwhile, shared by
    /// writers of every path.
    async fn config_seen(
        &self,
        view: &StorageView,
        fresh: bool,
    ) -> Result<Seen<Config>, LogicalError> {
        let slot = Slot::new(view, CONFIG_KEY);
        if !fresh {
            if let Some(snap) = self.cache.peek(&slot) {
                let reparse = matches!(
                    snap,
                    Snapshot::Present {
                        body: Body::Plain(_),
                        ..
                    }
                );
                if let Some(seen) = Seen::<Config>::from_snapshot(CONFIG_KEY, snap)? {
                    if reparse {
                        self.cache.put(&slot, config_snapshot(&seen));
                    }
                    return Ok(seen);
                }
            }
        }
        let seen = Seen::fetch(view, CONFIG_KEY).await?;
        self.cache.put(&slot, config_snapshot(&seen));
        Ok(seen)
    }

    /// The read-modify-write behind every change: takes the record at `key`
    /// (cached, else read with its raw bytes), lets `decide` compute the
    /// change from it and the mount config, and applies it in one batch
    /// conditioned on the record being unchanged in storage (or absent) and,
    /// with `with_config`, on the config being the one `decide` saw. When a
    /// condition fails (another node wrote, or the cache was stale), both
    /// are re-read and the whole change is decided again. A refusal or a
    /// no-op decided on cached state is likewise decided again on what
    /// storage holds before it is answered: only a successful conditional
    /// write can confirm cached state.
    async fn mutate<R, T, F>(
        &self,
        view: &StorageView,
        key: &str,
        with_config: bool,
        mut decide: F,
    ) -> Result<T, LogicalError>
    where
        R: Stored,
        T: Send,
        F: FnMut(&Config, Option<R>) -> Result<Change<R, T>, LogicalError> + Send,
    {
        let slot = Slot::new(view, key);
        let config_slot = Slot::new(view, CONFIG_KEY);
        let defaults = Config::default();
        let mut fresh = false;
        let mut attempt = 0;
        while attempt < MAX_ATTEMPTS {
            let config = match with_config {
                true => Some(self.config_seen(view, fresh).await?),
                false => None,
            };
            let mut seen = self.seen::<R>(view, key, fresh).await?;
            let from_cache = seen.cached || config.as_ref().is_some_and(|c| c.cached);
            let config_value = config.as_ref().and_then(|c| c.value.as_ref());
            let decision = decide(config_value.unwrap_or(&defaults), seen.value.take());
            let (head, extra, answer, written_rec) = match decision {
                Err(_) | Ok(Change::Keep(_)) if from_cache => {
                    fresh = true;
                    continue;
                }
                Err(e) => {
                    if let Some(snap) = seen.unchanged_snapshot() {
                        self.cache.put(&slot, snap);
                    }
                    return Err(e);
                }
                Ok(Change::Keep(answer)) => {
                    if let Some(snap) = seen.unchanged_snapshot() {
                        self.cache.put(&slot, snap);
                    }
                    return Ok(answer);
                }
                Ok(Change::Put(rec, extra, answer)) => {
                    (BatchItem::put(key, encode(&rec)?), extra, answer, Some(rec))
                }
                Ok(Change::Remove(extra, answer)) => (BatchItem::delete(key), extra, answer, None),
            };
            let mut batch = vec![head.when(condition_for(seen.raw.take()))];
            batch.extend(extra);
            if let Some(c) = &config {
                batch.push(BatchItem::check(CONFIG_KEY, condition_for(c.raw.clone())));
            }
            match view.batch_returning_raw(batch).await {
                Ok(written) => {
                    let snap = match written_rec {
                        None => Some(Snapshot::Absent),
                        Some(rec) => written.into_iter().find(|(k, _)| k == key).map(|(_, raw)| {
                            Snapshot::Present {
                                body: rec.into_body(),
                                raw,
                            }
                        }),
                    };
                    match snap {
                        Some(snap) => self.cache.put(&slot, snap),
                        None => self.cache.forget(&slot),
                    }
                    return Ok(answer);
                }
                Err(e) if is_condition_failed(&e) => {
                    self.cache.forget(&slot);
                    if with_config {
                        self.cache.forget(&config_slot);
                    }
                    // A stale cache is no race with a live writer: retry at once.
                    if !from_cache {
                        backoff(attempt).await;
                    }
                    fresh = true;
                    attempt += 1;
                }
                Err(e) => {
                    // The write may or may not have landed.
                    self.cache.forget(&slot);
                    return Err(e.into());
                }
            }
        }
        Err(LogicalError::Unavailable(
            "too many concurrent writes to this key; retry the request".into(),
        ))
    }

    /// Reads the record of `path` for a read (always from storage: a standby
    /// must see what the active node wrote), refreshing the write cache.
    async fn read_record(
        &self,
        view: &StorageView,
        path: &str,
    ) -> Result<Option<KeyRecord>, LogicalError> {
        let key = meta_key(path);
        let slot = Slot::new(view, &key);
        match view.get_versioned(&key).await? {
            None => {
                self.cache.put(&slot, Snapshot::Absent);
                Ok(None)
            }
            Some(v) => {
                let rec = serde_json::from_slice(&v.plaintext).map_err(|e| corrupt(&key, e))?;
                self.cache.put(
                    &slot,
                    Snapshot::Present {
                        body: Body::Plain(v.plaintext),
                        raw: v.raw,
                    },
                );
                Ok(Some(rec))
            }
        }
    }

    /// Finds `requested` (0 or absent: the current version) of `path`. A
    /// read of the current version is one storage get; an older one is two.
    async fn resolve_version(
        &self,
        view: &StorageView,
        path: &str,
        requested: Option<u64>,
    ) -> Result<Resolved, LogicalError> {
        // A version's data can vanish between the two gets (trimmed or
        // destroyed by a concurrent writer); re-reading the record then
        // gives the truth.
        for _ in 0..3 {
            let Some(rec) = self.read_record(view, path).await? else {
                return Err(LogicalError::NotFound);
            };
            let version = requested.filter(|v| *v > 0).unwrap_or(rec.current_version);
            let Some(vm) = rec.versions.get(&version) else {
                return Err(LogicalError::NotFound);
            };
            let meta = vm.to_json(version, &rec.custom_metadata);
            if !vm.is_live(Utc::now()) {
                return Ok(Resolved::Gone(meta));
            }
            let data = if version == rec.current_version {
                rec.current_data
            } else {
                load_json(view, &version_key(path, version)).await?
            };
            if let Some(data) = data {
                return Ok(Resolved::Live(data, meta));
            }
        }
        Err(LogicalError::NotFound)
    }

    async fn read_config(&self, view: &StorageView) -> LogicalResult {
        // From storage, like every read; refreshes the cached config.
        let seen = self.config_seen(view, true).await?;
        let c = seen.value.unwrap_or_default();
        Ok(Response::json(json!({
            "cas_required": c.cas_required,
            "delete_version_after": go_duration(c.delete_version_after),
            "max_versions": c.max_versions,
            "metadata_cas_required": c.metadata_cas_required,
        })))
    }

    async fn write_config(&self, req: &Request, view: &StorageView) -> LogicalResult {
        let max_versions = u32_field(&req.data, "max_versions")?;
        let cas_required = field_bool(&req.data, "cas_required")?;
        let metadata_cas_required = field_bool(&req.data, "metadata_cas_required")?;
        let delete_after = duration_field(&req.data, "delete_version_after")?;
        self.mutate(view, CONFIG_KEY, false, |_, current: Option<Config>| {
            let mut c = current.unwrap_or_default();
            if let Some(n) = max_versions {
                c.max_versions = n;
            }
            if let Some(b) = cas_required {
                c.cas_required = b;
            }
            if let Some(b) = metadata_cas_required {
                c.metadata_cas_required = b;
            }
            if let Some(d) = delete_after {
                c.delete_version_after = d;
            }
            Ok(Change::Put(c, Vec::new(), ()))
        })
        .await?;
        Ok(Response::empty())
    }

    async fn read_data(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        let requested = field_u64(&req.data, "version")?;
        match self.resolve_version(view, path, requested).await? {
            Resolved::Live(data, meta) => {
                Ok(Response::json(json!({ "data": data, "metadata": meta })))
            }
            Resolved::Gone(meta) => Ok(not_found_with(json!({ "data": null, "metadata": meta }))),
        }
    }

    async fn read_subkeys(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        let requested = field_u64(&req.data, "version")?;
        let depth = field_u64(&req.data, "depth")?.unwrap_or(0);
        match self.resolve_version(view, path, requested).await? {
            Resolved::Live(data, meta) => Ok(Response::json(
                json!({ "subkeys": subkeys(&data, depth, 1), "metadata": meta }),
            )),
            Resolved::Gone(meta) => {
                Ok(not_found_with(json!({ "subkeys": null, "metadata": meta })))
            }
        }
    }

    /// Writes a new version (replace or patch) with check-and-set.
    async fn put_version(
        &self,
        view: &StorageView,
        path: &str,
        new: NewData<'_>,
        cas: Option<u64>,
    ) -> LogicalResult {
        let _guard = self.lock(path).await;
        let answer = self
            .mutate(
                view,
                &meta_key(path),
                true,
                |config, current: Option<KeyRecord>| {
                    let now = Utc::now();
                    let mut rec = match (current, new) {
                        (Some(rec), _) => rec,
                        (None, NewData::Patch(_)) => return Err(LogicalError::NotFound),
                        (None, NewData::Replace(_)) => KeyRecord::new(&rfc3339(now)),
                    };
                    check_cas(config, &rec, cas)?;
                    let data = match new {
                        NewData::Replace(d) => d.clone(),
                        NewData::Patch(p) => patched(&rec, p, now)?,
                    };
                    let (items, answer) = append_version(&mut rec, path, data, config, now)?;
                    Ok(Change::Put(rec, items, answer))
                },
            )
            .await?;
        Ok(Response::json(answer))
    }

    async fn write_data(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        let data = data_object(&req.data)?;
        let cas = cas_option(&req.data)?;
        self.put_version(view, path, NewData::Replace(data), cas)
            .await
    }

    async fn patch_data(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        if let Some(refusal) = check_merge_patch(req)? {
            return Ok(refusal);
        }
        let patch = data_object(&req.data)?;
        let cas = cas_option(&req.data)?;
        self.put_version(view, path, NewData::Patch(patch), cas)
            .await
    }

    /// Applies `change` to each targeted version of `path` (it may add batch
    /// items and says whether it changed anything); answers 204 whether or
    /// not anything changed, as Vault does.
    async fn change_versions<F>(
        &self,
        view: &StorageView,
        path: &str,
        target: Target,
        mut change: F,
    ) -> LogicalResult
    where
        F: FnMut(&mut KeyRecord, u64, DateTime<Utc>, &mut Vec<BatchItem>) -> bool + Send,
    {
        let _guard = self.lock(path).await;
        self.mutate(
            view,
            &meta_key(path),
            false,
            |_, current: Option<KeyRecord>| {
                let Some(mut rec) = current else {
                    return Ok(Change::Keep(()));
                };
                // Resolved inside the read-modify-write, so "latest" is the
                // latest at the moment the change lands.
                let versions = match &target {
                    Target::Latest => vec![rec.current_version],
                    Target::Versions(v) => v.clone(),
                };
                let now = Utc::now();
                let mut items = Vec::new();
                let mut changed = false;
                for v in versions {
                    changed |= change(&mut rec, v, now, &mut items);
                }
                Ok(if changed {
                    Change::Put(rec, items, ())
                } else {
                    Change::Keep(())
                })
            },
        )
        .await?;
        Ok(Response::empty())
    }

    async fn soft_delete(&self, view: &StorageView, path: &str, target: Target) -> LogicalResult {
        self.change_versions(view, path, target, |rec, v, now, _| {
            match rec.versions.get_mut(&v) {
                Some(vm) if !vm.destroyed && !vm.is_deleted(now) => {
                    vm.deletion_time = rfc3339(now);
                    true
                }
                _ => false,
            }
        })
        .await
    }

    async fn undelete(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        let versions = versions_param(&req.data)?;
        self.change_versions(
            view,
            path,
            Target::Versions(versions),
            |rec, v, _, _| match rec.versions.get_mut(&v) {
                Some(vm) if !vm.destroyed && !vm.deletion_time.is_empty() => {
                    vm.deletion_time.clear();
                    true
                }
                _ => false,
            },
        )
        .await
    }

    async fn destroy(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        let versions = versions_param(&req.data)?;
        let key_path = path.to_string();
        self.change_versions(
            view,
            path,
            Target::Versions(versions),
            move |rec, v, _, items| {
                let current = rec.current_version;
                match rec.versions.get_mut(&v) {
                    Some(vm) if !vm.destroyed => {
                        vm.destroyed = true;
                        if v == current {
                            rec.current_data = None;
                        } else {
                            items.push(BatchItem::delete(version_key(&key_path, v)));
                        }
                        true
                    }
                    _ => false,
                }
            },
        )
        .await
    }

    async fn read_metadata(&self, view: &StorageView, path: &str) -> LogicalResult {
        match self.read_record(view, path).await? {
            Some(rec) => Ok(Response::json(rec.to_json())),
            None => Err(LogicalError::NotFound),
        }
    }

    /// `metadata/` POST (`patch == false`) or PATCH. Creates the record on
    /// POST; counts every effective write in `current_metadata_version`.
    async fn write_metadata(
        &self,
        req: &Request,
        view: &StorageView,
        path: &str,
        patch: bool,
    ) -> LogicalResult {
        if patch {
            if let Some(refusal) = check_merge_patch(req)? {
                return Ok(refusal);
            }
        }
        let settings = MetaSettings::parse(&req.data, patch)?;
        if settings.is_noop() {
            return Ok(Response::empty());
        }
        let _guard = self.lock(path).await;
        let warnings = self
            .mutate(
                view,
                &meta_key(path),
                true,
                |config, current: Option<KeyRecord>| {
                    let mut rec = match current {
                        Some(rec) => rec,
                        None if patch => return Err(LogicalError::NotFound),
                        None => KeyRecord::new(&rfc3339(Utc::now())),
                    };
                    settings.check_metadata_cas(config, &rec)?;
                    settings.apply(&mut rec)?;
                    rec.current_metadata_version = rec.current_metadata_version.saturating_add(1);
                    Ok(Change::Put(rec, Vec::new(), settings.warnings(config)))
                },
            )
            .await?;
        Ok(Response {
            warnings,
            ..Default::default()
        })
    }

    /// Removes the key's metadata and every version's data, atomically.
    async fn delete_metadata(&self, view: &StorageView, path: &str) -> LogicalResult {
        let _guard = self.lock(path).await;
        self.mutate(
            view,
            &meta_key(path),
            false,
            |_, current: Option<KeyRecord>| {
                let Some(rec) = current else {
                    return Ok(Change::Keep(()));
                };
                let items = rec
                    .versions
                    .iter()
                    .filter(|(n, vm)| **n != rec.current_version && !vm.destroyed)
                    .map(|(n, _)| BatchItem::delete(version_key(path, *n)))
                    .collect();
                Ok(Change::<KeyRecord, ()>::Remove(items, ()))
            },
        )
        .await?;
        Ok(Response::empty())
    }

    async fn list_metadata(view: &StorageView, path: &str) -> LogicalResult {
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{}/", secret_key(trimmed)?)
        };
        let keys = view.list(&meta_key(&prefix)).await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    async fn handle_data(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        if req.operation == Operation::List {
            return Err(LogicalError::UnsupportedOperation);
        }
        let path = secret_key(path)?;
        match req.operation {
            Operation::Read => self.read_data(req, view, path).await,
            Operation::Create | Operation::Update => self.write_data(req, view, path).await,
            Operation::Patch => self.patch_data(req, view, path).await,
            Operation::Delete => self.soft_delete(view, path, Target::Latest).await,
            Operation::List | Operation::Help => Err(LogicalError::UnsupportedOperation),
        }
    }

    async fn handle_metadata(
        &self,
        req: &Request,
        view: &StorageView,
        path: &str,
    ) -> LogicalResult {
        if req.operation == Operation::List {
            return Self::list_metadata(view, path).await;
        }
        let path = secret_key(path)?;
        match req.operation {
            Operation::Read => self.read_metadata(view, path).await,
            Operation::Create | Operation::Update => {
                self.write_metadata(req, view, path, false).await
            }
            Operation::Patch => self.write_metadata(req, view, path, true).await,
            Operation::Delete => self.delete_metadata(view, path).await,
            Operation::List | Operation::Help => Err(LogicalError::UnsupportedOperation),
        }
    }
}

/// The merge-patched data of the current live version of `rec`.
fn patched(
    rec: &KeyRecord,
    patch: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, LogicalError> {
    let live = rec
        .versions
        .get(&rec.current_version)
        .is_some_and(|vm| vm.is_live(now));
    let Some(base) = rec.current_data.clone().filter(|_| live) else {
        return Err(LogicalError::NotFound);
    };
    let mut merged = Value::Object(base);
    merge_patch(&mut merged, &Value::Object(patch.clone()));
    match merged {
        Value::Object(m) => Ok(m),
        _ => Err(LogicalError::bad("patched data is not a JSON object")),
    }
}

fn is_write(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
}

#[async_trait]
impl Backend for KvV2 {
    async fn handle(&self, req: &Request, view: &StorageView) -> LogicalResult {
        let op = req.operation;
        match route(&req.relative_path) {
            Route::Config if op == Operation::Read => self.read_config(view).await,
            Route::Config if is_write(op) => self.write_config(req, view).await,
            Route::Data(p) => self.handle_data(req, view, p).await,
            Route::Metadata(p) => self.handle_metadata(req, view, p).await,
            Route::Delete(p) if is_write(op) => {
                let path = secret_key(p)?;
                let versions = versions_param(&req.data)?;
                self.soft_delete(view, path, Target::Versions(versions))
                    .await
            }
            Route::Undelete(p) if is_write(op) => self.undelete(req, view, secret_key(p)?).await,
            Route::Destroy(p) if is_write(op) => self.destroy(req, view, secret_key(p)?).await,
            Route::Subkeys(p) if op == Operation::Read => {
                self.read_subkeys(req, view, secret_key(p)?).await
            }
            Route::Invalid => invalid_path(op),
            _ => Err(LogicalError::UnsupportedOperation),
        }
    }

    async fn exists(&self, req: &Request, view: &StorageView) -> Result<bool, LogicalError> {
        match route(&req.relative_path) {
            Route::Data(p) | Route::Metadata(p) => match secret_key(p) {
                // One get, which also refreshes the write cache, so the write
                // that usually follows needs no read of its own.
                Ok(path) => Ok(self.read_record(view, path).await?.is_some()),
                Err(_) => Ok(true),
            },
            _ => Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use super::*;

    async fn view() -> StorageView {
        let storage = Arc::new(crate::storage::memory::MemoryStorage::new());
        let barrier = Arc::new(crate::barrier::Barrier::new(storage));
        barrier
            .initialize(&crate::barrier::random_key())
            .await
            .unwrap();
        StorageView::new(barrier, "logical/test/")
    }

    fn request(op: Operation, path: &str, body: Value) -> Request {
        let mut req = Request::new(op, format!("secret/{path}"));
        req.mount_point = "secret/".into();
        req.relative_path = path.into();
        if let Value::Object(m) = body {
            req.data = m;
        }
        req
    }

    async fn call(
        kv: &KvV2,
        view: &StorageView,
        op: Operation,
        path: &str,
        body: Value,
    ) -> LogicalResult {
        let mut req = request(op, path, body);
        if op == Operation::Patch {
            req.headers
                .insert("content-type".into(), MERGE_PATCH.into());
        }
        kv.handle(&req, view).await
    }

    /// The response body as JSON (data, or raw when rendered as-is).
    fn body(resp: &Response) -> Value {
        match (&resp.data, &resp.raw) {
            (Some(d), _) => Value::Object(d.clone()),
            (None, Some(r)) => r.clone(),
            _ => Value::Null,
        }
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    async fn put(kv: &KvV2, view: &StorageView, path: &str, body: Value) -> Value {
        body_of(call(kv, view, Operation::Update, path, body).await)
    }

    fn body_of(r: LogicalResult) -> Value {
        let r = r.unwrap();
        assert_eq!(r.status, None, "unexpected status in {r:?}");
        body(&r)
    }

    async fn get(kv: &KvV2, view: &StorageView, path: &str, query: Value) -> LogicalResult {
        call(kv, view, Operation::Read, path, query).await
    }

    fn err_msg(r: LogicalResult) -> (u16, String) {
        let e = r.unwrap_err();
        (e.status(), e.to_string())
    }

    #[tokio::test]
    async fn write_read_and_versions() {
        let (kv, v) = (KvV2::new(), view().await);
        let w = put(
            &kv,
            &v,
            "data/foo",
            json!({"data":{"user":"alice","password":"s3cr3t"},"options":{"cas":0}}),
        )
        .await;
        // Field names as in the OpenBao capture 10-kv2-write-cas0.
        assert_eq!(
            keys(&w),
            [
                "created_time",
                "custom_metadata",
                "deletion_time",
                "destroyed",
                "version"
            ]
        );
        assert_eq!(w["version"], 1);
        assert_eq!(w["deletion_time"], "");
        assert_eq!(w["destroyed"], false);
        assert_eq!(w["custom_metadata"], Value::Null);

        let w2 = put(
            &kv,
            &v,
            "data/foo",
            json!({"data":{"user":"alice","password":"v2"},"options":{"cas":1}}),
        )
        .await;
        assert_eq!(w2["version"], 2);

        let r = body_of(get(&kv, &v, "data/foo", json!({})).await);
        assert_eq!(keys(&r), ["data", "metadata"]);
        assert_eq!(r["data"], json!({"user":"alice","password":"v2"}));
        assert_eq!(r["metadata"]["version"], 2);
        assert_eq!(r["metadata"]["created_time"], w2["created_time"]);

        // Query parameters arrive as strings.
        let r1 = body_of(get(&kv, &v, "data/foo", json!({"version":"1"})).await);
        assert_eq!(r1["data"]["password"], "s3cr3t");
        assert_eq!(r1["metadata"]["version"], 1);
        let r0 = body_of(get(&kv, &v, "data/foo", json!({"version":0})).await);
        assert_eq!(r0["metadata"]["version"], 2);

        assert!(matches!(
            get(&kv, &v, "data/foo", json!({"version":"3"})).await,
            Err(LogicalError::NotFound)
        ));
        assert!(matches!(
            get(&kv, &v, "data/nope", json!({})).await,
            Err(LogicalError::NotFound)
        ));
    }

    #[tokio::test]
    async fn check_and_set() {
        let (kv, v) = (KvV2::new(), view().await);
        // cas 0 on a new key works; a non-zero cas on a new key does not.
        let (s, m) = err_msg(
            call(
                &kv,
                &v,
                Operation::Update,
                "data/k",
                json!({"data":{"a":1},"options":{"cas":1}}),
            )
            .await,
        );
        assert_eq!(
            (s, m.as_str()),
            (
                400,
                "check-and-set parameter did not match the current version"
            )
        );
        put(
            &kv,
            &v,
            "data/k",
            json!({"data":{"a":1},"options":{"cas":0}}),
        )
        .await;
        let (s, m) = err_msg(
            call(
                &kv,
                &v,
                Operation::Update,
                "data/k",
                json!({"data":{"a":2},"options":{"cas":0}}),
            )
            .await,
        );
        assert_eq!(
            (s, m.as_str()),
            (
                400,
                "check-and-set parameter did not match the current version"
            )
        );
        // Without cas, writes are unconditional by default.
        assert_eq!(
            put(&kv, &v, "data/k", json!({"data":{"a":3}})).await["version"],
            2
        );

        // cas_required on the mount.
        put(&kv, &v, "config", json!({"cas_required":true})).await;
        let (s, m) = err_msg(
            call(
                &kv,
                &v,
                Operation::Update,
                "data/k",
                json!({"data":{"a":4}}),
            )
            .await,
        );
        assert_eq!(
            (s, m.as_str()),
            (400, "check-and-set parameter required for this call")
        );
        assert_eq!(
            put(
                &kv,
                &v,
                "data/k",
                json!({"data":{"a":4},"options":{"cas":2}})
            )
            .await["version"],
            3
        );
        put(&kv, &v, "config", json!({"cas_required":false})).await;

        // cas_required on the key's metadata.
        put(&kv, &v, "metadata/k", json!({"cas_required":true})).await;
        let (_, m) = err_msg(
            call(
                &kv,
                &v,
                Operation::Update,
                "data/k",
                json!({"data":{"a":5},"options":{}}),
            )
            .await,
        );
        assert_eq!(m, "check-and-set parameter required for this call");
        assert_eq!(
            put(
                &kv,
                &v,
                "data/k",
                json!({"data":{"a":5},"options":{"cas":"3"}})
            )
            .await["version"],
            4
        );
    }

    #[tokio::test]
    async fn delete_undelete_destroy() {
        let (kv, v) = (KvV2::new(), view().await);
        put(&kv, &v, "data/foo", json!({"data":{"v":1}})).await;
        put(&kv, &v, "data/foo", json!({"data":{"v":2}})).await;

        // DELETE data/: soft-deletes the latest; a read answers 404 with the body.
        let r = call(&kv, &v, Operation::Delete, "data/foo", json!({}))
            .await
            .unwrap();
        assert!(r.data.is_none() && r.status.is_none());
        let r = get(&kv, &v, "data/foo", json!({})).await.unwrap();
        assert_eq!(r.status, Some(404));
        let b = body(&r);
        assert_eq!(b["data"], Value::Null);
        assert_eq!(b["metadata"]["version"], 2);
        assert_ne!(b["metadata"]["deletion_time"], "");
        assert_eq!(b["metadata"]["destroyed"], false);
        // Version 1 is still readable.
        assert_eq!(
            body_of(get(&kv, &v, "data/foo", json!({"version":1})).await)["data"]["v"],
            1
        );

        // undelete restores it.
        let r = call(
            &kv,
            &v,
            Operation::Update,
            "undelete/foo",
            json!({"versions":[2]}),
        )
        .await
        .unwrap();
        assert!(r.data.is_none());
        let b = body_of(get(&kv, &v, "data/foo", json!({})).await);
        assert_eq!(b["data"]["v"], 2);
        assert_eq!(b["metadata"]["deletion_time"], "");

        // delete/ with versions.
        call(
            &kv,
            &v,
            Operation::Update,
            "delete/foo",
            json!({"versions":[1]}),
        )
        .await
        .unwrap();
        assert_eq!(
            get(&kv, &v, "data/foo", json!({"version":1}))
                .await
                .unwrap()
                .status,
            Some(404)
        );

        // destroy: gone for good, undelete cannot bring it back.
        call(
            &kv,
            &v,
            Operation::Update,
            "destroy/foo",
            json!({"versions":[1, 2]}),
        )
        .await
        .unwrap();
        call(
            &kv,
            &v,
            Operation::Update,
            "undelete/foo",
            json!({"versions":"1,2"}),
        )
        .await
        .unwrap();
        for ver in [1, 2] {
            let r = get(&kv, &v, "data/foo", json!({"version":ver}))
                .await
                .unwrap();
            assert_eq!(r.status, Some(404));
            assert_eq!(body(&r)["metadata"]["destroyed"], true);
            assert_eq!(body(&r)["data"], Value::Null);
        }
        // No version data is left in storage.
        assert!(v.list(VERSION_PREFIX).await.unwrap().is_empty());
        let rec = kv.read_record(&v, "foo").await.unwrap().unwrap();
        assert!(rec.current_data.is_none());

        // On missing keys these are quiet no-ops.
        for p in ["delete/none", "undelete/none", "destroy/none"] {
            assert!(call(&kv, &v, Operation::Update, p, json!({"versions":[1]}))
                .await
                .unwrap()
                .data
                .is_none());
        }
        assert!(call(&kv, &v, Operation::Delete, "data/none", json!({}))
            .await
            .unwrap()
            .data
            .is_none());
        // A new write after destruction continues the numbering.
        assert_eq!(
            put(&kv, &v, "data/foo", json!({"data":{"v":3}})).await["version"],
            3
        );
    }

    #[tokio::test]
    async fn metadata_get_put_patch_delete() {
        let (kv, v) = (KvV2::new(), view().await);
        put(&kv, &v, "data/foo", json!({"data":{"v":1}})).await;
        put(&kv, &v, "data/foo", json!({"data":{"v":2}})).await;
        let m = body_of(get(&kv, &v, "metadata/foo", json!({})).await);
        // Field names exactly as in the OpenBao capture 15-kv2-metadata.
        assert_eq!(
            keys(&m),
            [
                "cas_required",
                "created_time",
                "current_metadata_version",
                "current_version",
                "custom_metadata",
                "delete_version_after",
                "max_versions",
                "metadata_cas_required",
                "oldest_version",
                "updated_time",
                "versions"
            ]
        );
        assert_eq!(m["current_metadata_version"], 0);
        assert_eq!(m["metadata_cas_required"], false);
        assert_eq!(m["current_version"], 2);
        assert_eq!(m["oldest_version"], 0);
        assert_eq!(m["delete_version_after"], "0s");
        assert_eq!(m["custom_metadata"], Value::Null);
        assert_eq!(keys(&m["versions"]), ["1", "2"]);
        assert_eq!(
            keys(&m["versions"]["1"]),
            ["created_time", "deletion_time", "destroyed"]
        );
        assert_eq!(m["updated_time"], m["versions"]["2"]["created_time"]);
        assert_eq!(m["created_time"], m["versions"]["1"]["created_time"]);

        let r = call(&kv, &v, Operation::Update, "metadata/foo",
            json!({"max_versions":5,"cas_required":false,"delete_version_after":"1h","custom_metadata":{"owner":"ops","team":"a"}})).await.unwrap();
        assert!(r.data.is_none());
        let m = body_of(get(&kv, &v, "metadata/foo", json!({})).await);
        assert_eq!(m["max_versions"], 5);
        assert_eq!(m["delete_version_after"], "1h0m0s");
        assert_eq!(m["custom_metadata"], json!({"owner":"ops","team":"a"}));
        // custom_metadata shows in data reads too.
        let d = body_of(get(&kv, &v, "data/foo", json!({})).await);
        assert_eq!(d["metadata"]["custom_metadata"]["owner"], "ops");

        // PATCH merges custom_metadata (null removes) and leaves the rest.
        call(
            &kv,
            &v,
            Operation::Patch,
            "metadata/foo",
            json!({"custom_metadata":{"team":null,"env":"prod"}}),
        )
        .await
        .unwrap();
        let m = body_of(get(&kv, &v, "metadata/foo", json!({})).await);
        assert_eq!(m["custom_metadata"], json!({"owner":"ops","env":"prod"}));
        assert_eq!(m["max_versions"], 5);
        // POST replaces custom_metadata wholesale.
        call(
            &kv,
            &v,
            Operation::Update,
            "metadata/foo",
            json!({"custom_metadata":{"x":"y"}}),
        )
        .await
        .unwrap();
        let m = body_of(get(&kv, &v, "metadata/foo", json!({})).await);
        assert_eq!(m["custom_metadata"], json!({"x":"y"}));
        assert_eq!(m["delete_version_after"], "1h0m0s");

        // PATCH of a missing key is 404; POST creates an empty record.
        assert!(matches!(
            call(
                &kv,
                &v,
                Operation::Patch,
                "metadata/new",
                json!({"max_versions":1})
            )
            .await,
            Err(LogicalError::NotFound)
        ));
        call(
            &kv,
            &v,
            Operation::Update,
            "metadata/new",
            json!({"max_versions":1}),
        )
        .await
        .unwrap();
        let m = body_of(get(&kv, &v, "metadata/new", json!({})).await);
        assert_eq!(m["current_version"], 0);
        assert_eq!(m["versions"], json!({}));
        assert!(matches!(
            get(&kv, &v, "data/new", json!({})).await,
            Err(LogicalError::NotFound)
        ));

        // DELETE removes every version and the metadata.
        let r = call(&kv, &v, Operation::Delete, "metadata/foo", json!({}))
            .await
            .unwrap();
        assert!(r.data.is_none());
        assert!(matches!(
            get(&kv, &v, "metadata/foo", json!({})).await,
            Err(LogicalError::NotFound)
        ));
        assert!(matches!(
            get(&kv, &v, "data/foo", json!({"version":1})).await,
            Err(LogicalError::NotFound)
        ));
        assert!(v.list(VERSION_PREFIX).await.unwrap().is_empty());
        // A rewrite starts over at version 1.
        assert_eq!(
            put(&kv, &v, "data/foo", json!({"data":{"v":1}})).await["version"],
            1
        );
        assert!(matches!(
            get(&kv, &v, "metadata/missing", json!({})).await,
            Err(LogicalError::NotFound)
        ));
    }

    #[tokio::test]
    async fn max_versions_trims_oldest() {
        let (kv, v) = (KvV2::new(), view().await);
        put(&kv, &v, "config", json!({"max_versions":2})).await;
        for i in 1..=4 {
            assert_eq!(
                put(&kv, &v, "data/t", json!({"data":{"i":i}})).await["version"],
                i
            );
        }
        let m = body_of(get(&kv, &v, "metadata/t", json!({})).await);
        assert_eq!(keys(&m["versions"]), ["3", "4"]);
        assert_eq!(m["oldest_version"], 3);
        assert_eq!(m["current_version"], 4);
        for old in [1, 2] {
            assert!(matches!(
                get(&kv, &v, "data/t", json!({"version":old})).await,
                Err(LogicalError::NotFound)
            ));
        }
        assert_eq!(
            body_of(get(&kv, &v, "data/t", json!({"version":3})).await)["data"]["i"],
            3
        );
        // Only version 3 has its own data key; 4 is inline in the record.
        let dir = format!("{VERSION_PREFIX}{}/", hex::encode(Sha256::digest(b"t")));
        assert_eq!(v.list(&dir).await.unwrap(), ["3"]);

        // The key's own max_versions overrides the mount's.
        put(&kv, &v, "metadata/t", json!({"max_versions":1})).await;
        put(&kv, &v, "data/t", json!({"data":{"i":5}})).await;
        let m = body_of(get(&kv, &v, "metadata/t", json!({})).await);
        assert_eq!(keys(&m["versions"]), ["5"]);
        assert!(v.list(&dir).await.unwrap().is_empty());

        // The default limit is 10.
        put(&kv, &v, "config", json!({"max_versions":0})).await;
        for i in 1..=12 {
            put(&kv, &v, "data/d", json!({"data":{"i":i}})).await;
        }
        let m = body_of(get(&kv, &v, "metadata/d", json!({})).await);
        assert_eq!(m["versions"].as_object().unwrap().len(), 10);
    }

    #[tokio::test]
    async fn delete_version_after_expires_versions() {
        let (kv, v) = (KvV2::new(), view().await);
        put(&kv, &v, "config", json!({"delete_version_after":"1s"})).await;
        let c = body_of(get(&kv, &v, "config", json!({})).await);
        assert_eq!(c["delete_version_after"], "1s");
        let w = put(&kv, &v, "data/e", json!({"data":{"a":1}})).await;
        assert_ne!(w["deletion_time"], "");
        // Still live right after the write, with its deletion time shown.
        let r = body_of(get(&kv, &v, "data/e", json!({})).await);
        assert_eq!(r["data"]["a"], 1);
        assert_eq!(r["metadata"]["deletion_time"], w["deletion_time"]);
        let created = DateTime::parse_from_rfc3339(w["created_time"].as_str().unwrap()).unwrap();
        let deleted = DateTime::parse_from_rfc3339(w["deletion_time"].as_str().unwrap()).unwrap();
        assert_eq!((deleted - created).num_seconds(), 1);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let r = get(&kv, &v, "data/e", json!({})).await.unwrap();
        assert_eq!(r.status, Some(404));
        assert_eq!(body(&r)["data"], Value::Null);
        // Undelete clears the scheduled deletion.
        call(
            &kv,
            &v,
            Operation::Update,
            "undelete/e",
            json!({"versions":[1]}),
        )
        .await
        .unwrap();
        assert_eq!(
            body_of(get(&kv, &v, "data/e", json!({})).await)["data"]["a"],
            1
        );
    }

    #[tokio::test]
    async fn patch_merges() {
        let (kv, v) = (KvV2::new(), view().await);
        put(
            &kv,
            &v,
            "data/p",
            json!({"data":{"a":1,"b":{"c":2,"d":3},"gone":"x"}}),
        )
        .await;
        let w = body_of(
            call(
                &kv,
                &v,
                Operation::Patch,
                "data/p",
                json!({"data":{"b":{"c":20,"e":5},"gone":null,"new":[1,2]}}),
            )
            .await,
        );
        assert_eq!(w["version"], 2);
        let r = body_of(get(&kv, &v, "data/p", json!({})).await);
        assert_eq!(
            r["data"],
            json!({"a":1,"b":{"c":20,"d":3,"e":5},"new":[1,2]})
        );

        // cas applies to PATCH too.
        let (s, _) = err_msg(
            call(
                &kv,
                &v,
                Operation::Patch,
                "data/p",
                json!({"data":{"a":2},"options":{"cas":1}}),
            )
            .await,
        );
        assert_eq!(s, 400);
        assert_eq!(
            body_of(
                call(
                    &kv,
                    &v,
                    Operation::Patch,
                    "data/p",
                    json!({"data":{"a":2},"options":{"cas":2}})
                )
                .await
            )["version"],
            3
        );

        // Wrong or missing content type.
        let mut req = request(Operation::Patch, "data/p", json!({"data":{"a":9}}));
        req.headers
            .insert("content-type".into(), "application/json".into());
        let r = kv.handle(&req, &v).await.unwrap();
        assert_eq!(r.status, Some(415));
        assert!(body(&r)["errors"][0]
            .as_str()
            .unwrap()
            .contains(MERGE_PATCH));
        req.headers.clear();
        assert_eq!(kv.handle(&req, &v).await.unwrap_err().status(), 400);
        req.headers.insert(
            "content-type".into(),
            "application/merge-patch+json; charset=utf-8".into(),
        );
        assert!(kv.handle(&req, &v).await.is_ok());

        // No live version to patch: 404.
        assert!(matches!(
            call(
                &kv,
                &v,
                Operation::Patch,
                "data/none",
                json!({"data":{"a":1}})
            )
            .await,
            Err(LogicalError::NotFound)
        ));
        call(&kv, &v, Operation::Delete, "data/p", json!({}))
            .await
            .unwrap();
        assert!(matches!(
            call(&kv, &v, Operation::Patch, "data/p", json!({"data":{"a":1}})).await,
            Err(LogicalError::NotFound)
        ));
        let (s, m) = err_msg(call(&kv, &v, Operation::Patch, "data/p", json!({})).await);
        assert_eq!((s, m.as_str()), (400, "no data provided"));
    }

    #[tokio::test]
    async fn subkeys_with_depth() {
        let (kv, v) = (KvV2::new(), view().await);
        let data = json!({"foo":"abc","bar":{"baz":"def","qux":{"x":1}},"arr":[1],"empty":{}});
        put(&kv, &v, "data/s", json!({ "data": data })).await;
        let r = body_of(get(&kv, &v, "subkeys/s", json!({})).await);
        assert_eq!(keys(&r), ["metadata", "subkeys"]);
        assert_eq!(
            r["subkeys"],
            json!({"foo":null,"bar":{"baz":null,"qux":{"x":null}},"arr":null,"empty":{}})
        );
        assert_eq!(r["metadata"]["version"], 1);
        let r = body_of(get(&kv, &v, "subkeys/s", json!({"depth":"1"})).await);
        assert_eq!(
            r["subkeys"],
            json!({"foo":null,"bar":null,"arr":null,"empty":null})
        );
        let r = body_of(get(&kv, &v, "subkeys/s", json!({"depth":2})).await);
        assert_eq!(
            r["subkeys"],
            json!({"foo":null,"bar":{"baz":null,"qux":null},"arr":null,"empty":{}})
        );

        put(&kv, &v, "data/s", json!({"data":{"only":1}})).await;
        let r = body_of(get(&kv, &v, "subkeys/s", json!({"version":1,"depth":1})).await);
        assert_eq!(r["metadata"]["version"], 1);
        assert_eq!(r["subkeys"]["bar"], Value::Null);
        call(
            &kv,
            &v,
            Operation::Update,
            "delete/s",
            json!({"versions":[1]}),
        )
        .await
        .unwrap();
        let r = get(&kv, &v, "subkeys/s", json!({"version":1}))
            .await
            .unwrap();
        assert_eq!(r.status, Some(404));
        assert_eq!(body(&r)["subkeys"], Value::Null);
        assert!(matches!(
            get(&kv, &v, "subkeys/none", json!({})).await,
            Err(LogicalError::NotFound)
        ));
        assert_eq!(
            get(&kv, &v, "subkeys/s", json!({"depth":"-1"}))
                .await
                .unwrap_err()
                .status(),
            400
        );
    }

    #[tokio::test]
    async fn list_metadata() {
        let (kv, v) = (KvV2::new(), view().await);
        for p in ["foo", "app/db", "app/web/cfg", "app"] {
            put(&kv, &v, &format!("data/{p}"), json!({"data":{"k":"v"}})).await;
        }
        let list = |path: &'static str| {
            let (kv, v) = (&kv, &v);
            async move { call(kv, v, Operation::List, path, json!({"list":"true"})).await }
        };
        assert_eq!(
            body_of(list("metadata/").await)["keys"],
            json!(["app", "app/", "foo"])
        );
        assert_eq!(
            body_of(list("metadata").await)["keys"],
            json!(["app", "app/", "foo"])
        );
        assert_eq!(
            body_of(list("metadata/app/").await)["keys"],
            json!(["db", "web/"])
        );
        assert_eq!(
            body_of(list("metadata/app").await)["keys"],
            json!(["db", "web/"])
        );
        assert_eq!(
            body_of(list("metadata/app/web/").await)["keys"],
            json!(["cfg"])
        );
        assert!(matches!(
            list("metadata/nope/").await,
            Err(LogicalError::NotFound)
        ));
        // Deleting the metadata removes the key from listings.
        call(
            &kv,
            &v,
            Operation::Delete,
            "metadata/app/web/cfg",
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(body_of(list("metadata/app/").await)["keys"], json!(["db"]));
        assert!(matches!(
            list("metadata/app/web/").await,
            Err(LogicalError::NotFound)
        ));
        // An empty mount lists as 404.
        let empty = view().await;
        assert!(matches!(
            call(&kv, &empty, Operation::List, "metadata/", json!({})).await,
            Err(LogicalError::NotFound)
        ));
        // LIST is only for metadata/.
        assert_eq!(list("data/").await.unwrap_err().status(), 405);
    }

    #[tokio::test]
    async fn config_defaults_and_updates() {
        let (kv, v) = (KvV2::new(), view().await);
        let c = body_of(get(&kv, &v, "config", json!({})).await);
        assert_eq!(
            c,
            json!({"cas_required":false,"delete_version_after":"0s","max_versions":0,"metadata_cas_required":false})
        );
        let r = call(
            &kv,
            &v,
            Operation::Update,
            "config",
            json!({"max_versions":"7","delete_version_after":"3h25m19s"}),
        )
        .await
        .unwrap();
        assert!(r.data.is_none());
        let c = body_of(get(&kv, &v, "config", json!({})).await);
        assert_eq!(
            c,
            json!({"cas_required":false,"delete_version_after":"3h25m19s","max_versions":7,"metadata_cas_required":false})
        );
        // A partial update leaves the other fields alone.
        call(
            &kv,
            &v,
            Operation::Update,
            "config",
            json!({"cas_required":true}),
        )
        .await
        .unwrap();
        let c = body_of(get(&kv, &v, "config", json!({})).await);
        assert_eq!(c["max_versions"], 7);
        assert_eq!(c["cas_required"], true);
        assert_eq!(
            call(&kv, &v, Operation::Delete, "config", json!({}))
                .await
                .unwrap_err()
                .status(),
            405
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(45), "45s");
        assert_eq!(go_duration(90), "1m30s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(12319), "3h25m19s");
        assert_eq!(go_duration(768 * 3600), "768h0m0s");
    }

    #[test]
    fn merge_patch_rfc7386() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, want);
        }
    }

    /// Many tasks, on two engine instances (as two server processes sharing
    /// storage), race check-and-set writes: exactly one wins each version.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_cas_writers_one_winner_per_version() {
        let v = view().await;
        let engines = [Arc::new(KvV2::new()), Arc::new(KvV2::new())];
        for round in 0..5u64 {
            let mut tasks = Vec::new();
            for i in 0..16 {
                let (kv, v) = (engines[i % 2].clone(), v.clone());
                tasks.push(tokio::spawn(async move {
                    call(
                        &kv,
                        &v,
                        Operation::Update,
                        "data/race",
                        json!({"data":{"writer":i},"options":{"cas":round}}),
                    )
                    .await
                }));
            }
            let mut wins = Vec::new();
            for t in tasks {
                match t.await.unwrap() {
                    Ok(r) => wins.push(body(&r)["version"].as_u64().unwrap()),
                    Err(e) => assert_eq!(
                        e.to_string(),
                        "check-and-set parameter did not match the current version"
                    ),
                }
            }
            assert_eq!(wins, [round + 1], "round {round}");
        }
        let m = body_of(get(&engines[0], &v, "metadata/race", json!({})).await);
        assert_eq!(m["current_version"], 5);
        assert_eq!(keys(&m["versions"]), ["1", "2", "3", "4", "5"]);
    }

    /// Unconditional concurrent writers from two "processes" all succeed
    /// with distinct, gap-free versions, and every version keeps its data.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_get_distinct_versions() {
        let v = view().await;
        let engines = [Arc::new(KvV2::new()), Arc::new(KvV2::new())];
        put(&engines[0], &v, "config", json!({"max_versions":50})).await;
        let mut tasks = Vec::new();
        for i in 0..24u64 {
            let (kv, v) = (engines[(i % 2) as usize].clone(), v.clone());
            tasks.push(tokio::spawn(async move {
                let r = call(
                    &kv,
                    &v,
                    Operation::Update,
                    "data/many",
                    json!({"data":{"writer":i}}),
                )
                .await;
                (i, body(&r.unwrap())["version"].as_u64().unwrap())
            }));
        }
        let mut seen = BTreeSet::new();
        for t in tasks {
            let (writer, version) = t.await.unwrap();
            assert!(seen.insert(version), "duplicate version {version}");
            let r = body_of(get(&engines[1], &v, "data/many", json!({"version":version})).await);
            assert_eq!(r["data"]["writer"], writer);
        }
        assert_eq!(seen, (1..=24).collect());
    }

    #[tokio::test]
    async fn bad_input() {
        let (kv, v) = (KvV2::new(), view().await);
        let bad = |path: &'static str, op: Operation, body: Value| {
            let (kv, v) = (&kv, &v);
            async move { err_msg(call(kv, v, op, path, body).await) }
        };
        let u = Operation::Update;
        assert_eq!(
            bad("data/x", u, json!({})).await,
            (400, "no data provided".into())
        );
        assert_eq!(
            bad("data/x", u, json!({"data":null})).await,
            (400, "no data provided".into())
        );
        assert_eq!(bad("data/x", u, json!({"data":"str"})).await.0, 400);
        assert_eq!(bad("data/x", u, json!({"data":[1]})).await.0, 400);
        assert_eq!(
            bad("data/x", u, json!({"data":{},"options":"x"})).await.0,
            400
        );
        assert_eq!(
            bad("data/x", u, json!({"data":{},"options":{"cas":"x"}}))
                .await
                .0,
            400
        );
        assert_eq!(
            bad("data/x", u, json!({"data":{},"options":{"cas":-1}}))
                .await
                .0,
            400
        );
        for p in [
            "data/",
            "data/a//b",
            "data/a/",
            "data//a",
            "metadata/a//b",
            "delete/",
            "subkeys/a//",
        ] {
            let op = if p.starts_with("subkeys") {
                Operation::Read
            } else {
                u
            };
            assert_eq!(
                bad(p, op, json!({"data":{"a":1},"versions":[1]})).await.0,
                400,
                "{p}"
            );
        }
        put(&kv, &v, "data/x", json!({"data":{"a":1}})).await;
        assert_eq!(
            bad("data/x", Operation::Read, json!({"version":"abc"}))
                .await
                .0,
            400
        );
        assert_eq!(
            bad("delete/x", u, json!({})).await,
            (400, "no version number provided".into())
        );
        assert_eq!(
            bad("undelete/x", u, json!({"versions":[]})).await,
            (400, "no version number provided".into())
        );
        assert_eq!(bad("destroy/x", u, json!({"versions":["a"]})).await.0, 400);
        assert_eq!(
            bad("destroy/x", u, json!({"versions":{"a":1}})).await.0,
            400
        );
        // Unknown version numbers are ignored, as in Vault.
        call(&kv, &v, u, "destroy/x", json!({"versions":[99]}))
            .await
            .unwrap();
        assert_eq!(
            bad("metadata/x", u, json!({"max_versions":"many"})).await.0,
            400
        );
        assert_eq!(
            bad("metadata/x", u, json!({"max_versions":1u64 << 40}))
                .await
                .0,
            400
        );
        assert_eq!(
            bad("metadata/x", u, json!({"cas_required":"maybe"}))
                .await
                .0,
            400
        );
        assert_eq!(
            bad("metadata/x", u, json!({"delete_version_after":"soon"}))
                .await
                .0,
            400
        );
        assert_eq!(
            bad("metadata/x", u, json!({"custom_metadata":"x"})).await.0,
            400
        );
        assert_eq!(
            bad("metadata/x", u, json!({"custom_metadata":{"a":{"b":1}}}))
                .await
                .0,
            400
        );
        let too_long = "v".repeat(513);
        assert_eq!(
            bad("metadata/x", u, json!({"custom_metadata":{"a":too_long}}))
                .await
                .0,
            400
        );
        let many: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(
            bad("metadata/x", u, json!({ "custom_metadata": many }))
                .await
                .0,
            400
        );
        assert_eq!(bad("config", u, json!({"max_versions":-1})).await.0, 400);
        // Operations a path does not support.
        assert_eq!(bad("subkeys/x", u, json!({})).await.0, 405);
        assert_eq!(bad("destroy/x", Operation::Read, json!({})).await.0, 405);
        // A path outside the v2 API: 404 with Vault's warning.
        let r = call(&kv, &v, Operation::Read, "x", json!({}))
            .await
            .unwrap();
        assert_eq!(r.status, Some(404));
        assert!(r.warnings[0].contains("vault kv get"));
        assert!(r.data.is_none());
    }

    /// OpenBao's metadata check-and-set: `metadata_cas` against
    /// `current_metadata_version`, required per key or per mount.
    #[tokio::test]
    async fn metadata_check_and_set() {
        let (kv, v) = (KvV2::new(), view().await);
        let u = Operation::Update;
        let meta = |path: &'static str| {
            let (kv, v) = (&kv, &v);
            async move { body_of(get(kv, v, path, json!({})).await) }
        };
        // Data writes do not count as metadata writes.
        put(&kv, &v, "data/first", json!({"data":{"v":1}})).await;
        assert_eq!(meta("metadata/first").await["current_metadata_version"], 0);
        call(
            &kv,
            &v,
            u,
            "metadata/first",
            json!({"metadata_cas":0,"custom_metadata":{"o":"1"}}),
        )
        .await
        .unwrap();
        assert_eq!(meta("metadata/first").await["current_metadata_version"], 1);

        // A non-zero metadata_cas on a new key creates nothing.
        let (s, _) = err_msg(
            call(
                &kv,
                &v,
                u,
                "metadata/new",
                json!({"metadata_cas":1,"max_versions":3}),
            )
            .await,
        );
        assert_eq!(s, 400);
        assert!(matches!(
            get(&kv, &v, "metadata/new", json!({})).await,
            Err(LogicalError::NotFound)
        ));
        call(&kv, &v, u, "metadata/new",
            json!({"metadata_cas":0,"metadata_cas_required":true,"custom_metadata":{"owner":"a","keep":"yes"}}))
            .await
            .unwrap();
        let m = meta("metadata/new").await;
        assert_eq!(
            (
                m["current_metadata_version"].clone(),
                m["metadata_cas_required"].clone()
            ),
            (json!(1), json!(true))
        );

        // Required now: missing, stale and future values change nothing.
        let before = meta("metadata/new").await;
        for body in [
            json!({"custom_metadata":{"owner":"bad"}}),
            json!({"metadata_cas":0,"max_versions":1}),
            json!({"metadata_cas":2,"max_versions":1}),
        ] {
            assert_eq!(err_msg(call(&kv, &v, u, "metadata/new", body).await).0, 400);
        }
        assert_eq!(meta("metadata/new").await, before);
        call(
            &kv,
            &v,
            Operation::Patch,
            "metadata/new",
            json!({"metadata_cas":1,"custom_metadata":{"owner":null,"team":"b"}}),
        )
        .await
        .unwrap();
        let m = meta("metadata/new").await;
        assert_eq!(m["custom_metadata"], json!({"keep":"yes","team":"b"}));
        assert_eq!(m["current_metadata_version"], 2);
        // A body that sets nothing is a no-op, whatever metadata_cas says.
        call(&kv, &v, u, "metadata/new", json!({"metadata_cas":999}))
            .await
            .unwrap();
        assert_eq!(meta("metadata/new").await["current_metadata_version"], 2);

        // Mount-wide requirement, with Vault's warning when a key opts out.
        put(&kv, &v, "config", json!({"metadata_cas_required":true})).await;
        assert_eq!(meta("config").await["metadata_cas_required"], true);
        let (s, _) = err_msg(call(&kv, &v, u, "metadata/first", json!({"max_versions":2})).await);
        assert_eq!(s, 400);
        let r = call(
            &kv,
            &v,
            u,
            "metadata/first",
            json!({"metadata_cas":1,"metadata_cas_required":false}),
        )
        .await
        .unwrap();
        assert_eq!(
            r.warnings,
            ["\"metadata_cas_required\" set to false, but is mandated by backend config. This value will be ignored."]
        );
        assert_eq!(
            err_msg(call(&kv, &v, u, "metadata/first", json!({"max_versions":2})).await).0,
            400
        );
    }

    #[tokio::test]
    async fn exists_for_data_and_metadata() {
        let (kv, v) = (KvV2::new(), view().await);
        let req = |p: &str| request(Operation::Update, p, json!({}));
        assert!(!kv.exists(&req("data/e"), &v).await.unwrap());
        assert!(!kv.exists(&req("metadata/e"), &v).await.unwrap());
        assert!(kv.exists(&req("config"), &v).await.unwrap());
        put(&kv, &v, "data/e", json!({"data":{"a":1}})).await;
        assert!(kv.exists(&req("data/e"), &v).await.unwrap());
        assert!(kv.exists(&req("metadata/e"), &v).await.unwrap());
    }

    #[tokio::test]
    async fn latest_read_is_one_storage_get() {
        // The record carries the current version's data, so nothing else is
        // needed: remove every version key and the latest still reads.
        let (kv, v) = (KvV2::new(), view().await);
        put(&kv, &v, "data/one", json!({"data":{"a":1}})).await;
        put(&kv, &v, "data/one", json!({"data":{"a":2}})).await;
        v.delete(&version_key("one", 1)).await.unwrap();
        assert_eq!(
            body_of(get(&kv, &v, "data/one", json!({})).await)["data"]["a"],
            2
        );
        assert!(matches!(
            get(&kv, &v, "data/one", json!({"version":1})).await,
            Err(LogicalError::NotFound)
        ));
    }
    /// Storage that counts round trips and delegates to memory storage.
    #[derive(Default)]
    struct Counting {
        inner: crate::storage::memory::MemoryStorage,
        gets: std::sync::atomic::AtomicUsize,
        get_manys: std::sync::atomic::AtomicUsize,
        batches: std::sync::atomic::AtomicUsize,
        lists: std::sync::atomic::AtomicUsize,
    }

    /// Round trips since the last reset: (get, get_many, batch, list_page).
    type Trips = (usize, usize, usize, usize);

    impl Counting {
        fn take(&self) -> Trips {
            use std::sync::atomic::Ordering::SeqCst;
            (
                self.gets.swap(0, SeqCst),
                self.get_manys.swap(0, SeqCst),
                self.batches.swap(0, SeqCst),
                self.lists.swap(0, SeqCst),
            )
        }
    }

    #[async_trait]
    impl crate::storage::Storage for Counting {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
            self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.get(key).await
        }

        async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
            self.get_manys
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.get_many(keys).await
        }

        async fn list_page(
            &self,
            prefix: &str,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<String>, StorageError> {
            self.lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.list_page(prefix, after, limit).await
        }

        async fn batch(&self, batch: crate::storage::Batch) -> Result<(), StorageError> {
            self.batches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.batch(batch).await
        }
    }

    async fn counted_view() -> (StorageView, Arc<Counting>) {
        let storage = Arc::new(Counting::default());
        let barrier = Arc::new(crate::barrier::Barrier::new(storage.clone()));
        barrier
            .initialize(&crate::barrier::random_key())
            .await
            .unwrap();
        // The first encryption persists a reservation in the keyring.
        barrier.put("warmup", b"x").await.unwrap();
        storage.take();
        (StorageView::new(barrier, "logical/test/"), storage)
    }

    const ONE_BATCH: Trips = (0, 0, 1, 0);
    const ONE_GET: Trips = (0, 1, 0, 0);

    #[tokio::test]
    async fn warm_writes_are_one_batch_and_reads_one_get() {
        let (v, st) = counted_view().await;
        let kv = KvV2::new();
        // Cold: config and record are read first (batched reads of key +
        // generation, one request each).
        put(&kv, &v, "data/w", json!({"data":{"a":1}})).await;
        assert_eq!(st.take(), (0, 2, 1, 0));
        // Warm writes: one batch, no reads.
        for i in 2..=4 {
            let w = put(&kv, &v, "data/w", json!({"data":{"a":i}})).await;
            assert_eq!(w["version"], i);
            assert_eq!(st.take(), ONE_BATCH, "write {i}");
        }
        let w = put(
            &kv,
            &v,
            "data/w",
            json!({"data":{"a":5},"options":{"cas":4}}),
        )
        .await;
        assert_eq!(w["version"], 5);
        assert_eq!(st.take(), ONE_BATCH);
        let r = call(&kv, &v, Operation::Patch, "data/w", json!({"data":{"b":1}})).await;
        assert_eq!(body_of(r)["version"], 6);
        assert_eq!(st.take(), ONE_BATCH);

        // A read is one get (the barrier reads key + generation together),
        // and never answers from the cache.
        let r = body_of(get(&kv, &v, "data/w", json!({})).await);
        assert_eq!(r["data"], json!({"a":5,"b":1}));
        assert_eq!(st.take(), ONE_GET);
        body_of(get(&kv, &v, "metadata/w", json!({})).await);
        assert_eq!(st.take(), ONE_GET);
        body_of(get(&kv, &v, "subkeys/w", json!({})).await);
        assert_eq!(st.take(), ONE_GET);
        // ... and leaves the cache warm for the next write.
        put(&kv, &v, "data/w", json!({"data":{"a":7}})).await;
        assert_eq!(st.take(), ONE_BATCH);

        // Delete, undelete, destroy and metadata writes: one batch each.
        let u = Operation::Update;
        call(&kv, &v, Operation::Delete, "data/w", json!({}))
            .await
            .unwrap();
        assert_eq!(st.take(), ONE_BATCH);
        call(&kv, &v, u, "undelete/w", json!({"versions":[7]}))
            .await
            .unwrap();
        assert_eq!(st.take(), ONE_BATCH);
        call(&kv, &v, u, "delete/w", json!({"versions":[1, 2]}))
            .await
            .unwrap();
        assert_eq!(st.take(), ONE_BATCH);
        call(&kv, &v, u, "destroy/w", json!({"versions":[3]}))
            .await
            .unwrap();
        assert_eq!(st.take(), ONE_BATCH);
        call(&kv, &v, u, "metadata/w", json!({"max_versions":20}))
            .await
            .unwrap();
        assert_eq!(st.take(), ONE_BATCH);
        call(
            &kv,
            &v,
            Operation::Patch,
            "metadata/w",
            json!({"custom_metadata":{"k":"v"}}),
        )
        .await
        .unwrap();
        assert_eq!(st.take(), ONE_BATCH);
        // Config writes are one batch too, and keep data writes warm.
        put(&kv, &v, "config", json!({"max_versions":30})).await;
        assert_eq!(st.take(), ONE_BATCH);
        put(&kv, &v, "data/w", json!({"data":{"a":8}})).await;
        assert_eq!(st.take(), ONE_BATCH);
        // The existence check of a non-root write reads (one get) and warms
        // the cache: a first write to a new key is then get + batch.
        let req = request(Operation::Update, "data/fresh", json!({}));
        assert!(!kv.exists(&req, &v).await.unwrap());
        assert_eq!(st.take(), ONE_GET);
        put(&kv, &v, "data/fresh", json!({"data":{"a":1}})).await;
        assert_eq!(st.take(), ONE_BATCH);
        // Delete of the whole key: one batch; writing it again stays warm.
        call(&kv, &v, Operation::Delete, "metadata/w", json!({}))
            .await
            .unwrap();
        assert_eq!(st.take(), ONE_BATCH);
        assert_eq!(
            put(&kv, &v, "data/w", json!({"data":{"a":9}})).await["version"],
            1
        );
        assert_eq!(st.take(), ONE_BATCH);
    }

    /// Two engine instances over one storage, as two nodes (HA failover):
    /// stale caches never produce a wrong answer or a duplicate version.
    #[tokio::test]
    async fn stale_caches_across_instances_stay_correct() {
        let (v, st) = counted_view().await;
        let (a, b) = (KvV2::new(), KvV2::new());
        put(&a, &v, "data/s", json!({"data":{"n":1}})).await;
        put(&a, &v, "data/s", json!({"data":{"n":2}})).await;
        // A is warm (record v2, no config). B writes v3 behind A's back.
        assert_eq!(
            put(&b, &v, "data/s", json!({"data":{"n":3}})).await["version"],
            3
        );
        // A's reads see B's write at once.
        assert_eq!(
            body_of(get(&a, &v, "data/s", json!({})).await)["data"]["n"],
            3
        );
        // A's cas against the version B wrote is judged on storage, not on
        // A's stale cache.
        let (a2, b2) = (KvV2::new(), KvV2::new());
        put(&a2, &v, "data/t", json!({"data":{"n":1}})).await;
        put(&b2, &v, "data/t", json!({"data":{"n":2}})).await;
        assert_eq!(
            put(
                &a2,
                &v,
                "data/t",
                json!({"data":{"n":3},"options":{"cas":2}})
            )
            .await["version"],
            3
        );
        // A stale no-op is re-checked too: B deletes v3, A (cached v3 live)
        // undeletes it.
        call(&b2, &v, Operation::Delete, "data/t", json!({}))
            .await
            .unwrap();
        call(
            &a2,
            &v,
            Operation::Update,
            "undelete/t",
            json!({"versions":[3]}),
        )
        .await
        .unwrap();
        call(&a2, &v, Operation::Delete, "data/t", json!({}))
            .await
            .unwrap();
        assert_eq!(
            get(&b2, &v, "data/t", json!({})).await.unwrap().status,
            Some(404)
        );

        // Warm A again, then B writes v4 and turns on cas_required.
        put(&a, &v, "data/s", json!({"data":{"n":4}})).await;
        st.take();
        put(&a, &v, "data/s", json!({"data":{"n":5}})).await;
        assert_eq!(st.take(), ONE_BATCH, "A is warm");
        assert_eq!(
            put(&b, &v, "data/s", json!({"data":{"n":6}})).await["version"],
            6
        );
        put(&b, &v, "config", json!({"cas_required":true})).await;
        st.take();
        // A writes without cas on its stale cache: the batch fails, A re-reads
        // and refuses; nothing is written.
        let (s, m) =
            err_msg(call(&a, &v, Operation::Update, "data/s", json!({"data":{"n":7}})).await);
        assert_eq!(
            (s, m.as_str()),
            (400, "check-and-set parameter required for this call")
        );
        let (_, _, batches, _) = st.take();
        assert_eq!(batches, 1, "only the failed conditional batch");
        let m = body_of(get(&b, &v, "metadata/s", json!({})).await);
        assert_eq!(m["current_version"], 6);
        assert_eq!(keys(&m["versions"]), ["1", "2", "3", "4", "5", "6"]);
        // With the right cas A writes version 7, and is warm again.
        assert_eq!(
            put(
                &a,
                &v,
                "data/s",
                json!({"data":{"n":7},"options":{"cas":6}})
            )
            .await["version"],
            7
        );
        st.take();
        assert_eq!(
            put(
                &a,
                &v,
                "data/s",
                json!({"data":{"n":8},"options":{"cas":7}})
            )
            .await["version"],
            8
        );
        assert_eq!(st.take(), ONE_BATCH);
        // B's cache is now stale too: its write lands as version 9, never 8.
        put(&b, &v, "config", json!({"cas_required":false})).await;
        assert_eq!(
            put(&a, &v, "data/s", json!({"data":{"n":9}})).await["version"],
            9
        );
        assert_eq!(
            put(&b, &v, "data/s", json!({"data":{"n":10}})).await["version"],
            10
        );
        // B deletes the whole key; A's cached record is gone from storage, so
        // A's next write starts a new key at version 1.
        call(&b, &v, Operation::Delete, "metadata/s", json!({}))
            .await
            .unwrap();
        assert_eq!(
            put(&a, &v, "data/s", json!({"data":{"n":1}})).await["version"],
            1
        );
        let r = body_of(get(&b, &v, "data/s", json!({"version":1})).await);
        assert_eq!(r["data"]["n"], 1);
    }

    #[test]
    fn write_cache_stays_bounded() {
        let cache = WriteCache::default();
        let slot = |i: usize| Slot {
            key: format!("meta/{i}"),
            config: false,
        };
        for i in 0..3 * CACHE_MAX_ENTRIES {
            cache.put(
                &slot(i),
                Snapshot::Present {
                    body: Body::Plain(vec![0; 100]),
                    raw: vec![0; 100],
                },
            );
        }
        let m = cache.maps();
        assert_eq!(m.records.len(), CACHE_MAX_ENTRIES);
        let total: usize = m.records.iter().map(|(k, s)| s.size(k)).sum();
        assert_eq!(m.record_bytes, total);
        drop(m);
        // Large entries are bounded by bytes.
        let big = CACHE_MAX_BYTES / 40;
        for i in 0..40 {
            cache.put(
                &slot(i),
                Snapshot::Present {
                    body: Body::Plain(vec![0; big]),
                    raw: vec![0; big],
                },
            );
        }
        let m = cache.maps();
        assert!(m.record_bytes <= CACHE_MAX_BYTES);
        let total: usize = m.records.iter().map(|(k, s)| s.size(k)).sum();
        assert_eq!(m.record_bytes, total);
    }
}
