//! Token roles (`auth/token/roles/{role_name}`): templates for
//! `create/{role_name}`, stored under `sys/token/roles/`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::TokenScope;
use crate::logical::framework::{Ctx, DefaultValue, Field};
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};
use crate::policy::normalize_policies;

/// Where roles live, relative to the barrier.
pub(super) const ROLE_PREFIX: &str = "sys/token/roles/";

/// A token role: a template for `create/{role_name}`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub(crate) struct TokenRole {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) allowed_policies: Vec<String>,
    #[serde(default)]
    pub(crate) disallowed_policies: Vec<String>,
    #[serde(default)]
    pub(crate) orphan: bool,
    #[serde(default = "yes")]
    pub(crate) renewable: bool,
    #[serde(default)]
    pub(crate) token_period: u64,
    #[serde(default)]
    pub(crate) token_explicit_max_ttl: u64,
    #[serde(default)]
    pub(crate) path_suffix: String,
    #[serde(default)]
    pub(crate) token_bound_cidrs: Vec<String>,
    /// As Vault names it: `service` or `default-service` (only service
    /// tokens are issued, so both mean the same here).
    #[serde(default = "default_service")]
    pub(crate) token_type: String,
    /// Entity aliases `create/{role}` may name in `entity_alias` (globs).
    #[serde(default)]
    pub(crate) allowed_entity_aliases: Vec<String>,
}

fn yes() -> bool {
    true
}

fn default_service() -> String {
    "default-service".into()
}

/// The fields of `roles/{role_name}`, Vault's names and legacy aliases.
pub(super) const ROLE_FIELDS: &[Field] = &[
    Field::string("role_name", "Name of the role"),
    Field::comma_strings(
        "allowed_policies",
        "If set, tokens can be created with any subset of the policies in this list, rather than the normal semantics of tokens being a subset of the calling token's policies.",
    ),
    Field::comma_strings(
        "disallowed_policies",
        "If set, successful token creation via this role will require that no policies in the given list are requested.",
    ),
    Field::bool(
        "orphan",
        "If true, tokens created via this role will be orphan tokens (have no parent)",
    ),
    Field::bool(
        "renewable",
        "Tokens created via this role will be renewable or not according to this value. Defaults to \"true\".",
    )
    .default(DefaultValue::Bool(true)),
    Field::duration("token_period", "If set, tokens created via this role will have no max lifetime; instead, their renewal period will be fixed to this value."),
    Field::duration("period", "Use \"token_period\" instead."),
    Field::duration("token_explicit_max_ttl", "If set, tokens created via this role carry an explicit maximum TTL."),
    Field::duration("explicit_max_ttl", "Use \"token_explicit_max_ttl\" instead."),
    Field::string(
        "path_suffix",
        "If set, tokens created via this role will contain the given suffix as a part of their path.",
    ),
    Field::comma_strings(
        "token_bound_cidrs",
        "Comma separated string or JSON list of CIDR blocks. If set, specifies the blocks of IP addresses which are allowed to use the generated token.",
    ),
    Field::comma_strings("bound_cidrs", "Use \"token_bound_cidrs\" instead."),
    Field::string("token_type", "The type of token to generate, service or batch")
        .default(DefaultValue::Str("default-service")),
    Field::comma_strings(
        "allowed_entity_aliases",
        "String or JSON list of allowed entity aliases. If set, specifies the entity aliases which are allowed to be used during token generation. This field supports globbing.",
    ),
];

/// Loads a role; names are case-insensitive.
pub(super) async fn load_role(
    view: &StorageView,
    name: &str,
) -> Result<Option<TokenRole>, LogicalError> {
    match view.get(&name.to_lowercase()).await? {
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| LogicalError::Internal(format!("token role is corrupt: {e}"))),
        None => Ok(None),
    }
}

impl TokenScope<'_> {
    pub(super) async fn role_list(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys = c.view.list("").await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    pub(super) async fn role_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        Ok(load_role(c.view, c.path("role_name")).await?.is_some())
    }

    pub(super) async fn role_read(&self, c: &Ctx<'_>) -> LogicalResult {
        let role = load_role(c.view, c.path("role_name"))
            .await?
            .ok_or(LogicalError::NotFound)?;
        Ok(Response::json(json!({
            "name": role.name,
            "allowed_policies": role.allowed_policies,
            "disallowed_policies": role.disallowed_policies,
            "orphan": role.orphan,
            "renewable": role.renewable,
            "token_period": role.token_period,
            "period": role.token_period,
            "token_explicit_max_ttl": role.token_explicit_max_ttl,
            "explicit_max_ttl": role.token_explicit_max_ttl,
            "path_suffix": role.path_suffix,
            "token_bound_cidrs": role.token_bound_cidrs,
            "token_type": role.token_type,
            "allowed_entity_aliases": role.allowed_entity_aliases,
        })))
    }

    pub(super) async fn role_write(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("role_name").to_lowercase();
        let d = &c.fields;
        let mut role = load_role(c.view, &name).await?.unwrap_or(TokenRole {
            name: name.clone(),
            renewable: true,
            token_type: default_service(),
            ..Default::default()
        });
        if let Some(p) = d.get_ok::<Vec<String>>("allowed_policies") {
            role.allowed_policies = normalize_policies(p, false);
        }
        if let Some(p) = d.get_ok::<Vec<String>>("disallowed_policies") {
            role.disallowed_policies = normalize_policies(p, false);
        }
        if let Some(b) = d.get_ok::<bool>("orphan") {
            role.orphan = b;
        }
        if let Some(b) = d.get_ok::<bool>("renewable") {
            role.renewable = b;
        }
        if let Some(p) = d
            .get_ok::<u64>("token_period")
            .or(d.get_ok::<u64>("period"))
        {
            role.token_period = p;
        }
        if let Some(p) = d
            .get_ok::<u64>("token_explicit_max_ttl")
            .or(d.get_ok::<u64>("explicit_max_ttl"))
        {
            role.token_explicit_max_ttl = p;
        }
        if let Some(s) = d.get_ok::<String>("path_suffix") {
            if s.contains("..") {
                return Err(LogicalError::bad("path_suffix cannot contain '..'"));
            }
            role.path_suffix = s;
        }
        if let Some(cidrs) = d
            .get_ok::<Vec<String>>("token_bound_cidrs")
            .or(d.get_ok::<Vec<String>>("bound_cidrs"))
        {
            crate::auth::common::validate_cidrs("token_bound_cidrs", &cidrs)?;
            role.token_bound_cidrs = cidrs;
        }
        if let Some(a) = d.get_ok::<Vec<String>>("allowed_entity_aliases") {
            role.allowed_entity_aliases = a.into_iter().map(|s| s.to_lowercase()).collect();
        }
        if let Some(t) = d.get_ok::<String>("token_type") {
            // A JSON null arrives as "": Vault rejects it like any other
            // value it does not know.
            role.token_type = match t.as_str() {
                "service" | "default-service" => t,
                "batch" | "default-batch" => {
                    return Err(LogicalError::bad(format!(
                        "token_type {t:?} is not supported: only service tokens can be issued"
                    )))
                }
                _ => {
                    return Err(LogicalError::bad(format!(
                        "invalid 'token_type' value {t:?}"
                    )))
                }
            };
        }
        let bytes = serde_json::to_vec(&role).map_err(|e| LogicalError::Internal(e.to_string()))?;
        c.view.put(&name, &bytes).await?;
        Ok(Response::empty())
    }

    pub(super) async fn role_delete(&self, c: &Ctx<'_>) -> LogicalResult {
        c.view.delete(&c.path("role_name").to_lowercase()).await?;
        Ok(Response::empty())
    }
}

/// Vault's `StrListContainsGlob`: `pattern` may hold `*` wildcards.
pub(super) fn glob_matches(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &value[first.len()..];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod glob_tests {
    use super::glob_matches;

    #[test]
    fn globs() {
        assert!(glob_matches("svc-*", "svc-a"));
        assert!(glob_matches("*", "x"));
        assert!(glob_matches("a*c", "abc"));
        assert!(!glob_matches("a*c", "ab"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exactly"));
    }
}
