//! `metadata/:path` (read, write, patch, delete, list) and OpenBao's
//! `detailed-metadata/:prefix` list: the per-key settings and custom
//! metadata, and OpenBao's metadata check-and-set.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::{Map, Value};

use super::data::check_merge_patch;
use super::record::{meta_key, version_key, Config, KeyRecord};
use super::store::{load_json, Change};
use super::{non_negative, secret_key, u32_field, KvV2};
use crate::logical::framework::{Ctx, Field};
use crate::logical::{LogicalError, LogicalResult, Response};
use crate::storage::BatchItem;
use crate::util::rfc3339;

/// Vault's limits on `custom_metadata`.
const CUSTOM_MAX_KEYS: usize = 64;
const CUSTOM_MAX_KEY_LEN: usize = 128;
const CUSTOM_MAX_VALUE_LEN: usize = 512;

pub(super) const FIELDS: &[Field] = &[
    Field::int(
        "max_versions",
        "The number of versions to keep. If not set, the backend's configured max version is          used.",
    ),
    Field::bool(
        "cas_required",
        "If true the key will require the cas parameter to be set on all write requests. If          false, the backend's configuration will be used.",
    ),
    Field::duration(
        "delete_version_after",
        "The length of time before a version is deleted. If not set, the backend's configured          delete_version_after is used. A zero duration clears the current setting.",
    ),
    Field::map(
        "custom_metadata",
        "User-provided key-value pairs that are used to describe arbitrary and          version-agnostic information about a secret.",
    ),
    Field::int(
        "metadata_cas",
        "OpenBao: the current_metadata_version this write expects (check-and-set on metadata).",
    ),
    Field::bool(
        "metadata_cas_required",
        "OpenBao: if true, metadata writes to this key must carry metadata_cas.",
    ),
];

/// The storage prefix a LIST of `metadata/` or `detailed-metadata/` names
/// (the mount root, or a folder ending in `/`), and the keys below it; an
/// empty folder is a bare 404, as in Vault.
async fn listed(c: &Ctx<'_>) -> Result<(String, Vec<String>), LogicalError> {
    let path = c.path("path");
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let prefix = if trimmed.is_empty() {
        String::new()
    } else {
        format!("{}/", secret_key(trimmed)?)
    };
    let keys = c.view.list(&meta_key(&prefix)).await?;
    if keys.is_empty() {
        return Err(LogicalError::NotFound);
    }
    Ok((prefix, keys))
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
    fn parse(c: &Ctx<'_>, patch: bool) -> Result<Self, LogicalError> {
        // Read from the request: the framework has checked it is a map (or
        // null), and a PATCH needs its nulls, which mean "remove".
        let custom = match c.req.data.get("custom_metadata") {
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
            max_versions: u32_field(c, "max_versions")?,
            cas_required: c.fields.get_ok::<bool>("cas_required"),
            metadata_cas_required: c.fields.get_ok::<bool>("metadata_cas_required"),
            metadata_cas: non_negative(c, "metadata_cas")?,
            delete_version_after: c.fields.get_ok::<u64>("delete_version_after"),
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

impl KvV2 {
    pub(super) async fn read_metadata(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        match self.read_record(c.view, path).await? {
            Some(rec) => Ok(Response::json(rec.to_json())),
            None => Err(LogicalError::NotFound),
        }
    }

    /// `metadata/` POST (`patch == false`) or PATCH. Creates the record on
    /// POST; counts every effective write in `current_metadata_version`.
    pub(super) async fn write_metadata(&self, c: &Ctx<'_>) -> LogicalResult {
        self.change_metadata(c, false).await
    }

    pub(super) async fn patch_metadata(&self, c: &Ctx<'_>) -> LogicalResult {
        self.change_metadata(c, true).await
    }

    async fn change_metadata(&self, c: &Ctx<'_>, patch: bool) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        if patch {
            if let Some(refusal) = check_merge_patch(c.req)? {
                return Ok(refusal);
            }
        }
        let settings = MetaSettings::parse(c, patch)?;
        if settings.is_noop() {
            return Ok(Response::empty());
        }
        let _guard = self.lock(path).await;
        let warnings = self
            .mutate(
                c.view,
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
    pub(super) async fn delete_metadata(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        let _guard = self.lock(path).await;
        self.mutate(
            c.view,
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

    pub(super) async fn list_metadata(&self, c: &Ctx<'_>) -> LogicalResult {
        let (_, keys) = listed(c).await?;
        Ok(Response::list(keys))
    }

    /// LIST `detailed-metadata/:prefix` (OpenBao): the keys, and in
    /// `key_info` each secret's metadata as `metadata/` reads it (folders
    /// have none). One list plus one get per secret; a key deleted
    /// between the two is listed without info.
    pub(super) async fn list_detailed_metadata(&self, c: &Ctx<'_>) -> LogicalResult {
        let (prefix, keys) = listed(c).await?;
        let mut info = Map::new();
        for key in keys.iter().filter(|k| !k.ends_with('/')) {
            let stored = meta_key(&format!("{prefix}{key}"));
            if let Some(rec) = load_json::<KeyRecord>(c.view, &stored).await? {
                info.insert(key.clone(), rec.to_json());
            }
        }
        let mut resp = Response::list(keys);
        if let Some(data) = resp.data.as_mut() {
            data.insert("key_info".into(), Value::Object(info));
        }
        Ok(resp)
    }
}
