//! JWS compact tokens: parsing, signature verification against a set of
//! public keys, and the registered-claim checks of Vault's validator
//! (hashicorp/cap `jwt.Validate`), with its error texts and leeways.
//!
//! The cryptography is `jsonwebtoken`'s (aws-lc-rs backend). What is ours is
//! the policy around it:
//! - only asymmetric algorithms are ever verified (RS*, PS*, ES256, ES384,
//!   EdDSA): `none` and HMAC (`HS*`) tokens match no key, so an HS256 token
//!   "signed" with a public key as the secret is refused;
//! - a key is tried only for algorithms of its own family (an RSA key never
//!   verifies an EC or EdDSA signature), and, when both name one, only when
//!   the token's `kid` equals the key's;
//! - the header's `alg` must be in the configured list (or Vault's default
//!   list) after the signature checks, as cap does.

use std::str::FromStr;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};

/// cap's default leeway for `exp` and `nbf` when a role sets none.
pub(crate) const DEFAULT_LEEWAY: i64 = 150;
/// go-jose's default clock skew leeway.
pub(crate) const DEFAULT_CLOCK_SKEW: i64 = 60;

/// Vault's default `jwt_supported_algs` (ES512 is not offered by the JOSE
/// backend, so it never verifies).
pub(crate) const DEFAULT_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA",
];

/// The algorithms `jwt_supported_algs` may name.
pub(crate) const ALLOWED_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384", "PS512", "EdDSA",
];

/// Why a token was refused; the texts are cap's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JoseError {
    #[error("error verifying token signature: {0}")]
    Malformed(String),
    #[error(
        "error verifying token signature: no known key successfully validated the token signature"
    )]
    NoKey,
    #[error("error verifying token signature: {0}")]
    KeySource(String),
    #[error("invalid algorithm (alg) header parameter: token signed with unexpected algorithm")]
    UnexpectedAlg,
    #[error("invalid issuer (iss) claim")]
    Issuer,
    #[error("invalid subject (sub) claim")]
    Subject,
    #[error("invalid audience (aud) claim: audience claim does not match any expected audience")]
    Audience,
    #[error("no issued at (iat), not before (nbf), or expiration time (exp) claims in token")]
    NoTimes,
    #[error("invalid not before (nbf) claim: token not yet valid")]
    NotYetValid,
    #[error("invalid expiration time (exp) claim: token is expired")]
    Expired,
    #[error("invalid issued at (iat) claim: token issued in the future")]
    IssuedInFuture,
    #[error("{0}")]
    Claims(String),
}

/// A public key a token may be verified with.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    pub(crate) key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("family", &self.key.family())
            .finish()
    }
}

/// Parses one PEM public key (`PUBLIC KEY` SPKI of RSA, EC or Ed25519,
/// `RSA PUBLIC KEY`, or a `CERTIFICATE` whose key is used, as Vault
/// accepts), with Vault's error text.
pub(crate) fn parse_pem_key(pem: &str) -> Result<Key, String> {
    let invalid = || "data does not contain any valid public keys".to_string();
    let pem = pem.trim();
    let spki_pem;
    let b = if pem.starts_with("-----BEGIN CERTIFICATE-----") {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| invalid())?;
        let spki = spki_of_certificate(&der).ok_or_else(invalid)?;
        spki_pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(spki)
        );
        spki_pem.as_bytes()
    } else {
        pem.as_bytes()
    };
    DecodingKey::from_rsa_pem(b)
        .or_else(|_| DecodingKey::from_ec_pem(b))
        .or_else(|_| DecodingKey::from_ed_pem(b))
        .map(|key| Key { kid: None, key })
        .map_err(|_| invalid())
}

/// One DER element: `(tag, content, rest)`.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The SubjectPublicKeyInfo (whole element) of an X.509 certificate: the
/// seventh field of `tbsCertificate`, or the sixth without a version.
fn spki_of_certificate(der: &[u8]) -> Option<&[u8]> {
    let (0x30, cert, _) = der_element(der)? else {
        return None;
    };
    let (0x30, mut tbs, _) = der_element(cert)? else {
        return None;
    };
    if tbs.first() == Some(&0xa0) {
        tbs = der_element(tbs)?.2;
    }
    // serialNumber, signature, issuer, validity, subject
    for _ in 0..5 {
        tbs = der_element(tbs)?.2;
    }
    let (tag, content, rest) = der_element(tbs)?;
    if tag != 0x30 {
        return None;
    }
    let whole = tbs.len() - rest.len();
    let _ = content;
    Some(&tbs[..whole])
}

/// Parses a JWKS document, skipping keys that are not usable for
/// signatures (encryption keys, symmetric keys, unknown types).
pub(crate) fn parse_jwks(doc: &Value) -> Result<Vec<Key>, String> {
    let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
        return Err("the JWKS document has no \"keys\" array".into());
    };
    let mut out = Vec::new();
    for k in keys {
        if k.get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            continue;
        }
        let Ok(jwk) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(k.clone()) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        if key.family() == AlgorithmFamily::Hmac {
            continue;
        }
        out.push(Key {
            kid: jwk.common.key_id.clone(),
            key,
        });
    }
    Ok(out)
}

/// A parsed (not yet verified) compact JWS.
#[derive(Debug)]
pub(crate) struct Token<'a> {
    pub(crate) alg: String,
    pub(crate) kid: Option<String>,
    pub(crate) claims: Map<String, Value>,
    message: &'a str,
    signature: &'a str,
}

/// Go's `RawURLEncoding`: no padding, lenient about trailing bits.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn b64(part: &str) -> Result<Vec<u8>, JoseError> {
    B64.decode(part).map_err(|e| {
        let at = match e {
            base64::DecodeError::InvalidByte(i, _)
            | base64::DecodeError::InvalidLastSymbol(i, _) => i,
            base64::DecodeError::InvalidLength(n) => n.saturating_sub(1),
            base64::DecodeError::InvalidPadding => part.len(),
        };
        JoseError::Malformed(format!("illegal base64 data at input byte {at}"))
    })
}

/// Splits and decodes a compact JWS (all three parts decoded before any is
/// interpreted, as go-jose does).
pub(crate) fn parse(token: &str) -> Result<Token<'_>, JoseError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(JoseError::Malformed(
            "compact JWS format must have three parts".into(),
        ));
    }
    let header = b64(parts[0])?;
    let payload = b64(parts[1])?;
    b64(parts[2])?;
    let header: Map<String, Value> = serde_json::from_slice(&header)
        .map_err(|e| JoseError::Malformed(format!("invalid JWS header: {e}")))?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload)
        .map_err(|e| JoseError::Malformed(format!("invalid JWT claims: {e}")))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let t = token.trim();
    let dot = parts[0].len() + 1 + parts[1].len();
    Ok(Token {
        alg,
        kid,
        claims,
        message: &t[..dot],
        signature: parts[2],
    })
}

impl Token<'_> {
    /// The algorithm, when it is one we ever verify (never `none`, never
    /// HMAC).
    fn asymmetric_alg(&self) -> Option<Algorithm> {
        let alg = Algorithm::from_str(&self.alg).ok()?;
        (alg.family() != AlgorithmFamily::Hmac).then_some(alg)
    }

    /// Whether the token names a `kid` none of `keys` has (a JWKS cache
    /// should then be refreshed).
    pub(crate) fn kid_unknown(&self, keys: &[Key]) -> bool {
        match &self.kid {
            Some(kid) => !keys.iter().any(|k| k.kid.as_deref() == Some(kid.as_str())),
            None => false,
        }
    }

    /// Verifies the signature with any of `keys`.
    pub(crate) fn verify(&self, keys: &[Key]) -> Result<(), JoseError> {
        let Some(alg) = self.asymmetric_alg() else {
            return Err(JoseError::NoKey);
        };
        for k in keys {
            if k.key.family() != alg.family() {
                continue;
            }
            if let (Some(want), Some(have)) = (&self.kid, &k.kid) {
                if want != have {
                    continue;
                }
            }
            if let Ok(true) =
                jsonwebtoken::crypto::verify(self.signature, self.message.as_bytes(), &k.key, alg)
            {
                return Ok(());
            }
        }
        Err(JoseError::NoKey)
    }

    /// The header's `alg` must be one of `supported` (Vault's default list
    /// when empty).
    pub(crate) fn check_alg(&self, supported: &[String]) -> Result<(), JoseError> {
        let ok = if supported.is_empty() {
            DEFAULT_ALGS.contains(&self.alg.as_str())
        } else {
            supported.iter().any(|a| a == &self.alg)
        };
        if ok {
            Ok(())
        } else {
            Err(JoseError::UnexpectedAlg)
        }
    }
}

/// What the registered claims must say (cap's `jwt.Expected`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Expected {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audiences: Vec<String>,
    /// Seconds; 0 means the default, negative means none.
    pub(crate) not_before_leeway: i64,
    pub(crate) expiration_leeway: i64,
    pub(crate) clock_skew_leeway: i64,
    /// Kubernetes' legacy service-account tokens carry no times at all.
    pub(crate) allow_missing_times: bool,
}

fn leeway(v: i64, default: i64) -> i64 {
    match v {
        0 => default,
        v if v < 0 => 0,
        v => v,
    }
}

/// A NumericDate claim in whole seconds (absent: 0).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<i64, JoseError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|f| f as i64)
            .ok_or_else(|| JoseError::Claims(format!("invalid {name} claim"))),
        Some(_) => Err(JoseError::Claims(format!(
            "json: cannot unmarshal the {name} claim into a NumericDate"
        ))),
    }
}

/// The `aud` claim as a list (a string is a list of one).
pub(crate) fn audiences(claims: &Map<String, Value>) -> Result<Vec<String>, JoseError> {
    match claims.get("aud") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| JoseError::Claims("square/go-jose/jwt: expected string or array value to unmarshal to Audience".into()))
            })
            .collect(),
        Some(_) => Err(JoseError::Claims(
            "square/go-jose/jwt: expected string or array value to unmarshal to Audience".into(),
        )),
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Result<String, JoseError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(JoseError::Claims(format!("invalid {name} claim type"))),
    }
}

/// cap's claim checks, in its order, at time `now` (unix seconds).
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    e: &Expected,
    now: i64,
) -> Result<(), JoseError> {
    let iss = string_claim(claims, "iss")?;
    let sub = string_claim(claims, "sub")?;
    let aud = audiences(claims)?;
    if !e.issuer.is_empty() && e.issuer != iss {
        return Err(JoseError::Issuer);
    }
    if !e.subject.is_empty() && e.subject != sub {
        return Err(JoseError::Subject);
    }
    if !e.audiences.is_empty() && !e.audiences.iter().any(|a| aud.contains(a)) {
        return Err(JoseError::Audience);
    }
    let iat = numeric_date(claims, "iat")?;
    let mut exp = numeric_date(claims, "exp")?;
    let mut nbf = numeric_date(claims, "nbf")?;
    if iat == 0 && exp == 0 && nbf == 0 {
        if e.allow_missing_times {
            return Ok(());
        }
        return Err(JoseError::NoTimes);
    }
    if exp == 0 {
        exp = iat.max(nbf) + leeway(e.expiration_leeway, DEFAULT_LEEWAY);
    }
    if nbf == 0 {
        nbf = if iat != 0 {
            iat
        } else {
            exp - leeway(e.not_before_leeway, DEFAULT_LEEWAY)
        };
    }
    let skew = leeway(e.clock_skew_leeway, DEFAULT_CLOCK_SKEW);
    if now + skew < nbf {
        return Err(JoseError::NotYetValid);
    }
    if now - skew > exp {
        return Err(JoseError::Expired);
    }
    if iat != 0 && now + skew < iat {
        return Err(JoseError::IssuedInFuture);
    }
    Ok(())
}

/// The current unix time in seconds.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    };
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// A fresh P-256 signing key and its public key.
    pub(crate) fn ec_pair() -> (EncodingKey, Key) {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let kp =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let public = DecodingKey::from_ec_der(kp.public_key().as_ref());
        (
            EncodingKey::from_ec_der(pkcs8.as_ref()),
            Key {
                kid: None,
                key: public,
            },
        )
    }

    pub(crate) fn ed_pair() -> (EncodingKey, Key) {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = DecodingKey::from_ed_der(kp.public_key().as_ref());
        (
            EncodingKey::from_ed_der(pkcs8.as_ref()),
            Key {
                kid: None,
                key: public,
            },
        )
    }

    pub(crate) fn sign(
        alg: Algorithm,
        kid: Option<&str>,
        key: &EncodingKey,
        claims: &Value,
    ) -> String {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&h, claims, key).unwrap()
    }

    #[test]
    fn verifies_ec_and_ed25519_and_refuses_other_keys() {
        let (ek, pk) = ec_pair();
        let (edk, edp) = ed_pair();
        let t = sign(Algorithm::ES256, None, &ek, &json!({"sub": "a"}));
        let parsed = parse(&t).unwrap();
        parsed.verify(std::slice::from_ref(&pk)).unwrap();
        assert_eq!(
            parsed.verify(std::slice::from_ref(&edp)),
            Err(JoseError::NoKey)
        );
        let t = sign(Algorithm::EdDSA, None, &edk, &json!({"sub": "a"}));
        parse(&t)
            .unwrap()
            .verify(&[pk.clone(), edp.clone()])
            .unwrap();
        let (_, other) = ec_pair();
        let t = sign(Algorithm::ES256, None, &ek, &json!({"sub": "a"}));
        assert_eq!(parse(&t).unwrap().verify(&[other]), Err(JoseError::NoKey));
    }

    #[test]
    fn none_and_hmac_tokens_never_verify() {
        let (_, pk) = ec_pair();
        let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = B64.encode(br#"{"sub":"a"}"#);
        let t = format!("{header}.{body}.");
        assert_eq!(
            parse(&t).unwrap().verify(std::slice::from_ref(&pk)),
            Err(JoseError::NoKey)
        );
        let secret = EncodingKey::from_secret(b"-----BEGIN PUBLIC KEY-----").unwrap();
        let t = sign(Algorithm::HS256, None, &secret, &json!({"sub": "a"}));
        let hmac_key = Key {
            kid: None,
            key: DecodingKey::from_secret(b"-----BEGIN PUBLIC KEY-----").unwrap(),
        };
        // Even a key list holding an HMAC key is never used for HS256.
        assert_eq!(
            parse(&t).unwrap().verify(&[pk, hmac_key]),
            Err(JoseError::NoKey)
        );
    }

    #[test]
    fn kid_must_match_when_both_name_one() {
        let (ek, mut pk) = ec_pair();
        pk.kid = Some("k1".into());
        let t = sign(Algorithm::ES256, Some("k2"), &ek, &json!({}));
        let parsed = parse(&t).unwrap();
        assert!(parsed.kid_unknown(std::slice::from_ref(&pk)));
        assert_eq!(
            parsed.verify(std::slice::from_ref(&pk)),
            Err(JoseError::NoKey)
        );
        pk.kid = Some("k2".into());
        parsed.verify(&[pk]).unwrap();
    }

    #[test]
    fn malformed_tokens_name_the_bad_byte() {
        assert_eq!(
            parse("not.a.jwt").unwrap_err().to_string(),
            "error verifying token signature: illegal base64 data at input byte 0"
        );
        assert!(parse("onlyone").is_err());
    }

    #[test]
    fn algorithm_list_is_enforced() {
        let (ek, _) = ec_pair();
        let t = sign(Algorithm::ES256, None, &ek, &json!({}));
        let p = parse(&t).unwrap();
        p.check_alg(&[]).unwrap();
        assert_eq!(
            p.check_alg(&["RS256".into()]),
            Err(JoseError::UnexpectedAlg)
        );
    }

    #[test]
    fn time_claims_follow_caps_leeways() {
        let now = 1_000_000;
        let e = Expected::default();
        let c = |v: Value| v.as_object().unwrap().clone();
        check_claims(&c(json!({"exp": now + 10})), &e, now).unwrap();
        // Expired, but within the 60 s default clock skew.
        check_claims(&c(json!({"exp": now - 30})), &e, now).unwrap();
        assert_eq!(
            check_claims(&c(json!({"exp": now - 61})), &e, now),
            Err(JoseError::Expired)
        );
        assert_eq!(
            check_claims(&c(json!({"nbf": now + 100, "exp": now + 200})), &e, now),
            Err(JoseError::NotYetValid)
        );
        assert_eq!(
            check_claims(
                &c(json!({"iat": now + 100, "exp": now + 200, "nbf": now})),
                &e,
                now
            ),
            Err(JoseError::IssuedInFuture)
        );
        assert_eq!(
            check_claims(&c(json!({})), &e, now),
            Err(JoseError::NoTimes)
        );
        // Only iat: exp defaults to iat + 150 s.
        check_claims(&c(json!({"iat": now - 200})), &e, now).unwrap();
        assert_eq!(
            check_claims(&c(json!({"iat": now - 211})), &e, now),
            Err(JoseError::Expired)
        );
        // A negative leeway means none.
        let strict = Expected {
            clock_skew_leeway: -1,
            ..Default::default()
        };
        assert_eq!(
            check_claims(&c(json!({"exp": now - 1})), &strict, now),
            Err(JoseError::Expired)
        );
        let lax = Expected {
            allow_missing_times: true,
            ..Default::default()
        };
        check_claims(&c(json!({})), &lax, now).unwrap();
    }

    #[test]
    fn issuer_subject_and_audience() {
        let now = 10;
        let c = json!({"iss": "a", "sub": "s", "aud": ["x", "y"], "exp": 100});
        let c = c.as_object().unwrap();
        let mut e = Expected {
            issuer: "a".into(),
            subject: "s".into(),
            audiences: vec!["y".into()],
            ..Default::default()
        };
        check_claims(c, &e, now).unwrap();
        e.audiences = vec!["z".into()];
        assert_eq!(check_claims(c, &e, now), Err(JoseError::Audience));
        e.issuer = "b".into();
        assert_eq!(check_claims(c, &e, now), Err(JoseError::Issuer));
    }

    #[test]
    fn pem_keys_parse_or_fail_with_vaults_text() {
        assert_eq!(
            parse_pem_key("not a pem key").unwrap_err(),
            "data does not contain any valid public keys"
        );
        let garbage = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----";
        assert_eq!(
            parse_pem_key(garbage).unwrap_err(),
            "data does not contain any valid public keys"
        );
    }

    #[test]
    fn der_walking_refuses_truncated_input() {
        assert!(der_element(&[]).is_none());
        assert!(der_element(&[0x30, 0x05, 1, 2]).is_none());
        assert!(der_element(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert_eq!(
            der_element(&[0x02, 0x01, 7, 9]),
            Some((0x02, &[7u8][..], &[9u8][..]))
        );
        assert!(spki_of_certificate(&[0x30, 0x00]).is_none());
    }
}
