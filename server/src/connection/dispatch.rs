//! Handling each request frame of a socket.

use super::pace::Pace;
use super::{Connection, identity, subscriptions, watches};
use crate::eager::{Work, contained};
use crate::node::InFlight;
use futures_util::FutureExt;
use mizan_channels::Error;
use mizan_protocol::{ClientFrame, FrameError, ServerFrame, exceeds_depth};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Decodes one text frame and handles it. Nothing here waits: calls,
/// fetches, watches and subscribes that have to wait go on in tasks of
/// their own (`eager.rs`). An `auth` frame runs in a task too, and is
/// returned: the reader reads no further frame until it is done, so the
/// requests after it run as its outcome.
pub(super) fn handle(conn: &Arc<Connection>, text: &str, pace: &mut Pace) -> Option<JoinHandle<()>> {
    let frame = match decode(conn, text) {
        Ok(frame) => frame,
        Err(reply) => {
            conn.reply(&reply);
            return None;
        }
    };
    match frame {
        ClientFrame::Auth { id, token } => {
            if !pace.allow_auth() {
                let rate = conn.node.config.auth_frames_per_second;
                let e = Error::limit(format!("too many `auth` frames: at most {rate} a second"));
                conn.reply(&e.to_frame(Some(id)));
                return None;
            }
            let conn = Arc::clone(conn);
            let running = InFlight::start(&conn.node);
            return Some(tokio::spawn(
                async move {
                    // A panicking authenticator (or channel) fails this
                    // request, never the socket.
                    let auth = AssertUnwindSafe(identity::auth(&conn, id, &token));
                    if let Err(panic) = auth.catch_unwind().await {
                        tracing::error!(panic = crate::eager::panic_text(&*panic), "`auth` panicked");
                        conn.reply(&Error::internal("auth panicked").to_frame(Some(id)));
                    }
                    drop(running);
                }
                .in_current_span(),
            ));
        }
        ClientFrame::Call { id, function, args } => {
            let node = &conn.node;
            let name = node.registry.function(&function).map_or("", |f| f.name());
            let span = tracing::debug_span!("call", function = %function, id = id.get());
            let running = InFlight::start(node);
            let job = Arc::clone(conn);
            let call = async move {
                let conn = job;
                let called = contained(
                    &conn.node.metrics,
                    "a call",
                    conn.node.call(conn.cx(), &function, &args),
                );
                let reply = match called.await {
                    Ok(Ok(outcome)) => ServerFrame::Result {
                        id,
                        result: outcome.result,
                        invalidate: outcome.invalidate,
                        merge: outcome.merge,
                    },
                    Ok(Err(e)) => e.to_frame(Some(id)),
                    Err(()) => Error::internal("the call panicked").to_frame(Some(id)),
                };
                conn.reply(&reply);
                drop(running);
            };
            node.eager.run(|| Work::Call(name), call.instrument(span));
        }
        ClientFrame::Fetch { id, context, params } => watches::fetch(conn, id, context, params),
        ClientFrame::Watch {
            id,
            context,
            params,
            since,
        } => watches::watch(conn, id, context, params, since),
        ClientFrame::Unwatch { id, context, params } => watches::unwatch(conn, id, &context, &params),
        ClientFrame::Subscribe {
            id,
            channel,
            params,
            since,
            history,
        } => subscriptions::subscribe(conn, id, &channel, params, subscriptions::Recovery { since, history }),
        ClientFrame::Send { id, topic, data } => subscriptions::send(conn, id, &topic, data),
        ClientFrame::Unsubscribe { id, topic } => subscriptions::unsubscribe(conn, id, &topic),
        ClientFrame::Presence { id, topic } => subscriptions::presence(conn, id, &topic, false),
        ClientFrame::PresenceStats { id, topic } => subscriptions::presence(conn, id, &topic, true),
        // A request type the protocol crate knows and this server does not
        // serve yet (the enum is non-exhaustive).
        other => {
            let e = Error::new(
                mizan_protocol::ErrorCode::BadFrame,
                "this server does not serve that request",
            );
            conn.reply(&e.to_frame(Some(other.id())));
        }
    }
    None
}

/// A frame refused before it ran (over the socket's rate, or too deep):
/// answered `limit`, with its id when one can be read. Only refused frames
/// pay for this decode, and they are few: the rate limit bounds them, and
/// a socket that stays over it is closed.
pub(super) fn refuse(conn: &Connection, text: &str, message: &str) {
    let id = ClientFrame::decode(text.as_bytes()).map_or_else(|e| e.id, |f| Some(f.id()));
    conn.reply(&Error::limit(message).to_frame(id));
}

/// Decodes a frame. One nested deeper than the configured limit is
/// refused before it is parsed for handling. The refusal is boxed: it is
/// the rare path, and a `ServerFrame` is larger than a `ClientFrame`.
fn decode(conn: &Connection, text: &str) -> Result<ClientFrame, Box<ServerFrame>> {
    let max = conn.node.config.max_json_depth;
    if exceeds_depth(text.as_bytes(), max) {
        conn.node.metrics.frame_in(None, text.len());
        let id = ClientFrame::decode(text.as_bytes()).map_or_else(|e| e.id, |f| Some(f.id()));
        return Err(Box::new(
            Error::limit(format!("the frame nests deeper than {max} levels")).to_frame(id),
        ));
    }
    let decoded = ClientFrame::decode(text.as_bytes());
    conn.node.metrics.frame_in(decoded.as_ref().ok(), text.len());
    decoded.map_err(|e: FrameError| Box::new(ServerFrame::from(e)))
}
