use super::*;
use crate::storage::memory::MemoryStorage;

async fn unsealed() -> (Arc<MemoryStorage>, Barrier, Key) {
    let storage = Arc::new(MemoryStorage::new());
    let barrier = Barrier::new(storage.clone());
    let root = random_key();
    barrier.initialize(&root).await.unwrap();
    (storage, barrier, root)
}

#[tokio::test]
async fn round_trip_and_no_plaintext_in_storage() {
    let (storage, barrier, _) = unsealed().await;
    barrier
        .put("logical/x", b"super-secret-value")
        .await
        .unwrap();
    assert_eq!(
        barrier.get("logical/x").await.unwrap().unwrap(),
        b"super-secret-value"
    );
    let raw = storage.get("logical/x").await.unwrap().unwrap();
    assert!(!raw.windows(6).any(|w| w == b"secret"));
    assert_eq!(raw[4], VERSION_GCM_AAD);
}

#[tokio::test]
async fn tampered_value_fails() {
    let (storage, barrier, _) = unsealed().await;
    barrier.put("a", b"value").await.unwrap();
    let mut raw = storage.get("a").await.unwrap().unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    storage.put("a", raw).await.unwrap();
    assert!(matches!(
        barrier.get("a").await,
        Err(BarrierError::Decrypt(_))
    ));
}

#[tokio::test]
async fn value_copied_to_another_path_fails() {
    let (storage, barrier, _) = unsealed().await;
    barrier.put("a", b"value").await.unwrap();
    let raw = storage.get("a").await.unwrap().unwrap();
    storage.put("b", raw).await.unwrap();
    assert!(matches!(
        barrier.get("b").await,
        Err(BarrierError::Decrypt(_))
    ));
}

#[tokio::test]
async fn unknown_term_fails() {
    let (storage, barrier, _) = unsealed().await;
    barrier.put("a", b"value").await.unwrap();
    let mut raw = storage.get("a").await.unwrap().unwrap();
    raw[..4].copy_from_slice(&77u32.to_be_bytes());
    storage.put("a", raw).await.unwrap();
    assert!(matches!(
        barrier.get("a").await,
        Err(BarrierError::UnknownTerm { term: 77, .. })
    ));
}

#[tokio::test]
async fn rotation_keeps_old_values_and_survives_unseal() {
    let (storage, barrier, root) = unsealed().await;
    barrier.put("old", b"1").await.unwrap();
    assert_eq!(barrier.rotate().await.unwrap(), 2);
    barrier.put("new", b"2").await.unwrap();
    let raw = storage.get("new").await.unwrap().unwrap();
    assert_eq!(u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]), 2);
    barrier.seal();
    assert!(matches!(
        barrier.get("old").await,
        Err(BarrierError::Sealed)
    ));
    barrier.unseal(&root).await.unwrap();
    assert_eq!(barrier.get("old").await.unwrap().unwrap(), b"1");
    assert_eq!(barrier.get("new").await.unwrap().unwrap(), b"2");
    assert_eq!(barrier.key_status().unwrap().term, 2);
}

#[tokio::test]
async fn wrong_root_key_cannot_unseal() {
    let (storage, barrier, _) = unsealed().await;
    barrier.seal();
    let other = Barrier::new(storage);
    assert!(matches!(
        other.unseal(&random_key()).await,
        Err(BarrierError::Decrypt(_))
    ));
}

#[tokio::test]
async fn encryption_count_is_persisted_and_auto_rotates() {
    let (storage, barrier, root) = unsealed().await;
    for i in 0..5 {
        barrier.put(&format!("k{i}"), b"v").await.unwrap();
    }
    let before = barrier.key_status().unwrap().encryptions;
    assert!(before >= 5);
    // After a restart the count never goes backwards.
    let again = Barrier::new(storage.clone());
    again.unseal(&root).await.unwrap();
    assert!(again.key_status().unwrap().encryptions >= before);

    barrier.set_rotate_threshold(10);
    for i in 0..12 {
        barrier.put(&format!("r{i}"), b"v").await.unwrap();
    }
    assert!(barrier.key_status().unwrap().term >= 2);
    for i in 0..12 {
        assert_eq!(barrier.get(&format!("r{i}")).await.unwrap().unwrap(), b"v");
    }
}
