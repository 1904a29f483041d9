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
    /// Batches waiting for the group-commit writer thread.
    writer: std::sync::Mutex<Option<std::sync::mpsc::Sender<PendingBatch>>>,
    writer_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for FileStorage {
    /// Stops the writer thread (after it has committed what it was given)
    /// so the database file is closed when the storage is.
    fn drop(&mut self) {
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        if let Some(handle) = self.writer_thread.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
    }
}

/// A batch and where to send its outcome.
type PendingBatch = (
    Batch,
    tokio::sync::oneshot::Sender<Result<(), StorageError>>,
);

/// Most batches committed together in one transaction (one fsync).
const GROUP_MAX: usize = 256;

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
        let db = Arc::new(db);
        let (tx, rx) = std::sync::mpsc::channel::<PendingBatch>();
        let writer_db = db.clone();
        let handle = std::thread::Builder::new()
            .name("strongroom-file-writer".into())
            .spawn(move || group_commit_loop(&writer_db, rx))
            .map_err(|e| StorageError::Backend(format!("starting the writer thread: {e}")))?;
        Ok(Self {
            db,
            writer: std::sync::Mutex::new(Some(tx)),
            writer_thread: std::sync::Mutex::new(Some(handle)),
        })
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
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer
            .lock()
            .map_err(|_| StorageError::Backend("writer lock poisoned".into()))?
            .as_ref()
            .ok_or_else(|| StorageError::Backend("the storage is closed".into()))?
            .send((batch, tx))
            .map_err(|_| StorageError::Backend("the storage writer thread stopped".into()))?;
        rx.await
            .map_err(|_| StorageError::Backend("the storage writer thread stopped".into()))?
    }
}

/// Group commit: the writer thread takes every batch that is waiting, applies
/// them in order inside ONE redb transaction — each batch all-or-nothing,
/// its conditions checked against the state the batches before it left —
/// and commits (one fsync) before acknowledging any of them. Concurrent
/// writers then share an fsync instead of queueing for one each, and every
/// acknowledged write is still durable.
fn group_commit_loop(db: &Database, rx: std::sync::mpsc::Receiver<PendingBatch>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(more) => group.push(more),
                Err(_) => break,
            }
        }
        let batches: Vec<&Batch> = group.iter().map(|(b, _)| b).collect();
        match apply_group(db, &batches) {
            Ok(outcomes) => {
                for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                // Nothing was committed: every batch in the group failed.
                let msg = e.to_string();
                for (_, reply) in group {
                    let _ = reply.send(Err(StorageError::Backend(msg.clone())));
                }
            }
        }
    }
}

/// Applies a group of batches in one transaction; returns each batch's
/// outcome (condition failures are per batch), or an error when the
/// transaction itself failed and nothing was written.
fn apply_group(
    db: &Database,
    batches: &[&Batch],
) -> Result<Vec<Result<(), StorageError>>, StorageError> {
    let txn = db.begin_write().map_err(backend)?;
    let mut outcomes = Vec::with_capacity(batches.len());
    {
        let mut table = txn.open_table(TABLE).map_err(backend)?;
        for batch in batches {
            let mut failed = None;
            for item in batch.iter() {
                if let Some(cond) = &item.condition {
                    let key = item.op.key();
                    let current = table.get(key).map_err(backend)?.map(|v| v.value().to_vec());
                    if !condition_holds(cond, current.as_deref()) {
                        failed = Some(StorageError::ConditionFailed(key.to_string()));
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                outcomes.push(Err(e));
                continue;
            }
            for item in batch.iter() {
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
            outcomes.push(Ok(()));
        }
    }
    txn.commit().map_err(backend)?;
    Ok(outcomes)
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

    /// Group commit keeps each batch atomic and conditions serial: many
    /// concurrent compare-and-set increments never lose or double an update.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_conditional_writers() {
        use crate::storage::{BatchItem, Condition};
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = Arc::new(FileStorage::open(dir.path()).expect("open"));
        storage.put("n", b"0".to_vec()).await.expect("seed");
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = storage.clone();
            tasks.push(tokio::spawn(async move {
                let mut ok = 0u32;
                for _ in 0..20 {
                    let cur = s.get("n").await.expect("get").expect("present");
                    let n: u32 = String::from_utf8_lossy(&cur).parse().expect("number");
                    let next = (n + 1).to_string().into_bytes();
                    match s
                        .batch(vec![BatchItem::put("n", next).when(Condition::Equals(cur))])
                        .await
                    {
                        Ok(()) => ok += 1,
                        Err(StorageError::ConditionFailed(_)) => {}
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                ok
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("task");
        }
        let end = storage.get("n").await.expect("get").expect("present");
        assert_eq!(String::from_utf8_lossy(&end), total.to_string());
        assert!(total > 0);
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
