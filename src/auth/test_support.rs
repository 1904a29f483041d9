//! Helpers the auth methods' unit tests share: a fresh barrier-backed
//! storage view, a request runner, and a scan of every stored byte (to
//! prove secrets are never stored in clear).

use std::sync::Arc;

use serde_json::Value;

use crate::logical::{Backend, LogicalResult, Operation, Request, StorageView};
use crate::storage::memory::MemoryStorage;
use crate::storage::Storage;

pub(crate) async fn setup() -> (Arc<MemoryStorage>, StorageView) {
    let storage = Arc::new(MemoryStorage::new());
    let barrier = Arc::new(crate::barrier::Barrier::new(storage.clone()));
    barrier
        .initialize(&crate::barrier::random_key())
        .await
        .unwrap();
    (storage, StorageView::new(barrier, "logical/test/"))
}

pub(crate) async fn call<B: Backend>(
    b: &B,
    view: &StorageView,
    op: Operation,
    path: &str,
    body: Value,
) -> LogicalResult {
    let mut req = Request::new(op, format!("auth/test/{path}"));
    req.mount_point = "auth/test/".into();
    req.relative_path = path.into();
    if let Value::Object(m) = body {
        req.data = m;
    }
    b.handle(&req, view).await
}

/// Every plaintext and raw value under the view and the storage, as bytes.
pub(crate) async fn all_bytes(storage: &MemoryStorage, view: &StorageView) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        for child in Storage::list(storage, &dir).await.unwrap() {
            let key = format!("{dir}{child}");
            if key.ends_with('/') {
                stack.push(key);
            } else {
                out.push(key.clone().into_bytes());
                out.push(Storage::get(storage, &key).await.unwrap().unwrap());
            }
        }
    }
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        for child in view.list(&dir).await.unwrap() {
            let key = format!("{dir}{child}");
            if key.ends_with('/') {
                stack.push(key);
            } else {
                out.push(view.get(&key).await.unwrap().unwrap());
            }
        }
    }
    out
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
