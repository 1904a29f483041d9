//! Writing, reading, check-and-set, delete, undelete and destroy of versions.

use super::*;

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
