//! A socket's memberships and watches follow its identity: when an `auth`
//! frame changes the user (or their levels), or the token expires, what
//! the new identity may not hold is dropped with a push, and nothing of it
//! reaches the socket afterwards (PROTOCOL.md section 3).

mod support;

use mizan::protocol::ServerFrame;
use mizan::{Cx, Error, MizanBuilder};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use std::time::Duration;
use support::{Client, Server, error_code, now, token, token_with};

#[derive(Serialize, JsonSchema)]
struct Ops {
    alerts: u32,
}

/// A context only staff may read.
#[mizan::function(context = "ops", auth = "staff")]
async fn ops_board(_cx: &Cx) -> Result<Ops, Error> {
    Ok(Ops { alerts: 0 })
}

fn app() -> MizanBuilder {
    support::fixture::builder(support::SECRET)
        .functions([OPS_BOARD])
        .config(support::config(|c| c.token_grace = Duration::from_secs(30)))
}

async fn send(client: &mut Client, topic: &str, text: &str) -> ServerFrame {
    let id = client
        .request(json!({"type": "send", "topic": topic, "data": {"text": text}}))
        .await;
    client.reply(id).await
}

async fn auth(client: &mut Client, token: &str) -> ServerFrame {
    let id = client.request(json!({"type": "auth", "token": token})).await;
    client.reply(id).await
}

async fn watch(client: &mut Client, context: &str, params: serde_json::Value) -> ServerFrame {
    let id = client
        .request(json!({"type": "watch", "context": context, "params": params}))
        .await;
    client.reply(id).await
}

#[tokio::test]
async fn a_user_switch_leaves_the_rooms_and_watches_the_new_user_may_not_hold() {
    let server = Server::start(app()).await;
    let mut admin = server.client_with_token(&token("admin", true)).await;
    let staff_room = admin.join("chat", json!({"room": "staff-ops"})).await;
    let lobby = admin.join("chat", json!({"room": "lobby"})).await;
    let mut socket = server.client_with_token(&token("boss", true)).await;
    socket.join("chat", json!({"room": "staff-ops"})).await;
    socket.join("chat", json!({"room": "lobby"})).await;
    assert!(matches!(
        watch(&mut socket, "ops", json!({})).await,
        ServerFrame::Bundle { .. }
    ));
    assert!(matches!(
        watch(&mut socket, "user", json!({"user_id": 1})).await,
        ServerFrame::Bundle { .. }
    ));

    // The same tab now signs in as an intern.
    let reply = auth(&mut socket, &token("intern", false)).await;
    assert!(matches!(reply, ServerFrame::Ok { .. }), "{reply:?}");
    let mut revoked = vec![socket.push().await, socket.push().await];
    revoked.sort_by_key(|f| format!("{f:?}"));
    assert!(
        matches!(&revoked[0], ServerFrame::Unsubscribed { topic, code } if *topic == staff_room && code.as_str() == "forbidden"),
        "{revoked:?}"
    );
    assert!(
        matches!(&revoked[1], ServerFrame::Unwatched { context, code, .. } if context == "ops" && code.as_str() == "forbidden"),
        "{revoked:?}"
    );

    // Nothing of the staff room reaches the intern, and it cannot post there.
    assert!(matches!(
        send(&mut admin, &staff_room, "secret plan").await,
        ServerFrame::Ok { .. }
    ));
    assert_eq!(
        error_code(&send(&mut socket, &staff_room, "hi boss").await),
        "not_subscribed"
    );
    // What it may still hold goes on: the lobby, the public context.
    assert!(matches!(
        send(&mut admin, &lobby, "public").await,
        ServerFrame::Ok { .. }
    ));
    match socket.push().await {
        ServerFrame::Message { topic, data, .. } => {
            assert_eq!(topic, lobby);
            assert!(data.get().contains("public"), "{data:?}");
        }
        other => panic!("expected the lobby's message, got {other:?}"),
    }
    let updated = socket.call("update_profile", json!({"user_id": 1, "name": "x"})).await;
    assert_eq!(support::result_json(&updated), json!({"ok": true}));
    assert!(matches!(socket.push().await, ServerFrame::Invalidate(e) if e.context == "user"));
    socket.assert_silent(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn renewing_the_same_identity_keeps_everything() {
    let server = Server::start(app()).await;
    let mut socket = server.client_with_token(&token("boss", true)).await;
    let staff_room = socket.join("chat", json!({"room": "staff-ops"})).await;
    assert!(matches!(
        watch(&mut socket, "ops", json!({})).await,
        ServerFrame::Bundle { .. }
    ));
    let renewed = token_with(
        json!({"sub": "boss", "staff": true, "exp": now() + 7200}),
        support::SECRET,
    );
    assert!(matches!(auth(&mut socket, &renewed).await, ServerFrame::Ok { .. }));
    socket.assert_silent(Duration::from_millis(200)).await;
    assert!(matches!(
        send(&mut socket, &staff_room, "still mine").await,
        ServerFrame::Ok { .. }
    ));
}

#[tokio::test]
async fn an_expired_token_leaves_what_nobody_may_hold() {
    let server = Server::start(app()).await;
    let short = token_with(json!({"sub": "boss", "staff": true, "exp": now() + 1}), support::SECRET);
    let mut socket = server.client_with_token(&short).await;
    let staff_room = socket.join("chat", json!({"room": "staff-ops"})).await;
    let lobby = socket.join("chat", json!({"room": "lobby"})).await;
    assert!(matches!(
        watch(&mut socket, "ops", json!({})).await,
        ServerFrame::Bundle { .. }
    ));
    let ServerFrame::Error { code, .. } = socket.push().await else {
        panic!("the expiry is announced first")
    };
    assert_eq!(code.as_str(), "unauthenticated");
    let mut revoked = vec![socket.push().await, socket.push().await];
    revoked.sort_by_key(|f| format!("{f:?}"));
    assert!(
        matches!(&revoked[0], ServerFrame::Unsubscribed { topic, code } if *topic == staff_room && code.as_str() == "unauthenticated"),
        "{revoked:?}"
    );
    assert!(
        matches!(&revoked[1], ServerFrame::Unwatched { code, .. } if code.as_str() == "unauthenticated"),
        "{revoked:?}"
    );
    let mut other_staff = server.client_with_token(&token("admin", true)).await;
    other_staff.join("chat", json!({"room": "staff-ops"})).await;
    assert!(matches!(
        send(&mut other_staff, &staff_room, "after expiry").await,
        ServerFrame::Ok { .. }
    ));
    assert_eq!(error_code(&send(&mut socket, &staff_room, "x").await), "not_subscribed");
    assert!(matches!(
        send(&mut socket, &lobby, "anyone may").await,
        ServerFrame::Ok { .. }
    ));
    match socket.push().await {
        ServerFrame::Message { topic, data, .. } => {
            assert_eq!(topic, lobby, "nothing of the staff room came first");
            assert!(data.get().contains("anyone may"));
        }
        other => panic!("expected the lobby's message, got {other:?}"),
    }
}
