//! Nodes joined through a Redis Cluster (issue 20; docs/scaling.md,
//! "Redis Cluster"): fixture nodes as separate processes started with
//! `--redis-cluster`, on a cluster of each test's own (three masters, a
//! replica each: `mizan_testkit::RedisCluster`). Channel messages and
//! context invalidations cross three nodes, offsets stay consecutive
//! whoever publishes, each subject's shard channel is subscribed on the
//! master that serves its slot, presence is shared (its keys in one
//! slot), a node joins through the `redis+cluster://` URL form too, and a
//! killed master fails over with delivery back within 10 s and no silent
//! gap.
//!
//! Needs `redis-server` and `redis-cli` on the PATH and the fixture example
//! built (see tests/redis_nodes.rs).

mod support;

use mizan::protocol::ServerFrame;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};
use support::Client;
use support::processes::{Node, RedisCluster};
use support::streams::{from_every_node, next_message, say, subscribe};

/// A cluster of three masters with a replica each.
fn start_cluster() -> RedisCluster {
    RedisCluster::start(3, 1)
}

/// How long a node may take to subscribe on the cluster.
const SETTLE: Duration = Duration::from_secs(10);

/// Watches `context` with `params`; fails on anything but a bundle.
async fn watch(client: &mut Client, context: &str, params: Value) {
    let id = client
        .request(json!({"type": "watch", "context": context, "params": params}))
        .await;
    let bundle = client.reply(id).await;
    assert!(matches!(bundle, ServerFrame::Bundle { .. }), "{bundle:?}");
}

/// `PUBSUB SHARDCHANNELS` (shard channels subscribed on that node; `PUBSUB
/// CHANNELS` does not show them) on the node at `port`.
fn shard_channels(port: u16) -> Vec<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "PUBSUB", "SHARDCHANNELS"])
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Waits until `condition` holds, within [`SETTLE`].
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The shard channel of the fixture's chat `topic` (wire.rs, cluster names).
fn topic_channel(topic: &str) -> String {
    format!("mizan:{{t:{topic}}}")
}

#[tokio::test]
async fn messages_and_invalidations_cross_three_nodes_with_consecutive_offsets() {
    let cluster = start_cluster();
    // The third joins through the URL form instead of the seed list.
    let url = format!("redis+cluster://{}", cluster.seeds().join(","));
    let nodes = [
        Node::with_cluster(&cluster, &[]),
        Node::with_cluster(&cluster, &[]),
        Node::start(&["--redis", &url]),
    ];
    for node in &nodes {
        assert_eq!(node.readyz().await, 200, "{}", node.log());
    }
    let (offsets, from) = from_every_node(&nodes).await;
    assert_eq!(
        offsets,
        (1..=60).collect::<Vec<_>>(),
        "consecutive, in order, none twice"
    );
    assert_eq!(from, [20, 20, 20], "every node's messages arrived");

    // A mutation on one node invalidates watchers on the two others.
    let mut five_b = nodes[1].client().await;
    let mut five_c = nodes[2].client().await;
    watch(&mut five_b, "user", json!({"user_id": 5})).await;
    watch(&mut five_c, "user", json!({"user_id": 5})).await;
    let mut notes = nodes[2].client().await;
    watch(&mut notes, "notifications", json!({})).await;
    let mut caller = nodes[0].client().await;
    let reply = caller
        .call("update_profile", json!({"user_id": 5, "name": "Ann"}))
        .await;
    assert!(matches!(reply, ServerFrame::Result { .. }), "{reply:?}");
    for watcher in [&mut five_b, &mut five_c] {
        assert_eq!(
            support::without_offsets(&watcher.push().await.encode()),
            r#"{"type":"invalidate","context":"user","params":{"user_id":5}}"#
        );
    }
    let reply = caller.call("post_note", json!({"text": "hi"})).await;
    assert!(matches!(reply, ServerFrame::Result { .. }), "{reply:?}");
    assert_eq!(
        support::without_offsets(&notes.push().await.encode()),
        r#"{"type":"invalidate","context":"notifications"}"#
    );
    five_b.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn each_subject_is_subscribed_on_the_master_of_its_slot() {
    let cluster = start_cluster();
    let a = Node::with_cluster(&cluster, &[]);
    let mut client = a.client().await;
    let mut channels = Vec::new();
    for room in ["lobby", "kitchen", "garden", "attic", "cellar", "porch"] {
        let (topic, _, _) = subscribe(&mut client, room, json!({})).await;
        channels.push(topic_channel(&topic));
    }
    watch(&mut client, "user", json!({"user_id": 1})).await;
    channels.push("mizan:{c:user}".to_owned());
    let masters = cluster.masters();
    assert_eq!(masters.len(), 3);
    let mut used = std::collections::HashSet::new();
    for channel in &channels {
        let owner = cluster.master_of(channel);
        used.insert(owner);
        eventually(&format!("{channel} is subscribed on its master {owner}"), || {
            shard_channels(owner).contains(channel)
        })
        .await;
        for other in masters.iter().filter(|&&m| m != owner) {
            assert!(
                !shard_channels(*other).contains(channel),
                "{channel} is subscribed on {other}, not its master {owner}"
            );
        }
    }
    assert!(used.len() >= 2, "the subjects spread over the shards: {used:?}");
    // The control channel is one shard channel too.
    let control = "mizan:{ctl}";
    assert!(shard_channels(cluster.master_of(control)).iter().any(|c| c == control));

    // Leaving a topic leaves its shard channel.
    let id = client
        .request(
            json!({"type": "unsubscribe", "topic": channels[0].trim_start_matches("mizan:{t:").trim_end_matches('}')}),
        )
        .await;
    let _ = client.reply(id).await;
    let owner = cluster.master_of(&channels[0]);
    eventually("the topic's shard channel is left", || {
        !shard_channels(owner).contains(&channels[0])
    })
    .await;
}

/// The sessions `presence` lists for the fixture's chat `topic`.
async fn members(client: &mut Client, topic: &str) -> BTreeSet<String> {
    let id = client.request(json!({"type": "presence", "topic": topic})).await;
    match client.reply(id).await {
        ServerFrame::Presence { members, .. } => members.into_iter().map(|m| m.session).collect(),
        other => panic!("expected presence, got {other:?}"),
    }
}

fn session(client: &Client) -> String {
    match &client.hello {
        ServerFrame::Hello { session, .. } => session.clone(),
        other => panic!("no hello: {other:?}"),
    }
}

#[tokio::test]
async fn presence_works_across_nodes_on_a_cluster() {
    let cluster = start_cluster();
    let (a, b) = (Node::with_cluster(&cluster, &[]), Node::with_cluster(&cluster, &[]));
    let mut on_a = a.client().await.with_presence();
    let mut on_b = b.client().await.with_presence();
    let topic = on_a.join("chat", json!({"room": "lobby"})).await;
    on_b.join("chat", json!({"room": "lobby"})).await;
    let want: BTreeSet<String> = [session(&on_a), session(&on_b)].into_iter().collect();
    let deadline = Instant::now() + SETTLE;
    loop {
        let now = members(&mut on_a, &topic).await;
        if now == want {
            break;
        }
        assert!(Instant::now() < deadline, "members on a stayed {now:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The presence keys share the topic's `{p:…}` tag on one master.
    let nodes_key = format!("mizan:pn:{{p:{topic}}}");
    let owner = cluster.master_of(&nodes_key);
    let out = Command::new("redis-cli")
        .args(["-p", &owner.to_string(), "ZCARD", &nodes_key])
        .output()
        .expect("redis-cli runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2",
        "both nodes in {nodes_key}"
    );
    assert!(shard_channels(owner).contains(&format!("mizan:p:{{p:{topic}}}")));
}

/// Sends `text` on `topic` without insisting it succeeds (during a
/// failover the stream store may refuse); whether it was accepted.
async fn try_say(client: &mut Client, topic: &str, text: &str) -> bool {
    let id = client
        .request(json!({"type": "send", "topic": topic, "data": {"text": text}}))
        .await;
    matches!(client.reply(id).await, ServerFrame::Ok { .. })
}

#[tokio::test]
async fn a_killed_master_fails_over_and_delivery_resumes_without_a_silent_gap() {
    let mut cluster = start_cluster();
    let (a, b, c) = (
        Node::with_cluster(&cluster, &[]),
        Node::with_cluster(&cluster, &[]),
        Node::with_cluster(&cluster, &[]),
    );
    let mut writer = b.client().await;
    let (topic, _, _) = subscribe(&mut writer, "lobby", json!({})).await;
    let mut reader = a.client().await;
    subscribe(&mut reader, "lobby", json!({})).await;
    for i in 1..=3 {
        say(&mut writer, &topic, &format!("m{i}")).await;
        assert_eq!(next_message(&mut reader).await, (i, format!("m{i}")));
    }
    let (_, seen, _) = subscribe(&mut reader, "lobby", json!({})).await;

    let master = cluster.master_of(&topic_channel(&topic));
    let killed = Instant::now();
    cluster.kill(master);

    // Delivery comes back: a message sent after the failover reaches the
    // reader on another node within 10 s of the kill.
    let mut n = 0;
    let mut back = None;
    let mut pushes = Vec::new();
    let mut sends = Vec::new();
    while killed.elapsed() < Duration::from_secs(10) && back.is_none() {
        n += 1;
        let accepted = try_say(&mut writer, &topic, &format!("after{n}")).await;
        sends.push((killed.elapsed().as_millis(), accepted));
        let wait = tokio::time::timeout(Duration::from_millis(300), reader.push()).await;
        if let Ok(frame) = wait {
            pushes.push(frame.encode());
            // Back once a message with its stream offset (through the
            // new master's script) arrives.
            if accepted && matches!(frame, ServerFrame::Message { offset: Some(_), .. }) {
                back = Some(killed.elapsed());
            }
        }
        if !accepted {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let back = back.unwrap_or_else(|| {
        panic!(
            "no delivery within 10 s of killing master {master}; sends (ms, accepted) {sends:?}; pushes {pushes:?}\nnode a:\n{}\nnode b:\n{}",
            a.log(),
            b.log()
        )
    });
    eprintln!("delivery back {back:?} after the kill");
    cluster.wait_failover(master, Duration::from_secs(20)).unwrap();

    // No silent gap: a socket resubscribing with `since` (the position
    // before the kill) on a third node gets every message after it, in
    // order, or is told `recovered:false`.
    let mut late = c.client().await;
    let since = json!({"since": {"epoch": seen.epoch, "offset": seen.offset}});
    let (_, position, recovered) = subscribe(&mut late, "lobby", since).await;
    match recovered {
        Some(true) => {
            assert_eq!(position.epoch, seen.epoch);
            for offset in seen.offset + 1..=position.offset {
                assert_eq!(next_message(&mut late).await.0, offset, "replayed in order");
            }
        }
        Some(false) => eprintln!("the failover lost the stream: told recovered:false ({position:?})"),
        None => panic!("a subscribe with `since` answers `recovered`"),
    }
    // And live delivery goes on to both.
    say(&mut writer, &topic, "last").await;
    assert_eq!(next_message(&mut late).await.1, "last");
    loop {
        match tokio::time::timeout(Duration::from_secs(5), reader.push()).await {
            Ok(frame) => {
                pushes.push(frame.encode());
                if matches!(&frame, ServerFrame::Message { data, .. } if data.get().contains("\"last\"")) {
                    break;
                }
            }
            Err(_) => panic!("the reader did not get the last message: {pushes:?}"),
        }
    }
    // The reader, subscribed all along on node a: its messages after m3
    // come in offset order, none twice, and any offset skipped is
    // announced by a `gap` push (PROTOCOL.md section 9). A message sent
    // while its stream's master was down goes out without an offset (as
    // with one Redis down: publish.rs), outside the stream's order.
    let mut expected = seen.offset + 1;
    let mut told = false;
    for push in &pushes {
        match ServerFrame::decode(push.as_bytes()).unwrap() {
            ServerFrame::Message {
                offset: Some(offset), ..
            } => {
                assert!(
                    offset == expected || (told && offset > 0),
                    "offset {offset} where {expected} was due, with no gap told: {pushes:?}"
                );
                expected = offset + 1;
                told = false;
            }
            ServerFrame::Message { offset: None, .. } => {}
            ServerFrame::Gap { .. } => told = true,
            other => panic!("unexpected push {other:?}"),
        }
    }
    assert_eq!(a.readyz().await, 200);
    if std::env::var_os("MIZAN_TEST_SHOW_LOGS").is_some() {
        eprintln!("node a:\n{}", a.log());
    }
}
