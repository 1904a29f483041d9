//! High availability over shared storage.
//!
//! One node holds a **lease** (a storage item) and is active; the others are
//! standbys that serve reads and forward anything that writes. The design
//! follows AWS's DynamoDB lock client rather than Vault's lock:
//!
//! * The lease item ([`LEASE_KEY`]) names the holder and an **epoch** that
//!   only grows; it changes only when the lease changes hands.
//! * The holder proves it is alive by rewriting a separate heartbeat item
//!   ([`HEARTBEAT_KEY`]) every `ttl/3`, conditioned on the lease item still
//!   being exactly its own.
//! * A contender takes over only after it has seen the *same* heartbeat for a
//!   full `ttl` measured on **its own monotonic clock** (no wall-clock
//!   agreement between nodes is needed), with one conditional write that
//!   checks the heartbeat it watched and bumps the epoch.
//! * **Fencing**: every storage write of the active node carries a check that
//!   the lease item is still its own ([`fence::FencedStorage`]). A deposed
//!   node — paused, partitioned, or slow — can never write: its next write
//!   fails the check, and it steps down.
//! * The holder also stops acting as active on its own once its last
//!   successful renewal is older than `ttl - margin`, before any contender
//!   could have taken over.
//!
//! The embedded backends (memory, file) are single-node: no HA, always active.

pub(crate) mod elector;
pub(crate) mod fence;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The lease item (physical, unencrypted: it holds no secret).
pub(crate) const LEASE_KEY: &str = "core/ha/lease";
/// The heartbeat item the holder rewrites every `ttl/3`.
pub(crate) const HEARTBEAT_KEY: &str = "core/ha/heartbeat";
/// Node registry for `sys/ha-status`.
pub(crate) const NODES_PREFIX: &str = "core/ha/nodes/";

/// The lease record. It changes only when the lease changes hands (or is
/// released), so its exact bytes are a stable fencing token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct LeaseRecord {
    /// Node id of the holder; empty when released by a step-down.
    pub(crate) holder: String,
    pub(crate) api_addr: String,
    pub(crate) epoch: u64,
    /// When the holder acquired it (wall clock; informational only).
    pub(crate) acquired: String,
}

/// The heartbeat record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Heartbeat {
    pub(crate) holder: String,
    pub(crate) epoch: u64,
    pub(crate) version: u64,
    /// Wall-clock time of the renewal (unix seconds). Only nodes that cannot
    /// watch the heartbeat over time (Lambda instances) use it, and only to
    /// avoid forwarding to a holder that is obviously long dead.
    #[serde(default)]
    pub(crate) renewed_unix: i64,
}

/// One node's registry entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NodeRecord {
    pub(crate) id: String,
    pub(crate) api_addr: String,
    pub(crate) hostname: String,
    pub(crate) version: String,
    pub(crate) last_seen: String,
    pub(crate) last_seen_unix: i64,
}

/// HA settings from `storage "dynamodb" { ha_enabled = "true" lease_ttl = "10s" }`.
#[derive(Debug, Clone)]
pub(crate) struct HaConfig {
    pub(crate) lease_ttl: Duration,
    /// Lambda instances serve as standbys only (they can be frozen at any time).
    pub(crate) can_lead: bool,
}

/// What this node holds while active.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) lease_bytes: Vec<u8>,
    pub(crate) record: LeaseRecord,
    /// Past this instant the node must not act as active any more.
    pub(crate) valid_until: Instant,
}

/// Shared HA state: read by the request path, written by the elector.
pub(crate) struct HaState {
    /// The raw shared storage (lease, heartbeat and registry writes bypass
    /// the fence: they carry their own conditions).
    pub(crate) storage: std::sync::Arc<dyn crate::storage::Storage>,
    pub(crate) node_id: String,
    pub(crate) api_addr: String,
    pub(crate) config: HaConfig,
    active: AtomicBool,
    held: RwLock<Option<Held>>,
    /// The last lease record seen in storage (for forwarding and sys/leader).
    leader: RwLock<Option<LeaseRecord>>,
    /// Wakes the elector early (step-down, lease lost).
    pub(crate) wake: tokio::sync::Notify,
    /// Fired on every step-down: fenced writes still in flight give up at
    /// once ([`fence::FencedStorage`]) instead of waiting for their storage
    /// deadline, so the requests behind them can be re-run elsewhere.
    pub(crate) deposed: tokio::sync::Notify,
    /// Until when this node refrains from contending (after a step-down).
    pub(crate) hold_off_until: RwLock<Option<Instant>>,
}

impl HaState {
    pub(crate) fn new(
        storage: std::sync::Arc<dyn crate::storage::Storage>,
        api_addr: String,
        config: HaConfig,
    ) -> Self {
        Self {
            storage,
            node_id: uuid::Uuid::new_v4().to_string(),
            api_addr,
            config,
            active: AtomicBool::new(false),
            held: RwLock::new(None),
            leader: RwLock::new(None),
            wake: tokio::sync::Notify::new(),
            deposed: tokio::sync::Notify::new(),
            hold_off_until: RwLock::new(None),
        }
    }

    /// True while this node holds a lease it may still act on.
    pub(crate) fn is_active(&self) -> bool {
        if !self.active.load(Ordering::Acquire) {
            return false;
        }
        match self.held() {
            Some(h) if Instant::now() < h.valid_until => true,
            Some(_) => {
                self.step_down("the lease was not renewed in time");
                false
            }
            None => false,
        }
    }

    pub(crate) fn held(&self) -> Option<Held> {
        self.held.read().ok()?.clone()
    }

    /// The fencing token: the exact lease bytes this node wrote, if it may
    /// still write.
    pub(crate) fn fence(&self) -> Option<Vec<u8>> {
        if self.is_active() {
            self.held().map(|h| h.lease_bytes)
        } else {
            None
        }
    }

    pub(crate) fn become_active(&self, held: Held) {
        tracing::info!(epoch = held.record.epoch, node = %self.node_id, "acquired the HA lease: now active");
        self.set_leader(Some(held.record.clone()));
        if let Ok(mut h) = self.held.write() {
            *h = Some(held);
        }
        self.active.store(true, Ordering::Release);
    }

    /// Extends validity after a successful renewal that *started* at `started`.
    pub(crate) fn renewed(&self, started: Instant) {
        if let Ok(mut h) = self.held.write() {
            if let Some(held) = h.as_mut() {
                held.valid_until = started + self.validity();
            }
        }
    }

    /// How long after a renewal starts the holder may keep acting: the TTL
    /// minus a safety margin, so it stops before any contender (which waits a
    /// full TTL after the *last change it saw*) can take over.
    pub(crate) fn validity(&self) -> Duration {
        let ttl = self.config.lease_ttl;
        ttl.saturating_sub(ttl / 5)
    }

    /// Stops acting as active because the lease is lost or could not be
    /// renewed: requests still running on this node give up at once.
    pub(crate) fn step_down(&self, why: &str) {
        self.stand_down(why, true);
    }

    /// Stops acting as active. `abandon_requests` is false for a deliberate
    /// release (`sys/step-down`, seal, shutdown): the request that asked for
    /// it must finish, and others fail their lease check on their own.
    pub(crate) fn stand_down(&self, why: &str, abandon_requests: bool) {
        let was = self.active.swap(false, Ordering::AcqRel);
        if let Ok(mut h) = self.held.write() {
            *h = None;
        }
        // A deposed node no longer names itself as the leader (sys/leader,
        // forwarding) until the elector has read who holds the lease now.
        if let Ok(mut l) = self.leader.write() {
            if l.as_ref().is_some_and(|r| r.holder == self.node_id) {
                *l = None;
            }
        }
        if abandon_requests {
            self.deposed.notify_waiters();
        }
        if was {
            tracing::warn!(reason = why, node = %self.node_id, "stepping down: no longer active");
            self.wake.notify_one();
        }
    }

    pub(crate) fn set_leader(&self, record: Option<LeaseRecord>) {
        if let Ok(mut l) = self.leader.write() {
            *l = record;
        }
    }

    /// When this node must stop acting as active (`None` while standby).
    pub(crate) fn valid_until(&self) -> Option<Instant> {
        self.held().map(|h| h.valid_until)
    }

    /// The active node's advertised address, if a live holder is known.
    pub(crate) fn leader(&self) -> Option<LeaseRecord> {
        self.leader
            .read()
            .ok()?
            .clone()
            .filter(|l| !l.holder.is_empty())
    }

    /// Reads the lease and heartbeat from storage to learn the active node.
    /// Lambda instances run no elector, so they call this before forwarding.
    pub(crate) async fn refresh_leader(&self) {
        let Ok(values) = self.storage.get_many(&[LEASE_KEY, HEARTBEAT_KEY]).await else {
            return;
        };
        let lease: Option<LeaseRecord> = values
            .first()
            .cloned()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let heartbeat: Option<Heartbeat> = values
            .get(1)
            .cloned()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let stale_after = (self.config.lease_ttl * 3).as_secs() as i64;
        let alive = heartbeat.is_some_and(|h| {
            h.renewed_unix == 0 || chrono::Utc::now().timestamp() - h.renewed_unix <= stale_after
        });
        // A node that is not active never names itself (it may have just
        // stepped down and not yet seen the new holder).
        self.set_leader(
            lease
                .filter(|_| alive)
                .filter(|l| !self.is_self(l) || self.is_active()),
        );
    }

    pub(crate) fn is_self(&self, record: &LeaseRecord) -> bool {
        record.holder == self.node_id
    }
}
