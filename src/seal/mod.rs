//! Seals protect the root key. The barrier's keyring is encrypted under the
//! root key; the root key is stored wrapped by the seal at [`ROOT_KEY_PATH`].
//!
//! * Shamir: the wrapping key (the "unseal key") never touches storage; the
//!   operator holds it split into shares and types a threshold of them.
//! * Auto seals (AWS KMS): the wrapping key lives in an external service and
//!   the node unwraps the root key by itself. Operators get *recovery*
//!   shares instead, which authorize sensitive operations but cannot decrypt.
//!
//! Core drives both through the one [`Seal`] trait, passing the combined
//! operator key when the seal needs one.

pub(crate) mod awskms;
pub(crate) mod shamir;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Physical (unencrypted) path of the wrapped root key.
pub(crate) const ROOT_KEY_PATH: &str = "core/root-key";
/// Physical (unencrypted) path of the seal configuration.
pub(crate) const SEAL_CONFIG_PATH: &str = "core/seal-config";

#[derive(Debug, thiserror::Error)]
pub(crate) enum SealError {
    /// The key material does not open the root key (wrong shares, wrong KMS key).
    #[error("{0}")]
    WrongKey(String),
    /// The seal's external service could not be reached; retry later.
    #[error("seal service unavailable: {0}")]
    Unavailable(String),
    #[error("seal configuration error: {0}")]
    Config(String),
}

/// Persisted description of how this cluster is sealed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct SealConfig {
    #[serde(rename = "type")]
    pub(crate) seal_type: String,
    /// Shares handed out at init (unseal shares for Shamir, recovery otherwise).
    pub(crate) secret_shares: u8,
    pub(crate) secret_threshold: u8,
    /// Random id binding auto-seal ciphertexts to this cluster.
    #[serde(default)]
    pub(crate) cluster_id: String,
}

#[async_trait]
pub(crate) trait Seal: Send + Sync + 'static {
    /// "shamir" or "awskms": what `sys/seal-status` reports as `type`.
    fn seal_type(&self) -> &'static str;

    /// True when the seal unwraps the root key by itself (no operator key),
    /// in which case init hands out recovery shares.
    fn is_auto(&self) -> bool;

    /// Wraps the root key. `operator_key` is the unseal key combined from
    /// shares for Shamir, `None` for auto seals.
    async fn wrap_root_key(
        &self,
        config: &SealConfig,
        root_key: &[u8],
        operator_key: Option<&[u8]>,
    ) -> Result<Vec<u8>, SealError>;

    /// Unwraps the stored root key.
    async fn unwrap_root_key(
        &self,
        config: &SealConfig,
        blob: &[u8],
        operator_key: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, SealError>;
}
