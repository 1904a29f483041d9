//! Input handling: durations, merge patch, concurrent writers, bad input, metadata and data check-and-set parsing, detailed-metadata.

use super::*;

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
