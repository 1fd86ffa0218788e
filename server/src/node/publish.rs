//! Publishing: every event is delivered to this node's subscribers or
//! watchers at once, and handed to the broker for the other nodes; and the
//! joins and watches that tell the broker what this node wants to hear.

use super::Node;
use crate::broker::store::{Append, Read, StoreError, frame_head};
use crate::broker::{Event, Scope, Subject};
use crate::hub::ConnId;
use crate::metrics::Pushed;
use crate::outbox::Outbox;
use crate::watchers::Watch;
use axum::extract::ws::Utf8Bytes;
use futures_util::future::BoxFuture;
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
            self.listen(&Subject::Context(Arc::clone(context)), true);
        })
    }

    /// Removes a watch, unsubscribing at the broker when it was the last.
    pub(crate) fn unwatch(&self, context: &Arc<str>, conn: ConnId, canonical_params: &Arc<str>) -> bool {
        self.watchers.unwatch(context, conn, canonical_params, || {
            self.listen(&Subject::Context(Arc::clone(context)), false);
        })
    }

    /// Publishes the invalidate or merge push `make` builds (with the next
    /// offset of the context's stream, when there are streams): encoded
    /// once, delivered to local watchers, and through the broker (with its
    /// scope, so that other nodes match it without decoding it) to other
    /// nodes. Returns the offset.
    ///
    /// With a stream store, the store gives the offset and publishes to
    /// every node, this one too; when it cannot, the push goes out without
    /// an offset the old way (watchers refetch; other nodes that miss it
    /// are told to resync by the broker), and the stream is repaired
    /// (`repair.rs`).
    pub(crate) async fn publish_context(
        self: &Arc<Self>,
        context: &str,
        make: impl Fn(Option<u64>) -> ServerFrame,
    ) -> Option<u64> {
        let publish = |push: ServerFrame| -> Option<Arc<Scope>> {
            let scope = Arc::new(Scope::of(&push)?);
            let frame: Utf8Bytes = push.encode().into();
            self.deliver_context(context, &scope, &frame);
            self.broker.publish(Event {
                origin: Arc::clone(&self.id),
                subject: Subject::Context(context.into()),
                frame: frame.into(),
                scope: Some(Arc::clone(&scope)),
                position: None,
            });
            Some(scope)
        };
        if let Some(store) = &self.store {
            let subject = Subject::Context(context.into());
            let push = make(Some(0));
            let appended = match frame_head(push.encode()) {
                Some(head) => {
                    let scope = Scope::of(&push).map(Arc::new);
                    let keep = self.config.context_keep();
                    store
                        .append(Append {
                            subject,
                            keep,
                            head,
                            scope,
                        })
                        .await
                }
                None => Err(StoreError("the push has no trailing offset".to_owned())),
            };
            return match appended {
                Ok(position) => Some(position.offset),
                Err(error) => {
                    tracing::warn!(%error, context, "an entry went out without an offset");
                    let scope = publish(make(None));
                    self.repair_context(context, scope.as_deref());
                    None
                }
            };
        }
        let Some(streams) = &self.streams else {
            publish(make(None));
            return None;
        };
        let name: Arc<str> = context.into();
        let (_, offset) = streams.contexts.append(
            &name,
            self.config.context_keep(),
            // Kept: whom the entry reached. A push that is no entry cannot
            // happen; were it to, it is kept as broad, so that re-watches
            // compute rather than trust it.
            |offset| publish(make(Some(offset))).unwrap_or_default(),
        );
        Some(offset)
    }

    /// The position of `context`'s stream, when there are streams and the
    /// registry declares the context (a name a client made up gets no
    /// stream: context streams are never swept). With a store: the
    /// mirror's, when live, else the store's (one read).
    pub(crate) async fn context_position(&self, context: &str) -> Option<Position> {
        let streams = self.streams.as_ref()?;
        self.registry.context(context)?;
        let keep = self.config.context_keep();
        if let Ok(position) = streams.contexts.position(&context.into(), keep) {
            return Some(position);
        }
        let read = Read {
            subject: Subject::Context(context.into()),
            keep: History::NONE,
            after: 0,
            known: None,
        };
        let snapshot = self.store.as_ref()?.read(read).await;
        snapshot.ok().map(|s| s.position)
    }

    /// For a re-watch holding a bundle at `since`: the current position
    /// when no entry after `since` reaches `watch` (its indexed params)
    /// and the stream still keeps them all (with a store: the mirror is
    /// live, [`Node::ready`]).
    pub(crate) fn unchanged_since(&self, context: &str, since: &Position, watch: &Params) -> Option<Position> {
        let streams = self.streams.as_ref()?;
        let keep = self.config.context_keep();
        streams
            .contexts
            .unchanged(&context.into(), keep, since, watch)
            .ok()
            .flatten()
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
            self.listen(&Subject::Topic(Arc::clone(topic)), true);
        });
    }

    /// Removes a local subscriber, unsubscribing the node at the broker
    /// when it was the last.
    pub(crate) fn leave_topic(&self, topic: &Arc<str>, conn: ConnId) {
        crate::presence::leave(self, topic, conn);
        self.hub.leave(topic, conn, || {
            self.listen(&Subject::Topic(Arc::clone(topic)), false);
        });
        if let Some(streams) = &self.streams {
            streams.topics.leave(topic);
        }
    }

    /// Publishes a channel message to `topic`: with the next offset of the
    /// topic's stream and kept as `keep` says, when there are streams
    /// (encoded once, with its offset, for every recipient); without an
    /// offset otherwise.
    ///
    /// With a store, the append is queued at once, in call order (so one
    /// socket's messages keep their order without waiting for each other),
    /// and the store publishes it to every node, this one too; the
    /// [`Sent::Later`] returned resolves once the store answered. When it
    /// cannot (Redis is unreachable), the message goes out without an
    /// offset the old way: delivered here at once, and to the other nodes
    /// when the broker can (it is outside the stream: no replay).
    pub(crate) fn publish_message(self: &Arc<Self>, topic: &Arc<str>, data: Payload, keep: History) -> Sent {
        let encode = |topic: &Arc<str>, data, offset| {
            Utf8Bytes::from(
                ServerFrame::Message {
                    topic: topic.to_string(),
                    data,
                    offset,
                }
                .encode(),
            )
        };
        if let Some(store) = &self.store {
            let subject = Subject::Topic(Arc::clone(topic));
            let appended = match frame_head(encode(topic, data.clone(), Some(0)).to_string()) {
                Some(head) => {
                    let scope = None;
                    store.append(Append {
                        subject,
                        keep,
                        head,
                        scope,
                    })
                }
                None => Box::pin(std::future::ready(Err(StoreError(
                    "the push has no trailing offset".to_owned(),
                )))),
            };
            let (node, topic) = (Arc::clone(self), Arc::clone(topic));
            return Sent::Later(Box::pin(async move {
                match appended.await {
                    Ok(position) => Some(position),
                    Err(error) => {
                        tracing::debug!(%error, %topic, "a message went out without an offset");
                        node.publish_topic(&topic, encode(&topic, data, None));
                        None
                    }
                }
            }));
        }
        match &self.streams {
            Some(streams) => {
                let (epoch, offset) = streams.topics.append(topic, keep, |offset| {
                    let frame = encode(topic, data, Some(offset));
                    self.publish_topic(topic, frame.clone());
                    frame
                });
                Sent::Now(Some((epoch, offset)))
            }
            None => {
                self.publish_topic(topic, encode(topic, data, None));
                Sent::Now(None)
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
            position: None,
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

/// A published message's position: known at once (in memory), or once the
/// stream store answers.
pub(crate) enum Sent {
    /// Published; its epoch and offset when there are streams.
    Now(Option<(Arc<str>, u64)>),
    /// Queued at the store; resolves to its position (none when it went out
    /// without one).
    Later(BoxFuture<'static, Option<Position>>),
}

impl Sent {
    /// The position, once known.
    pub(crate) async fn position(self) -> Option<Position> {
        match self {
            Sent::Now(sent) => sent.map(|(epoch, offset)| Position::new(&*epoch, offset)),
            Sent::Later(pending) => pending.await,
        }
    }
}
