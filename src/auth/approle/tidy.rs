//! `tidy/secret-id`: removes what logins and deletes leave behind.

use std::collections::HashSet;

use serde_json::json;

use super::storage::{
    decode, load_role, secret_key, AccessorEntry, SecretIdEntry, ACCESSOR_PREFIX, ROLE_PREFIX,
    SECRET_PREFIX,
};
use super::AppRole;
use crate::auth::common::is_condition_failed;
use crate::logical::framework::Ctx;
use crate::logical::{LogicalResult, Response};
use crate::storage::{BatchItem, Condition};

impl AppRole {
    /// Removes expired secret-ids, secret-ids of deleted roles, and
    /// accessors whose secret-id is gone.
    pub(super) async fn tidy(&self, c: &Ctx<'_>) -> LogicalResult {
        let view = c.view;
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
