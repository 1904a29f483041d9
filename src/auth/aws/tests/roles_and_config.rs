//! Role and client-config paths, and their framework declarations.

use super::*;

#[tokio::test]
async fn role_crud_and_validation() {
    let (_s, view) = setup().await;
    let b = backend();
    let r = call(
        &b,
        &view,
        Operation::Create,
        "role/Dev",
        json!({"auth_type": "iam", "bound_iam_principal_arn": ["arn:aws:iam::123456789012:role/dev",
               "arn:aws:iam::123456789012:user/ops/*"], "policies": ["dev"],
               "resolve_aws_unique_ids": true, "token_ttl": 60}),
    )
    .await
    .unwrap();
    assert!(r.warnings[0].contains("resolve_aws_unique_ids"));
    let d = call(&b, &view, Operation::Read, "role/dev", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(d["auth_type"], json!("iam"));
    assert_eq!(
        d["bound_iam_principal_arn"],
        json!([
            "arn:aws:iam::123456789012:role/dev",
            "arn:aws:iam::123456789012:user/ops/*"
        ])
    );
    assert_eq!(d["token_policies"], json!(["dev"]));
    assert_eq!(d["policies"], json!(["dev"]));
    assert_eq!(d["token_ttl"], json!(60));
    assert_eq!(d["resolve_aws_unique_ids"], json!(false));
    let role_id = d["role_id"].as_str().unwrap().to_string();
    assert_eq!(role_id.len(), 36);
    // An update keeps the other fields and the role ID.
    call(
        &b,
        &view,
        Operation::Update,
        "role/dev",
        json!({"token_max_ttl": "2h"}),
    )
    .await
    .unwrap();
    let d = call(&b, &view, Operation::Read, "role/dev", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(d["token_max_ttl"], json!(7200));
    assert_eq!(d["token_ttl"], json!(60));
    assert_eq!(d["role_id"], json!(role_id));
    make_role(
        &b,
        &view,
        "ops",
        json!({"bound_iam_principal_arn": "arn:aws:iam::1:user/x"}),
    )
    .await;
    for list in ["role", "roles"] {
        let keys = call(&b, &view, Operation::List, list, json!({}))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(keys["keys"], json!(["dev", "ops"]));
    }
    let mut q = Request::new(Operation::Update, "x");
    q.relative_path = "role/dev".into();
    assert!(b.exists(&q, &view).await.unwrap());
    q.relative_path = "role/nope".into();
    assert!(!b.exists(&q, &view).await.unwrap());

    let refusals: [(Value, &str); 8] = [
        (
            json!({"auth_type": "ec2", "bound_ami_id": "ami-1"}),
            "auth_type \"ec2\" is not supported",
        ),
        (
            json!({"auth_type": "ec2"}),
            "auth_type \"ec2\" is not supported",
        ),
        (json!({"auth_type": "ldap"}), "unrecognized auth_type"),
        (
            json!({"bound_iam_principal_arn": "arn:aws:iam::1:role/x", "bound_ami_id": "ami-1"}),
            "bound_ami_id is not supported",
        ),
        (json!({"policies": ["x"]}), "at least one bound parameter"),
        (
            json!({"bound_iam_principal_arn": "*"}),
            "is not an IAM principal ARN",
        ),
        (
            json!({"bound_iam_principal_arn": "arn:aws:s3:::bucket"}),
            "bound_iam_principal_arn",
        ),
        (
            json!({"bound_iam_principal_arn": "arn:aws:iam::1:role/x",
                   "token_ttl": "2h", "token_max_ttl": "1h"}),
            "token_ttl should not be greater than token_max_ttl",
        ),
    ];
    for (body, want) in refusals {
        let e = call(&b, &view, Operation::Create, "role/new", body.clone())
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400, "{body}: {e}");
        assert!(e.to_string().contains(want), "{body}: {e}");
    }
    let e = call(&b, &view, Operation::Read, "role/new", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);

    call(&b, &view, Operation::Delete, "role/dev", json!({}))
        .await
        .unwrap();
    assert_eq!(
        call(&b, &view, Operation::Read, "role/dev", json!({}))
            .await
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        call(&b, &view, Operation::Read, "login", json!({}))
            .await
            .unwrap_err()
            .status(),
        405
    );
    assert_eq!(b.unauthenticated_paths(), &["login"]);
}

#[tokio::test]
async fn client_config() {
    let (_s, view) = setup().await;
    let b = backend();
    let e = call(&b, &view, Operation::Read, "config/client", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    configure(
        &b,
        &view,
        json!({"access_key": "AKIAEXAMPLE", "secret_key": "very-secret-key",
               "sts_endpoint": "https://sts.eu-west-1.amazonaws.com", "sts_region": "eu-west-1",
               "iam_server_id_header_value": SERVER_ID, "use_sts_region_from_client": "false",
               "endpoint": "https://ec2.eu-west-1.amazonaws.com",
               "iam_endpoint": "https://iam.amazonaws.com",
               "allowed_sts_header_values": "X-Amz-Extra"}),
    )
    .await;
    let d = call(&b, &view, Operation::Read, "config/client", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(!d.contains_key("secret_key"));
    assert!(!Value::Object(d.clone())
        .to_string()
        .contains("very-secret-key"));
    assert_eq!(d["access_key"], json!("AKIAEXAMPLE"));
    assert_eq!(
        d["sts_endpoint"],
        json!("https://sts.eu-west-1.amazonaws.com")
    );
    assert_eq!(d["sts_region"], json!("eu-west-1"));
    assert_eq!(d["iam_server_id_header_value"], json!(SERVER_ID));
    assert_eq!(d["use_sts_region_from_client"], json!(false));
    assert_eq!(d["allowed_sts_header_values"], json!(["X-Amz-Extra"]));
    // Partial update keeps the rest.
    configure(&b, &view, json!({"sts_region": "eu-west-2"})).await;
    let d = call(&b, &view, Operation::Read, "config/client", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(d["sts_region"], json!("eu-west-2"));
    assert_eq!(d["iam_server_id_header_value"], json!(SERVER_ID));
    let stored = load_config(&view).await.unwrap().unwrap();
    assert_eq!(stored.secret_key, "very-secret-key");

    for bad in [
        json!({"sts_endpoint": "ftp://sts.example.com"}),
        json!({"sts_endpoint": "not a url"}),
        json!({"sts_endpoint": "https://sts.example.com/?x=1"}),
        json!({"max_retries": "many"}),
        json!({"iam_server_id_header_value": "a\nb"}),
    ] {
        let e = call(&b, &view, Operation::Update, "config/client", bad.clone())
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400, "{bad}");
    }
    call(&b, &view, Operation::Delete, "config/client", json!({}))
        .await
        .unwrap();
    assert!(load_config(&view).await.unwrap().is_none());
}

/// The paths are declared through the framework: typed fields with Vault's
/// error texts, unknown-parameter warnings, 404 for undeclared paths, help.
#[tokio::test]
async fn declared_paths() {
    let (_s, view) = setup().await;
    let b = backend();
    let r = call(
        &b,
        &view,
        Operation::Create,
        "role/app",
        json!({"bound_iam_principal_arn": "arn:aws:iam::1:role/x", "colour": "blue"}),
    )
    .await
    .unwrap();
    assert_eq!(
        r.warnings,
        vec!["Endpoint ignored these unrecognized parameters: [colour]".to_string()]
    );
    let e = call(
        &b,
        &view,
        Operation::Update,
        "role/app",
        json!({"token_ttl": "forever"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(
        e.messages(),
        vec!["error converting input for field \"token_ttl\": time: invalid duration \"forever\""]
    );
    let e = call(
        &b,
        &view,
        Operation::Update,
        "config/client",
        json!({"max_retries": "many"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.messages()[0]
        .starts_with("Field validation failed: error converting input for field \"max_retries\""));
    // The CLI sends every value as a string.
    configure(
        &b,
        &view,
        json!({"max_retries": "3", "use_sts_region_from_client": "true"}),
    )
    .await;
    let d = call(&b, &view, Operation::Read, "config/client", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(d["max_retries"], json!(3));
    assert_eq!(d["use_sts_region_from_client"], json!(true));

    let e = call(&b, &view, Operation::Read, "nope", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    let e = call(&b, &view, Operation::Delete, "roles", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
    let help = call(&b, &view, Operation::Help, "role/app", json!({}))
        .await
        .unwrap()
        .raw
        .unwrap();
    let help = help["help"].as_str().unwrap();
    assert!(help.contains("bound_iam_principal_arn"), "{help}");
    assert!(help.contains("token_policies"), "{help}");
}
