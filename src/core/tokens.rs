//! The token store's storage side: creating, finding, renewing and revoking
//! tokens. (The `auth/token/` HTTP endpoints are in `token_store/`.)
//!
//! A token is a random string the client holds; the server keeps only an
//! HMAC-SHA256 of it under a per-cluster key, so a storage dump (or a log
//! line naming a storage key) never reveals a usable token. Lookups go by
//! hash, and wherever two hashes are compared it is in constant time.
//!
//! Layout (all through the barrier):
//! * `sys/token/id/<hash>`: the [`TokenEntry`]
//! * `sys/token/accessor/<accessor>`: the token's hash
//! * `sys/token/parent/<parent hash>/<child hash>`: parent → children index
//! * `sys/expire/<unix seconds, 12 digits>/<hash>`: expiration index, so the
//!   sweeper lists only what is due instead of scanning every token.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::barrier::{Barrier, BarrierError};
use crate::storage::{BatchItem, Condition, StorageError};
use crate::util::Clock;

/// Barrier path of the HMAC key used to hash tokens.
pub(crate) const TOKEN_HMAC_KEY_PATH: &str = "core/token-hmac-key";
const ID_PREFIX: &str = "sys/token/id/";
const ACCESSOR_PREFIX: &str = "sys/token/accessor/";
const PARENT_PREFIX: &str = "sys/token/parent/";
pub(crate) const EXPIRE_PREFIX: &str = "sys/expire/";
/// Vault 1.10+ service tokens start with `hvs.`; clients treat it as opaque.
pub(crate) const SERVICE_TOKEN_PREFIX: &str = "hvs.";

/// What the server remembers about a token. Never contains the token itself.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub(crate) struct TokenEntry {
    pub(crate) accessor: String,
    pub(crate) policies: Vec<String>,
    #[serde(default)]
    pub(crate) meta: BTreeMap<String, String>,
    pub(crate) path: String,
    pub(crate) display_name: String,
    /// Unix seconds.
    pub(crate) creation_time: i64,
    pub(crate) issue_time: String,
    /// TTL granted at creation or last renewal (seconds; 0 = never expires).
    #[serde(default)]
    pub(crate) ttl: u64,
    /// TTL at creation, reported as `creation_ttl`.
    #[serde(default)]
    pub(crate) creation_ttl: u64,
    /// Unix seconds when the token expires (0 = never).
    #[serde(default)]
    pub(crate) expire_time: i64,
    /// Unix seconds past which renewals cannot extend (0 = no cap).
    #[serde(default)]
    pub(crate) max_expire_time: i64,
    #[serde(default)]
    pub(crate) explicit_max_ttl: u64,
    #[serde(default)]
    pub(crate) period: u64,
    /// Remaining uses (0 = unlimited).
    #[serde(default)]
    pub(crate) num_uses: u64,
    #[serde(default)]
    pub(crate) renewable: bool,
    #[serde(default)]
    pub(crate) orphan: bool,
    /// Hash of the parent token, for cascading revocation.
    #[serde(default)]
    pub(crate) parent: Option<String>,
    #[serde(default)]
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) bound_cidrs: Vec<String>,
    /// Set on response-wrapping tokens: where the wrapped response came from.
    #[serde(default)]
    pub(crate) wrapping: bool,
    /// The identity entity the token belongs to (empty: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) entity_id: String,
}

impl TokenEntry {
    pub(crate) fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Seconds left before expiry at `now` (0 for tokens that never expire).
    pub(crate) fn remaining_ttl(&self, now: i64) -> u64 {
        if self.expire_time == 0 {
            0
        } else {
            (self.expire_time - now).max(0) as u64
        }
    }
}

/// A token found in storage: its hash, entry, and raw bytes for CAS updates.
/// Entry and bytes are shared: every request clones its caller out of the
/// token cache, which must not copy the whole entry (bench/PROFILE.md).
#[derive(Clone)]
pub(crate) struct FoundToken {
    pub(crate) hash: String,
    pub(crate) entry: Arc<TokenEntry>,
    raw: Arc<[u8]>,
}

/// The keyed hash of a token. The key schedule is computed once at unseal
/// (every request hashes its token: re-keying cost half of each hash), and
/// the keyed state is wiped when the hasher drops (on seal).
pub(crate) struct TokenHasher {
    keyed: crate::keyed_hmac::KeyedHmac,
}

impl TokenHasher {
    fn new(key: &[u8]) -> Self {
        Self {
            keyed: crate::keyed_hmac::KeyedHmac::new(key),
        }
    }

    pub(crate) fn hash(&self, token: &str) -> String {
        self.keyed.hex(token.as_bytes())
    }

    /// Hash `token` and compare with `hash` in constant time.
    #[cfg(test)]
    pub(crate) fn matches(&self, token: &str, hash: &str) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.hash(token).as_bytes(), hash.as_bytes()).into()
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
        let k = Zeroizing::new(k);
        return Ok(TokenHasher::new(&k));
    }
    let mut k = Zeroizing::new(vec![0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut k);
    barrier.put(TOKEN_HMAC_KEY_PATH, &k).await?;
    Ok(TokenHasher::new(&k))
}

/// Everything needed to mint a token; TTLs are already resolved by the caller.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewToken {
    /// The token string to use (dev root token); random when `None`.
    pub(crate) id: Option<String>,
    pub(crate) policies: Vec<String>,
    pub(crate) meta: BTreeMap<String, String>,
    pub(crate) display_name: String,
    pub(crate) path: String,
    /// Effective TTL in seconds (0 = never expires; only root tokens).
    pub(crate) ttl: u64,
    /// Seconds from creation past which renewals cannot extend (0 = none).
    pub(crate) max_ttl: u64,
    pub(crate) explicit_max_ttl: u64,
    pub(crate) period: u64,
    pub(crate) num_uses: u64,
    pub(crate) renewable: bool,
    pub(crate) parent: Option<String>,
    pub(crate) role: String,
    pub(crate) bound_cidrs: Vec<String>,
    pub(crate) wrapping: bool,
    pub(crate) entity_id: String,
}

fn corrupt(e: serde_json::Error) -> BarrierError {
    BarrierError::Corrupt(format!("token entry: {e}"))
}

fn expire_key(at: i64, hash: &str) -> String {
    format!("{EXPIRE_PREFIX}{at:012}/{hash}")
}

/// The token store over the barrier.
#[derive(Clone)]
pub(crate) struct TokenStore {
    barrier: Arc<Barrier>,
    hasher: Arc<TokenHasher>,
    clock: Arc<dyn Clock>,
    /// Unlimited-use tokens by hash, so a warm request needs no token read.
    /// Every change to a token entry bumps the cluster generation, which
    /// clears this cache on every node before its next request.
    cache: Arc<std::sync::RwLock<TokenCache>>,
}

/// Cached tokens, valid for one cluster generation.
#[derive(Default)]
struct TokenCache {
    generation: Vec<u8>,
    tokens: std::collections::HashMap<String, FoundToken>,
}

/// Most tokens cached at once; past it the cache starts over.
const TOKEN_CACHE_MAX: usize = 10_000;

impl TokenStore {
    pub(crate) fn new(
        barrier: Arc<Barrier>,
        hasher: Arc<TokenHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            barrier,
            hasher,
            clock,
            cache: Default::default(),
        }
    }

    /// Drops every cached token: the cluster generation is now `generation`.
    pub(crate) fn clear_cache(&self, generation: Vec<u8>) {
        if let Ok(mut c) = self.cache.write() {
            c.tokens.clear();
            c.generation = generation;
        }
    }

    fn forget(&self, hash: &str) {
        if let Ok(mut c) = self.cache.write() {
            c.tokens.remove(hash);
        }
    }

    fn cached(&self, hash: &str) -> Option<FoundToken> {
        self.cache.read().ok()?.tokens.get(hash).cloned()
    }

    /// Caches a token read at `generation`, unless the cache has since moved
    /// to another generation (the read may predate a revocation).
    fn remember(&self, found: &FoundToken, generation: &[u8]) {
        if found.entry.num_uses != 0 || found.entry.wrapping {
            return; // their state changes on use: always read fresh
        }
        if let Ok(mut c) = self.cache.write() {
            if c.generation != generation {
                return;
            }
            if c.tokens.len() >= TOKEN_CACHE_MAX {
                c.tokens.clear();
            }
            c.tokens.insert(found.hash.clone(), found.clone());
        }
    }

    /// The barrier the store writes through (secret leases share it).
    pub(crate) fn barrier(&self) -> &Arc<Barrier> {
        &self.barrier
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    #[cfg(test)]
    pub(crate) fn hasher(&self) -> &TokenHasher {
        &self.hasher
    }

    /// Creates a token; returns the token string (shown once) and its entry.
    pub(crate) async fn create(&self, new: NewToken) -> Result<(String, FoundToken), BarrierError> {
        let token = new.id.clone().unwrap_or_else(generate_token);
        let hash = self.hasher.hash(&token);
        let now_dt = self.clock.now();
        let now = now_dt.timestamp();
        let entry = TokenEntry {
            accessor: generate_accessor(),
            policies: new.policies,
            meta: new.meta,
            path: new.path,
            display_name: new.display_name,
            creation_time: now,
            issue_time: crate::util::rfc3339(now_dt),
            ttl: new.ttl,
            creation_ttl: new.ttl,
            expire_time: if new.ttl == 0 {
                0
            } else {
                now + new.ttl as i64
            },
            max_expire_time: if new.max_ttl == 0 {
                0
            } else {
                now + new.max_ttl as i64
            },
            explicit_max_ttl: new.explicit_max_ttl,
            period: new.period,
            num_uses: new.num_uses,
            renewable: new.renewable && new.ttl > 0,
            orphan: new.parent.is_none(),
            parent: new.parent,
            role: new.role,
            bound_cidrs: new.bound_cidrs,
            wrapping: new.wrapping,
            entity_id: new.entity_id,
        };
        let bytes = serde_json::to_vec(&entry).map_err(corrupt)?;
        let mut batch = vec![
            BatchItem::put(format!("{ID_PREFIX}{hash}"), bytes.clone()).when(Condition::Absent),
            BatchItem::put(
                format!("{ACCESSOR_PREFIX}{}", entry.accessor),
                hash.clone().into_bytes(),
            ),
        ];
        if let Some(parent) = &entry.parent {
            // The parent must still exist: a revoked parent cannot gain children.
            batch.push(BatchItem::check(
                format!("{ID_PREFIX}{parent}"),
                Condition::Present,
            ));
            batch.push(BatchItem::put(
                format!("{PARENT_PREFIX}{parent}/{hash}"),
                Vec::new(),
            ));
        }
        if entry.expire_time != 0 {
            batch.push(BatchItem::put(
                expire_key(entry.expire_time, &hash),
                Vec::new(),
            ));
        }
        self.barrier.batch(batch).await?;
        // Raw bytes are only used for CAS; re-read lazily when needed.
        Ok((
            token,
            FoundToken {
                hash,
                entry: Arc::new(entry),
                raw: Arc::from(Vec::new()),
            },
        ))
    }

    /// Finds a live token by its hash. Expired tokens are reported absent.
    pub(crate) async fn lookup_hash(&self, hash: &str) -> Result<Option<FoundToken>, BarrierError> {
        let now = self.now();
        if let Some(found) = self.cached(hash) {
            if found.entry.expire_time != 0 && found.entry.expire_time <= now {
                return Ok(None);
            }
            return Ok(Some(found));
        }
        let Some(v) = self
            .barrier
            .get_versioned(&format!("{ID_PREFIX}{hash}"))
            .await?
        else {
            return Ok(None);
        };
        let entry: TokenEntry = serde_json::from_slice(&v.plaintext).map_err(corrupt)?;
        if entry.expire_time != 0 && entry.expire_time <= now {
            return Ok(None);
        }
        let found = FoundToken {
            hash: hash.to_string(),
            entry: Arc::new(entry),
            raw: Arc::from(v.raw),
        };
        self.remember(&found, &v.generation);
        Ok(Some(found))
    }

    /// Finds a live token by the token string.
    pub(crate) async fn lookup(&self, token: &str) -> Result<Option<FoundToken>, BarrierError> {
        if token.is_empty() || token.len() > 512 {
            return Ok(None);
        }
        self.lookup_hash(&self.hasher.hash(token)).await
    }

    pub(crate) async fn lookup_accessor(
        &self,
        accessor: &str,
    ) -> Result<Option<FoundToken>, BarrierError> {
        if accessor.is_empty() || accessor.contains('/') {
            return Ok(None);
        }
        match self
            .barrier
            .get(&format!("{ACCESSOR_PREFIX}{accessor}"))
            .await?
        {
            Some(hash) => self.lookup_hash(&String::from_utf8_lossy(&hash)).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn list_accessors(&self) -> Result<Vec<String>, BarrierError> {
        self.barrier.list(ACCESSOR_PREFIX).await
    }

    /// Spends one use of a use-limited token. The last use revokes it (the
    /// request that spends it still runs). Concurrent uses are serialized by
    /// a conditional write, so a token can never be used more than allowed.
    /// Returns false when the token has no uses left (or vanished).
    pub(crate) async fn consume_use(&self, found: &FoundToken) -> Result<bool, BarrierError> {
        if found.entry.num_uses == 0 {
            return Ok(true); // unlimited: the common case, no copy
        }
        let mut current = found.clone();
        for _ in 0..8 {
            if current.entry.num_uses == 0 {
                return Ok(true);
            }
            if current.entry.num_uses == 1 {
                // revoke_tree deletes conditionally on the bytes we saw.
                return match self.revoke_tree_if(&current).await {
                    Ok(()) => Ok(true),
                    Err(BarrierError::Storage(StorageError::ConditionFailed(_))) => {
                        match self.lookup_hash(&current.hash).await? {
                            Some(f) => {
                                current = f;
                                continue;
                            }
                            None => Ok(false),
                        }
                    }
                    Err(e) => Err(e),
                };
            }
            let mut entry = TokenEntry::clone(&current.entry);
            entry.num_uses -= 1;
            let bytes = serde_json::to_vec(&entry).map_err(corrupt)?;
            let item = BatchItem::put(format!("{ID_PREFIX}{}", current.hash), bytes)
                .when(Condition::Equals(current.raw.to_vec()));
            match self.barrier.batch(vec![item]).await {
                Ok(()) => return Ok(true),
                Err(BarrierError::Storage(StorageError::ConditionFailed(_))) => {
                    match self.lookup_hash(&current.hash).await? {
                        Some(f) => current = f,
                        None => return Ok(false),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(BarrierError::Storage(StorageError::Backend(
            "token use count is contended; retry".into(),
        )))
    }

    /// Renews a token by `increment` seconds (0: its original TTL), capped by
    /// its max. Returns the updated entry and a warning if the cap applied.
    pub(crate) async fn renew(
        &self,
        found: &FoundToken,
        increment: u64,
    ) -> Result<(TokenEntry, Option<String>), RenewError> {
        let e: &TokenEntry = &found.entry;
        if e.expire_time == 0 {
            return Ok((e.clone(), None)); // never expires: nothing to do
        }
        if !e.renewable {
            return Err(RenewError::NotRenewable);
        }
        let now = self.now();
        let wanted = if e.period > 0 {
            e.period
        } else if increment > 0 {
            increment
        } else {
            e.creation_ttl
        };
        let mut expire = now + wanted as i64;
        let mut warning = None;
        if e.max_expire_time != 0 && expire > e.max_expire_time {
            expire = e.max_expire_time;
            warning = Some(format!(
                "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped accordingly",
                crate::util::go_duration(wanted),
                crate::util::go_duration((expire - now).max(0) as u64)
            ));
        }
        let mut entry = e.clone();
        entry.ttl = (expire - now).max(0) as u64;
        entry.expire_time = expire;
        let bytes = serde_json::to_vec(&entry).map_err(|e| RenewError::Storage(corrupt(e)))?;
        let batch = vec![
            BatchItem::put(format!("{ID_PREFIX}{}", found.hash), bytes)
                .when(Condition::Equals(found.raw.to_vec())),
            BatchItem::delete(expire_key(e.expire_time, &found.hash)),
            BatchItem::put(expire_key(expire, &found.hash), Vec::new()),
        ];
        self.forget(&found.hash);
        self.barrier
            .batch_bump(batch)
            .await
            .map_err(RenewError::Storage)?;
        Ok((entry, warning))
    }

    /// Revokes a token and, recursively, every token created from it.
    pub(crate) async fn revoke_tree(&self, hash: &str) -> Result<(), BarrierError> {
        // Children first, so a crash midway leaves the parent to retry from.
        let mut stack = vec![hash.to_string()];
        let mut order = Vec::new();
        while let Some(h) = stack.pop() {
            for child in self.barrier.list(&format!("{PARENT_PREFIX}{h}/")).await? {
                stack.push(child.trim_end_matches('/').to_string());
            }
            order.push(h);
        }
        for h in order.into_iter().rev() {
            self.delete_token(&h, None).await?;
        }
        Ok(())
    }

    async fn revoke_tree_if(&self, found: &FoundToken) -> Result<(), BarrierError> {
        // Children of a use-limited token go first, then the token itself
        // conditionally on the bytes we saw.
        for child in self
            .barrier
            .list(&format!("{PARENT_PREFIX}{}/", found.hash))
            .await?
        {
            self.revoke_tree(child.trim_end_matches('/')).await?;
        }
        self.delete_token(&found.hash, Some(found.raw.to_vec()))
            .await
    }

    /// Revokes a token only if it is unchanged since it was read: of several
    /// concurrent callers exactly one gets `true`. Response unwrapping uses
    /// this so a wrapping token unwraps once.
    pub(crate) async fn revoke_once(&self, found: &FoundToken) -> Result<bool, BarrierError> {
        match self.revoke_tree_if(found).await {
            Ok(()) => Ok(true),
            Err(BarrierError::Storage(StorageError::ConditionFailed(_))) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every live token's hash and entry (for lease listing and prefix revocation).
    pub(crate) async fn all(&self) -> Result<Vec<FoundToken>, BarrierError> {
        let mut out = Vec::new();
        for hash in self.barrier.list(ID_PREFIX).await? {
            if let Some(f) = self.lookup_hash(&hash).await? {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Revokes only this token; its children become orphans.
    pub(crate) async fn revoke_orphan(&self, hash: &str) -> Result<(), BarrierError> {
        for child in self
            .barrier
            .list(&format!("{PARENT_PREFIX}{hash}/"))
            .await?
        {
            let child = child.trim_end_matches('/').to_string();
            let key = format!("{ID_PREFIX}{child}");
            if let Some(v) = self.barrier.get_versioned(&key).await? {
                let mut entry: TokenEntry =
                    serde_json::from_slice(&v.plaintext).map_err(corrupt)?;
                entry.parent = None;
                entry.orphan = true;
                let bytes = serde_json::to_vec(&entry).map_err(corrupt)?;
                self.forget(&child);
                self.barrier
                    .batch_bump(vec![
                        BatchItem::put(key, bytes).when(Condition::Equals(v.raw)),
                        BatchItem::delete(format!("{PARENT_PREFIX}{hash}/{child}")),
                    ])
                    .await?;
            }
        }
        self.delete_token(hash, None).await
    }

    /// Deletes one token's records (entry, accessor, indexes, cubbyhole).
    async fn delete_token(&self, hash: &str, expect: Option<Vec<u8>>) -> Result<(), BarrierError> {
        let key = format!("{ID_PREFIX}{hash}");
        let Some(v) = self.barrier.get_versioned(&key).await? else {
            return match expect {
                // Someone else deleted it first: the caller lost the race.
                Some(_) => Err(BarrierError::Storage(StorageError::ConditionFailed(key))),
                None => Ok(()),
            };
        };
        let entry: TokenEntry = serde_json::from_slice(&v.plaintext).map_err(corrupt)?;
        let mut del = BatchItem::delete(key);
        if let Some(raw) = expect {
            del = del.when(Condition::Equals(raw));
        }
        let mut batch = vec![
            del,
            BatchItem::delete(format!("{ACCESSOR_PREFIX}{}", entry.accessor)),
        ];
        if let Some(parent) = &entry.parent {
            batch.push(BatchItem::delete(format!("{PARENT_PREFIX}{parent}/{hash}")));
        }
        if entry.expire_time != 0 {
            batch.push(BatchItem::delete(expire_key(entry.expire_time, hash)));
        }
        self.forget(hash);
        self.barrier.batch_bump(batch).await?;
        // The token's cubbyhole dies with it.
        let cubby = crate::logical::StorageView::new(self.barrier.clone(), cubbyhole_prefix(hash));
        cubby.clear().await?;
        Ok(())
    }

    /// Revokes every token whose expiry is at or before now. Runs on the
    /// active node only; lookups already treat expired tokens as absent, so
    /// this only reclaims storage and cascades to children.
    pub(crate) async fn sweep_expired(&self) -> Result<usize, BarrierError> {
        let now = self.now();
        let mut revoked = 0;
        for bucket in self.barrier.list(EXPIRE_PREFIX).await? {
            let Some(at) = bucket.trim_end_matches('/').parse::<i64>().ok() else {
                continue;
            };
            if at > now {
                break; // buckets are sorted by time
            }
            for hash in self
                .barrier
                .list(&format!("{EXPIRE_PREFIX}{bucket}"))
                .await?
            {
                self.revoke_tree(&hash).await?;
                // A stale index entry (token already gone) is removed too.
                self.barrier
                    .delete(&format!("{EXPIRE_PREFIX}{bucket}{hash}"))
                    .await?;
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}

/// Where a token's cubbyhole lives.
pub(crate) fn cubbyhole_prefix(hash: &str) -> String {
    format!("sys/cubbyhole/{hash}/")
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RenewError {
    #[error("lease is not renewable")]
    NotRenewable,
    #[error(transparent)]
    Storage(BarrierError),
}

#[cfg(test)]
mod tests;
