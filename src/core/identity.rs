//! Core's side of identity: the `identity/` mount in the default table, the
//! auth mounts the identity store knows, login resolution (a login's alias
//! to an entity id on the token), and a token's effective policies at
//! request time (its own plus its entity's and its groups'). The store
//! itself, with its per-node cache, is a library in
//! [`crate::engines::identity`].
//!
//! Cost: a token without an entity pays nothing (no lookup, no copy). A
//! token with one reads the identity snapshot through the engine's
//! generation-validated cache: no storage read when warm beyond the cluster
//! generation the request reads anyway.

use std::borrow::Cow;

use super::mounts::{MountEntry, MountTable};
use super::tokens::TokenEntry;
use super::Core;
use crate::engines::identity::MountInfo;
use crate::logical::{Auth, LogicalError, StorageView};

/// Adds the identity mount to a table that lacks it (tables written before
/// identity existed); true when it did.
pub(super) fn add_identity_mount(table: &mut MountTable) -> bool {
    if table.entries.iter().any(|e| e.mount_type == "identity") {
        return false;
    }
    table
        .entries
        .push(MountEntry::new("identity/", "identity", "identity store"));
    true
}

impl Core {
    /// Tells the identity store the auth mounts (alias validation and
    /// display) and its own mount's view; called whenever the router is
    /// rebuilt from a new mount table.
    pub(super) fn identity_mounts_changed(&self, table: &MountTable) {
        let mounts = table
            .entries
            .iter()
            .filter(|e| e.path.starts_with("auth/"))
            .map(|e| MountInfo {
                accessor: e.accessor.clone(),
                path: e.path.clone(),
                mount_type: e.mount_type.clone(),
            })
            .collect();
        let view = table
            .entries
            .iter()
            .find(|e| e.mount_type == "identity")
            .map(|e| StorageView::new(self.barrier.clone(), e.view_prefix()));
        self.identity.set_mounts(mounts, view);
    }

    /// A login's grant: finds or creates the entity of its alias under the
    /// mount's accessor, updates its external group memberships, and puts
    /// the entity id on the grant (and so on the token).
    pub(crate) async fn resolve_login_entity(
        &self,
        mount: &MountEntry,
        auth: &mut Auth,
    ) -> Result<(), LogicalError> {
        let Some(alias) = &auth.alias else {
            return Ok(());
        };
        auth.entity_id = self
            .identity
            .resolve_login(&mount.accessor, alias, &auth.group_aliases)
            .await?;
        Ok(())
    }

    /// The policies a token acts with: its own, plus its entity's and those
    /// of every group the entity belongs to (directly or nested). A token of
    /// a disabled entity is refused.
    pub(crate) async fn effective_policies<'a>(
        &self,
        entry: &'a TokenEntry,
    ) -> Result<Cow<'a, [String]>, LogicalError> {
        if entry.entity_id.is_empty() {
            return Ok(Cow::Borrowed(&entry.policies));
        }
        match self.identity.entity_grant(&entry.entity_id).await? {
            None => Ok(Cow::Borrowed(&entry.policies)),
            Some(g) if g.disabled => Err(LogicalError::PermissionDeniedPolicy),
            Some(g) if g.policies.iter().all(|p| entry.policies.contains(p)) => {
                Ok(Cow::Borrowed(&entry.policies))
            }
            Some(g) => {
                let mut all = entry.policies.clone();
                for p in g.policies {
                    if !all.contains(&p) {
                        all.push(p);
                    }
                }
                Ok(Cow::Owned(all))
            }
        }
    }
}
