//! The key policy model (Vault's `keysutil.Policy`) and its storage.
//!
//! One record per key at `policy/<name>` holds every available version
//! (from `min_available_version` up), so an encrypt or a decrypt is one read
//! (or none, from the per-node cache). Vault splits old versions into an
//! `archive/<name>` record; only the backup format has to look like that,
//! and `backup.rs` converts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::TransitError;

/// Key types, with Vault's numeric codes (they appear in backups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Aes256Gcm96,
    EcdsaP256,
    Ed25519,
    Rsa2048,
    Rsa4096,
    ChaCha20Poly1305,
    EcdsaP384,
    EcdsaP521,
    Aes128Gcm96,
    Rsa3072,
    Hmac,
}

const ALL_TYPES: [KeyType; 11] = [
    KeyType::Aes256Gcm96,
    KeyType::EcdsaP256,
    KeyType::Ed25519,
    KeyType::Rsa2048,
    KeyType::Rsa4096,
    KeyType::ChaCha20Poly1305,
    KeyType::EcdsaP384,
    KeyType::EcdsaP521,
    KeyType::Aes128Gcm96,
    KeyType::Rsa3072,
    KeyType::Hmac,
];

impl KeyType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyType::Aes128Gcm96 => "aes128-gcm96",
            KeyType::Aes256Gcm96 => "aes256-gcm96",
            KeyType::ChaCha20Poly1305 => "chacha20-poly1305",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::EcdsaP521 => "ecdsa-p521",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::Hmac => "hmac",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Self> {
        ALL_TYPES.into_iter().find(|t| t.name() == s)
    }

    /// Vault's `KeyType` integer (backups carry it).
    pub(crate) fn code(self) -> i64 {
        ALL_TYPES.iter().position(|t| *t == self).unwrap_or(0) as i64
    }

    pub(crate) fn from_code(code: i64) -> Option<Self> {
        usize::try_from(code)
            .ok()
            .and_then(|i| ALL_TYPES.get(i).copied())
    }

    pub(crate) fn is_symmetric(self) -> bool {
        matches!(
            self,
            KeyType::Aes128Gcm96 | KeyType::Aes256Gcm96 | KeyType::ChaCha20Poly1305
        )
    }

    pub(crate) fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    pub(crate) fn is_ecdsa(self) -> bool {
        matches!(
            self,
            KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521
        )
    }

    pub(crate) fn encryption_supported(self) -> bool {
        self.is_symmetric() || self.is_rsa()
    }

    pub(crate) fn signing_supported(self) -> bool {
        self.is_ecdsa() || self.is_rsa() || self == KeyType::Ed25519
    }

    pub(crate) fn derivation_supported(self) -> bool {
        self.is_symmetric() || self == KeyType::Ed25519
    }

    pub(crate) fn is_asymmetric(self) -> bool {
        self.is_ecdsa() || self.is_rsa() || self == KeyType::Ed25519
    }

    /// Symmetric key length in bytes.
    pub(crate) fn key_len(self) -> usize {
        if self == KeyType::Aes128Gcm96 {
            16
        } else {
            32
        }
    }

    /// The `name` Vault shows for an asymmetric key version.
    pub(crate) fn public_name(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "P-256",
            KeyType::EcdsaP384 => "P-384",
            KeyType::EcdsaP521 => "P-521",
            other => other.name(),
        }
    }
}

impl Serialize for KeyType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for KeyType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyType::from_name(&s).ok_or_else(|| serde::de::Error::custom("unknown key type"))
    }
}

/// Vault's key derivation functions (`kdf` in the policy).
pub(crate) const KDF_HMAC_SHA256_COUNTER: i64 = 0;
pub(crate) const KDF_HKDF_SHA256: i64 = 1;
/// The convergent nonce scheme new key versions use (HMAC of the plaintext
/// under a derived key).
pub(crate) const CURRENT_CONVERGENT_VERSION: i64 = 3;

pub(crate) mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

/// One key version. `key` is the private material in one form per type:
/// the raw key (AES, ChaCha20, HMAC), Go's 64-byte seed‖public (Ed25519),
/// the scalar (ECDSA), PKCS#8 DER (RSA). Zeroized when dropped.
#[derive(Clone, Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct KeyEntry {
    #[serde(with = "b64", default)]
    pub(crate) key: Vec<u8>,
    /// The per-version HMAC key (`hmac/` on any key type).
    #[serde(with = "b64", default)]
    pub(crate) hmac_key: Vec<u8>,
    /// RFC 3339 creation time (nanoseconds, as Go prints it).
    #[zeroize(skip)]
    pub(crate) time: String,
    /// Unix seconds.
    #[zeroize(skip)]
    pub(crate) creation_time: i64,
    /// Base64 (Ed25519) or PEM (ECDSA, RSA) public key.
    #[zeroize(skip)]
    #[serde(default)]
    pub(crate) public_key: String,
    #[zeroize(skip)]
    #[serde(default)]
    pub(crate) convergent_version: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct OpInfo {
    pub(crate) time: String,
    pub(crate) version: i64,
}

/// A named key and its settings.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Policy {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) key_type: KeyType,
    pub(crate) keys: BTreeMap<i64, KeyEntry>,
    pub(crate) derived: bool,
    pub(crate) kdf: i64,
    pub(crate) convergent_encryption: bool,
    /// -1 for keys made since convergent version 3 (each version records
    /// its own), as Vault does.
    pub(crate) convergent_version: i64,
    pub(crate) exportable: bool,
    pub(crate) deletion_allowed: bool,
    pub(crate) allow_plaintext_backup: bool,
    pub(crate) min_decryption_version: i64,
    pub(crate) min_encryption_version: i64,
    pub(crate) latest_version: i64,
    pub(crate) min_available_version: i64,
    /// Seconds; 0 disables.
    pub(crate) auto_rotate_period: i64,
    /// HMAC key length in bytes.
    #[serde(default)]
    pub(crate) key_size: i64,
    #[serde(default)]
    pub(crate) backup_info: Option<OpInfo>,
    #[serde(default)]
    pub(crate) restore_info: Option<OpInfo>,
    #[serde(default)]
    pub(crate) imported: bool,
}

/// Options a new key is created with.
pub(crate) struct NewKey {
    pub(crate) key_type: KeyType,
    pub(crate) derived: bool,
    pub(crate) convergent: bool,
    pub(crate) exportable: bool,
    pub(crate) allow_plaintext_backup: bool,
    pub(crate) auto_rotate_period: i64,
    pub(crate) key_size: i64,
}

pub(crate) const HMAC_MIN_KEY_SIZE: i64 = 32;
pub(crate) const HMAC_MAX_KEY_SIZE: i64 = 512;

/// Go's `time.RFC3339Nano` in UTC: trailing zeros of the fraction dropped.
pub(crate) fn go_time(t: chrono::DateTime<chrono::Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

impl Policy {
    pub(crate) fn new(name: &str, opts: &NewKey) -> Result<Self, TransitError> {
        let mut p = Policy {
            name: name.to_string(),
            key_type: opts.key_type,
            keys: BTreeMap::new(),
            derived: opts.derived,
            kdf: if opts.derived {
                KDF_HKDF_SHA256
            } else {
                KDF_HMAC_SHA256_COUNTER
            },
            convergent_encryption: opts.convergent,
            convergent_version: -1,
            exportable: opts.exportable,
            deletion_allowed: false,
            allow_plaintext_backup: opts.allow_plaintext_backup,
            min_decryption_version: 1,
            min_encryption_version: 0,
            latest_version: 0,
            min_available_version: 0,
            auto_rotate_period: opts.auto_rotate_period,
            key_size: if opts.key_type == KeyType::Hmac {
                opts.key_size
            } else {
                0
            },
            backup_info: None,
            restore_info: None,
            imported: false,
        };
        p.rotate()?;
        Ok(p)
    }

    /// Adds a new latest version (in memory; the caller persists).
    pub(crate) fn rotate(&mut self) -> Result<(), TransitError> {
        let now = chrono::Utc::now();
        let mut entry = super::keygen::generate(self.key_type, self.key_size)?;
        entry.time = go_time(now);
        entry.creation_time = now.timestamp();
        if self.convergent_encryption
            && (self.convergent_version == -1 || self.convergent_version > 1)
        {
            entry.convergent_version = CURRENT_CONVERGENT_VERSION;
        }
        self.latest_version += 1;
        self.keys.insert(self.latest_version, entry);
        if self.min_decryption_version == 0 {
            self.min_decryption_version = 1;
        }
        Ok(())
    }

    /// The entry of `version`, if it is still available.
    pub(crate) fn entry(&self, version: i64) -> Result<&KeyEntry, TransitError> {
        self.keys
            .get(&version)
            .ok_or_else(|| TransitError::user("no such key version"))
    }

    /// Versions Vault shows (and keeps in its live record): from
    /// `min_decryption_version` up.
    pub(crate) fn live_versions(&self) -> impl Iterator<Item = (&i64, &KeyEntry)> {
        let min = self.min_decryption_version;
        self.keys.range(min.max(1)..)
    }

    /// The convergent nonce scheme of `version` (0 when not convergent).
    pub(crate) fn convergent_version_of(&self, version: i64) -> i64 {
        if !self.convergent_encryption {
            return 0;
        }
        let mut v = if self.convergent_version == 0 {
            1
        } else {
            self.convergent_version
        };
        if let Some(e) = self.keys.get(&version) {
            if e.convergent_version != 0 {
                v = e.convergent_version;
            }
        }
        v
    }

    /// The key body Vault's `keys/<name>` read answers with.
    pub(crate) fn describe(&self) -> Map<String, Value> {
        let t = self.key_type;
        let mut d = Map::new();
        d.insert("name".into(), json!(self.name));
        d.insert("type".into(), json!(t.name()));
        d.insert("derived".into(), json!(self.derived));
        d.insert("deletion_allowed".into(), json!(self.deletion_allowed));
        d.insert("exportable".into(), json!(self.exportable));
        d.insert(
            "allow_plaintext_backup".into(),
            json!(self.allow_plaintext_backup),
        );
        d.insert("auto_rotate_period".into(), json!(self.auto_rotate_period));
        d.insert("imported_key".into(), json!(self.imported));
        d.insert("latest_version".into(), json!(self.latest_version));
        d.insert(
            "min_available_version".into(),
            json!(self.min_available_version),
        );
        d.insert(
            "min_decryption_version".into(),
            json!(self.min_decryption_version),
        );
        d.insert(
            "min_encryption_version".into(),
            json!(self.min_encryption_version),
        );
        d.insert("soft_deleted".into(), json!(false));
        d.insert(
            "supports_encryption".into(),
            json!(t.encryption_supported()),
        );
        d.insert(
            "supports_decryption".into(),
            json!(t.encryption_supported()),
        );
        d.insert(
            "supports_derivation".into(),
            json!(t.derivation_supported()),
        );
        d.insert("supports_signing".into(), json!(t.signing_supported()));
        if let Some(b) = &self.backup_info {
            d.insert("backup_info".into(), json!(b));
        }
        if let Some(r) = &self.restore_info {
            d.insert("restore_info".into(), json!(r));
        }
        if self.derived {
            let kdf = if self.kdf == KDF_HKDF_SHA256 {
                "hkdf_sha256"
            } else {
                "hmac-sha256-counter"
            };
            d.insert("kdf".into(), json!(kdf));
            d.insert(
                "convergent_encryption".into(),
                json!(self.convergent_encryption),
            );
            if self.convergent_encryption {
                d.insert(
                    "convergent_encryption_version".into(),
                    json!(self.convergent_version),
                );
            }
        }
        match t {
            KeyType::Hmac => {
                d.insert("key_size".into(), json!(self.key_size));
            }
            _ if t.is_asymmetric() => {
                let mut keys = Map::new();
                for (v, e) in self.live_versions() {
                    // A derived Ed25519 key's stored public key is half of
                    // its HKDF key: never shown.
                    let public = if self.derived {
                        String::new()
                    } else {
                        e.public_key.clone()
                    };
                    keys.insert(
                        v.to_string(),
                        json!({
                            "certificate_chain": "",
                            "creation_time": e.time,
                            "name": t.public_name(),
                            "public_key": public,
                        }),
                    );
                }
                d.insert("keys".into(), Value::Object(keys));
            }
            _ => {
                let keys: Map<String, Value> = self
                    .live_versions()
                    .map(|(v, e)| (v.to_string(), json!(e.creation_time)))
                    .collect();
                d.insert("keys".into(), Value::Object(keys));
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_codes_match_vault() {
        assert_eq!(KeyType::Aes256Gcm96.code(), 0);
        assert_eq!(KeyType::Hmac.code(), 10);
        assert_eq!(KeyType::from_code(9), Some(KeyType::Rsa3072));
        assert_eq!(KeyType::from_name("aes999-gcm"), None);
    }

    #[test]
    fn go_time_trims_fraction() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-01T12:49:20.424563000Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(go_time(t), "2026-12-01T12:49:20.424563Z");
    }

    #[test]
    fn new_convergent_key_records_version_3() {
        let p = Policy::new(
            "k",
            &NewKey {
                key_type: KeyType::Aes256Gcm96,
                derived: true,
                convergent: true,
                exportable: false,
                allow_plaintext_backup: false,
                auto_rotate_period: 0,
                key_size: 0,
            },
        )
        .unwrap();
        assert_eq!(p.convergent_version, -1);
        assert_eq!(p.convergent_version_of(1), 3);
        assert_eq!(p.describe()["kdf"], "hkdf_sha256");
    }
}
