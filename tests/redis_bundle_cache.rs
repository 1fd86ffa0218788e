//! The bundle cache shared through Redis (PROTOCOL.md section 12,
//! docs/caching.md), with nodes that each have their own connection to a
//! real `redis-server` of the test's own, and share one "database" (the
//! profiles, in this process, as nodes in several processes share one): a
//! bundle computed on one node served by another, a per-user bundle only
//! to its user, never data older than another node's reply (with fetches
//! running all around the mutations, and with a node whose mirror has not
//! heard the reply yet), an entry the stream store did not take repaired,
//! every fetch answered while Redis is down, and a `rev` bump making the
//! old bundles unreachable.
//!
//! Needs `redis-server` on the PATH.

mod support;

use mizan::broker::{RedisBroker, RedisConfig};
use mizan::protocol::ServerFrame;
use mizan::{BundleCacheBackend, Cx, Error};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::processes::{Redis, cut_subscriber};
use support::{Client, Server};

const SECRET: &str = "a test secret of thirty-two bytes";

/// The database the nodes share: profile names by user id, and how many
/// times each node computed a profile.
#[derive(Default)]
struct Db {
    names: Mutex<HashMap<u64, String>>,
    runs: Mutex<HashMap<String, u64>>,
}

/// Which node this is (its state beside the shared `Db`).
struct NodeName(String);

#[mizan::function(context = "profile")]
async fn profile_name(cx: &Cx, user_id: u64) -> Result<String, Error> {
    let db = cx.state::<Arc<Db>>()?;
    let node = &cx.state::<Arc<NodeName>>()?.0;
    *db.runs.lock().unwrap().entry(node.clone()).or_default() += 1;
    let names = db.names.lock().unwrap();
    Ok(names.get(&user_id).cloned().unwrap_or_else(|| format!("user{user_id}")))
}

#[mizan::function(context = "mine", per_user)]
async fn my_profile(cx: &Cx) -> Result<String, Error> {
    let node = &cx.state::<Arc<NodeName>>()?.0;
    let db = cx.state::<Arc<Db>>()?;
    *db.runs.lock().unwrap().entry(format!("{node} mine")).or_default() += 1;
    Ok(format!("{}'s own", cx.user().map_or("?", |u| u.id.as_str())))
}

#[mizan::function(affects = "profile")]
async fn rename(cx: &Cx, user_id: u64, name: String) -> Result<(), Error> {
    cx.state::<Arc<Db>>()?.names.lock().unwrap().insert(user_id, name);
    Ok(())
}

/// The settings of a node caching in memory and, with `backend` Redis,
/// in Redis.
fn cache_settings(backend: BundleCacheBackend) -> mizan::ServerConfig {
    support::config(|c| {
        c.bundle_cache_bytes = 1 << 20;
        c.bundle_cache_backend = backend;
        c.cache_secret = Some(mizan::CacheSecret::new(SECRET));
    })
}

async fn redis_broker(redis: &Redis) -> RedisBroker {
    RedisBroker::connect(&redis.url(), RedisConfig::default())
        .await
        .expect("the test's redis-server is up")
}

/// A node called `name` over `db`, caching through `redis`.
async fn node(redis: &Redis, db: &Arc<Db>, name: &str) -> Server {
    node_with(redis_broker(redis).await, db, name, BundleCacheBackend::Redis).await
}

/// A node called `name` over `db` with `broker`, caching with `backend`.
async fn node_with(
    broker: impl mizan::broker::Broker,
    db: &Arc<Db>,
    name: &str,
    backend: BundleCacheBackend,
) -> Server {
    let builder = mizan::Mizan::builder()
        .functions([PROFILE_NAME, RENAME, MY_PROFILE])
        .jwt(mizan::Jwt::hs256(support::SECRET.as_bytes()))
        .state(Arc::clone(db))
        .state(Arc::new(NodeName(name.to_owned())))
        .broker(broker)
        .config(cache_settings(backend));
    Server::start(builder).await
}

/// How many times node `name` computed a profile.
fn runs(db: &Db, name: &str) -> u64 {
    db.runs.lock().unwrap().get(name).copied().unwrap_or(0)
}

/// Fetches `user_id`'s profile: its name, or the error.
async fn name(client: &mut Client, user_id: u64) -> Result<String, ServerFrame> {
    let id = client
        .request(json!({"type": "fetch", "context": "profile", "params": {"user_id": user_id}}))
        .await;
    match client.reply(id).await {
        ServerFrame::Bundle { data, .. } => {
            let data: Value = serde_json::from_str(data.get()).unwrap();
            Ok(data["profile_name"].as_str().unwrap().to_owned())
        }
        other => Err(other),
    }
}

async fn renamed(client: &mut Client, user_id: u64, name: &str) {
    let reply = client.call("rename", json!({"user_id": user_id, "name": name})).await;
    assert!(matches!(reply, ServerFrame::Result { .. }), "{reply:?}");
}

/// A counter's value in the node's `/metrics`.
async fn metric(node: &Server, name: &str) -> u64 {
    let text = node.get_text("/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}")) as u64
}

#[tokio::test]
async fn a_bundle_computed_on_one_node_is_served_by_the_others() {
    let (redis, db) = (Redis::start(), Arc::default());
    let (a, b) = (node(&redis, &db, "a").await, node(&redis, &db, "b").await);
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    assert_eq!(name(&mut on_a, 5).await.unwrap(), "user5");
    // The shared tier is written in the background.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(name(&mut on_b, 5).await.unwrap(), "user5");
    assert_eq!(name(&mut on_b, 5).await.unwrap(), "user5");
    assert_eq!(runs(&db, "b"), 0, "node B computed nothing");
    assert_eq!(metric(&b, "mizan_bundle_cache_shared_hits_total").await, 1);
    assert_eq!(
        metric(&b, "mizan_bundle_cache_hits_total").await,
        1,
        "then from its memory"
    );
    // A mutation on B: A computes again, once, and B takes that.
    renamed(&mut on_b, 5, "five").await;
    assert_eq!(name(&mut on_a, 5).await.unwrap(), "five");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(name(&mut on_b, 5).await.unwrap(), "five");
    assert_eq!((runs(&db, "a"), runs(&db, "b")), (2, 0));
    // An entry for another user reaches neither node's bundle of user 5.
    renamed(&mut on_a, 9, "nine").await;
    assert_eq!(name(&mut on_a, 5).await.unwrap(), "five");
    assert_eq!(name(&mut on_b, 5).await.unwrap(), "five");
    assert_eq!(
        (runs(&db, "a"), runs(&db, "b")),
        (2, 0),
        "a scoped entry purges only what it matches"
    );
}

/// Fetches the caller's `mine` bundle.
async fn mine(mut client: Client) -> String {
    let id = client
        .request(json!({"type": "fetch", "context": "mine", "params": {}}))
        .await;
    match client.reply(id).await {
        ServerFrame::Bundle { data, .. } => serde_json::from_str::<Value>(data.get()).unwrap()["my_profile"]
            .as_str()
            .unwrap()
            .to_owned(),
        other => panic!("expected a bundle, got {other:?}"),
    }
}

#[tokio::test]
async fn a_per_user_bundle_in_redis_is_its_user_s_alone() {
    let (redis, db) = (Redis::start(), Arc::default());
    let (a, b) = (node(&redis, &db, "a").await, node(&redis, &db, "b").await);
    let ann = support::token("ann", false);
    let bob = support::token("bob", false);
    assert_eq!(mine(a.client_with_token(&ann).await).await, "ann's own");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Bob on B: not Ann's bundle from Redis, his own, computed.
    assert_eq!(mine(b.client_with_token(&bob).await).await, "bob's own");
    assert_eq!(runs(&db, "b mine"), 1);
    // Ann on B: hers, from Redis.
    assert_eq!(mine(b.client_with_token(&ann).await).await, "ann's own");
    assert_eq!(runs(&db, "b mine"), 1);
}

#[tokio::test]
async fn no_node_serves_data_older_than_another_node_s_reply() {
    let (redis, db) = (Redis::start(), Arc::default());
    let (a, b) = (node(&redis, &db, "a").await, node(&redis, &db, "b").await);
    // A watcher on each node keeps the context's mirror live there: its
    // position lags another node's reply by a pub/sub hop.
    let mut watchers = Vec::new();
    for node in [&a, &b] {
        let mut watcher = node.client().await;
        let id = watcher
            .request(json!({"type": "watch", "context": "profile", "params": {"user_id": 1}}))
            .await;
        assert!(matches!(watcher.reply(id).await, ServerFrame::Bundle { .. }));
        watchers.push(watcher);
    }
    // Readers on both nodes fetch user 1 all the time, keeping the caches
    // full of whatever is current.
    let stop = Arc::new(AtomicBool::new(false));
    let fetched = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for node in [&a, &b, &a, &b] {
        let mut client = node.client().await;
        let (stop, fetched) = (Arc::clone(&stop), Arc::clone(&fetched));
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                name(&mut client, 1).await.expect("every fetch is answered");
                fetched.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    let mut checkers = Vec::new();
    for _ in 0..3 {
        checkers.push(a.client().await);
        checkers.push(b.client().await);
    }
    for round in 0..40 {
        let new = format!("name{round}");
        // Mutations on either node, read on both.
        renamed(if round % 2 == 0 { &mut on_b } else { &mut on_a }, 1, &new).await;
        let seen = futures_util::future::join_all(checkers.iter_mut().map(|c| name(c, 1))).await;
        for got in seen {
            assert_eq!(got.unwrap(), new, "round {round}: a fetch begun after the reply");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    let hits = metric(&a, "mizan_bundle_cache_hits_total").await + metric(&b, "mizan_bundle_cache_hits_total").await;
    let fetches = fetched.load(Ordering::Relaxed) + 40 * 6;
    let computed = runs(&db, "a") + runs(&db, "b");
    eprintln!("{fetches} fetches, {hits} memory hits, {computed} computed");
    assert!(hits > 0 && computed < fetches, "the cache served some");
}

#[tokio::test]
async fn a_node_that_has_not_heard_another_s_reply_yet_does_not_serve_what_it_made_stale() {
    for backend in [BundleCacheBackend::Memory, BundleCacheBackend::Redis] {
        let (redis, db) = (Redis::start(), Arc::default());
        let a = node_with(redis_broker(&redis).await, &db, "a", backend).await;
        let b = node_with(redis_broker(&redis).await, &db, "b", backend).await;
        // A watcher keeps the context's mirror live on node A; A caches
        // user 2.
        let mut watcher = a.client().await;
        let id = watcher
            .request(json!({"type": "watch", "context": "profile", "params": {"user_id": 2}}))
            .await;
        assert!(matches!(watcher.reply(id).await, ServerFrame::Bundle { .. }));
        let (mut on_a, mut on_b) = (a.client().await, b.client().await);
        assert_eq!(name(&mut on_a, 2).await.unwrap(), "user2");
        assert_eq!(name(&mut on_a, 2).await.unwrap(), "user2");
        // A stops hearing Redis for ~100 ms; B's mutation lands meanwhile.
        // A's mirror has not heard it, the stream store has: A computes
        // again.
        cut_subscriber(&redis);
        renamed(&mut on_b, 2, "two").await;
        assert_eq!(name(&mut on_a, 2).await.unwrap(), "two", "{backend:?}");
        assert_eq!(runs(&db, "a"), 2, "{backend:?}");
        // And the watcher hears of it once A is back.
        let push = tokio::time::timeout(Duration::from_secs(5), watcher.push()).await;
        assert!(matches!(push, Ok(ServerFrame::Invalidate(_))), "{push:?}");
    }
}

/// A Redis broker whose stream store refuses appends while `refuse` is
/// set, as a node cut off from Redis mid-call would see it; everything
/// else is the real broker's.
struct Refusing {
    inner: RedisBroker,
    refuse: Arc<AtomicBool>,
}

struct RefusingStore {
    inner: Arc<dyn mizan::broker::store::StreamStore>,
    refuse: Arc<AtomicBool>,
}

impl mizan::broker::store::StreamStore for RefusingStore {
    fn append(
        &self,
        append: mizan::broker::store::Append,
    ) -> futures_util::future::BoxFuture<'static, Result<mizan::protocol::Position, mizan::broker::store::StoreError>>
    {
        if self.refuse.load(Ordering::SeqCst) {
            let refused = mizan::broker::store::StoreError("refused by the test".to_owned());
            return Box::pin(async move { Err(refused) });
        }
        self.inner.append(append)
    }

    fn read(
        &self,
        read: mizan::broker::store::Read,
    ) -> futures_util::future::BoxFuture<
        'static,
        Result<mizan::broker::store::Snapshot, mizan::broker::store::StoreError>,
    > {
        self.inner.read(read)
    }

    fn listening(
        &self,
        subject: &mizan::broker::Subject,
    ) -> futures_util::future::BoxFuture<'static, Result<(), mizan::broker::store::StoreError>> {
        self.inner.listening(subject)
    }
}

impl mizan::broker::Broker for Refusing {
    fn attach(&self, node: Arc<str>, inbox: Arc<dyn mizan::broker::Inbox>) {
        self.inner.attach(node, inbox);
    }
    fn publish(&self, event: mizan::broker::Event) {
        self.inner.publish(event);
    }
    fn subscribe(&self, subject: &mizan::broker::Subject) {
        self.inner.subscribe(subject);
    }
    fn unsubscribe(&self, subject: &mizan::broker::Subject) {
        self.inner.unsubscribe(subject);
    }
    fn store(&self) -> Option<Arc<dyn mizan::broker::store::StreamStore>> {
        let inner = self.inner.store()?;
        Some(Arc::new(RefusingStore {
            inner,
            refuse: Arc::clone(&self.refuse),
        }))
    }
    fn presence(&self) -> Option<Arc<dyn mizan::broker::presence::PresenceStore>> {
        self.inner.presence()
    }
    fn bundles(&self) -> Option<Arc<dyn mizan::broker::bundles::BundleStore>> {
        self.inner.bundles()
    }
    fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }
}

#[tokio::test]
async fn an_entry_the_stream_store_did_not_take_is_repaired_by_a_node_that_heard_it() {
    let (redis, db) = (Redis::start(), Arc::default());
    let refuse = Arc::new(AtomicBool::new(false));
    let a = node(&redis, &db, "a").await;
    let broker = Refusing {
        inner: redis_broker(&redis).await,
        refuse: Arc::clone(&refuse),
    };
    let b = node_with(broker, &db, "b", BundleCacheBackend::Redis).await;
    // A listens to the context (a watcher); C does not.
    let c = node(&redis, &db, "c").await;
    let mut watcher = a.client().await;
    let id = watcher
        .request(json!({"type": "watch", "context": "profile", "params": {"user_id": 4}}))
        .await;
    assert!(matches!(watcher.reply(id).await, ServerFrame::Bundle { .. }));
    let (mut on_a, mut on_b, mut on_c) = (a.client().await, b.client().await, c.client().await);
    for _ in 0..2 {
        for client in [&mut on_a, &mut on_b, &mut on_c] {
            assert_eq!(name(client, 4).await.unwrap(), "user4");
        }
    }
    // B's entry is not appended: the stream's position does not move. B
    // stops serving the context from its cache at once; A hears the push
    // without an offset and does too, and appends a repair.
    refuse.store(true, Ordering::SeqCst);
    renamed(&mut on_b, 4, "four").await;
    assert_eq!(name(&mut on_b, 4).await.unwrap(), "four", "B's own cache");
    let heard = tokio::time::timeout(Duration::from_secs(5), watcher.push()).await;
    assert!(matches!(heard, Ok(ServerFrame::Invalidate(_))), "{heard:?}");
    assert_eq!(name(&mut on_a, 4).await.unwrap(), "four", "A, which heard it");
    // Once A's repair is in, every cached bundle older than it fails its
    // check, on every node: C, which heard nothing, computes too.
    let mut fresh_on_c = false;
    for _ in 0..100 {
        if name(&mut on_c, 4).await.unwrap() == "four" {
            fresh_on_c = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fresh_on_c, "C stopped serving the old bundle");
    assert_eq!(
        name(&mut on_b, 4).await.unwrap(),
        "four",
        "B computes, its repair still refused"
    );
    refuse.store(false, Ordering::SeqCst);
}

#[tokio::test]
async fn every_fetch_is_answered_while_redis_is_down() {
    let (mut redis, db) = (Redis::start(), Arc::default());
    let (a, b) = (node(&redis, &db, "a").await, node(&redis, &db, "b").await);
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    assert_eq!(name(&mut on_a, 3).await.unwrap(), "user3");
    assert_eq!(name(&mut on_a, 3).await.unwrap(), "user3");
    assert_eq!(runs(&db, "a"), 1);
    redis.kill();
    for _ in 0..20 {
        for client in [&mut on_a, &mut on_b] {
            assert_eq!(name(client, 3).await.unwrap(), "user3");
        }
    }
    assert!(metric(&a, "mizan_bundle_cache_errors_total").await > 0);
    assert!(
        runs(&db, "a") > 1 && runs(&db, "b") > 1,
        "computed, never served unchecked"
    );
    redis.restart();
    // Back: a mutation on B reaches what A cached, as before.
    let mut back = false;
    for _ in 0..100 {
        if a.get_text("/readyz").await.contains("ready") && b.get_text("/readyz").await.contains("ready") {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "both nodes are ready again");
    assert_eq!(name(&mut on_a, 3).await.unwrap(), "user3");
    renamed(&mut on_b, 3, "three").await;
    assert_eq!(name(&mut on_a, 3).await.unwrap(), "three");
}

/// Runs of the `versioned` context's function, in this process.
static VERSIONED_RUNS: AtomicU64 = AtomicU64::new(0);

/// A node in this process whose `versioned` context's function is at
/// revision `rev`, caching through `redis`.
async fn versioned_node(redis: &Redis, rev: u32) -> Server {
    use mizan::{Function, NoArgs};
    let read = Function::new("shape", move |_: Cx, _: NoArgs| async move {
        VERSIONED_RUNS.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Error>(format!("shape of rev {rev}"))
    })
    .context("versioned")
    .rev(rev);
    let builder = mizan::Mizan::builder()
        .function(read)
        .broker(redis_broker(redis).await)
        .config(cache_settings(BundleCacheBackend::Redis));
    Server::start(builder).await
}

async fn shape(client: &mut Client) -> String {
    let id = client
        .request(json!({"type": "fetch", "context": "versioned", "params": {}}))
        .await;
    match client.reply(id).await {
        ServerFrame::Bundle { data, .. } => serde_json::from_str::<Value>(data.get()).unwrap()["shape"]
            .as_str()
            .unwrap()
            .to_owned(),
        other => panic!("expected a bundle, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rev_bump_makes_the_old_bundles_unreachable() {
    let redis = Redis::start();
    let old = versioned_node(&redis, 1).await;
    let also_old = versioned_node(&redis, 1).await;
    assert_eq!(shape(&mut old.client().await).await, "shape of rev 1");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(shape(&mut also_old.client().await).await, "shape of rev 1");
    assert_eq!(
        VERSIONED_RUNS.load(Ordering::SeqCst),
        1,
        "the same revision shares the bundle"
    );
    // A deploy bumps it: the new code never sees the old code's bundle.
    let new = versioned_node(&redis, 2).await;
    assert_eq!(shape(&mut new.client().await).await, "shape of rev 2");
    assert_eq!(VERSIONED_RUNS.load(Ordering::SeqCst), 2);
}
