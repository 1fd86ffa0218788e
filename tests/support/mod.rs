//! Helpers that make the integration tests read like the protocol: start a
//! real server on port 0, connect a real WebSocket client, `call`,
//! `subscribe`, wait for a `reply` to an id or the next `push`.
//!
//! Each test file compiles this module separately and uses part of it, so
//! unused helpers and `pub` items reachable only from the test are expected.
#![allow(dead_code, unreachable_pub)]

#[path = "../../examples/fixture/app.rs"]
pub mod fixture;
pub mod processes;
pub mod streams;

use futures_util::{SinkExt, StreamExt};
use mizan::protocol::ServerFrame;
use mizan::{Mizan, MizanBuilder};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// The fixture's secret, used to sign test tokens.
pub const SECRET: &str = fixture::DEFAULT_SECRET;

/// A server running in this process on a free loopback port.
pub struct Server {
    pub addr: SocketAddr,
    pub app: Mizan,
}

impl Server {
    /// The fixture application.
    pub async fn fixture() -> Self {
        Self::start(fixture::builder(SECRET).config(config(|_| {}))).await
    }

    /// Any application.
    pub async fn start(builder: MizanBuilder) -> Self {
        let app = builder.build().expect("the app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(app.serve(listener).into_future());
        Self { addr, app }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/mizan/ws", self.addr)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The text of `GET {path}` (`/metrics`, the manifest, ...).
    pub async fn get_text(&self, path: &str) -> String {
        reqwest::get(self.http_url(path))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET {path} is not text: {e}"))
    }

    /// A client without a token.
    pub async fn client(&self) -> Client {
        Client::connect(&self.ws_url(), None).await
    }

    /// A client with a bearer token on the upgrade request.
    pub async fn client_with_token(&self, token: &str) -> Client {
        Client::connect(&self.ws_url(), Some(token)).await
    }
}

/// A JSON POST to `url` (HTTP calls and fetches need
/// `Content-Type: application/json`).
pub fn post(url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
}

/// The settings tests start from, changed by `edit`: the defaults, but
/// for the limits kept per client address, which every test's loopback
/// sockets would share (tests/limits.rs checks those at their defaults).
pub fn config(edit: impl FnOnce(&mut mizan::ServerConfig)) -> mizan::ServerConfig {
    let mut config = mizan::ServerConfig::default();
    config.new_connections_per_address_per_second = 1e9;
    config.new_connection_burst_per_address = 1e9;
    config.http_requests_per_second = 1e9;
    config.http_request_burst = 1e9;
    config.token_verifications_per_address_per_second = 1e9;
    config.token_verification_burst_per_address = 1e9;
    config.max_connections_per_address = 1_000_000;
    config.max_pending_connections_per_address = 100_000;
    edit(&mut config);
    config
}

/// An HS256 token for `sub`, valid for an hour.
pub fn token(sub: &str, staff: bool) -> String {
    token_with(json!({"sub": sub, "staff": staff, "exp": now() + 3600}), SECRET)
}

/// A token with any claims, signed with `secret`.
pub fn token_with(claims: Value, secret: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A WebSocket client that keeps frames it was not waiting for, so a test
/// can wait for the reply to one id while pushes arrive in between.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pending: VecDeque<ServerFrame>,
    next_id: u64,
    /// The `hello` frame the server sent first.
    pub hello: ServerFrame,
    /// Whether `presence_diff` pushes are kept ([`with_presence`]); by
    /// default they are dropped as they arrive, so tests of other things
    /// can use the fixture's `chat` (which tracks presence) with several
    /// sockets and see only the frames they wait for.
    ///
    /// [`with_presence`]: Self::with_presence
    presence: bool,
}

impl Client {
    pub async fn connect(url: &str, token: Option<&str>) -> Self {
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("upgrade succeeds");
        Self::from_stream(ws).await
    }

    /// A client whose TCP connection comes from `source` (any 127.0.0.x
    /// reaches a loopback server) with `headers` on the upgrade, or the
    /// HTTP status its upgrade was refused with.
    pub async fn connect_from(url: &str, source: std::net::IpAddr, headers: &[(&str, &str)]) -> Result<Self, u16> {
        let mut request = url.into_client_request().unwrap();
        for (name, value) in headers {
            let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            request.headers_mut().insert(name, value.parse().unwrap());
        }
        let host = request.uri().authority().unwrap().as_str().to_owned();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((source, 0).into()).unwrap();
        let tcp = socket.connect(host.parse().unwrap()).await.unwrap();
        match tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)).await {
            Ok((ws, _)) => Ok(Self::from_stream(ws).await),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("the upgrade failed uncleanly: {e}"),
        }
    }

    /// A client on an already upgraded socket (custom headers); reads `hello`.
    pub async fn from_stream(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        let mut client = Self {
            ws,
            pending: VecDeque::new(),
            next_id: 1,
            hello: ServerFrame::Ok {
                id: mizan::protocol::RequestId::new(0).unwrap(),
                user: None,
            },
            presence: false,
        };
        client.hello = client.read().await;
        assert!(
            matches!(client.hello, ServerFrame::Hello { .. }),
            "first frame is hello"
        );
        client
    }

    /// The same client, keeping `presence_diff` pushes (presence tests).
    #[must_use]
    pub fn with_presence(mut self) -> Self {
        self.presence = true;
        self
    }

    /// A fresh request id.
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.unwrap();
    }

    /// Sends raw text; false once the socket is closed.
    pub async fn try_send_text(&mut self, text: impl Into<String>) -> bool {
        self.ws.send(Message::text(text.into())).await.is_ok()
    }

    /// Sends a JSON frame.
    pub async fn send_json(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    /// Sends a raw WebSocket message.
    pub async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// Sends a request (an `id` is added) and returns its id.
    pub async fn request(&mut self, mut frame: Value) -> u64 {
        let id = self.id();
        frame["id"] = json!(id);
        self.send_json(frame).await;
        id
    }

    /// Calls `function` and waits for the reply.
    pub async fn call(&mut self, function: &str, args: Value) -> ServerFrame {
        let id = self
            .request(json!({"type": "call", "fn": function, "args": args}))
            .await;
        self.reply(id).await
    }

    /// Subscribes and waits for the reply.
    pub async fn subscribe(&mut self, channel: &str, params: Value) -> ServerFrame {
        let id = self
            .request(json!({"type": "subscribe", "channel": channel, "params": params}))
            .await;
        self.reply(id).await
    }

    /// Subscribes and returns the topic, failing the test otherwise.
    pub async fn join(&mut self, channel: &str, params: Value) -> String {
        match self.subscribe(channel, params).await {
            ServerFrame::Subscribed { topic, .. } => topic,
            other => panic!("expected subscribed, got {other:?}"),
        }
    }

    /// The reply to request `id`, keeping other frames for later.
    pub async fn reply(&mut self, id: u64) -> ServerFrame {
        if let Some(at) = self.pending.iter().position(|f| frame_id_of(f) == Some(id)) {
            return self.pending.remove(at).unwrap();
        }
        loop {
            let frame = self.read().await;
            if frame_id_of(&frame) == Some(id) {
                return frame;
            }
            self.pending.push_back(frame);
        }
    }

    /// The next frame without an id (a push, or an error whose id could not
    /// be read), keeping replies for later.
    pub async fn push(&mut self) -> ServerFrame {
        if let Some(at) = self.pending.iter().position(|f| frame_id_of(f).is_none()) {
            return self.pending.remove(at).unwrap();
        }
        loop {
            let frame = self.read().await;
            if frame_id_of(&frame).is_none() {
                return frame;
            }
            self.pending.push_back(frame);
        }
    }

    /// The next frame of any kind, in arrival order.
    pub async fn push_or_reply(&mut self) -> ServerFrame {
        match self.pending.pop_front() {
            Some(frame) => frame,
            None => self.read().await,
        }
    }

    /// Asserts nothing arrives for `quiet`.
    /// Heartbeat pings do not count.
    pub async fn assert_silent(&mut self, quiet: Duration) {
        assert!(self.pending.is_empty(), "unexpected frames: {:?}", self.pending);
        let deadline = tokio::time::Instant::now() + quiet;
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match &message {
                Message::Ping(_) | Message::Pong(_) => {}
                Message::Text(text) if !self.presence && is_presence_diff(text.as_str()) => {}
                _ => panic!("unexpected message: {message:?}"),
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed(&mut self) -> u16 {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("server closes in time");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
                Some(Ok(Message::Close(None))) | None => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("connection failed instead of closing: {e}"),
            }
        }
    }

    async fn read(&mut self) -> ServerFrame {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame arrives in time")
                .expect("the socket is open")
                .expect("the socket reads");
            match message {
                Message::Text(text) if !self.presence && is_presence_diff(text.as_str()) => continue,
                Message::Text(text) => return ServerFrame::decode(text.as_bytes()).expect("server frames decode"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected message: {other:?}"),
            }
        }
    }
}

/// Whether `text` is a `presence_diff` push.
fn is_presence_diff(text: &str) -> bool {
    text.starts_with(r#"{"type":"presence_diff""#)
}

pub fn frame_id_of(frame: &ServerFrame) -> Option<u64> {
    match frame {
        ServerFrame::Ok { id, .. }
        | ServerFrame::Result { id, .. }
        | ServerFrame::Bundle { id, .. }
        | ServerFrame::Unchanged { id, .. }
        | ServerFrame::Subscribed { id, .. }
        | ServerFrame::Presence { id, .. }
        | ServerFrame::PresenceStats { id, .. } => Some(id.get()),
        ServerFrame::Error { id, .. } => id.map(mizan::protocol::RequestId::get),
        _ => None,
    }
}

/// The JSON of a result frame's `result`, failing the test on anything else.
pub fn result_json(frame: &ServerFrame) -> Value {
    match frame {
        ServerFrame::Result { result, .. } => serde_json::from_str(result.get()).unwrap(),
        other => panic!("expected a result, got {other:?}"),
    }
}

/// The code of an error frame, failing the test on anything else.
pub fn error_code(frame: &ServerFrame) -> &'static str {
    match frame {
        ServerFrame::Error { code, .. } => code.as_str(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Sends `total` messages (`{"text": "<i>"}`) to `topic` from `sender`
/// (which has joined it), in windows of 1000, and checks that `reader`
/// receives every one, in order. After each window the sender waits for
/// the reader, so no subscriber but a stuck one lags by more than a window.
pub async fn flood_in_order(sender: &mut Client, mut reader: Client, topic: &str, total: usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let received = Arc::new(AtomicUsize::new(0));
    let progress = Arc::clone(&received);
    let reading = tokio::spawn(async move {
        for i in 0..total {
            let ServerFrame::Message { data, .. } = reader.push().await else {
                panic!("not a message")
            };
            assert_eq!(
                data.get(),
                format!(r#"{{"text":"{i}","user":null}}"#),
                "in order, none lost"
            );
            progress.store(i + 1, Ordering::Release);
        }
    });
    for window in 0..total.div_ceil(1000) {
        let end = ((window + 1) * 1000).min(total);
        let mut ids = Vec::with_capacity(1000);
        for i in window * 1000..end {
            ids.push(
                sender
                    .request(json!({"type": "send", "topic": topic, "data": {"text": i.to_string()}}))
                    .await,
            );
        }
        for id in ids {
            let reply = sender.reply(id).await;
            assert!(matches!(reply, ServerFrame::Ok { .. }), "{reply:?}");
        }
        // The sender's own copies.
        while let Ok(frame) = tokio::time::timeout(Duration::from_millis(1), sender.push()).await {
            assert!(matches!(frame, ServerFrame::Message { .. }));
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        while received.load(Ordering::Acquire) < end {
            assert!(tokio::time::Instant::now() < deadline, "the reader fell behind");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    reading.await.unwrap();
}

/// Waits, on a task per client, for every client to be closed with `code`;
/// returns when each close arrived after `started`, sorted.
pub async fn close_times(clients: Vec<Client>, code: u16, started: std::time::Instant) -> Vec<Duration> {
    let waiting: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                assert_eq!(client.closed().await, code);
                started.elapsed()
            })
        })
        .collect();
    let mut times = Vec::with_capacity(waiting.len());
    for closed in waiting {
        times.push(closed.await.unwrap());
    }
    times.sort();
    times
}

/// `text` without its `,"offset":N` fields: for tests of what entries and
/// pushes say, not of their positions in the streams (tests/streams.rs).
pub fn without_offsets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(r#","offset":"#) {
        out.push_str(&rest[..at]);
        let after = &rest[at + r#","offset":"#.len()..];
        rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}
