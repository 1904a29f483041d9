//! Issuing tokens: TTL resolution against the token mount's limits, the
//! tokens login grants describe, and `auth/token/create*`.

use std::collections::BTreeMap;

use super::roles::TokenRole;
use super::TokenScope;
use crate::core::tokens::{NewToken, SERVICE_TOKEN_PREFIX};
use crate::core::Unsealed;
use crate::logical::framework::Ctx;
use crate::logical::{Auth, LogicalError, LogicalResult, Response};
use crate::policy::normalize_policies;
use crate::util::go_duration;

/// The effective TTL limits of an auth mount: its tuned TTLs, else the
/// system's (server configuration).
fn mount_ttls(state: &Unsealed, mount: &str) -> (u64, u64) {
    let cfg = state
        .mounts
        .get(mount)
        .map(|m| m.config.clone())
        .unwrap_or_default();
    let (default, max) = state.system_ttls.for_mount(&cfg);
    (default.min(max), max)
}

/// Resolves the TTL fields of a grant into `NewToken` settings, capping as
/// Vault does (with a warning) rather than failing.
pub(crate) fn resolve_ttls(
    state: &Unsealed,
    mount: &str,
    ttl: u64,
    explicit_max_ttl: u64,
    period: u64,
    warnings: &mut Vec<String>,
) -> (u64, u64) {
    let (default, mount_max) = mount_ttls(state, mount);
    let cap = if explicit_max_ttl > 0 {
        explicit_max_ttl.min(mount_max)
    } else {
        mount_max
    };
    if period > 0 {
        let ttl = if explicit_max_ttl > 0 {
            period.min(explicit_max_ttl)
        } else {
            period
        };
        return (
            ttl,
            if explicit_max_ttl > 0 {
                explicit_max_ttl
            } else {
                0
            },
        );
    }
    let wanted = if ttl == 0 { default } else { ttl };
    if wanted > cap {
        warnings.push(format!(
            "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped accordingly",
            go_duration(wanted),
            go_duration(cap)
        ));
    }
    (wanted.min(cap), cap)
}

/// Issues a token for a login grant and fills the grant's `auth` fields.
pub(crate) async fn issue_for_login(
    state: &Unsealed,
    mount: &str,
    path: &str,
    auth: &mut Auth,
    warnings: &mut Vec<String>,
) -> Result<(), LogicalError> {
    let policies = normalize_policies(auth.policies.clone(), !auth.no_default_policy);
    let (ttl, max) = resolve_ttls(
        state,
        mount,
        auth.ttl,
        auth.explicit_max_ttl,
        auth.period,
        warnings,
    );
    let mount_name = mount
        .trim_start_matches("auth/")
        .trim_end_matches('/')
        .replace('/', "-");
    let display_name = if auth.display_name.is_empty() {
        mount_name
    } else {
        format!("{mount_name}-{}", auth.display_name)
    };
    let (token, found) = state
        .tokens
        .create(NewToken {
            policies: policies.clone(),
            meta: auth.metadata.clone(),
            display_name,
            path: path.to_string(),
            ttl,
            max_ttl: max,
            explicit_max_ttl: auth.explicit_max_ttl,
            period: auth.period,
            num_uses: auth.num_uses,
            renewable: auth.renewable,
            bound_cidrs: auth.bound_cidrs.clone(),
            entity_id: auth.entity_id.clone(),
            ..Default::default()
        })
        .await?;
    auth.client_token = token;
    auth.accessor = found.entry.accessor.clone();
    auth.lease_duration = found.entry.ttl;
    auth.renewable = found.entry.renewable;
    auth.orphan = true;
    auth.token_policies = policies;
    Ok(())
}

impl TokenScope<'_> {
    /// `create`: a child of the caller (or an orphan with `no_parent`).
    pub(super) async fn create(&self, c: &Ctx<'_>) -> LogicalResult {
        self.create_common(c, false, None).await
    }

    /// `create-orphan`: an orphan, whoever asks (the path is ACL'd).
    pub(super) async fn create_orphan(&self, c: &Ctx<'_>) -> LogicalResult {
        self.create_common(c, true, None).await
    }

    /// `create/{role_name}`: a token shaped by a role.
    pub(super) async fn create_against_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("role_name");
        let role = super::roles::load_role(c.view, name)
            .await?
            .ok_or_else(|| LogicalError::bad(format!("unknown role {name}")))?;
        let orphan = role.orphan;
        self.create_common(c, orphan, Some(role)).await
    }

    async fn create_common(
        &self,
        c: &Ctx<'_>,
        orphan: bool,
        role: Option<TokenRole>,
    ) -> LogicalResult {
        let d = &c.fields;
        let caller = self.caller;
        let parent_is_root = caller.entry.is_root();
        let no_parent = orphan || d.flag("no_parent");
        if no_parent && !parent_is_root && role.is_none() && !orphan {
            return Err(LogicalError::bad(
                "root or sudo privileges required to create orphan token",
            ));
        }
        let no_default = d.flag("no_default_policy");
        // An empty list asks for nothing in particular: inherit (Vault).
        let requested = d
            .get_ok::<Vec<String>>("policies")
            .filter(|p| !p.is_empty());
        let mut policies = match (&requested, &role) {
            (Some(p), _) => p.clone(),
            (None, Some(r)) if !r.allowed_policies.is_empty() => r.allowed_policies.clone(),
            (None, _) => caller.entry.policies.clone(),
        };
        policies = normalize_policies(policies, !no_default);
        if no_default {
            policies.retain(|p| p != "default");
        }
        if let Some(r) = &role {
            if !r.allowed_policies.is_empty() {
                if let Some(bad) = policies
                    .iter()
                    .find(|p| *p != "default" && !r.allowed_policies.contains(p))
                {
                    return Err(LogicalError::bad(format!(
                        "token policies ({bad}) must be subset of the role's allowed policies"
                    )));
                }
            }
            if let Some(bad) = policies.iter().find(|p| r.disallowed_policies.contains(p)) {
                return Err(LogicalError::bad(format!(
                    "token policy ({bad}) is disallowed by this role"
                )));
            }
        } else if !parent_is_root {
            if let Some(bad) = policies
                .iter()
                .find(|p| *p != "default" && !caller.entry.policies.contains(p))
            {
                return Err(LogicalError::bad(format!(
                    "child policies must be subset of parent (\"{bad}\" is not)"
                )));
            }
        }
        if policies.iter().any(|p| p == "root") && !parent_is_root {
            return Err(LogicalError::bad(
                "root tokens can only be created by a root token",
            ));
        }
        let id = d.str("id");
        if !id.is_empty() {
            if !parent_is_root {
                return Err(LogicalError::bad(
                    "root or sudo privileges required to specify token id",
                ));
            }
            if id.contains('.') && !id.starts_with(SERVICE_TOKEN_PREFIX) {
                return Err(LogicalError::bad(
                    "custom token ID cannot have the '.' in the value",
                ));
            }
        }
        let num_uses = d.get::<i64>("num_uses").unwrap_or(0);
        let num_uses = u64::try_from(num_uses)
            .map_err(|_| LogicalError::bad("number of uses cannot be negative"))?;
        let ttl = d
            .get_ok::<u64>("ttl")
            .or(d.get_ok::<u64>("lease"))
            .unwrap_or(0);
        let mut explicit_max = d.get::<u64>("explicit_max_ttl").unwrap_or(0);
        let mut period = d.get::<u64>("period").unwrap_or(0);
        let mut renewable = d.get_ok::<bool>("renewable").unwrap_or(true);
        let mut bound_cidrs = d.list("bound_cidrs");
        if let Some(r) = &role {
            if r.token_period > 0 {
                period = r.token_period;
            }
            if r.token_explicit_max_ttl > 0 {
                explicit_max = if explicit_max == 0 {
                    r.token_explicit_max_ttl
                } else {
                    explicit_max.min(r.token_explicit_max_ttl)
                };
            }
            renewable &= r.renewable;
            if bound_cidrs.is_empty() {
                bound_cidrs = r.token_bound_cidrs.clone();
            }
        }
        let mut warnings = Vec::new();
        let is_root_token = policies.iter().any(|p| p == "root");
        let (ttl, max) = if is_root_token && ttl == 0 && period == 0 && explicit_max == 0 {
            (0, 0) // a root token without a TTL never expires
        } else {
            resolve_ttls(
                self.state,
                "auth/token/",
                ttl,
                explicit_max,
                period,
                &mut warnings,
            )
        };
        let display = d.str("display_name").trim().to_lowercase();
        let display_name = if display.is_empty() {
            "token".to_string()
        } else {
            format!("token-{display}")
        };
        let path = match &role {
            Some(r) if !r.path_suffix.is_empty() => {
                format!("auth/token/create/{}/{}", r.name, r.path_suffix)
            }
            Some(r) => format!("auth/token/create/{}", r.name),
            None => "auth/token/create".into(),
        };
        let meta: BTreeMap<String, String> = d.get("meta").unwrap_or_default();
        // A child shares its parent's entity (Vault); an orphan has none;
        // a role may let the caller name an entity alias instead.
        let entity_alias = d.str("entity_alias").to_lowercase();
        let entity_id = if !entity_alias.is_empty() {
            let Some(r) = &role else {
                return Err(LogicalError::bad(
                    "'entity_alias' is only allowed in combination with token role",
                ));
            };
            if !r
                .allowed_entity_aliases
                .iter()
                .any(|p| super::roles::glob_matches(p, &entity_alias))
            {
                return Err(LogicalError::bad("invalid 'entity_alias' value"));
            }
            let accessor = self
                .state
                .mounts
                .get("auth/token/")
                .map(|m| m.accessor.clone())
                .unwrap_or_default();
            let alias = crate::logical::auth::Alias {
                name: entity_alias,
                metadata: BTreeMap::new(),
            };
            self.identity.resolve_login(&accessor, &alias, &[]).await?
        } else if no_parent {
            String::new()
        } else {
            caller.entry.entity_id.clone()
        };
        let (token, found) = self
            .state
            .tokens
            .create(NewToken {
                id: (!id.is_empty()).then_some(id),
                policies: policies.clone(),
                meta: meta.clone(),
                display_name,
                path,
                ttl,
                max_ttl: max,
                explicit_max_ttl: explicit_max,
                period,
                num_uses,
                renewable,
                parent: if no_parent {
                    None
                } else {
                    Some(caller.hash.clone())
                },
                role: role.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
                bound_cidrs,
                wrapping: false,
                entity_id: entity_id.clone(),
            })
            .await
            .map_err(|e| match e {
                crate::barrier::BarrierError::Storage(
                    crate::storage::StorageError::ConditionFailed(_),
                ) => LogicalError::bad(
                    "a token with this id already exists, or the parent token was revoked",
                ),
                other => other.into(),
            })?;
        let mut resp = Response::empty();
        resp.warnings = warnings;
        resp.auth = Some(Auth {
            client_token: token,
            accessor: found.entry.accessor.clone(),
            token_policies: policies,
            metadata: meta,
            lease_duration: found.entry.ttl,
            renewable: found.entry.renewable,
            orphan: found.entry.orphan,
            num_uses,
            entity_id,
            ..Default::default()
        });
        Ok(resp)
    }
}
