//! Secret-ids: lifecycle, use counts, TTL and tidy, CIDR bounds, bind_secret_id, keyed storage.

use super::*;

#[tokio::test]
async fn secret_id_lifecycle_and_login_grant() {
    let (_s, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Create,
        "role/app",
        json!({
            "policies": "db,cache", "token_ttl": 300, "token_max_ttl": 900, "token_num_uses": 7,
            "token_period": 0
        }),
    )
    .await
    .unwrap();
    let id = role_id(&b, &view, "app").await;
    let d = data(
        call(
            &b,
            &view,
            Operation::Update,
            "role/app/secret-id",
            json!({"metadata": "{\"env\":\"prod\"}", "num_uses": 5, "ttl": "1h"}),
        )
        .await,
    );
    assert_eq!(d["secret_id_ttl"], json!(3600));
    assert_eq!(d["secret_id_num_uses"], json!(5));
    let sid = d["secret_id"].as_str().unwrap().to_string();
    let acc = d["secret_id_accessor"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&sid).is_ok());

    let auth = login(&b, &view, &id, &sid).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["cache", "db"]);
    assert_eq!(auth.ttl, 300);
    assert_eq!(auth.explicit_max_ttl, 900);
    assert_eq!(auth.num_uses, 7);
    assert!(auth.renewable);
    assert!(auth.client_token.is_empty());
    assert_eq!(
        auth.metadata.get("role_name").map(String::as_str),
        Some("app")
    );
    assert_eq!(auth.metadata.get("env").map(String::as_str), Some("prod"));

    // Lookup by value and by accessor.
    let d = data(
        call(
            &b,
            &view,
            Operation::Update,
            "role/app/secret-id/lookup",
            json!({"secret_id": sid}),
        )
        .await,
    );
    assert_eq!(d["secret_id_accessor"], json!(acc));
    assert_eq!(d["secret_id_num_uses"], json!(4));
    assert_eq!(d["metadata"], json!({"env": "prod"}));
    let d = data(
        call(
            &b,
            &view,
            Operation::Update,
            "role/app/secret-id-accessor/lookup",
            json!({"secret_id_accessor": acc}),
        )
        .await,
    );
    assert_eq!(d["secret_id_num_uses"], json!(4));
    assert!(!d.contains_key("secret_id"));
    let keys = data(call(&b, &view, Operation::List, "role/app/secret-id", json!({})).await);
    assert_eq!(keys["keys"], json!([acc]));
    // Unknown ones.
    let r = call(
        &b,
        &view,
        Operation::Update,
        "role/app/secret-id/lookup",
        json!({"secret_id": "nope"}),
    )
    .await
    .unwrap();
    assert!(r.data.is_none());
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/app/secret-id-accessor/lookup",
        json!({"secret_id_accessor": "nope"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);

    // Destroy by value.
    call(
        &b,
        &view,
        Operation::Update,
        "role/app/secret-id/destroy",
        json!({"secret_id": sid}),
    )
    .await
    .unwrap();
    assert_eq!(
        login(&b, &view, &id, &sid).await.unwrap_err().to_string(),
        INVALID_CREDENTIALS
    );
    assert!(matches!(
        call(&b, &view, Operation::List, "role/app/secret-id", json!({}))
            .await
            .unwrap_err(),
        LogicalError::NotFound
    ));

    // Destroy by accessor.
    let (sid2, acc2) = new_secret(&b, &view, "app", json!({})).await;
    login(&b, &view, &id, &sid2).await.unwrap();
    call(
        &b,
        &view,
        Operation::Update,
        "role/app/secret-id-accessor/destroy",
        json!({"secret_id_accessor": acc2}),
    )
    .await
    .unwrap();
    assert_eq!(
        login(&b, &view, &id, &sid2).await.unwrap_err().to_string(),
        INVALID_CREDENTIALS
    );

    // Custom secret-id; a duplicate is refused.
    let d = data(
        call(
            &b,
            &view,
            Operation::Update,
            "role/app/custom-secret-id",
            json!({"secret_id": "my-own-secret"}),
        )
        .await,
    );
    assert_eq!(d["secret_id"], json!("my-own-secret"));
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/app/custom-secret-id",
        json!({"secret_id": "my-own-secret"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    login(&b, &view, &id, "my-own-secret").await.unwrap();
}

#[tokio::test]
async fn num_uses_exhausted() {
    let (_s, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Create,
        "role/r",
        json!({"secret_id_num_uses": 2}),
    )
    .await
    .unwrap();
    let id = role_id(&b, &view, "r").await;
    let (sid, acc) = new_secret(&b, &view, "r", json!({})).await;
    login(&b, &view, &id, &sid).await.unwrap();
    login(&b, &view, &id, &sid).await.unwrap();
    assert_eq!(
        login(&b, &view, &id, &sid).await.unwrap_err().to_string(),
        INVALID_CREDENTIALS
    );
    // The last use deleted the secret-id and its accessor.
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/r/secret-id-accessor/lookup",
        json!({"secret_id_accessor": acc}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_never_exceed_num_uses() {
    let (_s, view) = setup().await;
    let b = Arc::new(backend());
    call(&*b, &view, Operation::Create, "role/r", json!({}))
        .await
        .unwrap();
    let id = role_id(&b, &view, "r").await;
    for _round in 0..3 {
        let (sid, _) = new_secret(&b, &view, "r", json!({"num_uses": 3})).await;
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let (b, view, id, sid) = (b.clone(), view.clone(), id.clone(), sid.clone());
            tasks.push(tokio::spawn(
                async move { login(&b, &view, &id, &sid).await },
            ));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(r) => {
                    assert!(r.auth.is_some());
                    ok += 1;
                }
                Err(e) => assert_eq!(e.to_string(), INVALID_CREDENTIALS),
            }
        }
        assert_eq!(ok, 3);
    }
}

#[tokio::test]
async fn secret_id_ttl_expiry_and_tidy() {
    let (_s, view) = setup().await;
    let clock = Arc::new(ManualClock::new());
    let b = backend_with_clock(clock.clone());
    call(
        &b,
        &view,
        Operation::Create,
        "role/r",
        json!({"secret_id_ttl": "1m"}),
    )
    .await
    .unwrap();
    let id = role_id(&b, &view, "r").await;
    let (short, _) = new_secret(&b, &view, "r", json!({"ttl": 10})).await;
    let (long, _) = new_secret(&b, &view, "r", json!({})).await;
    let d = data(
        call(
            &b,
            &view,
            Operation::Update,
            "role/r/secret-id/lookup",
            json!({"secret_id": long}),
        )
        .await,
    );
    assert_eq!(d["secret_id_ttl"], json!(60));
    login(&b, &view, &id, &short).await.unwrap();
    clock.advance(11);
    assert_eq!(
        login(&b, &view, &id, &short).await.unwrap_err().to_string(),
        INVALID_CREDENTIALS
    );
    login(&b, &view, &id, &long).await.unwrap();
    clock.advance(60);
    let r = call(
        &b,
        &view,
        Operation::Update,
        "role/r/secret-id/lookup",
        json!({"secret_id": long}),
    )
    .await
    .unwrap();
    assert!(r.data.is_none());
    // Tidy removes the expired entry and its accessor.
    let r = call(&b, &view, Operation::Update, "tidy/secret-id", json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, Some(202));
    assert!(view.list(SECRET_PREFIX).await.unwrap().is_empty());
    assert!(view.list(ACCESSOR_PREFIX).await.unwrap().is_empty());
    assert_eq!(
        login(&b, &view, &id, &long).await.unwrap_err().to_string(),
        INVALID_CREDENTIALS
    );

    let e = SecretIdEntry {
        secret_id_hmac: String::new(),
        accessor: String::new(),
        num_uses: 0,
        ttl: 5,
        creation_time: Utc::now(),
        expiration_time: Some(Utc::now()),
        last_updated_time: Utc::now(),
        metadata: BTreeMap::new(),
        cidr_list: vec![],
        token_bound_cidrs: vec![],
    };
    assert!(e.expired(Utc::now()));
    assert!(!SecretIdEntry {
        expiration_time: None,
        ..e
    }
    .expired(Utc::now()));
}

#[tokio::test]
async fn cidr_bounds() {
    let (_s, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Create,
        "role/r",
        json!({
            "secret_id_bound_cidrs": ["10.0.0.0/8"], "token_bound_cidrs": "10.0.0.0/8"
        }),
    )
    .await
    .unwrap();
    let id = role_id(&b, &view, "r").await;
    // Secret-id CIDRs must lie inside the role's.
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/r/secret-id",
        json!({"cidr_list": "192.168.0.0/16"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    let (sid, _) = new_secret(
        &b,
        &view,
        "r",
        json!({"cidr_list": "10.1.0.0/16", "num_uses": 1,
        "token_bound_cidrs": ["10.1.2.0/24"]}),
    )
    .await;
    // Refused addresses do not burn the single use.
    for addr in [None, Some("192.168.1.1"), Some("10.2.0.1")] {
        let e = login_from(&b, &view, &id, &sid, addr).await.unwrap_err();
        assert_eq!(e.status(), 400, "{addr:?}");
        assert!(e.to_string().contains("unauthorized"), "{e}");
    }
    let auth = login_from(&b, &view, &id, &sid, Some("10.1.2.3"))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.bound_cidrs, vec!["10.1.2.0/24"]);
    assert!(login_from(&b, &view, &id, &sid, Some("10.1.2.3"))
        .await
        .is_err());
}

#[tokio::test]
async fn bind_secret_id_false() {
    let (_s, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Create,
        "role/open",
        json!({
            "bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.0/8", "token_policies": "p"
        }),
    )
    .await
    .unwrap();
    let id = role_id(&b, &view, "open").await;
    let mut req = Request::new(Operation::Update, "auth/approle/login");
    req.relative_path = "login".into();
    req.data = json!({"role_id": id}).as_object().cloned().unwrap();
    req.remote_addr = Some("127.0.0.1".parse().unwrap());
    let auth = b.handle(&req, &view).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["p"]);
    assert_eq!(
        auth.metadata.get("role_name").map(String::as_str),
        Some("open")
    );
    req.remote_addr = Some("10.0.0.1".parse().unwrap());
    assert_eq!(b.handle(&req, &view).await.unwrap_err().status(), 400);
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/open/secret-id",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[tokio::test]
async fn secret_id_never_stored() {
    let (storage, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Create,
        "role/r",
        json!({"secret_id_num_uses": 5}),
    )
    .await
    .unwrap();
    let id = role_id(&b, &view, "r").await;
    let (sid, _) = new_secret(&b, &view, "r", json!({})).await;
    call(
        &b,
        &view,
        Operation::Update,
        "role/r/custom-secret-id",
        json!({"secret_id": "Custom-Secret-Value-123"}),
    )
    .await
    .unwrap();
    login(&b, &view, &id, &sid).await.unwrap();
    login(&b, &view, &id, "Custom-Secret-Value-123")
        .await
        .unwrap();
    let blobs = all_bytes(&storage, &view).await;
    assert!(blobs.len() > 5);
    for blob in blobs {
        assert!(!contains(&blob, sid.as_bytes()));
        assert!(!contains(&blob, sid.replace('-', "").as_bytes()));
        assert!(!contains(&blob, b"Custom-Secret-Value-123"));
    }
}

#[test]
fn unauthenticated_paths() {
    assert_eq!(backend().unauthenticated_paths(), &["login"]);
}
