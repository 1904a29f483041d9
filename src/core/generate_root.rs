//! Root token generation: `sys/generate-root/*` (Vault's unauthenticated
//! endpoints) and `sys/generate-root-token/*` (OpenBao 2.6+'s authenticated
//! ones, which the `bao` 2.7 CLI speaks; same state, enveloped responses).
//!
//! A quorum of operator shares (unseal shares under Shamir, recovery shares
//! under an auto seal) creates a new root token in the token store (policy
//! `root`, no parent, no TTL). It is returned only encoded, Vault's current
//! scheme: `base64(token XOR otp)` without padding, where the one-time
//! password has the token's length. The server makes the OTP when the
//! attempt is started without one (Vault 1.10+) and returns it once.
//!
//! Not implemented: `pgp_key` (400).

use base64::engine::general_purpose::STANDARD_NO_PAD as B64_RAW;
use base64::Engine;
use rand::Rng;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::rekey::{decode_share, disabled_response, prove, ready, Shares};
use super::Core;
use crate::logical::{field_str, LogicalError, Operation, Request, Response};

/// Random characters of a generated root token after its prefix, and so the
/// OTP length (prefix included): Vault's `TokenLength` + `TokenPrefixLength`,
/// which the CLIs assume when they make an OTP (`-generate-otp`).
const TOKEN_RANDOM_LEN: usize = 24;
pub(crate) const OTP_LENGTH: usize =
    TOKEN_RANDOM_LEN + crate::core::tokens::SERVICE_TOKEN_PREFIX.len();

/// One root generation in progress.
pub(crate) struct Attempt {
    nonce: String,
    otp: Zeroizing<String>,
    progress: Shares,
}

/// Base62 characters, Vault's alphabet for tokens and OTPs.
pub(crate) fn base62(len: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// XORs two equally long byte strings (Vault's `xor.XORBytes`).
fn xor(a: &[u8], b: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    if a.len() != b.len() {
        return Err("length of byte slices is not equivalent".into());
    }
    Ok(Zeroizing::new(
        a.iter().zip(b).map(|(x, y)| x ^ y).collect(),
    ))
}

/// `base64(token XOR otp)`, unpadded.
pub(crate) fn encode_token(token: &str, otp: &str) -> Result<String, String> {
    Ok(B64_RAW.encode(xor(token.as_bytes(), otp.as_bytes())?.as_slice()))
}

/// The inverse of [`encode_token`] (the CLI's `-decode`). Accepts padded
/// base64 too.
pub(crate) fn decode_token(encoded: &str, otp: &str) -> Result<Zeroizing<String>, String> {
    let encoded = encoded.trim().trim_end_matches('=');
    let bytes = B64_RAW
        .decode(encoded)
        .map_err(|e| format!("error decoding base64'd token: {e}"))?;
    let plain =
        xor(&bytes, otp.trim().as_bytes()).map_err(|e| format!("error xoring token: {e}"))?;
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| "error xoring token: the result is not text (wrong OTP?)".into())
}

/// The status fields, Vault's `GenerateRootStatusResponse`.
async fn status(core: &Core, otp: &str) -> Result<Map<String, Value>, LogicalError> {
    let config = ready(core).await?;
    let guard = core.operator.generate_root.lock().await;
    let mut m = Map::new();
    m.insert("nonce".into(), Value::from(""));
    m.insert("started".into(), Value::Bool(false));
    m.insert(
        "progress".into(),
        Value::from(guard.as_ref().map(|a| a.progress.len()).unwrap_or(0)),
    );
    m.insert("required".into(), Value::from(config.secret_threshold));
    m.insert("complete".into(), Value::Bool(false));
    m.insert("encoded_token".into(), Value::from(""));
    m.insert("encoded_root_token".into(), Value::from(""));
    m.insert("pgp_fingerprint".into(), Value::from(""));
    m.insert("otp".into(), Value::from(otp));
    m.insert("otp_length".into(), Value::from(OTP_LENGTH));
    if let Some(a) = guard.as_ref() {
        m.insert("nonce".into(), Value::from(a.nonce.clone()));
        m.insert("started".into(), Value::Bool(true));
    }
    Ok(m)
}

/// Starts an attempt. Returns the OTP when the server generated it.
async fn init(
    core: &Core,
    data: &Map<String, Value>,
) -> Result<Option<Zeroizing<String>>, LogicalError> {
    let otp = field_str(data, "otp").unwrap_or("").trim();
    if !field_str(data, "pgp_key").unwrap_or("").is_empty() {
        return Err(LogicalError::bad(
            "PGP-encrypted root tokens are not supported; use an OTP",
        ));
    }
    let (otp, generated) = if otp.is_empty() {
        (Zeroizing::new(base62(OTP_LENGTH)), true)
    } else {
        if otp.len() != OTP_LENGTH {
            return Err(LogicalError::bad("OTP string is wrong length"));
        }
        (Zeroizing::new(otp.to_string()), false)
    };
    ready(core).await?;
    let mut guard = core.operator.generate_root.lock().await;
    if guard.is_some() {
        return Err(LogicalError::bad("root generation already in progress"));
    }
    *guard = Some(Attempt {
        nonce: uuid::Uuid::new_v4().to_string(),
        otp: otp.clone(),
        progress: Shares::default(),
    });
    tracing::info!("root token generation started");
    Ok(generated.then_some(otp))
}

async fn cancel(core: &Core) -> Result<(), LogicalError> {
    ready(core).await?;
    *core.operator.generate_root.lock().await = None;
    Ok(())
}

struct Progress {
    progress: usize,
    required: u8,
    encoded_token: String,
}

async fn update(
    core: &Core,
    key: Zeroizing<Vec<u8>>,
    nonce: &str,
) -> Result<Progress, LogicalError> {
    let config = ready(core).await?;
    let mut guard = core.operator.generate_root.lock().await;
    let Some(attempt) = guard.as_mut() else {
        return Err(LogicalError::bad("no root generation in progress"));
    };
    if !bool::from(nonce.as_bytes().ct_eq(attempt.nonce.as_bytes())) {
        return Err(LogicalError::bad(format!(
            "incorrect nonce supplied; nonce for this root generation operation is {:?}",
            attempt.nonce
        )));
    }
    attempt.progress.add(
        key,
        "given key has already been provided during this generation operation",
    )?;
    let progress = attempt.progress.len();
    let required = config.secret_threshold;
    if progress < required as usize {
        return Ok(Progress {
            progress,
            required,
            encoded_token: String::new(),
        });
    }
    let combined = attempt
        .progress
        .take_combined(required)
        .map_err(|m| LogicalError::bad(format!("failed to compute root key: {m}")))?;
    if let Err(m) = prove(core, &config, &combined).await? {
        let why = if core.seal.is_auto() {
            format!("recovery key verification failed: {m}")
        } else {
            format!("unable to authenticate: {m}")
        };
        tracing::warn!("root generation aborted: wrong key shares");
        return Err(LogicalError::bad(format!("root generation aborted: {why}")));
    }
    let state = core.unsealed_state()?;
    let id = format!(
        "{}{}",
        crate::core::tokens::SERVICE_TOKEN_PREFIX,
        base62(TOKEN_RANDOM_LEN)
    );
    let (token, _) = state
        .tokens
        .create(crate::core::tokens::NewToken {
            id: Some(id),
            policies: vec!["root".into()],
            display_name: "root".into(),
            path: "auth/token/root".into(),
            ..Default::default()
        })
        .await?;
    let token = Zeroizing::new(token);
    let encoded_token = encode_token(&token, &attempt.otp).map_err(LogicalError::Internal)?;
    *guard = None;
    tracing::info!("root token generated");
    Ok(Progress {
        progress,
        required,
        encoded_token,
    })
}

/// `sys/generate-root/{attempt,update}`: Vault's unauthenticated endpoints.
pub(super) async fn handle_unauthenticated(
    core: &Core,
    req: &Request,
    rest: &str,
) -> Result<Response, LogicalError> {
    if core.operator.generate_root_disabled() {
        return Ok(disabled_response());
    }
    let write = matches!(req.operation, Operation::Update | Operation::Create);
    let body = match (rest, req.operation) {
        ("attempt", Operation::Read) => status(core, "").await?,
        ("attempt", _) if write => {
            let otp = init(core, &req.data).await?;
            status(core, otp.as_deref().map(String::as_str).unwrap_or("")).await?
        }
        ("attempt", Operation::Delete) => {
            cancel(core).await?;
            return Ok(Response::empty());
        }
        ("update", _) if write => {
            let key = decode_share(&req.data, "'key' must be specified in request body as JSON")?;
            let nonce = field_str(&req.data, "nonce").unwrap_or("");
            let p = update(core, key, nonce).await?;
            let mut m = Map::new();
            m.insert("nonce".into(), Value::from(nonce));
            m.insert("started".into(), Value::Bool(true));
            m.insert("progress".into(), Value::from(p.progress));
            m.insert("required".into(), Value::from(p.required));
            m.insert(
                "complete".into(),
                Value::Bool(p.progress == p.required as usize),
            );
            m.insert("encoded_token".into(), Value::from(p.encoded_token.clone()));
            m.insert("encoded_root_token".into(), Value::from(p.encoded_token));
            m.insert("pgp_fingerprint".into(), Value::from(""));
            m.insert("otp".into(), Value::from(""));
            m.insert("otp_length".into(), Value::from(0));
            m
        }
        _ => return Err(LogicalError::UnsupportedOperation),
    };
    Ok(Response::raw(Value::Object(body)))
}

/// `sys/generate-root-token/{attempt,update}` and `sys/decode-token`:
/// OpenBao's authenticated endpoints (sudo), with logical responses.
pub(crate) async fn handle_authenticated(
    core: &Core,
    req: &Request,
    path: &str,
) -> Result<Response, LogicalError> {
    let write = matches!(req.operation, Operation::Update | Operation::Create);
    let data = match (path, req.operation) {
        ("generate-root-token/attempt", Operation::Read) => {
            let mut m = status(core, "").await?;
            strip_unstarted(&mut m);
            m
        }
        ("generate-root-token/attempt", _) if write => {
            let otp = init(core, &req.data).await?;
            let mut m = status(core, otp.as_deref().map(String::as_str).unwrap_or("")).await?;
            strip_unstarted(&mut m);
            m
        }
        ("generate-root-token/attempt", Operation::Delete) => {
            cancel(core).await?;
            return Ok(Response::empty());
        }
        ("generate-root-token/update", _) if write => {
            let nonce = field_str(&req.data, "nonce").unwrap_or("");
            if nonce.is_empty() {
                return Err(LogicalError::bad("nonce is required"));
            }
            let key = decode_share(&req.data, "key is required")?;
            let p = update(core, key, nonce).await?;
            let v = json!({
                "started": true,
                "complete": p.progress == p.required as usize,
                "progress": p.progress,
                "required": p.required,
                "nonce": nonce,
                "encoded_token": p.encoded_token,
                "pgp_fingerprint": "",
            });
            v.as_object().cloned().unwrap_or_default()
        }
        ("decode-token", _) if write => {
            let encoded = field_str(&req.data, "encoded_token").unwrap_or("");
            let otp = field_str(&req.data, "otp").unwrap_or("");
            if encoded.is_empty() || otp.is_empty() {
                return Err(LogicalError::bad(
                    "provided 'encoded_token' or 'otp' is empty",
                ));
            }
            let token = decode_token(encoded, otp).map_err(LogicalError::bad)?;
            let mut m = Map::new();
            m.insert("token".into(), Value::from(token.as_str()));
            m
        }
        _ => return Err(LogicalError::UnsupportedOperation),
    };
    Ok(Response::json(Value::Object(data)))
}

/// OpenBao's status names `nonce` and `pgp_fingerprint` only once started,
/// and has no `encoded_*` fields.
fn strip_unstarted(m: &mut Map<String, Value>) {
    m.remove("encoded_token");
    m.remove("encoded_root_token");
    if m.get("started") != Some(&Value::Bool(true)) {
        m.remove("nonce");
        m.remove("pgp_fingerprint");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let token = format!("hvs.{}", base62(TOKEN_RANDOM_LEN));
        let otp = base62(OTP_LENGTH);
        assert_eq!(token.len(), OTP_LENGTH);
        let encoded = encode_token(&token, &otp).unwrap();
        assert!(!encoded.contains('='), "Vault's scheme is unpadded");
        assert_ne!(encoded, token);
        assert_eq!(decode_token(&encoded, &otp).unwrap().as_str(), token);
        // Padded input (from other tools) decodes too.
        let padded =
            base64::engine::general_purpose::STANDARD.encode(B64_RAW.decode(&encoded).unwrap());
        assert_eq!(decode_token(&padded, &otp).unwrap().as_str(), token);
    }

    #[test]
    fn decode_refuses_wrong_lengths_and_garbage() {
        let otp = base62(OTP_LENGTH);
        let short = encode_token("abc", "xyz").unwrap();
        assert!(decode_token(&short, &otp)
            .unwrap_err()
            .contains("length of byte slices is not equivalent"));
        assert!(decode_token("!!!", &otp)
            .unwrap_err()
            .starts_with("error decoding base64'd token"));
        assert!(encode_token("abcd", "ab").is_err());
    }

    #[test]
    fn known_vector() {
        // XOR of "ab" with "AB" is [0x20, 0x20]: base64 "ICA" unpadded.
        assert_eq!(encode_token("ab", "AB").unwrap(), "ICA");
        assert_eq!(decode_token("ICA", "AB").unwrap().as_str(), "ab");
    }

    #[test]
    fn base62_alphabet_and_length() {
        let s = base62(200);
        assert_eq!(s.len(), 200);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
