//! The AppRole auth method, compatible with Vault's `auth/approle` API.
//!
//! Paths (relative to the mount):
//! - `role` (LIST), `role/:name` (GET, POST, DELETE)
//! - `role/:name/role-id` (GET; POST sets a custom one)
//! - `role/:name/secret-id` (POST generates; LIST lists accessors)
//! - `role/:name/custom-secret-id` (POST)
//! - `role/:name/secret-id/lookup`, `.../destroy` (POST `secret_id`)
//! - `role/:name/secret-id-accessor/lookup`, `.../destroy` (POST `secret_id_accessor`)
//! - `login` (POST `role_id`, `secret_id`; unauthenticated)
//! - `tidy/secret-id` (POST)
//!
//! Storage layout inside the mount's view:
//! - `hmac_key`: 32 random bytes, made on first use; keys every hash below.
//! - `role/<name>`: JSON [`RoleEntry`] (role names are lower-cased).
//! - `role_id/<hex HMAC(role_id)>`: JSON `{"name": <role>}`, the login index.
//!   Written with an `Absent` condition, so a role_id is never shared.
//! - `secret_id/<role instance>/<hex HMAC(secret_id)>`: JSON [`SecretIdEntry`].
//! - `accessor/<role instance>/<accessor>`: JSON `{"secret_id_hmac": ...}`.
//!
//! A role's `instance` is a random id made when the role is created, so
//! secret-ids of a deleted role can never log in to a new role of the same
//! name, even if deleting them was interrupted (tidy removes such orphans).
//! Secret-ids are stored only as HMAC-SHA256 values. A secret-id with
//! `num_uses` is decremented by a batch conditioned on the exact bytes read,
//! retried on a lost race, and deleted with its last use, so concurrent
//! logins can never use it more often than allowed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::auth::common::{
    addr_allowed, is_condition_failed, validate_cidrs, TokenParams, CAS_ATTEMPTS,
};
use crate::logical::{
    duration_field, field_bool, field_str, field_u64, string_list, Backend, LogicalError, LogicalResult, Operation, Request,
    Response, StorageView,
};
use crate::storage::{BatchItem, Condition};
use crate::util::{rfc3339, Clock, SystemClock};

const HMAC_KEY: &str = "hmac_key";
const ROLE_PREFIX: &str = "role/";
const ROLE_ID_PREFIX: &str = "role_id/";
const SECRET_PREFIX: &str = "secret_id/";
const ACCESSOR_PREFIX: &str = "accessor/";

const INVALID_CREDENTIALS: &str = "invalid role or secret ID";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoleEntry {
    name: String,
    role_id: String,
    /// Random per-role-instance id; secret-ids are keyed under it.
    instance: String,
    bind_secret_id: bool,
    #[serde(default)]
    secret_id_bound_cidrs: Vec<String>,
    #[serde(default)]
    secret_id_num_uses: u64,
    #[serde(default)]
    secret_id_ttl: u64,
    #[serde(flatten)]
    token: TokenParams,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoleIdIndex {
    name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SecretIdEntry {
    /// Hex HMAC of the secret-id (also the storage key), compared again in
    /// constant time after the lookup.
    secret_id_hmac: String,
    accessor: String,
    num_uses: u64,
    ttl: u64,
    creation_time: DateTime<Utc>,
    /// `None`: never expires.
    expiration_time: Option<DateTime<Utc>>,
    last_updated_time: DateTime<Utc>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    cidr_list: Vec<String>,
    #[serde(default)]
    token_bound_cidrs: Vec<String>,
}

impl SecretIdEntry {
    fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expiration_time.is_some_and(|t| now >= t)
    }

    fn lookup_json(&self) -> Map<String, Value> {
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
struct AccessorEntry {
    secret_id_hmac: String,
}

/// The AppRole auth method. Stateless apart from its clock: everything
/// lives in the mount's storage view.
#[allow(dead_code)]
pub(crate) struct AppRoleBackend {
    clock: Arc<dyn Clock>,
}

#[allow(dead_code)]
impl AppRoleBackend {
    pub(crate) fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    pub(crate) fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }
}

impl Default for AppRoleBackend {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn internal(what: &str, e: impl std::fmt::Display) -> LogicalError {
    LogicalError::Internal(format!("{what}: {e}"))
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, LogicalError> {
    serde_json::from_slice(bytes).map_err(|e| internal(&format!("corrupt {what}"), e))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, LogicalError> {
    serde_json::to_vec(v).map_err(|e| internal("encoding entry", e))
}

/// Lower-cases and checks a role name (Vault: letters, digits, space,
/// hyphen, underscore and period; under 4096 bytes).
fn role_name(raw: &str) -> Result<String, LogicalError> {
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

fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{name}")
}

fn secret_key(instance: &str, hmac: &str) -> String {
    format!("{SECRET_PREFIX}{instance}/{hmac}")
}

fn accessor_key(instance: &str, accessor: &str) -> String {
    format!("{ACCESSOR_PREFIX}{instance}/{accessor}")
}

/// The mount's HMAC key, made on first use (an `Absent` condition settles
/// a race between two first uses).
async fn hmac_key(view: &StorageView) -> Result<Vec<u8>, LogicalError> {
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

fn keyed_hash(key: &[u8], domain: &str, value: &str) -> Result<String, LogicalError> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|e| internal("hmac key", e))?;
    mac.update(domain.as_bytes());
    mac.update(&[0]);
    mac.update(value.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Whether every CIDR of `inner` lies inside one of `outer`.
fn cidrs_subset(inner: &[String], outer: &[String]) -> bool {
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

fn remote(req: &Request) -> String {
    req.remote_addr
        .map(|a| a.to_string())
        .unwrap_or_else(|| "<unknown>".into())
}

async fn load_role(view: &StorageView, name: &str) -> Result<Option<RoleEntry>, LogicalError> {
    match view.get(&role_key(name)).await? {
        None => Ok(None),
        Some(b) => decode(&b, "role entry").map(Some),
    }
}

async fn require_role(view: &StorageView, name: &str) -> Result<RoleEntry, LogicalError> {
    load_role(view, name)
        .await?
        .ok_or_else(|| LogicalError::bad(format!("role {name:?} does not exist")))
}

/// Parses the `metadata` of a secret-id: a JSON object, or a string holding
/// one (Vault's CLI sends a string).
fn secret_metadata(data: &Map<String, Value>) -> Result<BTreeMap<String, String>, LogicalError> {
    let bad = || LogicalError::bad("metadata must be a JSON object of strings");
    let obj = match data.get("metadata") {
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

// ---------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------

impl AppRoleBackend {
    /// Creates or updates a role with a condition on the bytes read (retried
    /// on a lost race), keeping the role_id index in the same batch.
    async fn update_role<F>(
        &self,
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
                None => return Err(LogicalError::bad(format!("role {name:?} does not exist"))),
            };
            let mut entry = old.clone().unwrap_or_else(|| RoleEntry {
                name: name.to_string(),
                role_id: uuid::Uuid::new_v4().to_string(),
                instance: uuid::Uuid::new_v4().to_string(),
                bind_secret_id: true,
                secret_id_bound_cidrs: vec![],
                secret_id_num_uses: 0,
                secret_id_ttl: 0,
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

    async fn write_role(&self, req: &Request, view: &StorageView, name: &str) -> LogicalResult {
        let d = &req.data;
        // Parse everything up front so bad input fails before any storage work.
        let bind = field_bool(d, "bind_secret_id")?;
        let cidrs = match string_list(d, "secret_id_bound_cidrs")? {
            Some(c) => Some(c),
            None => string_list(d, "bound_cidr_list")?,
        };
        if let Some(c) = &cidrs {
            validate_cidrs("secret_id_bound_cidrs", c)?;
        }
        let num_uses = field_u64(d, "secret_id_num_uses")?;
        let ttl = duration_field(d, "secret_id_ttl")?;
        let custom_role_id = match d.get("role_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(_) => return Err(LogicalError::bad("role_id must be a non-empty string")),
        };
        TokenParams::default().update_from(d, false)?;
        self.update_role(view, name, true, |e| {
            if let Some(b) = bind {
                e.bind_secret_id = b;
            }
            if let Some(c) = &cidrs {
                e.secret_id_bound_cidrs = c.clone();
            }
            if let Some(n) = num_uses {
                e.secret_id_num_uses = n;
            }
            if let Some(t) = ttl {
                e.secret_id_ttl = t;
            }
            if let Some(id) = &custom_role_id {
                e.role_id = id.clone();
            }
            e.token.update_from(d, false)?;
            e.token.validate()?;
            if !e.bind_secret_id
                && e.secret_id_bound_cidrs.is_empty()
                && e.token.token_bound_cidrs.is_empty()
            {
                return Err(LogicalError::bad(
                    "at least one constraint should be enabled on the role",
                ));
            }
            Ok(())
        })
        .await?;
        Ok(Response::empty())
    }

    async fn read_role(&self, view: &StorageView, name: &str) -> LogicalResult {
        let Some(e) = load_role(view, name).await? else {
            return Err(LogicalError::NotFound);
        };
        let mut m = Map::new();
        m.insert("bind_secret_id".into(), json!(e.bind_secret_id));
        m.insert(
            "secret_id_bound_cidrs".into(),
            json!(e.secret_id_bound_cidrs),
        );
        m.insert("secret_id_num_uses".into(), json!(e.secret_id_num_uses));
        m.insert("secret_id_ttl".into(), json!(e.secret_id_ttl));
        m.insert("local_secret_ids".into(), json!(false));
        e.token.write_json(&mut m);
        m.insert("period".into(), json!(e.token.token_period));
        Ok(Response::data(m))
    }

    async fn delete_role(&self, view: &StorageView, name: &str) -> LogicalResult {
        let key = hmac_key(view).await?;
        let Some(v) = view.get_versioned(&role_key(name)).await? else {
            return Ok(Response::empty());
        };
        let role: RoleEntry = decode(&v.plaintext, "role entry")?;
        let idx = format!(
            "{ROLE_ID_PREFIX}{}",
            keyed_hash(&key, "role_id", &role.role_id)?
        );
        view.batch(vec![
            BatchItem::delete(role_key(name)).when(Condition::Equals(v.raw)),
            BatchItem::delete(idx),
        ])
        .await?;
        // The role is gone, so its secret-ids can no longer log in; remove
        // them now (tidy catches whatever an interruption leaves behind).
        delete_folder(view, &format!("{SECRET_PREFIX}{}/", role.instance)).await?;
        delete_folder(view, &format!("{ACCESSOR_PREFIX}{}/", role.instance)).await?;
        Ok(Response::empty())
    }

    async fn set_role_id(&self, req: &Request, view: &StorageView, name: &str) -> LogicalResult {
        let id = match field_str(&req.data, "role_id").map(str::trim) {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => return Err(LogicalError::bad("missing role_id")),
        };
        self.update_role(view, name, false, |e| {
            e.role_id = id.clone();
            Ok(())
        })
        .await?;
        Ok(Response::empty())
    }
}

async fn delete_folder(view: &StorageView, folder: &str) -> Result<(), LogicalError> {
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

// ---------------------------------------------------------------------------
// Secret-ids
// ---------------------------------------------------------------------------

impl AppRoleBackend {
    async fn create_secret_id(
        &self,
        req: &Request,
        view: &StorageView,
        name: &str,
        custom: bool,
    ) -> LogicalResult {
        let d = &req.data;
        let secret_id = if custom {
            match field_str(d, "secret_id").map(str::trim) {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => return Err(LogicalError::bad("missing secret_id")),
            }
        } else {
            uuid::Uuid::new_v4().to_string()
        };
        let metadata = secret_metadata(d)?;
        let cidr_list = string_list(d, "cidr_list")?.unwrap_or_default();
        validate_cidrs("cidr_list", &cidr_list)?;
        let token_cidrs = string_list(d, "token_bound_cidrs")?.unwrap_or_default();
        validate_cidrs("token_bound_cidrs", &token_cidrs)?;
        let num_uses = field_u64(d, "num_uses")?;
        let ttl = duration_field(d, "ttl")?;

        let role = require_role(view, name).await?;
        if !role.bind_secret_id {
            return Err(LogicalError::bad("bind_secret_id is not set on the role"));
        }
        if !role.secret_id_bound_cidrs.is_empty()
            && !cidrs_subset(&cidr_list, &role.secret_id_bound_cidrs)
        {
            return Err(LogicalError::bad(
                "cidr_list must be a subset of the role's secret_id_bound_cidrs",
            ));
        }
        if !role.token.token_bound_cidrs.is_empty()
            && !cidrs_subset(&token_cidrs, &role.token.token_bound_cidrs)
        {
            return Err(LogicalError::bad(
                "token_bound_cidrs must be a subset of the role's token_bound_cidrs",
            ));
        }
        let num_uses = match num_uses {
            None => role.secret_id_num_uses,
            Some(n) if role.secret_id_num_uses > 0 && (n == 0 || n > role.secret_id_num_uses) => {
                return Err(LogicalError::bad(
                    "num_uses cannot be higher than the role's secret_id_num_uses",
                ))
            }
            Some(n) => n,
        };
        let ttl = match ttl {
            None => role.secret_id_ttl,
            Some(t) if role.secret_id_ttl > 0 && (t == 0 || t > role.secret_id_ttl) => {
                return Err(LogicalError::bad(
                    "ttl cannot be longer than the role's secret_id_ttl",
                ))
            }
            Some(t) => t,
        };

        let key = hmac_key(view).await?;
        let hmac = keyed_hash(&key, "secret_id", &secret_id)?;
        let accessor = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now();
        let expiration_time = if ttl > 0 {
            i64::try_from(ttl)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .and_then(|d| now.checked_add_signed(d))
                .map(Some)
                .ok_or_else(|| LogicalError::bad("ttl is too large"))?
        } else {
            None
        };
        let entry = SecretIdEntry {
            secret_id_hmac: hmac.clone(),
            accessor: accessor.clone(),
            num_uses,
            ttl,
            creation_time: now,
            expiration_time,
            last_updated_time: now,
            metadata,
            cidr_list,
            token_bound_cidrs: token_cidrs,
        };
        let result = view
            .batch(vec![
                BatchItem::put(secret_key(&role.instance, &hmac), encode(&entry)?)
                    .when(Condition::Absent),
                BatchItem::put(
                    accessor_key(&role.instance, &accessor),
                    encode(&AccessorEntry {
                        secret_id_hmac: hmac,
                    })?,
                )
                .when(Condition::Absent),
                // The role must still be the one we read.
                BatchItem::check(role_key(name), Condition::Present),
            ])
            .await;
        match result {
            Ok(()) => {}
            Err(e) if is_condition_failed(&e) => {
                return Err(LogicalError::bad(if custom {
                    "secret_id is already registered"
                } else {
                    "the role changed while the secret-id was created; retry the request"
                }))
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Response::json(json!({
            "secret_id": secret_id,
            "secret_id_accessor": accessor,
            "secret_id_ttl": ttl,
            "secret_id_num_uses": num_uses,
        })))
    }

    /// Finds a live secret-id entry of a role by its value.
    async fn find_secret_id(
        &self,
        view: &StorageView,
        role: &RoleEntry,
        secret_id: &str,
    ) -> Result<Option<SecretIdEntry>, LogicalError> {
        let key = hmac_key(view).await?;
        let hmac = keyed_hash(&key, "secret_id", secret_id)?;
        let Some(b) = view.get(&secret_key(&role.instance, &hmac)).await? else {
            return Ok(None);
        };
        let entry: SecretIdEntry = decode(&b, "secret-id entry")?;
        if !ct_eq(&entry.secret_id_hmac, &hmac) || entry.expired(self.clock.now()) {
            return Ok(None);
        }
        Ok(Some(entry))
    }

    async fn find_by_accessor(
        &self,
        view: &StorageView,
        role: &RoleEntry,
        accessor: &str,
    ) -> Result<Option<SecretIdEntry>, LogicalError> {
        if accessor.is_empty() || accessor.contains('/') {
            return Ok(None);
        }
        let Some(b) = view.get(&accessor_key(&role.instance, accessor)).await? else {
            return Ok(None);
        };
        let a: AccessorEntry = decode(&b, "accessor entry")?;
        let Some(b) = view
            .get(&secret_key(&role.instance, &a.secret_id_hmac))
            .await?
        else {
            return Ok(None);
        };
        let entry: SecretIdEntry = decode(&b, "secret-id entry")?;
        if entry.expired(self.clock.now()) {
            return Ok(None);
        }
        Ok(Some(entry))
    }

    async fn destroy_entry(
        &self,
        view: &StorageView,
        role: &RoleEntry,
        entry: &SecretIdEntry,
    ) -> Result<(), LogicalError> {
        view.batch(vec![
            BatchItem::delete(secret_key(&role.instance, &entry.secret_id_hmac)),
            BatchItem::delete(accessor_key(&role.instance, &entry.accessor)),
        ])
        .await?;
        Ok(())
    }

    async fn secret_id_op(
        &self,
        req: &Request,
        view: &StorageView,
        name: &str,
        by_accessor: bool,
        destroy: bool,
    ) -> LogicalResult {
        let role = require_role(view, name).await?;
        let entry = if by_accessor {
            let accessor = match field_str(&req.data, "secret_id_accessor").map(str::trim) {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => return Err(LogicalError::bad("missing secret_id_accessor")),
            };
            match self.find_by_accessor(view, &role, &accessor).await? {
                Some(e) => e,
                None => {
                    return Err(LogicalError::bad(format!(
                        "failed to find accessor entry for secret_id_accessor: {accessor:?}"
                    )))
                }
            }
        } else {
            let secret_id = match field_str(&req.data, "secret_id").map(str::trim) {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => return Err(LogicalError::bad("missing secret_id")),
            };
            match self.find_secret_id(view, &role, &secret_id).await? {
                Some(e) => e,
                // Vault answers an unknown secret-id with no content.
                None => return Ok(Response::empty()),
            }
        };
        if destroy {
            self.destroy_entry(view, &role, &entry).await?;
            return Ok(Response::empty());
        }
        Ok(Response::data(entry.lookup_json()))
    }

    async fn list_secret_ids(&self, view: &StorageView, name: &str) -> LogicalResult {
        let role = require_role(view, name).await?;
        let keys = view
            .list(&format!("{ACCESSOR_PREFIX}{}/", role.instance))
            .await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    /// Takes one use of a secret-id: checks it, then decrements or deletes
    /// it with a condition on the bytes read, retrying on a lost race.
    async fn consume_secret_id(
        &self,
        req: &Request,
        view: &StorageView,
        role: &RoleEntry,
        secret_id: &str,
    ) -> Result<SecretIdEntry, LogicalError> {
        let key = hmac_key(view).await?;
        let hmac = keyed_hash(&key, "secret_id", secret_id)?;
        let skey = secret_key(&role.instance, &hmac);
        for _ in 0..CAS_ATTEMPTS * 4 {
            let Some(v) = view.get_versioned(&skey).await? else {
                return Err(LogicalError::bad(INVALID_CREDENTIALS));
            };
            let mut entry: SecretIdEntry = decode(&v.plaintext, "secret-id entry")?;
            if !ct_eq(&entry.secret_id_hmac, &hmac) {
                return Err(LogicalError::bad(INVALID_CREDENTIALS));
            }
            let now = self.clock.now();
            if entry.expired(now) {
                // Best effort: an expired secret-id is useless; tidy also
                // removes it.
                let _ = view
                    .batch(vec![
                        BatchItem::delete(skey.clone()).when(Condition::Equals(v.raw)),
                        BatchItem::delete(accessor_key(&role.instance, &entry.accessor)),
                    ])
                    .await;
                return Err(LogicalError::bad(INVALID_CREDENTIALS));
            }
            // Checked before a use is taken, so a refused address burns none.
            if !entry.cidr_list.is_empty() && !addr_allowed(&entry.cidr_list, req.remote_addr) {
                return Err(LogicalError::bad(format!(
                    "source address {:?} unauthorized by CIDR restrictions on the secret ID",
                    remote(req)
                )));
            }
            if entry.num_uses == 0 {
                return Ok(entry);
            }
            let batch = if entry.num_uses == 1 {
                vec![
                    BatchItem::delete(skey.clone()).when(Condition::Equals(v.raw)),
                    BatchItem::delete(accessor_key(&role.instance, &entry.accessor)),
                ]
            } else {
                let mut next = entry.clone();
                next.num_uses -= 1;
                next.last_updated_time = now;
                vec![BatchItem::put(skey.clone(), encode(&next)?).when(Condition::Equals(v.raw))]
            };
            match view.batch(batch).await {
                Ok(()) => {
                    entry.num_uses -= 1;
                    return Ok(entry);
                }
                Err(e) if is_condition_failed(&e) => tokio::task::yield_now().await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(LogicalError::Unavailable(
            "too many concurrent logins with this secret ID; retry the request".into(),
        ))
    }

    async fn login(&self, req: &Request, view: &StorageView) -> LogicalResult {
        let d = &req.data;
        let role_id = match d.get("role_id") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(_) => return Err(LogicalError::bad("role_id must be a string")),
        };
        if role_id.is_empty() {
            return Err(LogicalError::bad("missing role_id"));
        }
        let key = hmac_key(view).await?;
        let idx = format!("{ROLE_ID_PREFIX}{}", keyed_hash(&key, "role_id", &role_id)?);
        let Some(b) = view.get(&idx).await? else {
            return Err(LogicalError::bad(INVALID_CREDENTIALS));
        };
        let owner: RoleIdIndex = decode(&b, "role_id index")?;
        let Some(role) = load_role(view, &owner.name).await? else {
            return Err(LogicalError::bad(INVALID_CREDENTIALS));
        };
        if !ct_eq(&role.role_id, &role_id) {
            return Err(LogicalError::bad(INVALID_CREDENTIALS));
        }
        if !role.secret_id_bound_cidrs.is_empty()
            && !addr_allowed(&role.secret_id_bound_cidrs, req.remote_addr)
        {
            return Err(LogicalError::bad(format!(
                "source address {:?} unauthorized by CIDR restrictions on the role",
                remote(req)
            )));
        }
        let mut metadata = BTreeMap::new();
        let mut token_cidrs = role.token.token_bound_cidrs.clone();
        if role.bind_secret_id {
            let secret_id = match d.get("secret_id") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.trim().to_string(),
                Some(_) => return Err(LogicalError::bad("secret_id must be a string")),
            };
            if secret_id.is_empty() {
                return Err(LogicalError::bad("missing secret_id"));
            }
            let entry = self.consume_secret_id(req, view, &role, &secret_id).await?;
            metadata = entry.metadata;
            if !entry.token_bound_cidrs.is_empty() {
                token_cidrs = entry.token_bound_cidrs;
            }
        }
        metadata.insert("role_name".into(), role.name.clone());
        let mut auth = role.token.auth();
        auth.metadata = metadata;
        auth.bound_cidrs = token_cidrs;
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }

    /// Removes expired secret-ids, secret-ids of deleted roles, and
    /// accessors whose secret-id is gone.
    async fn tidy(&self, view: &StorageView) -> LogicalResult {
        let now = self.clock.now();
        let mut live = HashSet::new();
        for name in view.list(ROLE_PREFIX).await? {
            if name.ends_with('/') {
                continue;
            }
            if let Some(r) = load_role(view, &name).await? {
                live.insert(r.instance);
            }
        }
        let mut removed = 0u64;
        for folder in view.list(SECRET_PREFIX).await? {
            let instance = folder.trim_end_matches('/').to_string();
            let dir = format!("{SECRET_PREFIX}{folder}");
            for k in view.list(&dir).await? {
                let key = format!("{dir}{k}");
                let Some(v) = view.get_versioned(&key).await? else {
                    continue;
                };
                let stale = !live.contains(&instance)
                    || match decode::<SecretIdEntry>(&v.plaintext, "secret-id entry") {
                        Ok(e) => e.expired(now),
                        Err(_) => true,
                    };
                if stale {
                    match view
                        .batch(vec![BatchItem::delete(key).when(Condition::Equals(v.raw))])
                        .await
                    {
                        Ok(()) => removed += 1,
                        Err(e) if is_condition_failed(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        for folder in view.list(ACCESSOR_PREFIX).await? {
            let instance = folder.trim_end_matches('/').to_string();
            let dir = format!("{ACCESSOR_PREFIX}{folder}");
            for k in view.list(&dir).await? {
                let key = format!("{dir}{k}");
                let Some(b) = view.get(&key).await? else {
                    continue;
                };
                let dangling = !live.contains(&instance)
                    || match decode::<AccessorEntry>(&b, "accessor entry") {
                        Ok(a) => view
                            .get(&secret_key(&instance, &a.secret_id_hmac))
                            .await?
                            .is_none(),
                        Err(_) => true,
                    };
                if dangling {
                    view.delete(&key).await?;
                }
            }
        }
        let mut resp = Response::json(json!({ "secret_ids_removed": removed }));
        resp.status = Some(202);
        resp.warnings.push(
            "Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs.".into(),
        );
        tracing::info!(removed, "approle tidy of secret IDs finished");
        Ok(resp)
    }
}

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

#[async_trait]
impl Backend for AppRoleBackend {
    async fn handle(&self, req: &Request, view: &StorageView) -> LogicalResult {
        let path = req.relative_path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        let op = req.operation;
        let write = matches!(op, Operation::Create | Operation::Update);
        match parts.as_slice() {
            ["login"] if write => self.login(req, view).await,
            ["tidy", "secret-id"] if write => self.tidy(view).await,
            ["role"] if op == Operation::List => {
                let keys: Vec<String> = view
                    .list(ROLE_PREFIX)
                    .await?
                    .into_iter()
                    .filter(|k| !k.ends_with('/'))
                    .collect();
                if keys.is_empty() {
                    return Err(LogicalError::NotFound);
                }
                Ok(Response::list(keys))
            }
            ["role", name] => {
                let name = role_name(name)?;
                match op {
                    Operation::Read => self.read_role(view, &name).await,
                    Operation::Create | Operation::Update => {
                        self.write_role(req, view, &name).await
                    }
                    Operation::Delete => self.delete_role(view, &name).await,
                    _ => Err(LogicalError::UnsupportedOperation),
                }
            }
            ["role", name, "role-id"] => {
                let name = role_name(name)?;
                match op {
                    Operation::Read => {
                        let Some(r) = load_role(view, &name).await? else {
                            return Err(LogicalError::NotFound);
                        };
                        Ok(Response::json(json!({ "role_id": r.role_id })))
                    }
                    Operation::Create | Operation::Update => {
                        self.set_role_id(req, view, &name).await
                    }
                    _ => Err(LogicalError::UnsupportedOperation),
                }
            }
            ["role", name, "secret-id"] => {
                let name = role_name(name)?;
                match op {
                    Operation::Create | Operation::Update => {
                        self.create_secret_id(req, view, &name, false).await
                    }
                    Operation::List => self.list_secret_ids(view, &name).await,
                    _ => Err(LogicalError::UnsupportedOperation),
                }
            }
            ["role", name, "custom-secret-id"] if write => {
                self.create_secret_id(req, view, &role_name(name)?, true)
                    .await
            }
            ["role", name, kind @ ("secret-id" | "secret-id-accessor"), action @ ("lookup" | "destroy")]
                if write || (*action == "destroy" && op == Operation::Delete) =>
            {
                let name = role_name(name)?;
                self.secret_id_op(
                    req,
                    view,
                    &name,
                    *kind == "secret-id-accessor",
                    *action == "destroy",
                )
                .await
            }
            ["login"]
            | ["tidy", "secret-id"]
            | ["role"]
            | ["role", _, "custom-secret-id"]
            | ["role", _, "secret-id" | "secret-id-accessor", "lookup" | "destroy"] => {
                Err(LogicalError::UnsupportedOperation)
            }
            _ => Err(LogicalError::NoRoute(format!(
                "unsupported path: {:?}",
                req.relative_path
            ))),
        }
    }

    async fn exists(&self, req: &Request, view: &StorageView) -> Result<bool, LogicalError> {
        let path = req.relative_path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["role", name] => match role_name(name) {
                Ok(n) => Ok(view.get(&role_key(&n)).await?.is_some()),
                Err(_) => Ok(true),
            },
            _ => Ok(true),
        }
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::userpass::tests::{all_bytes, call, contains, setup};
    use crate::util::ManualClock;

    fn data(r: LogicalResult) -> Map<String, Value> {
        r.unwrap().data.expect("response data")
    }

    async fn role_id(b: &AppRoleBackend, view: &StorageView, name: &str) -> String {
        let d = data(
            call(
                b,
                view,
                Operation::Read,
                &format!("role/{name}/role-id"),
                json!({}),
            )
            .await,
        );
        d["role_id"].as_str().unwrap().to_string()
    }

    async fn new_secret(
        b: &AppRoleBackend,
        view: &StorageView,
        name: &str,
        body: Value,
    ) -> (String, String) {
        let d = data(
            call(
                b,
                view,
                Operation::Update,
                &format!("role/{name}/secret-id"),
                body,
            )
            .await,
        );
        (
            d["secret_id"].as_str().unwrap().to_string(),
            d["secret_id_accessor"].as_str().unwrap().to_string(),
        )
    }

    async fn login_from(
        b: &AppRoleBackend,
        view: &StorageView,
        role_id: &str,
        secret_id: &str,
        addr: Option<&str>,
    ) -> LogicalResult {
        let mut req = Request::new(Operation::Update, "auth/approle/login");
        req.relative_path = "login".into();
        req.data = json!({"role_id": role_id, "secret_id": secret_id})
            .as_object()
            .cloned()
            .unwrap();
        req.remote_addr = addr.map(|a| a.parse().unwrap());
        b.handle(&req, view).await
    }

    async fn login(
        b: &AppRoleBackend,
        view: &StorageView,
        role_id: &str,
        secret_id: &str,
    ) -> LogicalResult {
        login_from(b, view, role_id, secret_id, None).await
    }

    #[tokio::test]
    async fn role_crud_and_role_id() {
        let (_s, view) = setup().await;
        let b = AppRoleBackend::new();
        call(
            &b,
            &view,
            Operation::Create,
            "role/Web",
            json!({
                "token_policies": ["app", "Web"], "token_ttl": "10m", "token_max_ttl": "1h",
                "secret_id_num_uses": 10, "secret_id_ttl": "1h"
            }),
        )
        .await
        .unwrap();
        let d = data(call(&b, &view, Operation::Read, "role/web", json!({})).await);
        assert_eq!(d["token_policies"], json!(["app", "web"]));
        assert_eq!(d["token_ttl"], json!(600));
        assert_eq!(d["token_max_ttl"], json!(3600));
        assert_eq!(d["secret_id_num_uses"], json!(10));
        assert_eq!(d["secret_id_ttl"], json!(3600));
        assert_eq!(d["bind_secret_id"], json!(true));
        assert!(!d.contains_key("role_id"));

        let id = role_id(&b, &view, "web").await;
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        // An update keeps the role_id and unspecified fields.
        call(
            &b,
            &view,
            Operation::Update,
            "role/web",
            json!({"token_ttl": 60}),
        )
        .await
        .unwrap();
        assert_eq!(role_id(&b, &view, "web").await, id);
        let d = data(call(&b, &view, Operation::Read, "role/web", json!({})).await);
        assert_eq!(d["token_ttl"], json!(60));
        assert_eq!(d["token_policies"], json!(["app", "web"]));

        // Custom role_id; the old one stops working, a taken one is refused.
        call(
            &b,
            &view,
            Operation::Update,
            "role/web/role-id",
            json!({"role_id": "my-custom-id"}),
        )
        .await
        .unwrap();
        assert_eq!(role_id(&b, &view, "web").await, "my-custom-id");
        call(&b, &view, Operation::Create, "role/other", json!({}))
            .await
            .unwrap();
        let e = call(
            &b,
            &view,
            Operation::Update,
            "role/other/role-id",
            json!({"role_id": "my-custom-id"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.to_string(), "role_id already in use");
        let (sid, _) = new_secret(&b, &view, "web", json!({})).await;
        assert_eq!(
            login(&b, &view, &id, &sid).await.unwrap_err().to_string(),
            INVALID_CREDENTIALS
        );
        login(&b, &view, "my-custom-id", &sid).await.unwrap();

        let keys = data(call(&b, &view, Operation::List, "role", json!({})).await);
        assert_eq!(keys["keys"], json!(["other", "web"]));

        call(&b, &view, Operation::Delete, "role/web", json!({}))
            .await
            .unwrap();
        assert!(matches!(
            call(&b, &view, Operation::Read, "role/web", json!({}))
                .await
                .unwrap_err(),
            LogicalError::NotFound
        ));
        assert_eq!(
            login(&b, &view, "my-custom-id", &sid)
                .await
                .unwrap_err()
                .to_string(),
            INVALID_CREDENTIALS
        );
        // Recreating the name gives a fresh role: the old secret-id is dead.
        call(
            &b,
            &view,
            Operation::Update,
            "role/web/role-id",
            json!({"role_id": "x"}),
        )
        .await
        .unwrap_err();
        call(
            &b,
            &view,
            Operation::Create,
            "role/web",
            json!({"role_id": "my-custom-id"}),
        )
        .await
        .unwrap();
        assert_eq!(
            login(&b, &view, "my-custom-id", &sid)
                .await
                .unwrap_err()
                .to_string(),
            INVALID_CREDENTIALS
        );
    }

    #[tokio::test]
    async fn validation_errors() {
        let (_s, view) = setup().await;
        let b = AppRoleBackend::new();
        let e = call(
            &b,
            &view,
            Operation::Create,
            "role/r",
            json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.to_string(),
            "token_ttl should not be greater than token_max_ttl"
        );
        for body in [
            json!({"bind_secret_id": "maybe"}),
            json!({"secret_id_ttl": "forever"}),
            json!({"secret_id_num_uses": -1}),
            json!({"secret_id_bound_cidrs": ["nope"]}),
            json!({"token_policies": [1, 2]}),
            json!({"bind_secret_id": false}),
            json!({"token_type": "batch"}),
        ] {
            let e = call(&b, &view, Operation::Create, "role/r", body.clone())
                .await
                .unwrap_err();
            assert_eq!(e.status(), 400, "{body}");
        }
        assert_eq!(
            call(&b, &view, Operation::Create, "role/bad%2fname", json!({}))
                .await
                .unwrap_err()
                .status(),
            400
        );
        assert!(load_role(&view, "r").await.unwrap().is_none());

        // Login input errors.
        let e = call(&b, &view, Operation::Update, "login", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "missing role_id");
        let e = call(&b, &view, Operation::Update, "login", json!({"role_id": 5}))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400);
        let e = login(&b, &view, "unknown", "x").await.unwrap_err();
        assert_eq!(
            (e.status(), e.to_string()),
            (400, INVALID_CREDENTIALS.to_string())
        );

        call(
            &b,
            &view,
            Operation::Create,
            "role/r",
            json!({"secret_id_num_uses": 2, "secret_id_ttl": 60}),
        )
        .await
        .unwrap();
        let id = role_id(&b, &view, "r").await;
        let e = login(&b, &view, &id, "").await.unwrap_err();
        assert_eq!(e.to_string(), "missing secret_id");
        let e = login(&b, &view, &id, "wrong").await.unwrap_err();
        assert_eq!(
            (e.status(), e.to_string()),
            (400, INVALID_CREDENTIALS.to_string())
        );
        // Secret-id requests may not exceed the role's limits.
        for body in [
            json!({"num_uses": 3}),
            json!({"num_uses": 0}),
            json!({"ttl": 120}),
            json!({"metadata": 7}),
        ] {
            let e = call(
                &b,
                &view,
                Operation::Update,
                "role/r/secret-id",
                body.clone(),
            )
            .await
            .unwrap_err();
            assert_eq!(e.status(), 400, "{body}");
        }
        let e = call(
            &b,
            &view,
            Operation::Update,
            "role/none/secret-id",
            json!({}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(
            call(&b, &view, Operation::Read, "role/r/secret-id", json!({}))
                .await
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            call(&b, &view, Operation::Read, "no/such/path", json!({}))
                .await
                .unwrap_err()
                .status(),
            404
        );
    }

    #[tokio::test]
    async fn secret_id_lifecycle_and_login_grant() {
        let (_s, view) = setup().await;
        let b = AppRoleBackend::new();
        call(
            &b,
            &view,
            Operation::Create,
            "role/app",
            json!({
                "policies": "db,cache", "token_ttl": 300, "token_max_ttl": 900, "token_num_uses": 7,
                "token_period": 0
            }),
        )
        .await
        .unwrap();
        let id = role_id(&b, &view, "app").await;
        let d = data(
            call(
                &b,
                &view,
                Operation::Update,
                "role/app/secret-id",
                json!({"metadata": "{\"env\":\"prod\"}", "num_uses": 5, "ttl": "1h"}),
            )
            .await,
        );
        assert_eq!(d["secret_id_ttl"], json!(3600));
        assert_eq!(d["secret_id_num_uses"], json!(5));
        let sid = d["secret_id"].as_str().unwrap().to_string();
        let acc = d["secret_id_accessor"].as_str().unwrap().to_string();
        assert!(uuid::Uuid::parse_str(&sid).is_ok());

        let auth = login(&b, &view, &id, &sid).await.unwrap().auth.unwrap();
        assert_eq!(auth.policies, vec!["cache", "db"]);
        assert_eq!(auth.ttl, 300);
        assert_eq!(auth.explicit_max_ttl, 900);
        assert_eq!(auth.num_uses, 7);
        assert!(auth.renewable);
        assert!(auth.client_token.is_empty());
        assert_eq!(
            auth.metadata.get("role_name").map(String::as_str),
            Some("app")
        );
        assert_eq!(auth.metadata.get("env").map(String::as_str), Some("prod"));

        // Lookup by value and by accessor.
        let d = data(
            call(
                &b,
                &view,
                Operation::Update,
                "role/app/secret-id/lookup",
                json!({"secret_id": sid}),
            )
            .await,
        );
        assert_eq!(d["secret_id_accessor"], json!(acc));
        assert_eq!(d["secret_id_num_uses"], json!(4));
        assert_eq!(d["metadata"], json!({"env": "prod"}));
        let d = data(
            call(
                &b,
                &view,
                Operation::Update,
                "role/app/secret-id-accessor/lookup",
                json!({"secret_id_accessor": acc}),
            )
            .await,
        );
        assert_eq!(d["secret_id_num_uses"], json!(4));
        assert!(!d.contains_key("secret_id"));
        let keys = data(call(&b, &view, Operation::List, "role/app/secret-id", json!({})).await);
        assert_eq!(keys["keys"], json!([acc]));
        // Unknown ones.
        let r = call(
            &b,
            &view,
            Operation::Update,
            "role/app/secret-id/lookup",
            json!({"secret_id": "nope"}),
        )
        .await
        .unwrap();
        assert!(r.data.is_none());
        let e = call(
            &b,
            &view,
            Operation::Update,
            "role/app/secret-id-accessor/lookup",
            json!({"secret_id_accessor": "nope"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);

        // Destroy by value.
        call(
            &b,
            &view,
            Operation::Update,
            "role/app/secret-id/destroy",
            json!({"secret_id": sid}),
        )
        .await
        .unwrap();
        assert_eq!(
            login(&b, &view, &id, &sid).await.unwrap_err().to_string(),
            INVALID_CREDENTIALS
        );
        assert!(matches!(
            call(&b, &view, Operation::List, "role/app/secret-id", json!({}))
                .await
                .unwrap_err(),
            LogicalError::NotFound
        ));

        // Destroy by accessor.
        let (sid2, acc2) = new_secret(&b, &view, "app", json!({})).await;
        login(&b, &view, &id, &sid2).await.unwrap();
        call(
            &b,
            &view,
            Operation::Update,
            "role/app/secret-id-accessor/destroy",
            json!({"secret_id_accessor": acc2}),
        )
        .await
        .unwrap();
        assert_eq!(
            login(&b, &view, &id, &sid2).await.unwrap_err().to_string(),
            INVALID_CREDENTIALS
        );

        // Custom secret-id; a duplicate is refused.
        let d = data(
            call(
                &b,
                &view,
                Operation::Update,
                "role/app/custom-secret-id",
                json!({"secret_id": "my-own-secret"}),
            )
            .await,
        );
        assert_eq!(d["secret_id"], json!("my-own-secret"));
        let e = call(
            &b,
            &view,
            Operation::Update,
            "role/app/custom-secret-id",
            json!({"secret_id": "my-own-secret"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
        login(&b, &view, &id, "my-own-secret").await.unwrap();
    }

    #[tokio::test]
    async fn num_uses_exhausted() {
        let (_s, view) = setup().await;
        let b = AppRoleBackend::new();
        call(
            &b,
            &view,
            Operation::Create,
            "role/r",
            json!({"secret_id_num_uses": 2}),
        )
        .await
        .unwrap();
        let id = role_id(&b, &view, "r").await;
        let (sid, acc) = new_secret(&b, &view, "r", json!({})).await;
        login(&b, &view, &id, &sid).await.unwrap();
        login(&b, &view, &id, &sid).await.unwrap();
        assert_eq!(
            login(&b, &view, &id, &sid).await.unwrap_err().to_string(),
            INVALID_CREDENTIALS
        );
        // The last use deleted the secret-id and its accessor.
        let e = call(
            &b,
            &view,
            Operation::Update,
            "role/r/secret-id-accessor/lookup",
            json!({"secret_id_accessor": acc}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_logins_never_exceed_num_uses() {
        let (_s, view) = setup().await;
        let b = Arc::new(AppRoleBackend::new());
        call(&*b, &view, Operation::Create, "role/r", json!({}))
            .await
            .unwrap();
        let id = role_id(&b, &view, "r").await;
        for _round in 0..3 {
            let (sid, _) = new_secret(&b, &view, "r", json!({"num_uses": 3})).await;
            let mut tasks = Vec::new();
            for _ in 0..24 {
                let (b, view, id, sid) = (b.clone(), view.clone(), id.clone(), sid.clone());
                tasks.push(tokio::spawn(
                    async move { login(&b, &view, &id, &sid).await },
                ));
            }
            let mut ok = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(r) => {
                        assert!(r.auth.is_some());
                        ok += 1;
                    }
                    Err(e) => assert_eq!(e.to_string(), INVALID_CREDENTIALS),
                }
            }
            assert_eq!(ok, 3);
        }
    }

    #[tokio::test]
    async fn secret_id_ttl_expiry_and_tidy() {
        let (_s, view) = setup().await;
        let clock = Arc::new(ManualClock::new());
        let b = AppRoleBackend::with_clock(clock.clone());
        call(
            &b,
            &view,
            Operation::Create,
            "role/r",
            json!({"secret_id_ttl": "1m"}),
        )
        .await
        .unwrap();
        let id = role_id(&b, &view, "r").await;
        let (short, _) = new_secret(&b, &view, "r", json!({"ttl": 10})).await;
        let (long, _) = new_secret(&b, &view, "r", json!({})).await;
        let d = data(
            call(
                &b,
                &view,
                Operation::Update,
                "role/r/secret-id/lookup",
                json!({"secret_id": long}),
            )
            .await,
        );
        assert_eq!(d["secret_id_ttl"], json!(60));
        login(&b, &view, &id, &short).await.unwrap();
        clock.advance(11);
        assert_eq!(
            login(&b, &view, &id, &short).await.unwrap_err().to_string(),
            INVALID_CREDENTIALS
        );
        login(&b, &view, &id, &long).await.unwrap();
        clock.advance(60);
        let r = call(
            &b,
            &view,
            Operation::Update,
            "role/r/secret-id/lookup",
            json!({"secret_id": long}),
        )
        .await
        .unwrap();
        assert!(r.data.is_none());
        // Tidy removes the expired entry and its accessor.
        let r = call(&b, &view, Operation::Update, "tidy/secret-id", json!({}))
            .await
            .unwrap();
        assert_eq!(r.status, Some(202));
        assert!(view.list(SECRET_PREFIX).await.unwrap().is_empty());
        assert!(view.list(ACCESSOR_PREFIX).await.unwrap().is_empty());
        assert_eq!(
            login(&b, &view, &id, &long).await.unwrap_err().to_string(),
            INVALID_CREDENTIALS
        );

        let e = SecretIdEntry {
            secret_id_hmac: String::new(),
            accessor: String::new(),
            num_uses: 0,
            ttl: 5,
            creation_time: Utc::now(),
            expiration_time: Some(Utc::now()),
            last_updated_time: Utc::now(),
            metadata: BTreeMap::new(),
            cidr_list: vec![],
            token_bound_cidrs: vec![],
        };
        assert!(e.expired(Utc::now()));
        assert!(!SecretIdEntry {
            expiration_time: None,
            ..e
        }
        .expired(Utc::now()));
    }

    #[tokio::test]
    async fn cidr_bounds() {
        let (_s, view) = setup().await;
        let b = AppRoleBackend::new();
        call(
            &b,
            &view,
            Operation::Create,
            "role/r",
            json!({
                "secret_id_bound_cidrs": ["10.0.0.0/8"], "token_bound_cidrs": "10.0.0.0/8"
            }),
        )
        .await
        .unwrap();
        let id = role_id(&b, &view, "r").await;
        // Secret-id CIDRs must lie inside the role's.
        let e = call(
            &b,
            &view,
            Operation::Update,
            "role/r/secret-id",
            json!({"cidr_list": "192.168.0.0/16"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
        let (sid, _) = new_secret(
            &b,
            &view,
            "r",
            json!({"cidr_list": "10.1.0.0/16", "num_uses": 1,
            "token_bound_cidrs": ["10.1.2.0/24"]}),
        )
        .await;
        // Refused addresses do not burn the single use.
        for addr in [None, Some("192.168.1.1"), Some("10.2.0.1")] {
            let e = login_from(&b, &view, &id, &sid, addr).await.unwrap_err();
            assert_eq!(e.status(), 400, "{addr:?}");
            assert!(e.to_string().contains("unauthorized"), "{e}");
        }
        let auth = login_from(&b, &view, &id, &sid, Some("10.1.2.3"))
            .await
            .unwrap()
            .auth
            .unwrap();
        assert_eq!(auth.bound_cidrs, vec!["10.1.2.0/24"]);
        assert!(login_from(&b, &view, &id, &sid, Some("10.1.2.3"))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn bind_secret_id_false() {
        let (_s, view) = setup().await;
        let b = AppRoleBackend::new();
        call(&b, &view, Operation::Create, "role/open", json!({
            "bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.0/8", "token_policies": "p"
        }))
        .await
        .unwrap();
        let id = role_id(&b, &view, "open").await;
        let mut req = Request::new(Operation::Update, "auth/approle/login");
        req.relative_path = "login".into();
        req.data = json!({"role_id": id}).as_object().cloned().unwrap();
        req.remote_addr = Some("127.0.0.1".parse().unwrap());
        let auth = b.handle(&req, &view).await.unwrap().auth.unwrap();
        assert_eq!(auth.policies, vec!["p"]);
        assert_eq!(
            auth.metadata.get("role_name").map(String::as_str),
            Some("open")
        );
        req.remote_addr = Some("10.0.0.1".parse().unwrap());
        assert_eq!(b.handle(&req, &view).await.unwrap_err().status(), 400);
        let e = call(
            &b,
            &view,
            Operation::Update,
            "role/open/secret-id",
            json!({}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[tokio::test]
    async fn secret_id_never_stored() {
        let (storage, view) = setup().await;
        let b = AppRoleBackend::new();
        call(
            &b,
            &view,
            Operation::Create,
            "role/r",
            json!({"secret_id_num_uses": 5}),
        )
        .await
        .unwrap();
        let id = role_id(&b, &view, "r").await;
        let (sid, _) = new_secret(&b, &view, "r", json!({})).await;
        call(
            &b,
            &view,
            Operation::Update,
            "role/r/custom-secret-id",
            json!({"secret_id": "Custom-Secret-Value-123"}),
        )
        .await
        .unwrap();
        login(&b, &view, &id, &sid).await.unwrap();
        login(&b, &view, &id, "Custom-Secret-Value-123")
            .await
            .unwrap();
        let blobs = all_bytes(&storage, &view).await;
        assert!(blobs.len() > 5);
        for blob in blobs {
            assert!(!contains(&blob, sid.as_bytes()));
            assert!(!contains(&blob, sid.replace('-', "").as_bytes()));
            assert!(!contains(&blob, b"Custom-Secret-Value-123"));
        }
    }

    #[test]
    fn unauthenticated_paths() {
        assert_eq!(AppRoleBackend::new().unauthenticated_paths(), &["login"]);
    }
}
