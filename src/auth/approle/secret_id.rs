//! Secret-ids: generating and registering them, lookup and destroy by value
//! or by accessor, and listing a role's accessors. Secret-ids are stored
//! only as keyed hashes; lookups compare the hash again in constant time.

use serde_json::{json, Value};

use super::storage::{
    accessor_key, cidrs_subset, ct_eq, decode, encode, hmac_key, keyed_hash, require_role,
    role_key, role_name, secret_key, secret_metadata, AccessorEntry, RoleEntry, SecretIdEntry,
    ACCESSOR_PREFIX,
};
use super::AppRole;
use crate::auth::common::{is_condition_failed, validate_cidrs};
use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};
use crate::storage::{BatchItem, Condition};

impl AppRole {
    /// `role/:name/secret-id` (write): a new random secret-id.
    pub(super) async fn generate_secret_id(&self, c: &Ctx<'_>) -> LogicalResult {
        self.create_secret_id(c, uuid::Uuid::new_v4().to_string(), false)
            .await
    }

    /// `role/:name/custom-secret-id`: a secret-id the caller chose.
    pub(super) async fn custom_secret_id(&self, c: &Ctx<'_>) -> LogicalResult {
        let secret_id = c.fields.str("secret_id").trim().to_string();
        if secret_id.is_empty() {
            return Err(LogicalError::bad("missing secret_id"));
        }
        self.create_secret_id(c, secret_id, true).await
    }

    async fn create_secret_id(
        &self,
        c: &Ctx<'_>,
        secret_id: String,
        custom: bool,
    ) -> LogicalResult {
        let name = role_name(c.path("role_name"))?;
        let name = name.as_str();
        let view = c.view;
        let metadata = secret_metadata(c.fields.get_ok::<Value>("metadata").as_ref())?;
        let cidr_list = c.fields.list("cidr_list");
        validate_cidrs("cidr_list", &cidr_list)?;
        let token_cidrs = c.fields.list("token_bound_cidrs");
        validate_cidrs("token_bound_cidrs", &token_cidrs)?;
        let num_uses = match c.fields.get_ok::<i64>("num_uses") {
            None => None,
            Some(n) => Some(
                u64::try_from(n).map_err(|_| LogicalError::bad("num_uses cannot be negative"))?,
            ),
        };
        let ttl = c.fields.get_ok::<u64>("ttl");

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

    /// `role/:name/secret-id/lookup`.
    pub(super) async fn lookup(&self, c: &Ctx<'_>) -> LogicalResult {
        self.secret_id_op(c, false, false).await
    }

    /// `role/:name/secret-id/destroy` (write or delete).
    pub(super) async fn destroy(&self, c: &Ctx<'_>) -> LogicalResult {
        self.secret_id_op(c, false, true).await
    }

    /// `role/:name/secret-id-accessor/lookup`.
    pub(super) async fn lookup_accessor(&self, c: &Ctx<'_>) -> LogicalResult {
        self.secret_id_op(c, true, false).await
    }

    /// `role/:name/secret-id-accessor/destroy` (write or delete).
    pub(super) async fn destroy_accessor(&self, c: &Ctx<'_>) -> LogicalResult {
        self.secret_id_op(c, true, true).await
    }

    async fn secret_id_op(&self, c: &Ctx<'_>, by_accessor: bool, destroy: bool) -> LogicalResult {
        let view = c.view;
        let role = require_role(view, &role_name(c.path("role_name"))?).await?;
        let entry = if by_accessor {
            let accessor = c.fields.str("secret_id_accessor").trim().to_string();
            if accessor.is_empty() {
                return Err(LogicalError::bad("missing secret_id_accessor"));
            }
            match self.find_by_accessor(view, &role, &accessor).await? {
                Some(e) => e,
                None => {
                    return Err(LogicalError::bad(format!(
                        "failed to find accessor entry for secret_id_accessor: {accessor:?}"
                    )))
                }
            }
        } else {
            let secret_id = c.fields.str("secret_id").trim().to_string();
            if secret_id.is_empty() {
                return Err(LogicalError::bad("missing secret_id"));
            }
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

    /// `role/:name/secret-id` (LIST): the accessors of the live secret-ids.
    pub(super) async fn list_secret_ids(&self, c: &Ctx<'_>) -> LogicalResult {
        let view = c.view;
        let role = require_role(view, &role_name(c.path("role_name"))?).await?;
        let keys = view
            .list(&format!("{ACCESSOR_PREFIX}{}/", role.instance))
            .await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }
}
