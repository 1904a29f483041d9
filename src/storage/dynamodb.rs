//! DynamoDB storage backend.
//!
//! # Options (`storage "dynamodb" { ... }`)
//!
//! | option             | default                    | environment fallback                          |
//! |--------------------|----------------------------|-----------------------------------------------|
//! | `table`            | `strongroom`               | `AWS_DYNAMODB_TABLE`                          |
//! | `region`           | SDK chain, then us-east-1  | `AWS_REGION`, `AWS_DEFAULT_REGION`, profile   |
//! | `endpoint`         | real AWS                   | `AWS_DYNAMODB_ENDPOINT`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL` |
//! | `access_key`, `secret_key`, `session_token` | SDK credential chain | `AWS_ACCESS_KEY_ID`, ... (SDK chain) |
//! | `create_table`     | `false`                    | create an on-demand table when it is missing  |
//! | `consistent_reads` | `true`                     | strongly consistent `GetItem`/`BatchGetItem`/`Query` |
//! | `ha_enabled`       | `false`                    | `DYNAMODB_HA_ENABLED` (kept for the HA milestone) |
//!
//! Values may be strings (`"true"`) or native booleans.
//!
//! # Item layout
//!
//! One table, key schema `pk` (S, HASH) + `sk` (S, RANGE). A storage key
//! `a/b/c` splits at its last `/` into its directory `a/b/` and its name `c`.
//!
//! * **Value item** — `pk = "/" + directory` (`/a/b/`; the root directory is
//!   `/`), `sk = name` (`c`). Attributes: `c` (N) chunk count, `h` (B) SHA-256
//!   of the whole value, and `v` (B) the value itself when `c = 0`.
//! * **Folder marker** — one for every ancestor directory of every stored key:
//!   the folder `a/b/` is the item `pk = "/a/"`, `sk = "b/"`, with `g` (S) a
//!   random generation rewritten by every put below it. Markers are written in
//!   the same `TransactWriteItems` as the put, so they can never half-apply.
//! * **Chunk item** — values over 350 KiB (DynamoDB items max out at 400 KB)
//!   are split into 350 KiB chunks: `pk = "chunks:" + key`, `sk` = the chunk
//!   index as five digits, `d` (B) the bytes and `h` (B) the whole value's
//!   hash. The value item then carries `c = number of chunks` and no `v`.
//!
//! Because a directory's immediate children (keys *and* folder markers, whose
//! `sk` ends in `/`) are exactly the items of its partition, sorted by `sk`
//! byte-wise, `list_page` is a paginated `Query` on one partition (never a
//! `Scan`), and returns each folder once without reading what is inside.
//!
//! # Request budget
//!
//! * `get`: one `GetItem` (two requests for a chunked value: `GetItem`, then
//!   one `BatchGetItem` for all its chunks).
//! * `get_many`: one `BatchGetItem` for up to 100 keys.
//! * `put`/`delete`/`batch`: one `TransactWriteItems` (atomic; at most 100
//!   transaction items and 4 MB, else `StorageError::Invalid`). Conditions
//!   become condition expressions: `Absent` → `attribute_not_exists(pk)`,
//!   `Present` → `attribute_exists(pk)`, `Equals(v)` → `h = sha256(v)` (so it
//!   works for chunked values too); `Op::Check` → `ConditionCheck`.
//! * `list_page`: one `Query` per page.
//!
//! **Stale chunks.** A put or delete must remove the chunks of a previous,
//! larger value in the same transaction, but reading the old chunk count first
//! would cost a request on every write. Instead each write of a value item
//! carries a guard `attribute_not_exists(pk) OR c <= :known`, where `known` is
//! the largest chunk count the transaction already cleans up (the new value's
//! own chunk count, as those chunks are overwritten). If the old value had more
//! chunks, the guard fails, the transaction is cancelled, and the cancellation
//! reason returns the old item (`ReturnValuesOnConditionCheckFailure =
//! ALL_OLD`): the caller's own condition is evaluated against it — failing
//! means `ConditionFailed` — and otherwise the transaction is rebuilt with
//! `Delete`s for the stale chunks. Writes over small values (the usual case)
//! stay at one request.
//!
//! **Empty folders.** Deleting a key leaves its folder markers behind, so
//! after a transaction that deleted keys commits, each affected directory is
//! checked (one `Query` with `Limit = 1`); when it is empty its marker is
//! removed with a `DeleteItem` conditioned on the marker's generation `g` read
//! *before* the emptiness check. A concurrent put below that folder rewrites
//! `g` in its own transaction, so the conditional delete then fails and the
//! marker stays: cleanup can never hide a non-empty folder. The check walks up
//! while folders become empty. It is best effort: if it fails (or the process
//! dies in between) an empty folder may stay listed until the next delete in it
//! — it never loses data. A delete therefore costs one transaction plus one
//! `Query` per directory it empties (plus a `GetItem`/`Query`/`DeleteItem` per
//! removed marker).
//!
//! **Contention.** Every put rewrites the markers of its ancestors, so
//! concurrent transactions under the same folder touch a common item and
//! DynamoDB may cancel one with `TransactionConflict`; those, throttling, 5xx
//! and network errors are retried with jittered exponential backoff
//! (`backon`) within a 20 s deadline. The SDK's own retries are disabled, so
//! every HTTP attempt is counted in `strongroom_aws_requests_total`. A
//! `ClientRequestToken` makes a retried transaction idempotent.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, KeySchemaElement,
    KeyType, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
    TableStatus, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Batch, Condition, Op, Storage, StorageError};
use crate::aws::{self, AwsCaller, ClientSettings, RetryPolicy};

/// Values up to this size are stored inline in their value item.
const INLINE_MAX: usize = 350 * 1024;
/// Size of one chunk of a larger value.
const CHUNK_SIZE: usize = 350 * 1024;
/// DynamoDB: at most 100 items per `TransactWriteItems`...
const MAX_TRANSACTION_ITEMS: usize = 100;
/// ... and 4 MB in total (we keep a margin for attribute names and framing).
const MAX_TRANSACTION_BYTES: usize = 4_000_000;
/// DynamoDB key attribute limits (bytes).
const MAX_PARTITION_KEY: usize = 2048;
const MAX_SORT_KEY: usize = 1024;
/// DynamoDB: at most 100 keys per `BatchGetItem`.
const MAX_BATCH_GET: usize = 100;
/// Prefix of the partition holding a chunked value's chunks.
const CHUNK_PARTITION: &str = "chunks:";
/// Rounds of "the guard found more stale chunks, rebuild the transaction".
const MAX_GUARD_ROUNDS: usize = 8;

const SERVICE: &str = "dynamodb";

/// Parsed `storage "dynamodb"` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DynamoOptions {
    pub(crate) table: String,
    pub(crate) region: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) access_key: Option<String>,
    pub(crate) secret_key: Option<String>,
    pub(crate) session_token: Option<String>,
    pub(crate) ha_enabled: bool,
    pub(crate) create_table: bool,
    pub(crate) consistent_reads: bool,
}

const KNOWN_OPTIONS: &[&str] = &[
    "table",
    "region",
    "endpoint",
    "access_key",
    "secret_key",
    "session_token",
    "ha_enabled",
    "create_table",
    "consistent_reads",
    // Read by the server's HA wiring, not by the backend.
    "lease_ttl",
    // Vault's DynamoDB options that do not apply here (on-demand tables).
    "max_parallel",
    "read_capacity",
    "write_capacity",
];

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A string option; numbers and booleans are accepted and stringified.
pub(crate) fn opt_string(
    options: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, String> {
    match options.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("option {name:?} must be a string, got {other}")),
    }
}

/// A boolean option given as a boolean or as a string ("true", "false", "1", "0").
pub(crate) fn opt_bool(options: &Map<String, Value>, name: &str) -> Result<Option<bool>, String> {
    match opt_string(options, name)? {
        None => Ok(None),
        Some(s) => parse_bool(&s)
            .map(Some)
            .ok_or_else(|| format!("option {name:?} must be true or false, got {s:?}")),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl DynamoOptions {
    /// Parses the stanza's options, falling back to the environment.
    pub(crate) fn parse(options: &Map<String, Value>) -> Result<Self, String> {
        for name in options.keys() {
            if !KNOWN_OPTIONS.contains(&name.as_str()) {
                tracing::warn!(option = %name, "ignoring unknown dynamodb storage option");
            }
        }
        let table = opt_string(options, "table")?
            .or_else(|| env_nonempty("AWS_DYNAMODB_TABLE"))
            .unwrap_or_else(|| "strongroom".to_string());
        if table.len() < 3
            || table.len() > 255
            || !table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(format!(
                "dynamodb table name {table:?} is invalid (3-255 characters of a-z, A-Z, 0-9, '_', '-', '.')"
            ));
        }
        let ha_enabled = match opt_bool(options, "ha_enabled")? {
            Some(b) => b,
            None => match env_nonempty("DYNAMODB_HA_ENABLED") {
                Some(s) => parse_bool(&s).ok_or_else(|| {
                    format!("DYNAMODB_HA_ENABLED must be true or false, got {s:?}")
                })?,
                None => false,
            },
        };
        let access_key = opt_string(options, "access_key")?;
        let secret_key = opt_string(options, "secret_key")?;
        if access_key.is_some() != secret_key.is_some() {
            return Err(
                "dynamodb options access_key and secret_key must be given together".to_string(),
            );
        }
        Ok(Self {
            table,
            region: opt_string(options, "region")?,
            endpoint: opt_string(options, "endpoint")?
                .or_else(|| env_nonempty("AWS_DYNAMODB_ENDPOINT")),
            access_key,
            secret_key,
            session_token: opt_string(options, "session_token")?,
            ha_enabled,
            create_table: opt_bool(options, "create_table")?.unwrap_or(false),
            consistent_reads: opt_bool(options, "consistent_reads")?.unwrap_or(true),
        })
    }
}

/// Physical storage in one DynamoDB table (see the module docs for the layout).
pub(crate) struct DynamoStorage {
    client: Client,
    table: String,
    consistent_reads: bool,
    ha_enabled: bool,
    caller: AwsCaller,
}

fn storage_retry_policy() -> RetryPolicy {
    RetryPolicy {
        deadline: Duration::from_secs(20),
        max_attempts: 12,
        min_delay: Duration::from_millis(25),
        max_delay: Duration::from_secs(2),
    }
}

#[allow(dead_code)] // constructors and accessors are wired by the server config
impl DynamoStorage {
    /// Builds the backend from a `storage "dynamodb"` stanza's options:
    /// resolves region, endpoint and credentials, then checks (or, with
    /// `create_table`, creates) the table.
    pub(crate) async fn from_options(options: &Map<String, Value>) -> Result<Self, String> {
        Self::new(DynamoOptions::parse(options)?).await
    }

    pub(crate) async fn new(options: DynamoOptions) -> Result<Self, String> {
        let settings = ClientSettings {
            region: options.region.clone(),
            endpoint: options.endpoint.clone(),
            static_credentials: match (&options.access_key, &options.secret_key) {
                (Some(a), Some(s)) => Some((a.clone(), s.clone(), options.session_token.clone())),
                _ => None,
            },
            ..ClientSettings::default()
        };
        let sdk_config = aws::load_sdk_config(&settings).await;
        let storage = Self {
            client: Client::new(&sdk_config),
            table: options.table.clone(),
            consistent_reads: options.consistent_reads,
            ha_enabled: options.ha_enabled,
            caller: AwsCaller::new(SERVICE, storage_retry_policy()),
        };
        storage.ensure_table(options.create_table).await?;
        Ok(storage)
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// The `ha_enabled` option (used by the HA milestone).
    pub(crate) fn ha_enabled(&self) -> bool {
        self.ha_enabled
    }

    /// DynamoDB requests (attempts) this instance has sent.
    pub(crate) fn request_count(&self) -> u64 {
        self.caller.attempts()
    }

    /// Checks that the table exists with our key schema; creates it
    /// (on-demand billing) when it is missing and `create` is set.
    async fn ensure_table(&self, create: bool) -> Result<(), String> {
        let describe = self.client.describe_table().table_name(&self.table);
        let found = match self
            .caller
            .call("DescribeTable", aws::is_transient, || {
                describe.clone().send()
            })
            .await
        {
            Ok(out) => out.table,
            Err(e) if aws::error_code(&e.error) == Some("ResourceNotFoundException") => None,
            Err(e) if aws::error_code(&e.error) == Some("AccessDeniedException") => {
                tracing::warn!(table = %self.table, "cannot describe the dynamodb table (access denied); assuming it exists");
                return Ok(());
            }
            Err(e) => return Err(aws::describe_call(SERVICE, "DescribeTable", &e)),
        };
        let Some(table) = found else {
            if !create {
                return Err(format!(
                    "dynamodb table {:?} does not exist (create it, e.g. with localstack/bootstrap.sh, or set create_table = \"true\")",
                    self.table
                ));
            }
            return self.create_table().await;
        };
        let schema: Vec<(String, String)> = table
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect();
        let expected = vec![
            ("pk".to_string(), "HASH".to_string()),
            ("sk".to_string(), "RANGE".to_string()),
        ];
        if schema != expected {
            return Err(format!(
                "dynamodb table {:?} has key schema {schema:?}; strongroom needs pk (S, HASH) + sk (S, RANGE)",
                self.table
            ));
        }
        Ok(())
    }

    async fn create_table(&self) -> Result<(), String> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| e.to_string();
        let request = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()
                    .map_err(build)?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            );
        match self
            .caller
            .call("CreateTable", aws::is_transient, || request.clone().send())
            .await
        {
            Ok(_) => tracing::info!(table = %self.table, "created dynamodb table"),
            // Another node created it first.
            Err(e) if aws::error_code(&e.error) == Some("ResourceInUseException") => {}
            Err(e) => return Err(aws::describe_call(SERVICE, "CreateTable", &e)),
        }
        let describe = self.client.describe_table().table_name(&self.table);
        for _ in 0..120 {
            let out = self
                .caller
                .call("DescribeTable", aws::is_transient, || {
                    describe.clone().send()
                })
                .await
                .map_err(|e| aws::describe_call(SERVICE, "DescribeTable", &e))?;
            if out.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(format!(
            "dynamodb table {:?} did not become ACTIVE within 60 s",
            self.table
        ))
    }

    fn backend_error<E>(
        operation: &str,
        e: &aws::CallError<SdkError<E, HttpResponse>>,
    ) -> StorageError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        StorageError::Backend(aws::describe_call(SERVICE, operation, e))
    }

    async fn get_item(
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
    async fn batch_get(
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

    /// Turns a value item into the value, reading its chunks if it has any.
    /// `Ok(None)` means the chunks belong to a different version of the value
    /// (a concurrent write): read the value item again.
    async fn assemble(
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

    async fn query_page(
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

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), aws::CallError<SdkError<TransactWriteItemsError, HttpResponse>>> {
        // Same token for every retry of this transaction: if an attempt whose
        // answer was lost did commit, the retry reports success instead of
        // failing its own conditions.
        let token = uuid::Uuid::new_v4().to_string();
        let request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token);
        self.caller
            .call("TransactWriteItems", retryable_transaction, || {
                request.clone().send()
            })
            .await
            .map(|_| ())
    }

    /// After deleting keys: removes the markers of folders left empty.
    async fn cleanup_folders(&self, dirs: Vec<String>) {
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

fn retryable<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    e: &SdkError<E, HttpResponse>,
) -> bool {
    aws::is_transient(e) || aws::error_code(e) == Some("TransactionConflictException")
}

/// Transient errors, and transactions cancelled only for transient reasons
/// (conflicting transactions, throttling) — never for a failed condition.
fn retryable_transaction(e: &SdkError<TransactWriteItemsError, HttpResponse>) -> bool {
    if retryable(e) {
        return true;
    }
    let SdkError::ServiceError(service) = e else {
        return false;
    };
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err() else {
        return false;
    };
    let codes: Vec<&str> = cancelled
        .cancellation_reasons()
        .iter()
        .filter_map(|r| r.code())
        .filter(|c| *c != "None")
        .collect();
    !codes.is_empty()
        && codes.iter().all(|c| {
            matches!(
                *c,
                "TransactionConflict"
                    | "ThrottlingError"
                    | "ProvisionedThroughputExceeded"
                    | "RequestLimitExceeded"
            )
        })
}

fn corrupt(key: &str, what: &str) -> StorageError {
    StorageError::Backend(format!("dynamodb item for {key:?} is malformed: {what}"))
}

fn chunk_count(item: &HashMap<String, AttributeValue>, key: &str) -> Result<usize, StorageError> {
    match item.get("c") {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| corrupt(key, "bad chunk count")),
        None => Ok(0),
        _ => Err(corrupt(key, "bad chunk count")),
    }
}

/// The directory of a key (up to and including its last `/`, or "").
fn parent_dir(key: &str) -> &str {
    let trimmed = key.strip_suffix('/').unwrap_or(key);
    match trimmed.rfind('/') {
        Some(i) => &key[..=i],
        None => "",
    }
}

fn dir_pk(dir: &str) -> String {
    format!("/{dir}")
}

fn chunk_pk(key: &str) -> String {
    format!("{CHUNK_PARTITION}{key}")
}

fn chunk_sk(index: usize) -> String {
    format!("{index:05}")
}

fn item_key(pk: String, sk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk)),
        ("sk".to_string(), AttributeValue::S(sk)),
    ])
}

/// Splits a storage key into the `(pk, sk)` of its value item.
fn value_key(key: &str) -> Result<(String, String), StorageError> {
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
fn marker_keys(key: &str) -> Vec<(String, String)> {
    key.match_indices('/')
        .map(|(i, _)| {
            let folder = &key[..=i];
            let parent = parent_dir(folder);
            (dir_pk(parent), folder[parent.len()..].to_string())
        })
        .collect()
}

/// What a batch does to one key, after merging every item on that key
/// (DynamoDB allows one operation per item in a transaction).
struct KeyPlan {
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

fn plan_batch(batch: Batch) -> Result<Vec<KeyPlan>, StorageError> {
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
fn build_transaction(
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

#[async_trait]
impl Storage for DynamoStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let (pk, sk) = value_key(key)?;
        for _ in 0..3 {
            let Some(item) = self.get_item(pk.clone(), sk.clone()).await? else {
                return Ok(None);
            };
            if let Some(value) = self.assemble(key, item).await? {
                return Ok(Some(value));
            }
        }
        Err(StorageError::Backend(format!(
            "the value of {key:?} kept changing while its chunks were being read"
        )))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        if keys.len() <= 1 {
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                out.push(self.get(key).await?);
            }
            return Ok(out);
        }
        let mut wanted: HashMap<(String, String), &str> = HashMap::new();
        for key in keys {
            wanted.insert(value_key(key)?, key);
        }
        let request: Vec<_> = wanted
            .keys()
            .map(|(pk, sk)| item_key(pk.clone(), sk.clone()))
            .collect();
        let mut by_key: HashMap<&str, Option<Vec<u8>>> = HashMap::new();
        for mut item in self.batch_get(request, None).await? {
            let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                (item.remove("pk"), item.remove("sk"))
            else {
                continue;
            };
            let Some(&key) = wanted.get(&(pk, sk)) else {
                continue;
            };
            let value = match self.assemble(key, item).await? {
                Some(value) => Some(value),
                None => self.get(key).await?, // changed under us: read it again
            };
            by_key.insert(key, value);
        }
        Ok(keys
            .iter()
            .map(|k| by_key.get(k).cloned().flatten())
            .collect())
    }

    async fn list_page(
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

    async fn batch(&self, batch: Batch) -> Result<(), StorageError> {
        let plans = plan_batch(batch)?;
        let mut old_chunks: HashMap<usize, usize> = HashMap::new();
        for _ in 0..MAX_GUARD_ROUNDS {
            let (items, owners) = build_transaction(&self.table, &plans, &old_chunks)?;
            if items.is_empty() {
                return Ok(());
            }
            let error = match self.transact(items).await {
                Ok(()) => {
                    // A directory the same batch also wrote into is not
                    // empty: skip its cleanup (saves a Query per write once
                    // KV v2 starts dropping old versions).
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
                    return Ok(());
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::aws_tests_enabled;
    use crate::storage::BatchItem;
    use std::sync::Arc;

    fn test_options(table: &str) -> Map<String, Value> {
        let mut options = Map::new();
        options.insert("table".into(), Value::String(table.to_string()));
        options.insert("create_table".into(), Value::Bool(true));
        // Never let the SDK fall back to IMDS (169.254.169.254) in tests.
        if env_nonempty("AWS_ACCESS_KEY_ID").is_none() {
            options.insert("access_key".into(), "test".into());
            options.insert("secret_key".into(), "test".into());
        }
        if env_nonempty("AWS_REGION").is_none() {
            options.insert("region".into(), "us-east-1".into());
        }
        options
    }

    async fn fresh(name: &str) -> DynamoStorage {
        let table = format!(
            "strongroom-test-{name}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        DynamoStorage::from_options(&test_options(&table))
            .await
            .expect("create test table")
    }

    async fn chunk_items(s: &DynamoStorage, key: &str) -> usize {
        // Chunks are big: a Query page (1 MB) holds only a few of them.
        let (mut n, mut start) = (0, None);
        loop {
            let page = s
                .query_page(&chunk_pk(key), None, 100, start)
                .await
                .unwrap();
            n += page.items.unwrap_or_default().len();
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return n,
            }
        }
    }

    #[test]
    fn parses_options() {
        let mut m = Map::new();
        m.insert("table".into(), "vault-data".into());
        m.insert("region".into(), "eu-west-1".into());
        m.insert("endpoint".into(), "http://127.0.0.1:4566".into());
        m.insert("ha_enabled".into(), "true".into());
        m.insert("create_table".into(), Value::Bool(true));
        m.insert("consistent_reads".into(), "false".into());
        let o = DynamoOptions::parse(&m).unwrap();
        assert_eq!(o.table, "vault-data");
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:4566"));
        assert!(o.ha_enabled && o.create_table && !o.consistent_reads);
        m.insert("create_table".into(), "maybe".into());
        assert!(DynamoOptions::parse(&m)
            .unwrap_err()
            .contains("create_table"));
        m.remove("create_table");
        m.insert("table".into(), "no spaces".into());
        assert!(DynamoOptions::parse(&m).is_err());
    }

    #[test]
    fn layout() {
        assert_eq!(
            value_key("a/b/c").unwrap(),
            ("/a/b/".to_string(), "c".to_string())
        );
        assert_eq!(
            value_key("top").unwrap(),
            ("/".to_string(), "top".to_string())
        );
        assert!(matches!(value_key("a/"), Err(StorageError::Invalid(_))));
        assert!(matches!(value_key(""), Err(StorageError::Invalid(_))));
        assert_eq!(
            marker_keys("a/b/c"),
            vec![
                ("/".to_string(), "a/".to_string()),
                ("/a/".to_string(), "b/".to_string())
            ]
        );
        assert_eq!(parent_dir("a/b/"), "a/");
        assert_eq!(parent_dir("a/"), "");
    }

    #[test]
    fn oversized_batches_are_invalid() {
        let batch: Batch = (0..101)
            .map(|i| BatchItem::put(format!("k{i}"), vec![1]))
            .collect();
        let plans = plan_batch(batch).unwrap();
        let err = build_transaction("t", &plans, &HashMap::new()).unwrap_err();
        assert!(
            matches!(err, StorageError::Invalid(ref m) if m.contains("101 items")),
            "{err}"
        );
        let batch: Batch = (0..5)
            .map(|i| BatchItem::put(format!("k{i}"), vec![0; 1024 * 1024]))
            .collect();
        let plans = plan_batch(batch).unwrap();
        let err = build_transaction("t", &plans, &HashMap::new()).unwrap_err();
        assert!(
            matches!(err, StorageError::Invalid(ref m) if m.contains("4 MB")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn conformance() {
        if !aws_tests_enabled("storage::dynamodb::conformance") {
            return;
        }
        let s = fresh("conformance").await;
        crate::storage::conformance::run_all(&s).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers() {
        if !aws_tests_enabled("storage::dynamodb::concurrent_writers") {
            return;
        }
        let s = Arc::new(fresh("concurrent").await);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut wins = 0u64;
                for _ in 0..10 {
                    let current = s.get("counter/n").await.unwrap();
                    let n: u64 = current
                        .as_deref()
                        .map_or(0, |v| String::from_utf8_lossy(v).parse().unwrap());
                    let condition = match current {
                        Some(v) => Condition::Equals(v),
                        None => Condition::Absent,
                    };
                    let item = BatchItem::put("counter/n", (n + 1).to_string().into_bytes())
                        .when(condition);
                    match s.batch(vec![item]).await {
                        Ok(()) => wins += 1,
                        Err(StorageError::ConditionFailed(_)) => {}
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                wins
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        let final_value: u64 = String::from_utf8(s.get("counter/n").await.unwrap().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        eprintln!(
            "concurrent_writers: {total} conditional increments succeeded out of 80 attempts"
        );
        assert!(total > 0);
        assert_eq!(
            final_value, total,
            "every successful conditional write must be counted exactly once"
        );
    }

    #[tokio::test]
    async fn request_budget() {
        if !aws_tests_enabled("storage::dynamodb::request_budget") {
            return;
        }
        let s = fresh("budget").await;
        let mut last = s.request_count();
        let mut cost = || {
            let now = s.request_count();
            let d = now - last;
            last = now;
            d
        };
        s.put("logical/abc/foo", b"v1".to_vec()).await.unwrap();
        assert_eq!(cost(), 1, "put = one TransactWriteItems");
        s.put("logical/abc/foo", b"v2".to_vec()).await.unwrap();
        assert_eq!(cost(), 1, "overwrite = one TransactWriteItems");
        assert_eq!(
            s.get("logical/abc/foo").await.unwrap(),
            Some(b"v2".to_vec())
        );
        assert_eq!(cost(), 1, "get = one GetItem");
        assert_eq!(s.get("logical/abc/missing").await.unwrap(), None);
        assert_eq!(cost(), 1, "get of a missing key = one GetItem");
        s.put("logical/abc/bar", b"b".to_vec()).await.unwrap();
        cost();
        assert_eq!(s.list("logical/abc/").await.unwrap(), vec!["bar", "foo"]);
        assert_eq!(cost(), 1, "list = one Query");
        assert_eq!(s.list("logical/").await.unwrap(), vec!["abc/"]);
        assert_eq!(cost(), 1, "list of folders = one Query");
        let many = s
            .get_many(&["logical/abc/foo", "logical/abc/bar", "logical/x"])
            .await
            .unwrap();
        assert_eq!(many, vec![Some(b"v2".to_vec()), Some(b"b".to_vec()), None]);
        assert_eq!(cost(), 1, "get_many = one BatchGetItem");
        s.delete("logical/abc/bar").await.unwrap();
        assert_eq!(
            cost(),
            2,
            "delete = one TransactWriteItems + one Query (folder not empty)"
        );
        let big = vec![7u8; 1024 * 1024];
        s.put("logical/abc/big", big.clone()).await.unwrap();
        assert_eq!(cost(), 1, "chunked put = one TransactWriteItems");
        assert_eq!(s.get("logical/abc/big").await.unwrap(), Some(big));
        assert_eq!(cost(), 2, "chunked get = GetItem + BatchGetItem");
        s.put("logical/abc/big", b"small".to_vec()).await.unwrap();
        assert_eq!(
            cost(),
            2,
            "shrinking a chunked value = guard failure + one more TransactWriteItems"
        );
    }

    #[tokio::test]
    async fn stale_chunks_are_deleted() {
        if !aws_tests_enabled("storage::dynamodb::stale_chunks_are_deleted") {
            return;
        }
        let s = fresh("chunks").await;
        let big: Vec<u8> = (0..3 * CHUNK_SIZE + 5).map(|i| (i % 253) as u8).collect();
        s.put("c/k", big.clone()).await.unwrap();
        assert_eq!(chunk_items(&s, "c/k").await, 4);
        let smaller = vec![1u8; CHUNK_SIZE + 1];
        s.put("c/k", smaller.clone()).await.unwrap();
        assert_eq!(chunk_items(&s, "c/k").await, 2);
        assert_eq!(s.get("c/k").await.unwrap(), Some(smaller.clone()));
        // Conditions compare hashes, so they work on chunked values.
        s.batch(vec![
            BatchItem::put("c/k", big.clone()).when(Condition::Equals(smaller.clone()))
        ])
        .await
        .unwrap();
        let err = s
            .batch(vec![
                BatchItem::put("c/k", b"x".to_vec()).when(Condition::Equals(smaller))
            ])
            .await
            .unwrap_err();
        assert!(
            matches!(err, StorageError::ConditionFailed(ref k) if k == "c/k"),
            "{err}"
        );
        assert_eq!(s.get("c/k").await.unwrap(), Some(big.clone()));
        s.put("c/k", b"tiny".to_vec()).await.unwrap();
        assert_eq!(chunk_items(&s, "c/k").await, 0);
        assert_eq!(s.get("c/k").await.unwrap(), Some(b"tiny".to_vec()));
        s.put("c/k", big).await.unwrap();
        s.delete("c/k").await.unwrap();
        assert_eq!(chunk_items(&s, "c/k").await, 0);
        assert_eq!(s.get("c/k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn empty_folders_disappear() {
        if !aws_tests_enabled("storage::dynamodb::empty_folders_disappear") {
            return;
        }
        let s = fresh("folders").await;
        s.put("f/a/b/c", vec![1]).await.unwrap();
        s.put("f/d", vec![2]).await.unwrap();
        assert_eq!(s.list("f/").await.unwrap(), vec!["a/", "d"]);
        s.delete("f/a/b/c").await.unwrap();
        assert_eq!(s.list("f/").await.unwrap(), vec!["d"]);
        assert_eq!(s.list("f/a/").await.unwrap(), Vec::<String>::new());
        s.batch(vec![
            BatchItem::delete("f/d"),
            BatchItem::put("g/x", vec![3]),
        ])
        .await
        .unwrap();
        assert_eq!(s.list("").await.unwrap(), vec!["g/"]);
        // A prefix that is not a folder lists the matching children.
        s.put("g/xy/z", vec![4]).await.unwrap();
        assert_eq!(s.list("g/x").await.unwrap(), vec!["", "y/"]);
    }

    #[tokio::test]
    async fn merged_items_on_one_key() {
        if !aws_tests_enabled("storage::dynamodb::merged_items_on_one_key") {
            return;
        }
        let s = fresh("merge").await;
        s.put("m/k", b"1".to_vec()).await.unwrap();
        // A check and a put on the same key become one transaction item.
        s.batch(vec![
            BatchItem::check("m/k", Condition::Equals(b"1".to_vec())),
            BatchItem::put("m/k", b"2".to_vec()),
            BatchItem::put("m/other", b"o".to_vec()),
        ])
        .await
        .unwrap();
        assert_eq!(s.get("m/k").await.unwrap(), Some(b"2".to_vec()));
        let err = s
            .batch(vec![
                BatchItem::check("m/k", Condition::Equals(b"1".to_vec())),
                BatchItem::delete("m/k"),
            ])
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::ConditionFailed(_)));
        assert!(matches!(s.get("m/").await, Err(StorageError::Invalid(_))));
    }
}
