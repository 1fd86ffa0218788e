//! The subscriber task on a Redis Cluster: one cluster connection (the
//! redis crate keeps a connection per cluster node and routes each
//! `SSUBSCRIBE` to the master of its channel's slot), RESP3 push messages
//! delivered to one queue.
//!
//! As on one Redis, the broker's `subscribe`/`unsubscribe` only record the
//! node's interest, and this task brings the shard subscriptions in line
//! with it: one `SSUBSCRIBE`/`SUNSUBSCRIBE` per channel (a command may not
//! span slots), sent at once.
//!
//! When a node's connection closes (the crate pushes a disconnection) or
//! the cluster takes a subscribed channel away (a `sunsubscribe` push we
//! did not ask for: its slot moved, its master failed over), the task
//! counts the broker as not connected, opens a fresh cluster connection
//! (the cluster's slot map as it is now) and subscribes it to everything
//! (with backoff, until every channel's current master accepted it), and
//! then has the node catch up from the streams, as on one Redis: what was
//! published meanwhile is read back, and what the failover lost shows as a
//! new epoch or an offset gone back, never as a silent gap. (The crate
//! also resubscribes by itself after it reconnects or learns a new slot
//! map, but does not say when it is done, and subscriptions it moved were
//! seen to go quiet: a fresh connection is the one the node can trust.)

use super::backoff::Backoff;
use super::connection::{self, Failure, pause, within};
use super::subscriber::{Subscriber, sleep_until_some};
use super::{RedisConfig, Shared, wire};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{ConnectionInfo, Msg, PushInfo, PushKind, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, watch};

/// Shard subscriptions sent at once, at most.
const IN_FLIGHT: usize = 256;

/// Push messages queued for the task, at most. Past it they are dropped,
/// and the task treats the connection as lost: a fresh one, and the node
/// catches up from the streams.
const PUSHES_QUEUED: usize = 65_536;

/// The cluster connection of the subscriber and its push messages.
pub(super) struct Shards {
    conn: ClusterConnection,
    pushes: mpsc::Receiver<PushInfo>,
    /// Pushes were dropped: the queue was full.
    overflowed: Arc<AtomicBool>,
}

/// Opens the subscriber's cluster connection and subscribes it to the
/// control channel, within the configured timeouts.
pub(super) async fn connect(
    seeds: &[ConnectionInfo],
    config: &RedisConfig,
    names: &wire::Names,
) -> Result<Shards, Failure> {
    let (tx, pushes) = mpsc::channel(PUSHES_QUEUED);
    let overflowed = Arc::new(AtomicBool::new(false));
    let full = Arc::clone(&overflowed);
    // The crate's sender must never block: a full queue drops the push.
    let sender = move |push: PushInfo| match tx.try_send(push) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => {
            full.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
    };
    let client = connection::cluster_client(seeds, config, Some(sender))?;
    let mut conn = within(
        config.connect_timeout + config.command_timeout,
        client.get_async_connection(),
    )
    .await?;
    within(config.command_timeout, conn.ssubscribe(names.control())).await?;
    Ok(Shards {
        conn,
        pushes,
        overflowed,
    })
}

/// `SSUBSCRIBE` (`join`) or `SUNSUBSCRIBE` each of `channels`, a command
/// each, up to [`IN_FLIGHT`] at once.
async fn each(
    conn: &ClusterConnection,
    limit: std::time::Duration,
    channels: &[String],
    join: bool,
) -> Result<(), Failure> {
    for chunk in channels.chunks(IN_FLIGHT) {
        let sends = chunk.iter().map(|channel| {
            let mut conn = conn.clone();
            async move {
                if join {
                    within(limit, conn.ssubscribe(channel)).await
                } else {
                    within(limit, conn.sunsubscribe(channel)).await
                }
            }
        });
        for result in futures_util::future::join_all(sends).await {
            result?;
        }
    }
    Ok(())
}

/// Runs until the broker is dropped.
pub(super) async fn run(
    shared: Arc<Shared>,
    seeds: Vec<ConnectionInfo>,
    shards: Shards,
    mut wake: mpsc::Receiver<()>,
    mut stop: watch::Receiver<()>,
) {
    let config = &shared.config;
    let limit = config.command_timeout;
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let mut subscriber = Subscriber::new(Arc::clone(&shared));
    let Shards {
        mut conn,
        mut pushes,
        mut overflowed,
    } = shards;
    let mut healthy = true;
    let mut attempts = 0u32;
    loop {
        if !healthy {
            if !pause(backoff.next_delay(), &mut stop).await {
                return;
            }
            attempts += 1;
            // A fresh connection, with the cluster's slot map as it is now
            // (the old one's subscriptions may sit on a node that is gone).
            let fresh = match connect(&seeds, config, &shared.names).await {
                Ok(fresh) => fresh,
                Err(error) => {
                    tracing::debug!(%error, attempts, "the Redis Cluster is still unreachable");
                    continue;
                }
            };
            (conn, pushes, overflowed) = (fresh.conn, fresh.pushes, fresh.overflowed);
            match subscribe_all(&mut subscriber, &conn, limit).await {
                Ok(()) => {
                    healthy = true;
                    backoff.reset();
                    shared.connected.store(true, Ordering::Relaxed);
                    shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        attempts,
                        subjects = subscriber.active.len(),
                        "the Redis Cluster's shards are subscribed again"
                    );
                    attempts = 0;
                    if let Some(inbox) = shared.inbox.get() {
                        inbox.catch_up();
                    }
                }
                Err(error) => {
                    if attempts == 1 {
                        tracing::warn!(%error, "subscribing on the Redis Cluster failed; retrying with backoff");
                    } else {
                        tracing::debug!(%error, attempts, "subscribing on the Redis Cluster still fails");
                    }
                    continue;
                }
            }
        }
        let resync_at = subscriber.resync_at;
        let lost = tokio::select! {
            _ = stop.changed() => return,
            push = pushes.recv() => match push {
                None => return,
                Some(_) if overflowed.load(Ordering::Relaxed) => {
                    Some(format!("more than {PUSHES_QUEUED} push messages waited: some were dropped"))
                }
                Some(push) => on_push(&mut subscriber, push),
            },
            woken = wake.recv() => match woken {
                None => return,
                Some(()) => match reconcile(&mut subscriber, &conn, limit).await {
                    Ok(()) => None,
                    Err(e) => Some(format!("updating shard subscriptions failed: {e}")),
                },
            },
            () = sleep_until_some(resync_at) => {
                subscriber.resync();
                None
            }
        };
        if let Some(reason) = lost {
            healthy = false;
            shared.connected.store(false, Ordering::Relaxed);
            shared.heard(HashSet::clear);
            shared.redis_lost.notify_one();
            tracing::warn!(%reason, "lost part of the Redis Cluster; local delivery goes on, subscribing again");
        }
    }
}

/// One push message; `Some(reason)` when it tells of a lost subscription.
fn on_push(subscriber: &mut Subscriber, push: PushInfo) -> Option<String> {
    match push.kind {
        PushKind::SMessage => {
            if let Some(message) = Msg::from_push_info(push) {
                subscriber.handle(&message);
            }
            None
        }
        PushKind::Disconnection => Some("a connection to a cluster node closed".to_owned()),
        PushKind::SUnsubscribe => {
            let channel = match push.data.first() {
                Some(Value::BulkString(name)) => String::from_utf8_lossy(name).into_owned(),
                _ => return None,
            };
            // One this node left is no news; one it still wants was taken
            // away by the cluster (its slot moved).
            (channel == subscriber.control || subscriber.active.contains_key(&channel))
                .then(|| format!("the cluster unsubscribed `{channel}` (its slot moved)"))
        }
        _ => None,
    }
}

/// Subscribes to the control channel and every subject the node wants.
async fn subscribe_all(
    subscriber: &mut Subscriber,
    conn: &ClusterConnection,
    limit: std::time::Duration,
) -> Result<(), Failure> {
    let wanted = subscriber.restart();
    let mut channels: Vec<String> = wanted.iter().map(|(channel, _)| channel.clone()).collect();
    channels.push(subscriber.control.clone());
    each(conn, limit, &channels, true).await?;
    subscriber.joined(wanted);
    Ok(())
}

/// Brings the shard subscriptions in line with the interest changes
/// recorded since the last time.
async fn reconcile(
    subscriber: &mut Subscriber,
    conn: &ClusterConnection,
    limit: std::time::Duration,
) -> Result<(), Failure> {
    let (joins, leaves) = subscriber.changes();
    each(conn, limit, &leaves, false).await?;
    let channels: Vec<String> = joins.iter().map(|(channel, _)| channel.clone()).collect();
    each(conn, limit, &channels, true).await?;
    subscriber.joined(joins);
    Ok(())
}
