//! Publishing: every event is delivered to this node's subscribers or
//! watchers at once, and handed to the broker for the other nodes; and the
//! joins and watches that tell the broker what this node wants to hear.

use super::Node;
use crate::broker::{Event, Scope, Subject};
use crate::hub::ConnId;
use crate::metrics::Pushed;
use crate::outbox::Outbox;
use crate::watchers::Watch;
use axum::extract::ws::Utf8Bytes;
use mizan_channels::History;
use mizan_protocol::{Params, Payload, ServerFrame};
use std::sync::Arc;

impl Node {
    /// Registers a pending watch (indexed by `params`, see
    /// [`crate::watchers::indexed`]), subscribing the node to the context at
    /// the broker when it is the first.
    pub(crate) fn watch(
        &self,
        context: &Arc<str>,
        key: (ConnId, &Arc<str>),
        params: Params,
        outbox: Outbox,
    ) -> Arc<Watch> {
        self.watchers.watch(context, key, params, outbox, || {
            self.broker.subscribe(&Subject::Context(Arc::clone(context)));
        })
    }

    /// Removes a watch, unsubscribing at the broker when it was the last.
    pub(crate) fn unwatch(&self, context: &Arc<str>, conn: ConnId, canonical_params: &Arc<str>) -> bool {
        self.watchers.unwatch(context, conn, canonical_params, || {
            self.broker.unsubscribe(&Subject::Context(Arc::clone(context)));
        })
    }

    /// Publishes an invalidate or merge push: encoded once, delivered to
    /// local watchers at once, and through the broker (with its scope, so
    /// that other nodes match it without decoding it) to other nodes.
    pub(crate) fn publish_context(&self, context: &str, push: &ServerFrame) {
        let Some(scope) = Scope::of(push) else { return };
        let frame: Utf8Bytes = push.encode().into();
        self.deliver_context(context, &scope, &frame);
        self.broker.publish(Event {
            origin: Arc::clone(&self.id),
            subject: Subject::Context(context.into()),
            frame: frame.into(),
            scope: Some(Arc::new(scope)),
        });
    }

    /// Queues a context's push to the local watchers `scope` reaches.
    pub(super) fn deliver_context(&self, context: &str, scope: &Scope, frame: &Utf8Bytes) {
        let reached = self.watchers.deliver(context, scope, frame);
        let kind = if scope.merge { Pushed::Merge } else { Pushed::Invalidate };
        self.metrics.pushed(kind, reached, frame.len());
    }

    /// Adds a local subscriber to `topic`, subscribing the node at the
    /// broker when it is the first.
    pub(crate) fn join_topic(&self, topic: &Arc<str>, conn: ConnId, outbox: Outbox) {
        self.hub.join(topic, conn, outbox, || {
            self.broker.subscribe(&Subject::Topic(Arc::clone(topic)));
        });
    }

    /// Removes a local subscriber, unsubscribing the node at the broker
    /// when it was the last.
    pub(crate) fn leave_topic(&self, topic: &Arc<str>, conn: ConnId) {
        self.hub.leave(topic, conn, || {
            self.broker.unsubscribe(&Subject::Topic(Arc::clone(topic)));
        });
        if let Some(streams) = &self.streams {
            streams.leave(topic);
        }
    }

    /// Publishes a channel message to `topic`: with the next offset of the
    /// topic's stream and kept as `keep` says, when the broker keeps
    /// streams (encoded once, with its offset, for every recipient);
    /// without an offset otherwise.
    pub(crate) fn publish_message(&self, topic: &Arc<str>, data: Payload, keep: History) {
        let encode = |offset| {
            Utf8Bytes::from(
                ServerFrame::Message {
                    topic: topic.to_string(),
                    data,
                    offset,
                }
                .encode(),
            )
        };
        match &self.streams {
            Some(streams) => streams.append(
                topic,
                keep,
                |offset| encode(Some(offset)),
                |frame| {
                    self.publish_topic(topic, frame.clone());
                },
            ),
            None => {
                self.publish_topic(topic, encode(None));
            }
        }
    }

    /// Publishes an encoded push to `topic`: delivered to local
    /// subscribers at once, and through the broker to other nodes.
    pub(crate) fn publish_topic(&self, topic: &Arc<str>, frame: Utf8Bytes) -> usize {
        let delivered = self.deliver_topic(topic, &frame);
        self.broker.publish(Event {
            origin: Arc::clone(&self.id),
            subject: Subject::Topic(Arc::clone(topic)),
            frame: frame.into(),
            scope: None,
        });
        delivered
    }

    /// Queues a topic's push to its local subscribers.
    pub(super) fn deliver_topic(&self, topic: &str, frame: &Utf8Bytes) -> usize {
        let delivered = self.hub.deliver(topic, frame);
        self.metrics.pushed(Pushed::Message, delivered, frame.len());
        delivered
    }
}
