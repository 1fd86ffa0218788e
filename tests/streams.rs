//! Topic streams (PROTOCOL.md section 9) on one node and on nodes sharing
//! the in-memory broker: offsets on every message, `history: K` on join,
//! and recovery with `since` (replay with no gap and no duplicate, or
//! `recovered: false` when the history does not reach back).

mod support;

use mizan::broker::MemoryBroker;
use mizan::protocol::{ErrorCode, Position, ServerFrame};
use serde_json::{Value, json};
use std::time::Duration;
use support::streams::{Ticker, next_message, recover_old, say, send_many, subscribe, ticker_with_old};
use support::{Client, Server};

#[tokio::test]
async fn every_message_has_the_next_offset_whoever_sends_it() {
    let server = Server::fixture().await;
    let mut reader = server.client().await;
    let (topic, start, _) = subscribe(&mut reader, "offsets", json!({})).await;
    assert_eq!(start.offset, 0, "a new topic starts before any message");
    let mut senders = Vec::new();
    for n in 0..3 {
        let mut sender = server.client().await;
        subscribe(&mut sender, "offsets", json!({})).await;
        senders.push(send_many(sender, &topic, &format!("{n}-"), 20));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let offsets: Vec<u64> = {
        let mut got = Vec::new();
        for _ in 0..60 {
            got.push(next_message(&mut reader).await.0);
        }
        got
    };
    assert_eq!(
        offsets,
        (1..=60).collect::<Vec<_>>(),
        "consecutive, in order, none twice"
    );
}

#[tokio::test]
async fn history_on_join_shows_the_last_messages_then_live_ones() {
    let server = Server::fixture().await;
    let mut writer = server.client().await;
    let (topic, _, _) = subscribe(&mut writer, "recent", json!({})).await;
    for i in 1..=5 {
        say(&mut writer, &topic, &format!("m{i}")).await;
    }
    let mut late = server.client().await;
    let (_, position, recovered) = subscribe(&mut late, "recent", json!({"history": 3})).await;
    assert_eq!((position.offset, recovered), (5, None));
    for expected in [(3, "m3"), (4, "m4"), (5, "m5")] {
        let (offset, text) = next_message(&mut late).await;
        assert_eq!((offset, text.as_str()), expected);
    }
    say(&mut writer, &topic, "m6").await;
    assert_eq!(next_message(&mut late).await, (6, "m6".to_owned()));
    late.assert_silent(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_reconnect_with_since_replays_what_was_missed_once_and_in_order() {
    let server = Server::fixture().await;
    let mut writer = server.client().await;
    let (topic, _, _) = subscribe(&mut writer, "blip", json!({})).await;
    let mut reader = server.client().await;
    let (_, position, _) = subscribe(&mut reader, "blip", json!({})).await;
    say(&mut writer, &topic, "before").await;
    let (seen, _) = next_message(&mut reader).await;
    drop(reader);
    for i in 1..=4 {
        say(&mut writer, &topic, &format!("missed {i}")).await;
    }
    let mut back = server.client().await;
    let since = json!({"since": {"epoch": position.epoch, "offset": seen}});
    let (_, now, recovered) = subscribe(&mut back, "blip", since).await;
    assert_eq!((now.offset, recovered), (seen + 4, Some(true)));
    for i in 1..=4u64 {
        assert_eq!(next_message(&mut back).await, (seen + i, format!("missed {i}")));
    }
    say(&mut writer, &topic, "live").await;
    assert_eq!(next_message(&mut back).await, (seen + 5, "live".to_owned()));
    back.assert_silent(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn recovery_is_refused_when_the_epoch_changed_or_the_history_is_gone() {
    let server = Server::fixture().await;
    let mut writer = server.client().await;
    let (topic, start, _) = subscribe(&mut writer, "gone", json!({})).await;
    // Another epoch: nothing can be said about what came after it.
    let mut other = server.client().await;
    let (_, _, recovered) = subscribe(
        &mut other,
        "gone",
        json!({"since": {"epoch": "not-this-one", "offset": 0}}),
    )
    .await;
    assert_eq!(recovered, Some(false));
    // The chat keeps 100 messages: 150 later, offset 0 is out of reach.
    for i in 0..150 {
        say(&mut writer, &topic, &format!("{i}")).await;
    }
    let mut late = server.client().await;
    let since = json!({"since": {"epoch": start.epoch, "offset": 0}});
    let (_, now, recovered) = subscribe(&mut late, "gone", since).await;
    assert_eq!((now.offset, recovered), (150, Some(false)));
    late.assert_silent(Duration::from_millis(100)).await;
    // And what it keeps is bounded by the declaration, however much was sent.
    let mut all = server.client().await;
    subscribe(&mut all, "gone", json!({"history": 1000})).await;
    for expected in 51..=150 {
        assert_eq!(next_message(&mut all).await.0, expected);
    }
    all.assert_silent(Duration::from_millis(100)).await;
    // Nothing missed (the current offset) is recovered, and both asks at once are refused.
    let mut current = server.client().await;
    let since = json!({"since": {"epoch": start.epoch, "offset": 150}});
    assert_eq!(subscribe(&mut current, "gone", since).await.2, Some(true));
    let id = current
        .request(json!({"type": "subscribe", "channel": "chat", "params": {"room": "x"},
                        "since": {"epoch": "e", "offset": 1}, "history": 5}))
        .await;
    assert!(matches!(
        current.reply(id).await,
        ServerFrame::Error {
            code: ErrorCode::BadFrame,
            ..
        }
    ));
}

#[tokio::test]
async fn nodes_sharing_a_broker_never_give_out_the_same_offset() {
    let bus = MemoryBroker::new();
    let a = Server::start(support::fixture::builder(support::SECRET).broker(bus.clone())).await;
    let b = Server::start(support::fixture::builder(support::SECRET).broker(bus.clone())).await;
    let mut on_a = a.client().await;
    let mut on_b = b.client().await;
    let (topic, _, _) = subscribe(&mut on_a, "shared", json!({})).await;
    subscribe(&mut on_b, "shared", json!({})).await;
    let (mut sender_a, mut sender_b) = (a.client().await, b.client().await);
    subscribe(&mut sender_a, "shared", json!({})).await;
    subscribe(&mut sender_b, "shared", json!({})).await;
    let from_a = send_many(sender_a, &topic, "a", 20);
    let from_b = send_many(sender_b, &topic, "b", 20);
    from_a.await.unwrap();
    from_b.await.unwrap();
    for reader in [&mut on_a, &mut on_b] {
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.push(next_message(reader).await);
        }
        let offsets: Vec<u64> = seen.iter().map(|m| m.0).collect();
        assert_eq!(offsets, (1..=40).collect::<Vec<_>>());
        reader.assert_silent(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_channel_without_history_recovers_only_when_nothing_was_missed() {
    let server = Server::fixture().await;
    let mut writer = server.client().await;
    let join = |extra: Value| {
        let mut frame = json!({"type": "subscribe", "channel": "alerts", "params": {}});
        frame
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        frame
    };
    let id = writer.request(join(json!({}))).await;
    let ServerFrame::Subscribed {
        topic,
        position: Some(start),
        ..
    } = writer.reply(id).await
    else {
        panic!("subscribed with a position")
    };
    assert_eq!(topic, "alerts:all");
    let mut reader = server.client().await;
    let id = reader.request(join(json!({"history": 10}))).await;
    assert!(matches!(
        reader.reply(id).await,
        ServerFrame::Subscribed { recovered: None, .. }
    ));
    let id = writer
        .request(json!({"type": "send", "topic": topic, "data": {"text": "fire"}}))
        .await;
    assert!(matches!(writer.reply(id).await, ServerFrame::Ok { .. }));
    assert_eq!(next_message(&mut reader).await, (start.offset + 1, "fire".to_owned()));
    // Nothing missed: recovered, though nothing is kept.
    let mut caught_up = server.client().await;
    let since = json!({"since": {"epoch": start.epoch, "offset": start.offset + 1}});
    let id = caught_up.request(join(since)).await;
    assert!(matches!(
        caught_up.reply(id).await,
        ServerFrame::Subscribed {
            recovered: Some(true),
            ..
        }
    ));
    // One missed: nothing kept to replay it.
    let mut behind = server.client().await;
    let since = json!({"since": {"epoch": start.epoch, "offset": start.offset}});
    let id = behind.request(join(since)).await;
    assert!(matches!(
        behind.reply(id).await,
        ServerFrame::Subscribed {
            recovered: Some(false),
            ..
        }
    ));
    behind.assert_silent(Duration::from_millis(100)).await;
}

/// A `watch`'s reply: the bundle's position, or `None` for `unchanged`
/// (with the position it answered).
async fn watch_user(client: &mut Client, user_id: i64, since: Option<&Position>) -> (bool, Position) {
    let mut frame = json!({"type": "watch", "context": "user", "params": {"user_id": user_id}});
    if let Some(since) = since {
        frame["since"] = json!({"epoch": since.epoch, "offset": since.offset});
    }
    let id = client.request(frame).await;
    match client.reply(id).await {
        ServerFrame::Bundle {
            position: Some(position),
            ..
        } => (true, position),
        ServerFrame::Unchanged { position, .. } => (false, position),
        other => panic!("expected a bundle or unchanged with a position, got {other:?}"),
    }
}

#[tokio::test]
async fn context_entries_have_offsets_and_a_rewatch_skips_the_bundle_when_nothing_it_watches_changed() {
    let server = Server::fixture().await;
    let mut watcher = server.client().await;
    let (computed, held) = watch_user(&mut watcher, 1, None).await;
    assert!(computed);
    // A change elsewhere: its entry has the next offset, in the reply and
    // in the push, and does not reach user 1's watch.
    let mut writer = server.client().await;
    let ServerFrame::Result { invalidate, .. } =
        writer.call("update_profile", json!({"user_id": 2, "name": "Bo"})).await
    else {
        panic!("a result")
    };
    assert_eq!(invalidate[0].offset, Some(held.offset + 1));
    watcher.assert_silent(Duration::from_millis(100)).await;
    // Back with the bundle it holds: unchanged, and nothing computed.
    let mut back = server.client().await;
    let (computed, now) = watch_user(&mut back, 1, Some(&held)).await;
    assert!(!computed, "nothing that reaches user 1 changed");
    assert_eq!(now.offset, held.offset + 1);
    // It is live: the next change to user 1 reaches it, with its offset.
    let ServerFrame::Result { invalidate, .. } =
        writer.call("update_profile", json!({"user_id": 1, "name": "Al"})).await
    else {
        panic!("a result")
    };
    let ServerFrame::Invalidate(pushed) = back.push().await else {
        panic!("an invalidate push")
    };
    assert_eq!(
        (pushed.offset, invalidate[0].offset),
        (Some(now.offset + 1), Some(now.offset + 1))
    );
    // A re-watch from before that change must compute; so must one of
    // another epoch.
    let mut stale = server.client().await;
    assert!(watch_user(&mut stale, 1, Some(&held)).await.0, "user 1 changed since");
    let other_epoch = Position::new("not-this-one", now.offset);
    assert!(watch_user(&mut stale, 3, Some(&other_epoch)).await.0);
}

#[tokio::test]
async fn kept_messages_expire_after_the_channel_s_ttl() {
    let server = Server::start(mizan::Mizan::builder().channel(Ticker)).await;
    let mut writer = server.client().await;
    let (_, recover) = ticker_with_old(&mut writer).await;
    // Within the TTL: replayed.
    recover_old(&mut server.client().await, &recover, true).await;
    // Past it: gone, and said so.
    tokio::time::sleep(Duration::from_millis(400)).await;
    recover_old(&mut server.client().await, &recover, false).await;
}

#[tokio::test]
async fn an_http_fetch_carries_the_position_its_bundle_reflects() {
    let server = Server::fixture().await;
    server
        .client()
        .await
        .call("update_profile", json!({"user_id": 9, "name": "Ida"}))
        .await;
    let response = support::post(server.http_url("/api/mizan/fetch/user"))
        .body(r#"{"user_id":9}"#)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["offset"], 1, "{body}");
    assert!(body["epoch"].is_string(), "{body}");
    // The same position a WebSocket watch reads.
    let mut watcher = server.client().await;
    let (_, position) = watch_user(&mut watcher, 9, None).await;
    assert_eq!(
        (json!(position.epoch), json!(position.offset)),
        (body["epoch"].clone(), body["offset"].clone())
    );
}
