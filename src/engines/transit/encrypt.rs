//! `encrypt/`, `decrypt/`, `rewrap/`, `datakey/`: reads of the key only
//! (except encrypt's upsert of a missing key), so every node serves them.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult};

use super::batch::{self, ItemResult};
use super::crypto::{self, b64, b64_decode};
use super::policy::{KeyType, NewKey, Policy};
use super::{Transit, TransitError};

/// Encrypts `plaintext` with `version` (0 = latest) into `vault:v<N>:...`.
pub(crate) fn encrypt_value(
    p: &Policy,
    version: i64,
    context: &[u8],
    nonce: &[u8],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<(String, i64), TransitError> {
    if !p.key_type.encryption_supported() {
        return Err(TransitError::user(format!(
            "message encryption not supported for key type {}",
            p.key_type.name()
        )));
    }
    let ver =
        match version {
            0 => p.latest_version,
            v if v < 0 => {
                return Err(TransitError::user(
                    "requested version for encryption is negative",
                ))
            }
            v if v > p.latest_version => {
                return Err(TransitError::user(
                    "requested version for encryption is higher than the latest key version",
                ))
            }
            v if v < p.min_encryption_version => return Err(TransitError::user(
                "requested version for encryption is less than the minimum encryption key version",
            )),
            v => v,
        };
    let raw = if p.key_type.is_rsa() {
        super::asym::rsa_encrypt(p.entry(ver)?, plaintext)?
    } else {
        crypto::encrypt_symmetric(p, ver, context, nonce, plaintext, aad)?
    };
    Ok((format!("{}{ver}:{}", crypto::PREFIX, b64(&raw)), ver))
}

/// Decrypts a `vault:v<N>:...` value; returns the plaintext and its version.
pub(crate) fn decrypt_value(
    p: &Policy,
    value: &str,
    context: &[u8],
    aad: &[u8],
) -> Result<(Vec<u8>, i64), TransitError> {
    if !p.key_type.encryption_supported() {
        return Err(TransitError::user(format!(
            "message decryption not supported for key type {}",
            p.key_type.name()
        )));
    }
    let (mut ver, body) = crypto::parse_versioned(value, "ciphertext")?;
    if ver == 0 {
        ver = 1;
    }
    if ver > p.latest_version {
        return Err(TransitError::user("invalid ciphertext: version is too new"));
    }
    if p.min_decryption_version > 0 && ver < p.min_decryption_version {
        return Err(TransitError::user(
            "ciphertext or signature version is disallowed by policy (too old)",
        ));
    }
    let raw = b64_decode(&body)
        .map_err(|_| TransitError::user("invalid ciphertext: could not decode base64"))?;
    let plain = if p.key_type.is_rsa() {
        super::asym::rsa_decrypt(p.entry(ver)?, &raw)?
    } else {
        crypto::decrypt_symmetric(p, ver, context, &raw, aad)?
    };
    Ok((plain, ver))
}

fn not_found() -> LogicalError {
    LogicalError::bad("encryption key not found")
}

impl Transit {
    /// Whether `encrypt/<name>` targets an existing key (a missing one is a
    /// Create, which upserts the key).
    pub(crate) async fn key_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        Ok(self.load(c.view, c.path("name")).await?.is_some())
    }

    /// Creates a missing key for encrypt (Vault's upsert), with the
    /// request's `type` and `convergent_encryption`.
    async fn upsert(&self, c: &Ctx<'_>, items: &batch::Items) -> Result<Arc<Policy>, LogicalError> {
        let name = c.path("name");
        let context_set = items
            .items
            .iter()
            .any(|i| batch::text(i, "context").is_some_and(|s| !s.is_empty()));
        let convergent = c.fields.flag("convergent_encryption");
        if convergent && !context_set {
            return Err(LogicalError::bad(
                "convergent encryption requires derivation to be enabled, so context is required",
            ));
        }
        let type_name = c.fields.str("type");
        let key_type = KeyType::from_name(&type_name)
            .ok_or_else(|| LogicalError::bad(format!("unknown key type {type_name}")))?;
        let _guard = self.write_lock.lock().await;
        if let Some(p) = self.load_fresh(c.view, name).await? {
            return Ok(Arc::new(p));
        }
        let p = Policy::new(
            name,
            &NewKey {
                key_type,
                derived: context_set,
                convergent,
                exportable: false,
                allow_plaintext_backup: false,
                auto_rotate_period: 0,
                key_size: 32,
            },
        )?;
        self.store(c.view, &p).await?;
        Ok(Arc::new(p))
    }

    pub(crate) async fn encrypt(&self, c: &Ctx<'_>) -> LogicalResult {
        let items = batch::items(c)?;
        if !items.batched && !c.req.data.contains_key("plaintext") {
            return Err(LogicalError::bad("missing plaintext to encrypt"));
        }
        // Plaintexts are checked before the key is looked up or created.
        let decoded: Vec<Result<Vec<u8>, TransitError>> = items
            .items
            .iter()
            .map(|i| {
                b64_decode(&batch::text(i, "plaintext").unwrap_or_default())
                    .map_err(TransitError::User)
            })
            .collect();
        if !items.batched {
            if let Some(Err(e)) = decoded.first() {
                return Err(e.clone().into());
            }
        }
        let p = match self.load(c.view, c.path("name")).await? {
            Some(p) => p,
            // Core's existence check turns a write to a missing key into a
            // Create (so ACLs see it); root tokens skip that check, so any
            // write that finds no key upserts, as in Vault.
            None if c.operation().is_write() => self.upsert(c, &items).await?,
            None => return Err(not_found()),
        };
        let results: Vec<ItemResult> = items
            .items
            .iter()
            .zip(decoded)
            .map(|(item, plain)| {
                let plain = plain?;
                let context = batch::bytes(item, "context", "context")?;
                let nonce = batch::bytes(item, "nonce", "nonce")?;
                let aad = batch::bytes(item, "associated_data", "associated_data")?;
                let version = batch::int(item, "key_version")?;
                let (ct, ver) = encrypt_value(&p, version, &context, &nonce, &plain, &aad)?;
                let mut m = Map::new();
                m.insert("ciphertext".into(), Value::String(ct));
                m.insert("key_version".into(), json!(ver));
                Ok(m)
            })
            .collect();
        batch::respond(&items, results, &[])
    }

    pub(crate) async fn decrypt(&self, c: &Ctx<'_>) -> LogicalResult {
        let items = batch::items(c)?;
        if !items.batched && batch::text(&items.items[0], "ciphertext").is_none() {
            return Err(LogicalError::bad("missing ciphertext to decrypt"));
        }
        let p = self
            .load(c.view, c.path("name"))
            .await?
            .ok_or_else(not_found)?;
        let results: Vec<ItemResult> = items
            .items
            .iter()
            .map(|item| {
                let ct = batch::text(item, "ciphertext")
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| TransitError::user("missing ciphertext to decrypt"))?;
                let context = batch::bytes(item, "context", "context")?;
                let aad = batch::bytes(item, "associated_data", "associated_data")?;
                let (plain, _) = decrypt_value(&p, &ct, &context, &aad)?;
                let mut m = Map::new();
                m.insert("plaintext".into(), Value::String(b64(&plain)));
                Ok(m)
            })
            .collect();
        batch::respond(&items, results, &[("plaintext", json!(""))])
    }

    pub(crate) async fn rewrap(&self, c: &Ctx<'_>) -> LogicalResult {
        let items = batch::items(c)?;
        if !items.batched && batch::text(&items.items[0], "ciphertext").is_none() {
            return Err(LogicalError::bad("missing ciphertext to decrypt"));
        }
        let p = self
            .load(c.view, c.path("name"))
            .await?
            .ok_or_else(not_found)?;
        let results: Vec<ItemResult> = items
            .items
            .iter()
            .map(|item| {
                let ct = batch::text(item, "ciphertext")
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| TransitError::user("missing ciphertext to decrypt"))?;
                let context = batch::bytes(item, "context", "context")?;
                let nonce = batch::bytes(item, "nonce", "nonce")?;
                let aad = batch::bytes(item, "associated_data", "associated_data")?;
                let version = batch::int(item, "key_version")?;
                let (plain, _) = decrypt_value(&p, &ct, &context, &aad)?;
                let plain = zeroize::Zeroizing::new(plain);
                let (ct, ver) = encrypt_value(&p, version, &context, &nonce, &plain, &aad)?;
                let mut m = Map::new();
                m.insert("ciphertext".into(), Value::String(ct));
                m.insert("key_version".into(), json!(ver));
                Ok(m)
            })
            .collect();
        batch::respond(&items, results, &[])
    }

    pub(crate) async fn datakey(&self, c: &Ctx<'_>) -> LogicalResult {
        let with_plaintext = match c.path("plaintext") {
            "plaintext" => true,
            "wrapped" => false,
            _ => {
                return Err(LogicalError::bad(
                    "Invalid path, must be 'plaintext' or 'wrapped'",
                ))
            }
        };
        let bits = c.fields.get::<i64>("bits").unwrap_or(256);
        if !matches!(bits, 128 | 256 | 512) {
            return Err(LogicalError::bad("invalid bit length"));
        }
        let item = &c.req.data;
        let context = batch::bytes(item, "context", "context")?;
        let nonce = batch::bytes(item, "nonce", "nonce")?;
        let p = self
            .load(c.view, c.path("name"))
            .await?
            .ok_or_else(not_found)?;
        let key = zeroize::Zeroizing::new(super::keygen::random_bytes(bits as usize / 8));
        let version = c.fields.get::<i64>("key_version").unwrap_or(0);
        let (ct, ver) = encrypt_value(&p, version, &context, &nonce, &key, b"")?;
        let mut m = Map::new();
        m.insert("ciphertext".into(), Value::String(ct));
        m.insert("key_version".into(), json!(ver));
        if with_plaintext {
            m.insert("plaintext".into(), Value::String(b64(&key)));
        }
        Ok(crate::logical::Response::data(m))
    }
}
