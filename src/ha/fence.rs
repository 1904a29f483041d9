//! Fenced storage: the only path by which an HA node writes data.
//!
//! Every batch of the active node gets one more item, a check that the lease
//! item still holds exactly the bytes this node wrote when it acquired it.
//! The backend applies the batch atomically, so a write either lands while
//! this node provably holds the lease, or not at all. Standbys write nothing:
//! their batches fail with [`StorageError::ReadOnly`] before touching
//! storage, which makes core forward the whole request to the active node.

use std::sync::Arc;

use async_trait::async_trait;

use super::{HaState, LEASE_KEY};
use crate::storage::{Batch, BatchItem, Condition, Storage, StorageError};

pub(crate) struct FencedStorage {
    inner: Arc<dyn Storage>,
    ha: Arc<HaState>,
}

impl FencedStorage {
    pub(crate) fn new(inner: Arc<dyn Storage>, ha: Arc<HaState>) -> Self {
        Self { inner, ha }
    }
}

#[async_trait]
impl Storage for FencedStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        self.inner.get_many(keys).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.list_page(prefix, after, limit).await
    }

    async fn batch(&self, mut batch: Batch) -> Result<(), StorageError> {
        let Some(fence) = self.ha.fence() else {
            return Err(StorageError::ReadOnly);
        };
        #[cfg(debug_assertions)]
        test_hooks::before_write().await;
        batch.push(BatchItem::check(LEASE_KEY, Condition::Equals(fence)));
        match self.inner.batch(batch).await {
            Err(StorageError::ConditionFailed(key)) if key == LEASE_KEY => {
                self.ha
                    .step_down("a write found the lease taken by another node");
                Err(StorageError::LeaseLost)
            }
            other => other,
        }
    }
}

/// Test-only delay before fenced writes, so HA tests can pause a node while
/// a write is in flight. Compiled only into debug builds and active only
/// when `STRONGROOM_TEST_WRITE_DELAY_MS` is set.
#[cfg(debug_assertions)]
mod test_hooks {
    pub(super) async fn before_write() {
        static DELAY: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
        let delay = DELAY.get_or_init(|| {
            std::env::var("STRONGROOM_TEST_WRITE_DELAY_MS")
                .ok()
                .and_then(|v| v.parse().ok())
        });
        if let Some(ms) = delay {
            tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
        }
    }
}
