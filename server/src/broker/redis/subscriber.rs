//! The subscriber task: one pub/sub connection per node.
//!
//! The broker's `subscribe`/`unsubscribe` only record the node's interest
//! and wake this task, which brings the connection's `SUBSCRIBE`s in line
//! with it (so a topic joined and left before the task runs costs nothing).
//! Messages are decoded and handed to the node's inbox, except the node's
//! own echoes, which it already delivered locally. When the connection is
//! lost, the task reconnects with backoff, subscribes to every subject the
//! node still wants, and then tells the node to resync its watchers: events
//! published meanwhile never reached it.

use super::backoff::Backoff;
use super::connection::{Failure, pause, within};
use super::{RedisConfig, Shared, Wanted, wire};
use crate::broker::Event;
use ::redis::Client;
use ::redis::aio::{PubSubSink, PubSubStream};
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Channels per `SUBSCRIBE`/`UNSUBSCRIBE` command, at most.
const CHANNELS_PER_COMMAND: usize = 256;

/// Resyncs asked for by other nodes' notices are run at most this often.
const RESYNC_EVERY: Duration = Duration::from_secs(1);

/// Origins remembered (to share their `Arc<str>`), at most.
const ORIGINS_KEPT: usize = 1024;

/// A pub/sub connection: commands go through the sink, messages come out
/// of the stream.
pub(super) type Connection = (PubSubSink, PubSubStream);

/// Opens the pub/sub connection and subscribes it to the control channel,
/// within the configured timeouts.
pub(super) async fn connect(client: &Client, config: &RedisConfig) -> Result<Connection, Failure> {
    let (mut sink, stream) = within(config.connect_timeout, client.get_async_pubsub()).await?.split();
    within(
        config.command_timeout,
        sink.subscribe(wire::control_channel(&config.prefix)),
    )
    .await?;
    Ok((sink, stream))
}

/// Why serving a connection ended.
enum End {
    /// The broker was dropped.
    Stopped,
    /// The connection failed; reconnect.
    Lost(String),
}

/// What a subscriber connection (here, or a cluster's in `shards.rs`)
/// keeps, and how it hands messages on.
pub(super) struct Subscriber {
    pub(super) shared: Arc<Shared>,
    pub(super) control: String,
    /// What the connection is subscribed to (or about to be), by channel;
    /// messages on any other channel are ignored.
    pub(super) active: HashMap<String, Wanted>,
    origins: HashMap<Box<str>, Arc<str>>,
    last_resync: Option<Instant>,
    /// A resync asked for too soon after the last one waits until then.
    pub(super) resync_at: Option<Instant>,
}

/// Runs until the broker is dropped.
pub(super) async fn run(
    shared: Arc<Shared>,
    client: Client,
    first: Connection,
    mut wake: mpsc::Receiver<()>,
    mut stop: watch::Receiver<()>,
) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let mut subscriber = Subscriber::new(Arc::clone(&shared));
    let mut connection = Some(first);
    let mut lost_before = false;
    let mut attempts = 0u32;
    loop {
        let (mut sink, mut stream) = match connection.take() {
            Some(connection) => connection,
            None => {
                if !pause(backoff.next_delay(), &mut stop).await {
                    return;
                }
                attempts += 1;
                match connect(&client, config).await {
                    Ok(connection) => connection,
                    Err(error) => {
                        if attempts == 1 {
                            tracing::warn!(%error, "Redis is unreachable; retrying with backoff");
                        } else {
                            tracing::debug!(%error, attempts, "Redis is still unreachable");
                        }
                        continue;
                    }
                }
            }
        };
        if let Err(error) = subscriber.subscribe_all(&mut sink).await {
            tracing::warn!(%error, "subscribing on the Redis connection failed; reconnecting");
            shared.connected.store(false, Ordering::Relaxed);
            lost_before = true;
            continue;
        }
        shared.connected.store(true, Ordering::Relaxed);
        backoff.reset();
        if lost_before {
            shared.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                attempts,
                subjects = subscriber.active.len(),
                "reconnected to Redis and subscribed again"
            );
            // What other nodes published while we were away never reached
            // us: the node reads it from the streams (or, without them,
            // every watcher refetches).
            if let Some(inbox) = shared.inbox.get() {
                inbox.catch_up();
            }
        }
        attempts = 0;
        let end = subscriber.serve(&mut sink, &mut stream, &mut wake, &mut stop).await;
        shared.connected.store(false, Ordering::Relaxed);
        shared.heard(HashSet::clear);
        match end {
            End::Stopped => return,
            End::Lost(reason) => {
                lost_before = true;
                shared.redis_lost.notify_one();
                tracing::warn!(%reason, "lost the Redis pub/sub connection; local delivery goes on, reconnecting");
            }
        }
    }
}

impl Subscriber {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            control: shared.names.control(),
            shared,
            active: HashMap::new(),
            origins: HashMap::new(),
            last_resync: None,
            resync_at: None,
        }
    }

    /// On a fresh connection: subscribes to every subject the node wants.
    async fn subscribe_all(&mut self, sink: &mut PubSubSink) -> Result<(), Failure> {
        let wanted = self.restart();
        let channels: Vec<&str> = wanted.iter().map(|(channel, _)| channel.as_str()).collect();
        for chunk in channels.chunks(CHANNELS_PER_COMMAND) {
            within(self.shared.config.command_timeout, sink.subscribe(chunk)).await?;
        }
        self.joined(wanted);
        Ok(())
    }

    /// Brings the subscriptions in line with the interest changes recorded
    /// since the last time.
    async fn reconcile(&mut self, sink: &mut PubSubSink) -> Result<(), Failure> {
        let (joins, leaves) = self.changes();
        let limit = self.shared.config.command_timeout;
        for chunk in leaves.chunks(CHANNELS_PER_COMMAND) {
            within(limit, sink.unsubscribe(chunk)).await?;
        }
        let channels: Vec<&str> = joins.iter().map(|(channel, _)| channel.as_str()).collect();
        for chunk in channels.chunks(CHANNELS_PER_COMMAND) {
            within(limit, sink.subscribe(chunk)).await?;
        }
        self.joined(joins);
        Ok(())
    }

    /// For a fresh connection: every channel the node wants (the changes
    /// recorded so far folded in), with nothing active or heard yet.
    pub(super) fn restart(&mut self) -> Vec<(String, Wanted)> {
        let wanted = {
            let mut interest = self.shared.interest();
            interest.dirty.clear();
            interest
                .desired
                .iter()
                .map(|(channel, wanted)| (channel.clone(), wanted.clone()))
                .collect()
        };
        self.active.clear();
        self.shared.heard(HashSet::clear);
        wanted
    }

    /// The interest changes recorded since the last time: the channels to
    /// join, and the channels to leave, which are no longer active nor
    /// heard from now on (recorded before the commands go out: messages of
    /// a channel being left are not accepted).
    pub(super) fn changes(&mut self) -> (Vec<(String, Wanted)>, Vec<String>) {
        let mut joins = Vec::new();
        let mut leaves = Vec::new();
        {
            let mut interest = self.shared.interest();
            let dirty = std::mem::take(&mut interest.dirty);
            for channel in dirty {
                match (interest.desired.get(&channel), self.active.contains_key(&channel)) {
                    (Some(wanted), false) => joins.push((channel, wanted.clone())),
                    (None, true) => leaves.push(channel),
                    _ => {}
                }
            }
        }
        for channel in &leaves {
            self.active.remove(channel);
        }
        self.shared.heard(|heard| {
            for channel in &leaves {
                heard.remove(channel);
            }
        });
        (joins, leaves)
    }

    /// `wanted` are subscribed: heard, and their messages accepted.
    pub(super) fn joined(&mut self, wanted: Vec<(String, Wanted)>) {
        self.shared
            .heard(|heard| heard.extend(wanted.iter().map(|(channel, _)| channel.clone())));
        self.active.extend(wanted);
    }

    /// Handles messages, interest changes and health checks until the
    /// connection fails or the broker stops.
    async fn serve(
        &mut self,
        sink: &mut PubSubSink,
        stream: &mut PubSubStream,
        wake: &mut mpsc::Receiver<()>,
        stop: &mut watch::Receiver<()>,
    ) -> End {
        let interval = self.shared.config.ping_interval;
        let limit = self.shared.config.command_timeout;
        let mut ping_at = Instant::now() + interval;
        loop {
            let resync_at = self.resync_at;
            tokio::select! {
                _ = stop.changed() => return End::Stopped,
                message = stream.next() => match message {
                    Some(message) => self.handle(&message),
                    None => return End::Lost("the connection closed".into()),
                },
                woken = wake.recv() => match woken {
                    Some(()) => {
                        if let Err(e) = self.reconcile(sink).await {
                            return End::Lost(format!("updating subscriptions failed: {e}"));
                        }
                    }
                    None => return End::Stopped,
                },
                () = tokio::time::sleep_until(ping_at) => {
                    if let Err(e) = within(limit, sink.ping::<::redis::Value>()).await {
                        return End::Lost(format!("PING failed: {e}"));
                    }
                    ping_at = Instant::now() + interval;
                }
                () = sleep_until_some(resync_at) => self.resync(),
            }
        }
    }

    /// One message from Redis.
    pub(super) fn handle(&mut self, message: &::redis::Msg) {
        let channel = message.get_channel_name();
        let Ok((origin, rest)) = wire::decode(message.get_payload_bytes()) else {
            tracing::debug!(channel, "ignored a Redis message that is not a Mizan envelope");
            return;
        };
        let own = self.shared.node.get().is_some_and(|node| **node == *origin);
        if channel == self.control {
            if rest == wire::RESYNC_NOTICE && !own {
                tracing::info!(origin, "another node lost events: resyncing watchers");
                self.request_resync();
            }
            return;
        }
        let Some(wanted) = self.active.get(channel).cloned() else {
            return;
        };
        let Some(inbox) = self.shared.inbox.get().cloned() else {
            return;
        };
        let subject = match wanted {
            Wanted::Events(subject) => subject,
            Wanted::Presence(topic) => {
                // Its own news too: a sweep this node made is news to it.
                match serde_json::from_slice(rest) {
                    Ok(news) => inbox.presence(&topic, origin, news),
                    Err(error) => tracing::debug!(channel, %error, "ignored presence news that does not parse"),
                }
                return;
            }
        };
        let split = wire::split_event(rest);
        // The node delivered its own events locally when it published
        // them, except those a stream gave a position: every node,
        // the publisher too, delivers those in the stream's order.
        if own && split.position.is_none() {
            return;
        }
        let event = Event {
            origin: self.origin(origin),
            subject,
            frame: Bytes::copy_from_slice(split.frame),
            scope: split.scope.map(Arc::new),
            position: split.position,
        };
        self.shared.received.fetch_add(1, Ordering::Relaxed);
        inbox.deliver(event);
    }

    /// A shared `Arc<str>` for an origin (a few nodes send everything).
    fn origin(&mut self, origin: &str) -> Arc<str> {
        if let Some(known) = self.origins.get(origin) {
            return Arc::clone(known);
        }
        if self.origins.len() >= ORIGINS_KEPT {
            self.origins.clear();
        }
        let shared: Arc<str> = origin.into();
        self.origins.insert(origin.into(), Arc::clone(&shared));
        shared
    }

    /// Resyncs now, or once a second has passed since the last resync.
    fn request_resync(&mut self) {
        match self.last_resync {
            Some(last) if last.elapsed() < RESYNC_EVERY => {
                self.resync_at.get_or_insert(last + RESYNC_EVERY);
            }
            _ => self.resync(),
        }
    }

    pub(super) fn resync(&mut self) {
        self.resync_at = None;
        self.last_resync = Some(Instant::now());
        if let Some(inbox) = self.shared.inbox.get() {
            inbox.resync();
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
pub(super) async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
