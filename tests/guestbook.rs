//! The guestbook example (`examples/guestbook`) as a process, on SQLite (a
//! file in a temporary directory) and on PostgreSQL (a database of the
//! test's own, created by the example and dropped by the test): a
//! submit's entries reach the watchers of both contexts and their
//! refetches show the new row, the rules and the server-only check answer
//! from `sign.validate` and `sign.submit`, two racing submits of one name
//! let one in, the server-rendered page's views answer with the
//! `X-Mizan-Invalidate` header, and the data outlives a restart.
//!
//! PostgreSQL is `postgres://postgres@127.0.0.1:5432/test` unless
//! `GUESTBOOK_TEST_POSTGRES` names another server's database to connect
//! to for `CREATE DATABASE`; an unreachable server fails the test (one
//! runs on every machine this suite runs on).

mod support;

// The example's sqlx code, for the unique index a race needs.
#[allow(dead_code)]
#[path = "../examples/guestbook/db.rs"]
mod db;

use mizan_testkit::{Log, START};
use serde_json::{Value, json};
use sqlx::Connection;
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::Client;
use support::processes::{LOOPBACK_ENV, example_binary};

const ALREADY_SIGNED: &str = "This name has signed the guestbook today already.";

/// How long a socket that must get nothing is watched.
const QUIET: Duration = Duration::from_millis(200);

/// The guestbook example running on `database_url`.
struct Guestbook {
    addr: SocketAddr,
    child: Child,
    log: Log,
}

impl Guestbook {
    fn start(database_url: &str) -> Self {
        let mut child = Command::new(example_binary("guestbook"))
            .args(["--port", "0", "--database-url", database_url])
            .envs(LOOPBACK_ENV.iter().copied())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the guestbook example runs");
        let log = Log::default();
        log.follow(child.stderr.take(), None);
        // Its banner names the address: `guestbook: open http://ADDR/ in …`.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let addr = line
                    .split_once("http://")
                    .and_then(|(_, rest)| rest.split('/').next()?.parse().ok());
                if let Some(addr) = addr {
                    let _ = tx.send(addr);
                }
            }
        });
        let Ok(addr) = rx.recv_timeout(START) else {
            let _ = child.kill();
            panic!("the guestbook printed no address:\n{}", log.text());
        };
        Self { addr, child, log }
    }

    async fn client(&self) -> Client {
        Client::connect(&format!("ws://{}/api/mizan/ws", self.addr), None).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops it with SIGTERM (a graceful shutdown) and waits for it.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Guestbook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- log of the guestbook -----\n{}", self.log.text());
        }
    }
}

fn json_of(frame: &mizan::protocol::ServerFrame) -> Value {
    serde_json::from_str(&frame.encode()).expect("frames are JSON")
}

/// The data of `context`'s bundle, fetched.
async fn fetch(client: &mut Client, context: &str) -> Value {
    let id = client.request(json!({"type": "fetch", "context": context})).await;
    json_of(&client.reply(id).await)["data"][context].clone()
}

/// Watches `context` and returns its data.
async fn watch(client: &mut Client, context: &str) -> Value {
    let id = client.request(json!({"type": "watch", "context": context})).await;
    json_of(&client.reply(id).await)["data"][context].clone()
}

async fn call(client: &mut Client, function: &str, args: Value) -> Value {
    json_of(&client.call(function, args).await)
}

/// What the page's `<form method="post">` sends to `/guestbook/sign`.
async fn post_form(guestbook: &Guestbook, fields: &[(&str, &str)]) -> reqwest::Response {
    let encode = |text: &str| -> String {
        let unreserved = |b: &u8| b.is_ascii_alphanumeric() || b"-._~".contains(b);
        text.bytes()
            .map(|b| {
                if unreserved(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    reqwest::Client::new()
        .post(guestbook.url("/guestbook/sign"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .unwrap()
}

/// The contexts of the next two pushes, which must be invalidations: what
/// a watcher of both contexts hears of one signature.
async fn invalidated(watcher: &mut Client) -> Vec<String> {
    let mut contexts = Vec::new();
    for _ in 0..2 {
        let push = json_of(&watcher.push().await);
        assert_eq!(push["type"], "invalidate", "{push}");
        contexts.push(push["context"].as_str().unwrap().to_owned());
    }
    contexts.sort();
    contexts
}

/// The `details.fields` of an `invalid_args` error frame.
fn field_errors(frame: &Value) -> &Value {
    assert_eq!(frame["code"], "invalid_args", "{frame}");
    &frame["details"]["fields"]
}

/// What both backends must do: sign, see it everywhere, be refused, race,
/// and keep the data across a restart.
async fn exercise(database_url: &str) {
    let guestbook = Guestbook::start(database_url);
    let mut watcher = guestbook.client().await;
    let mut signer = guestbook.client().await;
    assert_eq!(watch(&mut watcher, "entries").await, json!([]));
    assert_eq!(
        watch(&mut watcher, "entry_count").await,
        json!({"total": 0, "today": 0})
    );

    // A submit: the row, and the two entries it declares.
    let signed = call(
        &mut signer,
        "sign.submit",
        json!({"name": " Ann ", "message": "Hello!"}),
    )
    .await;
    assert_eq!(signed["type"], "result", "{signed}");
    assert_eq!(signed["result"]["name"], "Ann", "trimmed: {signed}");
    assert_eq!(signed["result"]["message"], "Hello!");
    let contexts: Vec<&Value> = signed["invalidate"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["context"])
        .collect();
    assert_eq!(contexts, [&json!("entries"), &json!("entry_count")]);
    // The watcher is told, and its refetches read the new row and count.
    assert_eq!(invalidated(&mut watcher).await, ["entries", "entry_count"]);
    let entries = fetch(&mut watcher, "entries").await;
    assert_eq!(entries.as_array().unwrap().len(), 1);
    assert_eq!(entries[0]["name"], "Ann");
    assert_eq!(entries[0]["id"], signed["result"]["id"]);
    assert_eq!(
        fetch(&mut watcher, "entry_count").await,
        json!({"total": 1, "today": 1})
    );

    // The rules, from `sign.validate`: only the fields sent are reported.
    let rules = call(
        &mut signer,
        "sign.validate",
        json!({"name": "", "message": "x".repeat(501)}),
    )
    .await;
    let errors = &rules["result"]["errors"];
    assert_eq!(rules["result"]["valid"], false, "{rules}");
    assert!(errors["name"][0].as_str().unwrap().contains("length"), "{rules}");
    assert!(errors["message"][0].as_str().unwrap().contains("length"), "{rules}");
    let message_only = call(&mut signer, "sign.validate", json!({"message": "Hi"})).await;
    assert_eq!(message_only["result"], json!({"valid": true, "errors": {}}));
    // The server-only check: a query of the database.
    let again = call(&mut signer, "sign.validate", json!({"name": "ANN"})).await;
    assert_eq!(again["result"]["errors"], json!({"name": [ALREADY_SIGNED]}), "{again}");
    let blank = call(&mut signer, "sign.validate", json!({"name": "  ", "message": " "})).await;
    assert_eq!(
        blank["result"]["errors"],
        json!({"name": ["Write a name, not only spaces."], "message": ["Write a message, not only spaces."]})
    );
    let fresh = call(&mut signer, "sign.validate", json!({"name": "Bob"})).await;
    assert_eq!(fresh["result"]["valid"], true, "{fresh}");
    // ... and from `sign.submit`, which then writes nothing.
    let refused = call(
        &mut signer,
        "sign.submit",
        json!({"name": "ann", "message": "Me again"}),
    )
    .await;
    assert_eq!(field_errors(&refused), &json!({"name": [ALREADY_SIGNED]}));
    let missing = call(&mut signer, "sign.submit", json!({"name": "Cy"})).await;
    assert!(field_errors(&missing)["message"].is_array(), "{missing}");
    watcher.assert_silent(QUIET).await;

    // Two submits of one name at once: both pass the check, the unique
    // index lets one in, the other gets the same field error.
    let mut other = guestbook.client().await;
    let race = json!({"name": "Dee", "message": "first!"});
    let (a, b) = tokio::join!(
        call(&mut signer, "sign.submit", race.clone()),
        call(&mut other, "sign.submit", race.clone())
    );
    let won: Vec<&Value> = [&a, &b].into_iter().filter(|r| r["type"] == "result").collect();
    assert_eq!(won.len(), 1, "exactly one gets in: {a} {b}");
    let lost = if a["type"] == "result" { &b } else { &a };
    assert_eq!(field_errors(lost), &json!({"name": [ALREADY_SIGNED]}));
    assert_eq!(invalidated(&mut watcher).await, ["entries", "entry_count"]);
    assert_eq!(
        fetch(&mut watcher, "entry_count").await,
        json!({"total": 2, "today": 2})
    );

    // Over HTTP the declared entries are in the header too.
    let http = support::post(guestbook.url("/api/mizan/call/sign.submit"))
        .json(&json!({"name": "Eve", "message": "via HTTP"}))
        .send()
        .await
        .unwrap();
    assert_eq!(http.status(), 200);
    assert_eq!(http.headers()["x-mizan-invalidate"], "entries, entry_count");
    assert_eq!(invalidated(&mut watcher).await, ["entries", "entry_count"]);

    // The server-rendered page: its form posts to a view, whose declared
    // affects are published and named in the header.
    let page = reqwest::get(guestbook.url("/guestbook")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers().get("x-mizan-invalidate").is_none(),
        "a GET changes nothing"
    );
    let page = page.text().await.unwrap();
    assert!(
        page.contains(r#"<form id="sign-form" method="post" action="/guestbook/sign">"#),
        "{page}"
    );
    assert!(page.contains(r#"<b class="name">Eve</b>"#), "{page}");
    let posted = post_form(
        &guestbook,
        &[("name", "Fay <i>"), ("message", "from a <form> & no React")],
    )
    .await;
    assert_eq!(posted.status(), 200);
    assert_eq!(posted.headers()["x-mizan-invalidate"], "entries, entry_count");
    let thanks = posted.text().await.unwrap();
    assert!(thanks.contains("Thank you, Fay &lt;i&gt;"), "escaped: {thanks}");
    // A WebSocket watcher hears of a form post.
    assert_eq!(invalidated(&mut watcher).await, ["entries", "entry_count"]);
    let fragment = reqwest::get(guestbook.url("/guestbook/entries"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        fragment.starts_with(r#"<div id="entries"><p class="counts">4 in all · 4 today</p>"#),
        "{fragment}"
    );
    assert!(fragment.contains("from a &lt;form&gt; &amp; no React"), "{fragment}");
    // Refused by the server-only check: an error, so nothing is published.
    let refused = post_form(&guestbook, &[("name", "fay <i>"), ("message", "again")]).await;
    assert_eq!(refused.status(), 422);
    assert!(refused.headers().get("x-mizan-invalidate").is_none());
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(field_errors(&refused), &json!({"name": [ALREADY_SIGNED]}));
    let too_long = post_form(&guestbook, &[("name", "x".repeat(41).as_str()), ("message", "")]).await;
    let too_long: Value = too_long.json().await.unwrap();
    assert_eq!(
        field_errors(&too_long).as_object().unwrap().keys().collect::<Vec<_>>(),
        ["message", "name"]
    );
    watcher.assert_silent(QUIET).await;

    // A restart: the rows and the counter are read back.
    drop((watcher, signer, other));
    guestbook.stop();
    let guestbook = Guestbook::start(database_url);
    let mut reader = guestbook.client().await;
    let names: Vec<Value> = fetch(&mut reader, "entries")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(names, ["Fay <i>", "Eve", "Dee", "Ann"], "newest first");
    assert_eq!(fetch(&mut reader, "entry_count").await, json!({"total": 4, "today": 4}));
    let still = call(&mut reader, "sign.validate", json!({"name": "ann"})).await;
    assert_eq!(still["result"]["valid"], false, "{still}");
    guestbook.stop();

    // The unique index itself, without the form's check in front (which
    // the race above may or may not have got past): the second insert of
    // a name on one day is refused, and its transaction leaves the
    // counter alone.
    let db = db::Db::open(database_url).await.expect("the database opens");
    assert!(db.sign("Gil", "once").await.is_ok());
    assert!(matches!(
        db.sign(" GIL ", "twice").await,
        Err(db::SignError::AlreadySigned)
    ));
    let count = db.count().await.unwrap();
    assert_eq!((count.total, count.today), (5, 5));
    db.pool.close().await;
}

/// A name no other run uses: the process id and the time.
fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}_{nanos}", std::process::id())
}

#[tokio::test]
async fn on_sqlite_a_file_created_on_first_run() {
    let dir = std::env::temp_dir().join(format!("mizan-guestbook-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("guestbook.db");
    exercise(&format!("sqlite:{}", file.display())).await;
    assert!(file.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn on_postgresql_a_database_of_its_own() {
    let admin_url =
        std::env::var("GUESTBOOK_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    // PostgreSQL runs on every machine this suite runs on: unreachable is
    // a failure, never a silent pass.
    let mut admin = sqlx::postgres::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is unreachable ({e}); set GUESTBOOK_TEST_POSTGRES"));
    // The example creates it (`Any::create_database`); this test drops it.
    let name = format!("guestbook_test_{}", unique());
    let (base, _) = admin_url.rsplit_once('/').expect("the URL names a database");
    let url = format!("{base}/{name}");
    let run = tokio::spawn({
        let url = url.clone();
        async move { exercise(&url).await }
    })
    .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("the test's database is dropped");
    if let Err(panic) = run {
        std::panic::resume_unwind(panic.into_panic());
    }
}
