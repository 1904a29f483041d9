//! Removing the markers of folders that deletes left empty.

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;

use super::keys::{dir_pk, parent_dir};
use super::retry::retryable;
use super::{corrupt, DynamoStorage};
use crate::aws;
use crate::storage::StorageError;

impl DynamoStorage {
    /// After deleting keys: removes the markers of folders left empty.
    pub(super) async fn cleanup_folders(&self, dirs: Vec<String>) {
        let mut dirs: Vec<String> = dirs
            .into_iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // Deepest first, so a parent is checked after its children.
        dirs.sort_by(|a, b| {
            b.matches('/')
                .count()
                .cmp(&a.matches('/').count())
                .then(a.cmp(b))
        });
        let mut done = HashSet::new();
        for dir in dirs {
            let mut dir = dir;
            while !dir.is_empty() && done.insert(dir.clone()) {
                match self.remove_marker_if_empty(&dir).await {
                    Ok(true) => dir = parent_dir(&dir).to_string(),
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(folder = %dir, error = %e, "could not clean up an empty dynamodb folder marker");
                        break;
                    }
                }
            }
        }
    }

    /// Removes the marker of `dir` (which ends in `/`) if the folder is
    /// empty. Returns true when the folder is gone (so its parent may be
    /// empty now).
    async fn remove_marker_if_empty(&self, dir: &str) -> Result<bool, StorageError> {
        let partition = dir_pk(dir);
        if !self
            .query_page(&partition, None, 1, None)
            .await?
            .items
            .unwrap_or_default()
            .is_empty()
        {
            return Ok(false);
        }
        let parent = parent_dir(dir);
        let (marker_pk, marker_sk) = (dir_pk(parent), dir[parent.len()..].to_string());
        // Read the generation first, then check emptiness again: a put below
        // `dir` committed after this read changes `g`, so the conditional
        // delete fails; one committed before it is seen by the query.
        let Some(marker) = self.get_item(marker_pk.clone(), marker_sk.clone()).await? else {
            return Ok(true);
        };
        let Some(generation) = marker.get("g").cloned() else {
            return Err(corrupt(dir, "folder marker has no generation"));
        };
        if !self
            .query_page(&partition, None, 1, None)
            .await?
            .items
            .unwrap_or_default()
            .is_empty()
        {
            return Ok(false);
        }
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(marker_pk))
            .key("sk", AttributeValue::S(marker_sk))
            .condition_expression("g = :g")
            .expression_attribute_values(":g", generation);
        match self
            .caller
            .call("DeleteItem", retryable, || request.clone().send())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if aws::error_code(&e.error) == Some("ConditionalCheckFailedException") => {
                Ok(false)
            }
            Err(e) => Err(Self::backend_error("DeleteItem", &e)),
        }
    }
}
