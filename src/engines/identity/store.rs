//! Storage and the per-node cache of the identity store, and the library
//! core calls at login and at request time.
//!
//! The whole store is one record (`state`) in the identity mount's view,
//! written only through [`StorageView::batch_bump`] so that every node's
//! cached [`Snapshot`] (a [`GenerationCache`] entry) is dropped before its
//! next request: a group change made on the active node reaches a standby's
//! next request, and a warm request costs no storage read beyond the
//! cluster generation it reads anyway. One record keeps every change atomic
//! (an entity, its aliases and the groups naming it change together) at the
//! cost of rewriting the record on each identity write; fine for the
//! thousands of entities a Strongroom cluster serves, and the layout to
//! split (per-object records with the same cache) if that ever grows.
//!
//! Writes happen only on the active node (a standby's write fails with
//! `ReadOnly` and the request is forwarded); they are serialized on the node
//! by a lock, and every check runs before the write.

use std::sync::{Arc, PoisonError, RwLock};

use crate::logical::auth::Alias;
use crate::logical::cache::GenerationCache;
use crate::logical::{LogicalError, StorageView};
use crate::storage::BatchItem;

use super::model::{new_id, now, Entity, EntityAlias, GroupType, MountInfo, Snapshot, State};

const STATE_KEY: &str = "state";

/// The identity store one node holds: shared by the `identity/` engine and
/// core (login resolution, policies at request time).
#[derive(Default)]
pub(crate) struct IdentityStore {
    cache: GenerationCache<Snapshot>,
    /// Auth mounts by accessor, for alias validation and display.
    mounts: RwLock<Arc<Vec<MountInfo>>>,
    /// The identity mount's view (`None` until core mounts it).
    view: RwLock<Option<StorageView>>,
    write_lock: tokio::sync::Mutex<()>,
    /// The snapshot the request path uses, with the generation it was read
    /// at: served while that is the generation this node last saw, so a warm
    /// request with an entity costs no storage read at all.
    hot: std::sync::Mutex<Option<(Vec<u8>, Arc<Snapshot>)>>,
    /// The node's `api_addr`: the default issuer of identity tokens.
    api_addr: Option<String>,
}

/// What an entity adds to a token at request time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EntityGrant {
    pub(crate) disabled: bool,
    /// The entity's and all its groups' policies (direct and inherited).
    pub(crate) policies: Vec<String>,
}

fn corrupt(e: serde_json::Error) -> LogicalError {
    LogicalError::Internal(format!("identity store is corrupt: {e}"))
}

impl IdentityStore {
    pub(crate) fn new(api_addr: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            api_addr,
            ..Self::default()
        })
    }

    pub(crate) fn api_addr(&self) -> Option<String> {
        self.api_addr.clone()
    }

    /// Called by core whenever the mount table changes.
    pub(crate) fn set_mounts(&self, mounts: Vec<MountInfo>, view: Option<StorageView>) {
        *self.mounts.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(mounts);
        *self.view.write().unwrap_or_else(PoisonError::into_inner) = view;
        self.cache.clear();
        *self.hot.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    pub(crate) fn mounts(&self) -> Arc<Vec<MountInfo>> {
        self.mounts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn mount(&self, accessor: &str) -> Option<MountInfo> {
        self.mounts()
            .iter()
            .find(|m| m.accessor == accessor)
            .cloned()
    }

    fn own_view(&self) -> Option<StorageView> {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The store as of this request, through the per-node cache.
    pub(crate) async fn snapshot(&self, view: &StorageView) -> Result<Arc<Snapshot>, LogicalError> {
        let loaded = self
            .cache
            .get_or_load(view, STATE_KEY, |bytes| {
                serde_json::from_slice::<State>(bytes)
                    .map(Snapshot::new)
                    .map_err(corrupt)
            })
            .await?;
        Ok(loaded.unwrap_or_default())
    }

    /// The snapshot for authorizing a request: validated against the
    /// generation this node last saw, without reading it (core replays a
    /// request that learns of a newer one while running, as for its token
    /// and policy caches). A miss is one read, value and generation together.
    async fn request_snapshot(&self, view: &StorageView) -> Result<Arc<Snapshot>, LogicalError> {
        let seen = view.seen_generation();
        if let Some((g, s)) = &*self.hot.lock().unwrap_or_else(PoisonError::into_inner) {
            if *g == seen {
                return Ok(s.clone());
            }
        }
        let (generation, snap) = match view.get_versioned(STATE_KEY).await? {
            Some(read) => {
                let state: State = serde_json::from_slice(&read.plaintext).map_err(corrupt)?;
                (read.generation, Arc::new(Snapshot::new(state)))
            }
            None => (view.seen_generation(), Arc::new(Snapshot::default())),
        };
        *self.hot.lock().unwrap_or_else(PoisonError::into_inner) = Some((generation, snap.clone()));
        Ok(snap)
    }

    /// Applies `change` to a copy of the current state and writes it in one
    /// generation-bumping write, unless `change` reports it changed nothing
    /// (`Ok((false, _))`). Serialized on this node.
    pub(crate) async fn update<R>(
        &self,
        view: &StorageView,
        change: impl FnOnce(&mut State) -> Result<(bool, R), LogicalError>,
    ) -> Result<R, LogicalError> {
        let _guard = self.write_lock.lock().await;
        let mut state = self.snapshot(view).await?.state.clone();
        let (changed, out) = change(&mut state)?;
        if changed {
            let bytes = serde_json::to_vec(&state).map_err(corrupt)?;
            view.batch_bump(vec![BatchItem::put(STATE_KEY, bytes)])
                .await?;
            self.cache.remove(STATE_KEY);
        }
        Ok(out)
    }

    /// What an entity adds to its tokens: its policies and those of every
    /// group it belongs to, directly or through nested groups. `None` when
    /// the entity no longer exists (its tokens keep their own policies).
    pub(crate) async fn entity_grant(
        &self,
        entity_id: &str,
    ) -> Result<Option<EntityGrant>, LogicalError> {
        let Some(view) = self.own_view() else {
            return Ok(None);
        };
        let snap = self.request_snapshot(&view).await?;
        let Some(entity) = snap.entity(entity_id) else {
            return Ok(None);
        };
        let mut policies = entity.policies.clone();
        let groups = snap
            .direct_groups(&entity.id)
            .into_iter()
            .chain(snap.inherited_groups(&entity.id));
        for g in groups {
            if let Some(group) = snap.state.groups.get(&g) {
                policies.extend(group.policies.iter().cloned());
            }
        }
        policies.sort();
        policies.dedup();
        Ok(Some(EntityGrant {
            disabled: entity.disabled,
            policies,
        }))
    }

    /// Resolves a login's alias under `accessor` to an entity, creating the
    /// entity and alias when absent (Vault's `CreateOrFetchEntity`), and
    /// makes the entity a member of exactly those external groups of this
    /// mount whose group alias names one of `group_aliases`. Returns the
    /// entity id; writes only when something changed. A disabled entity's
    /// login is refused.
    pub(crate) async fn resolve_login(
        &self,
        accessor: &str,
        alias: &Alias,
        group_aliases: &[String],
    ) -> Result<String, LogicalError> {
        let Some(view) = self.own_view() else {
            return Ok(String::new());
        };
        if alias.name.is_empty() {
            return Ok(String::new());
        }
        let snap = self.snapshot(&view).await?;
        if let Some(plan) = login_plan(&snap.state, accessor, alias, group_aliases) {
            if plan.disabled {
                return Err(LogicalError::PermissionDenied);
            }
            if !plan.needs_write {
                return Ok(plan.entity_id);
            }
        }
        self.update(&view, |state| {
            let entity_id = apply_login(state, accessor, alias, group_aliases);
            Ok((true, entity_id))
        })
        .await
    }

    /// Deletes every alias of a mount that is being disabled (entity aliases
    /// and group aliases), as Vault does.
    pub(crate) async fn delete_mount_aliases(&self, accessor: &str) -> Result<(), LogicalError> {
        let Some(view) = self.own_view() else {
            return Ok(());
        };
        self.update(&view, |state| {
            let mut changed = false;
            let t = now();
            for e in state.entities.values_mut() {
                let before = e.aliases.len();
                e.aliases.retain(|a| a.mount_accessor != accessor);
                if e.aliases.len() != before {
                    e.last_update_time = t.clone();
                    changed = true;
                }
            }
            for g in state.groups.values_mut() {
                if g.alias
                    .as_ref()
                    .is_some_and(|a| a.mount_accessor == accessor)
                {
                    g.alias = None;
                    g.modify_index += 1;
                    changed = true;
                }
            }
            Ok((changed, ()))
        })
        .await
    }
}

/// What a login needs, read from a snapshot without writing.
struct LoginPlan {
    entity_id: String,
    disabled: bool,
    needs_write: bool,
}

/// External groups of this mount the claimed group aliases name.
fn external_groups(state: &State, accessor: &str, group_aliases: &[String]) -> Vec<String> {
    let mut v: Vec<String> = state
        .groups
        .values()
        .filter(|g| g.group_type == GroupType::External)
        .filter(|g| {
            g.alias
                .as_ref()
                .is_some_and(|a| a.mount_accessor == accessor && group_aliases.contains(&a.name))
        })
        .map(|g| g.id.clone())
        .collect();
    v.sort();
    v
}

/// External groups of this mount the entity is a member of now.
fn current_external(state: &State, accessor: &str, entity_id: &str) -> Vec<String> {
    let mut v: Vec<String> = state
        .groups
        .values()
        .filter(|g| g.group_type == GroupType::External)
        .filter(|g| {
            g.alias
                .as_ref()
                .is_some_and(|a| a.mount_accessor == accessor)
        })
        .filter(|g| g.member_entity_ids.iter().any(|m| m == entity_id))
        .map(|g| g.id.clone())
        .collect();
    v.sort();
    v
}

fn login_plan(
    state: &State,
    accessor: &str,
    alias: &Alias,
    group_aliases: &[String],
) -> Option<LoginPlan> {
    let (entity, existing) = state.alias_by_factors(accessor, &alias.name)?;
    let wanted = external_groups(state, accessor, group_aliases);
    let needs_write = existing.metadata != alias.metadata
        || wanted != current_external(state, accessor, &entity.id);
    Some(LoginPlan {
        entity_id: entity.id.clone(),
        disabled: entity.disabled,
        needs_write,
    })
}

/// Creates or updates the entity and alias of a login and its external
/// group memberships; returns the entity id.
fn apply_login(
    state: &mut State,
    accessor: &str,
    alias: &Alias,
    group_aliases: &[String],
) -> String {
    let t = now();
    let found = state
        .alias_by_factors(accessor, &alias.name)
        .map(|(e, a)| (e.id.clone(), a.id.clone()));
    let entity_id = match found {
        Some((entity_id, alias_id)) => {
            if let Some(e) = state.entities.get_mut(&entity_id) {
                if let Some(a) = e.aliases.iter_mut().find(|a| a.id == alias_id) {
                    if a.metadata != alias.metadata {
                        a.metadata = alias.metadata.clone();
                        a.last_update_time = t.clone();
                    }
                }
            }
            entity_id
        }
        None => {
            let id = new_id();
            let entity = Entity {
                id: id.clone(),
                name: format!("entity_{}.{}", &new_id()[..8], super::model::NAMESPACE_ID),
                creation_time: t.clone(),
                last_update_time: t.clone(),
                aliases: vec![EntityAlias {
                    id: new_id(),
                    canonical_id: id.clone(),
                    name: alias.name.clone(),
                    mount_accessor: accessor.to_string(),
                    metadata: alias.metadata.clone(),
                    custom_metadata: None,
                    creation_time: t.clone(),
                    last_update_time: t.clone(),
                    merged_from_canonical_ids: Vec::new(),
                }],
                ..Default::default()
            };
            state.entities.insert(id.clone(), entity);
            id
        }
    };
    let wanted = external_groups(state, accessor, group_aliases);
    for g in state.groups.values_mut() {
        let of_mount = g.group_type == GroupType::External
            && g.alias
                .as_ref()
                .is_some_and(|a| a.mount_accessor == accessor);
        if !of_mount {
            continue;
        }
        let member = g.member_entity_ids.contains(&entity_id);
        let should = wanted.contains(&g.id);
        if member != should {
            if should {
                g.member_entity_ids.push(entity_id.clone());
            } else {
                g.member_entity_ids.retain(|m| *m != entity_id);
            }
            g.modify_index += 1;
            g.last_update_time = t.clone();
        }
    }
    entity_id
}
