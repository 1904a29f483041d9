//! Where verification keys come from: static PEM keys from the config, a
//! JWKS URL, or the `jwks_uri` of an OIDC discovery document.
//!
//! Remote key sets are cached per node (keyed by URL and CA) and refetched
//! when a token names a `kid` the cached set lacks or no cached key
//! verifies it (the identity provider rotated its keys), at most once per
//! [`MIN_REFRESH`] per URL so that tokens with made-up `kid`s cannot turn
//! the server into a request amplifier; and after [`MAX_AGE`] regardless.
//! Discovery documents are cached the same way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::fetch::Clients;
use super::jose::{parse_jwks, Key, Token};

/// The shortest interval between two fetches of one URL.
pub(crate) const MIN_REFRESH: Duration = Duration::from_secs(1);
/// Cached key sets and discovery documents are refetched after this.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// Entries kept per mount (distinct URL + CA pairs).
const MAX_ENTRIES: usize = 64;

/// The parts of an OIDC discovery document Strongroom uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Discovery {
    pub(crate) issuer: String,
    pub(crate) jwks_uri: String,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
}

struct Entry<T> {
    value: Arc<T>,
    fetched: Instant,
}

/// Per-mount caches of remote key sets and discovery documents.
#[derive(Default)]
pub(crate) struct KeyCache {
    jwks: tokio::sync::Mutex<HashMap<String, Entry<Vec<Key>>>>,
    discovery: tokio::sync::Mutex<HashMap<String, Entry<Discovery>>>,
}

fn cache_key(url: &str, ca: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "{url}\n{}",
        hex::encode(Sha256::digest(ca.trim().as_bytes()))
    )
}

impl KeyCache {
    /// The key set at `url`, from the cache unless `refresh` (and the last
    /// fetch is older than [`MIN_REFRESH`]) or the entry is stale.
    pub(crate) async fn jwks(
        &self,
        http: &Clients,
        url: &str,
        ca: &str,
        refresh: bool,
    ) -> Result<Arc<Vec<Key>>, String> {
        let key = cache_key(url, ca);
        let mut map = self.jwks.lock().await;
        if let Some(e) = map.get(&key) {
            let age = e.fetched.elapsed();
            if age < MAX_AGE && (!refresh || age < MIN_REFRESH) {
                return Ok(e.value.clone());
            }
        }
        let doc = http
            .get_json(ca, url)
            .await
            .map_err(|e| format!("fetching keys oidc: get keys failed: {e}"))?;
        let keys = Arc::new(parse_jwks(&doc)?);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            key,
            Entry {
                value: keys.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(keys)
    }

    /// The discovery document of `issuer_url` (its issuer must be exactly
    /// that URL, as go-oidc checks).
    pub(crate) async fn discovery(
        &self,
        http: &Clients,
        issuer_url: &str,
        ca: &str,
        refresh: bool,
    ) -> Result<Arc<Discovery>, String> {
        let key = cache_key(issuer_url, ca);
        let mut map = self.discovery.lock().await;
        if let Some(e) = map.get(&key) {
            let age = e.fetched.elapsed();
            if age < MAX_AGE && (!refresh || age < MIN_REFRESH) {
                return Ok(e.value.clone());
            }
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer_url.trim_end_matches('/')
        );
        let doc = http
            .get_json(ca, &url)
            .await
            .map_err(|e| format!("error creating provider with given values: {e}"))?;
        let s = |k: &str| {
            doc.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let d = Discovery {
            issuer: s("issuer"),
            jwks_uri: s("jwks_uri"),
            authorization_endpoint: s("authorization_endpoint"),
            token_endpoint: s("token_endpoint"),
        };
        if d.issuer != issuer_url {
            return Err(format!(
                "error creating provider with given values: oidc: issuer did not match the issuer returned by provider, expected {issuer_url:?} got {:?}",
                d.issuer
            ));
        }
        if d.jwks_uri.is_empty() {
            return Err(
                "error creating provider with given values: the discovery document has no jwks_uri"
                    .into(),
            );
        }
        let d = Arc::new(d);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            key,
            Entry {
                value: d.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(d)
    }

    /// Verifies `token` against the key set at `url`, refetching it once
    /// when the token's `kid` is unknown or no cached key verifies it.
    pub(crate) async fn verify_remote(
        &self,
        http: &Clients,
        url: &str,
        ca: &str,
        token: &Token<'_>,
    ) -> Result<(), super::jose::JoseError> {
        use super::jose::JoseError;
        let keys = self
            .jwks(http, url, ca, false)
            .await
            .map_err(JoseError::KeySource)?;
        if !token.kid_unknown(&keys) && token.verify(&keys).is_ok() {
            return Ok(());
        }
        let keys = self
            .jwks(http, url, ca, true)
            .await
            .map_err(JoseError::KeySource)?;
        token.verify(&keys)
    }
}
