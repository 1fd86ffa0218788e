//! The writer task: drains the outbox into the socket, flushing once per
//! batch, and sends the close frame when asked.

use crate::outbox::OutboxReceiver;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;

/// Frames written before a flush, at most.
const BATCH: usize = 64;

/// Runs until the socket fails or a close is requested.
pub(super) async fn run(mut sink: SplitSink<WebSocket, Message>, mut outbox: OutboxReceiver) {
    loop {
        let frame = tokio::select! {
            biased;
            code = outbox.close.requested() => {
                let close = CloseFrame { code: code.as_u16(), reason: code.reason().into() };
                let _ = sink.send(Message::Close(Some(close))).await;
                return;
            }
            frame = outbox.frames.recv() => frame,
        };
        let Some(frame) = frame else { return };
        if sink.feed(Message::Text(frame)).await.is_err() {
            return;
        }
        for _ in 1..BATCH {
            let Ok(frame) = outbox.frames.try_recv() else { break };
            if sink.feed(Message::Text(frame)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
