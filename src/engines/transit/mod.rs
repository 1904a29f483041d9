//! The transit secrets engine: encryption as a service (Vault's
//! `builtin/logical/transit`).
//!
//! # Scale-out
//!
//! Encrypt, decrypt, rewrap, datakey, sign, verify, hmac, hash and random
//! only *read* a key, so every node (standbys and Lambda instances too)
//! serves them itself. Keys are parsed once per node and kept in a
//! [`GenerationCache`]: a warm key costs no storage read beyond the cluster
//! generation check the request makes anyway. Every key write (create,
//! rotate, config, trim, restore, delete, backup's `backup_info`, encrypt's
//! upsert, auto-rotation) goes through [`StorageView::batch_bump`], so a
//! rotation on the active node is used by every node's next request. On a
//! standby the write fails with `ReadOnly` before anything changed, and the
//! HTTP layer forwards the whole request to the active node.
//!
//! # Storage layout (inside the mount's view)
//!
//! * `policy/<name>`: the [`Policy`] (settings and every available key
//!   version) as JSON.
//! * `cache-config`: the (accepted, unused) cache size setting.
//!
//! # Layout
//!
//! [`policy`] (the model), [`keygen`] (generation, PEM forms), [`crypto`]
//! (AEADs, KDFs, HMAC, hashes, Go-compatible base64), [`asym`] (signatures,
//! RSA-OAEP), [`der`] (RSA key DER), [`backup`] (Vault's backup format), [`batch`]
//! (`batch_input`), and the handlers: [`keys`] (keys, config, rotate, trim,
//! auto-rotation), [`export`] (export, backup, restore), [`encrypt`]
//! (encrypt, decrypt, rewrap, datakey), [`sign`] (sign, verify, hmac),
//! [`misc`] (random, hash, cache-config); [`paths`] declares them all.

mod asym;
mod backup;
mod batch;
mod crypto;
mod der;
mod encrypt;
mod export;
mod keygen;
mod keys;
mod misc;
mod paths;
mod policy;
mod sign;

use std::sync::Arc;

use async_trait::async_trait;

use crate::logical::cache::GenerationCache;
use crate::logical::framework::FrameworkBackend;
use crate::logical::{Backend, LogicalError, LogicalResult, Request, StorageView};
use crate::storage::BatchItem;

pub(crate) use policy::Policy;

/// Why a transit operation failed: the caller's mistake (400) or ours (500).
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum TransitError {
    #[error("{0}")]
    User(String),
    #[error("{0}")]
    Internal(String),
}

impl TransitError {
    pub(crate) fn user(m: impl Into<String>) -> Self {
        TransitError::User(m.into())
    }
    pub(crate) fn internal(m: impl Into<String>) -> Self {
        TransitError::Internal(m.into())
    }
}

impl From<TransitError> for LogicalError {
    fn from(e: TransitError) -> Self {
        match e {
            TransitError::User(m) => LogicalError::BadRequest(m),
            TransitError::Internal(m) => LogicalError::Internal(m),
        }
    }
}

/// Vault's multierror text, which some transit refusals answer with. Vault
/// sends them as 500s (backup/restore/export refusals); they are the
/// client's doing, and bad input is a 400 here, with Vault's text.
pub(crate) fn multierror(msg: &str) -> LogicalError {
    LogicalError::BadRequest(format!("1 error occurred:\n\t* {msg}\n\n"))
}

pub(crate) fn policy_key(name: &str) -> String {
    format!("policy/{name}")
}

/// What every handler shares: the per-node key cache and a lock that
/// serializes this node's key writes (only the active node writes).
#[derive(Default)]
pub(crate) struct Transit {
    cache: GenerationCache<Policy>,
    write_lock: tokio::sync::Mutex<()>,
}

fn parse_policy(bytes: &[u8]) -> Result<Policy, LogicalError> {
    serde_json::from_slice(bytes)
        .map_err(|e| LogicalError::Internal(format!("stored transit key is corrupt: {e}")))
}

impl Transit {
    /// The key `name` as of this request (from the cache when current).
    pub(crate) async fn load(
        &self,
        view: &StorageView,
        name: &str,
    ) -> Result<Option<Arc<Policy>>, LogicalError> {
        self.cache
            .get_or_load(view, &policy_key(name), parse_policy)
            .await
    }

    /// The key read fresh from storage, for a read-modify-write (call with
    /// the write lock held).
    pub(crate) async fn load_fresh(
        &self,
        view: &StorageView,
        name: &str,
    ) -> Result<Option<Policy>, LogicalError> {
        match view.get(&policy_key(name)).await? {
            Some(b) => parse_policy(&b).map(Some),
            None => Ok(None),
        }
    }

    /// Writes `p`, changing the cluster generation in the same batch.
    pub(crate) async fn store(&self, view: &StorageView, p: &Policy) -> Result<(), LogicalError> {
        let bytes = serde_json::to_vec(p)
            .map_err(|e| LogicalError::Internal(format!("encoding transit key: {e}")))?;
        view.batch_bump(vec![BatchItem::put(policy_key(&p.name), bytes)])
            .await?;
        self.cache.remove(&policy_key(&p.name));
        Ok(())
    }

    pub(crate) async fn remove(&self, view: &StorageView, name: &str) -> Result<(), LogicalError> {
        view.batch_bump(vec![BatchItem::delete(policy_key(name))])
            .await?;
        self.cache.remove(&policy_key(name));
        Ok(())
    }
}

/// The mounted engine: the declared paths plus the periodic auto-rotation.
pub(crate) struct TransitBackend {
    inner: FrameworkBackend<Transit>,
}

pub(crate) fn backend() -> TransitBackend {
    TransitBackend {
        inner: FrameworkBackend::new(Transit::default(), paths::paths()),
    }
}

#[async_trait]
impl Backend for TransitBackend {
    async fn handle(&self, req: &Request, view: &StorageView) -> LogicalResult {
        self.inner.handle(req, view).await
    }

    async fn exists(&self, req: &Request, view: &StorageView) -> Result<bool, LogicalError> {
        self.inner.exists(req, view).await
    }

    async fn periodic(&self, view: &StorageView) -> Result<(), LogicalError> {
        self.inner.state.auto_rotate(view).await
    }
}

#[cfg(test)]
mod tests;
