//! The write cache: per storage key, the last record this engine instance
//! read or wrote with its raw (encrypted) bytes, so a write can start from
//! it and condition its batch on those bytes instead of reading first (see
//! "Write cache" in the module doc of [`super`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::record::{corrupt, Config, KeyRecord, CONFIG_KEY};
use crate::logical::{LogicalError, StorageView};
use crate::storage::Condition;

/// Most secret records the write cache holds per engine instance.
pub(super) const CACHE_MAX_ENTRIES: usize = 1024;
/// Default for the most bytes (ciphertext plus plaintext, estimated) the
/// write cache holds per KV v2 mount; the server config's
/// `kv_write_cache_size` replaces it (see [`set_max_bytes`]).
pub(super) const CACHE_MAX_BYTES: usize = 64 << 20;

/// The byte bound in force: one process-wide setting, read on every insert
/// (a relaxed atomic load), written once at startup from the config.
static MAX_BYTES: AtomicUsize = AtomicUsize::new(CACHE_MAX_BYTES);

/// Sets the byte bound of every KV v2 write cache (`kv_write_cache_size`);
/// 0 turns the cache off (every write then reads its record first).
pub(crate) fn set_max_bytes(bytes: usize) {
    MAX_BYTES.store(bytes, Ordering::Relaxed);
}

fn max_bytes() -> usize {
    MAX_BYTES.load(Ordering::Relaxed)
}
/// Most mount configs the write cache holds (an engine serves one mount).
pub(super) const CACHE_MAX_CONFIGS: usize = 16;

/// A stored record's value as the write cache holds it.
#[derive(Clone)]
pub(super) enum Body {
    /// Plaintext JSON as a read found it; parsed when a write needs it (so a
    /// read refreshes the cache without copying or re-encoding anything).
    Plain(Vec<u8>),
    Config(Config),
    Record(KeyRecord),
}

/// What this process last saw (or wrote) at one storage key.
#[derive(Clone)]
pub(super) enum Snapshot {
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
    pub(super) fn size(&self, key: &str) -> usize {
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
pub(super) trait Stored: Serialize + DeserializeOwned + Send + Sized {
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
pub(super) struct Slot {
    pub(super) key: String,
    pub(super) config: bool,
}

impl Slot {
    pub(super) fn new(view: &StorageView, key: &str) -> Self {
        Self {
            key: [view.prefix(), key].concat(),
            config: key == CONFIG_KEY,
        }
    }
}

#[derive(Default)]
pub(super) struct CacheMaps {
    pub(super) configs: HashMap<String, Snapshot>,
    pub(super) records: HashMap<String, Snapshot>,
    /// Total [`Snapshot::size`] of `records`.
    pub(super) record_bytes: usize,
}

/// The records this engine instance may write without re-reading them
/// (see "Write cache" in the module doc). A std mutex: it is held only for
/// map operations, never across an await.
#[derive(Default)]
pub(super) struct WriteCache {
    pub(super) maps: Mutex<CacheMaps>,
}

impl WriteCache {
    pub(super) fn maps(&self) -> std::sync::MutexGuard<'_, CacheMaps> {
        // A panic while holding the lock cannot leave a map half-updated in
        // a way that matters: every entry is re-checked by storage anyway.
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes and returns the entry (a write owns it until it puts back).
    pub(super) fn take(&self, slot: &Slot) -> Option<Snapshot> {
        let mut m = self.maps();
        if slot.config {
            return m.configs.remove(&slot.key);
        }
        let snap = m.records.remove(&slot.key)?;
        m.record_bytes = m.record_bytes.saturating_sub(snap.size(&slot.key));
        Some(snap)
    }

    /// A copy of the entry (used for the small, shared mount config).
    pub(super) fn peek(&self, slot: &Slot) -> Option<Snapshot> {
        let m = self.maps();
        if slot.config {
            m.configs.get(&slot.key).cloned()
        } else {
            m.records.get(&slot.key).cloned()
        }
    }

    /// A copy of the parsed record at `slot`, if it was parsed from exactly
    /// the `raw` bytes storage holds now (the ciphertext, with its random
    /// nonce, names one stored value): a warm read then skips parsing the
    /// record's JSON, a third of its cost (bench/PROFILE.md).
    pub(super) fn record_if_current(&self, slot: &Slot, raw: &[u8]) -> Option<KeyRecord> {
        match self.maps().records.get(&slot.key) {
            Some(Snapshot::Present {
                body: Body::Record(rec),
                raw: cached,
            }) if cached.as_slice() == raw => Some(rec.clone()),
            _ => None,
        }
    }

    pub(super) fn forget(&self, slot: &Slot) {
        self.take(slot);
    }

    /// Stores `snap`, evicting arbitrary entries to stay within bounds.
    pub(super) fn put(&self, slot: &Slot, snap: Snapshot) {
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
        let max_bytes = max_bytes();
        if size > max_bytes / 16 {
            return; // too big to be worth the memory (or the cache is off)
        }
        while m.records.len() >= CACHE_MAX_ENTRIES || m.record_bytes + size > max_bytes {
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
pub(super) struct Seen<R> {
    /// `None`: the key is absent.
    pub(super) value: Option<R>,
    /// The raw bytes in storage (`None`: absent): the write's condition.
    pub(super) raw: Option<Vec<u8>>,
    /// The plaintext, when read from storage in this attempt, so that a
    /// write that changes nothing can put the record back in the cache.
    pub(super) plain: Option<Vec<u8>>,
    /// Whether this came from the cache (possibly stale) or from storage.
    pub(super) cached: bool,
}

impl<R: Stored> Seen<R> {
    /// Parses a cache entry; `None` if it holds another kind of record.
    pub(super) fn from_snapshot(key: &str, snap: Snapshot) -> Result<Option<Self>, LogicalError> {
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
    pub(super) async fn fetch(view: &StorageView, key: &str) -> Result<Self, LogicalError> {
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
    pub(super) fn unchanged_snapshot(self) -> Option<Snapshot> {
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
pub(super) fn config_snapshot(seen: &Seen<Config>) -> Snapshot {
    match (&seen.value, &seen.raw) {
        (Some(c), Some(raw)) => Snapshot::Present {
            body: Body::Config(c.clone()),
            raw: raw.clone(),
        },
        _ => Snapshot::Absent,
    }
}

pub(super) fn condition_for(raw: Option<Vec<u8>>) -> Condition {
    match raw {
        Some(raw) => Condition::Equals(raw),
        None => Condition::Absent,
    }
}
