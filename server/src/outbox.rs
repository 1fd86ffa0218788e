//! A connection's bounded outbound queue and its close signal.
//!
//! Everything a connection is sent (replies, pushes) goes through its
//! [`Outbox`] without waiting: a full queue means the client reads too
//! slowly, and the connection is closed with 4008 rather than buffering
//! without bound or slowing down the sender.

use axum::extract::ws::Utf8Bytes;
use mizan_protocol::{CloseCode, ServerFrame};
use std::sync::{Arc, OnceLock};
use tokio::sync::{Notify, mpsc};

/// The sending side of a connection, cheap to clone. The hub keeps one per
/// subscription.
#[derive(Clone, Debug)]
pub(crate) struct Outbox {
    frames: mpsc::Sender<Utf8Bytes>,
    close: Arc<CloseSignal>,
}

/// The writer task's side.
pub(crate) struct OutboxReceiver {
    pub(crate) frames: mpsc::Receiver<Utf8Bytes>,
    pub(crate) close: Arc<CloseSignal>,
}

/// Set once, when the connection must close, with the code to close with.
#[derive(Debug, Default)]
pub(crate) struct CloseSignal {
    code: OnceLock<CloseCode>,
    notify: Notify,
}

impl CloseSignal {
    /// Waits until a close is requested and returns its code.
    pub(crate) async fn requested(&self) -> CloseCode {
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

/// A queue holding at most `capacity` frames.
pub(crate) fn outbox(capacity: usize) -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let close = Arc::new(CloseSignal::default());
    (
        Outbox {
            frames: tx,
            close: Arc::clone(&close),
        },
        OutboxReceiver { frames: rx, close },
    )
}

impl Outbox {
    /// Queues an encoded frame. When the queue is full the connection is
    /// closed with 4008 and the frame is dropped; returns whether it was
    /// queued.
    pub(crate) fn push(&self, frame: Utf8Bytes) -> bool {
        match self.frames.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("outbound queue full: closing the connection with 4008");
                self.close(CloseCode::SlowClient);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Encodes and queues one frame.
    pub(crate) fn send(&self, frame: &ServerFrame) -> bool {
        self.push(frame.encode().into())
    }

    /// Asks the writer to close the socket with `code`. The first request wins.
    pub(crate) fn close(&self, code: CloseCode) {
        if self.close.code.set(code).is_ok() {
            self.close.notify.notify_waiters();
        }
    }

    /// Waits until a close is requested and returns its code.
    pub(crate) async fn closed(&self) -> CloseCode {
        self.close.requested().await
    }
}
