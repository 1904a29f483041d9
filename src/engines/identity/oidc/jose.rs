//! JOSE for identity tokens: signing keys (RS256/384/512, ES256/384/512,
//! EdDSA) generated and used through `aws-lc-rs`, their public JWKs, and
//! compact JWS signing and verification. Private keys are stored as PKCS#8
//! DER inside the barrier and never returned.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The algorithms Vault's named keys accept.
pub(crate) const ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA",
];

#[derive(Debug, thiserror::Error)]
pub(crate) enum JoseError {
    #[error("unknown signing algorithm {0:?}")]
    UnknownAlgorithm(String),
    #[error("key generation failed")]
    Generate,
    #[error("stored signing key is unusable")]
    BadKey,
    #[error("signing failed")]
    Sign,
    #[error("malformed token")]
    Malformed,
    #[error("signature verification failed")]
    BadSignature,
}

/// A signing key as stored: algorithm, key id, PKCS#8 DER (base64url).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct SigningKey {
    pub(crate) alg: String,
    pub(crate) kid: String,
    pkcs8: String,
}

/// A public key as published: algorithm, key id, the raw public key bytes
/// for verification (PKCS#1 DER for RSA, an uncompressed point for EC, 32
/// bytes for Ed25519), base64url.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PublicKey {
    pub(crate) alg: String,
    pub(crate) kid: String,
    public: String,
    /// The JWK as published in `.well-known/keys`.
    pub(crate) jwk: Value,
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn ec_alg(alg: &str) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    match alg {
        "ES256" => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        "ES384" => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        "ES512" => Some(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
        _ => None,
    }
}

fn rsa_alg(alg: &str) -> Option<&'static signature::RsaSignatureEncoding> {
    match alg {
        "RS256" => Some(&signature::RSA_PKCS1_SHA256),
        "RS384" => Some(&signature::RSA_PKCS1_SHA384),
        "RS512" => Some(&signature::RSA_PKCS1_SHA512),
        _ => None,
    }
}

fn crv(alg: &str) -> &'static str {
    match alg {
        "ES256" => "P-256",
        "ES384" => "P-384",
        _ => "P-521",
    }
}

impl SigningKey {
    /// A fresh key for `alg` with a random key id.
    pub(crate) fn generate(alg: &str) -> Result<Self, JoseError> {
        let pkcs8 = if rsa_alg(alg).is_some() {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| JoseError::Generate)?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der =
                kp.as_der().map_err(|_| JoseError::Generate)?;
            der.as_ref().to_vec()
        } else if let Some(a) = ec_alg(alg) {
            let kp = EcdsaKeyPair::generate(a).map_err(|_| JoseError::Generate)?;
            kp.to_pkcs8v1()
                .map_err(|_| JoseError::Generate)?
                .as_ref()
                .to_vec()
        } else if alg == "EdDSA" {
            let kp = Ed25519KeyPair::generate().map_err(|_| JoseError::Generate)?;
            kp.to_pkcs8v1()
                .map_err(|_| JoseError::Generate)?
                .as_ref()
                .to_vec()
        } else {
            return Err(JoseError::UnknownAlgorithm(alg.to_string()));
        };
        Ok(Self {
            alg: alg.to_string(),
            kid: uuid::Uuid::new_v4().to_string(),
            pkcs8: b64(&pkcs8),
        })
    }

    fn der(&self) -> Result<Vec<u8>, JoseError> {
        URL_SAFE_NO_PAD
            .decode(&self.pkcs8)
            .map_err(|_| JoseError::BadKey)
    }

    /// The public half, with its JWK.
    pub(crate) fn public(&self) -> Result<PublicKey, JoseError> {
        let der = self.der()?;
        let mut jwk = json!({"use": "sig", "kid": self.kid, "alg": self.alg});
        let public = if rsa_alg(&self.alg).is_some() {
            let kp = RsaKeyPair::from_pkcs8(&der).map_err(|_| JoseError::BadKey)?;
            let pk = kp.public_key();
            jwk["kty"] = json!("RSA");
            jwk["n"] = json!(b64(pk.modulus().big_endian_without_leading_zero()));
            jwk["e"] = json!(b64(pk.exponent().big_endian_without_leading_zero()));
            pk.as_ref().to_vec()
        } else if let Some(a) = ec_alg(&self.alg) {
            let kp = EcdsaKeyPair::from_pkcs8(a, &der).map_err(|_| JoseError::BadKey)?;
            let point = kp.public_key().as_ref().to_vec();
            let n = (point.len().saturating_sub(1)) / 2;
            if point.first() != Some(&4) || n == 0 {
                return Err(JoseError::BadKey);
            }
            jwk["kty"] = json!("EC");
            jwk["crv"] = json!(crv(&self.alg));
            jwk["x"] = json!(b64(&point[1..1 + n]));
            jwk["y"] = json!(b64(&point[1 + n..]));
            point
        } else {
            let kp = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| JoseError::BadKey)?;
            let raw = kp.public_key().as_ref().to_vec();
            jwk["kty"] = json!("OKP");
            jwk["crv"] = json!("Ed25519");
            jwk["x"] = json!(b64(&raw));
            raw
        };
        Ok(PublicKey {
            alg: self.alg.clone(),
            kid: self.kid.clone(),
            public: b64(&public),
            jwk,
        })
    }

    /// A compact JWS of `claims` (`header.payload.signature`).
    pub(crate) fn sign(&self, claims: &Value) -> Result<String, JoseError> {
        let header = json!({"alg": self.alg, "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let der = self.der()?;
        let sig = if let Some(enc) = rsa_alg(&self.alg) {
            let kp = RsaKeyPair::from_pkcs8(&der).map_err(|_| JoseError::BadKey)?;
            let mut out = vec![0u8; kp.public_modulus_len()];
            kp.sign(enc, &SystemRandom::new(), input.as_bytes(), &mut out)
                .map_err(|_| JoseError::Sign)?;
            out
        } else if let Some(a) = ec_alg(&self.alg) {
            let kp = EcdsaKeyPair::from_pkcs8(a, &der).map_err(|_| JoseError::BadKey)?;
            kp.sign(&SystemRandom::new(), input.as_bytes())
                .map_err(|_| JoseError::Sign)?
                .as_ref()
                .to_vec()
        } else {
            let kp = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| JoseError::BadKey)?;
            kp.sign(input.as_bytes()).as_ref().to_vec()
        };
        Ok(format!("{input}.{}", b64(&sig)))
    }
}

impl PublicKey {
    fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), JoseError> {
        let raw = URL_SAFE_NO_PAD
            .decode(&self.public)
            .map_err(|_| JoseError::BadKey)?;
        let alg: &dyn signature::VerificationAlgorithm = match self.alg.as_str() {
            "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
            "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
            "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
            "ES256" => &signature::ECDSA_P256_SHA256_FIXED,
            "ES384" => &signature::ECDSA_P384_SHA384_FIXED,
            "ES512" => &signature::ECDSA_P521_SHA512_FIXED,
            "EdDSA" => &signature::ED25519,
            other => return Err(JoseError::UnknownAlgorithm(other.to_string())),
        };
        signature::UnparsedPublicKey::new(alg, &raw)
            .verify(message, sig)
            .map_err(|_| JoseError::BadSignature)
    }
}

/// The key id a compact JWS names in its header.
pub(crate) fn token_kid(token: &str) -> Result<String, JoseError> {
    let header = token.split('.').next().ok_or(JoseError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JoseError::Malformed)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| JoseError::Malformed)?;
    v["kid"]
        .as_str()
        .map(str::to_string)
        .ok_or(JoseError::Malformed)
}

/// Verifies a compact JWS with `key` (whose algorithm must be the one the
/// header names) and returns its claims.
pub(crate) fn verify(token: &str, key: &PublicKey) -> Result<Value, JoseError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        return Err(JoseError::Malformed);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JoseError::Malformed)?;
    if header["alg"].as_str() != Some(key.alg.as_str()) {
        return Err(JoseError::BadSignature);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JoseError::Malformed)?;
    key.verify(format!("{h}.{p}").as_bytes(), &sig)?;
    URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JoseError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in ALGORITHMS {
            let key = SigningKey::generate(alg).unwrap();
            let public = key.public().unwrap();
            let token = key.sign(&json!({"sub": "e1"})).unwrap();
            assert_eq!(token_kid(&token).unwrap(), key.kid);
            assert_eq!(verify(&token, &public).unwrap()["sub"], "e1", "{alg}");
            // A changed payload fails.
            let mut parts: Vec<String> = token.split('.').map(String::from).collect();
            parts[1] = b64(br#"{"sub":"e2"}"#);
            assert!(verify(&parts.join("."), &public).is_err(), "{alg}");
            assert_eq!(public.jwk["kid"], key.kid.as_str());
        }
        assert!(SigningKey::generate("HS256").is_err());
    }
}
