//! Presence across nodes through Redis (PROTOCOL.md section 10), with
//! fixture nodes as separate processes and a real `redis-server` of each
//! test's own: members on two nodes, diffs from the other node (never the
//! joiner's own), stats, leaves on unsubscribe and on close, a SIGKILLed
//! node's members leaving within the TTL, joins on another node batched,
//! and members written again after Redis lost everything.
//!
//! Needs `redis-server` on the PATH and the fixture example built (see
//! tests/redis_nodes.rs).

mod support;

use mizan::protocol::{Member, ServerFrame};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::processes::{Node, Redis};
use support::{Client, token};

/// The fixture's `chat` lobby.
const LOBBY: &str = "chat:chat_lobby";

fn session(client: &Client) -> String {
    match &client.hello {
        ServerFrame::Hello { session, .. } => session.clone(),
        other => panic!("no hello: {other:?}"),
    }
}

async fn join_lobby(client: &mut Client) {
    assert_eq!(client.join("chat", json!({"room": "lobby"})).await, LOBBY);
}

async fn members(client: &mut Client) -> BTreeSet<String> {
    let id = client.request(json!({"type": "presence", "topic": LOBBY})).await;
    match client.reply(id).await {
        ServerFrame::Presence { members, .. } => members.into_iter().map(|m| m.session).collect(),
        other => panic!("expected presence, got {other:?}"),
    }
}

async fn stats(client: &mut Client) -> (u64, u64) {
    let id = client.request(json!({"type": "presence_stats", "topic": LOBBY})).await;
    match client.reply(id).await {
        ServerFrame::PresenceStats { sessions, users, .. } => (sessions, users),
        other => panic!("expected stats, got {other:?}"),
    }
}

/// The next `presence_diff`, within `limit`.
async fn diff_within(client: &mut Client, limit: Duration) -> (Vec<Member>, Vec<Member>) {
    match tokio::time::timeout(limit, client.push()).await {
        Ok(ServerFrame::PresenceDiff { joins, leaves, .. }) => (joins, leaves),
        Ok(other) => panic!("expected a presence diff, got {other:?}"),
        Err(_) => panic!("no presence diff within {limit:?}"),
    }
}

async fn diff(client: &mut Client) -> (Vec<Member>, Vec<Member>) {
    diff_within(client, Duration::from_secs(3)).await
}

fn set(sessions: &[&String]) -> BTreeSet<String> {
    sessions.iter().map(|s| (*s).clone()).collect()
}

/// Asks `client`'s node until `topic`'s members are `want` (another node's
/// news takes a batch or two).
async fn members_become(client: &mut Client, want: &BTreeSet<String>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = members(client).await;
        if &now == want {
            return;
        }
        assert!(Instant::now() < deadline, "members stayed {now:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn members_on_two_nodes_with_diffs_stats_and_leaves() {
    let redis = Redis::start();
    let (a, b) = (Node::with_redis(&redis, &[]), Node::with_redis(&redis, &[]));
    let mut ann = Client::connect(&a.ws_url(), Some(&token("ann", false)))
        .await
        .with_presence();
    join_lobby(&mut ann).await;
    let ann_s = session(&ann);
    assert_eq!(members(&mut ann).await, set(&[&ann_s]));

    let mut bob = Client::connect(&b.ws_url(), Some(&token("bob", false)))
        .await
        .with_presence();
    join_lobby(&mut bob).await;
    let bob_s = session(&bob);
    let bob_m = Member::new(&bob_s, Some("bob".into()));
    // ann, on the other node, is told; bob is not told of himself.
    assert_eq!(diff(&mut ann).await, (vec![bob_m.clone()], vec![]));
    assert_eq!(members(&mut bob).await, set(&[&ann_s, &bob_s]));
    bob.assert_silent(Duration::from_millis(400)).await;
    assert_eq!(stats(&mut ann).await, (2, 2));
    assert_eq!(stats(&mut bob).await, (2, 2));

    // A second socket of ann's, on b: one more session, the same users.
    let mut ann2 = Client::connect(&b.ws_url(), Some(&token("ann", false)))
        .await
        .with_presence();
    join_lobby(&mut ann2).await;
    let ann2_m = Member::new(session(&ann2), Some("ann".into()));
    assert_eq!(diff(&mut ann).await, (vec![ann2_m.clone()], vec![]));
    assert_eq!(diff(&mut bob).await, (vec![ann2_m.clone()], vec![]));
    assert_eq!(stats(&mut ann).await, (3, 2));

    // Leaving by unsubscribing, then by closing: the other node hears it.
    let id = bob.request(json!({"type": "unsubscribe", "topic": LOBBY})).await;
    bob.reply(id).await;
    assert_eq!(diff(&mut ann).await, (vec![], vec![bob_m]));
    drop(ann2);
    assert_eq!(diff(&mut ann).await, (vec![], vec![ann2_m]));
    assert_eq!(members(&mut ann).await, set(&[&ann_s]));
    assert_eq!(stats(&mut ann).await, (1, 1));
}

#[tokio::test]
async fn a_killed_nodes_members_leave_within_the_ttl() {
    let redis = Redis::start();
    let url = redis.url();
    let args = ["--redis", url.as_str()];
    let ttl = Duration::from_secs(2);
    let env = [("MIZAN_PRESENCE_TTL_SECS", "2")];
    let a = Node::start_with_env(&args, &env);
    let b = Node::start_with_env(&args, &env);
    let mut ann = a.client().await.with_presence();
    join_lobby(&mut ann).await;
    members(&mut ann).await;
    let mut doomed = Vec::new();
    for _ in 0..3 {
        let mut c = b.client().await.with_presence();
        join_lobby(&mut c).await;
        doomed.push(session(&c));
        std::mem::forget(c);
    }
    let mut joined = BTreeSet::new();
    while joined.len() < 3 {
        let (joins, _) = diff(&mut ann).await;
        joined.extend(joins.into_iter().map(|m| m.session));
    }
    // Long enough for b to have refreshed its members at least once.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let killed = Instant::now();
    drop(b); // SIGKILL: b never says goodbye.
    let mut left = BTreeSet::new();
    while left.len() < 3 {
        let (joins, leaves) = diff_within(&mut ann, ttl + Duration::from_secs(1)).await;
        assert!(joins.is_empty(), "{joins:?}");
        left.extend(leaves.into_iter().map(|m| m.session));
    }
    let took = killed.elapsed();
    assert_eq!(left, doomed.iter().cloned().collect());
    assert!(
        took <= ttl,
        "the killed node's members left after {took:?}, not within {ttl:?}"
    );
    assert_eq!(members(&mut ann).await, set(&[&session(&ann)]));
}

#[tokio::test]
async fn joins_on_another_node_reach_a_subscriber_in_a_few_frames() {
    let redis = Redis::start();
    let (a, b) = (Node::with_redis(&redis, &[]), Node::with_redis(&redis, &[]));
    let mut watcher = a.client().await.with_presence();
    join_lobby(&mut watcher).await;
    members(&mut watcher).await;
    let mut crowd = Vec::new();
    let started = Instant::now();
    for _ in 0..200 {
        let mut c = b.client().await.with_presence();
        join_lobby(&mut c).await;
        crowd.push(c);
    }
    let joining = started.elapsed();
    let mut frames = 0;
    let mut joined = BTreeSet::new();
    while joined.len() < 200 {
        let (joins, leaves) = diff(&mut watcher).await;
        assert!(leaves.is_empty());
        joined.extend(joins.into_iter().map(|m| m.session));
        frames += 1;
    }
    // One diff per batch (100 ms) at most, on each node.
    let batches = joining.as_millis() / 100 + 3;
    assert!(
        frames as u128 <= batches,
        "{frames} frames for 200 joins made within {joining:?}"
    );
    let everyone: BTreeSet<String> = crowd.iter().map(session).chain([session(&watcher)]).collect();
    assert_eq!(members(&mut watcher).await, everyone);
}

#[tokio::test]
async fn members_are_written_again_after_redis_lost_them() {
    let mut redis = Redis::start();
    let a = Node::with_redis(&redis, &[]);
    let mut ann = a.client().await.with_presence();
    join_lobby(&mut ann).await;
    let ann_s = session(&ann);
    members(&mut ann).await;
    // Redis restarts empty: a's members are gone from it.
    redis.restart();
    // A node that joins afterwards sees ann once a has re-registered.
    let b = Node::with_redis(&redis, &[]);
    let mut bob = b.client().await.with_presence();
    join_lobby(&mut bob).await;
    let bob_s = session(&bob);
    members_become(&mut bob, &set(&[&ann_s, &bob_s])).await;
    members_become(&mut ann, &set(&[&ann_s, &bob_s])).await;
}
