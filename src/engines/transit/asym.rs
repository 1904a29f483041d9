//! Signing, verification and RSA-OAEP for the asymmetric key types:
//! Ed25519 (ed25519-dalek), ECDSA P-256/384/521 (RustCrypto, signing the
//! digest as Go's `ecdsa.Sign` does), RSA (aws-lc-rs: constant-time private
//! key operations; PSS with the maximal salt as Go's `PSSSaltLengthAuto`,
//! or PKCS#1 v1.5; OAEP with SHA-256 for encryption).

use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, OaepPublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use aws_lc_rs::signature::{self as lc, KeyPair as _, RsaPssSaltLength};
use ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};

use super::crypto::HashAlg;
use super::policy::{KeyEntry, KeyType};
use super::TransitError;

/// How an ECDSA signature is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marshaling {
    Asn1,
    Jws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RsaScheme {
    Pss,
    Pkcs1v15,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaltLength {
    /// Signing: the maximum; verifying: any of the two we can check.
    Auto,
    Hash,
}

pub(crate) struct SignOpts {
    pub(crate) hash: HashAlg,
    pub(crate) prehashed: bool,
    pub(crate) rsa: RsaScheme,
    pub(crate) marshaling: Marshaling,
    pub(crate) salt: SaltLength,
}

fn sign_failed<E>(_: E) -> TransitError {
    TransitError::user("failed to sign the input with the given key")
}

/// The digest a hashing key type signs.
fn digest_of(input: &[u8], o: &SignOpts) -> Vec<u8> {
    if o.prehashed {
        input.to_vec()
    } else {
        o.hash.digest(input)
    }
}

/// The digest as the ECDSA crates take it: a digest shorter than the curve
/// (sha2-256 on P-521) is left-padded, which is the same integer Go's
/// `hashToInt` signs (they refuse digests under half the field size).
fn ec_digest(t: KeyType, input: &[u8], o: &SignOpts) -> Vec<u8> {
    let d = digest_of(input, o);
    let field = super::keygen::ec_scalar_len(t);
    if d.len() >= field {
        return d;
    }
    let mut out = vec![0u8; field - d.len()];
    out.extend(d);
    out
}

macro_rules! ec_sign {
    ($curve:ident, $d:expr, $digest:expr, $m:expr) => {{
        let sk = $curve::ecdsa::SigningKey::from_slice($d).map_err(sign_failed)?;
        let sig: $curve::ecdsa::Signature = sk.sign_prehash($digest).map_err(sign_failed)?;
        match $m {
            Marshaling::Asn1 => sig.to_der().as_bytes().to_vec(),
            Marshaling::Jws => sig.to_bytes().to_vec(),
        }
    }};
}

macro_rules! ec_verify {
    ($curve:ident, $d:expr, $digest:expr, $sig:expr, $m:expr) => {{
        let sk = $curve::ecdsa::SigningKey::from_slice($d)
            .map_err(|_| TransitError::internal("stored EC key is invalid"))?;
        let vk = $curve::ecdsa::VerifyingKey::from(&sk);
        let sig = match $m {
            Marshaling::Asn1 => $curve::ecdsa::Signature::from_der($sig)
                .map_err(|_| TransitError::user("supplied signature is invalid"))?,
            Marshaling::Jws => match $curve::ecdsa::Signature::from_slice($sig) {
                Ok(s) => s,
                Err(_) => return Ok(false),
            },
        };
        Ok(vk.verify_prehash($digest, &sig).is_ok())
    }};
}

fn rsa_encoding(
    hash: HashAlg,
    scheme: RsaScheme,
) -> Result<&'static dyn lc::RsaEncoding, TransitError> {
    const PSS256: lc::RsaSignatureEncoding =
        lc::RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
    const PSS384: lc::RsaSignatureEncoding =
        lc::RSA_PSS_SHA384.with_pss_salt_length(RsaPssSaltLength::Max);
    const PSS512: lc::RsaSignatureEncoding =
        lc::RSA_PSS_SHA512.with_pss_salt_length(RsaPssSaltLength::Max);
    Ok(match (scheme, hash) {
        (RsaScheme::Pss, HashAlg::Sha2_256) => &PSS256,
        (RsaScheme::Pss, HashAlg::Sha2_384) => &PSS384,
        (RsaScheme::Pss, HashAlg::Sha2_512) => &PSS512,
        (RsaScheme::Pkcs1v15, HashAlg::Sha2_256) => &lc::RSA_PKCS1_SHA256,
        (RsaScheme::Pkcs1v15, HashAlg::Sha2_384) => &lc::RSA_PKCS1_SHA384,
        (RsaScheme::Pkcs1v15, HashAlg::Sha2_512) => &lc::RSA_PKCS1_SHA512,
        _ => return Err(unsupported_rsa_hash(hash)),
    })
}

fn unsupported_rsa_hash(hash: HashAlg) -> TransitError {
    TransitError::user(format!(
        "unsupported hash algorithm {hash:?} for RSA keys (supported: sha2-256, sha2-384, sha2-512)"
    ))
}

fn lc_digest_alg(hash: HashAlg) -> Result<&'static aws_lc_rs::digest::Algorithm, TransitError> {
    Ok(match hash {
        HashAlg::Sha2_256 => &aws_lc_rs::digest::SHA256,
        HashAlg::Sha2_384 => &aws_lc_rs::digest::SHA384,
        HashAlg::Sha2_512 => &aws_lc_rs::digest::SHA512,
        other => return Err(unsupported_rsa_hash(other)),
    })
}

/// Signs with one key version; `key` is the (possibly derived) private key.
pub(crate) fn sign(
    t: KeyType,
    entry: &KeyEntry,
    derived_ed25519: Option<&[u8]>,
    input: &[u8],
    o: &SignOpts,
) -> Result<Vec<u8>, TransitError> {
    Ok(match t {
        KeyType::Ed25519 => {
            let bytes = derived_ed25519.unwrap_or(&entry.key);
            let seed: [u8; 32] = bytes
                .get(..32)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| TransitError::internal("stored Ed25519 key is invalid"))?;
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            use ed25519_dalek::Signer;
            sk.sign(input).to_bytes().to_vec()
        }
        KeyType::EcdsaP256 => ec_sign!(p256, &entry.key, &ec_digest(t, input, o), o.marshaling),
        KeyType::EcdsaP384 => ec_sign!(p384, &entry.key, &ec_digest(t, input, o), o.marshaling),
        KeyType::EcdsaP521 => ec_sign!(p521, &entry.key, &ec_digest(t, input, o), o.marshaling),
        t if t.is_rsa() => {
            let kp = super::keygen::rsa_keypair(entry)?;
            let enc = rsa_encoding(o.hash, o.rsa)?;
            let mut sig = vec![0u8; kp.public_modulus_len()];
            let digest = if o.prehashed {
                aws_lc_rs::digest::Digest::import_less_safe(input, lc_digest_alg(o.hash)?)
                    .map_err(|_| TransitError::user("invalid prehashed input length"))?
            } else {
                aws_lc_rs::digest::digest(lc_digest_alg(o.hash)?, input)
            };
            kp.sign_digest(enc, &digest, &mut sig)
                .map_err(sign_failed)?;
            sig
        }
        other => {
            return Err(TransitError::user(format!(
                "key type {} does not support signing",
                other.name()
            )))
        }
    })
}

/// Checks a signature made by one key version.
pub(crate) fn verify(
    t: KeyType,
    entry: &KeyEntry,
    derived_ed25519: Option<&[u8]>,
    input: &[u8],
    sig: &[u8],
    o: &SignOpts,
) -> Result<bool, TransitError> {
    match t {
        KeyType::Ed25519 => {
            let public: [u8; 32] = match derived_ed25519 {
                Some(k) => k.get(32..64),
                None => entry.key.get(32..64),
            }
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| TransitError::internal("stored Ed25519 key is invalid"))?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&public)
                .map_err(|_| TransitError::internal("stored Ed25519 key is invalid"))?;
            let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                return Ok(false);
            };
            Ok(vk.verify_strict(input, &sig).is_ok())
        }
        KeyType::EcdsaP256 => {
            ec_verify!(p256, &entry.key, &ec_digest(t, input, o), sig, o.marshaling)
        }
        KeyType::EcdsaP384 => {
            ec_verify!(p384, &entry.key, &ec_digest(t, input, o), sig, o.marshaling)
        }
        KeyType::EcdsaP521 => {
            ec_verify!(p521, &entry.key, &ec_digest(t, input, o), sig, o.marshaling)
        }
        t if t.is_rsa() => {
            if o.prehashed {
                return Err(TransitError::user(
                    "verifying prehashed input is not supported for RSA keys",
                ));
            }
            let kp = super::keygen::rsa_keypair(entry)?;
            let public = kp.public_key().as_ref().to_vec();
            let candidates: Vec<&'static lc::RsaParameters> = rsa_params(o)?;
            Ok(candidates.into_iter().any(|params| {
                lc::UnparsedPublicKey::new(params, &public)
                    .verify(input, sig)
                    .is_ok()
            }))
        }
        other => Err(TransitError::user(format!(
            "key type {} does not support verification",
            other.name()
        ))),
    }
}

fn rsa_params(o: &SignOpts) -> Result<Vec<&'static lc::RsaParameters>, TransitError> {
    const PSS256_MAX: lc::RsaParameters =
        lc::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
    const PSS384_MAX: lc::RsaParameters =
        lc::RSA_PSS_2048_8192_SHA384.with_pss_salt_length(RsaPssSaltLength::Max);
    const PSS512_MAX: lc::RsaParameters =
        lc::RSA_PSS_2048_8192_SHA512.with_pss_salt_length(RsaPssSaltLength::Max);
    let (digest, max): (&'static lc::RsaParameters, &'static lc::RsaParameters) =
        match (o.rsa, o.hash) {
            (RsaScheme::Pkcs1v15, HashAlg::Sha2_256) => {
                return Ok(vec![&lc::RSA_PKCS1_2048_8192_SHA256])
            }
            (RsaScheme::Pkcs1v15, HashAlg::Sha2_384) => {
                return Ok(vec![&lc::RSA_PKCS1_2048_8192_SHA384])
            }
            (RsaScheme::Pkcs1v15, HashAlg::Sha2_512) => {
                return Ok(vec![&lc::RSA_PKCS1_2048_8192_SHA512])
            }
            (RsaScheme::Pss, HashAlg::Sha2_256) => (&lc::RSA_PSS_2048_8192_SHA256, &PSS256_MAX),
            (RsaScheme::Pss, HashAlg::Sha2_384) => (&lc::RSA_PSS_2048_8192_SHA384, &PSS384_MAX),
            (RsaScheme::Pss, HashAlg::Sha2_512) => (&lc::RSA_PSS_2048_8192_SHA512, &PSS512_MAX),
            (_, other) => return Err(unsupported_rsa_hash(other)),
        };
    Ok(match o.salt {
        SaltLength::Hash => vec![digest],
        SaltLength::Auto => vec![max, digest],
    })
}

/// RSA-OAEP (SHA-256, no label) encryption with the version's public key.
pub(crate) fn rsa_encrypt(entry: &KeyEntry, plaintext: &[u8]) -> Result<Vec<u8>, TransitError> {
    let kp = super::keygen::rsa_keypair(entry)?;
    let pk = aws_lc_rs::rsa::PublicEncryptingKey::from_der(kp.public_key().as_ref())
        .or_else(|_| {
            use aws_lc_rs::encoding::AsDer;
            let der = kp.public_key().as_der().map_err(|_| ())?;
            aws_lc_rs::rsa::PublicEncryptingKey::from_der(der.as_ref()).map_err(|_| ())
        })
        .map_err(|_| TransitError::internal("stored RSA key is invalid"))?;
    let oaep = OaepPublicEncryptingKey::new(pk)
        .map_err(|_| TransitError::internal("stored RSA key is invalid"))?;
    let mut out = vec![0u8; oaep.ciphertext_size()];
    let n = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)
        .map_err(|_| {
            TransitError::internal("failed to RSA encrypt the plaintext: message too long")
        })?
        .len();
    out.truncate(n);
    Ok(out)
}

pub(crate) fn rsa_decrypt(entry: &KeyEntry, ciphertext: &[u8]) -> Result<Vec<u8>, TransitError> {
    let sk = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(&entry.key)
        .map_err(|_| TransitError::internal("stored RSA key is invalid"))?;
    let oaep = OaepPrivateDecryptingKey::new(sk)
        .map_err(|_| TransitError::internal("stored RSA key is invalid"))?;
    let mut out = vec![0u8; oaep.min_output_size()];
    let n = oaep
        .decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, &mut out, None)
        .map_err(|_| {
            TransitError::user("failed to RSA decrypt the ciphertext: crypto/rsa: decryption error")
        })?
        .len();
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::transit::keygen::generate;

    fn opts(hash: HashAlg, rsa: RsaScheme, marshaling: Marshaling) -> SignOpts {
        SignOpts {
            hash,
            prehashed: false,
            rsa,
            marshaling,
            salt: SaltLength::Auto,
        }
    }

    #[test]
    fn sign_verify_every_signing_type() {
        for t in [
            KeyType::Ed25519,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::EcdsaP521,
            KeyType::Rsa2048,
        ] {
            let e = generate(t, 0).unwrap();
            for (rsa, m) in [
                (RsaScheme::Pss, Marshaling::Asn1),
                (RsaScheme::Pkcs1v15, Marshaling::Jws),
            ] {
                let hash = if t == KeyType::EcdsaP521 {
                    HashAlg::Sha2_512
                } else {
                    HashAlg::Sha2_256
                };
                let o = opts(hash, rsa, m);
                let sig = sign(t, &e, None, b"msg", &o).unwrap();
                assert!(verify(t, &e, None, b"msg", &sig, &o).unwrap(), "{t:?}");
                assert!(!verify(t, &e, None, b"other", &sig, &o).unwrap(), "{t:?}");
            }
        }
    }

    /// RFC 8032 test vector 1: the empty message under a known seed.
    #[test]
    fn ed25519_known_answer() {
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed.try_into().unwrap());
        let mut e = KeyEntry::default();
        e.key = sk.to_keypair_bytes().to_vec();
        let sig = sign(
            KeyType::Ed25519,
            &e,
            None,
            b"",
            &opts(HashAlg::Sha2_256, RsaScheme::Pss, Marshaling::Asn1),
        )
        .unwrap();
        assert_eq!(hex::encode(sig), "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    }

    /// Vault's default hash (sha2-256) on every curve, P-521 included
    /// (a digest shorter than the curve order, as Go's ecdsa.Sign takes).
    #[test]
    fn ecdsa_signs_short_digests() {
        for t in [KeyType::EcdsaP384, KeyType::EcdsaP521] {
            let e = generate(t, 0).unwrap();
            let o = opts(HashAlg::Sha2_256, RsaScheme::Pss, Marshaling::Asn1);
            let sig = sign(t, &e, None, b"msg", &o).unwrap();
            assert!(verify(t, &e, None, b"msg", &sig, &o).unwrap(), "{t:?}");
        }
    }

    #[test]
    fn rsa_oaep_round_trip() {
        let e = generate(KeyType::Rsa2048, 0).unwrap();
        let ct = rsa_encrypt(&e, b"secret").unwrap();
        assert_eq!(ct.len(), 256);
        assert_eq!(rsa_decrypt(&e, &ct).unwrap(), b"secret");
        assert!(rsa_decrypt(&e, &ct[1..]).is_err());
    }
}
