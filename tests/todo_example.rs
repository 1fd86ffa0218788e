//! The todo example (`examples/todo`): every claim of its README's
//! walkthrough — the exact entries of each mutation's reply and HTTP
//! header, which screens get which push, that refetches show the change —
//! and its input checks.

mod support;

#[path = "../examples/todo/app.rs"]
mod todo;

use mizan::protocol::ServerFrame;
use mizan::{Cx, Error, Function};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Client, Server, error_code};

/// How long a screen that must get nothing is watched.
const QUIET: Duration = Duration::from_millis(150);

async fn todo_server() -> Server {
    Server::start(todo::builder()).await
}

/// Watches and returns the bundle's `data` as JSON text.
async fn watch(client: &mut Client, context: &str, params: Value) -> String {
    let id = client
        .request(json!({"type": "watch", "context": context, "params": params}))
        .await;
    bundle_data(client.reply(id).await)
}

/// Fetches (the page's refetch) and returns the bundle's `data` as JSON text.
async fn fetch(client: &mut Client, context: &str, params: Value) -> String {
    bundle_data(fetch_frame(client, context, params).await)
}

async fn fetch_frame(client: &mut Client, context: &str, params: Value) -> ServerFrame {
    let id = client
        .request(json!({"type": "fetch", "context": context, "params": params}))
        .await;
    client.reply(id).await
}

fn bundle_data(frame: ServerFrame) -> String {
    match frame {
        ServerFrame::Bundle { data, .. } => data.get().to_owned(),
        other => panic!("expected a bundle, got {other:?}"),
    }
}

/// The next push, as the exact JSON text on the wire (but for its offset:
/// tests/streams.rs checks those).
async fn push(client: &mut Client) -> String {
    support::without_offsets(&client.push().await.encode())
}

/// How a mutation is called.
#[derive(Clone, Copy, Debug)]
enum Via {
    Socket,
    Http,
}

/// What a successful mutation answered: `{"result":..,"invalidate":..,"merge":..}`
/// as exact JSON text (the HTTP body; the socket's `result` frame without
/// `type` and `id`), and the `X-Mizan-Invalidate` header (HTTP only).
struct Answer {
    body: String,
    header: Option<String>,
}

async fn mutate(server: &Server, caller: &mut Client, via: Via, function: &str, args: Value) -> Answer {
    match via {
        Via::Socket => match caller.call(function, args).await {
            ServerFrame::Result {
                result,
                invalidate,
                merge,
                ..
            } => Answer {
                body: support::without_offsets(&format!(
                    r#"{{"result":{},"invalidate":{},"merge":{}}}"#,
                    result.get(),
                    serde_json::to_string(&invalidate).unwrap(),
                    serde_json::to_string(&merge).unwrap()
                )),
                header: None,
            },
            other => panic!("{function}: expected a result, got {other:?}"),
        },
        Via::Http => {
            let response = post(server, function, args).await;
            assert_eq!(response.status(), 200, "{function}");
            let header = response
                .headers()
                .get("x-mizan-invalidate")
                .map(|v| v.to_str().unwrap().to_owned());
            Answer {
                body: support::without_offsets(&response.text().await.unwrap()),
                header,
            }
        }
    }
}

async fn post(server: &Server, function: &str, args: Value) -> reqwest::Response {
    support::post(server.http_url(&format!("/api/mizan/call/{function}")))
        .header("content-type", "application/json")
        .body(args.to_string())
        .send()
        .await
        .unwrap()
}

/// Checks one step of the walkthrough: the exact body, and over HTTP the
/// exact header.
async fn step(server: &Server, caller: &mut Client, via: Via, function: &str, args: Value, body: &str, header: &str) {
    let answer = mutate(server, caller, via, function, args).await;
    assert_eq!(answer.body, body, "{function} via {via:?}");
    if let Via::Http = via {
        assert_eq!(answer.header.as_deref(), Some(header), "{function}: X-Mizan-Invalidate");
    }
}

/// The README's walkthrough, in order. Screens: `alice_lists` watches
/// `lists{owner:alice}`, `alice_list` watches `list{list_id:1}`,
/// `other_list` watches alice's second list `list{list_id:2}`, and
/// `bob_lists` watches `lists{owner:bob}`.
async fn walkthrough(via: Via) {
    let server = todo_server().await;
    let mut caller = server.client().await;
    let mut alice_lists = server.client().await;
    let mut bob_lists = server.client().await;
    assert_eq!(
        watch(&mut alice_lists, "lists", json!({"owner": "alice"})).await,
        r#"{"lists":[]}"#
    );
    assert_eq!(
        watch(&mut bob_lists, "lists", json!({"owner": "bob"})).await,
        r#"{"lists":[]}"#
    );

    // 1. create_list: tier 1, scoped by `owner`.
    step(
        &server,
        &mut caller,
        via,
        "create_list",
        json!({"owner": "alice", "title": "Groceries"}),
        r#"{"result":{"id":1,"owner":"alice","title":"Groceries"},"invalidate":[{"context":"lists","params":{"owner":"alice"}}],"merge":[]}"#,
        "lists;owner=alice",
    )
    .await;
    assert_eq!(
        push(&mut alice_lists).await,
        r#"{"type":"invalidate","context":"lists","params":{"owner":"alice"}}"#
    );
    bob_lists.assert_silent(QUIET).await;
    alice_lists.assert_silent(Duration::ZERO).await;
    assert_eq!(
        fetch(&mut alice_lists, "lists", json!({"owner": "alice"})).await,
        r#"{"lists":[{"id":1,"title":"Groceries","open":0,"done":0}]}"#
    );

    // Alice opens the list; a second list of hers is open elsewhere.
    let mut alice_list = server.client().await;
    assert_eq!(
        watch(&mut alice_list, "list", json!({"list_id": 1})).await,
        r#"{"items":[],"list":{"id":1,"owner":"alice","title":"Groceries"}}"#
    );
    mutate(
        &server,
        &mut caller,
        via,
        "create_list",
        json!({"owner": "alice", "title": "Chores"}),
    )
    .await;
    push(&mut alice_lists).await;
    fetch(&mut alice_lists, "lists", json!({"owner": "alice"})).await;
    let mut other_list = server.client().await;
    watch(&mut other_list, "list", json!({"list_id": 2})).await;

    // 2. add_item: function-level `items`, scoped by `list_id`; `lists`
    // scoped by `owner`.
    step(
        &server,
        &mut caller,
        via,
        "add_item",
        json!({"owner": "alice", "list_id": 1, "text": "milk"}),
        r#"{"result":{"id":1,"text":"milk","done":false},"invalidate":[{"context":"list","fn":"items","params":{"list_id":1}},{"context":"lists","params":{"owner":"alice"}}],"merge":[]}"#,
        "list;list_id=1, lists;owner=alice",
    )
    .await;
    assert_eq!(
        push(&mut alice_list).await,
        r#"{"type":"invalidate","context":"list","fn":"items","params":{"list_id":1}}"#
    );
    assert_eq!(
        push(&mut alice_lists).await,
        r#"{"type":"invalidate","context":"lists","params":{"owner":"alice"}}"#
    );
    bob_lists.assert_silent(QUIET).await;
    other_list.assert_silent(Duration::ZERO).await;
    alice_list.assert_silent(Duration::ZERO).await;
    alice_lists.assert_silent(Duration::ZERO).await;
    assert_eq!(
        fetch(&mut alice_list, "list", json!({"list_id": 1})).await,
        r#"{"items":[{"id":1,"text":"milk","done":false}],"list":{"id":1,"owner":"alice","title":"Groceries"}}"#
    );
    assert_eq!(
        fetch(&mut alice_lists, "lists", json!({"owner": "alice"})).await,
        r#"{"lists":[{"id":1,"title":"Groceries","open":1,"done":0},{"id":2,"title":"Chores","open":0,"done":0}]}"#
    );

    // 3. toggle_item: the same entries.
    step(
        &server,
        &mut caller,
        via,
        "toggle_item",
        json!({"owner": "alice", "list_id": 1, "item_id": 1}),
        r#"{"result":{"id":1,"text":"milk","done":true},"invalidate":[{"context":"list","fn":"items","params":{"list_id":1}},{"context":"lists","params":{"owner":"alice"}}],"merge":[]}"#,
        "list;list_id=1, lists;owner=alice",
    )
    .await;
    assert_eq!(
        push(&mut alice_list).await,
        r#"{"type":"invalidate","context":"list","fn":"items","params":{"list_id":1}}"#
    );
    assert_eq!(
        push(&mut alice_lists).await,
        r#"{"type":"invalidate","context":"lists","params":{"owner":"alice"}}"#
    );
    bob_lists.assert_silent(QUIET).await;
    other_list.assert_silent(Duration::ZERO).await;
    assert_eq!(
        fetch(&mut alice_list, "list", json!({"list_id": 1})).await,
        r#"{"items":[{"id":1,"text":"milk","done":true}],"list":{"id":1,"owner":"alice","title":"Groceries"}}"#
    );
    assert_eq!(
        fetch(&mut alice_lists, "lists", json!({"owner": "alice"})).await,
        r#"{"lists":[{"id":1,"title":"Groceries","open":0,"done":1},{"id":2,"title":"Chores","open":0,"done":0}]}"#
    );

    // 4. rename_list: merge into `list{list_id}`, and a broad `lists`.
    step(
        &server,
        &mut caller,
        via,
        "rename_list",
        json!({"list_id": 1, "title": "Weekend shop"}),
        r#"{"result":{"id":1,"owner":"alice","title":"Weekend shop"},"invalidate":[{"context":"lists"}],"merge":[{"context":"list","slot":"list","params":{"list_id":1},"value":{"id":1,"owner":"alice","title":"Weekend shop"}}]}"#,
        "lists, list;list_id=1",
    )
    .await;
    assert_eq!(
        push(&mut alice_list).await,
        r#"{"type":"merge","context":"list","slot":"list","params":{"list_id":1},"value":{"id":1,"owner":"alice","title":"Weekend shop"}}"#
    );
    for screen in [&mut alice_lists, &mut bob_lists] {
        assert_eq!(push(screen).await, r#"{"type":"invalidate","context":"lists"}"#);
    }
    other_list.assert_silent(QUIET).await;
    alice_list.assert_silent(Duration::ZERO).await;
    // The merged value is what a refetch would give: nothing to fetch.
    assert_eq!(
        fetch(&mut alice_list, "list", json!({"list_id": 1})).await,
        r#"{"items":[{"id":1,"text":"milk","done":true}],"list":{"id":1,"owner":"alice","title":"Weekend shop"}}"#
    );
    assert_eq!(
        fetch(&mut alice_lists, "lists", json!({"owner": "alice"})).await,
        r#"{"lists":[{"id":1,"title":"Weekend shop","open":0,"done":1},{"id":2,"title":"Chores","open":0,"done":0}]}"#
    );
    // Bob's refetch was for nothing: his screen did not change.
    assert_eq!(
        fetch(&mut bob_lists, "lists", json!({"owner": "bob"})).await,
        r#"{"lists":[]}"#
    );

    // 5. delete_list: two contexts, both scoped.
    step(
        &server,
        &mut caller,
        via,
        "delete_list",
        json!({"owner": "alice", "list_id": 1}),
        r#"{"result":{"id":1},"invalidate":[{"context":"lists","params":{"owner":"alice"}},{"context":"list","params":{"list_id":1}}],"merge":[]}"#,
        "lists;owner=alice, list;list_id=1",
    )
    .await;
    assert_eq!(
        push(&mut alice_lists).await,
        r#"{"type":"invalidate","context":"lists","params":{"owner":"alice"}}"#
    );
    assert_eq!(
        push(&mut alice_list).await,
        r#"{"type":"invalidate","context":"list","params":{"list_id":1}}"#
    );
    bob_lists.assert_silent(QUIET).await;
    other_list.assert_silent(Duration::ZERO).await;
    // The open list's refetch finds it gone: the page closes it.
    assert_eq!(
        error_code(&fetch_frame(&mut alice_list, "list", json!({"list_id": 1})).await),
        "not_found"
    );
    assert_eq!(
        fetch(&mut alice_lists, "lists", json!({"owner": "alice"})).await,
        r#"{"lists":[{"id":2,"title":"Chores","open":0,"done":0}]}"#
    );

    // Refused calls: the README's exact answers, and no header, no pushes.
    let refused = [
        (
            "call/create_list",
            json!({"owner": "alice", "title": "  "}),
            422,
            r#"{"type":"error","code":"invalid_args","message":"title: a title is 1-80 characters","details":{"path":"title","reason":"a title is 1-80 characters"}}"#,
        ),
        (
            "call/add_item",
            json!({"owner": "bob", "list_id": 2, "text": "x"}),
            404,
            r#"{"type":"error","code":"not_found","message":"bob has no list 2"}"#,
        ),
        (
            "fetch/list",
            json!({"list_id": 9}),
            404,
            r#"{"type":"error","code":"not_found","message":"there is no list 9"}"#,
        ),
    ];
    for (path, args, status, body) in refused {
        let response = support::post(server.http_url(&format!("/api/mizan/{path}")))
            .body(args.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert!(response.headers().get("x-mizan-invalidate").is_none(), "{path}");
        assert_eq!(response.text().await.unwrap(), body, "{path}");
    }
    for screen in [&mut alice_lists, &mut bob_lists, &mut other_list] {
        screen.assert_silent(QUIET).await;
    }
}

#[tokio::test]
async fn the_walkthrough_over_the_socket() {
    walkthrough(Via::Socket).await;
}

#[tokio::test]
async fn the_walkthrough_over_http() {
    walkthrough(Via::Http).await;
}

/// One socket watching both contexts (as a page with an open list does)
/// gets both pushes of a rename, invalidations first.
#[tokio::test]
async fn one_page_gets_the_merge_and_the_broad_invalidation() {
    let server = todo_server().await;
    let mut page = server.client().await;
    page.call("create_list", json!({"owner": "alice", "title": "Groceries"}))
        .await;
    watch(&mut page, "lists", json!({"owner": "alice"})).await;
    watch(&mut page, "list", json!({"list_id": 1})).await;
    page.call("rename_list", json!({"list_id": 1, "title": "Weekend shop"}))
        .await;
    assert_eq!(push(&mut page).await, r#"{"type":"invalidate","context":"lists"}"#);
    assert_eq!(
        push(&mut page).await,
        r#"{"type":"merge","context":"list","slot":"list","params":{"list_id":1},"value":{"id":1,"owner":"alice","title":"Weekend shop"}}"#
    );
    page.assert_silent(QUIET).await;
}

#[derive(Deserialize, schemars::JsonSchema)]
#[allow(dead_code)] // only the names matter: they decide the scope
struct ScopedRenameArgs {
    owner: String,
    list_id: u64,
    title: String,
}

/// The README's variant of `rename_list` with an `owner` arg: its `lists`
/// entry is scoped by `owner`, and `owner` (not a param of `list`) does not
/// scope the `list` entry. (A stand-in with the same args and targets as
/// invalidations: a merge is scoped by the same rule.)
#[tokio::test]
async fn an_owner_arg_scopes_the_rename() {
    let scoped = Function::new("rename_list_scoped", |_cx: Cx, _: ScopedRenameArgs| async move {
        Ok::<_, Error>(true)
    })
    .affects("lists")
    .affects("list");
    let server = Server::start(todo::builder().function(scoped)).await;
    let mut bob_lists = server.client().await;
    watch(&mut bob_lists, "lists", json!({"owner": "bob"})).await;
    let mut alice_lists = server.client().await;
    watch(&mut alice_lists, "lists", json!({"owner": "alice"})).await;
    let answer = mutate(
        &server,
        &mut server.client().await,
        Via::Http,
        "rename_list_scoped",
        json!({"owner": "alice", "list_id": 1, "title": "Weekend shop"}),
    )
    .await;
    assert_eq!(
        answer.body,
        r#"{"result":true,"invalidate":[{"context":"lists","params":{"owner":"alice"}},{"context":"list","params":{"list_id":1}}],"merge":[]}"#
    );
    assert_eq!(answer.header.as_deref(), Some("lists;owner=alice, list;list_id=1"));
    assert_eq!(
        push(&mut alice_lists).await,
        r#"{"type":"invalidate","context":"lists","params":{"owner":"alice"}}"#
    );
    bob_lists.assert_silent(QUIET).await;
}

/// Each bad call answers its error, and invalidates or merges nothing.
#[tokio::test]
async fn bad_input_is_refused_and_invalidates_nothing() {
    let server = todo_server().await;
    let mut caller = server.client().await;
    caller
        .call("create_list", json!({"owner": "alice", "title": "Groceries"}))
        .await;
    caller
        .call("add_item", json!({"owner": "alice", "list_id": 1, "text": "milk"}))
        .await;
    let mut screens = server.client().await;
    watch(&mut screens, "lists", json!({"owner": "alice"})).await;
    watch(&mut screens, "list", json!({"list_id": 1})).await;
    let mut everyone = server.client().await;
    watch(&mut everyone, "lists", json!({"owner": "bob"})).await;

    let long_title = "t".repeat(81);
    let long_text = "x".repeat(201);
    let long_owner = "o".repeat(41);
    let cases: Vec<(&str, Value, &str, u16)> = vec![
        (
            "create_list",
            json!({"owner": "alice", "title": ""}),
            "invalid_args",
            422,
        ),
        (
            "create_list",
            json!({"owner": "alice", "title": "   "}),
            "invalid_args",
            422,
        ),
        (
            "create_list",
            json!({"owner": "alice", "title": long_title}),
            "invalid_args",
            422,
        ),
        ("create_list", json!({"owner": "", "title": "x"}), "invalid_args", 422),
        (
            "create_list",
            json!({"owner": " alice", "title": "x"}),
            "invalid_args",
            422,
        ),
        (
            "create_list",
            json!({"owner": long_owner, "title": "x"}),
            "invalid_args",
            422,
        ),
        ("create_list", json!({"owner": "alice"}), "invalid_args", 422),
        ("rename_list", json!({"list_id": 1, "title": " "}), "invalid_args", 422),
        (
            "rename_list",
            json!({"list_id": 1, "title": long_title}),
            "invalid_args",
            422,
        ),
        (
            "rename_list",
            json!({"list_id": "1", "title": "x"}),
            "invalid_args",
            422,
        ),
        ("rename_list", json!({"list_id": 9, "title": "x"}), "not_found", 404),
        (
            "add_item",
            json!({"owner": "alice", "list_id": 1, "text": ""}),
            "invalid_args",
            422,
        ),
        (
            "add_item",
            json!({"owner": "alice", "list_id": 1, "text": long_text}),
            "invalid_args",
            422,
        ),
        (
            "add_item",
            json!({"owner": "alice", "list_id": 9, "text": "x"}),
            "not_found",
            404,
        ),
        (
            "add_item",
            json!({"owner": "bob", "list_id": 1, "text": "x"}),
            "not_found",
            404,
        ),
        (
            "toggle_item",
            json!({"owner": "alice", "list_id": 1, "item_id": 9}),
            "not_found",
            404,
        ),
        (
            "toggle_item",
            json!({"owner": "bob", "list_id": 1, "item_id": 1}),
            "not_found",
            404,
        ),
        ("delete_list", json!({"owner": "alice", "list_id": 9}), "not_found", 404),
        ("delete_list", json!({"owner": "bob", "list_id": 1}), "not_found", 404),
    ];
    for (function, args, code, status) in cases {
        let reply = caller.call(function, args.clone()).await;
        assert_eq!(error_code(&reply), code, "{function} {args} over the socket");
        let response = post(&server, function, args.clone()).await;
        assert_eq!(response.status(), status, "{function} {args} over HTTP");
        assert!(response.headers().get("x-mizan-invalidate").is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{function} {args} over HTTP");
    }
    screens.assert_silent(QUIET).await;
    everyone.assert_silent(Duration::ZERO).await;

    // The app's own checks say where, like the server's decoding errors.
    let reply = caller.call("create_list", json!({"owner": "alice", "title": ""})).await;
    let ServerFrame::Error { details, message, .. } = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(message, "title: a title is 1-80 characters");
    assert_eq!(
        details,
        Some(json!({"path": "title", "reason": "a title is 1-80 characters"}))
    );

    // Reads: an unknown list, a bad owner.
    assert_eq!(
        error_code(&fetch_frame(&mut caller, "list", json!({"list_id": 9})).await),
        "not_found"
    );
    let id = caller
        .request(json!({"type": "watch", "context": "list", "params": {"list_id": 9}}))
        .await;
    assert_eq!(error_code(&caller.reply(id).await), "not_found");
    assert_eq!(
        error_code(&fetch_frame(&mut caller, "lists", json!({"owner": ""})).await),
        "invalid_args"
    );

    // Nothing changed.
    assert_eq!(
        fetch(&mut caller, "list", json!({"list_id": 1})).await,
        r#"{"items":[{"id":1,"text":"milk","done":false}],"list":{"id":1,"owner":"alice","title":"Groceries"}}"#
    );
}

/// Titles and texts are trimmed; at most 100 lists per owner.
#[tokio::test]
async fn titles_are_trimmed_and_lists_are_limited() {
    let server = todo_server().await;
    let mut caller = server.client().await;
    let reply = caller
        .call("create_list", json!({"owner": "alice", "title": "  Groceries \n"}))
        .await;
    assert_eq!(
        support::result_json(&reply),
        json!({"id": 1, "owner": "alice", "title": "Groceries"})
    );
    let reply = caller
        .call("add_item", json!({"owner": "alice", "list_id": 1, "text": " milk "}))
        .await;
    assert_eq!(support::result_json(&reply)["text"], "milk");
    for n in 2..=100 {
        let reply = caller
            .call("create_list", json!({"owner": "alice", "title": format!("list {n}")}))
            .await;
        assert!(matches!(reply, ServerFrame::Result { .. }), "{n}: {reply:?}");
    }
    let reply = caller
        .call("create_list", json!({"owner": "alice", "title": "one too many"}))
        .await;
    assert_eq!(error_code(&reply), "limit");
    // Another owner is not limited by alice's lists.
    let reply = caller
        .call("create_list", json!({"owner": "bob", "title": "mine"}))
        .await;
    assert!(matches!(reply, ServerFrame::Result { .. }), "{reply:?}");
}
