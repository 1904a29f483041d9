//! The identity data model (Vault's `identity.Entity`, `identity.Alias`,
//! `identity.Group`) and the [`Snapshot`]: the whole store with the indexes
//! every read needs (alias by mount accessor and name, groups by member,
//! parents by child group), built once per load.
//!
//! Aliases live inside their entity (as in Vault's storage), and a group's
//! alias inside its group, so one record change can never leave an alias
//! pointing at a missing canonical object. Only `member_entity_ids` and
//! `member_group_ids` are stored; `parent_group_ids`, `group_ids` and the
//! reverse indexes are derived.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Vault's namespace id for everything outside namespaces.
pub(crate) const NAMESPACE_ID: &str = "root";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct EntityAlias {
    pub(crate) id: String,
    pub(crate) canonical_id: String,
    pub(crate) name: String,
    pub(crate) mount_accessor: String,
    #[serde(default)]
    pub(crate) metadata: BTreeMap<String, String>,
    /// `None` renders as `null` (never set), `Some({})` as `{}`.
    #[serde(default)]
    pub(crate) custom_metadata: Option<BTreeMap<String, String>>,
    pub(crate) creation_time: String,
    pub(crate) last_update_time: String,
    #[serde(default)]
    pub(crate) merged_from_canonical_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Entity {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) policies: Vec<String>,
    #[serde(default)]
    pub(crate) disabled: bool,
    pub(crate) creation_time: String,
    pub(crate) last_update_time: String,
    #[serde(default)]
    pub(crate) merged_entity_ids: Vec<String>,
    #[serde(default)]
    pub(crate) aliases: Vec<EntityAlias>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct GroupAlias {
    pub(crate) id: String,
    pub(crate) canonical_id: String,
    pub(crate) name: String,
    pub(crate) mount_accessor: String,
    pub(crate) creation_time: String,
    pub(crate) last_update_time: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum GroupType {
    #[default]
    Internal,
    External,
}

impl GroupType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "internal" => Some(GroupType::Internal),
            "external" => Some(GroupType::External),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupType::Internal => "internal",
            GroupType::External => "external",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) group_type: GroupType,
    #[serde(default)]
    pub(crate) policies: Vec<String>,
    #[serde(default)]
    pub(crate) metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) member_entity_ids: Vec<String>,
    #[serde(default)]
    pub(crate) member_group_ids: Vec<String>,
    pub(crate) creation_time: String,
    pub(crate) last_update_time: String,
    #[serde(default)]
    pub(crate) modify_index: u64,
    #[serde(default)]
    pub(crate) alias: Option<GroupAlias>,
}

/// Everything the identity store holds, as stored (one record).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct State {
    #[serde(default)]
    pub(crate) entities: BTreeMap<String, Entity>,
    #[serde(default)]
    pub(crate) groups: BTreeMap<String, Group>,
}

impl State {
    pub(crate) fn entity_by_name(&self, name: &str) -> Option<&Entity> {
        self.entities.values().find(|e| e.name == name)
    }

    pub(crate) fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.groups.values().find(|g| g.name == name)
    }

    /// The entity holding the alias with this id, and the alias.
    pub(crate) fn alias_by_id(&self, id: &str) -> Option<(&Entity, &EntityAlias)> {
        self.entities
            .values()
            .find_map(|e| e.aliases.iter().find(|a| a.id == id).map(|a| (e, a)))
    }

    pub(crate) fn alias_by_factors(
        &self,
        accessor: &str,
        name: &str,
    ) -> Option<(&Entity, &EntityAlias)> {
        self.entities.values().find_map(|e| {
            e.aliases
                .iter()
                .find(|a| a.mount_accessor == accessor && a.name == name)
                .map(|a| (e, a))
        })
    }

    pub(crate) fn group_alias_by_id(&self, id: &str) -> Option<&Group> {
        self.groups
            .values()
            .find(|g| g.alias.as_ref().is_some_and(|a| a.id == id))
    }

    pub(crate) fn group_alias_by_factors(&self, accessor: &str, name: &str) -> Option<&Group> {
        self.groups.values().find(|g| {
            g.alias
                .as_ref()
                .is_some_and(|a| a.mount_accessor == accessor && a.name == name)
        })
    }

    /// Whether making `member` a member group of `group` closes a cycle:
    /// `group` is `member` itself or reachable from `member`'s members.
    pub(crate) fn would_cycle(&self, group: &str, member: &str) -> bool {
        let mut stack = vec![member.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if id == group {
                return true;
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(g) = self.groups.get(&id) {
                stack.extend(g.member_group_ids.iter().cloned());
            }
        }
        false
    }

    /// Removes `entity_id` from every group's members (entity deleted or
    /// merged away); true when something changed.
    pub(crate) fn drop_entity_memberships(&mut self, entity_id: &str, now: &str) -> Vec<String> {
        let mut touched = Vec::new();
        for g in self.groups.values_mut() {
            if g.member_entity_ids.iter().any(|m| m == entity_id) {
                g.member_entity_ids.retain(|m| m != entity_id);
                g.modify_index += 1;
                g.last_update_time = now.to_string();
                touched.push(g.id.clone());
            }
        }
        touched
    }
}

/// A mount as identity shows it next to an alias (`mount_path`,
/// `mount_type`); core keeps the list current.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MountInfo {
    pub(crate) accessor: String,
    pub(crate) path: String,
    pub(crate) mount_type: String,
}

/// The store as loaded, with derived indexes for the request path.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) state: State,
    /// Entity id → ids of groups listing it in `member_entity_ids`.
    pub(crate) entity_groups: HashMap<String, Vec<String>>,
    /// Group id → ids of groups listing it in `member_group_ids`.
    pub(crate) group_parents: HashMap<String, Vec<String>>,
    /// `(mount accessor, alias name)` → entity id.
    pub(crate) aliases: HashMap<(String, String), String>,
    /// Id of an entity merged away → the entity it was merged into.
    pub(crate) merged: HashMap<String, String>,
}

impl Snapshot {
    pub(crate) fn new(state: State) -> Self {
        let mut s = Snapshot::default();
        for g in state.groups.values() {
            for e in &g.member_entity_ids {
                s.entity_groups
                    .entry(e.clone())
                    .or_default()
                    .push(g.id.clone());
            }
            for child in &g.member_group_ids {
                s.group_parents
                    .entry(child.clone())
                    .or_default()
                    .push(g.id.clone());
            }
        }
        for e in state.entities.values() {
            for a in &e.aliases {
                s.aliases
                    .insert((a.mount_accessor.clone(), a.name.clone()), e.id.clone());
            }
            for m in &e.merged_entity_ids {
                s.merged.insert(m.clone(), e.id.clone());
            }
        }
        s.state = state;
        s
    }

    /// The entity with this id, or the one it was merged into (tokens
    /// issued before a merge keep working, as in Vault).
    pub(crate) fn entity(&self, id: &str) -> Option<&Entity> {
        self.state
            .entities
            .get(id)
            .or_else(|| self.merged.get(id).and_then(|t| self.state.entities.get(t)))
    }

    /// Groups that list the entity directly, sorted.
    pub(crate) fn direct_groups(&self, entity_id: &str) -> Vec<String> {
        let mut v = self
            .entity_groups
            .get(entity_id)
            .cloned()
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Every group the entity belongs to through nested groups (parents of
    /// its direct groups, transitively), excluding the direct ones. Cycles
    /// are refused on write; the visited set guards against stored ones.
    pub(crate) fn inherited_groups(&self, entity_id: &str) -> Vec<String> {
        let direct: BTreeSet<String> = self.direct_groups(entity_id).into_iter().collect();
        let mut seen = direct.clone();
        let mut stack: Vec<String> = direct.iter().cloned().collect();
        let mut out = BTreeSet::new();
        while let Some(id) = stack.pop() {
            for p in self.group_parents.get(&id).into_iter().flatten() {
                if seen.insert(p.clone()) {
                    out.insert(p.clone());
                    stack.push(p.clone());
                }
            }
        }
        out.into_iter().collect()
    }

    /// Parents of a group, sorted.
    pub(crate) fn parents(&self, group_id: &str) -> Vec<String> {
        let mut v = self
            .group_parents
            .get(group_id)
            .cloned()
            .unwrap_or_default();
        v.sort();
        v
    }
}

fn map_or_null(m: &BTreeMap<String, String>) -> Value {
    if m.is_empty() {
        Value::Null
    } else {
        json!(m)
    }
}

fn list_or_null(v: &[String]) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

fn mount_of<'a>(mounts: &'a [MountInfo], accessor: &str) -> Option<&'a MountInfo> {
    mounts.iter().find(|m| m.accessor == accessor)
}

fn mount_fields(m: &mut serde_json::Map<String, Value>, mounts: &[MountInfo], accessor: &str) {
    let mount = mount_of(mounts, accessor);
    m.insert("mount_accessor".into(), json!(accessor));
    m.insert(
        "mount_path".into(),
        json!(mount.map(|m| m.path.as_str()).unwrap_or("")),
    );
    m.insert(
        "mount_type".into(),
        json!(mount.map(|m| m.mount_type.as_str()).unwrap_or("")),
    );
}

impl EntityAlias {
    /// The fields shared by a full read and a list's `key_info`.
    fn summary(&self, mounts: &[MountInfo]) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("canonical_id".into(), json!(self.canonical_id));
        m.insert(
            "custom_metadata".into(),
            self.custom_metadata
                .as_ref()
                .map(|c| json!(c))
                .unwrap_or(Value::Null),
        );
        m.insert("local".into(), json!(false));
        m.insert("metadata".into(), map_or_null(&self.metadata));
        mount_fields(&mut m, mounts, &self.mount_accessor);
        m.insert("name".into(), json!(self.name));
        m
    }

    pub(crate) fn list_info(&self, mounts: &[MountInfo]) -> Value {
        Value::Object(self.summary(mounts))
    }

    /// Inside an entity's `aliases`.
    pub(crate) fn to_json(&self, mounts: &[MountInfo]) -> Value {
        let mut m = self.summary(mounts);
        m.insert("creation_time".into(), json!(self.creation_time));
        m.insert("id".into(), json!(self.id));
        m.insert("last_update_time".into(), json!(self.last_update_time));
        m.insert(
            "merged_from_canonical_ids".into(),
            list_or_null(&self.merged_from_canonical_ids),
        );
        Value::Object(m)
    }

    /// `entity-alias/id/:id`: the alias plus its namespace.
    pub(crate) fn read_json(&self, mounts: &[MountInfo]) -> Value {
        let mut v = self.to_json(mounts);
        v["namespace_id"] = json!(NAMESPACE_ID);
        v
    }
}

impl Entity {
    pub(crate) fn to_json(&self, snap: &Snapshot, mounts: &[MountInfo]) -> Value {
        let direct = snap.direct_groups(&self.id);
        let inherited = snap.inherited_groups(&self.id);
        let mut all: Vec<String> = direct.iter().chain(inherited.iter()).cloned().collect();
        all.sort();
        all.dedup();
        json!({
            "aliases": self.aliases.iter().map(|a| a.to_json(mounts)).collect::<Vec<_>>(),
            "creation_time": self.creation_time,
            "direct_group_ids": direct,
            "disabled": self.disabled,
            "group_ids": all,
            "id": self.id,
            "inherited_group_ids": inherited,
            "last_update_time": self.last_update_time,
            "merged_entity_ids": list_or_null(&self.merged_entity_ids),
            "metadata": map_or_null(&self.metadata),
            "name": self.name,
            "namespace_id": NAMESPACE_ID,
            "policies": self.policies,
        })
    }
}

impl GroupAlias {
    /// Inside a group's `alias`.
    pub(crate) fn to_json(&self, mounts: &[MountInfo]) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("canonical_id".into(), json!(self.canonical_id));
        m.insert("creation_time".into(), json!(self.creation_time));
        m.insert("id".into(), json!(self.id));
        m.insert("last_update_time".into(), json!(self.last_update_time));
        m.insert("merged_from_canonical_ids".into(), Value::Null);
        m.insert("metadata".into(), Value::Null);
        mount_fields(&mut m, mounts, &self.mount_accessor);
        m.insert("name".into(), json!(self.name));
        Value::Object(m)
    }

    pub(crate) fn list_info(&self, mounts: &[MountInfo]) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("canonical_id".into(), json!(self.canonical_id));
        m.insert("custom_metadata".into(), Value::Null);
        m.insert("local".into(), json!(false));
        m.insert("metadata".into(), Value::Null);
        mount_fields(&mut m, mounts, &self.mount_accessor);
        m.insert("name".into(), json!(self.name));
        Value::Object(m)
    }

    /// `group-alias/id/:id`.
    pub(crate) fn read_json(&self, mounts: &[MountInfo]) -> Value {
        let mut v = self.to_json(mounts);
        v["custom_metadata"] = Value::Null;
        v["local"] = json!(false);
        v["namespace_id"] = json!(NAMESPACE_ID);
        v
    }
}

impl Group {
    pub(crate) fn to_json(&self, snap: &Snapshot, mounts: &[MountInfo]) -> Value {
        let alias = self
            .alias
            .as_ref()
            .map(|a| a.to_json(mounts))
            .unwrap_or_else(|| json!({}));
        json!({
            "alias": alias,
            "creation_time": self.creation_time,
            "id": self.id,
            "last_update_time": self.last_update_time,
            "member_entity_ids": list_or_null(&self.member_entity_ids),
            "member_group_ids": list_or_null(&self.member_group_ids),
            "metadata": map_or_null(&self.metadata),
            "modify_index": self.modify_index,
            "name": self.name,
            "namespace_id": NAMESPACE_ID,
            "parent_group_ids": list_or_null(&snap.parents(&self.id)),
            "policies": list_or_null(&self.policies),
            "type": self.group_type.name(),
        })
    }
}

/// A fresh identifier in Vault's UUID shape.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Vault's timestamps: RFC 3339 with nanoseconds.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, entities: &[&str], groups: &[&str]) -> Group {
        Group {
            id: id.into(),
            name: id.into(),
            member_entity_ids: entities.iter().map(|s| s.to_string()).collect(),
            member_group_ids: groups.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn nested_groups_and_cycles() {
        let mut state = State::default();
        // top ⊃ mid ⊃ low ∋ e
        for g in [
            group("low", &["e"], &[]),
            group("mid", &[], &["low"]),
            group("top", &[], &["mid"]),
        ] {
            state.groups.insert(g.id.clone(), g);
        }
        assert!(state.would_cycle("low", "top"), "low ⊃ top closes a loop");
        assert!(state.would_cycle("low", "low"));
        assert!(!state.would_cycle("top", "low"));
        let snap = Snapshot::new(state);
        assert_eq!(snap.direct_groups("e"), vec!["low"]);
        assert_eq!(snap.inherited_groups("e"), vec!["mid", "top"]);
        assert_eq!(snap.parents("low"), vec!["mid"]);
    }

    #[test]
    fn a_stored_cycle_does_not_loop() {
        let mut state = State::default();
        for g in [group("a", &["e"], &["b"]), group("b", &[], &["a"])] {
            state.groups.insert(g.id.clone(), g);
        }
        let snap = Snapshot::new(state);
        assert_eq!(snap.inherited_groups("e"), vec!["b"]);
    }
}
