//! A node's mirrors of a stream store's streams.
//!
//! A mirror opens when the node starts listening to a subject (its first
//! local subscriber or watcher) and closes when it stops. It starts
//! *filling*: the node waits until it hears the subject's events, then
//! reads the store's snapshot ([`Store::fill`]); events heard meanwhile
//! wait and follow the snapshot. Once *live*, every event heard must be the
//! next offset of the same epoch ([`Store::observe`]); one that is not
//! (the node's pub/sub connection dropped some, or the store's data
//! vanished) sends the mirror back to filling from the position it had,
//! and the fill delivers to the local members what they missed, or, when
//! the store no longer holds it, tells them (`broke`).

use super::{Kept, NotLive, Store, Stream, lock};
use crate::broker::store::Snapshot;
use axum::extract::ws::Utf8Bytes;
use mizan_channels::History;
use mizan_protocol::Position;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A stream, shared by whoever locks it.
type Shared<T> = Arc<Mutex<Stream<T>>>;

/// Events heard while a mirror fills, at most; past it they are dropped
/// and the fill that follows reads them from the store instead.
const HEARD_MAX: usize = 65_536;

/// Whether a stream is in step with its store.
pub(super) enum Sync<T> {
    /// In step (a stream of this process's own always is).
    Live,
    /// Being filled from the store.
    Filling {
        /// The position the mirror had before (none when it just opened):
        /// what its members have seen.
        known: Option<Position>,
        /// Events heard meanwhile, in the order heard.
        heard: Vec<Heard<T>>,
    },
}

impl<T> Sync<T> {
    pub(super) fn is_live(&self) -> bool {
        matches!(self, Self::Live)
    }
}

/// An event heard from the store's subscribers.
pub(crate) struct Heard<T> {
    pub(crate) position: Position,
    /// What the mirror keeps of it.
    pub(crate) event: T,
    /// The push, to deliver.
    pub(crate) frame: Utf8Bytes,
}

/// What became of a heard event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observed {
    /// Delivered (or already delivered, or not listened to): nothing to do.
    Done,
    /// The mirror must be filled from the store (it is filling now).
    Fill,
}

impl<T: Clone> Store<T> {
    /// A store of mirrors.
    pub(super) fn mirrors() -> Self {
        Self {
            mirror: true,
            ..Self::default()
        }
    }

    /// Opens the mirror of `name` (filling) if it is not open.
    pub(crate) fn open(&self, name: &Arc<str>, keep: History) {
        self.streams.entry(Arc::clone(name)).or_insert_with(|| {
            Arc::new(Mutex::new(Stream::new(
                keep,
                Sync::Filling {
                    known: None,
                    heard: Vec::new(),
                },
            )))
        });
    }

    /// Closes the mirror of `name`: the node no longer listens to it.
    pub(crate) fn close(&self, name: &str) {
        if let Some((_, stream)) = self.streams.remove(name) {
            lock(&stream).gone = true;
        }
    }

    /// For a mirror that is filling, the position it had before (`None`
    /// inside: it just opened); `None` when it is live or closed.
    pub(crate) fn filling_from(&self, name: &str) -> Option<Option<Position>> {
        let stream = self.streams.get(name).map(|s| Arc::clone(&s))?;
        let stream = lock(&stream);
        match &stream.sync {
            Sync::Filling { known, .. } if !stream.gone => Some(known.clone()),
            _ => None,
        }
    }

    /// A member joined the mirror of `name` while it was filling for the
    /// first time, without a position: once filled, the members are told
    /// what they show may be incomplete (as after a break).
    pub(crate) fn taint(&self, name: &str) {
        if let Some(stream) = self.streams.get(name).map(|s| Arc::clone(&s)) {
            let mut stream = lock(&stream);
            if let Sync::Filling {
                known: known @ None, ..
            } = &mut stream.sync
            {
                *known = Some(Position::new("", 0));
            }
        }
    }

    /// Sends every live mirror back to filling from where it is (the node
    /// may have missed events); returns the names of every mirror that
    /// needs a fill now.
    pub(crate) fn refill_all(&self) -> Vec<Arc<str>> {
        // Collected first: a stream's lock is never taken under the map's.
        let open: Vec<(Arc<str>, Shared<T>)> = self
            .streams
            .iter()
            .map(|e| (Arc::clone(e.key()), Arc::clone(e.value())))
            .collect();
        let mut names = Vec::new();
        for (name, stream) in open {
            let mut stream = lock(&stream);
            if stream.gone {
                continue;
            }
            if stream.sync.is_live() {
                stream.sync = Sync::Filling {
                    known: Some(Position::new(&*stream.epoch, stream.offset)),
                    heard: Vec::new(),
                };
            }
            names.push(name);
        }
        names
    }

    /// An event heard for `name`: delivered (`deliver`, under the
    /// mirror's lock) and kept when it is the next one, waiting while the
    /// mirror fills, dropped when it was seen already.
    pub(crate) fn observe(&self, name: &str, heard: Heard<T>, deliver: impl Fn(&T, &Utf8Bytes)) -> Observed {
        let Some(stream) = self.streams.get(name).map(|s| Arc::clone(&s)) else {
            return Observed::Done;
        };
        let mut stream = lock(&stream);
        if stream.gone {
            return Observed::Done;
        }
        if let Sync::Filling { heard: waiting, .. } = &mut stream.sync {
            if waiting.len() < HEARD_MAX {
                waiting.push(heard);
            }
            return Observed::Done;
        }
        match stream.step(&heard.position) {
            Step::Next => {
                deliver(&heard.event, &heard.frame);
                stream.keep_event(heard.position.offset, Instant::now(), heard.event);
                Observed::Done
            }
            Step::Seen => Observed::Done,
            Step::Broken => {
                let known = Position::new(&*stream.epoch, stream.offset);
                stream.sync = Sync::Filling {
                    known: Some(known),
                    heard: vec![heard],
                };
                Observed::Fill
            }
        }
    }

    /// Fills the mirror of `name` from the store's `snapshot` (read after
    /// the node heard the stream, from the mirror's known offset on, or
    /// from the start of a new epoch). The members get what they missed
    /// (`deliver`, each event once, in order); when the snapshot does not
    /// reach back to what they saw, or is of another epoch, `broke` first
    /// tells them from which position on nothing is missing, and the kept
    /// events after it follow. Then the events heard meanwhile. `Err` when the mirror is not filling
    /// (closed, or filled by another); `Ok(Observed::Fill)` when the heard
    /// events do not follow the snapshot and it must be read again.
    pub(crate) fn fill(
        &self,
        name: &str,
        snapshot: Snapshot,
        kept: impl Fn(&crate::broker::store::Entry) -> T,
        deliver: impl Fn(&T, &Utf8Bytes),
        broke: impl FnOnce(&Position),
    ) -> Result<Observed, NotLive> {
        let stream = self.streams.get(name).map(|s| Arc::clone(&s)).ok_or(NotLive)?;
        let mut stream = lock(&stream);
        if stream.gone {
            return Err(NotLive);
        }
        let Sync::Filling { known, heard } = std::mem::replace(&mut stream.sync, Sync::Live) else {
            return Err(NotLive);
        };
        let now = Instant::now();
        let position = snapshot.position;
        // A frame that is not UTF-8 was not written by a node: dropped.
        let entries: Vec<(Kept<T>, Utf8Bytes)> = snapshot
            .entries
            .iter()
            .filter(|e| e.offset <= position.offset)
            .filter_map(|e| {
                let frame = Utf8Bytes::try_from(e.frame.clone()).ok()?;
                let at = now.checked_sub(e.age).unwrap_or(now);
                Some((
                    Kept {
                        offset: e.offset,
                        at,
                        event: kept(e),
                    },
                    frame,
                ))
            })
            .collect();
        if let Some(known) = &known {
            let same = known.epoch == position.epoch && known.offset <= position.offset;
            let complete = same
                && (known.offset == position.offset
                    || entries.first().is_some_and(|(k, _)| k.offset == known.offset + 1));
            // What the members have seen: all of it up to `known`, or, past
            // a break, nothing before the first kept entry.
            let seen = match (complete, entries.first()) {
                (true, _) => known.offset,
                // Joined without a position (`taint`): nothing to replay.
                (false, _) if known.epoch.is_empty() => position.offset,
                (false, Some((first, _))) => first.offset - 1,
                (false, None) => position.offset,
            };
            if !complete {
                broke(&Position::new(position.epoch.as_str(), seen));
            }
            for (k, frame) in entries.iter().filter(|(k, _)| k.offset > seen) {
                deliver(&k.event, frame);
            }
        }
        stream.epoch = position.epoch.as_str().into();
        stream.offset = position.offset;
        // What the members have now seen is kept as the history allows.
        if known.as_ref().is_some_and(|k| k.epoch == position.epoch) {
            let last_kept = stream.kept.back().map_or(0, |k| k.offset);
            let newer = entries.into_iter().map(|(k, _)| k).filter(|k| k.offset > last_kept);
            stream.kept.extend(newer);
        } else {
            stream.kept = entries.into_iter().map(|(k, _)| k).collect();
        }
        stream.forget(now);
        let mut heard = heard.into_iter();
        while let Some(event) = heard.next() {
            match stream.step(&event.position) {
                Step::Next => {
                    deliver(&event.event, &event.frame);
                    stream.keep_event(event.position.offset, now, event.event);
                }
                Step::Seen => {}
                Step::Broken => {
                    let known = Position::new(&*stream.epoch, stream.offset);
                    let mut rest = vec![event];
                    rest.extend(heard);
                    stream.sync = Sync::Filling {
                        known: Some(known),
                        heard: rest,
                    };
                    return Ok(Observed::Fill);
                }
            }
        }
        Ok(Observed::Done)
    }
}

/// How a heard position relates to a live mirror's.
enum Step {
    /// The next offset of its epoch.
    Next,
    /// At or before its offset, same epoch: already delivered.
    Seen,
    /// Another epoch, or offsets were skipped.
    Broken,
}

impl<T> Stream<T> {
    fn step(&self, heard: &Position) -> Step {
        if heard.epoch != *self.epoch {
            Step::Broken
        } else if heard.offset == self.offset + 1 {
            Step::Next
        } else if heard.offset <= self.offset {
            Step::Seen
        } else {
            Step::Broken
        }
    }
}
