//! Role CRUD, role-id, validation errors and the role sub-paths.

use super::*;

#[tokio::test]
async fn role_crud_and_role_id() {
    let (_s, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Create,
        "role/Web",
        json!({
            "token_policies": ["app", "Web"], "token_ttl": "10m", "token_max_ttl": "1h",
            "secret_id_num_uses": 10, "secret_id_ttl": "1h"
        }),
    )
    .await
    .unwrap();
    let d = data(call(&b, &view, Operation::Read, "role/web", json!({})).await);
    assert_eq!(d["token_policies"], json!(["app", "web"]));
    assert_eq!(d["token_ttl"], json!(600));
    assert_eq!(d["token_max_ttl"], json!(3600));
    assert_eq!(d["secret_id_num_uses"], json!(10));
    assert_eq!(d["secret_id_ttl"], json!(3600));
    assert_eq!(d["bind_secret_id"], json!(true));
    assert!(!d.contains_key("role_id"));

    let id = role_id(&b, &view, "web").await;
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    // An update keeps the role_id and unspecified fields.
    call(
        &b,
        &view,
        Operation::Update,
        "role/web",
        json!({"token_ttl": 60}),
    )
    .await
    .unwrap();
    assert_eq!(role_id(&b, &view, "web").await, id);
    let d = data(call(&b, &view, Operation::Read, "role/web", json!({})).await);
    assert_eq!(d["token_ttl"], json!(60));
    assert_eq!(d["token_policies"], json!(["app", "web"]));

    // Custom role_id; the old one stops working, a taken one is refused.
    call(
        &b,
        &view,
        Operation::Update,
        "role/web/role-id",
        json!({"role_id": "my-custom-id"}),
    )
    .await
    .unwrap();
    assert_eq!(role_id(&b, &view, "web").await, "my-custom-id");
    call(&b, &view, Operation::Create, "role/other", json!({}))
        .await
        .unwrap();
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/other/role-id",
        json!({"role_id": "my-custom-id"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "role_id already in use");
    let (sid, _) = new_secret(&b, &view, "web", json!({})).await;
    assert_eq!(
        login(&b, &view, &id, &sid).await.unwrap_err().to_string(),
        INVALID_CREDENTIALS
    );
    login(&b, &view, "my-custom-id", &sid).await.unwrap();

    let keys = data(call(&b, &view, Operation::List, "role", json!({})).await);
    assert_eq!(keys["keys"], json!(["other", "web"]));

    call(&b, &view, Operation::Delete, "role/web", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        call(&b, &view, Operation::Read, "role/web", json!({}))
            .await
            .unwrap_err(),
        LogicalError::NotFound
    ));
    assert_eq!(
        login(&b, &view, "my-custom-id", &sid)
            .await
            .unwrap_err()
            .to_string(),
        INVALID_CREDENTIALS
    );
    // Recreating the name gives a fresh role: the old secret-id is dead.
    call(
        &b,
        &view,
        Operation::Update,
        "role/web/role-id",
        json!({"role_id": "x"}),
    )
    .await
    .unwrap_err();
    call(
        &b,
        &view,
        Operation::Create,
        "role/web",
        json!({"role_id": "my-custom-id"}),
    )
    .await
    .unwrap();
    assert_eq!(
        login(&b, &view, "my-custom-id", &sid)
            .await
            .unwrap_err()
            .to_string(),
        INVALID_CREDENTIALS
    );
}

#[tokio::test]
async fn validation_errors() {
    let (_s, view) = setup().await;
    let b = backend();
    let e = call(
        &b,
        &view,
        Operation::Create,
        "role/r",
        json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(
        e.to_string(),
        "token_ttl should not be greater than token_max_ttl"
    );
    for body in [
        json!({"bind_secret_id": "maybe"}),
        json!({"secret_id_ttl": "forever"}),
        json!({"secret_id_num_uses": -1}),
        json!({"secret_id_bound_cidrs": ["nope"]}),
        // Was `[1, 2]`: Vault's comma-string fields (and so the framework)
        // accept numbers as strings; an object is still a type error.
        json!({"token_policies": {"a": 1}}),
        json!({"bind_secret_id": false}),
        json!({"token_type": "batch"}),
    ] {
        let e = call(&b, &view, Operation::Create, "role/r", body.clone())
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400, "{body}");
    }
    assert_eq!(
        call(&b, &view, Operation::Create, "role/bad%2fname", json!({}))
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert!(load_role(&view, "r").await.unwrap().is_none());

    // Login input errors.
    let e = call(&b, &view, Operation::Update, "login", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "missing role_id");
    let e = call(&b, &view, Operation::Update, "login", json!({"role_id": 5}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    let e = login(&b, &view, "unknown", "x").await.unwrap_err();
    assert_eq!(
        (e.status(), e.to_string()),
        (400, INVALID_CREDENTIALS.to_string())
    );

    call(
        &b,
        &view,
        Operation::Create,
        "role/r",
        json!({"secret_id_num_uses": 2, "secret_id_ttl": 60}),
    )
    .await
    .unwrap();
    let id = role_id(&b, &view, "r").await;
    let e = login(&b, &view, &id, "").await.unwrap_err();
    assert_eq!(e.to_string(), "missing secret_id");
    let e = login(&b, &view, &id, "wrong").await.unwrap_err();
    assert_eq!(
        (e.status(), e.to_string()),
        (400, INVALID_CREDENTIALS.to_string())
    );
    // Secret-id requests may not exceed the role's limits.
    for body in [
        json!({"num_uses": 3}),
        json!({"num_uses": 0}),
        json!({"ttl": 120}),
        json!({"metadata": 7}),
    ] {
        let e = call(
            &b,
            &view,
            Operation::Update,
            "role/r/secret-id",
            body.clone(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400, "{body}");
    }
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/none/secret-id",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(
        call(&b, &view, Operation::Read, "role/r/secret-id", json!({}))
            .await
            .unwrap_err()
            .status(),
        405
    );
    assert_eq!(
        call(&b, &view, Operation::Read, "no/such/path", json!({}))
            .await
            .unwrap_err()
            .status(),
        404
    );
}

#[tokio::test]
async fn role_sub_paths_read_write_delete() {
    let (_s, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Create,
        "role/r",
        json!({"token_ttl": 60}),
    )
    .await
    .unwrap();
    // (segment, write body, read after write, read after delete)
    let cases = [
        (
            "policies",
            json!({"token_policies": "b,a"}),
            json!({"token_policies": ["a", "b"], "policies": ["a", "b"]}),
            json!({"token_policies": [], "policies": []}),
        ),
        (
            "token-ttl",
            json!({"token_ttl": "5m"}),
            json!({"token_ttl": 300}),
            json!({"token_ttl": 0}),
        ),
        (
            "token-max-ttl",
            json!({"token_max_ttl": "1h"}),
            json!({"token_max_ttl": 3600}),
            json!({"token_max_ttl": 0}),
        ),
        (
            "token-num-uses",
            json!({"token_num_uses": 4}),
            json!({"token_num_uses": 4}),
            json!({"token_num_uses": 0}),
        ),
        (
            "period",
            json!({"period": "2m"}),
            json!({"token_period": 120, "period": 120}),
            json!({"token_period": 0, "period": 0}),
        ),
        (
            "secret-id-ttl",
            json!({"secret_id_ttl": 90}),
            json!({"secret_id_ttl": 90}),
            json!({"secret_id_ttl": 0}),
        ),
        (
            "secret-id-num-uses",
            json!({"secret_id_num_uses": 3}),
            json!({"secret_id_num_uses": 3}),
            json!({"secret_id_num_uses": 0}),
        ),
        (
            "secret-id-bound-cidrs",
            json!({"secret_id_bound_cidrs": "10.0.0.0/8"}),
            json!({"secret_id_bound_cidrs": ["10.0.0.0/8"]}),
            json!({"secret_id_bound_cidrs": []}),
        ),
        (
            "bound-cidr-list",
            json!({"bound_cidr_list": ["192.168.0.0/16"]}),
            json!({"bound_cidr_list": ["192.168.0.0/16"]}),
            json!({"bound_cidr_list": []}),
        ),
        (
            "token-bound-cidrs",
            json!({"token_bound_cidrs": "127.0.0.1"}),
            json!({"token_bound_cidrs": ["127.0.0.1"]}),
            json!({"token_bound_cidrs": []}),
        ),
        (
            "bind-secret-id",
            json!({"bind_secret_id": "true"}),
            json!({"bind_secret_id": true}),
            json!({"bind_secret_id": true}),
        ),
    ];
    for (seg, body, after_write, after_delete) in cases {
        let path = format!("role/r/{seg}");
        let r = call(&b, &view, Operation::Update, &path, body.clone())
            .await
            .unwrap();
        assert!(r.data.is_none(), "{seg}");
        let d = data(call(&b, &view, Operation::Read, &path, json!({})).await);
        assert_eq!(Value::Object(d), after_write, "{seg}");
        call(&b, &view, Operation::Delete, &path, json!({}))
            .await
            .unwrap();
        let d = data(call(&b, &view, Operation::Read, &path, json!({})).await);
        assert_eq!(Value::Object(d), after_delete, "{seg}");
        // A write without the field: Vault's `missing <field>` (the CIDR
        // paths leave the role alone instead).
        let r = call(&b, &view, Operation::Update, &path, json!({})).await;
        if seg.contains("cidr") {
            assert!(r.is_ok(), "{seg}");
        } else {
            assert_eq!(r.unwrap_err().status(), 400, "{seg}");
        }
        // Missing role: read 404, write 404 (unsupported path), delete 204.
        let gone = format!("role/nope/{seg}");
        let e = call(&b, &view, Operation::Read, &gone, json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 404, "{seg}");
        let e = call(&b, &view, Operation::Update, &gone, body)
            .await
            .unwrap_err();
        assert_eq!(e.status(), 404, "{seg}");
        assert!(call(&b, &view, Operation::Delete, &gone, json!({}))
            .await
            .unwrap()
            .data
            .is_none());
    }
    // The role's own read shows the sub-path writes.
    call(
        &b,
        &view,
        Operation::Update,
        "role/r/token-ttl",
        json!({"token_ttl": 30}),
    )
    .await
    .unwrap();
    let d = data(call(&b, &view, Operation::Read, "role/r", json!({})).await);
    assert_eq!(d["token_ttl"], json!(30));

    // Messages and refusals.
    let e = call(&b, &view, Operation::Update, "role/r/token-ttl", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "missing token_ttl");
    call(
        &b,
        &view,
        Operation::Update,
        "role/r/token-max-ttl",
        json!({"token_max_ttl": 100}),
    )
    .await
    .unwrap();
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/r/token-ttl",
        json!({"token_ttl": 200}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "token_ttl should not be greater than token_max_ttl"
    );
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/r/token-max-ttl",
        json!({"token_max_ttl": 10}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "token_max_ttl should be greater than or equal to token_ttl"
    );
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/r/secret-id-num-uses",
        json!({"secret_id_num_uses": -1}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "secret_id_num_uses cannot be negative");
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/r/secret-id-bound-cidrs",
        json!({"secret_id_bound_cidrs": []}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "missing bound_cidr_list");
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/r/token-ttl",
        json!({"token_ttl": "soon"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    // bind_secret_id=false without any CIDR bound would leave the role open.
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/r/bind-secret-id",
        json!({"bind_secret_id": false}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "at least one constraint should be enabled on the role"
    );
    // Each sub-path declares only its own field.
    let r = call(
        &b,
        &view,
        Operation::Update,
        "role/r/token-num-uses",
        json!({"token_num_uses": 1, "token_ttl": 5}),
    )
    .await
    .unwrap();
    assert_eq!(
        r.warnings,
        vec!["Endpoint ignored these unrecognized parameters: [token_ttl]".to_string()]
    );
    // bound-cidr-list reads carry Vault's deprecation warning.
    let r = call(
        &b,
        &view,
        Operation::Read,
        "role/r/bound-cidr-list",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(r.warnings.len(), 1);

    // local-secret-ids: read-only, set at creation only.
    let d = data(
        call(
            &b,
            &view,
            Operation::Read,
            "role/r/local-secret-ids",
            json!({}),
        )
        .await,
    );
    assert_eq!(Value::Object(d), json!({"local_secret_ids": false}));
    for op in [Operation::Update, Operation::Delete] {
        let e = call(
            &b,
            &view,
            op,
            "role/r/local-secret-ids",
            json!({"local_secret_ids": true}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 405);
    }
    call(
        &b,
        &view,
        Operation::Create,
        "role/local",
        json!({"local_secret_ids": true}),
    )
    .await
    .unwrap();
    let d = data(
        call(
            &b,
            &view,
            Operation::Read,
            "role/local/local-secret-ids",
            json!({}),
        )
        .await,
    );
    assert_eq!(d["local_secret_ids"], json!(true));
    let d = data(call(&b, &view, Operation::Read, "role/local", json!({})).await);
    assert_eq!(d["local_secret_ids"], json!(true));
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/local",
        json!({"local_secret_ids": false}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "local_secret_ids can only be modified during role creation"
    );
}
