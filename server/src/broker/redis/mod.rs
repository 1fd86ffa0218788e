//! The Redis broker: nodes in several processes (or machines) joined
//! through Redis pub/sub.
//!
//! # Layout
//!
//! - `mod.rs`: [`RedisBroker`] (the [`Broker`] methods: queue, record,
//!   wake; never any I/O), [`RedisConfig`], [`RedisBrokerError`], and the
//!   state the two tasks share with it.
//! - `publisher.rs`: the publisher task: drains the bounded queue in
//!   pipelines over one multiplexed connection.
//! - `subscriber.rs`: the subscriber task: one pub/sub connection,
//!   reconciled with the node's interest, delivering to the node's inbox.
//! - `wire.rs`: channel names and the message envelope.
//! - `backoff.rs`: reconnection delays with jitter.
//!
//! `docs/scaling.md` tells operators what happens during an outage.

mod backoff;
mod publisher;
mod subscriber;
mod wire;

use super::{Broker, BrokerStats, Event, Inbox, Subject};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};

/// Settings of a [`RedisBroker`]. Every field has a default that runs.
///
/// ```
/// use mizan_server::broker::RedisConfig;
/// let config = RedisConfig { prefix: "shop".into(), ..RedisConfig::default() };
/// assert_eq!(config.publish_buffer, 8192);
/// ```
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Namespace of this app's Redis channels (`{prefix}:t:{topic}`,
    /// `{prefix}:c:{context}`), so several apps can share one Redis.
    /// Every node of one app must use the same prefix (default `mizan`).
    pub prefix: String,
    /// Events waiting to be published, at most; when the queue is full
    /// (Redis is slow or unreachable) further events are dropped and
    /// counted (default 8192).
    pub publish_buffer: usize,
    /// Events sent in one pipeline, at most (default 512).
    pub publish_batch: usize,
    /// How long opening a connection may take (default 2 s).
    pub connect_timeout: Duration,
    /// How long Redis may take to answer a command or a pipeline
    /// (default 2 s); past it the connection counts as lost.
    pub command_timeout: Duration,
    /// The first reconnection delay (default 100 ms); each failed attempt
    /// doubles it, with jitter.
    pub backoff_min: Duration,
    /// The longest reconnection delay (default 2 s, so a restarted Redis is
    /// used again within about 2 s).
    pub backoff_max: Duration,
    /// How often an idle connection is checked with a `PING` (default 5 s).
    pub ping_interval: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            prefix: "mizan".to_owned(),
            publish_buffer: 8192,
            publish_batch: 512,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            ping_interval: Duration::from_secs(5),
        }
    }
}

/// Why [`RedisBroker::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisBrokerError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    Url(String),
    /// A setting is out of range.
    #[error("invalid Redis broker setting: {0}")]
    Config(&'static str),
    /// Redis refused or failed the connection.
    #[error("could not connect to Redis: {0}")]
    Connect(String),
    /// Redis did not answer in time.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
}

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

/// What the broker's handles share; dropping it stops the tasks.
struct Handle {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Event>,
    wake: mpsc::Sender<()>,
    _stop: watch::Sender<()>,
}

/// State shared by the broker's methods and its two tasks.
struct Shared {
    config: RedisConfig,
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
    /// When the last "events dropped" warning was logged (ms since `born`,
    /// or [`NEVER`]).
    last_drop_log: AtomicU64,
    born: Instant,
}

/// `Shared::last_drop_log` before the first warning.
const NEVER: u64 = u64::MAX;

/// The subjects the node wants, by Redis channel, and which changed since
/// the subscriber last reconciled.
#[derive(Default)]
struct Interest {
    desired: HashMap<String, Subject>,
    dirty: HashSet<String>,
}

impl Shared {
    fn interest(&self) -> MutexGuard<'_, Interest> {
        self.interest.lock().unwrap_or_else(PoisonError::into_inner)
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
    pub async fn connect(url: &str, config: RedisConfig) -> Result<Self, RedisBrokerError> {
        if config.prefix.is_empty() {
            return Err(RedisBrokerError::Config("the prefix must not be empty"));
        }
        if config.publish_buffer == 0 || config.publish_batch == 0 {
            return Err(RedisBrokerError::Config(
                "the publish buffer and batch must hold at least one event",
            ));
        }
        let client = ::redis::Client::open(url).map_err(|e| RedisBrokerError::Url(e.to_string()))?;
        let publishing = publisher::connect(&client, &config).await?;
        let subscribing = subscriber::connect(&client, &config).await?;

        let (queue, queue_rx) = mpsc::channel(config.publish_buffer);
        let (wake, wake_rx) = mpsc::channel(1);
        let (stop, stop_rx) = watch::channel(());
        let shared = Arc::new(Shared {
            config,
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
            last_drop_log: AtomicU64::new(NEVER),
            born: Instant::now(),
        });
        tokio::spawn(publisher::run(
            Arc::clone(&shared),
            client.clone(),
            publishing,
            queue_rx,
            stop_rx.clone(),
        ));
        tokio::spawn(subscriber::run(
            Arc::clone(&shared),
            client,
            subscribing,
            wake_rx,
            stop_rx,
        ));
        Ok(Self {
            handle: Arc::new(Handle {
                shared,
                queue,
                wake,
                _stop: stop,
            }),
        })
    }

    /// The Redis channel that carries `subject` (for operators and tests:
    /// `PUBSUB NUMSUB` on it counts the nodes interested).
    pub fn channel_of(&self, subject: &Subject) -> String {
        wire::channel_name(&self.handle.shared.config.prefix, subject)
    }

    fn set_interest(&self, subject: &Subject, wanted: bool) {
        let shared = &self.handle.shared;
        let channel = wire::channel_name(&shared.config.prefix, subject);
        {
            let mut interest = shared.interest();
            if wanted {
                interest.desired.insert(channel.clone(), subject.clone());
            } else {
                interest.desired.remove(&channel);
            }
            interest.dirty.insert(channel);
        }
        // Full means a wake-up is already pending: changes coalesce.
        let _ = self.handle.wake.try_send(());
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

/// Waits for `delay`, or returns `false` at once if the broker stopped.
async fn pause(delay: Duration, stop: &mut watch::Receiver<()>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        _ = stop.changed() => false,
    }
}

/// Why a connection attempt or a command failed.
#[derive(Debug)]
enum Failure {
    Redis(::redis::RedisError),
    Timeout(Duration),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redis(e) => e.fmt(f),
            Self::Timeout(limit) => write!(f, "no answer within {limit:?}"),
        }
    }
}

impl From<Failure> for RedisBrokerError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Redis(e) => Self::Connect(e.to_string()),
            Failure::Timeout(limit) => Self::Timeout(limit),
        }
    }
}

/// Runs `fut` within `limit`; a timeout is a failure like any other.
async fn within<T>(limit: Duration, fut: impl Future<Output = ::redis::RedisResult<T>>) -> Result<T, Failure> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::Redis(e)),
        Err(_) => Err(Failure::Timeout(limit)),
    }
}
