//! The HTTP server API (PROTOCOL.md section 11): `POST {base}/server/publish`
//! and `POST {base}/server/invalidate` with `X-Mizan-Api-Key`, against the
//! fixture in this process with real HTTP and real sockets; then across
//! two fixture processes joined through Redis, with the fixture's default
//! key.

mod support;

use mizan::ServerConfig;
use mizan::protocol::ServerFrame;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::processes::{Node, Redis};
use support::{Client, SECRET, Server, fixture};

/// The key the in-process servers are given.
const KEY: &str = "a-test-server-api-key-0123";

/// The fixture with [`KEY`], its settings changed by `edit`.
async fn keyed_with(edit: impl FnOnce(&mut ServerConfig)) -> Server {
    let config = support::config(|c| {
        c.api_key = Some(KEY.into());
        edit(c);
    });
    Server::start(fixture::builder(SECRET).config(config)).await
}

async fn keyed() -> Server {
    keyed_with(|_| {}).await
}

/// `POST {base}/server/{endpoint}` to `server` with `body` and, when
/// given, the key; the status and the body (`null` when it is not JSON).
async fn api(base: &str, endpoint: &str, body: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = support::post(format!("{base}/api/mizan/server/{endpoint}")).body(body.to_owned());
    if let Some(key) = key {
        request = request.header("x-mizan-api-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn base(server: &Server) -> String {
    server.http_url("")
}

async fn watch(client: &mut Client, context: &str, params: Value) {
    let id = client
        .request(json!({"type": "watch", "context": context, "params": params}))
        .await;
    let bundle = client.reply(id).await;
    assert!(matches!(bundle, ServerFrame::Bundle { .. }), "{bundle:?}");
}

/// The next push, which must be an `invalidate`; its JSON.
async fn invalidation(client: &mut Client) -> Value {
    match client.push().await {
        ServerFrame::Invalidate(entry) => serde_json::to_value(entry).unwrap(),
        other => panic!("expected an invalidate, got {other:?}"),
    }
}

const LOBBY: &str = r#"{"channel":"chat","params":{"room":"lobby"},"data":{"text":"from a worker","user":null}}"#;

#[tokio::test]
async fn a_publish_with_the_key_reaches_subscribers_and_answers_its_position() {
    let server = keyed().await;
    let mut alice = server.client().await;
    let topic = alice.join("chat", json!({"room": "lobby"})).await;
    let mut elsewhere = server.client().await;
    elsewhere.join("chat", json!({"room": "kitchen"})).await;

    let (status, body) = api(&base(&server), "publish", LOBBY, Some(KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["topic"], "chat:chat_lobby");
    assert!(body["epoch"].is_string(), "{body}");
    let offset = body["offset"].as_u64().expect("an offset");

    let push = alice.push().await;
    assert_eq!(
        push,
        ServerFrame::Message {
            topic,
            data: mizan::protocol::Payload::from_json(r#"{"text":"from a worker","user":null}"#).unwrap(),
            offset: Some(offset),
        }
    );
    elsewhere.assert_silent(Duration::from_millis(200)).await;

    // The next one takes the next offset; `user` may be left out (it is optional).
    let (status, body) = api(
        &base(&server),
        "publish",
        r#"{"channel":"chat","params":{"room":"lobby"},"data":{"text":"again"}}"#,
        Some(KEY),
    )
    .await;
    assert_eq!((status.as_u16(), body["offset"].as_u64()), (200, Some(offset + 1)));
    assert!(matches!(alice.push().await, ServerFrame::Message { offset: o, .. } if o == Some(offset + 1)));
}

#[tokio::test]
async fn without_the_right_key_nothing_is_published() {
    let server = keyed().await;
    let mut alice = server.client().await;
    alice.join("chat", json!({"room": "lobby"})).await;
    let almost = format!("{}X", &KEY[..KEY.len() - 1]);
    let longer = format!("{KEY}0");
    for key in [
        None,
        Some("wrong"),
        Some(""),
        Some(&almost[..]),
        Some(&KEY[1..]),
        Some(&longer[..]),
    ] {
        let (status, body) = api(&base(&server), "publish", LOBBY, key).await;
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(body["code"], "unauthenticated", "{key:?}");
        let (status, _) = api(&base(&server), "invalidate", r#"{"context":"notifications"}"#, key).await;
        assert_eq!(status, 401, "{key:?}");
    }
    // A bearer token is no key.
    let response = support::post(server.http_url("/api/mizan/server/publish"))
        .bearer_auth(support::token("9", true))
        .body(LOBBY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    alice.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn requests_that_cannot_be_published_are_answered_with_their_status() {
    let server = keyed().await;
    let mut alice = server.client().await;
    alice.join("chat", json!({"room": "lobby"})).await;
    let cases: [(&str, &str, u16, &str); 12] = [
        (
            "publish",
            r#"{"channel":"chat","params":{"room":"lobby"},"data":{"text":5}}"#,
            422,
            "invalid_args",
        ),
        (
            "publish",
            r#"{"channel":"chat","params":{"room":"lobby"},"data":{"words":"hi"}}"#,
            422,
            "invalid_args",
        ),
        (
            "publish",
            r#"{"channel":"chat","params":{"room":7},"data":{"text":"hi"}}"#,
            422,
            "invalid_args",
        ),
        ("publish", r#"{"channel":"nope","data":{}}"#, 404, "not_found"),
        ("publish", "not json", 400, "bad_frame"),
        ("publish", "[1]", 400, "bad_frame"),
        ("publish", r#"{"params":{"room":"lobby"},"data":{}}"#, 400, "bad_frame"),
        (
            "publish",
            r#"{"channel":"chat","params":{"room":"lobby"}}"#,
            400,
            "bad_frame",
        ),
        (
            "publish",
            r#"{"channel":"chat","params":[],"data":{"text":"hi"}}"#,
            400,
            "bad_frame",
        ),
        (
            "publish",
            r#"{"channel":"chat","parms":{"room":"lobby"},"data":{"text":"hi"}}"#,
            400,
            "bad_frame",
        ),
        ("invalidate", r#"{"context":"nope"}"#, 404, "not_found"),
        (
            "invalidate",
            r#"{"context":"user","fn":"user_orderz","params":{"user_id":5}}"#,
            404,
            "not_found",
        ),
    ];
    for (endpoint, body, status, code) in cases {
        let (got_status, got) = api(&base(&server), endpoint, body, Some(KEY)).await;
        assert_eq!(got_status.as_u16(), status, "{endpoint} {body}: {got}");
        assert_eq!(got["type"], "error");
        assert_eq!(got["code"], code, "{endpoint} {body}");
        assert!(got["message"].is_string());
    }
    // Where the data went wrong.
    let (_, got) = api(
        &base(&server),
        "publish",
        r#"{"channel":"chat","params":{"room":"lobby"},"data":{"text":5}}"#,
        Some(KEY),
    )
    .await;
    assert!(got.to_string().contains("text"), "{got}");
    // `null` params are not absent params.
    let (status, _) = api(
        &base(&server),
        "invalidate",
        r#"{"context":"user","params":null}"#,
        Some(KEY),
    )
    .await;
    assert_eq!(status, 400);
    alice.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn without_a_configured_key_the_endpoints_do_not_exist() {
    let server = Server::fixture().await;
    for (endpoint, body) in [("publish", LOBBY), ("invalidate", r#"{"context":"notifications"}"#)] {
        for key in [None, Some(KEY), Some("fixture-api-key")] {
            let (status, _) = api(&base(&server), endpoint, body, key).await;
            assert_eq!(status, 404, "{endpoint} {key:?}");
        }
    }
    let unset = ServerConfig::load_with(None, [("MIZAN_API_KEY".to_owned(), String::new())]).unwrap();
    assert!(unset.api_key.is_none(), "an empty key is no key");
}

#[tokio::test]
async fn an_invalidation_reaches_the_watchers_it_scopes_and_answers_its_offset() {
    let server = keyed().await;
    let mut five = server.client().await;
    watch(&mut five, "user", json!({"user_id": 5})).await;
    let mut six = server.client().await;
    watch(&mut six, "user", json!({"user_id": 6})).await;

    // Scoped: user 5's watcher only.
    let (status, body) = api(
        &base(&server),
        "invalidate",
        r#"{"context":"user","params":{"user_id":5}}"#,
        Some(KEY),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let offset = body["offset"].as_u64().expect("an offset");
    assert_eq!(body, json!({"offset": offset}));
    assert_eq!(
        invalidation(&mut five).await,
        json!({"context": "user", "params": {"user_id": 5}, "offset": offset})
    );
    six.assert_silent(Duration::from_millis(200)).await;

    // Function-level.
    let (_, body) = api(
        &base(&server),
        "invalidate",
        r#"{"context":"user","fn":"user_profile","params":{"user_id":6}}"#,
        Some(KEY),
    )
    .await;
    assert_eq!(body["offset"].as_u64(), Some(offset + 1));
    assert_eq!(
        invalidation(&mut six).await,
        json!({"context": "user", "fn": "user_profile", "params": {"user_id": 6}, "offset": offset + 1})
    );

    // Broad: every watcher of the context.
    let (_, body) = api(&base(&server), "invalidate", r#"{"context":"user"}"#, Some(KEY)).await;
    assert_eq!(body["offset"].as_u64(), Some(offset + 2));
    for client in [&mut five, &mut six] {
        assert_eq!(
            invalidation(client).await,
            json!({"context": "user", "offset": offset + 2})
        );
    }
}

#[tokio::test]
async fn refused_requests_are_counted_in_the_metrics() {
    let server = keyed().await;
    let _ = api(&base(&server), "publish", LOBBY, None).await;
    let _ = api(&base(&server), "publish", LOBBY, Some("wrong")).await;
    let _ = api(&base(&server), "invalidate", "{}", Some("wrong")).await;
    let _ = api(&base(&server), "publish", r#"{"channel":"nope","data":{}}"#, Some(KEY)).await;
    let _ = api(
        &base(&server),
        "publish",
        r#"{"channel":"chat","params":{"room":"x"},"data":1}"#,
        Some(KEY),
    )
    .await;
    let _ = api(&base(&server), "invalidate", r#"{"context":5}"#, Some(KEY)).await;
    let _ = api(&base(&server), "publish", "nope", Some(KEY)).await;
    let metrics = server.get_text("/metrics").await;
    for (reason, count) in [
        ("no_key", 1),
        ("wrong_key", 2),
        ("not_found", 1),
        ("invalid_args", 1),
        ("bad_request", 1),
    ] {
        let line = format!("mizan_server_api_refused_total{{reason=\"{reason}\"}} {count}\n");
        assert!(metrics.contains(&line), "no `{line}` in:\n{metrics}");
    }
    // A body that is not JSON is refused with every HTTP request's checks.
    assert!(
        metrics.contains("mizan_refused_requests_total{reason=\"body\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_http_rate_and_body_limits_apply() {
    let server = keyed_with(|c| {
        c.http_requests_per_second = 0.001;
        c.http_request_burst = 2.0;
    })
    .await;
    let (ok, _) = api(&base(&server), "publish", LOBBY, Some(KEY)).await;
    let (wrong, _) = api(&base(&server), "publish", LOBBY, Some("guess")).await;
    assert_eq!((ok.as_u16(), wrong.as_u16()), (200, 401));
    // Past the rate, guesses are not even compared.
    for key in [Some("guess"), Some(KEY)] {
        let (status, body) = api(&base(&server), "publish", LOBBY, key).await;
        assert_eq!((status.as_u16(), &body["code"]), (429, &json!("limit")));
    }

    let server = keyed().await;
    let big = json!({"channel": "chat", "params": {"room": "lobby"}, "data": {"text": "x".repeat(70 * 1024)}});
    let (status, body) = api(&base(&server), "publish", &big.to_string(), Some(KEY)).await;
    assert_eq!((status.as_u16(), &body["code"]), (413, &json!("limit")));
    let response = reqwest::Client::new()
        .post(server.http_url("/api/mizan/server/publish"))
        .header("x-mizan-api-key", KEY)
        .header("content-type", "text/plain")
        .body(LOBBY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
}

/// Two fixture processes through Redis, with the fixture's default key:
/// what one node is told reaches the other's subscribers and watchers.
#[tokio::test]
async fn through_redis_a_publish_and_an_invalidation_reach_every_node() {
    let redis = Redis::start();
    let a = Node::with_redis(&redis, &[]);
    let b = Node::with_redis(&redis, &[]);
    let mut subscriber = b.client().await;
    subscriber.join("chat", json!({"room": "lobby"})).await;
    let mut watcher = b.client().await;
    watch(&mut watcher, "user", json!({"user_id": 5})).await;
    let a_base = a.http_url("");

    let (status, body) = api(&a_base, "publish", LOBBY, Some("fixture-api-key")).await;
    assert_eq!(status, 200, "{body}");
    let ServerFrame::Message { offset, data, .. } = subscriber.push().await else {
        panic!("expected a message")
    };
    assert_eq!(
        (offset, data.get()),
        (body["offset"].as_u64(), r#"{"text":"from a worker","user":null}"#)
    );

    let (status, body) = api(
        &a_base,
        "invalidate",
        r#"{"context":"user","params":{"user_id":5}}"#,
        Some("fixture-api-key"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        invalidation(&mut watcher).await,
        json!({"context": "user", "params": {"user_id": 5}, "offset": body["offset"]})
    );
    let (status, _) = api(&a_base, "publish", LOBBY, Some(KEY)).await;
    assert_eq!(status, 401, "only the configured key opens it");
}
