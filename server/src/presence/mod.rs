//! Presence (PROTOCOL.md section 10): who is subscribed to each topic of a
//! channel that tracks it, on every node, and the batched diffs.
//!
//! Every `presence_interval` the node flushes each topic that changed: the
//! joins and leaves since the last flush (its own sockets' and, through
//! the presence store, other nodes') become one `presence_diff`, encoded
//! once and delivered to the topic's local subscribers; then the
//! `presence` requests that arrived meanwhile are answered with the
//! members as they are after that diff. A socket that joined, or asked,
//! during the batch is not sent the batch's diff (its answer already holds
//! it), so applying every diff it receives, in order, to its answer gives
//! the current members. A thousand sockets joining within a batch cost
//! each subscriber one frame.
//!
//! Beside a presence store (`crate::broker::presence`, Redis), the flush
//! also hands this node's changes to the store, which publishes them to
//! the other nodes; a node keeps the other nodes' members of the topics it
//! has subscribers for, read when the topic gains its first local
//! subscriber and kept current by their news.
//!
//! - `mod.rs`: [`Presence`], what connections call, and the flush.
//! - `topic.rs`: one topic's members, batch and news (no I/O).
//! - `sync.rs`: the tasks: flushes, the store writer, heartbeats, reads.

mod sync;
mod topic;

pub(crate) use sync::start;

use crate::broker::presence::{News, PresenceStore, Update};
use crate::hub::{ConnId, Hub};
use crate::node::Node;
use crate::outbox::Outbox;
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use mizan_protocol::{Member, RequestId, ServerFrame};
use std::sync::Arc;
use topic::{Asker, Heard, Topic};

/// Every presence topic of this node.
pub(crate) struct Presence {
    topics: DashMap<Arc<str>, Topic>,
    /// The store shared with other nodes, if any.
    store: Option<Arc<dyn PresenceStore>>,
    /// Whether the tasks run.
    running: std::sync::atomic::AtomicBool,
    /// Asks the tasks for a heartbeat now (after an outage).
    beat_now: Arc<tokio::sync::Notify>,
}

impl Presence {
    /// Presence beside `store` (`None`: this node's sockets only).
    pub(crate) fn new(store: Option<Arc<dyn PresenceStore>>) -> Self {
        Self {
            topics: DashMap::new(),
            store,
            running: std::sync::atomic::AtomicBool::new(false),
            beat_now: Arc::default(),
        }
    }

    /// Sends every changed topic's diff, answers the waiting requests, and
    /// returns this node's news for the store. A topic left with no local
    /// socket is dropped (its last news says so).
    pub(crate) fn flush(&self, hub: &Hub) -> Vec<Update> {
        let mut updates = Vec::new();
        self.topics.retain(|topic, t| {
            let flushed = t.flush(topic);
            if let Some((frame, not_to)) = flushed.diff {
                let frame: Utf8Bytes = frame.encode().into();
                hub.deliver_except(topic, &frame, &not_to);
            }
            for (outbox, answer) in flushed.answers {
                outbox.send(&answer);
            }
            if let Some(news) = flushed.news {
                updates.push(Update {
                    topic: Arc::clone(topic),
                    news,
                });
            }
            let keep = !t.is_abandoned();
            if !keep && let Some(store) = &self.store {
                // Under the shard's lock: a join that makes the topic
                // again listens after this.
                store.unlisten(topic);
            }
            keep
        });
        updates
    }

    /// `(sessions, distinct users)` of `topic`, when known now.
    fn stats(&self, topic: &str) -> Option<(u64, u64)> {
        self.topics.get(topic).map_or(Some((0, 0)), |t| t.stats())
    }

    /// The store may not hold this node's members of `topic`.
    fn lost(&self, topic: &str) {
        if let Some(mut t) = self.topics.get_mut(topic) {
            t.lost();
        }
    }
}

/// `conn` joined `topic` as `member`. The topic's first local member makes
/// the node listen to the other nodes' news of it and read their members.
pub(crate) fn join(node: &Arc<Node>, topic: &Arc<str>, conn: ConnId, member: Member) {
    let presence = &node.presence;
    let listening = match presence.topics.entry(Arc::clone(topic)) {
        Entry::Occupied(mut t) => {
            t.get_mut().join(conn, member);
            None
        }
        Entry::Vacant(slot) => {
            let mut t = Topic::new(presence.store.is_some());
            t.join(conn, member);
            let listening = presence.store.as_ref().map(|store| {
                t.begin_read();
                store.listen(topic)
            });
            slot.insert(t);
            listening
        }
    };
    if let Some(listening) = listening {
        sync::read(node, Arc::clone(topic), Some(listening));
    }
    start(node);
}

/// `conn` left `topic` (a no-op when it was not a member).
pub(crate) fn leave(node: &Node, topic: &str, conn: ConnId) {
    if let Some(mut t) = node.presence.topics.get_mut(topic) {
        t.leave(conn);
    }
}

/// A `presence` (`stats: false`) or `presence_stats` request of `conn`, a
/// subscriber of `topic`: stats are answered at once when known, the rest
/// at the next flush.
pub(crate) fn ask(node: &Arc<Node>, topic: &Arc<str>, conn: ConnId, id: RequestId, outbox: Outbox, stats: bool) {
    let presence = &node.presence;
    if stats && let Some((sessions, users)) = presence.stats(topic) {
        outbox.send(&ServerFrame::PresenceStats {
            id,
            topic: topic.to_string(),
            sessions,
            users,
        });
        return;
    }
    let asker = Asker {
        conn,
        id,
        outbox,
        stats,
    };
    presence
        .topics
        .entry(Arc::clone(topic))
        .or_insert_with(|| Topic::new(false))
        .ask(asker);
    start(node);
}

/// Another node's news of `topic` (`origin` sent it).
pub(crate) fn hear(node: &Arc<Node>, topic: &str, origin: &str, news: News) {
    let Some(mut t) = node.presence.topics.get_mut(topic) else {
        return;
    };
    let heard = t.hear(&node.id, origin, news);
    let topic = Arc::clone(t.key());
    drop(t);
    if heard == Heard::Reread {
        sync::read(node, topic, None);
    }
}

/// The node may have missed news while its broker was cut off, and the
/// store may have lost what it held: read every topic again and write
/// this node's members again.
pub(crate) fn catch_up(node: &Arc<Node>) {
    let presence = &node.presence;
    if presence.store.is_none() {
        return;
    }
    let topics: Vec<Arc<str>> = presence.topics.iter().map(|t| Arc::clone(t.key())).collect();
    for topic in &topics {
        presence.lost(topic);
        sync::read(node, Arc::clone(topic), None);
    }
    presence.beat_now.notify_one();
}
