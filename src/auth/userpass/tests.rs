use serde_json::json;

use super::*;
/// Kept here too: the aws tests import them from this module.
#[allow(unused_imports)]
pub(crate) use crate::auth::test_support::{all_bytes, call, contains, setup};
use crate::logical::{Backend, Operation, Request};

/// Cheap parameters so tests that do many hashes stay fast in debug
/// builds; one test uses the real ones.
const FAST: HashParams = HashParams {
    m_kib: 64,
    t: 1,
    p: 1,
};

fn backend() -> UserpassBackend {
    backend_with_params(FAST)
}

fn login_auth(r: LogicalResult) -> crate::logical::Auth {
    r.unwrap().auth.expect("login grants auth")
}

#[tokio::test]
async fn user_crud_and_login_with_real_params() {
    let (_s, view) = setup().await;
    let b = super::backend();
    let r = call(
        &b,
        &view,
        Operation::Create,
        "users/Alice",
        json!({"password": "s3cret!", "token_policies": "dev, Ops", "token_ttl": "1h",
               "token_max_ttl": "2h", "token_num_uses": 5}),
    )
    .await
    .unwrap();
    assert!(r.data.is_none());
    assert!(b
        .exists(
            &{
                let mut q = Request::new(Operation::Update, "x");
                q.relative_path = "users/alice".into();
                q
            },
            &view
        )
        .await
        .unwrap());

    let d = call(&b, &view, Operation::Read, "users/alice", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(d["token_policies"], json!(["dev", "ops"]));
    assert_eq!(d["token_ttl"], json!(3600));
    assert_eq!(d["token_max_ttl"], json!(7200));
    assert_eq!(d["token_num_uses"], json!(5));
    assert!(!d.contains_key("password"));
    assert!(!d.contains_key("password_hash"));

    let stored = load_user(&view, "alice").await.unwrap().unwrap();
    assert!(stored
        .password_hash
        .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));

    let auth = login_auth(
        call(
            &b,
            &view,
            Operation::Update,
            "login/ALICE",
            json!({"password": "s3cret!"}),
        )
        .await,
    );
    assert_eq!(auth.policies, vec!["dev", "ops"]);
    assert_eq!(
        auth.metadata.get("username").map(String::as_str),
        Some("alice")
    );
    assert_eq!(auth.display_name, "alice");
    assert_eq!(auth.ttl, 3600);
    assert_eq!(auth.explicit_max_ttl, 7200);
    assert_eq!(auth.num_uses, 5);
    assert!(auth.renewable);
    assert!(auth.client_token.is_empty());

    let e = call(
        &b,
        &view,
        Operation::Update,
        "login/alice",
        json!({"password": "nope"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(e.to_string(), "invalid username or password");

    call(&b, &view, Operation::Delete, "users/alice", json!({}))
        .await
        .unwrap();
    let e = call(&b, &view, Operation::Read, "users/alice", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(e, LogicalError::NotFound));
    let e = call(
        &b,
        &view,
        Operation::Update,
        "login/alice",
        json!({"password": "s3cret!"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "invalid username or password");
}

#[tokio::test]
async fn unknown_user_and_bad_input() {
    let (_s, view) = setup().await;
    let b = backend();
    let e = call(
        &b,
        &view,
        Operation::Update,
        "login/ghost",
        json!({"password": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(e.to_string(), INVALID_CREDENTIALS);
    // The unknown user was checked against the dummy hash (same cost).
    assert!(b
        .state
        .dummy_hash
        .get()
        .is_some_and(|h| h.starts_with("$argon2id$")));
    // An impossible username answers the same way.
    let e = call(
        &b,
        &view,
        Operation::Update,
        "login/a%b",
        json!({"password": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), INVALID_CREDENTIALS);
    let e = call(&b, &view, Operation::Update, "login/ghost", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "missing password");
    let e = call(
        &b,
        &view,
        Operation::Update,
        "login/ghost",
        json!({"password": 12}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    // Creating without a password fails (OpenBao's text, capture 264); bad
    // field types fail cleanly.
    let e = call(&b, &view, Operation::Create, "users/bob", json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "must provide either password or password_hash"
    );
    let e = call(
        &b,
        &view,
        Operation::Create,
        "users/bob",
        json!({"password": "p", "token_ttl": "soon"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    let e = call(
        &b,
        &view,
        Operation::Create,
        "users/bob",
        json!({"password": "p", "token_ttl": "2h", "token_max_ttl": "1h"}),
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
        Operation::Create,
        "users/bob",
        json!({"password": "p", "token_bound_cidrs": ["not a cidr"]}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    // OpenBao's text for a bad token field (capture 263).
    let e = call(
        &b,
        &view,
        Operation::Create,
        "users/erin",
        json!({"password": "x", "token_ttl": "forever"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.status(), e.to_string()),
        (
            400,
            "error converting input for field \"token_ttl\": time: invalid duration \"forever\""
                .to_string()
        )
    );
    let e = call(&b, &view, Operation::Read, "nothing/here", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    let e = call(&b, &view, Operation::Read, "login/bob", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
}

#[tokio::test]
async fn password_change_policies_and_list() {
    let (_s, view) = setup().await;
    let b = backend();
    for name in ["carol", "dave"] {
        call(
            &b,
            &view,
            Operation::Create,
            &format!("users/{name}"),
            json!({"password": "old", "policies": ["a"]}),
        )
        .await
        .unwrap();
    }
    let keys = call(&b, &view, Operation::List, "users", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(keys["keys"], json!(["carol", "dave"]));

    call(
        &b,
        &view,
        Operation::Update,
        "users/carol/password",
        json!({"password": "new"}),
    )
    .await
    .unwrap();
    assert!(call(
        &b,
        &view,
        Operation::Update,
        "login/carol",
        json!({"password": "old"})
    )
    .await
    .is_err());
    login_auth(
        call(
            &b,
            &view,
            Operation::Update,
            "login/carol",
            json!({"password": "new"}),
        )
        .await,
    );
    let e = call(
        &b,
        &view,
        Operation::Update,
        "users/nobody/password",
        json!({"password": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    let e = call(
        &b,
        &view,
        Operation::Update,
        "users/carol/password",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "missing password");

    call(
        &b,
        &view,
        Operation::Update,
        "users/carol/policies",
        json!({"token_policies": ["x", "y"]}),
    )
    .await
    .unwrap();
    let auth = login_auth(
        call(
            &b,
            &view,
            Operation::Update,
            "login/carol",
            json!({"password": "new"}),
        )
        .await,
    );
    assert_eq!(auth.policies, vec!["x", "y"]);

    // An update without a password keeps the password and other fields.
    call(
        &b,
        &view,
        Operation::Update,
        "users/carol",
        json!({"token_ttl": 60}),
    )
    .await
    .unwrap();
    let auth = login_auth(
        call(
            &b,
            &view,
            Operation::Update,
            "login/carol",
            json!({"password": "new"}),
        )
        .await,
    );
    assert_eq!(auth.policies, vec!["x", "y"]);
    assert_eq!(auth.ttl, 60);
}

#[tokio::test]
async fn bound_cidrs_checked_at_login() {
    let (_s, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Create,
        "users/erin",
        json!({"password": "pw", "token_bound_cidrs": "10.0.0.0/8"}),
    )
    .await
    .unwrap();
    let mut req = Request::new(Operation::Update, "auth/test/login/erin");
    req.relative_path = "login/erin".into();
    req.data = json!({"password": "pw"}).as_object().cloned().unwrap();
    let e = b.handle(&req, &view).await.unwrap_err();
    assert_eq!(e.status(), 403);
    req.remote_addr = Some("192.168.1.1".parse().unwrap());
    assert_eq!(b.handle(&req, &view).await.unwrap_err().status(), 403);
    req.remote_addr = Some("10.1.2.3".parse().unwrap());
    let auth = b.handle(&req, &view).await.unwrap().auth.unwrap();
    assert_eq!(auth.bound_cidrs, vec!["10.0.0.0/8"]);
}

#[tokio::test]
async fn password_never_stored() {
    let (storage, view) = setup().await;
    let b = backend();
    let pw = "Correct-Horse-Battery-Staple-42";
    call(
        &b,
        &view,
        Operation::Create,
        "users/frank",
        json!({"password": pw}),
    )
    .await
    .unwrap();
    call(
        &b,
        &view,
        Operation::Update,
        "users/frank/password",
        json!({"password": pw}),
    )
    .await
    .unwrap();
    login_auth(
        call(
            &b,
            &view,
            Operation::Update,
            "login/frank",
            json!({"password": pw}),
        )
        .await,
    );
    let blobs = all_bytes(&storage, &view).await;
    assert!(blobs.len() > 2);
    for blob in blobs {
        assert!(!contains(&blob, pw.as_bytes()));
    }
}

#[test]
fn unauthenticated_paths() {
    assert_eq!(backend().unauthenticated_paths(), &["login", "login/*"]);
}

#[tokio::test]
async fn password_hash_import() {
    let (_s, view) = setup().await;
    let b = backend();
    // An argon2id PHC string made elsewhere (here: with the real parameters).
    let phc = hash_password(HashParams::DEFAULT, "imported-pw")
        .await
        .unwrap();
    call(
        &b,
        &view,
        Operation::Create,
        "users/gina",
        json!({"password_hash": phc, "token_policies": "p"}),
    )
    .await
    .unwrap();
    let auth = login_auth(
        call(
            &b,
            &view,
            Operation::Update,
            "login/gina",
            json!({"password": "imported-pw"}),
        )
        .await,
    );
    assert_eq!(auth.policies, vec!["p"]);
    assert_eq!(
        load_user(&view, "gina")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        phc
    );
    for (body, msg) in [
        (
            json!({"password": "a", "password_hash": phc}),
            "only one of password or password_hash may be provided",
        ),
        (
            json!({"password_hash": "$2a$10$abcdefghijklmnopqrstuuJ0Y6Xq0y0o9m3bqYtWl3l1u0kq1V3tu"}),
            "password_hash is not a valid argon2id PHC string",
        ),
        (
            json!({"password_hash": "not a hash"}),
            "password_hash is not a valid argon2id PHC string",
        ),
    ] {
        let e = call(&b, &view, Operation::Create, "users/hal", body.clone())
            .await
            .unwrap_err();
        assert_eq!(
            (e.status(), e.to_string()),
            (400, msg.to_string()),
            "{body}"
        );
    }
    // Parameters too weak to import.
    let weak = hash_password(FAST, "x").await.unwrap();
    let e = call(
        &b,
        &view,
        Operation::Create,
        "users/hal",
        json!({"password_hash": weak}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(
        e.to_string()
            .starts_with("password_hash parameters must keep"),
        "{e}"
    );
    // The password endpoint takes a hash too.
    let phc2 = hash_password(HashParams::DEFAULT, "second").await.unwrap();
    call(
        &b,
        &view,
        Operation::Update,
        "users/gina/password",
        json!({"password_hash": phc2}),
    )
    .await
    .unwrap();
    login_auth(
        call(
            &b,
            &view,
            Operation::Update,
            "login/gina",
            json!({"password": "second"}),
        )
        .await,
    );
}

#[tokio::test]
async fn framework_declarations() {
    let (_s, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Create,
        "users/ivy",
        json!({"password": "pw"}),
    )
    .await
    .unwrap();
    // Unknown body keys are reported, as Vault does.
    let r = call(
        &b,
        &view,
        Operation::Update,
        "users/ivy",
        json!({"token_ttl": 5, "colour": "red"}),
    )
    .await
    .unwrap();
    assert_eq!(
        r.warnings,
        vec!["Endpoint ignored these unrecognized parameters: [colour]".to_string()]
    );
    // Legacy names still apply.
    call(
        &b,
        &view,
        Operation::Update,
        "users/ivy",
        json!({"ttl": "2m", "max_ttl": "1h", "bound_cidrs": "10.0.0.0/8"}),
    )
    .await
    .unwrap();
    let d = call(&b, &view, Operation::Read, "users/ivy", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(d["token_ttl"], json!(120));
    assert_eq!(d["token_max_ttl"], json!(3600));
    assert_eq!(d["token_bound_cidrs"], json!(["10.0.0.0/8"]));
    // Help comes from the declarations.
    let h = call(&b, &view, Operation::Help, "users/ivy", json!({}))
        .await
        .unwrap();
    let text = h.raw.unwrap()["help"].as_str().unwrap().to_string();
    assert!(text.contains("password_hash"), "{text}");
    assert!(
        text.contains("Manage users allowed to authenticate."),
        "{text}"
    );
    // users/:name/password is write-only.
    let e = call(&b, &view, Operation::Read, "users/ivy/password", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
}
