//! The bundle cache on one node and on nodes sharing the in-memory broker
//! (PROTOCOL.md section 12): hits counted with `fixture_stats`, never stale
//! after a mutation's reply (on the node, on another node, and for a
//! computation that began before the mutation and ends after it, made
//! deterministic with a gate), one computation for concurrent requests,
//! per-user bundles kept apart, and access checked on hits.

mod support;

use mizan::broker::MemoryBroker;
use mizan::protocol::ServerFrame;
use mizan::{Cx, Error, MizanBuilder};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Client, Server, result_json, token};

/// A value the `gated` context reads, and a gate its computation waits at
/// after reading it.
struct Gate {
    value: Mutex<u64>,
    runs: AtomicU64,
    open: tokio::sync::Semaphore,
}

#[mizan::function(context = "gated")]
async fn gated_value(cx: &Cx) -> Result<u64, Error> {
    let gate = cx.state::<Arc<Gate>>()?;
    let value = *gate.value.lock().unwrap();
    gate.runs.fetch_add(1, Ordering::SeqCst);
    gate.open.acquire().await.map_err(Error::internal)?.forget();
    Ok(value)
}

#[mizan::function(affects = "gated")]
async fn bump(cx: &Cx) -> Result<u64, Error> {
    let gate = cx.state::<Arc<Gate>>()?;
    let mut value = gate.value.lock().unwrap();
    *value += 1;
    Ok(*value)
}

#[mizan::function(context = "mine", per_user)]
async fn my_name(cx: &Cx) -> Result<String, Error> {
    Ok(format!("{} here", cx.user().map_or("?", |u| u.id.as_str())))
}

fn gate() -> Arc<Gate> {
    Arc::new(Gate {
        value: Mutex::new(0),
        runs: AtomicU64::new(0),
        open: tokio::sync::Semaphore::new(0),
    })
}

fn cached(builder: MizanBuilder, gate: &Arc<Gate>) -> MizanBuilder {
    builder
        .functions([GATED_VALUE, BUMP, MY_NAME])
        .state(Arc::clone(gate))
        .config(support::config(|c| c.bundle_cache_bytes = 1 << 20))
}

async fn server() -> (Server, Arc<Gate>) {
    let gate = gate();
    let server = Server::start(cached(support::fixture::builder(support::SECRET), &gate)).await;
    (server, gate)
}

async fn fetch(client: &mut Client, context: &str, params: Value) -> Value {
    let id = client
        .request(json!({"type": "fetch", "context": context, "params": params}))
        .await;
    match client.reply(id).await {
        ServerFrame::Bundle { data, .. } => serde_json::from_str(data.get()).unwrap(),
        other => panic!("expected a bundle, got {other:?}"),
    }
}

async fn computed(client: &mut Client, slot: &str) -> u64 {
    let stats = result_json(&client.call("fixture_stats", json!({})).await);
    stats["computed"][slot].as_u64().unwrap_or(0)
}

async fn rename(client: &mut Client, user_id: u64, name: &str) {
    let reply = client
        .call("update_profile", json!({"user_id": user_id, "name": name}))
        .await;
    assert!(matches!(reply, ServerFrame::Result { .. }), "{reply:?}");
}

#[tokio::test]
async fn hits_are_served_until_a_mutation_reaches_them() {
    let (server, _) = server().await;
    let mut client = server.client().await;
    let one = json!({"user_id": 1});
    assert_eq!(
        fetch(&mut client, "user", one.clone()).await["user_profile"]["name"],
        "user1"
    );
    for _ in 0..5 {
        fetch(&mut client, "user", one.clone()).await;
    }
    assert_eq!(computed(&mut client, "user_profile").await, 1, "five hits");
    // Another user's params are another bundle; a mutation of user 2 does
    // not reach user 1's.
    fetch(&mut client, "user", json!({"user_id": 2})).await;
    rename(&mut client, 2, "two").await;
    fetch(&mut client, "user", one.clone()).await;
    assert_eq!(computed(&mut client, "user_profile").await, 2);
    // After the mutation's reply, never the old data.
    rename(&mut client, 1, "first").await;
    assert_eq!(
        fetch(&mut client, "user", one.clone()).await["user_profile"]["name"],
        "first"
    );
    assert_eq!(computed(&mut client, "user_profile").await, 3);
    // Watches and HTTP fetches use it too.
    let id = client
        .request(json!({"type": "watch", "context": "user", "params": one}))
        .await;
    assert!(matches!(client.reply(id).await, ServerFrame::Bundle { .. }));
    let http = support::post(server.http_url("/api/mizan/fetch/user"))
        .body(r#"{"user_id":1}"#)
        .send()
        .await
        .unwrap();
    let body: Value = http.json().await.unwrap();
    assert_eq!(body["data"]["user_profile"]["name"], "first");
    assert_eq!(computed(&mut client, "user_profile").await, 3);
    let metrics = server.get_text("/metrics").await;
    assert!(metrics.contains("mizan_bundle_cache_hits_total 8"), "{metrics}");
}

#[tokio::test]
async fn a_computation_begun_before_a_mutation_is_not_served_after_its_reply() {
    let (server, gate) = server().await;
    let gate = || &gate;
    let mut early = server.client().await;
    let id = early.request(json!({"type": "fetch", "context": "gated"})).await;
    // Its computation read the value (0) and waits at the gate.
    while gate().runs.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut writer = server.client().await;
    assert_eq!(result_json(&writer.call("bump", json!({})).await), json!(1));
    // The early computation ends after the mutation's reply, with the old
    // value: its own request began before the mutation and gets it.
    gate().open.add_permits(1);
    let ServerFrame::Bundle { data, .. } = early.reply(id).await else {
        panic!()
    };
    assert_eq!(data.get(), r#"{"gated_value":0}"#);
    // A request that begins now never gets it.
    gate().open.add_permits(1);
    assert_eq!(fetch(&mut writer, "gated", json!({})).await, json!({"gated_value": 1}));
    assert_eq!(gate().runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_requests_share_one_computation() {
    let (server, gate) = server().await;
    let gate = || &gate;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(server.client().await);
    }
    let mut waiting = Vec::new();
    for mut client in clients {
        waiting.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..5 {
                answers.push(client.request(json!({"type": "fetch", "context": "gated"})).await);
            }
            let mut values = Vec::new();
            for id in answers {
                let ServerFrame::Bundle { data, .. } = client.reply(id).await else {
                    panic!()
                };
                values.push(data.get().to_owned());
            }
            values
        }));
    }
    // Every request is in before the one computation ends.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gate().runs.load(Ordering::SeqCst), 1);
    gate().open.add_permits(1);
    for w in waiting {
        assert!(w.await.unwrap().iter().all(|v| v == r#"{"gated_value":0}"#));
    }
    assert_eq!(gate().runs.load(Ordering::SeqCst), 1, "100 requests, one computation");
}

#[tokio::test]
async fn per_user_bundles_are_kept_apart_and_access_is_checked_on_hits() {
    let (server, _) = server().await;
    let mut ann = server.client_with_token(&token("ann", false)).await;
    let mut bob = server.client_with_token(&token("bob", false)).await;
    for _ in 0..3 {
        assert_eq!(fetch(&mut ann, "mine", json!({})).await, json!({"my_name": "ann here"}));
        assert_eq!(fetch(&mut bob, "mine", json!({})).await, json!({"my_name": "bob here"}));
    }
    // Nobody's bundle for the anonymous: refused as without a cache.
    let mut anon = server.client().await;
    let id = anon.request(json!({"type": "fetch", "context": "mine"})).await;
    assert_eq!(support::error_code(&anon.reply(id).await), "unauthenticated");
    let metrics = server.get_text("/metrics").await;
    assert!(metrics.contains("mizan_bundle_cache_hits_total 4"), "{metrics}");
}

#[tokio::test]
async fn another_node_on_the_bus_never_serves_data_older_than_a_reply() {
    // Both nodes read one store of data (the gate's value).
    let (bus, shared) = (MemoryBroker::new(), gate());
    shared.open.add_permits(1000);
    let node = || cached(support::fixture::builder(support::SECRET).broker(bus.clone()), &shared);
    let (a, b) = (Server::start(node()).await, Server::start(node()).await);
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    for _ in 0..3 {
        assert_eq!(fetch(&mut on_a, "gated", json!({})).await, json!({"gated_value": 0}));
    }
    assert_eq!(shared.runs.load(Ordering::SeqCst), 1);
    assert_eq!(result_json(&on_b.call("bump", json!({})).await), json!(1));
    assert_eq!(fetch(&mut on_a, "gated", json!({})).await, json!({"gated_value": 1}));
    assert_eq!(shared.runs.load(Ordering::SeqCst), 2);
}

#[mizan::function(context = "staff_only", auth = "staff")]
async fn staff_secret(_cx: &Cx) -> Result<String, Error> {
    Ok("for staff".to_owned())
}

#[tokio::test]
async fn http_fetches_say_how_they_may_be_cached() {
    let gate = gate();
    let builder = cached(support::fixture::builder(support::SECRET), &gate).config(support::config(|c| {
        c.bundle_cache_bytes = 1 << 20;
        c.cache_control
            .insert("user".to_owned(), "public, max-age=30".to_owned());
    }));
    let server = Server::start(builder).await;
    let fetch = |context: &str, body: &'static str, token: Option<String>| {
        let mut request = support::post(server.http_url(&format!("/api/mizan/fetch/{context}"))).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.headers()["cache-control"].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(fetch("user", r#"{"user_id":1}"#, None).await, "public, max-age=30");
    assert_eq!(fetch("order", r#"{"user_id":1,"order_id":2}"#, None).await, "no-cache");
    let ann = Some(token("ann", false));
    assert_eq!(fetch("mine", "{}", ann).await, "private, no-store");
}

#[test]
fn settings_the_cache_cannot_honour_are_refused() {
    let build = |edit: fn(&mut mizan::ServerConfig)| {
        let builder = mizan::Mizan::builder()
            .jwt(mizan::Jwt::hs256(b"0123456789abcdef0123456789abcdef-strong"))
            .functions([GATED_VALUE, MY_NAME, STAFF_SECRET])
            .config(support::config(|c| {
                c.bundle_cache_bytes = 1 << 20;
                edit(c);
            }));
        match builder.build() {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    };
    let per_user = build(|c| {
        c.cache_control
            .insert("mine".to_owned(), "public, max-age=5".to_owned());
    });
    assert!(per_user.contains("per-user"), "{per_user}");
    let unknown = build(|c| {
        c.cache_control.insert("nope".to_owned(), "public".to_owned());
    });
    assert!(unknown.contains("not a context"), "{unknown}");
    let checked = build(|c| {
        c.cache_control.insert("staff_only".to_owned(), "public".to_owned());
    });
    assert!(checked.contains("check who asks"), "{checked}");
    let bad = build(|c| {
        c.cache_control.insert("gated".to_owned(), "public\nx".to_owned());
    });
    assert!(bad.contains("not a header value"), "{bad}");
    // The Redis backend needs the Redis broker, and in production a strong
    // shared secret.
    let memory = build(|c| {
        c.bundle_cache_backend = mizan::BundleCacheBackend::Redis;
        c.cache_secret = Some(mizan::CacheSecret::new("a cache secret of 32 bytes or more"));
    });
    assert!(memory.contains("needs the Redis broker"), "{memory}");
    let default_secret = build(|c| {
        c.production = true;
        c.bundle_cache_backend = mizan::BundleCacheBackend::Redis;
    });
    assert!(default_secret.contains("development default"), "{default_secret}");
    let short = build(|c| {
        c.production = true;
        c.bundle_cache_backend = mizan::BundleCacheBackend::Redis;
        c.cache_secret = Some(mizan::CacheSecret::new("short"));
    });
    assert!(short.contains("5 bytes"), "{short}");
}
