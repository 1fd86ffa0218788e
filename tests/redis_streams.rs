//! Streams through Redis (PROTOCOL.md section 9), with fixture nodes as
//! separate processes and a real `redis-server` of each test's own:
//! consecutive offsets whoever publishes, recovery and history on another
//! node, a new epoch when Redis's data vanished, Redis killed in the middle
//! of a recovery, `unchanged` across nodes, and the catch-up after a node
//! missed events, which pushes only what matches.
//!
//! Needs `redis-server` on the PATH and the fixture example built (see
//! tests/redis_nodes.rs).

mod support;

use mizan::protocol::{Position, ServerFrame};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::Client;
use support::processes::{Node, Redis, cut_subscriber};
use support::streams::{Ticker, from_every_node, next_message, recover_old, say, subscribe, ticker_with_old};

/// Watches `user_id`'s `user` context (with `since`, when given); the reply.
async fn watch_user(client: &mut Client, user_id: u64, since: Option<&Position>) -> ServerFrame {
    let mut frame = json!({"type": "watch", "context": "user", "params": {"user_id": user_id}});
    if let Some(since) = since {
        frame["since"] = json!({"epoch": since.epoch, "offset": since.offset});
    }
    let id = client.request(frame).await;
    client.reply(id).await
}

/// The position of a `bundle` reply.
fn bundle_position(frame: &ServerFrame) -> Position {
    match frame {
        ServerFrame::Bundle {
            position: Some(position),
            ..
        } => position.clone(),
        other => panic!("expected a bundle with a position, got {other:?}"),
    }
}

async fn update_profile(client: &mut Client, user_id: u64) {
    let reply = client
        .call("update_profile", json!({"user_id": user_id, "name": "x"}))
        .await;
    assert!(matches!(reply, ServerFrame::Result { .. }), "{reply:?}");
}

/// How many times `user_profile` ran on the node `client` is connected to.
async fn profiles_computed(client: &mut Client) -> u64 {
    match client.call("fixture_stats", json!({})).await {
        ServerFrame::Result { result, .. } => {
            let stats: Value = serde_json::from_str(result.get()).unwrap();
            stats["computed"]["user_profile"].as_u64().unwrap_or(0)
        }
        other => panic!("fixture_stats failed: {other:?}"),
    }
}

#[tokio::test]
async fn offsets_are_consecutive_whichever_node_publishes() {
    let redis = Redis::start();
    let nodes = [
        Node::with_redis(&redis, &[]),
        Node::with_redis(&redis, &[]),
        Node::with_redis(&redis, &[]),
    ];
    let (offsets, from) = from_every_node(&nodes).await;
    assert_eq!(
        offsets,
        (1..=60).collect::<Vec<_>>(),
        "consecutive, in order, none twice"
    );
    assert_eq!(from, [20, 20, 20], "every node's messages arrived");
}

#[tokio::test]
async fn a_socket_recovers_on_another_node_what_it_missed() {
    let redis = Redis::start();
    let (a, b, c) = (
        Node::with_redis(&redis, &[]),
        Node::with_redis(&redis, &[]),
        Node::with_redis(&redis, &[]),
    );
    let mut writer = b.client().await;
    let (topic, _, _) = subscribe(&mut writer, "lobby", json!({})).await;
    let mut reader = a.client().await;
    subscribe(&mut reader, "lobby", json!({})).await;
    for i in 1..=3 {
        say(&mut writer, &topic, &format!("m{i}")).await;
    }
    for i in 1..=3 {
        assert_eq!(next_message(&mut reader).await, (i, format!("m{i}")));
    }
    let (_, seen, _) = subscribe(&mut reader, "lobby", json!({})).await;
    drop(reader);
    for i in 4..=8 {
        say(&mut writer, &topic, &format!("m{i}")).await;
    }
    // Back on node c, which never heard the topic: the missed messages,
    // then live ones, none twice.
    let mut back = c.client().await;
    let since = json!({"since": {"epoch": seen.epoch, "offset": seen.offset}});
    let (_, position, recovered) = subscribe(&mut back, "lobby", since).await;
    assert_eq!((position.offset, recovered), (8, Some(true)));
    for i in 4..=8 {
        assert_eq!(next_message(&mut back).await, (i, format!("m{i}")));
    }
    say(&mut writer, &topic, "m9").await;
    assert_eq!(next_message(&mut back).await, (9, "m9".to_owned()));
    back.assert_silent(Duration::from_millis(200)).await;

    // `history: 3` on a node that holds no mirror of the topic yet.
    let d = Node::with_redis(&redis, &[]);
    let mut late = d.client().await;
    let (_, position, recovered) = subscribe(&mut late, "lobby", json!({"history": 3})).await;
    assert_eq!((position.offset, recovered), (9, None));
    for i in 7..=9 {
        assert_eq!(next_message(&mut late).await, (i, format!("m{i}")));
    }
}

#[tokio::test]
async fn a_flushed_redis_starts_a_new_epoch_and_subscribers_are_told() {
    let redis = Redis::start();
    let (a, b) = (Node::with_redis(&redis, &[]), Node::with_redis(&redis, &[]));
    let mut writer = a.client().await;
    let (topic, _, _) = subscribe(&mut writer, "flush", json!({})).await;
    let mut reader = b.client().await;
    let (_, before, _) = subscribe(&mut reader, "flush", json!({})).await;
    say(&mut writer, &topic, "old").await;
    assert_eq!(next_message(&mut reader).await, (1, "old".to_owned()));

    redis.command(&["FLUSHALL"]);
    say(&mut writer, &topic, "new").await;
    // The stream's data vanished: the reader is told before the next
    // message, which starts the new epoch.
    let gap = match reader.push().await {
        ServerFrame::Gap { position, .. } => position,
        other => panic!("expected a gap, got {other:?}"),
    };
    assert_ne!(gap.epoch, before.epoch);
    assert_eq!(next_message(&mut reader).await, (1, "new".to_owned()));
    // Recovering from the old epoch is refused: what it shows is incomplete.
    let mut back = b.client().await;
    let since = json!({"since": {"epoch": before.epoch, "offset": 1}});
    let (_, position, recovered) = subscribe(&mut back, "flush", since).await;
    assert_eq!(
        (position.epoch, position.offset, recovered),
        (gap.epoch, 1, Some(false))
    );
    back.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn redis_killed_in_the_middle_of_a_recovery_leaves_no_silent_gap() {
    let mut redis = Redis::start();
    let (a, b) = (Node::with_redis(&redis, &[]), Node::with_redis(&redis, &[]));
    let mut writer = a.client().await;
    let (topic, _, _) = subscribe(&mut writer, "outage", json!({})).await;
    say(&mut writer, &topic, "m1").await;
    let (_, seen, _) = subscribe(&mut writer, "outage", json!({})).await;
    say(&mut writer, &topic, "m2").await;

    redis.kill();
    // Node b never heard the topic and cannot read it now: the reply comes
    // within the store's timeouts, without a position, not recovered.
    let mut back = b.client().await;
    let started = Instant::now();
    let since = json!({"type": "subscribe", "channel": "chat", "params": {"room": "outage"},
                       "since": {"epoch": seen.epoch, "offset": seen.offset}});
    let id = back.request(since).await;
    match back.reply(id).await {
        ServerFrame::Subscribed {
            position: None,
            recovered: Some(false),
            ..
        } => {}
        other => panic!("expected an unrecovered subscribe, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());

    // Redis comes back empty: once node b reads the stream, the socket
    // hears that messages may be missing, then the live ones.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let gap = loop {
        assert!(Instant::now() < deadline, "no gap reached the recovering socket");
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(500), back.push()).await {
            match frame {
                ServerFrame::Gap { position, .. } => break position,
                other => panic!("expected a gap first, got {other:?}"),
            }
        }
    };
    assert_ne!(gap.epoch, seen.epoch);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "live messages did not resume");
        say(&mut writer, &topic, "after").await;
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), back.push()).await {
            match frame {
                ServerFrame::Message { offset: Some(_), .. } => break,
                // Sent before node a's publishing connection came back:
                // out of the stream, as docs/scaling.md says.
                ServerFrame::Message { offset: None, .. } => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_re_watch_on_another_node_computes_only_what_changed() {
    let redis = Redis::start();
    let (a, b) = (Node::with_redis(&redis, &[]), Node::with_redis(&redis, &[]));
    let mut first = a.client().await;
    let five = bundle_position(&watch_user(&mut first, 5, None).await);
    let six = bundle_position(&watch_user(&mut first, 6, None).await);
    drop(first);
    let mut caller = a.client().await;
    update_profile(&mut caller, 6).await;

    let mut back = b.client().await;
    let before = profiles_computed(&mut back).await;
    match watch_user(&mut back, 5, Some(&five)).await {
        ServerFrame::Unchanged { position, .. } => {
            assert_eq!((position.epoch, position.offset), (five.epoch.clone(), five.offset + 1));
        }
        other => panic!("user 5 did not change: expected unchanged, got {other:?}"),
    }
    let changed = watch_user(&mut back, 6, Some(&six)).await;
    assert_eq!(bundle_position(&changed).offset, six.offset + 1);
    assert_eq!(
        profiles_computed(&mut back).await - before,
        1,
        "only user 6's bundle was computed"
    );
    // Both are live on node b now.
    update_profile(&mut caller, 5).await;
    match back.push().await {
        ServerFrame::Invalidate(entry) => assert_eq!(entry.offset, Some(five.offset + 2)),
        other => panic!("expected an invalidate, got {other:?}"),
    }
}

#[tokio::test]
async fn a_node_that_missed_entries_reads_them_back_and_pushes_only_matching_ones() {
    let redis = Redis::start();
    let (a, b) = (Node::with_redis(&redis, &[]), Node::with_redis(&redis, &[]));
    let mut five = b.client().await;
    let mut six = b.client().await;
    watch_user(&mut five, 5, None).await;
    watch_user(&mut six, 6, None).await;

    // Node a publishes entries for users 5 and 7 while node b's pub/sub
    // connection is cut and comes back (its reconnection waits ~100 ms).
    // User 5's are merges, which are never coalesced: each one counts.
    let caller = a.client().await;
    let calls = tokio::spawn(async move {
        let mut caller = caller;
        for i in 0..200 {
            let reply = match i % 2 {
                0 => {
                    caller
                        .call("rename_user", json!({"user_id": 5, "name": format!("n{i}")}))
                        .await
                }
                _ => caller.call("update_profile", json!({"user_id": 7, "name": "x"})).await,
            };
            assert!(matches!(reply, ServerFrame::Result { .. }), "{reply:?}");
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    cut_subscriber(&redis);
    calls.await.unwrap();

    // User 5's watcher gets each of its 100 entries once, in order; user
    // 6's, which none of them reaches, gets nothing (no broad refetch).
    let mut offsets = Vec::new();
    for i in 0..100 {
        let Ok(push) = tokio::time::timeout(Duration::from_secs(5), five.push()).await else {
            panic!("user 5's watcher got only {} entries: {offsets:?}", offsets.len());
        };
        match push {
            ServerFrame::Merge(entry) => {
                let value: Value = serde_json::from_str(entry.value.get()).unwrap();
                assert_eq!(value["name"], format!("n{}", 2 * i));
                offsets.push(entry.offset.unwrap());
            }
            other => panic!("expected a merge, got {other:?}"),
        }
    }
    assert_eq!(offsets, (0..100).map(|i| 2 * i + 1).collect::<Vec<u64>>());
    five.assert_silent(Duration::from_millis(300)).await;
    six.assert_silent(Duration::from_millis(100)).await;
    let stats = b.broker_stats().await;
    assert!(stats["reconnects"].as_u64().unwrap() >= 1, "the cut happened: {stats}");
}

/// A node in this process, joined through `redis`, serving the ticker.
async fn ticker_node(redis: &Redis) -> support::Server {
    use mizan::broker::{RedisBroker, RedisConfig};
    let broker = RedisBroker::connect(&redis.url(), RedisConfig::default())
        .await
        .expect("the test's redis-server is up");
    support::Server::start(mizan::Mizan::builder().channel(Ticker).broker(broker)).await
}

#[tokio::test]
async fn redis_keeps_messages_only_for_the_channel_s_ttl() {
    let redis = Redis::start();
    let (a, b) = (ticker_node(&redis).await, ticker_node(&redis).await);
    let mut writer = a.client().await;
    let (topic, recover) = ticker_with_old(&mut writer).await;
    // Within the TTL, on a node that reads the topic from Redis: replayed.
    let mut soon = b.client().await;
    recover_old(&mut soon, &recover, true).await;
    drop(soon);
    // Past it, node b reads the topic afresh (it stopped listening when
    // its socket left): gone from Redis, and said so.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis.numsub(&format!("mizan:t:{topic}")) != 1 {
        assert!(Instant::now() < deadline, "node b still listens to the topic");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    recover_old(&mut b.client().await, &recover, false).await;
}
