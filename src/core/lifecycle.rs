//! Initialization, unsealing and sealing.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::{lock_err, ClusterInfo, Core, Unsealed, CLUSTER_INFO_PATH};
use crate::barrier::{random_key, BarrierError, Key};
use crate::logical::LogicalError;
use crate::seal::{shamir, SealConfig, SealError, ROOT_KEY_PATH, SEAL_CONFIG_PATH};
use crate::storage::{BatchItem, Condition};

/// Key shares typed so far towards an unseal.
#[derive(Default)]
pub(crate) struct UnsealProgress {
    parts: Vec<Zeroizing<Vec<u8>>>,
    nonce: String,
}

/// Parameters of `sys/init`.
pub(crate) struct InitParams {
    pub(crate) secret_shares: u8,
    pub(crate) secret_threshold: u8,
    /// Root token to create instead of a random one (dev mode only).
    pub(crate) root_token: Option<String>,
}

/// What `sys/init` returns. Shares are hex-and-base64 encoded for display.
pub(crate) struct InitResult {
    pub(crate) shares: Vec<Zeroizing<Vec<u8>>>,
    pub(crate) root_token: String,
    pub(crate) recovery: bool,
}

impl InitResult {
    pub(crate) fn to_json(&self) -> Value {
        let hex: Vec<String> = self
            .shares
            .iter()
            .map(|s| hex::encode(s.as_slice()))
            .collect();
        let b64: Vec<String> = self
            .shares
            .iter()
            .map(|s| B64.encode(s.as_slice()))
            .collect();
        if self.recovery {
            json!({"keys": [], "keys_base64": [], "recovery_keys": hex, "recovery_keys_base64": b64, "root_token": self.root_token})
        } else {
            json!({"keys": hex, "keys_base64": b64, "root_token": self.root_token})
        }
    }
}

fn to_key(bytes: &[u8]) -> Result<Key, LogicalError> {
    if bytes.len() != 32 {
        return Err(LogicalError::Internal(
            "root key has the wrong length".into(),
        ));
    }
    let mut k = Zeroizing::new([0u8; 32]);
    k.copy_from_slice(bytes);
    Ok(k)
}

fn seal_error(e: SealError) -> LogicalError {
    match e {
        SealError::WrongKey(m) => LogicalError::bad(format!("Error unsealing: {m}")),
        SealError::Unavailable(m) => {
            // The SDK's text (operation names, endpoints) stays in the log.
            tracing::error!(error = %m, "seal unavailable");
            LogicalError::Unavailable("seal unavailable; retry the request".into())
        }
        SealError::Config(m) => LogicalError::bad(m),
    }
}

/// Decodes an unseal key typed by an operator: hex or base64.
fn decode_key(key: &str) -> Option<Zeroizing<Vec<u8>>> {
    let key = key.trim();
    if let Ok(b) = hex::decode(key) {
        return Some(Zeroizing::new(b));
    }
    B64.decode(key).ok().map(Zeroizing::new)
}

impl Core {
    /// The persisted seal configuration, if the cluster is initialized.
    pub(crate) async fn seal_config(&self) -> Result<Option<SealConfig>, LogicalError> {
        if let Some(c) = self.seal_config.read().map_err(|_| lock_err())?.clone() {
            return Ok(Some(c));
        }
        let Some(bytes) = self.barrier.storage().get(SEAL_CONFIG_PATH).await? else {
            return Ok(None);
        };
        let cfg: SealConfig = serde_json::from_slice(&bytes)
            .map_err(|e| LogicalError::Internal(format!("seal configuration is corrupt: {e}")))?;
        *self.seal_config.write().map_err(|_| lock_err())? = Some(cfg.clone());
        Ok(Some(cfg))
    }

    /// Initialization as last seen, without touching storage.
    pub(crate) fn initialized_cached(&self) -> bool {
        self.seal_config
            .read()
            .map(|c| c.is_some())
            .unwrap_or(false)
    }

    pub(crate) async fn is_initialized(&self) -> Result<bool, LogicalError> {
        Ok(self.seal_config().await?.is_some())
    }

    /// Initializes a new cluster: creates the root key and keyring, wraps the
    /// root key with the seal, and creates the first root token.
    pub(crate) async fn initialize(&self, params: InitParams) -> Result<InitResult, LogicalError> {
        let _guard = self.lifecycle_lock.lock().await;
        self.initializing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let result = self.initialize_locked(params).await;
        self.initializing
            .store(false, std::sync::atomic::Ordering::SeqCst);
        result
    }

    async fn initialize_locked(&self, params: InitParams) -> Result<InitResult, LogicalError> {
        if self.is_initialized().await? {
            return Err(LogicalError::bad("Vault is already initialized"));
        }
        let (n, t) = (params.secret_shares, params.secret_threshold);
        if n < 1 {
            return Err(LogicalError::bad(
                "invalid seal configuration: shares must be at least one",
            ));
        }
        if t < 1 {
            return Err(LogicalError::bad(
                "invalid seal configuration: threshold must be at least one",
            ));
        }
        if t > n {
            return Err(LogicalError::bad(
                "invalid seal configuration: threshold cannot be larger than shares",
            ));
        }
        if n > 1 && t == 1 {
            return Err(LogicalError::bad(
                "invalid seal configuration: threshold must be greater than one for multiple shares",
            ));
        }
        let auto = self.seal.is_auto();
        let config = SealConfig {
            seal_type: self.seal.seal_type().to_string(),
            secret_shares: n,
            secret_threshold: t,
            cluster_id: uuid::Uuid::new_v4().to_string(),
        };
        let root_key = random_key();
        // The operator key: the Shamir unseal key, or (auto seals) a recovery
        // key that proves operator authority but cannot decrypt anything.
        let operator_key = random_key();
        let wrapped = self
            .seal
            .wrap_root_key(
                &config,
                root_key.as_ref(),
                if auto {
                    None
                } else {
                    Some(operator_key.as_ref())
                },
            )
            .await
            .map_err(seal_error)?;
        let config_bytes =
            serde_json::to_vec(&config).map_err(|e| LogicalError::Internal(e.to_string()))?;
        self.barrier
            .initialize_with(
                &root_key,
                vec![
                    BatchItem::put(ROOT_KEY_PATH, wrapped).when(Condition::Absent),
                    BatchItem::put(SEAL_CONFIG_PATH, config_bytes).when(Condition::Absent),
                ],
            )
            .await
            .map_err(|e| match e {
                BarrierError::Storage(crate::storage::StorageError::ConditionFailed(_)) => {
                    LogicalError::bad("Vault is already initialized")
                }
                other => other.into(),
            })?;
        *self.seal_config.write().map_err(|_| lock_err())? = Some(config.clone());
        if auto {
            use sha2::Digest;
            let hashed = hex::encode(sha2::Sha256::digest(operator_key.as_ref()));
            self.barrier
                .put(RECOVERY_KEY_HASH_PATH, hashed.as_bytes())
                .await?;
        }
        self.post_unseal().await?;
        let state = self.unsealed_state()?;
        // OpenBao's dev server makes its given root token through
        // `auth/token/create`, so it (and every audit entry of it) is named
        // `token`; a root token from init is `root`.
        let display_name = if params.root_token.is_some() {
            "token"
        } else {
            "root"
        };
        let (root_token, _) = state
            .tokens
            .create(crate::core::tokens::NewToken {
                id: params.root_token,
                policies: vec!["root".into()],
                display_name: display_name.into(),
                path: "auth/token/root".into(),
                ..Default::default()
            })
            .await?;
        if !auto {
            // Vault leaves a Shamir-sealed cluster sealed after init.
            self.barrier.release_reservation().await?;
            self.seal_now()?;
        }
        let shares = shamir::split(operator_key.as_ref(), n, t);
        tracing::info!(
            seal = config.seal_type,
            shares = n,
            threshold = t,
            "initialized"
        );
        Ok(InitResult {
            shares,
            root_token,
            recovery: auto,
        })
    }

    /// Loads everything that lives behind the barrier and marks us unsealed.
    async fn post_unseal(&self) -> Result<(), LogicalError> {
        let hasher = Arc::new(crate::core::tokens::load_hasher(&self.barrier).await?);
        let cluster = match self.barrier.get(CLUSTER_INFO_PATH).await? {
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| LogicalError::Internal(format!("cluster info: {e}")))?,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                let info = ClusterInfo {
                    name: format!("vault-cluster-{}", &id[..8]),
                    id,
                };
                let b =
                    serde_json::to_vec(&info).map_err(|e| LogicalError::Internal(e.to_string()))?;
                self.barrier.put(CLUSTER_INFO_PATH, &b).await?;
                info
            }
        };
        let mounts = self.load_mount_table().await?;
        let router = Arc::new(self.build_router(&mounts));
        let tokens = crate::core::tokens::TokenStore::new(
            self.barrier.clone(),
            hasher,
            self.options.clock.clone(),
        );
        *self.unsealed.write().map_err(|_| lock_err())? = Some(Arc::new(Unsealed {
            router,
            mounts,
            tokens,
            cluster,
            system_ttls: self.options.system_ttls,
        }));
        *self.active_since.write().map_err(|_| lock_err())? = chrono::Utc::now();
        self.load_audit_table().await?;
        self.sync_declared_audit().await;
        // Best effort: standbys forward unsigned until the key exists.
        self.ensure_forwarding_key().await;
        Ok(())
    }

    /// Adds one key share (`sys/unseal`). Unseals once the threshold is met.
    pub(crate) async fn submit_unseal_key(
        &self,
        key: Option<&str>,
        reset: bool,
    ) -> Result<(), LogicalError> {
        let _guard = self.lifecycle_lock.lock().await;
        // A first share re-reads the configuration: another node may have
        // rekeyed (changed the threshold) since this one cached it.
        let fresh = self.is_sealed() && !reset && self.unseal_progress_is_empty()?;
        let config = if fresh {
            self.reload_seal_config().await?
        } else {
            self.seal_config().await?
        };
        let Some(config) = config else {
            return Err(LogicalError::bad("Vault is not initialized"));
        };
        if reset {
            *self.unseal_progress.lock().map_err(|_| lock_err())? = UnsealProgress::default();
            return Ok(());
        }
        if !self.is_sealed() {
            return Ok(());
        }
        let Some(key) = key else {
            return Err(LogicalError::bad(
                "'key' must be specified in request body as JSON, or 'reset' set to true",
            ));
        };
        let part = decode_key(key)
            .ok_or_else(|| LogicalError::bad("'key' must be a valid hex or base64 string"))?;
        if part.len() != 32 && part.len() != 33 {
            return Err(LogicalError::bad("Error unsealing: invalid key length"));
        }
        if self.seal.is_auto() {
            return Err(LogicalError::bad(
                "Error unsealing: this node uses an auto seal; unseal happens automatically",
            ));
        }
        let parts = {
            let mut progress = self.unseal_progress.lock().map_err(|_| lock_err())?;
            if progress.parts.is_empty() {
                progress.nonce = uuid::Uuid::new_v4().to_string();
            }
            // A share typed twice does not count twice.
            let dup = progress
                .parts
                .iter()
                .any(|p| subtle::ConstantTimeEq::ct_eq(p.as_slice(), part.as_slice()).into());
            if !dup {
                progress.parts.push(part);
            }
            if progress.parts.len() < config.secret_threshold as usize {
                return Ok(());
            }
            std::mem::take(&mut *progress).parts
        };
        let unseal_key = shamir::combine(&parts, config.secret_threshold)
            .map_err(|m| LogicalError::bad(format!("Error unsealing: {m}")))?;
        self.unseal_with(&config, Some(&unseal_key)).await
    }

    fn unseal_progress_is_empty(&self) -> Result<bool, LogicalError> {
        Ok(self
            .unseal_progress
            .lock()
            .map_err(|_| lock_err())?
            .parts
            .is_empty())
    }

    /// The wrapped root key as stored (physical, unencrypted record).
    pub(super) async fn stored_root_blob(&self) -> Result<Vec<u8>, LogicalError> {
        self.barrier
            .storage()
            .get(ROOT_KEY_PATH)
            .await?
            .ok_or_else(|| {
                LogicalError::Internal("the wrapped root key is missing from storage".into())
            })
    }

    /// Unwraps the root key and opens the barrier.
    async fn unseal_with(
        &self,
        config: &SealConfig,
        operator_key: Option<&[u8]>,
    ) -> Result<(), LogicalError> {
        let blob = self.stored_root_blob().await?;
        let root = self
            .seal
            .unwrap_root_key(config, &blob, operator_key)
            .await
            .map_err(seal_error)?;
        let root = to_key(&root)?;
        self.barrier.unseal(&root).await.map_err(|e| match e {
            BarrierError::Decrypt(_) => {
                LogicalError::bad("Error unsealing: the root key does not open the keyring")
            }
            other => other.into(),
        })?;
        self.post_unseal().await?;
        tracing::info!("unsealed");
        Ok(())
    }

    /// Unseals with an auto seal (no operator key). Callers retry with backoff.
    pub(crate) async fn auto_unseal(&self) -> Result<(), LogicalError> {
        let _guard = self.lifecycle_lock.lock().await;
        if !self.is_sealed() {
            return Ok(());
        }
        let Some(config) = self.seal_config().await? else {
            return Err(LogicalError::bad("Vault is not initialized"));
        };
        self.unseal_with(&config, None).await
    }

    fn seal_now(&self) -> Result<(), LogicalError> {
        *self.unsealed.write().map_err(|_| lock_err())? = None;
        self.audit.broker.clear();
        self.barrier.seal();
        *self.unseal_progress.lock().map_err(|_| lock_err())? = UnsealProgress::default();
        Ok(())
    }

    /// Seals: drops every key from memory. Requests fail with 503 until unsealed.
    pub(crate) async fn seal(&self) -> Result<(), LogicalError> {
        let _guard = self.lifecycle_lock.lock().await;
        if !self.is_sealed() {
            if let Err(e) = self.barrier.release_reservation().await {
                tracing::warn!(error = %e, "could not persist the encryption count before sealing");
            }
        }
        self.seal_now()?;
        tracing::info!("sealed");
        Ok(())
    }

    /// `sys/seal-status` body.
    pub(crate) async fn seal_status(&self) -> Result<Value, LogicalError> {
        let config = self.seal_config().await?;
        let (progress, nonce) = {
            let p = self.unseal_progress.lock().map_err(|_| lock_err())?;
            (p.parts.len(), p.nonce.clone())
        };
        let sealed = self.is_sealed();
        let mut v = json!({
            "type": self.seal.seal_type(),
            "initialized": config.is_some(),
            "sealed": sealed,
            "t": config.as_ref().map(|c| c.secret_threshold).unwrap_or(0),
            "n": config.as_ref().map(|c| c.secret_shares).unwrap_or(0),
            "progress": progress,
            "nonce": if progress > 0 { nonce } else { String::new() },
            "recovery_seal": self.seal.is_auto(),
            "version": super::API_VERSION,
            "commit_date": env!("STRONGROOM_BUILD_DATE"),
            "migration": false,
            "storage_type": self.options.storage_type,
        });
        if let Ok(state) = self.unsealed_state() {
            v["cluster_name"] = Value::from(state.cluster.name.clone());
            v["cluster_id"] = Value::from(state.cluster.id.clone());
        }
        Ok(v)
    }

    /// Dev mode: initialize with one share, unseal, and mount KV v2 at `secret/`.
    pub(crate) async fn dev_setup(
        &self,
        root_token: Option<String>,
    ) -> Result<InitResult, LogicalError> {
        let result = self
            .initialize(InitParams {
                secret_shares: 1,
                secret_threshold: 1,
                root_token,
            })
            .await?;
        if self.is_sealed() {
            let key = B64.encode(result.shares[0].as_slice());
            self.submit_unseal_key(Some(&key), false).await?;
        }
        self.update_mounts(|table| {
            let mut entry =
                crate::core::mounts::MountEntry::new("secret/", "kv", "key/value secret storage");
            entry.options.insert("version".into(), "2".into());
            table.entries.push(entry);
            Ok(())
        })
        .await?;
        Ok(result)
    }
}

/// Barrier path of the recovery key's hash (auto seals only).
pub(crate) const RECOVERY_KEY_HASH_PATH: &str = "core/recovery-key-hash";
