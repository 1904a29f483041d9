//! What the engine stores, and where (keys relative to the mount's view):
//!
//! | key | record | cached per node |
//! |---|---|---|
//! | `config/issuers` | [`IssuersConfig`]: the default issuer | yes |
//! | `config/keys` | [`KeysConfig`]: the default key | no |
//! | `issuers/<uuid>` | [`IssuerRecord`]: certificate, chain, key id, name | yes |
//! | `keys/<uuid>` | [`KeyRecord`]: the PKCS#8 private key | yes (parsed) |
//! | `roles/<name>` | [`super::role::Role`] | yes |
//! | `certs/<serial>` | [`CertRecord`] (serial with `-`, as Vault) | no |
//! | `revoked/<serial>` | [`RevokedRecord`] | no |
//! | `crls/<issuer uuid>` | [`CrlRecord`]: the signed CRL (DER) and its number | no |
//! | `config/crl`, `config/urls` | JSON objects | no |
//!
//! Every write of a cached record is a `batch_bump`, so every node drops
//! its parsed copy before serving the next request.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::keys::{KeyType, PrivateKey};
use super::Pki;
use crate::logical::{LogicalError, StorageView};
use crate::storage::BatchItem;

pub(crate) const ISSUERS_CONFIG: &str = "config/issuers";
pub(crate) const KEYS_CONFIG: &str = "config/keys";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct IssuersConfig {
    pub(crate) default: String,
    #[serde(default)]
    pub(crate) default_follows_latest_issuer: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct KeysConfig {
    pub(crate) default: String,
}

/// A stored private key. The base64 PKCS#8 is wiped when the record drops.
#[derive(Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    pub(crate) key_type: KeyType,
    pub(crate) bits: u32,
    pkcs8: String,
}

impl Drop for KeyRecord {
    fn drop(&mut self) {
        self.pkcs8.zeroize();
    }
}

impl KeyRecord {
    pub(crate) fn new(id: String, name: String, key: &PrivateKey) -> Self {
        use base64::Engine;
        Self {
            id,
            name,
            key_type: key.key_type,
            bits: key.bits,
            pkcs8: base64::engine::general_purpose::STANDARD.encode(key.pkcs8()),
        }
    }

    fn parse(bytes: &[u8]) -> Result<PrivateKey, LogicalError> {
        use base64::Engine;
        let rec: KeyRecord = serde_json::from_slice(bytes)
            .map_err(|e| LogicalError::Internal(format!("stored key is corrupt: {e}")))?;
        let der = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(rec.pkcs8.as_bytes())
                .map_err(|_| LogicalError::Internal("stored key is corrupt".into()))?,
        );
        PrivateKey::from_pkcs8(rec.key_type, rec.bits, &der)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct IssuerRecord {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    /// Empty when this mount does not hold the issuer's key.
    #[serde(default)]
    pub(crate) key_id: String,
    /// PEM, no trailing newline.
    pub(crate) certificate: String,
    /// The chain above this issuer (PEM each), excluding itself.
    #[serde(default)]
    pub(crate) parents: Vec<String>,
    pub(crate) serial: String,
    pub(crate) not_after: i64,
    #[serde(default = "default_leaf_behavior")]
    pub(crate) leaf_not_after_behavior: String,
    #[serde(default)]
    pub(crate) manual_chain: Option<Vec<String>>,
    #[serde(default = "default_usage")]
    pub(crate) usage: String,
    #[serde(default)]
    pub(crate) issuing_certificates: Vec<String>,
    #[serde(default)]
    pub(crate) crl_distribution_points: Vec<String>,
    #[serde(default)]
    pub(crate) ocsp_servers: Vec<String>,
    #[serde(default)]
    pub(crate) revoked: bool,
    /// DER of the subject (to match a child's issuer) and SHA-1 of the
    /// public key bits (OCSP `issuerKeyHash`).
    #[serde(default)]
    pub(crate) subject_der: Vec<u8>,
    #[serde(default)]
    pub(crate) key_hash: Vec<u8>,
}

fn default_leaf_behavior() -> String {
    "err".into()
}

fn default_usage() -> String {
    "crl-signing,issuing-certificates,ocsp-signing,read-only".into()
}

impl IssuerRecord {
    /// The issuer's full chain: itself then its parents (Vault's `ca_chain`).
    pub(crate) fn chain(&self) -> Vec<String> {
        let mut out = vec![self.certificate.clone()];
        out.extend(self.parents.iter().cloned());
        out
    }

    pub(crate) fn cert_der(&self) -> Result<Vec<u8>, LogicalError> {
        super::certs::pem_to_der(&self.certificate)
            .ok_or_else(|| LogicalError::Internal("stored issuer certificate is corrupt".into()))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CertRecord {
    pub(crate) certificate: String,
    #[serde(default)]
    pub(crate) issuer_id: String,
    pub(crate) not_after: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RevokedRecord {
    pub(crate) serial_number: String,
    pub(crate) revocation_time: i64,
    pub(crate) revocation_time_rfc3339: String,
    #[serde(default)]
    pub(crate) issuer_id: String,
    pub(crate) not_after: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CrlRecord {
    /// base64 DER.
    pub(crate) der: String,
    pub(crate) number: u64,
}

/// `aa:bb:cc` → `aa-bb-cc`, the storage form.
pub(crate) fn serial_key(serial: &str) -> String {
    serial.trim().to_ascii_lowercase().replace(':', "-")
}

pub(crate) fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, LogicalError> {
    serde_json::to_vec(v).map_err(|e| LogicalError::Internal(e.to_string()))
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, LogicalError> {
    serde_json::from_slice(bytes)
        .map_err(|e| LogicalError::Internal(format!("corrupt record: {e}")))
}

pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    view: &StorageView,
    key: &str,
) -> Result<Option<T>, LogicalError> {
    match view.get(key).await? {
        Some(b) => parse(&b).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn put<T: Serialize>(key: &str, v: &T) -> Result<BatchItem, LogicalError> {
    Ok(BatchItem::put(key, json(v)?))
}

impl Pki {
    pub(crate) async fn issuers_config(
        &self,
        view: &StorageView,
    ) -> Result<IssuersConfig, LogicalError> {
        Ok(self
            .issuers_config
            .get_or_load(view, ISSUERS_CONFIG, parse::<IssuersConfig>)
            .await?
            .map(|c| (*c).clone())
            .unwrap_or_default())
    }

    pub(crate) async fn issuer(
        &self,
        view: &StorageView,
        id: &str,
    ) -> Result<Option<Arc<IssuerRecord>>, LogicalError> {
        if id.is_empty() {
            return Ok(None);
        }
        self.issuers
            .get_or_load(view, &format!("issuers/{id}"), parse::<IssuerRecord>)
            .await
    }

    pub(crate) async fn key(
        &self,
        view: &StorageView,
        id: &str,
    ) -> Result<Option<Arc<PrivateKey>>, LogicalError> {
        if id.is_empty() {
            return Ok(None);
        }
        self.keys
            .get_or_load(view, &format!("keys/{id}"), KeyRecord::parse)
            .await
    }

    pub(crate) async fn issuer_ids(&self, view: &StorageView) -> Result<Vec<String>, LogicalError> {
        Ok(view.list("issuers/").await?)
    }

    pub(crate) async fn all_issuers(
        &self,
        view: &StorageView,
    ) -> Result<Vec<Arc<IssuerRecord>>, LogicalError> {
        let mut out = Vec::new();
        for id in self.issuer_ids(view).await? {
            if let Some(i) = self.issuer(view, &id).await? {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// Resolves an issuer reference: `default`, an id, or a name. `None`
    /// when nothing matches.
    pub(crate) async fn resolve_issuer(
        &self,
        view: &StorageView,
        reference: &str,
    ) -> Result<Option<Arc<IssuerRecord>>, LogicalError> {
        let reference = reference.trim();
        if reference.is_empty() || reference == "default" {
            let cfg = self.issuers_config(view).await?;
            return self.issuer(view, &cfg.default).await;
        }
        if uuid::Uuid::parse_str(reference).is_ok() {
            if let Some(i) = self.issuer(view, reference).await? {
                return Ok(Some(i));
            }
        }
        for i in self.all_issuers(view).await? {
            if i.name == reference {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Resolves a key reference: `default`, an id, or a name.
    pub(crate) async fn resolve_key_id(
        &self,
        view: &StorageView,
        reference: &str,
    ) -> Result<Option<String>, LogicalError> {
        let reference = reference.trim();
        if reference.is_empty() || reference == "default" {
            let cfg: KeysConfig = get_json(view, KEYS_CONFIG).await?.unwrap_or_default();
            return Ok((!cfg.default.is_empty()).then_some(cfg.default));
        }
        let ids = view.list("keys/").await?;
        if ids.iter().any(|i| i == reference) {
            return Ok(Some(reference.to_string()));
        }
        for id in ids {
            if let Some(rec) = get_json::<KeyRecordMeta>(view, &format!("keys/{id}")).await? {
                if rec.name == reference {
                    return Ok(Some(id));
                }
            }
        }
        Ok(None)
    }
}

/// The non-secret fields of a key record (for listings).
#[derive(Debug, Deserialize)]
pub(crate) struct KeyRecordMeta {
    #[serde(default)]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    pub(crate) key_type: KeyType,
    #[serde(default)]
    pub(crate) bits: u32,
}
