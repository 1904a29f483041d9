//! Fenced storage: the only path by which an HA node writes data.
//!
//! Every batch of the active node gets one more item, a check that the lease
//! item still holds exactly the bytes this node wrote when it acquired it.
//! The backend applies the batch atomically, so a write either lands while
//! this node provably holds the lease, or not at all. Standbys write nothing:
//! their batches fail with [`StorageError::ReadOnly`] before touching
//! storage, which makes core forward the whole request to the active node.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
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
        // Registered before the fence is read, so a step-down between the
        // two is not missed.
        let deposed = self.ha.deposed.notified();
        let Some(fence) = self.ha.fence() else {
            return Err(StorageError::ReadOnly);
        };
        batch.push(BatchItem::check(LEASE_KEY, Condition::Equals(fence)));
        let write = async {
            #[cfg(debug_assertions)]
            test_hooks::before_write().await;
            self.inner.batch(batch).await
        };
        let result = tokio::select! {
            r = write => r,
            // The node stepped down while this write was in flight: give up
            // now rather than at the storage deadline. The write carries the
            // lease check, so it cannot land once another node has taken the
            // lease, and the standby re-runs the request only on that node.
            // (Had the attempt reached storage just before the partition, it
            // landed before the takeover, and the re-run sees its effect.)
            _ = deposed => return Err(StorageError::LeaseLost),
        };
        match result {
            Ok(()) => {
                let _ = REQUEST_WROTE.try_with(|w| w.store(true, Ordering::Relaxed));
                Ok(())
            }
            Err(StorageError::ConditionFailed(key)) if key == LEASE_KEY => {
                self.ha
                    .step_down("a write found the lease taken by another node");
                Err(StorageError::LeaseLost)
            }
            Err(e) => Err(e),
        }
    }
}

tokio::task_local! {
    /// Set when a fenced write of the current request landed.
    static REQUEST_WROTE: Arc<AtomicBool>;
}

/// Runs one request, noting in `wrote` whether any of its fenced writes
/// landed: a request that lost the lease before writing anything can be
/// re-run on the new active node; one that wrote part of its changes must
/// not be. If this node is active when the request starts and steps down
/// before it ends, the request is abandoned (`None`) at once: its reads or
/// writes may be stuck on storage this node can no longer reach, and the
/// standby that sent it is waiting to re-run it on the new holder.
pub(crate) async fn run_request<F: Future>(
    ha: Option<&HaState>,
    wrote: Arc<AtomicBool>,
    request: F,
) -> Option<F::Output> {
    let request = REQUEST_WROTE.scope(wrote, request);
    let Some(ha) = ha else {
        return Some(request.await);
    };
    let deposed = ha.deposed.notified();
    if !ha.is_active() {
        return Some(request.await);
    }
    tokio::select! {
        out = request => Some(out),
        _ = deposed => None,
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
