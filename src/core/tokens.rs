//! Token storage. A token is a random string the client holds; the server
//! keeps only an HMAC-SHA256 of it under a per-cluster key, so a storage dump
//! (or a log line with a storage key) never reveals a usable token.
//! Lookups go by hash, so the comparison happens inside the storage lookup;
//! hashes are compared in constant time wherever we hold two of them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::barrier::{Barrier, BarrierError};

/// Barrier path of the HMAC key used to hash tokens.
pub(crate) const TOKEN_HMAC_KEY_PATH: &str = "core/token-hmac-key";
const TOKEN_PREFIX: &str = "sys/token/id/";
/// Vault 1.10+ service tokens start with `hvs.`; clients treat it as opaque.
pub(crate) const SERVICE_TOKEN_PREFIX: &str = "hvs.";

/// What the server remembers about a token. Never contains the token itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TokenEntry {
    pub(crate) accessor: String,
    pub(crate) policies: Vec<String>,
    pub(crate) path: String,
    pub(crate) display_name: String,
    /// Unix seconds.
    pub(crate) creation_time: i64,
    pub(crate) issue_time: String,
    #[serde(default)]
    pub(crate) ttl: u64,
    #[serde(default)]
    pub(crate) orphan: bool,
}

impl TokenEntry {
    pub(crate) fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }
}

/// The keyed hash of a token.
pub(crate) struct TokenHasher {
    key: Zeroizing<Vec<u8>>,
}

impl TokenHasher {
    pub(crate) fn hash(&self, token: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(token.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Generates a fresh random token with Vault's service-token prefix.
pub(crate) fn generate_token() -> String {
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{SERVICE_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(b))
}

fn generate_accessor() -> String {
    let mut b = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Loads the HMAC key, creating it on first use (at init).
pub(crate) async fn load_hasher(barrier: &Barrier) -> Result<TokenHasher, BarrierError> {
    if let Some(k) = barrier.get(TOKEN_HMAC_KEY_PATH).await? {
        return Ok(TokenHasher {
            key: Zeroizing::new(k),
        });
    }
    let mut k = Zeroizing::new(vec![0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut k);
    barrier.put(TOKEN_HMAC_KEY_PATH, &k).await?;
    Ok(TokenHasher { key: k })
}

/// Stores a root token (`token` given, or generated) and returns it.
pub(crate) async fn create_root_token(
    barrier: &Barrier,
    hasher: &TokenHasher,
    token: Option<String>,
) -> Result<String, BarrierError> {
    let token = token.unwrap_or_else(generate_token);
    let now = chrono::Utc::now();
    let entry = TokenEntry {
        accessor: generate_accessor(),
        policies: vec!["root".into()],
        path: "auth/token/root".into(),
        display_name: "root".into(),
        creation_time: now.timestamp(),
        issue_time: crate::util::rfc3339(now),
        ttl: 0,
        orphan: true,
    };
    let bytes = serde_json::to_vec(&entry).map_err(|e| BarrierError::Corrupt(e.to_string()))?;
    barrier
        .put(&format!("{TOKEN_PREFIX}{}", hasher.hash(&token)), &bytes)
        .await?;
    Ok(token)
}

/// Finds the entry for a presented token, if any.
pub(crate) async fn lookup(
    barrier: &Barrier,
    hasher: &TokenHasher,
    token: &str,
) -> Result<Option<TokenEntry>, BarrierError> {
    if token.is_empty() || token.len() > 512 {
        return Ok(None);
    }
    let Some(bytes) = barrier
        .get(&format!("{TOKEN_PREFIX}{}", hasher.hash(token)))
        .await?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| BarrierError::Corrupt(format!("token entry: {e}")))
}
