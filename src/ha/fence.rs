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
        if let Ok(Some(id)) = REQUEST.try_with(|r| r.forward_id.clone()) {
            batch.push(BatchItem::put(applied_key(&id), Vec::new()));
        }
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
                let _ = REQUEST.try_with(|r| r.wrote.store(true, Ordering::Relaxed));
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

/// Marker items of forwarded requests that wrote: `core/ha/applied/<id>`,
/// where the standby chose `<id>` = `<unix seconds>-<uuid>`.
pub(crate) const APPLIED_PREFIX: &str = "core/ha/applied/";

/// The marker key of a forwarded request.
pub(crate) fn applied_key(forward_id: &str) -> String {
    format!("{APPLIED_PREFIX}{forward_id}")
}

/// A forwarding id as a standby makes them (`<unix seconds>-<uuid>`):
/// anything else is ignored, so a client cannot choose storage keys.
pub(crate) fn valid_forward_id(id: &str) -> bool {
    let Some((secs, uuid)) = id.split_once('-') else {
        return false;
    };
    !secs.is_empty()
        && secs.len() <= 12
        && secs.bytes().all(|b| b.is_ascii_digit())
        && uuid::Uuid::try_parse(uuid).is_ok()
        && uuid.len() == 36
}

/// The unix time a forwarding id was made at.
pub(crate) fn forward_id_time(id: &str) -> Option<i64> {
    id.split_once('-')?.0.parse().ok()
}

struct RequestTrack {
    /// Set when a fenced write of the request landed.
    wrote: Arc<AtomicBool>,
    /// The standby's id of a forwarded request: each fenced write of the
    /// request also puts its marker, in the same atomic batch, so after the
    /// lease has changed hands the standby can tell from storage whether a
    /// request whose answer it lost applied (marker present) or never can
    /// (absent: the old holder's writes all carry the lease check).
    forward_id: Option<String>,
}

tokio::task_local! {
    static REQUEST: RequestTrack;
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
    forward_id: Option<String>,
    request: F,
) -> Option<F::Output> {
    let track = RequestTrack {
        wrote,
        forward_id: forward_id.filter(|id| valid_forward_id(id)),
    };
    let request = REQUEST.scope(track, request);
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

/// Deletes markers older than `max_age` (run by the active node now and
/// then; a standby needs a marker only for about a lease TTL).
pub(crate) async fn sweep_applied(ha: &HaState, max_age: std::time::Duration) {
    let Some(fence) = ha.fence() else { return };
    let Ok(ids) = ha.storage.list(APPLIED_PREFIX).await else {
        return;
    };
    let cutoff = chrono::Utc::now().timestamp() - max_age.as_secs() as i64;
    let old: Vec<String> = ids
        .into_iter()
        .filter(|id| forward_id_time(id).is_some_and(|t| t < cutoff))
        .collect();
    for group in old.chunks(50) {
        let mut batch: Batch = group
            .iter()
            .map(|id| BatchItem::delete(applied_key(id)))
            .collect();
        batch.push(BatchItem::check(
            LEASE_KEY,
            Condition::Equals(fence.clone()),
        ));
        if let Err(e) = ha.storage.batch(batch).await {
            tracing::debug!(error = %e, "could not delete old forwarding markers");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::{HaConfig, Held, LeaseRecord};
    use crate::storage::memory::MemoryStorage;
    use std::time::{Duration, Instant};

    /// An active node on memory storage (lease written, held).
    async fn active(storage: Arc<dyn Storage>) -> Arc<HaState> {
        let ha = Arc::new(HaState::new(
            storage.clone(),
            "http://127.0.0.1:1".into(),
            HaConfig {
                lease_ttl: Duration::from_secs(10),
                can_lead: true,
            },
        ));
        let record = LeaseRecord {
            holder: ha.node_id.clone(),
            api_addr: ha.api_addr.clone(),
            epoch: 1,
            acquired: String::new(),
        };
        let bytes = serde_json::to_vec(&record).unwrap();
        storage.put(LEASE_KEY, bytes.clone()).await.unwrap();
        ha.become_active(Held {
            lease_bytes: bytes,
            record,
            valid_until: Instant::now() + Duration::from_secs(60),
        });
        ha
    }

    /// Storage whose writes never finish (unreachable).
    struct Stuck(MemoryStorage);

    #[async_trait]
    impl Storage for Stuck {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
            self.0.get(key).await
        }
        async fn list_page(
            &self,
            prefix: &str,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<String>, StorageError> {
            self.0.list_page(prefix, after, limit).await
        }
        async fn batch(&self, _batch: Batch) -> Result<(), StorageError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_step_down_fails_writes_in_flight_at_once() {
        let inner: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let ha = active(inner.clone()).await;
        let stuck: Arc<dyn Storage> = Arc::new(Stuck(MemoryStorage::new()));
        let fenced = Arc::new(FencedStorage::new(stuck, ha.clone()));
        let f = fenced.clone();
        let write = tokio::spawn(async move { f.put("logical/x", b"v".to_vec()).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        ha.step_down("test");
        let out = tokio::time::timeout(Duration::from_secs(2), write)
            .await
            .expect("the write gave up at once")
            .unwrap();
        assert!(matches!(out, Err(StorageError::LeaseLost)), "{out:?}");
        // And a new write is refused before touching storage.
        assert!(matches!(
            fenced.put("logical/y", vec![]).await,
            Err(StorageError::ReadOnly)
        ));
    }

    #[tokio::test]
    async fn forwarded_writes_carry_their_marker_and_old_markers_are_swept() {
        let inner: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let ha = active(inner.clone()).await;
        let fenced = FencedStorage::new(inner.clone(), ha.clone());
        let now = chrono::Utc::now().timestamp();
        let id = format!("{now}-{}", uuid::Uuid::new_v4());
        let wrote = Arc::new(AtomicBool::new(false));
        let out = run_request(Some(&ha), wrote.clone(), Some(id.clone()), async {
            fenced.put("logical/a", b"1".to_vec()).await
        })
        .await;
        assert!(matches!(out, Some(Ok(()))));
        assert!(wrote.load(Ordering::Relaxed));
        assert!(inner.get(&applied_key(&id)).await.unwrap().is_some());
        // A client-chosen id is ignored.
        run_request(Some(&ha), wrote.clone(), Some("1-../x".into()), async {
            fenced.put("logical/b", b"1".to_vec()).await
        })
        .await;
        assert_eq!(inner.list(APPLIED_PREFIX).await.unwrap(), vec![id.clone()]);
        // Sweeping keeps young markers and deletes old ones.
        let old = format!("{}-{}", now - 3600, uuid::Uuid::new_v4());
        inner.put(&applied_key(&old), Vec::new()).await.unwrap();
        sweep_applied(&ha, Duration::from_secs(200)).await;
        assert_eq!(inner.list(APPLIED_PREFIX).await.unwrap(), vec![id]);
    }

    #[test]
    fn forward_ids_are_checked() {
        let id = format!("1764600000-{}", uuid::Uuid::new_v4());
        assert!(valid_forward_id(&id));
        assert_eq!(forward_id_time(&id), Some(1764600000));
        for bad in [
            "",
            "123",
            "x-00000000-0000-0000-0000-000000000000",
            "1-../../core/keyring",
            "1-00000000000000000000000000000000",
        ] {
            assert!(!valid_forward_id(bad), "{bad}");
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
