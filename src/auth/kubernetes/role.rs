//! Roles: which service accounts (names and namespaces, `*` globs) may log
//! in, the audience their tokens must carry, what names the identity alias
//! (`alias_name_source`), and the token the login grants.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

use super::KubernetesAuth;
use crate::auth::common::TokenParams;
use crate::logical::framework::{no_content, Ctx, DefaultValue, Field};
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};

pub(super) const ROLE_PREFIX: &str = "role/";
pub(super) const SOURCE_UID: &str = "serviceaccount_uid";
pub(super) const SOURCE_NAME: &str = "serviceaccount_name";

pub(super) const ROLE_FIELDS: &[Field] = &[
    Field::comma_strings("bound_service_account_names", "List of service account names able to access this role. If set to \"*\" all names are allowed."),
    Field::comma_strings("bound_service_account_namespaces", "List of namespaces allowed to access this role. If set to \"*\" all namespaces are allowed."),
    Field::string("bound_service_account_namespace_selector", "A label selector for Kubernetes namespaces which are allowed to access this role (not supported)."),
    Field::string("audience", "Optional Audience claim to verify in the jwt."),
    Field::string("alias_name_source", "Source to use when deriving the Alias name: serviceaccount_uid (default) or serviceaccount_name.").default(DefaultValue::Str("serviceaccount_uid")),
];

/// A stored role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct KubeRole {
    #[serde(default)]
    pub(crate) bound_service_account_names: Vec<String>,
    #[serde(default)]
    pub(crate) bound_service_account_namespaces: Vec<String>,
    #[serde(default)]
    pub(crate) audience: String,
    #[serde(default)]
    pub(crate) alias_name_source: String,
    #[serde(flatten)]
    pub(crate) token: TokenParams,
}

fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{}", name.to_lowercase())
}

pub(super) async fn load_role(
    view: &StorageView,
    name: &str,
) -> Result<Option<KubeRole>, LogicalError> {
    match view.get(&role_key(name)).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| LogicalError::Internal(format!("corrupt kubernetes role: {e}"))),
    }
}

fn no_mixed_star(field: &str, list: &[String]) -> Result<(), LogicalError> {
    if list.len() > 1 && list.iter().any(|v| v == "*") {
        return Err(LogicalError::bad(format!(
            "can not mix \"*\" with values for {field:?}"
        )));
    }
    Ok(())
}

impl KubernetesAuth {
    pub(super) async fn role_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        Ok(c.view.get(&role_key(c.path("name"))).await?.is_some())
    }

    pub(super) async fn list_roles(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys = c.view.list(ROLE_PREFIX).await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    pub(super) async fn delete_role(&self, c: &Ctx<'_>) -> LogicalResult {
        c.view.delete(&role_key(c.path("name"))).await?;
        no_content()
    }

    pub(super) async fn read_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(r) = load_role(c.view, c.path("name")).await? else {
            return Err(LogicalError::NotFound);
        };
        let mut data = Map::new();
        data.insert("alias_name_source".into(), json!(r.alias_name_source));
        data.insert("audience".into(), json!(r.audience));
        data.insert(
            "bound_service_account_names".into(),
            json!(r.bound_service_account_names),
        );
        data.insert("bound_service_account_namespace_selector".into(), json!(""));
        data.insert(
            "bound_service_account_namespaces".into(),
            json!(r.bound_service_account_namespaces),
        );
        r.token.write_json(&mut data);
        data.remove("policies");
        data.insert("token_strictly_bind_ip".into(), json!(false));
        Ok(Response::data(data))
    }

    pub(super) async fn write_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name").to_lowercase();
        let d = &c.fields;
        let existing = load_role(c.view, &name).await?;
        let is_new = existing.is_none();
        let mut r = existing.unwrap_or_default();
        r.token.update_from_fields(d, false)?;
        if let Some(v) = d.get_ok::<Vec<String>>("bound_service_account_names") {
            r.bound_service_account_names = v;
        }
        if r.bound_service_account_names.is_empty() {
            return Err(LogicalError::bad(
                "\"bound_service_account_names\" can not be empty",
            ));
        }
        no_mixed_star(
            "bound_service_account_names",
            &r.bound_service_account_names,
        )?;
        if let Some(v) = d.get_ok::<Vec<String>>("bound_service_account_namespaces") {
            r.bound_service_account_namespaces = v;
        }
        if d.get_ok::<String>("bound_service_account_namespace_selector")
            .is_some_and(|s| !s.trim().is_empty())
        {
            return Err(LogicalError::bad(
                "bound_service_account_namespace_selector is not supported: bind namespaces with bound_service_account_namespaces",
            ));
        }
        if r.bound_service_account_namespaces.is_empty() {
            return Err(LogicalError::bad(
                "\"bound_service_account_namespaces\" can not be empty if \"bound_service_account_namespace_selector\" is not set",
            ));
        }
        no_mixed_star(
            "bound_service_account_namespaces",
            &r.bound_service_account_namespaces,
        )?;
        if let Some(v) = d.get_ok::<String>("audience") {
            r.audience = v;
        }
        match d.get_ok::<String>("alias_name_source") {
            Some(s) => {
                if s != SOURCE_UID && s != SOURCE_NAME {
                    return Err(LogicalError::bad(format!(
                        "invalid alias_name_source {s:?}, must be one of [{SOURCE_UID} {SOURCE_NAME}]"
                    )));
                }
                if !is_new && s != r.alias_name_source {
                    return Err(LogicalError::bad(
                        "changing the alias_name_source is not allowed: it would orphan every existing entity alias of this role",
                    ));
                }
                r.alias_name_source = s;
            }
            None if r.alias_name_source.is_empty() => r.alias_name_source = SOURCE_UID.into(),
            None => {}
        }
        if r.token.token_max_ttl > 0 && r.token.token_ttl > r.token.token_max_ttl {
            return Err(LogicalError::bad("ttl should not be greater than max ttl"));
        }
        r.token.validate()?;
        let bytes = serde_json::to_vec(&r)
            .map_err(|e| LogicalError::Internal(format!("encoding kubernetes role: {e}")))?;
        c.view.put(&role_key(&name), &bytes).await?;
        no_content()
    }
}
