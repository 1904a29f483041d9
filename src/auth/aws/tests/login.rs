//! IAM login: refusals before STS, standard STS hosts, the replayed request and grant, STS failures.

use super::*;

#[tokio::test]
async fn refusals_never_reach_sts() {
    let sts = fake_sts(200, ASSUMED_XML).await;
    let (_s, view) = setup().await;
    let b = backend();
    configure(
        &b,
        &view,
        json!({"sts_endpoint": sts.url, "iam_server_id_header_value": SERVER_ID}),
    )
    .await;
    make_role(
        &b,
        &view,
        "app",
        json!({"bound_iam_principal_arn": ["arn:aws:iam::123456789012:role/*"],
               "token_policies": ["app"]}),
    )
    .await;
    let good = Signed::new(&sts.host, Some(SERVER_ID));
    let stale = amz_date(chrono::Utc::now() - chrono::Duration::minutes(20));
    let future = amz_date(chrono::Utc::now() + chrono::Duration::minutes(20));

    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    let mut push = |name: &'static str, s: Signed, want: &'static str| {
        cases.push((name, s.data(Some("app")), want));
    };
    push(
        "another action",
        Signed {
            body: "Action=AssumeRole&Version=2011-06-15".into(),
            ..good.clone()
        },
        "iam_request_body must be exactly",
    );
    push(
        "extra parameter",
        Signed {
            body: "Action=GetCallerIdentity&Version=2011-06-15&RoleArn=x".into(),
            ..good.clone()
        },
        "iam_request_body must be exactly",
    );
    push(
        "repeated action",
        Signed {
            body: "Action=GetCallerIdentity&Action=GetCallerIdentity&Version=2011-06-15".into(),
            ..good.clone()
        },
        "iam_request_body must be exactly",
    );
    push(
        "other version",
        Signed {
            body: "Action=GetCallerIdentity&Version=2099-01-01".into(),
            ..good.clone()
        },
        "iam_request_body must be exactly",
    );
    push(
        "GET",
        Signed {
            method: "GET".into(),
            ..good.clone()
        },
        "only 'POST' is supported",
    );
    push(
        "query action",
        Signed {
            url: format!("https://{}/?Action=AssumeRole", sts.host),
            ..good.clone()
        },
        "must not have a query",
    );
    push(
        "other path",
        Signed {
            url: format!("https://{}/other", sts.host),
            ..good.clone()
        },
        "root URL",
    );
    push(
        "missing Authorization",
        Signed {
            authorization: Some(String::new()),
            ..good.clone()
        },
        "no Authorization header",
    );
    push(
        "non-SigV4 Authorization",
        Signed {
            authorization: Some("Basic dXNlcjpwYXNz".into()),
            ..good.clone()
        },
        "not AWS Signature Version 4",
    );
    push(
        "SigV2-style Authorization",
        Signed {
            authorization: Some("AWS AKIAEXAMPLE:c2lnbmF0dXJl".into()),
            ..good.clone()
        },
        "not AWS Signature Version 4",
    );
    push(
        "signed for another service",
        Signed {
            authorization: Some(format!(
                "AWS4-HMAC-SHA256 Credential=AKIA/{}/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;x-amz-date;x-vault-aws-iam-server-id, Signature={}",
                &amz_date(chrono::Utc::now())[..8],
                "ab".repeat(32)
            )),
            ..good.clone()
        },
        "not sts",
    );
    push(
        "SignedHeaders without host",
        Signed {
            unsigned: vec!["host".into()],
            ..good.clone()
        },
        "host header is not among the SignedHeaders",
    );
    push(
        "SignedHeaders without x-amz-date",
        Signed {
            unsigned: vec!["x-amz-date".into()],
            ..good.clone()
        },
        "x-amz-date header is not among the SignedHeaders",
    );
    push(
        "missing server ID",
        good.clone().remove("X-Vault-AWS-IAM-Server-ID"),
        "missing header \"X-Vault-AWS-IAM-Server-ID\"",
    );
    push(
        "wrong server ID",
        good.clone()
            .set("X-Vault-AWS-IAM-Server-ID", "other.example.com"),
        "does not match this server's iam_server_id_header_value",
    );
    push(
        "unsigned server ID",
        Signed {
            unsigned: vec!["x-vault-aws-iam-server-id".into()],
            ..good.clone()
        },
        "header wasn't signed",
    );
    let evil = Signed::new("sts.evil.example.com", Some(SERVER_ID));
    push(
        "another host",
        evil.clone(),
        "which is not the configured STS endpoint",
    );
    push(
        "a standard-looking host outside amazonaws.com",
        Signed::new("sts.amazonaws.com.evil.example.com", Some(SERVER_ID)),
        "which is not the configured STS endpoint",
    );
    push(
        "a regional host for another region than the signature's",
        Signed::new("sts.eu-west-1.amazonaws.com", Some(SERVER_ID)),
        "which is not the configured STS endpoint",
    );
    push(
        "Host header differs from the URL",
        good.clone().set("Host", "sts.evil.example.com"),
        "does not match the host of iam_request_url",
    );
    push(
        "URL host differs from the Host header",
        Signed {
            url: "https://sts.evil.example.com/".into(),
            ..good.clone()
        },
        "does not match the host of iam_request_url",
    );
    push(
        "no Host header, URL names another host",
        Signed {
            url: "https://sts.evil.example.com/".into(),
            authorization: Some(format!(
                "AWS4-HMAC-SHA256 Credential=AKIA/{}/us-east-1/sts/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-vault-aws-iam-server-id, Signature={}",
                &amz_date(chrono::Utc::now())[..8],
                "ab".repeat(32)
            )),
            ..good.clone().remove("Host")
        },
        "which is not the configured STS endpoint",
    );
    push(
        "stale X-Amz-Date",
        good.clone().set("X-Amz-Date", &stale),
        "stale",
    );
    push(
        "future X-Amz-Date",
        good.clone().set("X-Amz-Date", &future),
        "stale",
    );
    push(
        "missing X-Amz-Date",
        Signed {
            unsigned: vec![],
            ..good.clone().remove("X-Amz-Date")
        },
        "x-amz-date header is not among the SignedHeaders",
    );
    push(
        "signed header missing",
        Signed {
            authorization: Some(format!(
                "AWS4-HMAC-SHA256 Credential=AKIA/{}/us-east-1/sts/aws4_request, \
                 SignedHeaders=host;x-amz-date;x-amz-security-token;x-vault-aws-iam-server-id, Signature={}",
                &amz_date(chrono::Utc::now())[..8],
                "ab".repeat(32)
            )),
            ..good.clone()
        },
        "signed header \"x-amz-security-token\" is missing",
    );
    push(
        "disallowed x-amz header",
        good.clone().set(
            "X-Amz-Target",
            "AWSSecurityTokenServiceV20110615.AssumeRole",
        ),
        "invalid request header: x-amz-target",
    );
    push(
        "wrong Content-Length",
        good.clone().set("Content-Length", "5"),
        "Content-Length",
    );
    // Fields missing or not decodable.
    let mut no_headers = good.data(Some("app"));
    no_headers
        .as_object_mut()
        .unwrap()
        .remove("iam_request_headers");
    cases.push(("no headers", no_headers, "missing iam_request_headers"));
    let mut bad_b64 = good.data(Some("app"));
    bad_b64["iam_request_body"] = json!("%%%");
    cases.push(("bad base64", bad_b64, "failed to base64 decode"));
    cases.push((
        "ec2 login",
        json!({"pkcs7": "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwGggCSABIIB"}),
        "ec2 auth type is not supported",
    ));

    for (name, data, want) in cases {
        let e = login(&b, &view, data).await.unwrap_err();
        assert_eq!(e.status(), 400, "{name}: {e}");
        assert!(e.to_string().contains(want), "{name}: {e}");
    }
    assert_eq!(
        sts.connections.load(Ordering::SeqCst),
        0,
        "a refused login reached STS"
    );

    // The baseline is accepted, and the listener does see it.
    let auth = login(&b, &view, good.data(Some("app")))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.policies, vec!["app"]);
    assert_eq!(sts.connections.load(Ordering::SeqCst), 1);
}

/// Issue 10: a request signed for a standard STS host (what hvac and the
/// SDKs sign for) is accepted whatever `sts_endpoint` says, and is sent to
/// the configured endpoint, never to the host it names, with the signed Host
/// and the server ID header intact.
#[tokio::test]
async fn standard_hosts_are_accepted_and_sent_to_the_configured_endpoint() {
    let sts = fake_sts(200, ASSUMED_XML).await;
    let (_s, view) = setup().await;
    let b = backend();
    configure(
        &b,
        &view,
        json!({"sts_endpoint": sts.url, "iam_server_id_header_value": SERVER_ID}),
    )
    .await;
    make_role(
        &b,
        &view,
        "app",
        json!({"bound_iam_principal_arn": "arn:aws:iam::123456789012:role/*"}),
    )
    .await;
    for host in [
        "sts.amazonaws.com",
        "STS.amazonaws.com:443",
        "sts.us-east-1.amazonaws.com",
    ] {
        let signed = Signed::new(host, Some(SERVER_ID));
        let before = sts.connections.load(Ordering::SeqCst);
        login(&b, &view, signed.data(Some("app")))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(sts.connections.load(Ordering::SeqCst), before + 1, "{host}");
        let raw = sts.requests.lock().unwrap().last().cloned().unwrap();
        let lower = raw.to_lowercase();
        assert!(
            lower.contains(&format!("\r\nhost: {}\r\n", host.to_lowercase())),
            "{raw}"
        );
        assert!(lower.contains("\r\nx-vault-aws-iam-server-id: vault.example.com\r\n"));
    }
    // The server ID is still required, equal and signed for those hosts.
    let std_host = Signed::new("sts.amazonaws.com", Some(SERVER_ID));
    let before = sts.connections.load(Ordering::SeqCst);
    for (s, want) in [
        (
            std_host.clone().remove("X-Vault-AWS-IAM-Server-ID"),
            "missing header",
        ),
        (
            std_host
                .clone()
                .set("X-Vault-AWS-IAM-Server-ID", "other.example.com"),
            "does not match",
        ),
        (
            Signed {
                unsigned: vec!["x-vault-aws-iam-server-id".into()],
                ..std_host.clone()
            },
            "header wasn't signed",
        ),
    ] {
        let e = login(&b, &view, s.data(Some("app"))).await.unwrap_err();
        assert_eq!(e.status(), 400, "{e}");
        assert!(e.to_string().contains(want), "{e}");
    }
    assert_eq!(sts.connections.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn login_replays_the_signed_request_and_grants() {
    let sts = fake_sts(200, ASSUMED_XML).await;
    let (_s, view) = setup().await;
    let b = backend();
    configure(
        &b,
        &view,
        json!({"sts_endpoint": format!("{}/", sts.url), "iam_server_id_header_value": SERVER_ID}),
    )
    .await;
    make_role(
        &b,
        &view,
        "lambda-role",
        json!({"bound_iam_principal_arn": "arn:aws:iam::123456789012:role/Lambda-Role",
               "token_policies": "dev,ops", "token_ttl": "1h", "token_max_ttl": "2h",
               "token_num_uses": 3, "token_period": 0}),
    )
    .await;
    let signed = Signed::new(&sts.host, Some(SERVER_ID))
        .set("X-Amz-Security-Token", "FwoGZXIvYXdzEJr//////////session");
    // No role: the role named in the ARN (lower-cased) is used.
    let auth = login(&b, &view, signed.data(None))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.policies, vec!["dev", "ops"]);
    assert_eq!(auth.ttl, 3600);
    assert_eq!(auth.explicit_max_ttl, 7200);
    assert_eq!(auth.num_uses, 3);
    assert!(auth.renewable);
    assert!(auth.client_token.is_empty());
    assert_eq!(auth.display_name, "Lambda-Role");
    let md = &auth.metadata;
    assert_eq!(md["account_id"], "123456789012");
    assert_eq!(md["auth_type"], "iam");
    assert_eq!(
        md["canonical_arn"],
        "arn:aws:iam::123456789012:role/Lambda-Role"
    );
    assert_eq!(
        md["client_arn"],
        "arn:aws:sts::123456789012:assumed-role/Lambda-Role/my-function"
    );
    assert_eq!(md["client_user_id"], "AROAEXAMPLEID");
    assert_eq!(md["inferred_entity_id"], "");
    assert_eq!(md["inferred_entity_type"], "");
    assert!(!md["role_id"].is_empty());

    // What STS received: the signed request, verbatim, at the endpoint.
    let requests = sts.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let raw = &requests[0];
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("POST / HTTP/1.1\r\n"), "{head}");
    assert_eq!(body, "Action=GetCallerIdentity&Version=2011-06-15");
    let lower = format!("{}\r\n", head.to_lowercase());
    assert!(
        lower.contains(&format!("\r\nhost: {}\r\n", sts.host)),
        "{head}"
    );
    assert!(lower.contains("\r\nx-vault-aws-iam-server-id: vault.example.com\r\n"));
    assert!(lower.contains("\r\nauthorization: aws4-hmac-sha256 credential=akiaexample/"));
    assert!(lower.contains("\r\nx-amz-security-token: fwogzxivyxdzejr//////////session\r\n"));
    assert!(lower.contains("\r\ncontent-length: 43\r\n"), "{head}");
    assert_eq!(lower.matches("\r\nhost:").count(), 1);

    // The headers may also be a JSON object with string values; the role
    // may be named explicitly (case-insensitively).
    let mut data = signed.data(Some("Lambda-Role"));
    let mut obj = Map::new();
    for (k, v) in &signed.headers {
        obj.insert(k.clone(), json!(v));
    }
    let hdrs: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(data["iam_request_headers"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    obj.insert("Authorization".into(), hdrs["Authorization"][0].clone());
    data["iam_request_headers"] = Value::Object(obj);
    login(&b, &view, data).await.unwrap();

    // Not bound: a role for another principal refuses the same caller.
    make_role(
        &b,
        &view,
        "other",
        json!({"bound_iam_principal_arn": ["arn:aws:iam::123456789012:role/Other",
                                           "arn:aws:iam::210987654321:role/*"]}),
    )
    .await;
    let e = login(&b, &view, signed.data(Some("other")))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("does not belong to the role"), "{e}");
    let e = login(&b, &view, signed.data(Some("ghost")))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "entry for role ghost not found");

    // token_bound_cidrs is enforced.
    make_role(
        &b,
        &view,
        "cidr",
        json!({"bound_iam_principal_arn": "arn:aws:iam::123456789012:*",
               "token_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    let mut req = Request::new(Operation::Update, "auth/aws/login");
    req.relative_path = "login".into();
    req.data = signed.data(Some("cidr")).as_object().cloned().unwrap();
    req.remote_addr = Some("192.0.2.1".parse().unwrap());
    assert_eq!(b.handle(&req, &view).await.unwrap_err().status(), 403);
    req.remote_addr = Some("10.1.2.3".parse().unwrap());
    let auth = b.handle(&req, &view).await.unwrap().auth.unwrap();
    assert_eq!(auth.bound_cidrs, vec!["10.0.0.0/8"]);
}

#[tokio::test]
async fn sts_failures() {
    let (_s, view) = setup().await;
    let b = backend();
    make_role(
        &b,
        &view,
        "app",
        json!({"bound_iam_principal_arn": "arn:aws:iam::123456789012:role/*"}),
    )
    .await;
    let cases: [(u16, &'static str, u16, &str); 5] = [
        (
            403,
            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>",
            400,
            "error making upstream request: received error code 403 from STS: <ErrorResponse>",
        ),
        (500, "oops", 503, "received error code 500 from STS"),
        (0, "", 503, "error making upstream request"),
        (200, "not xml", 400, "error parsing STS response"),
        (
            200,
            "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:s3:::bucket</Arn>\
             <UserId>x</UserId><Account>1</Account></GetCallerIdentityResult></GetCallerIdentityResponse>",
            400,
            "error parsing arn",
        ),
    ];
    for (status, body, want_status, want) in cases {
        let sts = fake_sts(status, body).await;
        configure(&b, &view, json!({"sts_endpoint": sts.url})).await;
        let e = login(&b, &view, Signed::new(&sts.host, None).data(Some("app")))
            .await
            .unwrap_err();
        assert_eq!(e.status(), want_status, "{status}: {e}");
        assert!(e.to_string().contains(want), "{status}: {e}");
        assert_eq!(sts.connections.load(Ordering::SeqCst), 1);
    }
    // Nothing listening: unavailable, not a client error.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    configure(&b, &view, json!({"sts_endpoint": format!("http://{addr}")})).await;
    let e = login(
        &b,
        &view,
        Signed::new(&addr.to_string(), None).data(Some("app")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 503, "{e}");
}
