//! Presence on one node (PROTOCOL.md section 10): the members of a topic,
//! the joiner's own join not sent to it, leaves on unsubscribe and on
//! close, stats, `not_subscribed` and `not_found`, members' info and user
//! following an `auth`, the frame rate counting presence requests, and
//! batching: many joins cost each subscriber a frame per interval, not one
//! per join. Across nodes: tests/redis_presence.rs.

mod support;

use mizan::protocol::{Member, ServerFrame};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use support::{Client, Server, error_code, token};

/// A room channel that tracks presence, its members carrying a display
/// name.
struct Room;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Shown {
    name: String,
}

impl mizan::MemberInfo for Room {
    type Info = Shown;
    fn member_info(&self, cx: &mizan::Cx, params: &RoomParams) -> Shown {
        let who = cx.user().map_or("guest", |u| u.id.as_str());
        Shown {
            name: params
                .name
                .clone()
                .unwrap_or_else(|| format!("{who} in {}", params.room)),
        }
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct RoomParams {
    room: String,
    /// A display name, shown instead of who joined.
    #[serde(default)]
    name: Option<String>,
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
    Server::start(
        support::fixture::builder(support::SECRET)
            .channel_with_member_info(Room)
            .config(config),
    )
    .await
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

/// The members with their info.
async fn members_with_info(client: &mut Client, topic: &str) -> Vec<Member> {
    let id = client.request(json!({"type": "presence", "topic": topic})).await;
    match client.reply(id).await {
        ServerFrame::Presence { mut members, .. } => {
            members.sort_by(|a, b| a.session.cmp(&b.session));
            members
        }
        other => panic!("expected presence, got {other:?}"),
    }
}

async fn diff(client: &mut Client) -> (Vec<Member>, Vec<Member>) {
    match client.push().await {
        ServerFrame::PresenceDiff { joins, leaves, .. } => (joins, leaves),
        other => panic!("expected a presence diff, got {other:?}"),
    }
}

fn shown(name: &str) -> mizan::protocol::Payload {
    mizan::protocol::Payload::from_value(&json!({"name": name})).unwrap()
}

fn guest(session: &str) -> Member {
    Member::new(session, None).with_info(Some(shown("guest in here")))
}

#[tokio::test]
async fn a_members_user_and_info_follow_its_auth() {
    let server = server(|_| {}).await;
    let mut watcher = server.client_with_token(&token("ann", false)).await.with_presence();
    let topic = watcher.join("room", json!({"room": "here"})).await;
    members(&mut watcher, &topic).await;
    let mut anon = server.client().await.with_presence();
    anon.join("room", json!({"room": "here"})).await;
    let anon_s = session(&anon);
    assert_eq!(diff(&mut watcher).await, (vec![guest(&anon_s)], vec![]));
    // Signing in: the member leaves as the guest and joins as bob.
    let id = anon
        .request(json!({"type": "auth", "token": token("bob", false)}))
        .await;
    assert!(matches!(anon.reply(id).await, ServerFrame::Ok { .. }));
    let bob = Member::new(&anon_s, Some("bob".into())).with_info(Some(shown("bob in here")));
    for client in [&mut watcher, &mut anon] {
        assert_eq!(diff(client).await, (vec![bob.clone()], vec![guest(&anon_s)]));
    }
    let listed = members_with_info(&mut anon, &topic).await;
    assert!(listed.contains(&bob) && listed.len() == 2, "{listed:?}");
    // Joining again with the same params changes nothing; with other
    // params of the same topic, the info follows them.
    anon.join("room", json!({"room": "here"})).await;
    watcher.assert_silent(Duration::from_millis(300)).await;
    anon.join("room", json!({"room": "here", "name": "Robert"})).await;
    let robert = Member::new(&anon_s, Some("bob".into())).with_info(Some(shown("Robert")));
    assert_eq!(diff(&mut watcher).await, (vec![robert], vec![bob.clone()]));
    // A renewal of the same identity changes nothing.
    let id = anon
        .request(json!({"type": "auth", "token": token("bob", false)}))
        .await;
    anon.reply(id).await;
    watcher.assert_silent(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn members_joins_and_leaves_of_a_topic() {
    let server = server(|_| {}).await;
    let mut ann = server.client_with_token(&token("ann", false)).await.with_presence();
    let topic = ann.join("room", json!({"room": "here"})).await;
    let ann_s = session(&ann);
    let only_ann: BTreeSet<_> = [(ann_s.clone(), Some("ann".to_owned()))].into();
    // The answer comes with the next batch: it holds ann's own join, and
    // ann is sent no diff for it.
    assert_eq!(members(&mut ann, &topic).await, only_ann);
    let mut anon = server.client().await.with_presence();
    anon.join("room", json!({"room": "here"})).await;
    let anon_s = session(&anon);
    let (joins, leaves) = diff(&mut ann).await;
    assert_eq!((joins, leaves), (vec![guest(&anon_s)], vec![]));
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
    let mut bob = server.client_with_token(&token("bob", false)).await.with_presence();
    bob.join("room", json!({"room": "here"})).await;
    let bob_m = Member::new(session(&bob), Some("bob".into())).with_info(Some(shown("bob in here")));
    for member in [&mut ann, &mut anon] {
        assert_eq!(diff(member).await, (vec![bob_m.clone()], vec![]));
    }
    let id = bob.request(json!({"type": "unsubscribe", "topic": topic})).await;
    bob.reply(id).await;
    for member in [&mut ann, &mut anon] {
        assert_eq!(diff(member).await, (vec![], vec![bob_m.clone()]));
    }
    drop(anon);
    assert_eq!(diff(&mut ann).await, (vec![], vec![guest(&anon_s)]));
    assert_eq!(members(&mut ann, &topic).await, only_ann);
}

#[tokio::test]
async fn only_subscribers_may_ask_and_only_of_a_channel_with_presence() {
    let server = server(|_| {}).await;
    let mut outsider = server.client().await.with_presence();
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
    let mut watcher = server.client().await.with_presence();
    let topic = watcher.join("room", json!({"room": "crowd"})).await;
    members(&mut watcher, &topic).await;
    let mut crowd = Vec::new();
    for _ in 0..200 {
        let mut c = server.client().await.with_presence();
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

#[tokio::test]
async fn presence_requests_count_toward_the_frame_rate() {
    let server = server(|c| {
        c.messages_per_second = 1.0;
        c.message_burst = 4.0;
    })
    .await;
    let mut client = server.client().await.with_presence();
    let topic = client.join("room", json!({"room": "busy"})).await;
    let mut refused = 0;
    for n in 0..10 {
        let kind = if n % 2 == 0 { "presence" } else { "presence_stats" };
        let id = client.request(json!({"type": kind, "topic": topic})).await;
        match client.reply(id).await {
            ServerFrame::Presence { .. } | ServerFrame::PresenceStats { .. } => {}
            refusal => {
                assert_eq!(error_code(&refusal), "limit");
                refused += 1;
            }
        }
    }
    assert!(
        refused >= 5,
        "only {refused} of 10 presence requests over the rate were refused"
    );
}
