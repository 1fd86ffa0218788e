//! One WebSocket connection: upgrade, reader loop, and teardown.
//!
//! The task that ran the upgrade reads; a second task writes (`writer.rs`).
//! Requests are handled in `dispatch.rs`: calls and subscribes that have
//! to wait go on in tasks of their own (`eager.rs`), so a slow one never
//! holds up the others; `send`s go through a per-topic ordered queue
//! (`subscriptions.rs`); context watches are kept in `watches.rs`; who the
//! socket acts as, and until when, in `identity.rs`; how fast it may send,
//! in `pace.rs`; what happens when it ends, in `teardown.rs`.

mod dispatch;
mod identity;
mod pace;
mod subscriptions;
mod teardown;
mod watches;
mod writer;

use crate::client_addr::Peer;
use crate::hub::ConnId;
use crate::limits::Refused;
use crate::metrics::Refusal;
use crate::node::Node;
use crate::outbox::{Outbox, outbox};
use crate::refusal::{HttpError, identify};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::stream::SplitStream;
use futures_util::{FutureExt, StreamExt};
use identity::SocketIdentity;
use mizan_channels::{Cx, Error};
use mizan_protocol::{CloseCode, PROTOCOL_VERSION, SUBPROTOCOL, ServerFrame};
use pace::Pace;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use subscriptions::Subscriptions;
use teardown::Teardown;
use tokio::task::JoinHandle;
use tokio::time::Sleep;
use tracing::Instrument;
use watches::Watches;

/// `GET {base}/ws`: checks the origin, the rates of new sockets (the
/// client address's, then the node's), authenticates the request and
/// counts the socket against the limits, then serves it.
pub(crate) async fn upgrade(
    State(node): State<Arc<Node>>,
    peer: Peer,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, HttpError> {
    let refuse = |why: Refusal, e: HttpError| {
        node.metrics.refused(why);
        e
    };
    if node.draining.load(Ordering::Acquire) {
        return Err(refuse(
            Refusal::Draining,
            HttpError::with_status(
                StatusCode::SERVICE_UNAVAILABLE,
                Error::limit("this node is shutting down: connect to another"),
            ),
        ));
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if headers.contains_key(header::ORIGIN) && origin.is_none() || !node.config.origins.allows(origin, host) {
        tracing::warn!(origin, "refused a WebSocket from a disallowed origin");
        let e = Error::forbidden("this origin may not open a socket here");
        return Err(refuse(Refusal::Origin, e.into()));
    }
    let address = node.client_addresses.of(peer, &headers);
    if !node.limits.allow_upgrade(address) {
        let e = Error::limit("too many new connections: retry in a moment");
        return Err(refuse(Refusal::Rate, e.into()));
    }
    let identity = identify(&node, &headers, address)
        .await
        .map_err(|(why, e)| refuse(why, e.into()))?;
    let config = &node.config;
    let user = identity.as_ref().map(|i| i.user.id.as_str());
    let (slot, probation) = node
        .connections
        .open(user, address, node.limits.connections)
        .map_err(|refused| refuse(Refusal::Connections, refused_error(refused).into()))?;
    let probation = probation.then_some(config.anonymous_probation);
    let max = config.max_frame_bytes;
    Ok(ws
        .protocols([SUBPROTOCOL])
        .max_message_size(max)
        .max_frame_size(max)
        // The buffer every socket keeps (tungstenite's default, 128 KiB,
        // was ~125 KiB of RSS per idle socket); larger frames are still
        // assembled, this is only the read chunk.
        .read_buffer_size(config.socket_read_buffer_bytes.max(64))
        .on_upgrade(move |socket| {
            let identity = SocketIdentity::new(identity, slot, probation);
            serve(node, socket, identity, address)
        }))
}

/// The `limit` error for a socket the connection limits refuse.
pub(crate) fn refused_error(refused: Refused) -> Error {
    match refused {
        Refused::Node(max) => Error::limit(format!("this node serves at most {max} sockets")),
        Refused::User(max) => Error::limit(format!("a user may have at most {max} sockets on this node")),
        Refused::Address(max) => Error::limit(format!("an address may have at most {max} sockets open on this node")),
    }
}

/// A connection's shared state, read by its reader and its request tasks.
pub(crate) struct Connection {
    pub(crate) id: ConnId,
    pub(crate) session: Arc<str>,
    pub(crate) node: Arc<Node>,
    pub(crate) outbox: Outbox,
    /// The client address the per-address limits count it under.
    address: Option<IpAddr>,
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
fn serve(
    node: Arc<Node>,
    socket: WebSocket,
    identity: SocketIdentity,
    address: Option<IpAddr>,
) -> impl Future<Output = ()> + Send {
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
        address,
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
    let teardown = Teardown::new(Arc::clone(&conn), writer);
    read(conn, stream, teardown).instrument(span)
}

/// The reader loop, then teardown, which runs whatever happens: a panic
/// anywhere in the loop closes the socket with 1011 and still leaves every
/// topic and watch (and if the task is dropped, the guard does it).
async fn read(conn: Arc<Connection>, mut stream: SplitStream<WebSocket>, teardown: Teardown) {
    let code = match AssertUnwindSafe(read_loop(&conn, &mut stream)).catch_unwind().await {
        Ok(code) => code,
        Err(panic) => {
            tracing::error!(
                panic = crate::eager::panic_text(&*panic),
                "the socket's reader panicked"
            );
            CloseCode::ServerError
        }
    };
    drop(stream);
    teardown.finish(code).await;
}

/// Work the reader waits for before it reads the next frame (an `auth`
/// frame's verification and re-authorization), so later frames run as
/// its outcome; heartbeats, closes and deadlines go on meanwhile.
type Waiting = Option<Pin<Box<JoinHandle<()>>>>;

async fn read_loop(conn: &Arc<Connection>, stream: &mut SplitStream<WebSocket>) -> CloseCode {
    let node = &conn.node;
    let mut pace = Pace::new(&node.config);
    let every = node.config.ping_interval;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    // The identity's deadline: one timer, re-armed when the deadline
    // changes (an `auth` frame renews it), not a new one per frame; boxed
    // and only made for a socket whose token expires or that is on
    // probation.
    let mut deadline: Option<Pin<Box<Sleep>>> = None;
    let mut armed = None;
    let mut waiting: Waiting = None;
    loop {
        let due = conn.identity.deadline();
        if due != armed {
            if let Some(at) = due {
                match &mut deadline {
                    Some(sleep) => sleep.as_mut().reset(at.into()),
                    None => deadline = Some(Box::pin(tokio::time::sleep_until(at.into()))),
                }
            }
            armed = due;
        }
        let message = tokio::select! {
            code = conn.outbox.closed() => return code,
            () = fire(&mut deadline), if armed.is_some() => {
                // Re-arm even if the deadline did not move: a fired timer
                // stays ready.
                armed = None;
                match identity::on_deadline(conn) {
                    identity::Deadline::Close(code) => return code,
                    identity::Deadline::Expired => {
                        let job = Arc::clone(conn);
                        waiting = Some(Box::pin(tokio::spawn(async move { identity::expired(&job).await })));
                    }
                    identity::Deadline::Nothing => {}
                }
                continue;
            }
            _ = heartbeat.tick() => {
                // While an `auth` is in flight the reader reads nothing on
                // purpose (it is bounded by `handler_timeout`).
                if last_heard.elapsed() <= node.config.ping_timeout || waiting.is_some() {
                    conn.outbox.ping();
                    continue;
                }
                // Silent for too long, unless what the client sent is
                // waiting to be read: the reader itself was busy.
                match stream.next().now_or_never() {
                    Some(message) => message,
                    None => {
                        tracing::info!(silent_for = ?last_heard.elapsed(), "heartbeat timeout: dropping the socket");
                        return CloseCode::HeartbeatTimeout;
                    }
                }
            }
            done = wait(&mut waiting), if waiting.is_some() => {
                waiting = None;
                if let Err(e) = done {
                    tracing::error!(error = %e, "an auth or re-authorization job failed");
                }
                continue;
            }
            message = stream.next(), if waiting.is_none() => message,
        };
        match message {
            Some(Ok(Message::Text(text))) => match pace.admit(conn, &text) {
                pace::Admitted::Yes => waiting = dispatch::handle(conn, &text, &mut pace).map(Box::pin),
                pace::Admitted::No => {}
                pace::Admitted::Close => return CloseCode::RateLimited,
            },
            Some(Ok(Message::Binary(_))) => return CloseCode::Binary,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_))) | None => return CloseCode::Normal,
            Some(Err(e)) => return read_error_code(e),
        }
        // Time spent handling the frame (a handler that did not await) is
        // not the client's silence.
        last_heard = Instant::now();
    }
}

/// Waits for `timer` to fire, or forever without one.
async fn fire(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Waits for the job the reader is waiting for, or forever without one.
async fn wait(job: &mut Waiting) -> Result<(), tokio::task::JoinError> {
    match job {
        Some(handle) => handle.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The close code for a read error: 1009 for an oversized frame, 1007 for
/// text that is not UTF-8, 1002 for any other breach of RFC 6455.
fn read_error_code(e: axum::Error) -> CloseCode {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match e.into_inner().downcast::<WsError>() {
        Ok(e) => match *e {
            WsError::Capacity(_) => CloseCode::TooLarge,
            WsError::Utf8(_) => CloseCode::InvalidData,
            WsError::Protocol(e) => {
                tracing::debug!(error = %e, "the client broke the WebSocket protocol");
                CloseCode::ProtocolError
            }
            e => {
                tracing::debug!(error = %e, "read failed");
                CloseCode::Normal
            }
        },
        Err(e) => {
            tracing::debug!(error = %e, "read failed");
            CloseCode::Normal
        }
    }
}
