//! Listing: one paginated `Query` on a directory's partition.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::keys::{dir_pk, MAX_PARTITION_KEY};
use super::retry::retryable;
use super::DynamoStorage;
use crate::storage::StorageError;

impl DynamoStorage {
    pub(super) async fn query_page(
        &self,
        pk: &str,
        start: Option<(&str, &str)>,
        limit: usize,
        exclusive_start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StorageError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(self.consistent_reads)
            .projection_expression("sk")
            .expression_attribute_values(":p", AttributeValue::S(pk.to_string()))
            .limit(limit.clamp(1, 10_000) as i32)
            .set_exclusive_start_key(exclusive_start);
        request = match start {
            Some((op, sk)) => request
                .key_condition_expression(format!("pk = :p AND sk {op} :s"))
                .expression_attribute_values(":s", AttributeValue::S(sk.to_string())),
            None => request.key_condition_expression("pk = :p"),
        };
        self.caller
            .call("Query", retryable, || request.clone().send())
            .await
            .map_err(|e| Self::backend_error("Query", &e))
    }

    /// `Storage::list_page`.
    pub(super) async fn list_entries(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        let rest = &prefix[dir.len()..];
        let pk = dir_pk(dir);
        if pk.len() > MAX_PARTITION_KEY {
            return Ok(out);
        }
        let start_after = after.map(|a| format!("{rest}{a}"));
        let start = match &start_after {
            Some(s) => Some((">", s.as_str())),
            None if !rest.is_empty() => Some((">=", rest)),
            None => None,
        };
        let mut exclusive_start = None;
        loop {
            let page = self
                .query_page(&pk, start, limit - out.len(), exclusive_start)
                .await?;
            for item in page.items.unwrap_or_default() {
                let Some(AttributeValue::S(sk)) = item.get("sk") else {
                    continue;
                };
                let Some(entry) = sk.strip_prefix(rest) else {
                    return Ok(out); // sorted: nothing further starts with `rest`
                };
                out.push(entry.to_string());
                if out.len() == limit {
                    return Ok(out);
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => exclusive_start = Some(key),
                _ => return Ok(out),
            }
        }
    }
}
