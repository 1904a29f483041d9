//! `auth/token/`: Vault's token store endpoints (create, lookup, renew,
//! revoke, roles, accessors), declared with the path framework.
//!
//! The token store lives in core because it needs core state (the token
//! store, the mount table, the caller's token), so its framework state is
//! request-scoped: a [`TokenScope`] borrowing them, and the [`Paths`] built
//! per request (a few small allocations; the handlers are fn pointers).
//! Storage-side logic lives in `tokens.rs`.

mod create;
mod roles;

use serde_json::{json, Value};

pub(crate) use create::issue_for_login;

use super::tokens::{FoundToken, RenewError, TokenEntry};
use super::{Core, Unsealed};
use crate::logical::framework::{Ctx, Field, PathSpec, Paths};
use crate::logical::{Auth, LogicalError, LogicalResult, Request, Response, StorageView};
use crate::{existence, handler};

/// What the token store's handlers work on, for one request.
pub(crate) struct TokenScope<'r> {
    state: &'r Unsealed,
    caller: &'r FoundToken,
    /// For `entity_alias` on `create/{role}`.
    identity: &'r crate::engines::identity::IdentityStore,
}

const HELP: &str = "The token credential backend is always enabled and builtin. Client tokens are used to identify a client and to allow Strongroom to associate policies and ACLs which are enforced on every request. This backend also allows for generating sub-tokens as well as revocation of tokens. The tokens are renewable if associated with a lease.";

const TOKEN_FIELD: &[Field] = &[Field::string("token", "Token (request body)")];
const ACCESSOR_FIELD: &[Field] = &[Field::string(
    "accessor",
    "Accessor of the token (request body)",
)];
const RENEW_FIELDS: &[Field] = &[
    Field::string("token", "Token to renew (request body)"),
    Field::duration(
        "increment",
        "The desired increment in seconds to the token expiration",
    ),
];
const RENEW_ACCESSOR_FIELDS: &[Field] = &[
    Field::string("accessor", "Accessor of the token to renew (request body)"),
    Field::duration(
        "increment",
        "The desired increment in seconds to the token expiration",
    ),
];
const CREATE_FIELDS: &[Field] = &[
    Field::string("role_name", "Name of the role"),
    Field::string(
        "id",
        "Value for the token; by default a random one is generated",
    ),
    Field::comma_strings("policies", "List of policies for the token"),
    Field::kv_pairs(
        "meta",
        "Arbitrary key=value metadata to associate with the token",
    ),
    Field::bool("no_parent", "Create the token with no parent"),
    Field::bool("no_default_policy", "Do not include the default policy"),
    Field::bool(
        "renewable",
        "Allow the token to be renewed past its initial TTL",
    ),
    Field::duration("ttl", "Time to live for this token"),
    Field::duration("lease", "Use \"ttl\" instead"),
    Field::duration("explicit_max_ttl", "Explicit Max TTL for this token"),
    Field::string("display_name", "Name to associate with this token"),
    Field::string(
        "entity_alias",
        "Name of the entity alias to associate with this token",
    ),
    Field::int("num_uses", "Max number of uses for this token"),
    Field::duration("period", "Renew period"),
    Field::string("type", "Token type"),
    Field::string(
        "entity_alias",
        "Name of the entity alias to associate with this token",
    ),
    Field::comma_strings("bound_cidrs", "CIDR blocks the token may be used from"),
];

/// The token store's paths, in Vault's order of precedence.
fn token_paths<'r>() -> Paths<TokenScope<'r>> {
    Paths::new(
        HELP,
        vec![
            PathSpec::new("roles")
                .list(handler!(TokenScope::role_list))
                .help("This endpoint lists configured roles.", ""),
            PathSpec::new("accessors")
                .list(handler!(TokenScope::accessor_list))
                .help("List token accessors, which can then be be used to iterate and discover their properties or revoke them. Because this can be used to cause a denial of service, this endpoint requires 'sudo' capability in addition to 'list'.", ""),
            PathSpec::new("roles/{role_name}")
                .fields(roles::ROLE_FIELDS)
                .read(handler!(TokenScope::role_read))
                .write(handler!(TokenScope::role_write))
                .delete(handler!(TokenScope::role_delete))
                .exists(existence!(TokenScope::role_exists))
                .help("This endpoint allows creating, reading, and deleting roles.", ""),
            PathSpec::new("create-orphan")
                .fields(CREATE_FIELDS)
                .write(handler!(TokenScope::create_orphan))
                .help("The token create path is used to create new orphan tokens.", ""),
            PathSpec::new("create/{role_name}")
                .fields(CREATE_FIELDS)
                .write(handler!(TokenScope::create_against_role))
                .help("This token create path is used to create new tokens adhering to the given role.", ""),
            PathSpec::new("create")
                .fields(CREATE_FIELDS)
                .write(handler!(TokenScope::create))
                .help("The token create path is used to create new tokens.", ""),
            PathSpec::new("lookup")
                .fields(TOKEN_FIELD)
                .read(handler!(TokenScope::lookup))
                .write(handler!(TokenScope::lookup))
                .help("This endpoint will lookup a token and its properties.", ""),
            PathSpec::new("lookup-accessor")
                .fields(ACCESSOR_FIELD)
                .write(handler!(TokenScope::lookup_accessor))
                .help("This endpoint will lookup a token associated with the given accessor and its properties. Response will not contain the token ID.", ""),
            PathSpec::new("lookup-self")
                .fields(TOKEN_FIELD)
                .read(handler!(TokenScope::lookup_self))
                .write(handler!(TokenScope::lookup_self))
                .help("This endpoint will lookup a token and its properties.", ""),
            PathSpec::new("revoke-accessor")
                .fields(ACCESSOR_FIELD)
                .write(handler!(TokenScope::revoke_accessor))
                .help("This endpoint will delete the token associated with the accessor and all of its child tokens.", ""),
            PathSpec::new("revoke-self")
                .write(handler!(TokenScope::revoke_self))
                .help("This endpoint will delete the token used to call it and all of its child tokens.", ""),
            PathSpec::new("revoke")
                .fields(TOKEN_FIELD)
                .write(handler!(TokenScope::revoke))
                .help("This endpoint will delete the given token and all of its child tokens.", ""),
            PathSpec::new("revoke-orphan")
                .fields(TOKEN_FIELD)
                .write(handler!(TokenScope::revoke_orphan))
                .help("This endpoint will delete the token and orphan its child tokens.", ""),
            PathSpec::new("renew-accessor")
                .fields(RENEW_ACCESSOR_FIELDS)
                .write(handler!(TokenScope::renew_accessor))
                .help("This endpoint will renew a token associated with the given accessor and its properties. Response will not contain the token ID.", ""),
            PathSpec::new("renew-self")
                .fields(RENEW_FIELDS)
                .write(handler!(TokenScope::renew_self))
                .help("This endpoint will renew the token used to call it and prevent expiration.", ""),
            PathSpec::new("renew")
                .fields(RENEW_FIELDS)
                .write(handler!(TokenScope::renew))
                .help("This endpoint will renew the given token and prevent expiration.", ""),
            PathSpec::new("tidy")
                .write(handler!(TokenScope::tidy))
                .help(
                    "This endpoint performs cleanup tasks that can be run if certain error conditions have occurred.",
                    "This endpoint performs cleanup tasks that can be run to clean up token and lease entries after certain error conditions. Usually running this is not necessary, and is only required if upgrade notes or support personnel suggest it.",
                ),
        ],
    )
}

/// The storage the token store's paths see: its roles.
fn roles_view(core: &Core) -> StorageView {
    StorageView::new(core.barrier.clone(), roles::ROLE_PREFIX)
}

/// Handles `auth/token/<relative_path>` for an authenticated caller.
pub(crate) async fn handle(
    core: &Core,
    state: &Unsealed,
    req: &Request,
    caller: &FoundToken,
) -> LogicalResult {
    let scope = TokenScope {
        state,
        caller,
        identity: &core.identity,
    };
    token_paths().handle(&scope, req, &roles_view(core)).await
}

/// Whether a write creates or updates (roles), for the ACL check.
pub(crate) async fn exists(
    core: &Core,
    state: &Unsealed,
    req: &Request,
    caller: &FoundToken,
) -> Result<bool, LogicalError> {
    let scope = TokenScope {
        state,
        caller,
        identity: &core.identity,
    };
    token_paths().exists(&scope, req, &roles_view(core)).await
}

/// Vault's lookup body for a token.
pub(crate) fn lookup_json(entry: &TokenEntry, id: &str, now: i64) -> Value {
    let expire_time = if entry.expire_time == 0 {
        Value::Null
    } else {
        chrono::DateTime::from_timestamp(entry.expire_time, 0)
            .map(|t| Value::from(crate::util::rfc3339(t)))
            .unwrap_or(Value::Null)
    };
    let meta: Value = if entry.meta.is_empty() {
        Value::Null
    } else {
        json!(entry.meta)
    };
    let mut v = json!({
        "accessor": entry.accessor,
        "creation_time": entry.creation_time,
        "creation_ttl": entry.creation_ttl,
        "display_name": entry.display_name,
        "entity_id": entry.entity_id,
        "expire_time": expire_time,
        "explicit_max_ttl": entry.explicit_max_ttl,
        "id": id,
        "issue_time": entry.issue_time,
        "meta": meta,
        "num_uses": entry.num_uses,
        "orphan": entry.orphan,
        "path": entry.path,
        "policies": entry.policies,
        "renewable": entry.renewable,
        "ttl": entry.remaining_ttl(now),
        "type": "service",
    });
    if entry.period > 0 {
        v["period"] = Value::from(entry.period);
    }
    if !entry.role.is_empty() {
        v["role"] = Value::from(entry.role.clone());
    }
    if !entry.bound_cidrs.is_empty() {
        v["bound_cidrs"] = json!(entry.bound_cidrs);
    }
    v
}

/// Vault's 400 for a missing `token` parameter.
fn missing_token() -> LogicalError {
    LogicalError::bad("missing token ID")
}

/// The `token` parameter, which must be set.
fn token_param(c: &Ctx<'_>) -> Result<String, LogicalError> {
    Some(c.fields.str("token"))
        .filter(|t| !t.is_empty())
        .ok_or_else(missing_token)
}

impl TokenScope<'_> {
    fn now(&self) -> i64 {
        self.state.tokens.now()
    }

    /// The token an accessor names. `unknown` is the error for an accessor
    /// that names no live token.
    async fn by_accessor(
        &self,
        c: &Ctx<'_>,
        unknown: fn() -> LogicalError,
    ) -> Result<FoundToken, LogicalError> {
        let accessor = c.fields.str("accessor");
        if accessor.is_empty() {
            return Err(LogicalError::bad("missing accessor"));
        }
        self.state
            .tokens
            .lookup_accessor(&accessor)
            .await?
            .ok_or_else(unknown)
    }

    async fn lookup(&self, c: &Ctx<'_>) -> LogicalResult {
        // Without a token Vault looks up the caller's own.
        let token = match c.fields.str("token") {
            t if t.is_empty() => c.req.client_token.clone().unwrap_or_default(),
            t => t,
        };
        if token.is_empty() {
            return Err(missing_token());
        }
        // Unknown, expired and revoked tokens all answer 403, so a caller
        // cannot tell them apart (Vault: `bad token`, ErrPermissionDenied).
        let found = self
            .state
            .tokens
            .lookup(&token)
            .await?
            .ok_or_else(|| LogicalError::Forbidden("bad token".into()))?;
        self.lookup_body(&found.entry, &token).await
    }

    /// Vault's lookup body plus `identity_policies`: what the token's
    /// entity and its groups add (shown only when there are some).
    async fn lookup_body(&self, entry: &TokenEntry, id: &str) -> LogicalResult {
        let mut v = lookup_json(entry, id, self.now());
        if !entry.entity_id.is_empty() {
            if let Some(g) = self.identity.entity_grant(&entry.entity_id).await? {
                if !g.policies.is_empty() {
                    v["identity_policies"] = json!(g.policies);
                }
            }
        }
        Ok(Response::json(v))
    }

    async fn lookup_self(&self, c: &Ctx<'_>) -> LogicalResult {
        let id = c.req.client_token.clone().unwrap_or_default();
        self.lookup_body(&self.caller.entry, &id).await
    }

    async fn lookup_accessor(&self, c: &Ctx<'_>) -> LogicalResult {
        let found = self.by_accessor(c, invalid_accessor_denied).await?;
        self.lookup_body(&found.entry, "").await
    }

    async fn renew_self(&self, c: &Ctx<'_>) -> LogicalResult {
        let token = c.req.client_token.clone().unwrap_or_default();
        self.renew_found(c, self.caller, &token).await
    }

    async fn renew(&self, c: &Ctx<'_>) -> LogicalResult {
        let token = token_param(c)?;
        let found = self
            .state
            .tokens
            .lookup(&token)
            .await?
            .ok_or_else(|| LogicalError::bad("token not found"))?;
        self.renew_found(c, &found, &token).await
    }

    async fn renew_accessor(&self, c: &Ctx<'_>) -> LogicalResult {
        let found = self
            .by_accessor(c, || LogicalError::bad("invalid accessor"))
            .await?;
        self.renew_found(c, &found, "").await
    }

    async fn renew_found(&self, c: &Ctx<'_>, found: &FoundToken, token: &str) -> LogicalResult {
        let increment = c.fields.get::<u64>("increment").unwrap_or(0);
        let (entry, warning) =
            self.state
                .tokens
                .renew(found, increment)
                .await
                .map_err(|e| match e {
                    RenewError::NotRenewable => LogicalError::bad("lease is not renewable"),
                    RenewError::Storage(b) => b.into(),
                })?;
        let mut resp = Response::empty();
        resp.warnings.extend(warning);
        resp.auth = Some(Auth {
            client_token: token.to_string(),
            accessor: entry.accessor.clone(),
            token_policies: entry.policies.clone(),
            metadata: entry.meta.clone(),
            lease_duration: entry.ttl,
            renewable: entry.renewable,
            orphan: entry.orphan,
            num_uses: entry.num_uses,
            ..Default::default()
        });
        Ok(resp)
    }

    async fn revoke_self(&self, _c: &Ctx<'_>) -> LogicalResult {
        self.state.tokens.revoke_tree(&self.caller.hash).await?;
        Ok(Response::empty())
    }

    /// Revoking a token that does not exist succeeds (Vault: 204).
    async fn revoke(&self, c: &Ctx<'_>) -> LogicalResult {
        let token = token_param(c)?;
        if let Some(found) = self.state.tokens.lookup(&token).await? {
            self.state.tokens.revoke_tree(&found.hash).await?;
        }
        Ok(Response::empty())
    }

    async fn revoke_accessor(&self, c: &Ctx<'_>) -> LogicalResult {
        let found = self.by_accessor(c, invalid_accessor_denied).await?;
        self.state.tokens.revoke_tree(&found.hash).await?;
        Ok(Response::empty())
    }

    async fn revoke_orphan(&self, c: &Ctx<'_>) -> LogicalResult {
        let token = token_param(c)?;
        let found = self
            .state
            .tokens
            .lookup(&token)
            .await?
            .ok_or_else(|| LogicalError::bad("token to revoke not found"))?;
        self.state.tokens.revoke_orphan(&found.hash).await?;
        Ok(Response::empty())
    }

    async fn accessor_list(&self, _c: &Ctx<'_>) -> LogicalResult {
        Ok(Response::list(self.state.tokens.list_accessors().await?))
    }

    async fn tidy(&self, _c: &Ctx<'_>) -> LogicalResult {
        self.state.tokens.sweep_expired().await?;
        let mut r = Response::empty();
        r.warnings.push("Tidy operation successfully started. Any information from the operation will be printed to Strongroom's server logs.".into());
        Ok(r)
    }
}

/// 403 for an accessor that names no live token (issue 10; Vault's own
/// lookup answers 400 with the same text).
fn invalid_accessor_denied() -> LogicalError {
    LogicalError::Forbidden("invalid accessor".into())
}

#[cfg(test)]
mod tests;
