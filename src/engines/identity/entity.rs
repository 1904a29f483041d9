//! `entity`, `entity/id/:id`, `entity/name/:name` and their lists, and
//! `entity-alias`, `entity-alias/id/:id` (Vault's identity_store_entities.go
//! and identity_store_aliases.go).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::logical::framework::{Ctx, Field};
use crate::logical::{LogicalError, LogicalResult, Response};

use super::model::{new_id, now, Entity, EntityAlias, MountInfo, Snapshot, State};
use super::Identity;

pub(super) const ENTITY_FIELDS: &[Field] = &[
    Field::string(
        "id",
        "ID of the entity. If set, updates the corresponding existing entity.",
    ),
    Field::string("name", "Name of the entity"),
    Field::kv_pairs(
        "metadata",
        "Metadata to be associated with the entity. In CLI, this parameter can be repeated multiple times, and it all gets merged together.",
    ),
    Field::comma_strings("policies", "Policies to be tied to the entity."),
    Field::bool(
        "disabled",
        "If set true, tokens tied to this identity will not be able to be used (but will not be revoked).",
    ),
];

pub(super) const ALIAS_FIELDS: &[Field] = &[
    Field::string(
        "id",
        "ID of the entity alias. If set, updates the corresponding entity alias.",
    ),
    Field::string(
        "entity_id",
        "Entity ID to which this alias belongs. This field is deprecated, use canonical_id.",
    ),
    Field::string("canonical_id", "Entity ID to which this alias belongs"),
    Field::string(
        "mount_accessor",
        "Mount accessor to which this alias belongs to; unused for a modify",
    ),
    Field::string("name", "Name of the alias; unused for a modify"),
    Field::kv_pairs("custom_metadata", "User provided key-value pairs"),
];

/// How a write names the entity it changes.
enum Target {
    /// `entity`: by the `id` field, else by the `name` field (created when absent).
    Body,
    /// `entity/id/:id`.
    Id(String),
    /// `entity/name/:name` (created when absent).
    Name(String),
}

/// Lists answer 404 when empty, as Vault does.
pub(super) fn list_response(
    keys: Vec<String>,
    key_info: Option<Map<String, Value>>,
) -> LogicalResult {
    if keys.is_empty() {
        return Err(LogicalError::NotFound);
    }
    let mut m = Map::new();
    if let Some(info) = key_info {
        m.insert("key_info".into(), Value::Object(info));
    }
    m.insert("keys".into(), json!(keys));
    Ok(Response::data(m))
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|p| !p.is_empty() && seen.insert(p.clone()));
    v
}

/// Creates or updates an entity; the response for a new one, `None` for an update.
fn upsert_entity(
    state: &mut State,
    c: &Ctx<'_>,
    target: Target,
) -> Result<Option<Value>, LogicalError> {
    let body_name = c.fields.get_ok::<String>("name").filter(|n| !n.is_empty());
    let existing_id = match &target {
        Target::Id(id) => Some(
            state
                .entities
                .get(id)
                .map(|e| e.id.clone())
                .ok_or_else(|| LogicalError::bad("entity not found from id"))?,
        ),
        Target::Name(n) => state.entity_by_name(n).map(|e| e.id.clone()),
        Target::Body => {
            let id = c.fields.str("id");
            if !id.is_empty() {
                let by_id = state
                    .entities
                    .get(&id)
                    .map(|e| e.id.clone())
                    .ok_or_else(|| LogicalError::bad("entity not found from id"))?;
                Some(by_id)
            } else {
                body_name
                    .as_deref()
                    .and_then(|n| state.entity_by_name(n))
                    .map(|e| e.id.clone())
            }
        }
    };
    let new_name = match &target {
        Target::Name(n) => Some(n.clone()),
        _ => body_name,
    };
    if let Some(n) = &new_name {
        if let Some(other) = state.entity_by_name(n) {
            if Some(&other.id) != existing_id.as_ref() {
                return Err(LogicalError::bad("entity name is already in use"));
            }
        }
    }
    let t = now();
    let (mut entity, created) = match &existing_id {
        Some(id) => match state.entities.get(id) {
            Some(e) => (e.clone(), false),
            None => return Err(LogicalError::NotFound),
        },
        None => {
            let id = new_id();
            let name = new_name
                .clone()
                .unwrap_or_else(|| format!("entity_{}", &new_id()[..8]));
            (
                Entity {
                    id,
                    name,
                    creation_time: t.clone(),
                    ..Default::default()
                },
                true,
            )
        }
    };
    if let Some(n) = new_name {
        entity.name = n;
    }
    if let Some(m) = c.fields.get_ok::<BTreeMap<String, String>>("metadata") {
        entity.metadata = m;
    }
    if let Some(p) = c.fields.get_ok::<Vec<String>>("policies") {
        entity.policies = dedup(p);
    }
    if let Some(d) = c.fields.get_ok::<bool>("disabled") {
        entity.disabled = d;
    }
    entity.last_update_time = t;
    let resp = created.then(|| json!({"aliases": null, "id": entity.id, "name": entity.name}));
    state.entities.insert(entity.id.clone(), entity);
    Ok(resp)
}

fn delete_entity(state: &mut State, id: &str) -> bool {
    if state.entities.remove(id).is_none() {
        return false;
    }
    state.drop_entity_memberships(id, &now());
    true
}

fn entity_list_info(e: &Entity, mounts: &[MountInfo]) -> Value {
    let mut m = Map::new();
    if !e.aliases.is_empty() {
        let aliases: Vec<Value> = e
            .aliases
            .iter()
            .map(|a| {
                let mut v = a.list_info(mounts);
                v["id"] = json!(a.id);
                v
            })
            .collect();
        m.insert("aliases".into(), json!(aliases));
    }
    m.insert("name".into(), json!(e.name));
    Value::Object(m)
}

impl Identity {
    async fn write_entity(&self, c: &Ctx<'_>, target: Target) -> LogicalResult {
        let out = self
            .store
            .update(c.view, |state| Ok((true, upsert_entity(state, c, target)?)))
            .await?;
        Ok(match out {
            Some(v) => Response::json(v),
            None => Response::empty(),
        })
    }

    pub(super) async fn entity_write(&self, c: &Ctx<'_>) -> LogicalResult {
        self.write_entity(c, Target::Body).await
    }

    pub(super) async fn entity_write_id(&self, c: &Ctx<'_>) -> LogicalResult {
        self.write_entity(c, Target::Id(c.path("id").to_string()))
            .await
    }

    pub(super) async fn entity_write_name(&self, c: &Ctx<'_>) -> LogicalResult {
        self.write_entity(c, Target::Name(c.path("name").to_string()))
            .await
    }

    fn entity_response(&self, snap: &Snapshot, e: Option<&Entity>) -> LogicalResult {
        let e = e.ok_or(LogicalError::NotFound)?;
        Ok(Response::json(e.to_json(snap, &self.store.mounts())))
    }

    pub(super) async fn entity_read_id(&self, c: &Ctx<'_>) -> LogicalResult {
        let snap = self.store.snapshot(c.view).await?;
        self.entity_response(&snap, snap.state.entities.get(c.path("id")))
    }

    pub(super) async fn entity_read_name(&self, c: &Ctx<'_>) -> LogicalResult {
        let snap = self.store.snapshot(c.view).await?;
        self.entity_response(&snap, snap.state.entity_by_name(c.path("name")))
    }

    pub(super) async fn entity_delete_id(&self, c: &Ctx<'_>) -> LogicalResult {
        let id = c.path("id").to_string();
        self.store
            .update(c.view, |state| Ok((delete_entity(state, &id), ())))
            .await?;
        Ok(Response::empty())
    }

    pub(super) async fn entity_delete_name(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name").to_string();
        self.store
            .update(c.view, |state| {
                let id = state.entity_by_name(&name).map(|e| e.id.clone());
                Ok((id.is_some_and(|id| delete_entity(state, &id)), ()))
            })
            .await?;
        Ok(Response::empty())
    }

    pub(super) async fn entity_list_id(&self, c: &Ctx<'_>) -> LogicalResult {
        let snap = self.store.snapshot(c.view).await?;
        let mounts = self.store.mounts();
        let keys: Vec<String> = snap.state.entities.keys().cloned().collect();
        let info = snap
            .state
            .entities
            .values()
            .map(|e| (e.id.clone(), entity_list_info(e, &mounts)))
            .collect();
        list_response(keys, Some(info))
    }

    pub(super) async fn entity_list_name(&self, c: &Ctx<'_>) -> LogicalResult {
        let snap = self.store.snapshot(c.view).await?;
        // In id order, as Vault's memdb iterates.
        let keys = snap
            .state
            .entities
            .values()
            .map(|e| e.name.clone())
            .collect();
        list_response(keys, None)
    }

    // -- entity aliases -----------------------------------------------------

    pub(super) async fn alias_write(&self, c: &Ctx<'_>) -> LogicalResult {
        let id = c.fields.str("id");
        if !id.is_empty() {
            return self.alias_update(c, id).await;
        }
        let name = c.fields.str("name");
        let accessor = c.fields.str("mount_accessor");
        if name.is_empty() || accessor.is_empty() {
            return Err(LogicalError::bad(
                "'id' or 'mount_accessor' and 'name' must be provided",
            ));
        }
        if self.store.mount(&accessor).is_none() {
            return Err(LogicalError::bad(format!(
                "invalid mount accessor {accessor:?}"
            )));
        }
        let mut canonical = c.fields.str("canonical_id");
        if canonical.is_empty() {
            canonical = c.fields.str("entity_id");
        }
        let custom = c
            .fields
            .get::<BTreeMap<String, String>>("custom_metadata")
            .unwrap_or_default();
        let out = self
            .store
            .update(c.view, |state| {
                let t = now();
                if let Some((e, a)) = state.alias_by_factors(&accessor, &name) {
                    if !canonical.is_empty() && canonical != e.id {
                        return Err(LogicalError::bad(
                            "combination of mount and alias name is already in use",
                        ));
                    }
                    let (eid, aid) = (e.id.clone(), a.id.clone());
                    if let Some(a) = state
                        .entities
                        .get_mut(&eid)
                        .and_then(|e| e.aliases.iter_mut().find(|a| a.id == aid))
                    {
                        a.custom_metadata = Some(custom);
                        a.last_update_time = t;
                    }
                    return Ok((true, json!({"canonical_id": eid, "id": aid})));
                }
                let entity_id = if canonical.is_empty() {
                    let id = new_id();
                    let entity = Entity {
                        id: id.clone(),
                        name: format!("entity_{}", &new_id()[..8]),
                        creation_time: t.clone(),
                        last_update_time: t.clone(),
                        ..Default::default()
                    };
                    state.entities.insert(id.clone(), entity);
                    id
                } else {
                    let e = state
                        .entities
                        .get(&canonical)
                        .ok_or_else(|| LogicalError::bad("invalid entity ID"))?;
                    if e.aliases.iter().any(|a| a.mount_accessor == accessor) {
                        return Err(LogicalError::bad(
                            "Alias already exists for requested entity and mount accessor",
                        ));
                    }
                    canonical.clone()
                };
                let alias = EntityAlias {
                    id: new_id(),
                    canonical_id: entity_id.clone(),
                    name: name.clone(),
                    mount_accessor: accessor.clone(),
                    metadata: BTreeMap::new(),
                    custom_metadata: Some(custom),
                    creation_time: t.clone(),
                    last_update_time: t,
                    merged_from_canonical_ids: Vec::new(),
                };
                let resp = json!({"canonical_id": entity_id, "id": alias.id});
                if let Some(e) = state.entities.get_mut(&entity_id) {
                    e.aliases.push(alias);
                }
                Ok((true, resp))
            })
            .await?;
        Ok(Response::json(out))
    }

    pub(super) async fn alias_write_id(&self, c: &Ctx<'_>) -> LogicalResult {
        self.alias_update(c, c.path("id").to_string()).await
    }

    /// Changes an alias: its name, mount, entity (a move) or custom metadata.
    async fn alias_update(&self, c: &Ctx<'_>, id: String) -> LogicalResult {
        let name = c.fields.get_ok::<String>("name").filter(|s| !s.is_empty());
        let accessor = c
            .fields
            .get_ok::<String>("mount_accessor")
            .filter(|s| !s.is_empty());
        if let Some(a) = &accessor {
            if self.store.mount(a).is_none() {
                return Err(LogicalError::bad(format!("invalid mount accessor {a:?}")));
            }
        }
        let canonical = c
            .fields
            .get_ok::<String>("canonical_id")
            .or_else(|| c.fields.get_ok::<String>("entity_id"))
            .filter(|s| !s.is_empty());
        let custom = c
            .fields
            .get_ok::<BTreeMap<String, String>>("custom_metadata");
        let out = self
            .store
            .update(c.view, |state| {
                let (owner, mut alias) = state
                    .alias_by_id(&id)
                    .map(|(e, a)| (e.id.clone(), a.clone()))
                    .ok_or_else(|| LogicalError::bad("invalid alias ID provided"))?;
                if let Some(n) = name {
                    alias.name = n;
                }
                if let Some(a) = accessor {
                    alias.mount_accessor = a;
                }
                if let Some((e, other)) = state.alias_by_factors(&alias.mount_accessor, &alias.name)
                {
                    if other.id != alias.id {
                        let _ = e;
                        return Err(LogicalError::bad(
                            "combination of mount and alias name is already in use",
                        ));
                    }
                }
                let target = canonical.unwrap_or_else(|| owner.clone());
                let entity = state
                    .entities
                    .get(&target)
                    .ok_or_else(|| LogicalError::bad("invalid entity ID"))?;
                if entity
                    .aliases
                    .iter()
                    .any(|a| a.id != alias.id && a.mount_accessor == alias.mount_accessor)
                {
                    return Err(LogicalError::bad(
                        "Alias already exists for requested entity and mount accessor",
                    ));
                }
                if let Some(m) = custom {
                    alias.custom_metadata = Some(m);
                }
                alias.canonical_id = target.clone();
                alias.last_update_time = now();
                if let Some(e) = state.entities.get_mut(&owner) {
                    e.aliases.retain(|a| a.id != alias.id);
                }
                let resp = json!({"canonical_id": target, "id": alias.id});
                if let Some(e) = state.entities.get_mut(&target) {
                    e.aliases.push(alias);
                }
                Ok((true, resp))
            })
            .await?;
        Ok(Response::json(out))
    }

    pub(super) async fn alias_read_id(&self, c: &Ctx<'_>) -> LogicalResult {
        let snap = self.store.snapshot(c.view).await?;
        let (_, alias) = snap
            .state
            .alias_by_id(c.path("id"))
            .ok_or(LogicalError::NotFound)?;
        Ok(Response::json(alias.read_json(&self.store.mounts())))
    }

    pub(super) async fn alias_delete_id(&self, c: &Ctx<'_>) -> LogicalResult {
        let id = c.path("id").to_string();
        self.store
            .update(c.view, |state| {
                let mut changed = false;
                for e in state.entities.values_mut() {
                    let before = e.aliases.len();
                    e.aliases.retain(|a| a.id != id);
                    changed |= e.aliases.len() != before;
                }
                Ok((changed, ()))
            })
            .await?;
        Ok(Response::empty())
    }

    pub(super) async fn alias_list_id(&self, c: &Ctx<'_>) -> LogicalResult {
        let snap = self.store.snapshot(c.view).await?;
        let mounts = self.store.mounts();
        let mut aliases: Vec<&EntityAlias> = snap
            .state
            .entities
            .values()
            .flat_map(|e| e.aliases.iter())
            .collect();
        aliases.sort_by(|a, b| a.id.cmp(&b.id));
        let keys = aliases.iter().map(|a| a.id.clone()).collect();
        let info = aliases
            .iter()
            .map(|a| (a.id.clone(), a.list_info(&mounts)))
            .collect();
        list_response(keys, Some(info))
    }

    // -- merge and batch delete --------------------------------------------

    pub(super) async fn entity_merge(&self, c: &Ctx<'_>) -> LogicalResult {
        let to = c.fields.str("to_entity_id");
        if to.is_empty() {
            return Err(LogicalError::bad("missing entity id to merge to"));
        }
        let from = dedup(c.fields.list("from_entity_ids"));
        if from.is_empty() {
            return Err(LogicalError::bad("missing entity ids to merge from"));
        }
        let force = c.fields.flag("force");
        let keep = c.fields.list("conflicting_alias_ids_to_keep");
        self.store
            .update(c.view, |state| {
                merge(state, &to, &from, force, &keep)?;
                Ok((true, ()))
            })
            .await?;
        Ok(Response::empty())
    }

    pub(super) async fn entity_batch_delete(&self, c: &Ctx<'_>) -> LogicalResult {
        let ids = c.fields.list("entity_ids");
        if ids.is_empty() {
            return Err(LogicalError::bad("missing entity ids to delete"));
        }
        self.store
            .update(c.view, |state| {
                let mut changed = false;
                for id in &ids {
                    changed |= delete_entity(state, id);
                }
                Ok((changed, ()))
            })
            .await?;
        Ok(Response::empty())
    }
}

/// Vault's entity merge: the aliases of every `from` entity move to `to`
/// (a conflict on a mount accessor needs `force`, which keeps `to`'s alias,
/// or the alias to keep named in `keep`), `from`'s group memberships go to
/// `to`, and `from` is deleted, its id remembered in `merged_entity_ids`.
pub(super) fn merge(
    state: &mut State,
    to: &str,
    from: &[String],
    force: bool,
    keep: &[String],
) -> Result<(), LogicalError> {
    if !state.entities.contains_key(to) {
        return Err(LogicalError::bad("entity id to merge to is invalid"));
    }
    for f in from {
        if f == to {
            return Err(LogicalError::bad(
                "to_entity_id should not be present in from_entity_ids",
            ));
        }
        if !state.entities.contains_key(f) {
            return Err(LogicalError::bad("entity id to merge from is invalid"));
        }
    }
    let t = now();
    for f in from {
        let Some(source) = state.entities.remove(f) else {
            continue;
        };
        let Some(target) = state.entities.get_mut(to) else {
            return Err(LogicalError::bad("entity id to merge to is invalid"));
        };
        for mut alias in source.aliases {
            let conflict = target
                .aliases
                .iter()
                .position(|a| a.mount_accessor == alias.mount_accessor);
            if let Some(i) = conflict {
                let keep_from = keep.contains(&alias.id);
                let keep_to = keep.contains(&target.aliases[i].id);
                if !force && !keep_from && !keep_to {
                    return Err(LogicalError::bad(format!(
                        "conflicting mount accessors in following alias IDs and neither force was set nor conflicting_alias_ids_to_keep was supplied: {}, {}",
                        target.aliases[i].id, alias.id
                    )));
                }
                if keep_from {
                    target.aliases.remove(i);
                } else {
                    continue;
                }
            }
            alias.merged_from_canonical_ids.push(source.id.clone());
            alias.canonical_id = to.to_string();
            alias.last_update_time = t.clone();
            target.aliases.push(alias);
        }
        target.merged_entity_ids.push(source.id.clone());
        target
            .merged_entity_ids
            .extend(source.merged_entity_ids.iter().cloned());
        target.last_update_time = t.clone();
        for g in state.groups.values_mut() {
            if g.member_entity_ids.iter().any(|m| m == f) {
                g.member_entity_ids.retain(|m| m != f);
                if !g.member_entity_ids.iter().any(|m| m == to) {
                    g.member_entity_ids.push(to.to_string());
                }
                g.modify_index += 1;
                g.last_update_time = t.clone();
            }
        }
    }
    Ok(())
}
