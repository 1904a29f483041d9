//! Metadata, version trimming and expiry, patch, subkeys, listing and mount config.

use super::*;

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
