//! The reading half of every socket in a scenario: counts and times room
//! messages, returns send permits as replies come back, counts
//! invalidation pushes and presence diffs, and answers Engine.IO pings.

use crate::conn::{self, Sink, Stream, Ws};
use crate::dialect::{Dialect, Incoming};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use mizan_bench::now_ns;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// The highest per-room sequence number a socket keeps track of.
const MAX_SEQ: usize = 10_000_000;

/// What every reader of a scenario shares.
pub(crate) struct Shared {
    /// Room messages counted so far (first copies, counted sockets only).
    pub(crate) delivered: AtomicU64,
    /// One permit per reply (ok, ack, result or error).
    pub(crate) permits: Semaphore,
    /// Error replies.
    pub(crate) errors: AtomicU64,
    /// Sockets that failed or were closed by the server.
    pub(crate) dropped: AtomicU64,
    /// Invalidation pushes received, and when the last one arrived.
    pub(crate) invalidations: AtomicU64,
    pub(crate) last_invalidation_ns: AtomicU64,
    /// `presence_diff` pushes received (the fixture's chat tracks
    /// presence), their bytes, and when the last one arrived.
    pub(crate) presence: AtomicU64,
    pub(crate) presence_bytes: AtomicU64,
    pub(crate) last_presence_ns: AtomicU64,
    /// Set to `true` to stop every reader.
    pub(crate) stop: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(window: usize) -> Self {
        Self {
            delivered: AtomicU64::new(0),
            permits: Semaphore::new(window),
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            last_invalidation_ns: AtomicU64::new(0),
            presence: AtomicU64::new(0),
            presence_bytes: AtomicU64::new(0),
            last_presence_ns: AtomicU64::new(0),
            stop: watch::Sender::new(false),
        }
    }
}

/// What one counted socket saw.
pub(crate) struct Tally {
    /// Delivery latency, microseconds.
    pub(crate) latency: Histogram<u64>,
    /// How many times each sequence number of its room arrived.
    seen: Vec<u8>,
    /// Distinct messages received.
    pub(crate) received: u64,
    pub(crate) duplicates: u64,
    /// When the last message arrived (ns on [`now_ns`]).
    pub(crate) last_ns: u64,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"),
            seen: Vec::new(),
            received: 0,
            duplicates: 0,
            last_ns: 0,
        }
    }

    /// Adds another socket's tally.
    pub(crate) fn absorb(&mut self, other: &Tally) {
        let _ = self.latency.add(&other.latency);
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.last_ns = self.last_ns.max(other.last_ns);
    }

    /// One message text: `"<seq> <send ns>"` is measured, anything else
    /// (the warm-up's `"w"`) is not. Returns whether it was a first copy.
    fn record(&mut self, text: &[u8]) -> bool {
        let now = now_ns();
        let Some((seq, sent)) = parse_text(text) else {
            return false;
        };
        if seq >= MAX_SEQ {
            return false;
        }
        if seq >= self.seen.len() {
            self.seen.resize(seq + 1, 0);
        }
        let count = &mut self.seen[seq];
        *count = count.saturating_add(1);
        if *count > 1 {
            self.duplicates += 1;
            return false;
        }
        self.received += 1;
        self.last_ns = now;
        self.latency.saturating_record(now.saturating_sub(sent) / 1000);
        true
    }
}

/// `"<seq> <send ns>"`.
pub(crate) fn parse_text(text: &[u8]) -> Option<(usize, u64)> {
    let text = std::str::from_utf8(text).ok()?;
    let (seq, sent) = text.split_once(' ')?;
    Some((seq.parse().ok()?, sent.parse().ok()?))
}

/// Splits `ws` and reads it in a task of its own (see [`read`]); returns
/// the write half, for sending, and the task, which yields the tally.
pub(crate) fn spawn(ws: Ws, dialect: Dialect, shared: &Arc<Shared>, counted: bool) -> (Sink, JoinHandle<Tally>) {
    let (sink, stream) = conn::split(ws);
    let shared = Arc::clone(shared);
    let reader_sink = Arc::clone(&sink);
    let task = tokio::spawn(async move { read(stream, reader_sink, dialect, &shared, counted).await });
    (sink, task)
}

/// Reads `stream` until [`Shared::stop`] is set or the socket ends.
/// Messages are tallied only when `counted`.
pub(crate) async fn read(mut stream: Stream, sink: Sink, dialect: Dialect, shared: &Shared, counted: bool) -> Tally {
    let mut tally = Tally::new();
    let mut stop = shared.stop.subscribe();
    let stopped = stop.wait_for(|stop| *stop);
    tokio::pin!(stopped);
    loop {
        let frame = tokio::select! {
            biased;
            _ = &mut stopped => break,
            frame = stream.next() => frame,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                break;
            }
        };
        match dialect.classify(text.as_bytes()) {
            Incoming::Message { text } => {
                if counted && tally.record(text) {
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
            Incoming::Reply { error, .. } => {
                if error && shared.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("error reply: {text}");
                }
                shared.permits.add_permits(1);
            }
            Incoming::Invalidate => {
                shared.last_invalidation_ns.fetch_max(now_ns(), Ordering::Relaxed);
                shared.invalidations.fetch_add(1, Ordering::Relaxed);
            }
            Incoming::Presence => {
                shared.last_presence_ns.fetch_max(now_ns(), Ordering::Relaxed);
                shared.presence.fetch_add(1, Ordering::Relaxed);
                shared.presence_bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
            }
            Incoming::Ping => {
                let _ = sink.lock().await.send(Message::text(dialect.pong())).await;
            }
            Incoming::Other => {}
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_tallied_once() {
        let mut tally = Tally::new();
        assert!(tally.record(b"3 0"));
        assert!(!tally.record(b"3 0"));
        assert!(!tally.record(b"w"));
        assert!(tally.record(b"0 0"));
        assert_eq!((tally.received, tally.duplicates), (2, 1));
        assert_eq!(parse_text(b"12 3456"), Some((12, 3456)));
    }
}
