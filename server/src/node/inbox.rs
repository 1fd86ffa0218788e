//! Other nodes' events, delivered to this node's sockets.

use super::Node;
use crate::broker::{Event, Inbox, Scope, Subject};
use axum::extract::ws::Utf8Bytes;
use std::sync::{Arc, Weak};

/// Receives other nodes' events; holds the node weakly so the broker does
/// not keep it alive.
pub(super) struct NodeInbox(Weak<Node>);

impl NodeInbox {
    pub(super) fn new(node: &Arc<Node>) -> Self {
        Self(Arc::downgrade(node))
    }
}

impl Inbox for NodeInbox {
    fn deliver(&self, event: Event) {
        let Some(node) = self.0.upgrade() else { return };
        if event.origin == node.id && event.position.is_none() {
            return;
        }
        let Ok(frame) = Utf8Bytes::try_from(event.frame) else {
            tracing::warn!(origin = %event.origin, "dropped a remote event that is not UTF-8");
            return;
        };
        if let Some(position) = event.position
            && node.store.is_some()
        {
            let scope = match &event.subject {
                Subject::Topic(_) => None,
                Subject::Context(_) => Some(event.scope.unwrap_or_default()),
            };
            node.hear(event.subject, position, frame, scope);
            return;
        }
        match &event.subject {
            Subject::Topic(topic) => {
                node.deliver_topic(topic, &frame);
            }
            Subject::Context(context) => {
                // The scope travels with the event; only a publisher that
                // did not send one makes us read the frame for it.
                let scope = match event.scope {
                    Some(scope) => scope,
                    None => match mizan_protocol::ServerFrame::decode(frame.as_bytes())
                        .ok()
                        .as_ref()
                        .and_then(Scope::of)
                    {
                        Some(scope) => Arc::new(scope),
                        None => {
                            tracing::warn!(origin = %event.origin, "dropped a remote push that is neither an invalidate nor a merge");
                            return;
                        }
                    },
                };
                node.deliver_context(context, &scope, &frame);
                if node.store.is_some() && node.registry.context(context).is_some() {
                    // Another node's entry the store did not take.
                    node.repair_context(context, Some(&scope));
                }
            }
        }
    }

    fn catch_up(&self) {
        let Some(node) = self.0.upgrade() else { return };
        crate::presence::catch_up(&node);
        match node.store {
            Some(_) => node.catch_up(),
            None => self.resync(),
        }
    }

    fn presence(&self, topic: &str, origin: &str, news: crate::broker::presence::News) {
        let Some(node) = self.0.upgrade() else { return };
        crate::presence::hear(&node, topic, origin, news);
    }

    fn resync(&self) {
        let Some(node) = self.0.upgrade() else { return };
        let reached = node.watchers.invalidate_all();
        tracing::info!(watchers = reached, "broker reconnected: told every watcher to refetch");
    }
}
