//! Handler tests over a barrier-backed view: the capture-checked shapes
//! and messages, end to end through the declared paths.

use serde_json::{json, Value};

use super::backend;
use crate::auth::test_support::setup;
use crate::logical::{Backend, LogicalError, LogicalResult, Operation, Request, StorageView};

async fn call(
    b: &super::TransitBackend,
    view: &StorageView,
    op: Operation,
    path: &str,
    body: Value,
) -> LogicalResult {
    let mut req = Request::new(op, format!("transit/{path}"));
    req.mount_point = "transit/".into();
    req.relative_path = path.into();
    if let Value::Object(m) = body {
        req.data = m;
    }
    if req.operation == Operation::Update && !b.exists(&req, view).await.unwrap() {
        req.operation = Operation::Create;
    }
    b.handle(&req, view).await
}

fn data(r: LogicalResult) -> Value {
    Value::Object(r.unwrap().data.unwrap())
}

fn err(r: LogicalResult) -> (u16, String) {
    let e: LogicalError = r.expect_err("an error");
    (e.status(), e.to_string())
}

#[tokio::test]
async fn key_lifecycle_matches_the_captures() {
    let (_, view) = setup().await;
    let b = backend();
    let k = data(call(&b, &view, Operation::Update, "keys/aes", json!({})).await);
    assert_eq!(k["type"], "aes256-gcm96");
    assert_eq!(k["latest_version"], 1);
    assert_eq!(k["min_decryption_version"], 1);
    assert_eq!(k["supports_derivation"], true);
    assert!(k["keys"]["1"].is_i64());
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "keys/bad",
            json!({"type": "aes999-gcm"})
        )
        .await),
        (400, "unknown key type aes999-gcm".into())
    );
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "keys/c",
            json!({"convergent_encryption": true})
        )
        .await)
        .1,
        "convergent encryption requires derivation to be enabled"
    );
    let h = data(
        call(
            &b,
            &view,
            Operation::Update,
            "keys/hm",
            json!({"type": "hmac", "key_size": 32}),
        )
        .await,
    );
    assert_eq!(h["key_size"], 32);
    assert!(h.get("keys").is_none());
    let r = data(call(&b, &view, Operation::Update, "keys/aes/rotate", json!({})).await);
    assert_eq!(r["latest_version"], 2);
    let cfg = data(
        call(
            &b,
            &view,
            Operation::Update,
            "keys/aes/config",
            json!({"min_decryption_version": 2, "deletion_allowed": true}),
        )
        .await,
    );
    assert_eq!(
        cfg["keys"].as_object().unwrap().len(),
        1,
        "older versions hidden"
    );
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "keys/aes/config",
            json!({"min_decryption_version": 9})
        )
        .await)
        .1,
        "cannot set min decryption version of 9, latest key version is 2"
    );
    let list = data(call(&b, &view, Operation::List, "keys", json!({})).await);
    assert_eq!(list["keys"], json!(["aes", "hm"]));
    assert_eq!(
        err(call(&b, &view, Operation::Delete, "keys/hm", json!({})).await).1,
        "error deleting policy hm: deletion is not allowed for this key"
    );
    call(&b, &view, Operation::Delete, "keys/aes", json!({}))
        .await
        .unwrap();
    assert_eq!(
        err(call(&b, &view, Operation::Read, "keys/aes", json!({})).await).0,
        404
    );
}

#[tokio::test]
async fn encrypt_decrypt_errors_and_batches() {
    let (_, view) = setup().await;
    let b = backend();
    // Upsert: encrypting to a missing key creates it with the given type.
    let e = data(
        call(
            &b,
            &view,
            Operation::Update,
            "encrypt/auto",
            json!({"plaintext": "aGk=", "type": "chacha20-poly1305"}),
        )
        .await,
    );
    assert!(e["ciphertext"].as_str().unwrap().starts_with("vault:v1:"));
    let k = data(call(&b, &view, Operation::Read, "keys/auto", json!({})).await);
    assert_eq!(k["type"], "chacha20-poly1305");
    let d = data(
        call(
            &b,
            &view,
            Operation::Update,
            "decrypt/auto",
            json!({"ciphertext": e["ciphertext"]}),
        )
        .await,
    );
    assert_eq!(d["plaintext"], "aGk=");
    for (body, msg) in [
        (
            json!({"ciphertext": "garbage"}),
            "invalid ciphertext: no prefix",
        ),
        (
            json!({"ciphertext": "vault:v1:not*base64"}),
            "invalid ciphertext: could not decode base64",
        ),
        (
            json!({"ciphertext": "vault:v9:AAAA"}),
            "invalid ciphertext: version is too new",
        ),
        (json!({}), "missing ciphertext to decrypt"),
    ] {
        assert_eq!(
            err(call(&b, &view, Operation::Update, "decrypt/auto", body).await),
            (400, msg.into())
        );
    }
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "encrypt/auto",
            json!({"plaintext": "hello world"})
        )
        .await)
        .1,
        "illegal base64 data at input byte 5"
    );
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "decrypt/nokey",
            json!({"ciphertext": e["ciphertext"]})
        )
        .await)
        .1,
        "encryption key not found"
    );
    let batch = call(
        &b,
        &view,
        Operation::Update,
        "encrypt/auto",
        json!({"batch_input": [{"plaintext": "aGk="}, {"plaintext": "%%", "reference": "r"}]}),
    )
    .await
    .unwrap();
    assert_eq!(batch.status, Some(400));
    let results = &batch.data.unwrap()["batch_results"];
    assert!(results[0]["ciphertext"].is_string());
    assert_eq!(results[1]["error"], "illegal base64 data at input byte 0");
    assert_eq!(results[1]["reference"], "r");
    assert!(results[1].get("ciphertext").is_none());
    let batch = call(&b, &view, Operation::Update, "decrypt/auto", json!({"batch_input": [{"ciphertext": e["ciphertext"]}, {"ciphertext": "vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "reference": "tampered"}]})).await.unwrap();
    assert_eq!(batch.status, Some(400));
    let results = &batch.data.unwrap()["batch_results"];
    assert_eq!(results[0]["plaintext"], "aGk=");
    assert_eq!(
        results[1],
        json!({"plaintext": "", "error": "cipher: message authentication failed", "reference": "tampered"})
    );
}

#[tokio::test]
async fn min_decryption_version_and_rewrap() {
    let (_, view) = setup().await;
    let b = backend();
    call(&b, &view, Operation::Update, "keys/k", json!({}))
        .await
        .unwrap();
    let v1 = data(
        call(
            &b,
            &view,
            Operation::Update,
            "encrypt/k",
            json!({"plaintext": "aGk="}),
        )
        .await,
    );
    call(&b, &view, Operation::Update, "keys/k/rotate", json!({}))
        .await
        .unwrap();
    let re = data(
        call(
            &b,
            &view,
            Operation::Update,
            "rewrap/k",
            json!({"ciphertext": v1["ciphertext"]}),
        )
        .await,
    );
    assert!(re["ciphertext"].as_str().unwrap().starts_with("vault:v2:"));
    assert_eq!(re["key_version"], 2);
    call(
        &b,
        &view,
        Operation::Update,
        "keys/k/config",
        json!({"min_decryption_version": 2}),
    )
    .await
    .unwrap();
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "decrypt/k",
            json!({"ciphertext": v1["ciphertext"]})
        )
        .await)
        .1,
        "ciphertext or signature version is disallowed by policy (too old)"
    );
    let d = data(
        call(
            &b,
            &view,
            Operation::Update,
            "decrypt/k",
            json!({"ciphertext": re["ciphertext"]}),
        )
        .await,
    );
    assert_eq!(d["plaintext"], "aGk=");
    // Trim drops what nobody may decrypt any more.
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "keys/k/trim",
            json!({"min_available_version": 3})
        )
        .await)
        .1,
        "minimum available version cannot be greater than minimum decryption version"
    );
    let t = data(
        call(
            &b,
            &view,
            Operation::Update,
            "keys/k/trim",
            json!({"min_available_version": 2}),
        )
        .await,
    );
    assert_eq!(t["min_available_version"], 2);
}

#[tokio::test]
async fn convergent_derived_keys() {
    let (_, view) = setup().await;
    let b = backend();
    let k = data(
        call(
            &b,
            &view,
            Operation::Update,
            "keys/d",
            json!({"derived": true, "convergent_encryption": true}),
        )
        .await,
    );
    assert_eq!(k["kdf"], "hkdf_sha256");
    assert_eq!(k["convergent_encryption_version"], -1);
    let body = json!({"plaintext": "aGk=", "context": "dGVuYW50LTQy"});
    let a = data(call(&b, &view, Operation::Update, "encrypt/d", body.clone()).await);
    let c = data(call(&b, &view, Operation::Update, "encrypt/d", body).await);
    assert_eq!(a["ciphertext"], c["ciphertext"]);
    assert!(err(call(
        &b,
        &view,
        Operation::Update,
        "encrypt/d",
        json!({"plaintext": "aGk="})
    )
    .await)
    .1
    .starts_with("missing 'context' for key derivation"));
    let d = data(
        call(
            &b,
            &view,
            Operation::Update,
            "decrypt/d",
            json!({"ciphertext": a["ciphertext"], "context": "dGVuYW50LTQy"}),
        )
        .await,
    );
    assert_eq!(d["plaintext"], "aGk=");
}

#[tokio::test]
async fn sign_verify_hmac_hash_random_datakey() {
    let (_, view) = setup().await;
    let b = backend();
    for (name, t) in [("ed", "ed25519"), ("ec", "ecdsa-p256"), ("rsa", "rsa-2048")] {
        call(
            &b,
            &view,
            Operation::Update,
            &format!("keys/{name}"),
            json!({"type": t}),
        )
        .await
        .unwrap();
        let s = data(
            call(
                &b,
                &view,
                Operation::Update,
                &format!("sign/{name}"),
                json!({"input": "aGk="}),
            )
            .await,
        );
        let v = data(
            call(
                &b,
                &view,
                Operation::Update,
                &format!("verify/{name}"),
                json!({"input": "aGk=", "signature": s["signature"]}),
            )
            .await,
        );
        assert_eq!(v["valid"], true, "{t}");
        let v = data(
            call(
                &b,
                &view,
                Operation::Update,
                &format!("verify/{name}"),
                json!({"input": "aGE=", "signature": s["signature"]}),
            )
            .await,
        );
        assert_eq!(v["valid"], false, "{t}");
    }
    call(&b, &view, Operation::Update, "keys/aes", json!({}))
        .await
        .unwrap();
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "sign/aes",
            json!({"input": "aGk="})
        )
        .await)
        .1,
        "key type aes256-gcm96 does not support signing"
    );
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "sign/ec",
            json!({"input": "aGk=", "hash_algorithm": "md5"})
        )
        .await)
        .1,
        "invalid hash algorithm \"md5\""
    );
    let h = data(
        call(
            &b,
            &view,
            Operation::Update,
            "hmac/aes",
            json!({"input": "aGk="}),
        )
        .await,
    );
    let v = data(
        call(
            &b,
            &view,
            Operation::Update,
            "verify/aes",
            json!({"input": "aGk=", "hmac": h["hmac"]}),
        )
        .await,
    );
    assert_eq!(v["valid"], true);
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "verify/aes",
            json!({"input": "aGk="})
        )
        .await)
        .1,
        "neither a 'signature' nor an 'hmac' were given to verify"
    );
    let sum = data(
        call(
            &b,
            &view,
            Operation::Update,
            "hash/sha2-256",
            json!({"input": "aGVsbG8gd29ybGQ=", "format": "base64"}),
        )
        .await,
    );
    assert_eq!(sum["sum"], "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=");
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "hash/md5",
            json!({"input": "aGk="})
        )
        .await)
        .1,
        "unsupported algorithm md5"
    );
    let r = data(
        call(
            &b,
            &view,
            Operation::Update,
            "random/16",
            json!({"format": "hex"}),
        )
        .await,
    );
    assert_eq!(r["random_bytes"].as_str().unwrap().len(), 32);
    let dk = data(
        call(
            &b,
            &view,
            Operation::Update,
            "datakey/plaintext/aes",
            json!({"bits": 128}),
        )
        .await,
    );
    let d = data(
        call(
            &b,
            &view,
            Operation::Update,
            "decrypt/aes",
            json!({"ciphertext": dk["ciphertext"]}),
        )
        .await,
    );
    assert_eq!(d["plaintext"], dk["plaintext"]);
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "datakey/sideways/aes",
            json!({})
        )
        .await)
        .1,
        "Invalid path, must be 'plaintext' or 'wrapped'"
    );
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "datakey/plaintext/aes",
            json!({"bits": 100})
        )
        .await)
        .1,
        "invalid bit length"
    );
}

#[tokio::test]
async fn export_backup_restore() {
    let (_, view) = setup().await;
    let b = backend();
    call(&b, &view, Operation::Update, "keys/plain", json!({}))
        .await
        .unwrap();
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Read,
            "export/encryption-key/plain",
            json!({})
        )
        .await)
        .1,
        "private key material is not exportable"
    );
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Read,
            "export/secret-sauce/plain",
            json!({})
        )
        .await)
        .1,
        "invalid export type: secret-sauce"
    );
    assert_eq!(
        err(call(&b, &view, Operation::Read, "backup/plain", json!({})).await),
        (
            400,
            "1 error occurred:\n\t* exporting is disallowed on the policy\n\n".into()
        )
    );
    call(
        &b,
        &view,
        Operation::Update,
        "keys/bk",
        json!({"exportable": true, "allow_plaintext_backup": true}),
    )
    .await
    .unwrap();
    let ct = data(
        call(
            &b,
            &view,
            Operation::Update,
            "encrypt/bk",
            json!({"plaintext": "aGk="}),
        )
        .await,
    );
    let ex = data(
        call(
            &b,
            &view,
            Operation::Read,
            "export/encryption-key/bk/1",
            json!({}),
        )
        .await,
    );
    assert_eq!(ex["type"], "aes256-gcm96");
    let backup = data(call(&b, &view, Operation::Read, "backup/bk", json!({})).await);
    let (_, other) = setup().await;
    call(
        &b,
        &other,
        Operation::Update,
        "restore/copy",
        json!({"backup": backup["backup"]}),
    )
    .await
    .unwrap();
    let d = data(
        call(
            &b,
            &other,
            Operation::Update,
            "decrypt/copy",
            json!({"ciphertext": ct["ciphertext"]}),
        )
        .await,
    );
    assert_eq!(d["plaintext"], "aGk=");
    let k = data(call(&b, &other, Operation::Read, "keys/copy", json!({})).await);
    assert!(k["restore_info"].is_object() && k["backup_info"].is_object());
    assert_eq!(
        err(call(
            &b,
            &other,
            Operation::Update,
            "restore/copy",
            json!({"backup": backup["backup"]})
        )
        .await),
        (
            400,
            "1 error occurred:\n\t* key \"copy\" already exists\n\n".into()
        )
    );
    call(
        &b,
        &view,
        Operation::Update,
        "keys/ed",
        json!({"type": "ed25519", "exportable": true}),
    )
    .await
    .unwrap();
    let sk = data(
        call(
            &b,
            &view,
            Operation::Read,
            "export/signing-key/ed",
            json!({}),
        )
        .await,
    );
    assert_eq!(sk["keys"]["1"].as_str().unwrap().len(), 88);
    let pk = data(
        call(
            &b,
            &view,
            Operation::Read,
            "export/public-key/ed",
            json!({}),
        )
        .await,
    );
    let read = data(call(&b, &view, Operation::Read, "keys/ed", json!({})).await);
    assert_eq!(pk["keys"]["1"], read["keys"]["1"]["public_key"]);
}

#[tokio::test]
async fn auto_rotation_rotates_due_keys_only() {
    let (_, view) = setup().await;
    let b = backend();
    call(
        &b,
        &view,
        Operation::Update,
        "keys/due",
        json!({"auto_rotate_period": "1h"}),
    )
    .await
    .unwrap();
    call(&b, &view, Operation::Update, "keys/never", json!({}))
        .await
        .unwrap();
    assert_eq!(
        err(call(
            &b,
            &view,
            Operation::Update,
            "keys/x",
            json!({"auto_rotate_period": "5m"})
        )
        .await)
        .1,
        "auto rotate period must be 0 to disable or at least an hour"
    );
    b.periodic(&view).await.unwrap();
    let due = data(call(&b, &view, Operation::Read, "keys/due", json!({})).await);
    assert_eq!(due["latest_version"], 1, "not due yet");
    // Age the latest version past the period.
    let mut p = b
        .inner
        .state
        .load_fresh(&view, "due")
        .await
        .unwrap()
        .unwrap();
    p.keys.get_mut(&1).unwrap().creation_time -= 7200;
    b.inner.state.store(&view, &p).await.unwrap();
    b.periodic(&view).await.unwrap();
    let due = data(call(&b, &view, Operation::Read, "keys/due", json!({})).await);
    assert_eq!(due["latest_version"], 2);
    assert_eq!(due["auto_rotate_period"], 3600);
    let never = data(call(&b, &view, Operation::Read, "keys/never", json!({})).await);
    assert_eq!(never["latest_version"], 1);
}
