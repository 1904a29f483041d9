//! The KV version 1 secrets engine: a plain, unversioned key/value store.
//!
//! Storage layout: each secret is stored as the JSON encoding of its object at
//! exactly its path inside the mount's [`StorageView`] (the view prefix keeps
//! mounts apart), which is what Vault does too. Because storage keys are flat,
//! `app` and `app/db` can both exist, and a LIST of the view prefix yields
//! `app` and `app/` exactly as Vault answers.
//!
//! A write replaces the whole object; there is no history, no check-and-set
//! and no locking, so every operation is a single storage round trip.

use serde_json::{Map, Value};

use crate::logical::framework::{Ctx, FrameworkBackend, PathSpec, Paths};
use crate::logical::{parse_duration, LogicalError, LogicalResult, Response};
use crate::{existence, handler};

/// A flat (unversioned) key/value store over a storage view. KV v1 and
/// cubbyhole share every storage handler and differ only in what a stored
/// `ttl` means, so the handlers are generic over this.
pub(crate) trait FlatStore: Send + Sync + 'static {
    /// Whether a stored `ttl` (or legacy `lease`) is checked on write and
    /// advertised as the read's lease duration (KV v1), or is plain data
    /// (cubbyhole).
    const TTL_IS_LEASE: bool;
}

/// The KV v1 engine. Stateless: everything lives in the mount's storage view.
pub(crate) struct KvV1;

impl FlatStore for KvV1 {
    const TTL_IS_LEASE: bool = true;
}

const HELP: &str = "The KV secrets engine (version 1) stores arbitrary secrets at arbitrary \
paths, without versions. A `ttl` field in a secret is reported as the lease duration of its reads.";

const SYNOPSIS: &str = "Pass-through secret storage to the storage view of this mount.";
const DESCRIPTION: &str =
    "Any key can be written with any data; a write replaces the whole secret. \
    LIST a folder (ending in `/`) to see the keys below it.";

impl KvV1 {
    /// The mountable engine: its paths are declared once, here.
    pub(crate) fn new() -> FrameworkBackend<Self> {
        let path = flat_path::<Self>("{path*}").help(SYNOPSIS, DESCRIPTION);
        FrameworkBackend::new(Self, Paths::new(HELP, vec![path]))
    }
}

/// The one path of a flat store: any key, any body (every body key is the
/// secret's data, so none is "unrecognized"), with KV v1's storage handlers.
pub(crate) fn flat_path<S: FlatStore>(pattern: &'static str) -> PathSpec<S> {
    PathSpec::new(pattern)
        .arbitrary_input()
        .read(handler!(read::<S>))
        .write(handler!(write::<S>))
        .delete(handler!(delete::<S>))
        .list(handler!(list::<S>))
        .exists(existence!(exists::<S>))
}

/// Checks a secret path: non-empty, no empty segments (so no leading,
/// trailing or doubled `/`). A key ending in `/` would be unreachable by
/// LIST, so it is refused instead of silently stored.
fn secret_key(path: &str) -> Result<&str, LogicalError> {
    if path.is_empty() {
        return Err(LogicalError::bad("missing secret path"));
    }
    if path.split('/').any(str::is_empty) {
        return Err(LogicalError::bad(format!(
            "invalid secret path {path:?}: empty path segment"
        )));
    }
    Ok(path)
}

/// Turns a LIST path into a storage prefix: the mount root, or a folder
/// ending in `/` (Vault lists `foo` and `foo/` alike).
fn list_prefix(path: &str) -> Result<String, LogicalError> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    secret_key(trimmed)?;
    Ok(format!("{trimmed}/"))
}

/// The lease a v1 secret advertises: Vault reports a `ttl` (or legacy
/// `lease`) field of the stored object as the response's lease duration.
fn lease_seconds(data: &Map<String, Value>) -> Result<Option<u64>, String> {
    match data.get("ttl").or_else(|| data.get("lease")) {
        None => Ok(None),
        Some(v) => parse_duration(v).map(Some),
    }
}

/// The mount-relative key of a request (the whole path is the key).
fn key_of<'a>(c: &'a Ctx<'_>) -> &'a str {
    c.path("path")
}

async fn read<S: FlatStore>(_: &S, c: &Ctx<'_>) -> LogicalResult {
    let key = secret_key(key_of(c))?;
    let Some(bytes) = c.view.get(key).await? else {
        return Err(LogicalError::NotFound);
    };
    let data: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|e| LogicalError::Internal(format!("corrupt secret at {key:?}: {e}")))?;
    // A stored ttl was validated on write; if it somehow is not, just omit it.
    let lease = match S::TTL_IS_LEASE {
        true => lease_seconds(&data).ok().flatten().unwrap_or(0),
        false => 0,
    };
    let mut resp = Response::data(data);
    resp.lease_duration = lease;
    Ok(resp)
}

async fn write<S: FlatStore>(_: &S, c: &Ctx<'_>) -> LogicalResult {
    let key = secret_key(key_of(c))?;
    let data = &c.req.data;
    if data.is_empty() {
        return Err(LogicalError::bad("missing data fields"));
    }
    if S::TTL_IS_LEASE {
        lease_seconds(data)
            .map_err(|e| LogicalError::bad(format!("failed to parse ttl for entry: {e}")))?;
    }
    let bytes = serde_json::to_vec(data)
        .map_err(|e| LogicalError::Internal(format!("failed to encode secret: {e}")))?;
    c.view.put(key, &bytes).await?;
    Ok(Response::empty())
}

async fn delete<S: FlatStore>(_: &S, c: &Ctx<'_>) -> LogicalResult {
    let key = secret_key(key_of(c))?;
    c.view.delete(key).await?;
    Ok(Response::empty())
}

async fn list<S: FlatStore>(_: &S, c: &Ctx<'_>) -> LogicalResult {
    let prefix = list_prefix(key_of(c))?;
    let keys = c.view.list(&prefix).await?;
    if keys.is_empty() {
        // Vault answers an empty LIST with a bare 404.
        return Err(LogicalError::NotFound);
    }
    Ok(Response::list(keys))
}

async fn exists<S: FlatStore>(_: &S, c: &Ctx<'_>) -> Result<bool, LogicalError> {
    match secret_key(key_of(c)) {
        Ok(key) => Ok(c.view.get(key).await?.is_some()),
        // Let the handler report the bad path.
        Err(_) => Ok(true),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::logical::{Backend, Operation, Request, StorageView};

    /// A fresh storage view (shared with the cubbyhole tests).
    pub(crate) async fn view() -> StorageView {
        let storage = Arc::new(crate::storage::memory::MemoryStorage::new());
        let barrier = Arc::new(crate::barrier::Barrier::new(storage));
        barrier
            .initialize(&crate::barrier::random_key())
            .await
            .unwrap();
        StorageView::new(barrier, "logical/test/")
    }

    /// Sends `op` on `path` (mounted at `kv/`) with `body` to `backend`.
    pub(crate) async fn call_on(
        backend: &dyn Backend,
        view: &StorageView,
        op: Operation,
        path: &str,
        body: Value,
    ) -> LogicalResult {
        let mut req = Request::new(op, format!("kv/{path}"));
        req.mount_point = "kv/".into();
        req.relative_path = path.into();
        if let Value::Object(m) = body {
            req.data = m;
        }
        backend.handle(&req, view).await
    }

    async fn call(view: &StorageView, op: Operation, path: &str, body: Value) -> LogicalResult {
        call_on(&KvV1::new(), view, op, path, body).await
    }

    #[tokio::test]
    async fn write_read_replace_delete() {
        let v = view().await;
        let r = call(
            &v,
            Operation::Update,
            "app/db",
            json!({"user":"a","pw":"x"}),
        )
        .await
        .unwrap();
        assert!(r.data.is_none() && r.status.is_none()); // 204
        let r = call(&v, Operation::Read, "app/db", json!({}))
            .await
            .unwrap();
        assert_eq!(Value::Object(r.data.unwrap()), json!({"user":"a","pw":"x"}));

        // A write replaces the whole object.
        call(&v, Operation::Update, "app/db", json!({"only":"this"}))
            .await
            .unwrap();
        let r = call(&v, Operation::Read, "app/db", json!({}))
            .await
            .unwrap();
        assert_eq!(Value::Object(r.data.unwrap()), json!({"only":"this"}));

        call(&v, Operation::Delete, "app/db", json!({}))
            .await
            .unwrap();
        let e = call(&v, Operation::Read, "app/db", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(e, LogicalError::NotFound));
        // Deleting again is still fine.
        call(&v, Operation::Delete, "app/db", json!({}))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn missing_key_is_not_found() {
        let v = view().await;
        let e = call(&v, Operation::Read, "nope", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 404);
        assert!(e.messages().is_empty());
    }

    #[tokio::test]
    async fn list_nested_and_missing() {
        let v = view().await;
        for p in ["a", "a/b", "a/c/d", "z"] {
            call(&v, Operation::Update, p, json!({"k":"v"}))
                .await
                .unwrap();
        }
        let r = call(&v, Operation::List, "", json!({})).await.unwrap();
        assert_eq!(r.data.unwrap()["keys"], json!(["a", "a/", "z"]));
        let r = call(&v, Operation::List, "a/", json!({})).await.unwrap();
        assert_eq!(r.data.unwrap()["keys"], json!(["b", "c/"]));
        // Without the trailing slash too.
        let r = call(&v, Operation::List, "a", json!({})).await.unwrap();
        assert_eq!(r.data.unwrap()["keys"], json!(["b", "c/"]));
        let e = call(&v, Operation::List, "nope/", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(e, LogicalError::NotFound));
    }

    #[tokio::test]
    async fn ttl_becomes_lease_duration() {
        let v = view().await;
        call(&v, Operation::Update, "t", json!({"foo":"bar","ttl":"1h"}))
            .await
            .unwrap();
        let r = call(&v, Operation::Read, "t", json!({})).await.unwrap();
        assert_eq!(r.lease_duration, 3600);
        assert!(!r.renewable);
        let e = call(&v, Operation::Update, "t", json!({"ttl":"soon"}))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[tokio::test]
    async fn bad_input() {
        let v = view().await;
        let e = call(&v, Operation::Update, "x", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "missing data fields");
        for p in ["", "a//b", "a/", "/a"] {
            let e = call(&v, Operation::Update, p, json!({"k":"v"}))
                .await
                .unwrap_err();
            assert_eq!(e.status(), 400, "path {p:?}");
        }
        let e = call(&v, Operation::Patch, "x", json!({"k":"v"}))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 405);
    }

    #[tokio::test]
    async fn exists_tells_create_from_update() {
        let v = view().await;
        let mut req = Request::new(Operation::Update, "kv/e");
        req.relative_path = "e".into();
        assert!(!KvV1::new().exists(&req, &v).await.unwrap());
        call(&v, Operation::Update, "e", json!({"k":"v"}))
            .await
            .unwrap();
        assert!(KvV1::new().exists(&req, &v).await.unwrap());
    }
}
