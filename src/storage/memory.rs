//! In-memory storage: for `server -dev` and tests. Nothing survives a restart.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use async_trait::async_trait;

use super::{after_folder, child_of, condition_holds, Batch, Op, Storage, StorageError};

#[derive(Default)]
pub(crate) struct MemoryStorage {
    // std RwLock: no lock is ever held across an await.
    data: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStorage {
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

fn poisoned() -> StorageError {
    StorageError::Backend("memory storage lock poisoned".into())
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.data.read().map_err(|_| poisoned())?.get(key).cloned())
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let data = self.data.read().map_err(|_| poisoned())?;
        let mut out: Vec<String> = Vec::new();
        let mut cursor: Bound<String> = match after {
            Some(a) if a.ends_with('/') => Bound::Included(format!("{prefix}{}", after_folder(a))),
            Some(a) => Bound::Excluded(format!("{prefix}{a}")),
            None => Bound::Included(prefix.to_string()),
        };
        while out.len() < limit {
            let next = data
                .range::<String, _>((cursor.clone(), Bound::Unbounded))
                .next();
            let Some((key, _)) = next else { break };
            if !key.starts_with(prefix) {
                break;
            }
            let Some(child) = child_of(prefix, key) else {
                break;
            };
            cursor = if child.ends_with('/') {
                Bound::Included(format!("{prefix}{}", after_folder(&child)))
            } else {
                Bound::Excluded(key.clone())
            };
            out.push(child);
        }
        Ok(out)
    }

    async fn batch(&self, batch: Batch) -> Result<(), StorageError> {
        let mut data = self.data.write().map_err(|_| poisoned())?;
        for item in &batch {
            if let Some(cond) = &item.condition {
                let key = item.op.key();
                if !condition_holds(cond, data.get(key).map(Vec::as_slice)) {
                    return Err(StorageError::ConditionFailed(key.to_string()));
                }
            }
        }
        for item in batch {
            match item.op {
                Op::Put { key, value } => {
                    data.insert(key, value);
                }
                Op::Delete { key } => {
                    data.remove(&key);
                }
                Op::Check { .. } => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        crate::storage::conformance::run_all(&MemoryStorage::new()).await;
    }
}
