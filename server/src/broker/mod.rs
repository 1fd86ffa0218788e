//! Fan-out between nodes.
//!
//! A node delivers every event to its own local subscribers itself, at
//! once, and hands it to the broker only so that *other* nodes get it. The
//! broker is told which subjects this node is interested in (a topic gains
//! its first local subscriber, or loses its last), and delivers the events
//! other nodes publish on those subjects to this node's [`Inbox`]. Subjects
//! are channel topics and contexts (for invalidations and merges).
//!
//! [`MemoryBroker`] connects nodes in one process (and is the default for a
//! single node, where it has nobody to deliver to). [`RedisBroker`] connects
//! nodes in several processes through Redis pub/sub (`docs/scaling.md`).

pub mod bundles;
mod memory;
pub mod presence;
#[cfg(feature = "redis")]
mod redis;
pub mod store;

#[cfg(feature = "redis")]
pub use self::redis::{RedisBroker, RedisBrokerError, RedisConfig};
pub use memory::MemoryBroker;

use bytes::Bytes;
use std::sync::Arc;

/// What an event is about; a broker keeps one subscription per subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A channel topic, `"<channel>:<group>"`.
    Topic(Arc<str>),
    /// A context's invalidations and merges.
    Context(Arc<str>),
}

/// One event crossing nodes: an encoded push frame, the same bytes every
/// recipient on every node receives.
#[derive(Debug, Clone)]
pub struct Event {
    /// The node that published it (nodes ignore their own events).
    pub origin: Arc<str>,
    /// What it is about.
    pub subject: Subject,
    /// The encoded push frame (UTF-8 JSON).
    pub frame: Bytes,
    /// For a context's event, which watchers it reaches, so that receivers
    /// match it without decoding the frame (a merge's value may be large).
    pub scope: Option<Arc<Scope>>,
    /// Its position in its stream, when a [`store::StreamStore`] gave it
    /// one: such an event reaches its publisher too.
    pub position: Option<mizan_protocol::Position>,
}

/// Which watchers of a context an invalidate or merge reaches.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Scope {
    /// The entry's params (`None`: every watcher of the context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<mizan_protocol::Params>,
    /// For a per-user context, the only user whose watchers it reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A merge (data, never coalesced) rather than an invalidation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge: bool,
}

impl Scope {
    /// Whether it reaches a watch indexed by `watch` (its params, and its
    /// user for a per-user context: [`crate::watchers::indexed`]): every
    /// key of its params, and its user, has the watch's value.
    pub(crate) fn reaches(&self, watch: &mizan_protocol::Params) -> bool {
        let audience;
        let target = match &self.user {
            None => self.params.as_ref(),
            Some(user) => {
                audience = crate::watchers::indexed(self.params.clone().unwrap_or_default(), Some(user));
                Some(&audience)
            }
        };
        target.is_none_or(|t| t.iter().all(|(k, v)| watch.get(k) == Some(v)))
    }

    /// The scope of an invalidate or merge push; `None` for other frames.
    pub fn of(push: &mizan_protocol::ServerFrame) -> Option<Self> {
        use mizan_protocol::ServerFrame;
        match push {
            ServerFrame::Invalidate(e) => Some(Self {
                params: e.params.clone(),
                user: e.user.clone(),
                merge: false,
            }),
            ServerFrame::Merge(e) => Some(Self {
                params: e.params.clone(),
                user: e.user.clone(),
                merge: true,
            }),
            _ => None,
        }
    }
}

/// Where a broker delivers events published by other nodes.
pub trait Inbox: Send + Sync + 'static {
    /// Delivers one event locally. Must not block.
    fn deliver(&self, event: Event);

    /// Events from other nodes were lost for good (a node could not hand
    /// them on): tells every local watcher to refetch, with a broad
    /// `invalidate` push for each watched context. Must not block.
    fn resync(&self);

    /// This node may have missed events while its broker was disconnected,
    /// and hears them again now. With a stream store, the node reads what
    /// it missed and delivers what matches; the default resyncs. Must not
    /// block.
    fn catch_up(&self) {
        self.resync();
    }

    /// Another node's news of a presence topic this node listens to (see
    /// [`presence`]); `origin` is the node that sent it. Must not block.
    fn presence(&self, topic: &str, origin: &str, news: presence::News) {
        let _ = (topic, origin, news);
    }
}

/// A broker's counters, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Events handed to other nodes.
    pub published: u64,
    /// Events received from other nodes.
    pub received: u64,
    /// Events dropped (the publish buffer was full while disconnected).
    pub dropped: u64,
    /// Reconnections after a lost connection.
    pub reconnects: u64,
    /// Whether the broker is connected now.
    pub connected: bool,
}

/// Moves events between nodes.
///
/// Every method must return quickly without blocking: they are called on
/// the hot path and under the hub's locks. A broker that does I/O queues
/// the work (bounded) and does it on its own task.
pub trait Broker: Send + Sync + 'static {
    /// Connects this node: events for its subjects go to `inbox`. Called
    /// once, when the node is built.
    fn attach(&self, node: Arc<str>, inbox: Arc<dyn Inbox>);

    /// Sends an event to the other nodes interested in its subject.
    fn publish(&self, event: Event);

    /// The node became interested in `subject`.
    fn subscribe(&self, subject: &Subject);

    /// The node is no longer interested in `subject`.
    fn unsubscribe(&self, subject: &Subject);

    /// The streams (PROTOCOL.md section 9) this broker keeps for the nodes
    /// it joins, when they share a process: offsets, kept events, replays.
    /// `None` (the default): pushes carry no offsets, recovery answers
    /// `recovered: false`, and every watch computes its bundle.
    fn streams(&self) -> Option<Arc<crate::streams::Streams>> {
        None
    }

    /// The stream store this broker shares with nodes in other processes
    /// ([`store`]): offsets and history come from it, and the node keeps
    /// mirrors of the streams it listens to. `None` (the default): the
    /// node uses [`streams`](Self::streams).
    fn store(&self) -> Option<Arc<dyn store::StreamStore>> {
        None
    }

    /// The presence store this broker shares with nodes in other processes
    /// ([`presence`]). `None` (the default): each node's presence holds its
    /// own sockets only.
    fn presence(&self) -> Option<Arc<dyn presence::PresenceStore>> {
        None
    }

    /// The bundle store this broker shares with nodes in other processes
    /// ([`bundles`]): the bundle cache's shared tier, when configured.
    /// `None` (the default): `bundle_cache_backend = "redis"` is refused.
    fn bundles(&self) -> Option<Arc<dyn bundles::BundleStore>> {
        None
    }

    /// Whether the broker can move events now (`/readyz` reports it).
    fn is_ready(&self) -> bool {
        true
    }

    /// The broker's counters.
    fn stats(&self) -> BrokerStats {
        BrokerStats {
            connected: self.is_ready(),
            ..BrokerStats::default()
        }
    }
}
