//! A conformance suite every storage backend must pass. Each backend's tests
//! call [`run_all`] with a fresh, empty instance.

use super::*;

pub(crate) async fn run_all(s: &dyn Storage) {
    get_put_delete(s).await;
    list_children_sorted(s).await;
    list_pagination(s).await;
    conditions(s).await;
    failed_batch_is_atomic(s).await;
    large_value(s).await;
}

async fn get_put_delete(s: &dyn Storage) {
    assert_eq!(s.get("gpd/x").await.unwrap(), None);
    s.put("gpd/x", b"1".to_vec()).await.unwrap();
    assert_eq!(s.get("gpd/x").await.unwrap(), Some(b"1".to_vec()));
    s.put("gpd/x", b"2".to_vec()).await.unwrap();
    assert_eq!(s.get("gpd/x").await.unwrap(), Some(b"2".to_vec()));
    s.delete("gpd/x").await.unwrap();
    assert_eq!(s.get("gpd/x").await.unwrap(), None);
    // Deleting a missing key is not an error.
    s.delete("gpd/x").await.unwrap();
}

async fn list_children_sorted(s: &dyn Storage) {
    for k in ["ls/b", "ls/a", "ls/c/d", "ls/c/e/f", "ls/c0", "ls0", "lr/z"] {
        s.put(k, b"v".to_vec()).await.unwrap();
    }
    assert_eq!(s.list("ls/").await.unwrap(), vec!["a", "b", "c/", "c0"]);
    assert_eq!(s.list("ls/c/").await.unwrap(), vec!["d", "e/"]);
    assert!(s.list("nothing/").await.unwrap().is_empty());
}

async fn list_pagination(s: &dyn Storage) {
    for i in 0..25 {
        s.put(&format!("pg/k{i:02}"), vec![1]).await.unwrap();
        s.put(&format!("pg/f{i:02}/inner"), vec![1]).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.list_page("pg/", after.as_deref(), 7).await.unwrap();
        assert!(page.len() <= 7);
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        seen.extend(page);
    }
    assert_eq!(seen.len(), 50);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert_eq!(s.list("pg/").await.unwrap(), seen);
}

async fn conditions(s: &dyn Storage) {
    s.batch(vec![
        BatchItem::put("cd/a", b"1".to_vec()).when(Condition::Absent)
    ])
    .await
    .unwrap();
    let err = s
        .batch(vec![
            BatchItem::put("cd/a", b"2".to_vec()).when(Condition::Absent)
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::ConditionFailed(_)));
    s.batch(vec![
        BatchItem::put("cd/a", b"3".to_vec()).when(Condition::Equals(b"1".to_vec()))
    ])
    .await
    .unwrap();
    let err = s
        .batch(vec![
            BatchItem::put("cd/a", b"4".to_vec()).when(Condition::Equals(b"1".to_vec()))
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::ConditionFailed(_)));
    assert_eq!(s.get("cd/a").await.unwrap(), Some(b"3".to_vec()));
    s.batch(vec![
        BatchItem::check("cd/a", Condition::Present),
        BatchItem::put("cd/b", vec![9]),
    ])
    .await
    .unwrap();
    assert_eq!(s.get("cd/b").await.unwrap(), Some(vec![9]));
}

async fn failed_batch_is_atomic(s: &dyn Storage) {
    s.put("at/guard", b"g".to_vec()).await.unwrap();
    let err = s
        .batch(vec![
            BatchItem::put("at/one", vec![1]),
            BatchItem::delete("at/guard"),
            BatchItem::check("at/missing", Condition::Present),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::ConditionFailed(_)));
    assert_eq!(s.get("at/one").await.unwrap(), None);
    assert_eq!(s.get("at/guard").await.unwrap(), Some(b"g".to_vec()));
}

async fn large_value(s: &dyn Storage) {
    let big: Vec<u8> = (0..(1024 * 1024 + 17)).map(|i| (i % 251) as u8).collect();
    s.put("big/v", big.clone()).await.unwrap();
    assert_eq!(s.get("big/v").await.unwrap(), Some(big));
}
