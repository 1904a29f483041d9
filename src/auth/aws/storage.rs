//! What the AWS auth method stores in its mount's view: the client
//! configuration under `config/client` and one JSON entry per role under
//! `role/<name>`. Writes are read-modify-write with a condition on the bytes
//! read, so two concurrent partial updates never lose each other's fields.

use serde::{Deserialize, Serialize};

use crate::auth::common::{is_condition_failed, TokenParams, CAS_ATTEMPTS};
use crate::logical::{LogicalError, StorageView};
use crate::storage::{BatchItem, Condition};

pub(super) const CONFIG_KEY: &str = "config/client";
pub(super) const ROLE_PREFIX: &str = "role/";

/// `config/client`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct ClientConfig {
    #[serde(default)]
    pub(super) access_key: String,
    /// Stored (encrypted by the barrier) for compatibility; never returned
    /// and not used: the IAM login needs no AWS credentials of its own.
    #[serde(default)]
    pub(super) secret_key: String,
    #[serde(default)]
    pub(super) endpoint: String,
    #[serde(default)]
    pub(super) iam_endpoint: String,
    #[serde(default)]
    pub(super) sts_endpoint: String,
    #[serde(default)]
    pub(super) sts_region: String,
    #[serde(default)]
    pub(super) iam_server_id_header_value: String,
    #[serde(default)]
    pub(super) use_sts_region_from_client: bool,
    #[serde(default = "default_max_retries")]
    pub(super) max_retries: i64,
    #[serde(default)]
    pub(super) allowed_sts_header_values: Vec<String>,
}

/// Vault's `aws.UseServiceDefaultRetries`.
pub(super) const DEFAULT_MAX_RETRIES: i64 = -1;

fn default_max_retries() -> i64 {
    DEFAULT_MAX_RETRIES
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            access_key: String::new(),
            secret_key: String::new(),
            endpoint: String::new(),
            iam_endpoint: String::new(),
            sts_endpoint: String::new(),
            sts_region: String::new(),
            iam_server_id_header_value: String::new(),
            use_sts_region_from_client: false,
            max_retries: DEFAULT_MAX_RETRIES,
            allowed_sts_header_values: Vec::new(),
        }
    }
}

/// `role/<name>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct RoleEntry {
    pub(super) auth_type: String,
    #[serde(default)]
    pub(super) bound_iam_principal_arn: Vec<String>,
    #[serde(default)]
    pub(super) role_id: String,
    #[serde(flatten)]
    pub(super) token: TokenParams,
}

/// Lower-cases and checks a role name (Vault's name pattern).
pub(super) fn role_name(raw: &str) -> Result<String, LogicalError> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() {
        return Err(LogicalError::bad("missing role"));
    }
    if name.len() > 512
        || !name.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '+' | '=' | ',')
        })
    {
        return Err(LogicalError::bad(format!("invalid role name {raw:?}")));
    }
    Ok(name)
}

pub(super) fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{name}")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, LogicalError> {
    serde_json::from_slice(bytes)
        .map_err(|e| LogicalError::Internal(format!("corrupt {what}: {e}")))
}

pub(super) async fn load_config(view: &StorageView) -> Result<Option<ClientConfig>, LogicalError> {
    match view.get(CONFIG_KEY).await? {
        None => Ok(None),
        Some(b) => decode(&b, "AWS client configuration").map(Some),
    }
}

pub(super) async fn load_role(
    view: &StorageView,
    name: &str,
) -> Result<Option<RoleEntry>, LogicalError> {
    match view.get(&role_key(name)).await? {
        None => Ok(None),
        Some(b) => decode(&b, "AWS role").map(Some),
    }
}

/// Read-modify-write of one JSON entry with a condition on the bytes read,
/// retried when a concurrent write wins. `f` gets `None` for a new entry.
pub(super) async fn update_entry<T, F>(
    view: &StorageView,
    key: &str,
    mut f: F,
) -> Result<T, LogicalError>
where
    T: Serialize + serde::de::DeserializeOwned,
    F: FnMut(Option<T>) -> Result<T, LogicalError>,
{
    for _ in 0..CAS_ATTEMPTS {
        let current = view.get_versioned(key).await?;
        let (entry, cond) = match &current {
            Some(v) => (
                Some(decode::<T>(&v.plaintext, key)?),
                Condition::Equals(v.raw.clone()),
            ),
            None => (None, Condition::Absent),
        };
        let new = f(entry)?;
        let bytes = serde_json::to_vec(&new)
            .map_err(|e| LogicalError::Internal(format!("encoding {key}: {e}")))?;
        match view
            .batch(vec![BatchItem::put(key.to_string(), bytes).when(cond)])
            .await
        {
            Ok(()) => return Ok(new),
            Err(e) if is_condition_failed(&e) => tokio::task::yield_now().await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LogicalError::Unavailable(format!(
        "too many concurrent updates of {key}; retry the request"
    )))
}
