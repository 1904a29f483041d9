//! Login: the role_id index lookup, the CIDR checks, and taking one use of
//! a secret-id atomically (a batch conditioned on the bytes read, so
//! concurrent logins never use a secret-id more often than allowed).

use std::collections::BTreeMap;

use super::storage::{
    accessor_key, ct_eq, decode, encode, hmac_key, keyed_hash, load_role, remote, secret_key,
    RoleEntry, RoleIdIndex, SecretIdEntry, INVALID_CREDENTIALS, ROLE_ID_PREFIX,
};
use super::AppRole;
use crate::auth::common::{addr_allowed, is_condition_failed, CAS_ATTEMPTS};
use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult, Request, Response, StorageView};
use crate::storage::{BatchItem, Condition};

impl AppRole {
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

    /// `login`: checks the role_id (and secret-id, if the role binds one)
    /// and answers with the grant; core issues the token.
    pub(super) async fn login(&self, c: &Ctx<'_>) -> LogicalResult {
        let (req, view) = (c.req, c.view);
        let role_id = c.fields.str("role_id").trim().to_string();
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
            let secret_id = c.fields.str("secret_id").trim().to_string();
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
        // Vault's alias: the role id, with the role name as its metadata.
        auth.alias = Some(crate::logical::auth::Alias {
            name: role.role_id.clone(),
            metadata: BTreeMap::from([("role_name".to_string(), role.name.clone())]),
        });
        auth.bound_cidrs = token_cidrs;
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }
}
