//! Leases on secrets engines hand out (Vault's `secret` block), next to the
//! token leases of `leases.rs`. A response carrying a
//! [`SecretLease`](crate::logical::SecretLease) gets an entry at
//! `sys/leases/secret/<sha256 of the lease id>` (through the barrier) in the
//! same request; `sys/leases/lookup|renew|revoke|revoke-prefix` find it by
//! id, and revoking calls the owning mount's `Backend::revoke_secret` with
//! the backend's own `internal` data before the entry is deleted.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Digest;

use super::Unsealed;
use crate::barrier::Barrier;
use crate::logical::{LogicalError, Response, SecretLease, StorageView};
use crate::storage::BatchItem;

const PREFIX: &str = "sys/leases/secret/";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SecretLeaseEntry {
    pub(crate) id: String,
    /// The mount path the secret came from (`pki/`).
    pub(crate) mount: String,
    pub(crate) internal: Value,
    pub(crate) issue_time: i64,
    pub(crate) expire_time: i64,
    pub(crate) renewable: bool,
}

fn key(id: &str) -> String {
    format!(
        "{PREFIX}{}",
        hex::encode(sha2::Sha256::digest(id.as_bytes()))
    )
}

/// Records the lease of `resp` and fills in the response's lease fields.
pub(crate) async fn record(
    barrier: &Barrier,
    mount: &str,
    lease: SecretLease,
    now: i64,
    resp: &mut Response,
) -> Result<(), LogicalError> {
    let entry = SecretLeaseEntry {
        id: lease.id.clone(),
        mount: mount.to_string(),
        internal: lease.internal,
        issue_time: now,
        expire_time: now + lease.ttl as i64,
        renewable: lease.renewable,
    };
    let bytes = serde_json::to_vec(&entry).map_err(|e| LogicalError::Internal(e.to_string()))?;
    barrier
        .batch(vec![BatchItem::put(key(&lease.id), bytes)])
        .await?;
    resp.lease_id = lease.id;
    resp.lease_duration = lease.ttl;
    resp.renewable = lease.renewable;
    Ok(())
}

pub(crate) async fn find(
    barrier: &Barrier,
    id: &str,
) -> Result<Option<SecretLeaseEntry>, LogicalError> {
    match barrier.get(&key(id)).await? {
        Some(b) => Ok(serde_json::from_slice(&b)
            .ok()
            .filter(|e: &SecretLeaseEntry| e.id == id)),
        None => Ok(None),
    }
}

pub(crate) async fn all(barrier: &Barrier) -> Result<Vec<SecretLeaseEntry>, LogicalError> {
    let mut out = Vec::new();
    for k in barrier.list(PREFIX).await? {
        if let Some(b) = barrier.get(&format!("{PREFIX}{k}")).await? {
            if let Ok(e) = serde_json::from_slice(&b) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// Revokes the secret with its backend, then forgets the lease. A lease
/// whose mount is gone is just forgotten.
pub(crate) async fn revoke(
    state: &Unsealed,
    barrier: &std::sync::Arc<Barrier>,
    entry: &SecretLeaseEntry,
) -> Result<(), LogicalError> {
    if let Some(route) = state.router.lookup(&entry.mount) {
        if route.entry.path == entry.mount {
            let view = StorageView::new(barrier.clone(), route.entry.view_prefix());
            route.backend.revoke_secret(&entry.internal, &view).await?;
        }
    }
    barrier
        .batch(vec![BatchItem::delete(key(&entry.id))])
        .await?;
    Ok(())
}

/// `sys/leases/lookup` of a secret lease.
pub(crate) fn lookup_json(e: &SecretLeaseEntry, now: i64) -> Value {
    let t = |s: i64| chrono::DateTime::from_timestamp(s, 0).map(crate::util::rfc3339);
    json!({
        "id": e.id,
        "issue_time": t(e.issue_time),
        "expire_time": t(e.expire_time),
        "last_renewal": null,
        "renewable": e.renewable,
        "ttl": (e.expire_time - now).max(0),
    })
}

/// Forgets leases past their expiry (`sys/leases/tidy`).
pub(crate) async fn sweep_expired(
    state: &Unsealed,
    barrier: &std::sync::Arc<Barrier>,
    now: i64,
) -> Result<(), LogicalError> {
    for e in all(barrier).await? {
        if e.expire_time <= now {
            revoke(state, barrier, &e).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryStorage;
    use std::sync::Arc;

    #[tokio::test]
    async fn recorded_leases_are_found_by_id_only() {
        let barrier = Arc::new(Barrier::new(Arc::new(MemoryStorage::new())));
        barrier
            .initialize(&crate::barrier::random_key())
            .await
            .unwrap();
        let mut resp = Response::default();
        let lease = SecretLease {
            id: "pki/issue/web/abc".into(),
            ttl: 3600,
            renewable: false,
            internal: json!({"serial_number": "01:02"}),
        };
        record(&barrier, "pki/", lease, 1_000, &mut resp)
            .await
            .unwrap();
        assert_eq!(
            (resp.lease_id.as_str(), resp.lease_duration),
            ("pki/issue/web/abc", 3600)
        );
        let e = find(&barrier, "pki/issue/web/abc").await.unwrap().unwrap();
        assert_eq!((e.mount.as_str(), e.expire_time), ("pki/", 4_600));
        assert_eq!(e.internal["serial_number"], "01:02");
        assert!(find(&barrier, "pki/issue/web/abd").await.unwrap().is_none());
        assert_eq!(all(&barrier).await.unwrap().len(), 1);
        let v = lookup_json(&e, 1_600);
        assert_eq!(v["ttl"], 3000);
        assert_eq!(v["renewable"], false);
    }
}
