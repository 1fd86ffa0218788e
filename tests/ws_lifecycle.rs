//! The socket itself: upgrade, hello, subprotocol, close codes.

mod support;

use mizan::protocol::ServerFrame;
use serde_json::json;
use support::{Client, Server, token};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn hello_names_the_node_and_the_user() {
    let server = Server::fixture().await;
    let anonymous = server.client().await;
    let ServerFrame::Hello {
        protocol,
        node,
        session,
        user,
    } = &anonymous.hello
    else {
        unreachable!()
    };
    assert_eq!(*protocol, 1);
    assert_eq!(node, server.app.node_id());
    assert!(!session.is_empty());
    assert_eq!(*user, None);

    let alice = server.client_with_token(&token("alice", true)).await;
    let ServerFrame::Hello {
        user, session: other, ..
    } = &alice.hello
    else {
        unreachable!()
    };
    let user = user.as_ref().unwrap();
    assert_eq!((user.id.as_str(), user.staff), ("alice", true));
    assert_ne!(session, other, "each socket has its own session");
}

#[tokio::test]
async fn the_subprotocol_is_selected_when_asked_for() {
    let server = Server::fixture().await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "mizan.v1".parse().unwrap());
    let (_ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "mizan.v1");

    let (_ws, response) = tokio_tungstenite::connect_async(server.ws_url()).await.unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
}

#[tokio::test]
async fn a_bad_token_on_upgrade_is_refused_with_401() {
    let server = Server::fixture().await;
    let expired = support::token_with(json!({"sub": "a", "exp": support::now() - 10}), support::SECRET);
    let foreign = support::token_with(json!({"sub": "a", "exp": support::now() + 60}), "other-secret");
    for bad in [expired.as_str(), foreign.as_str(), "garbage"] {
        let mut request = server.ws_url().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {bad}").parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("expected 401, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_binary_frame_closes_with_1003() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    client.send_message(Message::binary(vec![1, 2, 3])).await;
    assert_eq!(client.closed().await, 1003);
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let big = "x".repeat(64 * 1024 + 1);
    client
        .send_json(json!({"type": "call", "id": 1, "fn": "echo", "args": {"text": big}}))
        .await;
    assert_eq!(client.closed().await, 1009);
}

#[tokio::test]
async fn frames_up_to_the_limit_are_served() {
    let config = support::config(|c| {
        c.max_frame_bytes = 1024;
    });
    let server = Server::start(support::fixture::builder(support::SECRET).config(config)).await;
    let mut client = Client::connect(&server.ws_url(), None).await;
    let frame = json!({"type": "call", "id": 2, "fn": "echo", "args": {"text": ""}}).to_string();
    let text = "y".repeat(1024 - frame.len());
    client
        .send_json(json!({"type": "call", "id": 2, "fn": "echo", "args": {"text": text}}))
        .await;
    assert!(matches!(client.reply(2).await, ServerFrame::Result { .. }));
    client
        .send_json(json!({"type": "call", "id": 3, "fn": "echo", "args": {"text": format!("{text}z")}}))
        .await;
    assert_eq!(client.closed().await, 1009);
}
