//! Physical storage: the lowest layer. It stores opaque bytes under string keys.
//!
//! Everything above this layer (the barrier) encrypts before it writes, so a
//! backend never sees plaintext. Backends must be safe to share across tasks and
//! must apply a [`Batch`] atomically: either every operation lands or none does.
//! That single guarantee is what lets the KV engine do check-and-set and what
//! lets HA fence writes with a condition on the lease item.

pub(crate) mod dynamodb;
pub(crate) mod file;
pub(crate) mod memory;
pub(crate) mod wal;

use async_trait::async_trait;

/// A condition that must hold for one key when a batch is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Condition {
    /// The key must not exist.
    Absent,
    /// The key must exist (with any value).
    Present,
    /// The key must hold exactly these bytes (the raw, encrypted value as read).
    Equals(Vec<u8>),
}

/// One operation inside an atomic batch.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Put {
        key: String,
        value: Vec<u8>,
    },
    Delete {
        key: String,
    },
    /// Apply no change, only check the condition (used for fencing).
    Check {
        key: String,
    },
}

impl Op {
    pub(crate) fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } | Op::Check { key } => key,
        }
    }
}

/// An operation with an optional precondition.
#[derive(Debug, Clone)]
pub(crate) struct BatchItem {
    pub(crate) op: Op,
    pub(crate) condition: Option<Condition>,
}

impl BatchItem {
    pub(crate) fn put(key: impl Into<String>, value: Vec<u8>) -> Self {
        Self {
            op: Op::Put {
                key: key.into(),
                value,
            },
            condition: None,
        }
    }
    pub(crate) fn delete(key: impl Into<String>) -> Self {
        Self {
            op: Op::Delete { key: key.into() },
            condition: None,
        }
    }
    pub(crate) fn check(key: impl Into<String>, condition: Condition) -> Self {
        Self {
            op: Op::Check { key: key.into() },
            condition: Some(condition),
        }
    }
    pub(crate) fn when(mut self, condition: Condition) -> Self {
        self.condition = Some(condition);
        self
    }
}

/// A list of operations applied all-or-nothing.
pub(crate) type Batch = Vec<BatchItem>;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StorageError {
    /// A batch condition did not hold; nothing was written.
    #[error("storage condition failed on key {0:?}")]
    ConditionFailed(String),
    /// The backend failed; the operation may be retried.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// This node is an HA standby: it writes nothing (core forwards the
    /// request to the active node).
    #[error("this node is a standby and cannot write")]
    ReadOnly,
    /// This node lost the HA lease; the write did not happen.
    #[error("this node lost the HA lease; the write was not applied")]
    LeaseLost,
    /// The request itself is invalid for this backend (too large, bad key).
    #[error("invalid storage request: {0}")]
    Invalid(String),
}

/// The physical storage interface every backend implements.
#[async_trait]
pub(crate) trait Storage: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        self.batch(vec![BatchItem::put(key, value)]).await
    }

    /// Reads several keys in one round trip where the backend can (DynamoDB
    /// batches them). The barrier reads every key together with the cluster
    /// generation this way, so cache validation costs no extra request.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.get(k).await?);
        }
        Ok(out)
    }

    /// Part of the storage contract (the conformance suite checks it); core
    /// itself deletes through batches.
    #[allow(dead_code)]
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.batch(vec![BatchItem::delete(key)]).await
    }

    /// Lists the immediate children of `prefix`, sorted: plain keys, and
    /// "folders" (a next path segment followed by `/`) once each.
    /// Returns at most `limit` entries strictly after `after`.
    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;

    /// Applies every item atomically, or none if a condition fails.
    async fn batch(&self, batch: Batch) -> Result<(), StorageError>;

    /// Lists every immediate child of `prefix`, paging through the backend.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        const PAGE: usize = 1000;
        let mut out = Vec::new();
        loop {
            let page = self
                .list_page(prefix, out.last().map(String::as_str), PAGE)
                .await?;
            let done = page.len() < PAGE;
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }
}

/// Turns a flat, sorted run of full keys under `prefix` into immediate children.
/// Shared by backends that store keys flat (memory, file).
pub(crate) fn child_of(prefix: &str, key: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    match rest.find('/') {
        Some(i) => Some(rest[..=i].to_string()),
        None => Some(rest.to_string()),
    }
}

/// The smallest key greater than every key that starts with `folder`
/// (which ends in `/`): used to skip a whole folder when listing.
pub(crate) fn after_folder(folder: &str) -> String {
    let mut s = folder[..folder.len() - 1].to_string();
    s.push('0'); // '0' is the byte right after '/'
    s
}

/// Checks a condition against the current value of a key.
pub(crate) fn condition_holds(condition: &Condition, current: Option<&[u8]>) -> bool {
    match condition {
        Condition::Absent => current.is_none(),
        Condition::Present => current.is_some(),
        Condition::Equals(expected) => current == Some(expected.as_slice()),
    }
}

#[cfg(test)]
pub(crate) mod conformance;
