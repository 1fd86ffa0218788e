//! A stream store shared by nodes in several processes (PROTOCOL.md
//! section 9): it gives out offsets, keeps the history, and publishes every
//! event to every node, the publisher included, in offset order.
//!
//! A node whose broker has a store keeps a *mirror* of each stream it
//! listens to (`crate::streams`): filled from the store's snapshot once the
//! node hears the stream's events, then kept current by those events.
//! Joins, positions and re-watches are answered from the mirror.

use super::{Scope, Subject};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use mizan_channels::History;
use mizan_protocol::Position;
use std::sync::Arc;

/// An event to append: the push's encoded head, which ends just before its
/// offset (`…,"offset":`), so that the store writes the offset it gives
/// and the closing brace; every node receives the same bytes.
#[derive(Debug, Clone)]
pub struct Append {
    /// The stream.
    pub subject: Subject,
    /// What the stream keeps.
    pub keep: History,
    /// The push, up to its offset (see [`frame_head`]).
    pub head: String,
    /// For a context's entry, whom it reaches.
    pub scope: Option<Arc<Scope>>,
}

/// What to read of a stream.
#[derive(Debug, Clone)]
pub struct Read {
    /// The stream.
    pub subject: Subject,
    /// What the stream keeps (how many entries to read, at most, and how
    /// old they may be).
    pub keep: History,
    /// Only the entries after this offset.
    pub after: u64,
    /// The position this node last knew: a store holding an older offset
    /// of the same epoch lost writes (a failover, a restore) and starts a
    /// new epoch rather than give an offset out twice.
    pub known: Option<Position>,
}

/// A stream's position and the kept entries after the offset asked for,
/// oldest first (consecutive when none expired).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The stream's position now.
    pub position: Position,
    /// The kept entries.
    pub entries: Vec<Entry>,
}

impl Snapshot {
    /// Whether a bundle computed at `at` is still current by this snapshot
    /// of its context's stream, read after `at.offset`: same epoch, every
    /// entry since `at` kept and none reaching `watch` (a bundle's indexed
    /// params, the rule of a re-watch's `unchanged`). An entry without a
    /// scope reaches everything.
    ///
    /// ```
    /// use mizan_server::broker::store::Snapshot;
    /// use mizan_protocol::Position;
    /// let now = Snapshot { position: Position::new("e", 4), entries: Vec::new() };
    /// assert!(now.unchanged_since(&Position::new("e", 4), &Default::default()));
    /// // Entries 1 to 4 not kept: nothing can be said.
    /// assert!(!now.unchanged_since(&Position::new("e", 0), &Default::default()));
    /// assert!(!now.unchanged_since(&Position::new("other", 4), &Default::default()));
    /// ```
    pub fn unchanged_since(&self, at: &Position, watch: &mizan_protocol::Params) -> bool {
        let now = &self.position;
        if now.epoch != at.epoch || now.offset < at.offset {
            return false;
        }
        let mut next = at.offset + 1;
        for entry in self.entries.iter().skip_while(|e| e.offset <= at.offset) {
            let reaches = entry.scope.as_ref().is_none_or(|scope| scope.reaches(watch));
            if entry.offset != next || reaches {
                return false;
            }
            next += 1;
        }
        next == now.offset + 1
    }
}

/// One kept entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its offset.
    pub offset: u64,
    /// The encoded push, as every node received it.
    pub frame: Bytes,
    /// For a context's entry, whom it reaches.
    pub scope: Option<Scope>,
    /// How long ago it was kept.
    pub age: std::time::Duration,
}

/// Why a store could not answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the stream store failed: {0}")]
pub struct StoreError(pub String);

/// A stream store (see the module docs). Every wait is bounded by the
/// store's own timeouts.
pub trait StreamStore: Send + Sync + 'static {
    /// Gives the event the stream's next offset, keeps it as `keep` says,
    /// and publishes it to every listening node, this one included.
    /// Returns its position.
    fn append(&self, append: Append) -> BoxFuture<'static, Result<Position, StoreError>>;

    /// Reads the stream's position and kept entries.
    fn read(&self, read: Read) -> BoxFuture<'static, Result<Snapshot, StoreError>>;

    /// Resolves once this node hears `subject`'s events (the node must
    /// have subscribed to it at the broker).
    fn listening(&self, subject: &Subject) -> BoxFuture<'static, Result<(), StoreError>>;
}

/// The encoded `push` without its closing `,"offset":0}` tail's last two
/// bytes: what [`Append::head`] holds. `push` must encode with
/// `"offset":0` as its last field (messages, invalidates and merges do).
///
/// ```
/// use mizan_server::broker::store::frame_head;
/// let frame = r#"{"type":"message","topic":"t","data":{},"offset":0}"#;
/// assert_eq!(frame_head(frame.to_owned()).unwrap(), r#"{"type":"message","topic":"t","data":{},"offset":"#);
/// ```
pub fn frame_head(mut frame: String) -> Option<String> {
    frame.ends_with(r#","offset":0}"#).then(|| {
        frame.truncate(frame.len() - 2);
        frame
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(offset: u64, params: Option<serde_json::Value>) -> Entry {
        Entry {
            offset,
            frame: Bytes::new(),
            scope: Some(Scope {
                params: params.map(|p| serde_json::from_value(p).unwrap()),
                ..Scope::default()
            }),
            age: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn a_bundle_is_unchanged_while_no_entry_since_reaches_it() {
        let watch: mizan_protocol::Params = serde_json::from_value(json!({"user_id": 1})).unwrap();
        let at = Position::new("e", 2);
        let snapshot = |offset, entries| Snapshot {
            position: Position::new("e", offset),
            entries,
        };
        let other = || entry(3, Some(json!({"user_id": 2})));
        assert!(snapshot(3, vec![other()]).unchanged_since(&at, &watch));
        assert!(!snapshot(3, vec![entry(3, Some(json!({"user_id": 1})))]).unchanged_since(&at, &watch));
        assert!(
            !snapshot(3, vec![entry(3, None)]).unchanged_since(&at, &watch),
            "a broad entry"
        );
        let unscoped = Entry { scope: None, ..other() };
        assert!(!snapshot(3, vec![unscoped]).unchanged_since(&at, &watch));
        assert!(
            !snapshot(4, vec![other()]).unchanged_since(&at, &watch),
            "entry 4 not kept"
        );
        assert!(
            !snapshot(1, vec![]).unchanged_since(&at, &watch),
            "the offset went back"
        );
    }
}
