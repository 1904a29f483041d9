//! The item layout: a storage key's `pk`/`sk`, chunk items and folder markers.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::storage::StorageError;

/// DynamoDB key attribute limits (bytes).
pub(super) const MAX_PARTITION_KEY: usize = 2048;
const MAX_SORT_KEY: usize = 1024;
/// Prefix of the partition holding a chunked value's chunks.
const CHUNK_PARTITION: &str = "chunks:";

/// The directory of a key (up to and including its last `/`, or "").
pub(super) fn parent_dir(key: &str) -> &str {
    let trimmed = key.strip_suffix('/').unwrap_or(key);
    match trimmed.rfind('/') {
        Some(i) => &key[..=i],
        None => "",
    }
}

pub(super) fn dir_pk(dir: &str) -> String {
    format!("/{dir}")
}

pub(super) fn chunk_pk(key: &str) -> String {
    format!("{CHUNK_PARTITION}{key}")
}

pub(super) fn chunk_sk(index: usize) -> String {
    format!("{index:05}")
}

pub(super) fn item_key(pk: String, sk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk)),
        ("sk".to_string(), AttributeValue::S(sk)),
    ])
}

/// Splits a storage key into the `(pk, sk)` of its value item.
pub(super) fn value_key(key: &str) -> Result<(String, String), StorageError> {
    if key.is_empty() || key.ends_with('/') {
        return Err(StorageError::Invalid(format!(
            "storage key {key:?} must be non-empty and not end in '/'"
        )));
    }
    let dir = parent_dir(key);
    let name = &key[dir.len()..];
    let pk = dir_pk(dir);
    if name.len() > MAX_SORT_KEY
        || pk.len() > MAX_PARTITION_KEY
        || chunk_pk(key).len() > MAX_PARTITION_KEY
    {
        return Err(StorageError::Invalid(format!(
            "storage key is too long for dynamodb (last segment at most {MAX_SORT_KEY} bytes, whole key at most {} bytes): {:?}...",
            MAX_PARTITION_KEY - CHUNK_PARTITION.len(),
            &key[..key.floor_char_boundary(64)]
        )));
    }
    Ok((pk, name.to_string()))
}

/// `(pk, sk)` of the folder markers of every ancestor directory of `key`.
pub(super) fn marker_keys(key: &str) -> Vec<(String, String)> {
    key.match_indices('/')
        .map(|(i, _)| {
            let folder = &key[..=i];
            let parent = parent_dir(folder);
            (dir_pk(parent), folder[parent.len()..].to_string())
        })
        .collect()
}
