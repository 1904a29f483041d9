use std::sync::Arc;

use super::*;
use crate::core::lifecycle::InitParams;
use crate::core::CoreOptions;
use crate::seal::shamir::ShamirSeal;
use crate::storage::memory::MemoryStorage;

async fn unsealed(shares: u8, threshold: u8) -> (Arc<Core>, Vec<String>) {
    let core = Core::new(
        Arc::new(MemoryStorage::new()),
        Arc::new(ShamirSeal),
        CoreOptions {
            storage_type: "inmem".into(),
            api_addr: None,
            clock: Arc::new(crate::util::SystemClock),
            ha: None,
            system_ttls: Default::default(),
        },
    );
    let init = core
        .initialize(InitParams {
            secret_shares: shares,
            secret_threshold: threshold,
            root_token: None,
        })
        .await
        .unwrap();
    let keys: Vec<String> = init
        .shares
        .iter()
        .map(|s| B64.encode(s.as_slice()))
        .collect();
    for k in keys.iter().take(threshold as usize) {
        core.submit_unseal_key(Some(k), false).await.unwrap();
    }
    assert!(!core.is_sealed());
    (core, keys)
}

async fn call(core: &Core, op: Operation, path: &str, body: Value) -> Result<Value, LogicalError> {
    let mut req = Request::new(op, path);
    req.data = body.as_object().cloned().unwrap_or_default();
    let resp = handle_unauthenticated(core, &req).await?;
    Ok(resp.raw.unwrap_or(Value::Null))
}

fn msg(r: Result<Value, LogicalError>) -> String {
    match r {
        Err(LogicalError::BadRequest(m)) => m,
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn shares_refuse_duplicates_and_forget_after_combining() {
    let parts = shamir::split(&[5u8; 32], 3, 2);
    let mut s = Shares::default();
    s.add(parts[0].clone(), "dup").unwrap();
    assert!(
        matches!(s.add(parts[0].clone(), "dup"), Err(LogicalError::BadRequest(m)) if m == "dup")
    );
    s.add(parts[2].clone(), "dup").unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.take_combined(2).unwrap().as_slice(), &[5u8; 32]);
    assert_eq!(s.len(), 0);
}

#[test]
fn share_decoding() {
    let body = |k: &str| json!({ "key": k }).as_object().cloned().unwrap();
    let raw = [7u8; 33];
    assert_eq!(
        decode_share(&body(&hex::encode(raw)), "m")
            .unwrap()
            .as_slice(),
        &raw
    );
    assert_eq!(
        decode_share(&body(&B64.encode(raw)), "m")
            .unwrap()
            .as_slice(),
        &raw
    );
    assert!(
        matches!(decode_share(&Map::new(), "missing"), Err(LogicalError::BadRequest(m)) if m == "missing")
    );
    assert!(matches!(decode_share(&body("%%%"), "m"),
        Err(LogicalError::BadRequest(m)) if m == "'key' must be a valid hex or base64 string"));
    assert!(matches!(decode_share(&body(&B64.encode([1u8; 8])), "m"),
        Err(LogicalError::BadRequest(m)) if m == "key is shorter than minimum 16 bytes"));
    assert!(matches!(decode_share(&body(&B64.encode([1u8; 40])), "m"),
        Err(LogicalError::BadRequest(m)) if m == "key is longer than maximum 33 bytes"));
}

#[test]
fn config_validation_texts() {
    assert_eq!(validate(0, 0), Err("shares must be at least one"));
    assert_eq!(
        validate(3, 1),
        Err("threshold must be greater than one for multiple shares")
    );
    assert_eq!(validate(300, 2), Err("shares must be less than 256"));
    assert_eq!(validate(1, 1), Ok(()));
    assert_eq!(validate(5, 3), Ok(()));
}

#[tokio::test]
async fn shamir_rekey_state_machine() {
    let (core, old) = unsealed(3, 2).await;
    let st = call(&core, Operation::Read, "sys/rekey/init", json!({}))
        .await
        .unwrap();
    assert_eq!(st["started"], json!(false));
    assert_eq!(st["required"], json!(2));
    // Update without an operation, bad configs.
    assert_eq!(
        msg(call(
            &core,
            Operation::Update,
            "sys/rekey/update",
            json!({"key": old[0], "nonce": "x"})
        )
        .await),
        "no barrier rekey in progress"
    );
    assert_eq!(
        msg(call(
            &core,
            Operation::Update,
            "sys/rekey/init",
            json!({"secret_shares": 2, "secret_threshold": 3})
        )
        .await),
        "provided threshold greater than the total shares"
    );
    assert_eq!(
        msg(call(
            &core,
            Operation::Update,
            "sys/rekey/init",
            json!({"secret_shares": 5, "secret_threshold": 3, "pgp_keys": ["k"]})
        )
        .await),
        "PGP-encrypted key shares are not supported"
    );
    assert_eq!(
        msg(call(
            &core,
            Operation::Update,
            "sys/rekey-recovery-key/init",
            json!({"secret_shares": 5, "secret_threshold": 3})
        )
        .await),
        "recovery keys not supported"
    );
    let st = call(
        &core,
        Operation::Update,
        "sys/rekey/init",
        json!({"secret_shares": 5, "secret_threshold": 3}),
    )
    .await
    .unwrap();
    assert_eq!(
        (st["started"].clone(), st["t"].clone(), st["n"].clone()),
        (json!(true), json!(3), json!(5))
    );
    let nonce = st["nonce"].as_str().unwrap().to_string();
    assert_eq!(
        msg(call(
            &core,
            Operation::Update,
            "sys/rekey/init",
            json!({"secret_shares": 5, "secret_threshold": 3})
        )
        .await),
        "rekey already in progress"
    );
    // Wrong nonce, then a duplicate share.
    let m = msg(call(
        &core,
        Operation::Update,
        "sys/rekey/update",
        json!({"key": old[0], "nonce": "nope"}),
    )
    .await);
    assert!(
        m.starts_with("incorrect nonce supplied; nonce for this rekey operation is"),
        "{m}"
    );
    let st = call(
        &core,
        Operation::Update,
        "sys/rekey/update",
        json!({"key": old[0], "nonce": nonce}),
    )
    .await
    .unwrap();
    assert_eq!(st["progress"], json!(1));
    assert_eq!(
        msg(call(
            &core,
            Operation::Update,
            "sys/rekey/update",
            json!({"key": old[0], "nonce": nonce})
        )
        .await),
        "given key has already been provided during this generation operation"
    );
    // An invalid share (a share of another secret) fails verification and
    // resets progress, keeping the operation.
    let foreign = shamir::split(&[9u8; 32], 3, 2);
    let m = msg(call(
        &core,
        Operation::Update,
        "sys/rekey/update",
        json!({"key": B64.encode(foreign[1].as_slice()), "nonce": nonce}),
    )
    .await);
    assert!(
        m.starts_with("root key verification failed")
            || m.starts_with("failed to compute root key"),
        "{m}"
    );
    let st = call(&core, Operation::Read, "sys/rekey/init", json!({}))
        .await
        .unwrap();
    assert_eq!(
        (st["started"].clone(), st["progress"].clone()),
        (json!(true), json!(0))
    );
    // Cancel resets; a new operation gets a new nonce.
    call(&core, Operation::Delete, "sys/rekey/init", json!({}))
        .await
        .unwrap();
    let st = call(&core, Operation::Read, "sys/rekey/init", json!({}))
        .await
        .unwrap();
    assert_eq!(st["started"], json!(false));
    let st = call(
        &core,
        Operation::Update,
        "sys/rekey/init",
        json!({"secret_shares": 5, "secret_threshold": 3}),
    )
    .await
    .unwrap();
    let nonce2 = st["nonce"].as_str().unwrap().to_string();
    assert_ne!(nonce, nonce2);
    call(
        &core,
        Operation::Update,
        "sys/rekey/update",
        json!({"key": old[1], "nonce": nonce2}),
    )
    .await
    .unwrap();
    let done = call(
        &core,
        Operation::Update,
        "sys/rekey/update",
        json!({"key": old[2], "nonce": nonce2}),
    )
    .await
    .unwrap();
    assert_eq!(done["complete"], json!(true));
    assert_eq!(done["keys"].as_array().unwrap().len(), 5);
    assert_eq!(done["keys_base64"].as_array().unwrap().len(), 5);
    assert_eq!(done["verification_required"], json!(false));
    let st = call(&core, Operation::Read, "sys/rekey/init", json!({}))
        .await
        .unwrap();
    assert_eq!(
        (st["started"].clone(), st["required"].clone()),
        (json!(false), json!(3))
    );
    // The old shares no longer unseal, the new ones do.
    core.seal().await.unwrap();
    for k in old.iter().take(2) {
        let _ = core.submit_unseal_key(Some(k), false).await;
    }
    assert!(core.is_sealed());
    core.submit_unseal_key(None, true).await.unwrap();
    for k in done["keys"].as_array().unwrap().iter().skip(1).take(3) {
        core.submit_unseal_key(k.as_str(), false).await.unwrap();
    }
    assert!(!core.is_sealed());
}

#[tokio::test]
async fn rekey_with_verification() {
    let (core, old) = unsealed(1, 1).await;
    let st = call(
        &core,
        Operation::Update,
        "sys/rekey/init",
        json!({"secret_shares": 3, "secret_threshold": 2, "require_verification": true}),
    )
    .await
    .unwrap();
    assert_eq!(st["verification_required"], json!(true));
    assert_eq!(
        msg(call(&core, Operation::Read, "sys/rekey/verify", json!({}))
            .await
            .map(|v| {
                assert_eq!(v["started"], json!(false));
                v
            })
            .and(Err(LogicalError::bad("ok")))),
        "ok"
    );
    let nonce = st["nonce"].as_str().unwrap();
    let done = call(
        &core,
        Operation::Update,
        "sys/rekey/update",
        json!({"key": old[0], "nonce": nonce}),
    )
    .await
    .unwrap();
    let vnonce = done["verification_nonce"].as_str().unwrap().to_string();
    let new: Vec<String> = done["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    // Until verified, the old key stays in force and update is refused.
    let m = msg(call(
        &core,
        Operation::Update,
        "sys/rekey/update",
        json!({"key": old[0], "nonce": nonce}),
    )
    .await);
    assert!(
        m.starts_with("rekey operation already finished; verification must be performed"),
        "{m}"
    );
    let m = msg(call(
        &core,
        Operation::Update,
        "sys/rekey/verify",
        json!({"key": new[0], "nonce": "bad"}),
    )
    .await);
    assert!(
        m.starts_with("incorrect nonce supplied; nonce for this verify operation is"),
        "{m}"
    );
    let st = call(
        &core,
        Operation::Update,
        "sys/rekey/verify",
        json!({"key": new[0], "nonce": vnonce}),
    )
    .await
    .unwrap();
    assert_eq!(
        (st["started"].clone(), st["progress"].clone()),
        (json!(true), json!(1))
    );
    let fin = call(
        &core,
        Operation::Update,
        "sys/rekey/verify",
        json!({"key": new[2], "nonce": vnonce}),
    )
    .await
    .unwrap();
    assert_eq!(fin, json!({"nonce": vnonce, "complete": true}));
    core.seal().await.unwrap();
    core.submit_unseal_key(Some(&new[1]), false).await.unwrap();
    core.submit_unseal_key(Some(&new[2]), false).await.unwrap();
    assert!(!core.is_sealed());
}

#[tokio::test]
async fn generate_root_state_machine() {
    let (core, keys) = unsealed(3, 2).await;
    let st = call(
        &core,
        Operation::Read,
        "sys/generate-root/attempt",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(st["started"], json!(false));
    assert_eq!(
        st["otp_length"],
        json!(super::super::generate_root::OTP_LENGTH)
    );
    assert_eq!(
        msg(call(
            &core,
            Operation::Update,
            "sys/generate-root/attempt",
            json!({"otp": "short"})
        )
        .await),
        "OTP string is wrong length"
    );
    assert_eq!(
        msg(call(
            &core,
            Operation::Update,
            "sys/generate-root/update",
            json!({"key": keys[0], "nonce": "n"})
        )
        .await),
        "no root generation in progress"
    );
    let st = call(
        &core,
        Operation::Update,
        "sys/generate-root/attempt",
        json!({}),
    )
    .await
    .unwrap();
    let otp = st["otp"].as_str().unwrap().to_string();
    assert_eq!(otp.len(), super::super::generate_root::OTP_LENGTH);
    let nonce = st["nonce"].as_str().unwrap().to_string();
    assert_eq!(
        msg(call(
            &core,
            Operation::Update,
            "sys/generate-root/attempt",
            json!({})
        )
        .await),
        "root generation already in progress"
    );
    let m = msg(call(
        &core,
        Operation::Update,
        "sys/generate-root/update",
        json!({"key": keys[0], "nonce": "x"}),
    )
    .await);
    assert!(m.starts_with("incorrect nonce supplied; nonce for this root generation operation is"));
    let p = call(
        &core,
        Operation::Update,
        "sys/generate-root/update",
        json!({"key": keys[0], "nonce": nonce}),
    )
    .await
    .unwrap();
    assert_eq!(
        (p["progress"].clone(), p["complete"].clone()),
        (json!(1), json!(false))
    );
    assert_eq!(
        msg(call(
            &core,
            Operation::Update,
            "sys/generate-root/update",
            json!({"key": keys[0], "nonce": nonce})
        )
        .await),
        "given key has already been provided during this generation operation"
    );
    let done = call(
        &core,
        Operation::Update,
        "sys/generate-root/update",
        json!({"key": keys[2], "nonce": nonce}),
    )
    .await
    .unwrap();
    assert_eq!(done["complete"], json!(true));
    let encoded = done["encoded_token"].as_str().unwrap();
    assert_eq!(done["encoded_root_token"], json!(encoded));
    let token = super::super::generate_root::decode_token(encoded, &otp).unwrap();
    let found = core
        .unsealed_state()
        .unwrap()
        .tokens
        .lookup(&token)
        .await
        .unwrap()
        .unwrap();
    assert!(found.entry.is_root());
    assert_eq!(found.entry.policies, vec!["root".to_string()]);
    // Finished: the attempt is gone. Cancel of nothing succeeds.
    let st = call(
        &core,
        Operation::Read,
        "sys/generate-root/attempt",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(st["started"], json!(false));
    call(
        &core,
        Operation::Delete,
        "sys/generate-root/attempt",
        json!({}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn disabled_endpoints_answer_405() {
    let (core, _) = unsealed(1, 1).await;
    core.operator.disable_unauthed(true, true);
    for path in [
        "sys/rekey/init",
        "sys/rekey-recovery-key/update",
        "sys/generate-root/attempt",
    ] {
        let mut req = Request::new(Operation::Read, path);
        req.data = Map::new();
        let resp = handle_unauthenticated(&core, &req).await.unwrap();
        assert_eq!(resp.status, Some(405));
        assert_eq!(resp.raw, Some(json!({"errors": ["unsupported operation"]})));
    }
}
