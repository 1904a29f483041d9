//! `config`: the method-wide settings (Vault's `path_config.go`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

use super::CertAuth;
use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};

const CONFIG_KEY: &str = "config";
const MAX_OCSP_CACHE_SIZE: i64 = 100_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Config {
    /// Vault skips the renewal-time certificate check with it. Strongroom
    /// renews tokens in core without asking the method, so it is stored
    /// and shown only.
    #[serde(default)]
    pub(super) disable_binding: bool,
    /// Copy the login's metadata onto the identity alias.
    #[serde(default)]
    pub(super) enable_identity_alias_metadata: bool,
    /// Kept for API compatibility; OCSP is not implemented.
    #[serde(default)]
    pub(super) ocsp_cache_size: i64,
}

pub(super) async fn load(view: &StorageView) -> Result<Config, LogicalError> {
    match view.get(CONFIG_KEY).await? {
        None => Ok(Config::default()),
        Some(b) => serde_json::from_slice(&b)
            .map_err(|e| LogicalError::Internal(format!("error reading configuration: {e}"))),
    }
}

impl CertAuth {
    pub(super) async fn read_config(&self, c: &Ctx<'_>) -> LogicalResult {
        let cfg = load(c.view).await?;
        let mut data = Map::new();
        data.insert("disable_binding".into(), json!(cfg.disable_binding));
        data.insert(
            "enable_identity_alias_metadata".into(),
            json!(cfg.enable_identity_alias_metadata),
        );
        data.insert("ocsp_cache_size".into(), json!(cfg.ocsp_cache_size));
        Ok(Response::data(data))
    }

    pub(super) async fn write_config(&self, c: &Ctx<'_>) -> LogicalResult {
        let mut cfg = load(c.view).await?;
        if let Some(b) = c.fields.get_ok::<bool>("disable_binding") {
            cfg.disable_binding = b;
        }
        if let Some(b) = c.fields.get_ok::<bool>("enable_identity_alias_metadata") {
            cfg.enable_identity_alias_metadata = b;
        }
        if let Some(n) = c.fields.get_ok::<i64>("ocsp_cache_size") {
            if !(2..=MAX_OCSP_CACHE_SIZE).contains(&n) {
                return Err(LogicalError::bad(format!(
                    "invalid cache size, must be >= 2 and <= {MAX_OCSP_CACHE_SIZE}"
                )));
            }
            cfg.ocsp_cache_size = n;
        }
        let bytes = serde_json::to_vec(&cfg)
            .map_err(|e| LogicalError::Internal(format!("encoding configuration: {e}")))?;
        c.view.put(CONFIG_KEY, &bytes).await?;
        Ok(Response::empty())
    }
}
