//! What an auth method's login grants, and the `auth` block Vault returns.
//!
//! An auth method (userpass, approle, ...) never creates tokens itself: its
//! login returns a [`Response`](super::Response) whose `auth` is an [`Auth`]
//! describing the grant, and core's token store issues the token, fills in
//! `client_token`, `accessor` and `lease_duration`, and starts the lease.
//! That keeps token creation, TTL capping and hashing in one place.

use std::collections::BTreeMap;

use serde_json::{json, Value};

#[derive(Debug, Clone, Default)]
pub(crate) struct Auth {
    /// Policies the token gets (before `default` is added).
    pub(crate) policies: Vec<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) display_name: String,
    /// Requested TTL in seconds (0: the mount's default).
    pub(crate) ttl: u64,
    /// Hard cap on the token's life in seconds (0: the mount's max).
    pub(crate) explicit_max_ttl: u64,
    /// Periodic tokens renew to this TTL forever (0: not periodic).
    pub(crate) period: u64,
    pub(crate) num_uses: u64,
    pub(crate) renewable: bool,
    pub(crate) no_default_policy: bool,
    /// CIDRs the token may be used from (empty: anywhere).
    pub(crate) bound_cidrs: Vec<String>,
    /// Issued token (filled in by core).
    pub(crate) client_token: String,
    pub(crate) accessor: String,
    pub(crate) lease_duration: u64,
    pub(crate) orphan: bool,
    /// Final policy list including `default` (filled in by core).
    pub(crate) token_policies: Vec<String>,
    /// Who logged in, as the auth method names them (Vault's `logical.Alias`):
    /// core resolves it to an identity entity under the mount's accessor,
    /// creating the entity when absent. `None` for grants with no identity
    /// (root tokens, orphan tokens made by `auth/token/create`).
    pub(crate) alias: Option<Alias>,
    /// Names of external groups the login's credential claims membership
    /// of (JWT `groups_claim`, ...); core maps each through the identity
    /// group aliases of this mount (Vault's `GroupAliases`).
    pub(crate) group_aliases: Vec<String>,
    /// The entity the token belongs to (filled in by core; empty: none).
    pub(crate) entity_id: String,
}

/// An identity alias an auth method returns with a login: the name is
/// unique per mount accessor (a username, a role id, an IAM ARN, a JWT
/// `user_claim`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Alias {
    pub(crate) name: String,
    /// Copied to the alias's `metadata` (e.g. `auth/aws/config/identity`'s
    /// `iam_metadata`, a JWT role's `claim_mappings`).
    pub(crate) metadata: BTreeMap<String, String>,
}

impl Auth {
    /// Vault's `auth` block.
    pub(crate) fn to_json(&self) -> Value {
        let metadata: Value = if self.metadata.is_empty() {
            Value::Null
        } else {
            json!(self.metadata)
        };
        json!({
            "client_token": self.client_token,
            "accessor": self.accessor,
            "policies": self.token_policies,
            "token_policies": self.token_policies,
            "metadata": metadata,
            "lease_duration": self.lease_duration,
            "renewable": self.renewable,
            "entity_id": self.entity_id,
            "token_type": "service",
            "orphan": self.orphan,
            "mfa_requirement": Value::Null,
            "num_uses": self.num_uses,
        })
    }
}
