//! Writing a batch: merging it per key, building one `TransactWriteItems`
//! with its conditions and the stale-chunk guard, and handling cancellations.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use sha2::{Digest, Sha256};

use super::chunks::{chunk_count, CHUNK_SIZE, INLINE_MAX};
use super::keys::{chunk_pk, chunk_sk, item_key, marker_keys, parent_dir, value_key};
use super::DynamoStorage;
use crate::storage::{Batch, Condition, Op, StorageError};

/// DynamoDB: at most 100 items per `TransactWriteItems`...
const MAX_TRANSACTION_ITEMS: usize = 100;
/// ... and 4 MB in total (we keep a margin for attribute names and framing).
const MAX_TRANSACTION_BYTES: usize = 4_000_000;
/// Rounds of "the guard found more stale chunks, rebuild the transaction".
const MAX_GUARD_ROUNDS: usize = 8;

/// What a batch does to one key, after merging every item on that key
/// (DynamoDB allows one operation per item in a transaction).
pub(super) struct KeyPlan {
    key: String,
    pk: String,
    sk: String,
    /// Every condition on the key; all must hold (against the state before
    /// the batch, as in the other backends).
    conditions: Vec<Condition>,
    action: Action,
}

enum Action {
    Check,
    Put {
        value: Vec<u8>,
        hash: [u8; 32],
        chunks: usize,
    },
    Delete,
}

impl KeyPlan {
    /// True when a failure of this item's condition may come from the
    /// stale-chunk guard rather than from the caller's conditions.
    fn guarded(&self) -> bool {
        !matches!(self.action, Action::Check) && !self.conditions.contains(&Condition::Absent)
    }

    fn new_chunks(&self) -> usize {
        match self.action {
            Action::Put { chunks, .. } => chunks,
            _ => 0,
        }
    }
}

pub(super) fn plan_batch(batch: Batch) -> Result<Vec<KeyPlan>, StorageError> {
    let mut plans: Vec<KeyPlan> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for item in batch {
        let key = item.op.key().to_string();
        let i = match index.get(&key) {
            Some(&i) => i,
            None => {
                let (pk, sk) = value_key(&key)?;
                plans.push(KeyPlan {
                    key: key.clone(),
                    pk,
                    sk,
                    conditions: Vec::new(),
                    action: Action::Check,
                });
                index.insert(key, plans.len() - 1);
                plans.len() - 1
            }
        };
        let plan = &mut plans[i];
        if let Some(condition) = item.condition {
            plan.conditions.push(condition);
        }
        match item.op {
            Op::Put { value, .. } => {
                let hash: [u8; 32] = Sha256::digest(&value).into();
                let chunks = if value.len() > INLINE_MAX {
                    value.len().div_ceil(CHUNK_SIZE)
                } else {
                    0
                };
                plan.action = Action::Put {
                    value,
                    hash,
                    chunks,
                };
            }
            Op::Delete { .. } => plan.action = Action::Delete,
            Op::Check { .. } => {}
        }
    }
    Ok(plans)
}

/// Builds one item's condition expression.
#[derive(Default)]
struct Expression {
    parts: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn condition(&mut self, condition: &Condition) {
        match condition {
            Condition::Absent => self.parts.push("attribute_not_exists(pk)".to_string()),
            Condition::Present => self.parts.push("attribute_exists(pk)".to_string()),
            Condition::Equals(expected) => {
                let placeholder = format!(":h{}", self.values.len());
                self.names.insert("#h".to_string(), "h".to_string());
                self.values.insert(
                    placeholder.clone(),
                    AttributeValue::B(Blob::new(Sha256::digest(expected).to_vec())),
                );
                self.parts.push(format!("#h = {placeholder}"));
            }
        }
    }

    /// The stale-chunk guard: the old value has at most `chunks` chunks.
    fn guard(&mut self, chunks: usize) {
        self.names.insert("#c".to_string(), "c".to_string());
        self.values
            .insert(":g".to_string(), AttributeValue::N(chunks.to_string()));
        self.parts
            .push("attribute_not_exists(pk) OR #c <= :g".to_string());
    }

    #[allow(clippy::type_complexity)]
    fn into_parts(
        self,
    ) -> (
        Option<String>,
        Option<HashMap<String, String>>,
        Option<HashMap<String, AttributeValue>>,
    ) {
        if self.parts.is_empty() {
            return (None, None, None);
        }
        // DynamoDB rejects redundant parentheses: only parenthesize parts
        // that are combined.
        let expression = if self.parts.len() == 1 {
            self.parts[0].clone()
        } else {
            self.parts
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        (
            Some(expression),
            (!self.names.is_empty()).then_some(self.names),
            (!self.values.is_empty()).then_some(self.values),
        )
    }
}

/// Builds the transaction for `plans`. `old_chunks[i]` is the chunk count
/// of plan `i`'s current value when a previous round learned it. Returns the
/// items and, per item, the plan whose value item (or check) it is.
pub(super) fn build_transaction(
    table: &str,
    plans: &[KeyPlan],
    old_chunks: &HashMap<usize, usize>,
) -> Result<(Vec<TransactWriteItem>, Vec<Option<usize>>), StorageError> {
    let build_err = |e: aws_sdk_dynamodb::error::BuildError| StorageError::Backend(e.to_string());
    let mut items = Vec::new();
    let mut owners = Vec::new();
    let mut bytes = 0usize;
    let mut markers: HashSet<(String, String)> = HashSet::new();
    for (i, plan) in plans.iter().enumerate() {
        let mut expression = Expression::default();
        for condition in &plan.conditions {
            expression.condition(condition);
        }
        let known_old = old_chunks.get(&i).copied().unwrap_or(0);
        // Chunk indexes [cleaned_up, known_old) of the old value are deleted
        // explicitly; the new value overwrites [0, new).
        let cleaned_up = known_old.max(plan.new_chunks());
        if plan.guarded() {
            expression.guard(cleaned_up);
        }
        let (condition, names, values) = expression.into_parts();
        let return_old = plan
            .guarded()
            .then_some(ReturnValuesOnConditionCheckFailure::AllOld);
        bytes += plan.pk.len() + plan.sk.len() + 128;
        match &plan.action {
            Action::Check => {
                if condition.is_none() {
                    continue; // a check without a condition checks nothing
                }
                let check = ConditionCheck::builder()
                    .table_name(table)
                    .key("pk", AttributeValue::S(plan.pk.clone()))
                    .key("sk", AttributeValue::S(plan.sk.clone()))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_err)?;
                items.push(TransactWriteItem::builder().condition_check(check).build());
                owners.push(Some(i));
            }
            Action::Delete => {
                let delete = Delete::builder()
                    .table_name(table)
                    .key("pk", AttributeValue::S(plan.pk.clone()))
                    .key("sk", AttributeValue::S(plan.sk.clone()))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .set_return_values_on_condition_check_failure(return_old)
                    .build()
                    .map_err(build_err)?;
                items.push(TransactWriteItem::builder().delete(delete).build());
                owners.push(Some(i));
            }
            Action::Put {
                value,
                hash,
                chunks,
            } => {
                let mut item = item_key(plan.pk.clone(), plan.sk.clone());
                item.insert("c".to_string(), AttributeValue::N(chunks.to_string()));
                item.insert("h".to_string(), AttributeValue::B(Blob::new(hash.to_vec())));
                if *chunks == 0 {
                    item.insert("v".to_string(), AttributeValue::B(Blob::new(value.clone())));
                    bytes += value.len();
                }
                let put = Put::builder()
                    .table_name(table)
                    .set_item(Some(item))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .set_return_values_on_condition_check_failure(return_old)
                    .build()
                    .map_err(build_err)?;
                items.push(TransactWriteItem::builder().put(put).build());
                owners.push(Some(i));
                for (index, data) in value.chunks(CHUNK_SIZE).enumerate().take(*chunks) {
                    let mut chunk = item_key(chunk_pk(&plan.key), chunk_sk(index));
                    chunk.insert("d".to_string(), AttributeValue::B(Blob::new(data.to_vec())));
                    chunk.insert("h".to_string(), AttributeValue::B(Blob::new(hash.to_vec())));
                    bytes += data.len() + plan.key.len() + 128;
                    let put = Put::builder()
                        .table_name(table)
                        .set_item(Some(chunk))
                        .build()
                        .map_err(build_err)?;
                    items.push(TransactWriteItem::builder().put(put).build());
                    owners.push(None);
                }
                for (pk, sk) in marker_keys(&plan.key) {
                    if markers.insert((pk.clone(), sk.clone())) {
                        bytes += pk.len() + sk.len() + 64;
                        let mut marker = item_key(pk, sk);
                        marker.insert(
                            "g".to_string(),
                            AttributeValue::S(uuid::Uuid::new_v4().to_string()),
                        );
                        let put = Put::builder()
                            .table_name(table)
                            .set_item(Some(marker))
                            .build()
                            .map_err(build_err)?;
                        items.push(TransactWriteItem::builder().put(put).build());
                        owners.push(None);
                    }
                }
            }
        }
        if !matches!(plan.action, Action::Check) {
            for index in plan.new_chunks()..cleaned_up {
                let delete = Delete::builder()
                    .table_name(table)
                    .key("pk", AttributeValue::S(chunk_pk(&plan.key)))
                    .key("sk", AttributeValue::S(chunk_sk(index)))
                    .build()
                    .map_err(build_err)?;
                items.push(TransactWriteItem::builder().delete(delete).build());
                owners.push(None);
                bytes += plan.key.len() + 128;
            }
        }
    }
    if items.len() > MAX_TRANSACTION_ITEMS {
        return Err(StorageError::Invalid(format!(
            "batch too large for one dynamodb transaction: it needs {} items (keys, value chunks of {} KiB, folder markers) and the limit is {MAX_TRANSACTION_ITEMS}",
            items.len(),
            CHUNK_SIZE / 1024
        )));
    }
    if bytes > MAX_TRANSACTION_BYTES {
        return Err(StorageError::Invalid(format!(
            "batch too large for one dynamodb transaction: about {bytes} bytes, the limit is 4 MB"
        )));
    }
    Ok((items, owners))
}

fn condition_holds_on_item(
    condition: &Condition,
    old: Option<&HashMap<String, AttributeValue>>,
) -> bool {
    match condition {
        Condition::Absent => old.is_none(),
        Condition::Present => old.is_some(),
        Condition::Equals(expected) => matches!(
            old.and_then(|item| item.get("h")),
            Some(AttributeValue::B(h)) if h.as_ref() == Sha256::digest(expected).as_slice()
        ),
    }
}

impl DynamoStorage {
    /// `Storage::batch`.
    pub(super) async fn write_batch(&self, batch: Batch) -> Result<(), StorageError> {
        let plans = plan_batch(batch)?;
        let ambiguous = AtomicBool::new(false);
        match self.run_plans(&plans, &ambiguous).await {
            Ok(()) => {}
            // An attempt whose answer was lost may have committed, and its
            // retry then failed its own conditions against our own write.
            Err(StorageError::ConditionFailed(key)) if ambiguous.load(Ordering::Relaxed) => {
                if !self.first_attempt_applied(&plans).await? {
                    return Err(StorageError::ConditionFailed(key));
                }
                tracing::info!(
                    key = %key,
                    "a dynamodb transaction whose answer was lost had committed; its retry's condition failure is not an error"
                );
            }
            Err(e) => return Err(e),
        }
        // A directory the same batch also wrote into is not empty: skip its
        // cleanup (saves a Query per write once KV v2 starts dropping old
        // versions).
        let written: std::collections::HashSet<&str> = plans
            .iter()
            .filter(|p| matches!(p.action, Action::Put { .. }))
            .map(|p| parent_dir(&p.key))
            .collect();
        let deleted: Vec<String> = plans
            .iter()
            .filter(|p| matches!(p.action, Action::Delete))
            .map(|p| parent_dir(&p.key))
            .filter(|d| !d.is_empty() && !written.contains(d))
            .map(str::to_string)
            .collect();
        if !deleted.is_empty() {
            self.cleanup_folders(deleted).await;
        }
        Ok(())
    }

    /// Decides whether a transaction whose answer was lost committed, from
    /// what is stored now: every put's value item carries the hash of
    /// exactly the bytes we sent (barrier values are encrypted under a random
    /// nonce, so no other write produces the same hash) and every deleted key
    /// is gone. A batch of deletes alone is judged by its keys being absent,
    /// which is the state it asked for.
    async fn first_attempt_applied(&self, plans: &[KeyPlan]) -> Result<bool, StorageError> {
        let mut changes = 0;
        for plan in plans {
            let item = match plan.action {
                Action::Check => continue,
                _ => self.get_item(plan.pk.clone(), plan.sk.clone()).await?,
            };
            changes += 1;
            let ours = match (&plan.action, item) {
                (Action::Put { hash, .. }, Some(item)) => matches!(
                    item.get("h"),
                    Some(AttributeValue::B(h)) if h.as_ref() == hash.as_slice()
                ),
                (Action::Delete, None) => true,
                _ => false,
            };
            if !ours {
                return Ok(false);
            }
        }
        Ok(changes > 0)
    }

    /// Runs the transaction for `plans`, rebuilding it while the stale-chunk
    /// guard finds more chunks to delete.
    async fn run_plans(
        &self,
        plans: &[KeyPlan],
        ambiguous: &AtomicBool,
    ) -> Result<(), StorageError> {
        let mut old_chunks: HashMap<usize, usize> = HashMap::new();
        for _ in 0..MAX_GUARD_ROUNDS {
            let (items, owners) = build_transaction(&self.table, plans, &old_chunks)?;
            if items.is_empty() {
                return Ok(());
            }
            let error = match self.transact(items, ambiguous).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let reasons = match &error.error {
                SdkError::ServiceError(service) => match service.err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        c.cancellation_reasons().to_vec()
                    }
                    _ => return Err(Self::backend_error("TransactWriteItems", &error)),
                },
                _ => return Err(Self::backend_error("TransactWriteItems", &error)),
            };
            let failed: Vec<(usize, Option<HashMap<String, AttributeValue>>)> = reasons
                .into_iter()
                .enumerate()
                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(i, r)| (i, r.item))
                .collect();
            if failed.is_empty() {
                return Err(Self::backend_error("TransactWriteItems", &error));
            }
            for (index, old_item) in failed {
                let Some(Some(p)) = owners.get(index).copied() else {
                    return Err(StorageError::Backend(format!(
                        "dynamodb transaction cancelled: unexpected condition failure on item {index}"
                    )));
                };
                let plan = &plans[p];
                if !plan.guarded() {
                    return Err(StorageError::ConditionFailed(plan.key.clone()));
                }
                // The caller's condition or our stale-chunk guard failed:
                // look at the old item to tell which.
                let old_item = match old_item.filter(|i| !i.is_empty()) {
                    Some(item) => Some(item),
                    None => self.get_item(plan.pk.clone(), plan.sk.clone()).await?,
                };
                if !plan
                    .conditions
                    .iter()
                    .all(|c| condition_holds_on_item(c, old_item.as_ref()))
                {
                    return Err(StorageError::ConditionFailed(plan.key.clone()));
                }
                let old = match &old_item {
                    Some(item) => chunk_count(item, &plan.key)?,
                    None => 0,
                };
                let known = old_chunks.entry(p).or_insert(0);
                *known = (*known).max(old);
            }
        }
        Err(StorageError::Backend(
            "dynamodb transaction kept failing its stale-chunk guard (the values changed concurrently); giving up"
                .to_string(),
        ))
    }
}
