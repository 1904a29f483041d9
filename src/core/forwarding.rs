//! The cluster forwarding key: 32 random bytes behind the barrier at
//! [`FORWARDING_KEY_PATH`], with which a standby (or a Lambda instance)
//! signs the requests it forwards to the active node, so the active node
//! can believe the client address (and client certificate) they carry.
//!
//! The active node creates it once (conditioned on absence, so two nodes
//! racing through a failover cannot end up with different keys); every node
//! caches it after its first successful read. A standby that finds no key
//! yet forwards unsigned, and the active node then judges the request by
//! its TCP peer, as it always did.

use std::sync::{Arc, RwLock};

use rand::RngCore;
use zeroize::Zeroizing;

use super::Core;
use crate::storage::{BatchItem, Condition};

/// Where the key lives (barrier-encrypted).
pub(crate) const FORWARDING_KEY_PATH: &str = "core/forwarding-key";

/// The key, once read (never cleared: the value never changes).
#[derive(Default)]
pub(crate) struct ForwardingKeyCache {
    key: RwLock<Option<Arc<Zeroizing<Vec<u8>>>>>,
}

impl ForwardingKeyCache {
    fn cached(&self) -> Option<Arc<Zeroizing<Vec<u8>>>> {
        self.key.read().ok()?.clone()
    }

    fn store(&self, key: Vec<u8>) -> Arc<Zeroizing<Vec<u8>>> {
        let key = Arc::new(Zeroizing::new(key));
        if let Ok(mut k) = self.key.write() {
            *k = Some(key.clone());
        }
        key
    }
}

impl Core {
    /// The forwarding key, if it exists (and this node is unsealed). Reads
    /// storage until the key has been seen once; on the active node it is
    /// created when missing.
    pub(crate) async fn forwarding_key(&self) -> Option<Arc<Zeroizing<Vec<u8>>>> {
        if let Some(k) = self.forwarding_key.cached() {
            return Some(k);
        }
        if self.is_sealed() {
            return None;
        }
        match self.barrier.get(FORWARDING_KEY_PATH).await {
            Ok(Some(k)) if k.len() == 32 => return Some(self.forwarding_key.store(k)),
            Ok(Some(_)) => {
                tracing::error!("the cluster forwarding key has the wrong length; forwarded client addresses are not believed");
                return None;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the cluster forwarding key");
                return None;
            }
        }
        if !self.is_active() {
            return None;
        }
        self.create_forwarding_key().await
    }

    /// Creates the key if no node has yet (active node only).
    pub(crate) async fn ensure_forwarding_key(&self) {
        let _ = self.forwarding_key().await;
    }

    async fn create_forwarding_key(&self) -> Option<Arc<Zeroizing<Vec<u8>>>> {
        let mut k = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        let item = BatchItem::put(FORWARDING_KEY_PATH, k.clone()).when(Condition::Absent);
        match self.barrier.batch(vec![item]).await {
            Ok(()) => {
                tracing::info!("created the cluster forwarding key");
                Some(self.forwarding_key.store(k))
            }
            Err(e) => {
                // Most likely another node created it first: read it.
                tracing::debug!(error = %e, "creating the cluster forwarding key failed");
                match self.barrier.get(FORWARDING_KEY_PATH).await {
                    Ok(Some(k)) if k.len() == 32 => Some(self.forwarding_key.store(k)),
                    _ => None,
                }
            }
        }
    }
}
