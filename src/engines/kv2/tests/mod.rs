use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::DateTime;
use serde_json::{json, Map};
use sha2::{Digest, Sha256};

use super::cache::{Body, Slot, Snapshot, CACHE_MAX_BYTES, CACHE_MAX_ENTRIES};
use super::data::MERGE_PATCH;
use super::record::{go_duration, merge_patch, version_key, VERSION_PREFIX};
use super::*;
use crate::engines::kv::tests::view;
use crate::storage::StorageError;

fn request(op: Operation, path: &str, body: Value) -> Request {
    let mut req = Request::new(op, format!("secret/{path}"));
    req.mount_point = "secret/".into();
    req.relative_path = path.into();
    if let Value::Object(m) = body {
        req.data = m;
    }
    req
}

async fn call(
    kv: &KvV2,
    view: &StorageView,
    op: Operation,
    path: &str,
    body: Value,
) -> LogicalResult {
    let mut req = request(op, path, body);
    if op == Operation::Patch {
        req.headers
            .insert("content-type".into(), MERGE_PATCH.into());
    }
    kv.handle(&req, view).await
}

/// The response body as JSON (data, or raw when rendered as-is).
fn body(resp: &Response) -> Value {
    match (&resp.data, &resp.raw) {
        (Some(d), _) => Value::Object(d.clone()),
        (None, Some(r)) => r.clone(),
        _ => Value::Null,
    }
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

async fn put(kv: &KvV2, view: &StorageView, path: &str, body: Value) -> Value {
    body_of(call(kv, view, Operation::Update, path, body).await)
}

fn body_of(r: LogicalResult) -> Value {
    let r = r.unwrap();
    assert_eq!(r.status, None, "unexpected status in {r:?}");
    body(&r)
}

async fn get(kv: &KvV2, view: &StorageView, path: &str, query: Value) -> LogicalResult {
    call(kv, view, Operation::Read, path, query).await
}

fn err_msg(r: LogicalResult) -> (u16, String) {
    let e = r.unwrap_err();
    (e.status(), e.to_string())
}

mod cas_and_input;
mod metadata;
mod storage_budget;
mod versions;
