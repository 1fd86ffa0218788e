//! Several nodes in one process, joined by the in-memory broker: the shape
//! every broker (Redis included) must give.

mod support;

use mizan::broker::{MemoryBroker, Subject};
use mizan::protocol::ServerFrame;
use serde_json::json;
use std::time::Duration;
use support::Server;

#[tokio::test]
async fn a_message_crosses_nodes_exactly_once_per_subscriber() {
    let bus = MemoryBroker::new();
    let a = Server::start(support::fixture::builder(support::SECRET).broker(bus.clone())).await;
    let b = Server::start(support::fixture::builder(support::SECRET).broker(bus.clone())).await;
    let c = Server::start(support::fixture::builder(support::SECRET).broker(bus.clone())).await;
    let mut on_a = a.client().await;
    let mut on_b = b.client().await;
    let mut on_b2 = b.client().await;
    let mut on_c_elsewhere = c.client().await;
    let topic = on_a.join("chat", json!({"room": "x"})).await;
    on_b.join("chat", json!({"room": "x"})).await;
    on_b2.join("chat", json!({"room": "x"})).await;
    on_c_elsewhere.join("chat", json!({"room": "y"})).await;

    let id = on_a
        .request(json!({"type": "send", "topic": topic, "data": {"text": "hop"}}))
        .await;
    assert!(matches!(on_a.reply(id).await, ServerFrame::Ok { .. }));
    for client in [&mut on_a, &mut on_b, &mut on_b2] {
        let ServerFrame::Message { data, .. } = client.push().await else {
            panic!()
        };
        assert_eq!(data.get(), r#"{"text":"hop","user":null}"#);
        client.assert_silent(Duration::from_millis(200)).await;
    }
    on_c_elsewhere.assert_silent(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_node_is_interested_in_a_topic_only_while_it_has_subscribers() {
    let bus = MemoryBroker::new();
    let a = Server::start(support::fixture::builder(support::SECRET).broker(bus.clone())).await;
    let b = Server::start(support::fixture::builder(support::SECRET).broker(bus.clone())).await;
    let subject = Subject::Topic("chat:chat_z".into());
    assert_eq!(bus.interested_nodes(&subject), 0);
    let mut on_a = a.client().await;
    let topic = on_a.join("chat", json!({"room": "z"})).await;
    assert_eq!(bus.interested_nodes(&subject), 1);
    {
        let mut on_b = b.client().await;
        on_b.join("chat", json!({"room": "z"})).await;
        let mut on_b2 = b.client().await;
        on_b2.join("chat", json!({"room": "z"})).await;
        assert_eq!(bus.interested_nodes(&subject), 2);
    }
    let deadline = std::time::Instant::now() + support::WAIT;
    while bus.interested_nodes(&subject) != 1 {
        assert!(std::time::Instant::now() < deadline, "node b kept its interest");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(b.app.local_topic_count(), 0);
    let id = on_a
        .request(json!({"type": "send", "topic": topic, "data": {"text": "still"}}))
        .await;
    assert!(matches!(on_a.reply(id).await, ServerFrame::Ok { .. }));
    assert!(matches!(on_a.push().await, ServerFrame::Message { .. }));
}
