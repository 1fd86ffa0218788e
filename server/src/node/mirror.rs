//! A node beside a stream store (`crate::broker::store`): what it listens
//! to, filling its mirrors (`crate::streams`), and the events it hears.
//!
//! The node listens to a subject while anything holds it: its local
//! subscribers or watchers (one hold for all of them), or a join or watch
//! waiting for the mirror ([`Node::ready`]). The first hold opens the
//! mirror and subscribes at the broker; the last closes it.

use super::Node;
use crate::broker::store::{Entry, Read, StoreError};
use crate::broker::{Scope, Subject};
use crate::streams::{Heard, Observed};
use axum::extract::ws::Utf8Bytes;
use mizan_channels::History;
use mizan_protocol::{InvalidateEntry, Position, ServerFrame};
use std::sync::Arc;
use std::time::Duration;

/// Fills of one mirror tried in a row (each found events that did not
/// follow what it read) before a join or watch goes on without it.
const FILL_TRIES: usize = 3;

/// The longest pause between two fills of a mirror that failed.
const REFILL_PAUSE_MAX: Duration = Duration::from_secs(2);

/// A hold on a subject: the node listens to it while the hold lives.
pub(crate) struct Hold<'a> {
    node: &'a Node,
    subject: Subject,
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.node.listen(&self.subject, false);
    }
}

impl Node {
    /// One more (`up`) or one fewer hold on `subject`. Without a store,
    /// the holds are the hub's and the watchers' own first-and-last, told
    /// to the broker as they are; with one, they are counted, and the
    /// first opens the mirror, the last closes it.
    pub(crate) fn listen(&self, subject: &Subject, up: bool) {
        if self.store.is_none() {
            match up {
                true => self.broker.subscribe(subject),
                false => self.broker.unsubscribe(subject),
            }
            return;
        }
        let streams = self.mirrors();
        if up {
            let mut holds = self.holds.entry(subject.clone()).or_insert(0);
            *holds += 1;
            if *holds == 1 {
                match subject {
                    Subject::Topic(t) => streams.topics.open(t, self.keep_of(subject)),
                    Subject::Context(c) => streams.contexts.open(c, self.keep_of(subject)),
                }
                self.broker.subscribe(subject);
            }
        } else {
            self.holds.remove_if_mut(subject, |_, holds| {
                *holds = holds.saturating_sub(1);
                if *holds > 0 {
                    return false;
                }
                match subject {
                    Subject::Topic(t) => streams.topics.close(t),
                    Subject::Context(c) => streams.contexts.close(c),
                }
                self.fills.remove(subject);
                self.broker.unsubscribe(subject);
                true
            });
        }
    }

    /// Makes `subject`'s mirror live (a no-op without a store), holding
    /// the subject while it waits; the hold is returned so the caller
    /// keeps listening until it has joined. `Err` when the store could not
    /// be read: the caller goes on without a position, and the mirror is
    /// filled in the background.
    pub(crate) async fn ready(self: &Arc<Self>, subject: &Subject) -> (Option<Hold<'_>>, Result<(), StoreError>) {
        if self.store.is_none() {
            return (None, Ok(()));
        }
        self.listen(subject, true);
        let hold = Hold {
            node: self,
            subject: subject.clone(),
        };
        for _ in 0..FILL_TRIES {
            match self.fill(subject).await {
                Ok(Observed::Done) => return (Some(hold), Ok(())),
                Ok(Observed::Fill) => {}
                Err(e) => {
                    self.refill(subject.clone());
                    return (Some(hold), Err(e));
                }
            }
        }
        self.refill(subject.clone());
        (
            Some(hold),
            Err(StoreError("the stream kept breaking while it was read".to_owned())),
        )
    }

    /// A member joined `subject` while its mirror could not be filled: see
    /// [`crate::streams::Store::taint`].
    pub(crate) fn taint(&self, subject: &Subject) {
        if self.store.is_none() {
            return;
        }
        let streams = self.mirrors();
        match subject {
            Subject::Topic(t) => streams.topics.taint(t),
            Subject::Context(c) => streams.contexts.taint(c),
        }
    }

    /// Fills `subject`'s mirror once, when it is filling: waits until the
    /// node hears the subject, reads the store from the mirror's position,
    /// and delivers what the members missed. One fill of a subject runs at
    /// a time; the others wait for it and find the mirror live.
    async fn fill(&self, subject: &Subject) -> Result<Observed, StoreError> {
        let Some(store) = &self.store else {
            return Ok(Observed::Done);
        };
        let single = Arc::clone(&self.fills.entry(subject.clone()).or_default());
        let _one_at_a_time = single.lock().await;
        let streams = self.mirrors();
        let known = match subject {
            Subject::Topic(t) => streams.topics.filling_from(t),
            Subject::Context(c) => streams.contexts.filling_from(c),
        };
        let Some(known) = known else {
            return Ok(Observed::Done);
        };
        store.listening(subject).await?;
        let keep = self.keep_of(subject);
        let read = |after, known| Read {
            subject: subject.clone(),
            keep,
            after,
            known,
        };
        let after = known.as_ref().map_or(0, |k| k.offset);
        let mut snapshot = store.read(read(after, known.clone())).await?;
        if known.as_ref().is_some_and(|k| k.epoch != snapshot.position.epoch) && after > 0 {
            // A new epoch: its events count from 1, not from what we knew.
            snapshot = store.read(read(0, None)).await?;
        }
        tracing::debug!(?subject, known = ?known, position = ?snapshot.position, entries = snapshot.entries.len(), "filling a stream mirror");
        let filled = match subject {
            Subject::Topic(topic) => streams.topics.fill(
                topic,
                snapshot,
                |e: &Entry| Utf8Bytes::try_from(e.frame.clone()).unwrap_or_default(),
                |_, frame| {
                    self.deliver_topic(topic, frame);
                },
                |position| self.tell_gap(topic, position),
            ),
            Subject::Context(context) => streams.contexts.fill(
                context,
                snapshot,
                |e: &Entry| Arc::new(e.scope.clone().unwrap_or_default()),
                |scope, frame| self.deliver_context(context, scope, frame),
                |_| self.refetch_context(context),
            ),
        };
        Ok(filled.unwrap_or(Observed::Done))
    }

    /// Fills `subject`'s mirror in the background until it is live or
    /// closed, pausing longer after each failure.
    pub(crate) fn refill(self: &Arc<Self>, subject: Subject) {
        let node = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(50);
            loop {
                let Some(node) = node.upgrade() else { return };
                match node.fill(&subject).await {
                    Ok(Observed::Done) => return,
                    Ok(Observed::Fill) => continue,
                    Err(error) => tracing::debug!(%error, ?subject, "filling a stream mirror failed; trying again"),
                }
                drop(node);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(REFILL_PAUSE_MAX);
            }
        });
    }

    /// An event the store published (this node's own too): delivered in
    /// its stream's order through the mirror.
    pub(super) fn hear(
        self: &Arc<Self>,
        subject: Subject,
        position: Position,
        frame: Utf8Bytes,
        scope: Option<Arc<Scope>>,
    ) {
        let streams = self.mirrors();
        let observed = match &subject {
            Subject::Topic(topic) => streams.topics.observe(
                topic,
                Heard {
                    position,
                    event: frame.clone(),
                    frame,
                },
                |_, frame| {
                    self.deliver_topic(topic, frame);
                },
            ),
            Subject::Context(context) => streams.contexts.observe(
                context,
                Heard {
                    position,
                    event: scope.unwrap_or_default(),
                    frame,
                },
                |scope, frame| self.deliver_context(context, scope, frame),
            ),
        };
        if observed == Observed::Fill {
            self.refill(subject);
        }
    }

    /// The node heard nothing for a while: every live mirror reads what it
    /// missed.
    pub(super) fn catch_up(self: &Arc<Self>) {
        let streams = self.mirrors();
        let topics = streams.topics.refill_all().into_iter().map(Subject::Topic);
        let contexts = streams.contexts.refill_all().into_iter().map(Subject::Context);
        let subjects: Vec<Subject> = topics.chain(contexts).collect();
        tracing::info!(
            streams = subjects.len(),
            "reading what this node missed from the stream store"
        );
        for subject in subjects {
            self.refill(subject);
        }
    }

    /// Tells `topic`'s local subscribers that messages before `position`
    /// may be missing.
    fn tell_gap(&self, topic: &str, position: &Position) {
        let frame: Utf8Bytes = ServerFrame::Gap {
            topic: topic.to_owned(),
            position: position.clone(),
        }
        .encode()
        .into();
        let told = self.hub.deliver(topic, &frame);
        tracing::warn!(
            topic,
            subscribers = told,
            "a topic's stream lost messages: its subscribers were told"
        );
    }

    /// Tells every local watcher of `context` to refetch (its stream lost
    /// entries).
    fn refetch_context(&self, context: &str) {
        let frame: Utf8Bytes = ServerFrame::Invalidate(InvalidateEntry::broad(context)).encode().into();
        self.deliver_context(context, &Scope::default(), &frame);
        tracing::warn!(context, "a context's stream lost entries: its watchers refetch");
    }

    /// What `subject`'s stream keeps.
    pub(crate) fn keep_of(&self, subject: &Subject) -> History {
        match subject {
            Subject::Topic(topic) => topic
                .split_once(':')
                .and_then(|(channel, _)| self.registry.channel(channel))
                .map_or(History::NONE, mizan_channels::ChannelEntry::history),
            Subject::Context(_) => self.config.context_keep(),
        }
    }

    /// The mirrors (a node with a store always has them).
    fn mirrors(&self) -> &crate::streams::Streams {
        self.streams
            .as_deref()
            .unwrap_or_else(|| unreachable!("a node with a stream store keeps mirrors"))
    }
}
