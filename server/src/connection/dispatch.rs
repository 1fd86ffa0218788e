//! Handling each request frame of a socket.

use super::{Connection, identity, subscriptions, watches};
use crate::eager::run_or_spawn;
use crate::node::InFlight;
use mizan_channels::Error;
use mizan_protocol::{ClientFrame, FrameError, ServerFrame, exceeds_depth};
use std::sync::Arc;
use tracing::Instrument;

/// Decodes one text frame and handles it. Only `auth` is awaited (so the
/// requests after it run as its user); calls, fetches and subscribes that
/// have to wait go on in tasks of their own (`eager.rs`).
pub(super) async fn handle(conn: &Arc<Connection>, text: &str) {
    let frame = match decode(conn, text) {
        Ok(frame) => frame,
        Err(reply) => return conn.reply(&reply),
    };
    match frame {
        // Boxed: `auth` is rare, and its future would otherwise be part of
        // every socket's reader future (its memory, for the socket's life).
        ClientFrame::Auth { id, token } => Box::pin(identity::auth(conn, id, &token)).await,
        ClientFrame::Call { id, function, args } => {
            let conn = Arc::clone(conn);
            let span = tracing::debug_span!("call", function = %function, id = id.get());
            let running = InFlight::start(&conn.node);
            let call = async move {
                let reply = match conn.node.call(conn.cx(), &function, &args).await {
                    Ok(outcome) => ServerFrame::Result {
                        id,
                        result: outcome.result,
                        invalidate: outcome.invalidate,
                        merge: outcome.merge,
                    },
                    Err(e) => e.to_frame(Some(id)),
                };
                conn.reply(&reply);
                drop(running);
            };
            run_or_spawn(call.instrument(span));
        }
        ClientFrame::Fetch { id, context, params } => watches::fetch(conn, id, context, params),
        ClientFrame::Watch { id, context, params } => watches::watch(conn, id, context, params),
        ClientFrame::Unwatch { id, context, params } => watches::unwatch(conn, id, &context, &params),
        ClientFrame::Subscribe { id, channel, params } => subscriptions::subscribe(conn, id, &channel, params),
        ClientFrame::Send { id, topic, data } => subscriptions::send(conn, id, &topic, data),
        ClientFrame::Unsubscribe { id, topic } => subscriptions::unsubscribe(conn, id, &topic),
    }
}

/// A frame over the socket's rate: answered `limit` and dropped.
pub(super) fn rate_limited(conn: &Connection, text: &str) {
    let id = ClientFrame::decode(text.as_bytes()).map_or_else(|e| e.id, |f| Some(f.id()));
    let rate = conn.node.config.messages_per_second;
    conn.reply(&Error::limit(format!("too many frames: at most {rate} a second on average")).to_frame(id));
}

/// Decodes a frame, refusing one nested deeper than the configured limit
/// (with its id, when it has one).
fn decode(conn: &Connection, text: &str) -> Result<ClientFrame, ServerFrame> {
    let max = conn.node.config.max_json_depth;
    let decoded = ClientFrame::decode(text.as_bytes());
    conn.node.metrics.frame_in(decoded.as_ref().ok(), text.len());
    if exceeds_depth(text.as_bytes(), max) {
        let id = decoded.map_or_else(|e: FrameError| e.id, |f| Some(f.id()));
        return Err(Error::limit(format!("the frame nests deeper than {max} levels")).to_frame(id));
    }
    decoded.map_err(ServerFrame::from)
}
