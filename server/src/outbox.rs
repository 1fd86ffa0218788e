//! A connection's bounded outbound queue and its close signal.
//!
//! Everything a connection is sent goes through its [`Outbox`] without
//! waiting. The queue is bounded in frames and in bytes; when a frame does
//! not fit, the client reads too slowly and the connection is closed with
//! 4008 rather than buffering without bound or slowing the sender (one slow
//! client never slows a fan-out). Invalidations are idempotent: one that is
//! identical to an invalidation still waiting in the queue is dropped
//! instead of queued, so a client that falls behind on invalidations
//! refetches once rather than being closed.
//!
//! The queue is a `VecDeque` behind a mutex that the writer empties in one
//! swap, so an idle socket's queue holds no allocation beyond the batch
//! buffer the writer reuses, and a burst costs one lock per frame queued and
//! one per batch written. The reader and the writer are woken through an
//! [`AtomicWaker`] each (lock-free): the writer when a frame lands in an
//! empty queue or a close is requested, the reader when a close is
//! requested.

use crate::metrics::Metrics;
use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use mizan_protocol::{CloseCode, ServerFrame};
use std::collections::{HashSet, VecDeque};
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Poll;

/// What the writer is handed.
pub(crate) enum Outgoing {
    /// An encoded frame.
    Frame(Utf8Bytes),
    /// A heartbeat ping.
    Ping,
}

/// The sending side of a connection, cheap to clone. The hub and the
/// watchers keep one per subscription and watch.
#[derive(Clone)]
pub(crate) struct Outbox {
    shared: Arc<Shared>,
}

/// The writer task's side. Dropping it (the writer ended) makes every
/// later push fail.
pub(crate) struct OutboxReceiver {
    shared: Arc<Shared>,
}

/// What the writer should do next.
pub(crate) enum Next {
    /// Write these frames (moved into the caller's batch) and flush.
    Write,
    /// Close the socket with this code.
    Close(CloseCode),
}

struct Shared {
    queue: Mutex<Queue>,
    /// Woken when a frame lands in an empty queue, or a close is requested.
    writer: AtomicWaker,
    /// Woken when a close is requested.
    reader: AtomicWaker,
    close: OnceLock<CloseCode>,
    max_frames: usize,
    max_bytes: usize,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Outgoing>,
    /// Bytes of the frames in `items`.
    bytes: usize,
    /// The invalidations in `items`, to coalesce identical ones.
    pending_invalidations: HashSet<Bytes>,
    /// The writer has ended: nothing more is queued.
    gone: bool,
}

/// A queue holding at most `frames` frames and `max_bytes` bytes.
pub(crate) fn outbox(frames: usize, max_bytes: usize, metrics: Arc<Metrics>) -> (Outbox, OutboxReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::default(),
        writer: AtomicWaker::new(),
        reader: AtomicWaker::new(),
        close: OnceLock::new(),
        max_frames: frames.max(1),
        max_bytes,
        metrics,
    });
    (
        Outbox {
            shared: Arc::clone(&shared),
        },
        OutboxReceiver { shared },
    )
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Outbox {
    /// Queues an encoded frame that must be delivered. When it does not fit
    /// the connection is closed with 4008; returns whether it was queued.
    pub(crate) fn push(&self, frame: Utf8Bytes) -> bool {
        self.enqueue(frame, false)
    }

    /// Queues an invalidation, unless an identical one (but for its offset)
    /// is still queued (then it is dropped: the queued one makes the
    /// client refetch after this change too, and the bundle it refetches
    /// carries a later position).
    pub(crate) fn push_invalidation(&self, frame: Utf8Bytes) -> bool {
        self.enqueue(frame, true)
    }

    /// Encodes and queues one frame.
    pub(crate) fn send(&self, frame: &ServerFrame) -> bool {
        let text = frame.encode();
        self.shared.metrics.frames_out(frame, 1, text.len());
        self.push(text.into())
    }

    /// Queues a heartbeat ping (dropped, not fatal, if the queue is full:
    /// the writer is busy anyway).
    pub(crate) fn ping(&self) {
        let mut queue = self.shared.lock();
        if queue.gone || queue.items.len() >= self.shared.max_frames {
            return;
        }
        let was_empty = queue.items.is_empty();
        queue.items.push_back(Outgoing::Ping);
        drop(queue);
        if was_empty {
            self.shared.writer.wake();
        }
    }

    /// Asks the writer to close the socket with `code`. The first request wins.
    pub(crate) fn close(&self, code: CloseCode) {
        if self.shared.close.set(code).is_ok() {
            self.shared.writer.wake();
            self.shared.reader.wake();
        }
    }

    /// Waits until a close is requested and returns its code. Only the
    /// connection's reader waits on this (the waker is single-slot).
    pub(crate) async fn closed(&self) -> CloseCode {
        poll_fn(|cx| {
            // Register before checking, so a close in between still wakes us.
            self.shared.reader.register(cx.waker());
            self.shared.close.get().map_or(Poll::Pending, |code| Poll::Ready(*code))
        })
        .await
    }

    /// Frames and bytes waiting.
    pub(crate) fn backlog(&self) -> (usize, usize) {
        let queue = self.shared.lock();
        (queue.items.len(), queue.bytes)
    }

    fn enqueue(&self, frame: Utf8Bytes, invalidation: bool) -> bool {
        let len = frame.len();
        let mut queue = self.shared.lock();
        if queue.gone {
            return false;
        }
        let key = invalidation.then(|| coalescing_key(&frame));
        if let Some(key) = &key
            && queue.pending_invalidations.contains(key)
        {
            drop(queue);
            self.shared.metrics.coalesced();
            return true;
        }
        // One frame always fits in an empty queue, whatever its size.
        let over_bytes = queue.bytes > 0 && queue.bytes + len > self.shared.max_bytes;
        if over_bytes || queue.items.len() >= self.shared.max_frames {
            drop(queue);
            self.close(CloseCode::SlowClient);
            return false;
        }
        let was_empty = queue.items.is_empty();
        queue.items.push_back(Outgoing::Frame(frame));
        queue.bytes += len;
        if let Some(key) = key {
            queue.pending_invalidations.insert(key);
        }
        drop(queue);
        if was_empty {
            self.shared.writer.wake();
        }
        true
    }
}

impl OutboxReceiver {
    /// Waits until frames are queued or a close is requested. For
    /// [`Next::Write`], everything queued has been moved into `batch`
    /// (which must be empty; its allocation is kept by the queue for the
    /// next frames, so the two buffers trade places each batch).
    pub(crate) async fn next(&self, batch: &mut VecDeque<Outgoing>) -> Next {
        poll_fn(|cx| {
            self.shared.writer.register(cx.waker());
            if let Some(code) = self.shared.close.get() {
                return Poll::Ready(Next::Close(*code));
            }
            if self.take(batch) {
                Poll::Ready(Next::Write)
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Moves whatever is queued into `batch` (which must be empty), without
    /// waiting; false if nothing was.
    pub(crate) fn take(&self, batch: &mut VecDeque<Outgoing>) -> bool {
        debug_assert!(batch.is_empty());
        let mut queue = self.shared.lock();
        if queue.items.is_empty() {
            return false;
        }
        std::mem::swap(&mut queue.items, batch);
        queue.bytes = 0;
        queue.pending_invalidations.clear();
        true
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.gone = true;
        queue.bytes = 0;
        queue.pending_invalidations = HashSet::new();
        let items = std::mem::take(&mut queue.items);
        drop(queue);
        drop(items);
    }
}

/// What identifies an invalidation for coalescing: its bytes without the
/// trailing `,"offset":N` (the encoder writes the offset last), so that
/// repeats of one entry with later offsets still coalesce.
///
/// The frame is shared, not copied: the key is a slice of it.
fn coalescing_key(frame: &Utf8Bytes) -> Bytes {
    let bytes = Bytes::from(frame.clone());
    let text = frame.as_str();
    let cut = text
        .strip_suffix('}')
        .map(|body| body.trim_end_matches(|c: char| c.is_ascii_digit()))
        .and_then(|body| body.strip_suffix(r#","offset":"#))
        .map_or(bytes.len(), str::len);
    bytes.slice(..cut)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Everything queued, as text (`ping` for a ping).
    pub(crate) fn drain(rx: &OutboxReceiver) -> Vec<String> {
        let mut batch = VecDeque::new();
        rx.take(&mut batch);
        batch
            .into_iter()
            .map(|item| match item {
                Outgoing::Frame(frame) => frame.as_str().to_owned(),
                Outgoing::Ping => "ping".to_owned(),
            })
            .collect()
    }

    #[tokio::test]
    async fn identical_pending_invalidations_coalesce_until_taken() {
        let (tx, rx) = outbox(16, 1 << 20, Arc::default());
        for _ in 0..5 {
            assert!(tx.push_invalidation("inv-a".into()));
        }
        tx.push_invalidation("inv-b".into());
        assert_eq!(drain(&rx), ["inv-a", "inv-b"]);
        // Taken by the writer: the next one is queued again.
        tx.push_invalidation("inv-a".into());
        assert_eq!(drain(&rx), ["inv-a"]);
        // The same entry at later offsets is the same invalidation.
        for offset in 7..10 {
            tx.push_invalidation(format!(r#"{{"type":"invalidate","context":"user","offset":{offset}}}"#).into());
        }
        tx.push_invalidation(r#"{"type":"invalidate","context":"notes","offset":10}"#.into());
        assert_eq!(
            drain(&rx),
            [
                r#"{"type":"invalidate","context":"user","offset":7}"#,
                r#"{"type":"invalidate","context":"notes","offset":10}"#
            ]
        );
    }

    #[tokio::test]
    async fn overflowing_frames_or_bytes_closes_with_4008() {
        let (tx, _rx) = outbox(2, 1 << 20, Arc::default());
        assert!(tx.push("1".into()) && tx.push("2".into()));
        assert!(!tx.push("3".into()));
        assert_eq!(tx.closed().await, CloseCode::SlowClient);

        let (tx, rx) = outbox(100, 10, Arc::default());
        assert!(tx.push("x".repeat(8).into()));
        assert_eq!(tx.backlog(), (1, 8));
        assert!(!tx.push("y".repeat(8).into()));
        assert_eq!(tx.closed().await, CloseCode::SlowClient);
        drain(&rx);
        assert_eq!(tx.backlog(), (0, 0));
    }

    #[tokio::test]
    async fn a_single_large_frame_fits_an_empty_queue() {
        let (tx, rx) = outbox(4, 10, Arc::default());
        assert!(tx.push("z".repeat(100).into()));
        assert_eq!(drain(&rx).len(), 1);
    }

    #[tokio::test]
    async fn the_writer_wakes_for_frames_and_for_a_close() {
        let (tx, rx) = outbox(16, 1 << 20, Arc::default());
        let writer = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut batch = VecDeque::new();
            loop {
                match rx.next(&mut batch).await {
                    Next::Write => seen.extend(batch.drain(..).map(|item| match item {
                        Outgoing::Frame(frame) => frame.as_str().to_owned(),
                        Outgoing::Ping => "ping".to_owned(),
                    })),
                    Next::Close(code) => return (seen, code),
                }
            }
        });
        tx.push("a".into());
        tokio::task::yield_now().await;
        tx.ping();
        tx.push("b".into());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        tx.close(CloseCode::Normal);
        let (seen, code) = writer.await.unwrap();
        assert_eq!(seen, ["a", "ping", "b"]);
        assert_eq!(code, CloseCode::Normal);
        // The writer is gone: nothing more is queued.
        assert!(!tx.push("c".into()));
    }
}
