//! View-path functions (docs/forms.md, "View-path functions"): served at
//! their own routes over HTTP, args from the path, the query and a form
//! body, any axum response, their affects pushed to watchers and named in
//! `X-Mizan-Invalidate`; access checked; not callable as functions nor in
//! the manifest; routes that cannot be mounted refused at build.

mod support;

use axum::response::{Html, IntoResponse};
use mizan::protocol::ServerFrame;
use mizan::{Cx, Error, View};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use support::{Server, token};

/// Profile names by user id.
#[derive(Default)]
struct Names(Mutex<HashMap<u64, String>>);

#[mizan::function(context = "profile")]
async fn profile_name(cx: &Cx, user_id: u64) -> Result<String, Error> {
    let names = cx.state::<Arc<Names>>()?;
    let names = names.0.lock().unwrap();
    Ok(names.get(&user_id).cloned().unwrap_or_else(|| format!("user{user_id}")))
}

/// The profile page; posting its form renames the user.
#[mizan::function(route = "/profile/{user_id}", affects = "profile")]
async fn profile_page(cx: &Cx, user_id: u64, name: Option<String>) -> Result<Html<String>, Error> {
    let names = cx.state::<Arc<Names>>()?;
    let mut names = names.0.lock().unwrap();
    if let Some(name) = name {
        names.insert(user_id, name);
    }
    let shown = names.get(&user_id).cloned().unwrap_or_else(|| format!("user{user_id}"));
    Ok(Html(format!(
        "<h1>{shown}</h1><form method=post><input name=name></form>"
    )))
}

/// A page for signed-in users only, built without the attribute.
fn private_page() -> View {
    View::new("private_page", "/private", |cx: Cx, _: mizan::NoArgs| async move {
        let who = cx.user().map_or("nobody".to_owned(), |u| u.id.clone());
        Ok::<_, Error>((axum::http::StatusCode::ACCEPTED, format!("for {who}")).into_response())
    })
    .access(mizan::Access::User)
}

async fn server() -> Server {
    let builder = mizan::Mizan::builder()
        .jwt(mizan::Jwt::hs256(support::SECRET.as_bytes()))
        .functions([PROFILE_NAME])
        .views([PROFILE_PAGE])
        .view(private_page())
        .state(Arc::new(Names::default()));
    Server::start(builder).await
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn a_view_answers_with_its_response_and_names_its_affects() {
    let server = server().await;
    let mut watcher = server.client().await;
    let id = watcher
        .request(json!({"type": "watch", "context": "profile", "params": {"user_id": 7}}))
        .await;
    assert!(matches!(watcher.reply(id).await, ServerFrame::Bundle { .. }));
    // GET: the page, path params decoded into their types; a GET is safe,
    // so its declared affects are not published.
    let page = client().get(server.http_url("/profile/7")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(!page.headers().contains_key("x-mizan-invalidate"));
    assert!(page.text().await.unwrap().contains("<h1>user7</h1>"));
    watcher.assert_silent(std::time::Duration::from_millis(100)).await;
    // POST a form: the same, with the form's fields; the watcher of user 7
    // is told, scoped by the path param.
    let posted = client()
        .post(server.http_url("/profile/7"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Seven+%26+co")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let header = posted.headers()["x-mizan-invalidate"].to_str().unwrap().to_owned();
    assert!(header.contains("user_id"), "scoped: {header}");
    assert!(posted.text().await.unwrap().contains("<h1>Seven & co</h1>"));
    let push = watcher.push().await;
    assert!(
        matches!(push, ServerFrame::Invalidate(ref e) if e.context == "profile"),
        "{push:?}"
    );
    let id = watcher
        .request(json!({"type": "fetch", "context": "profile", "params": {"user_id": 7}}))
        .await;
    let ServerFrame::Bundle { data, .. } = watcher.reply(id).await else {
        panic!("a bundle")
    };
    assert_eq!(data.get(), r#"{"profile_name":"Seven & co"}"#);
    // The query string works as the body does.
    let queried = client()
        .post(server.http_url("/profile/8?name=Eight"))
        .send()
        .await
        .unwrap();
    assert!(queried.text().await.unwrap().contains("<h1>Eight</h1>"));
}

#[tokio::test]
async fn bad_requests_get_clear_answers() {
    let server = server().await;
    let bad_path = client().get(server.http_url("/profile/seven")).send().await.unwrap();
    assert_eq!(bad_path.status(), 422);
    let json_body = client()
        .post(server.http_url("/profile/7"))
        .header("content-type", "application/json")
        .body(r#"{"name":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 415);
    let cross_site = client()
        .post(server.http_url("/profile/7"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=pwned")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    // Access: a signed-in user only.
    let anonymous = client().get(server.http_url("/private")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let signed_in = client()
        .get(server.http_url("/private"))
        .bearer_auth(token("ann", false))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 202, "the view's own status");
    assert_eq!(signed_in.text().await.unwrap(), "for ann");
}

#[tokio::test]
async fn views_are_not_functions() {
    let server = server().await;
    let mut client = server.client().await;
    let call = client.call("profile_page", json!({"user_id": 1})).await;
    assert_eq!(support::error_code(&call), "not_found");
    let manifest = server.get_text("/api/mizan/manifest").await;
    assert!(!manifest.contains("profile_page"), "{manifest}");
}

#[test]
fn routes_that_cannot_be_mounted_are_refused() {
    let refused = |view: View| match mizan::Mizan::builder().view(view).build() {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let page = |route: &str| View::new("page", route, |_: Cx, _: mizan::NoArgs| async { Ok::<_, Error>("x") });
    assert!(refused(page("no-slash")).contains("must start with `/`"));
    assert!(refused(page("/api/mizan/call/x")).contains("Mizan's own endpoints"));
    assert!(refused(page("/healthz")).contains("Mizan's own endpoints"));
    let twice = mizan::Mizan::builder()
        .view(page("/a"))
        .view(View::new("other", "/a", |_: Cx, _: mizan::NoArgs| async {
            Ok::<_, Error>("y")
        }))
        .build();
    assert!(twice.unwrap_err().to_string().contains("another view"));
}
