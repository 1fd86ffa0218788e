//! This node's topics and their local subscribers.
//!
//! Topics live in a sharded map so joins, leaves and fan-outs on different
//! topics do not contend. A fan-out hands every subscriber a clone of the
//! same encoded frame (a reference count, no copy) and never waits on a
//! socket: a subscriber whose queue is full is closed as too slow.

use crate::outbox::Outbox;
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::Arc;

/// Identifies a connection on this node.
pub(crate) type ConnId = u64;

/// Topic name -> local subscribers.
#[derive(Default)]
pub(crate) struct Hub {
    topics: DashMap<Arc<str>, HashMap<ConnId, Outbox>>,
}

impl Hub {
    /// Adds a subscriber. `on_first` runs when it is the topic's first local
    /// subscriber, under the topic's lock, so interest changes reach the
    /// broker in the order they happened.
    pub(crate) fn join(&self, topic: &Arc<str>, conn: ConnId, outbox: Outbox, on_first: impl FnOnce()) {
        let mut members = self.topics.entry(Arc::clone(topic)).or_default();
        if members.is_empty() {
            on_first();
        }
        members.insert(conn, outbox);
    }

    /// Removes a subscriber. `on_last` runs, under the topic's lock, when no
    /// local subscriber is left.
    pub(crate) fn leave(&self, topic: &str, conn: ConnId, on_last: impl FnOnce()) {
        self.topics.remove_if_mut(topic, |_, members| {
            members.remove(&conn);
            let empty = members.is_empty();
            if empty {
                on_last();
            }
            empty
        });
    }

    /// Queues `frame` to every local subscriber of `topic`; returns how
    /// many it reached.
    pub(crate) fn deliver(&self, topic: &str, frame: &Utf8Bytes) -> usize {
        let Some(members) = self.topics.get(topic) else {
            return 0;
        };
        members.values().filter(|outbox| outbox.push(frame.clone())).count()
    }

    /// Queues `frame` to every local subscriber of `topic` but those in
    /// `not_to`; returns how many it reached.
    pub(crate) fn deliver_except(
        &self,
        topic: &str,
        frame: &Utf8Bytes,
        not_to: &std::collections::HashSet<ConnId>,
    ) -> usize {
        let Some(members) = self.topics.get(topic) else {
            return 0;
        };
        members
            .iter()
            .filter(|(conn, _)| !not_to.contains(conn))
            .filter(|(_, outbox)| outbox.push(frame.clone()))
            .count()
    }

    /// How many topics have local subscribers.
    pub(crate) fn topic_count(&self) -> usize {
        self.topics.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::outbox;
    use crate::outbox::tests::drain;

    #[tokio::test]
    async fn joins_delivers_and_leaves() {
        let hub = Hub::default();
        let topic: Arc<str> = "chat:lobby".into();
        let (a, a_rx) = outbox(4, 1 << 20, Default::default());
        let (b, b_rx) = outbox(4, 1 << 20, Default::default());
        let (mut firsts, mut lasts) = (0, 0);
        hub.join(&topic, 1, a, || firsts += 1);
        hub.join(&topic, 2, b, || firsts += 1);
        assert_eq!(firsts, 1);
        assert_eq!(hub.deliver("chat:lobby", &"x".into()), 2);
        for rx in [&a_rx, &b_rx] {
            assert_eq!(drain(rx), ["x"]);
        }
        hub.leave("chat:lobby", 1, || lasts += 1);
        assert_eq!(lasts, 0);
        assert_eq!(hub.deliver("chat:lobby", &"y".into()), 1);
        hub.leave("chat:lobby", 2, || lasts += 1);
        assert_eq!(lasts, 1);
        assert_eq!(hub.topic_count(), 0);
        assert_eq!(hub.deliver("chat:lobby", &"z".into()), 0);
    }
}
