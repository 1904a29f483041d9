use super::*;
use crate::storage::memory::MemoryStorage;
use crate::util::ManualClock;

async fn store() -> (TokenStore, Arc<ManualClock>, Arc<MemoryStorage>) {
    let storage = Arc::new(MemoryStorage::new());
    let barrier = Arc::new(Barrier::new(storage.clone()));
    barrier
        .initialize(&crate::barrier::random_key())
        .await
        .unwrap();
    let hasher = Arc::new(load_hasher(&barrier).await.unwrap());
    let clock = Arc::new(ManualClock::new());
    (
        TokenStore::new(barrier, hasher, clock.clone()),
        clock,
        storage,
    )
}

fn child(parent: Option<String>, ttl: u64, max: u64) -> NewToken {
    NewToken {
        policies: vec!["default".into()],
        ttl,
        max_ttl: max,
        renewable: true,
        parent,
        ..Default::default()
    }
}

#[tokio::test]
async fn tokens_expire_with_the_clock() {
    let (ts, clock, _) = store().await;
    let (token, _) = ts.create(child(None, 60, 0)).await.unwrap();
    assert!(ts.lookup(&token).await.unwrap().is_some());
    clock.advance(59);
    assert!(ts.lookup(&token).await.unwrap().is_some());
    clock.advance(1);
    assert!(ts.lookup(&token).await.unwrap().is_none());
    assert_eq!(ts.sweep_expired().await.unwrap(), 1);
}

#[tokio::test]
async fn renewal_is_capped_by_max_ttl() {
    let (ts, clock, _) = store().await;
    let (token, _) = ts.create(child(None, 60, 100)).await.unwrap();
    clock.advance(50);
    let found = ts.lookup(&token).await.unwrap().unwrap();
    let (entry, warning) = ts.renew(&found, 3600).await.unwrap();
    assert_eq!(entry.ttl, 50); // capped at creation + 100
    assert!(warning.is_some());
    clock.advance(50);
    assert!(ts.lookup(&token).await.unwrap().is_none());
}

#[tokio::test]
async fn renew_extends_and_non_renewable_refuses() {
    let (ts, clock, _) = store().await;
    let (token, _) = ts.create(child(None, 60, 1000)).await.unwrap();
    clock.advance(50);
    let found = ts.lookup(&token).await.unwrap().unwrap();
    ts.renew(&found, 0).await.unwrap();
    clock.advance(50);
    assert!(ts.lookup(&token).await.unwrap().is_some());
    let mut fixed = child(None, 60, 0);
    fixed.renewable = false;
    let (t2, _) = ts.create(fixed).await.unwrap();
    let f2 = ts.lookup(&t2).await.unwrap().unwrap();
    assert!(matches!(
        ts.renew(&f2, 10).await,
        Err(RenewError::NotRenewable)
    ));
}

#[tokio::test]
async fn revoking_a_parent_revokes_the_tree() {
    let (ts, _, _) = store().await;
    let (root, r) = ts.create(child(None, 0, 0)).await.unwrap();
    let (kid, k) = ts
        .create(child(Some(r.hash.clone()), 600, 0))
        .await
        .unwrap();
    let (grandkid, _) = ts
        .create(child(Some(k.hash.clone()), 600, 0))
        .await
        .unwrap();
    let (other, _) = ts.create(child(None, 600, 0)).await.unwrap();
    ts.revoke_tree(&r.hash).await.unwrap();
    for t in [&root, &kid, &grandkid] {
        assert!(ts.lookup(t).await.unwrap().is_none());
    }
    assert!(ts.lookup(&other).await.unwrap().is_some());
    // A revoked parent cannot gain children.
    assert!(ts
        .create(child(Some(r.hash.clone()), 600, 0))
        .await
        .is_err());
}

#[tokio::test]
async fn revoke_orphan_keeps_children() {
    let (ts, _, _) = store().await;
    let (_, p) = ts.create(child(None, 600, 0)).await.unwrap();
    let (kid, _) = ts
        .create(child(Some(p.hash.clone()), 600, 0))
        .await
        .unwrap();
    ts.revoke_orphan(&p.hash).await.unwrap();
    let k = ts.lookup(&kid).await.unwrap().unwrap();
    assert!(k.entry.orphan && k.entry.parent.is_none());
}

#[tokio::test]
async fn use_limited_tokens_stop_after_the_last_use() {
    let (ts, _, _) = store().await;
    let mut n = child(None, 600, 0);
    n.num_uses = 2;
    let (token, _) = ts.create(n).await.unwrap();
    for _ in 0..2 {
        let f = ts.lookup(&token).await.unwrap().unwrap();
        assert!(ts.consume_use(&f).await.unwrap());
    }
    assert!(ts.lookup(&token).await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_uses_never_exceed_the_limit() {
    let (ts, _, _) = store().await;
    let mut n = child(None, 600, 0);
    n.num_uses = 5;
    let (token, _) = ts.create(n).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let ts = ts.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            match ts.lookup(&token).await.unwrap() {
                Some(f) => ts.consume_use(&f).await.unwrap_or(false),
                None => false,
            }
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() {
            ok += 1;
        }
    }
    assert!(ok <= 5, "{ok} uses succeeded");
}

#[tokio::test]
async fn raw_tokens_never_reach_storage() {
    let (ts, _, storage) = store().await;
    let (token, found) = ts.create(child(None, 600, 0)).await.unwrap();
    let secret_part = token.trim_start_matches(SERVICE_TOKEN_PREFIX);
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        for k in crate::storage::Storage::list(storage.as_ref(), &dir)
            .await
            .unwrap()
        {
            let full = format!("{dir}{k}");
            assert!(!full.contains(secret_part));
            if full.ends_with('/') {
                stack.push(full);
            } else {
                let v = crate::storage::Storage::get(storage.as_ref(), &full)
                    .await
                    .unwrap()
                    .unwrap();
                assert!(!v
                    .windows(secret_part.len())
                    .any(|w| w == secret_part.as_bytes()));
            }
        }
    }
    assert!(ts.hasher().matches(&token, &found.hash));
}
