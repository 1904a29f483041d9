//! A storage view: the barrier seen through a key prefix. Each mount gets its
//! own view (`logical/<mount uuid>/`), so an engine cannot read or write
//! another mount's data whatever path a request names.

use std::sync::Arc;

use crate::barrier::{Barrier, BarrierError, Sealed, Versioned};
use crate::storage::{Batch, BatchItem, Op};

#[derive(Clone)]
pub(crate) struct StorageView {
    barrier: Arc<Barrier>,
    prefix: String,
}

impl StorageView {
    pub(crate) fn new(barrier: Arc<Barrier>, prefix: impl Into<String>) -> Self {
        Self {
            barrier,
            prefix: prefix.into(),
        }
    }

    fn full(&self, key: &str) -> String {
        [self.prefix.as_str(), key].concat()
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BarrierError> {
        self.barrier.get(&self.full(key)).await
    }

    pub(crate) async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, BarrierError> {
        self.barrier.get_versioned(&self.full(key)).await
    }

    /// The stored bytes at `key`, not decrypted (see [`Barrier::get_sealed`]).
    pub(crate) async fn get_sealed(&self, key: &str) -> Result<Option<Sealed>, BarrierError> {
        self.barrier.get_sealed(&self.full(key)).await
    }

    /// Decrypts bytes [`StorageView::get_sealed`] returned for `key`.
    pub(crate) async fn open(&self, key: &str, raw: &[u8]) -> Result<Vec<u8>, BarrierError> {
        self.barrier.open(&self.full(key), raw).await
    }

    pub(crate) async fn put(&self, key: &str, value: &[u8]) -> Result<(), BarrierError> {
        self.barrier.put(&self.full(key), value).await
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), BarrierError> {
        self.barrier.delete(&self.full(key)).await
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>, BarrierError> {
        self.barrier.list(&self.full(prefix)).await
    }

    /// The cluster generation as of this request (see
    /// [`Barrier::current_generation`]): what a cache of this view's records
    /// is validated by. Costs one storage read on a shared backend unless the
    /// request already made one.
    pub(crate) async fn current_generation(&self) -> Result<Vec<u8>, BarrierError> {
        self.barrier.current_generation().await
    }

    /// The cluster generation this node last saw (no storage read): what
    /// request-path caches check, as core's token and policy caches do; a
    /// request that later learns of a newer generation is replayed by core.
    pub(crate) fn seen_generation(&self) -> Vec<u8> {
        self.barrier.seen_generation()
    }

    /// Like [`StorageView::batch`], and changes the cluster generation in the
    /// same atomic write, so every node's caches of this view (see
    /// [`super::cache::GenerationCache`]) drop their entries before serving
    /// the next request. For records nodes cache: transit keys, identity
    /// objects, CA keys.
    #[allow(dead_code)] // used by the engines landing next
    pub(crate) async fn batch_bump(&self, batch: Batch) -> Result<(), BarrierError> {
        self.barrier
            .batch_bump(self.prefixed(batch))
            .await
            .map(|_| ())
    }

    /// The key prefix of this view (`logical/<mount uuid>/`).
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Like [`StorageView::batch`], and returns the encrypted bytes written
    /// by each `Put` as `(key relative to this view, raw)`, in batch order:
    /// what a later [`crate::storage::Condition::Equals`] must carry.
    pub(crate) async fn batch_returning_raw(
        &self,
        batch: Batch,
    ) -> Result<Vec<(String, Vec<u8>)>, BarrierError> {
        let written = self
            .barrier
            .batch_returning_raw(self.prefixed(batch))
            .await?;
        Ok(written
            .into_iter()
            .map(|(key, raw)| match key.strip_prefix(&self.prefix) {
                Some(rel) => (rel.to_string(), raw),
                None => (key, raw),
            })
            .collect())
    }

    /// Applies a batch whose keys are relative to this view.
    pub(crate) async fn batch(&self, batch: Batch) -> Result<(), BarrierError> {
        self.barrier.batch(self.prefixed(batch)).await
    }

    /// The batch with every key made absolute.
    fn prefixed(&self, batch: Batch) -> Batch {
        batch
            .into_iter()
            .map(|item| {
                let op = match item.op {
                    Op::Put { key, value } => Op::Put {
                        key: self.full(&key),
                        value,
                    },
                    Op::Delete { key } => Op::Delete {
                        key: self.full(&key),
                    },
                    Op::Check { key } => Op::Check {
                        key: self.full(&key),
                    },
                };
                BatchItem {
                    op,
                    condition: item.condition,
                }
            })
            .collect()
    }

    /// Deletes every key under this view (used when a mount is disabled).
    pub(crate) async fn clear(&self) -> Result<(), BarrierError> {
        let mut stack = vec![String::new()];
        while let Some(dir) = stack.pop() {
            let children = self.list(&dir).await?;
            let mut batch = Vec::new();
            for child in children {
                let key = format!("{dir}{child}");
                if key.ends_with('/') {
                    stack.push(key);
                } else {
                    batch.push(BatchItem::delete(key));
                    if batch.len() >= 50 {
                        self.batch(std::mem::take(&mut batch)).await?;
                    }
                }
            }
            if !batch.is_empty() {
                self.batch(batch).await?;
            }
        }
        Ok(())
    }
}
