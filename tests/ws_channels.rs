//! Channels over the WebSocket: subscribe, send, unsubscribe, ordering,
//! authorization, and cleanup.

mod support;

use mizan::protocol::ServerFrame;
use mizan::{Channel, Cx, Error};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use support::{Client, Server, error_code, token};

fn message_json(frame: &ServerFrame) -> (String, Value) {
    match frame {
        ServerFrame::Message { topic, data, .. } => (topic.clone(), serde_json::from_str(data.get()).unwrap()),
        other => panic!("expected a message push, got {other:?}"),
    }
}

async fn send(client: &mut Client, topic: &str, data: Value) -> ServerFrame {
    let id = client
        .request(json!({"type": "send", "topic": topic, "data": data}))
        .await;
    client.reply(id).await
}

#[tokio::test]
async fn subscribe_send_and_unsubscribe() {
    let server = Server::fixture().await;
    let mut alice = server.client_with_token(&token("alice", false)).await;
    let mut bob = server.client().await;
    let topic = alice.join("chat", json!({"room": "lobby"})).await;
    assert_eq!(topic, "chat:chat_lobby");
    assert_eq!(bob.join("chat", json!({"room": "lobby"})).await, topic);

    assert!(matches!(
        send(&mut alice, &topic, json!({"text": "hi"})).await,
        ServerFrame::Ok { .. }
    ));
    for client in [&mut alice, &mut bob] {
        assert_eq!(
            message_json(&client.push().await),
            (topic.clone(), json!({"text": "hi", "user": "alice"}))
        );
    }

    let id = bob.request(json!({"type": "unsubscribe", "topic": topic})).await;
    assert!(matches!(bob.reply(id).await, ServerFrame::Ok { .. }));
    send(&mut alice, &topic, json!({"text": "after"})).await;
    assert_eq!(message_json(&alice.push().await).1["text"], "after");
    bob.assert_silent(Duration::from_millis(200)).await;

    assert_eq!(
        error_code(&send(&mut bob, &topic, json!({"text": "x"})).await),
        "not_subscribed"
    );
    let id = bob.request(json!({"type": "unsubscribe", "topic": topic})).await;
    assert_eq!(error_code(&bob.reply(id).await), "not_subscribed");
    assert!(matches!(
        bob.call("echo", json!({"text": "open"})).await,
        ServerFrame::Result { .. }
    ));
}

#[tokio::test]
async fn rooms_are_separate_topics() {
    let server = Server::fixture().await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    let lobby = a.join("chat", json!({"room": "lobby"})).await;
    b.join("chat", json!({"room": "garden"})).await;
    send(&mut a, &lobby, json!({"text": "only lobby"})).await;
    assert_eq!(
        message_json(&a.push().await).1,
        json!({"text": "only lobby", "user": null})
    );
    b.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn staff_rooms_need_staff() {
    let server = Server::fixture().await;
    let mut anonymous = server.client().await;
    assert_eq!(
        error_code(&anonymous.subscribe("chat", json!({"room": "staff-ops"})).await),
        "forbidden"
    );
    let mut alice = server.client_with_token(&token("alice", false)).await;
    assert_eq!(
        error_code(&alice.subscribe("chat", json!({"room": "staff-ops"})).await),
        "forbidden"
    );
    let mut sam = server.client_with_token(&token("sam", true)).await;
    assert_eq!(
        sam.join("chat", json!({"room": "staff-ops"})).await,
        "chat:chat_staff-ops"
    );
    // `authorize` runs on every subscribe: a refused one leaves no membership.
    assert_eq!(
        error_code(&send(&mut alice, "chat:chat_staff-ops", json!({"text": "x"})).await),
        "not_subscribed"
    );
}

#[tokio::test]
async fn bad_params_and_messages_are_invalid_args() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    assert_eq!(
        error_code(&client.subscribe("chat", json!({"room": 5})).await),
        "invalid_args"
    );
    let topic = client.join("chat", json!({"room": "lobby"})).await;
    assert_eq!(
        error_code(&send(&mut client, &topic, json!({"txt": "typo"})).await),
        "invalid_args"
    );
}

#[tokio::test]
async fn two_hundred_messages_reach_three_subscribers_in_order() {
    let server = Server::fixture().await;
    let mut subscribers = Vec::new();
    for _ in 0..3 {
        let mut c = server.client().await;
        c.join("chat", json!({"room": "order"})).await;
        subscribers.push(c);
    }
    let mut sender = server.client().await;
    let topic = sender.join("chat", json!({"room": "order"})).await;
    // Fire all sends without waiting for their `ok`s.
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(
            sender
                .request(json!({"type": "send", "topic": topic, "data": {"text": i.to_string()}}))
                .await,
        );
    }
    for id in ids {
        assert!(matches!(sender.reply(id).await, ServerFrame::Ok { .. }));
    }
    for client in subscribers.iter_mut().chain([&mut sender]) {
        for i in 0..200 {
            assert_eq!(message_json(&client.push().await).1["text"], i.to_string());
        }
    }
}

#[tokio::test]
async fn subscribing_twice_to_one_topic_delivers_once() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let topic = client.join("chat", json!({"room": "twice"})).await;
    assert_eq!(client.join("chat", json!({"room": "twice"})).await, topic);
    send(&mut client, &topic, json!({"text": "once"})).await;
    assert_eq!(message_json(&client.push().await).1["text"], "once");
    client.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn disconnecting_releases_every_topic() {
    let server = Server::fixture().await;
    {
        let mut a = server.client().await;
        a.join("chat", json!({"room": "one"})).await;
        a.join("chat", json!({"room": "two"})).await;
        let mut b = server.client().await;
        b.join("chat", json!({"room": "two"})).await;
        assert_eq!(server.app.local_topic_count(), 2);
    }
    let deadline = std::time::Instant::now() + support::WAIT;
    while server.app.local_topic_count() != 0 {
        assert!(std::time::Instant::now() < deadline, "topics were not released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A channel whose `receive` takes a while, to fill the send queue.
struct Slow;

#[derive(Deserialize, JsonSchema)]
struct NoParams {}

#[derive(Deserialize, Serialize, JsonSchema)]
struct Text {
    text: String,
}

impl Channel for Slow {
    const NAME: &'static str = "slow";
    type Params = NoParams;
    type ClientMessage = Text;
    type ServerMessage = Text;

    fn group(&self, _: &NoParams) -> String {
        "all".into()
    }

    async fn receive(&self, _cx: &Cx, _: &NoParams, message: Text) -> Result<Option<Text>, Error> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if message.text == "panic" {
            panic!("receive panicked");
        }
        Ok(Some(message))
    }
}

#[tokio::test]
async fn too_many_pending_sends_answer_limit_and_a_panicking_receive_answers_internal() {
    let config = support::config(|c| {
        c.pending_sends_per_topic = 2;
    });
    let server = Server::start(support::fixture::builder(support::SECRET).channel(Slow).config(config)).await;
    let mut client = server.client().await;
    let topic = client.join("slow", json!({})).await;
    let mut ids = vec![
        client
            .request(json!({"type": "send", "topic": topic, "data": {"text": "a"}}))
            .await,
    ];
    // Let "a" start (its receive takes 300 ms), so the queue holds only what follows.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for text in ["b", "c", "d"] {
        ids.push(
            client
                .request(json!({"type": "send", "topic": topic, "data": {"text": text}}))
                .await,
        );
    }
    let mut codes = Vec::new();
    for id in ids {
        codes.push(match client.reply(id).await {
            ServerFrame::Ok { .. } => "ok",
            other => error_code(&other),
        });
    }
    // "a" runs, "b" and "c" wait, "d" finds the queue full.
    assert_eq!(codes, ["ok", "ok", "ok", "limit"]);
    assert_eq!(
        error_code(&send(&mut client, &topic, json!({"text": "panic"})).await),
        "internal"
    );
    assert!(matches!(
        send(&mut client, &topic, json!({"text": "after"})).await,
        ServerFrame::Ok { .. }
    ));
}
