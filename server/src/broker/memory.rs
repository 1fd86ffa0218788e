//! The in-memory broker: nodes in one process.

use super::{Broker, Event, Inbox, Subject};
use crate::streams::Streams;
use dashmap::DashMap;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

/// Connects the nodes of one process. Give each node its own clone (a
/// clone is a new handle on the same bus); a node with a broker of its own
/// (the default) is a single node.
///
/// ```
/// use mizan_server::{Mizan, broker::MemoryBroker};
/// let bus = MemoryBroker::new();
/// let a = Mizan::builder().broker(bus.clone()).build().unwrap();
/// let b = Mizan::builder().broker(bus.clone()).build().unwrap();
/// assert_ne!(a.node_id(), b.node_id());
/// ```
#[derive(Default)]
pub struct MemoryBroker {
    bus: Arc<Bus>,
    node: OnceLock<Arc<str>>,
}

#[derive(Default)]
struct Bus {
    inboxes: DashMap<Arc<str>, Arc<dyn Inbox>>,
    interest: DashMap<Subject, HashSet<Arc<str>>>,
    /// The streams, shared by the nodes on the bus.
    streams: Arc<Streams>,
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBroker")
            .field("node", &self.node.get())
            .field("nodes_on_the_bus", &self.bus.inboxes.len())
            .finish()
    }
}

impl MemoryBroker {
    /// A new bus with no nodes.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many nodes on this bus are interested in `subject`.
    pub fn interested_nodes(&self, subject: &Subject) -> usize {
        self.bus.interest.get(subject).map_or(0, |nodes| nodes.len())
    }
}

impl Clone for MemoryBroker {
    /// A new handle on the same bus, for another node.
    fn clone(&self) -> Self {
        Self {
            bus: Arc::clone(&self.bus),
            node: OnceLock::new(),
        }
    }
}

impl Broker for MemoryBroker {
    fn streams(&self) -> Option<Arc<Streams>> {
        Some(Arc::clone(&self.bus.streams))
    }

    fn attach(&self, node: Arc<str>, inbox: Arc<dyn Inbox>) {
        if self.node.set(Arc::clone(&node)).is_err() {
            tracing::error!("a MemoryBroker handle was attached to two nodes; give each node its own clone");
            return;
        }
        self.bus.inboxes.insert(node, inbox);
    }

    fn publish(&self, event: Event) {
        // Collect first and deliver with no lock held: delivery takes the
        // hub's locks, and the hub calls `subscribe` under them.
        let inboxes: Vec<Arc<dyn Inbox>> = match self.bus.interest.get(&event.subject) {
            Some(nodes) => nodes
                .iter()
                .filter(|n| **n != event.origin)
                .filter_map(|n| self.bus.inboxes.get(n).map(|i| Arc::clone(&i)))
                .collect(),
            None => return,
        };
        for inbox in inboxes {
            inbox.deliver(event.clone());
        }
    }

    fn subscribe(&self, subject: &Subject) {
        if let Some(node) = self.node.get() {
            self.bus
                .interest
                .entry(subject.clone())
                .or_default()
                .insert(Arc::clone(node));
        }
    }

    fn unsubscribe(&self, subject: &Subject) {
        let Some(node) = self.node.get() else { return };
        self.bus.interest.remove_if_mut(subject, |_, nodes| {
            nodes.remove(node);
            nodes.is_empty()
        });
    }
}
