//! The elector: one task per HA node that renews the lease while active and
//! watches (and takes over) the lease while standby.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    HaState, Heartbeat, Held, LeaseRecord, NodeRecord, HEARTBEAT_KEY, LEASE_KEY, NODES_PREFIX,
};
use crate::storage::{BatchItem, Condition, Storage, StorageError};

/// What a standby remembers about the heartbeat it is watching.
struct Watch {
    heartbeat: Option<Vec<u8>>,
    lease: Option<Vec<u8>>,
    since: Instant,
}

fn to_bytes<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Runs the elector until the process ends. `may_contend` says whether this
/// node may take the lease now (it must be unsealed, or the cluster still
/// uninitialized); `on_change` is called with `true` when the node becomes
/// active and `false` when it stops.
pub(crate) async fn run<F, G>(
    storage: Arc<dyn Storage>,
    ha: Arc<HaState>,
    may_contend: F,
    on_change: G,
) where
    F: Fn() -> bool + Send + Sync + 'static,
    G: Fn(bool) + Send + Sync + 'static,
{
    let ttl = ha.config.lease_ttl;
    let period = ttl / 3;
    let mut watch = Watch {
        heartbeat: None,
        lease: None,
        since: Instant::now(),
    };
    let mut was_active = false;
    let mut last_registry = Instant::now() - ttl;
    let mut last_sweep = Instant::now();
    loop {
        let active_now = ha.is_active();
        if active_now {
            if !may_contend() {
                release(&storage, &ha).await;
            } else if let Some(until) = ha.valid_until() {
                // A renewal stuck on unreachable storage must not keep this
                // node active past its validity: step down on time, which
                // also fails the writes still in flight.
                tokio::select! {
                    _ = renew(&storage, &ha) => {}
                    _ = tokio::time::sleep_until(until.into()) => {
                        ha.step_down("the lease could not be renewed in time");
                    }
                }
            }
        } else {
            observe_and_maybe_take(&storage, &ha, &mut watch, may_contend()).await;
        }
        let active_after = ha.is_active();
        if active_after != was_active {
            on_change(active_after);
            was_active = active_after;
        }
        if last_registry.elapsed() >= ttl {
            register(&storage, &ha).await;
            last_registry = Instant::now();
        }
        if active_after && last_sweep.elapsed() >= ttl * 10 {
            super::fence::sweep_applied(&ha, ttl * 20).await;
            last_sweep = Instant::now();
        }
        // Standbys look more often than the holder renews, so a dead holder
        // is noticed within a fraction of the TTL. Wake early on step-down
        // or a lost lease.
        let wait = if active_after { period } else { ttl / 6 };
        let _ = tokio::time::timeout(wait, ha.wake.notified()).await;
    }
}

/// Renews the heartbeat, conditioned on the lease still being ours.
async fn renew(storage: &Arc<dyn Storage>, ha: &HaState) {
    let Some(held) = ha.held() else { return };
    let started = Instant::now();
    let version = started.duration_since(held_epoch_start()).as_millis() as u64;
    let hb = Heartbeat {
        holder: ha.node_id.clone(),
        epoch: held.record.epoch,
        version,
        renewed_unix: chrono::Utc::now().timestamp(),
    };
    let batch = vec![
        BatchItem::check(LEASE_KEY, Condition::Equals(held.lease_bytes.clone())),
        BatchItem::put(HEARTBEAT_KEY, to_bytes(&hb)),
    ];
    match storage.batch(batch).await {
        Ok(()) => ha.renewed(started),
        Err(StorageError::ConditionFailed(_)) => {
            ha.step_down("the lease was taken by another node")
        }
        Err(e) => {
            // Keep trying; `is_active` turns false by itself once the last
            // successful renewal is too old.
            tracing::warn!(error = %e, "lease renewal failed");
        }
    }
}

/// A fixed origin so heartbeat versions are increasing numbers.
fn held_epoch_start() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Releases the lease (step-down or seal): writes a record with no holder,
/// conditioned on it being ours, so others can take over at once.
pub(crate) async fn release(storage: &Arc<dyn Storage>, ha: &HaState) {
    let Some(held) = ha.held() else { return };
    ha.stand_down("releasing the lease", false);
    let released = LeaseRecord {
        holder: String::new(),
        api_addr: String::new(),
        ..held.record.clone()
    };
    let batch =
        vec![BatchItem::put(LEASE_KEY, to_bytes(&released))
            .when(Condition::Equals(held.lease_bytes))];
    match storage.batch(batch).await {
        Ok(()) => tracing::info!(epoch = held.record.epoch, "released the HA lease"),
        Err(e) => tracing::warn!(error = %e, "could not release the lease; it will expire"),
    }
}

/// Standby: reads the lease and heartbeat; takes over when the lease is free,
/// released, or its heartbeat has not changed for a full TTL on our clock.
async fn observe_and_maybe_take(
    storage: &Arc<dyn Storage>,
    ha: &HaState,
    watch: &mut Watch,
    may_contend: bool,
) {
    let values = match storage.get_many(&[LEASE_KEY, HEARTBEAT_KEY]).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the HA lease");
            return;
        }
    };
    let lease_raw = values.first().cloned().flatten();
    let heartbeat_raw = values.get(1).cloned().flatten();
    let lease: Option<LeaseRecord> = lease_raw
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok());
    ha.set_leader(lease.clone().filter(|l| !ha.is_self(l)));

    if watch.heartbeat != heartbeat_raw || watch.lease != lease_raw {
        watch.heartbeat = heartbeat_raw.clone();
        watch.lease = lease_raw.clone();
        watch.since = Instant::now();
    }
    if !may_contend || !ha.config.can_lead {
        return;
    }
    if let Some(until) = ha.hold_off_until.read().ok().and_then(|h| *h) {
        if Instant::now() < until {
            return;
        }
    }
    let free = match &lease {
        None => true,
        Some(l) if l.holder.is_empty() => true,
        Some(_) => watch.since.elapsed() >= ha.config.lease_ttl,
    };
    if !free {
        return;
    }
    let epoch = lease.as_ref().map(|l| l.epoch + 1).unwrap_or(1);
    let record = LeaseRecord {
        holder: ha.node_id.clone(),
        api_addr: ha.api_addr.clone(),
        epoch,
        acquired: crate::util::now_rfc3339(),
    };
    let record_bytes = to_bytes(&record);
    let hb = Heartbeat {
        holder: ha.node_id.clone(),
        epoch,
        version: 0,
        renewed_unix: chrono::Utc::now().timestamp(),
    };
    let lease_cond = match &lease_raw {
        Some(b) => Condition::Equals(b.clone()),
        None => Condition::Absent,
    };
    let hb_cond = match &heartbeat_raw {
        Some(b) => Condition::Equals(b.clone()),
        None => Condition::Absent,
    };
    let started = Instant::now();
    let batch = vec![
        BatchItem::put(LEASE_KEY, record_bytes.clone()).when(lease_cond),
        BatchItem::put(HEARTBEAT_KEY, to_bytes(&hb)).when(hb_cond),
    ];
    match storage.batch(batch).await {
        Ok(()) => {
            let held = Held {
                lease_bytes: record_bytes,
                record,
                valid_until: started + ha.validity(),
            };
            ha.become_active(held);
        }
        Err(StorageError::ConditionFailed(_)) => {
            // Someone else moved first; watch the new holder from scratch.
            watch.since = Instant::now();
        }
        Err(e) => tracing::warn!(error = %e, "could not take the HA lease"),
    }
}

/// Writes this node's registry entry (for `sys/ha-status`).
async fn register(storage: &Arc<dyn Storage>, ha: &HaState) {
    let now = chrono::Utc::now();
    let rec = NodeRecord {
        id: ha.node_id.clone(),
        api_addr: ha.api_addr.clone(),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        version: crate::version::API_VERSION.to_string(),
        last_seen: crate::util::rfc3339(now),
        last_seen_unix: now.timestamp(),
    };
    if let Err(e) = storage
        .put(&format!("{NODES_PREFIX}{}", ha.node_id), to_bytes(&rec))
        .await
    {
        tracing::debug!(error = %e, "could not update the node registry");
    }
}

/// Registry entries seen within `max_age`.
pub(crate) async fn live_nodes(
    storage: &Arc<dyn Storage>,
    max_age: Duration,
) -> Result<Vec<NodeRecord>, StorageError> {
    let now = chrono::Utc::now().timestamp();
    let mut out = Vec::new();
    for id in storage.list(NODES_PREFIX).await? {
        if let Some(b) = storage.get(&format!("{NODES_PREFIX}{id}")).await? {
            if let Ok(rec) = serde_json::from_slice::<NodeRecord>(&b) {
                if now - rec.last_seen_unix <= max_age.as_secs() as i64 {
                    out.push(rec);
                }
            }
        }
    }
    Ok(out)
}
