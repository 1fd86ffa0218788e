//! Connecting to a server under test: from one of several loopback source
//! addresses, with the dialect's handshake, and one request at a time
//! before a scenario starts.

use crate::dialect::{Dialect, Incoming};
use anyhow::{Context, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Mutex;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub(crate) type Ws = WebSocketStream<TcpStream>;
/// A socket's write half, shared by a scenario's sender and the reader
/// (which answers Engine.IO pings).
pub(crate) type Sink = Arc<Mutex<SplitSink<Ws, Message>>>;
pub(crate) type Stream = SplitStream<Ws>;

/// How long one connect, handshake or request may take.
pub(crate) const STEP: Duration = Duration::from_secs(10);

/// Source addresses 127.0.0.1 to 127.0.0.SOURCES: each gives its own
/// ephemeral port range towards the server, so one generator can open
/// more sockets than one range holds.
const SOURCES: usize = 8;

/// A WebSocket endpoint of a server under test.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    /// The request path and query, e.g. `/api/mizan/ws`.
    pub(crate) path: String,
    pub(crate) dialect: Dialect,
}

impl Endpoint {
    /// Opens a socket, from the next source address in turn, and completes
    /// the dialect's handshake (Mizan's `hello`; Socket.IO's `0` / `40` /
    /// `40`).
    pub(crate) async fn connect(&self) -> anyhow::Result<Ws> {
        tokio::time::timeout(STEP, async {
            let ws = self.open().await?;
            self.handshake(ws).await
        })
        .await
        .with_context(|| format!("connecting to {} timed out", self.addr))?
    }

    /// Opens a socket, from the next source address in turn, without the
    /// dialect's handshake (for a client that spells its own, as a
    /// Socket.IO reconnect does); fails after [`STEP`].
    pub(crate) async fn websocket(&self) -> anyhow::Result<Ws> {
        tokio::time::timeout(STEP, self.open())
            .await
            .with_context(|| format!("connecting to {} timed out", self.addr))?
    }

    async fn open(&self) -> anyhow::Result<Ws> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % SOURCES;
        let source = Ipv4Addr::new(127, 0, 0, u8::try_from(n + 1)?);
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        let stream = socket.connect(self.addr).await?;
        stream.set_nodelay(true)?;
        // Thousands of sockets share this process: modest buffers.
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        let url = format!("ws://{}{}", self.addr, self.path);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
        Ok(ws)
    }

    async fn handshake(&self, mut ws: Ws) -> anyhow::Result<Ws> {
        match self.dialect {
            Dialect::Mizan => {
                next_text(&mut ws).await.context("no hello")?;
            }
            Dialect::SocketIo => {
                let open = next_text(&mut ws).await?;
                if !open.starts_with('0') {
                    bail!("expected an Engine.IO open packet, got {open:?}");
                }
                ws.send(Message::text("40")).await?;
                let connect = next_text(&mut ws).await?;
                if !connect.starts_with("40") {
                    bail!("expected a Socket.IO connect packet, got {connect:?}");
                }
            }
        }
        Ok(ws)
    }
}

/// The next text frame.
pub(crate) async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    loop {
        match ws.next().await.context("the server closed the socket")?? {
            Message::Text(text) => return Ok(text.as_str().to_owned()),
            Message::Close(frame) => bail!("the server closed the socket: {frame:?}"),
            _ => {}
        }
    }
}

/// Sends `frame` and waits for the reply to `id`; fails on an error reply.
/// Other frames meanwhile are dropped (pings answered).
pub(crate) async fn request(ws: &mut Ws, dialect: Dialect, frame: String, id: u64) -> anyhow::Result<()> {
    ws.send(Message::text(frame)).await?;
    tokio::time::timeout(STEP, async {
        loop {
            let text = next_text(ws).await?;
            match dialect.classify(text.as_bytes()) {
                Incoming::Reply { id: got, error } if got == id => {
                    if error {
                        bail!("the server refused request {id}: {text}");
                    }
                    return Ok(());
                }
                Incoming::Ping => ws.send(Message::text(dialect.pong())).await?,
                _ => {}
            }
        }
    })
    .await
    .with_context(|| format!("no reply to request {id}"))?
}

/// Connects and joins `room`.
pub(crate) async fn join(endpoint: &Endpoint, room: &str) -> anyhow::Result<Ws> {
    let mut ws = endpoint.connect().await?;
    request(&mut ws, endpoint.dialect, endpoint.dialect.subscribe(1, room), 1).await?;
    Ok(ws)
}

/// Splits a socket into a shared sink and its stream.
pub(crate) fn split(ws: Ws) -> (Sink, Stream) {
    let (sink, stream) = ws.split();
    (Arc::new(Mutex::new(sink)), stream)
}

/// How long opening a scenario's sockets may take (a server that accepts
/// a few hundred sockets a second must not stall the whole comparison).
pub(crate) const OPEN_CAP: Duration = Duration::from_secs(45);

/// Opens `count` sockets with `open(i)` (which yields the socket, or the
/// socket and what its opening learnt), at most `parallel` at a time;
/// fails on the first error, or when they are not all open within
/// [`OPEN_CAP`].
pub(crate) async fn open_many<T, F, Fut>(count: usize, parallel: usize, open: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let sockets = open_up_to(count, parallel, open).await?;
    if sockets.len() < count {
        bail!("opened only {} of {count} sockets within {OPEN_CAP:?}", sockets.len());
    }
    Ok(sockets)
}

/// Like [`open_many`], but at [`OPEN_CAP`] returns the sockets opened so
/// far (in order of `i`) instead of failing.
pub(crate) async fn open_up_to<T, F, Fut>(count: usize, parallel: usize, open: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let deadline = tokio::time::sleep(OPEN_CAP);
    let mut sockets: Vec<(usize, T)> = futures_util::stream::iter(0..count)
        .map(|i| {
            let fut = open(i);
            async move { fut.await.with_context(|| format!("socket {i}")).map(|ws| (i, ws)) }
        })
        .buffer_unordered(parallel.max(1))
        .take_until(deadline)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    sockets.sort_by_key(|(i, _)| *i);
    Ok(sockets.into_iter().map(|(_, ws)| ws).collect())
}
