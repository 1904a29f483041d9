//! `delete/`, `undelete/`, `destroy/` (by version number) and `subkeys/`
//! (a version's structure without its values).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::record::{meta_key, subkeys, version_key, KeyRecord};
use super::store::{Change, Resolved};
use super::{non_negative, not_found_with, secret_key, KvV2};
use crate::logical::framework::{Ctx, Field};
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};
use crate::storage::BatchItem;
use crate::util::rfc3339;

pub(super) const FIELDS: &[Field] = &[Field::comma_ints(
    "versions",
    "The versions to act on: a list, or comma-separated numbers.",
)];

pub(super) const SUBKEYS_FIELDS: &[Field] = &[
    Field::int(
        "version",
        "The version to return; the current one when unset or 0.",
    ),
    Field::int(
        "depth",
        "How deep to descend into the secret's structure; 0 (the default) for no limit.",
    ),
];

/// Which versions a delete/undelete/destroy addresses.
pub(super) enum Target {
    /// The current version (DELETE `data/:path`).
    Latest,
    Versions(Vec<u64>),
}

/// The `versions` of delete/undelete/destroy (the framework has already
/// turned an array or a comma-separated string into integers).
fn versions_param(c: &Ctx<'_>) -> Result<Vec<u64>, LogicalError> {
    let out = c
        .fields
        .get::<Vec<i64>>("versions")
        .unwrap_or_default()
        .into_iter()
        .map(u64::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| LogicalError::bad("versions must be a list of positive version numbers"))?;
    if out.is_empty() {
        return Err(LogicalError::bad("no version number provided"));
    }
    Ok(out)
}

impl KvV2 {
    /// POST `delete/:path`: soft-deletes the given versions.
    pub(super) async fn delete_versions(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        let versions = versions_param(c)?;
        self.soft_delete(c.view, path, Target::Versions(versions))
            .await
    }

    pub(super) async fn read_subkeys(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        let requested = non_negative(c, "version")?;
        let depth = non_negative(c, "depth")?.unwrap_or(0);
        match self.resolve_version(c.view, path, requested).await? {
            Resolved::Live(data, meta) => Ok(Response::json(
                json!({ "subkeys": subkeys(&data, depth, 1), "metadata": meta }),
            )),
            Resolved::Gone(meta) => {
                Ok(not_found_with(json!({ "subkeys": null, "metadata": meta })))
            }
        }
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

    pub(super) async fn soft_delete(
        &self,
        view: &StorageView,
        path: &str,
        target: Target,
    ) -> LogicalResult {
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

    pub(super) async fn undelete(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        let versions = versions_param(c)?;
        self.change_versions(
            c.view,
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

    pub(super) async fn destroy(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = secret_key(c.path("path"))?;
        let versions = versions_param(c)?;
        let key_path = path.to_string();
        self.change_versions(
            c.view,
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
}
