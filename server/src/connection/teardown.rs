//! What happens when a socket ends, however it ends.

use super::{Connection, subscriptions, watches};
use mizan_protocol::CloseCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long teardown waits for the writer to flush its close frame.
const WRITER_GRACE: Duration = Duration::from_secs(5);

/// The same, for a client closed because it reads too slowly.
const SLOW_WRITER_GRACE: Duration = Duration::from_millis(200);

/// Leaves every topic and watch, unregisters the socket and closes it.
/// [`finish`](Self::finish) does it and waits for the writer; if the guard
/// is dropped instead (the reader's task was cancelled or unwound), its
/// `Drop` does the same at once and aborts the writer, so no socket's
/// memberships, watches or descriptor outlive it.
pub(super) struct Teardown {
    conn: Arc<Connection>,
    writer: Option<JoinHandle<()>>,
}

impl Teardown {
    pub(super) fn new(conn: Arc<Connection>, writer: JoinHandle<()>) -> Self {
        Self {
            conn,
            writer: Some(writer),
        }
    }

    /// Tears down with `code`, then waits (a little) for the writer to send
    /// the close frame.
    pub(super) async fn finish(mut self, code: CloseCode) {
        self.release(code);
        let Some(mut writer) = self.writer.take() else { return };
        // A client that does not read will not take a close frame either:
        // give up on it at once rather than holding its socket.
        let grace = if code == CloseCode::SlowClient {
            SLOW_WRITER_GRACE
        } else {
            WRITER_GRACE
        };
        if tokio::time::timeout(grace, &mut writer).await.is_err() {
            writer.abort();
        }
    }

    fn release(&self, code: CloseCode) {
        let conn = &self.conn;
        if code == CloseCode::SlowClient {
            let (frames, bytes) = conn.outbox.backlog();
            let user = conn.identity.user();
            tracing::warn!(
                user = user.as_ref().map(|u| u.id.as_str()),
                queued_frames = frames,
                queued_bytes = bytes,
                "closing with 4008: the client reads too slowly (its outbound queue overflowed)"
            );
        } else {
            tracing::debug!(code = code.as_u16(), "closing");
        }
        let node = &conn.node;
        node.metrics.closed(code);
        node.sockets.remove(&conn.id);
        subscriptions::leave_all(conn);
        watches::unwatch_all(conn);
        conn.outbox.close(code);
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            self.release(CloseCode::ServerError);
            writer.abort();
        }
    }
}
