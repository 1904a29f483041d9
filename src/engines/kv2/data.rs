//! `data/:path`: read a version, write a new one (with check-and-set),
//! merge-patch the current one, and soft-delete the latest.

use chrono::Utc;
use serde_json::{json, Map, Value};

use super::record::{append_version, meta_key, patched, Config, KeyRecord};
use super::store::{Change, Resolved};
use super::versions::Target;
use super::{non_negative, not_found_with, secret_key, KvV2};
use crate::logical::framework::{field, Ctx, Field, FieldValue};
use crate::logical::{LogicalError, LogicalResult, Request, Response};
use crate::util::rfc3339;

pub(super) const MERGE_PATCH: &str = "application/merge-patch+json";

pub(super) const FIELDS: &[Field] = &[
    Field::int(
        "version",
        "If provided during a read, the value at the version number will be returned.",
    ),
    Field::map(
        "options",
        "Options for writing a KV entry. Set the \"cas\" value to use a Check-And-Set \
         operation. If not set the write will be allowed. If set to 0 a write will only be \
         allowed if the key doesn't exist. If the index is non-zero the write will only be \
         allowed if the key's current version matches the version specified in the cas \
         parameter.",
    ),
    Field::raw(
        "data",
        "The contents of the data map will be stored and returned on read.",
    ),
];

/// How `options.cas` is decoded: weakly, as an int (Vault's mapstructure
/// `WeakDecode`), so `3`, `"3"` and `3.0` agree.
const CAS: Field = Field::int("cas", "");

/// How a new version's data is obtained from the current one.
#[derive(Clone, Copy)]
pub(super) enum NewData<'a> {
    Replace(&'a Map<String, Value>),
    /// Merge-patch the current live version; 404 if there is none.
    Patch(&'a Map<String, Value>),
}

/// PATCH must carry `application/merge-patch+json`, as Vault's HTTP layer
/// enforces: 415 otherwise (400 when no media type at all).
pub(super) fn check_merge_patch(req: &Request) -> Result<Option<Response>, LogicalError> {
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

/// The required `data` object of a write or patch. Borrowed from the
/// request (the field is declared raw, so there is nothing to convert) to
/// spare a copy of the secret.
fn data_object<'a>(c: &'a Ctx<'_>) -> Result<&'a Map<String, Value>, LogicalError> {
    match c.req.data.get("data") {
        None | Some(Value::Null) => Err(LogicalError::bad("no data provided")),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(LogicalError::bad("data must be a JSON object")),
    }
}

/// The optional `options.cas` of a write or patch. A value that is not an
/// integer is refused with Vault's message; a negative one can match no
/// version, so it is a mismatch (as in Vault).
fn cas_option(c: &Ctx<'_>) -> Result<Option<i64>, LogicalError> {
    let Some(options) = c.fields.get_ok::<Map<String, Value>>("options") else {
        return Ok(None);
    };
    let Some(raw) = options.get("cas") else {
        return Ok(None);
    };
    match field::convert(&CAS, raw) {
        Ok(FieldValue::Int(cas)) => Ok(Some(cas)),
        _ => Err(LogicalError::bad("error parsing check-and-set parameter")),
    }
}

/// Enforces `cas_required` and the cas value against the current version.
pub(super) fn check_cas(
    config: &Config,
    rec: &KeyRecord,
    cas: Option<i64>,
) -> Result<(), LogicalError> {
    match cas {
        None if config.cas_required || rec.cas_required => Err(LogicalError::bad(
            "check-and-set parameter required for this call",
        )),
        Some(c) if u64::try_from(c).ok() != Some(rec.current_version) => Err(LogicalError::bad(
            "check-and-set parameter did not match the current version",
        )),
        _ => Ok(()),
    }
}

impl KvV2 {
    pub(super) async fn read_data(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        let requested = non_negative(c, "version")?;
        match self.resolve_version(c.view, path, requested).await? {
            Resolved::Live(data, meta) => {
                Ok(Response::json(json!({ "data": data, "metadata": meta })))
            }
            Resolved::Gone(meta) => Ok(not_found_with(json!({ "data": null, "metadata": meta }))),
        }
    }

    pub(super) async fn write_data(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        let data = data_object(c)?;
        let cas = cas_option(c)?;
        self.put_version(c, path, NewData::Replace(data), cas).await
    }

    pub(super) async fn patch_data(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        if let Some(refusal) = check_merge_patch(c.req)? {
            return Ok(refusal);
        }
        let patch = data_object(c)?;
        let cas = cas_option(c)?;
        self.put_version(c, path, NewData::Patch(patch), cas).await
    }

    /// DELETE `data/:path`: soft-deletes the latest version.
    pub(super) async fn delete_latest(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        self.soft_delete(c.view, path, Target::Latest).await
    }

    /// Writes a new version (replace or patch) with check-and-set.
    async fn put_version(
        &self,
        c: &Ctx<'_>,
        path: &str,
        new: NewData<'_>,
        cas: Option<i64>,
    ) -> LogicalResult {
        let _guard = self.lock(path).await;
        let answer = self
            .mutate(
                c.view,
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
}
