//! `export/<type>/<name>(/<version>)`, `backup/<name>`, `restore(/<name>)`.

use serde_json::{json, Map};

use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult, Response};

use super::crypto::b64;
use super::keygen::{ec_private_pem, pem};
use super::policy::{go_time, KeyEntry, KeyType, OpInfo, Policy};
use super::{backup, multierror, Transit};

const TYPES: [&str; 4] = ["encryption-key", "signing-key", "hmac-key", "public-key"];

fn exported(p: &Policy, kind: &str, e: &KeyEntry) -> Result<String, LogicalError> {
    let t = p.key_type;
    let rsa_private = || -> Result<String, LogicalError> {
        let pkcs1 = zeroize::Zeroizing::new(super::der::pkcs1_from_pkcs8(&e.key)?);
        Ok(pem("RSA PRIVATE KEY", &pkcs1))
    };
    Ok(match kind {
        "hmac-key" => b64(if t == KeyType::Hmac {
            &e.key
        } else {
            &e.hmac_key
        }),
        "encryption-key" if t.is_rsa() => rsa_private()?,
        "encryption-key" => b64(&e.key),
        "signing-key" if t.is_rsa() => rsa_private()?,
        "signing-key" if t.is_ecdsa() => ec_private_pem(t, &e.key)?.to_string(),
        "signing-key" => b64(&e.key),
        _ if t == KeyType::Ed25519 => b64(e.key.get(32..64).unwrap_or_default()),
        _ => e.public_key.clone(),
    })
}

impl Transit {
    pub(crate) async fn export(&self, c: &Ctx<'_>) -> LogicalResult {
        let kind = c.path("type");
        if !TYPES.contains(&kind) {
            return Err(LogicalError::bad(format!("invalid export type: {kind}")));
        }
        let p = self
            .load(c.view, c.path("name"))
            .await?
            .ok_or(LogicalError::NotFound)?;
        let t = p.key_type;
        if kind != "public-key" && !p.exportable {
            return Err(LogicalError::bad("private key material is not exportable"));
        }
        match kind {
            "encryption-key" if !t.encryption_supported() => {
                return Err(LogicalError::bad("encryption not supported for the key"))
            }
            "signing-key" if !t.signing_supported() => {
                return Err(LogicalError::bad("signing not supported for the key"))
            }
            "public-key" if !t.is_asymmetric() => {
                return Err(LogicalError::bad(
                    "public-key export not supported for the key",
                ))
            }
            _ => {}
        }
        let mut keys = Map::new();
        match c.path("version") {
            "" => {
                for (v, e) in p.live_versions() {
                    keys.insert(v.to_string(), json!(exported(&p, kind, e)?));
                }
            }
            raw => {
                let v: i64 = if raw == "latest" {
                    p.latest_version
                } else {
                    raw.parse()
                        .map_err(|_| LogicalError::bad("version could not be parsed"))?
                };
                if v < p.min_decryption_version {
                    return Err(LogicalError::bad(
                        "version for export is below minimum decryption version",
                    ));
                }
                let e = p.keys.get(&v).ok_or_else(|| {
                    LogicalError::bad("version does not exist or cannot be found")
                })?;
                keys.insert(v.to_string(), json!(exported(&p, kind, e)?));
            }
        }
        Ok(Response::json(
            json!({"name": p.name, "type": t.name(), "keys": keys}),
        ))
    }

    pub(crate) async fn backup(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name");
        let _guard = self.write_lock.lock().await;
        let mut p = self
            .load_fresh(c.view, name)
            .await?
            .ok_or_else(|| multierror(&format!("key {name:?} not found")))?;
        if !p.exportable {
            return Err(multierror("exporting is disallowed on the policy"));
        }
        if !p.allow_plaintext_backup {
            return Err(multierror("plaintext backup is disallowed on the policy"));
        }
        p.backup_info = Some(OpInfo {
            time: go_time(chrono::Utc::now()),
            version: p.latest_version,
        });
        self.store(c.view, &p).await?;
        let encoded = backup::encode(&p).map_err(|e| LogicalError::Internal(e.to_string()))?;
        Ok(Response::json(json!({ "backup": encoded })))
    }

    pub(crate) async fn restore(&self, c: &Ctx<'_>) -> LogicalResult {
        let data = c.fields.str("backup");
        if data.is_empty() {
            return Err(LogicalError::bad("'backup' must be supplied"));
        }
        let force = c.fields.flag("force");
        let mut p =
            backup::decode(&data, c.path("name")).map_err(|e| multierror(&e.to_string()))?;
        if p.name.is_empty() || p.name.contains('/') {
            return Err(multierror("invalid key name in backup"));
        }
        let _guard = self.write_lock.lock().await;
        if !force && self.load_fresh(c.view, &p.name).await?.is_some() {
            return Err(multierror(&format!("key {:?} already exists", p.name)));
        }
        p.restore_info = Some(OpInfo {
            time: go_time(chrono::Utc::now()),
            version: p.latest_version,
        });
        self.store(c.view, &p).await?;
        Ok(Response::empty())
    }
}
