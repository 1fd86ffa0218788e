use super::*;
use std::sync::atomic::AtomicUsize;

fn cache() -> BundleCache {
    BundleCache::new(1 << 20, Duration::from_secs(60), None, None)
}

/// The key of context `c`'s bundle for `params`.
fn key_of(cache: &BundleCache, params: &str) -> Key {
    use mizan_channels::{Cx, Error, Function, NoArgs, Registry};
    let read = Function::new("profile", |_: Cx, _: NoArgs| async { Ok::<_, Error>(1) }).context("c");
    let registry = Registry::builder().function(read).build().unwrap();
    cache.key(registry.context("c").unwrap(), params, None)
}

fn key(cache: &BundleCache) -> Key {
    key_of(cache, "{}")
}

fn value(offset: u64, text: &str) -> impl Future<Output = Result<Cached, ()>> {
    let data = Payload::from_value(&text).unwrap();
    async move {
        Ok(Cached {
            position: Position::new("e", offset),
            data,
        })
    }
}

#[tokio::test]
async fn values_are_served_while_valid_and_computed_again_after() {
    let cache = cache();
    let key = key(&cache);
    let always = |_| async { Ok(true) };
    let first = cache.get_or_compute(key, always, value(1, "one")).await.unwrap();
    assert_eq!(first.unwrap().get(), r#""one""#);
    let again = cache.get_or_compute(key, always, value(2, "two")).await.unwrap();
    assert_eq!(again.unwrap().get(), r#""one""#, "a hit");
    // No longer valid: computed again, and served to the request that
    // computed it.
    let from_two = |p: Position| async move { Ok(p.offset >= 2) };
    let newer = cache.get_or_compute(key, from_two, value(2, "two")).await.unwrap();
    assert_eq!(newer.unwrap().get(), r#""two""#);
    // A check that cannot be made: a miss, counted.
    let failing = |_| async { Err(StoreError("down".to_owned())) };
    let computed = cache.get_or_compute(key, failing, value(3, "three")).await.unwrap();
    assert_eq!(computed.unwrap().get(), r#""three""#);
    let counts = cache.counts();
    assert_eq!(
        (counts.hits, counts.misses, counts.refused, counts.errors),
        (1, 3, 0, 1)
    );
}

#[tokio::test]
async fn a_waiter_refuses_a_shared_value_too_old_for_it() {
    let cache = Arc::new(cache());
    let key = key(&cache);
    let gate = Arc::new(tokio::sync::Notify::new());
    let first = {
        let (cache, gate) = (Arc::clone(&cache), Arc::clone(&gate));
        tokio::spawn(async move {
            let compute = async {
                gate.notified().await;
                value(1, "old").await
            };
            cache
                .get_or_compute(key, |_| async { Ok(true) }, compute)
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiter = {
        let cache = Arc::clone(&cache);
        tokio::spawn(async move {
            // An entry after offset 1 reaches this request's bundle.
            cache
                .get_or_compute(key, |p: Position| async move { Ok(p.offset >= 2) }, value(9, "unused"))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    gate.notify_one();
    assert_eq!(
        first.await.unwrap().unwrap().get(),
        r#""old""#,
        "current for the request that computed it"
    );
    assert!(waiter.await.unwrap().is_none(), "too old for the waiter");
    assert_eq!(cache.counts().refused, 1);
}

#[tokio::test]
async fn a_failed_check_never_drops_a_fresher_value_stored_meanwhile() {
    let cache = Arc::new(cache());
    let key = key(&cache);
    cache
        .get_or_compute(key, |_| async { Ok(true) }, value(1, "old"))
        .await
        .unwrap();
    // A request finds the old value and checks it slowly (a round trip to
    // Redis); meanwhile another finds it stale at once and stores a fresh one.
    let checking = Arc::new(tokio::sync::Notify::new());
    let slow = {
        let (cache, checking) = (Arc::clone(&cache), Arc::clone(&checking));
        tokio::spawn(async move {
            // Its first check (of the old value) is the slow one.
            let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
            let valid = move |p: Position| {
                let (checking, first) = (Arc::clone(&checking), Arc::clone(&first));
                async move {
                    if first.swap(false, Ordering::SeqCst) {
                        checking.notified().await;
                    }
                    Ok(p.offset >= 2)
                }
            };
            cache.get_or_compute(key, valid, value(9, "slow")).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let fresh = cache
        .get_or_compute(key, |p: Position| async move { Ok(p.offset >= 2) }, value(2, "fresh"))
        .await
        .unwrap();
    assert_eq!(fresh.unwrap().get(), r#""fresh""#);
    checking.notify_one();
    // The slow request's check of the old value fails: it must not drop the
    // fresh one (it then shares or checks that instead).
    assert_eq!(slow.await.unwrap().unwrap().get(), r#""fresh""#);
    let again = cache
        .get_or_compute(key, |p: Position| async move { Ok(p.offset >= 2) }, value(3, "third"))
        .await
        .unwrap();
    assert_eq!(again.unwrap().get(), r#""fresh""#, "still cached");
    assert_eq!(cache.counts().misses, 2, "old and fresh, nothing after");
}

#[tokio::test]
async fn concurrent_requests_share_one_computation() {
    let cache = Arc::new(cache());
    let key = key(&cache);
    let runs = Arc::new(AtomicUsize::new(0));
    let mut waiting = Vec::new();
    for _ in 0..50 {
        let (cache, runs) = (Arc::clone(&cache), Arc::clone(&runs));
        waiting.push(tokio::spawn(async move {
            let compute = async {
                runs.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
                value(0, "1").await
            };
            cache
                .get_or_compute(key, |_| async { Ok(true) }, compute)
                .await
                .unwrap()
                .unwrap()
        }));
    }
    for w in waiting {
        assert_eq!(w.await.unwrap().get(), r#""1""#);
    }
    assert_eq!(runs.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn evictions_are_counted() {
    // Room for about one small bundle.
    let cache = BundleCache::new(200, Duration::from_secs(60), None, None);
    for n in 0..20 {
        let key = key_of(&cache, &n.to_string());
        cache
            .get_or_compute(key, |_| async { Ok(true) }, value(0, "a bundle of some size"))
            .await
            .unwrap();
    }
    cache.entries.run_pending_tasks().await;
    assert!(cache.counts().evicted > 0, "{:?}", cache.counts());
}
