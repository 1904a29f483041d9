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

#[tokio::test]
async fn write_read_and_versions() {
    let (kv, v) = (KvV2::new(), view().await);
    let w = put(
        &kv,
        &v,
        "data/foo",
        json!({"data":{"user":"alice","password":"s3cr3t"},"options":{"cas":0}}),
    )
    .await;
    // Field names as in the OpenBao capture 10-kv2-write-cas0.
    assert_eq!(
        keys(&w),
        [
            "created_time",
            "custom_metadata",
            "deletion_time",
            "destroyed",
            "version"
        ]
    );
    assert_eq!(w["version"], 1);
    assert_eq!(w["deletion_time"], "");
    assert_eq!(w["destroyed"], false);
    assert_eq!(w["custom_metadata"], Value::Null);

    let w2 = put(
        &kv,
        &v,
        "data/foo",
        json!({"data":{"user":"alice","password":"v2"},"options":{"cas":1}}),
    )
    .await;
    assert_eq!(w2["version"], 2);

    let r = body_of(get(&kv, &v, "data/foo", json!({})).await);
    assert_eq!(keys(&r), ["data", "metadata"]);
    assert_eq!(r["data"], json!({"user":"alice","password":"v2"}));
    assert_eq!(r["metadata"]["version"], 2);
    assert_eq!(r["metadata"]["created_time"], w2["created_time"]);

    // Query parameters arrive as strings.
    let r1 = body_of(get(&kv, &v, "data/foo", json!({"version":"1"})).await);
    assert_eq!(r1["data"]["password"], "s3cr3t");
    assert_eq!(r1["metadata"]["version"], 1);
    let r0 = body_of(get(&kv, &v, "data/foo", json!({"version":0})).await);
    assert_eq!(r0["metadata"]["version"], 2);

    assert!(matches!(
        get(&kv, &v, "data/foo", json!({"version":"3"})).await,
        Err(LogicalError::NotFound)
    ));
    assert!(matches!(
        get(&kv, &v, "data/nope", json!({})).await,
        Err(LogicalError::NotFound)
    ));
}

#[tokio::test]
async fn check_and_set() {
    let (kv, v) = (KvV2::new(), view().await);
    // cas 0 on a new key works; a non-zero cas on a new key does not.
    let (s, m) = err_msg(
        call(
            &kv,
            &v,
            Operation::Update,
            "data/k",
            json!({"data":{"a":1},"options":{"cas":1}}),
        )
        .await,
    );
    assert_eq!(
        (s, m.as_str()),
        (
            400,
            "check-and-set parameter did not match the current version"
        )
    );
    put(
        &kv,
        &v,
        "data/k",
        json!({"data":{"a":1},"options":{"cas":0}}),
    )
    .await;
    let (s, m) = err_msg(
        call(
            &kv,
            &v,
            Operation::Update,
            "data/k",
            json!({"data":{"a":2},"options":{"cas":0}}),
        )
        .await,
    );
    assert_eq!(
        (s, m.as_str()),
        (
            400,
            "check-and-set parameter did not match the current version"
        )
    );
    // Without cas, writes are unconditional by default.
    assert_eq!(
        put(&kv, &v, "data/k", json!({"data":{"a":3}})).await["version"],
        2
    );

    // cas_required on the mount.
    put(&kv, &v, "config", json!({"cas_required":true})).await;
    let (s, m) = err_msg(
        call(
            &kv,
            &v,
            Operation::Update,
            "data/k",
            json!({"data":{"a":4}}),
        )
        .await,
    );
    assert_eq!(
        (s, m.as_str()),
        (400, "check-and-set parameter required for this call")
    );
    assert_eq!(
        put(
            &kv,
            &v,
            "data/k",
            json!({"data":{"a":4},"options":{"cas":2}})
        )
        .await["version"],
        3
    );
    put(&kv, &v, "config", json!({"cas_required":false})).await;

    // cas_required on the key's metadata.
    put(&kv, &v, "metadata/k", json!({"cas_required":true})).await;
    let (_, m) = err_msg(
        call(
            &kv,
            &v,
            Operation::Update,
            "data/k",
            json!({"data":{"a":5},"options":{}}),
        )
        .await,
    );
    assert_eq!(m, "check-and-set parameter required for this call");
    assert_eq!(
        put(
            &kv,
            &v,
            "data/k",
            json!({"data":{"a":5},"options":{"cas":"3"}})
        )
        .await["version"],
        4
    );
}

#[tokio::test]
async fn delete_undelete_destroy() {
    let (kv, v) = (KvV2::new(), view().await);
    put(&kv, &v, "data/foo", json!({"data":{"v":1}})).await;
    put(&kv, &v, "data/foo", json!({"data":{"v":2}})).await;

    // DELETE data/: soft-deletes the latest; a read answers 404 with the body.
    let r = call(&kv, &v, Operation::Delete, "data/foo", json!({}))
        .await
        .unwrap();
    assert!(r.data.is_none() && r.status.is_none());
    let r = get(&kv, &v, "data/foo", json!({})).await.unwrap();
    assert_eq!(r.status, Some(404));
    let b = body(&r);
    assert_eq!(b["data"], Value::Null);
    assert_eq!(b["metadata"]["version"], 2);
    assert_ne!(b["metadata"]["deletion_time"], "");
    assert_eq!(b["metadata"]["destroyed"], false);
    // Version 1 is still readable.
    assert_eq!(
        body_of(get(&kv, &v, "data/foo", json!({"version":1})).await)["data"]["v"],
        1
    );

    // undelete restores it.
    let r = call(
        &kv,
        &v,
        Operation::Update,
        "undelete/foo",
        json!({"versions":[2]}),
    )
    .await
    .unwrap();
    assert!(r.data.is_none());
    let b = body_of(get(&kv, &v, "data/foo", json!({})).await);
    assert_eq!(b["data"]["v"], 2);
    assert_eq!(b["metadata"]["deletion_time"], "");

    // delete/ with versions.
    call(
        &kv,
        &v,
        Operation::Update,
        "delete/foo",
        json!({"versions":[1]}),
    )
    .await
    .unwrap();
    assert_eq!(
        get(&kv, &v, "data/foo", json!({"version":1}))
            .await
            .unwrap()
            .status,
        Some(404)
    );

    // destroy: gone for good, undelete cannot bring it back.
    call(
        &kv,
        &v,
        Operation::Update,
        "destroy/foo",
        json!({"versions":[1, 2]}),
    )
    .await
    .unwrap();
    call(
        &kv,
        &v,
        Operation::Update,
        "undelete/foo",
        json!({"versions":"1,2"}),
    )
    .await
    .unwrap();
    for ver in [1, 2] {
        let r = get(&kv, &v, "data/foo", json!({"version":ver}))
            .await
            .unwrap();
        assert_eq!(r.status, Some(404));
        assert_eq!(body(&r)["metadata"]["destroyed"], true);
        assert_eq!(body(&r)["data"], Value::Null);
    }
    // No version data is left in storage.
    assert!(v.list(VERSION_PREFIX).await.unwrap().is_empty());
    let rec = kv.read_record(&v, "foo").await.unwrap().unwrap();
    assert!(rec.current_data.is_none());

    // On missing keys these are quiet no-ops.
    for p in ["delete/none", "undelete/none", "destroy/none"] {
        assert!(call(&kv, &v, Operation::Update, p, json!({"versions":[1]}))
            .await
            .unwrap()
            .data
            .is_none());
    }
    assert!(call(&kv, &v, Operation::Delete, "data/none", json!({}))
        .await
        .unwrap()
        .data
        .is_none());
    // A new write after destruction continues the numbering.
    assert_eq!(
        put(&kv, &v, "data/foo", json!({"data":{"v":3}})).await["version"],
        3
    );
}

#[tokio::test]
async fn metadata_get_put_patch_delete() {
    let (kv, v) = (KvV2::new(), view().await);
    put(&kv, &v, "data/foo", json!({"data":{"v":1}})).await;
    put(&kv, &v, "data/foo", json!({"data":{"v":2}})).await;
    let m = body_of(get(&kv, &v, "metadata/foo", json!({})).await);
    // Field names exactly as in the OpenBao capture 15-kv2-metadata.
    assert_eq!(
        keys(&m),
        [
            "cas_required",
            "created_time",
            "current_metadata_version",
            "current_version",
            "custom_metadata",
            "delete_version_after",
            "max_versions",
            "metadata_cas_required",
            "oldest_version",
            "updated_time",
            "versions"
        ]
    );
    assert_eq!(m["current_metadata_version"], 0);
    assert_eq!(m["metadata_cas_required"], false);
    assert_eq!(m["current_version"], 2);
    assert_eq!(m["oldest_version"], 0);
    assert_eq!(m["delete_version_after"], "0s");
    assert_eq!(m["custom_metadata"], Value::Null);
    assert_eq!(keys(&m["versions"]), ["1", "2"]);
    assert_eq!(
        keys(&m["versions"]["1"]),
        ["created_time", "deletion_time", "destroyed"]
    );
    assert_eq!(m["updated_time"], m["versions"]["2"]["created_time"]);
    assert_eq!(m["created_time"], m["versions"]["1"]["created_time"]);

    let r = call(&kv, &v, Operation::Update, "metadata/foo",
        json!({"max_versions":5,"cas_required":false,"delete_version_after":"1h","custom_metadata":{"owner":"ops","team":"a"}})).await.unwrap();
    assert!(r.data.is_none());
    let m = body_of(get(&kv, &v, "metadata/foo", json!({})).await);
    assert_eq!(m["max_versions"], 5);
    assert_eq!(m["delete_version_after"], "1h0m0s");
    assert_eq!(m["custom_metadata"], json!({"owner":"ops","team":"a"}));
    // custom_metadata shows in data reads too.
    let d = body_of(get(&kv, &v, "data/foo", json!({})).await);
    assert_eq!(d["metadata"]["custom_metadata"]["owner"], "ops");

    // PATCH merges custom_metadata (null removes) and leaves the rest.
    call(
        &kv,
        &v,
        Operation::Patch,
        "metadata/foo",
        json!({"custom_metadata":{"team":null,"env":"prod"}}),
    )
    .await
    .unwrap();
    let m = body_of(get(&kv, &v, "metadata/foo", json!({})).await);
    assert_eq!(m["custom_metadata"], json!({"owner":"ops","env":"prod"}));
    assert_eq!(m["max_versions"], 5);
    // POST replaces custom_metadata wholesale.
    call(
        &kv,
        &v,
        Operation::Update,
        "metadata/foo",
        json!({"custom_metadata":{"x":"y"}}),
    )
    .await
    .unwrap();
    let m = body_of(get(&kv, &v, "metadata/foo", json!({})).await);
    assert_eq!(m["custom_metadata"], json!({"x":"y"}));
    assert_eq!(m["delete_version_after"], "1h0m0s");

    // PATCH of a missing key is 404; POST creates an empty record.
    assert!(matches!(
        call(
            &kv,
            &v,
            Operation::Patch,
            "metadata/new",
            json!({"max_versions":1})
        )
        .await,
        Err(LogicalError::NotFound)
    ));
    call(
        &kv,
        &v,
        Operation::Update,
        "metadata/new",
        json!({"max_versions":1}),
    )
    .await
    .unwrap();
    let m = body_of(get(&kv, &v, "metadata/new", json!({})).await);
    assert_eq!(m["current_version"], 0);
    assert_eq!(m["versions"], json!({}));
    assert!(matches!(
        get(&kv, &v, "data/new", json!({})).await,
        Err(LogicalError::NotFound)
    ));

    // DELETE removes every version and the metadata.
    let r = call(&kv, &v, Operation::Delete, "metadata/foo", json!({}))
        .await
        .unwrap();
    assert!(r.data.is_none());
    assert!(matches!(
        get(&kv, &v, "metadata/foo", json!({})).await,
        Err(LogicalError::NotFound)
    ));
    assert!(matches!(
        get(&kv, &v, "data/foo", json!({"version":1})).await,
        Err(LogicalError::NotFound)
    ));
    assert!(v.list(VERSION_PREFIX).await.unwrap().is_empty());
    // A rewrite starts over at version 1.
    assert_eq!(
        put(&kv, &v, "data/foo", json!({"data":{"v":1}})).await["version"],
        1
    );
    assert!(matches!(
        get(&kv, &v, "metadata/missing", json!({})).await,
        Err(LogicalError::NotFound)
    ));
}

#[tokio::test]
async fn max_versions_trims_oldest() {
    let (kv, v) = (KvV2::new(), view().await);
    put(&kv, &v, "config", json!({"max_versions":2})).await;
    for i in 1..=4 {
        assert_eq!(
            put(&kv, &v, "data/t", json!({"data":{"i":i}})).await["version"],
            i
        );
    }
    let m = body_of(get(&kv, &v, "metadata/t", json!({})).await);
    assert_eq!(keys(&m["versions"]), ["3", "4"]);
    assert_eq!(m["oldest_version"], 3);
    assert_eq!(m["current_version"], 4);
    for old in [1, 2] {
        assert!(matches!(
            get(&kv, &v, "data/t", json!({"version":old})).await,
            Err(LogicalError::NotFound)
        ));
    }
    assert_eq!(
        body_of(get(&kv, &v, "data/t", json!({"version":3})).await)["data"]["i"],
        3
    );
    // Only version 3 has its own data key; 4 is inline in the record.
    let dir = format!("{VERSION_PREFIX}{}/", hex::encode(Sha256::digest(b"t")));
    assert_eq!(v.list(&dir).await.unwrap(), ["3"]);

    // The key's own max_versions overrides the mount's.
    put(&kv, &v, "metadata/t", json!({"max_versions":1})).await;
    put(&kv, &v, "data/t", json!({"data":{"i":5}})).await;
    let m = body_of(get(&kv, &v, "metadata/t", json!({})).await);
    assert_eq!(keys(&m["versions"]), ["5"]);
    assert!(v.list(&dir).await.unwrap().is_empty());

    // The default limit is 10.
    put(&kv, &v, "config", json!({"max_versions":0})).await;
    for i in 1..=12 {
        put(&kv, &v, "data/d", json!({"data":{"i":i}})).await;
    }
    let m = body_of(get(&kv, &v, "metadata/d", json!({})).await);
    assert_eq!(m["versions"].as_object().unwrap().len(), 10);
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let (kv, v) = (KvV2::new(), view().await);
    put(&kv, &v, "config", json!({"delete_version_after":"1s"})).await;
    let c = body_of(get(&kv, &v, "config", json!({})).await);
    assert_eq!(c["delete_version_after"], "1s");
    let w = put(&kv, &v, "data/e", json!({"data":{"a":1}})).await;
    assert_ne!(w["deletion_time"], "");
    // Still live right after the write, with its deletion time shown.
    let r = body_of(get(&kv, &v, "data/e", json!({})).await);
    assert_eq!(r["data"]["a"], 1);
    assert_eq!(r["metadata"]["deletion_time"], w["deletion_time"]);
    let created = DateTime::parse_from_rfc3339(w["created_time"].as_str().unwrap()).unwrap();
    let deleted = DateTime::parse_from_rfc3339(w["deletion_time"].as_str().unwrap()).unwrap();
    assert_eq!((deleted - created).num_seconds(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = get(&kv, &v, "data/e", json!({})).await.unwrap();
    assert_eq!(r.status, Some(404));
    assert_eq!(body(&r)["data"], Value::Null);
    // Undelete clears the scheduled deletion.
    call(
        &kv,
        &v,
        Operation::Update,
        "undelete/e",
        json!({"versions":[1]}),
    )
    .await
    .unwrap();
    assert_eq!(
        body_of(get(&kv, &v, "data/e", json!({})).await)["data"]["a"],
        1
    );
}

#[tokio::test]
async fn patch_merges() {
    let (kv, v) = (KvV2::new(), view().await);
    put(
        &kv,
        &v,
        "data/p",
        json!({"data":{"a":1,"b":{"c":2,"d":3},"gone":"x"}}),
    )
    .await;
    let w = body_of(
        call(
            &kv,
            &v,
            Operation::Patch,
            "data/p",
            json!({"data":{"b":{"c":20,"e":5},"gone":null,"new":[1,2]}}),
        )
        .await,
    );
    assert_eq!(w["version"], 2);
    let r = body_of(get(&kv, &v, "data/p", json!({})).await);
    assert_eq!(
        r["data"],
        json!({"a":1,"b":{"c":20,"d":3,"e":5},"new":[1,2]})
    );

    // cas applies to PATCH too.
    let (s, _) = err_msg(
        call(
            &kv,
            &v,
            Operation::Patch,
            "data/p",
            json!({"data":{"a":2},"options":{"cas":1}}),
        )
        .await,
    );
    assert_eq!(s, 400);
    assert_eq!(
        body_of(
            call(
                &kv,
                &v,
                Operation::Patch,
                "data/p",
                json!({"data":{"a":2},"options":{"cas":2}})
            )
            .await
        )["version"],
        3
    );

    // Wrong or missing content type.
    let mut req = request(Operation::Patch, "data/p", json!({"data":{"a":9}}));
    req.headers
        .insert("content-type".into(), "application/json".into());
    let r = kv.handle(&req, &v).await.unwrap();
    assert_eq!(r.status, Some(415));
    assert!(body(&r)["errors"][0]
        .as_str()
        .unwrap()
        .contains(MERGE_PATCH));
    req.headers.clear();
    assert_eq!(kv.handle(&req, &v).await.unwrap_err().status(), 400);
    req.headers.insert(
        "content-type".into(),
        "application/merge-patch+json; charset=utf-8".into(),
    );
    assert!(kv.handle(&req, &v).await.is_ok());

    // No live version to patch: 404.
    assert!(matches!(
        call(
            &kv,
            &v,
            Operation::Patch,
            "data/none",
            json!({"data":{"a":1}})
        )
        .await,
        Err(LogicalError::NotFound)
    ));
    call(&kv, &v, Operation::Delete, "data/p", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        call(&kv, &v, Operation::Patch, "data/p", json!({"data":{"a":1}})).await,
        Err(LogicalError::NotFound)
    ));
    let (s, m) = err_msg(call(&kv, &v, Operation::Patch, "data/p", json!({})).await);
    assert_eq!((s, m.as_str()), (400, "no data provided"));
}

#[tokio::test]
async fn subkeys_with_depth() {
    let (kv, v) = (KvV2::new(), view().await);
    let data = json!({"foo":"abc","bar":{"baz":"def","qux":{"x":1}},"arr":[1],"empty":{}});
    put(&kv, &v, "data/s", json!({ "data": data })).await;
    let r = body_of(get(&kv, &v, "subkeys/s", json!({})).await);
    assert_eq!(keys(&r), ["metadata", "subkeys"]);
    assert_eq!(
        r["subkeys"],
        json!({"foo":null,"bar":{"baz":null,"qux":{"x":null}},"arr":null,"empty":{}})
    );
    assert_eq!(r["metadata"]["version"], 1);
    let r = body_of(get(&kv, &v, "subkeys/s", json!({"depth":"1"})).await);
    assert_eq!(
        r["subkeys"],
        json!({"foo":null,"bar":null,"arr":null,"empty":null})
    );
    let r = body_of(get(&kv, &v, "subkeys/s", json!({"depth":2})).await);
    assert_eq!(
        r["subkeys"],
        json!({"foo":null,"bar":{"baz":null,"qux":null},"arr":null,"empty":{}})
    );

    put(&kv, &v, "data/s", json!({"data":{"only":1}})).await;
    let r = body_of(get(&kv, &v, "subkeys/s", json!({"version":1,"depth":1})).await);
    assert_eq!(r["metadata"]["version"], 1);
    assert_eq!(r["subkeys"]["bar"], Value::Null);
    call(
        &kv,
        &v,
        Operation::Update,
        "delete/s",
        json!({"versions":[1]}),
    )
    .await
    .unwrap();
    let r = get(&kv, &v, "subkeys/s", json!({"version":1}))
        .await
        .unwrap();
    assert_eq!(r.status, Some(404));
    assert_eq!(body(&r)["subkeys"], Value::Null);
    assert!(matches!(
        get(&kv, &v, "subkeys/none", json!({})).await,
        Err(LogicalError::NotFound)
    ));
    assert_eq!(
        get(&kv, &v, "subkeys/s", json!({"depth":"-1"}))
            .await
            .unwrap_err()
            .status(),
        400
    );
}

#[tokio::test]
async fn list_metadata() {
    let (kv, v) = (KvV2::new(), view().await);
    for p in ["foo", "app/db", "app/web/cfg", "app"] {
        put(&kv, &v, &format!("data/{p}"), json!({"data":{"k":"v"}})).await;
    }
    let list = |path: &'static str| {
        let (kv, v) = (&kv, &v);
        async move { call(kv, v, Operation::List, path, json!({"list":"true"})).await }
    };
    assert_eq!(
        body_of(list("metadata/").await)["keys"],
        json!(["app", "app/", "foo"])
    );
    assert_eq!(
        body_of(list("metadata").await)["keys"],
        json!(["app", "app/", "foo"])
    );
    assert_eq!(
        body_of(list("metadata/app/").await)["keys"],
        json!(["db", "web/"])
    );
    assert_eq!(
        body_of(list("metadata/app").await)["keys"],
        json!(["db", "web/"])
    );
    assert_eq!(
        body_of(list("metadata/app/web/").await)["keys"],
        json!(["cfg"])
    );
    assert!(matches!(
        list("metadata/nope/").await,
        Err(LogicalError::NotFound)
    ));
    // Deleting the metadata removes the key from listings.
    call(
        &kv,
        &v,
        Operation::Delete,
        "metadata/app/web/cfg",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(body_of(list("metadata/app/").await)["keys"], json!(["db"]));
    assert!(matches!(
        list("metadata/app/web/").await,
        Err(LogicalError::NotFound)
    ));
    // An empty mount lists as 404.
    let empty = view().await;
    assert!(matches!(
        call(&kv, &empty, Operation::List, "metadata/", json!({})).await,
        Err(LogicalError::NotFound)
    ));
    // LIST is only for metadata/.
    assert_eq!(list("data/").await.unwrap_err().status(), 405);
}

#[tokio::test]
async fn config_defaults_and_updates() {
    let (kv, v) = (KvV2::new(), view().await);
    let c = body_of(get(&kv, &v, "config", json!({})).await);
    assert_eq!(
        c,
        json!({"cas_required":false,"delete_version_after":"0s","max_versions":0,"metadata_cas_required":false})
    );
    let r = call(
        &kv,
        &v,
        Operation::Update,
        "config",
        json!({"max_versions":"7","delete_version_after":"3h25m19s"}),
    )
    .await
    .unwrap();
    assert!(r.data.is_none());
    let c = body_of(get(&kv, &v, "config", json!({})).await);
    assert_eq!(
        c,
        json!({"cas_required":false,"delete_version_after":"3h25m19s","max_versions":7,"metadata_cas_required":false})
    );
    // A partial update leaves the other fields alone.
    call(
        &kv,
        &v,
        Operation::Update,
        "config",
        json!({"cas_required":true}),
    )
    .await
    .unwrap();
    let c = body_of(get(&kv, &v, "config", json!({})).await);
    assert_eq!(c["max_versions"], 7);
    assert_eq!(c["cas_required"], true);
    assert_eq!(
        call(&kv, &v, Operation::Delete, "config", json!({}))
            .await
            .unwrap_err()
            .status(),
        405
    );
}

#[test]
fn go_durations() {
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(45), "45s");
    assert_eq!(go_duration(90), "1m30s");
    assert_eq!(go_duration(3600), "1h0m0s");
    assert_eq!(go_duration(12319), "3h25m19s");
    assert_eq!(go_duration(768 * 3600), "768h0m0s");
}

#[test]
fn merge_patch_rfc7386() {
    let cases = [
        (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
        (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
        (json!({"a":"b"}), json!({"a":null}), json!({})),
        (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
        (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
        (
            json!({"a":{"b":"c"}}),
            json!({"a":{"b":"d","c":null}}),
            json!({"a":{"b":"d"}}),
        ),
        (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
        (
            json!({}),
            json!({"a":{"bb":{"ccc":null}}}),
            json!({"a":{"bb":{}}}),
        ),
    ];
    for (mut target, patch, want) in cases {
        merge_patch(&mut target, &patch);
        assert_eq!(target, want);
    }
}

/// Many tasks, on two engine instances (as two server processes sharing
/// storage), race check-and-set writes: exactly one wins each version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cas_writers_one_winner_per_version() {
    let v = view().await;
    let engines = [Arc::new(KvV2::new()), Arc::new(KvV2::new())];
    for round in 0..5u64 {
        let mut tasks = Vec::new();
        for i in 0..16 {
            let (kv, v) = (engines[i % 2].clone(), v.clone());
            tasks.push(tokio::spawn(async move {
                call(
                    &kv,
                    &v,
                    Operation::Update,
                    "data/race",
                    json!({"data":{"writer":i},"options":{"cas":round}}),
                )
                .await
            }));
        }
        let mut wins = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(r) => wins.push(body(&r)["version"].as_u64().unwrap()),
                Err(e) => assert_eq!(
                    e.to_string(),
                    "check-and-set parameter did not match the current version"
                ),
            }
        }
        assert_eq!(wins, [round + 1], "round {round}");
    }
    let m = body_of(get(&engines[0], &v, "metadata/race", json!({})).await);
    assert_eq!(m["current_version"], 5);
    assert_eq!(keys(&m["versions"]), ["1", "2", "3", "4", "5"]);
}

/// Unconditional concurrent writers from two "processes" all succeed
/// with distinct, gap-free versions, and every version keeps its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_distinct_versions() {
    let v = view().await;
    let engines = [Arc::new(KvV2::new()), Arc::new(KvV2::new())];
    put(&engines[0], &v, "config", json!({"max_versions":50})).await;
    let mut tasks = Vec::new();
    for i in 0..24u64 {
        let (kv, v) = (engines[(i % 2) as usize].clone(), v.clone());
        tasks.push(tokio::spawn(async move {
            let r = call(
                &kv,
                &v,
                Operation::Update,
                "data/many",
                json!({"data":{"writer":i}}),
            )
            .await;
            (i, body(&r.unwrap())["version"].as_u64().unwrap())
        }));
    }
    let mut seen = BTreeSet::new();
    for t in tasks {
        let (writer, version) = t.await.unwrap();
        assert!(seen.insert(version), "duplicate version {version}");
        let r = body_of(get(&engines[1], &v, "data/many", json!({"version":version})).await);
        assert_eq!(r["data"]["writer"], writer);
    }
    assert_eq!(seen, (1..=24).collect());
}

#[tokio::test]
async fn bad_input() {
    let (kv, v) = (KvV2::new(), view().await);
    let bad = |path: &'static str, op: Operation, body: Value| {
        let (kv, v) = (&kv, &v);
        async move { err_msg(call(kv, v, op, path, body).await) }
    };
    let u = Operation::Update;
    assert_eq!(
        bad("data/x", u, json!({})).await,
        (400, "no data provided".into())
    );
    assert_eq!(
        bad("data/x", u, json!({"data":null})).await,
        (400, "no data provided".into())
    );
    assert_eq!(bad("data/x", u, json!({"data":"str"})).await.0, 400);
    assert_eq!(bad("data/x", u, json!({"data":[1]})).await.0, 400);
    assert_eq!(
        bad("data/x", u, json!({"data":{},"options":"x"})).await.0,
        400
    );
    assert_eq!(
        bad("data/x", u, json!({"data":{},"options":{"cas":"x"}}))
            .await
            .0,
        400
    );
    assert_eq!(
        bad("data/x", u, json!({"data":{},"options":{"cas":-1}}))
            .await
            .0,
        400
    );
    for p in [
        "data/",
        "data/a//b",
        "data/a/",
        "data//a",
        "metadata/a//b",
        "delete/",
        "subkeys/a//",
    ] {
        let op = if p.starts_with("subkeys") {
            Operation::Read
        } else {
            u
        };
        assert_eq!(
            bad(p, op, json!({"data":{"a":1},"versions":[1]})).await.0,
            400,
            "{p}"
        );
    }
    put(&kv, &v, "data/x", json!({"data":{"a":1}})).await;
    assert_eq!(
        bad("data/x", Operation::Read, json!({"version":"abc"}))
            .await
            .0,
        400
    );
    assert_eq!(
        bad("delete/x", u, json!({})).await,
        (400, "no version number provided".into())
    );
    assert_eq!(
        bad("undelete/x", u, json!({"versions":[]})).await,
        (400, "no version number provided".into())
    );
    assert_eq!(bad("destroy/x", u, json!({"versions":["a"]})).await.0, 400);
    assert_eq!(
        bad("destroy/x", u, json!({"versions":{"a":1}})).await.0,
        400
    );
    // Unknown version numbers are ignored, as in Vault.
    call(&kv, &v, u, "destroy/x", json!({"versions":[99]}))
        .await
        .unwrap();
    assert_eq!(
        bad("metadata/x", u, json!({"max_versions":"many"})).await.0,
        400
    );
    assert_eq!(
        bad("metadata/x", u, json!({"max_versions":1u64 << 40}))
            .await
            .0,
        400
    );
    assert_eq!(
        bad("metadata/x", u, json!({"cas_required":"maybe"}))
            .await
            .0,
        400
    );
    assert_eq!(
        bad("metadata/x", u, json!({"delete_version_after":"soon"}))
            .await
            .0,
        400
    );
    assert_eq!(
        bad("metadata/x", u, json!({"custom_metadata":"x"})).await.0,
        400
    );
    assert_eq!(
        bad("metadata/x", u, json!({"custom_metadata":{"a":{"b":1}}}))
            .await
            .0,
        400
    );
    let too_long = "v".repeat(513);
    assert_eq!(
        bad("metadata/x", u, json!({"custom_metadata":{"a":too_long}}))
            .await
            .0,
        400
    );
    let many: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_eq!(
        bad("metadata/x", u, json!({ "custom_metadata": many }))
            .await
            .0,
        400
    );
    assert_eq!(bad("config", u, json!({"max_versions":-1})).await.0, 400);
    // Operations a path does not support.
    assert_eq!(bad("subkeys/x", u, json!({})).await.0, 405);
    assert_eq!(bad("destroy/x", Operation::Read, json!({})).await.0, 405);
    // A path outside the v2 API: 404 with Vault's warning.
    let r = call(&kv, &v, Operation::Read, "x", json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, Some(404));
    assert!(r.warnings[0].contains("vault kv get"));
    assert!(r.data.is_none());
}

/// OpenBao's metadata check-and-set: `metadata_cas` against
/// `current_metadata_version`, required per key or per mount.
#[tokio::test]
async fn metadata_check_and_set() {
    let (kv, v) = (KvV2::new(), view().await);
    let u = Operation::Update;
    let meta = |path: &'static str| {
        let (kv, v) = (&kv, &v);
        async move { body_of(get(kv, v, path, json!({})).await) }
    };
    // Data writes do not count as metadata writes.
    put(&kv, &v, "data/first", json!({"data":{"v":1}})).await;
    assert_eq!(meta("metadata/first").await["current_metadata_version"], 0);
    call(
        &kv,
        &v,
        u,
        "metadata/first",
        json!({"metadata_cas":0,"custom_metadata":{"o":"1"}}),
    )
    .await
    .unwrap();
    assert_eq!(meta("metadata/first").await["current_metadata_version"], 1);

    // A non-zero metadata_cas on a new key creates nothing.
    let (s, _) = err_msg(
        call(
            &kv,
            &v,
            u,
            "metadata/new",
            json!({"metadata_cas":1,"max_versions":3}),
        )
        .await,
    );
    assert_eq!(s, 400);
    assert!(matches!(
        get(&kv, &v, "metadata/new", json!({})).await,
        Err(LogicalError::NotFound)
    ));
    call(&kv, &v, u, "metadata/new",
        json!({"metadata_cas":0,"metadata_cas_required":true,"custom_metadata":{"owner":"a","keep":"yes"}}))
        .await
        .unwrap();
    let m = meta("metadata/new").await;
    assert_eq!(
        (
            m["current_metadata_version"].clone(),
            m["metadata_cas_required"].clone()
        ),
        (json!(1), json!(true))
    );

    // Required now: missing, stale and future values change nothing.
    let before = meta("metadata/new").await;
    for body in [
        json!({"custom_metadata":{"owner":"bad"}}),
        json!({"metadata_cas":0,"max_versions":1}),
        json!({"metadata_cas":2,"max_versions":1}),
    ] {
        assert_eq!(err_msg(call(&kv, &v, u, "metadata/new", body).await).0, 400);
    }
    assert_eq!(meta("metadata/new").await, before);
    call(
        &kv,
        &v,
        Operation::Patch,
        "metadata/new",
        json!({"metadata_cas":1,"custom_metadata":{"owner":null,"team":"b"}}),
    )
    .await
    .unwrap();
    let m = meta("metadata/new").await;
    assert_eq!(m["custom_metadata"], json!({"keep":"yes","team":"b"}));
    assert_eq!(m["current_metadata_version"], 2);
    // A body that sets nothing is a no-op, whatever metadata_cas says.
    call(&kv, &v, u, "metadata/new", json!({"metadata_cas":999}))
        .await
        .unwrap();
    assert_eq!(meta("metadata/new").await["current_metadata_version"], 2);

    // Mount-wide requirement, with Vault's warning when a key opts out.
    put(&kv, &v, "config", json!({"metadata_cas_required":true})).await;
    assert_eq!(meta("config").await["metadata_cas_required"], true);
    let (s, _) = err_msg(call(&kv, &v, u, "metadata/first", json!({"max_versions":2})).await);
    assert_eq!(s, 400);
    let r = call(
        &kv,
        &v,
        u,
        "metadata/first",
        json!({"metadata_cas":1,"metadata_cas_required":false}),
    )
    .await
    .unwrap();
    assert_eq!(
        r.warnings,
        ["\"metadata_cas_required\" set to false, but is mandated by backend config. This value will be ignored."]
    );
    assert_eq!(
        err_msg(call(&kv, &v, u, "metadata/first", json!({"max_versions":2})).await).0,
        400
    );
}

#[tokio::test]
async fn exists_for_data_and_metadata() {
    let (kv, v) = (KvV2::new(), view().await);
    let req = |p: &str| request(Operation::Update, p, json!({}));
    assert!(!kv.exists(&req("data/e"), &v).await.unwrap());
    assert!(!kv.exists(&req("metadata/e"), &v).await.unwrap());
    assert!(kv.exists(&req("config"), &v).await.unwrap());
    put(&kv, &v, "data/e", json!({"data":{"a":1}})).await;
    assert!(kv.exists(&req("data/e"), &v).await.unwrap());
    assert!(kv.exists(&req("metadata/e"), &v).await.unwrap());
}

#[tokio::test]
async fn latest_read_is_one_storage_get() {
    // The record carries the current version's data, so nothing else is
    // needed: remove every version key and the latest still reads.
    let (kv, v) = (KvV2::new(), view().await);
    put(&kv, &v, "data/one", json!({"data":{"a":1}})).await;
    put(&kv, &v, "data/one", json!({"data":{"a":2}})).await;
    v.delete(&version_key("one", 1)).await.unwrap();
    assert_eq!(
        body_of(get(&kv, &v, "data/one", json!({})).await)["data"]["a"],
        2
    );
    assert!(matches!(
        get(&kv, &v, "data/one", json!({"version":1})).await,
        Err(LogicalError::NotFound)
    ));
}
/// Storage that counts round trips and delegates to memory storage.
#[derive(Default)]
struct Counting {
    inner: crate::storage::memory::MemoryStorage,
    gets: std::sync::atomic::AtomicUsize,
    get_manys: std::sync::atomic::AtomicUsize,
    batches: std::sync::atomic::AtomicUsize,
    lists: std::sync::atomic::AtomicUsize,
}

/// Round trips since the last reset: (get, get_many, batch, list_page).
type Trips = (usize, usize, usize, usize);

impl Counting {
    fn take(&self) -> Trips {
        use std::sync::atomic::Ordering::SeqCst;
        (
            self.gets.swap(0, SeqCst),
            self.get_manys.swap(0, SeqCst),
            self.batches.swap(0, SeqCst),
            self.lists.swap(0, SeqCst),
        )
    }
}

#[async_trait]
impl crate::storage::Storage for Counting {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get(key).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        self.get_manys
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get_many(keys).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.list_page(prefix, after, limit).await
    }

    async fn batch(&self, batch: crate::storage::Batch) -> Result<(), StorageError> {
        self.batches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.batch(batch).await
    }
}

async fn counted_view() -> (StorageView, Arc<Counting>) {
    let storage = Arc::new(Counting::default());
    let barrier = Arc::new(crate::barrier::Barrier::new(storage.clone()));
    barrier
        .initialize(&crate::barrier::random_key())
        .await
        .unwrap();
    // The first encryption persists a reservation in the keyring.
    barrier.put("warmup", b"x").await.unwrap();
    storage.take();
    (StorageView::new(barrier, "logical/test/"), storage)
}

const ONE_BATCH: Trips = (0, 0, 1, 0);
const ONE_GET: Trips = (0, 1, 0, 0);

#[tokio::test]
async fn warm_writes_are_one_batch_and_reads_one_get() {
    let (v, st) = counted_view().await;
    let kv = KvV2::new();
    // Cold: config and record are read first (batched reads of key +
    // generation, one request each).
    put(&kv, &v, "data/w", json!({"data":{"a":1}})).await;
    assert_eq!(st.take(), (0, 2, 1, 0));
    // Warm writes: one batch, no reads.
    for i in 2..=4 {
        let w = put(&kv, &v, "data/w", json!({"data":{"a":i}})).await;
        assert_eq!(w["version"], i);
        assert_eq!(st.take(), ONE_BATCH, "write {i}");
    }
    let w = put(
        &kv,
        &v,
        "data/w",
        json!({"data":{"a":5},"options":{"cas":4}}),
    )
    .await;
    assert_eq!(w["version"], 5);
    assert_eq!(st.take(), ONE_BATCH);
    let r = call(&kv, &v, Operation::Patch, "data/w", json!({"data":{"b":1}})).await;
    assert_eq!(body_of(r)["version"], 6);
    assert_eq!(st.take(), ONE_BATCH);

    // A read is one get (the barrier reads key + generation together),
    // and never answers from the cache.
    let r = body_of(get(&kv, &v, "data/w", json!({})).await);
    assert_eq!(r["data"], json!({"a":5,"b":1}));
    assert_eq!(st.take(), ONE_GET);
    body_of(get(&kv, &v, "metadata/w", json!({})).await);
    assert_eq!(st.take(), ONE_GET);
    body_of(get(&kv, &v, "subkeys/w", json!({})).await);
    assert_eq!(st.take(), ONE_GET);
    // ... and leaves the cache warm for the next write.
    put(&kv, &v, "data/w", json!({"data":{"a":7}})).await;
    assert_eq!(st.take(), ONE_BATCH);

    // Delete, undelete, destroy and metadata writes: one batch each.
    let u = Operation::Update;
    call(&kv, &v, Operation::Delete, "data/w", json!({}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    call(&kv, &v, u, "undelete/w", json!({"versions":[7]}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    call(&kv, &v, u, "delete/w", json!({"versions":[1, 2]}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    call(&kv, &v, u, "destroy/w", json!({"versions":[3]}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    call(&kv, &v, u, "metadata/w", json!({"max_versions":20}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    call(
        &kv,
        &v,
        Operation::Patch,
        "metadata/w",
        json!({"custom_metadata":{"k":"v"}}),
    )
    .await
    .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    // Config writes are one batch too, and keep data writes warm.
    put(&kv, &v, "config", json!({"max_versions":30})).await;
    assert_eq!(st.take(), ONE_BATCH);
    put(&kv, &v, "data/w", json!({"data":{"a":8}})).await;
    assert_eq!(st.take(), ONE_BATCH);
    // The existence check of a non-root write reads (one get) and warms
    // the cache: a first write to a new key is then get + batch.
    let req = request(Operation::Update, "data/fresh", json!({}));
    assert!(!kv.exists(&req, &v).await.unwrap());
    assert_eq!(st.take(), ONE_GET);
    put(&kv, &v, "data/fresh", json!({"data":{"a":1}})).await;
    assert_eq!(st.take(), ONE_BATCH);
    // Delete of the whole key: one batch; writing it again stays warm.
    call(&kv, &v, Operation::Delete, "metadata/w", json!({}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    assert_eq!(
        put(&kv, &v, "data/w", json!({"data":{"a":9}})).await["version"],
        1
    );
    assert_eq!(st.take(), ONE_BATCH);
}

/// Two engine instances over one storage, as two nodes (HA failover):
/// stale caches never produce a wrong answer or a duplicate version.
#[tokio::test]
async fn stale_caches_across_instances_stay_correct() {
    let (v, st) = counted_view().await;
    let (a, b) = (KvV2::new(), KvV2::new());
    put(&a, &v, "data/s", json!({"data":{"n":1}})).await;
    put(&a, &v, "data/s", json!({"data":{"n":2}})).await;
    // A is warm (record v2, no config). B writes v3 behind A's back.
    assert_eq!(
        put(&b, &v, "data/s", json!({"data":{"n":3}})).await["version"],
        3
    );
    // A's reads see B's write at once.
    assert_eq!(
        body_of(get(&a, &v, "data/s", json!({})).await)["data"]["n"],
        3
    );
    // A's cas against the version B wrote is judged on storage, not on
    // A's stale cache.
    let (a2, b2) = (KvV2::new(), KvV2::new());
    put(&a2, &v, "data/t", json!({"data":{"n":1}})).await;
    put(&b2, &v, "data/t", json!({"data":{"n":2}})).await;
    assert_eq!(
        put(
            &a2,
            &v,
            "data/t",
            json!({"data":{"n":3},"options":{"cas":2}})
        )
        .await["version"],
        3
    );
    // A stale no-op is re-checked too: B deletes v3, A (cached v3 live)
    // undeletes it.
    call(&b2, &v, Operation::Delete, "data/t", json!({}))
        .await
        .unwrap();
    call(
        &a2,
        &v,
        Operation::Update,
        "undelete/t",
        json!({"versions":[3]}),
    )
    .await
    .unwrap();
    call(&a2, &v, Operation::Delete, "data/t", json!({}))
        .await
        .unwrap();
    assert_eq!(
        get(&b2, &v, "data/t", json!({})).await.unwrap().status,
        Some(404)
    );

    // Warm A again, then B writes v4 and turns on cas_required.
    put(&a, &v, "data/s", json!({"data":{"n":4}})).await;
    st.take();
    put(&a, &v, "data/s", json!({"data":{"n":5}})).await;
    assert_eq!(st.take(), ONE_BATCH, "A is warm");
    assert_eq!(
        put(&b, &v, "data/s", json!({"data":{"n":6}})).await["version"],
        6
    );
    put(&b, &v, "config", json!({"cas_required":true})).await;
    st.take();
    // A writes without cas on its stale cache: the batch fails, A re-reads
    // and refuses; nothing is written.
    let (s, m) = err_msg(call(&a, &v, Operation::Update, "data/s", json!({"data":{"n":7}})).await);
    assert_eq!(
        (s, m.as_str()),
        (400, "check-and-set parameter required for this call")
    );
    let (_, _, batches, _) = st.take();
    assert_eq!(batches, 1, "only the failed conditional batch");
    let m = body_of(get(&b, &v, "metadata/s", json!({})).await);
    assert_eq!(m["current_version"], 6);
    assert_eq!(keys(&m["versions"]), ["1", "2", "3", "4", "5", "6"]);
    // With the right cas A writes version 7, and is warm again.
    assert_eq!(
        put(
            &a,
            &v,
            "data/s",
            json!({"data":{"n":7},"options":{"cas":6}})
        )
        .await["version"],
        7
    );
    st.take();
    assert_eq!(
        put(
            &a,
            &v,
            "data/s",
            json!({"data":{"n":8},"options":{"cas":7}})
        )
        .await["version"],
        8
    );
    assert_eq!(st.take(), ONE_BATCH);
    // B's cache is now stale too: its write lands as version 9, never 8.
    put(&b, &v, "config", json!({"cas_required":false})).await;
    assert_eq!(
        put(&a, &v, "data/s", json!({"data":{"n":9}})).await["version"],
        9
    );
    assert_eq!(
        put(&b, &v, "data/s", json!({"data":{"n":10}})).await["version"],
        10
    );
    // B deletes the whole key; A's cached record is gone from storage, so
    // A's next write starts a new key at version 1.
    call(&b, &v, Operation::Delete, "metadata/s", json!({}))
        .await
        .unwrap();
    assert_eq!(
        put(&a, &v, "data/s", json!({"data":{"n":1}})).await["version"],
        1
    );
    let r = body_of(get(&b, &v, "data/s", json!({"version":1})).await);
    assert_eq!(r["data"]["n"], 1);
}

#[test]
fn write_cache_stays_bounded() {
    let cache = WriteCache::default();
    let slot = |i: usize| Slot {
        key: format!("meta/{i}"),
        config: false,
    };
    for i in 0..3 * CACHE_MAX_ENTRIES {
        cache.put(
            &slot(i),
            Snapshot::Present {
                body: Body::Plain(vec![0; 100]),
                raw: vec![0; 100],
            },
        );
    }
    let m = cache.maps();
    assert_eq!(m.records.len(), CACHE_MAX_ENTRIES);
    let total: usize = m.records.iter().map(|(k, s)| s.size(k)).sum();
    assert_eq!(m.record_bytes, total);
    drop(m);
    // Large entries are bounded by bytes.
    let big = CACHE_MAX_BYTES / 40;
    for i in 0..40 {
        cache.put(
            &slot(i),
            Snapshot::Present {
                body: Body::Plain(vec![0; big]),
                raw: vec![0; big],
            },
        );
    }
    let m = cache.maps();
    assert!(m.record_bytes <= CACHE_MAX_BYTES);
    let total: usize = m.records.iter().map(|(k, s)| s.size(k)).sum();
    assert_eq!(m.record_bytes, total);
}

#[tokio::test]
async fn cas_that_is_not_an_integer_is_refused() {
    let (kv, v) = (KvV2::new(), view().await);
    put(&kv, &v, "data/c", json!({"data":{"a":1}})).await;
    for cas in [json!("abc"), json!("1.5"), json!([1]), json!({})] {
        let (s, m) = err_msg(
            call(
                &kv,
                &v,
                Operation::Update,
                "data/c",
                json!({"data":{"a":2},"options":{"cas":cas}}),
            )
            .await,
        );
        assert_eq!(
            (s, m.as_str()),
            (400, "error parsing check-and-set parameter")
        );
    }
    // Weak decoding, as Vault's: a numeric string or a whole float is the
    // number, and `true` is 1 (a mismatch here).
    let w = put(
        &kv,
        &v,
        "data/c",
        json!({"data":{"a":2},"options":{"cas":"1"}}),
    )
    .await;
    assert_eq!(w["version"], 2);
    let w = put(
        &kv,
        &v,
        "data/c",
        json!({"data":{"a":3},"options":{"cas":2.0}}),
    )
    .await;
    assert_eq!(w["version"], 3);
    let body = json!({"data":{"a":4},"options":{"cas":true}});
    let (s, m) = err_msg(call(&kv, &v, Operation::Update, "data/c", body).await);
    assert_eq!(
        (s, m.as_str()),
        (
            400,
            "check-and-set parameter did not match the current version"
        )
    );
}

#[tokio::test]
async fn detailed_metadata_lists_keys_with_their_metadata() {
    let (kv, v) = (KvV2::new(), view().await);
    for p in ["a", "f/b"] {
        put(&kv, &v, &format!("data/{p}"), json!({"data":{"k":1}})).await;
    }
    let r = body_of(call(&kv, &v, Operation::List, "detailed-metadata/", json!({})).await);
    assert_eq!(r["keys"], json!(["a", "f/"]));
    assert_eq!(keys(&r["key_info"]), ["a"]);
    let meta = body_of(get(&kv, &v, "metadata/a", json!({})).await);
    assert_eq!(r["key_info"]["a"], meta);
    let r = body_of(call(&kv, &v, Operation::List, "detailed-metadata/f", json!({})).await);
    assert_eq!(keys(&r["key_info"]), ["b"]);
    assert!(matches!(
        call(
            &kv,
            &v,
            Operation::List,
            "detailed-metadata/none/",
            json!({})
        )
        .await,
        Err(LogicalError::NotFound)
    ));
    assert_eq!(
        err_msg(call(&kv, &v, Operation::Read, "detailed-metadata/a", json!({})).await).0,
        405
    );
}
