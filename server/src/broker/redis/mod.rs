//! The Redis broker: nodes in several processes (or machines) joined
//! through Redis pub/sub.
//!
//! # Layout
//!
//! - `mod.rs`: [`RedisBroker`] (the [`Broker`] methods: queue, record,
//!   wake; never any I/O) and the state the two tasks share with it.
//! - `config.rs`: [`RedisConfig`] and [`RedisBrokerError`].
//! - `connection.rs`: opening connections and bounding every wait.
//! - `publisher.rs`: the publisher task: drains the bounded queue in
//!   pipelines over one multiplexed connection.
//! - `subscriber.rs`: the subscriber task: one pub/sub connection,
//!   reconciled with the node's interest, delivering to the node's inbox.
//! - `shards.rs`: the subscriber task on a Redis Cluster: one cluster
//!   connection (a connection per master) with sharded subscriptions.
//! - `streams.rs`: the stream store (offsets, history, epochs) in Redis
//!   keys, one Lua script per publish and per read.
//! - `presence.rs`: the presence store (each node's members, heartbeats,
//!   sweeps) in Redis keys, one Lua script per update, refresh and read.
//! - `scripts.rs`: running the stores' Lua scripts in pipelines.
//! - `wire.rs`: channel names and the message envelope.
//! - `backoff.rs`: reconnection delays with jitter.
//!
//! `docs/scaling.md` tells operators what happens during an outage.

mod backoff;
mod bundles;
mod config;
mod connection;
mod presence;
mod publisher;
mod scripts;
mod shards;
mod streams;
mod subscriber;
mod wire;

pub use config::{RedisBrokerError, RedisConfig};

use super::presence::PresenceStore;
use super::store::{StoreError, StreamStore};
use super::{Broker, BrokerStats, Event, Inbox, Subject};
use connection::{Conn, Target};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;
use tokio::sync::{Notify, mpsc, watch};

/// Fans events out to other nodes through Redis pub/sub.
///
/// Publishing goes into a bounded queue that a task drains in pipelines
/// over one multiplexed connection; receiving uses one pub/sub connection,
/// subscribed to a Redis channel per topic or context only while a local
/// socket is interested. When Redis is unreachable, local delivery goes on,
/// publishing never blocks (events past the buffer are dropped and
/// counted), both connections come back with backoff and jitter, every
/// subject is subscribed again, and the node tells its watchers to refetch
/// ([`Inbox::resync`]).
///
/// Its [`stats`]: `published` counts events Redis accepted, `received`
/// events from other nodes handed to this node (its own echoes are not
/// counted), `dropped` events other nodes will never get (buffer full, or
/// a pipeline that failed), `reconnects` connections (publishing or
/// pub/sub) re-established after a loss, and `connected` is
/// [`is_ready`](Broker::is_ready): the pub/sub connection is up and
/// subscribed to everything the node needs.
///
/// A clone is a handle on the same broker (to read its [`stats`] after
/// handing it to the builder); attach it to one node only. The broker stops
/// when the last handle is dropped.
///
/// [`stats`]: Broker::stats
///
/// ```no_run
/// use mizan_server::Mizan;
/// use mizan_server::broker::{RedisBroker, RedisConfig};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let broker = RedisBroker::connect("redis://127.0.0.1:6379", RedisConfig::default()).await?;
/// let app = Mizan::builder().broker(broker).build()?;
/// # drop(app); Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBroker {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What the broker's handles share; dropping it stops the tasks.
struct Handle {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Event>,
    appends: mpsc::Sender<streams::Queued>,
    wake: mpsc::Sender<()>,
    _stop: watch::Sender<()>,
}

/// State shared by the broker's methods and its two tasks.
struct Shared {
    config: RedisConfig,
    /// How channels and keys are named (one Redis, or a cluster).
    names: wire::Names,
    /// This node's id as written in envelopes, once attached.
    node: OnceLock<Arc<str>>,
    inbox: OnceLock<Arc<dyn Inbox>>,
    interest: Mutex<Interest>,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
    /// The pub/sub connection is up and subscribed to every subject.
    connected: AtomicBool,
    /// Events were dropped since the last resync notice was published.
    lost: AtomicBool,
    /// The subscriber lost Redis: the publisher should check its own
    /// connection before it trusts it with events.
    redis_lost: Notify,
    /// The publishing connection while it works, for the stream scripts
    /// (a multiplexed connection: clones share it).
    commands: Mutex<Option<Conn>>,
    /// The channels the pub/sub connection is subscribed to now, and a
    /// wake-up whenever that changes (`StreamStore::listening`).
    heard: Mutex<HashSet<String>>,
    heard_changed: Notify,
    /// When the last "events dropped" warning was logged (ms since `born`,
    /// or [`NEVER`]).
    last_drop_log: AtomicU64,
    born: Instant,
}

/// What the subscriber task takes: its wake-ups and the stop signal.
struct SubscriberEnds {
    wake: mpsc::Receiver<()>,
    stop: watch::Receiver<()>,
}

/// Settings every broker needs.
fn check(config: &RedisConfig) -> Result<(), RedisBrokerError> {
    if config.prefix.is_empty() {
        return Err(RedisBrokerError::Config("the prefix must not be empty"));
    }
    if config.publish_buffer == 0 || config.publish_batch == 0 {
        return Err(RedisBrokerError::Config(
            "the publish buffer and batch must hold at least one event",
        ));
    }
    Ok(())
}

/// `Shared::last_drop_log` before the first warning.
const NEVER: u64 = u64::MAX;

/// What a Redis channel the node listens to carries.
#[derive(Debug, Clone)]
enum Wanted {
    /// A subject's events.
    Events(Subject),
    /// A presence topic's news.
    Presence(Arc<str>),
}

/// What the node wants to hear, by Redis channel, and which changed since
/// the subscriber last reconciled.
#[derive(Default)]
struct Interest {
    desired: HashMap<String, Wanted>,
    dirty: HashSet<String>,
}

impl Shared {
    fn interest(&self) -> MutexGuard<'_, Interest> {
        self.interest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the set of channels heard, and wakes whoever waits on it.
    fn heard(&self, change: impl FnOnce(&mut HashSet<String>)) {
        change(&mut self.heard.lock().unwrap_or_else(PoisonError::into_inner));
        self.heard_changed.notify_waiters();
    }

    /// Records that the node wants (`Some`) or no longer wants (`None`)
    /// `channel`, and wakes the subscriber through `wake`.
    fn want(&self, wake: &mpsc::Sender<()>, channel: String, wanted: Option<Wanted>) {
        {
            let mut interest = self.interest();
            match wanted {
                Some(wanted) => interest.desired.insert(channel.clone(), wanted),
                None => interest.desired.remove(&channel),
            };
            interest.dirty.insert(channel);
        }
        // Full means a wake-up is already pending: changes coalesce.
        let _ = wake.try_send(());
    }

    /// Resolves once the pub/sub connection is subscribed to `channel`,
    /// within long enough for the subscriber to reconnect once.
    fn heard_soon(self: &Arc<Self>, channel: String) -> impl Future<Output = Result<(), StoreError>> + use<> {
        let shared = Arc::clone(self);
        let config = &shared.config;
        let limit = config.connect_timeout + config.command_timeout + config.backoff_max;
        async move {
            let wait = async {
                loop {
                    let changed = shared.heard_changed.notified();
                    if shared
                        .heard
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .contains(&channel)
                    {
                        return;
                    }
                    changed.await;
                }
            };
            tokio::time::timeout(limit, wait)
                .await
                .map_err(|_| StoreError(format!("not subscribed to `{channel}` within {limit:?}")))
        }
    }

    /// The publishing connection, while it works.
    fn commands(&self) -> Option<Conn> {
        self.commands.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sets (or, `None`, clears) the publishing connection.
    fn set_commands(&self, conn: Option<Conn>) {
        *self.commands.lock().unwrap_or_else(PoisonError::into_inner) = conn;
    }

    /// Counts `n` dropped events, remembers to tell the other nodes, and
    /// logs at most once a second.
    fn drop_events(&self, n: u64, why: &str) {
        let total = self.dropped.fetch_add(n, Ordering::Relaxed) + n;
        self.lost.store(true, Ordering::Relaxed);
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(NEVER - 1);
        let last = self.last_drop_log.load(Ordering::Relaxed);
        if (last == NEVER || now.saturating_sub(last) >= 1000)
            && self
                .last_drop_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(dropped_total = total, "{why}: events for other nodes were dropped");
        }
    }
}

impl RedisBroker {
    /// Connects to Redis at `url` (`redis://[user:password@]host[:port][/db]`)
    /// and starts the publisher and subscriber tasks. Fails when the URL or
    /// a setting is bad or Redis cannot be reached within
    /// [`RedisConfig::connect_timeout`]; once connected, later outages are
    /// survived. Must be called within a Tokio runtime.
    ///
    /// `redis+cluster://host:port,host:port,…` joins a Redis Cluster
    /// through those seed nodes instead: see [`connect_cluster`].
    ///
    /// [`connect_cluster`]: Self::connect_cluster
    pub async fn connect(url: &str, config: RedisConfig) -> Result<Self, RedisBrokerError> {
        if let Some(seeds) = connection::cluster_url(url) {
            return Self::connect_cluster(&seeds, config).await;
        }
        check(&config)?;
        let client = connection::client(url)?;
        let target = Target::Single(client.clone());
        let publishing = publisher::connect(&target, &config).await?;
        let subscribing = subscriber::connect(&client, &config).await?;
        let names = wire::Names::new(&config.prefix, false);
        let (handle, rx) = Self::start(config, names, publishing, target);
        tokio::spawn(subscriber::run(
            Arc::clone(&handle.shared),
            client,
            subscribing,
            rx.wake,
            rx.stop,
        ));
        Ok(Self {
            handle: Arc::new(handle),
        })
    }

    /// Joins a Redis Cluster (Redis 7 or later) through `seeds`
    /// (`host:port` or `redis://[user:password@]host:port`; one live node
    /// is enough, the others are found from it), and starts the publisher
    /// and subscriber tasks, as [`connect`](Self::connect) does for one
    /// Redis. Channels are shard channels (`SPUBLISH`/`SSUBSCRIBE`), and
    /// every key and channel of one stream shares a hash tag
    /// (`docs/scaling.md`, "Redis Cluster"); all nodes of an app must join
    /// the same way. The prefix must not hold `{` or `}`.
    pub async fn connect_cluster(seeds: &[String], config: RedisConfig) -> Result<Self, RedisBrokerError> {
        check(&config)?;
        if config.prefix.contains(['{', '}']) {
            return Err(RedisBrokerError::Config(
                "on a Redis Cluster the prefix must not hold `{` or `}`",
            ));
        }
        let seeds = connection::cluster_seeds(seeds)?;
        let target = Target::Cluster(seeds.clone());
        // The subscriber reconnects with them too.
        let publishing = publisher::connect(&target, &config).await?;
        let names = wire::Names::new(&config.prefix, true);
        let subscribing = shards::connect(&seeds, &config, &names).await?;
        let (handle, rx) = Self::start(config, names, publishing, target);
        tokio::spawn(shards::run(
            Arc::clone(&handle.shared),
            seeds,
            subscribing,
            rx.wake,
            rx.stop,
        ));
        Ok(Self {
            handle: Arc::new(handle),
        })
    }

    /// The shared state and the publisher's and appender's tasks; the
    /// subscriber's ends of the channels.
    fn start(config: RedisConfig, names: wire::Names, publishing: Conn, target: Target) -> (Handle, SubscriberEnds) {
        let (queue, queue_rx) = mpsc::channel(config.publish_buffer);
        let (appends, appends_rx) = mpsc::channel(config.publish_buffer);
        let (wake, wake_rx) = mpsc::channel(1);
        let (stop, stop_rx) = watch::channel(());
        let shared = Arc::new(Shared {
            config,
            names,
            node: OnceLock::new(),
            inbox: OnceLock::new(),
            interest: Mutex::default(),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            connected: AtomicBool::new(true),
            lost: AtomicBool::new(false),
            redis_lost: Notify::new(),
            commands: Mutex::new(Some(publishing.clone())),
            heard: Mutex::default(),
            heard_changed: Notify::new(),
            last_drop_log: AtomicU64::new(NEVER),
            born: Instant::now(),
        });
        tokio::spawn(publisher::run(
            Arc::clone(&shared),
            target,
            publishing,
            queue_rx,
            stop_rx.clone(),
        ));
        tokio::spawn(streams::run_appender(Arc::clone(&shared), appends_rx, stop_rx.clone()));
        let handle = Handle {
            shared,
            queue,
            appends,
            wake,
            _stop: stop,
        };
        (
            handle,
            SubscriberEnds {
                wake: wake_rx,
                stop: stop_rx,
            },
        )
    }

    fn set_interest(&self, subject: &Subject, wanted: bool) {
        let shared = &self.handle.shared;
        let channel = shared.names.channel(subject);
        let wanted = wanted.then(|| Wanted::Events(subject.clone()));
        shared.want(&self.handle.wake, channel, wanted);
    }
}

impl Broker for RedisBroker {
    fn attach(&self, node: Arc<str>, inbox: Arc<dyn Inbox>) {
        let shared = &self.handle.shared;
        if shared.node.set(wire::envelope_origin(&node).into()).is_err() {
            tracing::error!("a RedisBroker was attached to two nodes; connect one broker per node");
            return;
        }
        let _ = shared.inbox.set(inbox);
    }

    fn publish(&self, event: Event) {
        use mpsc::error::TrySendError;
        match self.handle.queue.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.handle.shared.drop_events(1, "the Redis publish buffer is full"),
            Err(TrySendError::Closed(_)) => self.handle.shared.drop_events(1, "the Redis publisher stopped"),
        }
    }

    fn subscribe(&self, subject: &Subject) {
        self.set_interest(subject, true);
    }

    fn unsubscribe(&self, subject: &Subject) {
        self.set_interest(subject, false);
    }

    fn store(&self) -> Option<Arc<dyn StreamStore>> {
        let handle = &self.handle;
        Some(Arc::new(streams::RedisStreams::new(
            Arc::clone(&handle.shared),
            handle.appends.clone(),
        )))
    }

    fn bundles(&self) -> Option<Arc<dyn crate::broker::bundles::BundleStore>> {
        Some(Arc::new(bundles::RedisBundles::new(Arc::clone(&self.handle.shared))))
    }

    fn presence(&self) -> Option<Arc<dyn PresenceStore>> {
        let handle = &self.handle;
        Some(Arc::new(presence::RedisPresence::new(
            Arc::clone(&handle.shared),
            handle.wake.clone(),
        )))
    }

    fn is_ready(&self) -> bool {
        self.handle.shared.connected.load(Ordering::Relaxed)
    }

    fn stats(&self) -> BrokerStats {
        let shared = &self.handle.shared;
        BrokerStats {
            published: shared.published.load(Ordering::Relaxed),
            received: shared.received.load(Ordering::Relaxed),
            dropped: shared.dropped.load(Ordering::Relaxed),
            reconnects: shared.reconnects.load(Ordering::Relaxed),
            connected: shared.connected.load(Ordering::Relaxed),
        }
    }
}
