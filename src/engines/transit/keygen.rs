//! Key generation per type, and the PEM/DER forms Vault shows and exports.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use rand::RngCore;
use zeroize::Zeroizing;

use super::policy::{KeyEntry, KeyType, HMAC_MAX_KEY_SIZE, HMAC_MIN_KEY_SIZE};
use super::TransitError;

pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut out);
    out
}

/// A fresh key version of `key_type` (times are filled in by the caller).
pub(crate) fn generate(key_type: KeyType, key_size: i64) -> Result<KeyEntry, TransitError> {
    let mut e = KeyEntry::default();
    e.hmac_key = random_bytes(32);
    match key_type {
        KeyType::Hmac => {
            if !(HMAC_MIN_KEY_SIZE..=HMAC_MAX_KEY_SIZE).contains(&key_size) {
                return Err(TransitError::user(format!(
                    "invalid key size for HMAC key, must be between {HMAC_MIN_KEY_SIZE} and {HMAC_MAX_KEY_SIZE} bytes"
                )));
            }
            e.key = random_bytes(key_size as usize);
            e.hmac_key = e.key.clone();
        }
        t if t.is_symmetric() => e.key = random_bytes(t.key_len()),
        KeyType::Ed25519 => {
            let sk = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            e.key = sk.to_keypair_bytes().to_vec();
            e.public_key =
                base64::engine::general_purpose::STANDARD.encode(sk.verifying_key().as_bytes());
        }
        KeyType::EcdsaP256 => {
            let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
            e.key = sk.to_bytes().to_vec();
            e.public_key = ec_public_pem(key_type, &e.key)?;
        }
        KeyType::EcdsaP384 => {
            let sk = p384::SecretKey::random(&mut rand::rngs::OsRng);
            e.key = sk.to_bytes().to_vec();
            e.public_key = ec_public_pem(key_type, &e.key)?;
        }
        KeyType::EcdsaP521 => {
            let sk = p521::SecretKey::random(&mut rand::rngs::OsRng);
            e.key = sk.to_bytes().to_vec();
            e.public_key = ec_public_pem(key_type, &e.key)?;
        }
        t => {
            let size = match t {
                KeyType::Rsa2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                KeyType::Rsa3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                _ => aws_lc_rs::rsa::KeySize::Rsa4096,
            };
            let kp = aws_lc_rs::rsa::KeyPair::generate(size)
                .map_err(|_| TransitError::internal("RSA key generation failed"))?;
            let der = kp
                .as_der()
                .map_err(|_| TransitError::internal("RSA key encoding failed"))?;
            e.key = der.as_ref().to_vec();
            e.public_key = rsa_public_pem(&kp)?;
        }
    }
    Ok(e)
}

fn internal<E>(_: E) -> TransitError {
    TransitError::internal("key encoding failed")
}

/// PEM of a PKIX public key, wrapped at 64 columns as Go does.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

pub(crate) fn rsa_public_pem(kp: &aws_lc_rs::rsa::KeyPair) -> Result<String, TransitError> {
    let der = kp.public_key().as_der().map_err(internal)?;
    Ok(pem("PUBLIC KEY", der.as_ref()))
}

pub(crate) fn rsa_keypair(entry: &KeyEntry) -> Result<aws_lc_rs::rsa::KeyPair, TransitError> {
    aws_lc_rs::rsa::KeyPair::from_pkcs8(&entry.key)
        .map_err(|_| TransitError::internal("stored RSA key is invalid"))
}

pub(crate) fn ec_public_pem(t: KeyType, d: &[u8]) -> Result<String, TransitError> {
    let doc = match t {
        KeyType::EcdsaP256 => p256::SecretKey::from_slice(d)
            .map_err(internal)?
            .public_key()
            .to_public_key_pem(LineEnding::LF),
        KeyType::EcdsaP384 => p384::SecretKey::from_slice(d)
            .map_err(internal)?
            .public_key()
            .to_public_key_pem(LineEnding::LF),
        _ => p521::SecretKey::from_slice(d)
            .map_err(internal)?
            .public_key()
            .to_public_key_pem(LineEnding::LF),
    };
    doc.map_err(internal)
}

/// SEC 1 `EC PRIVATE KEY` PEM (Go's `x509.MarshalECPrivateKey`).
pub(crate) fn ec_private_pem(t: KeyType, d: &[u8]) -> Result<Zeroizing<String>, TransitError> {
    let pem = match t {
        KeyType::EcdsaP256 => p256::SecretKey::from_slice(d)
            .map_err(internal)?
            .to_sec1_pem(LineEnding::LF),
        KeyType::EcdsaP384 => p384::SecretKey::from_slice(d)
            .map_err(internal)?
            .to_sec1_pem(LineEnding::LF),
        _ => p521::SecretKey::from_slice(d)
            .map_err(internal)?
            .to_sec1_pem(LineEnding::LF),
    };
    pem.map_err(internal)
}

/// The affine coordinates of an EC key's public point (for backups).
pub(crate) fn ec_public_xy(t: KeyType, d: &[u8]) -> Result<(Vec<u8>, Vec<u8>), TransitError> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let point = match t {
        KeyType::EcdsaP256 => p256::SecretKey::from_slice(d)
            .map_err(internal)?
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
        KeyType::EcdsaP384 => p384::SecretKey::from_slice(d)
            .map_err(internal)?
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
        _ => p521::SecretKey::from_slice(d)
            .map_err(internal)?
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
    };
    // 0x04 || X || Y
    let n = (point.len() - 1) / 2;
    Ok((point[1..1 + n].to_vec(), point[1 + n..].to_vec()))
}

/// The scalar length of a curve in bytes.
pub(crate) fn ec_scalar_len(t: KeyType) -> usize {
    match t {
        KeyType::EcdsaP256 => 32,
        KeyType::EcdsaP384 => 48,
        _ => 66,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_generates() {
        for t in [
            KeyType::Aes128Gcm96,
            KeyType::Aes256Gcm96,
            KeyType::ChaCha20Poly1305,
            KeyType::Ed25519,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::EcdsaP521,
            KeyType::Rsa2048,
        ] {
            let e = generate(t, 0).unwrap();
            assert!(!e.key.is_empty(), "{t:?}");
            assert_eq!(e.hmac_key.len(), 32);
        }
        assert_eq!(generate(KeyType::Aes128Gcm96, 0).unwrap().key.len(), 16);
        assert!(generate(KeyType::Hmac, 16).is_err());
        let h = generate(KeyType::Hmac, 64).unwrap();
        assert_eq!(h.key, h.hmac_key);
        let ec = generate(KeyType::EcdsaP256, 0).unwrap();
        assert!(ec.public_key.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let (x, y) = ec_public_xy(KeyType::EcdsaP256, &ec.key).unwrap();
        assert_eq!((x.len(), y.len()), (32, 32));
    }
}
