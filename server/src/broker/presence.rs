//! A presence store shared by nodes in several processes (PROTOCOL.md
//! section 10): each node writes its own members of each presence topic
//! there, with a heartbeat, and hears the other nodes' changes as
//! [`News`].
//!
//! A node keeps the other nodes' members of the topics it has subscribers
//! for (`crate::presence`): read once when the topic gains its first local
//! subscriber, then kept current by their news. Each node numbers its news
//! per topic (`seq`), so a receiver that missed one reads the topic again
//! rather than drift. A node that stops refreshing is swept by any other
//! node, which tells every node it is [`News::Gone`].

use super::store::StoreError;
use futures_util::future::BoxFuture;
use mizan_protocol::Member;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What one node tells the others about its members of a topic.
///
/// ```
/// use mizan_server::broker::presence::News;
/// let news: News = serde_json::from_str(r#"{"kind":"gone","node":"n1"}"#).unwrap();
/// assert_eq!(news, News::Gone { node: "n1".into() });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum News {
    /// Members joined and left since the node's news `seq - 1` (leaves
    /// apply first).
    Diff {
        /// Consecutive per node and topic.
        seq: u64,
        /// Who joined.
        joins: Vec<Member>,
        /// Who left.
        leaves: Vec<Member>,
    },
    /// The node's whole list, replacing what it said before: its first
    /// news of a topic, and after it could not tell whether its news got
    /// through.
    Reset {
        /// The next diff follows it.
        seq: u64,
        /// Every member.
        members: Vec<Member>,
    },
    /// `node` stopped refreshing its members and was swept: they left.
    Gone {
        /// The node that is gone.
        node: String,
    },
}

/// This node's news for one topic, to write and publish.
#[derive(Debug, Clone)]
pub struct Update {
    /// The topic.
    pub topic: Arc<str>,
    /// A [`News::Diff`] or [`News::Reset`].
    pub news: News,
}

/// One node's members of a topic, as the store holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMembers {
    /// The node.
    pub node: String,
    /// Its last news of the topic.
    pub seq: u64,
    /// Its members.
    pub members: Vec<Member>,
}

/// A presence store (see the module docs). Every wait is bounded by the
/// store's own timeouts.
pub trait PresenceStore: Send + Sync + 'static {
    /// Writes this node's updates and publishes each to the topic's other
    /// nodes, in order; one answer per update. `ttl` is the presence TTL:
    /// a node that neither updates nor refreshes a topic within half of it
    /// is swept.
    fn update(
        &self,
        updates: Vec<Update>,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Vec<Result<(), StoreError>>, StoreError>>;

    /// The heartbeat: for each `(topic, has_members)`, refreshes this
    /// node's members (when it has some) and sweeps the nodes that stopped
    /// refreshing theirs. Answers, per topic, whether this node's members
    /// were still there (`false`: they vanished, and must be written
    /// again with a [`News::Reset`]).
    fn refresh(
        &self,
        topics: Vec<(Arc<str>, bool)>,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Vec<bool>, StoreError>>;

    /// Every node's members of `topic`.
    fn read(&self, topic: &str) -> BoxFuture<'static, Result<Vec<NodeMembers>, StoreError>>;

    /// Starts hearing the other nodes' news of `topic` (delivered to
    /// [`Inbox::presence`](super::Inbox::presence)); resolves once heard.
    fn listen(&self, topic: &Arc<str>) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Stops hearing `topic`'s news.
    fn unlisten(&self, topic: &Arc<str>);
}
