//! Presence (PROTOCOL.md section 10) on one node: who is subscribed to
//! each topic of a channel that tracks it, and the batched diffs.
//!
//! Every `presence_interval` the node flushes each topic that changed: the
//! joins and leaves since the last flush become one `presence_diff`,
//! encoded once and delivered to the topic's subscribers; then the
//! `presence` requests that arrived meanwhile are answered with the members
//! as they are after that diff. A socket that joined, or asked, during the
//! batch is not sent the batch's diff (its answer already holds it), so
//! applying every diff it receives, in order, to its answer gives the
//! current members. A thousand sockets joining within a batch cost each
//! subscriber one frame.

use crate::hub::{ConnId, Hub};
use crate::outbox::Outbox;
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use mizan_protocol::{Member, RequestId, ServerFrame};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Every presence topic of this node.
#[derive(Default)]
pub(crate) struct Presence {
    topics: DashMap<Arc<str>, Topic>,
}

#[derive(Default)]
struct Topic {
    members: HashMap<ConnId, Member>,
    /// Sockets per signed-in user, for `presence_stats`.
    users: HashMap<String, usize>,
    /// Since the last flush.
    joins: Vec<(ConnId, Member)>,
    leaves: Vec<Member>,
    /// `presence` requests waiting for the next flush.
    asking: Vec<(ConnId, RequestId, Outbox)>,
}

impl Presence {
    /// `conn` joined `topic` as `member`.
    pub(crate) fn join(&self, topic: &Arc<str>, conn: ConnId, member: Member) {
        let mut t = self.topics.entry(Arc::clone(topic)).or_default();
        if let Some(user) = &member.user {
            *t.users.entry(user.clone()).or_default() += 1;
        }
        t.joins.push((conn, member.clone()));
        t.members.insert(conn, member);
    }

    /// `conn` left `topic` (a no-op when it was not a member). A member
    /// that joined and leaves within one batch appears in neither list.
    pub(crate) fn leave(&self, topic: &str, conn: ConnId) {
        let Some(mut t) = self.topics.get_mut(topic) else {
            return;
        };
        let Some(member) = t.members.remove(&conn) else { return };
        if let Some(user) = &member.user
            && let Some(n) = t.users.get_mut(user)
        {
            *n -= 1;
            if *n == 0 {
                t.users.remove(user);
            }
        }
        match t.joins.iter().position(|(c, _)| *c == conn) {
            Some(at) => {
                t.joins.remove(at);
            }
            None => t.leaves.push(member),
        }
        t.asking.retain(|(c, _, _)| *c != conn);
    }

    /// `(sessions, distinct users)` of `topic`.
    pub(crate) fn stats(&self, topic: &str) -> (u64, u64) {
        self.topics
            .get(topic)
            .map_or((0, 0), |t| (t.members.len() as u64, t.users.len() as u64))
    }

    /// Queues a `presence` request, answered at the next flush.
    pub(crate) fn ask(&self, topic: &Arc<str>, conn: ConnId, id: RequestId, outbox: Outbox) {
        let mut t = self.topics.entry(Arc::clone(topic)).or_default();
        t.asking.push((conn, id, outbox));
    }

    /// Sends every changed topic's diff and answers the waiting requests.
    /// Returns how many diffs were sent.
    pub(crate) fn flush(&self, hub: &Hub) -> usize {
        let mut sent = 0;
        self.topics.retain(|topic, t| {
            let changed = !t.joins.is_empty() || !t.leaves.is_empty();
            if changed {
                let not_to: HashSet<ConnId> = t
                    .joins
                    .iter()
                    .map(|(c, _)| *c)
                    .chain(t.asking.iter().map(|(c, _, _)| *c))
                    .collect();
                let frame: Utf8Bytes = ServerFrame::PresenceDiff {
                    topic: topic.to_string(),
                    joins: t.joins.drain(..).map(|(_, m)| m).collect(),
                    leaves: std::mem::take(&mut t.leaves),
                }
                .encode()
                .into();
                hub.deliver_except(topic, &frame, &not_to);
                sent += 1;
            }
            if !t.asking.is_empty() {
                let members: Vec<Member> = t.members.values().cloned().collect();
                for (_, id, outbox) in t.asking.drain(..) {
                    let answer = ServerFrame::Presence {
                        id,
                        topic: topic.to_string(),
                        members: members.clone(),
                    };
                    outbox.send(&answer);
                }
            }
            !t.members.is_empty()
        });
        sent
    }
}

/// Starts the node's presence flushes (once; every `presence_interval`),
/// holding the node weakly: they stop with it.
pub(crate) fn start_flushing(node: &Arc<crate::node::Node>) {
    if node.presence_flushing.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return;
    }
    // A zero interval would make the timer panic: a millisecond at least.
    let every = node.config.presence_interval.max(std::time::Duration::from_millis(1));
    let node = Arc::downgrade(node);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(node) = node.upgrade() else { return };
            node.presence.flush(&node.hub);
        }
    });
}
