//! The publisher task: drains the publish queue in pipelines (up to
//! `publish_batch` events per round trip, so a burst costs a few round
//! trips, not one per event) over one multiplexed connection, in queue
//! order. A failed pipeline's events are dropped and counted, never sent
//! twice (pub/sub is at-most-once; see `docs/scaling.md`), and the
//! connection is replaced with backoff while new events wait in the bounded
//! queue.
//!
//! After any drop, the next successful pipeline carries a resync notice on
//! the control channel (at most one a second), so the other nodes' watchers
//! refetch what they missed.

use super::backoff::Backoff;
use super::connection::{Failure, pause, within};
use super::{RedisConfig, Shared, wire};
use crate::broker::Event;
use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Client};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Resync notices are published at most this often.
const NOTICE_EVERY: Duration = Duration::from_secs(1);

/// Opens the publishing connection, within the configured timeouts.
pub(super) async fn connect(client: &Client, config: &RedisConfig) -> Result<MultiplexedConnection, Failure> {
    let options = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.command_timeout));
    within(
        config.connect_timeout + config.command_timeout,
        client.get_multiplexed_async_connection_with_config(&options),
    )
    .await
}

struct Publisher {
    shared: Arc<Shared>,
    client: Client,
    conn: Option<MultiplexedConnection>,
    backoff: Backoff,
    /// Redis channel of this node's resync notices.
    control: String,
    batch: Vec<Event>,
    last_notice: Option<Instant>,
    /// When the connection was last known to work.
    last_ok: Instant,
}

/// Runs until the broker is dropped.
pub(super) async fn run(
    shared: Arc<Shared>,
    client: Client,
    conn: MultiplexedConnection,
    mut queue: mpsc::Receiver<Event>,
    mut stop: watch::Receiver<()>,
) {
    let config = &shared.config;
    let mut publisher = Publisher {
        backoff: Backoff::new(config.backoff_min, config.backoff_max),
        control: wire::control_channel(&config.prefix),
        batch: Vec::with_capacity(config.publish_batch.min(1024)),
        shared: Arc::clone(&shared),
        client,
        conn: Some(conn),
        last_notice: None,
        last_ok: Instant::now(),
    };
    loop {
        if publisher.conn.is_none() && !publisher.reconnect(&mut stop).await {
            return;
        }
        let check_at = publisher.next_check();
        tokio::select! {
            _ = stop.changed() => return,
            event = queue.recv() => match event {
                Some(event) => publisher.send(event, &mut queue).await,
                None => return,
            },
            () = shared.redis_lost.notified() => publisher.check().await,
            () = tokio::time::sleep_until(check_at) => publisher.check().await,
        }
    }
}

impl Publisher {
    /// This node's id for envelopes (events are only published once the
    /// node is attached; the fallback is never expected).
    fn origin(&self) -> Arc<str> {
        self.shared.node.get().cloned().unwrap_or_else(|| "unattached".into())
    }

    /// Whether a resync notice should go out now; if so, it is taken.
    fn take_notice(&mut self) -> bool {
        let due = self.last_notice.is_none_or(|at| at.elapsed() >= NOTICE_EVERY);
        due && self.shared.lost.swap(false, Ordering::Relaxed)
    }

    /// When the idle connection should be checked next (sooner when a
    /// resync notice is waiting).
    fn next_check(&self) -> Instant {
        let ping = self.last_ok + self.shared.config.ping_interval;
        if self.shared.lost.load(Ordering::Relaxed) {
            let notice = self.last_notice.map_or_else(Instant::now, |at| at + NOTICE_EVERY);
            ping.min(notice)
        } else {
            ping
        }
    }

    /// Publishes `first` and whatever else is queued (up to a batch) in one
    /// pipeline.
    async fn send(&mut self, first: Event, queue: &mut mpsc::Receiver<Event>) {
        self.batch.push(first);
        while self.batch.len() < self.shared.config.publish_batch {
            match queue.try_recv() {
                Ok(event) => self.batch.push(event),
                Err(_) => break,
            }
        }
        let origin = self.origin();
        let notice = self.take_notice();
        let mut pipe = ::redis::pipe();
        if notice {
            pipe.cmd("PUBLISH")
                .arg(&self.control)
                .arg(wire::encode_notice(&origin, wire::RESYNC_NOTICE))
                .ignore();
        }
        let count = self.batch.len() as u64;
        for event in self.batch.drain(..) {
            pipe.cmd("PUBLISH")
                .arg(wire::channel_name(&self.shared.config.prefix, &event.subject))
                .arg(wire::encode(
                    &origin,
                    event.position.as_ref(),
                    event.scope.as_deref(),
                    &event.frame,
                ))
                .ignore();
        }
        let Some(conn) = self.conn.as_mut() else {
            self.shared.drop_events(count, "Redis is unreachable");
            return;
        };
        match within(self.shared.config.command_timeout, pipe.exec_async(conn)).await {
            Ok(()) => {
                tracing::trace!(events = count, notice, "published a pipeline");
                self.shared.published.fetch_add(count, Ordering::Relaxed);
                self.last_ok = Instant::now();
                if notice {
                    self.last_notice = Some(self.last_ok);
                }
            }
            Err(e) => {
                self.shared.drop_events(count, "publishing to Redis failed");
                self.lost(notice, &e);
            }
        }
    }

    /// Checks an idle connection with a `PING`, or by publishing a waiting
    /// resync notice.
    async fn check(&mut self) {
        let origin = self.origin();
        let notice = self.take_notice();
        let Some(conn) = self.conn.as_mut() else { return };
        let limit = self.shared.config.command_timeout;
        let result = if notice {
            let payload = wire::encode_notice(&origin, wire::RESYNC_NOTICE);
            within(
                limit,
                ::redis::cmd("PUBLISH").arg(&self.control).arg(payload).exec_async(conn),
            )
            .await
        } else {
            within(limit, ::redis::cmd("PING").exec_async(conn)).await
        };
        match result {
            Ok(()) => {
                self.last_ok = Instant::now();
                if notice {
                    self.last_notice = Some(self.last_ok);
                }
            }
            Err(e) => self.lost(notice, &e),
        }
    }

    fn lost(&mut self, notice_unsent: bool, error: &Failure) {
        if notice_unsent {
            self.shared.lost.store(true, Ordering::Relaxed);
        }
        self.shared.set_commands(None);
        if self.conn.take().is_some() {
            tracing::warn!(%error, "lost the Redis publishing connection; reconnecting");
        }
    }

    /// Reconnects with backoff; `false` if the broker stopped meanwhile.
    async fn reconnect(&mut self, stop: &mut watch::Receiver<()>) -> bool {
        let mut attempts = 0u32;
        loop {
            if !pause(self.backoff.next_delay(), stop).await {
                return false;
            }
            attempts += 1;
            match connect(&self.client, &self.shared.config).await {
                Ok(conn) => {
                    self.shared.set_commands(Some(conn.clone()));
                    self.conn = Some(conn);
                    self.backoff.reset();
                    self.last_ok = Instant::now();
                    self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(attempts, "reconnected the Redis publishing connection");
                    return true;
                }
                Err(error) if attempts == 1 => tracing::warn!(%error, "Redis is unreachable; retrying with backoff"),
                Err(error) => tracing::debug!(%error, attempts, "Redis is still unreachable"),
            }
        }
    }
}
