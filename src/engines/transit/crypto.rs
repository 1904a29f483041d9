//! Symmetric encryption, key derivation, HMAC and hashing, byte-compatible
//! with Vault's `keysutil`: ciphertexts are `vault:v<N>:` followed by
//! base64(nonce ‖ ciphertext ‖ tag); derived keys come from HKDF-SHA256 over
//! the version's key with the context as info; convergent encryption
//! (version 3) takes the nonce from an HMAC of the plaintext under the
//! second half of a derived key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::policy::{KeyType, Policy, CURRENT_CONVERGENT_VERSION, KDF_HKDF_SHA256};
use super::TransitError;

pub(crate) const PREFIX: &str = "vault:v";

/// Go's `base64.StdEncoding.DecodeString`, with Go's error text.
pub(crate) fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    const ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    );
    let cleaned: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    ENGINE.decode(cleaned.as_bytes()).map_err(|_| {
        let pos = cleaned
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='))
            .or_else(|| cleaned.find('=').filter(|i| *i < cleaned.len() - 2))
            .unwrap_or(cleaned.len() - cleaned.len() % 4);
        format!("illegal base64 data at input byte {pos}")
    })
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Splits `vault:v<N>:<body>` into the version and the body.
pub(crate) fn parse_versioned(value: &str, what: &str) -> Result<(i64, String), TransitError> {
    let rest = value
        .strip_prefix(PREFIX)
        .ok_or_else(|| TransitError::user(format!("invalid {what}: no prefix")))?;
    let (ver, body) = rest
        .split_once(':')
        .ok_or_else(|| TransitError::user(format!("invalid {what}: wrong number of fields")))?;
    let ver: i64 = ver.parse().map_err(|_| {
        TransitError::user(format!(
            "invalid {what}: version number could not be decoded"
        ))
    })?;
    Ok((ver, body.to_string()))
}

/// The key of `version`, derived from `context` for derived keys (Vault's
/// `GetKey`/`DeriveKey`).
pub(crate) fn get_key(
    p: &Policy,
    context: &[u8],
    version: i64,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, TransitError> {
    let entry = p.entry(version)?;
    if !p.derived {
        return Ok(Zeroizing::new(entry.key.clone()));
    }
    if !p.key_type.derivation_supported() {
        return Err(TransitError::user(format!(
            "derivation not supported for key type {}",
            p.key_type.name()
        )));
    }
    if context.is_empty() {
        return Err(TransitError::user("missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key"));
    }
    if p.kdf == KDF_HKDF_SHA256 {
        let hk = hkdf::Hkdf::<Sha256>::new(None, &entry.key);
        let mut out = Zeroizing::new(vec![0u8; len]);
        hk.expand(context, &mut out)
            .map_err(|_| TransitError::internal("unable to derive key"))?;
        if p.key_type == KeyType::Ed25519 {
            // Go feeds the derived bytes to ed25519.GenerateKey as its seed.
            let seed: [u8; 32] = out[..32]
                .try_into()
                .map_err(|_| TransitError::internal("unable to derive key"))?;
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            return Ok(Zeroizing::new(sk.to_keypair_bytes().to_vec()));
        }
        Ok(out)
    } else {
        Ok(counter_kdf(&entry.key, context))
    }
}

/// Vault's legacy NIST SP 800-108 counter-mode KDF (HMAC-SHA256, 256 bits).
fn counter_kdf(key: &[u8], context: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut input = Vec::with_capacity(context.len() + 8);
    input.extend_from_slice(&1u32.to_be_bytes());
    input.extend_from_slice(context);
    input.extend_from_slice(&256u32.to_be_bytes());
    Zeroizing::new(hmac_sha256(key, &input))
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

enum Cipher {
    Aes128(Box<aes_gcm::Aes128Gcm>),
    Aes256(Box<aes_gcm::Aes256Gcm>),
    ChaCha(Box<chacha20poly1305::ChaCha20Poly1305>),
}

const NONCE_LEN: usize = 12;

impl Cipher {
    fn new(t: KeyType, key: &[u8]) -> Result<Self, TransitError> {
        let bad = |_| TransitError::internal("could not derive enc key, length not correct");
        Ok(match t {
            KeyType::Aes128Gcm96 => Cipher::Aes128(Box::new(
                aes_gcm::Aes128Gcm::new_from_slice(key).map_err(bad)?,
            )),
            KeyType::Aes256Gcm96 => Cipher::Aes256(Box::new(
                aes_gcm::Aes256Gcm::new_from_slice(key).map_err(bad)?,
            )),
            _ => Cipher::ChaCha(Box::new(
                chacha20poly1305::ChaCha20Poly1305::new_from_slice(key).map_err(bad)?,
            )),
        })
    }

    fn seal(&self, nonce: &[u8], msg: &[u8], aad: &[u8]) -> Result<Vec<u8>, TransitError> {
        let payload = Payload { msg, aad };
        let r = match self {
            Cipher::Aes128(c) => c.encrypt(nonce.into(), payload),
            Cipher::Aes256(c) => c.encrypt(nonce.into(), payload),
            Cipher::ChaCha(c) => c.encrypt(nonce.into(), payload),
        };
        r.map_err(|_| TransitError::internal("encryption failed"))
    }

    fn open(&self, nonce: &[u8], msg: &[u8], aad: &[u8]) -> Result<Vec<u8>, TransitError> {
        let payload = Payload { msg, aad };
        let r = match self {
            Cipher::Aes128(c) => c.decrypt(nonce.into(), payload),
            Cipher::Aes256(c) => c.decrypt(nonce.into(), payload),
            Cipher::ChaCha(c) => c.decrypt(nonce.into(), payload),
        };
        r.map_err(|_| TransitError::user("cipher: message authentication failed"))
    }
}

/// Encrypts with `version` (already resolved and checked), returning the
/// raw nonce ‖ ciphertext ‖ tag.
pub(crate) fn encrypt_symmetric(
    p: &Policy,
    version: i64,
    context: &[u8],
    nonce: &[u8],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, TransitError> {
    let enc_len = p.key_type.key_len();
    let convergent = p.convergent_version_of(version);
    let hmac_len = if convergent > 2 { 32 } else { 0 };
    if !nonce.is_empty() && (convergent > 2 || !p.convergent_encryption || convergent != 1) {
        return Err(TransitError::user("nonce provided when not allowed"));
    }
    let key = get_key(p, context, version, enc_len + hmac_len)?;
    if key.len() < enc_len + hmac_len {
        return Err(TransitError::internal(
            "could not derive key, length too small",
        ));
    }
    let cipher = Cipher::new(p.key_type, &key[..enc_len])?;
    let nonce: Vec<u8> = if p.convergent_encryption {
        if convergent > 0 && convergent < CURRENT_CONVERGENT_VERSION {
            return Err(TransitError::user(format!(
                "refusing to support decryption with old convergent encryption key: version {convergent}"
            )));
        }
        hmac_sha256(&key[enc_len..], plaintext)[..NONCE_LEN].to_vec()
    } else {
        super::keygen::random_bytes(NONCE_LEN)
    };
    let mut out = nonce.clone();
    out.extend(cipher.seal(&nonce, plaintext, aad)?);
    Ok(out)
}

pub(crate) fn decrypt_symmetric(
    p: &Policy,
    version: i64,
    context: &[u8],
    data: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, TransitError> {
    let convergent = p.convergent_version_of(version);
    if p.convergent_encryption && convergent > 0 && convergent < CURRENT_CONVERGENT_VERSION {
        return Err(TransitError::user(format!(
            "refusing to support decryption with old convergent encryption key: version {convergent}"
        )));
    }
    let enc_len = p.key_type.key_len();
    let key = get_key(p, context, version, enc_len)?;
    let cipher = Cipher::new(p.key_type, &key[..enc_len.min(key.len())])?;
    if data.len() < NONCE_LEN {
        return Err(TransitError::user("invalid ciphertext length"));
    }
    let (nonce, body) = data.split_at(NONCE_LEN);
    cipher.open(nonce, body, aad)
}

/// Hash algorithms Vault accepts (`hash_algorithm`, `algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Sha1,
    Sha2_224,
    Sha2_256,
    Sha2_384,
    Sha2_512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    None,
}

impl HashAlg {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sha1" => HashAlg::Sha1,
            "sha2-224" => HashAlg::Sha2_224,
            "sha2-256" => HashAlg::Sha2_256,
            "sha2-384" => HashAlg::Sha2_384,
            "sha2-512" => HashAlg::Sha2_512,
            "sha3-224" => HashAlg::Sha3_224,
            "sha3-256" => HashAlg::Sha3_256,
            "sha3-384" => HashAlg::Sha3_384,
            "sha3-512" => HashAlg::Sha3_512,
            "none" => HashAlg::None,
            _ => return None,
        })
    }

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            HashAlg::Sha2_224 => sha2::Sha224::digest(data).to_vec(),
            HashAlg::Sha2_256 => Sha256::digest(data).to_vec(),
            HashAlg::Sha2_384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha2_512 => sha2::Sha512::digest(data).to_vec(),
            HashAlg::Sha3_224 => sha3::Sha3_224::digest(data).to_vec(),
            HashAlg::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
            HashAlg::Sha3_384 => sha3::Sha3_384::digest(data).to_vec(),
            HashAlg::Sha3_512 => sha3::Sha3_512::digest(data).to_vec(),
            HashAlg::None => data.to_vec(),
        }
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, TransitError> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            let mut m = <M as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Ok(match self {
            HashAlg::Sha1 => run::<Hmac<sha1::Sha1>>(key, data),
            HashAlg::Sha2_224 => run::<Hmac<sha2::Sha224>>(key, data),
            HashAlg::Sha2_256 => run::<Hmac<Sha256>>(key, data),
            HashAlg::Sha2_384 => run::<Hmac<sha2::Sha384>>(key, data),
            HashAlg::Sha2_512 => run::<Hmac<sha2::Sha512>>(key, data),
            HashAlg::Sha3_224 => run::<Hmac<sha3::Sha3_224>>(key, data),
            HashAlg::Sha3_256 => run::<Hmac<sha3::Sha3_256>>(key, data),
            HashAlg::Sha3_384 => run::<Hmac<sha3::Sha3_384>>(key, data),
            HashAlg::Sha3_512 => run::<Hmac<sha3::Sha3_512>>(key, data),
            HashAlg::None => return Err(TransitError::user("unsupported algorithm none")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::transit::policy::NewKey;

    fn key(t: KeyType, derived: bool, convergent: bool) -> Policy {
        Policy::new(
            "k",
            &NewKey {
                key_type: t,
                derived,
                convergent,
                exportable: false,
                allow_plaintext_backup: false,
                auto_rotate_period: 0,
                key_size: 0,
            },
        )
        .unwrap()
    }

    #[test]
    fn go_base64_errors() {
        assert_eq!(
            b64_decode("hello world").unwrap_err(),
            "illegal base64 data at input byte 5"
        );
        assert_eq!(
            b64_decode("%%not-base64%%").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(b64_decode("aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
    }

    #[test]
    fn round_trips_per_symmetric_type() {
        for t in [
            KeyType::Aes128Gcm96,
            KeyType::Aes256Gcm96,
            KeyType::ChaCha20Poly1305,
        ] {
            let p = key(t, false, false);
            let ct = encrypt_symmetric(&p, 1, b"", b"", b"hi", b"aad").unwrap();
            assert_eq!(ct.len(), 12 + 2 + 16, "nonce || ct || tag");
            assert_eq!(decrypt_symmetric(&p, 1, b"", &ct, b"aad").unwrap(), b"hi");
            assert!(decrypt_symmetric(&p, 1, b"", &ct, b"other").is_err());
        }
    }

    /// A known answer: AES-256-GCM under a fixed key, checked against the
    /// layout nonce ‖ ciphertext ‖ tag (NIST GCM test case 13: zero key,
    /// zero nonce, empty plaintext).
    #[test]
    fn aes_gcm_known_answer() {
        let mut p = key(KeyType::Aes256Gcm96, false, false);
        p.keys.get_mut(&1).unwrap().key = vec![0u8; 32];
        let mut ct = vec![0u8; 12];
        ct.extend(hex::decode("530f8afbc74536b9a963b4f1c4cb738b").unwrap());
        assert_eq!(decrypt_symmetric(&p, 1, b"", &ct, b"").unwrap(), b"");
    }

    /// HKDF-SHA256 with no salt and the context as info (RFC 5869 case 3
    /// has an empty salt and info; here the info is the context).
    #[test]
    fn derived_keys_use_hkdf_over_the_context() {
        let mut p = key(KeyType::Aes256Gcm96, true, false);
        p.keys.get_mut(&1).unwrap().key = vec![0x0b; 22];
        let k = get_key(&p, b"", 1, 32);
        assert!(k.is_err(), "context required");
        let k = get_key(&p, b"ctx", 1, 42).unwrap();
        let hk = hkdf::Hkdf::<Sha256>::new(None, &[0x0b; 22]);
        let mut want = [0u8; 42];
        hk.expand(b"ctx", &mut want).unwrap();
        assert_eq!(&k[..], &want[..]);
        // RFC 5869 test case 3 (empty salt and info) pins the HKDF itself.
        let mut okm = [0u8; 42];
        hk.expand(b"", &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }

    #[test]
    fn convergent_encryption_is_deterministic_per_context() {
        let p = key(KeyType::Aes256Gcm96, true, true);
        let a = encrypt_symmetric(&p, 1, b"ctx", b"", b"same", b"").unwrap();
        let b = encrypt_symmetric(&p, 1, b"ctx", b"", b"same", b"").unwrap();
        let c = encrypt_symmetric(&p, 1, b"other", b"", b"same", b"").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(decrypt_symmetric(&p, 1, b"ctx", &a, b"").unwrap(), b"same");
        assert!(encrypt_symmetric(&p, 1, b"ctx", b"nonce", b"x", b"").is_err());
    }

    #[test]
    fn hashes_match_known_answers() {
        assert_eq!(
            hex::encode(HashAlg::Sha2_256.digest(b"hello world")),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(
                HashAlg::Sha2_256
                    .hmac(b"Jefe", b"what do ya want for nothing?")
                    .unwrap()
            ),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn versioned_values_parse_like_vault() {
        assert_eq!(
            parse_versioned("vault:v2:abc", "ciphertext").unwrap(),
            (2, "abc".into())
        );
        assert_eq!(
            parse_versioned("garbage", "ciphertext")
                .unwrap_err()
                .to_string(),
            "invalid ciphertext: no prefix"
        );
    }
}
