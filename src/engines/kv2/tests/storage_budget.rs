//! Storage round trips per request, the write cache and stale caches across instances.

use super::*;

#[tokio::test]
async fn exists_for_data_and_metadata() {
    let (kv, v) = (KvV2::new(), view().await);
    let req = |p: &str| request(Operation::Update, p, json!({}));
    assert!(!kv.exists(&req("data/e"), &v).await.unwrap());
    assert!(!kv.exists(&req("metadata/e"), &v).await.unwrap());
    assert!(kv.exists(&req("config"), &v).await.unwrap());
    put(&kv, &v, "data/e", json!({"data":{"a":1}})).await;
    assert!(kv.exists(&req("data/e"), &v).await.unwrap());
    assert!(kv.exists(&req("metadata/e"), &v).await.unwrap());
}

#[tokio::test]
async fn latest_read_is_one_storage_get() {
    // The record carries the current version's data, so nothing else is
    // needed: remove every version key and the latest still reads.
    let (kv, v) = (KvV2::new(), view().await);
    put(&kv, &v, "data/one", json!({"data":{"a":1}})).await;
    put(&kv, &v, "data/one", json!({"data":{"a":2}})).await;
    v.delete(&version_key("one", 1)).await.unwrap();
    assert_eq!(
        body_of(get(&kv, &v, "data/one", json!({})).await)["data"]["a"],
        2
    );
    assert!(matches!(
        get(&kv, &v, "data/one", json!({"version":1})).await,
        Err(LogicalError::NotFound)
    ));
}
/// Storage that counts round trips and delegates to memory storage.
#[derive(Default)]
struct Counting {
    inner: crate::storage::memory::MemoryStorage,
    gets: std::sync::atomic::AtomicUsize,
    get_manys: std::sync::atomic::AtomicUsize,
    batches: std::sync::atomic::AtomicUsize,
    lists: std::sync::atomic::AtomicUsize,
}

/// Round trips since the last reset: (get, get_many, batch, list_page).
type Trips = (usize, usize, usize, usize);

impl Counting {
    fn take(&self) -> Trips {
        use std::sync::atomic::Ordering::SeqCst;
        (
            self.gets.swap(0, SeqCst),
            self.get_manys.swap(0, SeqCst),
            self.batches.swap(0, SeqCst),
            self.lists.swap(0, SeqCst),
        )
    }
}

#[async_trait]
impl crate::storage::Storage for Counting {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get(key).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        self.get_manys
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get_many(keys).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.list_page(prefix, after, limit).await
    }

    async fn batch(&self, batch: crate::storage::Batch) -> Result<(), StorageError> {
        self.batches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.batch(batch).await
    }
}

async fn counted_view() -> (StorageView, Arc<Counting>) {
    let storage = Arc::new(Counting::default());
    let barrier = Arc::new(crate::barrier::Barrier::new(storage.clone()));
    barrier
        .initialize(&crate::barrier::random_key())
        .await
        .unwrap();
    // The first encryption persists a reservation in the keyring.
    barrier.put("warmup", b"x").await.unwrap();
    storage.take();
    (StorageView::new(barrier, "logical/test/"), storage)
}

const ONE_BATCH: Trips = (0, 0, 1, 0);
const ONE_GET: Trips = (0, 1, 0, 0);

#[tokio::test]
async fn warm_writes_are_one_batch_and_reads_one_get() {
    let (v, st) = counted_view().await;
    let kv = KvV2::new();
    // Cold: config and record are read first (batched reads of key +
    // generation, one request each).
    put(&kv, &v, "data/w", json!({"data":{"a":1}})).await;
    assert_eq!(st.take(), (0, 2, 1, 0));
    // Warm writes: one batch, no reads.
    for i in 2..=4 {
        let w = put(&kv, &v, "data/w", json!({"data":{"a":i}})).await;
        assert_eq!(w["version"], i);
        assert_eq!(st.take(), ONE_BATCH, "write {i}");
    }
    let w = put(
        &kv,
        &v,
        "data/w",
        json!({"data":{"a":5},"options":{"cas":4}}),
    )
    .await;
    assert_eq!(w["version"], 5);
    assert_eq!(st.take(), ONE_BATCH);
    let r = call(&kv, &v, Operation::Patch, "data/w", json!({"data":{"b":1}})).await;
    assert_eq!(body_of(r)["version"], 6);
    assert_eq!(st.take(), ONE_BATCH);

    // A read is one get (the barrier reads key + generation together),
    // and never answers from the cache.
    let r = body_of(get(&kv, &v, "data/w", json!({})).await);
    assert_eq!(r["data"], json!({"a":5,"b":1}));
    assert_eq!(st.take(), ONE_GET);
    body_of(get(&kv, &v, "metadata/w", json!({})).await);
    assert_eq!(st.take(), ONE_GET);
    body_of(get(&kv, &v, "subkeys/w", json!({})).await);
    assert_eq!(st.take(), ONE_GET);
    // ... and leaves the cache warm for the next write.
    put(&kv, &v, "data/w", json!({"data":{"a":7}})).await;
    assert_eq!(st.take(), ONE_BATCH);

    // Delete, undelete, destroy and metadata writes: one batch each.
    let u = Operation::Update;
    call(&kv, &v, Operation::Delete, "data/w", json!({}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    call(&kv, &v, u, "undelete/w", json!({"versions":[7]}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    call(&kv, &v, u, "delete/w", json!({"versions":[1, 2]}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    call(&kv, &v, u, "destroy/w", json!({"versions":[3]}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    call(&kv, &v, u, "metadata/w", json!({"max_versions":20}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    call(
        &kv,
        &v,
        Operation::Patch,
        "metadata/w",
        json!({"custom_metadata":{"k":"v"}}),
    )
    .await
    .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    // Config writes are one batch too, and keep data writes warm.
    put(&kv, &v, "config", json!({"max_versions":30})).await;
    assert_eq!(st.take(), ONE_BATCH);
    put(&kv, &v, "data/w", json!({"data":{"a":8}})).await;
    assert_eq!(st.take(), ONE_BATCH);
    // The existence check of a non-root write reads (one get) and warms
    // the cache: a first write to a new key is then get + batch.
    let req = request(Operation::Update, "data/fresh", json!({}));
    assert!(!kv.exists(&req, &v).await.unwrap());
    assert_eq!(st.take(), ONE_GET);
    put(&kv, &v, "data/fresh", json!({"data":{"a":1}})).await;
    assert_eq!(st.take(), ONE_BATCH);
    // Delete of the whole key: one batch; writing it again stays warm.
    call(&kv, &v, Operation::Delete, "metadata/w", json!({}))
        .await
        .unwrap();
    assert_eq!(st.take(), ONE_BATCH);
    assert_eq!(
        put(&kv, &v, "data/w", json!({"data":{"a":9}})).await["version"],
        1
    );
    assert_eq!(st.take(), ONE_BATCH);
}

/// Two engine instances over one storage, as two nodes (HA failover):
/// stale caches never produce a wrong answer or a duplicate version.
#[tokio::test]
async fn stale_caches_across_instances_stay_correct() {
    let (v, st) = counted_view().await;
    let (a, b) = (KvV2::new(), KvV2::new());
    put(&a, &v, "data/s", json!({"data":{"n":1}})).await;
    put(&a, &v, "data/s", json!({"data":{"n":2}})).await;
    // A is warm (record v2, no config). B writes v3 behind A's back.
    assert_eq!(
        put(&b, &v, "data/s", json!({"data":{"n":3}})).await["version"],
        3
    );
    // A's reads see B's write at once.
    assert_eq!(
        body_of(get(&a, &v, "data/s", json!({})).await)["data"]["n"],
        3
    );
    // A's cas against the version B wrote is judged on storage, not on
    // A's stale cache.
    let (a2, b2) = (KvV2::new(), KvV2::new());
    put(&a2, &v, "data/t", json!({"data":{"n":1}})).await;
    put(&b2, &v, "data/t", json!({"data":{"n":2}})).await;
    assert_eq!(
        put(
            &a2,
            &v,
            "data/t",
            json!({"data":{"n":3},"options":{"cas":2}})
        )
        .await["version"],
        3
    );
    // A stale no-op is re-checked too: B deletes v3, A (cached v3 live)
    // undeletes it.
    call(&b2, &v, Operation::Delete, "data/t", json!({}))
        .await
        .unwrap();
    call(
        &a2,
        &v,
        Operation::Update,
        "undelete/t",
        json!({"versions":[3]}),
    )
    .await
    .unwrap();
    call(&a2, &v, Operation::Delete, "data/t", json!({}))
        .await
        .unwrap();
    assert_eq!(
        get(&b2, &v, "data/t", json!({})).await.unwrap().status,
        Some(404)
    );

    // Warm A again, then B writes v4 and turns on cas_required.
    put(&a, &v, "data/s", json!({"data":{"n":4}})).await;
    st.take();
    put(&a, &v, "data/s", json!({"data":{"n":5}})).await;
    assert_eq!(st.take(), ONE_BATCH, "A is warm");
    assert_eq!(
        put(&b, &v, "data/s", json!({"data":{"n":6}})).await["version"],
        6
    );
    put(&b, &v, "config", json!({"cas_required":true})).await;
    st.take();
    // A writes without cas on its stale cache: the batch fails, A re-reads
    // and refuses; nothing is written.
    let (s, m) = err_msg(call(&a, &v, Operation::Update, "data/s", json!({"data":{"n":7}})).await);
    assert_eq!(
        (s, m.as_str()),
        (400, "check-and-set parameter required for this call")
    );
    let (_, _, batches, _) = st.take();
    assert_eq!(batches, 1, "only the failed conditional batch");
    let m = body_of(get(&b, &v, "metadata/s", json!({})).await);
    assert_eq!(m["current_version"], 6);
    assert_eq!(keys(&m["versions"]), ["1", "2", "3", "4", "5", "6"]);
    // With the right cas A writes version 7, and is warm again.
    assert_eq!(
        put(
            &a,
            &v,
            "data/s",
            json!({"data":{"n":7},"options":{"cas":6}})
        )
        .await["version"],
        7
    );
    st.take();
    assert_eq!(
        put(
            &a,
            &v,
            "data/s",
            json!({"data":{"n":8},"options":{"cas":7}})
        )
        .await["version"],
        8
    );
    assert_eq!(st.take(), ONE_BATCH);
    // B's cache is now stale too: its write lands as version 9, never 8.
    put(&b, &v, "config", json!({"cas_required":false})).await;
    assert_eq!(
        put(&a, &v, "data/s", json!({"data":{"n":9}})).await["version"],
        9
    );
    assert_eq!(
        put(&b, &v, "data/s", json!({"data":{"n":10}})).await["version"],
        10
    );
    // B deletes the whole key; A's cached record is gone from storage, so
    // A's next write starts a new key at version 1.
    call(&b, &v, Operation::Delete, "metadata/s", json!({}))
        .await
        .unwrap();
    assert_eq!(
        put(&a, &v, "data/s", json!({"data":{"n":1}})).await["version"],
        1
    );
    let r = body_of(get(&b, &v, "data/s", json!({"version":1})).await);
    assert_eq!(r["data"]["n"], 1);
}

#[test]
fn write_cache_stays_bounded() {
    let cache = WriteCache::default();
    let slot = |i: usize| Slot {
        key: format!("meta/{i}"),
        config: false,
    };
    for i in 0..3 * CACHE_MAX_ENTRIES {
        cache.put(
            &slot(i),
            Snapshot::Present {
                body: Body::Plain(vec![0; 100]),
                raw: vec![0; 100],
            },
        );
    }
    let m = cache.maps();
    assert_eq!(m.records.len(), CACHE_MAX_ENTRIES);
    let total: usize = m.records.iter().map(|(k, s)| s.size(k)).sum();
    assert_eq!(m.record_bytes, total);
    drop(m);
    // Large entries are bounded by bytes.
    let big = CACHE_MAX_BYTES / 40;
    for i in 0..40 {
        cache.put(
            &slot(i),
            Snapshot::Present {
                body: Body::Plain(vec![0; big]),
                raw: vec![0; big],
            },
        );
    }
    let m = cache.maps();
    assert!(m.record_bytes <= CACHE_MAX_BYTES);
    let total: usize = m.records.iter().map(|(k, s)| s.size(k)).sum();
    assert_eq!(m.record_bytes, total);
}

#[tokio::test]
async fn warm_reads_reuse_the_parsed_record_until_its_bytes_change() {
    // A read keeps the record parsed; the next read of the same stored bytes
    // reuses it (no decrypt, no parse), and a write by another instance
    // (other bytes in storage) is seen by the very next read.
    let v = view().await;
    let (writer, reader) = (KvV2::new(), KvV2::new());
    put(&writer, &v, "data/p", json!({"data":{"n":1}})).await;
    let slot = Slot::new(&v, "meta/p");
    for _ in 0..3 {
        let out = body_of(get(&reader, &v, "data/p", json!({})).await);
        assert_eq!(out["data"]["n"], 1);
        assert_eq!(out["metadata"]["version"], 1);
        assert!(matches!(
            reader.cache.peek(&slot),
            Some(Snapshot::Present {
                body: Body::Record(_),
                ..
            })
        ));
    }
    put(&writer, &v, "data/p", json!({"data":{"n":2}})).await;
    let out = body_of(get(&reader, &v, "data/p", json!({})).await);
    assert_eq!(out["data"]["n"], 2);
    assert_eq!(out["metadata"]["version"], 2);
    // The reader's own write starts from its cached record (version 3).
    put(&reader, &v, "data/p", json!({"data":{"n":3}})).await;
    let out = body_of(get(&writer, &v, "data/p", json!({})).await);
    assert_eq!(out["metadata"]["version"], 3);
}
