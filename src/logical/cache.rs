//! A per-node cache of parsed records, validated by the cluster generation.
//!
//! Engines whose hot path only *reads* a record (transit keys for encrypt
//! and decrypt, identity objects for policy resolution, CA keys for a
//! `no_store` issue) keep the parsed record here instead of reading and
//! decrypting it on every request. Every write of such a record must go
//! through [`StorageView::batch_bump`], which changes the cluster generation
//! in the same atomic write; an entry is served only while the generation
//! of the current request (one read, shared with everything else the request
//! reads, see [`StorageView::current_generation`]) equals the one read
//! together with the entry's bytes. So a rotation committed on the active
//! node is honored by every standby and Lambda instance for every request
//! that starts after the commit, and a warm hit costs no storage read
//! beyond that generation check.

// The engines that use it (transit, identity, PKI) land after this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::StorageView;
use crate::barrier::BarrierError;

/// Default bound on entries per cache (one cache per engine instance).
pub(crate) const DEFAULT_MAX_ENTRIES: usize = 4096;

pub(crate) struct GenerationCache<T> {
    // std Mutex: held only for map operations, never across an await.
    entries: Mutex<HashMap<String, Entry<T>>>,
    max_entries: usize,
}

struct Entry<T> {
    generation: Vec<u8>,
    value: Arc<T>,
}

impl<T> Default for GenerationCache<T> {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENTRIES)
    }
}

impl<T> GenerationCache<T> {
    pub(crate) fn new(max_entries: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
        }
    }

    /// The record at `key` (relative to `view`), parsed by `parse`: from the
    /// cache when it was read at the current generation, else read from
    /// storage (value and generation in one round trip), parsed and cached.
    /// `Ok(None)` when no record exists (absence is not cached).
    pub(crate) async fn get_or_load<E>(
        &self,
        view: &StorageView,
        key: &str,
        parse: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<Option<Arc<T>>, E>
    where
        E: From<BarrierError>,
    {
        self.load(view, key, parse, None).await
    }

    /// Like [`get_or_load`](Self::get_or_load) for a record that has a
    /// default when absent (an optional config): absence is cached too, as
    /// the default, under the generation read before the lookup. A write of
    /// the record after that read bumps the generation, so a cached absence
    /// is never served past the record's creation.
    pub(crate) async fn get_or_default<E>(
        &self,
        view: &StorageView,
        key: &str,
        parse: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<Arc<T>, E>
    where
        E: From<BarrierError>,
        T: Default,
    {
        let value = self.load(view, key, parse, Some(T::default)).await?;
        Ok(value.unwrap_or_else(|| Arc::new(T::default())))
    }

    /// The one load path: a hit at the current generation, else one read
    /// (value and generation together), parsed and cached. An absent record
    /// is cached as `absent()` under the generation read before the lookup
    /// when `absent` is given, else forgotten and `None`.
    async fn load<E>(
        &self,
        view: &StorageView,
        key: &str,
        parse: impl FnOnce(&[u8]) -> Result<T, E>,
        absent: Option<fn() -> T>,
    ) -> Result<Option<Arc<T>>, E>
    where
        E: From<BarrierError>,
    {
        let current = view.current_generation().await?;
        if let Some(hit) = self.lookup(key, &current) {
            return Ok(Some(hit));
        }
        let (generation, value) = match (view.get_versioned(key).await?, absent) {
            (Some(read), _) => (read.generation, parse(&read.plaintext)?),
            (None, Some(make)) => (current, make()),
            (None, None) => {
                self.remove(key);
                return Ok(None);
            }
        };
        let value = Arc::new(value);
        self.store(key, generation, value.clone());
        Ok(Some(value))
    }

    fn lookup(&self, key: &str, generation: &[u8]) -> Option<Arc<T>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|e| e.generation == generation)
            .map(|e| e.value.clone())
    }

    fn store(&self, key: &str, generation: Vec<u8>, value: Arc<T>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.max_entries && !entries.contains_key(key) {
            // Entries of older generations are dead weight; drop them first,
            // and everything if that is not enough (a reload is one read).
            entries.retain(|_, e| e.generation == generation);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key.to_string(), Entry { generation, value });
    }

    /// Forgets `key` (after this node deleted it; other nodes learn of the
    /// deletion through the generation).
    pub(crate) fn remove(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// Forgets everything (the engine's mount was disabled or remounted).
    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::barrier::{Barrier, GENERATION_KEY, GENERATION_SEEN};
    use crate::storage::{memory::MemoryStorage, BatchItem, Storage};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A shared-storage node (not the sole writer) over fresh storage.
    async fn setup() -> (StorageView, Arc<MemoryStorage>) {
        setup_with(false).await
    }

    async fn setup_with(sole_writer: bool) -> (StorageView, Arc<MemoryStorage>) {
        let storage = Arc::new(MemoryStorage::new());
        let barrier = Arc::new(Barrier::new(storage.clone()));
        barrier.set_sole_writer(sole_writer);
        barrier
            .initialize(&crate::barrier::random_key())
            .await
            .unwrap();
        (StorageView::new(barrier, "logical/test/"), storage)
    }

    /// One request: reads `key` through the cache, counting parses.
    async fn request(
        cache: &GenerationCache<String>,
        view: &StorageView,
        key: &str,
        parses: &AtomicUsize,
    ) -> Option<String> {
        GENERATION_SEEN
            .scope(std::cell::Cell::new(false), async {
                cache
                    .get_or_load(view, key, |b| {
                        parses.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, BarrierError>(String::from_utf8_lossy(b).into_owned())
                    })
                    .await
                    .unwrap()
                    .map(|v| v.as_str().to_string())
            })
            .await
    }

    async fn put_bumped(view: &StorageView, key: &str, value: &str) {
        view.batch_bump(vec![BatchItem::put(key, value.as_bytes().to_vec())])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn serves_hits_until_a_bumped_write_changes_the_generation() {
        let (view, _) = setup().await;
        let cache = GenerationCache::default();
        let parses = AtomicUsize::new(0);
        put_bumped(&view, "k", "one").await;
        assert_eq!(
            request(&cache, &view, "k", &parses).await.as_deref(),
            Some("one")
        );
        assert_eq!(
            request(&cache, &view, "k", &parses).await.as_deref(),
            Some("one")
        );
        assert_eq!(parses.load(Ordering::SeqCst), 1, "the second read is a hit");
        put_bumped(&view, "k", "two").await;
        assert_eq!(
            request(&cache, &view, "k", &parses).await.as_deref(),
            Some("two")
        );
        assert_eq!(parses.load(Ordering::SeqCst), 2);
    }

    async fn load_default(cache: &GenerationCache<String>, view: &StorageView) -> String {
        GENERATION_SEEN
            .scope(std::cell::Cell::new(false), async {
                cache
                    .get_or_default(view, "cfg", |b| {
                        Ok::<_, BarrierError>(String::from_utf8_lossy(b).into_owned())
                    })
                    .await
                    .unwrap()
                    .as_str()
                    .to_string()
            })
            .await
    }

    /// An absent optional record is cached as its default (no read per
    /// request) until a bumped write creates it.
    #[tokio::test]
    async fn absence_is_cached_until_the_record_is_written() {
        let (view, _) = setup().await;
        let cache: GenerationCache<String> = GenerationCache::default();
        assert_eq!(load_default(&cache, &view).await, "");
        // A write that does not bump the generation (never allowed for a
        // cached record) is not seen: the absence was served from the cache.
        view.batch(vec![BatchItem::put("cfg", b"unbumped".to_vec())])
            .await
            .unwrap();
        assert_eq!(
            load_default(&cache, &view).await,
            "",
            "a cached absence needs no read"
        );
        put_bumped(&view, "cfg", "set").await;
        assert_eq!(load_default(&cache, &view).await, "set");
    }

    #[tokio::test]
    async fn a_change_by_another_node_is_seen_by_the_next_request() {
        let (view, storage) = setup().await;
        let cache = GenerationCache::default();
        let parses = AtomicUsize::new(0);
        put_bumped(&view, "k", "one").await;
        assert_eq!(
            request(&cache, &view, "k", &parses).await.as_deref(),
            Some("one")
        );
        // Another node's bumped write: only the generation moves here, which
        // is all this node can learn without reading the record.
        storage
            .put(GENERATION_KEY, b"elsewhere".to_vec())
            .await
            .unwrap();
        request(&cache, &view, "k", &parses).await;
        assert_eq!(
            parses.load(Ordering::SeqCst),
            2,
            "reloaded, not served stale"
        );
    }

    #[tokio::test]
    async fn a_sole_writer_skips_the_generation_read() {
        let (view, storage) = setup_with(true).await;
        let cache = GenerationCache::default();
        let parses = AtomicUsize::new(0);
        put_bumped(&view, "k", "one").await;
        request(&cache, &view, "k", &parses).await;
        // Nobody else writes a sole writer's storage; a foreign generation
        // is not looked for (and a bumped write of its own is seen at once).
        storage.put(GENERATION_KEY, b"x".to_vec()).await.unwrap();
        request(&cache, &view, "k", &parses).await;
        assert_eq!(parses.load(Ordering::SeqCst), 1);
        put_bumped(&view, "k", "two").await;
        assert_eq!(
            request(&cache, &view, "k", &parses).await.as_deref(),
            Some("two")
        );
    }

    #[tokio::test]
    async fn absence_is_not_cached_and_the_bound_holds() {
        let (view, _) = setup().await;
        let cache = GenerationCache::new(2);
        let parses = AtomicUsize::new(0);
        assert_eq!(request(&cache, &view, "missing", &parses).await, None);
        put_bumped(&view, "missing", "now").await;
        assert_eq!(
            request(&cache, &view, "missing", &parses).await.as_deref(),
            Some("now")
        );
        for k in ["a", "b", "c"] {
            put_bumped(&view, k, k).await;
        }
        for k in ["a", "b", "c"] {
            request(&cache, &view, k, &parses).await;
        }
        assert!(cache.len() <= 2);
    }
}
