//! The writer task: drains the outbox into the socket, flushing once per
//! batch, and sends the close frame when asked.

use crate::outbox::{OutboxReceiver, Outgoing};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use mizan_protocol::CloseCode;

/// Frames written before a flush, at most.
const BATCH: usize = 64;

/// Runs until the socket fails or a close is requested.
pub(super) async fn run(mut sink: SplitSink<WebSocket, Message>, mut outbox: OutboxReceiver) {
    loop {
        let first = tokio::select! {
            biased;
            code = outbox.close_requested() => {
                // What is already queued goes out first (replies of calls
                // that finished before a drain), except to a client that
                // cannot keep up.
                if code != CloseCode::SlowClient {
                    while let Some(item) = outbox.try_recv() {
                        if sink.feed(message(item)).await.is_err() {
                            return;
                        }
                    }
                }
                let close = CloseFrame { code: code.as_u16(), reason: code.reason().into() };
                let _ = sink.send(Message::Close(Some(close))).await;
                return;
            }
            item = outbox.recv() => item,
        };
        let Some(first) = first else { return };
        if sink.feed(message(first)).await.is_err() {
            return;
        }
        for _ in 1..BATCH {
            let Some(item) = outbox.try_recv() else { break };
            if sink.feed(message(item)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

fn message(item: Outgoing) -> Message {
    match item {
        Outgoing::Frame { frame, .. } => Message::Text(frame),
        Outgoing::Ping => Message::Ping(Default::default()),
    }
}
