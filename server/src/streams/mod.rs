//! Streams (PROTOCOL.md section 9): each channel topic's and each
//! context's offsets and kept events, joins that replay what a client
//! missed with no gap and no duplicate, and re-watches that need no
//! bundle when nothing they watch changed.
//!
//! The streams belong to whatever the nodes share, so that two nodes never
//! give out the same offset: the in-memory broker holds one [`Streams`]
//! for the nodes of its process (a lone node is the usual case). Nodes in
//! several processes share a [`StreamStore`](crate::broker::store::StreamStore)
//! (Redis), and each keeps a *mirror* of every stream it listens to
//! (`mirror.rs`): filled from the store, then kept current by the events
//! it hears, in offset order; joins and re-watches are answered from it.
//!
//! Everything that orders a stream happens under its lock: an offset is
//! taken, the event encoded with it, kept, and delivered to every node; a
//! join adds its socket, reads the position and queues the reply and the
//! replay. So a socket sees the replayed events, then every later one,
//! each once, in offset order.

use crate::broker::Scope;
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use mizan_channels::History;
use mizan_protocol::{Params, Position};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

mod mirror;

pub(crate) use mirror::{Heard, Observed};

/// Joins and leaves between two sweeps of streams nobody uses.
const SWEEP_EVERY: u64 = 1024;

/// The streams of the nodes sharing one broker in one process: channel
/// topics keep encoded messages (to replay them), contexts keep their
/// entries' scopes (to tell whether a watch missed anything).
#[derive(Default)]
pub struct Streams {
    pub(crate) topics: Store<Utf8Bytes>,
    pub(crate) contexts: Store<Arc<Scope>>,
}

impl Streams {
    /// Mirrors of a stream store's streams, for one node.
    pub(crate) fn mirrors() -> Self {
        Self {
            topics: Store::mirrors(),
            contexts: Store::mirrors(),
        }
    }
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("topics", &self.topics.streams.len())
            .field("contexts", &self.contexts.streams.len())
            .finish()
    }
}

/// One kind of stream, by name.
pub(crate) struct Store<T> {
    streams: DashMap<Arc<str>, Arc<Mutex<Stream<T>>>>,
    /// Joins and leaves since the start, to sweep now and then.
    changes: AtomicU64,
    /// Mirrors of a store's streams: made by [`Store::open`] only, never
    /// swept (the node closes them).
    mirror: bool,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Self {
            streams: DashMap::new(),
            changes: AtomicU64::new(0),
            mirror: false,
        }
    }
}

/// A mirror that is not in step with its store now (or not open): wait
/// for it ([`crate::node::Node::ready`]) and ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotLive;

/// One stream.
struct Stream<T> {
    /// One unbroken history: new whenever the stream is created again.
    epoch: Arc<str>,
    /// The last offset given out (0: none yet).
    offset: u64,
    /// Sockets subscribed to it, on every node (topics only).
    members: usize,
    /// The kept events, oldest first, consecutive offsets.
    kept: VecDeque<Kept<T>>,
    /// What it keeps (the last append or join says).
    keep: History,
    /// Set when the stream is swept away: whoever locked it too late looks
    /// again.
    gone: bool,
    /// For a mirror: whether it is in step with its store.
    sync: mirror::Sync<T>,
}

struct Kept<T> {
    offset: u64,
    at: Instant,
    event: T,
}

/// What a `subscribe` asks of a topic's stream.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ask<'a> {
    /// Live messages only.
    Live,
    /// Everything after this position, then live ones.
    Since(&'a Position),
    /// The last `n` kept messages, then live ones.
    History(u32),
}

/// What a join finds, handed to the caller while the topic is still held.
pub(crate) struct Joined<'a> {
    /// The position of the last message before the join.
    pub(crate) position: Position,
    /// For [`Ask::Since`]: whether everything after it follows.
    pub(crate) recovered: Option<bool>,
    /// The messages to send before any live one, oldest first.
    pub(crate) replay: Vec<&'a Utf8Bytes>,
}

impl<T> Store<T> {
    /// Takes the next offset of stream `name` and hands it to `publish`,
    /// which delivers the event made with it and returns what to keep of
    /// it (kept as `keep` says), all under the stream's lock. Returns the
    /// epoch and the offset.
    pub(crate) fn append(&self, name: &Arc<str>, keep: History, publish: impl FnOnce(u64) -> T) -> (Arc<str>, u64) {
        self.with_stream(name, keep, |stream| {
            let offset = stream.offset + 1;
            let event = publish(offset);
            stream.keep_event(offset, Instant::now(), event);
            (Arc::clone(&stream.epoch), offset)
        })
    }

    /// The current position of stream `name`.
    pub(crate) fn position(&self, name: &Arc<str>, keep: History) -> Result<Position, NotLive> {
        self.live(name, keep, |stream| Position::new(&*stream.epoch, stream.offset))
    }

    /// Runs `f` on stream `name`, locked, when it is live: a stream of this
    /// process's own is created (with a new epoch) when there is none; a
    /// mirror must be open and in step with its store.
    fn live<R>(&self, name: &Arc<str>, keep: History, f: impl FnOnce(&mut Stream<T>) -> R) -> Result<R, NotLive> {
        if !self.mirror {
            return Ok(self.with_stream(name, keep, f));
        }
        let stream = self.streams.get(name).map(|s| Arc::clone(&s)).ok_or(NotLive)?;
        let mut guard = lock(&stream);
        if guard.gone || !guard.sync.is_live() {
            return Err(NotLive);
        }
        guard.keep = keep;
        Ok(f(&mut guard))
    }

    /// Runs `f` on stream `name`, locked, creating it (with a new epoch)
    /// when there is none.
    fn with_stream<R>(&self, name: &Arc<str>, keep: History, f: impl FnOnce(&mut Stream<T>) -> R) -> R {
        let mut f = Some(f);
        loop {
            let stream = Arc::clone(
                &self
                    .streams
                    .entry(Arc::clone(name))
                    .or_insert_with(|| Arc::new(Mutex::new(Stream::new(keep, mirror::Sync::Live)))),
            );
            let mut guard = lock(&stream);
            if guard.gone {
                continue;
            }
            guard.keep = keep;
            let f = f
                .take()
                .unwrap_or_else(|| unreachable!("`f` runs once: the loop returns when it has"));
            return f(&mut guard);
        }
    }

    /// Every [`SWEEP_EVERY`] joins and leaves, drops the streams nobody is
    /// subscribed to whose kept events have all expired, so that names
    /// nobody uses any more cost nothing.
    fn changed(&self) {
        if self.mirror || self.changes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        let now = Instant::now();
        self.streams.retain(|_, stream| {
            let mut stream = lock(stream);
            stream.forget(now);
            let idle = stream.members == 0 && stream.kept.is_empty();
            stream.gone |= idle;
            !idle
        });
    }
}

impl Store<Utf8Bytes> {
    /// Joins `topic`: under its lock, `join` (which adds the socket and
    /// queues the reply and the replay) runs with what the stream holds
    /// for `ask`.
    pub(crate) fn join(
        &self,
        topic: &Arc<str>,
        keep: History,
        ask: Ask<'_>,
        join: impl FnOnce(Joined<'_>),
    ) -> Result<(), NotLive> {
        self.live(topic, keep, |stream| {
            stream.forget(Instant::now());
            stream.members += 1;
            let position = Position::new(&*stream.epoch, stream.offset);
            let (recovered, replay) = match ask {
                Ask::Live => (None, Vec::new()),
                Ask::History(n) => {
                    let n = usize::try_from(n).unwrap_or(usize::MAX).min(stream.kept.len());
                    (
                        None,
                        stream
                            .kept
                            .iter()
                            .skip(stream.kept.len() - n)
                            .map(|k| &k.event)
                            .collect(),
                    )
                }
                Ask::Since(since) => match stream.after(since) {
                    Some(missed) => (Some(true), missed.map(|k| &k.event).collect()),
                    None => (Some(false), Vec::new()),
                },
            };
            join(Joined {
                position,
                recovered,
                replay,
            });
        })?;
        self.changed();
        Ok(())
    }

    /// A socket left `topic`. A stream with no members and nothing kept is
    /// dropped at once; one with kept messages once they expire.
    pub(crate) fn leave(&self, topic: &str) {
        if let Some(stream) = self.streams.get(topic).map(|s| Arc::clone(&s)) {
            let mut stream = lock(&stream);
            stream.members = stream.members.saturating_sub(1);
            if !self.mirror && stream.members == 0 && stream.kept.is_empty() {
                stream.gone = true;
                drop(stream);
                self.streams.remove(topic);
            }
        }
        self.changed();
    }
}

impl Store<Arc<Scope>> {
    /// For a re-watch of `context` holding a bundle at `since`: the current
    /// position when the stream still keeps every entry after `since` and
    /// none of them reaches `watch` (the watch's indexed params), so the
    /// bundle it holds is still current; `None` otherwise.
    ///
    /// Context streams are never swept: there is one per context the
    /// registry declares, and dropping one would start a new epoch, making
    /// every re-watch of that context compute its bundle again.
    pub(crate) fn unchanged(
        &self,
        context: &Arc<str>,
        keep: History,
        since: &Position,
        watch: &Params,
    ) -> Result<Option<Position>, NotLive> {
        self.live(context, keep, |stream| {
            stream.forget(Instant::now());
            let untouched = stream.after(since)?.all(|k| !k.event.reaches(watch));
            untouched.then(|| Position::new(&*stream.epoch, stream.offset))
        })
    }
}

impl<T> Stream<T> {
    fn new(keep: History, sync: mirror::Sync<T>) -> Self {
        Self {
            epoch: format!("{:016x}", fastrand::u64(..)).into(),
            offset: 0,
            members: 0,
            kept: VecDeque::new(),
            keep,
            gone: false,
            sync,
        }
    }

    /// Keeps `event` at `offset` (the next), as the history says.
    fn keep_event(&mut self, offset: u64, at: Instant, event: T) {
        self.offset = offset;
        if self.keep.is_kept() {
            self.kept.push_back(Kept { offset, at, event });
        }
        self.forget(Instant::now());
    }

    /// Drops what the stream's history no longer allows: beyond its size,
    /// older than its TTL.
    fn forget(&mut self, now: Instant) {
        while self.kept.len() > self.keep.size {
            self.kept.pop_front();
        }
        while self
            .kept
            .front()
            .is_some_and(|k| now.duration_since(k.at) > self.keep.ttl)
        {
            self.kept.pop_front();
        }
    }

    /// The kept events after `since`, when they are all of what came after
    /// it in this epoch; `None` when some are gone (or `since` is of
    /// another epoch, or ahead of the stream).
    fn after<'a>(&'a self, since: &'a Position) -> Option<impl Iterator<Item = &'a Kept<T>>> {
        if since.epoch != *self.epoch || since.offset > self.offset {
            return None;
        }
        let complete = since.offset == self.offset || self.kept.front().is_some_and(|k| k.offset <= since.offset + 1);
        complete.then(|| self.kept.iter().filter(move |k| k.offset > since.offset))
    }
}

fn lock<T>(stream: &Mutex<Stream<T>>) -> MutexGuard<'_, Stream<T>> {
    stream.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_million_messages_keep_only_the_declared_size() {
        let store = Store::<Utf8Bytes>::default();
        let topic: Arc<str> = "chat:lobby".into();
        let keep = History::keep(100, Duration::from_secs(300));
        for _ in 0..1_000_000 {
            store.append(&topic, keep, |offset| Utf8Bytes::from(offset.to_string()));
        }
        let mut seen = None;
        let _ = store.join(&topic, keep, Ask::History(u32::MAX), |joined| {
            let replay: Vec<&str> = joined.replay.iter().map(|f| f.as_str()).collect();
            seen = Some((
                joined.position.offset,
                replay.len(),
                replay[0].to_owned(),
                replay[99].to_owned(),
            ));
        });
        assert_eq!(seen, Some((1_000_000, 100, "999901".to_owned(), "1000000".to_owned())));
    }

    #[test]
    fn a_topic_nobody_is_in_and_nothing_is_kept_for_is_dropped() {
        let store = Store::<Utf8Bytes>::default();
        let topic: Arc<str> = "alerts:all".into();
        let _ = store.join(&topic, History::NONE, Ask::Live, |_| {});
        store.append(&topic, History::NONE, |_| Utf8Bytes::from("x"));
        assert_eq!(store.streams.len(), 1);
        store.leave(&topic);
        assert!(store.streams.is_empty(), "its next join starts a new epoch");
    }
}
