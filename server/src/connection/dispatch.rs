//! Handling each request frame of a socket.

use super::{Connection, subscriptions, watches};
use mizan_channels::Error;
use mizan_protocol::{ClientFrame, ServerFrame};
use std::sync::Arc;

/// Decodes one text frame and starts handling it. Never waits on a
/// handler: calls and subscribes run in tasks of their own.
pub(super) fn handle(conn: &Arc<Connection>, text: &str) {
    let frame = match ClientFrame::decode(text.as_bytes()) {
        Ok(frame) => frame,
        Err(e) => return conn.reply(&e.into()),
    };
    match frame {
        ClientFrame::Auth { id, token } => match conn.node.verify_token(&token) {
            Ok(user) => {
                let info = user.info();
                conn.set_user(Arc::new(user));
                conn.reply(&ServerFrame::Ok { id, user: Some(info) });
            }
            Err(e) => conn.reply(&Error::unauthenticated(e.to_string()).to_frame(Some(id))),
        },
        ClientFrame::Call { id, function, args } => {
            let conn = Arc::clone(conn);
            tokio::spawn(async move {
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
            });
        }
        ClientFrame::Fetch { id, context, params } => watches::fetch(conn, id, context, params),
        ClientFrame::Watch { id, context, params } => watches::watch(conn, id, context, params),
        ClientFrame::Unwatch { id, context, params } => watches::unwatch(conn, id, &context, &params),
        ClientFrame::Subscribe { id, channel, params } => subscriptions::subscribe(conn, id, &channel, params),
        ClientFrame::Send { id, topic, data } => subscriptions::send(conn, id, &topic, data),
        ClientFrame::Unsubscribe { id, topic } => subscriptions::unsubscribe(conn, id, &topic),
    }
}
