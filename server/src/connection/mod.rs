//! One WebSocket connection: upgrade, reader loop, and teardown.
//!
//! The task that ran the upgrade reads; a second task writes (`writer.rs`).
//! Requests are handled in `dispatch.rs`: calls and subscribes that have
//! to wait go on in tasks of their own (`eager.rs`), so a slow one never
//! holds up the others; `send`s go through a
//! per-topic ordered queue (`subscriptions.rs`); context watches are kept
//! in `watches.rs`; who the socket acts as, and until when, in
//! `identity.rs`.

mod dispatch;
mod identity;
mod subscriptions;
mod watches;
mod writer;

use crate::http::{HttpError, identify};
use crate::hub::ConnId;
use crate::limits::{RateLimiter, Refused};
use crate::metrics::Refusal;
use crate::node::Node;
use crate::outbox::{Outbox, outbox};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use identity::SocketIdentity;
use mizan_channels::{Cx, Error};
use mizan_protocol::{CloseCode, PROTOCOL_VERSION, SUBPROTOCOL, ServerFrame};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};
use subscriptions::Subscriptions;
use tokio::task::JoinHandle;
use tokio::time::Sleep;
use tracing::Instrument;
use watches::Watches;

/// How long teardown waits for the writer to flush its close frame.
const WRITER_GRACE: Duration = Duration::from_secs(5);

/// The same, for a client closed because it reads too slowly.
const SLOW_WRITER_GRACE: Duration = Duration::from_millis(200);

/// `GET {base}/ws`: checks the origin, authenticates the request and
/// counts the socket against the limits, then serves it.
pub(crate) async fn upgrade(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, HttpError> {
    if node.draining.load(Ordering::Acquire) {
        node.metrics.refused(Refusal::Draining);
        return Err(HttpError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: Error::limit("this node is shutting down: connect to another"),
        });
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !node.config.origins.allows(origin, host) {
        tracing::warn!(origin, "refused a WebSocket from a disallowed origin");
        node.metrics.refused(Refusal::Origin);
        return Err(Error::forbidden(format!("origin `{}` may not open a socket here", origin.unwrap_or(""))).into());
    }
    if !node.upgrade_rate.lock().unwrap_or_else(PoisonError::into_inner).allow() {
        node.metrics.refused(Refusal::Rate);
        return Err(Error::limit("too many new connections: retry in a moment").into());
    }
    let identity = identify(&node, &headers).await?;
    let config = &node.config;
    let user = identity.as_ref().map(|i| i.user.id.as_str());
    let slot = node
        .connections
        .open(user, config.max_connections, config.max_connections_per_user)
        .map_err(|refused| {
            node.metrics.refused(Refusal::Connections);
            HttpError::from(refused_error(refused))
        })?;
    let max = config.max_frame_bytes;
    Ok(ws
        .protocols([SUBPROTOCOL])
        .max_message_size(max)
        .max_frame_size(max)
        // The buffer every socket keeps (tungstenite's default, 128 KiB,
        // was ~125 KiB of RSS per idle socket); larger frames are still
        // assembled, this is only the read chunk.
        .read_buffer_size(config.socket_read_buffer_bytes.max(64))
        .on_upgrade(move |socket| serve(node, socket, SocketIdentity::new(identity, slot))))
}

/// The `limit` error for a socket the connection limits refuse.
pub(crate) fn refused_error(refused: Refused) -> Error {
    match refused {
        Refused::Node(max) => Error::limit(format!("this node serves at most {max} sockets")),
        Refused::User(max) => Error::limit(format!("a user may have at most {max} sockets on this node")),
    }
}

/// A connection's shared state, read by its reader and its request tasks.
pub(crate) struct Connection {
    pub(crate) id: ConnId,
    pub(crate) session: Arc<str>,
    pub(crate) node: Arc<Node>,
    pub(crate) outbox: Outbox,
    identity: SocketIdentity,
    subscriptions: Subscriptions,
    watches: Watches,
}

impl Connection {
    /// The request context for a request on this socket, as the user is now.
    pub(crate) fn cx(&self) -> Cx {
        self.node
            .cx(self.identity.user())
            .with_session(Arc::clone(&self.session))
    }

    /// Queues a reply or push.
    pub(crate) fn reply(&self, frame: &ServerFrame) {
        self.outbox.send(frame);
    }
}

/// Sets the connection up (outbox, writer task, shared state, `hello`)
/// and returns the reader loop. Not an `async fn`: the setup's values
/// (the whole `WebSocket` among them) would stay in the future for the
/// socket's lifetime, and that future is most of an idle socket's memory.
fn serve(node: Arc<Node>, socket: WebSocket, identity: SocketIdentity) -> impl Future<Output = ()> + Send {
    let id = node.next_conn_id();
    let session: Arc<str> = format!("{}-{id}", node.id).into();
    let span = tracing::info_span!("conn", session = %session);
    let entered = span.enter();
    let config = &node.config;
    let (tx, rx) = outbox(
        config.outbound_queue_frames,
        config.outbound_queue_bytes,
        Arc::clone(&node.metrics),
    );
    node.sockets.insert(id, tx.clone());
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(writer::run(sink, rx).in_current_span());
    let user = identity.user();
    let conn = Arc::new(Connection {
        id,
        session: Arc::clone(&session),
        node: Arc::clone(&node),
        outbox: tx,
        identity,
        subscriptions: Subscriptions::default(),
        watches: Watches::default(),
    });
    tracing::debug!(user = user.as_ref().map(|u| u.id.as_str()), "connected");
    conn.reply(&ServerFrame::Hello {
        protocol: PROTOCOL_VERSION,
        node: node.id.to_string(),
        session: session.to_string(),
        user: user.map(|u| u.info()),
    });
    drop(entered);
    read(conn, stream, writer).instrument(span)
}

/// The reader loop, then teardown.
async fn read(conn: Arc<Connection>, mut stream: SplitStream<WebSocket>, mut writer: JoinHandle<()>) {
    let node = &conn.node;
    let mut rate = RateLimiter::new(node.config.messages_per_second, node.config.message_burst);
    let every = node.config.ping_interval;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    // The token's deadline: one timer, re-armed when the deadline changes
    // (an `auth` frame renews it), not a new one per frame; boxed and
    // only made for a socket whose token expires.
    let mut expiry: Option<Pin<Box<Sleep>>> = None;
    let mut armed = None;
    let code = loop {
        let deadline = conn.identity.deadline();
        if deadline != armed {
            if let Some(at) = deadline {
                match &mut expiry {
                    Some(sleep) => sleep.as_mut().reset(at.into()),
                    None => expiry = Some(Box::pin(tokio::time::sleep_until(at.into()))),
                }
            }
            armed = deadline;
        }
        let message = tokio::select! {
            code = conn.outbox.closed() => break code,
            () = fire(&mut expiry), if armed.is_some() => match identity::on_deadline(&conn) {
                Some(code) => break code,
                // Re-arm even if the deadline did not move: a fired timer
                // stays ready.
                None => {
                    armed = None;
                    continue;
                }
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > node.config.ping_timeout {
                    tracing::info!(silent_for = ?last_heard.elapsed(), "heartbeat timeout: dropping the socket");
                    break CloseCode::HeartbeatTimeout;
                }
                conn.outbox.ping();
                continue;
            }
            message = stream.next() => message,
        };
        last_heard = Instant::now();
        match message {
            Some(Ok(Message::Text(text))) if rate.allow() => dispatch::handle(&conn, &text).await,
            Some(Ok(Message::Text(text))) => dispatch::rate_limited(&conn, &text),
            Some(Ok(Message::Binary(_))) => break CloseCode::Binary,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_))) | None => break CloseCode::Normal,
            Some(Err(e)) => break read_error_code(e),
        }
    };
    drop(stream);
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
    node.metrics.closed(code);
    node.sockets.remove(&conn.id);
    subscriptions::leave_all(&conn);
    watches::unwatch_all(&conn);
    conn.outbox.close(code);
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

/// Waits for `timer` to fire, or forever without one.
async fn fire(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The close code for a read error: 1009 for an oversized frame.
fn read_error_code(e: axum::Error) -> CloseCode {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match e.into_inner().downcast::<WsError>() {
        Ok(e) if matches!(*e, WsError::Capacity(_)) => CloseCode::TooLarge,
        Ok(e) => {
            tracing::debug!(error = %e, "read failed");
            CloseCode::Normal
        }
        Err(e) => {
            tracing::debug!(error = %e, "read failed");
            CloseCode::Normal
        }
    }
}
