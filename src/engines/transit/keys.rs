//! `keys/<name>` (create, read, list, delete), `keys/<name>/config`,
//! `rotate`, `trim`, and the periodic auto-rotation. Every write is a
//! read-modify-write of the key under this node's write lock, stored with
//! a generation bump.

use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};

use super::policy::{KeyType, NewKey, Policy};
use super::Transit;

const MIN_AUTO_ROTATE: i64 = 3600;

fn check_auto_rotate(period: i64) -> Result<(), LogicalError> {
    if period != 0 && period < MIN_AUTO_ROTATE {
        return Err(LogicalError::bad(
            "auto rotate period must be 0 to disable or at least an hour",
        ));
    }
    Ok(())
}

fn key_response(p: &Policy) -> LogicalResult {
    Ok(Response::data(p.describe()))
}

impl Transit {
    pub(crate) async fn create_key(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name");
        let type_name = c.fields.str("type");
        let key_type = KeyType::from_name(&type_name)
            .ok_or_else(|| LogicalError::bad(format!("unknown key type {type_name}")))?;
        let derived = c.fields.flag("derived");
        let convergent = c.fields.flag("convergent_encryption");
        if convergent && !derived {
            return Err(LogicalError::bad(
                "convergent encryption requires derivation to be enabled",
            ));
        }
        if derived && !key_type.derivation_supported() {
            return Err(LogicalError::bad(format!(
                "key derivation and convergent encryption not supported for keys of type {}",
                key_type.name()
            )));
        }
        let auto_rotate = c.fields.get::<i64>("auto_rotate_period").unwrap_or(0);
        check_auto_rotate(auto_rotate)?;
        let key_size = match (key_type, c.fields.get_ok::<i64>("key_size")) {
            (KeyType::Hmac, Some(s)) if s != 0 => s,
            (KeyType::Hmac, _) => 32,
            (_, Some(s)) if s != 0 => {
                return Err(LogicalError::bad(format!(
                    "key_size is not valid for algorithm {}",
                    key_type.name()
                )))
            }
            _ => 0,
        };
        if let Some(p) = self.load(c.view, name).await? {
            return key_response(&p);
        }
        let _guard = self.write_lock.lock().await;
        if let Some(p) = self.load_fresh(c.view, name).await? {
            return key_response(&p);
        }
        let p = Policy::new(
            name,
            &NewKey {
                key_type,
                derived,
                convergent,
                exportable: c.fields.flag("exportable"),
                allow_plaintext_backup: c.fields.flag("allow_plaintext_backup"),
                auto_rotate_period: auto_rotate,
                key_size,
            },
        )?;
        self.store(c.view, &p).await?;
        key_response(&p)
    }

    pub(crate) async fn read_key(&self, c: &Ctx<'_>) -> LogicalResult {
        let p = self
            .load(c.view, c.path("name"))
            .await?
            .ok_or(LogicalError::NotFound)?;
        key_response(&p)
    }

    pub(crate) async fn list_keys(&self, c: &Ctx<'_>) -> LogicalResult {
        let mut keys = c.view.list("policy/").await?;
        keys.sort();
        Ok(Response::list(keys))
    }

    pub(crate) async fn delete_key(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name");
        let _guard = self.write_lock.lock().await;
        let p = self.load_fresh(c.view, name).await?.ok_or_else(|| {
            LogicalError::bad(format!(
                "error deleting policy {name}: could not delete key; not found"
            ))
        })?;
        if !p.deletion_allowed {
            return Err(LogicalError::bad(format!(
                "error deleting policy {name}: deletion is not allowed for this key"
            )));
        }
        self.remove(c.view, name).await?;
        Ok(Response::empty())
    }

    /// Loads the key for a change (fresh, under the write lock).
    async fn for_update(
        &self,
        c: &Ctx<'_>,
        missing: &str,
    ) -> Result<(tokio::sync::MutexGuard<'_, ()>, Policy), LogicalError> {
        let guard = self.write_lock.lock().await;
        let p = self
            .load_fresh(c.view, c.path("name"))
            .await?
            .ok_or_else(|| LogicalError::bad(missing))?;
        Ok((guard, p))
    }

    pub(crate) async fn config_key(&self, c: &Ctx<'_>) -> LogicalResult {
        let missing = format!("no existing key named {} could be found", c.path("name"));
        let (_guard, mut p) = self.for_update(c, &missing).await?;
        let before = serde_json::to_vec(&p).unwrap_or_default();
        let mut warnings = Vec::new();
        if let Some(mut v) = c.fields.get_ok::<i64>("min_decryption_version") {
            if v < 0 {
                return Err(LogicalError::bad(
                    "min decryption version cannot be negative",
                ));
            }
            if v == 0 {
                v = 1;
                warnings.push(
                    "since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1"
                        .to_string(),
                );
            }
            if v != p.min_decryption_version {
                if v > p.latest_version {
                    return Err(LogicalError::bad(format!(
                        "cannot set min decryption version of {v}, latest key version is {}",
                        p.latest_version
                    )));
                }
                p.min_decryption_version = v;
            }
        }
        if let Some(v) = c.fields.get_ok::<i64>("min_encryption_version") {
            if v < 0 {
                return Err(LogicalError::bad(
                    "min encryption version cannot be negative",
                ));
            }
            if v != p.min_encryption_version {
                if v > p.latest_version {
                    return Err(LogicalError::bad(format!(
                        "cannot set min encryption version of {v}, latest key version is {}",
                        p.latest_version
                    )));
                }
                p.min_encryption_version = v;
            }
        }
        if p.min_encryption_version > 0 && p.min_encryption_version < p.min_decryption_version {
            return Err(LogicalError::bad(format!(
                "cannot set min encryption/decryption values; min encryption version of {} must be greater than or equal to min decryption version of {}",
                p.min_encryption_version, p.min_decryption_version
            )));
        }
        if p.min_decryption_version < p.min_available_version {
            return Err(LogicalError::bad(
                "min decryption version cannot be less than the minimum available version",
            ));
        }
        if let Some(v) = c.fields.get_ok::<bool>("deletion_allowed") {
            p.deletion_allowed = v;
        }
        // Vault never turns these off once on.
        if c.fields.get_ok::<bool>("exportable") == Some(true) {
            p.exportable = true;
        }
        if c.fields.get_ok::<bool>("allow_plaintext_backup") == Some(true) {
            p.allow_plaintext_backup = true;
        }
        if let Some(v) = c.fields.get_ok::<i64>("auto_rotate_period") {
            check_auto_rotate(v)?;
            p.auto_rotate_period = v;
        }
        if serde_json::to_vec(&p).unwrap_or_default() != before {
            self.store(c.view, &p).await?;
        }
        let mut resp = Response::data(p.describe());
        resp.warnings = warnings;
        Ok(resp)
    }

    pub(crate) async fn rotate_key(&self, c: &Ctx<'_>) -> LogicalResult {
        let (_guard, mut p) = self.for_update(c, "key not found").await?;
        if p.imported {
            return Err(LogicalError::bad(format!(
                "imported key {} does not allow rotation within Vault",
                p.name
            )));
        }
        p.rotate()?;
        self.store(c.view, &p).await?;
        key_response(&p)
    }

    pub(crate) async fn trim_key(&self, c: &Ctx<'_>) -> LogicalResult {
        let (_guard, mut p) = self.for_update(c, "invalid key name").await?;
        let min = c
            .fields
            .get_ok::<i64>("min_available_version")
            .ok_or_else(|| LogicalError::bad("missing min_available_version"))?;
        if min <= 0 {
            return Err(LogicalError::bad(
                "minimum available version should be positive",
            ));
        }
        if min > p.min_decryption_version {
            return Err(LogicalError::bad(
                "minimum available version cannot be greater than minimum decryption version",
            ));
        }
        if p.min_encryption_version > 0 && min > p.min_encryption_version {
            return Err(LogicalError::bad(
                "minimum available version cannot be greater than minimum encryption version",
            ));
        }
        if min < p.min_available_version {
            return Err(LogicalError::bad(
                "minimum available version cannot be less than the current minimum available version",
            ));
        }
        if min != p.min_available_version {
            p.min_available_version = min;
            p.keys.retain(|v, _| *v >= min);
            self.store(c.view, &p).await?;
        }
        key_response(&p)
    }

    /// Rotates every key whose `auto_rotate_period` has passed since its
    /// latest version was made (run periodically on the active node).
    pub(crate) async fn auto_rotate(&self, view: &StorageView) -> Result<(), LogicalError> {
        let now = chrono::Utc::now().timestamp();
        for name in view.list("policy/").await? {
            let _guard = self.write_lock.lock().await;
            let Some(mut p) = self.load_fresh(view, &name).await? else {
                continue;
            };
            if p.auto_rotate_period <= 0 || p.imported {
                continue;
            }
            let last = p
                .keys
                .get(&p.latest_version)
                .map(|e| e.creation_time)
                .unwrap_or(0);
            if now - last >= p.auto_rotate_period {
                p.rotate()?;
                self.store(view, &p).await?;
                tracing::info!(key = %name, version = p.latest_version, "transit key auto-rotated");
            }
        }
        Ok(())
    }
}
