//! Reading items: `GetItem` and `BatchGetItem`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::retry::{retryable, storage_retry_policy};
use super::DynamoStorage;
use crate::storage::StorageError;

/// DynamoDB: at most 100 keys per `BatchGetItem`.
const MAX_BATCH_GET: usize = 100;

impl DynamoStorage {
    pub(super) async fn get_item(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StorageError> {
        let request = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .consistent_read(self.consistent_reads);
        let out = self
            .caller
            .call("GetItem", retryable, || request.clone().send())
            .await
            .map_err(|e| Self::backend_error("GetItem", &e))?;
        Ok(out.item)
    }

    /// Reads items by key with `BatchGetItem` (groups of 100, unprocessed
    /// keys retried with backoff). Returns the items found, in any order.
    pub(super) async fn batch_get(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
        projection: Option<&str>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StorageError> {
        let mut found = Vec::with_capacity(keys.len());
        for group in keys.chunks(MAX_BATCH_GET) {
            let mut pending = group.to_vec();
            let mut delays = storage_retry_policy().backoff();
            while !pending.is_empty() {
                let request_items = KeysAndAttributes::builder()
                    .set_keys(Some(pending.clone()))
                    .consistent_read(self.consistent_reads)
                    .set_projection_expression(projection.map(str::to_string))
                    .build()
                    .map_err(|e| StorageError::Backend(e.to_string()))?;
                let request = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request_items);
                let mut out = self
                    .caller
                    .call("BatchGetItem", retryable, || request.clone().send())
                    .await
                    .map_err(|e| Self::backend_error("BatchGetItem", &e))?;
                if let Some(items) = out.responses.as_mut().and_then(|r| r.remove(&self.table)) {
                    found.extend(items);
                }
                pending = out
                    .unprocessed_keys
                    .as_mut()
                    .and_then(|u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    let Some(delay) = delays.next() else {
                        return Err(StorageError::Backend(format!(
                            "dynamodb BatchGetItem: {} key(s) still unprocessed after retries (throttled)",
                            pending.len()
                        )));
                    };
                    tokio::time::sleep(delay).await;
                }
            }
        }
        Ok(found)
    }
}
