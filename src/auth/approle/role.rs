//! Role CRUD (`role`, `role/:name`) and the role_id (`role/:name/role-id`).

use serde_json::{json, Map};

use super::storage::{
    decode, delete_folder, hmac_key, keyed_hash, load_role, role_key, role_name, update_role,
    RoleEntry, ACCESSOR_PREFIX, ROLE_ID_PREFIX, ROLE_PREFIX, SECRET_PREFIX,
};
use super::AppRole;
use crate::auth::common::{validate_cidrs, TokenParams};
use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult, Operation, Response};
use crate::storage::{BatchItem, Condition};

/// Vault refuses a role that would let anyone with the role_id log in.
pub(super) fn check_constraints(e: &RoleEntry) -> Result<(), LogicalError> {
    if !e.bind_secret_id
        && e.secret_id_bound_cidrs.is_empty()
        && e.token.token_bound_cidrs.is_empty()
    {
        return Err(LogicalError::bad(
            "at least one constraint should be enabled on the role",
        ));
    }
    Ok(())
}

impl AppRole {
    /// `role` (LIST).
    pub(super) async fn list_roles(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys: Vec<String> = c
            .view
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

    /// Whether `role/:name` exists (Create vs Update). A malformed name is
    /// an Update, which the handler then refuses.
    pub(super) async fn role_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        match role_name(c.path("role_name")) {
            Ok(n) => Ok(c.view.get(&role_key(&n)).await?.is_some()),
            Err(_) => Ok(true),
        }
    }

    pub(super) async fn read_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(e) = load_role(c.view, &role_name(c.path("role_name"))?).await? else {
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
        m.insert("local_secret_ids".into(), json!(e.local_secret_ids));
        e.token.write_json(&mut m);
        m.insert("period".into(), json!(e.token.token_period));
        Ok(Response::data(m))
    }

    pub(super) async fn write_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = role_name(c.path("role_name"))?;
        let d = &c.fields;
        // Everything is checked before any storage work.
        let bind = d.get_ok::<bool>("bind_secret_id");
        let cidrs = d
            .get_ok::<Vec<String>>("secret_id_bound_cidrs")
            .or_else(|| d.get_ok("bound_cidr_list"));
        if let Some(c) = &cidrs {
            validate_cidrs("secret_id_bound_cidrs", c)?;
        }
        let num_uses = match d.get_ok::<i64>("secret_id_num_uses") {
            None => None,
            Some(n) => Some(
                u64::try_from(n)
                    .map_err(|_| LogicalError::bad("secret_id_num_uses cannot be negative"))?,
            ),
        };
        let ttl = d.get_ok::<u64>("secret_id_ttl");
        let custom_role_id = match d.get_ok::<String>("role_id") {
            None => None,
            Some(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(_) => return Err(LogicalError::bad("role_id must be a non-empty string")),
        };
        let local = d.get_ok::<bool>("local_secret_ids");
        let creating = c.operation() == Operation::Create;
        if local.is_some() && !creating {
            return Err(LogicalError::bad(
                "local_secret_ids can only be modified during role creation",
            ));
        }
        TokenParams::default().update_from_fields(d, false)?;
        update_role(c.view, &name, true, |e| {
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
            if let Some(l) = local {
                e.local_secret_ids = l;
            }
            e.token.update_from_fields(d, false)?;
            e.token.validate()?;
            check_constraints(e)
        })
        .await?;
        Ok(Response::empty())
    }

    pub(super) async fn delete_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let view = c.view;
        let name = role_name(c.path("role_name"))?;
        let key = hmac_key(view).await?;
        let Some(v) = view.get_versioned(&role_key(&name)).await? else {
            return Ok(Response::empty());
        };
        let role: RoleEntry = decode(&v.plaintext, "role entry")?;
        let idx = format!(
            "{ROLE_ID_PREFIX}{}",
            keyed_hash(&key, "role_id", &role.role_id)?
        );
        view.batch(vec![
            BatchItem::delete(role_key(&name)).when(Condition::Equals(v.raw)),
            BatchItem::delete(idx),
        ])
        .await?;
        // The role is gone, so its secret-ids can no longer log in; remove
        // them now (tidy catches whatever an interruption leaves behind).
        delete_folder(view, &format!("{SECRET_PREFIX}{}/", role.instance)).await?;
        delete_folder(view, &format!("{ACCESSOR_PREFIX}{}/", role.instance)).await?;
        Ok(Response::empty())
    }

    /// `role/:name/role-id` (read).
    pub(super) async fn read_role_id(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(r) = load_role(c.view, &role_name(c.path("role_name"))?).await? else {
            return Err(LogicalError::NotFound);
        };
        Ok(Response::json(json!({ "role_id": r.role_id })))
    }

    /// `role/:name/role-id` (write): a custom role_id, unique in the mount.
    pub(super) async fn write_role_id(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = role_name(c.path("role_name"))?;
        let id = c.fields.str("role_id").trim().to_string();
        if id.is_empty() {
            return Err(LogicalError::bad("missing role_id"));
        }
        update_role(c.view, &name, false, |e| {
            e.role_id = id.clone();
            Ok(())
        })
        .await?;
        Ok(Response::empty())
    }
}
