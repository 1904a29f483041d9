//! The KV version 2 secrets engine: versioned secrets with soft delete,
//! undelete, destroy, check-and-set and per-key metadata, speaking Vault's
//! KV v2 HTTP API (`config`, `data/`, `metadata/`, `delete/`, `undelete/`,
//! `destroy/`, `subkeys/`).
//!
//! # Storage layout (inside the mount's [`StorageView`])
//!
//! * `config` — the mount settings ([`Config`](record::Config)) as JSON. Absent means defaults.
//! * `meta/<path>` — one [`KeyRecord`](record::KeyRecord) per secret: the key's metadata, the
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
//! physical cache does; it is bounded to [`CACHE_MAX_ENTRIES`](cache::CACHE_MAX_ENTRIES) records and
//! about [`CACHE_MAX_BYTES`](cache::CACHE_MAX_BYTES) (entries over a sixteenth of that are not
//! cached), evicting arbitrary entries, plus at most [`CACHE_MAX_CONFIGS`](cache::CACHE_MAX_CONFIGS)
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
//!
//! # Layout
//!
//! Every path is declared once, in [`KvV2::new`], through the path
//! framework; the handlers live by concern: [`data`] (read, write, patch,
//! soft delete of the latest), [`metadata`] (and `detailed-metadata/`),
//! [`config`], [`versions`] (delete, undelete, destroy, subkeys), over the
//! read-modify-write in [`store`], the [`cache`] and the [`record`] model.

mod cache;
pub(crate) use cache::set_max_bytes as set_write_cache_max_bytes;
mod config;
mod data;
mod metadata;
mod record;
mod store;
mod versions;

use async_trait::async_trait;
use serde_json::Value;

use crate::logical::framework::{Ctx, PathSpec, Paths};
use crate::logical::{
    Backend, LogicalError, LogicalResult, Operation, Request, Response, StorageView,
};
use crate::{existence, handler};

use cache::WriteCache;
use store::LOCK_STRIPES;

/// The KV v2 engine.
pub(crate) struct KvV2 {
    /// Striped per-key write locks for this process (see the module doc).
    locks: Vec<tokio::sync::Mutex<()>>,
    /// Records this instance may write without re-reading them.
    cache: WriteCache,
    /// The declared paths, built once per engine (not per request).
    paths: Paths<KvV2>,
}

impl Default for KvV2 {
    fn default() -> Self {
        Self::new()
    }
}

const HELP: &str = "The KV secrets engine (version 2) stores versioned secrets: every write \
adds a version, old versions can be read, soft-deleted, undeleted and destroyed, and \
check-and-set guards concurrent writers.";

impl KvV2 {
    pub(crate) fn new() -> Self {
        Self {
            locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            cache: WriteCache::default(),
            paths: paths(),
        }
    }

    /// Whether the secret of a `data/` or `metadata/` write exists. One get,
    /// which also refreshes the write cache, so the write that usually
    /// follows needs no read of its own.
    async fn record_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        match secret_key(c.path("path")) {
            Ok(path) => Ok(self.read_record(c.view, path).await?.is_some()),
            // Let the handler report the bad path.
            Err(_) => Ok(true),
        }
    }

    /// Vault's answer to a path outside the KV v2 API, e.g. `secret/foo`:
    /// 404 with a warning pointing at the right endpoint.
    async fn invalid_path(&self, c: &Ctx<'_>) -> LogicalResult {
        let sub = match c.operation() {
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
}

/// The KV v2 API. The hot path (`data/`) is declared first, as the first
/// match wins; the catch-all for paths outside the API comes last.
fn paths() -> Paths<KvV2> {
    Paths::new(
        HELP,
        vec![
            PathSpec::new("data/{path*}")
                .fields(data::FIELDS)
                .read(handler!(KvV2::read_data))
                .write(handler!(KvV2::write_data))
                .patch(handler!(KvV2::patch_data))
                .delete(handler!(KvV2::delete_latest))
                .exists(existence!(KvV2::record_exists))
                .help(
                    "Write, Patch, Read, and Delete data in the Key-Value Store.",
                    "Each write adds a version; a read returns the current version, or the \
                     one named by `version`. DELETE soft-deletes the current version.",
                ),
            PathSpec::new("metadata/{path*}")
                .fields(metadata::FIELDS)
                .read(handler!(KvV2::read_metadata))
                .write(handler!(KvV2::write_metadata))
                .patch(handler!(KvV2::patch_metadata))
                .delete(handler!(KvV2::delete_metadata))
                .list(handler!(KvV2::list_metadata))
                .exists(existence!(KvV2::record_exists))
                .help(
                    "Allows interaction with key metadata and settings in the KV store.",
                    "Read a key's metadata and versions, write its settings, list keys, or \
                     permanently delete a key and all its versions.",
                ),
            PathSpec::new("detailed-metadata/{path*}")
                .list(handler!(KvV2::list_detailed_metadata))
                .help(
                    "List keys with their metadata.",
                    "A LIST answers `keys` and, in `key_info`, each secret's metadata.",
                ),
            PathSpec::new("config")
                .fields(config::FIELDS)
                .read(handler!(KvV2::read_config))
                .write(handler!(KvV2::write_config))
                .help(
                    "Configures settings for the KV store.",
                    "Mount-wide defaults every key falls back to.",
                ),
            PathSpec::new("delete/{path*}")
                .fields(versions::FIELDS)
                .write(handler!(KvV2::delete_versions))
                .help(
                    "Marks one or more versions as deleted in the KV store.",
                    "Deleted versions can be restored with `undelete/`.",
                ),
            PathSpec::new("undelete/{path*}")
                .fields(versions::FIELDS)
                .write(handler!(KvV2::undelete))
                .help(
                    "Undeletes one or more versions from the KV store.",
                    "Restores soft-deleted versions; destroyed ones are gone for good.",
                ),
            PathSpec::new("destroy/{path*}")
                .fields(versions::FIELDS)
                .write(handler!(KvV2::destroy))
                .help(
                    "Permanently removes one or more versions in the KV store.",
                    "The data of the destroyed versions is deleted; their metadata stays.",
                ),
            PathSpec::new("subkeys/{path*}")
                .fields(versions::SUBKEYS_FIELDS)
                .read(handler!(KvV2::read_subkeys))
                .help(
                    "Read the structure of a secret entry from the Key-Value store with the \
                     values removed.",
                    "Every leaf is `null`; `depth` limits how deep the answer goes.",
                ),
            PathSpec::new("{path*}")
                .arbitrary_input()
                .read(handler!(KvV2::invalid_path))
                .write(handler!(KvV2::invalid_path))
                .patch(handler!(KvV2::invalid_path))
                .delete(handler!(KvV2::invalid_path))
                .list(handler!(KvV2::invalid_path))
                .help(
                    "Paths outside the versioned K/V API.",
                    "Answered 404 with a warning naming the `kv` CLI command to use.",
                ),
        ],
    )
}

#[async_trait]
impl Backend for KvV2 {
    async fn handle(&self, req: &Request, view: &StorageView) -> LogicalResult {
        self.paths.handle(self, req, view).await
    }

    async fn exists(&self, req: &Request, view: &StorageView) -> Result<bool, LogicalError> {
        self.paths.exists(self, req, view).await
    }
}

/// Checks a secret path: non-empty and without empty segments. The
/// patterns are `{path*}` so that `data/` (no key) reaches a handler and is
/// refused here, 400, like a malformed key.
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

/// A response with a body and status 404, as Vault answers for deleted or
/// destroyed versions.
fn not_found_with(body: Value) -> Response {
    let mut resp = Response::json(body);
    resp.status = Some(404);
    resp
}

/// An int field that may not be negative (a version, a depth, a count).
fn non_negative(c: &Ctx<'_>, name: &str) -> Result<Option<u64>, LogicalError> {
    c.fields
        .get_ok::<i64>(name)
        .map(|n| {
            u64::try_from(n)
                .map_err(|_| LogicalError::bad(format!("{name} must be a non-negative integer")))
        })
        .transpose()
}

/// A non-negative int field stored as `u32` (`max_versions`).
fn u32_field(c: &Ctx<'_>, name: &str) -> Result<Option<u32>, LogicalError> {
    non_negative(c, name)?
        .map(|n| u32::try_from(n).map_err(|_| LogicalError::bad(format!("{name} is too large"))))
        .transpose()
}

#[cfg(test)]
mod tests;
