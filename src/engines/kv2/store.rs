//! The read-modify-write every change goes through, and the reads: per-key
//! striped locks, the conditional batch with retries, and version lookup.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use chrono::Utc;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::cache::{condition_for, config_snapshot, Body, Seen, Slot, Snapshot, Stored};
use super::record::{corrupt, encode, meta_key, version_key, Config, KeyRecord, CONFIG_KEY};
use super::KvV2;
use crate::barrier::BarrierError;
use crate::logical::{LogicalError, StorageView};
use crate::storage::{BatchItem, StorageError};

/// Read-modify-write attempts before answering 503.
pub(super) const MAX_ATTEMPTS: u32 = 20;
/// Number of in-process write locks; keys hash onto them.
pub(super) const LOCK_STRIPES: usize = 64;

/// What a read-modify-write decided.
pub(super) enum Change<R, T> {
    /// Write `R` (plus extra items) and answer `T`.
    Put(R, Vec<BatchItem>, T),
    /// Delete the record (plus extra items) and answer `T`.
    Remove(Vec<BatchItem>, T),
    /// Nothing to write; answer `T`.
    Keep(T),
}

pub(super) fn is_condition_failed(e: &BarrierError) -> bool {
    matches!(e, BarrierError::Storage(StorageError::ConditionFailed(_)))
}

/// Jittered exponential backoff after a lost race.
pub(super) async fn backoff(attempt: u32) {
    let cap_ms = 1u64 << attempt.min(6);
    let ms = rand::random::<u64>() % (cap_ms + 1);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Reads a JSON value without its raw bytes (older versions' data).
pub(super) async fn load_json<T: DeserializeOwned>(
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
pub(super) enum Resolved {
    /// Live version: its data and response metadata.
    Live(Map<String, Value>, Value),
    /// Deleted or destroyed: only the response metadata.
    Gone(Value),
}

impl KvV2 {
    /// This process's write lock for `path` (a stripe shared with other keys).
    pub(super) async fn lock(&self, path: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        // The modulo keeps the index in range, so indexing cannot panic.
        let i = (h.finish() % self.locks.len() as u64) as usize;
        self.locks[i].lock().await
    }

    /// The record at `key` for a write: the cached one unless `fresh`, else
    /// read from storage.
    pub(super) async fn seen<R: Stored>(
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
    pub(super) async fn config_seen(
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
    pub(super) async fn mutate<R, T, F>(
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
    pub(super) async fn read_record(
        &self,
        view: &StorageView,
        path: &str,
    ) -> Result<Option<KeyRecord>, LogicalError> {
        let key = meta_key(path);
        let slot = Slot::new(view, &key);
        match view.get_sealed(&key).await? {
            None => {
                self.cache.put(&slot, Snapshot::Absent);
                Ok(None)
            }
            Some(v) => {
                // Same bytes as the cached record: no decryption, no parse.
                if let Some(rec) = self.cache.record_if_current(&slot, &v.raw) {
                    return Ok(Some(rec));
                }
                let plaintext = view.open(&key, &v.raw).await?;
                let rec: KeyRecord =
                    serde_json::from_slice(&plaintext).map_err(|e| corrupt(&key, e))?;
                // Kept parsed, so that the next read of the same bytes
                // (and a write starting from them) needs no parse.
                self.cache.put(
                    &slot,
                    Snapshot::Present {
                        body: Body::Record(rec.clone()),
                        raw: v.raw,
                    },
                );
                Ok(Some(rec))
            }
        }
    }

    /// Finds `requested` (0 or absent: the current version) of `path`. A
    /// read of the current version is one storage get; an older one is two.
    pub(super) async fn resolve_version(
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
}
