//! The record/storage model of KV v2: the mount config, the per-key
//! record (metadata, every retained version's metadata, and the current
//! version's data inline), storage keys, and the pure functions that change a
//! record (append a version, trim, merge-patch, subkeys).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::logical::LogicalError;
use crate::storage::BatchItem;
use crate::util::rfc3339;

pub(super) const CONFIG_KEY: &str = "config";
pub(super) const META_PREFIX: &str = "meta/";
pub(super) const VERSION_PREFIX: &str = "versions/";
/// Versions kept when neither the key nor the mount sets `max_versions`.
pub(super) const DEFAULT_MAX_VERSIONS: u32 = 10;

/// Mount-wide settings (`<mount>/config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct Config {
    pub(super) max_versions: u32,
    pub(super) cas_required: bool,
    /// OpenBao: metadata writes must carry `metadata_cas`.
    pub(super) metadata_cas_required: bool,
    /// Seconds; 0 disables.
    pub(super) delete_version_after: u64,
}

/// What is known about one version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct VersionMeta {
    pub(super) created_time: String,
    /// Empty when not deleted; may lie in the future (`delete_version_after`).
    pub(super) deletion_time: String,
    pub(super) destroyed: bool,
}

impl VersionMeta {
    /// Whether the version counts as deleted at `now`. An unparsable time
    /// (never written by us) errs on the side of hiding the data.
    pub(super) fn is_deleted(&self, now: DateTime<Utc>) -> bool {
        if self.deletion_time.is_empty() {
            return false;
        }
        DateTime::parse_from_rfc3339(&self.deletion_time)
            .map(|t| t.with_timezone(&Utc) <= now)
            .unwrap_or(true)
    }

    pub(super) fn is_live(&self, now: DateTime<Utc>) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }

    /// The per-version block of a data read or write response.
    pub(super) fn to_json(&self, version: u64, custom: &BTreeMap<String, String>) -> Value {
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
pub(super) struct KeyRecord {
    pub(super) created_time: String,
    pub(super) updated_time: String,
    pub(super) current_version: u64,
    pub(super) oldest_version: u64,
    /// 0: use the mount setting.
    pub(super) max_versions: u32,
    pub(super) cas_required: bool,
    /// OpenBao: metadata writes to this key must carry `metadata_cas`.
    pub(super) metadata_cas_required: bool,
    /// OpenBao: how many metadata writes the key has had (data writes do
    /// not count); the value `metadata_cas` is compared against.
    pub(super) current_metadata_version: u64,
    /// Seconds; 0: use the mount setting.
    pub(super) delete_version_after: u64,
    pub(super) custom_metadata: BTreeMap<String, String>,
    pub(super) versions: BTreeMap<u64, VersionMeta>,
    /// The data of `current_version`, unless that version was destroyed.
    pub(super) current_data: Option<Map<String, Value>>,
}

impl KeyRecord {
    pub(super) fn new(now: &str) -> Self {
        Self {
            created_time: now.to_string(),
            updated_time: now.to_string(),
            ..Default::default()
        }
    }

    /// Drops the oldest versions beyond `max`, returning them so their data
    /// can be deleted. Versions are contiguous, so this is a split.
    pub(super) fn trim(&mut self, max: u32) -> Vec<(u64, VersionMeta)> {
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
    pub(super) fn to_json(&self) -> Value {
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
pub(super) fn custom_json(custom: &BTreeMap<String, String>) -> Value {
    if custom.is_empty() {
        Value::Null
    } else {
        json!(custom)
    }
}

pub(super) use crate::util::go_duration;

pub(super) fn meta_key(path: &str) -> String {
    [META_PREFIX, path].concat()
}

pub(super) fn version_key(path: &str, version: u64) -> String {
    let digest = Sha256::digest(path.as_bytes());
    format!("{VERSION_PREFIX}{}/{version}", hex::encode(digest))
}

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> LogicalError {
    LogicalError::Internal(format!("corrupt {what} in storage: {e}"))
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, LogicalError> {
    serde_json::to_vec(value).map_err(|e| LogicalError::Internal(format!("encoding failed: {e}")))
}

/// Applies an RFC 7386 JSON merge patch to `target`.
pub(super) fn merge_patch(target: &mut Value, patch: &Value) {
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
pub(super) fn subkeys(data: &Map<String, Value>, depth: u64, level: u64) -> Value {
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

/// The effective version limit: the key's, else the mount's, else 10.
pub(super) fn effective_max_versions(config: &Config, rec: &KeyRecord) -> u32 {
    [rec.max_versions, config.max_versions]
        .into_iter()
        .find(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_VERSIONS)
}

/// The effective `delete_version_after`: the shorter of the key's and the
/// mount's when both are set (a key may not outlive the mount's policy).
pub(super) fn effective_delete_after(config: &Config, rec: &KeyRecord) -> Option<u64> {
    [rec.delete_version_after, config.delete_version_after]
        .into_iter()
        .filter(|d| *d > 0)
        .min()
}

/// Adds a new current version holding `data` to `rec`, trimming old ones.
/// Returns the extra batch items (moving the previous version's data out of
/// the record, deleting trimmed versions) and the write response.
pub(super) fn append_version(
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

/// The merge-patched data of the current live version of `rec`.
pub(super) fn patched(
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
