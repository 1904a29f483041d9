//! A really signed login against moto's STS.

use super::*;

/// A really signed GetCallerIdentity request (aws-sigv4, credentials
/// `test`/`test`) for `url`, as the login fields.
fn sigv4_login(url: &str, host: &str, server_id: Option<&str>, role: &str) -> Value {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        ),
        ("host".to_string(), host.to_string()),
    ];
    if let Some(id) = server_id {
        headers.push((SERVER_ID_HEADER.to_string(), id.to_string()));
    }
    let identity =
        aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _sig) = sign(signable, &params).unwrap().into_parts();
    let mut map = Map::new();
    for (k, v) in &headers {
        map.insert(k.clone(), json!([v]));
    }
    for (k, v) in instructions.headers() {
        map.insert(k.to_string(), json!([v]));
    }
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({
        "role": role,
        "iam_http_request_method": "POST",
        "iam_request_url": b64(url),
        "iam_request_body": b64(body),
        "iam_request_headers": b64(&Value::Object(map).to_string()),
    })
}

#[tokio::test]
async fn login_against_moto_sts() {
    if !crate::aws::aws_tests_enabled("auth::aws::login_against_moto_sts") {
        return;
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let endpoint = endpoint.trim().trim_end_matches('/').to_string();
    let uri = parse_endpoint(&endpoint).unwrap();
    let host = uri.authority().unwrap().as_str().to_string();
    let (_s, view) = setup().await;
    let b = backend();

    // Explicit endpoint: the request is signed for moto's own host.
    configure(
        &b,
        &view,
        json!({"sts_endpoint": endpoint, "iam_server_id_header_value": SERVER_ID}),
    )
    .await;
    make_role(
        &b,
        &view,
        "moto-role",
        json!({"auth_type": "iam", "bound_iam_principal_arn": ["arn:aws:iam::123456789012:user/moto"],
               "token_policies": ["moto-policy"], "token_ttl": "10m"}),
    )
    .await;
    let data = sigv4_login(&format!("{endpoint}/"), &host, Some(SERVER_ID), "moto-role");
    let auth = login(&b, &view, data.clone()).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["moto-policy"]);
    assert_eq!(auth.ttl, 600);
    assert_eq!(auth.display_name, "moto");
    assert_eq!(auth.metadata["client_arn"], MOTO_ARN);
    assert_eq!(
        auth.metadata["canonical_arn"],
        "arn:aws:iam::123456789012:user/moto"
    );
    assert_eq!(auth.metadata["account_id"], "123456789012");
    assert_eq!(auth.metadata["auth_type"], "iam");
    assert!(!auth.metadata["client_user_id"].is_empty());

    // The same real signature without the server ID is refused.
    let unsigned = sigv4_login(&format!("{endpoint}/"), &host, None, "moto-role");
    let e = login(&b, &view, unsigned).await.unwrap_err();
    assert!(e.to_string().contains("X-Vault-AWS-IAM-Server-ID"), "{e}");

    // A binding for someone else refuses moto's principal.
    make_role(
        &b,
        &view,
        "other",
        json!({"bound_iam_principal_arn": "arn:aws:iam::123456789012:role/*"}),
    )
    .await;
    let data = sigv4_login(&format!("{endpoint}/"), &host, Some(SERVER_ID), "other");
    let e = login(&b, &view, data).await.unwrap_err();
    assert!(e.to_string().contains("does not belong to the role"), "{e}");

    // Explicit endpoint, request signed for sts.amazonaws.com as hvac and
    // the SDKs sign it: accepted, and sent to moto (issue 10).
    let data = sigv4_login(
        "https://sts.amazonaws.com/",
        "sts.amazonaws.com",
        Some(SERVER_ID),
        "moto-role",
    );
    let auth = login(&b, &view, data).await.unwrap().auth.unwrap();
    assert_eq!(auth.metadata["client_arn"], MOTO_ARN);

    // Default endpoint (from AWS_ENDPOINT_URL*): SDKs sign for
    // sts.amazonaws.com, which moto serves too.
    configure(&b, &view, json!({"sts_endpoint": ""})).await;
    if std::env::var("AWS_ENDPOINT_URL_STS").is_ok_and(|v| !v.is_empty()) {
        return;
    }
    let data = sigv4_login(
        "https://sts.amazonaws.com/",
        "sts.amazonaws.com",
        Some(SERVER_ID),
        "moto-role",
    );
    let auth = login(&b, &view, data).await.unwrap().auth.unwrap();
    assert_eq!(auth.metadata["client_arn"], MOTO_ARN);
}
