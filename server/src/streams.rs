//! Topic streams (PROTOCOL.md section 9): each topic's offsets and kept
//! messages, and joins that replay what a client missed with no gap and no
//! duplicate.
//!
//! The streams belong to whatever the nodes share, so that two nodes never
//! give out the same offset: the in-memory broker holds one
//! [`TopicStreams`] for the nodes of its process (a lone node is the usual
//! case). A broker between processes keeps no streams here yet (the Redis
//! broker's streams are the next step, docs/architecture.md "Streams"):
//! its nodes push messages without offsets and answer `recovered: false`.
//!
//! Everything that orders a topic happens under that topic's lock: an
//! offset is taken, the message encoded with it, kept, and delivered to
//! every node's subscribers; a join adds its socket, reads the position and
//! queues the reply and the replay. So a socket sees the replayed messages,
//! then every later one, each once, in offset order.

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use mizan_channels::History;
use mizan_protocol::Position;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Joins and leaves between two sweeps of streams nobody uses.
const SWEEP_EVERY: u64 = 1024;

/// The streams of the topics of the nodes sharing one broker in one process.
#[derive(Default)]
pub struct TopicStreams {
    topics: DashMap<Arc<str>, Arc<Mutex<Stream>>>,
    /// Joins and leaves since the start, to sweep now and then.
    changes: AtomicU64,
}

impl std::fmt::Debug for TopicStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicStreams")
            .field("topics", &self.topics.len())
            .finish()
    }
}

/// One topic's stream.
struct Stream {
    /// One unbroken history: new whenever the stream is created again.
    epoch: Arc<str>,
    /// The last offset given out (0: none yet).
    offset: u64,
    /// Sockets subscribed to the topic, on every node.
    members: usize,
    /// The kept messages, oldest first, consecutive offsets.
    kept: VecDeque<Kept>,
    /// What the channel keeps (the last publish or join says).
    keep: History,
    /// Set when the stream is swept away: whoever locked it too late looks
    /// again.
    gone: bool,
}

struct Kept {
    offset: u64,
    at: Instant,
    frame: Utf8Bytes,
}

/// What a `subscribe` asks of the stream.
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

impl TopicStreams {
    /// Takes the next offset of `topic`, encodes the message with it, keeps
    /// it (as `keep` says) and hands it to `deliver`, all under the topic's
    /// lock.
    pub(crate) fn append(
        &self,
        topic: &Arc<str>,
        keep: History,
        encode: impl FnOnce(u64) -> Utf8Bytes,
        deliver: impl FnOnce(&Utf8Bytes),
    ) {
        self.with_stream(topic, keep, |stream| {
            stream.offset += 1;
            let offset = stream.offset;
            let frame = encode(offset);
            deliver(&frame);
            let now = Instant::now();
            if keep.is_kept() {
                stream.kept.push_back(Kept { offset, at: now, frame });
            }
            stream.forget(now);
        });
    }

    /// Joins `topic`: under its lock, `join` (which adds the socket and
    /// queues the reply and the replay) runs with what the stream holds
    /// for `ask`.
    pub(crate) fn join(&self, topic: &Arc<str>, keep: History, ask: Ask<'_>, join: impl FnOnce(Joined<'_>)) {
        self.with_stream(topic, keep, |stream| {
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
                            .map(|k| &k.frame)
                            .collect(),
                    )
                }
                Ask::Since(since) => match stream.missed(since) {
                    Some(missed) => (Some(true), missed.map(|k| &k.frame).collect()),
                    None => (Some(false), Vec::new()),
                },
            };
            join(Joined {
                position,
                recovered,
                replay,
            });
        });
        self.changed();
    }

    /// The current position of `topic`, for a socket that joins a topic it
    /// is already in (it missed nothing since).
    pub(crate) fn position(&self, topic: &Arc<str>, keep: History) -> Position {
        self.with_stream(topic, keep, |stream| Position::new(&*stream.epoch, stream.offset))
    }

    /// A socket left `topic`. A stream with no members and nothing kept is
    /// dropped at once; one with kept messages when they expire.
    pub(crate) fn leave(&self, topic: &str) {
        if let Some(stream) = self.topics.get(topic).map(|s| Arc::clone(&s)) {
            let mut stream = lock(&stream);
            stream.members = stream.members.saturating_sub(1);
            if stream.members == 0 && stream.kept.is_empty() {
                stream.gone = true;
                drop(stream);
                self.topics.remove(topic);
            }
        }
        self.changed();
    }

    /// How many topics have a stream (for tests and metrics).
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// Whether no topic has a stream.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Every [`SWEEP_EVERY`] joins and leaves, drops the streams nobody is
    /// subscribed to whose kept messages have all expired, so that topics
    /// nobody uses any more cost nothing.
    fn changed(&self) {
        if self.changes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        let now = Instant::now();
        self.topics.retain(|_, stream| {
            let mut stream = lock(stream);
            stream.forget(now);
            let idle = stream.members == 0 && stream.kept.is_empty();
            stream.gone |= idle;
            !idle
        });
    }

    /// Runs `f` on `topic`'s stream, locked, creating it (with a new epoch)
    /// when there is none.
    fn with_stream<R>(&self, topic: &Arc<str>, keep: History, f: impl FnOnce(&mut Stream) -> R) -> R {
        let mut f = Some(f);
        loop {
            let stream = Arc::clone(&self.topics.entry(Arc::clone(topic)).or_insert_with(|| {
                Arc::new(Mutex::new(Stream {
                    epoch: format!("{:016x}", fastrand::u64(..)).into(),
                    offset: 0,
                    members: 0,
                    kept: VecDeque::new(),
                    keep,
                    gone: false,
                }))
            }));
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
}

fn lock(stream: &Mutex<Stream>) -> MutexGuard<'_, Stream> {
    stream.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Stream {
    /// Drops what the channel's history no longer allows: beyond its size,
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

    /// The kept messages after `since`, when they are all of what came
    /// after it in this epoch; `None` when some are gone (or `since` is of
    /// another epoch, or ahead of the stream).
    fn missed(&self, since: &Position) -> Option<impl Iterator<Item = &Kept>> {
        if since.epoch != *self.epoch || since.offset > self.offset {
            return None;
        }
        let complete = since.offset == self.offset || self.kept.front().is_some_and(|k| k.offset <= since.offset + 1);
        complete.then(|| self.kept.iter().filter(move |k| k.offset > since.offset))
    }
}
