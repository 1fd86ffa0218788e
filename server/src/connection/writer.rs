//! The writer task: drains the outbox into the socket, everything queued
//! at once and one flush per batch, and sends the close frame when asked.

use crate::outbox::{Next, OutboxReceiver, Outgoing};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use mizan_protocol::CloseCode;
use std::collections::VecDeque;

/// A batch buffer that grew past this many frames (a burst) is not kept
/// for the next batch: an idle socket should not hold a burst's memory.
const KEEP_BATCH_CAPACITY: usize = 64;

/// Runs until the socket fails or a close is requested.
pub(super) async fn run(mut sink: SplitSink<WebSocket, Message>, outbox: OutboxReceiver) {
    let mut batch = VecDeque::new();
    loop {
        let next = outbox.next(&mut batch).await;
        if let Next::Close(code) = next {
            // What is already queued goes out first (replies of calls that
            // finished before a drain), except to a client that cannot keep
            // up.
            if code != CloseCode::SlowClient {
                outbox.take(&mut batch);
                if write(&mut sink, &mut batch).await.is_err() {
                    return;
                }
            }
            let close = CloseFrame {
                code: code.as_u16(),
                reason: code.reason().into(),
            };
            let _ = sink.send(Message::Close(Some(close))).await;
            return;
        }
        if write(&mut sink, &mut batch).await.is_err() || sink.flush().await.is_err() {
            return;
        }
        if batch.capacity() > KEEP_BATCH_CAPACITY {
            batch = VecDeque::new();
        }
    }
}

/// Feeds every frame of `batch` to the socket (leaving `batch` empty);
/// tungstenite writes them out as its buffer fills, and on flush.
async fn write(sink: &mut SplitSink<WebSocket, Message>, batch: &mut VecDeque<Outgoing>) -> Result<(), axum::Error> {
    while let Some(item) = batch.pop_front() {
        let message = match item {
            Outgoing::Frame(frame) => Message::Text(frame),
            Outgoing::Ping => Message::Ping(Default::default()),
        };
        sink.feed(message).await?;
    }
    Ok(())
}
