//! Contexts: fetch and watch over the socket, `POST /fetch` over HTTP.

mod support;

use mizan::protocol::ServerFrame;
use serde_json::{Value, json};
use support::{Client, Server, error_code, token};

async fn fetch(client: &mut Client, context: &str, params: Value) -> ServerFrame {
    let id = client
        .request(json!({"type": "fetch", "context": context, "params": params}))
        .await;
    client.reply(id).await
}

fn bundle_data(frame: &ServerFrame) -> String {
    match frame {
        ServerFrame::Bundle { data, .. } => data.get().to_owned(),
        other => panic!("expected a bundle, got {other:?}"),
    }
}

#[tokio::test]
async fn a_bundle_holds_every_slot_of_the_context() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let frame = fetch(&mut client, "user", json!({"user_id": 5})).await;
    let ServerFrame::Bundle { context, params, .. } = &frame else {
        panic!("{frame:?}")
    };
    assert_eq!(
        (context.as_str(), Value::Object(params.clone())),
        ("user", json!({"user_id": 5}))
    );
    assert_eq!(
        bundle_data(&frame),
        r#"{"user_orders":[],"user_profile":{"user_id":5,"name":"user5"}}"#
    );
}

#[tokio::test]
async fn the_global_context_takes_no_params_and_sees_the_caller() {
    let server = Server::fixture().await;
    let mut anonymous = server.client().await;
    let id = anonymous.request(json!({"type": "fetch", "context": "global"})).await;
    assert_eq!(
        bundle_data(&anonymous.reply(id).await),
        r#"{"current_user":{"id":null}}"#
    );
    let mut alice = server.client_with_token(&token("alice", false)).await;
    assert_eq!(
        bundle_data(&fetch(&mut alice, "global", json!({})).await),
        r#"{"current_user":{"id":"alice"}}"#
    );
}

#[tokio::test]
async fn a_refetch_after_a_mutation_shows_the_change() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    client
        .call("update_profile", json!({"user_id": 5, "name": "Ann"}))
        .await;
    client.call("add_order", json!({"user_id": 5, "item": "tea"})).await;
    client.call("post_note", json!({"text": "hello"})).await;
    assert_eq!(
        bundle_data(&fetch(&mut client, "user", json!({"user_id": 5})).await),
        r#"{"user_orders":[{"id":1,"item":"tea"}],"user_profile":{"user_id":5,"name":"Ann"}}"#
    );
    assert_eq!(
        bundle_data(&fetch(&mut client, "notifications", json!({})).await),
        r#"{"notifications":["hello"]}"#
    );
    client.call("clear_all", json!({})).await;
    assert_eq!(
        bundle_data(&fetch(&mut client, "user", json!({"user_id": 5})).await),
        r#"{"user_orders":[],"user_profile":{"user_id":5,"name":"user5"}}"#
    );
}

#[tokio::test]
async fn fetch_errors() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    assert_eq!(error_code(&fetch(&mut client, "nope", json!({})).await), "not_found");
    assert_eq!(error_code(&fetch(&mut client, "user", json!({})).await), "invalid_args");
    assert_eq!(
        error_code(&fetch(&mut client, "user", json!({"user_id": "five"})).await),
        "invalid_args"
    );
    let frame = fetch(&mut client, "user", json!({"user_id": 5, "tab": 1})).await;
    let ServerFrame::Error { message, .. } = &frame else {
        panic!("{frame:?}")
    };
    assert!(message.contains("no param `tab`"), "{message}");
    let id = client.request(json!({"type": "watch", "context": "nope"})).await;
    assert_eq!(error_code(&client.reply(id).await), "not_found");
    assert_eq!(server.app.local_watch_count(), 0);
}

#[tokio::test]
async fn fetch_over_http() {
    let server = Server::fixture().await;
    let response = support::post(server.http_url("/api/mizan/fetch/user"))
        .body(r#"{"user_id":5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body: Value = response.json().await.unwrap();
    // Its stream position (tests/streams.rs checks it).
    let position = (
        body.as_object_mut().unwrap().remove("epoch"),
        body.as_object_mut().unwrap().remove("offset"),
    );
    assert!(
        matches!(position, (Some(Value::String(_)), Some(Value::Number(_)))),
        "{position:?}"
    );
    assert_eq!(
        body,
        json!({"context": "user", "params": {"user_id": 5}, "data": {"user_orders": [], "user_profile": {"user_id": 5, "name": "user5"}}})
    );
    let response = support::post(server.http_url("/api/mizan/fetch/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = support::post(server.http_url("/api/mizan/fetch/user"))
        .body(r#"{"user_id":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

/// PROTOCOL.md section 12: an HTTP fetch carries an `ETag`; the same
/// request with `If-None-Match` answers 304 with no body while the bundle
/// is unchanged, and 200 with a new tag once a mutation changed it.
#[tokio::test]
async fn http_fetches_answer_304_while_the_bundle_is_unchanged() {
    let server = Server::fixture().await;
    let url = server.http_url("/api/mizan/fetch/user");
    let fetch = |tag: Option<String>| {
        let mut request = support::post(url.clone()).body(r#"{"user_id":7}"#);
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        request.send()
    };
    let first = fetch(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
    let again = fetch(Some(tag.clone())).await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);
    assert!(again.bytes().await.unwrap().is_empty(), "a 304 has no body");
    // Another tag, or a weak form of this one.
    assert_eq!(fetch(Some("\"stale\"".into())).await.unwrap().status(), 200);
    assert_eq!(fetch(Some(format!("W/{tag}"))).await.unwrap().status(), 304);
    // A mutation changes the bundle: a full answer with a new tag.
    let mut client = server.client().await;
    let reply = client
        .call("update_profile", json!({"user_id": 7, "name": "seven"}))
        .await;
    assert!(matches!(reply, ServerFrame::Result { .. }), "{reply:?}");
    let changed = fetch(Some(tag.clone())).await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), tag);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["data"]["user_profile"]["name"], "seven");
}
