//! `sign/`, `verify/`, `hmac/`: reads of the key only.

use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult};

use super::asym::{self, Marshaling, RsaScheme, SaltLength, SignOpts};
use super::batch::{self, ItemResult};
use super::crypto::{self, b64, b64_decode, HashAlg};
use super::policy::{KeyType, Policy};
use super::{Transit, TransitError};

fn hash_from(c: &Ctx<'_>, field: &str) -> Result<HashAlg, LogicalError> {
    let from_url = c.path("urlalgorithm");
    let name = if !from_url.is_empty() {
        from_url.to_string()
    } else {
        c.fields
            .get_ok::<String>(field)
            .or_else(|| c.fields.get_ok::<String>("algorithm"))
            .unwrap_or_else(|| "sha2-256".into())
    };
    HashAlg::parse(&name)
        .ok_or_else(|| LogicalError::bad(format!("invalid hash algorithm {name:?}")))
}

fn sign_opts(c: &Ctx<'_>) -> Result<SignOpts, LogicalError> {
    let hash = hash_from(c, "hash_algorithm")?;
    let marshaling = match c.fields.str("marshaling_algorithm").as_str() {
        "" | "asn1" => Marshaling::Asn1,
        "jws" => Marshaling::Jws,
        other => {
            return Err(LogicalError::bad(format!(
                "invalid marshaling type {other:?}"
            )))
        }
    };
    let rsa = match c.fields.str("signature_algorithm").as_str() {
        "" | "pss" => RsaScheme::Pss,
        "pkcs1v15" => RsaScheme::Pkcs1v15,
        other => {
            return Err(LogicalError::bad(format!(
                "unsupported rsa signature algorithm {other}"
            )))
        }
    };
    let salt = match c.fields.str("salt_length").as_str() {
        "" | "auto" => SaltLength::Auto,
        "hash" => SaltLength::Hash,
        other => {
            return Err(LogicalError::bad(format!(
                "invalid salt_length {other:?}: only \"auto\" and \"hash\" are supported"
            )))
        }
    };
    Ok(SignOpts {
        hash,
        prehashed: c.fields.flag("prehashed"),
        rsa,
        marshaling,
        salt,
    })
}

fn decode_input(item: &Map<String, Value>) -> Result<Vec<u8>, TransitError> {
    b64_decode(&batch::text(item, "input").unwrap_or_default())
        .map_err(|e| TransitError::user(format!("unable to decode input as base64: {e}")))
}

/// The derived Ed25519 key for `context`, when the key is derived.
fn derived_ed25519(
    p: &Policy,
    ver: i64,
    context: &[u8],
) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, TransitError> {
    if p.key_type == KeyType::Ed25519 && p.derived {
        return crypto::get_key(p, context, ver, 32).map(Some);
    }
    Ok(None)
}

fn encode_sig(ver: i64, sig: &[u8], m: Marshaling) -> String {
    let body = match m {
        Marshaling::Asn1 => b64(sig),
        Marshaling::Jws => {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
        }
    };
    format!("{}{ver}:{body}", crypto::PREFIX)
}

fn sign_item(p: &Policy, item: &Map<String, Value>, o: &SignOpts) -> ItemResult {
    let input = decode_input(item)?;
    let ver = match batch::int(item, "key_version")? {
        0 => p.latest_version,
        v if v < 0 => {
            return Err(TransitError::user(
                "requested version for signing is negative",
            ))
        }
        v if v > p.latest_version => {
            return Err(TransitError::user(
                "requested version for signing is higher than the latest key version",
            ))
        }
        v if p.min_encryption_version > 0 && v < p.min_encryption_version => {
            return Err(TransitError::user(
                "requested version for signing is less than the minimum encryption key version",
            ))
        }
        v => v,
    };
    let context = batch::bytes(item, "context", "context")?;
    let derived = derived_ed25519(p, ver, &context)?;
    let entry = p.entry(ver)?;
    let sig = asym::sign(
        p.key_type,
        entry,
        derived.as_deref().map(|v| &v[..]),
        &input,
        o,
    )?;
    let mut m = Map::new();
    m.insert(
        "signature".into(),
        Value::String(encode_sig(ver, &sig, o.marshaling)),
    );
    m.insert("key_version".into(), json!(ver));
    if let Some(d) = derived {
        m.insert("public_key".into(), Value::String(b64(&d[32..64])));
    }
    Ok(m)
}

fn verify_signature(p: &Policy, item: &Map<String, Value>, o: &SignOpts, sig: &str) -> ItemResult {
    let input = decode_input(item)?;
    let (ver, body) = crypto::parse_versioned(sig, "signature")?;
    if ver > p.latest_version {
        return Err(TransitError::user("invalid signature: version is too new"));
    }
    if p.min_decryption_version > 0 && ver < p.min_decryption_version {
        return Err(TransitError::user(
            "ciphertext or signature version is disallowed by policy (too old)",
        ));
    }
    let raw = match o.marshaling {
        Marshaling::Asn1 => b64_decode(&body).ok(),
        Marshaling::Jws => {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&body)
                .ok()
        }
    }
    .ok_or_else(|| TransitError::user("invalid base64 signature value"))?;
    let context = batch::bytes(item, "context", "context")?;
    let derived = derived_ed25519(p, ver, &context)?;
    let entry = p.entry(ver)?;
    let valid = asym::verify(
        p.key_type,
        entry,
        derived.as_deref().map(|v| &v[..]),
        &input,
        &raw,
        o,
    )?;
    let mut m = Map::new();
    m.insert("valid".into(), json!(valid));
    Ok(m)
}

/// The HMAC key of a version: the key itself for `hmac` keys.
fn hmac_key(p: &Policy, ver: i64) -> Result<&[u8], TransitError> {
    let e = p.entry(ver)?;
    let k = if p.key_type == KeyType::Hmac {
        &e.key
    } else {
        &e.hmac_key
    };
    if k.is_empty() {
        return Err(TransitError::user(
            "no HMAC key exists for that key version",
        ));
    }
    Ok(k)
}

fn hmac_item(p: &Policy, item: &Map<String, Value>, alg: HashAlg) -> ItemResult {
    let input = decode_input(item)?;
    let ver = match batch::int(item, "key_version")? {
        0 => p.latest_version,
        v if v < 0 => {
            return Err(TransitError::user(
                "key version does not exist (cannot be negative)",
            ))
        }
        v if v > p.latest_version => {
            return Err(TransitError::user(format!(
                "key version does not exist; latest key version is {}",
                p.latest_version
            )))
        }
        v if p.min_encryption_version > 0 && v < p.min_encryption_version => {
            return Err(TransitError::user(
                "cannot generate HMAC: version is too old (disallowed by policy)",
            ))
        }
        v => v,
    };
    let mac = alg.hmac(hmac_key(p, ver)?, &input)?;
    let mut m = Map::new();
    m.insert(
        "hmac".into(),
        Value::String(format!("{}{ver}:{}", crypto::PREFIX, b64(&mac))),
    );
    Ok(m)
}

fn verify_hmac(p: &Policy, item: &Map<String, Value>, alg: HashAlg, given: &str) -> ItemResult {
    let input = decode_input(item)?;
    let (ver, body) = crypto::parse_versioned(given, "HMAC")?;
    if ver > p.latest_version {
        return Err(TransitError::user("invalid HMAC: version is too new"));
    }
    if p.min_decryption_version > 0 && ver < p.min_decryption_version {
        return Err(TransitError::user(
            "HMAC version is disallowed by policy (too old)",
        ));
    }
    let given = b64_decode(&body)
        .map_err(|_| TransitError::user("invalid HMAC: could not decode base64"))?;
    let mac = alg.hmac(hmac_key(p, ver)?, &input)?;
    let mut m = Map::new();
    m.insert("valid".into(), json!(bool::from(mac.ct_eq(&given))));
    Ok(m)
}

impl Transit {
    async fn key_for(&self, c: &Ctx<'_>) -> Result<std::sync::Arc<Policy>, LogicalError> {
        self.load(c.view, c.path("name"))
            .await?
            .ok_or_else(|| LogicalError::bad("signing key not found"))
    }

    pub(crate) async fn sign(&self, c: &Ctx<'_>) -> LogicalResult {
        let o = sign_opts(c)?;
        let p = self.key_for(c).await?;
        if !p.key_type.signing_supported() {
            return Err(LogicalError::bad(format!(
                "key type {} does not support signing",
                p.key_type.name()
            )));
        }
        let items = batch::items(c)?;
        let results = items.items.iter().map(|i| sign_item(&p, i, &o)).collect();
        batch::respond(&items, results, &[])
    }

    pub(crate) async fn verify(&self, c: &Ctx<'_>) -> LogicalResult {
        let items = batch::items(c)?;
        if !items.batched {
            let i = &items.items[0];
            let has_sig = batch::text(i, "signature").is_some_and(|s| !s.is_empty());
            let has_hmac = batch::text(i, "hmac").is_some_and(|s| !s.is_empty());
            if !has_sig && !has_hmac {
                return Err(LogicalError::bad(
                    "neither a 'signature' nor an 'hmac' were given to verify",
                ));
            }
            if has_sig && has_hmac {
                return Err(LogicalError::bad(
                    "provide one of a 'signature' or an 'hmac' to verify, not both",
                ));
            }
        }
        let o = sign_opts(c)?;
        let hmac_alg = hash_from(c, "algorithm")?;
        let p = self
            .load(c.view, c.path("name"))
            .await?
            .ok_or_else(|| LogicalError::bad("signature verification key not found"))?;
        let results = items
            .items
            .iter()
            .map(|i| {
                let sig = batch::text(i, "signature").filter(|s| !s.is_empty());
                let hmac = batch::text(i, "hmac").filter(|s| !s.is_empty());
                match (sig, hmac) {
                    (Some(_), Some(_)) => Err(TransitError::user(
                        "provide one of a 'signature' or an 'hmac' to verify, not both",
                    )),
                    (None, Some(h)) => verify_hmac(&p, i, hmac_alg, &h),
                    (Some(s), None) => {
                        if !p.key_type.signing_supported() {
                            return Err(TransitError::user(format!(
                                "key type {} does not support verification",
                                p.key_type.name()
                            )));
                        }
                        verify_signature(&p, i, &o, &s)
                    }
                    (None, None) => Err(TransitError::user(
                        "neither a 'signature' nor an 'hmac' were given to verify",
                    )),
                }
            })
            .collect();
        batch::respond(&items, results, &[])
    }

    pub(crate) async fn hmac(&self, c: &Ctx<'_>) -> LogicalResult {
        let alg = hash_from(c, "algorithm")?;
        if alg == HashAlg::None {
            return Err(LogicalError::bad("unsupported algorithm none"));
        }
        let p = self
            .load(c.view, c.path("name"))
            .await?
            .ok_or_else(|| LogicalError::bad("HMAC key not found"))?;
        let items = batch::items(c)?;
        let results = items.items.iter().map(|i| hmac_item(&p, i, alg)).collect();
        batch::respond(&items, results, &[])
    }
}
