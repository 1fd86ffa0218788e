//! The server speaks first (PROTOCOL.md section 11), from Rust: a
//! background task publishes to a channel on two nodes through Redis and
//! invalidates a context; a handler adds entries to its own reply
//! (`cx.invalidate`, `cx.merge`, `cx.publish`), which reach the reply, the
//! `X-Mizan-Invalidate` header and the pushes; and a merge is scoped by
//! what the handler returned, not by the args as sent.

mod support;

use mizan::protocol::{InvalidateEntry, MergeEntry, Payload, ServerFrame};
use mizan::{Cx, Error, Function};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use support::fixture::{Chat, ChatParams, ChatSaid, UserShape};
use support::processes::Redis;
use support::streams::{next_message, subscribe};
use support::{Client, Server};

fn params(value: Value) -> Option<mizan::protocol::Params> {
    value.as_object().cloned()
}

async fn watch(client: &mut Client, context: &str, params: Value) {
    let id = client
        .request(json!({"type": "watch", "context": context, "params": params}))
        .await;
    assert!(matches!(client.reply(id).await, ServerFrame::Bundle { .. }));
}

/// A fixture node in this process joined through `redis`, with `extra`
/// functions.
async fn node(redis: &Redis, extra: Vec<Function>) -> Server {
    use mizan::broker::{RedisBroker, RedisConfig};
    let broker = RedisBroker::connect(&redis.url(), RedisConfig::default())
        .await
        .expect("the test's redis-server is up");
    Server::start(
        support::fixture::builder(support::SECRET)
            .functions(extra)
            .broker(broker),
    )
    .await
}

#[tokio::test]
async fn a_background_task_publishes_to_subscribers_on_two_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, Vec::new()).await, node(&redis, Vec::new()).await);
    let mut on_a = a.client().await;
    let mut on_b = b.client().await;
    let (topic, _, _) = subscribe(&mut on_a, "news", json!({})).await;
    subscribe(&mut on_b, "news", json!({})).await;
    let mut watcher = b.client().await;
    watch(&mut watcher, "notifications", json!({})).await;

    let api = a.app.server_api();
    let job = tokio::spawn(async move {
        let said = ChatSaid {
            text: "from the server".into(),
            user: None,
        };
        let published = api
            .publish::<Chat>(&ChatParams { room: "news".into() }, &said)
            .await
            .unwrap();
        let offset = api.invalidate(InvalidateEntry::broad("notifications")).await.unwrap();
        (published, offset)
    });
    let (published, offset) = job.await.unwrap();
    assert_eq!(published.topic, topic);
    let position = published.position.expect("a position in the topic's stream");
    assert_eq!(position.offset, 1);
    for client in [&mut on_a, &mut on_b] {
        assert_eq!(next_message(client).await, (1, "from the server".to_owned()));
    }
    match watcher.push().await {
        ServerFrame::Invalidate(entry) => {
            assert_eq!(
                (entry.context.as_str(), entry.params, entry.offset),
                ("notifications", None, offset)
            );
        }
        other => panic!("expected an invalidate, got {other:?}"),
    }
    // An unknown context is refused, typed.
    let refused = a.app.server_api().invalidate(InvalidateEntry::broad("nope")).await;
    assert_eq!(refused.unwrap_err().code(), mizan::protocol::ErrorCode::NotFound);
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Assign {
    order: i64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Assigned {
    owner: i64,
}

/// A mutation that finds out only while running whose data it touched
/// (order 3 belongs to user 5), and says so through its `Cx`.
fn assign() -> Function {
    Function::new("assign", |cx: Cx, args: Assign| async move {
        let owner = if args.order == 3 { 5 } else { 6 };
        cx.invalidate(InvalidateEntry::broad("user").with_params(params(json!({"user_id": owner}))))?;
        let value = Payload::from_value(&json!({"user_id": owner, "name": "owner"})).map_err(Error::internal)?;
        cx.merge(MergeEntry::new("user", "user_profile", value).with_params(params(json!({"user_id": owner}))))?;
        cx.publish::<Chat>(
            &ChatParams { room: "ops".into() },
            &ChatSaid {
                text: format!("order {} assigned", args.order),
                user: None,
            },
        )?;
        Ok::<_, Error>(Assigned { owner })
    })
}

#[tokio::test]
async fn entries_a_handler_adds_reach_the_reply_the_header_and_the_pushes() {
    let server = Server::start(support::fixture::builder(support::SECRET).functions([assign()])).await;
    let mut five = server.client().await;
    let mut six = server.client().await;
    watch(&mut five, "user", json!({"user_id": 5})).await;
    watch(&mut six, "user", json!({"user_id": 6})).await;
    let mut ops = server.client().await;
    subscribe(&mut ops, "ops", json!({})).await;

    let mut caller = server.client().await;
    let reply = caller.call("assign", json!({"order": 3})).await;
    let ServerFrame::Result { invalidate, merge, .. } = reply else {
        panic!("expected a result, got {reply:?}")
    };
    assert_eq!(invalidate.len(), 1);
    assert_eq!(invalidate[0].params, params(json!({"user_id": 5})));
    assert!(invalidate[0].offset.is_some(), "the entry took its offset");
    assert_eq!(merge.len(), 1);
    assert_eq!(
        support::without_offsets(&ServerFrame::Invalidate(invalidate[0].clone()).encode()),
        r#"{"type":"invalidate","context":"user","params":{"user_id":5}}"#
    );
    let pushes = [five.push().await, five.push().await];
    assert!(matches!(&pushes[0], ServerFrame::Invalidate(e) if e.params == params(json!({"user_id": 5}))));
    assert!(matches!(&pushes[1], ServerFrame::Merge(e) if e.slot == "user_profile"));
    six.assert_silent(Duration::from_millis(200)).await;
    assert_eq!(next_message(&mut ops).await.1, "order 3 assigned");

    // Over HTTP, the header carries the handler's entry.
    let response = support::post(server.http_url("/api/mizan/call/assign"))
        .body(r#"{"order":4}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = response.headers()["x-mizan-invalidate"].to_str().unwrap().to_owned();
    assert_eq!(header, "user;user_id=6");
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Rename {
    #[allow(dead_code)]
    user_id: i64,
    name: String,
}

/// Renames the *caller's own* profile (user 5 here) whatever `user_id`
/// says: a merge scoped by the args would splice it into user 7's screens.
fn rename_own() -> Function {
    Function::new("rename_own", |_cx: Cx, args: Rename| async move {
        Ok::<_, Error>(UserShape {
            user_id: 5,
            name: args.name,
        })
    })
    .merge("user")
}

#[tokio::test]
async fn a_merge_is_scoped_by_what_the_handler_returned_not_by_the_args() {
    let server = Server::start(support::fixture::builder(support::SECRET).functions([rename_own()])).await;
    let mut five = server.client().await;
    let mut seven = server.client().await;
    watch(&mut five, "user", json!({"user_id": 5})).await;
    watch(&mut seven, "user", json!({"user_id": 7})).await;
    let mut caller = server.client().await;
    let reply = caller.call("rename_own", json!({"user_id": 7, "name": "Eve"})).await;
    let ServerFrame::Result { merge, .. } = reply else {
        panic!("expected a result, got {reply:?}")
    };
    assert_eq!(
        merge[0].params,
        params(json!({"user_id": 5})),
        "the output's user_id wins"
    );
    match five.push().await {
        ServerFrame::Merge(entry) => assert_eq!(entry.value.get(), r#"{"user_id":5,"name":"Eve"}"#),
        other => panic!("expected a merge, got {other:?}"),
    }
    seven.assert_silent(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn the_chat_example_s_server_bot_speaks_in_the_lobby() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(support::processes::example_binary("chat"))
        .args(["--port", "0", "--bot-every", "1"])
        .env_remove("CHAT_BOT_EVERY_SECS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the chat example runs");
    // Its banner names the address: `chat: open http://ADDR/ in two …`.
    let stdout = child.stdout.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                let rest = line.split_once("http://")?.1;
                Some(rest.split('/').next()?.to_owned())
            })
    });
    let addr = tokio::time::timeout(support::WAIT, addr).await.unwrap().unwrap();
    let addr = addr.expect("the chat example printed its address");
    let mut client = Client::connect(&format!("ws://{addr}/api/mizan/ws"), None).await;
    let id = client
        .request(json!({"type": "subscribe", "channel": "chat", "params": {"room": "lobby"}}))
        .await;
    assert!(matches!(client.reply(id).await, ServerFrame::Subscribed { .. }));
    match client.push().await {
        ServerFrame::Message { data, .. } => {
            let said: Value = serde_json::from_str(data.get()).unwrap();
            assert_eq!(said["name"], "server");
            assert!(said["text"].as_str().unwrap().starts_with("server clock"));
        }
        other => panic!("expected the bot's message, got {other:?}"),
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn production_refuses_a_short_server_api_key() {
    let strong = mizan::Jwt::hs256(b"0123456789abcdef0123456789abcdef-strong");
    let with_key = |key: &str| {
        support::config(|c| {
            c.production = true;
            c.api_key = Some(key.into());
        })
    };
    let err = match mizan::Mizan::builder()
        .jwt(strong.clone())
        .config(with_key("short"))
        .build()
    {
        Ok(_) => panic!("a 5-character key was accepted in production"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("refusing to start in production"), "{err}");
    let long = "a-server-api-key-of-40-characters-enough";
    assert!(
        mizan::Mizan::builder()
            .jwt(strong)
            .config(with_key(long))
            .build()
            .is_ok()
    );
}

#[tokio::test]
async fn the_server_api_refuses_what_would_reach_nobody_or_everybody() {
    let mine = Function::new("my_notes", |_cx: Cx, _: mizan::NoArgs| async move {
        Ok::<_, Error>(Vec::<String>::new())
    })
    .context("mine")
    .per_user();
    let server = Server::start(support::fixture::builder(support::SECRET).functions([mine])).await;
    let api = server.app.server_api();
    let code = |r: Result<Option<u64>, Error>| r.unwrap_err().code();
    use mizan::protocol::ErrorCode;
    // A misspelt param would reach no watcher.
    let typo = InvalidateEntry::broad("user").with_params(params(json!({"user": 5})));
    assert_eq!(code(api.invalidate(typo).await), ErrorCode::InvalidArgs);
    // A per-user merge without its user would reach every user's screens.
    let value = Payload::from_value(&json!(["x"])).unwrap();
    let everyone = MergeEntry::new("mine", "my_notes", value.clone());
    assert_eq!(code(api.merge(everyone).await), ErrorCode::InvalidArgs);
    let alice = MergeEntry::new("mine", "my_notes", value).for_user(Some("alice".into()));
    assert!(api.merge(alice).await.unwrap().is_some());
    let unknown_slot = InvalidateEntry::broad("user").with_function(Some("nope".into()));
    assert_eq!(code(api.invalidate(unknown_slot).await), ErrorCode::NotFound);
}
