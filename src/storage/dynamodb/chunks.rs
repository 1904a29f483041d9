//! Values over 350 KiB, stored as chunk items: reading them back together.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use super::keys::{chunk_pk, chunk_sk, item_key};
use super::{corrupt, DynamoStorage};
use crate::storage::StorageError;

/// Values up to this size are stored inline in their value item.
pub(super) const INLINE_MAX: usize = 350 * 1024;
/// Size of one chunk of a larger value.
pub(super) const CHUNK_SIZE: usize = 350 * 1024;

pub(super) fn chunk_count(
    item: &HashMap<String, AttributeValue>,
    key: &str,
) -> Result<usize, StorageError> {
    match item.get("c") {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| corrupt(key, "bad chunk count")),
        None => Ok(0),
        _ => Err(corrupt(key, "bad chunk count")),
    }
}

impl DynamoStorage {
    /// Turns a value item into the value, reading its chunks if it has any.
    /// `Ok(None)` means the chunks belong to a different version of the value
    /// (a concurrent write): read the value item again.
    pub(super) async fn assemble(
        &self,
        key: &str,
        mut item: HashMap<String, AttributeValue>,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let chunks = chunk_count(&item, key)?;
        if chunks == 0 {
            return match item.remove("v") {
                Some(AttributeValue::B(b)) => Ok(Some(b.into_inner())),
                _ => Err(corrupt(key, "value item has neither a value nor chunks")),
            };
        }
        let hash = match item.remove("h") {
            Some(AttributeValue::B(b)) => b.into_inner(),
            _ => return Err(corrupt(key, "chunked value item has no hash")),
        };
        let pk = chunk_pk(key);
        let keys = (0..chunks)
            .map(|i| item_key(pk.clone(), chunk_sk(i)))
            .collect();
        let items = self.batch_get(keys, None).await?;
        let mut parts: Vec<Option<Vec<u8>>> = vec![None; chunks];
        for mut chunk in items {
            let index = match chunk.get("sk") {
                Some(AttributeValue::S(s)) => s.parse::<usize>().ok(),
                _ => None,
            };
            let same_version = matches!(chunk.get("h"), Some(AttributeValue::B(b)) if b.as_ref() == hash.as_slice());
            match (index, chunk.remove("d")) {
                (Some(i), Some(AttributeValue::B(data))) if i < chunks && same_version => {
                    parts[i] = Some(data.into_inner())
                }
                _ => return Ok(None),
            }
        }
        let mut value = Vec::with_capacity(chunks * CHUNK_SIZE);
        for part in parts {
            match part {
                Some(p) => value.extend_from_slice(&p),
                None => return Ok(None),
            }
        }
        if Sha256::digest(&value).as_slice() != hash.as_slice() {
            return Ok(None);
        }
        Ok(Some(value))
    }
}
