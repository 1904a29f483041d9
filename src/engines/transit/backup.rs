//! Vault's transit backup format, so a Vault backup restores here and ours
//! restores in Vault: base64 of the JSON `{"policy": <keysutil.Policy>,
//! "archived_keys": {"keys": [<KeyEntry>...]}}`, where EC and RSA key
//! material are Go `big.Int`s (bare JSON numbers of any length) and
//! `auto_rotate_period` is in nanoseconds.
//!
//! serde_json holds numbers as 64-bit values, so big integers are carried
//! as strings with a marker on the way out (and unquoted at the end), and
//! long bare numbers are quoted on the way in.

use serde_json::{json, Map, Value};

use super::keygen;
use super::policy::{go_time, KeyEntry, KeyType, OpInfo, Policy};
use super::TransitError;

const BIG: &str = "#bn#";

fn bad(msg: impl Into<String>) -> TransitError {
    TransitError::internal(msg)
}

/// Big-endian bytes → decimal digits.
pub(crate) fn to_decimal(bytes: &[u8]) -> String {
    let mut limbs: Vec<u32> = Vec::new(); // big-endian base 2^32
    let mut padded = vec![0u8; (4 - bytes.len() % 4) % 4];
    padded.extend_from_slice(bytes);
    for c in padded.chunks(4) {
        limbs.push(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let mut parts = Vec::new();
    while limbs.iter().any(|l| *l != 0) {
        let mut rem: u64 = 0;
        for l in limbs.iter_mut() {
            let cur = (rem << 32) | u64::from(*l);
            *l = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        parts.push(rem as u32);
    }
    if parts.is_empty() {
        return "0".into();
    }
    let mut s = parts.last().map(|p| p.to_string()).unwrap_or_default();
    for p in parts.iter().rev().skip(1) {
        s.push_str(&format!("{p:09}"));
    }
    s
}

/// Decimal digits → big-endian bytes (no leading zeros).
pub(crate) fn from_decimal(s: &str) -> Result<Vec<u8>, TransitError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("invalid big integer in backup"));
    }
    let mut limbs: Vec<u32> = vec![0]; // little-endian base 2^32
    for b in s.bytes() {
        let mut carry = u64::from(b - b'0');
        for l in limbs.iter_mut() {
            let cur = u64::from(*l) * 10 + carry;
            *l = cur as u32;
            carry = cur >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    let mut out: Vec<u8> = limbs.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
    let first = out.iter().position(|b| *b != 0).unwrap_or(out.len());
    out.drain(..first);
    Ok(out)
}

fn big(bytes: &[u8]) -> Value {
    Value::String(format!("{BIG}{}", to_decimal(bytes)))
}

/// Quotes bare numbers longer than 15 digits so serde_json keeps them.
fn quote_big_numbers(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 64);
    let mut chars = json.chars().peekable();
    let (mut in_str, mut escaped) = (false, false);
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c == '"' {
            in_str = true;
            out.push(c);
        } else if c.is_ascii_digit() {
            let mut num = String::from(c);
            while let Some(d) = chars.peek().copied().filter(|d| d.is_ascii_digit()) {
                num.push(d);
                chars.next();
            }
            if num.len() > 15 {
                out.push('"');
                out.push_str(&num);
                out.push('"');
            } else {
                out.push_str(&num);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn unquote_big_numbers(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    let marker = format!("\"{BIG}");
    while let Some(i) = rest.find(&marker) {
        out.push_str(&rest[..i]);
        let after = &rest[i + marker.len()..];
        let end = after.find('"').unwrap_or(after.len());
        out.push_str(&after[..end]);
        rest = &after[(end + 1).min(after.len())..];
    }
    out.push_str(rest);
    out
}

fn b64_or_null(b: &[u8]) -> Value {
    if b.is_empty() {
        Value::Null
    } else {
        json!(super::crypto::b64(b))
    }
}

fn entry_to_go(t: KeyType, e: &KeyEntry) -> Result<Value, TransitError> {
    let mut m = json!({
        "key": Value::Null, "hmac_key": b64_or_null(&e.hmac_key), "time": e.time,
        "ec_x": Value::Null, "ec_y": Value::Null, "ec_d": Value::Null,
        "rsa_key": Value::Null, "rsa_public_key": Value::Null,
        "public_key": e.public_key, "convergent_version": e.convergent_version,
        "creation_time": e.creation_time, "certificate_chain": Value::Null,
        "external_key_ref": "",
    });
    if t.is_ecdsa() {
        let (x, y) = keygen::ec_public_xy(t, &e.key)?;
        m["ec_x"] = big(&x);
        m["ec_y"] = big(&y);
        m["ec_d"] = big(&e.key);
    } else if t.is_rsa() {
        let c = super::der::rsa_components(&e.key)?;
        m["rsa_key"] = json!({
            "N": big(&c[0]), "E": i64::from_str_radix(&hex::encode(&c[1]), 16).unwrap_or(65537),
            "D": big(&c[2]), "Primes": [big(&c[3]), big(&c[4])],
            "Precomputed": {"Dp": big(&c[5]), "Dq": big(&c[6]), "Qinv": big(&c[7]), "CRTValues": []},
        });
        m["rsa_public_key"] = json!({"N": big(&c[0]), "E": i64::from_str_radix(&hex::encode(&c[1]), 16).unwrap_or(65537)});
    } else {
        m["key"] = b64_or_null(&e.key);
    }
    Ok(m)
}

/// The backup of `p` (with `backup_info` already set).
pub(crate) fn encode(p: &Policy) -> Result<String, TransitError> {
    let t = p.key_type;
    let mut live = Map::new();
    for (v, e) in p.live_versions() {
        live.insert(v.to_string(), entry_to_go(t, e)?);
    }
    let mut empty = KeyEntry::default();
    empty.time = "0001-01-01T00:00:00Z".into();
    let mut archived = Vec::new();
    for v in p.min_available_version..=p.latest_version {
        archived.push(match p.keys.get(&v) {
            Some(e) => entry_to_go(t, e)?,
            None => entry_to_go(KeyType::Aes256Gcm96, &empty)?,
        });
    }
    let mut policy = json!({
        "name": p.name, "keys": live, "derived": p.derived, "kdf": p.kdf,
        "convergent_encryption": p.convergent_encryption, "exportable": p.exportable,
        "min_decryption_version": p.min_decryption_version,
        "min_encryption_version": p.min_encryption_version,
        "latest_version": p.latest_version, "archive_version": p.latest_version,
        "archive_min_version": p.min_available_version,
        "min_available_version": p.min_available_version,
        "deletion_allowed": p.deletion_allowed, "convergent_version": p.convergent_version,
        "type": t.code(), "backup_info": p.backup_info, "restore_info": p.restore_info,
        "allow_plaintext_backup": p.allow_plaintext_backup, "version_template": "",
        "storage_prefix": "", "auto_rotate_period": p.auto_rotate_period * 1_000_000_000,
        "Imported": p.imported, "AllowImportedKeyRotation": false, "soft_deleted": false,
    });
    if p.key_size > 0 {
        policy["key_size"] = json!(p.key_size);
    }
    let doc = json!({"policy": policy, "archived_keys": {"keys": archived}});
    let text = serde_json::to_string(&doc).map_err(|e| bad(e.to_string()))?;
    Ok(super::crypto::b64(
        format!("{}\n", unquote_big_numbers(&text)).as_bytes(),
    ))
}

fn big_bytes(v: &Value) -> Result<Vec<u8>, TransitError> {
    match v {
        Value::String(s) => from_decimal(s),
        Value::Number(n) => from_decimal(&n.to_string()),
        _ => Err(bad("missing big integer in backup")),
    }
}

fn padded(mut b: Vec<u8>, len: usize) -> Vec<u8> {
    while b.len() < len {
        b.insert(0, 0);
    }
    b
}

fn b64_field(v: &Value) -> Result<Vec<u8>, TransitError> {
    match v.as_str() {
        None | Some("") => Ok(Vec::new()),
        Some(s) => super::crypto::b64_decode(s).map_err(bad),
    }
}

fn entry_from_go(t: KeyType, v: &Value) -> Result<Option<KeyEntry>, TransitError> {
    let mut e = KeyEntry::default();
    e.hmac_key = b64_field(&v["hmac_key"])?;
    e.time = v["time"].as_str().unwrap_or_default().to_string();
    e.creation_time = v["creation_time"].as_i64().unwrap_or(0);
    e.public_key = v["public_key"].as_str().unwrap_or_default().to_string();
    e.convergent_version = v["convergent_version"].as_i64().unwrap_or(0);
    if t.is_ecdsa() {
        if v["ec_d"].is_null() {
            return Ok(None);
        }
        e.key = padded(big_bytes(&v["ec_d"])?, keygen::ec_scalar_len(t));
        if e.public_key.is_empty() {
            e.public_key = keygen::ec_public_pem(t, &e.key)?;
        }
    } else if t.is_rsa() {
        let k = &v["rsa_key"];
        if k.is_null() {
            return Ok(None);
        }
        let pre = &k["Precomputed"];
        let parts = [
            big_bytes(&k["N"])?,
            big_bytes(&k["E"])?,
            big_bytes(&k["D"])?,
            big_bytes(&k["Primes"][0])?,
            big_bytes(&k["Primes"][1])?,
            big_bytes(&pre["Dp"])?,
            big_bytes(&pre["Dq"])?,
            big_bytes(&pre["Qinv"])?,
        ];
        let pkcs1 = super::der::rsa_pkcs1(&parts);
        let kp = aws_lc_rs::rsa::KeyPair::from_der(&pkcs1)
            .map_err(|_| bad("invalid RSA key in backup"))?;
        use aws_lc_rs::encoding::AsDer;
        e.key = kp
            .as_der()
            .map_err(|_| bad("invalid RSA key in backup"))?
            .as_ref()
            .to_vec();
        e.public_key = keygen::rsa_public_pem(&kp)?;
    } else {
        e.key = b64_field(&v["key"])?;
        if e.key.is_empty() {
            return Ok(None);
        }
    }
    if e.time.is_empty() {
        e.time = go_time(chrono::Utc::now());
    }
    Ok(Some(e))
}

/// A policy from a backup, named `name` (the backup's own name if empty).
pub(crate) fn decode(backup: &str, name: &str) -> Result<Policy, TransitError> {
    let raw = super::crypto::b64_decode(backup).map_err(bad)?;
    let text = String::from_utf8(raw).map_err(|e| bad(e.to_string()))?;
    let doc: Value =
        serde_json::from_str(&quote_big_numbers(&text)).map_err(|e| bad(e.to_string()))?;
    let pol = &doc["policy"];
    if !pol.is_object() {
        return Err(bad("backup does not contain a policy"));
    }
    let t = KeyType::from_code(pol["type"].as_i64().unwrap_or(-1))
        .ok_or_else(|| bad("unknown key type in backup"))?;
    let int = |k: &str| pol[k].as_i64().unwrap_or(0);
    let flag = |k: &str| pol[k].as_bool().unwrap_or(false);
    let min_available = int("min_available_version");
    let mut keys = std::collections::BTreeMap::new();
    if let Some(list) = doc["archived_keys"]["keys"].as_array() {
        for (i, v) in list.iter().enumerate() {
            let ver = i as i64 + min_available;
            if ver == 0 {
                continue;
            }
            if let Some(e) = entry_from_go(t, v)? {
                keys.insert(ver, e);
            }
        }
    }
    if let Some(live) = pol["keys"].as_object() {
        for (k, v) in live {
            let ver: i64 = k
                .parse()
                .map_err(|_| bad("invalid key version in backup"))?;
            if let Some(e) = entry_from_go(t, v)? {
                keys.insert(ver, e);
            }
        }
    }
    let info = |k: &str| -> Option<OpInfo> { serde_json::from_value(pol[k].clone()).ok() };
    let name = if name.is_empty() {
        pol["name"].as_str().unwrap_or_default().to_string()
    } else {
        name.to_string()
    };
    let p = Policy {
        name,
        key_type: t,
        keys,
        derived: flag("derived"),
        kdf: int("kdf"),
        convergent_encryption: flag("convergent_encryption"),
        convergent_version: int("convergent_version"),
        exportable: flag("exportable"),
        deletion_allowed: flag("deletion_allowed"),
        allow_plaintext_backup: flag("allow_plaintext_backup"),
        min_decryption_version: int("min_decryption_version").max(1),
        min_encryption_version: int("min_encryption_version"),
        latest_version: int("latest_version"),
        min_available_version: min_available,
        auto_rotate_period: int("auto_rotate_period") / 1_000_000_000,
        key_size: int("key_size"),
        backup_info: info("backup_info"),
        restore_info: None,
        imported: flag("Imported"),
    };
    if p.latest_version < 1 || !p.keys.contains_key(&p.latest_version) {
        return Err(bad("backup has no usable key versions"));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trip() {
        assert_eq!(to_decimal(&[0x01, 0x00]), "256");
        assert_eq!(to_decimal(&[]), "0");
        let n = hex::decode("ffeeddccbbaa99887766554433221100ffeeddcc").unwrap();
        assert_eq!(from_decimal(&to_decimal(&n)).unwrap(), n);
        assert_eq!(
            to_decimal(&hex::decode("0de0b6b3a7640000").unwrap()),
            "1000000000000000000"
        );
    }

    #[test]
    fn big_numbers_survive_json() {
        let q =
            quote_big_numbers(r#"{"a":12345678901234567890123,"b":"99999999999999999999","c":7}"#);
        assert_eq!(
            q,
            r#"{"a":"12345678901234567890123","b":"99999999999999999999","c":7}"#
        );
        assert_eq!(
            unquote_big_numbers(r##"{"x":"#bn#123","y":"z"}"##),
            r#"{"x":123,"y":"z"}"#
        );
    }

    /// OpenBao's own backup (capture 186) restores, with its key.
    #[test]
    fn restores_an_openbao_backup() {
        let b = "eyJwb2xpY3kiOnsibmFtZSI6ImJrIiwia2V5cyI6eyIxIjp7ImtleSI6IkE2NUphdFFiVXJzK0ZFcWhjbjZMaDVZRVZTTXI1QnVJQzBWRmRVdXhkd2s9IiwiaG1hY19rZXkiOiIzUEQxL2hiQStaWkpNM08rZlAwb0JKUmJNMEIwbWUrUWJvQ1EyT0VUejhVPSIsInRpbWUiOiIyMDI2LTEyLTAxVDEyOjQ5OjIwLjQyNDU2MzAwM1oiLCJlY194IjpudWxsLCJlY195IjpudWxsLCJlY19kIjpudWxsLCJyc2Ffa2V5IjpudWxsLCJyc2FfcHVibGljX2tleSI6bnVsbCwicHVibGljX2tleSI6IiIsImNvbnZlcmdlbnRfdmVyc2lvbiI6MCwiY3JlYXRpb25fdGltZSI6MTc5NjEyOTM2MCwiY2VydGlmaWNhdGVfY2hhaW4iOm51bGwsImV4dGVybmFsX2tleV9yZWYiOiIifX0sImRlcml2ZWQiOmZhbHNlLCJrZGYiOjAsImNvbnZlcmdlbnRfZW5jcnlwdGlvbiI6ZmFsc2UsImV4cG9ydGFibGUiOnRydWUsIm1pbl9kZWNyeXB0aW9uX3ZlcnNpb24iOjEsIm1pbl9lbmNyeXB0aW9uX3ZlcnNpb24iOjAsImxhdGVzdF92ZXJzaW9uIjoxLCJhcmNoaXZlX3ZlcnNpb24iOjEsImFyY2hpdmVfbWluX3ZlcnNpb24iOjAsIm1pbl9hdmFpbGFibGVfdmVyc2lvbiI6MCwiZGVsZXRpb25fYWxsb3dlZCI6ZmFsc2UsImNvbnZlcmdlbnRfdmVyc2lvbiI6MCwidHlwZSI6MCwiYmFja3VwX2luZm8iOnsidGltZSI6IjIwMjYtMTItMDFUMTI6NDk6MjAuNjU1MTg2Nzc4WiIsInZlcnNpb24iOjF9LCJyZXN0b3JlX2luZm8iOm51bGwsImFsbG93X3BsYWludGV4dF9iYWNrdXAiOnRydWUsInZlcnNpb25fdGVtcGxhdGUiOiIiLCJzdG9yYWdlX3ByZWZpeCI6IiIsImF1dG9fcm90YXRlX3BlcmlvZCI6MCwiSW1wb3J0ZWQiOmZhbHNlLCJBbGxvd0ltcG9ydGVkS2V5Um90YXRpb24iOmZhbHNlLCJzb2Z0X2RlbGV0ZWQiOmZhbHNlfSwiYXJjaGl2ZWRfa2V5cyI6eyJrZXlzIjpbeyJrZXkiOm51bGwsImhtYWNfa2V5IjpudWxsLCJ0aW1lIjoiMDAwMS0wMS0wMVQwMDowMDowMFoiLCJlY194IjpudWxsLCJlY195IjpudWxsLCJlY19kIjpudWxsLCJyc2Ffa2V5IjpudWxsLCJyc2FfcHVibGljX2tleSI6bnVsbCwicHVibGljX2tleSI6IiIsImNvbnZlcmdlbnRfdmVyc2lvbiI6MCwiY3JlYXRpb25fdGltZSI6MCwiY2VydGlmaWNhdGVfY2hhaW4iOm51bGwsImV4dGVybmFsX2tleV9yZWYiOiIifSx7ImtleSI6IkE2NUphdFFiVXJzK0ZFcWhjbjZMaDVZRVZTTXI1QnVJQzBWRmRVdXhkd2s9IiwiaG1hY19rZXkiOiIzUEQxL2hiQStaWkpNM08rZlAwb0JKUmJNMEIwbWUrUWJvQ1EyT0VUejhVPSIsInRpbWUiOiIyMDI2LTEyLTAxVDEyOjQ5OjIwLjQyNDU2MzAwM1oiLCJlY194IjpudWxsLCJlY195IjpudWxsLCJlY19kIjpudWxsLCJyc2Ffa2V5IjpudWxsLCJyc2FfcHVibGljX2tleSI6bnVsbCwicHVibGljX2tleSI6IiIsImNvbnZlcmdlbnRfdmVyc2lvbiI6MCwiY3JlYXRpb25fdGltZSI6MTc5NjEyOTM2MCwiY2VydGlmaWNhdGVfY2hhaW4iOm51bGwsImV4dGVybmFsX2tleV9yZWYiOiIifV19fQo=";
        let p = decode(b, "bk-restored").unwrap();
        assert_eq!(p.name, "bk-restored");
        assert_eq!(p.latest_version, 1);
        assert_eq!(
            super::super::crypto::b64(&p.keys[&1].key),
            "A65JatQbUrs+FEqhcn6Lh5YEVSMr5BuIC0VFdUuxdwk="
        );
        assert_eq!(p.backup_info.as_ref().unwrap().version, 1);
        // And our backup of it restores again, identically.
        let again = decode(&encode(&p).unwrap(), "").unwrap();
        assert_eq!(again.keys[&1].key, p.keys[&1].key);
        assert_eq!(again.keys[&1].hmac_key, p.keys[&1].hmac_key);
    }

    #[test]
    fn asymmetric_keys_round_trip_through_the_go_format() {
        for t in [
            KeyType::EcdsaP256,
            KeyType::EcdsaP521,
            KeyType::Rsa2048,
            KeyType::Ed25519,
        ] {
            let mut p = Policy::new(
                "k",
                &super::super::policy::NewKey {
                    key_type: t,
                    derived: false,
                    convergent: false,
                    exportable: true,
                    allow_plaintext_backup: true,
                    auto_rotate_period: 0,
                    key_size: 0,
                },
            )
            .unwrap();
            p.rotate().unwrap();
            let text =
                String::from_utf8(super::super::crypto::b64_decode(&encode(&p).unwrap()).unwrap())
                    .unwrap();
            if t.is_rsa() {
                assert!(text.contains(r#""rsa_key":{"#), "Go's big.Int layout");
                assert!(!text.contains(BIG));
            }
            let back = decode(&encode(&p).unwrap(), "").unwrap();
            assert_eq!(back.latest_version, 2);
            assert_eq!(back.keys[&2].public_key, p.keys[&2].public_key, "{t:?}");
        }
    }
}
