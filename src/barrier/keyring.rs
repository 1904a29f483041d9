//! The keyring: every data-encryption key term the barrier has ever used.
//!
//! Old terms stay so that values written before a rotation still decrypt;
//! only the active term encrypts. The keyring itself is stored encrypted
//! under the root key, which the seal protects.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// A 256-bit key, wiped from memory when dropped.
pub(crate) type Key = Zeroizing<[u8; 32]>;

pub(crate) fn random_key() -> Key {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(k.as_mut());
    k
}

pub(crate) struct TermKey {
    pub(crate) term: u32,
    pub(crate) key: Key,
    pub(crate) install_time: DateTime<Utc>,
    /// Encryptions reserved (persisted) for this term. The live count never
    /// exceeds it, so a crash can only over-count, never reuse a nonce budget.
    pub(crate) reserved: u64,
}

pub(crate) struct Keyring {
    pub(crate) active_term: u32,
    pub(crate) terms: BTreeMap<u32, TermKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredTerm {
    term: u32,
    key: String,
    install_time: DateTime<Utc>,
    #[serde(default)]
    reserved: u64,
}

impl Drop for StoredTerm {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

#[derive(Serialize, Deserialize)]
struct StoredKeyring {
    active_term: u32,
    terms: Vec<StoredTerm>,
}

impl Keyring {
    /// A fresh keyring with term 1.
    pub(crate) fn new() -> Self {
        let mut terms = BTreeMap::new();
        terms.insert(
            1,
            TermKey {
                term: 1,
                key: random_key(),
                install_time: Utc::now(),
                reserved: 0,
            },
        );
        Self {
            active_term: 1,
            terms,
        }
    }

    pub(crate) fn active(&self) -> &TermKey {
        // The constructor and `rotate` always insert the active term.
        &self.terms[&self.active_term]
    }

    pub(crate) fn rotate(&mut self) -> u32 {
        let term = self.active_term + 1;
        self.terms.insert(
            term,
            TermKey {
                term,
                key: random_key(),
                install_time: Utc::now(),
                reserved: 0,
            },
        );
        self.active_term = term;
        term
    }

    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let stored = StoredKeyring {
            active_term: self.active_term,
            terms: self
                .terms
                .values()
                .map(|t| StoredTerm {
                    term: t.term,
                    key: B64.encode(t.key.as_ref()),
                    install_time: t.install_time,
                    reserved: t.reserved,
                })
                .collect(),
        };
        // Serializing plain structs of strings and numbers cannot fail.
        Zeroizing::new(serde_json::to_vec(&stored).unwrap_or_default())
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let stored: StoredKeyring =
            serde_json::from_slice(bytes).map_err(|e| format!("keyring is corrupt: {e}"))?;
        let mut terms = BTreeMap::new();
        for t in &stored.terms {
            let raw = Zeroizing::new(
                B64.decode(&t.key)
                    .map_err(|_| "keyring key is not base64")?,
            );
            if raw.len() != 32 {
                return Err(format!(
                    "keyring term {} has a key of the wrong size",
                    t.term
                ));
            }
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&raw);
            terms.insert(
                t.term,
                TermKey {
                    term: t.term,
                    key,
                    install_time: t.install_time,
                    reserved: t.reserved,
                },
            );
        }
        if !terms.contains_key(&stored.active_term) {
            return Err("keyring has no active term".into());
        }
        Ok(Self {
            active_term: stored.active_term,
            terms,
        })
    }
}
