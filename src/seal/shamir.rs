//! The Shamir seal: the root key is wrapped with AES-256-GCM under an unseal
//! key that exists only as shares held by operators.

use async_trait::async_trait;
use blahaj::{Share, Sharks};
use zeroize::Zeroizing;

use super::{Seal, SealConfig, SealError, ROOT_KEY_PATH};
use crate::barrier::{decrypt_with_key, encrypt_with_key, Key};

pub(crate) struct ShamirSeal;

fn as_key(bytes: &[u8]) -> Result<Key, SealError> {
    if bytes.len() != 32 {
        return Err(SealError::WrongKey(
            "unseal key has the wrong length".into(),
        ));
    }
    let mut k = Zeroizing::new([0u8; 32]);
    k.copy_from_slice(bytes);
    Ok(k)
}

#[async_trait]
impl Seal for ShamirSeal {
    fn seal_type(&self) -> &'static str {
        "shamir"
    }

    fn is_auto(&self) -> bool {
        false
    }

    async fn wrap_root_key(
        &self,
        _config: &SealConfig,
        root_key: &[u8],
        operator_key: Option<&[u8]>,
    ) -> Result<Vec<u8>, SealError> {
        let key = as_key(
            operator_key
                .ok_or_else(|| SealError::Config("shamir seal needs an unseal key".into()))?,
        )?;
        Ok(encrypt_with_key(&key, ROOT_KEY_PATH, root_key))
    }

    async fn unwrap_root_key(
        &self,
        _config: &SealConfig,
        blob: &[u8],
        operator_key: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let key = as_key(
            operator_key
                .ok_or_else(|| SealError::Config("shamir seal needs an unseal key".into()))?,
        )?;
        decrypt_with_key(&key, ROOT_KEY_PATH, blob).map_err(|_| {
            SealError::WrongKey(
                "cipher: message authentication failed (the unseal keys are wrong)".into(),
            )
        })
    }
}

/// Splits `secret` into `shares` shares, any `threshold` of which recover it.
/// With one share the secret is the share itself, as Vault does.
pub(crate) fn split(secret: &[u8], shares: u8, threshold: u8) -> Vec<Zeroizing<Vec<u8>>> {
    if shares == 1 {
        return vec![Zeroizing::new(secret.to_vec())];
    }
    Sharks(threshold)
        .dealer(secret)
        .take(shares as usize)
        .map(|s| Zeroizing::new(Vec::from(&s)))
        .collect()
}

/// Recombines shares. Wrong shares yield a wrong secret (detected by the
/// caller when unwrapping fails), malformed or repeated shares an error.
pub(crate) fn combine(
    parts: &[Zeroizing<Vec<u8>>],
    threshold: u8,
) -> Result<Zeroizing<Vec<u8>>, String> {
    if threshold == 1 {
        return parts
            .first()
            .map(|p| Zeroizing::new(p.to_vec()))
            .ok_or_else(|| "no key".to_string());
    }
    let mut shares = Vec::with_capacity(parts.len());
    let mut seen = std::collections::HashSet::new();
    for p in parts {
        let share = Share::try_from(p.as_slice()).map_err(|e| format!("invalid key share: {e}"))?;
        if !seen.insert(p[0]) {
            return Err("duplicate key share".into());
        }
        shares.push(share);
    }
    Sharks(threshold)
        .recover(&shares)
        .map(Zeroizing::new)
        .map_err(|e| format!("failed to combine keys: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_subset_recovers_and_fewer_do_not() {
        let secret = [7u8; 32];
        let shares = split(&secret, 5, 3);
        assert_eq!(shares.len(), 5);
        for a in 0..5 {
            for b in (a + 1)..5 {
                for c in (b + 1)..5 {
                    let subset = vec![shares[a].clone(), shares[b].clone(), shares[c].clone()];
                    assert_eq!(combine(&subset, 3).unwrap().as_slice(), &secret);
                }
                let two = vec![shares[a].clone(), shares[b].clone()];
                assert!(combine(&two, 3)
                    .map(|s| s.as_slice() != secret)
                    .unwrap_or(true));
            }
        }
    }

    #[test]
    fn duplicate_share_is_rejected() {
        let shares = split(&[1u8; 32], 3, 2);
        assert!(combine(&[shares[0].clone(), shares[0].clone()], 2).is_err());
    }

    #[tokio::test]
    async fn wrap_and_unwrap() {
        let cfg = SealConfig {
            seal_type: "shamir".into(),
            secret_shares: 1,
            secret_threshold: 1,
            cluster_id: String::new(),
        };
        let unseal = [3u8; 32];
        let blob = ShamirSeal
            .wrap_root_key(&cfg, &[9u8; 32], Some(&unseal))
            .await
            .unwrap();
        let root = ShamirSeal
            .unwrap_root_key(&cfg, &blob, Some(&unseal))
            .await
            .unwrap();
        assert_eq!(root.as_slice(), &[9u8; 32]);
        assert!(ShamirSeal
            .unwrap_root_key(&cfg, &blob, Some(&[4u8; 32]))
            .await
            .is_err());
    }
}
