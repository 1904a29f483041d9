//! The barrier: everything that crosses it into storage is encrypted.
//!
//! Ciphertext layout: `term (u32 BE) | version (1 byte) | nonce (12) | AES-256-GCM
//! ciphertext+tag`. The storage path is the associated data, so a value copied
//! to another key fails to decrypt instead of silently moving a secret.
//! The barrier sits directly on physical storage and is the only thing the
//! layers above (core, logical backends) talk to.

pub(crate) mod keyring;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::storage::{Batch, BatchItem, Condition, Op, Storage, StorageError};
pub(crate) use keyring::{random_key, Key, Keyring};

/// The only ciphertext version we write: AES-256-GCM with the path as AAD.
const VERSION_GCM_AAD: u8 = 2;
const HEADER_LEN: usize = 4 + 1 + 12;
/// A random value rewritten whenever something nodes cache changes (mount
/// table, policies, keyring terms, token revocations). It is read together
/// with every barrier read, so a node learns its caches are stale in the
/// same storage round trip that serves the request. Stored unencrypted: it
/// is a nonce, and tampering with it can only cause cache reloads.
pub(crate) const GENERATION_KEY: &str = "core/generation";
tokio::task_local! {
    /// Set when the current request's task has read the cluster generation
    /// (every barrier read does), so core knows whether it must look.
    pub(crate) static GENERATION_SEEN: std::cell::Cell<bool>;
}

/// Where the keyring lives, encrypted under the root key.
pub(crate) const KEYRING_PATH: &str = "core/keyring";
/// How many encryptions are reserved (persisted) at a time.
const RESERVATION_BLOCK: u64 = 100_000;
/// Rotate before a term's random-nonce budget (2^32) is at risk; Vault's
/// default threshold is the same 90 percent.
const DEFAULT_ROTATE_THRESHOLD: u64 = 3_865_470_566;

#[derive(Debug, thiserror::Error)]
pub(crate) enum BarrierError {
    #[error("Vault is sealed")]
    Sealed,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("failed to decrypt the value at {0:?}: wrong key, wrong path or tampered data")]
    Decrypt(String),
    #[error("the value at {path:?} was written with unknown key term {term}")]
    UnknownTerm { path: String, term: u32 },
    #[error("corrupt barrier data: {0}")]
    Corrupt(String),
}

/// A value read through the barrier, with the raw bytes for check-and-set.
pub(crate) struct Versioned {
    pub(crate) plaintext: Vec<u8>,
    /// The encrypted bytes as stored; pass to [`Barrier::batch`] in a
    /// [`Condition::Equals`] to write only if nothing changed meanwhile.
    pub(crate) raw: Vec<u8>,
    /// The cluster generation read in the same round trip.
    pub(crate) generation: Vec<u8>,
}

/// A stored value still encrypted (see [`Barrier::get_sealed`]).
pub(crate) struct Sealed {
    /// The encrypted bytes as stored.
    pub(crate) raw: Vec<u8>,
    /// The cluster generation read in the same round trip.
    pub(crate) generation: Vec<u8>,
}

struct Unsealed {
    root_key: Key,
    keyring: Keyring,
    ciphers: HashMap<u32, Aes256Gcm>,
    /// Encryptions done with the active term (live count).
    encryptions: AtomicU64,
}

/// Key status as reported by `sys/key-status`.
#[derive(Serialize)]
pub(crate) struct KeyStatus {
    pub(crate) term: u32,
    pub(crate) install_time: String,
    pub(crate) encryptions: u64,
}

pub(crate) struct Barrier {
    storage: Arc<dyn Storage>,
    /// The cluster generation most recently read from storage (see
    /// [`GENERATION_KEY`]).
    seen_generation: RwLock<Vec<u8>>,
    /// Generations this node wrote itself (the most recent few): a change
    /// we made ourselves needs no replay of the request that made it.
    own_generations: std::sync::Mutex<std::collections::VecDeque<Vec<u8>>>,
    // std RwLock: held only for in-memory work, never across an await.
    state: RwLock<Option<Unsealed>>,
    // Serializes keyring rewrites (rotation, reservations).
    keyring_write: tokio::sync::Mutex<()>,
    rotate_threshold: AtomicU64,
    /// Set when this node is the only writer of its storage (no HA): its
    /// view of the generation is then always current and never needs a read.
    sole_writer: std::sync::atomic::AtomicBool,
}

fn cipher_for(key: &Key) -> Aes256Gcm {
    Aes256Gcm::new_from_slice(key.as_ref()).expect("AES-256 key is 32 bytes")
}

/// Encrypts `plaintext` with `cipher`, binding it to `path`.
fn seal_value(cipher: &Aes256Gcm, term: u32, path: &str, plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: path.as_bytes(),
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.extend_from_slice(&term.to_be_bytes());
    out.push(VERSION_GCM_AAD);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn term_of(path: &str, raw: &[u8]) -> Result<u32, BarrierError> {
    if raw.len() < HEADER_LEN + 16 || raw[4] != VERSION_GCM_AAD {
        return Err(BarrierError::Corrupt(format!(
            "value at {path:?} is not barrier ciphertext"
        )));
    }
    Ok(u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

fn open_value(cipher: &Aes256Gcm, path: &str, raw: &[u8]) -> Result<Vec<u8>, BarrierError> {
    term_of(path, raw)?;
    cipher
        .decrypt(
            Nonce::from_slice(&raw[5..HEADER_LEN]),
            Payload {
                msg: &raw[HEADER_LEN..],
                aad: path.as_bytes(),
            },
        )
        .map_err(|_| BarrierError::Decrypt(path.to_string()))
}

/// Encrypts a small blob directly under a key (term 0): used for the keyring
/// under the root key and the root key under a Shamir unseal key.
pub(crate) fn encrypt_with_key(key: &Key, path: &str, plaintext: &[u8]) -> Vec<u8> {
    seal_value(&cipher_for(key), 0, path, plaintext)
}

pub(crate) fn decrypt_with_key(
    key: &Key,
    path: &str,
    raw: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
    open_value(&cipher_for(key), path, raw).map(Zeroizing::new)
}

impl Barrier {
    pub(crate) fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            seen_generation: RwLock::new(Vec::new()),
            own_generations: std::sync::Mutex::new(std::collections::VecDeque::new()),
            state: RwLock::new(None),
            keyring_write: tokio::sync::Mutex::new(()),
            rotate_threshold: AtomicU64::new(DEFAULT_ROTATE_THRESHOLD),
            sole_writer: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    pub(crate) fn is_sealed(&self) -> bool {
        self.state.read().map(|s| s.is_none()).unwrap_or(true)
    }

    #[cfg(test)]
    pub(crate) fn set_rotate_threshold(&self, n: u64) {
        self.rotate_threshold.store(n, Ordering::Relaxed);
    }

    /// Creates a fresh keyring under `root_key` and unseals. Used by init.
    #[cfg(test)]
    pub(crate) async fn initialize(&self, root_key: &Key) -> Result<(), BarrierError> {
        self.initialize_with(root_key, Vec::new()).await
    }

    /// Like [`Barrier::initialize`], writing `extra` physical items (the seal's
    /// records) in the same atomic batch, so a cluster is either fully
    /// initialized or not at all, and two racing inits cannot both win.
    pub(crate) async fn initialize_with(
        &self,
        root_key: &Key,
        extra: Batch,
    ) -> Result<(), BarrierError> {
        let keyring = Keyring::new();
        let blob = encrypt_with_key(root_key, KEYRING_PATH, &keyring.to_bytes());
        let mut batch = vec![BatchItem::put(KEYRING_PATH, blob).when(Condition::Absent)];
        batch.extend(extra);
        self.storage.batch(batch).await?;
        self.install(root_key, keyring)?;
        Ok(())
    }

    /// Loads the keyring with the root key the seal recovered, and unseals.
    pub(crate) async fn unseal(&self, root_key: &Key) -> Result<(), BarrierError> {
        let raw = self
            .storage
            .get(KEYRING_PATH)
            .await?
            .ok_or_else(|| BarrierError::Corrupt("keyring is missing".into()))?;
        let plain = decrypt_with_key(root_key, KEYRING_PATH, &raw)?;
        let keyring = Keyring::from_bytes(&plain).map_err(BarrierError::Corrupt)?;
        self.install(root_key, keyring)?;
        // Claim a fresh block of encryptions before the first write. An HA
        // standby cannot write; it reserves when it becomes active.
        match self.reserve_more().await {
            Err(BarrierError::Storage(StorageError::ReadOnly)) => {}
            other => other?,
        }
        Ok(())
    }

    fn install(&self, root_key: &Key, keyring: Keyring) -> Result<(), BarrierError> {
        let ciphers = keyring
            .terms
            .iter()
            .map(|(t, k)| (*t, cipher_for(&k.key)))
            .collect();
        let start = keyring.active().reserved;
        let unsealed = Unsealed {
            root_key: Zeroizing::new(**root_key),
            keyring,
            ciphers,
            encryptions: AtomicU64::new(start),
        };
        *self
            .state
            .write()
            .map_err(|_| BarrierError::Corrupt("barrier lock poisoned".into()))? = Some(unsealed);
        Ok(())
    }

    /// Drops every key from memory (they are zeroized on drop).
    pub(crate) fn seal(&self) {
        if let Ok(mut s) = self.state.write() {
            *s = None;
        }
    }

    fn with_state<T>(
        &self,
        f: impl FnOnce(&Unsealed) -> Result<T, BarrierError>,
    ) -> Result<T, BarrierError> {
        let guard = self
            .state
            .read()
            .map_err(|_| BarrierError::Corrupt("barrier lock poisoned".into()))?;
        match guard.as_ref() {
            Some(s) => f(s),
            None => Err(BarrierError::Sealed),
        }
    }

    /// Encrypts with the active term, counting the encryption. Returns whether
    /// the caller must persist a new reservation (or rotate) afterwards.
    fn encrypt(&self, path: &str, plaintext: &[u8]) -> Result<(Vec<u8>, bool), BarrierError> {
        let threshold = self.rotate_threshold.load(Ordering::Relaxed);
        self.with_state(|s| {
            let active = s.keyring.active();
            let n = s.encryptions.fetch_add(1, Ordering::Relaxed) + 1;
            let cipher = &s.ciphers[&active.term];
            let needs_attention = n >= active.reserved || n >= threshold;
            Ok((
                seal_value(cipher, active.term, path, plaintext),
                needs_attention,
            ))
        })
    }

    fn decrypt(&self, path: &str, raw: &[u8]) -> Result<Vec<u8>, BarrierError> {
        let term = term_of(path, raw)?;
        self.with_state(|s| match s.ciphers.get(&term) {
            Some(c) => open_value(c, path, raw),
            None => Err(BarrierError::UnknownTerm {
                path: path.to_string(),
                term,
            }),
        })
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BarrierError> {
        Ok(self.get_versioned(key).await?.map(|v| v.plaintext))
    }

    pub(crate) async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, BarrierError> {
        let Some(sealed) = self.get_sealed(key).await? else {
            return Ok(None);
        };
        let plaintext = self.open(key, &sealed.raw).await?;
        Ok(Some(Versioned {
            plaintext,
            raw: sealed.raw,
            generation: sealed.generation,
        }))
    }

    /// Like [`Barrier::get_versioned`] without decrypting: for a caller
    /// that may already hold the plaintext of exactly these bytes (they
    /// were authenticated when it first opened them), e.g. KV v2's record
    /// cache. [`Barrier::open`] decrypts them when it does not.
    pub(crate) async fn get_sealed(&self, key: &str) -> Result<Option<Sealed>, BarrierError> {
        if self.is_sealed() {
            return Err(BarrierError::Sealed);
        }
        let mut values = self.storage.get_many(&[key, GENERATION_KEY]).await?;
        let generation = values.pop().flatten().unwrap_or_default();
        self.observe_generation(generation.clone());
        Ok(values.pop().flatten().map(|raw| Sealed { raw, generation }))
    }

    /// Decrypts (and authenticates) `raw` as stored at `key`.
    pub(crate) async fn open(&self, key: &str, raw: &[u8]) -> Result<Vec<u8>, BarrierError> {
        match self.decrypt(key, raw) {
            // Another node rotated the key: load the new term and retry once.
            Err(BarrierError::UnknownTerm { .. }) => {
                self.reload_keyring().await?;
                self.decrypt(key, raw)
            }
            other => other,
        }
    }

    fn observe_generation(&self, generation: Vec<u8>) {
        let _ = GENERATION_SEEN.try_with(|seen| seen.set(true));
        if let Ok(mut g) = self.seen_generation.write() {
            if *g != generation {
                *g = generation;
            }
        }
    }

    fn remember_own(&self, generation: &[u8]) {
        if let Ok(mut own) = self.own_generations.lock() {
            if own.len() >= 64 {
                own.pop_front();
            }
            own.push_back(generation.to_vec());
        }
    }

    /// Whether this node wrote `generation` itself.
    pub(crate) fn is_own_generation(&self, generation: &[u8]) -> bool {
        self.own_generations
            .lock()
            .map(|own| own.iter().any(|g| g == generation))
            .unwrap_or(false)
    }

    /// Reads the cluster generation from storage (one request).
    pub(crate) async fn read_generation(&self) -> Result<(), BarrierError> {
        let generation = self.storage.get(GENERATION_KEY).await?.unwrap_or_default();
        self.observe_generation(generation);
        Ok(())
    }

    /// Declares whether this node is the only writer of its storage (a
    /// single node without HA), so [`Barrier::current_generation`] can skip
    /// the storage read.
    pub(crate) fn set_sole_writer(&self, sole: bool) {
        self.sole_writer.store(sole, Ordering::Relaxed);
    }

    /// The cluster generation as of the current request: read from storage
    /// (one request) unless this request's task already read it or this
    /// node is the only writer. What a per-node cache must compare against
    /// before serving an entry, so that a change committed on another node
    /// is honored by every request that starts after the commit.
    #[allow(dead_code)] // used through logical::cache by the engines landing next
    pub(crate) async fn current_generation(&self) -> Result<Vec<u8>, BarrierError> {
        let seen = GENERATION_SEEN.try_with(|s| s.get()).unwrap_or(false);
        if !seen && !self.sole_writer.load(Ordering::Relaxed) {
            self.read_generation().await?;
        }
        Ok(self.seen_generation())
    }

    /// The generation most recently seen in storage.
    pub(crate) fn seen_generation(&self) -> Vec<u8> {
        self.seen_generation
            .read()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// Like [`Barrier::batch`], and marks the cluster generation changed in
    /// the same atomic write, so every node drops its caches before serving
    /// its next request. Returns the new generation.
    pub(crate) async fn batch_bump(&self, batch: Batch) -> Result<Vec<u8>, BarrierError> {
        let mut generation = vec![0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut generation);
        self.remember_own(&generation);
        self.batch_inner(batch, Some(generation.clone()), None, Vec::new())
            .await?;
        self.observe_generation(generation.clone());
        Ok(generation)
    }

    /// Re-reads the keyring from storage (after another node rotated it),
    /// keeping the live encryption count.
    pub(crate) async fn reload_keyring(&self) -> Result<(), BarrierError> {
        let raw = self
            .storage
            .get(KEYRING_PATH)
            .await?
            .ok_or_else(|| BarrierError::Corrupt("keyring is missing".into()))?;
        let root = self.with_state(|s| Ok(Zeroizing::new(*s.root_key)))?;
        let plain = decrypt_with_key(&root, KEYRING_PATH, &raw)?;
        let ring = Keyring::from_bytes(&plain).map_err(BarrierError::Corrupt)?;
        let mut guard = self
            .state
            .write()
            .map_err(|_| BarrierError::Corrupt("barrier lock poisoned".into()))?;
        if let Some(s) = guard.as_mut() {
            for (t, k) in &ring.terms {
                s.ciphers.entry(*t).or_insert_with(|| cipher_for(&k.key));
            }
            if s.keyring.active_term != ring.active_term {
                s.encryptions
                    .store(ring.active().reserved, Ordering::Relaxed);
            }
            s.keyring = ring;
        }
        Ok(())
    }

    pub(crate) async fn put(&self, key: &str, value: &[u8]) -> Result<(), BarrierError> {
        self.batch(vec![BatchItem::put(key, value.to_vec())]).await
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), BarrierError> {
        self.batch(vec![BatchItem::delete(key)]).await
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>, BarrierError> {
        if self.is_sealed() {
            return Err(BarrierError::Sealed);
        }
        Ok(self.storage.list(prefix).await?)
    }

    /// Applies a batch atomically. `Put` values are plaintext here and are
    /// encrypted on the way down; `Equals` conditions carry raw bytes from
    /// [`Barrier::get_versioned`].
    pub(crate) async fn batch(&self, batch: Batch) -> Result<(), BarrierError> {
        self.batch_inner(batch, None, None, Vec::new()).await
    }

    /// Like [`Barrier::batch`], and returns the encrypted bytes written by
    /// each `Put`, as `(key, raw)` in batch order: what a later
    /// [`Condition::Equals`] on that key must carry. Lets a caller that
    /// caches records write again without first re-reading them.
    pub(crate) async fn batch_returning_raw(
        &self,
        batch: Batch,
    ) -> Result<Vec<(String, Vec<u8>)>, BarrierError> {
        let mut written = Vec::new();
        self.batch_inner(batch, None, Some(&mut written), Vec::new())
            .await?;
        Ok(written)
    }

    /// One atomic write of barrier-encrypted items (`encrypted`, whose `Put`
    /// values are plaintext) and physical, unencrypted items (`plain`):
    /// rekeying the recovery key changes the plaintext seal configuration
    /// and the encrypted recovery-key hash together or not at all.
    pub(crate) async fn batch_with_physical(
        &self,
        encrypted: Batch,
        plain: Batch,
    ) -> Result<(), BarrierError> {
        self.batch_inner(encrypted, None, None, plain).await
    }

    async fn batch_inner(
        &self,
        batch: Batch,
        generation: Option<Vec<u8>>,
        mut written: Option<&mut Vec<(String, Vec<u8>)>>,
        plain: Batch,
    ) -> Result<(), BarrierError> {
        let mut attention = false;
        let mut encrypted = Vec::with_capacity(batch.len());
        for item in batch {
            let op = match item.op {
                Op::Put { key, value } => {
                    let (ct, flag) = self.encrypt(&key, &value)?;
                    attention |= flag;
                    if let Some(out) = written.as_deref_mut() {
                        out.push((key.clone(), ct.clone()));
                    }
                    Op::Put { key, value: ct }
                }
                other => other,
            };
            encrypted.push(BatchItem {
                op,
                condition: item.condition,
            });
        }
        if let Some(generation) = generation {
            encrypted.push(BatchItem::put(GENERATION_KEY, generation));
        }
        encrypted.extend(plain);
        if self.is_sealed() {
            return Err(BarrierError::Sealed);
        }
        self.storage.batch(encrypted).await?;
        if attention {
            self.reserve_more().await?;
        }
        Ok(())
    }

    /// Persists a larger reservation for the active term, rotating first when
    /// the term has reached the rotation threshold.
    async fn reserve_more(&self) -> Result<(), BarrierError> {
        let _writer = self.keyring_write.lock().await;
        let threshold = self.rotate_threshold.load(Ordering::Relaxed);
        let (count, reserved) = self.with_state(|s| {
            Ok((
                s.encryptions.load(Ordering::Relaxed),
                s.keyring.active().reserved,
            ))
        })?;
        if count >= threshold {
            self.rotate_locked().await?;
            return Ok(());
        }
        if count + RESERVATION_BLOCK / 2 < reserved {
            return Ok(()); // someone else already reserved
        }
        self.rewrite_keyring(|ring, _| {
            let term = ring.active_term;
            if let Some(t) = ring.terms.get_mut(&term) {
                t.reserved = count + RESERVATION_BLOCK;
            }
        })
        .await
    }

    /// Lowers the persisted reservation to the live count, so that a clean
    /// seal or shutdown does not inflate the count reported after restart.
    /// (A crash keeps the reservation: the count may jump up, never down.)
    pub(crate) async fn release_reservation(&self) -> Result<(), BarrierError> {
        let _writer = self.keyring_write.lock().await;
        self.rewrite_keyring(|ring, count| {
            let term = ring.active_term;
            if let Some(t) = ring.terms.get_mut(&term) {
                t.reserved = count;
            }
        })
        .await
    }

    /// Reserves encryptions before this node's first write (on becoming the
    /// active HA node).
    pub(crate) async fn reserve(&self) -> Result<(), BarrierError> {
        self.reserve_more().await
    }

    /// Adds a new key term and makes it active. Returns the new term.
    pub(crate) async fn rotate(&self) -> Result<u32, BarrierError> {
        let _writer = self.keyring_write.lock().await;
        self.rotate_locked().await
    }

    async fn rotate_locked(&self) -> Result<u32, BarrierError> {
        let mut new_term = 0;
        self.rewrite_keyring(|ring, encryptions| {
            let old = ring.active_term;
            if let Some(t) = ring.terms.get_mut(&old) {
                t.reserved = t.reserved.max(encryptions);
            }
            new_term = ring.rotate();
            if let Some(t) = ring.terms.get_mut(&new_term) {
                t.reserved = RESERVATION_BLOCK;
            }
        })
        .await?;
        tracing::info!(term = new_term, "barrier key rotated");
        Ok(new_term)
    }

    /// Copies the keyring, applies `change`, stores it, then swaps it in.
    /// The stored copy is written first: a crash in between leaves the old
    /// in-memory ring, which is still a subset of what storage says.
    async fn rewrite_keyring(
        &self,
        change: impl FnOnce(&mut Keyring, u64),
    ) -> Result<(), BarrierError> {
        let (mut ring, root, encryptions) = self.with_state(|s| {
            let copy = Keyring::from_bytes(&s.keyring.to_bytes()).map_err(BarrierError::Corrupt)?;
            Ok((
                copy,
                Zeroizing::new(*s.root_key),
                s.encryptions.load(Ordering::Relaxed),
            ))
        })?;
        let old_term = ring.active_term;
        change(&mut ring, encryptions);
        let blob = encrypt_with_key(&root, KEYRING_PATH, &ring.to_bytes());
        let mut batch = vec![BatchItem::put(KEYRING_PATH, blob)];
        if ring.active_term != old_term {
            // A new term: other nodes must learn it (they also would on
            // first sight of a value written with it).
            let mut generation = vec![0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut generation);
            batch.push(BatchItem::put(GENERATION_KEY, generation.clone()));
            self.remember_own(&generation);
            self.storage.batch(batch).await?;
            self.observe_generation(generation);
        } else {
            self.storage.batch(batch).await?;
        }
        let mut guard = self
            .state
            .write()
            .map_err(|_| BarrierError::Corrupt("barrier lock poisoned".into()))?;
        if let Some(s) = guard.as_mut() {
            let term_changed = s.keyring.active_term != ring.active_term;
            for (t, k) in &ring.terms {
                s.ciphers.entry(*t).or_insert_with(|| cipher_for(&k.key));
            }
            if term_changed {
                s.encryptions.store(0, Ordering::Relaxed);
            }
            s.keyring = ring;
        }
        Ok(())
    }

    pub(crate) fn key_status(&self) -> Result<KeyStatus, BarrierError> {
        self.with_state(|s| {
            let active = s.keyring.active();
            Ok(KeyStatus {
                term: active.term,
                install_time: crate::util::rfc3339(active.install_time),
                encryptions: s.encryptions.load(Ordering::Relaxed),
            })
        })
    }
}

#[cfg(test)]
mod tests;
