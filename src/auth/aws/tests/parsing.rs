//! Endpoint hosts, ARN matching, STS XML and the Authorization header parser.

use super::*;

#[test]
fn endpoint_hosts() {
    // An explicit endpoint: its host, and the standard hosts SDKs sign for
    // (issue 10: hvac signs for sts.amazonaws.com whatever the server uses).
    let cfg = ClientConfig {
        sts_endpoint: "https://sts.eu-west-1.amazonaws.com".into(),
        ..Default::default()
    };
    let t = sts_target(&cfg, "eu-west-1").unwrap();
    assert_eq!(t.base, "https://sts.eu-west-1.amazonaws.com");
    assert!(t
        .allowed_hosts
        .contains(&"sts.eu-west-1.amazonaws.com".to_string()));
    assert!(t.allowed_hosts.contains(&"sts.amazonaws.com".to_string()));
    let cfg = ClientConfig {
        sts_endpoint: "http://127.0.0.1:4566".into(),
        ..Default::default()
    };
    let t = sts_target(&cfg, "us-east-1").unwrap();
    assert_eq!(t.base, "http://127.0.0.1:4566", "sent only to the endpoint");
    let mut hosts = t.allowed_hosts.clone();
    hosts.sort();
    assert_eq!(
        hosts,
        vec![
            "127.0.0.1:4566",
            "sts.amazonaws.com",
            "sts.amazonaws.com:443",
            "sts.us-east-1.amazonaws.com",
            "sts.us-east-1.amazonaws.com:443",
        ]
    );
    // A malformed signing region adds no regional host.
    let t = sts_target(&cfg, "evil.example.com/x").unwrap();
    assert!(!t.allowed_hosts.iter().any(|h| h.contains("evil")));
    // The default: the standard hosts too.
    let t = sts_target(&ClientConfig::default(), "eu-central-1").unwrap();
    assert!(t.allowed_hosts.contains(&"sts.amazonaws.com".to_string()));
    assert!(t
        .allowed_hosts
        .contains(&"sts.eu-central-1.amazonaws.com".to_string()));
    let t = sts_target(&ClientConfig::default(), "evil.com/x").unwrap();
    assert!(!t.allowed_hosts.iter().any(|h| h.contains("evil")));
    // The client's region picks the regional endpoint.
    let cfg = ClientConfig {
        use_sts_region_from_client: true,
        sts_endpoint: "http://127.0.0.1:1".into(),
        ..Default::default()
    };
    let t = sts_target(&cfg, "ap-southeast-2").unwrap();
    assert_eq!(t.base, "https://sts.ap-southeast-2.amazonaws.com");
    assert_eq!(
        sts_target(&cfg, "cn-north-1").unwrap().base,
        "https://sts.cn-north-1.amazonaws.com.cn"
    );
    assert!(sts_target(&cfg, "attacker.example.com#").is_err());
    assert!(is_region("us-gov-west-1"));
    assert!(!is_region("us-east"));
    assert!(!is_region("US-EAST-1"));
}

#[test]
fn arns_and_wildcards() {
    let e = IamEntity::parse("arn:aws:sts::123456789012:assumed-role/MyRole/session-1").unwrap();
    assert_eq!(e.canonical_arn(), "arn:aws:iam::123456789012:role/MyRole");
    assert_eq!(e.friendly_name, "MyRole");
    assert_eq!(e.session, "session-1");
    assert_eq!(e.account, "123456789012");
    let u = IamEntity::parse("arn:aws:iam::123456789012:user/path/to/alice").unwrap();
    assert_eq!(u.canonical_arn(), "arn:aws:iam::123456789012:user/alice");
    assert_eq!(u.full_arn(), "arn:aws:iam::123456789012:user/path/to/alice");
    let m = IamEntity::parse(MOTO_ARN).unwrap();
    assert_eq!(m.canonical_arn(), "arn:aws:iam::123456789012:user/moto");
    let gov = IamEntity::parse("arn:aws-us-gov:sts::1:assumed-role/R/s").unwrap();
    assert_eq!(gov.canonical_arn(), "arn:aws-us-gov:iam::1:role/R");
    for bad in [
        "arn:aws:s3:::bucket",
        "arn:aws:iam::1:group/g",
        "arn:aws:iam::1:user",
        "not:an:arn:at:all:x",
        "arn:aws:sts::1:assumed-role/OnlyRole",
        "arn:aws:iam::1",
    ] {
        assert!(IamEntity::parse(bad).is_err(), "{bad}");
    }

    let b = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(principal_matches(
        &b(&["arn:aws:iam::123456789012:role/MyRole"]),
        &e
    ));
    assert!(principal_matches(
        &b(&["arn:aws:iam::123456789012:role/*"]),
        &e
    ));
    assert!(principal_matches(&b(&["arn:aws:iam::123456789012:*"]), &e));
    assert!(principal_matches(
        &b(&["arn:aws:iam::123456789012:role/My*"]),
        &e
    ));
    assert!(!principal_matches(
        &b(&["arn:aws:iam::123456789012:role/my*"]),
        &e
    ));
    assert!(!principal_matches(
        &b(&["arn:aws:iam::123456789012:role/myrole"]),
        &e
    ));
    assert!(!principal_matches(
        &b(&["arn:aws:iam::123456789012:user/*"]),
        &e
    ));
    assert!(!principal_matches(
        &b(&["arn:aws:iam::999999999999:role/*"]),
        &e
    ));
    // The session ARN itself is not a binding.
    assert!(!principal_matches(
        &b(&["arn:aws:sts::123456789012:assumed-role/MyRole/session-1"]),
        &e
    ));
    // Users match on the canonical ARN exactly, on their path by wildcard.
    assert!(principal_matches(
        &b(&["arn:aws:iam::123456789012:user/alice"]),
        &u
    ));
    assert!(principal_matches(
        &b(&["arn:aws:iam::123456789012:user/path/*"]),
        &u
    ));
    assert!(!principal_matches(
        &b(&["arn:aws:iam::123456789012:user/path/to/alice"]),
        &u
    ));
    assert!(globbed_match("*/alice", "arn:aws:iam::1:user/alice"));
    assert!(globbed_match("*:user/*", "arn:aws:iam::1:user/alice"));
    assert!(!globbed_match("*", "anything"));
}

#[test]
fn caller_identity_xml() {
    let id = parse_caller_identity(ASSUMED_XML).unwrap();
    assert_eq!(
        id,
        CallerIdentity {
            arn: "arn:aws:sts::123456789012:assumed-role/Lambda-Role/my-function".into(),
            user_id: "AROAEXAMPLEID:my-function".into(),
            account: "123456789012".into(),
        }
    );
    let plain = "<GetCallerIdentityResponse><GetCallerIdentityResult><UserId>AIDA</UserId>\
                 <Account>1</Account><Arn>arn:aws:iam::1:user/u</Arn></GetCallerIdentityResult>\
                 </GetCallerIdentityResponse>";
    assert_eq!(
        parse_caller_identity(plain).unwrap().arn,
        "arn:aws:iam::1:user/u"
    );
    for bad in [
        "",
        "not xml",
        "<ErrorResponse><Error><Code>x</Code></Error></ErrorResponse>",
        "<GetCallerIdentityResponse></GetCallerIdentityResponse>",
        "<GetCallerIdentityResponse><GetCallerIdentityResult><UserId>a</UserId><Account>1</Account>\
         </GetCallerIdentityResult></GetCallerIdentityResponse>",
        "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>a</Arn><Arn>b</Arn><UserId>a</UserId>\
         <Account>1</Account></GetCallerIdentityResult></GetCallerIdentityResponse>",
        "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>a</Arn><UserId>a</UserId><Account>1</Account>\
         </GetCallerIdentityResult><GetCallerIdentityResult><Arn>b</Arn><UserId>a</UserId><Account>1</Account>\
         </GetCallerIdentityResult></GetCallerIdentityResponse>",
    ] {
        assert!(parse_caller_identity(bad).is_err(), "{bad}");
    }
}

#[test]
fn authorization_header() {
    let a = parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu-west-1/sts/aws4_request,SignedHeaders=host;x-amz-date,Signature={}",
        "0f".repeat(32)
    ))
    .unwrap();
    assert_eq!(a.region, "eu-west-1");
    assert_eq!(a.date, "20240101");
    assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);
    for bad in [
        "AWS4-HMAC-SHA256Credential=x".to_string(),
        format!("AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature=zz{}", "0".repeat(62)),
        format!("AWS4-HMAC-SHA256 Credential=AKIA/2024/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature={}", "0".repeat(64)),
        format!("AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu-west-1/sts/aws4_request, SignedHeaders=Host, Signature={}", "0".repeat(64)),
        format!("AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature={0}, Signature={0}", "0".repeat(64)),
        format!("AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu-west-1/sts, SignedHeaders=host, Signature={}", "0".repeat(64)),
    ] {
        assert!(parse_authorization(&bad).is_err(), "{bad}");
    }
}
