//! Helpers for the stream tests (PROTOCOL.md section 9), on one node
//! (tests/streams.rs) and through Redis (tests/redis_streams.rs).

use super::Client;
use mizan::protocol::{Position, ServerFrame};
use serde_json::{Value, json};
use std::time::Duration;

/// Subscribes to the fixture's chat `room` with `extra` fields (`since`,
/// `history`); the reply's position and `recovered`.
pub async fn subscribe(client: &mut Client, room: &str, extra: Value) -> (String, Position, Option<bool>) {
    let mut frame = json!({"type": "subscribe", "channel": "chat", "params": {"room": room}});
    frame
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let id = client.request(frame).await;
    match client.reply(id).await {
        ServerFrame::Subscribed {
            topic,
            position: Some(position),
            recovered,
            ..
        } => (topic, position, recovered),
        other => panic!("expected `subscribed` with a position, got {other:?}"),
    }
}

pub async fn say(client: &mut Client, topic: &str, text: &str) {
    let id = client
        .request(json!({"type": "send", "topic": topic, "data": {"text": text}}))
        .await;
    assert!(matches!(client.reply(id).await, ServerFrame::Ok { .. }));
}

/// Sends `count` messages `<prefix><i>` from `client` in a task of its own.
pub fn send_many(mut client: Client, topic: &str, prefix: &str, count: usize) -> tokio::task::JoinHandle<()> {
    let (topic, prefix) = (topic.to_owned(), prefix.to_owned());
    tokio::spawn(async move {
        for i in 0..count {
            say(&mut client, &topic, &format!("{prefix}{i}")).await;
        }
    })
}

/// Twenty messages sent to the chat room `many` from a socket on each of
/// `nodes` (`"<node index>-<i>"`), read by a socket on the first that
/// joined before any was sent: the offsets in the order they arrived, and
/// how many came from each node. The reader is silent afterwards.
pub async fn from_every_node(nodes: &[super::processes::Node]) -> (Vec<u64>, Vec<usize>) {
    const EACH: usize = 20;
    let mut reader = nodes[0].client().await;
    let (topic, start, _) = subscribe(&mut reader, "many", json!({})).await;
    assert_eq!(start.offset, 0);
    let mut senders = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let mut sender = node.client().await;
        subscribe(&mut sender, "many", json!({})).await;
        senders.push(send_many(sender, &topic, &format!("{n}-"), EACH));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let mut offsets = Vec::new();
    let mut from = vec![0; nodes.len()];
    for _ in 0..EACH * nodes.len() {
        let (offset, text) = next_message(&mut reader).await;
        offsets.push(offset);
        let node: usize = text
            .split('-')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("`<node>-<i>`");
        from[node] += 1;
    }
    reader.assert_silent(Duration::from_millis(200)).await;
    (offsets, from)
}

/// The next message push: its offset and text.
pub async fn next_message(client: &mut Client) -> (u64, String) {
    match client.push().await {
        ServerFrame::Message {
            data,
            offset: Some(offset),
            ..
        } => {
            let data: Value = serde_json::from_str(data.get()).unwrap();
            (offset, data["text"].as_str().unwrap().to_owned())
        }
        other => panic!("expected a message with an offset, got {other:?}"),
    }
}

/// Joins the [`Ticker`] from `writer` and sends `"old"`; returns the topic
/// and a `subscribe` that recovers from just before that message.
pub async fn ticker_with_old(writer: &mut Client) -> (String, Value) {
    let mut recover = json!({"type": "subscribe", "channel": "ticker", "params": {}});
    let id = writer.request(recover.clone()).await;
    let ServerFrame::Subscribed {
        topic,
        position: Some(start),
        ..
    } = writer.reply(id).await
    else {
        panic!("subscribed with a position")
    };
    say(writer, &topic, "old").await;
    recover["since"] = json!({"epoch": start.epoch, "offset": start.offset});
    (topic, recover)
}

/// Subscribes `client` with `recover` (from [`ticker_with_old`]): either
/// recovered, with `"old"` replayed, or not, with nothing replayed.
pub async fn recover_old(client: &mut Client, recover: &Value, recovered: bool) {
    let id = client.request(recover.clone()).await;
    match client.reply(id).await {
        ServerFrame::Subscribed { recovered: r, .. } => assert_eq!(r, Some(recovered)),
        other => panic!("expected subscribed, got {other:?}"),
    }
    if recovered {
        assert_eq!(next_message(client).await.1, "old");
    } else {
        client.assert_silent(Duration::from_millis(100)).await;
    }
}

/// A channel keeping 10 messages for 300 ms, for the TTL.
pub struct Ticker;

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct NoParams {}

#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
pub struct Tick {
    pub text: String,
}

impl mizan::Channel for Ticker {
    const NAME: &'static str = "ticker";
    type Params = NoParams;
    type ClientMessage = Tick;
    type ServerMessage = Tick;
    const HISTORY: mizan::History = mizan::History::keep(10, Duration::from_millis(300));

    fn group(&self, _params: &NoParams) -> String {
        "all".to_owned()
    }

    async fn receive(&self, _cx: &mizan::Cx, _params: &NoParams, tick: Tick) -> Result<Option<Tick>, mizan::Error> {
        Ok(Some(tick))
    }
}
