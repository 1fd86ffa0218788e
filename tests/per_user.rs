//! A per-user context never serves, pushes or merges one user's data to
//! another.

mod support;

use mizan::protocol::ServerFrame;
use mizan::{Cx, Error, Mizan, MizanBuilder};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use support::{Client, Server, error_code, token};

#[derive(Default)]
struct Names(Mutex<HashMap<String, String>>);

#[derive(Serialize, JsonSchema)]
struct Me {
    id: String,
    name: String,
}

fn me(cx: &Cx) -> Result<Me, Error> {
    let user = cx.user().ok_or_else(|| Error::unauthenticated("sign in"))?;
    let names = cx.state::<Names>()?.0.lock().unwrap();
    Ok(Me {
        id: user.id.clone(),
        name: names.get(&user.id).cloned().unwrap_or_else(|| user.id.clone()),
    })
}

/// The caller's own profile.
#[mizan::function(context = "me", per_user)]
async fn my_profile(cx: &Cx) -> Result<Me, Error> {
    me(cx)
}

/// Renames the caller; the new profile is merged into the caller's screens.
#[mizan::function(merge = "me", auth = "user")]
async fn rename_me(cx: &Cx, name: String) -> Result<Me, Error> {
    let id = cx.user().map(|u| u.id.clone()).unwrap_or_default();
    cx.state::<Names>()?.0.lock().unwrap().insert(id, name);
    me(cx)
}

/// A public merge: from an anonymous caller it must not push a value.
#[mizan::function(merge = "me")]
async fn public_merge(_cx: &Cx) -> Result<Me, Error> {
    Ok(Me {
        id: "nobody".into(),
        name: "leaked?".into(),
    })
}

/// Anyone may ask every screen to refetch.
#[mizan::function(affects = "me")]
async fn touch_everyone(_cx: &Cx) -> Result<bool, Error> {
    Ok(true)
}

fn app() -> MizanBuilder {
    Mizan::builder()
        .functions([MY_PROFILE, RENAME_ME, PUBLIC_MERGE, TOUCH_EVERYONE])
        .state(Names::default())
        .jwt(mizan::Jwt::hs256(support::SECRET.as_bytes()).leeway(0))
}

async fn watch_me(client: &mut Client) -> String {
    let id = client.request(json!({"type": "watch", "context": "me"})).await;
    match client.reply(id).await {
        ServerFrame::Bundle { data, .. } => data.get().to_owned(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn each_user_sees_only_their_own_data_and_pushes() {
    let server = Server::start(app()).await;
    let mut ann = server.client_with_token(&token("ann", false)).await;
    let mut bob = server.client_with_token(&token("bob", false)).await;
    assert_eq!(watch_me(&mut ann).await, r#"{"my_profile":{"id":"ann","name":"ann"}}"#);
    assert_eq!(watch_me(&mut bob).await, r#"{"my_profile":{"id":"bob","name":"bob"}}"#);

    let reply = ann.call("rename_me", json!({"name": "Ann"})).await;
    let ServerFrame::Result { merge, .. } = &reply else {
        panic!("{reply:?}")
    };
    assert_eq!(merge[0].user.as_deref(), Some("ann"));
    let push = support::without_offsets(&ann.push().await.encode());
    assert_eq!(
        push,
        r#"{"type":"merge","context":"me","slot":"my_profile","user":"ann","value":{"id":"ann","name":"Ann"}}"#
    );
    bob.assert_silent(Duration::from_millis(300)).await;

    // A broad invalidation (no data) reaches everyone.
    server.client().await.call("touch_everyone", json!({})).await;
    for client in [&mut ann, &mut bob] {
        assert_eq!(
            support::without_offsets(&client.push().await.encode()),
            r#"{"type":"invalidate","context":"me"}"#
        );
    }
}

#[tokio::test]
async fn an_anonymous_merge_becomes_a_broad_invalidation() {
    let server = Server::start(app()).await;
    let mut ann = server.client_with_token(&token("ann", false)).await;
    watch_me(&mut ann).await;
    let reply = server.client().await.call("public_merge", json!({})).await;
    let ServerFrame::Result { invalidate, merge, .. } = &reply else {
        panic!("{reply:?}")
    };
    assert!(merge.is_empty());
    assert_eq!(
        serde_json::to_string(invalidate).unwrap(),
        r#"[{"context":"me","offset":1}]"#
    );
    assert_eq!(
        support::without_offsets(&ann.push().await.encode()),
        r#"{"type":"invalidate","context":"me"}"#
    );
}

#[tokio::test]
async fn a_per_user_context_needs_a_user() {
    let server = Server::start(app()).await;
    let mut anonymous = server.client().await;
    let id = anonymous.request(json!({"type": "watch", "context": "me"})).await;
    assert_eq!(error_code(&anonymous.reply(id).await), "unauthenticated");
    let id = anonymous.request(json!({"type": "fetch", "context": "me"})).await;
    assert_eq!(error_code(&anonymous.reply(id).await), "unauthenticated");
    assert_eq!(server.app.local_watch_count(), 0);
}

#[tokio::test]
async fn http_fetches_of_a_per_user_context_are_private() {
    let server = Server::start(app()).await;
    let response = support::post(server.http_url("/api/mizan/fetch/me"))
        .bearer_auth(token("ann", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"]["my_profile"]["id"], "ann");
}

#[tokio::test]
async fn a_socket_that_changes_user_follows_the_new_user() {
    let server = Server::start(app()).await;
    let mut shared = server.client_with_token(&token("ann", false)).await;
    watch_me(&mut shared).await;
    let id = shared
        .request(json!({"type": "auth", "token": token("carl", false)}))
        .await;
    // Its per-user screens were ann's: it is told to refetch them.
    assert_eq!(
        support::without_offsets(&shared.push().await.encode()),
        r#"{"type":"invalidate","context":"me"}"#
    );
    assert!(matches!(shared.reply(id).await, ServerFrame::Ok { .. }));
    let mut ann = server.client_with_token(&token("ann", false)).await;
    ann.call("rename_me", json!({"name": "Ann again"})).await;
    shared.assert_silent(Duration::from_millis(300)).await;
    shared.call("rename_me", json!({"name": "Carl"})).await;
    let ServerFrame::Merge(entry) = shared.push().await else {
        panic!()
    };
    assert_eq!(entry.value.get(), r#"{"id":"carl","name":"Carl"}"#);
}
