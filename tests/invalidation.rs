//! Invalidation and merge: the exact entries of every fixture mutation in
//! the reply, the HTTP header and the pushes; scoping; unwatch; the race
//! between a watch and its bundle; crossing nodes.

mod support;

use mizan::broker::MemoryBroker;
use mizan::protocol::ServerFrame;
use mizan::{Cx, Error, Function, NoArgs};
use serde_json::{Value, json};
use std::time::Duration;
use support::{Client, Server};

async fn watch(client: &mut Client, context: &str, params: Value) -> ServerFrame {
    let id = client
        .request(json!({"type": "watch", "context": context, "params": params}))
        .await;
    let bundle = client.reply(id).await;
    assert!(matches!(bundle, ServerFrame::Bundle { .. }), "{bundle:?}");
    bundle
}

/// The reply's entries as JSON text, and the next push as JSON text.
fn entries(reply: &ServerFrame) -> (String, String) {
    match reply {
        ServerFrame::Result { invalidate, merge, .. } => (
            support::without_offsets(&serde_json::to_string(invalidate).unwrap()),
            support::without_offsets(&serde_json::to_string(merge).unwrap()),
        ),
        other => panic!("expected a result, got {other:?}"),
    }
}

fn text(frame: &ServerFrame) -> String {
    support::without_offsets(&frame.encode())
}

/// Calls over HTTP and returns the `X-Mizan-Invalidate` header.
async fn http_header(server: &Server, function: &str, args: Value) -> Option<String> {
    let response = support::post(server.http_url(&format!("/api/mizan/call/{function}")))
        .body(args.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get("x-mizan-invalidate")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn every_fixture_mutation_reports_its_exact_entries() {
    let server = Server::fixture().await;
    let mut watcher = server.client().await;
    watch(&mut watcher, "user", json!({"user_id": 5})).await;
    watch(&mut watcher, "notifications", json!({})).await;
    let mut caller = server.client().await;
    let scoped = r#"[{"context":"user","params":{"user_id":5}}]"#;
    let cases: [(&str, Value, &str, &str, &str, &str); 6] = [
        (
            "update_profile",
            json!({"user_id": 5, "name": "A"}),
            scoped,
            "[]",
            r#"{"type":"invalidate","context":"user","params":{"user_id":5}}"#,
            "user;user_id=5",
        ),
        (
            "update_name",
            json!({"user_id": 5, "name": "B"}),
            r#"[{"context":"user","fn":"user_profile","params":{"user_id":5}}]"#,
            "[]",
            r#"{"type":"invalidate","context":"user","fn":"user_profile","params":{"user_id":5}}"#,
            "user;user_id=5",
        ),
        (
            "add_order",
            json!({"user_id": 5, "item": "tea"}),
            scoped,
            "[]",
            r#"{"type":"invalidate","context":"user","params":{"user_id":5}}"#,
            "user;user_id=5",
        ),
        (
            "clear_all",
            json!({}),
            r#"[{"context":"user"}]"#,
            "[]",
            r#"{"type":"invalidate","context":"user"}"#,
            "user",
        ),
        (
            "post_note",
            json!({"text": "hi"}),
            r#"[{"context":"notifications"}]"#,
            "[]",
            r#"{"type":"invalidate","context":"notifications"}"#,
            "notifications",
        ),
        (
            "rename_user",
            json!({"user_id": 5, "name": "Ann"}),
            "[]",
            r#"[{"context":"user","slot":"user_profile","params":{"user_id":5},"value":{"user_id":5,"name":"Ann"}}]"#,
            r#"{"type":"merge","context":"user","slot":"user_profile","params":{"user_id":5},"value":{"user_id":5,"name":"Ann"}}"#,
            "user;user_id=5",
        ),
    ];
    for (function, args, invalidate, merge, push, header) in cases {
        let reply = caller.call(function, args.clone()).await;
        assert_eq!(entries(&reply), (invalidate.to_owned(), merge.to_owned()), "{function}");
        assert_eq!(text(&watcher.push().await), push, "{function}");
        watcher.assert_silent(Duration::from_millis(50)).await;
        assert_eq!(
            http_header(&server, function, args).await.as_deref(),
            Some(header),
            "{function}"
        );
        assert_eq!(text(&watcher.push().await), push, "{function} over HTTP");
    }
    assert_eq!(http_header(&server, "echo", json!({"text": "x"})).await, None);
}

#[tokio::test]
async fn a_watcher_of_another_user_gets_nothing() {
    let server = Server::fixture().await;
    let mut six = server.client().await;
    watch(&mut six, "user", json!({"user_id": 6})).await;
    let mut caller = server.client().await;
    for (function, args) in [
        ("update_profile", json!({"user_id": 5, "name": "x"})),
        ("update_name", json!({"user_id": 5, "name": "x"})),
        ("add_order", json!({"user_id": 5, "item": "x"})),
        ("rename_user", json!({"user_id": 5, "name": "x"})),
    ] {
        caller.call(function, args).await;
    }
    six.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn broad_entries_reach_every_watcher_of_the_context() {
    let server = Server::fixture().await;
    let mut five = server.client().await;
    let mut six = server.client().await;
    let mut notes = server.client().await;
    watch(&mut five, "user", json!({"user_id": 5})).await;
    watch(&mut six, "user", json!({"user_id": 6})).await;
    watch(&mut notes, "notifications", json!({})).await;
    server.client().await.call("clear_all", json!({})).await;
    for client in [&mut five, &mut six] {
        assert_eq!(text(&client.push().await), r#"{"type":"invalidate","context":"user"}"#);
    }
    notes.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn merge_pushes_the_value_and_a_refetch_agrees() {
    let server = Server::fixture().await;
    let mut watcher = server.client().await;
    watch(&mut watcher, "user", json!({"user_id": 7})).await;
    server
        .client()
        .await
        .call("rename_user", json!({"user_id": 7, "name": "Zed"}))
        .await;
    let ServerFrame::Merge(entry) = watcher.push().await else {
        panic!()
    };
    assert_eq!(
        (entry.slot.as_str(), entry.value.get()),
        ("user_profile", r#"{"user_id":7,"name":"Zed"}"#)
    );
    let id = watcher
        .request(json!({"type": "fetch", "context": "user", "params": {"user_id": 7}}))
        .await;
    let ServerFrame::Bundle { data, .. } = watcher.reply(id).await else {
        panic!()
    };
    assert!(data.get().contains(r#""user_profile":{"user_id":7,"name":"Zed"}"#));
}

#[tokio::test]
async fn unwatch_stops_pushes() {
    let server = Server::fixture().await;
    let mut watcher = server.client().await;
    watch(&mut watcher, "user", json!({"user_id": 5})).await;
    let id = watcher
        .request(json!({"type": "unwatch", "context": "user", "params": {"user_id": 5}}))
        .await;
    assert!(matches!(watcher.reply(id).await, ServerFrame::Ok { .. }));
    server
        .client()
        .await
        .call("update_profile", json!({"user_id": 5, "name": "x"}))
        .await;
    watcher.assert_silent(Duration::from_millis(200)).await;
    assert_eq!(server.app.local_watch_count(), 0);
}

#[tokio::test]
async fn disconnecting_drops_every_watch() {
    let server = Server::fixture().await;
    {
        let mut watcher = server.client().await;
        watch(&mut watcher, "user", json!({"user_id": 5})).await;
        watch(&mut watcher, "global", json!({})).await;
        assert_eq!(server.app.local_watch_count(), 2);
    }
    let deadline = std::time::Instant::now() + support::WAIT;
    while server.app.local_watch_count() != 0 {
        assert!(std::time::Instant::now() < deadline, "watches were not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A context whose bundle takes 300 ms, so a mutation can land while it is
/// being computed.
fn slow_context() -> [Function; 2] {
    [
        Function::new("slow_slot", |_cx: Cx, _: NoArgs| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, Error>("stale")
        })
        .context("slow"),
        Function::new("touch_slow", |_cx: Cx, _: NoArgs| async move { Ok::<_, Error>(true) }).affects("slow"),
    ]
}

#[tokio::test]
async fn an_invalidation_during_the_bundle_follows_the_bundle() {
    let server = Server::start(support::fixture::builder(support::SECRET).functions(slow_context())).await;
    let mut watcher = server.client().await;
    let id = watcher.request(json!({"type": "watch", "context": "slow"})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reply = server.client().await.call("touch_slow", json!({})).await;
    assert!(matches!(reply, ServerFrame::Result { .. }));
    // In arrival order: the bundle first, then the held-back invalidation.
    let first = watcher.push_or_reply().await;
    assert!(
        matches!(&first, ServerFrame::Bundle { id: got, .. } if got.get() == id),
        "{first:?}"
    );
    assert_eq!(
        text(&watcher.push_or_reply().await),
        r#"{"type":"invalidate","context":"slow"}"#
    );
}

#[tokio::test]
async fn no_invalidation_is_lost_between_a_watch_and_its_bundle() {
    let server = Server::fixture().await;
    let mut watcher = server.client().await;
    let mut caller = server.client().await;
    for round in 0..40 {
        let name = format!("n{round}");
        let watch_id = watcher
            .request(json!({"type": "watch", "context": "user", "params": {"user_id": 9}}))
            .await;
        let call_id = caller
            .request(json!({"type": "call", "fn": "update_profile", "args": {"user_id": 9, "name": name}}))
            .await;
        let first = watcher.push_or_reply().await;
        let ServerFrame::Bundle { id, data, .. } = &first else {
            panic!("round {round}: {first:?} before the bundle")
        };
        assert_eq!(id.get(), watch_id);
        caller.reply(call_id).await;
        if !data.get().contains(&format!("\"{name}\"")) {
            // The bundle predates the mutation: its invalidation must follow.
            let push = watcher.push().await;
            assert!(matches!(push, ServerFrame::Invalidate(_)), "round {round}: {push:?}");
        }
        let id = watcher
            .request(json!({"type": "unwatch", "context": "user", "params": {"user_id": 9}}))
            .await;
        // Drain: an invalidation that raced the unwatch may still arrive.
        loop {
            match watcher.push_or_reply().await {
                ServerFrame::Ok { id: got, .. } if got.get() == id => break,
                ServerFrame::Invalidate(_) => continue,
                other => panic!("round {round}: {other:?}"),
            }
        }
        while let Ok(frame) = tokio::time::timeout(Duration::from_millis(5), watcher.push_or_reply()).await {
            assert!(matches!(frame, ServerFrame::Invalidate(_)), "round {round}: {frame:?}");
        }
    }
}

#[tokio::test]
async fn invalidations_and_merges_cross_nodes() {
    let bus = MemoryBroker::new();
    let a = Server::start(support::fixture::builder(support::SECRET).broker(bus.clone())).await;
    let b = Server::start(support::fixture::builder(support::SECRET).broker(bus.clone())).await;
    let mut on_b = b.client().await;
    watch(&mut on_b, "user", json!({"user_id": 5})).await;
    let mut on_a = a.client().await;
    on_a.call("update_profile", json!({"user_id": 5, "name": "x"})).await;
    assert_eq!(
        text(&on_b.push().await),
        r#"{"type":"invalidate","context":"user","params":{"user_id":5}}"#
    );
    on_a.call("rename_user", json!({"user_id": 5, "name": "y"})).await;
    assert!(matches!(on_b.push().await, ServerFrame::Merge(_)));
    on_a.call("update_profile", json!({"user_id": 6, "name": "x"})).await;
    on_b.assert_silent(Duration::from_millis(200)).await;
}

/// The request with raw JSON `frame` (its key order as written) and the
/// reply to it.
async fn raw_request(client: &mut Client, frame: &str) -> ServerFrame {
    let id = client.id();
    client.send_text(frame.replace("ID", &id.to_string())).await;
    client.reply(id).await
}

/// Two params, written in either order by watchers, callers and unwatchers:
/// one watch, one entry, the same header (the canonical form does not hang
/// on serde_json's map order: `scripts/test` also runs this file with
/// `serde_json/preserve_order`).
#[tokio::test]
async fn the_order_of_param_keys_never_matters() {
    let server = Server::fixture().await;
    let mut caller = server.client().await;
    let order = support::result_json(&caller.call("add_order", json!({"user_id": 1, "item": "book"})).await);
    let n = order["id"].as_i64().unwrap();
    let user_first = format!(r#"{{"user_id":1,"order_id":{n}}}"#);
    let order_first = format!(r#"{{"order_id":{n},"user_id":1}}"#);
    let watch = |params: &str| format!(r#"{{"type":"watch","id":ID,"context":"order","params":{params}}}"#);
    let mut a = server.client().await;
    let mut b = server.client().await;
    for (client, params) in [(&mut a, &user_first), (&mut b, &order_first)] {
        let ServerFrame::Bundle { data, .. } = raw_request(client, &watch(params)).await else {
            panic!("a bundle")
        };
        assert_eq!(data.get(), format!(r#"{{"order_detail":{{"id":{n},"item":"book"}}}}"#));
    }
    // Watching again in the other order is the same watch: one push later.
    assert!(matches!(
        raw_request(&mut a, &watch(&order_first)).await,
        ServerFrame::Bundle { .. }
    ));
    assert_eq!(server.app.local_watch_count(), 2);

    let rename =
        format!(r#"{{"type":"call","id":ID,"fn":"rename_order","args":{{"user_id":1,"item":"pen","order_id":{n}}}}}"#);
    let expected = format!(r#"[{{"context":"order","params":{{"order_id":{n},"user_id":1}}}}]"#);
    assert_eq!(entries(&raw_request(&mut caller, &rename).await).0, expected);
    for client in [&mut a, &mut b] {
        let ServerFrame::Invalidate(entry) = client.push().await else {
            panic!("an invalidate")
        };
        assert_eq!(
            entry.params,
            Some(json!({"user_id": 1, "order_id": n}).as_object().unwrap().clone())
        );
        client.assert_silent(Duration::from_millis(100)).await;
    }
    // Unwatching in the other order than the watch stops it.
    let unwatch = format!(r#"{{"type":"unwatch","id":ID,"context":"order","params":{user_first}}}"#);
    assert!(matches!(raw_request(&mut b, &unwatch).await, ServerFrame::Ok { .. }));
    assert_eq!(server.app.local_watch_count(), 1);
    raw_request(&mut caller, &rename).await;
    assert!(matches!(a.push().await, ServerFrame::Invalidate(_)));
    b.assert_silent(Duration::from_millis(200)).await;
    // The header names the params in key order.
    let header = http_header(
        &server,
        "rename_order",
        json!({"item": "cup", "user_id": 1, "order_id": n}),
    )
    .await;
    assert_eq!(
        header.as_deref(),
        Some(format!("order;order_id={n};user_id=1").as_str())
    );
}
