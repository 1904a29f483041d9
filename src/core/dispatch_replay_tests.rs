//! The audit side of a replayed request (HA, `Core::handle_fresh`): the
//! first run writes the request entry and hands its response entry back;
//! when the request is replayed that entry is dropped and the replay writes
//! only its own response entry, so a replayed read is one request entry and
//! one response entry in the log. A single in-memory node stands in for a
//! standby here: the replay decision needs another node's write, the
//! recording does not.

use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::core::CoreOptions;
use crate::seal::shamir::ShamirSeal;
use crate::storage::memory::MemoryStorage;

async fn dev_core() -> Arc<Core> {
    let core = Core::new(
        Arc::new(MemoryStorage::new()),
        Arc::new(ShamirSeal),
        CoreOptions {
            storage_type: "inmem".into(),
            api_addr: None,
            clock: Arc::new(crate::util::SystemClock),
            ha: None,
            system_ttls: Default::default(),
        },
    );
    core.dev_setup(Some("root".into())).await.unwrap();
    core
}

fn request(op: Operation, path: &str, data: Value) -> Request {
    let mut req = Request::new(op, path);
    req.client_token = Some("root".into());
    if let Value::Object(m) = data {
        req.data = m;
    }
    req
}

/// (request entries, response entries) for request `id` in the log.
fn entries_of(log: &std::path::Path, id: &str) -> (usize, usize) {
    let text = std::fs::read_to_string(log).unwrap();
    let mut n = (0, 0);
    for l in text.lines() {
        let e: Value = serde_json::from_str(l).unwrap();
        if e["request"]["id"] == id {
            match e["type"].as_str() {
                Some("request") => n.0 += 1,
                _ => n.1 += 1,
            }
        }
    }
    n
}

#[tokio::test]
async fn a_replayed_read_is_audited_once() {
    let core = dev_core().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let enable = request(
        Operation::Update,
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": log.display().to_string()}}),
    );
    core.handle(enable).await.unwrap();
    let write = request(
        Operation::Update,
        "secret/data/app",
        json!({"data": {"v": "s3cret"}}),
    );
    core.handle(write).await.unwrap();

    // Not replayed: the pending response entry is written by finish().
    let read = request(Operation::Read, "secret/data/app", json!({}));
    let id = read.id.clone();
    let (result, pending) = core.handle_once(read, AuditPhase::First).await;
    assert!(
        pending.is_some(),
        "the response entry waits for the decision"
    );
    assert_eq!(entries_of(&log, &id), (1, 0));
    PendingResponse::finish(pending, result).await.unwrap();
    assert_eq!(entries_of(&log, &id), (1, 1));

    // Replayed: the first run's response entry is dropped, the replay
    // records only its own.
    let read = request(Operation::Read, "secret/data/app", json!({}));
    let id = read.id.clone();
    let (_, pending) = core.handle_once(read.clone(), AuditPhase::First).await;
    drop(pending);
    let (result, pending) = core.handle_once(read, AuditPhase::Replay).await;
    assert!(pending.is_none());
    let resp = result.unwrap();
    assert_eq!(resp.data.unwrap()["data"]["v"], "s3cret");
    assert_eq!(entries_of(&log, &id), (1, 1));
    assert!(!std::fs::read_to_string(&log).unwrap().contains("s3cret"));
}
