//! (placeholder, being written) — temporary stub so the crate compiles.

use async_trait::async_trait;

use super::{Backend, LogicalError, LogicalResult, Request, StorageView};

pub(crate) struct KvV1;

impl KvV1 {
    pub(crate) fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Backend for KvV1 {
    async fn handle(&self, _req: &Request, _view: &StorageView) -> LogicalResult {
        Err(LogicalError::UnsupportedOperation)
    }
}
