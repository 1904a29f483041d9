//! Embedded durable storage on one redb file, for single-node servers.
//!
//! redb commits are crash-safe (copy-on-write B-trees with a checksummed
//! commit slot) and fsync before `commit` returns, so an acknowledged write
//! survives kill -9 and power loss. redb is synchronous; every call runs on
//! tokio's blocking pool so request tasks never block a worker thread.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{after_folder, child_of, condition_holds, Batch, Op, Storage, StorageError};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("strongroom");

pub(crate) struct FileStorage {
    db: Arc<Database>,
}

fn backend<E: std::fmt::Display>(e: E) -> StorageError {
    StorageError::Backend(e.to_string())
}

impl FileStorage {
    /// Opens (or creates) the database at `dir/strongroom.redb`.
    pub(crate) fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StorageError::Backend(format!("creating {}: {e}", dir.display())))?;
        let db = Database::create(dir.join("strongroom.redb")).map_err(backend)?;
        // Make sure the table exists so readers never see "table missing".
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(TABLE).map_err(backend)?;
        txn.commit().map_err(backend)?;
        Ok(Self { db: Arc::new(db) })
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StorageError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StorageError::Backend(format!("storage task failed: {e}")))?
    }
}

#[async_trait]
impl Storage for FileStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(TABLE).map_err(backend)?;
            Ok(table
                .get(key.as_str())
                .map_err(backend)?
                .map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let prefix = prefix.to_string();
        let after = after.map(str::to_string);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(TABLE).map_err(backend)?;
            let mut out: Vec<String> = Vec::new();
            let mut cursor: Bound<String> = match &after {
                Some(a) if a.ends_with('/') => {
                    Bound::Included(format!("{prefix}{}", after_folder(a)))
                }
                Some(a) => Bound::Excluded(format!("{prefix}{a}")),
                None => Bound::Included(prefix.clone()),
            };
            while out.len() < limit {
                let bounds: (Bound<&str>, Bound<&str>) = match &cursor {
                    Bound::Included(s) => (Bound::Included(s.as_str()), Bound::Unbounded),
                    Bound::Excluded(s) => (Bound::Excluded(s.as_str()), Bound::Unbounded),
                    Bound::Unbounded => (Bound::Unbounded, Bound::Unbounded),
                };
                let mut range = table.range::<&str>(bounds).map_err(backend)?;
                let Some(entry) = range.next() else { break };
                let (k, _) = entry.map_err(backend)?;
                let key = k.value().to_string();
                if !key.starts_with(&prefix) {
                    break;
                }
                let Some(child) = child_of(&prefix, &key) else {
                    break;
                };
                cursor = if child.ends_with('/') {
                    Bound::Included(format!("{prefix}{}", after_folder(&child)))
                } else {
                    Bound::Excluded(key)
                };
                out.push(child);
            }
            Ok(out)
        })
        .await
    }

    async fn batch(&self, batch: Batch) -> Result<(), StorageError> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(TABLE).map_err(backend)?;
                for item in &batch {
                    if let Some(cond) = &item.condition {
                        let key = item.op.key();
                        let current = table.get(key).map_err(backend)?.map(|v| v.value().to_vec());
                        if !condition_holds(cond, current.as_deref()) {
                            // Dropping the transaction without commit aborts it.
                            return Err(StorageError::ConditionFailed(key.to_string()));
                        }
                    }
                }
                for item in &batch {
                    match &item.op {
                        Op::Put { key, value } => {
                            table
                                .insert(key.as_str(), value.as_slice())
                                .map_err(backend)?;
                        }
                        Op::Delete { key } => {
                            table.remove(key.as_str()).map_err(backend)?;
                        }
                        Op::Check { .. } => {}
                    }
                }
            }
            txn.commit().map_err(backend)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = FileStorage::open(dir.path()).expect("open");
        crate::storage::conformance::run_all(&storage).await;
    }

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let storage = FileStorage::open(dir.path()).expect("open");
            storage.put("a/b", b"v".to_vec()).await.expect("put");
        }
        let storage = FileStorage::open(dir.path()).expect("reopen");
        assert_eq!(storage.get("a/b").await.expect("get"), Some(b"v".to_vec()));
    }
}
