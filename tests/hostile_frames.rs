//! Any sequence of frames from one client never crashes the server or
//! disturbs another client: a property test over random sequences of
//! garbage, random JSON, plausible frames with bad fields, pings, binary
//! and oversized frames.

mod support;

use futures_util::SinkExt;
use mizan::protocol::ServerFrame;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use support::{Client, Server, result_json};
use tokio_tungstenite::tungstenite::Message;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A frame that looks like a request: a real or made-up type, a good or bad
/// id, and real field names with random values.
fn plausible() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        Just("call"),
        Just("fetch"),
        Just("watch"),
        Just("unwatch"),
        Just("subscribe"),
        Just("send"),
        Just("unsubscribe"),
        Just("auth"),
        Just("hello"),
        Just("bogus"),
    ];
    let id = prop_oneof![
        (0u64..1000).prop_map(Value::from),
        Just(json!(-1)),
        Just(json!(9007199254740992u64)),
        Just(json!("7")),
        Just(Value::Null),
    ];
    let field = prop_oneof![
        Just("fn"),
        Just("args"),
        Just("context"),
        Just("params"),
        Just("channel"),
        Just("topic"),
        Just("data"),
        Just("token"),
        Just("id"),
    ];
    let known = prop_oneof![
        Just(json!("echo")),
        Just(json!("chat")),
        Just(json!("user")),
        Just(json!("update_profile")),
        Just(json!("chat:chat_victim")),
        Just(json!({"room": "victim"})),
        Just(json!({"user_id": 1})),
        Just(json!({"text": "hi"})),
    ];
    (
        kind,
        id,
        prop::collection::vec((field, prop_oneof![known, json_value()]), 0..5),
    )
        .prop_map(|(kind, id, fields)| {
            let mut frame = json!({"type": kind, "id": id});
            for (name, value) in fields {
                frame[name] = value;
            }
            frame.to_string()
        })
}

#[derive(Debug, Clone)]
enum Hostile {
    Text(String),
    Binary(Vec<u8>),
    Ping,
    Oversized,
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        4 => plausible().prop_map(Hostile::Text),
        2 => json_value().prop_map(|v| Hostile::Text(v.to_string())),
        2 => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| Hostile::Text(String::from_utf8_lossy(&b).into_owned())),
        1 => Just(Hostile::Ping),
        1 => prop::collection::vec(any::<u8>(), 0..16).prop_map(Hostile::Binary),
        1 => Just(Hostile::Oversized),
    ]
}

/// Sends the frames on a fresh socket without reading; a socket the server
/// closed (binary, oversized) is replaced by a new one.
async fn attack(server: &Server, frames: &[Hostile]) {
    let connect = || async {
        tokio_tungstenite::connect_async(server.ws_url())
            .await
            .expect("the server accepts")
            .0
    };
    let mut ws = connect().await;
    for frame in frames {
        let message = match frame {
            Hostile::Text(text) => Message::text(text.clone()),
            Hostile::Binary(bytes) => Message::binary(bytes.clone()),
            Hostile::Ping => Message::Ping(vec![1, 2, 3].into()),
            Hostile::Oversized => Message::text("x".repeat(70 * 1024)),
        };
        if ws.send(message).await.is_err() {
            ws = connect().await;
        }
    }
    let _ = ws.close(None).await;
}

/// The victim still gets answers and its room's messages.
async fn victim_is_fine(server: &Server, victim: &mut Client, round: usize) {
    let reply = victim.call("echo", json!({"text": format!("round {round}")})).await;
    assert_eq!(result_json(&reply), json!({"message": format!("round {round}")}));
    let mut friend = server.client().await;
    let topic = friend.join("chat", json!({"room": "victim"})).await;
    let marker = format!("marker {round}");
    let id = friend
        .request(json!({"type": "send", "topic": topic, "data": {"text": marker}}))
        .await;
    assert!(matches!(friend.reply(id).await, ServerFrame::Ok { .. }));
    // Pushes the attacker caused through the API are fine; the marker must come.
    loop {
        match victim.push().await {
            ServerFrame::Message { data, .. } if data.get().contains(&marker) => break,
            ServerFrame::Message { .. } | ServerFrame::Invalidate(_) | ServerFrame::Merge(_) => continue,
            other => panic!("round {round}: unexpected {other:?}"),
        }
    }
}

#[test]
fn random_frames_never_crash_the_server_or_disturb_others() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(Server::fixture());
    let victim = rt.block_on(async {
        let mut victim = server.client().await;
        victim.join("chat", json!({"room": "victim"})).await;
        let id = victim
            .request(json!({"type": "watch", "context": "user", "params": {"user_id": 1}}))
            .await;
        victim.reply(id).await;
        victim
    });
    // The runner takes a `Fn`: the victim and the round live in cells.
    let victim = std::cell::RefCell::new(Some(victim));
    let round = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(hostile(), 1..40), |frames| {
            round.set(round.get() + 1);
            rt.block_on(async {
                attack(&server, &frames).await;
                // Taken out of the cell for the await, put back after.
                let mut client = victim.take().expect("the victim is back after each case");
                victim_is_fine(&server, &mut client, round.get()).await;
                victim.replace(Some(client));
            });
            Ok(())
        })
        .unwrap();
}
