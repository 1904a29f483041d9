//! Key material: generation (RSA through aws-lc-rs, EC P-256/384/521,
//! Ed25519), the stored form (PKCS#8, zeroized on drop), the PEM shapes
//! Vault hands out (`RSA PRIVATE KEY`, `EC PRIVATE KEY`, `PRIVATE KEY`),
//! and the type/size rules roles and CA generation apply.

use aws_lc_rs::encoding::AsDer;
use rcgen::{KeyPair, SignatureAlgorithm};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::logical::LogicalError as PkiError;

/// A key type as Vault names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KeyType {
    Rsa,
    Ec,
    Ed25519,
}

impl KeyType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ec => "ec",
            KeyType::Ed25519 => "ed25519",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "rsa" => Some(KeyType::Rsa),
            "ec" => Some(KeyType::Ec),
            "ed25519" => Some(KeyType::Ed25519),
            _ => None,
        }
    }

    /// Vault's default size for a type when `key_bits` is 0.
    pub(crate) fn default_bits(self) -> u32 {
        match self {
            KeyType::Rsa => 2048,
            KeyType::Ec => 256,
            KeyType::Ed25519 => 0,
        }
    }
}

/// Checks (and defaults) `key_bits` for `key_type` the way Vault's
/// `certutil.ValidateKeyTypeLength` does; `any` accepts only 0.
pub(crate) fn validate_type_bits(key_type: &str, bits: u32) -> Result<u32, PkiError> {
    match key_type {
        "any" => Ok(0),
        "rsa" => {
            let bits = if bits == 0 { 2048 } else { bits };
            match bits {
                2048 | 3072 | 4096 | 8192 => Ok(bits),
                _ => Err(PkiError::bad(format!(
                    "unsupported bit length for RSA key: {bits}"
                ))),
            }
        }
        "ec" => {
            let bits = if bits == 0 { 256 } else { bits };
            match bits {
                224 | 256 | 384 | 521 => Ok(bits),
                _ => Err(PkiError::bad(format!(
                    "unsupported bit length for EC key: {bits}"
                ))),
            }
        }
        "ed25519" => Ok(0),
        other => Err(PkiError::bad(format!("unknown key type {other}"))),
    }
}

/// A private key as stored (PKCS#8 DER) and its parsed signer.
pub(crate) struct PrivateKey {
    pub(crate) key_type: KeyType,
    pub(crate) bits: u32,
    pkcs8: Zeroizing<Vec<u8>>,
    pub(crate) pair: KeyPair,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type)
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

/// The signature algorithm a CA key of this type signs with (Vault's
/// defaults: SHA-256 for RSA, the curve's hash for ECDSA).
pub(crate) fn signature_alg(key_type: KeyType, bits: u32) -> &'static SignatureAlgorithm {
    match (key_type, bits) {
        (KeyType::Rsa, _) => &rcgen::PKCS_RSA_SHA256,
        (KeyType::Ec, 384) => &rcgen::PKCS_ECDSA_P384_SHA384,
        (KeyType::Ec, 521) => &rcgen::PKCS_ECDSA_P521_SHA512,
        (KeyType::Ec, _) => &rcgen::PKCS_ECDSA_P256_SHA256,
        (KeyType::Ed25519, _) => &rcgen::PKCS_ED25519,
    }
}

fn internal(e: impl std::fmt::Display) -> PkiError {
    PkiError::Internal(format!("key error: {e}"))
}

impl PrivateKey {
    /// A fresh key. RSA sizes other than 2048/3072/4096 and the P-224
    /// curve are not offered by the crypto backend and are refused.
    pub(crate) fn generate(key_type: KeyType, bits: u32) -> Result<Self, PkiError> {
        let pair = match key_type {
            KeyType::Rsa => {
                let size = match bits {
                    2048 => rcgen::RsaKeySize::_2048,
                    3072 => rcgen::RsaKeySize::_3072,
                    4096 => rcgen::RsaKeySize::_4096,
                    other => {
                        return Err(PkiError::bad(format!(
                            "unsupported bit length for RSA key: {other}"
                        )))
                    }
                };
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size).map_err(internal)?
            }
            KeyType::Ec if bits == 224 => {
                return Err(PkiError::bad("unsupported bit length for EC key: 224"))
            }
            _ => KeyPair::generate_for(signature_alg(key_type, bits)).map_err(internal)?,
        };
        let pkcs8 = Zeroizing::new(pair.serialize_der());
        Ok(Self {
            key_type,
            bits,
            pkcs8,
            pair,
        })
    }

    /// Loads a stored PKCS#8 key of a known type.
    pub(crate) fn from_pkcs8(key_type: KeyType, bits: u32, der: &[u8]) -> Result<Self, PkiError> {
        let pkcs8 = Zeroizing::new(der.to_vec());
        let key_der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_slice());
        let pair = KeyPair::from_pkcs8_der_and_sign_algo(&key_der, signature_alg(key_type, bits))
            .map_err(internal)?;
        Ok(Self {
            key_type,
            bits,
            pkcs8,
            pair,
        })
    }

    /// Parses an imported PEM key (PKCS#8, PKCS#1 or SEC1), finding its type.
    pub(crate) fn from_pem(pem_text: &str) -> Result<Self, PkiError> {
        let bad = || PkiError::bad("unable to parse the private key");
        let any = KeyPair::from_pem(pem_text).map_err(|_| bad())?;
        let der = Zeroizing::new(any.serialize_der());
        let parsed = x509_parser::prelude::FromDer::from_der(
            rcgen::PublicKeyData::subject_public_key_info(&any).as_slice(),
        )
        .map(|(_, spki): (_, x509_parser::x509::SubjectPublicKeyInfo<'_>)| key_info(&spki))
        .map_err(|_| bad())?;
        let (key_type, bits) = parsed.ok_or_else(bad)?;
        // Normalized to PKCS#8 so it reloads like a generated key.
        let pkcs8 = match key_type {
            KeyType::Rsa => {
                let kp = aws_lc_rs::rsa::KeyPair::from_der(&der)
                    .or_else(|_| aws_lc_rs::rsa::KeyPair::from_pkcs8(&der))
                    .map_err(|_| bad())?;
                Zeroizing::new(kp.as_der().map_err(|_| bad())?.as_ref().to_vec())
            }
            _ => der.clone(),
        };
        Self::from_pkcs8(key_type, bits, &pkcs8)
            .or_else(|_| Self::from_ec_sec1(key_type, bits, &der))
    }

    fn from_ec_sec1(key_type: KeyType, bits: u32, der: &[u8]) -> Result<Self, PkiError> {
        let alg = match bits {
            384 => &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            521 => &aws_lc_rs::signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            _ => &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        };
        let kp = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_der(alg, der)
            .map_err(|_| PkiError::bad("unable to parse the private key"))?;
        let pkcs8 = kp.to_pkcs8v1().map_err(internal)?;
        Self::from_pkcs8(key_type, bits, pkcs8.as_ref())
    }

    /// The DER SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        rcgen::PublicKeyData::subject_public_key_info(&self.pair)
    }

    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The PEM Vault returns: PKCS#1 for RSA, SEC1 for EC, PKCS#8 for
    /// Ed25519, or PKCS#8 for any with `private_key_format=pkcs8`; `der`
    /// gives base64 DER of the same default encodings.
    pub(crate) fn export(&self, format: &str) -> Result<String, PkiError> {
        if format == "pkcs8" {
            return Ok(pem_encode("PRIVATE KEY", &self.pkcs8));
        }
        let (label, der) = match self.key_type {
            KeyType::Rsa => ("RSA PRIVATE KEY", Zeroizing::new(pkcs8_inner(&self.pkcs8)?)),
            KeyType::Ec => {
                let alg = match self.bits {
                    384 => &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                    521 => &aws_lc_rs::signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                    _ => &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                };
                let kp = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(alg, &self.pkcs8)
                    .map_err(internal)?;
                let sec1 = kp.private_key().as_der().map_err(internal)?;
                ("EC PRIVATE KEY", Zeroizing::new(sec1.as_ref().to_vec()))
            }
            KeyType::Ed25519 => ("PRIVATE KEY", Zeroizing::new(self.pkcs8.to_vec())),
        };
        if format == "der" {
            use base64::Engine;
            return Ok(base64::engine::general_purpose::STANDARD.encode(der.as_slice()));
        }
        Ok(pem_encode(label, &der))
    }
}

/// PEM with 64-column lines and no trailing newline (Vault's JSON fields).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let p = pem_block(label, der);
    p.trim_end().to_string()
}

fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (for RSA,
/// exactly the PKCS#1 `RSAPrivateKey`).
fn pkcs8_inner(pkcs8: &[u8]) -> Result<Vec<u8>, PkiError> {
    let bad = || PkiError::Internal("malformed PKCS#8 key".into());
    let (tag, body, _) = super::der::read_tlv(pkcs8).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (_, _, rest) = super::der::read_tlv(body).ok_or_else(bad)?; // version
    let (_, _, rest) = super::der::read_tlv(rest).ok_or_else(bad)?; // algorithm
    let (tag, key, _) = super::der::read_tlv(rest).ok_or_else(bad)?;
    if tag != 0x04 {
        return Err(bad());
    }
    Ok(key.to_vec())
}

/// The Vault key type and size of a public key (`None`: unsupported).
pub(crate) fn key_info(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Option<(KeyType, u32)> {
    use x509_parser::public_key::PublicKey as P;
    match spki.parsed().ok()? {
        P::RSA(rsa) => Some((KeyType::Rsa, rsa.key_size() as u32)),
        P::EC(ec) => {
            let bits = match ec.key_size() {
                // key_size() counts the uncompressed point's coordinate bits.
                n if n <= 256 => curve_bits(spki).unwrap_or(256),
                _ => curve_bits(spki).unwrap_or(ec.key_size() as u32),
            };
            Some((KeyType::Ec, bits))
        }
        _ if spki.algorithm.algorithm == x509_parser::oid_registry::OID_SIG_ED25519 => {
            Some((KeyType::Ed25519, 0))
        }
        _ => None,
    }
}

fn curve_bits(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Option<u32> {
    use x509_parser::oid_registry as o;
    let curve = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
    if curve == o::OID_EC_P256 {
        Some(256)
    } else if curve == o::OID_NIST_EC_P384 {
        Some(384)
    } else if curve == o::OID_NIST_EC_P521 {
        Some(521)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_sizes() {
        assert_eq!(validate_type_bits("rsa", 0).unwrap(), 2048);
        assert_eq!(validate_type_bits("ec", 0).unwrap(), 256);
        assert_eq!(validate_type_bits("any", 0).unwrap(), 0);
        assert!(validate_type_bits("rsa", 1024).is_err());
        assert!(validate_type_bits("ec", 255).is_err());
        assert!(validate_type_bits("dsa", 0).is_err());
    }

    #[test]
    fn ec_key_exports_sec1_and_reloads() {
        let k = PrivateKey::generate(KeyType::Ec, 256).unwrap();
        let pem = k.export("").unwrap();
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        assert!(k
            .export("pkcs8")
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = PrivateKey::from_pem(&pem).unwrap();
        assert_eq!(again.key_type, KeyType::Ec);
        assert_eq!(again.bits, 256);
        let reloaded = PrivateKey::from_pkcs8(KeyType::Ec, 256, k.pkcs8()).unwrap();
        assert_eq!(reloaded.pair.public_key_raw(), k.pair.public_key_raw());
    }

    #[test]
    fn rsa_and_ed25519_keys() {
        let k = PrivateKey::generate(KeyType::Rsa, 2048).unwrap();
        let pem = k.export("").unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let again = PrivateKey::from_pem(&pem).unwrap();
        assert_eq!((again.key_type, again.bits), (KeyType::Rsa, 2048));
        let e = PrivateKey::generate(KeyType::Ed25519, 0).unwrap();
        assert!(e
            .export("")
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(
            PrivateKey::from_pem(&e.export("").unwrap())
                .unwrap()
                .key_type,
            KeyType::Ed25519
        );
    }
}
