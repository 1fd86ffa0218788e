//! Calls over the WebSocket: results, every error code, concurrency.

mod support;

use mizan::protocol::ServerFrame;
use mizan::{Access, Cx, Error, Function, NoArgs};
use serde_json::json;
use std::time::Duration;
use support::{Server, error_code, result_json, token};

#[tokio::test]
async fn echo_returns_its_text_with_empty_invalidate_and_merge() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let reply = client.call("echo", json!({"text": "hi"})).await;
    assert_eq!(result_json(&reply), json!({"message": "hi"}));
    let ServerFrame::Result { invalidate, merge, .. } = reply else {
        unreachable!()
    };
    assert!(invalidate.is_empty() && merge.is_empty());
}

#[tokio::test]
async fn args_default_to_an_empty_object() {
    let server = Server::fixture().await;
    let mut client = server.client_with_token(&token("7", true)).await;
    let id = client.request(json!({"type": "call", "fn": "staff_only"})).await;
    assert_eq!(result_json(&client.reply(id).await), json!({"ok": true}));
}

/// Each error leaves the socket open: the next call still works.
async fn assert_open(client: &mut support::Client) {
    let reply = client.call("echo", json!({"text": "still here"})).await;
    assert_eq!(result_json(&reply), json!({"message": "still here"}));
}

#[tokio::test]
async fn bad_frames_are_answered_and_the_socket_stays_open() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    for (text, has_id) in [
        ("not json", false),
        ("[1,2]", false),
        (r#"{"type":"call","id":"x","fn":"echo"}"#, false),
        (r#"{"type":"warp","id":4}"#, true),
        (r#"{"type":"call","id":5}"#, true),
        (r#"{"type":"call","id":6,"fn":7}"#, true),
        (r#"{"type":"call","id":8,"fn":"echo","args":[1]}"#, true),
    ] {
        client.send_text(text).await;
        let frame = if has_id {
            client
                .reply(
                    serde_json::from_str::<serde_json::Value>(text).unwrap()["id"]
                        .as_u64()
                        .unwrap(),
                )
                .await
        } else {
            client.push().await
        };
        let ServerFrame::Error { code, message, .. } = &frame else {
            panic!("{frame:?}")
        };
        assert_eq!(code.as_str(), "bad_frame", "{text}");
        assert!(!message.is_empty());
        assert_open(&mut client).await;
    }
}

#[tokio::test]
async fn bad_frame_messages_say_what_was_wrong() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    client.send_text(r#"{"type":"call","id":5}"#).await;
    let ServerFrame::Error { message, .. } = client.reply(5).await else {
        panic!()
    };
    assert!(message.contains("`fn`"), "{message}");
    client.send_text(r#"{"type":"warp","id":6}"#).await;
    let ServerFrame::Error { message, .. } = client.reply(6).await else {
        panic!()
    };
    assert!(message.contains("warp"), "{message}");
}

#[tokio::test]
async fn not_found_for_unknown_function_channel_and_context() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    assert_eq!(error_code(&client.call("nope", json!({})).await), "not_found");
    assert_eq!(error_code(&client.subscribe("nope", json!({})).await), "not_found");
    let id = client.request(json!({"type": "fetch", "context": "nope"})).await;
    assert_eq!(error_code(&client.reply(id).await), "not_found");
    assert_open(&mut client).await;
}

#[tokio::test]
async fn invalid_args_say_where() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let reply = client.call("echo", json!({"text": 5})).await;
    let ServerFrame::Error {
        code, details, message, ..
    } = &reply
    else {
        panic!("{reply:?}")
    };
    assert_eq!(code.as_str(), "invalid_args");
    assert_eq!(details.as_ref().unwrap()["path"], "text");
    assert!(message.contains("text"), "{message}");
    assert_eq!(error_code(&client.call("echo", json!({})).await), "invalid_args");
    assert_open(&mut client).await;
}

#[tokio::test]
async fn unauthenticated_versus_forbidden() {
    let server = Server::fixture().await;
    let mut anonymous = server.client().await;
    assert_eq!(
        error_code(&anonymous.call("whoami", json!({})).await),
        "unauthenticated"
    );
    assert_eq!(
        error_code(&anonymous.call("staff_only", json!({})).await),
        "unauthenticated"
    );
    assert_open(&mut anonymous).await;

    let mut alice = server.client_with_token(&token("alice", false)).await;
    assert_eq!(
        result_json(&alice.call("whoami", json!({})).await),
        json!({"id": "alice", "staff": false})
    );
    assert_eq!(error_code(&alice.call("staff_only", json!({})).await), "forbidden");
    assert_open(&mut alice).await;
}

#[tokio::test]
async fn auth_frame_sets_and_renews_the_user() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let id = client
        .request(json!({"type": "auth", "token": token("42", false)}))
        .await;
    let ServerFrame::Ok { user: Some(user), .. } = client.reply(id).await else {
        panic!()
    };
    assert_eq!((user.id.as_str(), user.staff, user.superuser), ("42", false, false));
    assert_eq!(result_json(&client.call("whoami", json!({})).await)["id"], "42");

    let id = client
        .request(json!({"type": "auth", "token": token("43", true)}))
        .await;
    assert!(matches!(client.reply(id).await, ServerFrame::Ok { .. }));
    assert_eq!(
        result_json(&client.call("whoami", json!({})).await),
        json!({"id": "43", "staff": true})
    );

    let bad = support::token_with(json!({"sub": "44", "exp": support::now() + 60}), "another-key");
    let id = client.request(json!({"type": "auth", "token": bad})).await;
    assert_eq!(error_code(&client.reply(id).await), "unauthenticated");
    // A refused token leaves the socket as it was.
    assert_eq!(result_json(&client.call("whoami", json!({})).await)["id"], "43");
}

#[tokio::test]
async fn handler_errors_and_panics_answer_internal_without_leaking() {
    let panics = Function::new("panics", |_cx: Cx, _: NoArgs| async move {
        if true {
            panic!("secret detail");
        }
        Ok::<_, Error>(())
    });
    let server = Server::start(support::fixture::builder(support::SECRET).function(panics)).await;
    let mut client = server.client().await;
    for function in ["fail", "panics"] {
        let reply = client.call(function, json!({})).await;
        let ServerFrame::Error { code, message, .. } = &reply else {
            panic!("{reply:?}")
        };
        assert_eq!(code.as_str(), "internal");
        assert_eq!(message, "internal error");
        assert_open(&mut client).await;
    }
}

#[tokio::test]
async fn a_hundred_concurrent_calls_get_their_own_replies() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let mut sent = Vec::new();
    for i in 0..100 {
        let id = client
            .request(json!({"type": "call", "fn": "echo", "args": {"text": format!("m{i}")}}))
            .await;
        sent.push((id, format!("m{i}")));
    }
    for (id, text) in sent.into_iter().rev() {
        assert_eq!(result_json(&client.reply(id).await), json!({"message": text}));
    }
}

#[tokio::test]
async fn a_slow_call_does_not_hold_up_a_fast_one() {
    let slow = Function::new("slow", |_cx: Cx, _: NoArgs| async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok::<_, Error>("slow")
    });
    let server = Server::start(support::fixture::builder(support::SECRET).function(slow)).await;
    let mut client = server.client().await;
    let slow_id = client.request(json!({"type": "call", "fn": "slow"})).await;
    let fast_id = client
        .request(json!({"type": "call", "fn": "echo", "args": {"text": "fast"}}))
        .await;
    let started = std::time::Instant::now();
    // Read frames in arrival order: the fast reply must come first.
    let first = client.push_or_reply().await;
    assert_eq!(support::frame_id_of(&first), Some(fast_id), "{first:?}");
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(result_json(&client.reply(slow_id).await), json!("slow"));
}

#[tokio::test]
async fn custom_access_predicates_see_the_args() {
    let own = Function::new("own_note", |_cx: Cx, args: serde_json::Value| async move {
        Ok::<_, Error>(args)
    })
    .access(Access::custom(|user, args| {
        user.is_some_and(|u| args["owner"] == u.id.as_str())
    }));
    let server = Server::start(support::fixture::builder(support::SECRET).function(own)).await;
    let mut client = server.client_with_token(&token("ann", false)).await;
    assert!(matches!(
        client.call("own_note", json!({"owner": "ann"})).await,
        ServerFrame::Result { .. }
    ));
    assert_eq!(
        error_code(&client.call("own_note", json!({"owner": "bob"})).await),
        "forbidden"
    );
    let mut anonymous = server.client().await;
    assert_eq!(
        error_code(&anonymous.call("own_note", json!({"owner": "ann"})).await),
        "unauthenticated"
    );
}
