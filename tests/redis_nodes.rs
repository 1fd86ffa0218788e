//! Several fixture nodes as separate processes, joined through a real
//! `redis-server` of each test's own: messages cross nodes exactly once,
//! mutations reach watchers on other nodes, subscriptions follow local
//! interest, and a Redis outage is survived (local delivery, readiness,
//! dropped events counted, reconnection, watchers and subscribers told of
//! what was lost). tests/redis_streams.rs covers positions and recovery.
//!
//! Needs `redis-server` on the PATH (scripts/test installs it) and the
//! fixture example built (`cargo test --all-targets` builds it).

mod support;

use mizan::protocol::ServerFrame;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::Client;
use support::processes::{Node, Redis};

/// How long a condition polled on Redis or a node may take to hold.
const SETTLE: Duration = Duration::from_secs(5);

/// Polls `condition` every 10 ms until it holds, failing after [`SETTLE`].
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The text of a `message` push, failing the test on anything else.
fn message_text(frame: &ServerFrame) -> String {
    match frame {
        ServerFrame::Message { data, .. } => {
            let data: Value = serde_json::from_str(data.get()).unwrap();
            data["text"].as_str().expect("a chat message has text").to_owned()
        }
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Sends a chat message and waits for its `ok`.
async fn say(client: &mut Client, topic: &str, text: &str) {
    let id = client
        .request(json!({"type": "send", "topic": topic, "data": {"text": text}}))
        .await;
    assert!(matches!(client.reply(id).await, ServerFrame::Ok { .. }));
}

/// Watches `context` with `params` and waits for the bundle.
async fn watch(client: &mut Client, context: &str, params: Value) {
    let id = client
        .request(json!({"type": "watch", "context": context, "params": params}))
        .await;
    let bundle = client.reply(id).await;
    assert!(matches!(bundle, ServerFrame::Bundle { .. }), "{bundle:?}");
}

/// Calls `function` and checks it succeeded.
async fn call(client: &mut Client, function: &str, args: Value) {
    let reply = client.call(function, args).await;
    assert!(matches!(reply, ServerFrame::Result { .. }), "{function}: {reply:?}");
}

/// The next push's bytes, without its offset (tests/redis_streams.rs
/// checks those).
async fn next_push(client: &mut Client) -> String {
    support::without_offsets(&client.push().await.encode())
}

#[tokio::test]
async fn a_chat_message_crosses_nodes_exactly_once_per_subscriber() {
    let redis = Redis::start();
    let (a, b, c) = (
        Node::with_redis(&redis, &[]),
        Node::with_redis(&redis, &[]),
        Node::with_redis(&redis, &[]),
    );
    let mut on_a = a.client().await;
    let mut on_b = b.client().await;
    let mut on_b2 = b.client().await;
    let mut on_c = c.client().await;
    let mut on_c_elsewhere = c.client().await;
    let topic = on_a.join("chat", json!({"room": "x"})).await;
    on_b.join("chat", json!({"room": "x"})).await;
    on_b2.join("chat", json!({"room": "x"})).await;
    on_c.join("chat", json!({"room": "x"})).await;
    on_c_elsewhere.join("chat", json!({"room": "y"})).await;
    eventually("the three nodes subscribed to the room", || {
        redis.numsub("mizan:t:chat:chat_x") == 3
    })
    .await;

    // A burst from one socket, not waiting for each `ok`: every subscriber
    // on every node gets each message once, in order.
    let burst: Vec<String> = (0..50).map(|i| format!("a{i}")).collect();
    let mut ids = Vec::new();
    for text in &burst {
        let frame = json!({"type": "send", "topic": topic, "data": {"text": text}});
        ids.push(on_a.request(frame).await);
    }
    for id in ids {
        assert!(matches!(on_a.reply(id).await, ServerFrame::Ok { .. }));
    }
    say(&mut on_b, &topic, "from b").await;
    for client in [&mut on_a, &mut on_b, &mut on_b2, &mut on_c] {
        let mut texts = Vec::new();
        for _ in 0..=burst.len() {
            texts.push(message_text(&client.push().await));
        }
        // b's message may overtake part of a's burst on other nodes; each
        // sender's own order holds.
        let from_a: Vec<&String> = texts.iter().filter(|t| t.starts_with('a')).collect();
        assert_eq!(from_a, burst.iter().collect::<Vec<_>>());
        assert_eq!(texts.iter().filter(|t| *t == "from b").count(), 1);
    }
    // No duplicates arrive late, and the other room hears nothing.
    for client in [&mut on_a, &mut on_b, &mut on_b2, &mut on_c, &mut on_c_elsewhere] {
        client.assert_silent(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_mutation_on_one_node_pushes_invalidate_and_merge_to_watchers_on_another() {
    let redis = Redis::start();
    let (a, b) = (Node::with_redis(&redis, &[]), Node::with_redis(&redis, &[]));
    let mut five = b.client().await;
    let mut six = b.client().await;
    let mut notes = b.client().await;
    watch(&mut five, "user", json!({"user_id": 5})).await;
    watch(&mut six, "user", json!({"user_id": 6})).await;
    watch(&mut notes, "notifications", json!({})).await;
    eventually("node b subscribed to both contexts", || {
        redis.numsub("mizan:c:user") == 1 && redis.numsub("mizan:c:notifications") == 1
    })
    .await;

    let mut caller = a.client().await;
    call(&mut caller, "update_profile", json!({"user_id": 5, "name": "Ann"})).await;
    assert_eq!(
        next_push(&mut five).await,
        r#"{"type":"invalidate","context":"user","params":{"user_id":5}}"#
    );
    call(&mut caller, "rename_user", json!({"user_id": 5, "name": "Bea"})).await;
    assert_eq!(
        next_push(&mut five).await,
        r#"{"type":"merge","context":"user","slot":"user_profile","params":{"user_id":5},"value":{"user_id":5,"name":"Bea"}}"#
    );
    call(&mut caller, "post_note", json!({"text": "hi"})).await;
    assert_eq!(
        next_push(&mut notes).await,
        r#"{"type":"invalidate","context":"notifications"}"#
    );
    call(&mut caller, "clear_all", json!({})).await;
    for watcher in [&mut five, &mut six] {
        assert_eq!(next_push(watcher).await, r#"{"type":"invalidate","context":"user"}"#);
    }
    for watcher in [&mut five, &mut six, &mut notes] {
        watcher.assert_silent(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_node_subscribes_to_a_channel_only_while_a_local_socket_is_interested() {
    let redis = Redis::start();
    let (a, b) = (Node::with_redis(&redis, &[]), Node::with_redis(&redis, &[]));
    let other_app = Node::with_redis(&redis, &["--redis-prefix", "other"]);
    let room = "mizan:t:chat:chat_z";
    assert_eq!(redis.channels("*"), ["mizan:ctl", "other:ctl"]);

    let mut a1 = a.client().await;
    let topic = a1.join("chat", json!({"room": "z"})).await;
    eventually("the room's channel appears", || redis.channels("mizan:t:*") == [room]).await;
    assert_eq!(redis.numsub(room), 1);

    let mut a2 = a.client().await;
    a2.join("chat", json!({"room": "z"})).await;
    let mut b1 = b.client().await;
    b1.join("chat", json!({"room": "z"})).await;
    let mut elsewhere = other_app.client().await;
    elsewhere.join("chat", json!({"room": "z"})).await;
    eventually("both nodes subscribed", || redis.numsub(room) == 2).await;
    eventually("the other app uses its own prefix", || {
        redis.numsub("other:t:chat:chat_z") == 1
    })
    .await;

    // b's last local subscriber leaves: b unsubscribes; a keeps one.
    let id = b1.request(json!({"type": "unsubscribe", "topic": topic})).await;
    assert!(matches!(b1.reply(id).await, ServerFrame::Ok { .. }));
    eventually("node b unsubscribed", || redis.numsub(room) == 1).await;
    drop(a1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(redis.numsub(room), 1, "a still has a local subscriber");
    say(&mut a2, &topic, "same app only").await;
    assert_eq!(message_text(&a2.push().await), "same app only");
    elsewhere.assert_silent(Duration::from_millis(200)).await;
    drop(a2);
    eventually("the room's channel disappears", || {
        redis.channels("mizan:t:*").is_empty()
    })
    .await;

    // Contexts follow watchers the same way.
    watch(&mut b1, "user", json!({"user_id": 5})).await;
    eventually("the context's channel appears", || {
        redis.channels("mizan:c:*") == ["mizan:c:user"]
    })
    .await;
    let id = b1
        .request(json!({"type": "unwatch", "context": "user", "params": {"user_id": 5}}))
        .await;
    assert!(matches!(b1.reply(id).await, ServerFrame::Ok { .. }));
    eventually("the context's channel disappears", || {
        redis.channels("mizan:c:*").is_empty()
    })
    .await;

    assert_eq!(redis.numpat(), 0, "no pattern subscriptions");
    drop(elsewhere);
    eventually("only the control channels are left", || {
        redis.channels("*") == ["mizan:ctl", "other:ctl"]
    })
    .await;
}

#[tokio::test]
async fn a_redis_outage_keeps_local_delivery_and_recovery_resyncs_watchers() {
    let mut redis = Redis::start();
    // A small publish buffer, so the outage overflows it.
    let buffer = 16;
    let args = ["--redis-publish-buffer", "16"];
    let (a, b) = (Node::with_redis(&redis, &args), Node::with_redis(&redis, &args));
    let (mut a1, mut a2) = (a.client().await, a.client().await);
    let (mut b1, mut b2) = (b.client().await, b.client().await);
    let topic = a1.join("chat", json!({"room": "r"})).await;
    a2.join("chat", json!({"room": "r"})).await;
    b1.join("chat", json!({"room": "r"})).await;
    b2.join("chat", json!({"room": "r"})).await;
    let (mut watcher_a, mut watcher_b) = (a.client().await, b.client().await);
    watch(&mut watcher_a, "user", json!({"user_id": 5})).await;
    watch(&mut watcher_b, "notifications", json!({})).await;
    eventually("both nodes subscribed", || {
        redis.numsub("mizan:t:chat:chat_r") == 2
            && redis.numsub("mizan:c:user") == 1
            && redis.numsub("mizan:c:notifications") == 1
    })
    .await;
    say(&mut a1, &topic, "before").await;
    for client in [&mut a1, &mut a2, &mut b1, &mut b2] {
        assert_eq!(message_text(&client.push().await), "before");
    }
    assert_eq!((a.readyz().await, b.readyz().await), (200, 200));

    redis.kill();
    let deadline = Instant::now() + SETTLE;
    while (a.readyz().await, b.readyz().await) != (503, 503) {
        assert!(Instant::now() < deadline, "/readyz did not turn 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Local delivery goes on on each node, and publishing does not block.
    let sent = 40;
    for i in 0..sent {
        say(&mut a1, &topic, &format!("outage {i}")).await;
    }
    for client in [&mut a1, &mut a2] {
        for i in 0..sent {
            assert_eq!(message_text(&client.push().await), format!("outage {i}"));
        }
    }
    say(&mut b1, &topic, "local on b").await;
    for client in [&mut b1, &mut b2] {
        assert_eq!(message_text(&client.push().await), "local on b");
    }
    let mut caller_a = a.client().await;
    call(&mut caller_a, "update_profile", json!({"user_id": 5, "name": "Cy"})).await;
    assert_eq!(
        next_push(&mut watcher_a).await,
        r#"{"type":"invalidate","context":"user","params":{"user_id":5}}"#
    );
    // Past the buffer, a's events for other nodes were dropped and counted.
    let stats = a.broker_stats().await;
    assert!(
        stats["dropped"].as_u64().unwrap() > sent - buffer,
        "dropped events are counted: {stats}"
    );
    assert_eq!(stats["connected"], false);

    // Redis comes back on the same port, empty: cross-node delivery
    // resumes within 5 s, without anyone reconnecting a socket.
    redis.restart();
    let restarted = Instant::now();
    let mut probe = 0;
    let mut gaps = 0;
    'probing: loop {
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "cross-node delivery did not resume within 5 s"
        );
        probe += 1;
        let text = format!("probe {probe}");
        say(&mut a1, &topic, &text).await;
        let wait = Instant::now() + Duration::from_millis(250);
        // Messages a buffered during the outage may arrive first; so does
        // the news that the topic's stream was lost with Redis's data.
        while let Ok(frame) = tokio::time::timeout_at(wait.into(), b1.push()).await {
            match frame {
                ServerFrame::Gap { .. } => gaps += 1,
                frame if message_text(&frame) == text => break 'probing,
                _ => {}
            }
        }
    }
    assert_eq!(gaps, 1, "b1 is told once that messages may be missing");
    // Every watcher, on both nodes, is told to refetch what it may have
    // missed: a broad invalidate of the context it watches (the streams'
    // entries vanished with Redis's data).
    assert_eq!(
        next_push(&mut watcher_b).await,
        r#"{"type":"invalidate","context":"notifications"}"#
    );
    assert_eq!(
        next_push(&mut watcher_a).await,
        r#"{"type":"invalidate","context":"user"}"#
    );
    assert_eq!((a.readyz().await, b.readyz().await), (200, 200));
    for node in [&a, &b] {
        let stats = node.broker_stats().await;
        assert!(stats["reconnects"].as_u64().unwrap() >= 1, "{stats}");
        assert_eq!(stats["connected"], true, "{stats}");
    }
}

#[tokio::test]
async fn entries_published_while_redis_holds_writes_wait_and_none_is_lost() {
    let redis = Redis::start();
    let (a, b) = (Node::with_redis(&redis, &[]), Node::with_redis(&redis, &[]));
    let mut five = b.client().await;
    let mut six = b.client().await;
    watch(&mut five, "user", json!({"user_id": 5})).await;
    watch(&mut six, "user", json!({"user_id": 6})).await;
    eventually("node b subscribed to the context", || redis.numsub("mizan:c:user") == 1).await;

    // Redis holds every write for a second (connections stay up): node
    // a's entries wait for their offsets instead of being dropped.
    assert_eq!(
        redis.command(&["CLIENT", "PAUSE", "1000", "WRITE"]),
        support::processes::Resp::Simple("OK".into())
    );
    // Merges, which are never coalesced: each one counts.
    let mut caller = a.client().await;
    for i in 0..20 {
        call(
            &mut caller,
            "rename_user",
            json!({"user_id": 5, "name": format!("n{i}")}),
        )
        .await;
    }
    let mut offsets = Vec::new();
    for _ in 0..20 {
        match five.push().await {
            ServerFrame::Merge(entry) => offsets.push(entry.offset.expect("an entry of the stream")),
            other => panic!("expected a merge, got {other:?}"),
        }
    }
    assert_eq!(offsets, (1..=20).collect::<Vec<u64>>(), "every entry, once, in order");
    six.assert_silent(Duration::from_millis(300)).await;
    let stats = a.broker_stats().await;
    assert_eq!(
        (stats["dropped"].clone(), stats["reconnects"].clone()),
        (json!(0), json!(0)),
        "{stats}"
    );
}
