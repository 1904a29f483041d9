//! Core: the server's lifecycle (uninitialized → sealed → unsealed), the
//! mount table and router, authentication, and request dispatch.
//!
//! Core talks to the barrier (never to physical storage directly, except for
//! the two unencrypted records the seal needs before the barrier can open:
//! the seal configuration and the wrapped root key). Transports hand core a
//! [`Request`] and get a [`Response`] back.

pub(crate) mod audit;
pub(crate) mod dispatch;
pub(crate) mod forwarding;
pub(crate) mod generate_root;
pub(crate) mod identity;
pub(crate) mod leases;
pub(crate) mod lifecycle;
pub(crate) mod mounts;
pub(crate) mod path;
pub(crate) mod policies;
pub(crate) mod rekey;
pub(crate) mod remount;
pub(crate) mod router;
pub(crate) mod secret_leases;
pub(crate) mod sys;
pub(crate) mod token_store;
pub(crate) mod tokens;
pub(crate) mod tune;
pub(crate) mod wrapping;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::barrier::Barrier;
use crate::engines::{kv::KvV1, kv2::KvV2};
use crate::logical::{Backend, LogicalError};
use crate::seal::{Seal, SealConfig};
use crate::storage::Storage;
use mounts::{MountEntry, MountTable, MOUNT_TABLE_PATH};
use router::{Route, Router};
use tokens::TokenStore;

pub(crate) use crate::version::API_VERSION;

/// Cluster identity, created at init and stored through the barrier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClusterInfo {
    pub(crate) name: String,
    pub(crate) id: String,
}
const CLUSTER_INFO_PATH: &str = "core/cluster";

/// Static settings a node starts with.
pub(crate) struct CoreOptions {
    /// Shown as `storage_type` in `sys/seal-status`.
    pub(crate) storage_type: String,
    pub(crate) api_addr: Option<String>,
    pub(crate) clock: Arc<dyn crate::util::Clock>,
    /// HA state when the storage is shared by several nodes.
    pub(crate) ha: Option<Arc<crate::ha::HaState>>,
    /// `default_lease_ttl` / `max_lease_ttl` of the server configuration.
    pub(crate) system_ttls: tune::SystemTtls,
}

/// State that exists only while unsealed.
pub(crate) struct Unsealed {
    pub(crate) router: Arc<Router>,
    pub(crate) mounts: MountTable,
    pub(crate) tokens: TokenStore,
    pub(crate) cluster: ClusterInfo,
    /// The system lease TTLs (from [`CoreOptions`]), for code that only
    /// sees the unsealed state.
    pub(crate) system_ttls: tune::SystemTtls,
}

pub(crate) struct Core {
    pub(crate) barrier: Arc<Barrier>,
    pub(crate) seal: Arc<dyn Seal>,
    pub(crate) options: CoreOptions,
    /// Cached seal config; `Some` once we know the cluster is initialized.
    seal_config: RwLock<Option<SealConfig>>,
    /// Key shares typed so far (zeroized on drop).
    unseal_progress: Mutex<lifecycle::UnsealProgress>,
    /// Serializes init, unseal, seal and mount-table changes.
    lifecycle_lock: tokio::sync::Mutex<()>,
    unsealed: RwLock<Option<Arc<Unsealed>>>,
    /// The "am I active" switch: expiration and other active-only work check
    /// it. Single-node backends are always active; HA flips it.
    active: AtomicBool,
    pub(crate) active_since: RwLock<chrono::DateTime<chrono::Utc>>,
    /// Parsed ACL policies by name.
    pub(crate) policies: policies::PolicyCache,
    /// True while `sys/init` runs: the node must keep the HA lease through
    /// init even though it is (briefly) initialized and sealed.
    pub(crate) initializing: AtomicBool,
    /// The cluster generation this node's caches (tokens, policies, mount
    /// table, keyring) reflect.
    cache_generation: RwLock<Vec<u8>>,
    /// Rekey and root generation in progress (active node only).
    pub(crate) operator: rekey::OperatorState,
    /// Audit devices (loaded from storage on every node) and their config.
    pub(crate) audit: audit::AuditState,
    /// The identity store (entities, groups), shared with the `identity/` engine.
    pub(crate) identity: Arc<crate::engines::identity::IdentityStore>,
    /// The cluster forwarding key, once read (src/core/forwarding.rs).
    pub(crate) forwarding_key: forwarding::ForwardingKeyCache,
}

fn lock_err() -> LogicalError {
    LogicalError::Internal("internal lock poisoned".into())
}

impl Core {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        seal: Arc<dyn Seal>,
        options: CoreOptions,
    ) -> Arc<Self> {
        let barrier = Arc::new(Barrier::new(storage));
        barrier.set_sole_writer(options.ha.is_none());
        let identity = crate::engines::identity::IdentityStore::new(options.api_addr.clone());
        Arc::new(Self {
            barrier,
            seal,
            options,
            seal_config: RwLock::new(None),
            unseal_progress: Mutex::new(lifecycle::UnsealProgress::default()),
            lifecycle_lock: tokio::sync::Mutex::new(()),
            unsealed: RwLock::new(None),
            active: AtomicBool::new(true),
            active_since: RwLock::new(chrono::Utc::now()),
            policies: policies::PolicyCache::default(),
            initializing: AtomicBool::new(false),
            cache_generation: RwLock::new(Vec::new()),
            operator: rekey::OperatorState::default(),
            audit: audit::AuditState::default(),
            identity,
            forwarding_key: forwarding::ForwardingKeyCache::default(),
        })
    }

    pub(crate) fn is_active(&self) -> bool {
        match &self.options.ha {
            Some(ha) => ha.is_active(),
            None => self.active.load(Ordering::Relaxed),
        }
    }

    /// Called by the HA elector when this node becomes active or stops.
    pub(crate) async fn on_active_change(&self, active: bool) {
        if !active {
            return;
        }
        if let Ok(mut t) = self.active_since.write() {
            *t = chrono::Utc::now();
        }
        // Whatever was cached as a standby may predate the last active
        // node's writes: start from storage.
        if let Ok(mut g) = self.cache_generation.write() {
            g.clear();
        }
        if !self.is_sealed() {
            if let Err(e) = self.barrier.reserve().await {
                tracing::warn!(error = %e, "could not reserve encryptions after becoming active");
            }
            self.sync_declared_audit().await;
            self.ensure_forwarding_key().await;
        }
    }

    pub(crate) fn is_sealed(&self) -> bool {
        self.unsealed.read().map(|u| u.is_none()).unwrap_or(true)
    }

    pub(crate) fn unsealed_state(&self) -> Result<Arc<Unsealed>, LogicalError> {
        self.unsealed
            .read()
            .map_err(|_| lock_err())?
            .clone()
            .ok_or(LogicalError::Sealed)
    }

    /// Builds the engine for a mount entry.
    fn backend_for(&self, entry: &MountEntry) -> Result<Arc<dyn Backend>, LogicalError> {
        match entry.mount_type.as_str() {
            "identity" => Ok(Arc::new(crate::engines::identity::backend(
                self.identity.clone(),
            ))),
            "kv" if entry.is_kv_v2() => Ok(Arc::new(KvV2::new())),
            "kv" => Ok(Arc::new(KvV1::new())),
            "cubbyhole" => Ok(Arc::new(crate::engines::cubbyhole::Cubbyhole::new())),
            "userpass" => Ok(Arc::new(crate::auth::userpass::backend())),
            "approle" => Ok(Arc::new(crate::auth::approle::backend())),
            "aws" => Ok(Arc::new(crate::auth::aws::backend())),
            "transit" => Ok(Arc::new(crate::engines::transit::backend())),
            "pki" => Ok(Arc::new(crate::engines::pki::backend())),
            "cert" => Ok(Arc::new(crate::auth::cert::backend())),
            "jwt" | "oidc" => Ok(Arc::new(crate::auth::jwt::backend())),
            "kubernetes" => Ok(Arc::new(crate::auth::kubernetes::backend())),
            other => Err(LogicalError::bad(format!(
                "plugin not found in the catalog: {other}"
            ))),
        }
    }

    fn build_router(&self, table: &MountTable) -> Router {
        self.identity_mounts_changed(table);
        let mut router = Router::default();
        for entry in &table.entries {
            if entry.mount_type == "system" || entry.mount_type == "token" {
                continue; // sys/ and auth/token/ are dispatched by core itself
            }
            match self.backend_for(entry) {
                Ok(backend) => router.insert(Route {
                    entry: Arc::new(entry.clone()),
                    backend,
                }),
                Err(e) => {
                    tracing::warn!(path = %entry.path, error = %e, "skipping mount of unknown type")
                }
            }
        }
        router
    }

    async fn load_mount_table(&self) -> Result<MountTable, LogicalError> {
        match self.barrier.get(MOUNT_TABLE_PATH).await? {
            Some(bytes) => {
                let mut table: MountTable = serde_json::from_slice(&bytes)
                    .map_err(|e| LogicalError::Internal(format!("mount table is corrupt: {e}")))?;
                // Tables written before identity existed gain its mount.
                if self.is_active() && identity::add_identity_mount(&mut table) {
                    self.store_mount_table(&table).await?;
                }
                Ok(table)
            }
            None => {
                let table = MountTable::default_table();
                self.store_mount_table(&table).await?;
                Ok(table)
            }
        }
    }

    async fn store_mount_table(&self, table: &MountTable) -> Result<(), LogicalError> {
        let bytes = serde_json::to_vec(table).map_err(|e| LogicalError::Internal(e.to_string()))?;
        self.barrier
            .batch_bump(vec![crate::storage::BatchItem::put(
                MOUNT_TABLE_PATH,
                bytes,
            )])
            .await?;
        Ok(())
    }

    /// Applies `change` to the mount table, persists it, and swaps the router.
    pub(crate) async fn update_mounts(
        &self,
        change: impl FnOnce(&mut MountTable) -> Result<(), LogicalError>,
    ) -> Result<MountTable, LogicalError> {
        let _guard = self.lifecycle_lock.lock().await;
        let state = self.unsealed_state()?;
        let mut table = state.mounts.clone();
        change(&mut table)?;
        for entry in &table.entries {
            if entry.mount_type != "system" && entry.mount_type != "token" {
                self.backend_for(entry)?;
            }
        }
        self.store_mount_table(&table).await?;
        let router = Arc::new(self.build_router(&table));
        let next = Unsealed {
            router,
            mounts: table.clone(),
            tokens: state.tokens.clone(),
            cluster: state.cluster.clone(),
            system_ttls: state.system_ttls,
        };
        *self.unsealed.write().map_err(|_| lock_err())? = Some(Arc::new(next));
        Ok(table)
    }
}

/// Vault's system default lease TTL (32 days), used when neither the server
/// configuration nor the mount sets one.
pub(crate) const SYSTEM_DEFAULT_TTL: u64 = 32 * 24 * 3600;
/// Vault's system maximum lease TTL (32 days).
pub(crate) const SYSTEM_MAX_TTL: u64 = 32 * 24 * 3600;

impl Core {
    /// The expiration manager: revokes expired tokens (and their children)
    /// every `every`. Only the active node does it; expired tokens are
    /// already refused on every node by the lookup, so a slow sweep never
    /// lets an expired token work.
    pub(crate) async fn run_expiration(self: Arc<Self>, every: std::time::Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_periodic: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            if !self.is_active() {
                continue;
            }
            let Ok(state) = self.unsealed_state() else {
                continue;
            };
            // Engines' periodic upkeep (transit auto-rotation), once a minute.
            if last_periodic.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60)) {
                last_periodic = Some(std::time::Instant::now());
                for route in state.router.routes() {
                    let view = crate::logical::StorageView::new(
                        self.barrier.clone(),
                        route.entry.view_prefix(),
                    );
                    if let Err(e) = route.backend.periodic(&view).await {
                        tracing::warn!(path = %route.entry.path, error = %e, "periodic upkeep failed");
                    }
                }
            }
            match state.tokens.sweep_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(revoked = n, "expired tokens revoked"),
                Err(e) => tracing::warn!(error = %e, "expiration sweep failed; will retry"),
            }
        }
    }
}

impl Core {
    /// Brings every cache up to the cluster generation `seen` (read from
    /// storage): drops cached tokens and policies, reloads the mount table
    /// and keyring. A no-op when nothing changed, which is the common case.
    pub(crate) async fn refresh_caches(&self, seen: &[u8]) -> Result<(), LogicalError> {
        if *self.cache_generation.read().map_err(|_| lock_err())? == seen {
            return Ok(());
        }
        let state = self.unsealed_state()?;
        state.tokens.clear_cache(seen.to_vec());
        self.policies.clear(seen.to_vec());
        self.barrier.reload_keyring().await?;
        self.load_audit_table().await?;
        let table = self.load_mount_table().await?;
        if table.entries != state.mounts.entries {
            let _guard = self.lifecycle_lock.lock().await;
            let current = self.unsealed_state()?;
            let next = Unsealed {
                router: Arc::new(self.build_router(&table)),
                mounts: table,
                tokens: current.tokens.clone(),
                cluster: current.cluster.clone(),
                system_ttls: current.system_ttls,
            };
            *self.unsealed.write().map_err(|_| lock_err())? = Some(Arc::new(next));
        }
        *self.cache_generation.write().map_err(|_| lock_err())? = seen.to_vec();
        Ok(())
    }
}
