//! Hostile sockets, round two: what one socket may store, node-wide
//! budgets, tokens that break the clock or the authenticator, `auth`
//! floods, sockets that stay over their rate, echoed input, and WebSocket
//! protocol violations.

mod support;

use mizan::protocol::ServerFrame;
use mizan::{AuthError, AuthFuture, Authenticator, Identity, ServerConfig};
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;
use support::{Client, Server, error_code, result_json, token, token_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn server(config: ServerConfig) -> Server {
    Server::start(support::fixture::builder(support::SECRET).config(config)).await
}

fn message_of(frame: &ServerFrame) -> &str {
    match frame {
        ServerFrame::Error { message, .. } => message,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn what_a_socket_stores_is_bounded() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    // A room name that would make a 60 KB topic.
    let long_room = "r".repeat(60_000);
    let refused = client.subscribe("chat", json!({"room": long_room})).await;
    assert_eq!(error_code(&refused), "invalid_args");
    assert!(message_of(&refused).len() < 300, "{}", message_of(&refused));
    // Params padded with fields the channel ignores.
    let padded = client
        .subscribe("chat", json!({"room": "a", "pad": "p".repeat(2_000)}))
        .await;
    assert_eq!(error_code(&padded), "invalid_args");
    let id = client
        .request(json!({"type": "watch", "context": "user", "params": {"user_id": 1, "pad": "p".repeat(2_000)}}))
        .await;
    assert_eq!(error_code(&client.reply(id).await), "invalid_args");
    assert_eq!(server.app.local_topic_count(), 0);
    assert_eq!(server.app.local_watch_count(), 0);
}

async fn watch(client: &mut Client, user: i64) -> ServerFrame {
    let id = client
        .request(json!({"type": "watch", "context": "user", "params": {"user_id": user}}))
        .await;
    client.reply(id).await
}

#[tokio::test]
async fn the_node_has_a_total_of_subscriptions_and_watches() {
    let server = server(support::config(|c| {
        c.max_subscriptions = 3;
        c.max_watches = 2;
    }))
    .await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.join("chat", json!({"room": "1"})).await;
    a.join("chat", json!({"room": "2"})).await;
    b.join("chat", json!({"room": "3"})).await;
    assert_eq!(error_code(&b.subscribe("chat", json!({"room": "4"})).await), "limit");
    assert_eq!(
        b.join("chat", json!({"room": "3"})).await,
        "chat:chat_3",
        "rejoining is no new subscription"
    );
    assert!(matches!(watch(&mut a, 1).await, ServerFrame::Bundle { .. }));
    assert!(matches!(watch(&mut b, 2).await, ServerFrame::Bundle { .. }));
    assert_eq!(error_code(&watch(&mut b, 3).await), "limit");
    // A socket that goes gives its share back.
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.join("chat", json!({"room": "4"})).await;
    assert!(matches!(watch(&mut b, 3).await, ServerFrame::Bundle { .. }));
}

#[tokio::test]
async fn a_token_past_the_clock_is_accepted_without_breaking_the_socket() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    client.join("chat", json!({"room": "lobby"})).await;
    for exp in [u64::MAX, (1u64 << 63) + 1] {
        let forever = token_with(json!({"sub": "ann", "exp": exp}), support::SECRET);
        let id = client.request(json!({"type": "auth", "token": forever})).await;
        assert!(matches!(client.reply(id).await, ServerFrame::Ok { .. }));
        assert_eq!(result_json(&client.call("whoami", json!({})).await)["id"], "ann");
    }
    drop(client);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!((server.app.local_topic_count(), server.app.connection_count()), (0, 0));
}

/// An authenticator that panics on any `auth` frame.
struct Panics;

impl Authenticator for Panics {
    fn authenticate_request<'a>(
        &'a self,
        _headers: &'a axum::http::HeaderMap,
    ) -> AuthFuture<'a, Result<Option<Identity>, AuthError>> {
        Box::pin(async { Ok(None) })
    }

    fn authenticate_token<'a>(&'a self, _token: &'a str) -> AuthFuture<'a, Result<Identity, AuthError>> {
        panic!("the authenticator broke")
    }
}

#[tokio::test]
async fn a_panicking_authenticator_fails_the_request_not_the_socket() {
    let server = Server::start(
        support::fixture::builder(support::SECRET)
            .authenticator(Panics)
            .config(support::config(|_| {})),
    )
    .await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut client = server.client().await;
        client.join("chat", json!({"room": "lobby"})).await;
        let id = client.request(json!({"type": "auth", "token": "x"})).await;
        assert_eq!(error_code(&client.reply(id).await), "internal");
        assert_eq!(
            result_json(&client.call("echo", json!({"text": "alive"})).await)["message"],
            "alive"
        );
        clients.push(client);
    }
    drop(clients);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((server.app.local_topic_count(), server.app.connection_count()), (0, 0));
}

#[tokio::test]
async fn auth_frames_have_a_rate_of_their_own() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        let id = client.request(json!({"type": "auth", "token": "not-a-token"})).await;
        codes.push(error_code(&client.reply(id).await));
    }
    assert_eq!(codes[..5], ["unauthenticated"; 5]);
    assert_eq!(codes[5..], ["limit"; 3]);
    // Other frames are not held back by it.
    assert_eq!(
        result_json(&client.call("echo", json!({"text": "x"})).await)["message"],
        "x"
    );
}

#[tokio::test]
async fn token_verifications_are_limited_per_address() {
    let server = server(support::config(|c| {
        c.token_verifications_per_address_per_second = 1.0;
        c.token_verification_burst_per_address = 10.0;
    }))
    .await;
    let from = |last: u8| -> IpAddr { [127, 0, 0, last].into() };
    let mut refused = 0;
    for _ in 0..10 {
        let mut client = Client::connect_from(&server.ws_url(), from(2), &[]).await.unwrap();
        for _ in 0..2 {
            let id = client.request(json!({"type": "auth", "token": "bad"})).await;
            if error_code(&client.reply(id).await) == "limit" {
                refused += 1;
            }
        }
    }
    assert!(refused >= 9, "only {refused} of 20 verifications refused");
    let mut other = Client::connect_from(&server.ws_url(), from(3), &[]).await.unwrap();
    let id = other
        .request(json!({"type": "auth", "token": token("ann", false)}))
        .await;
    assert!(matches!(other.reply(id).await, ServerFrame::Ok { .. }));
}

#[tokio::test]
async fn a_socket_that_stays_over_its_rate_is_closed() {
    let server = server(support::config(|c| {
        c.messages_per_second = 20.0;
        c.message_burst = 20.0;
        c.rate_limit_close_after = Duration::from_millis(800);
    }))
    .await;
    let mut flooder = server.client().await;
    let started = std::time::Instant::now();
    let frame = json!({"type": "call", "id": 1, "fn": "echo", "args": {"text": "x"}}).to_string();
    while started.elapsed() < Duration::from_secs(3) && flooder.try_send_text(frame.clone()).await {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(flooder.closed().await, 4029);
    // A polite socket is never closed.
    let mut polite = server.client().await;
    for _ in 0..10 {
        assert_eq!(
            result_json(&polite.call("echo", json!({"text": "y"})).await)["message"],
            "y"
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

#[tokio::test]
async fn error_messages_do_not_echo_what_was_sent() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let huge = "f".repeat(60_000);
    for reply in [
        client.call(&huge, json!({})).await,
        client.subscribe(&huge, json!({})).await,
        client.call("echo", json!({"text": 5, "x": huge})).await,
    ] {
        assert!(
            message_of(&reply).chars().count() <= 256,
            "{}",
            message_of(&reply).len()
        );
    }
    client.send_text(format!(r#"{{"type":"{huge}","id":1}}"#)).await;
    let reply = client.reply(1).await;
    assert!(message_of(&reply).chars().count() <= 256);
    // A float `exp`: the reason is short and says nothing of the parser.
    let float = token_with(json!({"sub": "a", "exp": 1e12 + 0.5}), support::SECRET);
    let id = client.request(json!({"type": "auth", "token": float})).await;
    let reply = client.reply(id).await;
    assert!(!message_of(&reply).contains("line"), "{}", message_of(&reply));
    // Empty subjects and subjects with control characters are refused.
    for sub in ["", "ann\u{7}", "a\nb"] {
        let t = token_with(json!({"sub": sub, "exp": support::now() + 60}), support::SECRET);
        let id = client.request(json!({"type": "auth", "token": t})).await;
        assert_eq!(error_code(&client.reply(id).await), "unauthenticated", "{sub:?}");
    }
}

/// A WebSocket client written by hand, to send what no library would.
async fn raw_socket(server: &Server) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /api/mizan/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    tcp
}

/// A client frame: `first` (FIN, RSV, opcode), masked unless told not to.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut out = vec![first, payload.len() as u8 | if masked { 0x80 } else { 0 }];
    if masked {
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// The close code of the server's close frame, skipping other frames.
async fn close_code(tcp: &mut tokio::net::TcpStream) -> u16 {
    let read = async {
        loop {
            let mut head = [0u8; 2];
            tcp.read_exact(&mut head).await.unwrap();
            let len = usize::from(head[1] & 0x7f);
            let len = match len {
                126 => usize::from(tcp.read_u16().await.unwrap()),
                127 => tcp.read_u64().await.unwrap() as usize,
                n => n,
            };
            let mut payload = vec![0u8; len];
            tcp.read_exact(&mut payload).await.unwrap();
            if head[0] & 0x0f == 0x8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    };
    tokio::time::timeout(support::WAIT, read)
        .await
        .expect("the server closes")
}

#[tokio::test]
async fn protocol_violations_close_with_the_rfc_6455_codes() {
    let server = Server::fixture().await;
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("text that is not UTF-8", frame(0x81, &[0xff, 0xfe], true), 1007),
        ("a reserved bit set", frame(0x81 | 0x40, b"{}", true), 1002),
        ("a reserved opcode", frame(0x83, b"{}", true), 1002),
        ("an unmasked client frame", frame(0x81, b"{}", false), 1002),
    ];
    for (what, bytes, code) in cases {
        let mut tcp = raw_socket(&server).await;
        tcp.write_all(&bytes).await.unwrap();
        assert_eq!(close_code(&mut tcp).await, code, "{what}");
    }
}
