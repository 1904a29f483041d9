//! The identity secrets engine (Vault's identity store), mounted by default
//! at `identity/` and not removable.
//!
//! Paths (relative to the mount), declared through
//! [`crate::logical::framework`]:
//! - `entity` (POST), `entity/id[/:id]`, `entity/name[/:name]` (GET, POST,
//!   DELETE, LIST), `entity/merge`, `entity/batch-delete`
//! - `entity-alias` (POST), `entity-alias/id[/:id]`
//! - `group` (POST), `group/id[/:id]`, `group/name[/:name]`
//! - `group-alias` (POST), `group-alias/id[/:id]`
//! - `lookup/entity`, `lookup/group`
//! - `oidc/config`, `oidc/key[/:name[/rotate]]`, `oidc/role[/:name]`,
//!   `oidc/token/:name`, `oidc/introspect`, and unauthenticated
//!   `oidc/.well-known/openid-configuration` and `oidc/.well-known/keys`
//!
//! Modules: `model` (objects, snapshot with indexes, JSON), `store` (the one
//! stored record, the per-node cache, and the library core calls: login
//! resolution, an entity's policies, a mount's aliases), `entity` (entities,
//! entity aliases, merge, batch delete), `group` (groups, group aliases),
//! `lookup`, `oidc` (identity tokens: `jose` keys and JWS, `template`).
//!
//! Layering: this module never names core. Core owns one [`IdentityStore`]
//! per node, hands it to the engine it mounts at `identity/`, tells it the
//! auth mounts ([`IdentityStore::set_mounts`]), and calls it at login and
//! for every request made with a token that has an entity.

mod entity;
mod group;
mod lookup;
pub(crate) mod model;
mod oidc;
pub(crate) mod store;

use std::sync::Arc;

use crate::handler;
use crate::logical::framework::{Field, FrameworkBackend, PathSpec, Paths};

pub(crate) use model::MountInfo;
pub(crate) use store::IdentityStore;

/// The engine's state: the node's identity store.
pub(crate) struct Identity {
    store: Arc<IdentityStore>,
}

pub(crate) type IdentityBackend = FrameworkBackend<Identity>;

pub(crate) fn backend(store: Arc<IdentityStore>) -> IdentityBackend {
    FrameworkBackend::new(Identity { store }, paths()).unauthenticated(&[
        "oidc/.well-known/openid-configuration",
        "oidc/.well-known/keys",
    ])
}

const MERGE_FIELDS: &[Field] = &[
    Field::comma_strings("from_entity_ids", "Entity IDs which need to get merged"),
    Field::string("to_entity_id", "Entity ID into which all the other entities need to get merged"),
    Field::bool("force", "Setting this will follow the 'mine' strategy for merging MFA secrets. If there are secrets of the same type both in entities that are merged from and in entity into which all others are getting merged, secrets in the destination will be unaltered. If not set, this API will throw an error containing all the conflicts."),
    Field::comma_strings("conflicting_alias_ids_to_keep", "Alias IDs to keep in case of conflicting aliases. Ignored if no conflicting aliases found"),
];

const BATCH_DELETE_FIELDS: &[Field] = &[Field::comma_strings("entity_ids", "Entity IDs to delete")];

const HELP: &str = "The identity store: entities, their aliases in auth methods, and groups of entities whose policies apply to every token of their members.";

fn paths() -> Paths<Identity> {
    use entity::{ALIAS_FIELDS, ENTITY_FIELDS};
    use group::{GROUP_ALIAS_FIELDS, GROUP_FIELDS};
    Paths::new(
        HELP,
        vec![
            PathSpec::new("entity")
                .fields(ENTITY_FIELDS)
                .write(handler!(Identity::entity_write))
                .help("Create a new entity", ""),
            PathSpec::new("entity/id")
                .list(handler!(Identity::entity_list_id))
                .help("List all the entity IDs", ""),
            PathSpec::new("entity/id/{id}")
                .fields(ENTITY_FIELDS)
                .read(handler!(Identity::entity_read_id))
                .write(handler!(Identity::entity_write_id))
                .delete(handler!(Identity::entity_delete_id))
                .help("Update, read or delete an entity using entity ID", ""),
            PathSpec::new("entity/name")
                .list(handler!(Identity::entity_list_name))
                .help("List all the entity names", ""),
            PathSpec::new("entity/name/{name}")
                .fields(ENTITY_FIELDS)
                .read(handler!(Identity::entity_read_name))
                .write(handler!(Identity::entity_write_name))
                .delete(handler!(Identity::entity_delete_name))
                .help("Update, read or delete an entity using entity name", ""),
            PathSpec::new("entity/merge")
                .fields(MERGE_FIELDS)
                .write(handler!(Identity::entity_merge))
                .help("Merge two or more entities together", ""),
            PathSpec::new("entity/batch-delete")
                .fields(BATCH_DELETE_FIELDS)
                .write(handler!(Identity::entity_batch_delete))
                .help("Delete all of the entities provided", ""),
            PathSpec::new("entity-alias")
                .fields(ALIAS_FIELDS)
                .write(handler!(Identity::alias_write))
                .help("Create a new alias.", ""),
            PathSpec::new("entity-alias/id")
                .list(handler!(Identity::alias_list_id))
                .help("List all the alias IDs.", ""),
            PathSpec::new("entity-alias/id/{id}")
                .fields(ALIAS_FIELDS)
                .read(handler!(Identity::alias_read_id))
                .write(handler!(Identity::alias_write_id))
                .delete(handler!(Identity::alias_delete_id))
                .help("Update, read or delete an alias ID.", ""),
            PathSpec::new("group")
                .fields(GROUP_FIELDS)
                .write(handler!(Identity::group_write))
                .help("Create a new group.", ""),
            PathSpec::new("group/id")
                .list(handler!(Identity::group_list_id))
                .help("List all the group IDs.", ""),
            PathSpec::new("group/id/{id}")
                .fields(GROUP_FIELDS)
                .read(handler!(Identity::group_read_id))
                .write(handler!(Identity::group_write_id))
                .delete(handler!(Identity::group_delete_id))
                .help("Update or delete an existing group using its ID.", ""),
            PathSpec::new("group/name")
                .list(handler!(Identity::group_list_name))
                .help("List all the group names.", ""),
            PathSpec::new("group/name/{name}")
                .fields(GROUP_FIELDS)
                .read(handler!(Identity::group_read_name))
                .write(handler!(Identity::group_write_name))
                .delete(handler!(Identity::group_delete_name))
                .help("Update or delete an existing group using its name.", ""),
            PathSpec::new("group-alias")
                .fields(GROUP_ALIAS_FIELDS)
                .write(handler!(Identity::group_alias_write))
                .help("Creates a new group alias, or updates an existing one.", ""),
            PathSpec::new("group-alias/id")
                .list(handler!(Identity::group_alias_list_id))
                .help("List all the group alias IDs.", ""),
            PathSpec::new("group-alias/id/{id}")
                .fields(GROUP_ALIAS_FIELDS)
                .read(handler!(Identity::group_alias_read_id))
                .write(handler!(Identity::group_alias_write_id))
                .delete(handler!(Identity::group_alias_delete_id))
                .help("Update, read or delete a group alias using ID.", ""),
            PathSpec::new("oidc/config")
                .fields(oidc::CONFIG_FIELDS)
                .read(handler!(Identity::oidc_config_read))
                .write(handler!(Identity::oidc_config_write))
                .help("OIDC configuration", ""),
            PathSpec::new("oidc/key")
                .list(handler!(Identity::oidc_key_list))
                .help("List OIDC keys", ""),
            PathSpec::new("oidc/key/{name}/rotate")
                .fields(oidc::ROTATE_FIELDS)
                .write(handler!(Identity::oidc_key_rotate))
                .help("Rotate a named OIDC key.", ""),
            PathSpec::new("oidc/key/{name}")
                .fields(oidc::KEY_FIELDS)
                .read(handler!(Identity::oidc_key_read))
                .write(handler!(Identity::oidc_key_write))
                .delete(handler!(Identity::oidc_key_delete))
                .help("CRUD operations for OIDC keys.", ""),
            PathSpec::new("oidc/role")
                .list(handler!(Identity::oidc_role_list))
                .help("List configured OIDC roles", ""),
            PathSpec::new("oidc/role/{name}")
                .fields(oidc::ROLE_FIELDS)
                .read(handler!(Identity::oidc_role_read))
                .write(handler!(Identity::oidc_role_write))
                .delete(handler!(Identity::oidc_role_delete))
                .help("CRUD operations on OIDC Roles", ""),
            PathSpec::new("oidc/token/{name}")
                .read(handler!(Identity::oidc_token))
                .help("Generate an OIDC token", ""),
            PathSpec::new("oidc/introspect")
                .fields(oidc::INTROSPECT_FIELDS)
                .write(handler!(Identity::oidc_introspect))
                .help("Verify the authenticity of an OIDC token", ""),
            PathSpec::new("oidc/.well-known/openid-configuration")
                .read(handler!(Identity::oidc_discovery))
                .help("Query OIDC configurations", ""),
            PathSpec::new("oidc/.well-known/keys")
                .read(handler!(Identity::oidc_jwks))
                .help("Retrieve public keys", ""),
            PathSpec::new("lookup/entity")
                .fields(lookup::LOOKUP_FIELDS)
                .write(handler!(Identity::lookup_entity))
                .help("Query entities based on various properties.", ""),
            PathSpec::new("lookup/group")
                .fields(lookup::LOOKUP_FIELDS)
                .write(handler!(Identity::lookup_group))
                .help("Query groups based on various properties.", ""),
        ],
    )
}

#[cfg(test)]
mod tests;
