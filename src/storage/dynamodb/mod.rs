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
//!
//! # Code layout
//!
//! `options` parses the stanza and `table` checks (or creates) the table;
//! `keys` maps storage keys to items; `read` and `chunks` read values back;
//! `list` pages through a directory; `batch` merges a batch per key and runs
//! its transaction; `folders` removes empty folder markers; `retry` holds the
//! retry policy, error classification and the idempotent transaction call.

mod batch;
mod chunks;
mod folders;
mod keys;
mod list;
mod options;
mod read;
mod retry;
mod table;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::{Map, Value};

use super::{Batch, Storage, StorageError};
use crate::aws::{self, AwsCaller, ClientSettings};
use keys::{item_key, value_key};
pub(crate) use options::{opt_string, DynamoOptions};
use retry::storage_retry_policy;

const SERVICE: &str = "dynamodb";

/// Physical storage in one DynamoDB table (see the module docs for the layout).
pub(crate) struct DynamoStorage {
    client: Client,
    table: String,
    consistent_reads: bool,
    ha_enabled: bool,
    caller: AwsCaller,
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
}

fn corrupt(key: &str, what: &str) -> StorageError {
    StorageError::Backend(format!("dynamodb item for {key:?} is malformed: {what}"))
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
        self.list_entries(prefix, after, limit).await
    }

    async fn batch(&self, batch: Batch) -> Result<(), StorageError> {
        self.write_batch(batch).await
    }
}
