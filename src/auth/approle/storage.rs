//! What AppRole keeps in its mount's storage view, and the helpers every
//! path shares to read and change it: the entries, their keys, the HMAC
//! key and keyed hashes, and the conditioned read-modify-write of a role.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::auth::common::{is_condition_failed, TokenParams, CAS_ATTEMPTS};
use crate::logical::framework::unsupported_path;
use crate::logical::{LogicalError, Request, StorageView};
use crate::storage::{BatchItem, Condition};
use crate::util::rfc3339;

pub(super) const HMAC_KEY: &str = "hmac_key";
pub(super) const ROLE_PREFIX: &str = "role/";
pub(super) const ROLE_ID_PREFIX: &str = "role_id/";
pub(super) const SECRET_PREFIX: &str = "secret_id/";
pub(super) const ACCESSOR_PREFIX: &str = "accessor/";

pub(super) const INVALID_CREDENTIALS: &str = "invalid role or secret ID";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RoleEntry {
    pub(super) name: String,
    pub(super) role_id: String,
    /// Random per-role-instance id; secret-ids are keyed under it.
    pub(super) instance: String,
    pub(super) bind_secret_id: bool,
    #[serde(default)]
    pub(super) secret_id_bound_cidrs: Vec<String>,
    #[serde(default)]
    pub(super) secret_id_num_uses: u64,
    #[serde(default)]
    pub(super) secret_id_ttl: u64,
    /// Set at creation only (Vault: the secret-ids are cluster-local).
    /// Strongroom has one cluster, so this is recorded and reported.
    #[serde(default)]
    pub(super) local_secret_ids: bool,
    #[serde(flatten)]
    pub(super) token: TokenParams,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RoleIdIndex {
    pub(super) name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SecretIdEntry {
    /// Hex HMAC of the secret-id (also the storage key), compared again in
    /// constant time after the lookup.
    pub(super) secret_id_hmac: String,
    pub(super) accessor: String,
    pub(super) num_uses: u64,
    pub(super) ttl: u64,
    pub(super) creation_time: DateTime<Utc>,
    /// `None`: never expires.
    pub(super) expiration_time: Option<DateTime<Utc>>,
    pub(super) last_updated_time: DateTime<Utc>,
    #[serde(default)]
    pub(super) metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) cidr_list: Vec<String>,
    #[serde(default)]
    pub(super) token_bound_cidrs: Vec<String>,
}

impl SecretIdEntry {
    pub(super) fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expiration_time.is_some_and(|t| now >= t)
    }

    pub(super) fn lookup_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("secret_id_accessor".into(), json!(self.accessor));
        m.insert("secret_id_num_uses".into(), json!(self.num_uses));
        m.insert("secret_id_ttl".into(), json!(self.ttl));
        m.insert("creation_time".into(), json!(rfc3339(self.creation_time)));
        m.insert(
            "expiration_time".into(),
            json!(self
                .expiration_time
                .map(rfc3339)
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())),
        );
        m.insert(
            "last_updated_time".into(),
            json!(rfc3339(self.last_updated_time)),
        );
        m.insert("metadata".into(), json!(self.metadata));
        m.insert("cidr_list".into(), json!(self.cidr_list));
        m.insert("token_bound_cidrs".into(), json!(self.token_bound_cidrs));
        m
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AccessorEntry {
    pub(super) secret_id_hmac: String,
}

pub(super) fn internal(what: &str, e: impl std::fmt::Display) -> LogicalError {
    LogicalError::Internal(format!("{what}: {e}"))
}

pub(super) fn decode<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    what: &str,
) -> Result<T, LogicalError> {
    serde_json::from_slice(bytes).map_err(|e| internal(&format!("corrupt {what}"), e))
}

pub(super) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, LogicalError> {
    serde_json::to_vec(v).map_err(|e| internal("encoding entry", e))
}

/// Lower-cases and checks a role name (Vault: letters, digits, space,
/// hyphen, underscore and period; under 4096 bytes).
pub(super) fn role_name(raw: &str) -> Result<String, LogicalError> {
    let name = raw.to_lowercase();
    if name.is_empty() {
        return Err(LogicalError::bad("missing role_name"));
    }
    if name.len() >= 4096
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
    {
        return Err(LogicalError::bad(format!("invalid role name {raw:?}")));
    }
    Ok(name)
}

pub(super) fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{name}")
}

pub(super) fn secret_key(instance: &str, hmac: &str) -> String {
    format!("{SECRET_PREFIX}{instance}/{hmac}")
}

pub(super) fn accessor_key(instance: &str, accessor: &str) -> String {
    format!("{ACCESSOR_PREFIX}{instance}/{accessor}")
}

/// The mount's HMAC key, made on first use (an `Absent` condition settles
/// a race between two first uses).
pub(super) async fn hmac_key(view: &StorageView) -> Result<Vec<u8>, LogicalError> {
    for _ in 0..CAS_ATTEMPTS {
        if let Some(k) = view.get(HMAC_KEY).await? {
            return Ok(k);
        }
        let mut key = vec![0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        match view
            .batch(vec![
                BatchItem::put(HMAC_KEY, key.clone()).when(Condition::Absent)
            ])
            .await
        {
            Ok(()) => return Ok(key),
            Err(e) if is_condition_failed(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LogicalError::Unavailable(
        "could not create the HMAC key".into(),
    ))
}

pub(super) fn keyed_hash(key: &[u8], domain: &str, value: &str) -> Result<String, LogicalError> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|e| internal("hmac key", e))?;
    mac.update(domain.as_bytes());
    mac.update(&[0]);
    mac.update(value.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

pub(super) fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Whether every CIDR of `inner` lies inside one of `outer`.
pub(super) fn cidrs_subset(inner: &[String], outer: &[String]) -> bool {
    let as_net = |s: &str| -> Option<ipnet::IpNet> {
        s.parse::<ipnet::IpNet>()
            .ok()
            .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
    };
    inner.iter().all(|i| {
        let Some(i) = as_net(i) else { return false };
        outer
            .iter()
            .filter_map(|o| as_net(o))
            .any(|o| o.contains(&i))
    })
}

pub(super) fn remote(req: &Request) -> String {
    req.remote_addr
        .map(|a| a.to_string())
        .unwrap_or_else(|| "<unknown>".into())
}

pub(super) async fn load_role(
    view: &StorageView,
    name: &str,
) -> Result<Option<RoleEntry>, LogicalError> {
    match view.get(&role_key(name)).await? {
        None => Ok(None),
        Some(b) => decode(&b, "role entry").map(Some),
    }
}

pub(super) async fn require_role(
    view: &StorageView,
    name: &str,
) -> Result<RoleEntry, LogicalError> {
    load_role(view, name)
        .await?
        .ok_or_else(|| LogicalError::bad(format!("role {name:?} does not exist")))
}

/// Parses the `metadata` of a secret-id: a JSON object, or a string holding
/// one (Vault's CLI sends a string).
pub(super) fn secret_metadata(
    raw: Option<&Value>,
) -> Result<BTreeMap<String, String>, LogicalError> {
    let bad = || LogicalError::bad("metadata must be a JSON object of strings");
    let obj = match raw {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(BTreeMap::new()),
        Some(Value::String(s)) => {
            serde_json::from_str::<Map<String, Value>>(s).map_err(|_| bad())?
        }
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad()),
    };
    obj.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            _ => Err(bad()),
        })
        .collect()
}

/// Creates or updates a role with a condition on the bytes read (retried
/// on a lost race), keeping the role_id index in the same batch.
pub(super) async fn update_role<F>(
    view: &StorageView,
    name: &str,
    allow_create: bool,
    mut f: F,
) -> Result<RoleEntry, LogicalError>
where
    F: FnMut(&mut RoleEntry) -> Result<(), LogicalError>,
{
    let key = hmac_key(view).await?;
    let rkey = role_key(name);
    for _ in 0..CAS_ATTEMPTS {
        let current = view.get_versioned(&rkey).await?;
        let (old, cond) = match &current {
            Some(v) => (
                Some(decode::<RoleEntry>(&v.plaintext, "role entry")?),
                Condition::Equals(v.raw.clone()),
            ),
            None if allow_create => (None, Condition::Absent),
            // Vault answers a sub-path write to a missing role this way.
            None => return Err(unsupported_path()),
        };
        let mut entry = old.clone().unwrap_or_else(|| RoleEntry {
            name: name.to_string(),
            role_id: uuid::Uuid::new_v4().to_string(),
            instance: uuid::Uuid::new_v4().to_string(),
            bind_secret_id: true,
            secret_id_bound_cidrs: vec![],
            secret_id_num_uses: 0,
            secret_id_ttl: 0,
            local_secret_ids: false,
            token: TokenParams::default(),
        });
        f(&mut entry)?;
        if entry.role_id.trim().is_empty() {
            return Err(LogicalError::bad("missing role_id"));
        }
        let mut batch = vec![BatchItem::put(rkey.clone(), encode(&entry)?).when(cond)];
        let old_id = old.as_ref().map(|o| o.role_id.clone());
        if old_id.as_deref() != Some(entry.role_id.as_str()) {
            let idx = format!(
                "{ROLE_ID_PREFIX}{}",
                keyed_hash(&key, "role_id", &entry.role_id)?
            );
            if let Some(b) = view.get(&idx).await? {
                let owner: RoleIdIndex = decode(&b, "role_id index")?;
                if owner.name != name {
                    return Err(LogicalError::bad("role_id already in use"));
                }
                // A stale index of this role: overwrite it.
                batch.push(BatchItem::put(
                    idx,
                    encode(&RoleIdIndex { name: name.into() })?,
                ));
            } else {
                batch.push(
                    BatchItem::put(idx, encode(&RoleIdIndex { name: name.into() })?)
                        .when(Condition::Absent),
                );
            }
            if let Some(old_id) = old_id {
                batch.push(BatchItem::delete(format!(
                    "{ROLE_ID_PREFIX}{}",
                    keyed_hash(&key, "role_id", &old_id)?
                )));
            }
        }
        match view.batch(batch).await {
            Ok(()) => return Ok(entry),
            Err(e) if is_condition_failed(&e) => tokio::task::yield_now().await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LogicalError::Unavailable(
        "too many concurrent updates of this role; retry the request".into(),
    ))
}

/// Deletes every key directly under `folder`, in batches.
pub(super) async fn delete_folder(view: &StorageView, folder: &str) -> Result<(), LogicalError> {
    let keys = view.list(folder).await?;
    for chunk in keys.chunks(50) {
        let batch = chunk
            .iter()
            .filter(|k| !k.ends_with('/'))
            .map(|k| BatchItem::delete(format!("{folder}{k}")))
            .collect::<Vec<_>>();
        if !batch.is_empty() {
            view.batch(batch).await?;
        }
    }
    Ok(())
}
