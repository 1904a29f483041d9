use super::batch::{build_transaction, plan_batch};
use super::chunks::CHUNK_SIZE;
use super::keys::{chunk_pk, marker_keys, parent_dir, value_key};
use super::options::env_nonempty;
use super::*;
use crate::aws::aws_tests_enabled;
use crate::storage::BatchItem;
use crate::storage::Condition;
use std::sync::Arc;

fn test_options(table: &str) -> Map<String, Value> {
    let mut options = Map::new();
    options.insert("table".into(), Value::String(table.to_string()));
    options.insert("create_table".into(), Value::Bool(true));
    // Never let the SDK fall back to IMDS (169.254.169.254) in tests.
    if env_nonempty("AWS_ACCESS_KEY_ID").is_none() {
        options.insert("access_key".into(), "test".into());
        options.insert("secret_key".into(), "test".into());
    }
    if env_nonempty("AWS_REGION").is_none() {
        options.insert("region".into(), "us-east-1".into());
    }
    options
}

async fn fresh(name: &str) -> DynamoStorage {
    let table = format!(
        "strongroom-test-{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    DynamoStorage::from_options(&test_options(&table))
        .await
        .expect("create test table")
}

async fn chunk_items(s: &DynamoStorage, key: &str) -> usize {
    // Chunks are big: a Query page (1 MB) holds only a few of them.
    let (mut n, mut start) = (0, None);
    loop {
        let page = s
            .query_page(&chunk_pk(key), None, 100, start)
            .await
            .unwrap();
        n += page.items.unwrap_or_default().len();
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return n,
        }
    }
}

#[test]
fn parses_options() {
    let mut m = Map::new();
    m.insert("table".into(), "vault-data".into());
    m.insert("region".into(), "eu-west-1".into());
    m.insert("endpoint".into(), "http://127.0.0.1:4566".into());
    m.insert("ha_enabled".into(), "true".into());
    m.insert("create_table".into(), Value::Bool(true));
    m.insert("consistent_reads".into(), "false".into());
    let o = DynamoOptions::parse(&m).unwrap();
    assert_eq!(o.table, "vault-data");
    assert_eq!(o.region.as_deref(), Some("eu-west-1"));
    assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:4566"));
    assert!(o.ha_enabled && o.create_table && !o.consistent_reads);
    m.insert("create_table".into(), "maybe".into());
    assert!(DynamoOptions::parse(&m)
        .unwrap_err()
        .contains("create_table"));
    m.remove("create_table");
    m.insert("table".into(), "no spaces".into());
    assert!(DynamoOptions::parse(&m).is_err());
}

#[test]
fn layout() {
    assert_eq!(
        value_key("a/b/c").unwrap(),
        ("/a/b/".to_string(), "c".to_string())
    );
    assert_eq!(
        value_key("top").unwrap(),
        ("/".to_string(), "top".to_string())
    );
    assert!(matches!(value_key("a/"), Err(StorageError::Invalid(_))));
    assert!(matches!(value_key(""), Err(StorageError::Invalid(_))));
    assert_eq!(
        marker_keys("a/b/c"),
        vec![
            ("/".to_string(), "a/".to_string()),
            ("/a/".to_string(), "b/".to_string())
        ]
    );
    assert_eq!(parent_dir("a/b/"), "a/");
    assert_eq!(parent_dir("a/"), "");
}

#[test]
fn oversized_batches_are_invalid() {
    let batch: Batch = (0..101)
        .map(|i| BatchItem::put(format!("k{i}"), vec![1]))
        .collect();
    let plans = plan_batch(batch).unwrap();
    let err = build_transaction("t", &plans, &HashMap::new()).unwrap_err();
    assert!(
        matches!(err, StorageError::Invalid(ref m) if m.contains("101 items")),
        "{err}"
    );
    let batch: Batch = (0..5)
        .map(|i| BatchItem::put(format!("k{i}"), vec![0; 1024 * 1024]))
        .collect();
    let plans = plan_batch(batch).unwrap();
    let err = build_transaction("t", &plans, &HashMap::new()).unwrap_err();
    assert!(
        matches!(err, StorageError::Invalid(ref m) if m.contains("4 MB")),
        "{err}"
    );
}

#[tokio::test]
async fn conformance() {
    if !aws_tests_enabled("storage::dynamodb::conformance") {
        return;
    }
    let s = fresh("conformance").await;
    crate::storage::conformance::run_all(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers() {
    if !aws_tests_enabled("storage::dynamodb::concurrent_writers") {
        return;
    }
    let s = Arc::new(fresh("concurrent").await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut wins = 0u64;
            for _ in 0..10 {
                let current = s.get("counter/n").await.unwrap();
                let n: u64 = current
                    .as_deref()
                    .map_or(0, |v| String::from_utf8_lossy(v).parse().unwrap());
                let condition = match current {
                    Some(v) => Condition::Equals(v),
                    None => Condition::Absent,
                };
                let item =
                    BatchItem::put("counter/n", (n + 1).to_string().into_bytes()).when(condition);
                match s.batch(vec![item]).await {
                    Ok(()) => wins += 1,
                    Err(StorageError::ConditionFailed(_)) => {}
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
            wins
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let final_value: u64 = String::from_utf8(s.get("counter/n").await.unwrap().unwrap())
        .unwrap()
        .parse()
        .unwrap();
    eprintln!("concurrent_writers: {total} conditional increments succeeded out of 80 attempts");
    assert!(total > 0);
    assert_eq!(
        final_value, total,
        "every successful conditional write must be counted exactly once"
    );
}

#[tokio::test]
async fn request_budget() {
    if !aws_tests_enabled("storage::dynamodb::request_budget") {
        return;
    }
    let s = fresh("budget").await;
    let mut last = s.request_count();
    let mut cost = || {
        let now = s.request_count();
        let d = now - last;
        last = now;
        d
    };
    s.put("logical/abc/foo", b"v1".to_vec()).await.unwrap();
    assert_eq!(cost(), 1, "put = one TransactWriteItems");
    s.put("logical/abc/foo", b"v2".to_vec()).await.unwrap();
    assert_eq!(cost(), 1, "overwrite = one TransactWriteItems");
    assert_eq!(
        s.get("logical/abc/foo").await.unwrap(),
        Some(b"v2".to_vec())
    );
    assert_eq!(cost(), 1, "get = one GetItem");
    assert_eq!(s.get("logical/abc/missing").await.unwrap(), None);
    assert_eq!(cost(), 1, "get of a missing key = one GetItem");
    s.put("logical/abc/bar", b"b".to_vec()).await.unwrap();
    cost();
    assert_eq!(s.list("logical/abc/").await.unwrap(), vec!["bar", "foo"]);
    assert_eq!(cost(), 1, "list = one Query");
    assert_eq!(s.list("logical/").await.unwrap(), vec!["abc/"]);
    assert_eq!(cost(), 1, "list of folders = one Query");
    let many = s
        .get_many(&["logical/abc/foo", "logical/abc/bar", "logical/x"])
        .await
        .unwrap();
    assert_eq!(many, vec![Some(b"v2".to_vec()), Some(b"b".to_vec()), None]);
    assert_eq!(cost(), 1, "get_many = one BatchGetItem");
    s.delete("logical/abc/bar").await.unwrap();
    assert_eq!(
        cost(),
        2,
        "delete = one TransactWriteItems + one Query (folder not empty)"
    );
    let big = vec![7u8; 1024 * 1024];
    s.put("logical/abc/big", big.clone()).await.unwrap();
    assert_eq!(cost(), 1, "chunked put = one TransactWriteItems");
    assert_eq!(s.get("logical/abc/big").await.unwrap(), Some(big));
    assert_eq!(cost(), 2, "chunked get = GetItem + BatchGetItem");
    s.put("logical/abc/big", b"small".to_vec()).await.unwrap();
    assert_eq!(
        cost(),
        2,
        "shrinking a chunked value = guard failure + one more TransactWriteItems"
    );
}

#[tokio::test]
async fn stale_chunks_are_deleted() {
    if !aws_tests_enabled("storage::dynamodb::stale_chunks_are_deleted") {
        return;
    }
    let s = fresh("chunks").await;
    let big: Vec<u8> = (0..3 * CHUNK_SIZE + 5).map(|i| (i % 253) as u8).collect();
    s.put("c/k", big.clone()).await.unwrap();
    assert_eq!(chunk_items(&s, "c/k").await, 4);
    let smaller = vec![1u8; CHUNK_SIZE + 1];
    s.put("c/k", smaller.clone()).await.unwrap();
    assert_eq!(chunk_items(&s, "c/k").await, 2);
    assert_eq!(s.get("c/k").await.unwrap(), Some(smaller.clone()));
    // Conditions compare hashes, so they work on chunked values.
    s.batch(vec![
        BatchItem::put("c/k", big.clone()).when(Condition::Equals(smaller.clone()))
    ])
    .await
    .unwrap();
    let err = s
        .batch(vec![
            BatchItem::put("c/k", b"x".to_vec()).when(Condition::Equals(smaller))
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::ConditionFailed(ref k) if k == "c/k"),
        "{err}"
    );
    assert_eq!(s.get("c/k").await.unwrap(), Some(big.clone()));
    s.put("c/k", b"tiny".to_vec()).await.unwrap();
    assert_eq!(chunk_items(&s, "c/k").await, 0);
    assert_eq!(s.get("c/k").await.unwrap(), Some(b"tiny".to_vec()));
    s.put("c/k", big).await.unwrap();
    s.delete("c/k").await.unwrap();
    assert_eq!(chunk_items(&s, "c/k").await, 0);
    assert_eq!(s.get("c/k").await.unwrap(), None);
}

#[tokio::test]
async fn empty_folders_disappear() {
    if !aws_tests_enabled("storage::dynamodb::empty_folders_disappear") {
        return;
    }
    let s = fresh("folders").await;
    s.put("f/a/b/c", vec![1]).await.unwrap();
    s.put("f/d", vec![2]).await.unwrap();
    assert_eq!(s.list("f/").await.unwrap(), vec!["a/", "d"]);
    s.delete("f/a/b/c").await.unwrap();
    assert_eq!(s.list("f/").await.unwrap(), vec!["d"]);
    assert_eq!(s.list("f/a/").await.unwrap(), Vec::<String>::new());
    s.batch(vec![
        BatchItem::delete("f/d"),
        BatchItem::put("g/x", vec![3]),
    ])
    .await
    .unwrap();
    assert_eq!(s.list("").await.unwrap(), vec!["g/"]);
    // A prefix that is not a folder lists the matching children.
    s.put("g/xy/z", vec![4]).await.unwrap();
    assert_eq!(s.list("g/x").await.unwrap(), vec!["", "y/"]);
}

#[tokio::test]
async fn merged_items_on_one_key() {
    if !aws_tests_enabled("storage::dynamodb::merged_items_on_one_key") {
        return;
    }
    let s = fresh("merge").await;
    s.put("m/k", b"1".to_vec()).await.unwrap();
    // A check and a put on the same key become one transaction item.
    s.batch(vec![
        BatchItem::check("m/k", Condition::Equals(b"1".to_vec())),
        BatchItem::put("m/k", b"2".to_vec()),
        BatchItem::put("m/other", b"o".to_vec()),
    ])
    .await
    .unwrap();
    assert_eq!(s.get("m/k").await.unwrap(), Some(b"2".to_vec()));
    let err = s
        .batch(vec![
            BatchItem::check("m/k", Condition::Equals(b"1".to_vec())),
            BatchItem::delete("m/k"),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::ConditionFailed(_)));
    assert!(matches!(s.get("m/").await, Err(StorageError::Invalid(_))));
}
