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
use super::connection::{self, Conn, Failure, Target, pause, within};
use super::{RedisConfig, Shared, wire};
use crate::broker::Event;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Resync notices are published at most this often.
const NOTICE_EVERY: Duration = Duration::from_secs(1);

/// Opens the publishing connection, within the configured timeouts.
pub(super) async fn connect(target: &Target, config: &RedisConfig) -> Result<Conn, Failure> {
    connection::open(target, config).await
}

/// `PUBLISH` (one Redis) or `SPUBLISH` (a cluster's shard channel).
pub(super) fn publish(names: &wire::Names, channel: &str, payload: Vec<u8>) -> ::redis::Cmd {
    let mut cmd = ::redis::cmd(if names.cluster() { "SPUBLISH" } else { "PUBLISH" });
    cmd.arg(channel).arg(payload);
    cmd
}

/// Sends `commands` (each with the channel or key it is routed by), their
/// answers ignored: one pipeline on one Redis; on a cluster, a pipeline
/// per hash tag (a pipeline may not span slots), all at once, each in
/// order. Answers how many commands failed, and the first failure.
pub(super) async fn send_all(
    conn: &mut Conn,
    names: &wire::Names,
    limit: Duration,
    commands: Vec<(String, ::redis::Cmd)>,
) -> Option<(u64, Failure)> {
    if !names.cluster() {
        let count = commands.len() as u64;
        let mut pipe = ::redis::pipe();
        for (_, cmd) in commands {
            pipe.add_command(cmd).ignore();
        }
        return within(limit, pipe.exec_async(conn)).await.err().map(|e| (count, e));
    }
    let mut groups: Vec<(::redis::Pipeline, u64)> = Vec::new();
    let mut by_tag: HashMap<Vec<u8>, usize> = HashMap::new();
    for (key, cmd) in commands {
        let at = *by_tag
            .entry(wire::hash_tag(key.as_bytes()).to_vec())
            .or_insert_with(|| {
                groups.push((::redis::pipe(), 0));
                groups.len() - 1
            });
        groups[at].0.add_command(cmd).ignore();
        groups[at].1 += 1;
    }
    let sends = groups.into_iter().map(|(pipe, count)| {
        let mut conn = conn.clone();
        async move { (count, within(limit, pipe.exec_async(&mut conn)).await) }
    });
    let mut failed: Option<(u64, Failure)> = None;
    for (count, result) in futures_util::future::join_all(sends).await {
        if let Err(e) = result {
            match failed.as_mut() {
                Some((n, _)) => *n += count,
                None => failed = Some((count, e)),
            }
        }
    }
    failed
}

struct Publisher {
    shared: Arc<Shared>,
    target: Target,
    conn: Option<Conn>,
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
    target: Target,
    conn: Conn,
    mut queue: mpsc::Receiver<Event>,
    mut stop: watch::Receiver<()>,
) {
    let config = &shared.config;
    let mut publisher = Publisher {
        backoff: Backoff::new(config.backoff_min, config.backoff_max),
        control: shared.names.control(),
        batch: Vec::with_capacity(config.publish_batch.min(1024)),
        shared: Arc::clone(&shared),
        target,
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
        let names = &self.shared.names;
        let mut commands = Vec::with_capacity(self.batch.len() + 1);
        if notice {
            let payload = wire::encode_notice(&origin, wire::RESYNC_NOTICE);
            commands.push((self.control.clone(), publish(names, &self.control, payload)));
        }
        let count = self.batch.len() as u64;
        for event in self.batch.drain(..) {
            let channel = names.channel(&event.subject);
            let payload = wire::encode(&origin, event.position.as_ref(), event.scope.as_deref(), &event.frame);
            let cmd = publish(names, &channel, payload);
            commands.push((channel, cmd));
        }
        let Some(conn) = self.conn.as_mut() else {
            self.shared.drop_events(count, "Redis is unreachable");
            return;
        };
        let failed = send_all(conn, names, self.shared.config.command_timeout, commands).await;
        match failed {
            None => {
                tracing::trace!(events = count, notice, "published a pipeline");
                self.shared.published.fetch_add(count, Ordering::Relaxed);
                self.last_ok = Instant::now();
                if notice {
                    self.last_notice = Some(self.last_ok);
                }
            }
            Some((failed, e)) => {
                // The notice, when it failed, is not an event.
                let failed = failed.min(count);
                self.shared.published.fetch_add(count - failed, Ordering::Relaxed);
                self.shared.drop_events(failed.max(1), "publishing to Redis failed");
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
                publish(&self.shared.names, &self.control, payload).exec_async(conn),
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
            match connect(&self.target, &self.shared.config).await {
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
