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
use mizan_protocol::{Params, Payload, Position, ServerFrame};
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

    /// Publishes the invalidate or merge push `make` builds (with the next
    /// offset of the context's stream, when the broker keeps streams):
    /// encoded once, delivered to local watchers at once, and through the
    /// broker (with its scope, so that other nodes match it without
    /// decoding it) to other nodes. Returns the offset.
    pub(crate) fn publish_context(&self, context: &str, make: impl FnOnce(Option<u64>) -> ServerFrame) -> Option<u64> {
        let publish = |push: ServerFrame| -> Option<Arc<Scope>> {
            let scope = Arc::new(Scope::of(&push)?);
            let frame: Utf8Bytes = push.encode().into();
            self.deliver_context(context, &scope, &frame);
            self.broker.publish(Event {
                origin: Arc::clone(&self.id),
                subject: Subject::Context(context.into()),
                frame: frame.into(),
                scope: Some(Arc::clone(&scope)),
            });
            Some(scope)
        };
        let Some(streams) = &self.streams else {
            publish(make(None));
            return None;
        };
        let name: Arc<str> = context.into();
        let offset = streams.contexts.append(
            &name,
            self.config.context_keep(),
            // Kept: whom the entry reached. A push that is no entry cannot
            // happen; were it to, it is kept as broad, so that re-watches
            // compute rather than trust it.
            |offset| publish(make(Some(offset))).unwrap_or_default(),
        );
        Some(offset)
    }

    /// The position of `context`'s stream, when the broker keeps streams
    /// and the registry declares the context (a name a client made up
    /// gets no stream: context streams are never swept).
    pub(crate) fn context_position(&self, context: &str) -> Option<Position> {
        let streams = self.streams.as_ref()?;
        self.registry.context(context)?;
        Some(streams.contexts.position(&context.into(), self.config.context_keep()))
    }

    /// For a re-watch holding a bundle at `since`: the current position
    /// when no entry after `since` reaches `watch` (its indexed params)
    /// and the stream still keeps them all.
    pub(crate) fn unchanged_since(&self, context: &str, since: &Position, watch: &Params) -> Option<Position> {
        let streams = self.streams.as_ref()?;
        streams
            .contexts
            .unchanged(&context.into(), self.config.context_keep(), since, watch)
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
            streams.topics.leave(topic);
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
            Some(streams) => {
                streams.topics.append(topic, keep, |offset| {
                    let frame = encode(Some(offset));
                    self.publish_topic(topic, frame.clone());
                    frame
                });
            }
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
