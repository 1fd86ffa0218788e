//! Presence on one node (PROTOCOL.md section 10): the members of a topic,
//! the joiner's own join not sent to it, leaves on unsubscribe and on
//! close, stats, `not_subscribed` and `not_found`, and batching: many
//! joins cost each subscriber a frame per interval, not one per join.

mod support;

use mizan::protocol::{Member, ServerFrame};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use support::{Client, Server, error_code, token};

/// A room channel that tracks presence (the fixture's `chat` does not turn
/// it on yet: docs/protocol.md, section 10).
struct Room;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct RoomParams {
    room: String,
}

#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct Line {
    text: String,
}

impl mizan::Channel for Room {
    const NAME: &'static str = "room";
    type Params = RoomParams;
    type ClientMessage = Line;
    type ServerMessage = Line;
    const PRESENCE: bool = true;

    fn group(&self, params: &RoomParams) -> String {
        params.room.clone()
    }

    async fn receive(&self, _cx: &mizan::Cx, _p: &RoomParams, line: Line) -> Result<Option<Line>, mizan::Error> {
        Ok(Some(line))
    }
}

/// The fixture with the `room` channel, and `edit`ed settings.
async fn server(edit: impl FnOnce(&mut mizan::ServerConfig)) -> Server {
    let config = support::config(edit);
    Server::start(support::fixture::builder(support::SECRET).channel(Room).config(config)).await
}

/// The socket's session, from its `hello`.
fn session(client: &Client) -> String {
    match &client.hello {
        ServerFrame::Hello { session, .. } => session.clone(),
        other => panic!("no hello: {other:?}"),
    }
}

async fn members(client: &mut Client, topic: &str) -> BTreeSet<(String, Option<String>)> {
    let id = client.request(json!({"type": "presence", "topic": topic})).await;
    match client.reply(id).await {
        ServerFrame::Presence { members, .. } => members.into_iter().map(|m| (m.session, m.user)).collect(),
        other => panic!("expected presence, got {other:?}"),
    }
}

async fn diff(client: &mut Client) -> (Vec<Member>, Vec<Member>) {
    match client.push().await {
        ServerFrame::PresenceDiff { joins, leaves, .. } => (joins, leaves),
        other => panic!("expected a presence diff, got {other:?}"),
    }
}

#[tokio::test]
async fn members_joins_and_leaves_of_a_topic() {
    let server = server(|_| {}).await;
    let mut ann = server.client_with_token(&token("ann", false)).await;
    let topic = ann.join("room", json!({"room": "here"})).await;
    let ann_s = session(&ann);
    let only_ann: BTreeSet<_> = [(ann_s.clone(), Some("ann".to_owned()))].into();
    // The answer comes with the next batch: it holds ann's own join, and
    // ann is sent no diff for it.
    assert_eq!(members(&mut ann, &topic).await, only_ann);
    let mut anon = server.client().await;
    anon.join("room", json!({"room": "here"})).await;
    let anon_s = session(&anon);
    let (joins, leaves) = diff(&mut ann).await;
    assert_eq!((joins, leaves), (vec![Member::new(&anon_s, None)], vec![]));
    let both: BTreeSet<_> = [(ann_s.clone(), Some("ann".to_owned())), (anon_s.clone(), None)].into();
    assert_eq!(members(&mut anon, &topic).await, both);
    anon.assert_silent(Duration::from_millis(300)).await;
    ann.assert_silent(Duration::from_millis(100)).await;

    let id = anon.request(json!({"type": "presence_stats", "topic": topic})).await;
    match anon.reply(id).await {
        ServerFrame::PresenceStats { sessions, users, .. } => assert_eq!((sessions, users), (2, 1)),
        other => panic!("expected stats, got {other:?}"),
    }

    // Leaving by unsubscribing, then by closing.
    let mut bob = server.client_with_token(&token("bob", false)).await;
    bob.join("room", json!({"room": "here"})).await;
    let bob_m = Member::new(session(&bob), Some("bob".into()));
    for member in [&mut ann, &mut anon] {
        assert_eq!(diff(member).await, (vec![bob_m.clone()], vec![]));
    }
    let id = bob.request(json!({"type": "unsubscribe", "topic": topic})).await;
    bob.reply(id).await;
    for member in [&mut ann, &mut anon] {
        assert_eq!(diff(member).await, (vec![], vec![bob_m.clone()]));
    }
    drop(anon);
    assert_eq!(diff(&mut ann).await, (vec![], vec![Member::new(&anon_s, None)]));
    assert_eq!(members(&mut ann, &topic).await, only_ann);
}

#[tokio::test]
async fn only_subscribers_may_ask_and_only_of_a_channel_with_presence() {
    let server = server(|_| {}).await;
    let mut outsider = server.client().await;
    let id = outsider
        .request(json!({"type": "presence", "topic": "room:lobby"}))
        .await;
    assert_eq!(error_code(&outsider.reply(id).await), "not_subscribed");
    let alerts = outsider.join("alerts", json!({})).await;
    for kind in ["presence", "presence_stats"] {
        let id = outsider.request(json!({"type": kind, "topic": alerts})).await;
        assert_eq!(error_code(&outsider.reply(id).await), "not_found", "{kind}");
    }
}

#[tokio::test]
async fn two_hundred_joins_cost_each_subscriber_a_few_frames() {
    let server = server(|c| c.presence_interval = Duration::from_millis(500)).await;
    let mut watcher = server.client().await;
    let topic = watcher.join("room", json!({"room": "crowd"})).await;
    members(&mut watcher, &topic).await;
    let mut crowd = Vec::new();
    for _ in 0..200 {
        let mut c = server.client().await;
        c.join("room", json!({"room": "crowd"})).await;
        crowd.push(c);
    }
    // Within a second the watcher has every join, in at most a few frames.
    let mut frames = 0;
    let mut joined = 0;
    while joined < 200 {
        let (joins, leaves) = tokio::time::timeout(Duration::from_secs(3), diff(&mut watcher))
            .await
            .expect("the joins arrive");
        assert!(leaves.is_empty());
        joined += joins.len();
        frames += 1;
    }
    assert_eq!(joined, 200);
    assert!(frames <= 4, "{frames} frames for 200 joins");
}
