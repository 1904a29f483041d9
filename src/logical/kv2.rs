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
//! Every change is a read-modify-write of `meta/<path>`: the record is read
//! with its raw bytes and the new record (plus any version-data puts and
//! deletes) is written in one batch conditioned on those bytes being
//! unchanged (or on the key being absent). The barrier encrypts with a fresh
//! nonce every time, so the condition cannot suffer ABA. When a concurrent
//! writer wins, the whole read-modify-write is retried, so a check-and-set
//! that lost the race reports a cas mismatch, and two writers can never
//! produce the same version. Several server processes may share one storage:
//! nothing cached here decides versions. Within a process, writers of the
//! same key also queue on a striped lock, so conditional writes fail only on
//! cross-process races.
//!
//! Deletion time for `delete_version_after` is computed when a version is
//! written and stored with it (as Vault does); a version whose deletion time
//! has passed reads as deleted.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{
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

/// Mount-wide settings (`<mount>/config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Config {
    max_versions: u32,
    cas_required: bool,
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

    /// The `metadata/` read response.
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
            "current_version": self.current_version,
            "custom_metadata": custom_json(&self.custom_metadata),
            "delete_version_after": go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
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
        return Err(LogicalError::bad("missing secret path"));
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
        Operation::Read => "get",
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
    let media = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
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
            Value::Object(m) if depth == 0 || level < depth => (k.clone(), subkeys(m, depth, level + 1)),
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
    let fail = |m: String| Err(LogicalError::bad(format!("custom_metadata validation failed: {m}")));
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
        if v.len() > CUSTOM_MAX_VALUE_LEN {
            return fail(format!(
                "length of value for key {k:?} is {} but must be {CUSTOM_MAX_VALUE_LEN} or less",
                v.len()
            ));
        }
        if k.chars().chain(v.chars()).any(char::is_control) {
            return fail(format!("key {k:?} or its value contains unprintable characters"));
        }
    }
    Ok(())
}

/// Settings a metadata write or patch may change; `None` leaves a field as is.
#[derive(Debug, Default)]
struct MetaSettings {
    max_versions: Option<u32>,
    cas_required: Option<bool>,
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
                    let map = pairs
                        .into_iter()
                        .filter_map(|(k, v)| v.map(|v| (k, v)))
                        .collect();
                    Some(CustomChange::Replace(map))
                }
            }
            Some(_) => return Err(LogicalError::bad("custom_metadata must be a JSON object")),
        };
        let settings = Self {
            max_versions: u32_field(body, "max_versions")?,
            cas_required: field_bool(body, "cas_required")?,
            delete_version_after: duration_field(body, "delete_version_after")?,
            custom,
        };
        if let Some(CustomChange::Replace(m)) = &settings.custom {
            validate_custom(m)?;
        }
        Ok(settings)
    }

    fn apply(&self, rec: &mut KeyRecord) -> Result<(), LogicalError> {
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

/// Reads the JSON record at `key` with its raw bytes, lets `decide` compute
/// the change, and applies it in one batch conditioned on the record being
/// unchanged. Retries from scratch when another writer got there first.
async fn mutate<R, T, F>(view: &StorageView, key: &str, mut decide: F) -> Result<T, LogicalError>
where
    R: Serialize + DeserializeOwned + Send,
    T: Send,
    F: FnMut(Option<R>) -> Result<Change<R, T>, LogicalError> + Send,
{
    for attempt in 0..MAX_ATTEMPTS {
        let (current, condition) = match view.get_versioned(key).await? {
            Some(v) => {
                let rec: R = serde_json::from_slice(&v.plaintext).map_err(|e| corrupt(key, e))?;
                (Some(rec), Condition::Equals(v.raw))
            }
            None => (None, Condition::Absent),
        };
        let (head, extra, answer) = match decide(current)? {
            Change::Keep(answer) => return Ok(answer),
            Change::Put(rec, extra, answer) => (BatchItem::put(key, encode(&rec)?), extra, answer),
            Change::Remove(extra, answer) => (BatchItem::delete(key), extra, answer),
        };
        let mut batch = vec![head.when(condition)];
        batch.extend(extra);
        match view.batch(batch).await {
            Ok(()) => return Ok(answer),
            Err(e) if is_condition_failed(&e) => backoff(attempt).await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LogicalError::Unavailable(
        "too many concurrent writes to this key; retry the request".into(),
    ))
}

async fn load_json<T: DeserializeOwned>(view: &StorageView, key: &str) -> Result<Option<T>, LogicalError> {
    match view.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| corrupt(key, e)),
    }
}

async fn load_config(view: &StorageView) -> Result<Config, LogicalError> {
    Ok(load_json(view, CONFIG_KEY).await?.unwrap_or_default())
}

async fn load_record(view: &StorageView, path: &str) -> Result<Option<KeyRecord>, LogicalError> {
    load_json(view, &meta_key(path)).await
}

/// The outcome of looking up one version for a read.
enum Resolved {
    /// Live version: its data and response metadata.
    Live(Map<String, Value>, Value),
    /// Deleted or destroyed: only the response metadata.
    Gone(Value),
}

/// Finds `requested` (0 or absent: the current version) of `path`. A warm
/// read of the current version is one storage get; an older one is two.
async fn resolve_version(
    view: &StorageView,
    path: &str,
    requested: Option<u64>,
) -> Result<Resolved, LogicalError> {
    // A version's data can vanish between the two gets (trimmed or destroyed
    // by a concurrent writer); re-reading the record then gives the truth.
    for _ in 0..3 {
        let Some(rec) = load_record(view, path).await? else {
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
}

impl Default for KvV2 {
    fn default() -> Self {
        Self::new()
    }
}

impl KvV2 {
    pub(crate) fn new() -> Self {
        Self {
            locks: (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
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

    async fn read_config(view: &StorageView) -> LogicalResult {
        let c = load_config(view).await?;
        Ok(Response::json(json!({
            "cas_required": c.cas_required,
            "delete_version_after": go_duration(c.delete_version_after),
            "max_versions": c.max_versions,
        })))
    }

    async fn write_config(req: &Request, view: &StorageView) -> LogicalResult {
        let max_versions = u32_field(&req.data, "max_versions")?;
        let cas_required = field_bool(&req.data, "cas_required")?;
        let delete_after = duration_field(&req.data, "delete_version_after")?;
        mutate(view, CONFIG_KEY, |current: Option<Config>| {
            let mut c = current.unwrap_or_default();
            if let Some(n) = max_versions {
                c.max_versions = n;
            }
            if let Some(b) = cas_required {
                c.cas_required = b;
            }
            if let Some(d) = delete_after {
                c.delete_version_after = d;
            }
            Ok(Change::Put(c, Vec::new(), ()))
        })
        .await?;
        Ok(Response::empty())
    }

    async fn read_data(req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        let requested = field_u64(&req.data, "version")?;
        match resolve_version(view, path, requested).await? {
            Resolved::Live(data, meta) => Ok(Response::json(json!({ "data": data, "metadata": meta }))),
            Resolved::Gone(meta) => Ok(not_found_with(json!({ "data": null, "metadata": meta }))),
        }
    }

    async fn read_subkeys(req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        let requested = field_u64(&req.data, "version")?;
        let depth = field_u64(&req.data, "depth")?.unwrap_or(0);
        match resolve_version(view, path, requested).await? {
            Resolved::Live(data, meta) => Ok(Response::json(
                json!({ "subkeys": subkeys(&data, depth, 1), "metadata": meta }),
            )),
            Resolved::Gone(meta) => Ok(not_found_with(json!({ "subkeys": null, "metadata": meta }))),
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
        let config = load_config(view).await?;
        let answer = mutate(view, &meta_key(path), |current: Option<KeyRecord>| {
            let now = Utc::now();
            let mut rec = match (current, new) {
                (Some(rec), _) => rec,
                (None, NewData::Patch(_)) => return Err(LogicalError::NotFound),
                (None, NewData::Replace(_)) => KeyRecord::new(&rfc3339(now)),
            };
            check_cas(&config, &rec, cas)?;
            let data = match new {
                NewData::Replace(d) => d.clone(),
                NewData::Patch(p) => patched(&rec, p, now)?,
            };
            let (items, answer) = append_version(&mut rec, path, data, &config, now)?;
            Ok(Change::Put(rec, items, answer))
        })
        .await?;
        Ok(Response::json(answer))
    }

    async fn write_data(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        let data = data_object(&req.data)?;
        let cas = cas_option(&req.data)?;
        self.put_version(view, path, NewData::Replace(data), cas).await
    }

    async fn patch_data(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        if let Some(refusal) = check_merge_patch(req)? {
            return Ok(refusal);
        }
        let patch = data_object(&req.data)?;
        let cas = cas_option(&req.data)?;
        self.put_version(view, path, NewData::Patch(patch), cas).await
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
        mutate(view, &meta_key(path), |current: Option<KeyRecord>| {
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
        })
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
        self.change_versions(view, path, Target::Versions(versions), |rec, v, _, _| {
            match rec.versions.get_mut(&v) {
                Some(vm) if !vm.destroyed && !vm.deletion_time.is_empty() => {
                    vm.deletion_time.clear();
                    true
                }
                _ => false,
            }
        })
        .await
    }

    async fn destroy(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        let versions = versions_param(&req.data)?;
        let key_path = path.to_string();
        self.change_versions(view, path, Target::Versions(versions), move |rec, v, _, items| {
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
        })
        .await
    }

    async fn read_metadata(view: &StorageView, path: &str) -> LogicalResult {
        match load_record(view, path).await? {
            Some(rec) => Ok(Response::json(rec.to_json())),
            None => Err(LogicalError::NotFound),
        }
    }

    async fn write_metadata(&self, req: &Request, view: &StorageView, path: &str, patch: bool) -> LogicalResult {
        if patch {
            if let Some(refusal) = check_merge_patch(req)? {
                return Ok(refusal);
            }
        }
        let settings = MetaSettings::parse(&req.data, patch)?;
        let _guard = self.lock(path).await;
        mutate(view, &meta_key(path), |current: Option<KeyRecord>| {
            let now = rfc3339(Utc::now());
            let mut rec = match current {
                Some(rec) => rec,
                None if patch => return Err(LogicalError::NotFound),
                None => KeyRecord::new(&now),
            };
            settings.apply(&mut rec)?;
            rec.updated_time = now;
            Ok(Change::Put(rec, Vec::new(), ()))
        })
        .await?;
        Ok(Response::empty())
    }

    /// Removes the key's metadata and every version's data, atomically.
    async fn delete_metadata(&self, view: &StorageView, path: &str) -> LogicalResult {
        let _guard = self.lock(path).await;
        mutate(view, &meta_key(path), |current: Option<KeyRecord>| {
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
        })
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
        let path = secret_key(path)?;
        match req.operation {
            Operation::Read => Self::read_data(req, view, path).await,
            Operation::Create | Operation::Update => self.write_data(req, view, path).await,
            Operation::Patch => self.patch_data(req, view, path).await,
            Operation::Delete => self.soft_delete(view, path, Target::Latest).await,
            Operation::List => Err(LogicalError::UnsupportedOperation),
        }
    }

    async fn handle_metadata(&self, req: &Request, view: &StorageView, path: &str) -> LogicalResult {
        if req.operation == Operation::List {
            return Self::list_metadata(view, path).await;
        }
        let path = secret_key(path)?;
        match req.operation {
            Operation::Read => Self::read_metadata(view, path).await,
            Operation::Create | Operation::Update => self.write_metadata(req, view, path, false).await,
            Operation::Patch => self.write_metadata(req, view, path, true).await,
            Operation::Delete => self.delete_metadata(view, path).await,
            Operation::List => Err(LogicalError::UnsupportedOperation),
        }
    }
}

/// The merge-patched data of the current live version of `rec`.
fn patched(rec: &KeyRecord, patch: &Map<String, Value>, now: DateTime<Utc>) -> Result<Map<String, Value>, LogicalError> {
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
            Route::Config if op == Operation::Read => Self::read_config(view).await,
            Route::Config if is_write(op) => Self::write_config(req, view).await,
            Route::Data(p) => self.handle_data(req, view, p).await,
            Route::Metadata(p) => self.handle_metadata(req, view, p).await,
            Route::Delete(p) if is_write(op) => {
                let path = secret_key(p)?;
                let versions = versions_param(&req.data)?;
                self.soft_delete(view, path, Target::Versions(versions)).await
            }
            Route::Undelete(p) if is_write(op) => self.undelete(req, view, secret_key(p)?).await,
            Route::Destroy(p) if is_write(op) => self.destroy(req, view, secret_key(p)?).await,
            Route::Subkeys(p) if op == Operation::Read => {
                Self::read_subkeys(req, view, secret_key(p)?).await
            }
            Route::Invalid => invalid_path(op),
            _ => Err(LogicalError::UnsupportedOperation),
        }
    }

    async fn exists(&self, req: &Request, view: &StorageView) -> Result<bool, LogicalError> {
        match route(&req.relative_path) {
            Route::Data(p) | Route::Metadata(p) => match secret_key(p) {
                Ok(path) => Ok(view.get(&meta_key(path)).await?.is_some()),
                Err(_) => Ok(true),
            },
            _ => Ok(true),
        }
    }
}
