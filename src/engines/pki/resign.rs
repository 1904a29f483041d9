//! Raw signing with a CA key: the signature AlgorithmIdentifier of each key
//! type, and re-signing a certificate's TBS (`root/sign-self-issued`).

use rcgen::SigningKey;

use super::der::{read_tlv, seq, tlv};
use super::keys::{KeyType, PrivateKey};
use crate::logical::LogicalError;

/// The DER AlgorithmIdentifier of the signatures `key` makes.
pub(crate) fn alg_id(key: &PrivateKey) -> &'static [u8] {
    match (key.key_type, key.bits) {
        (KeyType::Rsa, _) => &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05,
            0x00,
        ],
        (KeyType::Ec, 384) => &[
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
        ],
        (KeyType::Ec, 521) => &[
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04,
        ],
        (KeyType::Ec, _) => &[
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
        ],
        (KeyType::Ed25519, _) => &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
    }
}

/// Signs `data`: returns the signature bytes.
pub(crate) fn sign_raw(key: &PrivateKey, data: &[u8]) -> Result<Vec<u8>, LogicalError> {
    key.pair
        .sign(data)
        .map_err(|e| LogicalError::Internal(format!("signing failed: {e}")))
}

/// A BIT STRING with no unused bits.
pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8];
    body.extend_from_slice(bytes);
    tlv(0x03, &body)
}

/// `cert` with its issuer name replaced by `issuer_name_der`, its
/// signature algorithm by `key`'s, signed by `key`.
pub(crate) fn resign(
    cert: &[u8],
    issuer_name_der: &[u8],
    key: &PrivateKey,
) -> Result<Vec<u8>, LogicalError> {
    let bad = || LogicalError::bad("unable to parse the certificate");
    let (_, body, _) = read_tlv(cert).ok_or_else(bad)?;
    let (tag, tbs, _) = read_tlv(body).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut rest = tbs;
    while !rest.is_empty() {
        let (t, c, r) = read_tlv(rest).ok_or_else(bad)?;
        parts.push(tlv(t, c));
        rest = r;
    }
    // [0] version is optional; serial, signature, issuer follow.
    let base = usize::from(parts.first().is_some_and(|p| p[0] == 0xa0));
    if parts.len() < base + 6 {
        return Err(bad());
    }
    parts[base + 1] = alg_id(key).to_vec();
    parts[base + 2] = issuer_name_der.to_vec();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let new_tbs = seq(&refs);
    let sig = sign_raw(key, &new_tbs)?;
    Ok(seq(&[&new_tbs, alg_id(key), &bit_string(&sig)]))
}
