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

use crate::metrics::Metrics;
use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use mizan_protocol::{CloseCode, ServerFrame};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tokio::sync::{Notify, mpsc};

/// What the writer is handed.
pub(crate) enum Outgoing {
    /// An encoded frame; `coalescing` if it is an invalidation whose copy
    /// is tracked as pending.
    Frame { frame: Utf8Bytes, coalescing: bool },
    /// A heartbeat ping.
    Ping,
}

/// The sending side of a connection, cheap to clone. The hub and the
/// watchers keep one per subscription and watch.
#[derive(Clone)]
pub(crate) struct Outbox {
    queue: mpsc::Sender<Outgoing>,
    shared: Arc<Shared>,
}

/// The writer task's side.
pub(crate) struct OutboxReceiver {
    queue: mpsc::Receiver<Outgoing>,
    shared: Arc<Shared>,
}

struct Shared {
    close: CloseSignal,
    max_bytes: usize,
    queued_bytes: AtomicUsize,
    /// Invalidations queued and not yet taken by the writer.
    pending_invalidations: Mutex<HashSet<Bytes>>,
    metrics: Arc<Metrics>,
}

/// Set once, when the connection must close, with the code to close with.
#[derive(Default)]
struct CloseSignal {
    code: OnceLock<CloseCode>,
    notify: Notify,
}

impl CloseSignal {
    async fn requested(&self) -> CloseCode {
        loop {
            // Register interest before checking, so a close between the
            // check and the wait still wakes us.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(code) = self.code.get() {
                return *code;
            }
            notified.await;
        }
    }
}

/// A queue holding at most `frames` frames and `max_bytes` bytes.
pub(crate) fn outbox(frames: usize, max_bytes: usize, metrics: Arc<Metrics>) -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::channel(frames.max(1));
    let shared = Arc::new(Shared {
        close: CloseSignal::default(),
        max_bytes,
        queued_bytes: AtomicUsize::new(0),
        pending_invalidations: Mutex::default(),
        metrics,
    });
    (
        Outbox {
            queue: tx,
            shared: Arc::clone(&shared),
        },
        OutboxReceiver { queue: rx, shared },
    )
}

impl Outbox {
    /// Queues an encoded frame that must be delivered. When it does not fit
    /// the connection is closed with 4008; returns whether it was queued.
    pub(crate) fn push(&self, frame: Utf8Bytes) -> bool {
        self.enqueue(frame, false)
    }

    /// Queues an invalidation, unless an identical one is still queued
    /// (then it is dropped: the queued one makes the client refetch after
    /// this change too).
    pub(crate) fn push_invalidation(&self, frame: Utf8Bytes) -> bool {
        let key = Bytes::from(frame.clone());
        let fresh = self.pending().insert(key.clone());
        if !fresh {
            self.shared.metrics.coalesced();
            return true;
        }
        let queued = self.enqueue(frame, true);
        if !queued {
            self.pending().remove(&key);
        }
        queued
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
        let _ = self.queue.try_send(Outgoing::Ping);
    }

    /// Asks the writer to close the socket with `code`. The first request wins.
    pub(crate) fn close(&self, code: CloseCode) {
        if self.shared.close.code.set(code).is_ok() {
            self.shared.close.notify.notify_waiters();
        }
    }

    /// Waits until a close is requested and returns its code.
    pub(crate) async fn closed(&self) -> CloseCode {
        self.shared.close.requested().await
    }

    /// Frames and bytes waiting.
    pub(crate) fn backlog(&self) -> (usize, usize) {
        let frames = self.queue.max_capacity() - self.queue.capacity();
        (frames, self.shared.queued_bytes.load(Ordering::Acquire))
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashSet<Bytes>> {
        self.shared
            .pending_invalidations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn enqueue(&self, frame: Utf8Bytes, coalescing: bool) -> bool {
        let len = frame.len();
        let before = self.shared.queued_bytes.fetch_add(len, Ordering::AcqRel);
        // One frame always fits in an empty queue, whatever its size.
        if before > 0 && before + len > self.shared.max_bytes {
            self.shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.close(CloseCode::SlowClient);
            return false;
        }
        match self.queue.try_send(Outgoing::Frame { frame, coalescing }) {
            Ok(()) => true,
            Err(e) => {
                self.shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                if matches!(e, mpsc::error::TrySendError::Full(_)) {
                    self.close(CloseCode::SlowClient);
                }
                false
            }
        }
    }
}

impl OutboxReceiver {
    /// The next item, waiting for one; `None` once every sender is gone.
    pub(crate) async fn recv(&mut self) -> Option<Outgoing> {
        let item = self.queue.recv().await;
        self.taken(&item);
        item
    }

    /// The next item if one is ready.
    pub(crate) fn try_recv(&mut self) -> Option<Outgoing> {
        let item = self.queue.try_recv().ok();
        self.taken(&item);
        item
    }

    /// Waits until a close is requested and returns its code (without
    /// borrowing the receiver, so it can race `recv`).
    pub(crate) fn close_requested(&self) -> impl std::future::Future<Output = CloseCode> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        async move { shared.close.requested().await }
    }

    fn taken(&self, item: &Option<Outgoing>) {
        if let Some(Outgoing::Frame { frame, coalescing }) = item {
            self.shared.queued_bytes.fetch_sub(frame.len(), Ordering::AcqRel);
            if *coalescing {
                let key = Bytes::from(frame.clone());
                self.shared
                    .pending_invalidations
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(rx: &mut OutboxReceiver) -> Vec<String> {
        std::iter::from_fn(|| match rx.try_recv()? {
            Outgoing::Frame { frame, .. } => Some(frame.as_str().to_owned()),
            Outgoing::Ping => Some("ping".into()),
        })
        .collect()
    }

    #[tokio::test]
    async fn identical_pending_invalidations_coalesce_until_taken() {
        let (tx, mut rx) = outbox(16, 1 << 20, Arc::default());
        for _ in 0..5 {
            assert!(tx.push_invalidation("inv-a".into()));
        }
        tx.push_invalidation("inv-b".into());
        assert_eq!(frames(&mut rx), ["inv-a", "inv-b"]);
        // Taken by the writer: the next one is queued again.
        tx.push_invalidation("inv-a".into());
        assert_eq!(frames(&mut rx), ["inv-a"]);
    }

    #[tokio::test]
    async fn overflowing_frames_or_bytes_closes_with_4008() {
        let (tx, rx) = outbox(2, 1 << 20, Arc::default());
        assert!(tx.push("1".into()) && tx.push("2".into()));
        assert!(!tx.push("3".into()));
        assert_eq!(rx.close_requested().await, CloseCode::SlowClient);

        let (tx, mut rx) = outbox(100, 10, Arc::default());
        assert!(tx.push("x".repeat(8).into()));
        assert_eq!(tx.backlog(), (1, 8));
        assert!(!tx.push("y".repeat(8).into()));
        assert_eq!(rx.close_requested().await, CloseCode::SlowClient);
        frames(&mut rx);
        assert_eq!(tx.backlog(), (0, 0));
    }

    #[tokio::test]
    async fn a_single_large_frame_fits_an_empty_queue() {
        let (tx, mut rx) = outbox(4, 10, Arc::default());
        assert!(tx.push("z".repeat(100).into()));
        assert_eq!(frames(&mut rx).len(), 1);
    }
}
