//! (placeholder, being written) — temporary stub so the crate compiles.

use async_trait::async_trait;

use super::{Backend, LogicalError, LogicalResult, Request, StorageView};

pub(crate) struct KvV2;

impl KvV2 {
    pub(crate) fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Backend for KvV2 {
    async fn handle(&self, _req: &Request, _view: &StorageView) -> LogicalResult {
        Err(LogicalError::UnsupportedOperation)
    }
}
